/* SPDX-License-Identifier: MIT */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base64.h"
#include "sha256.h"
#include "tap.h"

static const char *hex_of(const void *data, size_t len) {
        static char out[2 * SHA256_DIGEST_SIZE + 1];
        uint8_t md[SHA256_DIGEST_SIZE];

        sha256(data, len, md);
        sha256_hex(md, out);
        return out;
}

/* FIPS 180-4's examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf"). */
static void test_vectors(void) {
        static char million[1000000];
        struct sha256 s;
        uint8_t md[SHA256_DIGEST_SIZE];
        char hex[2 * SHA256_DIGEST_SIZE + 1];

        is_str(hex_of("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty message");
        is_str(hex_of("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "\"abc\"");
        is_str(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
               "56 bytes: the padding takes a second block");
        memset(million, 'a', sizeof(million));
        is_str(hex_of(million, sizeof(million)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
               "a million 'a'");

        /* The same million fed in uneven pieces. */
        sha256_init(&s);
        for (size_t off = 0, step = 1; off < sizeof(million); off += step, step = step * 7 % 1000 + 1)
                sha256_update(&s, million + off, off + step > sizeof(million) ? sizeof(million) - off : step);
        sha256_final(&s, md);
        sha256_hex(md, hex);
        is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
               "a million 'a' in uneven updates");
}

static void hmac_hex(const void *key, size_t key_len, const void *data, size_t len, char out[static 65]) {
        uint8_t mac[SHA256_DIGEST_SIZE];

        hmac_sha256(key, key_len, data, len, mac);
        sha256_hex(mac, out);
}

/* RFC 4231 4.2-4.8 (4.6, truncated output, does not apply). */
static void test_hmac(void) {
        uint8_t k20[20], k131[131], d50[50];
        char out[65];

        memset(k20, 0x0b, sizeof(k20));
        hmac_hex(k20, sizeof(k20), "Hi There", 8, out);
        is_str(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", "RFC 4231 case 1");
        hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, out);
        is_str(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "RFC 4231 case 2");
        memset(k20, 0xaa, sizeof(k20));
        memset(d50, 0xdd, sizeof(d50));
        hmac_hex(k20, sizeof(k20), d50, sizeof(d50), out);
        is_str(out, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", "RFC 4231 case 3");
        memset(k131, 0xaa, sizeof(k131));
        hmac_hex(k131, sizeof(k131), "Test Using Larger Than Block-Size Key - Hash Key First", 54, out);
        is_str(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
               "RFC 4231 case 6: a key longer than a block is hashed first");
        hmac_hex(k131, sizeof(k131),
                 "This is a test using a larger than block-size key and a larger than block-size data. The key "
                 "needs to be hashed before being used by the HMAC algorithm.",
                 152, out);
        is_str(out, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", "RFC 4231 case 7");
}

/* Every length around the block and padding boundaries, random bytes and
 * keys, against OpenSSL. */
static void test_against_openssl(void) {
        uint8_t data[300], key[100], ours[SHA256_DIGEST_SIZE], theirs[EVP_MAX_MD_SIZE];
        unsigned n, bad_hash = 0, bad_hmac = 0;

        if (getrandom(data, sizeof(data), 0) != sizeof(data) || getrandom(key, sizeof(key), 0) != sizeof(key))
                abort();
        for (size_t len = 0; len <= sizeof(data); len++) {
                sha256(data, len, ours);
                if (EVP_Digest(data, len, theirs, &n, EVP_sha256(), NULL) != 1 || memcmp(ours, theirs, 32) != 0)
                        bad_hash++;
                hmac_sha256(key, len % sizeof(key), data, len, ours);
                if (!HMAC(EVP_sha256(), key, (int) (len % sizeof(key)), data, len, theirs, &n) ||
                    memcmp(ours, theirs, 32) != 0)
                        bad_hmac++;
        }
        is_int(bad_hash, 0, "SHA-256 agrees with OpenSSL for every length 0-300");
        is_int(bad_hmac, 0, "HMAC-SHA256 agrees with OpenSSL for keys of 0-99 bytes");
}

/* The last encoding stays until the next call. */
static const char *b64(const char *s, bool url) {
        static char *out;

        free(out);
        out = NULL;
        if (!s) /* frees the last one */
                return NULL;
        return base64_encode(s, strlen(s), url, &out) == 0 ? out : NULL;
}

/* RFC 4648 10, and its url alphabet without padding (RFC 7515 C). */
static void test_base64(void) {
        static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
        static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
        static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
        unsigned char bytes[] = {0xfb, 0xff, 0xbf}, *back = NULL;
        char *out = NULL;
        size_t len = 0;

        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                is_str(b64(in[i], false), std[i], "base64 of \"%s\"", in[i]);
                is_str(b64(in[i], true), url[i], "base64url of \"%s\"", in[i]);
        }
        ok(base64_encode(bytes, 3, false, &out) == 0 && strcmp(out, "+/+/") == 0, "the standard alphabet: +/");
        free(out);
        ok(base64_encode(bytes, 3, true, &out) == 0 && strcmp(out, "-_-_") == 0, "the url alphabet: -_");
        ok(base64url_decode(out, &back, &len) == 0 && len == 3 && memcmp(back, bytes, 3) == 0,
           "base64url decodes back");
        free(out);
        free(back);
        b64(NULL, false);
}

int main(void) {
        test_vectors();
        test_hmac();
        test_against_openssl();
        test_base64();
        return tap_done();
}
