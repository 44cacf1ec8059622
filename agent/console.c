/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chase.h"
#include "config.h"
#include "console.h"
#include "fileio.h"
#include "path.h"
#include "strbuf.h"

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int console_write(const char *text) {
        const char *path;
        int fd, r;

        if (streq(root_get(), "/")) {
                /* A character device, not a file: chase.c's writers refuse those. */
                fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                r = write_all(fd, text, strlen(text));
                close(fd);
                return r;
        }
        path = getenv("KILN_CONSOLE");
        if (!path || !*path)
                return -ENODEV;
        return chase_write_file(
                path, 0, text, strlen(text),
                &(struct write_options){.mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1, .append = true});
}

int console_printf(const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        return s ? console_write(s) : -ENOMEM;
}

/* Seconds since the kernel started, as /proc/uptime gives them. */
static char *uptime_seconds(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return strdup("?");
        return strdup_printf("%lld.%02ld", (long long) ts.tv_sec, ts.tv_nsec / 10000000L);
}

int console_boot_summary(const json_t *status) {
        _cleanup_free_ char *up = uptime_seconds();
        struct strbuf b = {};
        const char *result = json_string_value(json_object_get(status, "result"));
        json_int_t ms = json_integer_value(json_object_get(status, "duration_ms"));
        char when[64] = "";
        time_t now = time(NULL);
        struct tm tm;
        size_t i, j;
        json_t *stage, *e;
        int r;

        json_array_foreach(json_object_get(status, "stages"), i, stage) {
                const char *name = json_string_value(json_object_get(stage, "name"));
                const char *res = json_string_value(json_object_get(stage, "result"));
                json_array_foreach(json_object_get(stage, "errors"), j, e)
                        strbuf_printf(&b, "kiln: %s: %s: %s\n", name ? name : "?", res ? res : "?",
                                      json_string_value(e) ? json_string_value(e) : "?");
        }
        /* cloud-init's final_message, with the result and the time taken. */
        if (gmtime_r(&now, &tm))
                strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        strbuf_printf(&b, "kiln v. %s finished at %s. Result: %s in %lld ms. Up %s seconds.\n", PACKAGE_VERSION, when,
                      result ? result : "unknown", (long long) ms, up ? up : "?");
        if (!b.data) {
                strbuf_done(&b);
                return -ENOMEM;
        }
        r = console_write(b.data);
        strbuf_done(&b);
        return r;
}
