/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gzip.h"
#include "tap.h"

/* `printf 'hello\n' | gzip -n`: what gzip(1) makes must read back. */
static const char hello_gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\xe7"
                               "\x02\x00\x20\x30\x3a\x36\x06\x00\x00\x00";

static bool libz_mapped(void) {
        void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (h)
                dlclose(h);
        return h != NULL;
}

static void test_lazy(void) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

        ok(!libz_mapped(), "libz is not mapped before the first use");
        is_int(gzip_decompress(hello_gz, sizeof(hello_gz) - 1, 100, &out), 0, "gzip(1)'s output inflates");
        ok(libz_mapped(), "and libz is mapped after it");
        is_str(out.data, "hello\n", "to what was gzipped");
        ok(!gzip_error(), "no load error to tell");
}

static void test_round_trip(void) {
        _cleanup_strbuf_ struct strbuf text = STRBUF_INIT, z = STRBUF_INIT, back = STRBUF_INIT, empty = STRBUF_INIT,
                                       empty_back = STRBUF_INIT;

        for (int i = 0; i < 2000; i++)
                strbuf_printf(&text, "line %d of a body that repeats itself\n", i % 7);
        is_int(gzip_compress(text.data, text.len, &z), 0, "compresses");
        ok(z.len > 18 && z.len < text.len / 10, "to a tenth or less (%zu -> %zu bytes)", text.len, z.len);
        ok((unsigned char) z.data[0] == 0x1f && (unsigned char) z.data[1] == 0x8b && z.data[2] == 8,
           "as a gzip member: magic and deflate");
        is_int(gzip_decompress(z.data, z.len, text.len, &back), 0, "inflates with max at its exact size");
        ok(back.len == text.len && memcmp(back.data, text.data, text.len) == 0, "to the same bytes");
        strbuf_done(&back);
        is_int(gzip_decompress(z.data, z.len, text.len - 1, &back), -EFBIG, "one byte over max is -EFBIG");
        ok(!back.data, "and gives nothing back");

        is_int(gzip_compress("", 0, &empty), 0, "an empty input compresses");
        is_int(gzip_decompress(empty.data, empty.len, 10, &empty_back), 0, "and inflates");
        ok(empty_back.data && empty_back.len == 0 && empty_back.data[0] == 0, "to an empty, terminated string");
}

static void test_broken(void) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        char flipped[sizeof(hello_gz)];

        is_int(gzip_decompress(hello_gz, sizeof(hello_gz) - 5, 100, &out), -EBADMSG, "a truncated member");
        is_int(gzip_decompress(hello_gz, 4, 100, &out), -EBADMSG, "a bare header");
        is_int(gzip_decompress("", 0, 100, &out), -EBADMSG, "nothing at all");
        is_int(gzip_decompress("hello\n", 6, 100, &out), -EBADMSG, "text that is not gzip");
        memcpy(flipped, hello_gz, sizeof(flipped));
        flipped[sizeof(hello_gz) - 9] ^= 1; /* a CRC-32 byte */
        is_int(gzip_decompress(flipped, sizeof(hello_gz) - 1, 100, &out), -EBADMSG, "a wrong CRC-32");
        ok(!out.data, "none of them gives anything back");
        ok(gzip_looks(hello_gz, 2) && !gzip_looks(hello_gz, 1) && !gzip_looks("hello\n", 6),
           "gzip_looks() knows the magic bytes, both of them");
}

int main(void) {
        test_lazy();
        test_round_trip();
        test_broken();
        return tap_done();
}
