/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "acme/acme-internal.h"
#include "fileio.h"
#include "log.h"
#include "strbuf.h"

/* One site's life: is a certificate due (none yet, the renewal time has
 * come, the names changed)? Then order one, install it atomically, have
 * nginx serve it and check that it does. A failure leaves what is served
 * alone and sets the next try by the backoff schedule. */

#define MIN_RETRY_S 60L
#define SERVED_CHECK_TIMEOUT_MS 3000L

static time_t state_time(const json_t *state, const char *key) {
        return (time_t) json_integer_value(json_object_get(state, key));
}

static void state_set_time(json_t *state, const char *key, time_t t) {
        json_object_set_new(state, key, json_integer((json_int_t) t));
}

static int domains_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

bool acme_same_names(char *const *cert, char *const *want) {
        size_t n = strv_length(cert), m = strv_length(want);
        _cleanup_free_ char **a = NULL, **b = NULL;

        if (n != m)
                return false;
        a = calloc(n + 1, sizeof(char *));
        b = calloc(n + 1, sizeof(char *));
        if (!a || !b)
                return true;
        memcpy(a, cert, n * sizeof(char *));
        memcpy(b, want, n * sizeof(char *));
        qsort(a, n, sizeof(char *), domains_cmp);
        qsort(b, n, sizeof(char *), domains_cmp);
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(a[i], b[i]) != 0)
                        return false;
        return true;
}

static int client_get(struct acme_run *run) {
        if (run->client)
                return 0;
        return acme_client_new(run->cfg, &run->client);
}

/* Updates the stored ARI window when it is time to ask again; keeps the
 * random pick inside a window that did not change. */
static void ari_refresh(struct acme_run *run, json_t *state, const struct cert_info *ci) {
        json_t *ari = json_object_get(state, "ari");
        struct renewal_window w;
        int r;

        if (!ci->ari_id || (ari && state_time(ari, "next_fetch") > run->now))
                return;
        if (client_get(run) < 0 || acme_directory(run->client) < 0 || !acme_directory_url(run->client, "renewalInfo"))
                return;
        r = ari_fetch(run->client, ci->ari_id, &w);
        if (r < 0) {
                log_warning("%s, using the certificate's lifetime, ignoring.", run->client->error);
                return;
        }
        if (!ari || state_time(ari, "start") != w.start || state_time(ari, "end") != w.end) {
                ari = json_object();
                json_object_set_new(state, "ari", ari);
                state_set_time(ari, "start", w.start);
                state_set_time(ari, "end", w.end);
                state_set_time(ari, "renew_at",
                               renewal_time(ci->not_before, ci->not_after, &w, 0, run->now, random_u32()));
        }
        state_set_time(ari, "next_fetch", w.next_fetch);
}

static time_t renew_at(struct acme_run *run, json_t *state, const struct cert_info *ci) {
        json_t *ari = json_object_get(state, "ari");
        struct renewal_window w = {0};

        ari_refresh(run, state, ci);
        ari = json_object_get(state, "ari");
        if (ari && json_object_get(ari, "renew_at")) {
                time_t at = state_time(ari, "renew_at");
                /* The lifetime floor still applies: less than 1/20 left is now. */
                w.start = w.end = at;
                return renewal_time(ci->not_before, ci->not_after, &w, 0, run->now, 0);
        }
        return renewal_time(ci->not_before, ci->not_after, NULL, run->cfg->renew_before_s, run->now, 0);
}

static time_t next_wakeup(json_t *state, time_t at) {
        json_t *ari = json_object_get(state, "ari");

        if (ari && state_time(ari, "next_fetch") > 0 && state_time(ari, "next_fetch") < at)
                return state_time(ari, "next_fetch");
        return at;
}

static int load_current(const char *site, struct cert_info *ret) {
        _cleanup_free_ char *path = NULL, *pem = NULL;
        int r;

        r = acme_site_has_real_certificate(site);
        if (r <= 0)
                return r;
        if (store_site_path(site, "fullchain.pem", &path) < 0)
                return -ENOMEM;
        r = read_file(path, 1024 * 1024, &pem, NULL);
        if (r >= 0)
                r = cert_info_from_pem(pem, ret);
        return r < 0 ? r : 1;
}

