/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fileio.h"
#include "keys.h"
#include "strbuf.h"
#include "tap.h"

static void test_jwk(void) {
        _cleanup_(key_freep) struct kiln_key *k = NULL;
        _cleanup_free_ char *tp = NULL, *sig = NULL;
        const char *alg = NULL;
        json_t *jwk = NULL;

        is_int(key_generate(KEY_EC_P256, &k), 0, "P-256 key generated");
        is_int(key_public_jwk(k, &jwk), 0, "JWK");
        is_int(strlen(json_string_value(json_object_get(jwk, "x"))), 43, "x is padded to 32 bytes");
        is_int(strlen(json_string_value(json_object_get(jwk, "y"))), 43, "y is padded to 32 bytes");
        is_str(json_string_value(json_object_get(jwk, "crv")), "P-256", "crv");
        json_decref(jwk);
        is_int(key_thumbprint(k, &tp), 0, "thumbprint");
        is_int(strlen(tp), 43, "thumbprint is base64url SHA-256");
        is_int(key_sign_jws(k, "abc", 3, &sig, &alg), 0, "signs");
        is_str(alg, "ES256", "alg ES256");
        is_int(strlen(sig), 86, "raw r||s, 64 bytes");
}

/* RFC 7638 section 3.1's example key and its thumbprint. */
static void test_rfc7638(void) {
        _cleanup_free_ char *tp = NULL;
        json_t *jwk = json_pack(
                "{s:s, s:s, s:s}", "kty", "RSA", "e", "AQAB", "n",
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZ"
                "CiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZ"
                "gnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBni"
                "Iqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");

        is_int(jwk_thumbprint(jwk, &tp), 0, "RFC 7638 example thumbprint computed");
        is_str(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "matches the RFC");
        json_decref(jwk);
}

static void test_files(void) {
        char dir[] = "/tmp/kiln-test-keys-XXXXXX";
        _cleanup_free_ char *path = NULL, *tp1 = NULL, *tp2 = NULL, *pem = NULL, *csr = NULL;
        _cleanup_(key_freep) struct kiln_key *a = NULL, *b = NULL, *r = NULL;
        char *domains[] = {(char *) "example.com", (char *) "www.example.com", NULL};
        struct stat st;

        if (!mkdtemp(dir))
                return;
        path = strdup_printf("%s/acme/account.key", dir);
        is_int(key_load_or_create(path, KEY_EC_P256, &a), 0, "key created on first use");
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "key file is 0600");
        is_int(key_load_or_create(path, KEY_EC_P256, &b), 0, "and loaded on the next");
        key_thumbprint(a, &tp1);
        key_thumbprint(b, &tp2);
        is_str(tp1, tp2, "the same key");
        is_int(key_self_signed_pem(a, domains, 90, &pem), 0, "self-signed certificate");
        ok(pem && strstr(pem, "BEGIN CERTIFICATE"), "as PEM");
        is_int(key_csr(a, domains, &csr), 0, "CSR");
        ok(csr && !strpbrk(csr, "+/="), "CSR is base64url");
        is_int(key_generate(KEY_RSA_2048, &r), 0, "RSA 2048 key");
        free(tp1);
        tp1 = NULL;
        is_int(key_thumbprint(r, &tp1), 0, "RSA thumbprint");
        rm_rf(dir);
}

int main(void) {
        test_jwk();
        test_rfc7638();
        test_files();
        return tap_done();
}
