/* SPDX-License-Identifier: MIT */
#pragma once

/* A few lines of TAP for the unit tests: ok(cond, fmt, ...) prints one
 * result; tap_done() prints the plan and returns the exit status. */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3))) static inline int ok(int cond, const char *fmt, ...) {
        va_list ap;

        tap_n++;
        printf("%sok %d - ", cond ? "" : "not ", tap_n);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        if (!cond)
                tap_failed++;
        return cond;
}

#define is_int(a, b, ...)                                                \
        do {                                                             \
                long long _a = (a), _b = (b);                            \
                if (!ok(_a == _b, __VA_ARGS__))                          \
                        printf("#   got %lld, expected %lld\n", _a, _b); \
        } while (0)

#define is_str(a, b, ...)                                                                                \
        do {                                                                                             \
                const char *_a = (a), *_b = (b);                                                         \
                if (!ok(_a && _b && strcmp(_a, _b) == 0, __VA_ARGS__))                                   \
                        printf("#   got '%s', expected '%s'\n", _a ? _a : "(null)", _b ? _b : "(null)"); \
        } while (0)

static inline int tap_done(void) {
        printf("1..%d\n", tap_n);
        return tap_failed ? 1 : 0;
}
