/* SPDX-License-Identifier: MIT */
/* The ACME module's pure parts against fixed keys and certificates in
 * tests/data/acme; expected.json there was computed with openssl(1) and
 * Python, independently of kiln (tests/data/acme/gen-expected.py). */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/acme-internal.h"
#include "clock.h"
#include "fake.h"
#include "fileio.h"
#include "path.h"
#include "strbuf.h"
#include "tap.h"
#include "yaml-json.h"

static json_t *expected;

static char *data_path(const char *name) {
        const char *top = getenv("top_srcdir");
        return strdup_printf("%s/tests/data/acme/%s", top ? top : "..", name);
}

static const char *want(const char *key) {
        return json_string_value(json_object_get(expected, key));
}

static char *slurp(const char *name) {
        _cleanup_free_ char *p = data_path(name);
        char *buf = NULL;

        if (!p || read_file(p, 1 << 20, &buf, NULL) < 0)
                return NULL;
        return buf;
}

static struct kiln_key *load_key(const char *name) {
        _cleanup_free_ char *p = data_path(name);
        struct kiln_key *k = NULL;

        if (key_load(p, &k) < 0)
                return NULL;
        return k;
}

/* The public key of a test key file, to verify signatures independently. */
static EVP_PKEY *load_pkey(const char *name) {
        _cleanup_free_ char *p = data_path(name);
        FILE *f = fopen(p, "re");
        EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

        if (f)
                fclose(f);
        return k;
}

static char *b64dec_str(const char *s) {
        unsigned char *d = NULL;
        size_t n = 0;
        char *out;

        if (base64url_decode(s, &d, &n) < 0)
                return NULL;
        out = strndup((char *) d, n);
        free(d);
        return out;
}

static void test_jwk_thumbprint(void) {
        _cleanup_(key_freep) struct kiln_key *k = load_key("account-p256.key");
        _cleanup_json_ json_t *jwk = NULL;
        _cleanup_free_ char *tp = NULL;
        json_t *w = json_object_get(expected, "account_jwk");

        ok(k != NULL, "fixed account key loads");
        if (!k)
                return;
        is_int(key_public_jwk(k, &jwk), 0, "JWK of the fixed key");
        is_str(json_string_value(json_object_get(jwk, "x")), json_string_value(json_object_get(w, "x")), "JWK x");
        is_str(json_string_value(json_object_get(jwk, "y")), json_string_value(json_object_get(w, "y")), "JWK y");
        is_str(json_string_value(json_object_get(jwk, "crv")), "P-256", "JWK crv");
        is_int(key_thumbprint(k, &tp), 0, "thumbprint");
        is_str(tp, want("account_thumbprint"), "RFC 7638 thumbprint matches Python's");
}

static bool verify_es256(EVP_PKEY *pk, const char *input, const char *sig64) {
        unsigned char *raw = NULL, *der = NULL;
        size_t n = 0;
        ECDSA_SIG *sig = ECDSA_SIG_new();
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        int der_len = 0;
        bool good = false;

        if (base64url_decode(sig64, &raw, &n) == 0 && n == 64 && sig && m &&
            ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)) &&
            (der_len = i2d_ECDSA_SIG(sig, &der)) > 0)
                good = EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pk) == 1 &&
                       EVP_DigestVerify(m, der, (size_t) der_len, (const unsigned char *) input, strlen(input)) == 1;
        OPENSSL_free(der);
        free(raw);
        ECDSA_SIG_free(sig);
        EVP_MD_CTX_free(m);
        return good;
}

