/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/acme-internal.h"
#include "aws/s3.h"
#include "clock.h"
#include "context.h"
#include "fileio.h"
#include "imds/imds.h"
#include "keys.h"
#include "log.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"

/* Fleet mode: the instances that share `acme.storage: s3://BUCKET/PREFIX`
 * share, under PREFIX/,
 *   account/<directory>/key.pem      the ACME account key (one thumbprint, so
 *                                    nginx's stateless http-01 answer is
 *                                    right on every instance)
 *   sites/<site>/fullchain.pem       the certificate
 *   sites/<site>/privkey.pem         its key
 *   sites/<site>/meta.json           who ordered it, serial, expiry, the ARI
 *                                    window and the failure backoff
 *   locks/<site>.json                {"owner": instance-id, "expires": epoch}
 *   challenges/<token>               http-01 answers while an order runs
 * The lock is created with If-None-Match: *, extended and taken over with
 * If-Match: ETAG, deleted with If-Match: a 412 means another instance won. */

#define META_MAX (64 * 1024)
#define PEM_MAX (1024 * 1024)
#define LOCK_MAX 4096
#define LOCK_LEASE_MAX_S 3600L
/* An owner's clock may be off: a lock that says it lasts longer than the
 * longest lease after it was written lasts one lease. */
#define LOCK_SKEW_S 60L
#define WAIT_POLL_MIN_MS 500L
#define WAIT_POLL_MAX_MS 3000L
#define S3_TIMEOUT_MS 10000L

struct acme_fleet {
        struct s3 s3;
        bool s3_ready;
        struct imds *imds;
        struct aws_creds_provider *creds;
        char *prefix; /* "" or "PREFIX/" */
        char *instance_id;
        long lease_s;
        char error[512];
};

_printf_(3, 4) static int fleet_errorf(struct acme_fleet *f, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(f->error, sizeof(f->error), fmt, ap);
        va_end(ap);
        return r;
}

const char *acme_fleet_error(const struct acme_fleet *f) {
        return f->error;
}

const char *acme_fleet_instance(const struct acme_fleet *f) {
        return f->instance_id;
}

void acme_fleet_free(struct acme_fleet *f) {
        if (!f)
                return;
        if (f->s3_ready)
                s3_done(&f->s3);
        aws_creds_provider_free(f->creds);
        imds_free(f->imds);
        free(f->prefix);
        free(f->instance_id);
        free(f);
}

static char *instance_id(struct kiln_context *ctx, struct imds *imds) {
        char *id = NULL;
        size_t len = 0;

        if (ctx && ctx->facts.instance_id)
                return strdup(ctx->facts.instance_id);
        if (state_read_instance_id(&id) >= 0)
                return id;
        if (imds && imds_get(imds, "meta-data/instance-id", &id, &len) >= 0)
                return id;
        /* Never seen IMDS: a name still tells the instances apart. */
        id = malloc(256);
        if (id && gethostname(id, 255) < 0)
                strcpy(id, "unknown");
        if (id)
                id[255] = 0;
        return id;
}

int acme_fleet_open(struct kiln_context *ctx, const struct acme_config *cfg, struct acme_fleet **ret) {
        _cleanup_(acme_fleet_freep) struct acme_fleet *f = calloc(1, sizeof(*f));
        _cleanup_free_ char *bucket = NULL, *error = NULL, *imds_region = NULL;
        struct imds_options o;
        const char *region;
        size_t len = 0;
        int r;

        *ret = NULL;
        if (!cfg->storage)
                return 0;
        if (!f)
                return -ENOMEM;
        f->lease_s = cfg->lock_lease_s;
        r = s3_url_parse(cfg->storage, &bucket, &f->prefix, &error);
        if (r < 0)
                return fleet_errorf(f, r, "acme.storage: %s", error ? error : strerror(-r)), -EINVAL;
        imds_options_from_config(ctx ? ctx->config : NULL, &o);
        r = aws_creds_provider_new_imds(&o, &f->imds, &f->creds);
        if (r < 0)
                return r;
        region = aws_region(cfg->storage_region, ctx ? ctx->facts.region : NULL);
        if (!region && imds_get(f->imds, "meta-data/placement/region", &imds_region, &len) >= 0)
                region = strstrip(imds_region);
        if (!region || !*region)
                region = "us-east-1";
        r = s3_init(&f->s3, bucket, region, cfg->storage_endpoint, cfg->storage_kms_key_id, f->creds);
        if (r < 0) {
                log_error_errno(r, "acme.storage: cannot use S3 in region '%s' (endpoint %s): %m", region,
                                cfg->storage_endpoint ? cfg->storage_endpoint : "AWS's");
                return r;
        }
        f->s3_ready = true;
        f->s3.client.timeout_ms = S3_TIMEOUT_MS;
        f->instance_id = instance_id(ctx, f->imds);
        if (!f->instance_id)
                return -ENOMEM;
        *ret = TAKE_PTR(f);
        return 0;
}

