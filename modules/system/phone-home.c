/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "http.h"
#include "log.h"
#include "module.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* phone_home as cloud-init's cc_phone_home does it, once per instance and
 * last of all (a final module there): a POST to url ($INSTANCE_ID and
 * ${INSTANCE_ID} replaced) of the fields in post ("all": pub_key_rsa,
 * pub_key_ecdsa, pub_key_ed25519, instance_id, hostname, fqdn), form-encoded
 * as Python's requests encodes a dict (quote_plus), in that order; a field
 * with no value is "N/A" (a missing host key file too). hostname and fqdn
 * are the datasource's (IMDS local-hostname), not the configured ones, as
 * there. tries (default 10; not a number: 10) attempts, 3 s apart; a
 * status of 400 or more is a failure. */

static const char *const all_fields[] = {"pub_key_rsa", "pub_key_ecdsa", "pub_key_ed25519",
                                         "instance_id", "hostname",      "fqdn"};

/* quote_plus(): RFC 3986 unreserved kept, space as '+', the rest %XX. */
static int form_append(struct strbuf *out, const char *key, const char *value) {
        _cleanup_free_ char *k = http_urlencode(key), *v = http_urlencode(value);
        int r;

        if (!k || !v)
                return -ENOMEM;
        r = strbuf_printf(out, "%s%s=", out->len ? "&" : "", k);
        for (const char *p = v; r >= 0 && *p; p++)
                if (strneq(p, "%20", 3)) {
                        r = strbuf_printf(out, "+");
                        p += 2;
                } else
                        r = strbuf_printf(out, "%c", *p);
        return r < 0 ? -ENOMEM : 0;
}

/* The datasource's hostname (fqdn false) or fqdn, from local-hostname. */
static char *ds_hostname(const char *lhost, bool fqdn) {
        char host[256] = "";
        const char *src = lhost;
        _cleanup_free_ char *ip = NULL;
        struct in_addr a;
        const char *dot;

        if (!src || !*src) {
                if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
                        snprintf(host, sizeof(host), "localhost");
                src = host;
        } else if (inet_pton(AF_INET, src, &a) == 1) {
                ip = strdup_printf("ip-%s", src);
                for (char *p = ip; p && *p; p++)
                        if (*p == '.')
                                *p = '-';
                return ip ? strdup(ip) : NULL;
        }
        dot = strchr(src, '.');
        if (!dot)
                return strdup(src);
        if (fqdn && !streq(dot + 1, "localdomain"))
                return strdup(src);
        return strndup(src, (size_t) (dot - src));
}

