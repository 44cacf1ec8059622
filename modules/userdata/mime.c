/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "strbuf.h"
#include "userdata/mime.h"

#define HEADER_MAX (64u * 1024)

/* A region of the input being split, and the line it starts on. */
struct span {
        const char *data;
        size_t len;
        size_t line;
        bool verbatim;
};

struct headers {
        char *content_type;
        char *encoding;
        char *disposition;
        char *merge_type, *x_merge_type; /* the first of each name, in any case */
        char *launch_index;
        bool merge_type_named, x_merge_type_named; /* a header named so, in that case */
};

static void headers_done(struct headers *h) {
        free(h->launch_index);
        free(h->merge_type);
        free(h->x_merge_type);
        free(h->content_type);
        free(h->encoding);
        free(h->disposition);
}

/* The line at *pos: its length without the line break; *pos moves past it. */
static size_t next_line(const struct span *s, size_t *pos, const char **ret_line) {
        const char *start = s->data + *pos, *nl = memchr(start, '\n', s->len - *pos);
        size_t n = nl ? (size_t) (nl - start) : s->len - *pos;

        *ret_line = start;
        *pos += nl ? n + 1 : n;
        if (n > 0 && start[n - 1] == '\r')
                n--;
        return n;
}

bool mime_looks_like(const char *data, size_t len) {
        static const char *const starts[] = {"content-type:", "mime-version:"};

        for (size_t i = 0; i < ELEMENTSOF(starts); i++) {
                size_t n = strlen(starts[i]);
                if (len >= n && strncasecmp(data, starts[i], n) == 0)
                        return true;
        }
        return false;
}

/* Sets a header we use; the first of a repeated header counts, as
 * Python's Message.get() (cloud-init) takes the first. */
static int header_set(struct headers *h, const char *line, size_t n) {
        static const char *const names[] = {"content-type",        "content-transfer-encoding",
                                            "content-disposition", "merge-type",
                                            "x-merge-type",        "launch-index"};
        char **fields[] = {&h->content_type, &h->encoding,     &h->disposition,
                           &h->merge_type,   &h->x_merge_type, &h->launch_index};
        const char *colon = memchr(line, ':', n);

        if (!colon || colon == line)
                return 0; /* ":x" has no name: ignored, as Python's parser does */
        /* cloud-init looks the merge headers up in dict(part): by their
         * name in this case, with the value of the first in any case. */
        if ((size_t) (colon - line) == 10 && strneq(line, "Merge-Type", 10))
                h->merge_type_named = true;
        if ((size_t) (colon - line) == 12 && strneq(line, "X-Merge-Type", 12))
                h->x_merge_type_named = true;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t k = strlen(names[i]);
                if ((size_t) (colon - line) != k || strncasecmp(line, names[i], k) != 0 || *fields[i])
                        continue;
                *fields[i] = strndup(colon + 1, n - (size_t) (colon + 1 - line));
                return *fields[i] ? 0 : -ENOMEM;
        }
        return 0;
}

/* Whether a line is read as a header line, by the rule of Python's email
 * parser (feedparser's headerRE): "From ", a name of printable characters
 * other than ':' and ' ' followed by ':', or a continuation (a leading
 * blank). The first line that is none of these starts the body. */
static bool header_like(const char *l, size_t n) {
        if (n == 0)
                return false;
        if (l[0] == ' ' || l[0] == '\t' || (n >= 5 && memcmp(l, "From ", 5) == 0))
                return true;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) l[i];
                if (c == ':')
                        return true;
                if (c < 041 || c > 0176)
                        return false;
        }
        return false;
}

/* Reads headers as Python's email parser does for cloud-init: up to an
 * empty line (dropped), or up to the first line that cannot be a header,
 * which then starts the body (*ret_separated false). Folded lines are
 * joined; "From " lines are ignored. *pos and *line end at the body. */
