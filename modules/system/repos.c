/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "chase.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* yum_repos as cloud-init 22.4+ writes them (cc_yum_add_repo): per
 * instance, on the RHEL family only, one <yum_repo_dir>/<id>.repo per
 * repository (spaces in the id become '-'), never over a file that is
 * there; keys lowercased, stripped, '-' read as '_'; a repository with
 * none of baseurl, metalink, mirrorlist is skipped with a warning. The
 * file is what Python's ConfigParser writes: a "# Created by cloud-init on
 * <RFC 2822 date>" line, "[id]", "key = value" lines (booleans 1/0, a
 * list one item a line, continuation lines tab-indented), an empty line. */

/* Python's str() of a scalar: booleans as yum wants them, 1/0. */
static int format_value(const json_t *v, struct strbuf *out) {
        size_t i;
        json_t *item;

        if (json_is_boolean(v))
                return strbuf_printf(out, "%d", json_is_true(v) ? 1 : 0);
        if (json_is_integer(v))
                return strbuf_printf(out, "%lld", (long long) json_integer_value(v));
        if (json_is_real(v))
                return strbuf_printf(out, "%.17g", json_real_value(v)) < 0 ? -ENOMEM : 0;
        if (json_is_null(v))
                return strbuf_printf(out, "None");
        if (json_is_string(v))
                return strbuf_printf(out, "%s", json_string_value(v));
        if (json_is_array(v)) {
                json_array_foreach((json_t *) v, i, item) {
                        int r = i > 0 ? strbuf_printf(out, "\n") : 0;
                        if (r >= 0)
                                r = format_value(item, out);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        return -EINVAL; /* a mapping: cloud-init would write Python's repr */
}

/* ConfigParser's interpolation refuses a '%' that is not '%%' or '%(name)s'. */
static bool interpolation_ok(const char *s) {
        for (const char *p = s; (p = strchr(p, '%'));) {
                if (p[1] == '%') {
                        p += 2;
                        continue;
                }
                if (p[1] != '(')
                        return false;
                p = strchr(p, ')');
                if (!p || !p[1])
                        return false;
                p += 2;
        }
        return true;
}

int system_yum_repo_render(const char *id, const json_t *repo, time_t now, char **ret, char **ret_error) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        char date[64];
        struct tm tm;
        const char *key;
        json_t *v;

        *ret_error = NULL;
        if (!gmtime_r(&now, &tm) || strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
                return -EINVAL;
        if (strbuf_printf(&out, "# Created by cloud-init on %s\n[%s]\n", date, id) < 0)
                return -ENOMEM;
        json_object_foreach((json_t *) repo, key, v) {
                _cleanup_strbuf_ struct strbuf val = STRBUF_INIT;
                int r = format_value(v, &val);
                if (r == -EINVAL || (r >= 0 && !interpolation_ok(val.data ? val.data : ""))) {
                        *ret_error =
                                strdup_printf("%s: the value of '%s' cannot be written as cloud-init writes it (%s)",
                                              id, key, r == -EINVAL ? "a mapping" : "a '%' ConfigParser refuses");
                        return -EINVAL;
                }
                if (r < 0 || strbuf_printf(&out, "%s = ", key) < 0)
                        return -ENOMEM;
                for (const char *p = val.data ? val.data : ""; *p; p++)
                        if (strbuf_printf(&out, *p == '\n' ? "\n\t" : "%c", *p) < 0)
                                return -ENOMEM;
                if (strbuf_printf(&out, "\n") < 0)
                        return -ENOMEM;
        }
        if (strbuf_printf(&out, "\n") < 0)
                return -ENOMEM;
        *ret = strbuf_steal(&out);
        return 0;
}

/* The repository's settings with keys as cloud-init reads them. */
static json_t *canonical_keys(const json_t *repo) {
        _cleanup_json_ json_t *out = json_object();
        const char *key;
        json_t *v;

        if (!out)
                return NULL;
        json_object_foreach((json_t *) repo, key, v) {
                _cleanup_free_ char *k = strdup(key);
                char *s = k ? strstrip(k) : NULL;
                if (!s)
                        return NULL;
                for (char *p = s; *p; p++)
                        *p = *p == '-' ? '_' : (*p >= 'A' && *p <= 'Z') ? (char) (*p - 'A' + 'a') : *p;
                if (*s && json_object_set(out, s, v) < 0)
                        return NULL;
        }
        return TAKE_PTR(out);
}

/* cloud-init runs cc_yum_add_repo only on these distributions. */
static bool rhel_family(void) {
        static const char *const ids[] = {"almalinux",  "amzn",        "azurelinux",   "centos",
                                          "cloudlinux", "eurolinux",   "fedora",       "mariner",
                                          "openeuler",  "opencloudos", "openmandriva", "photon",
                                          "rhel",       "rocky",       "tencentos",    "virtuozzo"};
        _cleanup_free_ char *id = system_os_release("ID");

        for (size_t i = 0; id && i < ELEMENTSOF(ids); i++)
                if (streq(id, ids[i]))
                        return true;
        return false;
}

int system_apply_yum_repos(struct kiln_context *ctx, const json_t *config) {
        const json_t *repos = json_object_get(config, "yum_repos");
        const char *dir = json_string_value(json_object_get(config, "yum_repo_dir"));
        _cleanup_json_ json_t *pending = json_object();
        const char *id;
        json_t *repo;
        int r, result = 0;

        if (!json_is_object(repos) || json_object_size(repos) == 0)
                return 0;
        if (!pending)
                return -ENOMEM;
        if (!rhel_family()) {
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "yum_repos", "result", "skipped", "reason",
                                           "not a yum/dnf distribution (cloud-init skips it too)"));
                log_info("yum_repos: not a yum/dnf distribution, skipped as cloud-init skips it.");
                return 0;
        }
        r = state_should_run(ctx, FREQ_INSTANCE, "yum_repos");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing yum_repos: %s", strerror(-r));
        if (r == 0)
                return 0;
        json_object_foreach((json_t *) repos, id, repo) {
                _cleanup_free_ char *canon = strdup(id), *path = NULL;
                _cleanup_json_ json_t *cfg = NULL;
                if (!canon)
                        return -ENOMEM;
                for (char *p = canon; *p; p++)
                        if (*p == ' ')
                                *p = '-';
                path = strdup_printf("%s%s%s.repo", dir ? dir : "/etc/yum.repos.d/",
                                     dir && *dir && dir[strlen(dir) - 1] != '/' ? "/" : "", canon);
                if (!path)
                        return -ENOMEM;
                {
                        _cleanup_free_ char *rooted = NULL;
                        if (root_path(&rooted, "%s", path) < 0)
                                return -ENOMEM;
                        if (file_exists(rooted) != 0 || json_object_get(pending, canon)) {
                                log_info("yum_repos: %s is there already, left alone (as cloud-init does).", path);
                                continue;
                        }
                }
                cfg = json_is_object(repo) ? canonical_keys(repo) : json_object();
                if (!cfg)
                        return -ENOMEM;
                if (!json_object_get(cfg, "baseurl") && !json_object_get(cfg, "metalink") &&
                    !json_object_get(cfg, "mirrorlist")) {
                        result = kiln_degrade(ctx,
                                              "yum_repos: %s has none of baseurl, metalink, mirrorlist; skipped (as "
                                              "cloud-init skips it)",
                                              id);
                        continue;
                }
                if (json_object_set_new(pending, canon, json_pack("{s:s, s:O}", "path", path, "cfg", cfg)) < 0)
                        return -ENOMEM;
        }
        json_object_foreach(pending, id, repo) {
                _cleanup_free_ char *text = NULL, *err = NULL;
                const char *path = json_string_value(json_object_get(repo, "path"));
                r = system_yum_repo_render(id, json_object_get(repo, "cfg"), time(NULL), &text, &err);
                if (r == -EINVAL)
                        return kiln_degrade(ctx, "yum_repos: %s", err ? err : id);
                if (r < 0)
                        return r;
                {
                        _cleanup_free_ char *rooted = NULL;
                        r = root_path(&rooted, "%s", path) < 0 ? -ENOMEM : mkdir_parents(rooted, 0755);
                        if (r >= 0)
                                r = write_file_atomic(rooted, text, strlen(text), 0644);
                }
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", "yum_repos", "result", r < 0 ? "failed" : "ok",
                                           "path", path));
                if (r < 0)
                        return kiln_degrade(ctx, "yum_repos: writing %s: %s", path, strerror(-r));
                log_info("yum_repos: wrote %s.", path);
        }
        if (result != 0)
                return result;
        r = state_mark_done(ctx, FREQ_INSTANCE, "yum_repos");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that yum_repos ran: %s", strerror(-r)) : 0;
}