static void test_jws(void) {
        _cleanup_(key_freep) struct kiln_key *k = load_key("account-p256.key"), *rsa = load_key("rsa2048.key");
        _cleanup_free_ char *jws = NULL, *p = NULL, *b = NULL, *input = NULL, *sig = NULL;
        _cleanup_json_ json_t *j = NULL;
        const char *prot =
                "{\"alg\":\"ES256\",\"kid\":\"https://ca.test/acct/1\",\"nonce\":\"n0\",\"url\":\"https://ca.test/x\"}";
        const char *alg = NULL;
        EVP_PKEY *pk = load_pkey("account-p256.key");

        is_str(acme_jws_alg(KEY_EC_P256), "ES256", "alg for P-256");
        is_str(acme_jws_alg(KEY_EC_P384), "ES384", "alg for P-384");
        is_str(acme_jws_alg(KEY_RSA_2048), "RS256", "alg for RSA");
        is_int(acme_jws(k, prot, "{\"a\":1}", &jws), 0, "JWS built");
        j = json_loads(jws, 0, NULL);
        p = b64dec_str(json_string_value(json_object_get(j, "protected")));
        b = b64dec_str(json_string_value(json_object_get(j, "payload")));
        is_str(p, prot, "protected header round-trips");
        is_str(b, "{\"a\":1}", "payload round-trips");
        is_int(strlen(json_string_value(json_object_get(j, "signature")) ?: ""), 86, "ES256 signature is raw r||s");
        input = strdup_printf("%s.%s", json_string_value(json_object_get(j, "protected")),
                              json_string_value(json_object_get(j, "payload")));
        ok(pk && verify_es256(pk, input, json_string_value(json_object_get(j, "signature"))),
           "ES256 signature verifies with OpenSSL");
        EVP_PKEY_free(pk);
        free(jws);
        jws = NULL;
        json_decref(j);
        is_int(acme_jws(k, prot, "", &jws), 0, "POST-as-GET JWS");
        j = json_loads(jws, 0, NULL);
        is_str(json_string_value(json_object_get(j, "payload")), "", "POST-as-GET payload is empty");
        ok(rsa != NULL, "fixed RSA key loads");
        if (rsa) {
                is_int(key_sign_jws(rsa, want("rs256_input"), strlen(want("rs256_input")), &sig, &alg), 0, "RS256");
                is_str(sig, want("rs256_signature"), "RS256 signature matches openssl dgst -sign");
                is_str(alg, "RS256", "RS256 alg");
        }
}

static bool csr_has_names(X509_REQ *req, const char *a, const char *b) {
        STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        GENERAL_NAMES *names = NULL;
        int found = 0;

        for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); i++) {
                X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
                if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
                        names = X509V3_EXT_d2i(e);
        }
        for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
                GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
                const char *s = (const char *) ASN1_STRING_get0_data(g->d.dNSName);
                if (g->type == GEN_DNS && (streq(s, a) || streq(s, b)))
                        found++;
        }
        GENERAL_NAMES_free(names);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        return found == 2;
}

static void test_csr(void) {
        _cleanup_(key_freep) struct kiln_key *k = load_key("account-p256.key");
        char *domains[] = {(char *) "example.test", (char *) "www.example.test", NULL};
        _cleanup_free_ char *csr = NULL;
        unsigned char *der = NULL;
        const unsigned char *p;
        size_t n = 0;
        X509_REQ *req = NULL;
        EVP_PKEY *pk = load_pkey("account-p256.key"), *rpk;

        is_int(key_csr(k, domains, &csr), 0, "CSR");
        ok(csr && !strpbrk(csr, "+/="), "CSR is unpadded base64url");
        is_int(base64url_decode(csr, &der, &n), 0, "CSR decodes");
        p = der;
        req = d2i_X509_REQ(NULL, &p, (long) n);
        ok(req != NULL, "CSR is DER PKCS#10");
        rpk = req ? X509_REQ_get0_pubkey(req) : NULL;
        ok(rpk && X509_REQ_verify(req, rpk) == 1, "CSR self-signature verifies");
        ok(rpk && pk && EVP_PKEY_eq(rpk, pk) == 1, "CSR carries the certificate key");
        ok(req && csr_has_names(req, "example.test", "www.example.test"), "CSR names both domains in the SAN");
        X509_REQ_free(req);
        EVP_PKEY_free(pk);
        free(der);
}

