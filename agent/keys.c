/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "keys.h"
#include "openssl.h"
#include "strbuf.h"

struct kiln_key {
        EVP_PKEY *pkey;
        enum key_type type;
};

static const struct {
        const char *name;
        enum key_type type;
} key_names[] = {
        {"ecdsa-p256", KEY_EC_P256}, {"p256", KEY_EC_P256},     {"ec256", KEY_EC_P256},
        {"ecdsa-p384", KEY_EC_P384}, {"p384", KEY_EC_P384},     {"ec384", KEY_EC_P384},
        {"rsa2048", KEY_RSA_2048},   {"rsa3072", KEY_RSA_3072}, {"rsa4096", KEY_RSA_4096},
};

int key_type_from_string(const char *s, enum key_type *ret) {
        for (size_t i = 0; i < ELEMENTSOF(key_names); i++)
                if (streq(s, key_names[i].name)) {
                        *ret = key_names[i].type;
                        return 0;
                }
        return -EINVAL;
}

const char *key_type_name(enum key_type t) {
        for (size_t i = 0; i < ELEMENTSOF(key_names); i++)
                if (key_names[i].type == t)
                        return key_names[i].name;
        return "unknown";
}

static void key_secure_free(char *pem, size_t len) {
        if (pem)
                OPENSSL_cleanse(pem, len);
        free(pem);
}

int key_generate(enum key_type type, struct kiln_key **ret) {
        struct kiln_key *k = calloc(1, sizeof(*k));

        if (!k)
                return -ENOMEM;
        switch (type) {
        case KEY_EC_P256: k->pkey = EVP_EC_gen("P-256"); break;
        case KEY_EC_P384: k->pkey = EVP_EC_gen("P-384"); break;
        case KEY_RSA_2048: k->pkey = EVP_RSA_gen(2048); break;
        case KEY_RSA_3072: k->pkey = EVP_RSA_gen(3072); break;
        case KEY_RSA_4096: k->pkey = EVP_RSA_gen(4096); break;
        }
        if (!k->pkey) {
                free(k);
                return -EIO;
        }
        k->type = type;
        *ret = k;
        return 0;
}

void key_free(struct kiln_key *k) {
        if (!k)
                return;
        EVP_PKEY_free(k->pkey);
        free(k);
}

enum key_type key_get_type(const struct kiln_key *k) {
        return k->type;
}

int key_save(const struct kiln_key *k, const char *path) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long len;
        int r;

        if (!bio)
                return -ENOMEM;
        if (!PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)) {
                BIO_free(bio);
                return -EIO;
        }
        len = BIO_get_mem_data(bio, &data);
        r = write_file_atomic(path, data, (size_t) len, 0600);
        OPENSSL_cleanse(data, (size_t) len);
        BIO_free(bio);
        return r;
}

