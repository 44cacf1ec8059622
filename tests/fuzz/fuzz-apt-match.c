/* SPDX-License-Identifier: MIT */
/* libFuzzer target: apt.add_apt_repo_match, a Python regular expression
 * from user-data, made a POSIX one (system_apt_repo_regex()). It either is
 * refused with a reason or gives a pattern no longer than a fixed multiple
 * of the input, which regcomp() and regexec() are then given. */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "system/system.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1), *ere = NULL, *err = NULL;
        regex_t re;
        int r;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        r = system_apt_repo_regex(text, &ere, &err);
        if (r == 0) {
                /* each input byte becomes at most the longest class, [^[:space:]] */
                if (!ere || err || strlen(ere) > 16 * strlen(text) + 4)
                        abort();
                if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) == 0) {
                        (void) regexec(&re, "ppa:owner/name", 0, NULL, 0);
                        (void) regexec(&re, text, 0, NULL, 0);
                        regfree(&re);
                }
        } else if (r == -22 && (!err || ere))
                abort(); /* a refusal always says why */
        free(ere);
        free(err);
        free(text);
        return 0;
}