static void test_ari_id(void) {
        _cleanup_free_ char *high = slurp("leaf-high-serial.pem"), *low = slurp("leaf-low-serial.pem"), *id = NULL;
        static const unsigned char aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                            0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
        static const unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
        struct cert_info ci = {0};

        is_int(cert_ari_id_from_der(aki, sizeof(aki), serial, sizeof(serial), &id), 0, "RFC 9773 example ID");
        is_str(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "matches RFC 9773 section 4.1");
        is_int(cert_info_from_pem(high, &ci), 0, "certificate with serial 0x8b... parses");
        is_str(ci.ari_id, want("ari_high"), "ARI ID keeps the sign byte of a serial with top byte >= 0x80");
        is_str(ci.serial, "8BADF00D1234", "serial hex");
        is_str(ci.issuer, "kiln test CA", "issuer CN");
        is_int(strv_length(ci.domains), 2, "two SAN names");
        ok(ci.not_after > ci.not_before, "validity read");
        cert_info_done(&ci);
        is_int(cert_info_from_pem(low, &ci), 0, "certificate with a small serial parses");
        is_str(ci.ari_id, want("ari_low"), "ARI ID of a small serial has no sign byte");
        cert_info_done(&ci);
        is_int(cert_info_from_pem("not a cert", &ci), -EBADMSG, "garbage is refused");
}

static void test_eab(void) {
        _cleanup_(key_freep) struct kiln_key *k = load_key("account-p256.key");
        _cleanup_json_ json_t *jwk = NULL, *eab = NULL;

        key_public_jwk(k, &jwk);
        is_int(acme_eab_jws(want("eab_kid"), want("eab_hmac_key"), want("eab_url"), jwk, &eab), 0, "EAB JWS");
        is_str(json_string_value(json_object_get(eab, "protected")), want("eab_protected"), "EAB protected header");
        is_str(json_string_value(json_object_get(eab, "payload")), want("eab_payload"), "EAB payload is the JWK");
        is_str(json_string_value(json_object_get(eab, "signature")), want("eab_signature"), "EAB HS256 matches Python");
}

static void test_base64url(void) {
        unsigned char *d = NULL;
        size_t n = 0;

        is_int(base64url_decode("AIdlQyE", &d, &n), 0, "base64url decodes without padding");
        ok(n == 5 && d[0] == 0 && d[1] == 0x87 && d[4] == 0x21, "to the right bytes");
        free(d);
        d = NULL;
        is_int(base64url_decode("_-8", &d, &n), 0, "url alphabet");
        ok(n == 2 && d[0] == 0xff && d[1] == 0xef, "decoded");
        free(d);
        is_int(base64url_decode("A", &d, &n), -EBADMSG, "truncated input refused");
}

#define DAY 86400L

static void test_renewal_time(void) {
        time_t nb = 1700000000, na90 = nb + 90 * DAY, na6 = nb + 6 * DAY, now = nb + DAY;
        struct renewal_window w = {.start = nb + 50 * DAY, .end = nb + 52 * DAY};
        time_t t;

        is_int(renewal_time(nb, na90, NULL, 0, now, 0), na90 - 30 * DAY, "90 days: renew with a third left");
        is_int(renewal_time(nb, na6, NULL, 0, now, 0), na6 - 3 * DAY, "6 days: renew with half left");
        is_int(renewal_time(nb, na90, NULL, 10 * DAY, now, 0), na90 - 10 * DAY, "renew_before overrides");
        t = renewal_time(nb, na90, &w, 0, now, 123456789);
        ok(t >= w.start && t <= w.end, "ARI: a time inside the window");
        ok(renewal_time(nb, na90, &w, 0, now, 1) != renewal_time(nb, na90, &w, 0, now, 99999), "ARI: random in it");
        w.start = nb - DAY;
        w.end = nb;
        is_int(renewal_time(nb, na90, &w, 0, now, 5), now, "ARI window in the past: now");
        w = (struct renewal_window){.start = na90 + DAY, .end = na90 + 2 * DAY};
        is_int(renewal_time(nb, na90, &w, 0, na90 - 4 * DAY, 5), na90 - 4 * DAY,
               "less than a twentieth left: now, whatever ARI says");
        is_int(renewal_time(nb, na90, NULL, 0, na90 + DAY, 0), na90 + DAY, "expired: now");
}

