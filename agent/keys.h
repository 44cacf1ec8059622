/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "base64.h"
#include "macro.h"

/* The one file that handles private keys: it generates them, writes them
 * (0600, atomically), loads them and signs with them. A private key never
 * leaves it: callers hold an opaque struct kiln_key and get public values
 * (JWK, thumbprint), signatures, CSRs and certificates. Nothing here logs. */

enum key_type {
        KEY_EC_P256,
        KEY_EC_P384,
        KEY_RSA_2048,
        KEY_RSA_3072,
        KEY_RSA_4096,
};

struct kiln_key;

/* "ecdsa-p256"/"p256"/"ec256", "ecdsa-p384"/"p384", "rsa2048", "rsa3072", "rsa4096". */
int key_type_from_string(const char *s, enum key_type *ret);
const char *key_type_name(enum key_type t);

int key_generate(enum key_type type, struct kiln_key **ret);
/* Writes the key as PEM, mode 0600, atomically. */
int key_save(const struct kiln_key *k, const char *path);
int key_load(const char *path, struct kiln_key **ret);
/* Loads path, or generates a key of type and saves it there. */
int key_load_or_create(const char *path, enum key_type type, struct kiln_key **ret);
void key_free(struct kiln_key *k);
DEFINE_POINTER_CLEANUP(struct kiln_key, key_free)
enum key_type key_get_type(const struct kiln_key *k);

/* The public key as a JWK (RFC 7517/7518): EC coordinates padded to the
 * curve's full length; members as RFC 7638 needs them for the thumbprint. */
int key_public_jwk(const struct kiln_key *k, json_t **ret);
/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)). */
int key_thumbprint(const struct kiln_key *k, char **ret);
int jwk_thumbprint(const json_t *jwk, char **ret);
/* JWS signature over data (RFC 7515/7518): ES256/ES384 as raw r||s, or
 * RS256. *ret is base64url; *ret_alg the "alg" value. */
int key_sign_jws(const struct kiln_key *k, const void *data, size_t len, char **ret, const char **ret_alg);

/* A CSR for domains (the first also as CN), DER, base64url-encoded. */
int key_csr(const struct kiln_key *k, char *const *domains, char **ret);
/* A self-signed certificate for domains, valid `days`, as PEM. */
int key_self_signed_pem(const struct kiln_key *k, char *const *domains, int days, char **ret);
