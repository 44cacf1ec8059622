/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "libsystemd.h"
#include "log.h"

/* The message is formatted after this, so that it is the journal's field as
 * it is. */
#define MESSAGE_FIELD "MESSAGE="

static bool verbose;
static bool to_journal;

struct captured {
        int level;
        unsigned long long usec;
        char *message;
};

static struct {
        bool stopped;
        bool in_sink; /* a message logged by the sink is not passed to it again */
        log_sink_fn fn;
        void *userdata;
        struct captured *items;
        size_t n;
        unsigned long lost;
} capture;

static unsigned long long now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (unsigned long long) ts.tv_sec * 1000000ULL + (unsigned long long) ts.tv_nsec / 1000;
}

static void capture_free(void) {
        for (size_t i = 0; i < capture.n; i++)
                free(capture.items[i].message);
        free(capture.items);
        capture.items = NULL;
        capture.n = 0;
}

void log_capture_stop(void) {
        capture_free();
        capture.stopped = true;
}

unsigned long log_capture_lost(void) {
        return capture.lost;
}

void log_set_sink(log_sink_fn fn, void *userdata) {
        capture.fn = fn;
        capture.userdata = userdata;
        if (!fn)
                return;
        capture.in_sink = true;
        for (size_t i = 0; i < capture.n; i++)
                fn(capture.items[i].level, capture.items[i].usec, capture.items[i].message, userdata);
        capture.in_sink = false;
        capture_free();
}

static void capture_message(int level, const char *message) {
        struct captured *c;

        if (level == LOG_DEBUG || capture.in_sink)
                return;
        if (capture.fn) {
                capture.in_sink = true;
                capture.fn(level, now_usec(), message, capture.userdata);
                capture.in_sink = false;
                return;
        }
        if (capture.stopped)
                return;
        if (capture.n >= LOG_CAPTURE_MAX) {
                capture.lost++;
                return;
        }
        if (capture.n % 64 == 0) {
                c = reallocarray(capture.items, capture.n + 64, sizeof(*c));
                if (!c) {
                        capture.lost++;
                        return;
                }
                capture.items = c;
        }
        c = &capture.items[capture.n];
        *c = (struct captured){.level = level, .usec = now_usec(), .message = strdup(message)};
        if (c->message)
                capture.n++;
        else
                capture.lost++;
}

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

/* libsystemd is loaded for the first message to the journal. If it cannot
 * be, that message and the next go to stderr, which systemd connects to the
 * journal anyway: logging never stops kiln. */
static bool journal_usable(void) {
        const char *error;

        if (!to_journal)
                return false;
        if (libsystemd_load(&error) >= 0)
                return true;
        to_journal = false;
        fprintf(stderr, "kiln: warning: %s, logging to stderr.\n", error);
        return false;
}

static void journal_send(int level, int error, const char *file, int line, const char *message) {
        char priority[32], code_file[256], code_line[32], errno_field[32];
        struct iovec iov[6];
        size_t n = 0;

        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        iov[n++] = (struct iovec){(char *) message, strlen(message)};
        iov[n++] = (struct iovec){priority, strlen(priority)};
        iov[n++] = (struct iovec){code_file, strlen(code_file)};
        iov[n++] = (struct iovec){code_line, strlen(code_line)};
        iov[n++] = (struct iovec){(char *) "SYSLOG_IDENTIFIER=kiln", strlen("SYSLOG_IDENTIFIER=kiln")};
        if (error != 0) {
                snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", abs(error));
                iov[n++] = (struct iovec){errno_field, strlen(errno_field)};
        }
        sd_journal_sendv(iov, (int) n);
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        char buf[2048] = MESSAGE_FIELD;
        const char *message = buf + strlen(MESSAGE_FIELD);
        int saved = errno;
        va_list ap;

        if (level == LOG_DEBUG && !verbose)
                return error < 0 ? error : -abs(error);

        /* %m in fmt expands from errno: point it at the error we were given. */
        errno = abs(error);
        va_start(ap, fmt);
        vsnprintf(buf + strlen(MESSAGE_FIELD), sizeof(buf) - strlen(MESSAGE_FIELD), fmt, ap);
        va_end(ap);

        if (journal_usable())
                journal_send(level, error, file, line, buf);
        else
                fprintf(stderr, "kiln: %s%s\n", level_prefix(level), message);
        capture_message(level, message);

        errno = saved;
        return -abs(error);
}