static void test_backoff(void) {
        static const long base[] = {60, 600, 6000, 21600, 21600, 21600};
        bool okay = true;

        for (unsigned f = 1; f <= ELEMENTSOF(base); f++)
                for (uint32_t rnd = 0; rnd < 50000; rnd += 777) {
                        long s = backoff_seconds(f, rnd);
                        if (s < base[f - 1] || s > base[f - 1] + base[f - 1] / 5)
                                okay = false;
                }
        ok(okay, "backoff 1 min, 10 min, 100 min, then 6 h, with up to 20%% jitter");
        ok(backoff_seconds(1, 1) != backoff_seconds(1, 7), "jitter varies");
}

static void test_ari_parse(void) {
        _cleanup_json_ json_t *b = json_pack("{s:{s:s, s:s}}", "suggestedWindow", "start", "2025-01-02T04:00:00Z",
                                             "end", "2025-01-03T04:00:00.5+00:00");
        _cleanup_json_ json_t *bad = json_pack("{s:{s:s, s:s}}", "suggestedWindow", "start", "2025-01-03T04:00:00Z",
                                               "end", "2025-01-02T04:00:00Z");
        struct renewal_window w;
        time_t t;

        is_int(ari_parse(b, 0, 1000, &w), 0, "renewalInfo parses");
        is_int(w.start, 1735790400, "start");
        is_int(w.end, 1735790400 + DAY, "end");
        is_int(w.next_fetch, 1000 + 6 * 3600, "no Retry-After: ask again in 6 h");
        ari_parse(b, 5, 1000, &w);
        is_int(w.next_fetch, 1000 + 60, "Retry-After is kept to at least a minute");
        ari_parse(b, 7200, 1000, &w);
        is_int(w.next_fetch, 1000 + 7200, "Retry-After honoured");
        is_int(ari_parse(bad, 0, 0, &w), -EBADMSG, "end before start refused");
        is_int(parse_rfc3339("2025-01-02T06:00:00+02:00", &t), 0, "offset");
        is_int(t, 1735790400, "offset applied");
        is_int(parse_rfc3339("2025-01-02 06:00", &t), -EINVAL, "not RFC 3339");
}

static void test_profile(void) {
        _cleanup_json_ json_t *d =
                json_pack("{s:{s:{s:s, s:s}}}", "meta", "profiles", "classic", "x", "shortlived", "y");
        _cleanup_json_ json_t *none = json_pack("{s:{}}", "meta");

        is_str(acme_order_profile(d, "shortlived"), "shortlived", "a listed profile is sent");
        ok(acme_order_profile(d, "tlsserver") == NULL, "an unlisted profile is not");
        ok(acme_order_profile(none, "classic") == NULL, "nor when the directory has no profiles");
        ok(acme_order_profile(d, NULL) == NULL, "nor without acme.profile");
}

