/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "strbuf.h"
#include "userdata/userdata.h"

#define GZIP_MAX_OUTPUT USERDATA_MAX_SIZE

static bool is_gzip(const char *data, size_t len) {
        return len >= 2 && (unsigned char) data[0] == 0x1f && (unsigned char) data[1] == 0x8b;
}

static int gunzip(const char *data, size_t len, char **ret, size_t *ret_len) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        z_stream z = {0};
        char buf[16384];
        int zr;

        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
                return -ENOMEM;
        z.next_in = (Bytef *) data;
        z.avail_in = (uInt) len;
        do {
                z.next_out = (Bytef *) buf;
                z.avail_out = sizeof(buf);
                zr = inflate(&z, Z_NO_FLUSH);
                if (zr != Z_OK && zr != Z_STREAM_END) {
                        inflateEnd(&z);
                        return -EBADMSG;
                }
                if (strbuf_append(&out, buf, sizeof(buf) - z.avail_out) < 0 || out.len > GZIP_MAX_OUTPUT) {
                        inflateEnd(&z);
                        return out.len > GZIP_MAX_OUTPUT ? -EFBIG : -ENOMEM;
                }
        } while (zr != Z_STREAM_END && (z.avail_in > 0 || z.avail_out == 0));
        inflateEnd(&z);
        if (zr != Z_STREAM_END)
                return -EBADMSG;
        *ret_len = out.len;
        *ret = strbuf_steal(&out);
        return *ret ? 0 : -ENOMEM;
}

static char *describe_start(const char *data, size_t len) {
        struct strbuf b = STRBUF_INIT;

        for (size_t i = 0; i < len && i < 8; i++)
                (void) strbuf_printf(&b, "%s%02x", i ? " " : "", (unsigned char) data[i]);
        return strbuf_steal(&b);
}

static int decode_text(struct kiln_context *ctx, const char *data, size_t len, char **ret_error) {
        if (len >= 2 && data[0] == '#' && data[1] == '!')
                return context_add_part(ctx, "text/x-shellscript", "user-data", data, len, FREQ_INSTANCE);
        {
                _cleanup_free_ char *start = describe_start(data, len);
                *ret_error = strdup_printf("user-data is not a script (#!), a config or a MIME message "
                                           "(it starts with bytes %s)",
                                           start ? start : "?");
        }
        return -EBADMSG;
}

int userdata_decode(struct kiln_context *ctx, const char *data, size_t len, char **ret_error) {
        _cleanup_free_ char *plain = NULL;
        size_t plain_len;
        int r;

        if (is_gzip(data, len)) {
                r = gunzip(data, len, &plain, &plain_len);
                if (r < 0) {
                        *ret_error = strdup_printf("user-data looks gzip-compressed but does not inflate: %s",
                                                   r == -EFBIG ? "larger than 16 MiB uncompressed" : "corrupt stream");
                        return r;
                }
                data = plain;
                len = plain_len;
        }
        return decode_text(ctx, data, len, ret_error);
}