static int record_failure(struct acme_run *run, const char *site, json_t *state, int r, const char *msg,
                          char **ret_error) {
        unsigned failures = (unsigned) json_integer_value(json_object_get(state, "failures")) + 1;
        long wait;

        if (run->client && run->client->retry == ACME_RETRY_AFTER)
                wait = run->client->retry_after_s > MIN_RETRY_S ? run->client->retry_after_s : MIN_RETRY_S;
        else
                wait = backoff_seconds(failures, random_u32());
        json_object_set_new(state, "failures", json_integer(failures));
        json_object_set_new(state, "last_error", json_string(msg));
        state_set_time(state, "last_error_at", run->now);
        state_set_time(state, "next_check", run->now + wait);
        if (store_state_save(site, state) < 0)
                log_warning("Failed to save the ACME state of site '%s', ignoring.", site);
        *ret_error = strdup(msg);
        return r < 0 ? r : -EIO;
}

static int site_key(struct acme_run *run, const char *site, struct kiln_key **ret, bool *ret_new) {
        _cleanup_free_ char *path = NULL;
        struct kiln_key *k = NULL;
        int r;

        if (store_site_path(site, "privkey.pem", &path) < 0)
                return -ENOMEM;
        r = key_load(path, &k);
        if (r >= 0 && key_get_type(k) == run->cfg->key_type) {
                *ret = k;
                *ret_new = false;
                return 0;
        }
        key_free(k);
        /* A new key of the configured type; written only once the
         * certificate for it is here. */
        r = key_generate(run->cfg->key_type, ret);
        *ret_new = true;
        return r;
}

/* A name to ask for in SNI: the first that is not a wildcard, else one
 * under the wildcard ("*.example.com" -> "kiln-check.example.com"). */
static char *sni_name(const struct acme_site *site) {
        for (char **d = site->domains; *d; d++)
                if (!strneq(*d, "*.", 2))
                        return strdup(*d);
        return strdup_printf("kiln-check%s", site->domains[0] + 1);
}

/* nginx reload, then a TLS look at what 127.0.0.1 serves for the site. */
static int deploy_and_check(struct acme_run *run, const struct acme_site *site, const char *pem, json_t *state,
                            char **ret_error) {
        _cleanup_free_ char *sni = NULL;
        int r;

        r = acme_deploy(run->ctx);
        if (r < 0) {
                log_error_errno(r, "nginx refused the new certificate of site '%s', putting the previous back: %m",
                                site->name);
                (void) store_rollback(site->name);
                (void) acme_deploy(run->ctx);
                return record_failure(run, site->name, state, r, "nginx did not accept the new certificate", ret_error);
        }
        sni = sni_name(site);
        if (!sni)
                return -ENOMEM;
        r = cert_served(sni, run->cfg->https_port, pem, SERVED_CHECK_TIMEOUT_MS);
        json_object_set_new(state, "served", r < 0 ? json_null() : json_boolean(r > 0));
        if (r == 0)
                log_warning("127.0.0.1:%d does not serve the new certificate of '%s' yet.", run->cfg->https_port, sni);
        else if (r < 0)
                log_debug_errno(r, "Could not check the certificate served on 127.0.0.1:%d: %m", run->cfg->https_port);
        return 0;
}

static void record_success(struct acme_run *run, json_t *state, const struct cert_info *ci) {
        json_object_set_new(state, "failures", json_integer(0));
        json_object_set_new(state, "last_error", json_null());
        json_object_del(state, "ari");
        state_set_time(state, "issued_at", run->now);
        state_set_time(state, "not_before", ci->not_before);
        state_set_time(state, "not_after", ci->not_after);
        json_object_set_new(state, "issuer", json_string(ci->issuer));
        json_object_set_new(state, "serial", json_string(ci->serial));
        state_set_time(state, "next_check",
                       next_wakeup(state, renewal_time(ci->not_before, ci->not_after, NULL, run->cfg->renew_before_s,
                                                       run->now, 0)));
}

/* --- fleet mode --- */

static const char *const shared_keys[] = {"serial",        "not_before", "not_after", "issuer",
                                          "issued_at",     "ordered_by", "failures",  "last_error",
                                          "last_error_at", "next_check", "ari"};