static int phone_home_boot(struct kiln_context *ctx) {
        const json_t *ph = json_object_get(ctx->config, "phone_home"), *post, *tries_v, *item;
        _cleanup_json_ json_t *values = json_object(), *params = NULL, *fields = NULL;
        _cleanup_strbuf_ struct strbuf form = STRBUF_INIT;
        _cleanup_free_ char *url = NULL, *err = NULL, *hostname = NULL, *fqdn = NULL;
        const char *url_tpl;
        long tries = 10;
        size_t i;
        int r;

        if (!ph)
                return 0;
        url_tpl = json_string_value(json_object_get(ph, "url"));
        if (!url_tpl)
                return kiln_degrade(ctx, "phone_home: no url, skipped (as cloud-init skips it)");
        r = state_should_run(ctx, FREQ_INSTANCE, "phone_home");
        if (r < 0)
                return kiln_fail(ctx, r, "Not doing phone_home: %s", strerror(-r));
        if (r == 0)
                return 0;
        /* int(tries): an integer, a float truncated, a string of digits */
        tries_v = json_object_get(ph, "tries");
        if (json_is_integer(tries_v))
                tries = (long) json_integer_value(tries_v);
        else if (json_is_real(tries_v))
                tries = (long) json_real_value(tries_v);
        else if (json_is_boolean(tries_v))
                tries = json_is_true(tries_v);
        else if (json_is_string(tries_v)) {
                char *end;
                long v = strtol(json_string_value(tries_v), &end, 10);
                if (end != json_string_value(tries_v) && *strstrip(end) == 0)
                        tries = v;
        }
        if (tries < 1)
                tries = 1;
        if (tries > 100)
                tries = 100;

        hostname = ds_hostname(ctx->facts.local_hostname, false);
        fqdn = ds_hostname(ctx->facts.local_hostname, true);
        if (!values || !hostname || !fqdn ||
            json_object_set_new(values, "instance_id", json_string(ctx->facts.instance_id ?: "")) < 0 ||
            json_object_set_new(values, "hostname", json_string(hostname)) < 0 ||
            json_object_set_new(values, "fqdn", json_string(fqdn)) < 0)
                return -ENOMEM;
        for (i = 0; i < 3; i++) {
                static const char *const types[] = {"rsa", "ecdsa", "ed25519"};
                _cleanup_free_ char *path = NULL, *text = NULL, *name = strdup_printf("pub_key_%s", types[i]);
                size_t len;
                if (!name || root_path(&path, "/etc/ssh/ssh_host_%s_key.pub", types[i]) < 0)
                        return -ENOMEM;
                if (read_file(path, 1u << 20, &text, &len) >= 0 &&
                    json_object_set_new(values, name, json_stringn(text, len)) < 0)
                        return -ENOMEM;
        }
        post = json_object_get(ph, "post");
        if (!post || (json_is_string(post) && streq(json_string_value(post), "all"))) {
                fields = json_array();
                for (i = 0; fields && i < ELEMENTSOF(all_fields); i++)
                        if (json_array_append_new(fields, json_string(all_fields[i])) < 0)
                                return -ENOMEM;
        } else if (json_is_array(post))
                fields = json_incref((json_t *) post);
        else
                return kiln_degrade(ctx, "phone_home: post must be \"all\" or a list");
        if (!fields)
                return -ENOMEM;
        json_array_foreach(fields, i, item) {
                const char *k = json_string_value(item), *v;
                if (!k)
                        return kiln_degrade(ctx, "phone_home: post[%zu] is not a string", i);
                v = json_string_value(json_object_get(values, k));
                if (!v)
                        log_warning("phone_home: '%s' is not available, posting N/A.", k);
                if (form_append(&form, k, v ? v : "N/A") < 0)
                        return -ENOMEM;
        }
        params = json_pack("{s:s}", "INSTANCE_ID", ctx->facts.instance_id ?: "");
        if (!params)
                return -ENOMEM;
        r = system_apt_render(url_tpl, params, &url, &err);
        if (r == -EINVAL)
                return kiln_degrade(ctx, "phone_home: url: %s", err);
        if (r < 0)
                return r;
        for (long attempt = 1; attempt <= tries; attempt++) {
                static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
                _cleanup_http_response_ struct http_response *resp = NULL;
                char error[HTTP_ERROR_MAX] = "";
                r = http_request(&(struct http_request){.method = "POST",
                                                        .url = url,
                                                        .headers = headers,
                                                        .body = form.data ? form.data : "",
                                                        .body_len = form.len,
                                                        .timeout_ms = 30000,
                                                        .error = error},
                                 &resp);
                if (r >= 0 && resp->status < 400) {
                        kiln_record(ctx, json_pack("{s:s, s:s, s:I}", "name", "phone_home", "result", "ok", "attempts",
                                                   (json_int_t) attempt));
                        log_info("phone_home: posted to %s.", url);
                        r = state_mark_done(ctx, FREQ_INSTANCE, "phone_home");
                        return r < 0 ? kiln_fail(ctx, r, "Failed to record that phone_home ran: %s", strerror(-r)) : 0;
                }
                log_warning("phone_home: attempt %ld of %ld to %s failed: %s", attempt, tries, url,
                            r < 0 ? (*error ? error : strerror(-r)) : "HTTP error status");
                if (r >= 0)
                        log_debug("phone_home: status %ld", resp->status);
                if (attempt < tries) {
                        kiln_keepalive();
                        nanosleep(&(struct timespec){3, 0}, NULL);
                }
        }
        kiln_record(ctx, json_pack("{s:s, s:s}", "name", "phone_home", "result", "failed"));
        return kiln_degrade(ctx, "phone_home: failed to post to %s in %ld tries", url, tries);
}

static const struct config_key phone_home_keys[] = {
        {"phone_home", CONFIG_MAP, "cloud-init's phone_home: POST the instance's facts when the boot is done."},
        {"phone_home.url", CONFIG_STRING, "Where to POST ($INSTANCE_ID replaced)."},
        {"phone_home.post", CONFIG_ANY,
         "\"all\" (default) or a list of pub_key_rsa, pub_key_ecdsa, "
         "pub_key_ed25519, instance_id, hostname, fqdn."},
        {"phone_home.tries", CONFIG_ANY, "Attempts, 3 s apart (default 10)."},
        {},
};

const struct kiln_module phone_home_module = {
        .name = "phone_home",
        .stage = STAGE_APPLY,
        .boot = phone_home_boot,
        .config_keys = phone_home_keys,
};
