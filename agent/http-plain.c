/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http-plain.h"
#include "strbuf.h"

static bool proxy_configured(void) {
        static const char *const vars[] = {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"};
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                if (getenv(vars[i]) && *getenv(vars[i]))
                        return true;
        return false;
}

bool http_plain_eligible(const struct http_request *req) {
        return req->url && strneq(req->url, "http://", 7) && !req->resolve && (req->no_proxy || !proxy_configured());
}

static int wait_fd(int fd, short events, long deadline) {
        for (;;) {
                struct pollfd p = {.fd = fd, .events = events};
                long left = deadline - now_ms();
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&p, 1, (int) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n > 0)
                        return 0;
        }
}

static int connect_one(const struct addrinfo *ai, long deadline) {
        _cleanup_close_ int fd = -1;
        socklen_t len = sizeof(int);
        int err = 0, r;

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
                return negative_errno();
        r = wait_fd(fd, POLLOUT, deadline);
        if (r < 0)
                return r;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return negative_errno();
        if (err != 0)
                return -err;
        return TAKE_FD(fd);
}

static int connect_to(const struct http_request *req, const struct http_url *u, long deadline) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
        char port[8];
        int fd = -EHOSTUNREACH;

        snprintf(port, sizeof(port), "%u", u->port);
        if (req->pin_address)
                hints.ai_flags |= AI_NUMERICHOST;
        if (getaddrinfo(req->pin_address ? req->pin_address : u->host, port, &hints, &res) != 0)
                return -EHOSTUNREACH;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                fd = connect_one(ai, deadline);
                if (fd >= 0 || fd == -ETIMEDOUT)
                        break;
        }
        freeaddrinfo(res);
        return fd;
}

/* Whether the caller gives this header itself (it then replaces ours, as
 * with curl: a signed request must carry exactly the Host it signed). */
static bool caller_sets(const struct http_request *req, const char *name) {
        size_t n = strlen(name);

        for (const char *const *h = req->headers; h && *h; h++)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
                        return true;
        return false;
}

static int build_request(const struct http_request *req, const struct http_url *u, struct strbuf *b) {
        const char *method = req->method ? req->method : "GET";
        bool has_body = req->body || req->body_len > 0 || streq(method, "POST") || streq(method, "PUT");
        int r;

        if (strpbrk(method, " \t\r\n"))
                return -EINVAL;
        r = strbuf_printf(b, "%s %s%.*s HTTP/1.1\r\nConnection: close\r\n", method, *u->path == '/' ? "" : "/",
                          (int) u->path_len, u->path);
        if (r >= 0 && !caller_sets(req, "Host"))
                r = strbuf_printf(b, "Host: %s\r\n", u->authority);
        if (r >= 0 && !caller_sets(req, "User-Agent"))
                r = strbuf_printf(b, "User-Agent: %s/%s\r\n", PACKAGE_NAME, PACKAGE_VERSION);
        if (r >= 0 && has_body)
                r = strbuf_printf(b, "Content-Length: %zu\r\n", req->body_len);
        for (const char *const *h = req->headers; r >= 0 && h && *h; h++) {
                const char *colon = strchr(*h, ':');
                /* "Name:" with nothing after it removes a header, as with curl. */
                if (!colon || !colon[1 + strspn(colon + 1, " ")])
                        continue;
                if (strpbrk(*h, "\r\n"))
                        return -EINVAL;
                r = strbuf_printf(b, "%s\r\n", *h);
        }
        if (r >= 0)
                r = strbuf_puts(b, "\r\n");
        if (r >= 0 && has_body && req->body_len > 0)
                r = strbuf_append(b, req->body, req->body_len);
        return r;
}