static int parse_headers(const struct span *s, size_t *pos, size_t *line, struct headers *h, bool *ret_separated) {
        _cleanup_strbuf_ struct strbuf cur = STRBUF_INIT;
        int r;

        *ret_separated = false;
        while (*pos < s->len) {
                size_t start = *pos;
                const char *l;
                size_t n = next_line(s, pos, &l);
                if (!header_like(l, n)) {
                        if (n == 0) { /* the empty line: dropped */
                                *ret_separated = true;
                                (*line)++;
                        } else
                                *pos = start; /* the body's first line */
                        break;
                }
                (*line)++;
                if (l[0] == ' ' || l[0] == '\t') {
                        if (cur.len == 0)
                                continue; /* a continuation of nothing: ignored */
                        if (cur.len + n > HEADER_MAX)
                                return -EBADMSG;
                        r = strbuf_append(&cur, l, n);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (cur.len > 0 && (r = header_set(h, cur.data, cur.len)) < 0)
                        return r;
                cur.len = 0;
                if (n >= 5 && memcmp(l, "From ", 5) == 0)
                        continue;
                if (n > HEADER_MAX || (r = strbuf_append(&cur, l, n)) < 0)
                        return n > HEADER_MAX ? -EBADMSG : r;
        }
        return cur.len > 0 ? header_set(h, cur.data, cur.len) : 0;
}

static char *trimmed_lower(const char *s, size_t n) {
        char *r;

        while (n > 0 && isspace((unsigned char) *s))
                s++, n--;
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        r = strndup(s, n);
        for (char *p = r; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return r;
}

/* "text/plain; charset=x" -> "text/plain". */
static char *value_type(const char *v) {
        return v ? trimmed_lower(v, strcspn(v, ";")) : strdup("");
}

/* A Content-Type's type; one that is not type/subtype is text/plain, as
 * Python's get_content_type() reads it. "" when there is none. */
static char *content_type(const char *v) {
        char *t = value_type(v), *slash = t ? strchr(t, '/') : NULL;

        if (v && t && (!slash || strchr(slash + 1, '/'))) {
                free(t);
                return strdup("text/plain");
        }
        return t;
}

/* The parameter `name` of a header value ("multipart/mixed; boundary="x""), unquoted. */
static char *value_param(const char *v, const char *name) {
        size_t k = strlen(name);

        for (const char *p = v ? strchr(v, ';') : NULL; p; p = strchr(p, ';')) {
                p++;
                while (isspace((unsigned char) *p))
                        p++;
                if (strncasecmp(p, name, k) != 0)
                        continue;
                p += k;
                while (isspace((unsigned char) *p))
                        p++;
                if (*p != '=')
                        continue;
                p++;
                while (isspace((unsigned char) *p))
                        p++;
                if (*p == '"') {
                        const char *end = strchr(p + 1, '"');
                        return end ? strndup(p + 1, (size_t) (end - p - 1)) : NULL;
                }
                return strndup(p, strcspn(p, "; \t\r\n"));
        }
        return NULL;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) toupper((unsigned char) c);
        return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int qp_decode(const char *data, size_t len, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = malloc(len + 1);
        size_t n = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                if (data[i] != '=') {
                        out[n++] = data[i];
                        continue;
                }
                if (i + 1 < len &&
                    (data[i + 1] == '\n' || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n'))) {
                        i += data[i + 1] == '\r' ? 2 : 1; /* soft line break */
                        continue;
                }
                if (i + 2 >= len || hex_value(data[i + 1]) < 0 || hex_value(data[i + 2]) < 0)
                        return -EBADMSG;
                out[n++] = (char) (hex_value(data[i + 1]) * 16 + hex_value(data[i + 2]));
                i += 2;
        }
        out[n] = 0;
        *ret_len = n;
        *ret = TAKE_PTR(out);
        return 0;
}

struct splitter {
        struct mime_message *msg;
        char *error;
};

static int split_entity(struct splitter *sp, const struct span *s, unsigned depth);

static int add_part(struct splitter *sp, struct mime_part *p) {
        struct mime_part *parts;

        if (sp->msg->n_parts >= MIME_MAX_PARTS) {
                free(sp->error);
                sp->error = strdup_printf("more than %d parts", MIME_MAX_PARTS);
                return -EBADMSG;
        }
        parts = realloc(sp->msg->parts, (sp->msg->n_parts + 1) * sizeof(*parts));
        if (!parts)
                return -ENOMEM;
        sp->msg->parts = parts;
        parts[sp->msg->n_parts++] = *p;
        *p = (struct mime_part){};
        return 0;
}

static void part_done(struct mime_part *p) {
        free(p->warning);
        free(p->type);
        free(p->filename);
        free(p->body);
        free(p->error);
        free(p->merge_type);
        free(p->launch_index);
}

/* Undoes the transfer encoding of body into p. */
static int decode_body(struct mime_part *p, const char *encoding, const struct span *body) {
        _cleanup_free_ char *enc = value_type(encoding);
        int r;

        if (!enc)
                return -ENOMEM;
        p->line = body->line;
        if (streq(enc, "base64") || streq(enc, "quoted-printable")) {
                r = streq(enc, "base64") ? base64_decode_python(body->data, body->len, true, &p->body, &p->len)
                                         : qp_decode(body->data, body->len, &p->body, &p->len);
                if (r == -EBADMSG)
                        p->error = strdup_printf("its %s body does not decode", enc);
                return r == -EBADMSG ? (p->error ? 0 : -ENOMEM) : r;
        }
        if (*enc && !streq(enc, "7bit") && !streq(enc, "8bit") && !streq(enc, "binary")) {
                p->error = strdup_printf("unknown Content-Transfer-Encoding '%s'", enc);
                return p->error ? 0 : -ENOMEM;
        }
        p->verbatim = body->verbatim;
        p->body = strndup(body->data, body->len);
        p->len = body->len;
        /* strndup stops at a NUL; keep binary bodies whole. */
        if (p->body && strlen(p->body) != body->len) {
                free(p->body);
                p->body = malloc(body->len + 1);
                if (p->body) {
                        memcpy(p->body, body->data, body->len);
                        p->body[body->len] = 0;
                }
        }
        return p->body ? 0 : -ENOMEM;
}

static bool is_delimiter(const char *l, size_t n, const char *boundary, size_t bn, bool *ret_close) {
        if (n < bn + 2 || l[0] != '-' || l[1] != '-' || memcmp(l + 2, boundary, bn) != 0)
                return false;
        l += bn + 2;
        n -= bn + 2;
        *ret_close = n >= 2 && l[0] == '-' && l[1] == '-';
        if (*ret_close)
                l += 2, n -= 2;
        for (size_t i = 0; i < n; i++)
                if (l[i] != ' ' && l[i] != '\t')
                        return false;
        return true;
}

/* Splits a multipart body on its boundary; each part is split in turn. */
static int split_multipart(struct splitter *sp, const struct span *s, const char *boundary, unsigned depth) {
        size_t bn = strlen(boundary), pos = 0, line = s->line, part_start = 0, part_line = 0;
        bool in_part = false, closed = false;

        while (pos < s->len && !closed) {
                size_t start = pos;
                const char *l;
                size_t n = next_line(s, &pos, &l);
                bool close;
                line++;
                if (!is_delimiter(l, n, boundary, bn, &close))
                        continue;
                if (in_part) {
                        /* The line break before a delimiter belongs to it. */
                        size_t end = start;
                        if (end > part_start && s->data[end - 1] == '\n')
                                end--;
                        if (end > part_start && s->data[end - 1] == '\r')
                                end--;
                        struct span part = {s->data + part_start, end - part_start, part_line, s->verbatim};
                        int r = split_entity(sp, &part, depth + 1);
                        if (r < 0)
                                return r;
                }
                in_part = true;
                closed = close;
                part_start = pos;
                part_line = line;
        }
        if (!in_part) {
                free(sp->error);
                sp->error = strdup_printf("no part starts with the boundary '%s'", boundary);
                return -EBADMSG;
        }
        if (!closed) {
                struct span part = {s->data + part_start, s->len - part_start, part_line, s->verbatim};
                _cleanup_free_ char *w = strdup_printf("the message ends without its closing boundary '--%s--'; "
                                                       "its last part may be cut short",
                                                       boundary);
                if (w)
                        (void) strv_push(&sp->msg->warnings, w);
                if (part.len > 0)
                        return split_entity(sp, &part, depth + 1);
        }
        return 0;
}

/* Headers not followed by an empty line. Python's parser (so cloud-init)
 * starts the body at the first line that cannot be a header: kiln does the
 * same and says so. When every line could be a header ("hostname: x"),
 * the body is empty: an error, not an empty script or config run as if
 * nothing were wrong. */
static int missing_separator(struct mime_part *p, bool has_body, size_t first_line) {
        if (p->error)
                return 0;
        if (!has_body) {
                p->line = first_line; /* the error points at the headers */
                free(p->body);
                p->body = NULL;
                p->len = 0;
                p->error = strdup("no empty line after its headers, and no line that could not be a header: "
                                  "its whole content was read as headers (as cloud-init reads it), so it is empty; "
                                  "put an empty line after the headers");
                return p->error ? 0 : -ENOMEM;
        }
        p->warning = strdup("no empty line after its headers: its body starts at the first line that cannot be "
                            "a header, as cloud-init reads it; put an empty line after the headers");
        return p->warning ? 0 : -ENOMEM;
}

/* One entity: headers, then a body that is either a leaf part or a multipart. */
static int split_entity(struct splitter *sp, const struct span *s, unsigned depth) {
        _cleanup_(headers_done) struct headers h = {};
        _cleanup_free_ char *type = NULL, *boundary = NULL;
        struct mime_part p = {};
        size_t pos = 0, line = s->line;
        bool separated;
        int r;

        if (depth > MIME_MAX_DEPTH) {
                free(sp->error);
                sp->error = strdup_printf("multiparts nested more than %d deep", MIME_MAX_DEPTH);
                return -EBADMSG;
        }
        r = parse_headers(s, &pos, &line, &h, &separated);
        if (r == -EBADMSG) {
                free(sp->error);
                sp->error = strdup("a header longer than 64 KiB");
        }
        if (r < 0)
                return r;
        type = content_type(h.content_type);
        if (!type)
                return -ENOMEM;
        if (strneq(type, "multipart/", 10)) {
                struct span body = {s->data + pos, s->len - pos, line, s->verbatim};
                boundary = value_param(h.content_type, "boundary");
                if (!boundary || !*boundary) {
                        free(sp->error);
                        sp->error = strdup_printf("a %s message without a boundary parameter", type);
                        return -EBADMSG;
                }
                return split_multipart(sp, &body, boundary, depth);
        }
        p.type = TAKE_PTR(type);
        p.filename = value_param(h.disposition, "filename");
        if (!p.filename)
                p.filename = value_param(h.content_type, "name");
        {
                /* Python's value: blanks after the colon dropped; an empty one does not count */
                const char *mt = h.merge_type_named && h.merge_type ? h.merge_type + strspn(h.merge_type, " \t") : NULL;
                if (!mt || !*mt)
                        mt = h.x_merge_type_named && h.x_merge_type ? h.x_merge_type + strspn(h.x_merge_type, " \t")
                                                                    : NULL;
                r = mt && *mt && !(p.merge_type = strdup(mt)) ? -ENOMEM : 0;
        }
        if (r >= 0 && h.launch_index && !(p.launch_index = strdup(h.launch_index)))
                r = -ENOMEM;
        if (r >= 0) {
                struct span body = {s->data + pos, s->len - pos, line, s->verbatim};
                r = decode_body(&p, h.encoding, &body);
        }
        if (r >= 0 && !separated)
                r = missing_separator(&p, pos < s->len, s->line);
        if (r >= 0)
                r = add_part(sp, &p);
        part_done(&p);
        return r;
}

int mime_split(const char *data, size_t len, struct mime_message *ret, char **ret_error) {
        struct mime_message msg = {};
        struct splitter sp = {.msg = &msg};
        struct span all = {data, len, 0, true};
        int r;

        r = split_entity(&sp, &all, 0);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(sp.error);
                free(sp.error);
                mime_message_done(&msg);
                return r;
        }
        free(sp.error);
        *ret = msg;
        return 0;
}

void mime_message_done(struct mime_message *m) {
        for (size_t i = 0; i < m->n_parts; i++)
                part_done(&m->parts[i]);
        free(m->parts);
        strv_free(m->warnings);
        *m = (struct mime_message){};
}