/* meta.json into storage, signed with who wrote it and when. */
static int fleet_meta_put(struct acme_run *run, const struct acme_site *site, json_t *meta) {
        int r;

        json_object_set_new(meta, "updated_by", json_string(acme_fleet_instance(run->fleet)));
        state_set_time(meta, "updated_at", run->now);
        r = acme_fleet_meta_put(run->fleet, site->name, meta);
        if (r < 0)
                log_warning("%s", acme_fleet_error(run->fleet));
        return r;
}

/* The shared meta.json: the certificate stored, who ordered it, and the
 * failure backoff of the fleet, from this instance's state. */
static int fleet_meta_write(struct acme_run *run, const struct acme_site *site, const json_t *state) {
        _cleanup_json_ json_t *meta = json_object(), *names = json_array();

        if (!meta || !names)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(shared_keys); i++) {
                json_t *v = json_object_get(state, shared_keys[i]);
                if (v)
                        json_object_set(meta, shared_keys[i], v);
        }
        for (char *const *d = site->domains; *d; d++)
                json_array_append_new(names, json_string(*d));
        json_object_set(meta, "domains", names);
        return fleet_meta_put(run, site, meta);
}

/* After a failed order: the fleet's backoff, the stored certificate kept. */
static int fleet_meta_write_failure(struct acme_run *run, const struct acme_site *site, const json_t *state,
                                    const json_t *old) {
        _cleanup_json_ json_t *meta = old ? json_deep_copy(old) : json_object();
        static const char *const keys[] = {"failures", "last_error", "last_error_at", "next_check"};

        if (!meta)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                json_object_set(meta, keys[i], json_object_get(state, keys[i]) ?: json_null());
        return fleet_meta_put(run, site, meta);
}

/* After an order: the certificate and key, then meta.json, into storage. */
static void fleet_publish(struct acme_run *run, const struct acme_site *site, json_t *state, const char *pem) {
        int r;

        json_object_set_new(state, "ordered_by", json_string(acme_fleet_instance(run->fleet)));
        json_object_set_new(state, "shared", json_true());
        r = acme_fleet_cert_put(run->fleet, site->name, pem, NULL);
        if (r >= 0)
                r = fleet_meta_write(run, site, state);
        if (r < 0) {
                log_warning("Site '%s': the new certificate could not be stored for the fleet: %s", site->name,
                            acme_fleet_error(run->fleet));
                json_object_set_new(state, "shared", json_false());
                json_object_set_new(state, "storage_error", json_string(acme_fleet_error(run->fleet)));
        } else
                log_info("Site '%s': the new certificate is stored for the fleet.", site->name);
}

static int fleet_storage_failure(struct acme_run *run, const struct acme_site *site, json_t *state, int r,
                                 char **ret_error) {
        const char *msg = run->fleet ? acme_fleet_error(run->fleet) : "storage: not available";

        json_object_set_new(state, "storage_error", json_string(msg));
        log_warning("Site '%s': %s; the local certificate keeps serving.", site->name, msg);
        return record_failure(run, site->name, state, r, msg, ret_error);
}

/* The fleet's backoff is this instance's: a fleet never bursts orders. */
static void fleet_adopt(json_t *state, const json_t *meta) {
        json_int_t failures = json_integer_value(json_object_get(meta, "failures"));

        json_object_del(state, "storage_error");
        if (!meta)
                return;
        json_object_set_new(state, "failures", json_integer(failures));
        json_object_set(state, "last_error", json_object_get(meta, "last_error") ?: json_null());
        if (failures > 0 && state_time(meta, "next_check") > state_time(state, "next_check"))
                state_set_time(state, "next_check", state_time(meta, "next_check"));
        if (json_object_get(meta, "ordered_by"))
                json_object_set(state, "ordered_by", json_object_get(meta, "ordered_by"));
}

static int write_key_pem(const char *site, const char *pem, struct kiln_key **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (store_site_path(site, "shared-key.pem", &path) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, pem, strlen(pem), 0600);
        if (r >= 0)
                r = key_load(path, ret);
        (void) unlink(path);
        return r;
}

/* Installs the fleet's certificate when it is valid, for the site's names,
 * and newer than the local one: 1 installed, 0 not, negative on failure
 * (recorded). */