_printf_(2, 3) static char *object_key(const struct acme_fleet *f, const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL;
        va_list ap;

        va_start(ap, fmt);
        rel = strdup_vprintf(fmt, ap);
        va_end(ap);
        return rel ? strdup_printf("%s%s", f->prefix, rel) : NULL;
}

/* Maps an S3 outcome to a message in f->error. */
static int storage_error(struct acme_fleet *f, int r, const char *what, const char *key, struct aws_result *res) {
        if (res && res->error[0])
                return fleet_errorf(f, r, "storage: %s %s: %s", what, key, res->error);
        return fleet_errorf(f, r, "storage: %s %s: %s", what, key, strerror(-r));
}

static int get_object(struct acme_fleet *f, const char *key, size_t max, struct s3_object *ret) {
        struct aws_result res = {0};
        int r;

        r = s3_get(&f->s3, key, max, ret, &res);
        if (r < 0 && r != -ENOENT)
                storage_error(f, r, "GET", key, &res);
        aws_result_done(&res);
        return r;
}

static int put_object(struct acme_fleet *f, const char *key, const char *data, size_t len, enum s3_put_condition cond,
                      const char *etag, char *ret_etag) {
        struct aws_result res = {0};
        int r;

        r = s3_put(&f->s3, key, data, len, cond, etag, ret_etag, &res);
        if (r < 0 && r != -EEXIST && r != -ESTALE && r != -EAGAIN)
                storage_error(f, r, "PUT", key, &res);
        aws_result_done(&res);
        return r;
}

static int delete_object(struct acme_fleet *f, const char *key, const char *etag) {
        struct aws_result res = {0};
        int r;

        r = s3_delete(&f->s3, key, etag, &res);
        if (r < 0 && r != -ESTALE && r != -ENOENT)
                storage_error(f, r, "DELETE", key, &res);
        aws_result_done(&res);
        return r;
}

/* --- shared account --- */

/* The account key of the CA is the fleet's: the first instance stores
 * its own (If-None-Match: *), the others take the stored one. Afterwards
 * the local account.key is the shared one. 1 when the local key changed. */
