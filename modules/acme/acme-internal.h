/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "acme/acme.h"
#include "config.h"
#include "http.h"
#include "imds/imds.h"
#include "keys.h"

/* The ACME module's own pieces, shared between its files:
 *   client.c    directory, nonce pool, JWS requests, problems, account
 *   order.c     newOrder, authorizations, http-01, finalize, download
 *   dns01.c     dns-01 through Route 53
 *   cert.c      certificate facts (expiry, issuer, ARI cert ID), TLS probe
 *   ari.c       renewal information and when to renew
 *   store.c     per-site files and state.json
 *   renew.c     one site's check-and-renew, the schedule, failures
 *   commands.c  `kiln certs`, `kiln renew`
 *   deploy.c    handing a new certificate to nginx */

#define ACME_DIR "/var/lib/kiln/acme"
#define ACME_ACCOUNTS_DIR ACME_DIR "/accounts"
#define ACME_LE_PRODUCTION "https://acme-v02.api.letsencrypt.org/directory"
#define ACME_LE_STAGING "https://acme-staging-v02.api.letsencrypt.org/directory"

struct acme_config {
        char *directory; /* URL */
        char *email; /* may be NULL */
        char *ca_file; /* may be NULL */
        enum key_type key_type;
        char *profile; /* may be NULL */
        char *eab_kid; /* both or neither */
        char *eab_hmac_key; /* base64url */
        long renew_before_s; /* 0: the lifetime rules */
        long order_timeout_ms;
        int http_port; /* where the http-01 location answers locally */
        int https_port; /* where nginx serves the sites */
        char *route53_zone_id; /* acme.route53.hosted_zone_id; NULL: found by name */
        char *route53_endpoint; /* acme.route53.endpoint; may be NULL */
        struct imds_options imds; /* for the instance role's credentials (strings point into the config) */
        /* Fleet mode (fleet.c): acme.storage and its settings. */
        char *storage; /* s3://BUCKET/PREFIX, NULL: this instance alone */
        char *storage_region;
        char *storage_endpoint;
        char *storage_kms_key_id;
        long lock_lease_s;
};

enum acme_challenge {
        ACME_CHALLENGE_HTTP01,
        ACME_CHALLENGE_DNS01,
};

struct acme_site {
        char *name;
        char **domains; /* NULL-terminated, at least one */
        enum acme_challenge challenge;
};

int acme_config_parse(const json_t *config, struct acme_config *ret, char **ret_error);
void acme_config_done(struct acme_config *c);
/* The `tls: acme` sites of the config. */
int acme_sites_from_config(const json_t *config, struct acme_site **ret, size_t *ret_n, char **ret_error);
void acme_sites_free(struct acme_site *s, size_t n);

/* How a failed attempt should be retried. */
enum acme_retry {
        ACME_RETRY_BACKOFF, /* validation, network, CA errors: 1 min, 10 min, 100 min, 6 h */
        ACME_RETRY_AFTER, /* the CA said when (rateLimited, 503 with Retry-After) */
};

struct acme_client {
        const struct acme_config *cfg;
        json_t *directory;
        char **nonces;
        struct kiln_key *account_key;
        char *account_path; /* /var/lib/kiln/acme/accounts/<dir> under the root */
        char *kid;
        char *thumbprint;
        bool thumbprint_new; /* not the one published before: nginx's challenge location is stale */
        /* The last failure, for the caller to log and store; how to retry
         * it. Per site: acme_client_begin_site() clears them. */
        char error[512];
        enum acme_retry retry;
        long retry_after_s;
        /* The CA could not be reached (or gave no directory) in this run:
         * every later request fails at once with this error, and each site
         * is retried by its backoff, not by a boot that waits on them all. */
        int down;
        char down_error[512];
        unsigned requests;
        unsigned bad_nonces;
        /* The challenge of the next order (the site's), and dns-01's Route
         * 53 client, made on first need. */
        enum acme_challenge challenge;
        struct dns01 *dns01;
        /* Fleet mode: called before every request to the CA (the lock's
         * lease is extended; a negative return ends the order with it), and
         * with each http-01 answer before the CA is told to validate (and
         * with keyauth NULL once it is done). */
        int (*tick)(void *userdata);
        int (*on_http01)(void *userdata, const char *token, const char *keyauth);
        void *hook_userdata;
};

int acme_client_new(const struct acme_config *cfg, struct acme_client **ret);
void acme_client_free(struct acme_client *c);
DEFINE_POINTER_CLEANUP(struct acme_client, acme_client_free)
/* Forgets the last site's failure (error, Retry-After), not the run's
 * knowledge that the CA is down. */
void acme_client_begin_site(struct acme_client *c);
/* Sets c->error from a printf format; returns r. */
int acme_errorf(struct acme_client *c, int r, const char *fmt, ...) _printf_(3, 4);

