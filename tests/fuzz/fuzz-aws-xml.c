/* SPDX-License-Identifier: MIT */
/* libFuzzer target: an AWS service's XML answer (S3, Route 53, Auto
 * Scaling), as xml_parse() and aws_error_code() read any server's body: a
 * tree within the limits, or -EBADMSG, never a crash or a leak; the error
 * code and message fit their buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"

static size_t walk(const struct xml_node *n, unsigned depth) {
        size_t count = 0;

        if (depth > 64)
                abort();
        for (; n; n = n->next) {
                if (!n->name || !n->text || (n->parent && n->parent->first_child == NULL))
                        abort();
                count += 1 + walk(n->first_child, depth + 1);
        }
        return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct xml_node *x = NULL;
        char code[128], msg[512];
        char *s = malloc(size + 1);

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        if (xml_parse(s, size, &x) == 0) {
                if (walk(x, 1) > 100000)
                        abort();
                (void) xml_text(x, "Error/Code");
                (void) xml_next(xml_path(x, "HostedZones/HostedZone"));
                xml_free(x);
        }
        (void) aws_error_code(NULL, s, code, sizeof(code), msg, sizeof(msg));
        if (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg))
                abort();
        free(s);
        return 0;
}
