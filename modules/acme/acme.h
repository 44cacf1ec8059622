/* SPDX-License-Identifier: MIT */
#pragma once

#include "context.h"

/* What the ACME module offers the others (nginx, cloudwatch).
 *
 * Files, per site NAME, under /var/lib/kiln/acme/sites/NAME/:
 *   privkey.pem    the certificate's key (0600; written only via agent/keys.c)
 *   fullchain.pem  what nginx serves: the certificate, then the chain
 *   cert.pem, chain.pem
 *   placeholder    present while fullchain.pem is kiln's self-signed
 *                  placeholder, absent once a CA-issued certificate is there
 *   state.json     {"next_check": epoch, "failures": N, "last_error": "...",
 *                   "not_after": epoch, ...}
 */

#define ACME_SITES_DIR "/var/lib/kiln/acme/sites"

/* The http-01 key authorization suffix: the ACME account key's RFC 7638
 * thumbprint (the account key is created if needed). -ENOENT when ACME is
 * not configured, so nothing needs the challenge location. */
int acme_thumbprint(struct kiln_context *ctx, char **ret);

/* Ensures the site has a certificate nginx can load: a self-signed
 * placeholder for domains when none is there yet. Paths under the root are
 * returned for nginx's ssl_certificate and ssl_certificate_key. */
int acme_site_certificate(struct kiln_context *ctx, const char *site, char *const *domains, char **ret_fullchain,
                          char **ret_key);

/* 1 when the site serves a CA-issued certificate, 0 while on the placeholder. */
int acme_site_has_real_certificate(const char *site);
