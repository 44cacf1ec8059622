/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "base64.h"
#include "macro.h"

int base64_encode(const void *data, size_t len, bool url, char **ret) {
        static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *alphabet = url ? safe : std;
        const unsigned char *p = data;
        char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;
        size_t i = 0;

        if (!out)
                return -ENOMEM;
        for (; i + 3 <= len; i += 3) {
                unsigned v = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8 | p[i + 2];
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = alphabet[(v >> 6) & 63];
                *o++ = alphabet[v & 63];
        }
        if (i < len) {
                unsigned v = (unsigned) p[i] << 16 | (i + 1 < len ? (unsigned) p[i + 1] << 8 : 0);
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                if (i + 1 < len)
                        *o++ = alphabet[(v >> 6) & 63];
                else if (!url)
                        *o++ = '=';
                if (!url)
                        *o++ = '=';
        }
        *o = '\0';
        *ret = out;
        return 0;
}

static int b64_value(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+' || c == '-')
                return 62;
        if (c == '/' || c == '_')
                return 63;
        return -1;
}

int base64_decode(const char *data, size_t len, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = malloc(len / 4 * 3 + 4);
        unsigned acc = 0, bits = 0, pad = 0;
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) data[i];
                int v;
                if (isspace(c))
                        continue;
                if (c == '=') {
                        pad++;
                        continue;
                }
                v = b64_value(c);
                if (v < 0 || pad > 0)
                        return -EBADMSG;
                acc = (acc << 6) | (unsigned) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (char) ((acc >> bits) & 0xff);
                }
        }
        if (pad > 2 || bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
                return -EBADMSG;
        out[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(out);
        return 0;
}

int base64_decode_python(const char *data, size_t len, bool pad_end, char **ret, size_t *ret_len) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_free_ char *out = malloc(len / 4 * 3 + 3);
        unsigned quad = 0, pads = 0, left = 0;
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) data[i];
                const char *p;
                unsigned v;
                if (c >= 0x80 && !pad_end)
                        return -EBADMSG; /* b64decode() of a str: ASCII only */
                if (c == '=') {
                        /* A pad sequence ends the data: '=' after 2 or 3
                         * characters of a quad, enough to fill it. */
                        if (quad >= 2 && quad + ++pads >= 4)
                                break;
                        continue;
                }
                p = c != 0 && c < 0x80 ? strchr(alphabet, c) : NULL;
                if (!p)
                        continue; /* outside the alphabet: skipped */
                pads = 0;
                v = (unsigned) (p - alphabet);
                switch (quad) {
                case 0: left = v; break;
                case 1: out[n++] = (char) ((left << 2) | (v >> 4)), left = v & 0x0f; break;
                case 2: out[n++] = (char) ((left << 4) | (v >> 2)), left = v & 0x03; break;
                case 3: out[n++] = (char) ((left << 6) | v), left = 0; break;
                }
                quad = (quad + 1) % 4;
        }
        /* The loop ends by a pad sequence with quad 2 or 3 too: that is done. */
        if (quad == 1 || (quad > 1 && !pad_end && pads + quad < 4))
                return -EBADMSG;
        out[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(out);
        return 0;
}
