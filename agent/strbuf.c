/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static int strbuf_reserve(struct strbuf *b, size_t extra) {
        size_t need, cap;
        char *p;

        if (extra > SIZE_MAX - b->len - 1)
                return -ENOMEM;
        need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (b->secret) {
                /* Not realloc(): it would free the old copy as it is. */
                p = malloc(cap);
                if (!p)
                        return -ENOMEM;
                if (b->data)
                        memcpy(p, b->data, b->len + 1);
                erase_and_free(b->data);
        } else {
                p = realloc(b->data, cap);
                if (!p)
                        return -ENOMEM;
        }
        b->data = p;
        b->cap = cap;
        return 0;
}

int strbuf_append(struct strbuf *b, const void *data, size_t len) {
        int r = strbuf_reserve(b, len);
        if (r < 0)
                return r;
        if (len > 0)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = 0;
        return 0;
}

int strbuf_puts(struct strbuf *b, const char *s) {
        return strbuf_append(b, s, strlen(s));
}

int strbuf_printf(struct strbuf *b, const char *fmt, ...) {
        va_list ap, aq;
        int n, r;

        va_start(ap, fmt);
        va_copy(aq, ap);
        n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0) {
                va_end(ap);
                return -EINVAL;
        }
        r = strbuf_reserve(b, (size_t) n);
        if (r < 0) {
                va_end(ap);
                return r;
        }
        vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
        return 0;
}

char *strbuf_steal(struct strbuf *b) {
        if (!b->data) {
                if (strbuf_reserve(b, 0) < 0)
                        return NULL;
                b->data[0] = 0;
        }
        b->len = b->cap = 0;
        return TAKE_PTR(b->data);
}

void strbuf_done(struct strbuf *b) {
        if (b->secret)
                erase_and_free(b->data);
        else
                free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *s) {
        unsigned char lo = 0x80, hi = 0xBF;
        size_t n;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                n = 2;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF)
                n = 3;
        else if (s[0] >= 0xF0 && s[0] <= 0xF4)
                n = 4;
        else
                return 0;
        if (s[0] == 0xE0)
                lo = 0xA0;
        else if (s[0] == 0xED)
                hi = 0x9F;
        else if (s[0] == 0xF0)
                lo = 0x90;
        else if (s[0] == 0xF4)
                hi = 0x8F;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return n;
}

char *utf8_escape_invalid(const char *s) {
        struct strbuf b = STRBUF_INIT;
        const unsigned char *p = (const unsigned char *) s;
        int r = 0;

        while (r >= 0 && *p) {
                size_t n = utf8_sequence(p);
                r = n ? strbuf_append(&b, p, n) : strbuf_puts(&b, "\xEF\xBF\xBD");
                p += n ? n : 1;
        }
        if (r < 0) {
                strbuf_done(&b);
                return NULL;
        }
        return strbuf_steal(&b);
}

char *strdup_vprintf(const char *fmt, va_list ap) {
        char *s = NULL;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
        return s;
}

char *strdup_printf(const char *fmt, ...) {
        char *s;
        va_list ap;

        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        return s;
}

int safe_atol(const char *s, long *ret) {
        char *end = NULL;
        long v;

        if (!s || !*s || isspace((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s || *end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        long v;
        int r = safe_atol(s, &v);
        if (r < 0)
                return r;
        if (v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

int safe_atou64(const char *s, unsigned long long *ret) {
        char *end = NULL;
        unsigned long long v;

        if (!s || !*s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || *end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

char *strstrip(char *s) {
        size_t n;

        while (isspace((unsigned char) *s))
                s++;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        while (l && l[n])
                n++;
        return n;
}

int strv_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

size_t strv_sort_uniq(char **l) {
        size_t n = strv_length(l), k = 0;

        if (n == 0)
                return 0;
        qsort(l, n, sizeof(char *), strv_cmp);
        for (size_t i = 1; i < n; i++)
                if (streq(l[i], l[k]))
                        free(l[i]);
                else
                        l[++k] = l[i];
        l[++k] = NULL;
        return k;
}

int strv_push(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char **nl;
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        nl = realloc(*l, (n + 2) * sizeof(char *));
        if (!nl) {
                free(copy);
                return -ENOMEM;
        }
        nl[n] = copy;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

void strv_free(char **l) {
        for (char **p = l; p && *p; p++)
                free(*p);
        free(l);
}