static int fleet_install(struct acme_run *run, const struct acme_site *site, json_t *state, const json_t *meta,
                         char **ret_error) {
        _cleanup_free_ char *pem = NULL, *key_pem = NULL, *until = NULL;
        _cleanup_(key_freep) struct kiln_key *key = NULL;
        const char *serial = json_string_value(json_object_get(meta, "serial"));
        struct cert_info local = {0}, ci = {0};
        int r;

        if (!serial || state_time(meta, "not_after") <= run->now)
                return 0;
        r = load_current(site->name, &local);
        if (r > 0) {
                bool same = streq(local.serial ?: "", serial) || local.not_after >= state_time(meta, "not_after");
                bool names = acme_same_names(local.domains, site->domains);
                cert_info_done(&local);
                if (same && names)
                        return 0;
        }
        r = acme_fleet_cert_get(run->fleet, site->name, &pem, &key_pem);
        if (r < 0)
                return fleet_storage_failure(run, site, state, r, ret_error);
        r = cert_info_from_pem(pem, &ci);
        if (r < 0 || ci.not_after <= run->now || !acme_same_names(ci.domains, site->domains)) {
                log_info("Site '%s': the fleet's certificate is not for its names now (or not valid), not "
                         "installing it.",
                         site->name);
                explicit_bzero(key_pem, strlen(key_pem));
                cert_info_done(&ci);
                return 0;
        }
        r = write_key_pem(site->name, key_pem, &key);
        explicit_bzero(key_pem, strlen(key_pem));
        if (r >= 0)
                r = store_install(site->name, key, pem);
        if (r < 0) {
                cert_info_done(&ci);
                return record_failure(run, site->name, state, r, "Failed to install the fleet's certificate",
                                      ret_error);
        }
        record_success(run, state, &ci);
        json_object_set_new(state, "shared", json_true());
        json_object_set(state, "ordered_by", json_object_get(meta, "ordered_by") ?: json_null());
        if (json_object_get(meta, "ari"))
                json_object_set(state, "ari", json_object_get(meta, "ari"));
        until = format_time(ci.not_after);
        log_info("Site '%s': installed the fleet's certificate (serial %s, ordered by %s), valid until %s.", site->name,
                 ci.serial, json_string_value(json_object_get(meta, "ordered_by")) ?: "?", until ? until : "?");
        cert_info_done(&ci);
        r = deploy_and_check(run, site, pem, state, ret_error);
        if (r < 0)
                return r;
        return 1;
}

static int fleet_tick(void *userdata) {
        struct acme_run *run = userdata;

        if (!run->lock)
                return 0;
        return acme_fleet_lock_extend(run->fleet, run->lock, false);
}

static int fleet_challenge(void *userdata, const char *token, const char *keyauth) {
        struct acme_run *run = userdata;
        int r = acme_fleet_challenge(run->fleet, token, keyauth);

        /* The answer is nginx's own (TOKEN.THUMBPRINT of the shared account):
         * the stored copy is for anything else that answers. */
        if (r < 0)
                log_warning("%s, ignoring.", acme_fleet_error(run->fleet));
        return 0;
}

static int issue(struct acme_run *run, const struct acme_site *site, json_t *state, const char *replaces,
                 char **ret_error);
static int due(struct acme_run *run, const struct acme_site *site, json_t *state, char **ret_replaces);