int acme_fleet_account(struct acme_fleet *f, const struct acme_config *cfg) {
        _cleanup_free_ char *dir = NULL, *local = NULL, *key = NULL, *pem = NULL, *name = NULL;
        _cleanup_(key_freep) struct kiln_key *k = NULL;
        struct s3_object o = {0};
        int r;

        r = acme_account_dir(cfg->directory, &dir);
        if (r < 0)
                return fleet_errorf(f, r, "Invalid ACME directory URL '%s'", cfg->directory);
        name = strdup(strrchr(dir, '/') + 1);
        local = strdup_printf("%s/account.key", dir);
        key = name ? object_key(f, "account/%s/key.pem", name) : NULL;
        if (!local || !key)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return fleet_errorf(f, r, "Failed to create %s: %s", dir, strerror(-r));
        for (int attempt = 0; attempt < 3; attempt++) {
                r = get_object(f, key, PEM_MAX, &o);
                if (r >= 0) {
                        (void) read_file(local, PEM_MAX, &pem, NULL);
                        if (pem && streq(pem, o.data)) {
                                explicit_bzero(o.data, o.len);
                                s3_object_done(&o);
                                return 0;
                        }
                        r = write_file_atomic(local, o.data, o.len, 0600);
                        explicit_bzero(o.data, o.len);
                        s3_object_done(&o);
                        if (r < 0)
                                return fleet_errorf(f, r, "Failed to write %s: %s", local, strerror(-r));
                        /* The account URL belongs to the key: found again by newAccount. */
                        free(pem);
                        pem = strdup_printf("%s/account.json", dir);
                        if (pem)
                                (void) unlink(pem);
                        log_info("acme: using the fleet's ACME account key from storage.");
                        return 1;
                }
                if (r != -ENOENT)
                        return r;
                /* None yet: ours becomes the fleet's, unless another was faster. */
                r = key_load_or_create(local, KEY_EC_P256, &k);
                if (r < 0)
                        return fleet_errorf(f, r, "Failed to load or create the ACME account key: %s", strerror(-r));
                free(pem);
                pem = NULL;
                r = read_file(local, PEM_MAX, &pem, NULL);
                if (r < 0)
                        return fleet_errorf(f, r, "Failed to read %s: %s", local, strerror(-r));
                r = put_object(f, key, pem, strlen(pem), S3_PUT_IF_ABSENT, NULL, NULL);
                explicit_bzero(pem, strlen(pem));
                if (r >= 0) {
                        log_info("acme: stored this instance's ACME account key for the fleet.");
                        return 0;
                }
                if (r != -EEXIST && r != -EAGAIN)
                        return r;
                key_free(TAKE_PTR(k));
        }
        return fleet_errorf(f, -EAGAIN, "storage: the fleet's account key kept changing");
}

/* --- site meta --- */

int acme_fleet_meta_get(struct acme_fleet *f, const char *site, json_t **ret) {
        _cleanup_free_ char *key = object_key(f, "sites/%s/meta.json", site);
        struct s3_object o = {0};
        json_t *j;
        int r;

        *ret = NULL;
        if (!key)
                return -ENOMEM;
        r = get_object(f, key, META_MAX, &o);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        j = json_loadb(o.data, o.len, 0, NULL);
        s3_object_done(&o);
        if (!json_is_object(j)) {
                json_decref(j);
                log_warning("storage: %s is not a JSON object, ignoring it.", key);
                return 0;
        }
        *ret = j;
        return 1;
}

int acme_fleet_meta_put(struct acme_fleet *f, const char *site, const json_t *meta) {
        _cleanup_free_ char *key = object_key(f, "sites/%s/meta.json", site),
                            *buf = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);

        if (!key || !buf)
                return -ENOMEM;
        return put_object(f, key, buf, strlen(buf), S3_PUT_ALWAYS, NULL, NULL);
}

/* The certificate and key in storage: *ret_fullchain, *ret_key (PEM). */
int acme_fleet_cert_get(struct acme_fleet *f, const char *site, char **ret_fullchain, char **ret_key) {
        _cleanup_free_ char *ck = object_key(f, "sites/%s/fullchain.pem", site),
                            *kk = object_key(f, "sites/%s/privkey.pem", site);
        struct s3_object c = {0}, k = {0};
        int r;

        if (!ck || !kk)
                return -ENOMEM;
        r = get_object(f, ck, PEM_MAX, &c);
        if (r >= 0)
                r = get_object(f, kk, PEM_MAX, &k);
        if (r < 0) {
                if (r == -ENOENT)
                        fleet_errorf(f, r, "storage: the certificate of site '%s' is incomplete", site);
                s3_object_done(&c);
                return r;
        }
        *ret_fullchain = TAKE_PTR(c.data);
        *ret_key = TAKE_PTR(k.data);
        s3_object_done(&c);
        s3_object_done(&k);
        return 0;
}

