/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cloudwatch/logs.h"

bool logs_batch_add(struct logs_batch_acc *acc, int64_t ts_ms, size_t msg_len) {
        size_t bytes = msg_len + LOGS_EVENT_OVERHEAD;
        int64_t oldest = acc->events == 0 || ts_ms < acc->oldest ? ts_ms : acc->oldest;
        int64_t newest = acc->events == 0 || ts_ms > acc->newest ? ts_ms : acc->newest;

        if (acc->events >= LOGS_BATCH_MAX_EVENTS || acc->bytes + bytes > LOGS_BATCH_MAX_BYTES)
                return false;
        /* "A batch of log events in a single request cannot span more than
         * 24 hours": the newest minus the oldest stays below that. */
        if (acc->events > 0 && newest - oldest >= LOGS_BATCH_MAX_SPAN_MS)
                return false;
        acc->events++;
        acc->bytes += bytes;
        acc->oldest = oldest;
        acc->newest = newest;
        return true;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 when
 * none: overlong forms, surrogates and code points past U+10FFFF are not. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
        unsigned c = s[0];
        size_t len;
        unsigned cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return len;
}

int logs_utf8_clean(const char *s, size_t len, char **ret, size_t *ret_len) {
        const unsigned char *u = (const unsigned char *) s;
        size_t bad = 0, i = 0, k;
        char *out, *p;

        while (i < len) {
                k = utf8_seq(u + i, len - i);
                if (k == 0) {
                        bad++;
                        k = 1;
                }
                i += k;
        }
        out = malloc(len + bad * 2 + 1);
        if (!out)
                return -ENOMEM;
        if (bad == 0)
                memcpy(out, s, len), p = out + len;
        else
                for (i = 0, p = out; i < len; i += k) {
                        k = utf8_seq(u + i, len - i);
                        if (k == 0) {
                                memcpy(p, "\xef\xbf\xbd", 3);
                                p += 3;
                                k = 1;
                        } else {
                                memcpy(p, s + i, k);
                                p += k;
                        }
                }
        *p = 0;
        *ret = out;
        *ret_len = (size_t) (p - out);
        return 0;
}

size_t logs_utf8_prefix(const char *s, size_t len, size_t max) {
        if (len <= max)
                return len;
        /* Back off continuation bytes to the start of the character cut. */
        while (max > 0 && ((unsigned char) s[max] & 0xc0) == 0x80)
                max--;
        return max;
}

static int event_cmp(const void *x, const void *y) {
        const struct logs_event *a = x, *b = y;

        if (a->ts_ms != b->ts_ms)
                return a->ts_ms < b->ts_ms ? -1 : 1;
        /* Stable: the events are in spool order, their messages in one buffer. */
        return a->message < b->message ? -1 : a->message > b->message;
}

void logs_events_sort(struct logs_event *ev, size_t n) {
        for (size_t i = 1; i < n; i++)
                if (ev[i].ts_ms < ev[i - 1].ts_ms) {
                        qsort(ev, n, sizeof(*ev), event_cmp);
                        return;
                }
}

int logs_json_string(struct strbuf *out, const char *s, size_t len) {
        static const char hex[] = "0123456789abcdef";
        size_t start = 0;
        int r = strbuf_append(out, "\"", 1);

        for (size_t i = 0; r >= 0 && i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[7] = "\\u00";
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                r = strbuf_append(out, s + start, i - start);
                start = i + 1;
                if (r < 0)
                        break;
                if (c == '"' || c == '\\')
                        esc[1] = (char) c, esc[2] = 0;
                else if (c == '\n')
                        memcpy(esc, "\\n", 3);
                else if (c == '\t')
                        memcpy(esc, "\\t", 3);
                else if (c == '\r')
                        memcpy(esc, "\\r", 3);
                else
                        esc[4] = hex[c >> 4], esc[5] = hex[c & 15], esc[6] = 0;
                r = strbuf_puts(out, esc);
        }
        if (r >= 0)
                r = strbuf_append(out, s + start, len - start);
        return r < 0 ? r : strbuf_append(out, "\"", 1);
}

int logs_encode_put(const char *group, const char *stream, const struct logs_event *ev, size_t n, struct strbuf *out) {
        int r = strbuf_puts(out, "{\"logGroupName\":");

        r = r < 0 ? r : logs_json_string(out, group, strlen(group));
        r = r < 0 ? r : strbuf_puts(out, ",\"logStreamName\":");
        r = r < 0 ? r : logs_json_string(out, stream, strlen(stream));
        r = r < 0 ? r : strbuf_puts(out, ",\"logEvents\":[");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = strbuf_printf(out, "%s{\"timestamp\":%lld,\"message\":", i ? "," : "", (long long) ev[i].ts_ms);
                r = r < 0 ? r : logs_json_string(out, ev[i].message, ev[i].len);
                r = r < 0 ? r : strbuf_append(out, "}", 1);
        }
        return r < 0 ? r : strbuf_puts(out, "]}");
}

bool logs_retention_valid(long days) {
        static const long valid[] = {1,   3,   5,   7,   14,   30,   60,   90,   120,  150,  180,
                                     365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653};

        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                if (valid[i] == days)
                        return true;
        return false;
}

char *logs_stream_part(const char *path) {
        char *out, *p;

        while (*path == '/')
                path++;
        out = strdup(*path ? path : "-");
        if (!out)
                return NULL;
        /* ':' and '*' are not allowed in stream names. */
        for (p = out; *p; p++)
                if (*p == '/' || *p == ':' || *p == '*')
                        *p = '-';
        return out;
}
