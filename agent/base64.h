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
