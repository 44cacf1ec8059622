/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* The built-in collectors. Each appends datums (without the instance's
 * dimensions, which the caller adds) to an array. Rates and utilisation
 * need two readings: the first call of those only remembers. */

struct collect_state {
        uint64_t cpu_busy, cpu_total;
        uint64_t net_in, net_out;
        uint64_t nginx_requests;
        double nginx_at; /* monotonic seconds of the last nginx reading */
        double net_at;
        int nginx_last_error; /* so a dead nginx is logged once, not every minute */
};

struct collect_env {
        time_t now;
        int resolution; /* 1 or 60 */
        const char *nginx_status_url;
        const char *proc; /* "/proc"; tests point elsewhere */
        json_t *kiln_health; /* {"BootResult": n, "SpooledDatums": n, ...} for the kiln collector */
};

/* Known collector names: cpu, memory, disk, network, load, nginx,
 * certificates, kiln. */
bool collect_known(const char *name);
/* Runs one collector. Returns a negative errno when it could not read its
 * source (the caller logs), else the number of datums added. */
int collect_run(const char *name, struct collect_state *st, const struct collect_env *env, json_t *out);

/* Parses nginx's stub_status page. */
int collect_parse_stub_status(const char *text, long *ret_active, unsigned long long *ret_requests, long *ret_reading,
                              long *ret_writing, long *ret_waiting);
/* Parses the output of a custom metric command: one number, or lines of
 * "NAME VALUE [UNIT]". Appends datums named `name` (for a bare number) or
 * as given; unit is the default unit. Returns the number of datums, or
 * -EBADMSG naming the bad line in *ret_error. */
int collect_parse_command_output(const char *output, const char *name, const char *unit, time_t now, int resolution,
                                 json_t *out, char **ret_error);
