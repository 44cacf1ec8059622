/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "strbuf.h"
#include "tap.h"

static void test_append(void) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;

        for (int i = 0; i < 1000; i++)
                strbuf_printf(&b, "%d,", i);
        ok(b.len == 3890, "printf appends grow the buffer (len %zu)", b.len);
        ok(b.data[b.len] == 0, "buffer stays NUL-terminated");
        ok(strncmp(b.data, "0,1,2,", 6) == 0, "content kept in order");
}

static void test_utf8(void) {
        static const struct {
                const char *in, *out, *what;
        } cases[] = {
                {"plain", "plain", "ASCII is kept"},
                {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
                 "valid 2-, 3- and 4-byte sequences are kept"},
                {"caf\xe9!", "caf\xef\xbf\xbd!", "a Latin-1 byte is replaced"},
                {"\x82\xac tail", "\xef\xbf\xbd\xef\xbf\xbd tail", "a tail cut inside a character"},
                {"end \xe2\x82", "end \xef\xbf\xbd\xef\xbf\xbd", "a sequence cut at the end"},
                {"\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd", "an overlong form"},
                {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "a surrogate"},
                {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "past U+10FFFF"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *s = utf8_escape_invalid(cases[i].in);
                ok(s && strcmp(s, cases[i].out) == 0, "utf8_escape_invalid: %s", cases[i].what);
                free(s);
        }
}

static void test_steal(void) {
        struct strbuf b = STRBUF_INIT;
        char *s = strbuf_steal(&b);

        ok(s && *s == 0, "stealing an empty buffer gives an empty string");
        ok(b.data == NULL && b.len == 0, "buffer is empty after steal");
        free(s);
}

static void test_numbers(void) {
        int i = 7;
        long l;
        unsigned long long u;

        is_int(safe_atoi("42", &i), 0, "safe_atoi parses 42");
        is_int(i, 42, "value is 42");
        is_int(safe_atoi("42x", &i), -EINVAL, "trailing junk is rejected");
        is_int(safe_atoi("", &i), -EINVAL, "empty string is rejected");
        is_int(safe_atoi(" 1", &i), -EINVAL, "leading space is rejected");
        is_int(safe_atoi("99999999999", &i), -ERANGE, "int overflow is -ERANGE");
        is_int(safe_atol("-5", &l), 0, "negative long parses");
        is_int(l, -5, "value is -5");
        is_int(safe_atou64("-1", &u), -EINVAL, "unsigned rejects a sign");
        is_int(safe_atou64("18446744073709551616", &u), -ERANGE, "u64 overflow is -ERANGE");
}

static void test_strv(void) {
        _cleanup_strv_free_ char **l = NULL;
        char s[] = "  padded \t\n";

        strv_push(&l, "a");
        strv_push(&l, "b");
        is_int(strv_length(l), 2, "strv has two entries");
        is_str(l[1], "b", "second entry is b");
        is_str(strstrip(s), "padded", "strstrip trims both ends");

        _cleanup_strv_free_ char **u = NULL;
        for (const char *const *p = (const char *const[]){"b", "a", "b", "c", "a", NULL}; *p; p++)
                strv_push(&u, *p);
        is_int(strv_sort_uniq(u), 3, "strv_sort_uniq keeps each string once");
        ok(streq(u[0], "a") && streq(u[1], "b") && streq(u[2], "c") && !u[3], "... sorted, NULL-terminated");
        is_int(strv_sort_uniq(NULL), 0, "... and takes an empty list");
}

int main(void) {
        test_append();
        test_steal();
        test_utf8();
        test_numbers();
        test_strv();
        return tap_done();
}