static void test_config(void) {
        static const char example[] = "acme:\n  email: admin@example.com\n  directory: letsencrypt-staging\n"
                                      "sites:\n  - name: app\n    domains: [example.com, www.example.com]\n"
                                      "    tls: acme\n  - name: plain\n    domains: [other.example]\n";
        _cleanup_json_ json_t *cfg = NULL;
        _cleanup_free_ char *err = NULL, *dir = NULL;
        struct acme_config c = {0};
        struct acme_site *sites = NULL;
        size_t n = 0;

        is_int(yaml_parse(example, strlen(example), "example", &cfg, &err), 0, "the issue's example parses");
        is_int(acme_config_parse(cfg, &c, &err), 0, "and is a valid acme config");
        is_str(c.directory, ACME_LE_STAGING, "letsencrypt-staging is LE's staging directory");
        is_str(c.email, "admin@example.com", "email");
        is_int(c.key_type, KEY_EC_P256, "P-256 certificate keys by default");
        is_int(c.http_port, 80, "http-01 on port 80");
        acme_config_done(&c);
        is_int(acme_sites_from_config(cfg, &sites, &n, &err), 0, "sites");
        is_int(n, 1, "only the tls: acme site");
        is_str(n ? sites[0].name : NULL, "app", "its name");
        is_int(n ? strv_length(sites[0].domains) : 0, 2, "its domains");
        acme_sites_free(sites, n);
        json_object_set_new(json_object_get(cfg, "acme"), "key_type", json_string("dsa"));
        is_int(acme_config_parse(cfg, &c, &err), -EINVAL, "unknown key_type refused");
        ok(err && strstr(err, "acme.key_type"), "with a message naming the key");
        free(err);
        err = NULL;
        json_object_set_new(json_object_get(cfg, "acme"), "key_type", json_string("rsa3072"));
        json_object_set_new(json_object_get(cfg, "acme"), "renew_before", json_string("12h"));
        is_int(acme_config_parse(cfg, &c, &err), 0, "rsa3072, renew_before 12h");
        is_int(c.renew_before_s, 12 * 3600, "renew_before in seconds");
        acme_config_done(&c);
        is_int(acme_account_dir("https://127.0.0.1:14000/dir", &dir), 0, "account dir");
        ok(dir && strstr(dir, "/var/lib/kiln/acme/accounts/127.0.0.1_14000_dir"), "account dir per directory");
}

static void test_split(void) {
        _cleanup_free_ char *a = slurp("leaf-high-serial.pem"), *b = slurp("ca.pem"), *chain = NULL, *cert = NULL,
                            *rest = NULL;

        chain = strdup_printf("%s%s", a, b);
        is_int(cert_split_chain(chain, &cert, &rest), 0, "chain splits");
        is_str(cert, a, "first certificate");
        is_str(rest, b, "the rest");
}

/* --- against a faulty CA (tests/fakes/acme-faults.py) --- */

static struct fake ca;

static long next_check_in(const char *site) {
        _cleanup_json_ json_t *state = NULL;

        if (store_state_load(site, &state) < 0)
                return -1;
        return (long) json_integer_value(json_object_get(state, "next_check")) - (long) time(NULL);
}

static void client_for(struct acme_config *cfg, struct acme_client **ret) {
        *ret = NULL;
        if (acme_client_new(cfg, ret) < 0 || acme_load_account_key(*ret) < 0)
                return;
        (*ret)->thumbprint_new = false; /* no nginx here to give it to */
}

/* Site A's Retry-After (a 503 on newAccount) is A's: site B, failing
 * after it in the same run for a reason of its own, backs off by its own
 * schedule (1 min), not by A's two hours. */
static void test_retry_after_per_site(struct acme_config *cfg) {
        char *da[] = {(char *) "a.test", NULL}, *db[] = {(char *) "b.test", NULL};
        struct acme_site a = {(char *) "site-a", da}, b = {(char *) "site-b", db};
        struct acme_run run = {.cfg = cfg, .now = time(NULL)};
        _cleanup_free_ char *err_a = NULL, *err_b = NULL;
        long wait;

        fake_post(&ca, "/_fake/script",
                  "[{\"status\": 503, \"retry_after\": \"7200\", \"type\": \"rateLimited\"}, {\"status\": 201}]");
        client_for(cfg, &run.client);
        if (!ok(run.client != NULL, "ACME client with an account key"))
                return;
        ok(acme_site_run(&run, &a, &err_a) < 0, "site A: newAccount answers 503, Retry-After: 7200");
        wait = next_check_in("site-a");
        ok(wait >= 7190 && wait <= 7210, "site A waits what the CA said (%ld s)", wait);
        run.now = time(NULL);
        ok(acme_site_run(&run, &b, &err_b) < 0, "site B: newAccount answers without a Location");
        printf("# site B: %s\n", err_b ? err_b : "");
        wait = next_check_in("site-b");
        ok(wait >= 50 && wait <= 80, "site B backs off by its own schedule, not A's Retry-After (%ld s)", wait);
        acme_client_free(run.client);
}

