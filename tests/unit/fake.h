/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <sys/types.h>

/* Starts one of the fakes in tests/fakes on a free loopback port, for unit
 * tests that need a real peer (the fake IMDS serves as a faulty HTTP server
 * too). */
struct fake {
        pid_t pid;
        int port;
        char url[64];
        char dir[64];
};

int fake_start(struct fake *f, const char *script, const char *const *args);
void fake_stop(struct fake *f);
/* POSTs a JSON body to the fake's control API, e.g. ("/_fake/config", "{\"fail_5xx\": 2}"). */
int fake_post(struct fake *f, const char *path, const char *json);
json_t *fake_get(struct fake *f, const char *path);