static int send_all(int fd, const char *p, size_t len, long deadline) {
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EAGAIN) {
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Reads until EOF; the server closes after one response. */
static int recv_all(int fd, struct strbuf *b, size_t max, long deadline) {
        char buf[16384];

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        int r = wait_fd(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return 0;
                if (b->len + (size_t) n > max)
                        return -EFBIG;
                if (strbuf_append(b, buf, (size_t) n) < 0)
                        return -ENOMEM;
        }
}

int http_header_list_add(struct http_header_list *l, const char *line, size_t len) {
        char *copy;

        if (l->n >= HTTP_MAX_HEADER_LINES)
                return -EMSGSIZE;
        if (l->n + 2 > l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                char **v = realloc(l->v, cap * sizeof(char *));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        copy = strndup(line, len);
        if (!copy)
                return -ENOMEM;
        l->v[l->n++] = copy;
        l->v[l->n] = NULL;
        return 0;
}

void http_header_list_clear(struct http_header_list *l) {
        strv_free(l->v);
        *l = (struct http_header_list){0};
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(char c) {
        return isalnum((unsigned char) c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

/* A field value byte (RFC 9110 5.5): visible, blank or obs-text; no CR, LF, NUL. */
static bool is_field_byte(char c) {
        unsigned char u = (unsigned char) c;
        return u == '\t' || (u >= 0x20 && u != 0x7f);
}

/* Appends an obs-fold continuation (RFC 9112 5.2) to the last field, as one SP. */
static int header_fold(struct http_header_list *l, const char *v, size_t len) {
        size_t old;
        char *n;

        if (l->n == 0)
                return -EPROTO;
        old = strlen(l->v[l->n - 1]);
        n = realloc(l->v[l->n - 1], old + 1 + len + 1);
        if (!n)
                return -ENOMEM;
        n[old] = ' ';
        memcpy(n + old + 1, v, len);
        n[old + 1 + len] = 0;
        l->v[l->n - 1] = n;
        return 0;
}

/* One field line "Name: value", stored as "Name: value" without OWS. */
static int parse_field(const char *p, size_t len, struct http_header_list *l) {
        _cleanup_free_ char *line = NULL;
        size_t name = 0, v, e = len;

        for (size_t i = 0; i < len; i++)
                if (!is_field_byte(p[i]))
                        return -EPROTO;
        while (e > 0 && is_ows(p[e - 1]))
                e--;
        if (len > 0 && is_ows(p[0])) {
                for (v = 0; v < e && is_ows(p[v]); v++)
                        ;
                return header_fold(l, p + v, e - v);
        }
        while (name < len && is_tchar(p[name]))
                name++;
        /* No space between name and colon (RFC 9112 5.1): a smuggling vector. */
        if (name == 0 || name >= len || p[name] != ':')
                return -EPROTO;
        for (v = name + 1; v < e && is_ows(p[v]); v++)
                ;
        line = strdup_printf("%.*s: %.*s", (int) name, p, (int) (e - v), p + v);
        if (!line)
                return -ENOMEM;
        return http_header_list_add(l, line, strlen(line));
}

/* "HTTP/1.x NNN[ reason]"; the status code. */
static int parse_status_line(const char *p, size_t len) {
        int code = 0;

        if (len < 12 || !strneq(p, "HTTP/1.", 7) || !isdigit((unsigned char) p[7]) || p[8] != ' ')
                return -EPROTO;
        for (size_t i = 9; i < 12; i++) {
                if (!isdigit((unsigned char) p[i]))
                        return -EPROTO;
                code = code * 10 + (p[i] - '0');
        }
        if (code < 100 || (len > 12 && p[12] != ' '))
                return -EPROTO;
        for (size_t i = 12; i < len; i++)
                if (!is_field_byte(p[i]))
                        return -EPROTO;
        return code;
}

/* Parses the head of a response at raw, 1xx interim responses skipped:
 * the status, the fields, and where the body starts. The whole head is at
 * most HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADER_LINES fields. */
static int parse_head(const char *raw, size_t len, int *ret_status, struct http_header_list *ret_fields,
                      size_t *ret_body) {
        size_t limit = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES, pos = 0;
        int status = -1, r;

        for (;;) {
                const char *eol = memmem(raw + pos, limit - pos, "\r\n", 2);
                size_t n;

                if (!eol)
                        return len == 0 ? -ECONNRESET : len >= HTTP_MAX_HEADER_BYTES ? -EMSGSIZE : -EPROTO;
                n = (size_t) (eol - (raw + pos));
                if (status < 0) {
                        status = parse_status_line(raw + pos, n);
                        if (status < 0)
                                return status;
                } else if (n > 0) {
                        r = parse_field(raw + pos, n, ret_fields);
                        if (r < 0)
                                return r;
                }
                pos += n + 2;
                if (n > 0)
                        continue;
                /* The blank line. An interim answer (100 Continue, 103) is
                 * followed by the real one; 101 would switch protocols. */
                if (status >= 200 || status == 101) {
                        *ret_status = status;
                        *ret_body = pos;
                        return 0;
                }
                http_header_list_clear(ret_fields);
                status = -1;
        }
}

/* chunk-ext (RFC 9112 7.1.1): *( BWS ";" BWS name [ BWS "=" BWS value ] ),
 * value a token or a quoted-string. Returns the length read. */
static size_t skip_ows(const char *p, size_t len) {
        size_t i = 0;
        while (i < len && is_ows(p[i]))
                i++;
        return i;
}

static size_t token_len(const char *p, size_t len) {
        size_t i = 0;
        while (i < len && is_tchar(p[i]))
                i++;
        return i;
}

static int quoted_len(const char *p, size_t len, size_t *ret) {
        size_t i = 1;

        if (len == 0 || p[0] != '"')
                return -EPROTO;
        while (i < len && p[i] != '"') {
                if (p[i] == '\\')
                        i++;
                if (i >= len || !is_field_byte(p[i]))
                        return -EPROTO;
                i++;
        }
        if (i >= len)
                return -EPROTO;
        *ret = i + 1;
        return 0;
}

static int chunk_ext_len(const char *p, size_t len, size_t *ret) {
        size_t i = 0, n;

        for (;;) {
                i += skip_ows(p + i, len - i);
                if (i >= len || p[i] != ';')
                        break;
                i++;
                i += skip_ows(p + i, len - i);
                n = token_len(p + i, len - i);
                if (n == 0)
                        return -EPROTO;
                i += n;
                n = i + skip_ows(p + i, len - i);
                if (n >= len || p[n] != '=')
                        continue;
                i = n + 1;
                i += skip_ows(p + i, len - i);
                n = token_len(p + i, len - i);
                if (n == 0 && quoted_len(p + i, len - i, &n) < 0)
                        return -EPROTO;
                i += n;
        }
        *ret = i;
        return 0;
}

/* chunk-size: 1*HEXDIG, nothing else (no "0x", sign or blanks), checked
 * for overflow. */
static int chunk_size(const char *p, size_t len, size_t *ret_size, size_t *ret_len) {
        size_t n = 0, i = 0;

        for (; i < len && isxdigit((unsigned char) p[i]); i++) {
                unsigned d = isdigit((unsigned char) p[i]) ? (unsigned) (p[i] - '0')
                                                           : (unsigned) (tolower((unsigned char) p[i]) - 'a' + 10);
                if (n > (SIZE_MAX - d) / 16)
                        return -EPROTO;
                n = n * 16 + d;
        }
        if (i == 0)
                return i < len ? -EPROTO : -ECONNRESET;
        *ret_size = n;
        *ret_len = i;
        return 0;
}

/* One chunk's "size[ext]CRLF" at p; *ret_data is where its data starts. */
static int chunk_header(const char *p, size_t len, size_t *ret_size, size_t *ret_data) {
        size_t n, i, e;
        int r;

        r = chunk_size(p, len, ret_size, &i);
        if (r < 0)
                return r;
        r = chunk_ext_len(p + i, len - i, &e);
        if (r < 0)
                return r;
        i += e;
        if (len - i < 2)
                return -ECONNRESET;
        if (p[i] != '\r' || p[i + 1] != '\n')
                return -EPROTO;
        n = i + 2;
        *ret_data = n;
        return 0;
}

/* The trailer section after the last chunk: field lines, then CRLF. */
static int skip_trailers(const char *p, size_t len) {
        size_t pos = 0;

        for (unsigned lines = 0; lines <= HTTP_MAX_HEADER_LINES; lines++) {
                const char *eol = memmem(p + pos, len - pos, "\r\n", 2);
                if (!eol)
                        return -ECONNRESET;
                if (eol == p + pos)
                        return 0;
                pos = (size_t) (eol - p) + 2;
        }
        return -EMSGSIZE;
}

static int dechunk(const char *p, size_t len, struct strbuf *out) {
        size_t pos = 0;

        for (;;) {
                size_t size, data;
                int r = chunk_header(p + pos, len - pos, &size, &data);

                if (r < 0)
                        return r;
                pos += data;
                if (size == 0)
                        return skip_trailers(p + pos, len - pos);
                if (size > len - pos || len - pos - size < 2)
                        return -ECONNRESET;
                if (p[pos + size] != '\r' || p[pos + size + 1] != '\n')
                        return -EPROTO;
                if (strbuf_append(out, p + pos, size) < 0)
                        return -ENOMEM;
                pos += size + 2;
        }
}

/* Transfer-Encoding (every field of that name, a list): kiln asks for no
 * coding, so the one it reads is chunked, alone. 1 for chunked, 0 when
 * absent. */
static int transfer_coding(char *const *fields) {
        int chunked = 0;

        for (char *const *h = fields; h && *h; h++) {
                const char *v;
                if (strncasecmp(*h, "Transfer-Encoding:", 18) != 0)
                        continue;
                v = *h + 18;
                for (;;) {
                        size_t n;
                        v += strspn(v, " \t,");
                        if (!*v)
                                break;
                        n = strcspn(v, " \t,");
                        if (n != 7 || strncasecmp(v, "chunked", 7) != 0 || chunked)
                                return -EPROTO;
                        chunked = 1;
                        v += n;
                }
        }
        return chunked;
}

/* 1*DIGIT, checked for overflow. */
static int parse_length(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EPROTO;
        for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char) s[i]) || v > (UINT64_MAX - 9) / 10)
                        return -EPROTO;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* Content-Length: every field and list member must agree (RFC 9110 8.6).
 * 1 with *ret set, 0 when absent. */
static int content_length(char *const *fields, uint64_t *ret) {
        bool found = false;
        uint64_t want = 0;

        for (char *const *h = fields; h && *h; h++) {
                const char *v;
                if (strncasecmp(*h, "Content-Length:", 15) != 0)
                        continue;
                for (v = *h + 15;;) {
                        uint64_t x;
                        size_t n;
                        v += strspn(v, " \t");
                        n = strcspn(v, " \t,");
                        if (parse_length(v, n, &x) < 0 || (found && x != want))
                                return -EPROTO;
                        want = x;
                        found = true;
                        v += n;
                        v += strspn(v, " \t");
                        if (!*v)
                                break;
                        if (*v++ != ',')
                                return -EPROTO;
                }
        }
        if (found)
                *ret = want;
        return found;
}

static int parse_body(const char *p, size_t len, int status, bool head_only, char *const *fields, struct strbuf *body) {
        uint64_t want = 0;
        int r;

        if (head_only || status == 204 || status == 304)
                return strbuf_append(body, "", 0);
        r = transfer_coding(fields);
        if (r < 0)
                return r;
        if (r > 0)
                return dechunk(p, len, body);
        r = content_length(fields, &want);
        if (r < 0)
                return r;
        if (r > 0 && want > len)
                return -ECONNRESET; /* the connection ended early */
        return strbuf_append(body, p, r > 0 ? (size_t) want : len);
}

int http_plain_parse_response(const char *raw, size_t len, bool head_only, struct http_response *resp) {
        _cleanup_(http_header_list_clear) struct http_header_list fields = {0};
        _cleanup_strbuf_ struct strbuf body = {.secret = resp->secret};
        size_t body_at = 0;
        int status = 0, r;

        r = parse_head(raw, len, &status, &fields, &body_at);
        if (r < 0)
                return r;
        r = parse_body(raw + body_at, len - body_at, status, head_only, fields.v, &body);
        if (r < 0)
                return r;
        resp->status = status;
        resp->body_len = body.len;
        resp->body = strbuf_steal(&body);
        resp->headers = TAKE_PTR(fields.v);
        return resp->body ? 0 : -ENOMEM;
}

/* The errors http.h promises for "no connection". */
static int connect_errno(int r) {
        if (r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ENOMEM)
                return r;
        return r == -ENETUNREACH ? -EHOSTUNREACH : -ECONNREFUSED;
}

int http_plain_perform(const struct http_request *req, struct http_response *resp, char *error) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT, in = STRBUF_INIT;
        long start = now_ms();
        long total = req->timeout_ms > 0 ? req->timeout_ms : 30000;
        long connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 3000;
        size_t max = (req->max_body > 0 ? req->max_body : 16u * 1024 * 1024) + HTTP_MAX_HEADER_BYTES;
        _cleanup_close_ int fd = -1;
        struct http_url u;
        char port[8];
        int r;

        out.secret = in.secret = req->secret;
        r = http_url_parse(req->url, &u);
        if (r >= 0 && u.https)
                r = -EINVAL;
        if (r < 0) {
                snprintf(error, HTTP_ERROR_MAX, "malformed URL");
                return r;
        }
        r = build_request(req, &u, &out);
        if (r < 0)
                return r;
        snprintf(port, sizeof(port), "%u", u.port);
        fd = connect_to(req, &u, start + (connect_ms < total ? connect_ms : total));
        if (fd < 0) {
                snprintf(error, HTTP_ERROR_MAX, "Failed to connect to %.100s port %s: %s",
                         req->pin_address ? req->pin_address : u.host, port, strerror(-fd));
                return connect_errno(fd);
        }
        r = send_all(fd, out.data, out.len, start + total);
        if (r >= 0)
                r = recv_all(fd, &in, max, start + total);
        if (r >= 0)
                r = http_plain_parse_response(in.data ? in.data : "", in.len, req->method && streq(req->method, "HEAD"),
                                              resp);
        if (r == -EPIPE)
                r = -ECONNRESET;
        if (r < 0)
                snprintf(error, HTTP_ERROR_MAX, "%s from %.100s port %s",
                         r == -ETIMEDOUT  ? "Operation timed out"
                         : r == -EFBIG    ? "Response too large"
                         : r == -EMSGSIZE ? "Response header too large (64 KiB, 100 fields at most)"
                         : r == -EPROTO   ? "Malformed HTTP response"
                                          : strerror(-r),
                         u.host, port);
        return r;
}