int acme_fleet_cert_put(struct acme_fleet *f, const char *site, const char *fullchain, const struct kiln_key *key) {
        _cleanup_free_ char *ck = object_key(f, "sites/%s/fullchain.pem", site),
                            *kk = object_key(f, "sites/%s/privkey.pem", site), *path = NULL, *pem = NULL;
        int r;

        if (!ck || !kk || store_site_path(site, "privkey.pem", &path) < 0)
                return -ENOMEM;
        /* The installed key is the certificate's: stored as written (0600). */
        (void) key;
        r = read_file(path, PEM_MAX, &pem, NULL);
        if (r < 0)
                return fleet_errorf(f, r, "Failed to read %s: %s", path, strerror(-r));
        r = put_object(f, kk, pem, strlen(pem), S3_PUT_ALWAYS, NULL, NULL);
        explicit_bzero(pem, strlen(pem));
        if (r >= 0)
                r = put_object(f, ck, fullchain, strlen(fullchain), S3_PUT_ALWAYS, NULL, NULL);
        return r;
}

/* --- http-01 answers --- */

int acme_fleet_challenge(struct acme_fleet *f, const char *token, const char *keyauth) {
        _cleanup_free_ char *key = NULL;

        if (strchr(token, '/') || token[0] == '.')
                return -EINVAL;
        key = object_key(f, "challenges/%s", token);
        if (!key)
                return -ENOMEM;
        if (!keyauth)
                return delete_object(f, key, NULL);
        return put_object(f, key, keyauth, strlen(keyauth), S3_PUT_ALWAYS, NULL, NULL);
}

/* --- the lock --- */

int fleet_lock_judge(const char *body, size_t len, time_t last_modified, const char *self, time_t now, long lease_s,
                     char **ret_owner, time_t *ret_expires) {
        _cleanup_json_ json_t *j = len <= LOCK_MAX ? json_loadb(body, len, 0, NULL) : NULL;
        const char *owner = json_string_value(json_object_get(j, "owner"));
        json_t *e = json_object_get(j, "expires");
        time_t expires;

        /* Unreadable: a lock written by no kiln, taken once a lease after it was written. */
        if (!owner || !json_is_integer(e))
                expires = last_modified > 0 ? last_modified + lease_s : now + lease_s;
        else
                expires = (time_t) json_integer_value(e);
        if (last_modified > 0 && expires > last_modified + LOCK_LEASE_MAX_S + LOCK_SKEW_S)
                expires = last_modified + lease_s;
        if (ret_owner)
                *ret_owner = owner ? strdup(owner) : NULL;
        if (ret_expires)
                *ret_expires = expires;
        if (owner && self && streq(owner, self))
                return FLEET_LOCK_OURS;
        return expires <= now ? FLEET_LOCK_EXPIRED : FLEET_LOCK_HELD;
}