/* The directory's path for an account: accounts/<host>_<port>_<path>. */
int acme_account_dir(const char *directory, char **ret);
int acme_load_account_key(struct acme_client *c);
int acme_directory(struct acme_client *c);
const char *acme_directory_url(const struct acme_client *c, const char *name);
/* Registers the account (or finds it); c->kid set after. */
int acme_account(struct acme_client *c);
/* Drops the cached account URL, so the next acme_account() registers. */
int acme_account_forget(struct acme_client *c);
/* A signed POST: payload is a JSON text, "" for POST-as-GET. jwk instead of
 * kid for newAccount. 0 with *ret for a 2xx answer; a CA problem otherwise,
 * described in c->error. badNonce is retried. */
int acme_post(struct acme_client *c, const char *url, const char *payload, bool jwk, const char *accept,
              struct http_response **ret);
int acme_post_json(struct acme_client *c, const char *url, const char *payload, json_t **ret_json, char **ret_location);
/* The http request defaults for the CA. */
void acme_http_defaults(const struct acme_client *c, struct http_request *req);

/* The JWS pieces, exposed for the tests. */
const char *acme_jws_alg(enum key_type t);
int acme_jws(const struct kiln_key *k, const char *protected_json, const char *payload, char **ret);
int acme_eab_jws(const char *kid, const char *hmac_key_b64, const char *url, const json_t *jwk, json_t **ret);

/* dns-01 (dns01.c): base64url(SHA-256(token "." thumbprint)), the TXT
 * value; records collected per order (dns01_begin, dns01_add), published
 * and followed to INSYNC within deadline_ms (CLOCK_MONOTONIC), deleted by
 * dns01_cleanup() whatever happened. Failures are described in c->error. */
struct dns01;
int dns01_txt_value(const char *token, const char *thumbprint, char **ret);
int dns01_new(const struct acme_config *cfg, struct dns01 **ret, char **ret_error);
void dns01_free(struct dns01 *d);
DEFINE_POINTER_CLEANUP(struct dns01, dns01_free)
void dns01_begin(struct dns01 *d);
int dns01_add(struct dns01 *d, const char *domain, const char *value);
int dns01_publish(struct dns01 *d, struct acme_client *c, long deadline_ms);
void dns01_cleanup(struct dns01 *d);
/* The name a site's "challenge" value means; -EINVAL for others. */
int acme_challenge_from_string(const char *s, enum acme_challenge *ret);

/* Issues a certificate for domains with key; *ret is the PEM chain. */
int acme_issue(struct acme_client *c, char *const *domains, const struct kiln_key *key, const char *replaces,
               char **ret);
/* "profile" value for newOrder: cfg's when the directory lists it. */
const char *acme_order_profile(const json_t *directory, const char *profile);

/* Certificate facts. */
struct cert_info {
        time_t not_before;
        time_t not_after;
        char *issuer; /* issuer CN (or the whole DN) */
        char *serial; /* hex */
        char *ari_id; /* RFC 9773 cert ID, NULL without an AKI */
        char **domains; /* SAN DNS names */
};
int cert_info_from_pem(const char *pem, struct cert_info *ret);
void cert_info_done(struct cert_info *i);
/* RFC 9773: base64url(AKI keyIdentifier) "." base64url(DER serial). */
int cert_ari_id_from_der(const unsigned char *aki, size_t aki_len, const unsigned char *serial, size_t serial_len,
                         char **ret);
/* True when a certificate's names are exactly the site's (any order and case). */
bool acme_same_names(char *const *cert, char *const *want);
/* Splits a PEM chain into the first certificate and the rest. */
int cert_split_chain(const char *pem, char **ret_cert, char **ret_chain);
/* 1 when a TLS handshake to 127.0.0.1:port with SNI host shows the leaf of
 * pem, 0 when another certificate is served, negative errno on failure. */
int cert_served(const char *host, int port, const char *pem, long timeout_ms);
int parse_rfc3339(const char *s, time_t *ret);
char *format_time(time_t t);

/* ARI: when to renew. */
struct renewal_window {
        time_t start, end;
        time_t next_fetch; /* from Retry-After */
};
int ari_fetch(struct acme_client *c, const char *cert_id, struct renewal_window *ret);
int ari_parse(const json_t *body, long retry_after_s, time_t now, struct renewal_window *ret);
/* When to renew a certificate of [not_before, not_after]: ARI window when
 * given (a random time in it), else the lifetime rules; renew_before_s
 * overrides those; less than a twentieth left is always now. */
time_t renewal_time(time_t not_before, time_t not_after, const struct renewal_window *ari, long renew_before_s,
                    time_t now, uint32_t rnd);
/* Failure backoff: 1 min, 10 min, 100 min, then 6 h, with jitter. */
long backoff_seconds(unsigned failures, uint32_t rnd);
uint32_t random_u32(void);

/* Site storage under /var/lib/kiln/acme/sites/NAME. */
int store_site_path(const char *site, const char *file, char **ret);
int store_state_load(const char *site, json_t **ret);
int store_state_save(const char *site, const json_t *state);
/* Installs the certificate fullchain and, when not NULL, a new key for it:
 * privkey.pem, cert.pem, chain.pem, fullchain.pem (the ones replaced kept
 * as *.bak), all or none of them as far as the next run sees; removes the
 * placeholder marker. On failure nothing was replaced, or the rest is left
 * to store_recover(). */