static int fleet_site_run(struct acme_run *run, const struct acme_site *site, json_t *state, char **ret_error) {
        _cleanup_json_ json_t *meta = NULL;
        _cleanup_free_ char *replaces = NULL, *seen = NULL;
        struct fleet_lock lock = {0};
        long wait_s = run->wait_lock ? run->cfg->lock_lease_s + run->cfg->order_timeout_ms / 1000 + 10 : 0;
        int r, installed;

        if (!run->fleet) {
                json_object_set_new(state, "storage_error", json_string(run->fleet_error));
                return record_failure(run, site->name, state, -EIO, run->fleet_error, ret_error);
        }
        json_object_set_new(state, "shared", json_false());
        r = acme_fleet_meta_get(run->fleet, site->name, &meta);
        if (r < 0)
                return fleet_storage_failure(run, site, state, r, ret_error);
        fleet_adopt(state, meta);
        installed = fleet_install(run, site, state, meta, ret_error);
        if (installed < 0)
                return installed;
        if (meta && installed == 0) {
                struct cert_info ci = {0};
                if (load_current(site->name, &ci) > 0 &&
                    streq(ci.serial ?: "", json_string_value(json_object_get(meta, "serial")) ?: ""))
                        json_object_set_new(state, "shared", json_true());
                cert_info_done(&ci);
        }
        seen = strdup(json_string_value(json_object_get(meta, "serial")) ?: "");
        if (!seen)
                return -ENOMEM;
        r = due(run, site, state, &replaces);
        if (r == 0 || (installed > 0 && !run->force)) {
                if (store_state_save(site->name, state) < 0)
                        log_warning("Failed to save the ACME state of site '%s', ignoring.", site->name);
                return installed;
        }
        r = acme_fleet_lock(run->fleet, site->name, wait_s, &lock);
        if (r == -EBUSY) {
                /* Another instance orders: its certificate is installed at the next check. */
                log_info("Site '%s': %s holds the fleet lock, checking again later.", site->name,
                         lock.owner ?: "another instance");
                json_object_set_new(state, "lock_holder", json_string(lock.owner ?: "?"));
                state_set_time(state, "next_check", run->now + run->cfg->lock_lease_s / 3 + (long) (random_u32() % 10));
                fleet_lock_done(&lock);
                if (store_state_save(site->name, state) < 0)
                        log_warning("Failed to save the ACME state of site '%s', ignoring.", site->name);
                return installed;
        }
        if (r < 0) {
                fleet_lock_done(&lock);
                return fleet_storage_failure(run, site, state, r, ret_error);
        }
        json_object_del(state, "lock_holder");
        /* Someone may have renewed while this instance looked or waited. */
        json_decref(TAKE_PTR(meta));
        r = acme_fleet_meta_get(run->fleet, site->name, &meta);
        if (r < 0) {
                r = fleet_storage_failure(run, site, state, r, ret_error);
                acme_fleet_unlock(run->fleet, &lock);
                return r;
        }
        if (!streq(seen, json_string_value(json_object_get(meta, "serial")) ?: "")) {
                log_info("Site '%s': another instance renewed it meanwhile, installing its certificate.", site->name);
                /* The lock is not needed to install: released first, so that a
                 * fleet's waiters do not install (and reload nginx) one by one. */
                acme_fleet_unlock(run->fleet, &lock);
                fleet_adopt(state, meta);
                r = fleet_install(run, site, state, meta, ret_error);
                if (r >= 0 && store_state_save(site->name, state) < 0)
                        log_warning("Failed to save the ACME state of site '%s', ignoring.", site->name);
                return r;
        }
        fleet_adopt(state, meta);
        if (!run->ignore_backoff && !run->force && json_integer_value(json_object_get(meta, "failures")) > 0 &&
            state_time(meta, "next_check") > run->now) {
                acme_fleet_unlock(run->fleet, &lock);
                if (store_state_save(site->name, state) < 0)
                        log_warning("Failed to save the ACME state of site '%s', ignoring.", site->name);
                return installed;
        }
        if (replaces && (client_get(run) < 0 || acme_directory(run->client) < 0 ||
                         !acme_directory_url(run->client, "renewalInfo"))) {
                free(replaces);
                replaces = NULL;
        }
        run->lock = &lock;
        r = issue(run, site, state, replaces, ret_error);
        run->lock = NULL;
        if (r < 0 && !lock.lost) {
                /* The fleet backs off with this instance. */
                json_object_set_new(state, "ordered_by", json_null());
                (void) fleet_meta_write_failure(run, site, state, meta);
        }
        acme_fleet_unlock(run->fleet, &lock);
        return r;
}

/* nginx answers http-01 with the thumbprint it was rendered with; a new
 * account key (the accounts directory lost, or made here first) needs it
 * rendered again before the CA looks. */
static void challenge_ready(struct acme_run *run) {
        int r;

        if (acme_load_account_key(run->client) < 0 || !run->client->thumbprint_new)
                return;
        r = acme_deploy(run->ctx);
        if (r < 0)
                log_warning_errno(r, "Failed to give nginx the new ACME account's thumbprint, ignoring: %m");
        run->client->thumbprint_new = false;
}