/* A 500 (not 503) on a signed POST: retried after a delay, a few times. */
static void test_5xx_backoff(struct acme_config *cfg) {
        _cleanup_(acme_client_freep) struct acme_client *c = NULL;
        _cleanup_json_ json_t *stats = NULL;
        json_t *times;
        long t0;
        double first, last;
        int r;

        fake_post(&ca, "/_fake/script", "[{\"status\": 500, \"type\": \"serverInternal\"}]");
        client_for(cfg, &c);
        if (!ok(c != NULL, "ACME client"))
                return;
        t0 = now_ms();
        r = acme_account(c);
        ok(r < 0, "newAccount answering 500 fails (%s)", c->error);
        stats = fake_get(&ca, "/_fake/stats");
        times = json_object_get(stats, "acct");
        ok(json_array_size(times) >= 2 && json_array_size(times) <= 4, "retried, at most 3 times (%zu attempts)",
           json_array_size(times));
        first = json_real_value(json_array_get(times, 0));
        last = json_real_value(json_array_get(times, json_array_size(times) - 1));
        ok(json_array_size(times) >= 2 && last - first >= 0.3, "with backoff between attempts (%.2f s in all)",
           last - first);
        ok(now_ms() - t0 < 10000, "bounded in time (%ld ms)", now_ms() - t0);
}

/* The CA unreachable: the first look at the directory pays its retries,
 * every later one in the run fails at once with the same error. */
static void test_ca_down_fails_fast(struct acme_config *cfg) {
        _cleanup_(acme_client_freep) struct acme_client *c = NULL;
        _cleanup_free_ char *first = NULL;
        long t0, t1;
        int r;

        if (acme_client_new(cfg, &c) < 0)
                return;
        t0 = now_ms();
        r = acme_directory(c);
        t1 = now_ms();
        ok(r < 0 && strstr(c->error, "unreachable"), "CA down: %s (%ld ms)", c->error, t1 - t0);
        first = strdup(c->error);
        for (int i = 0; i < 3; i++)
                r = acme_directory(c);
        ok(r < 0 && now_ms() - t1 < 50, "later looks fail at once (%ld ms for 3)", now_ms() - t1);
        ok(first && strstr(c->error, first), "with the first error (%s)", c->error);
        r = acme_account(c);
        ok(r < 0 && now_ms() - t1 < 100, "and so does an account request");
}

static void test_faulty_ca(void) {
        char root[] = "/tmp/kiln-test-acme-XXXXXX";
        _cleanup_free_ char *dir = NULL, *down = NULL;
        struct acme_config cfg = {
                .key_type = KEY_EC_P256, .order_timeout_ms = 10000, .http_port = 80, .https_port = 443};
        int r;

        r = fake_start(&ca, "acme-faults.py", NULL);
        if (!ok(r == 0 && mkdtemp(root), "faulty CA started"))
                return;
        root_set(root);
        (void) store_prepare();
        dir = strdup_printf("%s/dir", ca.url);
        cfg.directory = dir;
        test_retry_after_per_site(&cfg);
        test_5xx_backoff(&cfg);
        fake_stop(&ca);
        /* The fake's port, closed now. */
        down = strdup_printf("%s/dir", ca.url);
        cfg.directory = down;
        test_ca_down_fails_fast(&cfg);
        rm_rf(root);
        root_set("/");
}

static char *site_file(const char *root, const char *name) {
        _cleanup_free_ char *path = strdup_printf("%s" ACME_SITES_DIR "/demo/%s", root, name);
        char *buf = NULL;

        return path && read_file(path, 1 << 20, &buf, NULL) >= 0 ? buf : NULL;
}

static void put_site_file(const char *root, const char *name, const char *content) {
        _cleanup_free_ char *path = strdup_printf("%s" ACME_SITES_DIR "/demo/%s", root, name);

        ok(path && write_file_atomic(path, content, strlen(content), 0644) >= 0, "wrote %s", name);
}

