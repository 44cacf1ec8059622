/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* A growable byte buffer, always NUL-terminated after data[len]. */
struct strbuf {
        char *data;
        size_t len;
        size_t cap;
        bool secret; /* holds a secret: no copy is left behind when it grows, wiped when done */
};

#define STRBUF_INIT \
        { NULL, 0, 0, false }

int strbuf_append(struct strbuf *b, const void *data, size_t len);
int strbuf_puts(struct strbuf *b, const char *s);
int strbuf_printf(struct strbuf *b, const char *fmt, ...) _printf_(2, 3);
/* Hands the buffer to the caller; b is left empty. Never NULL on success. */
char *strbuf_steal(struct strbuf *b);
void strbuf_done(struct strbuf *b);

static inline void strbuf_donep(struct strbuf *b) {
        strbuf_done(b);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_donep)

/* String helpers used across modules. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
char *strdup_vprintf(const char *fmt, va_list ap) _printf_(1, 0);
/* A copy of s with every byte that is not part of valid UTF-8 replaced by
 * U+FFFD (jansson takes nothing else); NULL on ENOMEM. */
char *utf8_escape_invalid(const char *s);
int safe_atoi(const char *s, int *ret);
int safe_atol(const char *s, long *ret);
int safe_atou64(const char *s, unsigned long long *ret);
char *strstrip(char *s);
int strv_push(char ***l, const char *s);
size_t strv_length(char *const *l);
/* qsort() and bsearch() order of two char *: strcmp(). */
int strv_cmp(const void *a, const void *b);
/* Sorts l and frees repeated strings; its new length. */
size_t strv_sort_uniq(char **l);