static int issue(struct acme_run *run, const struct acme_site *site, json_t *state, const char *replaces,
                 char **ret_error) {
        _cleanup_(key_freep) struct kiln_key *key = NULL;
        _cleanup_free_ char *pem = NULL;
        _cleanup_free_ char *until = NULL;
        struct cert_info ci = {0};
        bool key_new = false;
        int r;

        r = client_get(run);
        if (r >= 0)
                r = site_key(run, site->name, &key, &key_new);
        if (r < 0)
                return record_failure(run, site->name, state, r, "Failed to prepare the certificate key", ret_error);
        challenge_ready(run);
        run->client->challenge = site->challenge;
        log_info("Requesting a certificate for site '%s' from %s%s.", site->name, run->cfg->directory,
                 site->challenge == ACME_CHALLENGE_DNS01 ? " (dns-01)" : "");
        r = acme_issue(run->client, site->domains, key, replaces, &pem);
        if (r >= 0 && (r = cert_info_from_pem(pem, &ci)) < 0)
                acme_errorf(run->client, r, "The CA sent a certificate kiln cannot read");
        if (r < 0)
                return record_failure(run, site->name, state, r, run->client->error, ret_error);
        /* On failure, nothing was replaced, or the next run finishes it. */
        r = store_install(site->name, key_new ? key : NULL, pem);
        if (r < 0) {
                cert_info_done(&ci);
                return record_failure(run, site->name, state, r, "Failed to write the new certificate", ret_error);
        }
        record_success(run, state, &ci);
        if (run->fleet)
                fleet_publish(run, site, state, pem);
        until = format_time(ci.not_after);
        log_info("Site '%s' has a new certificate from '%s', valid until %s.", site->name, ci.issuer,
                 until ? until : "?");
        cert_info_done(&ci);
        r = deploy_and_check(run, site, pem, state, ret_error);
        if (r < 0)
                return r;
        if (store_state_save(site->name, state) < 0)
                log_warning("Failed to save the ACME state of site '%s', ignoring.", site->name);
        return 1;
}

/* Decides whether the site needs a certificate now. *ret_replaces is the
 * ARI cert ID of the certificate being renewed. */
static int due(struct acme_run *run, const struct acme_site *site, json_t *state, char **ret_replaces) {
        struct cert_info ci = {0};
        time_t at, next = state_time(state, "next_check");
        bool backoff_ok =
                run->ignore_backoff || next <= run->now || json_integer_value(json_object_get(state, "failures")) == 0;
        int r;

        r = load_current(site->name, &ci);
        if (r < 0)
                log_warning_errno(r, "Cannot read the certificate of site '%s', ordering a new one: %m", site->name);
        if (r <= 0)
                return run->force || run->ignore_backoff || next <= run->now;
        at = renew_at(run, state, &ci);
        state_set_time(state, "not_after", ci.not_after);
        if (!json_object_get(state, "issuer"))
                json_object_set_new(state, "issuer", json_string(ci.issuer));
        if (!acme_same_names(ci.domains, site->domains)) {
                log_info("Site '%s' has new names, ordering a certificate for them.", site->name);
                at = run->now;
        }
        if (!(run->force || (at <= run->now && backoff_ok))) {
                if (json_integer_value(json_object_get(state, "failures")) == 0 || next < run->now)
                        state_set_time(state, "next_check", next_wakeup(state, at));
                cert_info_done(&ci);
                return 0;
        }
        *ret_replaces = TAKE_PTR(ci.ari_id);
        cert_info_done(&ci);
        return 1;
}

int acme_site_run(struct acme_run *run, const struct acme_site *site, char **ret_error) {
        _cleanup_json_ json_t *state = NULL;
        _cleanup_free_ char *replaces = NULL;
        int r;

        r = store_state_load(site->name, &state);
        if (r < 0)
                return r;
        /* One client serves every site of the run: what the CA said about
         * the last site (its Retry-After) is not this one's. */
        if (run->client)
                acme_client_begin_site(run->client);
        if (run->cfg->storage)
                return fleet_site_run(run, site, state, ret_error);
        r = due(run, site, state, &replaces);
        if (r == 0) {
                if (store_state_save(site->name, state) < 0)
                        log_warning("Failed to save the ACME state of site '%s', ignoring.", site->name);
                return 0;
        }
        /* `replaces` only where the CA speaks ARI. */
        if (replaces && (client_get(run) < 0 || acme_directory(run->client) < 0 ||
                         !acme_directory_url(run->client, "renewalInfo"))) {
                free(replaces);
                replaces = NULL;
        }
        return issue(run, site, state, replaces, ret_error);
}

