/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* Logging: to the journal when systemd runs us (JOURNAL_STREAM is set), to
 * stderr otherwise. The log_*_errno() helpers return the negative errno they
 * were given, so a caller can `return log_error_errno(r, "...: %m");`.
 * %m expands to strerror(-error). Never pass a token, key or credential. */

void log_setup(bool verbose);
bool log_debug_enabled(void);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/* A copy of every message above debug, for shipping kiln's log elsewhere
 * (CloudWatch Logs). Until a sink is set or capture stopped, messages are
 * kept in memory (at most LOG_CAPTURE_MAX of them, the newest dropped
 * beyond, counted), so that the boot's messages, logged before the module
 * that ships them starts, are not missed. Setting a sink hands it those
 * first, with their time. The sink must not log: messages it causes are not
 * passed to it again. usec is CLOCK_REALTIME. */
#define LOG_CAPTURE_MAX 4096
typedef void (*log_sink_fn)(int level, unsigned long long usec, const char *message, void *userdata);
void log_set_sink(log_sink_fn fn, void *userdata);
/* Stops capturing and frees what was kept (no sink will come). */
void log_capture_stop(void);
/* Messages not kept because the capture was full. */
unsigned long log_capture_lost(void);

/* Out of memory: the one error not worth a custom message. */
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
