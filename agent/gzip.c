/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

#include "dl.h"
#include "gzip.h"
#include "macro.h"

/* deflateInit2() and inflateInit2() are zlib.h macros around these two,
 * passing the version and stream size the header was compiled with. */
#define LIBZ_FUNCTIONS(X) \
        X(deflateInit2_)  \
        X(deflateBound)   \
        X(deflate)        \
        X(deflateEnd)     \
        X(inflateInit2_)  \
        X(inflate)        \
        X(inflateEnd)

#define LIBZ_POINTER(f) __typeof__(f) *f;
static struct libz { LIBZ_FUNCTIONS(LIBZ_POINTER) } z;
#undef LIBZ_POINTER

#define LIBZ_SYMBOL(f) {#f, offsetof(struct libz, f)},
static const struct dl_symbol symbols[] = {LIBZ_FUNCTIONS(LIBZ_SYMBOL)};
#undef LIBZ_SYMBOL

static void *handle;
static const char *load_error;

static int load(void) {
        if (handle)
                return 0;
        return dl_load("libz.so.1", symbols, ELEMENTSOF(symbols), &z, &handle, &load_error);
}

const char *gzip_error(void) {
        return load_error;
}

bool gzip_looks(const void *data, size_t len) {
        const unsigned char *p = data;
        return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* windowBits 15 + 16: a 32 KiB window, with gzip's header and trailer. */
#define GZIP_WINDOW_BITS (15 + 16)

int gzip_compress(const void *data, size_t len, struct strbuf *ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        z_stream s = {0};
        size_t bound;
        int r;

        r = load();
        if (r < 0)
                return r;
        if (z.deflateInit2_(&s, Z_BEST_SPEED, Z_DEFLATED, GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                            (int) sizeof(s)) != Z_OK)
                return -ENOMEM;
        /* One deflate() call into a buffer of the worst case's size, plus
         * room for strbuf's NUL. */
        bound = z.deflateBound(&s, (uLong) len) + 1;
        b.data = malloc(bound);
        if (b.data) {
                b.cap = bound;
                s.next_in = (Bytef *) data;
                s.avail_in = (uInt) len;
                s.next_out = (Bytef *) b.data;
                s.avail_out = (uInt) (bound - 1);
                r = z.deflate(&s, Z_FINISH) == Z_STREAM_END ? 0 : -EIO;
                b.len = s.total_out;
                b.data[b.len] = 0;
        } else
                r = -ENOMEM;
        z.deflateEnd(&s);
        if (r < 0)
                return r;
        *ret = b;
        b = (struct strbuf) STRBUF_INIT;
        return 0;
}

int gzip_decompress(const void *data, size_t len, size_t max, struct strbuf *ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        z_stream s = {.next_in = (Bytef *) data, .avail_in = (uInt) len};
        char buf[16384];
        int zr = Z_OK, r;

        r = load();
        if (r < 0)
                return r;
        if (z.inflateInit2_(&s, GZIP_WINDOW_BITS, ZLIB_VERSION, (int) sizeof(s)) != Z_OK)
                return -ENOMEM;
        /* Z_BUF_ERROR, input used up before the stream's end, is a
         * truncated stream. */
        while (zr == Z_OK && r >= 0) {
                size_t n;
                s.next_out = (Bytef *) buf;
                s.avail_out = sizeof(buf);
                zr = z.inflate(&s, Z_NO_FLUSH);
                n = sizeof(buf) - s.avail_out;
                if (zr != Z_OK && zr != Z_STREAM_END)
                        r = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
                else if (b.len + n > max)
                        r = -EFBIG;
                else
                        r = strbuf_append(&b, buf, n);
        }
        z.inflateEnd(&s);
        if (r < 0)
                return r;
        *ret = b; /* NUL-terminated by strbuf_append */
        b = (struct strbuf) STRBUF_INIT;
        return 0;
}
