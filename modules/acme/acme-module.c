/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "fileio.h"
#include "keys.h"
#include "module.h"
#include "path.h"
#include "strbuf.h"

/* The placeholder half of the ACME module: self-signed certificates so a
 * site's 443 server can start before any CA has answered. The protocol
 * client lands with its issue. */

#define PLACEHOLDER_DAYS 90

int acme_thumbprint(struct kiln_context *ctx, char **ret) {
        return -ENOENT;
}

static int site_path(const char *site, const char *file, char **ret) {
        return root_path(ret, ACME_SITES_DIR "/%s/%s", site, file);
}

int acme_site_has_real_certificate(const char *site) {
        _cleanup_free_ char *cert = NULL, *marker = NULL;
        int r;

        if (site_path(site, "fullchain.pem", &cert) < 0 || site_path(site, "placeholder", &marker) < 0)
                return -ENOMEM;
        r = file_exists(cert);
        if (r <= 0)
                return r;
        r = file_exists(marker);
        return r < 0 ? r : !r;
}

static int write_placeholder(const char *site, char *const *domains, const char *key_path, const char *cert_path) {
        _cleanup_(key_freep) struct kiln_key *key = NULL;
        _cleanup_free_ char *pem = NULL, *marker = NULL;
        int r;

        r = key_load_or_create(key_path, KEY_EC_P256, &key);
        if (r < 0)
                return r;
        r = key_self_signed_pem(key, domains, PLACEHOLDER_DAYS, &pem);
        if (r < 0)
                return r;
        if (site_path(site, "placeholder", &marker) < 0)
                return -ENOMEM;
        r = write_file_atomic(marker, "", 0, 0644);
        if (r < 0)
                return r;
        return write_file_atomic(cert_path, pem, strlen(pem), 0644);
}

int acme_site_certificate(struct kiln_context *ctx, const char *site, char *const *domains, char **ret_fullchain,
                          char **ret_key) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *dir = NULL;
        int r;

        if (site_path(site, "fullchain.pem", &cert) < 0 || site_path(site, "privkey.pem", &key) < 0 ||
            root_path(&dir, ACME_SITES_DIR "/%s", site) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        r = file_exists(cert);
        if (r == 0)
                r = write_placeholder(site, domains, key, cert);
        if (r < 0)
                return r;
        *ret_fullchain = TAKE_PTR(cert);
        *ret_key = TAKE_PTR(key);
        return 0;
}

const struct kiln_module acme_module = {
        .name = "acme",
        .stage = STAGE_APPLY,
};
