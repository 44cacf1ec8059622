/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libsystemd.h"
#include "macro.h"

/* Everything one run of kiln knows, handed to every module. */

enum frequency {
        FREQ_BOOT, /* every boot */
        FREQ_INSTANCE, /* once per instance-id */
        FREQ_ONCE, /* once for the life of the image's disk */
};

struct instance_facts {
        char *instance_id;
        char *region;
        char *availability_zone;
        char *instance_type;
        char *image_id;
        char *account_id;
        char *architecture;
        char *private_ipv4;
        char *public_ipv4;
        char *local_hostname;
        char *public_hostname;
};

/* One piece of user-data, after decoding (gzip, base64, MIME). */
struct userdata_part {
        char *type; /* "text/x-shellscript", "text/x-kiln-config", ... */
        char *filename; /* from MIME, or "part-NNN" */
        char *content; /* NUL-terminated, may hold other NULs */
        size_t len;
        enum frequency freq;
};

struct imds;

struct kiln_context {
        const char *config_file; /* --config, NULL for the default */
        bool verbose;
        bool daemon;

        json_t *config; /* baked + user-data config, merged */
        char *config_error; /* why the baked config did not load, if it did not */
        json_t *userdata_config; /* the user-data's part of it */
        struct imds *imds;

        struct instance_facts facts;
        bool identified; /* facts.instance_id is known */
        bool new_instance; /* first boot of this instance-id */
        char *previous_instance_id;

        struct userdata_part *parts;
        size_t n_parts;

        json_t *status; /* what /run/kiln/status.json holds */
        json_t *stage; /* the stage running now, inside status */
        sd_event *event; /* daemon only */

        /* A power change a module asked for (power_state,
         * package_reboot_if_required): run by boot_run() once the boot's
         * status is written. power_now: the modules left are not run. */
        char **power_argv;
        bool power_now;
};

int context_new(struct kiln_context **ret);
void context_free(struct kiln_context *ctx);
DEFINE_POINTER_CLEANUP(struct kiln_context, context_free)

int context_add_part(struct kiln_context *ctx, const char *type, const char *filename, const char *content, size_t len,
                     enum frequency freq);
void instance_facts_done(struct instance_facts *f);

const char *frequency_name(enum frequency f);
int frequency_from_string(const char *s, enum frequency *ret);

/* Records a failure of the running stage, with a message for the log and
 * status.json; returns r (a negative errno) for `return kiln_fail(...)`. */
int kiln_fail(struct kiln_context *ctx, int r, const char *fmt, ...) _printf_(3, 4);
/* Records a non-fatal problem: the stage ends degraded. Returns KILN_DEGRADED. */
int kiln_degrade(struct kiln_context *ctx, const char *fmt, ...) _printf_(2, 3);
/* Adds an item (a script run, a runcmd entry, a site) to the stage's record.
 * Takes ownership of item. */
void kiln_record(struct kiln_context *ctx, json_t *item);

/* Daemon timers: (re)arms a one-shot timer `usec` from now. */
typedef int (*kiln_timer_fn)(struct kiln_context *ctx, void *userdata);
int kiln_timer_schedule(struct kiln_context *ctx, sd_event_source **source, uint64_t usec, kiln_timer_fn fn,
                        void *userdata);
/* Tells systemd's watchdog we are alive during long work; cheap to call often. */
void kiln_keepalive(void);
