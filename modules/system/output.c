/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"

/* cloud-config `output`, read as cloud-init's util.get_output_cfg() reads
 * it: a string (all stages), or per stage (init, config, final, else all)
 * a string, [stdout, stderr] or {output, error}; stderr "&1" is stdout; a
 * target is "> FILE" (written), ">> FILE" or a bare FILE (appended), or
 * "| COMMAND". kiln sends what the scripts of a stage print (bootcmd and
 * boothooks: init; runcmd and user scripts: final) to the file too:
 * "> FILE", ">> FILE", and the pipes cloud-init's own default uses, "| tee
 * -a FILE" and "| tee FILE". A file is made 0640, group adm when there is
 * one, as cloud-init makes it. Other pipes, and a stderr apart from stdout,
 * are not done: said once. */

struct target {
        char *path;
        int fd;
};

static struct target targets[4];
static size_t n_targets;

/* The stage's stdout target as cloud-init normalises it: ">> f", "> f", "| c". */
static char *stage_target(const json_t *config, const char *mode, char **ret_err_target) {
        const json_t *out = json_object_get(config, "output"), *m;
        const char *fmt[2] = {NULL, NULL};
        char *norm[2] = {NULL, NULL};

        *ret_err_target = NULL;
        if (!out)
                return NULL;
        /* not a mapping: nothing (cloud-init's schema wants one) */
        if (!json_is_object(out))
                return NULL;
        m = json_object_get(out, mode) ? json_object_get(out, mode) : json_object_get(out, "all");
        if (json_is_string(m))
                fmt[0] = fmt[1] = json_string_value(m);
        else if (json_is_array(m)) {
                fmt[0] = json_string_value(json_array_get(m, 0));
                fmt[1] = json_string_value(json_array_get(m, 1));
        } else if (json_is_object(m)) {
                fmt[0] = json_string_value(json_object_get(m, "output"));
                fmt[1] = json_string_value(json_object_get(m, "error"));
        }
        if (fmt[1] && streq(fmt[1], "&1"))
                fmt[1] = fmt[0];
        for (int i = 0; i < 2; i++) {
                const char *v = fmt[i];
                static const char *const sw[] = {">>", ">", "|"};
                bool found = false;
                if (!v || !*v)
                        continue;
                v += strspn(v, " \t\n");
                for (size_t k = 0; k < 3 && !found; k++)
                        if (strneq(v, sw[k], strlen(sw[k]))) {
                                _cleanup_free_ char *rest = strdup(v + strlen(sw[k]));
                                norm[i] = rest ? strdup_printf("%s %s", sw[k], strstrip(rest)) : NULL;
                                found = true;
                        }
                if (!found) {
                        _cleanup_free_ char *rest = strdup(v);
                        norm[i] = rest ? strdup_printf(">> %s", strstrip(rest)) : NULL;
                }
        }
        *ret_err_target = norm[1];
        return norm[0];
}

/* "| tee -a FILE" -> FILE (append), "| tee FILE" -> FILE (write). */
static const char *tee_file(const char *cmd, bool *append) {
        const char *p = cmd;

        if (!strneq(p, "tee ", 4))
                return NULL;
        p += 4;
        p += strspn(p, " ");
        *append = false;
        if (strneq(p, "-a ", 3) || strneq(p, "--append ", 9)) {
                *append = true;
                p += p[1] == 'a' ? 3 : 9;
                p += strspn(p, " ");
        }
        if (!*p || strpbrk(p, " ;|&<>$`'\"\\"))
                return NULL;
        return p;
}

int system_output_fd(struct kiln_context *ctx, const char *mode) {
        static bool warned;
        _cleanup_free_ char *target = NULL, *err_target = NULL, *rooted = NULL, *gid_s = NULL;
        const char *file = NULL;
        bool append = true;
        int fd, r;

        target = stage_target(ctx->config, mode, &err_target);
        if (!target)
                return 0;
        if (err_target && !streq(err_target, target) && !warned) {
                log_warning("output: stderr to '%s' apart from stdout is not done by kiln; it goes with stdout.",
                            err_target);
                warned = true;
        }
        if (target[0] == '|') {
                file = tee_file(target + 2, &append);
                if (!file)
                        return 0; /* said by system_check_output() */
        } else {
                append = target[1] == '>';
                file = target + (append ? 3 : 2);
        }
        for (size_t i = 0; i < n_targets; i++)
                if (streq(targets[i].path, file))
                        return targets[i].fd;
        if (n_targets >= ELEMENTSOF(targets) || root_path(&rooted, "%s", file) < 0)
                return 0;
        r = mkdir_parents(rooted, 0755);
        fd = r < 0 ? -1
                   : open(rooted,
                          O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | (append ? O_APPEND : O_TRUNC), 0640);
        if (fd < 0) {
                (void) kiln_degrade(ctx, "output: cannot open %s: %m", file);
                return 0;
        }
        /* root:adm 0640, as cloud-init's umask 037 and setgid(adm) make it */
        if (system_colon_field("/etc/group", "adm", 2, &gid_s) >= 0) {
                char *end;
                long gid = strtol(gid_s, &end, 10);
                if (*gid_s && !*end && gid >= 0)
                        (void) fchown(fd, (uid_t) -1, (gid_t) gid);
        }
        targets[n_targets].path = strdup(file);
        if (!targets[n_targets].path) {
                close(fd);
                return 0;
        }
        targets[n_targets++].fd = fd;
        return fd;
}

/* What kiln does not do of `output`, said once at boot (degraded). */
int system_check_output(struct kiln_context *ctx) {
        static const char *const modes[] = {"init", "config", "final"};
        int result = 0;

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                _cleanup_free_ char *err_target = NULL, *target = stage_target(ctx->config, modes[i], &err_target);
                bool append;
                if (target && target[0] == '|' && !tee_file(target + 2, &append))
                        result = kiln_degrade(ctx,
                                              "output: '%s' (%s) is not done by kiln (only > FILE, >> FILE and | tee "
                                              "[-a] FILE)",
                                              target, modes[i]);
        }
        return result;
}
