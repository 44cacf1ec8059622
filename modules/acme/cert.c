/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "acme/acme-internal.h"
#include "openssl.h"
#include "strbuf.h"

/* Public facts of certificates (no private key here): validity, issuer,
 * names, the RFC 9773 cert ID; and a TLS probe that tells which
 * certificate a local server presents. */

#define END_CERT "-----END CERTIFICATE-----"

static X509 *pem_first_cert(const char *pem) {
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

        BIO_free(bio);
        return x;
}

static time_t asn1_time_to_epoch(const ASN1_TIME *t) {
        struct tm tm = {0};

        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return 0;
        return timegm(&tm);
}

static char *issuer_name(X509 *x) {
        X509_NAME *n = X509_get_issuer_name(x);
        char buf[256];
        BIO *bio;
        char *data, *s;
        long len;

        if (X509_NAME_get_text_by_NID(n, NID_commonName, buf, sizeof(buf)) > 0)
                return strdup(buf);
        bio = BIO_new(BIO_s_mem());
        if (!bio)
                return NULL;
        X509_NAME_print_ex(bio, n, 0, XN_FLAG_ONELINE);
        len = BIO_get_mem_data(bio, &data);
        s = strndup(data, (size_t) len);
        BIO_free(bio);
        return s;
}

static char *serial_hex(X509 *x) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL, *s;

        BN_free(bn);
        s = hex ? strdup(hex) : NULL;
        OPENSSL_free(hex);
        return s;
}

static int san_domains(X509 *x, char ***ret) {
        GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        char **l = NULL;
        int r = 0;

        for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
                GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
                if (g->type != GEN_DNS)
                        continue;
                _cleanup_free_ char *d = strndup((const char *) ASN1_STRING_get0_data(g->d.dNSName),
                                                 (size_t) ASN1_STRING_length(g->d.dNSName));
                r = d ? strv_push(&l, d) : -ENOMEM;
                if (r < 0)
                        break;
        }
        GENERAL_NAMES_free(names);
        if (r < 0) {
                strv_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

int cert_ari_id_from_der(const unsigned char *aki, size_t aki_len, const unsigned char *serial, size_t serial_len,
                         char **ret) {
        _cleanup_free_ char *a = NULL, *s = NULL;

        if (aki_len == 0 || serial_len == 0)
                return -EINVAL;
        if (base64url_encode(aki, aki_len, &a) < 0 || base64url_encode(serial, serial_len, &s) < 0)
                return -ENOMEM;
        *ret = strdup_printf("%s.%s", a, s);
        return *ret ? 0 : -ENOMEM;
}

/* The serial's DER content octets: two's complement, so a positive serial
 * whose top bit is set keeps its leading 0x00. */
static int ari_id(X509 *x, char **ret) {
        const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(x);
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        unsigned char buf[64];
        int n;

        if (!kid || !bn) {
                BN_free(bn);
                return -ENOENT;
        }
        buf[0] = 0;
        n = BN_num_bytes(bn);
        if (n <= 0 || n > (int) sizeof(buf) - 1) {
                BN_free(bn);
                return -EINVAL;
        }
        BN_bn2bin(bn, buf + 1);
        BN_free(bn);
        if (buf[1] & 0x80)
                return cert_ari_id_from_der(ASN1_STRING_get0_data(kid), (size_t) ASN1_STRING_length(kid), buf,
                                            (size_t) n + 1, ret);
        return cert_ari_id_from_der(ASN1_STRING_get0_data(kid), (size_t) ASN1_STRING_length(kid), buf + 1, (size_t) n,
                                    ret);
}

int cert_info_from_pem(const char *pem, struct cert_info *ret) {
        X509 *x = pem_first_cert(pem);
        struct cert_info i = {0};
        int r;

        if (!x)
                return -EBADMSG;
        i.not_before = asn1_time_to_epoch(X509_get0_notBefore(x));
        i.not_after = asn1_time_to_epoch(X509_get0_notAfter(x));
        i.issuer = issuer_name(x);
        i.serial = serial_hex(x);
        r = san_domains(x, &i.domains);
        if (r >= 0 && ari_id(x, &i.ari_id) == -ENOMEM)
                r = -ENOMEM;
        X509_free(x);
        if (r < 0 || !i.issuer || !i.serial) {
                cert_info_done(&i);
                return r < 0 ? r : -ENOMEM;
        }
        *ret = i;
        return 0;
}

void cert_info_done(struct cert_info *i) {
        free(i->issuer);
        free(i->serial);
        free(i->ari_id);
        strv_free(i->domains);
        *i = (struct cert_info){0};
}

int cert_split_chain(const char *pem, char **ret_cert, char **ret_chain) {
        const char *end = strstr(pem, END_CERT), *rest;
        char *cert, *chain;

        if (!end)
                return -EBADMSG;
        end += strlen(END_CERT);
        while (*end == '\r' || *end == '\n')
                end++;
        rest = end;
        cert = strndup(pem, (size_t) (end - pem));
        chain = strdup(rest);
        if (!cert || !chain) {
                free(cert);
                free(chain);
                return -ENOMEM;
        }
        *ret_cert = cert;
        *ret_chain = chain;
        return 0;
}

static int connect_timeout(int port, long timeout_ms) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        struct pollfd p;
        int fd, err = 0;
        socklen_t len = sizeof(err);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                goto fail;
        p = (struct pollfd){.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, (int) timeout_ms) <= 0) {
                errno = ETIMEDOUT;
                goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
                errno = err ? err : errno;
                goto fail;
        }
        if (fcntl(fd, F_SETFL, 0) < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                goto fail;
        return fd;
fail:
        err = negative_errno();
        close(fd);
        return err;
}

static int handshake_peer(int fd, const char *host, X509 **ret) {
        SSL_CTX *sctx = SSL_CTX_new(TLS_client_method());
        SSL *ssl = sctx ? SSL_new(sctx) : NULL;
        int r = -EPROTO;

        /* Identity is checked by comparing with the certificate we just
         * installed, not by a trust store. */
        if (ssl && SSL_set_fd(ssl, fd) && SSL_set_tlsext_host_name(ssl, host) && SSL_connect(ssl) == 1) {
                *ret = SSL_get1_peer_certificate(ssl);
                r = *ret ? 0 : -EPROTO;
                SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        SSL_CTX_free(sctx);
        return r;
}

int cert_served(const char *host, int port, const char *pem, long timeout_ms) {
        _cleanup_close_ int fd = -1;
        X509 *want = pem_first_cert(pem), *got = NULL;
        int r;

        if (!want)
                return -EBADMSG;
        fd = connect_timeout(port, timeout_ms);
        r = fd < 0 ? fd : handshake_peer(fd, host, &got);
        if (r >= 0)
                r = X509_cmp(want, got) == 0;
        X509_free(want);
        X509_free(got);
        return r;
}

/* RFC 3339: 2025-01-02T03:04:05Z, fractions and numeric offsets allowed. */
int parse_rfc3339(const char *s, time_t *ret) {
        struct tm tm = {0};
        const char *p;
        long off = 0;
        int sign, hh, mm;

        if (!s)
                return -EINVAL;
        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                p = strptime(s, "%Y-%m-%dt%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                sign = *p == '-' ? -1 : 1;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -EINVAL;
                off = sign * (hh * 3600L + mm * 60L);
                p += 6;
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;
        *ret = timegm(&tm) - off;
        return 0;
}

char *format_time(time_t t) {
        struct tm tm;
        char buf[64];

        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return strdup("?");
        return strdup(buf);
}