int store_install(const char *site, const struct kiln_key *key, const char *fullchain);
/* Finishes an install that a crash interrupted after it was committed, or
 * throws away one interrupted before: 1 when files were moved into place.
 * Called before the site's files are read. */
int store_recover(const char *site);
/* Puts the *.bak files back after a failed deploy. */
int store_rollback(const char *site);
/* Keeps a hard link of path as path.bak (absent is fine). */
int store_backup(const char *path);
int store_lock(int *ret_fd);
int store_prepare(void);
int store_snapshot_config(const json_t *config);
int store_load_snapshot(json_t **ret);

/* Fleet mode, see fleet.c. */
struct acme_fleet;
int acme_fleet_open(struct kiln_context *ctx, const struct acme_config *cfg, struct acme_fleet **ret);
void acme_fleet_free(struct acme_fleet *f);
DEFINE_POINTER_CLEANUP(struct acme_fleet, acme_fleet_free)
/* The last storage failure, one line. */
const char *acme_fleet_error(const struct acme_fleet *f);
const char *acme_fleet_instance(const struct acme_fleet *f);
/* Makes the local account key the fleet's; 1 when it changed. */
int acme_fleet_account(struct acme_fleet *f, const struct acme_config *cfg);
/* 1 with *ret, 0 when there is none (*ret NULL), negative on failure. */
int acme_fleet_meta_get(struct acme_fleet *f, const char *site, json_t **ret);
int acme_fleet_meta_put(struct acme_fleet *f, const char *site, const json_t *meta);
int acme_fleet_cert_get(struct acme_fleet *f, const char *site, char **ret_fullchain, char **ret_key);
/* Stores the site's installed privkey.pem and fullchain. */
int acme_fleet_cert_put(struct acme_fleet *f, const char *site, const char *fullchain, const struct kiln_key *key);
/* Writes (keyauth) or deletes (NULL) challenges/<token>. */
int acme_fleet_challenge(struct acme_fleet *f, const char *token, const char *keyauth);

struct fleet_lock {
        char *key;
        char etag[130];
        char *owner; /* the holder seen last */
        time_t expires;
        time_t extended_at;
        bool held;
        bool lost;
};
enum {
        FLEET_LOCK_HELD, /* by another, lease running */
        FLEET_LOCK_EXPIRED, /* lease over: may be taken over */
        FLEET_LOCK_OURS, /* this instance's (left by a run that died) */
};
/* What a lock object says, at now: FLEET_LOCK_*. A body that is not a
 * kiln lock, or claims more than the longest lease after it was written,
 * lasts one lease from last_modified. */
int fleet_lock_judge(const char *body, size_t len, time_t last_modified, const char *self, time_t now, long lease_s,
                     char **ret_owner, time_t *ret_expires);
/* Takes the site's lock, waiting up to wait_s for the holder (0: one try):
 * 1 taken, -EBUSY held (l->owner, l->expires), negative on failure. */
int acme_fleet_lock(struct acme_fleet *f, const char *site, long wait_s, struct fleet_lock *l);
/* Extends the lease when a third of it has passed (always: now); -ESTALE
 * when another instance has taken it over. */
int acme_fleet_lock_extend(struct acme_fleet *f, struct fleet_lock *l, bool always);
void acme_fleet_unlock(struct acme_fleet *f, struct fleet_lock *l);
void fleet_lock_done(struct fleet_lock *l);
/* 1 when held by another (*ret_owner), 0 when free or expired. */
int acme_fleet_lock_peek(struct acme_fleet *f, const char *site, char **ret_owner, time_t *ret_expires);

/* One site: renew when due (or forced). Returns 1 when a new certificate
 * was installed, 0 when nothing was due, negative on failure (recorded in
 * state.json, and in *ret_error). */
struct acme_run {
        struct kiln_context *ctx;
        const struct acme_config *cfg;
        struct acme_client *client; /* created on first need */
        bool force; /* renew even when not due */
        bool ignore_backoff;
        bool wait_lock; /* fleet: wait for a lock another instance holds */
        time_t now;
        struct acme_fleet *fleet; /* NULL: not in fleet mode, or its storage failed */
        char *fleet_error; /* why the storage cannot be used in this run */
        struct fleet_lock *lock; /* held while ordering */
};
int acme_site_run(struct acme_run *run, const struct acme_site *site, char **ret_error);
/* The earliest next_check of the sites, for the daemon's timer. */
time_t acme_next_check(const struct acme_site *sites, size_t n, time_t now);
/* Runs every due site (or only `only`); records results in ctx. Returns the
 * number of failures. */
int acme_run_sites(struct kiln_context *ctx, const json_t *config, bool force, const char *only, bool ignore_backoff,
                   bool wait_lock);

/* nginx: re-render and reload; 0 when nothing to do (no nginx module). */
int acme_deploy(struct kiln_context *ctx);
