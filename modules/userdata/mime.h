/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A MIME message split into its leaf parts, as cloud-init's tools write
 * user-data: multipart/mixed (nested multiparts are flattened, in order),
 * each part's Content-Transfer-Encoding (base64, quoted-printable, 7bit,
 * 8bit, binary) undone. Pure: no I/O, bounded (MIME_MAX_PARTS parts,
 * MIME_MAX_DEPTH levels), fuzzed. */

#define MIME_MAX_PARTS 256
#define MIME_MAX_DEPTH 4

struct mime_part {
        char *type; /* lowercase, without parameters; "" when the part has none */
        char *filename; /* Content-Disposition filename or Content-Type name; NULL if none */
        char *body; /* decoded, NUL-terminated */
        size_t len;
        size_t line; /* 0-based line of the body in the input, when verbatim */
        bool verbatim; /* body is a slice of the input (no transfer encoding) */
        char *error; /* this part could not be decoded (body empty): why */
        char *warning; /* it was read, but not as its writer may have meant: why */
        char *merge_type; /* its Merge-Type header, else X-Merge-Type (names in that case), NULL if none */
        char *launch_index; /* its Launch-Index header (the first, any case), as written; NULL if none */
};

struct mime_message {
        struct mime_part *parts;
        size_t n_parts;
        char **warnings; /* problems that lost nothing certain, e.g. a missing closing boundary */
};

/* Whether data starts like a MIME message (a Content-Type or MIME-Version header). */
bool mime_looks_like(const char *data, size_t len);

/* Splits data. A message that cannot be split at all (multipart without a
 * boundary, no boundary found, too deep) is -EBADMSG with *ret_error set;
 * a part that cannot be decoded is kept with its error set. */
int mime_split(const char *data, size_t len, struct mime_message *ret, char **ret_error);
void mime_message_done(struct mime_message *m);
