/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "log.h"

static bool verbose;
static bool to_journal;

void log_setup(bool want_verbose) {
        const char *v = getenv("KILN_LOG_LEVEL");

        verbose = want_verbose || (v && strcmp(v, "debug") == 0);
        /* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
        to_journal = getenv("JOURNAL_STREAM") != NULL;
}

bool log_debug_enabled(void) {
        return verbose;
}

static const char *level_prefix(int level) {
        switch (level) {
        case LOG_DEBUG: return "debug: ";
        case LOG_WARNING: return "warning: ";
        case LOG_ERR: return "error: ";
        default: return "";
        }
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        char buf[2048];
        int saved = errno;
        va_list ap;

        if (level == LOG_DEBUG && !verbose)
                return error < 0 ? error : -abs(error);

        /* %m in fmt expands from errno: point it at the error we were given. */
        errno = abs(error);
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (to_journal) {
                char code_line[16];
                snprintf(code_line, sizeof(code_line), "%d", line);
                sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", level, "CODE_FILE=%s", file, "CODE_LINE=%s",
                                code_line, "SYSLOG_IDENTIFIER=kiln", error != 0 ? "ERRNO=%d" : NULL, abs(error), NULL);
        } else
                fprintf(stderr, "kiln: %s%s\n", level_prefix(level), buf);

        errno = saved;
        return -abs(error);
}
