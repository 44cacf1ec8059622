/* SPDX-License-Identifier: MIT */
/* libFuzzer target: conf_redirect_include() (modules/nginx/layout.c), which
 * copies nginx's main config with each `include` of sites-enabled (or
 * conf.d) pointed at kiln's staged file, for `nginx -t` before a swap.
 * Besides the sanitizers: a config it changes nothing in comes back as it
 * was; what it returns is idempotent (its own output changes nothing more,
 * since the staged names are in another directory); each "<staged>-K" it
 * wrote names one of the patterns it returned, and every pattern is a
 * file-name glob (no '/'). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nginx/layout.h"
#include "strbuf.h"

#define CONF_DIR "/etc/nginx"
#define STAGED "/etc/nginx/.kiln-staged"

static void check(bool ok, const char *what, const char *in, const char *out) {
        if (ok)
                return;
        fprintf(stderr, "conf_redirect_include: %s\n=== in:\n%s\n=== out:\n%s\n", what, in, out ? out : "(none)");
        abort();
}

static void one(const char *text, const char *from_dir) {
        _cleanup_strv_free_ char **patterns = NULL, **patterns2 = NULL;
        _cleanup_free_ char *out = NULL, *out2 = NULL;
        size_t n_patterns;
        int count, again;

        count = conf_redirect_include(text, CONF_DIR, from_dir, STAGED, &out, &patterns);
        if (count < 0)
                return; /* -ENOMEM only */
        check(out != NULL, "no output", text, NULL);
        if (count == 0)
                check(streq(out, text), "nothing redirected, but the text changed", text, out);
        n_patterns = strv_length(patterns);
        check(n_patterns <= (size_t) count, "more patterns than includes redirected", text, out);
        for (char **p = patterns; p && *p; p++)
                check(!strchr(*p, '/'), "a pattern with a '/'", text, out);
        /* A config that did not name the staged file already: one staged
         * name for each include redirected, numbered within the patterns. */
        if (!strstr(text, STAGED)) {
                size_t staged = 0;
                for (const char *p = strstr(out, "\"" STAGED "-"); p; p = strstr(p + 1, "\"" STAGED "-")) {
                        unsigned long k = strtoul(p + strlen("\"" STAGED "-"), NULL, 10);
                        check(k >= 1 && k <= n_patterns, "a staged name numbered outside the patterns", text, out);
                        staged++;
                }
                check(staged == (size_t) count, "not one staged name per include redirected", text, out);
        }

        again = conf_redirect_include(out, CONF_DIR, from_dir, STAGED, &out2, &patterns2);
        if (again < 0)
                return;
        check(again == 0 && streq(out, out2), "not idempotent: its own output was changed again", out, out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;

        if (size > 1 << 20)
                return 0;
        text = strndup((const char *) data, size);
        if (!text)
                return 0;
        one(text, CONF_DIR "/sites-enabled");
        one(text, CONF_DIR "/conf.d");
        free(text);
        return 0;
}
