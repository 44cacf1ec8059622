/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "http.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "pkg.h"
#include "proc.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* ssh_import_id as cloud-init does it (cc_ssh_import_id running
 * ssh-import-id 5.x as each user), once per instance: the top-level list
 * for the default user, users[].ssh_import_id for the others. "gh:NAME"
 * fetches https://api.github.com/users/NAME/keys (each key as
 * "KEY NAME@github/ID"), "lp:NAME" or a bare NAME
 * https://launchpad.net/~NAME/+sshkeys (or the URL of
 * /etc/ssh/ssh_import_id, as ssh-import-id reads it); each line that
 * ssh-keygen takes for a public key is authorized with
 * " # ssh-import-id PROTO:NAME" after it. kiln adds these lines to the
 * user's ssh_authorized_keys, so they are written by kiln's safe
 * authorized_keys writer (a line already there is not added again). An id
 * that gives no key is an error, as in ssh-import-id. Under --root the
 * test hook KILN_SSH_IMPORT_ID_URL replaces both https://api.github.com
 * and https://launchpad.net. */

static bool is_public_key(const char *line) {
        _cleanup_free_ char *tool = NULL;
        struct proc_result res;
        int r;

        if (!pkg_have_program("ssh-keygen", &tool))
                return false;
        r = proc_run(
                &(struct proc_options){.argv = (char *const[]){tool, (char *) "-l", (char *) "-f", (char *) "-", NULL},
                                       .stdin_data = line,
                                       .stdin_len = strlen(line),
                                       .quiet = true,
                                       .log_name = "ssh-keygen",
                                       .timeout_ms = 30000},
                &res);
        if (r < 0)
                return false;
        r = res.exit_code;
        proc_result_done(&res);
        return r == 0;
}

static int fetch(const char *url, char **ret, long *ret_status) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        static const char *const headers[] = {"User-Agent: ssh-import-id/5.10 (kiln)", NULL};
        int r;

        r = http_request(&(struct http_request){.url = url,
                                                .headers = headers,
                                                .max_attempts = 2, /* cloud-init retries once */
                                                .retry_on = HTTP_RETRY_NETWORK | HTTP_RETRY_5XX | HTTP_RETRY_429,
                                                .timeout_ms = 30000},
                         &resp);
        if (r < 0)
                return r;
        *ret_status = resp->status;
        *ret = strdup(resp->body ? resp->body : "");
        return *ret ? 0 : -ENOMEM;
}

/* /etc/ssh/ssh_import_id {"URL": "...%s..."}, as ssh-import-id reads it. */
static char *lp_url_template(void) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_json_ json_t *conf = NULL;
        size_t len;

        if (root_path(&path, "/etc/ssh/ssh_import_id") < 0 || read_file(path, 65536, &buf, &len) < 0)
                return NULL;
        conf = json_loadb(buf, len, 0, NULL);
        return json_string_value(json_object_get(conf, "URL")) ? strdup(json_string_value(json_object_get(conf, "URL")))
                                                               : NULL;
}