static bool site_has(const char *root, const char *name) {
        _cleanup_free_ char *path = strdup_printf("%s" ACME_SITES_DIR "/demo/%s", root, name);

        return path && access(path, F_OK) == 0;
}

/* An install is committed by new/complete: killed before, the next run
 * throws new/ away; after, it moves the rest into place. */
static void test_store_install(void) {
        _cleanup_free_ char *a = slurp("leaf-high-serial.pem"), *b = slurp("ca.pem"),
                            *old = slurp("leaf-low-serial.pem"), *full = NULL, *old_full = NULL, *got = NULL;
        char root[] = "/tmp/kiln-test-acme-XXXXXX";

        if (!ok(a && b && old && mkdtemp(root), "store: a root to work in"))
                return;
        root_set(root);
        full = strdup_printf("%s%s", a, b);
        old_full = strdup_printf("%s%s", old, b);
        put_site_file(root, "fullchain.pem", old_full);
        put_site_file(root, "cert.pem", old);
        put_site_file(root, "chain.pem", b);
        put_site_file(root, "privkey.pem.bak", "a key of long ago");

        /* Killed before the commit: the files before stay. */
        put_site_file(root, "new/fullchain.pem", full);
        is_int(store_recover("demo"), 0, "store_recover: an uncommitted install is thrown away");
        ok(!site_has(root, "new"), "... new/ is gone");
        got = site_file(root, "fullchain.pem");
        is_str(got, old_full, "... fullchain.pem is the one before");

        /* Killed after the commit and cert.pem's move: the rest is moved. */
        put_site_file(root, "new/chain.pem", b);
        put_site_file(root, "new/fullchain.pem", full);
        put_site_file(root, "new/complete", "");
        put_site_file(root, "cert.pem", a);
        is_int(store_recover("demo"), 1, "store_recover: a committed install is finished");
        ok(!site_has(root, "new"), "... new/ is gone");
        free(got);
        got = site_file(root, "fullchain.pem");
        is_str(got, full, "... fullchain.pem is the new one");
        free(got);
        got = site_file(root, "fullchain.pem.bak");
        is_str(got, old_full, "... the one before kept as fullchain.pem.bak");
        ok(!site_has(root, "privkey.pem.bak"), "... a privkey.pem.bak of an older install is not kept");
        is_int(store_recover("demo"), 0, "store_recover: then nothing to do");

        /* A whole install, the key kept. */
        is_int(store_install("demo", NULL, old_full), 0, "store_install: installs");
        free(got);
        got = site_file(root, "cert.pem");
        is_str(got, old, "... cert.pem is the first certificate");
        free(got);
        got = site_file(root, "chain.pem.bak");
        is_str(got, b, "... chain.pem.bak the chain before");
        ok(!site_has(root, "new"), "... and new/ is gone");
        (void) rm_rf(root);
        root_set("/");
}