static char *lock_body(const struct acme_fleet *f, time_t expires) {
        _cleanup_json_ json_t *j = json_pack("{s:s, s:I}", "owner", f->instance_id, "expires", (json_int_t) expires);

        return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

void fleet_lock_done(struct fleet_lock *l) {
        free(l->key);
        free(l->owner);
        *l = (struct fleet_lock){0};
}

/* One attempt at the lock: 1 taken, 0 held by l->owner until l->expires,
 * negative on a storage failure. */
static int lock_try(struct acme_fleet *f, struct fleet_lock *l) {
        time_t now = time(NULL);
        _cleanup_free_ char *body = lock_body(f, now + f->lease_s);
        struct s3_object o = {0};
        int r, j;

        if (!body)
                return -ENOMEM;
        r = put_object(f, l->key, body, strlen(body), S3_PUT_IF_ABSENT, NULL, l->etag);
        if (r >= 0)
                goto taken;
        if (r != -EEXIST && r != -EAGAIN)
                return r;
        r = get_object(f, l->key, LOCK_MAX, &o);
        if (r == -ENOENT)
                return 0; /* released meanwhile: the caller tries again */
        if (r == -EFBIG) {
                o.data = strdup("");
                o.len = 0;
                o.last_modified = 0;
                o.etag[0] = 0;
        } else if (r < 0)
                return r;
        free(l->owner);
        l->owner = NULL;
        j = fleet_lock_judge(o.data ?: "", o.len, o.last_modified, f->instance_id, now, f->lease_s, &l->owner,
                             &l->expires);
        if (j == FLEET_LOCK_HELD || !o.etag[0]) {
                s3_object_done(&o);
                return 0;
        }
        if (j == FLEET_LOCK_EXPIRED)
                log_info("acme: the fleet lock %s of %s expired, taking it over.", l->key, l->owner ?: "?");
        r = put_object(f, l->key, body, strlen(body), S3_PUT_IF_MATCH, o.etag, l->etag);
        s3_object_done(&o);
        if (r == -ESTALE || r == -ENOENT || r == -EAGAIN || r == -EEXIST)
                return 0; /* someone else won */
        if (r < 0)
                return r;
taken:
        l->held = true;
        l->extended_at = now;
        l->expires = now + f->lease_s;
        free(l->owner);
        l->owner = strdup(f->instance_id);
        return 1;
}

static long jitter_ms(long lo, long hi) {
        return lo + (long) (random_u32() % (uint32_t) (hi - lo + 1));
}

int acme_fleet_lock(struct acme_fleet *f, const char *site, long wait_s, struct fleet_lock *l) {
        long deadline = now_ms() + wait_s * 1000L;
        bool said = false;
        int r;

        *l = (struct fleet_lock){0};
        l->key = object_key(f, "locks/%s.json", site);
        if (!l->key)
                return -ENOMEM;
        /* Bounded in time, and in count: every round sleeps at least 0.5 s. */
        for (unsigned i = 0; i < 100000; i++) {
                long delay;
                r = lock_try(f, l);
                if (r != 0)
                        return r;
                if (now_ms() >= deadline)
                        return -EBUSY;
                if (!said && l->owner) {
                        log_info("acme: site '%s' is being renewed by %s; waiting (lease until %lld).", site, l->owner,
                                 (long long) l->expires);
                        said = true;
                }
                delay = jitter_ms(WAIT_POLL_MIN_MS, WAIT_POLL_MAX_MS);
                if (now_ms() + delay > deadline)
                        delay = deadline - now_ms() > 0 ? deadline - now_ms() : 0;
                kiln_keepalive();
                sleep_ms(delay);
        }
        return -EBUSY;
}

int acme_fleet_lock_peek(struct acme_fleet *f, const char *site, char **ret_owner, time_t *ret_expires) {
        _cleanup_free_ char *key = object_key(f, "locks/%s.json", site);
        struct s3_object o = {0};
        int r;

        *ret_owner = NULL;
        if (!key)
                return -ENOMEM;
        r = get_object(f, key, LOCK_MAX, &o);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = fleet_lock_judge(o.data, o.len, o.last_modified, NULL, time(NULL), f->lease_s, ret_owner, ret_expires);
        s3_object_done(&o);
        return r == FLEET_LOCK_HELD ? 1 : 0;
}

int acme_fleet_lock_extend(struct acme_fleet *f, struct fleet_lock *l, bool always) {
        time_t now = time(NULL);
        _cleanup_free_ char *body = NULL;
        char etag[sizeof(l->etag)];
        int r;

        if (!l->held)
                return l->lost ? -ESTALE : 0;
        if (!always && now < l->extended_at + f->lease_s / 3)
                return 0;
        body = lock_body(f, now + f->lease_s);
        if (!body)
                return -ENOMEM;
        r = put_object(f, l->key, body, strlen(body), S3_PUT_IF_MATCH, l->etag, etag);
        if (r == -ESTALE || r == -ENOENT || r == -EEXIST) {
                l->held = false;
                l->lost = true;
                return fleet_errorf(f, -ESTALE, "storage: another instance took the fleet lock %s over", l->key);
        }
        if (r < 0) {
                /* Storage away for a moment: the lease may still hold. */
                if (now < l->expires - 1)
                        return 0;
                l->held = false;
                l->lost = true;
                return r;
        }
        memcpy(l->etag, etag, sizeof(etag));
        l->extended_at = now;
        l->expires = now + f->lease_s;
        return 0;
}

void acme_fleet_unlock(struct acme_fleet *f, struct fleet_lock *l) {
        int r;

        if (l->held) {
                r = delete_object(f, l->key, l->etag);
                if (r < 0 && r != -ESTALE && r != -ENOENT)
                        log_warning("%s; the lock lapses after its lease.", f->error);
        }
        fleet_lock_done(l);
}