static int detect_type(EVP_PKEY *pkey, enum key_type *ret) {
        char group[32];

        if (EVP_PKEY_is_a(pkey, "RSA")) {
                int bits = EVP_PKEY_get_bits(pkey);
                *ret = bits >= 4096 ? KEY_RSA_4096 : bits >= 3072 ? KEY_RSA_3072 : KEY_RSA_2048;
                return 0;
        }
        if (!EVP_PKEY_is_a(pkey, "EC") ||
            !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
                return -EOPNOTSUPP;
        if (streq(group, "prime256v1") || streq(group, "P-256"))
                *ret = KEY_EC_P256;
        else if (streq(group, "secp384r1") || streq(group, "P-384"))
                *ret = KEY_EC_P384;
        else
                return -EOPNOTSUPP;
        return 0;
}

int key_load(const char *path, struct kiln_key **ret) {
        char *pem = NULL;
        size_t len = 0;
        struct kiln_key *k;
        BIO *bio;
        int r;

        r = read_file(path, 64 * 1024, &pem, &len);
        if (r < 0)
                return r;
        k = calloc(1, sizeof(*k));
        bio = BIO_new_mem_buf(pem, (int) len);
        if (k && bio)
                k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        key_secure_free(pem, len);
        if (!k)
                return -ENOMEM;
        if (!k->pkey || detect_type(k->pkey, &k->type) < 0) {
                key_free(k);
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

int key_load_or_create(const char *path, enum key_type type, struct kiln_key **ret) {
        struct kiln_key *k = NULL;
        int r;

        r = key_load(path, &k);
        if (r != -ENOENT) {
                if (r >= 0)
                        *ret = k;
                return r;
        }
        r = key_generate(type, &k);
        if (r >= 0)
                r = key_save(k, path);
        if (r < 0) {
                key_free(k);
                return r;
        }
        *ret = k;
        return 0;
}

static int bn_b64url(const EVP_PKEY *pkey, const char *param, int pad, char **ret) {
        BIGNUM *bn = NULL;
        unsigned char buf[1024];
        int n, r;

        if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
                return -EIO;
        n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
        BN_free(bn);
        if (n <= 0 || (size_t) n > sizeof(buf))
                return -EIO;
        r = base64url_encode(buf, (size_t) n, ret);
        return r;
}

static int coord_len(enum key_type t) {
        return t == KEY_EC_P384 ? 48 : 32;
}

static bool is_ec(enum key_type t) {
        return t == KEY_EC_P256 || t == KEY_EC_P384;
}

int key_public_jwk(const struct kiln_key *k, json_t **ret) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        json_t *jwk;
        int r;

        if (is_ec(k->type)) {
                r = bn_b64url(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, coord_len(k->type), &a);
                if (r >= 0)
                        r = bn_b64url(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, coord_len(k->type), &b);
                if (r < 0)
                        return r;
                jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", k->type == KEY_EC_P384 ? "P-384" : "P-256", "kty", "EC",
                                "x", a, "y", b);
        } else {
                r = bn_b64url(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0, &a);
                if (r >= 0)
                        r = bn_b64url(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0, &b);
                if (r < 0)
                        return r;
                jwk = json_pack("{s:s, s:s, s:s}", "e", a, "kty", "RSA", "n", b);
        }
        if (!jwk)
                return -ENOMEM;
        *ret = jwk;
        return 0;
}

int jwk_thumbprint(const json_t *jwk, char **ret) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        _cleanup_free_ char *canonical = NULL;

        /* RFC 7638: the required members only, sorted, no whitespace. */
        canonical = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
        if (!canonical)
                return -ENOMEM;
        if (!EVP_Digest(canonical, strlen(canonical), digest, &dlen, EVP_sha256(), NULL))
                return -EIO;
        return base64url_encode(digest, dlen, ret);
}

int key_thumbprint(const struct kiln_key *k, char **ret) {
        json_t *jwk = NULL;
        int r;

        r = key_public_jwk(k, &jwk);
        if (r < 0)
                return r;
        r = jwk_thumbprint(jwk, ret);
        json_decref(jwk);
        return r;
}

static const EVP_MD *jws_digest(enum key_type t, const char **ret_alg) {
        if (t == KEY_EC_P384) {
                *ret_alg = "ES384";
                return EVP_sha384();
        }
        *ret_alg = t == KEY_EC_P256 ? "ES256" : "RS256";
        return EVP_sha256();
}