/* The fleet lock's decision, without storage: whose it is, when it ends. */
static void test_fleet_lock_judge(void) {
        const time_t now = 1000000;
        char *owner = NULL;
        time_t exp = 0;
        char body[256];

        snprintf(body, sizeof(body), "{\"owner\":\"i-other\",\"expires\":%lld}", (long long) now + 50);
        is_int(fleet_lock_judge(body, strlen(body), now - 10, "i-self", now, 120, &owner, &exp), FLEET_LOCK_HELD,
               "another's lock within its lease is held");
        is_str(owner, "i-other", "its owner");
        is_int(exp, now + 50, "its expiry");
        free(owner);
        is_int(fleet_lock_judge(body, strlen(body), now - 10, "i-self", now + 50, 120, NULL, NULL), FLEET_LOCK_EXPIRED,
               "at its expiry it may be taken over");
        is_int(fleet_lock_judge(body, strlen(body), now - 10, "i-self", now + 49, 120, NULL, NULL), FLEET_LOCK_HELD,
               "a second before, not");
        is_int(fleet_lock_judge(body, strlen(body), now - 10, "i-other", now, 120, NULL, NULL), FLEET_LOCK_OURS,
               "our own lock (a run that died) is ours");
        is_int(fleet_lock_judge(body, strlen(body), now - 10, NULL, now, 120, NULL, NULL), FLEET_LOCK_HELD,
               "without a self (kiln certs) it is only held or not");
        snprintf(body, sizeof(body), "{\"owner\":\"i-other\",\"expires\":%lld}", (long long) now + 999999);
        is_int(fleet_lock_judge(body, strlen(body), now - 130, "i-self", now, 120, &owner, &exp), FLEET_LOCK_EXPIRED,
               "a lock claiming more than the longest lease lasts one lease from when it was written");
        is_int(exp, now - 10, "that lease's end");
        free(owner);
        is_int(fleet_lock_judge("garbage", 7, now - 60, "i-self", now, 120, &owner, &exp), FLEET_LOCK_HELD,
               "an unreadable lock is held for a lease after it was written");
        ok(owner == NULL, "without an owner");
        is_int(fleet_lock_judge("garbage", 7, now - 121, "i-self", now, 120, NULL, NULL), FLEET_LOCK_EXPIRED,
               "and then expires");
        is_int(fleet_lock_judge("{\"owner\":\"x\",\"expires\":\"soon\"}", 30, now - 1, "i-self", now, 10, NULL, NULL),
               FLEET_LOCK_HELD, "an expiry that is not a number: a lease from when it was written");
}

static void test_fleet_config(void) {
        static const char example[] = "acme:\n  storage: s3://bucket/kiln/prod/\n  lock_lease: 10\n"
                                      "sites:\n  - name: app\n    domains: [example.com]\n    tls: acme\n";
        _cleanup_json_ json_t *cfg = NULL;
        _cleanup_free_ char *err = NULL;
        struct acme_config c = {0};

        is_int(yaml_parse(example, strlen(example), "example", &cfg, &err), 0, "fleet example parses");
        is_int(acme_config_parse(cfg, &c, &err), 0, "storage and lock_lease are valid");
        is_str(c.storage, "s3://bucket/kiln/prod/", "storage kept");
        is_int(c.lock_lease_s, 10, "lease");
        acme_config_done(&c);
        json_object_set_new(json_object_get(cfg, "acme"), "lock_lease", json_integer(9));
        is_int(acme_config_parse(cfg, &c, &err), -EINVAL, "a lease under 10 s refused");
        ok(err && strstr(err, "acme.lock_lease"), "naming the key");
        free(err);
        err = NULL;
        json_object_set_new(json_object_get(cfg, "acme"), "lock_lease", json_integer(3601));
        is_int(acme_config_parse(cfg, &c, &err), -EINVAL, "over an hour refused");
        free(err);
        err = NULL;
        json_object_del(json_object_get(cfg, "acme"), "lock_lease");
        json_object_set_new(json_object_get(cfg, "acme"), "storage", json_string("https://bucket/x"));
        is_int(acme_config_parse(cfg, &c, &err), -EINVAL, "storage that is not s3:// refused");
        ok(err && strstr(err, "acme.storage"), "naming the key");
        free(err);
        err = NULL;
        json_object_del(json_object_get(cfg, "acme"), "storage");
        is_int(acme_config_parse(cfg, &c, &err), 0, "no storage: alone");
        ok(c.storage == NULL, "not in fleet mode");
        is_int(c.lock_lease_s, 120, "lease 120 s by default");
        acme_config_done(&c);
}

int main(void) {
        _cleanup_free_ char *buf = slurp("expected.json");

        root_set("/");
        expected = buf ? json_loads(buf, 0, NULL) : NULL;
        if (!ok(expected != NULL, "tests/data/acme/expected.json loads"))
                return tap_done();
        test_jwk_thumbprint();
        test_jws();
        test_csr();
        test_ari_id();
        test_eab();
        test_base64url();
        test_renewal_time();
        test_backoff();
        test_ari_parse();
        test_profile();
        test_config();
        test_split();
        test_faulty_ca();
        test_store_install();
        test_fleet_lock_judge();
        test_fleet_config();
        json_decref(expected);
        return tap_done();
}
