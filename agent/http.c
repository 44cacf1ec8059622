/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "context.h"
#include "dl.h"
#include "http-plain.h"
#include "http.h"
#include "log.h"
#include "path.h"
#include "strbuf.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 3000L
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_BACKOFF_BASE_MS 200L
#define DEFAULT_BACKOFF_MAX_MS 10000L
#define DEFAULT_MAX_BODY (16u * 1024 * 1024)

/* libcurl is loaded on first use: a boot that only talks to IMDS over plain
 * HTTP never pays for it (see http-plain.h). */
static struct {
        void *dl;
        CURLcode (*global_init)(long flags);
        void (*global_cleanup)(void);
        CURL *(*easy_init)(void);
        void (*easy_cleanup)(CURL *c);
        void (*easy_reset)(CURL *c);
        CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
        CURLcode (*easy_perform)(CURL *c);
        CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
        const char *(*easy_strerror)(CURLcode code);
        struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
        void (*slist_free_all)(struct curl_slist *l);
        time_t (*getdate)(const char *s, const time_t *unused);
} lib;

/* One handle, reused: keeps connections and TLS sessions warm across calls. */
static CURL *shared_handle;

struct transfer {
        struct strbuf body;
        struct http_header_list headers;
        size_t header_bytes; /* of this response's head */
        size_t max_body;
        bool too_big;
        bool head_too_big;
};

#define CURL_SYMBOL(field) \
        { "curl_" #field, offsetof(__typeof__(lib), field) }
static const struct dl_symbol curl_symbols[] = {
        CURL_SYMBOL(global_init),   CURL_SYMBOL(global_cleanup), CURL_SYMBOL(easy_init),      CURL_SYMBOL(easy_cleanup),
        CURL_SYMBOL(easy_reset),    CURL_SYMBOL(easy_setopt),    CURL_SYMBOL(easy_perform),   CURL_SYMBOL(easy_getinfo),
        CURL_SYMBOL(easy_strerror), CURL_SYMBOL(slist_append),   CURL_SYMBOL(slist_free_all), CURL_SYMBOL(getdate),
};

static int curl_load(void) {
        const char *error;

        if (lib.dl)
                return 0;
        if (dl_load("libcurl.so.4", curl_symbols, ELEMENTSOF(curl_symbols), &lib, &lib.dl, &error) < 0) {
                log_debug("%s", error);
                return -ENOPKG;
        }
        if (lib.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                dlclose(lib.dl);
                lib.dl = NULL;
                return -ENOPKG;
        }
        return 0;
}

void http_global_init(void) {
}

/* libcurl stays mapped: this runs at exit, where unloading it gains nothing,
 * and dlclose() would free the thread-local blocks of the libraries it pulled
 * in while LeakSanitizer's exit scan still holds their addresses (it crashed
 * on them in about one run of three). A use after this loads it again, which
 * finds it mapped and initializes it anew. */
void http_global_cleanup(void) {
        if (!lib.dl)
                return;
        if (shared_handle)
                lib.easy_cleanup(shared_handle);
        shared_handle = NULL;
        lib.global_cleanup();
        lib.dl = NULL;
}

long http_backoff_ms(unsigned n, long base_ms, long max_ms) {
        long d = base_ms;
        unsigned r = 0;

        for (unsigned i = 1; i < n && d < max_ms; i++)
                d *= 2;
        if (d > max_ms)
                d = max_ms;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (unsigned) rand();
        return d / 2 + (long) (r % (unsigned long) (d / 2 + 1));
}

/* An HTTP-date (RFC 9110 5.6.7): IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT"), and the obsolete forms a recipient must still read: RFC 850
 * ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37
 * 1994"). -1 when it is none of them. */
static time_t http_getdate(const char *s, const time_t *unused) {
        static const char *const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                              "%a %b %d %H:%M:%S %Y"};

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                struct tm tm = {0};
                const char *end = strptime(s, formats[i], &tm);
                if (end && !*end)
                        return timegm(&tm);
        }
        return -1;
}

#define RETRY_AFTER_MAX_S (7 * 86400L)

