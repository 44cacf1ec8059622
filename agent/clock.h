/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <time.h>

/* Milliseconds on the monotonic clock: for timeouts, budgets, durations. */
static inline long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Sleeps ms milliseconds, through signals that interrupt it. */
static inline void sleep_ms(long ms) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}