time_t acme_next_check(const struct acme_site *sites, size_t n, time_t now) {
        time_t next = 0;

        for (size_t i = 0; i < n; i++) {
                _cleanup_json_ json_t *state = NULL;
                time_t t;
                if (store_state_load(sites[i].name, &state) < 0)
                        return now;
                t = state_time(state, "next_check");
                if (t <= 0)
                        t = now;
                if (next == 0 || t < next)
                        next = t;
        }
        return next;
}

/* Fleet mode: storage opened, the account made the fleet's (nginx given
 * its thumbprint when it changed), the hooks set. A failure here is every
 * site's (run->fleet stays NULL): nothing is ordered without the storage. */
static void fleet_begin(struct acme_run *run, struct acme_fleet **fleet) {
        int r;

        r = acme_fleet_open(run->ctx, run->cfg, fleet);
        if (r < 0) {
                run->fleet_error = strdup_printf("storage: cannot use %s: %s", run->cfg->storage,
                                                 *fleet ? acme_fleet_error(*fleet) : strerror(-r));
                return;
        }
        r = acme_fleet_account(*fleet, run->cfg);
        if (r < 0) {
                run->fleet_error = strdup(acme_fleet_error(*fleet));
                log_warning("acme: %s; no certificate is ordered until the storage answers.", run->fleet_error);
                return;
        }
        r = client_get(run);
        if (r < 0) {
                run->fleet_error = strdup("Out of memory");
                return;
        }
        challenge_ready(run);
        run->client->tick = fleet_tick;
        run->client->on_http01 = fleet_challenge;
        run->client->hook_userdata = run;
        run->fleet = *fleet;
}

static json_t *site_item(const struct acme_site *site, int r, const char *error) {
        const char *result = r > 0 ? "issued" : r == 0 ? "unchanged" : "failed";
        json_t *item = json_pack("{s:s, s:s, s:s}", "module", "acme", "site", site->name, "result", result);

        if (item && error)
                json_object_set_new(item, "error", json_string(error));
        return item;
}

static int run_one(struct acme_run *run, const struct acme_site *site) {
        _cleanup_free_ char *fullchain = NULL, *key = NULL, *error = NULL;
        int r;

        r = acme_site_certificate(run->ctx, site->name, site->domains, &fullchain, &key);
        if (r < 0)
                return kiln_fail(run->ctx, r, "acme: failed to set up the placeholder of site '%s': %s", site->name,
                                 strerror(-r));
        run->now = time(NULL);
        r = acme_site_run(run, site, &error);
        kiln_record(run->ctx, site_item(site, r, error));
        if (r < 0)
                (void) kiln_degrade(run->ctx, "acme: no new certificate for site '%s': %s", site->name,
                                    error ? error : strerror(-r));
        return r;
}

int acme_run_sites(struct kiln_context *ctx, const json_t *config, bool force, const char *only, bool ignore_backoff,
                   bool wait_lock) {
        _cleanup_(acme_fleet_freep) struct acme_fleet *fleet = NULL;
        _cleanup_(acme_client_freep) struct acme_client *client = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int lock = -1;
        struct acme_config cfg = {0};
        struct acme_site *sites = NULL;
        size_t n = 0;
        int r, failures = 0, matched = 0;

        r = acme_config_parse(config, &cfg, &error);
        if (r >= 0)
                r = acme_sites_from_config(config, &sites, &n, &error);
        if (r < 0) {
                acme_config_done(&cfg);
                return kiln_fail(ctx, r, "acme: %s", error ? error : strerror(-r));
        }
        r = store_prepare();
        if (r < 0)
                log_warning_errno(r, "Failed to create " ACME_DIR " (0700), ignoring: %m");
        r = store_lock(&lock);
        if (r < 0)
                log_warning_errno(r, "Failed to take the ACME lock, going on without: %m");
        struct acme_run run = {
                .ctx = ctx, .cfg = &cfg, .force = force, .ignore_backoff = ignore_backoff, .wait_lock = wait_lock};
        if (cfg.storage)
                fleet_begin(&run, &fleet);
        for (size_t i = 0; i < n; i++) {
                if (only && !streq(only, sites[i].name))
                        continue;
                matched++;
                if (run_one(&run, &sites[i]) < 0)
                        failures++;
        }
        client = run.client;
        free(run.fleet_error);
        acme_sites_free(sites, n);
        acme_config_done(&cfg);
        if (only && !matched)
                return kiln_fail(ctx, -ENOENT, "acme: no site '%s' with tls: acme", only);
        return failures;
}