long http_parse_retry_after(const char *value, long now_s) {
        char buf[64];
        size_t n, i;
        long secs = 0;
        time_t when;

        if (!value)
                return -1;
        value += strspn(value, " \t");
        n = strlen(value);
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                n--;
        if (n == 0 || n >= sizeof(buf))
                return -1;
        /* delta-seconds: 1*DIGIT; more than a week is a week. */
        for (i = 0; i < n && value[i] >= '0' && value[i] <= '9'; i++)
                if (secs <= RETRY_AFTER_MAX_S)
                        secs = secs * 10 + (value[i] - '0');
        if (i == n)
                return (secs > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : secs) * 1000;
        memcpy(buf, value, n);
        buf[n] = 0;
        when = http_getdate(buf, NULL);
        if (when < 0)
                return -1;
        if (when <= now_s)
                return 0;
        return (when - now_s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (long) (when - now_s)) * 1000;
}

static bool url_byte_ok(char c) {
        return (unsigned char) c > 0x20 && (unsigned char) c < 0x7f;
}

static int url_host(const char *p, size_t n, struct http_url *u) {
        struct in6_addr a6;

        if (n > 0 && p[0] == '[') {
                if (n < 3 || p[n - 1] != ']' || n - 2 >= sizeof(u->host))
                        return -EINVAL;
                memcpy(u->host, p + 1, n - 2);
                u->host[n - 2] = 0;
                return inet_pton(AF_INET6, u->host, &a6) == 1 ? 0 : -EINVAL;
        }
        if (n == 0 || n > 253)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) p[i]) && p[i] != '.' && p[i] != '-')
                        return -EINVAL;
        memcpy(u->host, p, n);
        u->host[n] = 0;
        return 0;
}

static int url_port(const char *p, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) p[i]))
                        return -EINVAL;
                v = v * 10 + (unsigned) (p[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        *ret = v;
        return 0;
}

int http_url_parse(const char *url, struct http_url *ret) {
        struct http_url u = {0};
        const char *p, *auth, *colon;
        size_t n = strnlen(url, HTTP_URL_MAX + 1), an;

        if (n > HTTP_URL_MAX)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (!url_byte_ok(url[i]))
                        return -EINVAL;
        if (strncasecmp(url, "https://", 8) == 0)
                u.https = true, auth = url + 8;
        else if (strncasecmp(url, "http://", 7) == 0)
                auth = url + 7;
        else
                return -EINVAL;
        an = strcspn(auth, "/?#");
        /* No userinfo ("127.0.0.1@elsewhere"), no backslash some parsers take for '/'. */
        if (memchr(auth, '@', an) || memchr(auth, '\\', an) || an >= sizeof(u.authority))
                return -EINVAL;
        memcpy(u.authority, auth, an);
        u.authority[an] = 0;
        p = auth[0] == '[' ? memchr(auth, ']', an) : auth;
        if (!p)
                return -EINVAL;
        colon = memchr(p, ':', an - (size_t) (p - auth));
        if (url_host(auth, colon ? (size_t) (colon - auth) : an, &u) < 0)
                return -EINVAL;
        u.port = u.https ? 443 : 80;
        if (colon && url_port(colon + 1, an - (size_t) (colon + 1 - auth), &u.port) < 0)
                return -EINVAL;
        u.path = auth + an;
        u.path_len = strcspn(u.path, "#");
        *ret = u;
        return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        struct transfer *t = userdata;
        size_t len = size * n;

        if (t->body.len + len > t->max_body) {
                t->too_big = true;
                return 0;
        }
        return strbuf_append(&t->body, data, len) < 0 ? 0 : len;
}

/* The same limits as the plain transport: HTTP_MAX_HEADER_BYTES and
 * HTTP_MAX_HEADER_LINES per response head. */
static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        struct transfer *t = userdata;
        size_t len = size * n;
        _cleanup_free_ char *line = NULL;
        int r;

        /* A new status line starts a new response (e.g. after 100 Continue). */
        if (len >= 5 && strneq(data, "HTTP/", 5)) {
                http_header_list_clear(&t->headers);
                t->header_bytes = 0;
        }
        t->header_bytes += len;
        if (t->header_bytes > HTTP_MAX_HEADER_BYTES) {
                t->head_too_big = true;
                return 0;
        }
        if (len >= 5 && strneq(data, "HTTP/", 5))
                return len;
        line = strndup(data, len);
        if (!line)
                return 0;
        strstrip(line);
        if (!*line || !strchr(line, ':'))
                return len;
        r = http_header_list_add(&t->headers, line, strlen(line));
        if (r == -EMSGSIZE)
                t->head_too_big = true;
        return r < 0 ? 0 : len;
}