/* JWS wants ECDSA signatures as fixed-length r||s, not DER. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, int n, unsigned char *out) {
        const unsigned char *p = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long) len);
        const BIGNUM *r, *s;
        int ok;

        if (!sig)
                return -EBADMSG;
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, out, n) == n && BN_bn2binpad(s, out + n, n) == n;
        ECDSA_SIG_free(sig);
        return ok ? 2 * n : -EIO;
}

int key_sign_jws(const struct kiln_key *k, const void *data, size_t len, char **ret, const char **ret_alg) {
        unsigned char sig[1024], raw[2 * 48];
        size_t siglen = sizeof(sig);
        const EVP_MD *md = jws_digest(k->type, ret_alg);
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        int ok, n;

        if (!mctx)
                return -ENOMEM;
        ok = EVP_DigestSignInit(mctx, NULL, md, NULL, k->pkey) == 1 &&
             EVP_DigestSign(mctx, sig, &siglen, data, len) == 1;
        EVP_MD_CTX_free(mctx);
        if (!ok)
                return -EIO;
        if (!is_ec(k->type))
                return base64url_encode(sig, siglen, ret);
        n = ecdsa_der_to_raw(sig, siglen, coord_len(k->type), raw);
        if (n < 0)
                return n;
        return base64url_encode(raw, (size_t) n, ret);
}

static X509_EXTENSION *san_extension(char *const *domains) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;

        for (char *const *d = domains; *d; d++)
                if (strbuf_printf(&b, "%sDNS:%s", d == domains ? "" : ",", *d) < 0)
                        return NULL;
        if (!b.data)
                return NULL;
        return X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, b.data);
}

static int set_cn(X509_NAME *name, const char *cn) {
        /* CN is limited to 64 characters; longer names live in the SAN only. */
        if (strlen(cn) > 64)
                return 0;
        return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ? 0 : -EIO;
}

int key_csr(const struct kiln_key *k, char *const *domains, char **ret) {
        X509_REQ *req = X509_REQ_new();
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *san = domains && domains[0] ? san_extension(domains) : NULL;
        unsigned char *der = NULL;
        int len = -1, r = -EIO;

        if (req && exts && san && sk_X509_EXTENSION_push(exts, san) &&
            set_cn(X509_REQ_get_subject_name(req), domains[0]) == 0 && X509_REQ_add_extensions(req, exts) &&
            X509_REQ_set_pubkey(req, k->pkey) && X509_REQ_sign(req, k->pkey, EVP_sha256()) > 0)
                len = i2d_X509_REQ(req, &der);
        if (len > 0)
                r = base64url_encode(der, (size_t) len, ret);
        OPENSSL_free(der);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        X509_REQ_free(req);
        return r;
}

static int random_serial(X509 *x) {
        unsigned char buf[16];
        BIGNUM *bn;
        int ok;

        if (RAND_bytes(buf, sizeof(buf)) != 1)
                return -EIO;
        buf[0] &= 0x7f;
        bn = BN_bin2bn(buf, sizeof(buf), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
        BN_free(bn);
        return ok ? 0 : -EIO;
}

static int x509_to_pem(X509 *x, char **ret) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long len;

        if (!bio || !PEM_write_bio_X509(bio, x)) {
                BIO_free(bio);
                return -EIO;
        }
        len = BIO_get_mem_data(bio, &data);
        *ret = strndup(data, (size_t) len);
        BIO_free(bio);
        return *ret ? 0 : -ENOMEM;
}

int key_self_signed_pem(const struct kiln_key *k, char *const *domains, int days, char **ret) {
        X509 *x = X509_new();
        X509_EXTENSION *san = domains && domains[0] ? san_extension(domains) : NULL;
        X509_NAME *name;
        int r = -EIO;

        if (!x || !san)
                goto out;
        name = X509_get_subject_name(x);
        if (!X509_set_version(x, 2) || random_serial(x) < 0 || set_cn(name, domains[0]) < 0 ||
            !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) "kiln placeholder", -1, -1,
                                        0) ||
            !X509_set_issuer_name(x, name) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), (long) days * 86400) || !X509_set_pubkey(x, k->pkey) ||
            !X509_add_ext(x, san, -1) || X509_sign(x, k->pkey, EVP_sha256()) <= 0)
                goto out;
        r = x509_to_pem(x, ret);
out:
        X509_EXTENSION_free(san);
        X509_free(x);
        return r;
}
