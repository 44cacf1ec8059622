/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
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

#define MAX_HEADER_BYTES (64u * 1024)

struct url {
        char host[256];
        char port[8];
        const char *path; /* into the URL, "/" when empty */
        char host_header[270];
};

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

static int parse_url(const char *url, struct url *u) {
        const char *p = url + 7, *end, *colon;
        size_t n;

        if (*p == '[') { /* IPv6 literal */
                end = strchr(p, ']');
                if (!end)
                        return -EINVAL;
                n = (size_t) (end - p - 1);
                if (n >= sizeof(u->host))
                        return -EINVAL;
                memcpy(u->host, p + 1, n);
                u->host[n] = 0;
                p = end + 1;
        } else {
                n = strcspn(p, ":/?#");
                if (n == 0 || n >= sizeof(u->host))
                        return -EINVAL;
                memcpy(u->host, p, n);
                u->host[n] = 0;
                p += n;
        }
        colon = *p == ':' ? p + 1 : NULL;
        n = colon ? strcspn(colon, "/?#") : 0;
        if (colon && (n == 0 || n >= sizeof(u->port)))
                return -EINVAL;
        snprintf(u->port, sizeof(u->port), "%.*s", colon ? (int) n : 2, colon ? colon : "80");
        u->path = colon ? colon + n : p;
        /* Host: the authority exactly as the URL gives it ("[::1]:8080"). */
        n = strcspn(url + 7, "/?#");
        if (n >= sizeof(u->host_header))
                return -EINVAL;
        memcpy(u->host_header, url + 7, n);
        u->host_header[n] = 0;
        return 0;
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

static int connect_to(const struct url *u, long deadline) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
        int fd = -EHOSTUNREACH;

        if (getaddrinfo(u->host, u->port, &hints, &res) != 0)
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

static int build_request(const struct http_request *req, const struct url *u, struct strbuf *b) {
        const char *method = req->method ? req->method : "GET";
        bool has_body = req->body || req->body_len > 0 || streq(method, "POST") || streq(method, "PUT");
        int r;

        r = strbuf_printf(b, "%s %s HTTP/1.1\r\nConnection: close\r\n", method, *u->path ? u->path : "/");
        if (r >= 0 && !caller_sets(req, "Host"))
                r = strbuf_printf(b, "Host: %s\r\n", u->host_header);
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
                if (n < 0)
                        return errno == EINTR ? 0 : negative_errno();
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
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
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

static int parse_headers(char *head, struct http_response *resp) {
        char *line, *next;
        int code;

        next = strstr(head, "\r\n");
        if (!next || !strneq(head, "HTTP/1.", 7) || strlen(head) < 12)
                return -EPROTO;
        *next = 0;
        if (!isdigit((unsigned char) head[9]) || sscanf(head + 9, "%3d", &code) != 1 || code < 100)
                return -EPROTO;
        resp->status = code;
        for (line = next + 2; *line; line = next + 2) {
                next = strstr(line, "\r\n");
                if (!next)
                        break;
                *next = 0;
                if (strchr(line, ':') && strv_push(&resp->headers, line) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int dechunk(const char *p, size_t len, struct strbuf *out) {
        const char *end = p + len;

        for (;;) {
                char *after;
                unsigned long n = strtoul(p, &after, 16);
                const char *crlf = memmem(p, (size_t) (end - p), "\r\n", 2);
                if (!crlf || after == p || (size_t) (end - crlf - 2) < n)
                        return -EPROTO;
                if (n == 0)
                        return 0;
                if (strbuf_append(out, crlf + 2, n) < 0)
                        return -ENOMEM;
                p = crlf + 2 + n + 2;
                if (p > end)
                        return -EPROTO;
        }
}

static int parse_response(struct strbuf *raw, bool head_only, struct http_response *resp) {
        _cleanup_strbuf_ struct strbuf body = {.secret = raw->secret};
        char *sep = raw->data ? memmem(raw->data, raw->len, "\r\n\r\n", 4) : NULL;
        const char *te, *cl;
        size_t head_len, body_len;
        int r;

        if (!sep)
                return raw->len == 0 ? -ECONNRESET : -EPROTO;
        *sep = 0;
        head_len = (size_t) (sep - raw->data) + 4;
        r = parse_headers(raw->data, resp);
        if (r < 0)
                return r;
        body_len = raw->len - head_len;
        te = http_response_header(resp, "Transfer-Encoding");
        cl = http_response_header(resp, "Content-Length");
        if (head_only || resp->status == 204 || resp->status == 304)
                r = strbuf_append(&body, "", 0);
        else if (te && strcasestr(te, "chunked"))
                r = dechunk(raw->data + head_len, body_len, &body);
        else {
                unsigned long long want;
                if (cl && (safe_atou64(cl, &want) < 0 || want > body_len))
                        return -ECONNRESET; /* the connection ended early */
                r = strbuf_append(&body, raw->data + head_len, cl ? (size_t) want : body_len);
        }
        if (r < 0)
                return r;
        resp->body_len = body.len;
        resp->body = strbuf_steal(&body);
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
        size_t max = (req->max_body > 0 ? req->max_body : 16u * 1024 * 1024) + MAX_HEADER_BYTES;
        _cleanup_close_ int fd = -1;
        struct url u;
        int r;

        out.secret = in.secret = req->secret;
        r = parse_url(req->url, &u);
        if (r < 0) {
                snprintf(error, HTTP_ERROR_MAX, "malformed URL");
                return r;
        }
        r = build_request(req, &u, &out);
        if (r < 0)
                return r;
        fd = connect_to(&u, start + (connect_ms < total ? connect_ms : total));
        if (fd < 0) {
                snprintf(error, HTTP_ERROR_MAX, "Failed to connect to %.100s port %s: %s", u.host, u.port,
                         strerror(-fd));
                return connect_errno(fd);
        }
        r = send_all(fd, out.data, out.len, start + total);
        if (r >= 0)
                r = recv_all(fd, &in, max, start + total);
        if (r >= 0)
                r = parse_response(&in, req->method && streq(req->method, "HEAD"), resp);
        if (r == -EPIPE)
                r = -ECONNRESET;
        if (r < 0)
                snprintf(error, HTTP_ERROR_MAX, "%s from %.100s port %s",
                         r == -ETIMEDOUT ? "Operation timed out"
                         : r == -EFBIG   ? "Response too large"
                                         : strerror(-r),
                         u.host, u.port);
        return r;
}
