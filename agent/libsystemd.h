/* SPDX-License-Identifier: MIT */
#pragma once

/* libsystemd, loaded when kiln needs it.
 *
 * Only the daemon uses it for more than a message: its event loop is
 * sd-event. A CLI command (`kiln status`, `kiln put-metric`, `kiln nginx
 * apply`, ...) at most tells a service manager that is not there, or logs.
 * Linked, libsystemd.so.0 would still cost every process its own relocations
 * and those of what it pulls in at load (gcrypt, gpg-error, lzma, zstd, lz4,
 * cap, all bound at once, with liblzma's CPU probing and libcap's
 * constructor): measured, a program linked with -lsystemd reaches main()
 * about 0.3 ms later. So kiln does not link it. Files that call it include
 * this header instead of <systemd/...>: each function listed below goes
 * through a table that libsystemd_load() fills with dlopen() and dlsym(),
 * as agent/openssl.h does for OpenSSL.
 *
 * When it is loaded:
 * - `kiln daemon` loads it first thing (daemon_run()), and fails with a
 *   message if it cannot.
 * - sd_notify(), sd_notifyf() and sd_watchdog_enabled() do what libsystemd
 *   does without $NOTIFY_SOCKET (resp. $WATCHDOG_USEC), return 0, without
 *   loading it. With the variable set, they load it; if that fails they
 *   return its negative errno, as any failure to notify (callers ignore it).
 * - sd_event_unref() and sd_event_source_disable_unref() of NULL return NULL
 *   without loading it: context_free() and the modules' done() call them on
 *   every run, with the loop never made.
 * - log.c loads it for the first message to the journal, and falls back to
 *   stderr if it cannot: logging never stops kiln.
 * - Any other call before a load loads it, and aborts with a message if it
 *   cannot, as a missing linked library would have at start-up.
 *
 * Using one more function: add it to the list and a #define at the end. The
 * link, which has no -lsystemd to fall back on, names any function missed. */

#include <stdint.h>
#include <systemd/sd-event.h>

/* What kiln uses of sd-daemon.h and sd-journal.h, declared here: context.h
 * includes this header, and those two would bring <sys/socket.h> and
 * <syslog.h> into every file. libsystemd.c includes the real ones too, so
 * the compiler checks these against them. */
struct iovec;
int sd_notify(int unset_environment, const char *state);
int sd_notifyf(int unset_environment, const char *format, ...) __attribute__((format(printf, 2, 3)));
int sd_watchdog_enabled(int unset_environment, uint64_t *usec);
int sd_journal_sendv(const struct iovec *iov, int n);

#define LIBSYSTEMD_FUNCTIONS(X)                 \
        X(sd_event_add_signal)                  \
        X(sd_event_add_time_relative)           \
        X(sd_event_default)                     \
        X(sd_event_exit)                        \
        X(sd_event_loop)                        \
        X(sd_event_now)                         \
        X(sd_event_set_watchdog)                \
        X(sd_event_source_disable_unref)        \
        X(sd_event_source_get_event)            \
        X(sd_event_source_get_userdata)         \
        X(sd_event_source_set_destroy_callback) \
        X(sd_event_source_set_enabled)          \
        X(sd_event_source_set_time)             \
        X(sd_event_unref)                       \
        X(sd_journal_sendv)                     \
        X(sd_notify)                            \
        X(sd_watchdog_enabled)

#define LIBSYSTEMD_POINTER(f) __typeof__(f) *f;
struct libsystemd {
        LIBSYSTEMD_FUNCTIONS(LIBSYSTEMD_POINTER)
};
#undef LIBSYSTEMD_POINTER

/* Loads libsystemd: 0, or -ENOPKG with *ret_error (may be NULL) naming what
 * failed, static storage. */
int libsystemd_load(const char **ret_error);

const struct libsystemd *libsystemd(void);

/* The functions that can do their work without the library (see above).
 * Declared with the types of the ones they stand for, so the compiler checks
 * that they match. */
__typeof__(sd_notify) libsystemd_notify;
__typeof__(sd_notifyf) libsystemd_notifyf __attribute__((format(printf, 2, 3)));
__typeof__(sd_watchdog_enabled) libsystemd_watchdog_enabled;
__typeof__(sd_event_unref) libsystemd_event_unref;
__typeof__(sd_event_source_disable_unref) libsystemd_event_source_disable_unref;

#ifndef LIBSYSTEMD_LOADER
#define sd_event_add_signal (libsystemd()->sd_event_add_signal)
#define sd_event_add_time_relative (libsystemd()->sd_event_add_time_relative)
#define sd_event_default (libsystemd()->sd_event_default)
#define sd_event_exit (libsystemd()->sd_event_exit)
#define sd_event_loop (libsystemd()->sd_event_loop)
#define sd_event_now (libsystemd()->sd_event_now)
#define sd_event_set_watchdog (libsystemd()->sd_event_set_watchdog)
#define sd_event_source_disable_unref libsystemd_event_source_disable_unref
#define sd_event_source_get_event (libsystemd()->sd_event_source_get_event)
#define sd_event_source_get_userdata (libsystemd()->sd_event_source_get_userdata)
#define sd_event_source_set_destroy_callback (libsystemd()->sd_event_source_set_destroy_callback)
#define sd_event_source_set_enabled (libsystemd()->sd_event_source_set_enabled)
#define sd_event_source_set_time (libsystemd()->sd_event_source_set_time)
#define sd_event_unref libsystemd_event_unref
#define sd_journal_sendv (libsystemd()->sd_journal_sendv)
#define sd_notify libsystemd_notify
#define sd_notifyf libsystemd_notifyf
#define sd_watchdog_enabled libsystemd_watchdog_enabled
#endif