static int curl_to_errno(CURLcode c, const struct transfer *t) {
        if (t->head_too_big)
                return -EMSGSIZE;
        switch (c) {
        case CURLE_OK: return 0;
        case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE: return -ECONNRESET;
        case CURLE_WRITE_ERROR: return t->too_big ? -EFBIG : -EIO;
        case CURLE_OUT_OF_MEMORY: return -ENOMEM;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE: return -EPROTO;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL: return -EINVAL;
        default: return -EIO;
        }
}

static bool errno_is_network(int r) {
        return r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ECONNRESET || r == -EHOSTUNREACH;
}

static bool should_retry(const struct http_request *req, int r, long status) {
        if (r < 0)
                return (req->retry_on & HTTP_RETRY_NETWORK) && errno_is_network(r);
        if (status >= 500 && status <= 599)
                return req->retry_on & HTTP_RETRY_5XX;
        if (status == 429)
                return req->retry_on & HTTP_RETRY_429;
        return false;
}

static void http_response_clear(struct http_response *resp) {
        if (resp->secret)
                erase_and_free(resp->body);
        else
                free(resp->body);
        strv_free(resp->headers);
        resp->body = NULL;
        resp->headers = NULL;
        resp->body_len = 0;
}

void http_response_free(struct http_response *r) {
        if (!r)
                return;
        http_response_clear(r);
        free(r);
}

const char *http_response_header(const struct http_response *r, const char *name) {
        size_t n = strlen(name);

        for (char **h = r ? r->headers : NULL; h && *h; h++)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':') {
                        const char *v = *h + n + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        return v;
                }
        return NULL;
}

/* A curl list of first (if any) and then every string of l; NULL on ENOMEM
 * or when it would be empty. */
static struct curl_slist *slist_from(const char *first, const char *const *l) {
        struct curl_slist *list = first ? lib.slist_append(NULL, first) : NULL, *n;

        if (first && !list)
                return NULL;
        for (; l && *l; l++) {
                n = lib.slist_append(list, *l);
                if (!n) {
                        lib.slist_free_all(list);
                        return NULL;
                }
                list = n;
        }
        return list;
}

static void set_method(CURL *c, const struct http_request *req) {
        const char *m = req->method ? req->method : "GET";

        if (streq(m, "HEAD"))
                lib.easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (!streq(m, "GET"))
                lib.easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
        if (req->body || req->body_len > 0 || streq(m, "POST") || streq(m, "PUT")) {
                lib.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
                lib.easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
}

static CURL *prepare_handle(const struct http_request *req, struct transfer *t, struct curl_slist *headers,
                            struct curl_slist *resolve, struct curl_slist *connect_to, char *errbuf) {
        CURL *c = shared_handle;

        if (!c)
                c = shared_handle = lib.easy_init();
        if (!c)
                return NULL;
        lib.easy_reset(c);
        lib.easy_setopt(c, CURLOPT_URL, req->url);
        lib.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        lib.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        lib.easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
        lib.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                        req->connect_timeout_ms > 0 ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
        lib.easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS);
        lib.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        lib.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        lib.easy_setopt(c, CURLOPT_WRITEDATA, t);
        lib.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        lib.easy_setopt(c, CURLOPT_HEADERDATA, t);
        lib.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        if (req->ca_file)
                lib.easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
        if (req->no_proxy)
                lib.easy_setopt(c, CURLOPT_NOPROXY, "*");
        if (resolve)
                lib.easy_setopt(c, CURLOPT_RESOLVE, resolve);
        if (connect_to) {
                lib.easy_setopt(c, CURLOPT_CONNECT_TO, connect_to);
                lib.easy_setopt(c, CURLOPT_NOPROXY, "*");
        }
        set_method(c, req);
        return c;
}