/* The key lines for one id ("gh:alice"), or an error message. */
static int import_one(const char *id, json_t *out, char **ret_error) {
        const char *colon = strchr(id, ':'), *base = root_test_hook("KILN_SSH_IMPORT_ID_URL");
        _cleanup_free_ char *proto = NULL, *user = NULL, *q = NULL, *url = NULL, *body = NULL, *keys = NULL;
        _cleanup_free_ char *comment = NULL;
        long status = 0;
        size_t added = 0;
        int r;

        *ret_error = NULL;
        if (colon && strchr(colon + 1, ':')) {
                *ret_error = strdup_printf("invalid user id [%s]", id);
                return -EINVAL;
        }
        proto = colon ? strndup(id, (size_t) (colon - id)) : strdup("lp");
        user = strdup(colon ? colon + 1 : id);
        q = user ? http_urlencode(user) : NULL;
        if (!proto || !user || !q)
                return -ENOMEM;
        if (streq(proto, "gh"))
                url = strdup_printf("%s/users/%s/keys", base ? base : "https://api.github.com", q);
        else if (streq(proto, "lp")) {
                _cleanup_free_ char *tpl = base ? NULL : lp_url_template();
                const char *s = tpl ? strstr(tpl, "%s") : NULL;
                if (tpl && s)
                        url = strdup_printf("%.*s%s%s", (int) (s - tpl), tpl, q, s + 2);
                else
                        url = strdup_printf("%s/~%s/+sshkeys", base ? base : "https://launchpad.net", q);
        } else {
                *ret_error = strdup_printf("ssh-import-id protocol handler %s: not found", proto);
                return -EINVAL;
        }
        if (!url)
                return -ENOMEM;
        r = fetch(url, &body, &status);
        if (r < 0 || status != 200) {
                *ret_error = r < 0 ? strdup_printf("%s: %s", url, strerror(-r))
                                   : strdup_printf("%s: status %ld%s", url, status,
                                                   status == 404 ? " (user not found)" : "");
                return r == -ENOMEM ? r : -EIO;
        }
        if (streq(proto, "gh")) {
                _cleanup_json_ json_t *list = json_loads(body, 0, NULL);
                _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
                size_t i;
                json_t *k;
                if (!json_is_array(list)) {
                        *ret_error = strdup_printf("%s: not a JSON list of keys", url);
                        return -EIO;
                }
                json_array_foreach(list, i, k) {
                        const json_t *idv = json_object_get(k, "id");
                        const char *key = json_string_value(json_object_get(k, "key"));
                        if (!key)
                                continue;
                        r = json_is_integer(idv) ? strbuf_printf(&b, "%s %s@github/%lld\n", key, user,
                                                                 (long long) json_integer_value(idv))
                                                 : strbuf_printf(&b, "%s %s@github/%s\n", key, user,
                                                                 json_string_value(idv) ?: "None");
                        if (r < 0)
                                return -ENOMEM;
                }
                keys = strbuf_steal(&b);
        } else
                keys = TAKE_PTR(body);
        comment = strdup_printf("# ssh-import-id %s:%s", proto, user);
        if (!comment)
                return -ENOMEM;
        for (char *line = keys; line && *line;) {
                char *nl = strchr(line, '\n');
                _cleanup_strbuf_ struct strbuf joined = STRBUF_INIT;
                if (nl)
                        *nl = 0;
                /* " ".join(line.split() + [comment]) */
                for (char *p = line; *p;) {
                        size_t sp = strspn(p, " \t\r\f\v"), w;
                        p += sp;
                        w = strcspn(p, " \t\r\f\v");
                        if (w && strbuf_printf(&joined, "%s%.*s", joined.len ? " " : "", (int) w, p) < 0)
                                return -ENOMEM;
                        p += w;
                }
                line = nl ? nl + 1 : NULL;
                if (joined.len == 0 || strbuf_printf(&joined, " %s", comment) < 0)
                        continue;
                if (!is_public_key(joined.data))
                        continue;
                if (json_array_append_new(out, json_string(joined.data)) < 0)
                        return -ENOMEM;
                added++;
        }
        if (added == 0) {
                *ret_error = strdup_printf("no matching keys found for [%s]", id);
                return -ENOENT;
        }
        return 0;
}

/* ids (a list, or one string) of a user: their key lines appended to keys. */
static int import_ids(struct kiln_context *ctx, const json_t *ids, json_t *keys, bool *failed) {
        _cleanup_json_ json_t *list = json_is_array(ids) ? json_incref((json_t *) ids) : json_array();
        size_t i;
        json_t *id;

        if (!list)
                return -ENOMEM;
        if (json_is_string(ids) && json_array_append(list, (json_t *) ids) < 0)
                return -ENOMEM;
        json_array_foreach(list, i, id) {
                _cleanup_free_ char *err = NULL;
                const char *s = json_string_value(id);
                int r;
                if (!s) {
                        *failed = true;
                        (void) kiln_degrade(ctx, "ssh_import_id: [%zu] is not a string", i);
                        continue;
                }
                r = import_one(s, keys, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        *failed = true;
                        (void) kiln_degrade(ctx, "ssh_import_id: %s: %s", s, err ? err : strerror(-r));
                        continue;
                }
                log_info("ssh_import_id: keys of %s fetched.", s);
        }
        return 0;
}

static json_t *keys_of(json_t *obj) {
        json_t *k = json_object_get(obj, "ssh_authorized_keys");
        if (json_is_array(k))
                return k;
        if (json_object_set_new(obj, "ssh_authorized_keys", json_array()) < 0)
                return NULL;
        return json_object_get(obj, "ssh_authorized_keys");
}

int system_ssh_import_ids(struct kiln_context *ctx, json_t *config) {
        json_t *users = json_object_get(config, "users"), *u;
        bool any = json_object_get(config, "ssh_import_id") != NULL, failed = false;
        size_t i;
        int r;

        json_array_foreach(users, i, u)
                any = any || json_object_get(u, "ssh_import_id");
        if (!any)
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, "ssh_import_id");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing ssh_import_id: %s", strerror(-r));
        if (r == 0)
                return 0;
        if (json_object_get(config, "ssh_import_id")) {
                json_t *keys = keys_of(config);
                if (!keys)
                        return -ENOMEM;
                r = import_ids(ctx, json_object_get(config, "ssh_import_id"), keys, &failed);
                if (r < 0)
                        return r;
        }
        json_array_foreach(users, i, u) {
                json_t *keys;
                if (!json_object_get(u, "ssh_import_id"))
                        continue;
                keys = keys_of(u);
                if (!keys)
                        return -ENOMEM;
                r = import_ids(ctx, json_object_get(u, "ssh_import_id"), keys, &failed);
                if (r < 0)
                        return r;
        }
        kiln_record(ctx, json_pack("{s:s, s:s}", "name", "ssh_import_id", "result", failed ? "failed" : "ok"));
        if (failed)
                return KILN_DEGRADED;
        r = state_mark_done(ctx, FREQ_INSTANCE, "ssh_import_id");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that ssh_import_id ran: %s", strerror(-r)) : 0;
}
