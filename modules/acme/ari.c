/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "acme/acme-internal.h"
#include "strbuf.h"

/* When to renew: RFC 9773 renewal information when the CA offers it, the
 * certificate's lifetime otherwise; and how long to wait after a failure. */

#define ARI_DEFAULT_POLL_S (6 * 3600L)
#define ARI_MIN_POLL_S 60L
#define ARI_MAX_POLL_S (24 * 3600L)

uint32_t random_u32(void) {
        uint32_t r = 0;

        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint32_t) rand();
        return r;
}

int ari_parse(const json_t *body, long retry_after_s, time_t now, struct renewal_window *ret) {
        json_t *w = json_object_get(body, "suggestedWindow");
        struct renewal_window rw;

        if (parse_rfc3339(json_string_value(json_object_get(w, "start")), &rw.start) < 0 ||
            parse_rfc3339(json_string_value(json_object_get(w, "end")), &rw.end) < 0 || rw.end < rw.start)
                return -EBADMSG;
        if (retry_after_s <= 0)
                retry_after_s = ARI_DEFAULT_POLL_S;
        if (retry_after_s < ARI_MIN_POLL_S)
                retry_after_s = ARI_MIN_POLL_S;
        if (retry_after_s > ARI_MAX_POLL_S)
                retry_after_s = ARI_MAX_POLL_S;
        rw.next_fetch = now + retry_after_s;
        *ret = rw;
        return 0;
}

int ari_fetch(struct acme_client *c, const char *cert_id, struct renewal_window *ret) {
        _cleanup_http_response_ struct http_response *resp = NULL;
        _cleanup_free_ char *url = NULL;
        _cleanup_json_ json_t *body = NULL;
        char err[HTTP_ERROR_MAX] = "";
        struct http_request req = {.error = err};
        const char *base;
        int r;

        r = acme_directory(c);
        if (r < 0)
                return r;
        base = acme_directory_url(c, "renewalInfo");
        if (!base)
                return -EOPNOTSUPP;
        url = strdup_printf("%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", cert_id);
        if (!url)
                return -ENOMEM;
        req.url = url;
        acme_http_defaults(c, &req);
        r = http_request(&req, &resp);
        if (r < 0)
                return acme_errorf(c, r, "ACME renewalInfo %s: %s", url, err[0] ? err : strerror(-r));
        if (resp->status != 200)
                return acme_errorf(c, -EPROTO, "ACME renewalInfo %s: HTTP %ld", url, resp->status);
        body = json_loadb(resp->body, resp->body_len, 0, NULL);
        r = ari_parse(body, resp->retry_after_ms / 1000, time(NULL), ret);
        if (r < 0)
                return acme_errorf(c, r, "ACME renewalInfo %s: no valid suggestedWindow", url);
        return 0;
}

time_t renewal_time(time_t not_before, time_t not_after, const struct renewal_window *ari, long renew_before_s,
                    time_t now, uint32_t rnd) {
        time_t lifetime = not_after > not_before ? not_after - not_before : 0;
        time_t at;

        /* Whatever else says, less than a twentieth left is now. */
        if (not_after - now < lifetime / 20)
                return now;
        if (ari && ari->end > 0) {
                if (ari->end <= now)
                        return now;
                at = ari->start + (time_t) (rnd % (uint64_t) (ari->end - ari->start + 1));
                return at < now ? now : at;
        }
        if (renew_before_s > 0)
                at = not_after - renew_before_s;
        else
                at = not_after - (lifetime <= 10 * 86400 ? lifetime / 2 : lifetime / 3);
        return at < now ? now : at;
}

long backoff_seconds(unsigned failures, uint32_t rnd) {
        static const long steps[] = {60, 600, 6000, 6 * 3600};
        long base = steps[failures == 0 ? 0 : (failures > ELEMENTSOF(steps) ? ELEMENTSOF(steps) : failures) - 1];

        /* Jitter of 0..+20%, so instances launched together spread out. */
        return base + (long) (rnd % (uint32_t) (base / 5 + 1));
}
