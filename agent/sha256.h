/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104).
 *
 * SigV4, the nginx module's certificate fingerprints and ACME's external
 * account binding need nothing else from a crypto library, and with these
 * the processes that only do that never load libcrypto (see openssl.h). */

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

struct sha256 {
        uint32_t h[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t block[SHA256_BLOCK_SIZE];
        size_t used; /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[static SHA256_DIGEST_SIZE]);

void sha256(const void *data, size_t len, uint8_t out[static SHA256_DIGEST_SIZE]);
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[static SHA256_DIGEST_SIZE]);

/* Lowercase hex of a digest, NUL-terminated. */
void sha256_hex(const uint8_t digest[static SHA256_DIGEST_SIZE], char out[static 2 * SHA256_DIGEST_SIZE + 1]);