/* One attempt through libcurl: HTTPS, proxies, --resolve. */
static int curl_attempt(const struct http_request *req, struct http_response *resp, char *error) {
        struct transfer t = {.body = {.secret = req->secret}};
        struct curl_slist *headers = NULL, *resolve = NULL, *connect_to = NULL;
        _cleanup_free_ char *pin = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode code;
        CURL *c;
        int r;

        r = curl_load();
        if (r < 0) {
                snprintf(error, HTTP_ERROR_MAX, "libcurl (libcurl.so.4) could not be loaded");
                return r;
        }
        /* No "Expect: 100-continue" round trip. */
        headers = slist_from("Expect:", req->headers);
        resolve = slist_from(NULL, req->resolve);
        /* "::ADDR:": any host, any port, to ADDR at the URL's port. */
        if (req->pin_address) {
                pin = strdup_printf(strchr(req->pin_address, ':') ? "::[%s]:" : "::%s:", req->pin_address);
                connect_to = pin ? slist_from(pin, NULL) : NULL;
        }
        t.max_body = req->max_body > 0 ? req->max_body : DEFAULT_MAX_BODY;
        c = headers && (resolve || !req->resolve) && (connect_to || !req->pin_address)
                    ? prepare_handle(req, &t, headers, resolve, connect_to, errbuf)
                    : NULL;
        if (!c) {
                r = -ENOMEM;
                goto out;
        }
        code = lib.easy_perform(c);
        r = curl_to_errno(code, &t);
        if (r < 0) {
                snprintf(error, HTTP_ERROR_MAX, "%s",
                         r == -EMSGSIZE ? "Response header too large (64 KiB, 100 fields at most)"
                         : errbuf[0]    ? errbuf
                                        : lib.easy_strerror(code));
                goto out;
        }
        lib.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body_len = t.body.len;
        resp->body = strbuf_steal(&t.body);
        resp->headers = TAKE_PTR(t.headers.v);
        if (!resp->body)
                r = -ENOMEM;
out:
        strbuf_done(&t.body);
        http_header_list_clear(&t.headers);
        if (req->secret) /* libcurl's own copies are out of reach */
                for (struct curl_slist *h = headers; h; h = h->next)
                        explicit_bzero(h->data, strlen(h->data));
        lib.slist_free_all(headers);
        lib.slist_free_all(resolve);
        lib.slist_free_all(connect_to);
        return r;
}

/* One attempt, through the plain transport where it can serve. Returns 0
 * with status and body in resp, or a negative errno. */
static int http_attempt(const struct http_request *req, struct http_response *resp) {
        char error[HTTP_ERROR_MAX] = "";
        int r;

        if (http_plain_eligible(req) && !root_test_hook("KILN_HTTP_CURL"))
                r = http_plain_perform(req, resp, error);
        else
                r = curl_attempt(req, resp, error);
        if (r < 0) {
                if (req->error)
                        snprintf(req->error, HTTP_ERROR_MAX, "%s", error[0] ? error : strerror(-r));
                return r;
        }
        resp->retry_after_ms = http_parse_retry_after(http_response_header(resp, "Retry-After"), time(NULL));
        return 0;
}

/* How long to wait before the next attempt, or -1 to stop. */
static long next_delay(const struct http_request *req, const struct http_response *resp, int r, unsigned attempt,
                       long started) {
        unsigned max_attempts = req->max_attempts > 0 ? req->max_attempts : 1;
        long delay;

        if (attempt >= max_attempts || !should_retry(req, r, resp->status))
                return -1;
        delay = http_backoff_ms(attempt, req->backoff_base_ms > 0 ? req->backoff_base_ms : DEFAULT_BACKOFF_BASE_MS,
                                req->backoff_max_ms > 0 ? req->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS);
        if (r >= 0 && resp->retry_after_ms > delay)
                delay = resp->retry_after_ms;
        if (req->budget_ms > 0 && now_ms() - started + delay >= req->budget_ms)
                return -1;
        return delay;
}

int http_request(const struct http_request *req, struct http_response **ret) {
        struct http_response *resp;
        long started = now_ms(), delay;
        unsigned attempt = 0;
        int r;

        resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        resp->secret = req->secret;
        for (;;) {
                http_response_clear(resp);
                resp->status = 0;
                resp->retry_after_ms = -1;
                attempt++;
                r = http_attempt(req, resp);
                resp->attempts = attempt;
                delay = next_delay(req, resp, r, attempt, started);
                if (delay < 0)
                        break;
                log_debug("%s %s: %s, retrying in %ld ms (attempt %u)", req->method ? req->method : "GET", req->url,
                          r < 0 ? "transport error" : "retryable status", delay, attempt);
                kiln_keepalive();
                sleep_ms(delay);
        }
        if (r < 0) {
                http_response_free(resp);
                return r;
        }
        *ret = resp;
        return 0;
}

char *http_urlencode(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        struct strbuf b = STRBUF_INIT;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                char enc[3];
                int r;
                if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
                        r = strbuf_append(&b, p, 1);
                else {
                        enc[0] = '%';
                        enc[1] = hex[*p >> 4];
                        enc[2] = hex[*p & 15];
                        r = strbuf_append(&b, enc, 3);
                }
                if (r < 0) {
                        strbuf_done(&b);
                        return NULL;
                }
        }
        return strbuf_steal(&b);
}
