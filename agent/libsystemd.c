/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Without it, sd-journal.h makes sd_journal_sendv() a macro that adds the
 * caller's file and line to the fields it is given. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#define LIBSYSTEMD_LOADER
#include "dl.h"
#include "libsystemd.h"
#include "log.h"
#include "macro.h"

/* libsystemd's soname since v209, the one kiln's build links against
 * (pkg-config's libsystemd.so is a link to it). */
#define LIBSYSTEMD_SONAME "libsystemd.so.0"

static struct libsystemd table;
static void *handle;

#define LIBSYSTEMD_SYMBOL(f) {#f, offsetof(struct libsystemd, f)},
static const struct dl_symbol symbols[] = {LIBSYSTEMD_FUNCTIONS(LIBSYSTEMD_SYMBOL)};

int libsystemd_load(const char **ret_error) {
        const char *error = NULL;
        int r;

        if (handle)
                return 0;
        r = dl_load(LIBSYSTEMD_SONAME, symbols, ELEMENTSOF(symbols), &table, &handle, &error);
        if (r < 0 && ret_error)
                *ret_error = error;
        return r;
}

const struct libsystemd *libsystemd(void) {
        const char *error;

        if (!handle && libsystemd_load(&error) < 0)
                dl_load_failed(error);
        return &table;
}

/* sd_notify(3): "If $NOTIFY_SOCKET was not set and hence no status message
 * could be sent, 0 is returned." That is every run that is not the service,
 * so find it out without the library. A NULL state is libsystemd's to
 * refuse. */
int libsystemd_notify(int unset_environment, const char *state) {
        int r;

        if (state && !getenv("NOTIFY_SOCKET"))
                return 0;
        r = libsystemd_load(NULL);
        if (r < 0)
                return r;
        return table.sd_notify(unset_environment, state);
}

/* As libsystemd's: format, then sd_notify(); but without a socket to send to
 * there is nothing to format either. */
int libsystemd_notifyf(int unset_environment, const char *format, ...) {
        _cleanup_free_ char *state = NULL;
        va_list ap;
        int r;

        if (format && !getenv("NOTIFY_SOCKET"))
                return 0;
        if (format) {
                va_start(ap, format);
                r = vasprintf(&state, format, ap);
                va_end(ap);
                if (r < 0)
                        return -ENOMEM;
        }
        return libsystemd_notify(unset_environment, state);
}

/* sd_watchdog_enabled(3): 0 when $WATCHDOG_USEC is not set, *usec untouched.
 * Unsetting the variables stays libsystemd's job. */
int libsystemd_watchdog_enabled(int unset_environment, uint64_t *usec) {
        int r;

        if (!unset_environment && !getenv("WATCHDOG_USEC"))
                return 0;
        r = libsystemd_load(NULL);
        if (r < 0)
                return r;
        return table.sd_watchdog_enabled(unset_environment, usec);
}

/* Both accept NULL and return NULL; a non-NULL object came from the loaded
 * library. */
sd_event *libsystemd_event_unref(sd_event *e) {
        if (!e)
                return NULL;
        return libsystemd()->sd_event_unref(e);
}

sd_event_source *libsystemd_event_source_disable_unref(sd_event_source *s) {
        if (!s)
                return NULL;
        return libsystemd()->sd_event_source_disable_unref(s);
}
