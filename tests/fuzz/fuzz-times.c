/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the times kiln reads from outside: ISO 8601 (the
 * credentials' Expiration, put-metric --timestamp), SigV4's basic format
 * (kiln debug sigv4 --date) and the HTTP-date of CloudWatch's Date header
 * (for clock skew). A time that parses formats back to one that parses to
 * the same instant. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "aws/credentials.h"
#include "aws/sigv4.h"
#include "cloudwatch/putmetric.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip_iso(time_t t) {
        char buf[64];
        struct tm tm;
        time_t back;

        if (!gmtime_r(&t, &tm) || tm.tm_year < 0 || tm.tm_year > 8000 ||
            strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return;
        if (aws_parse_iso8601(buf, &back) != 0 || back != t)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1);
        time_t t;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (aws_parse_iso8601(text, &t) == 0)
                round_trip_iso(t);
        (void) sigv4_parse_date(text, &t);
        (void) aws_parse_http_date(text, &t);
        free(text);
        return 0;
}
