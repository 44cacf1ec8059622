/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Base64 (RFC 4648 4) and base64url (5). */

/* Encodes data; url: the URL-safe alphabet without padding (JOSE, RFC 7515
 * 2), else the standard one with padding. *ret is NUL-terminated. */
int base64_encode(const void *data, size_t len, bool url, char **ret);

/* Decodes either alphabet, padding optional, whitespace ignored; -EBADMSG
 * on any other stray character, bad padding or leftover bits. *ret is
 * NUL-terminated (not counted in *ret_len). */
int base64_decode(const char *data, size_t len, char **ret, size_t *ret_len);

/* Decodes as Python's base64.b64decode() does by default (binascii's
 * non-strict a2b_base64(), what cloud-init uses for write_files b64
 * content): characters outside the standard alphabet are skipped, a pad
 * sequence ('=' completing the quad) ends the data, whatever follows;
 * -EBADMSG when the data ends inside a quad without its padding
 * ("Incorrect padding"), when one character is left over, or on a
 * non-ASCII byte. pad_end: a quad left open at the end is accepted, and
 * non-ASCII bytes are skipped, as Python's email parser decodes a base64
 * MIME part (it adds the missing padding). */
int base64_decode_python(const char *data, size_t len, bool pad_end, char **ret, size_t *ret_len);

static inline int base64url_encode(const void *data, size_t len, char **ret) {
        return base64_encode(data, len, true, ret);
}

/* For JOSE values, which are strings of bytes. */
static inline int base64url_decode(const char *s, unsigned char **ret, size_t *ret_len) {
        char *out;
        int r = base64_decode(s, strlen(s), &out, ret_len);

        if (r >= 0)
                *ret = (unsigned char *) out;
        return r;
}
