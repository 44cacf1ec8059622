/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#define OPENSSL_LOADER
#include "dl.h"
#include "log.h"
#include "macro.h"
#include "openssl.h"

#define LIBCRYPTO_SONAME "libcrypto.so." STRINGIFY(OPENSSL_SHLIB_VERSION)
#define LIBSSL_SONAME "libssl.so." STRINGIFY(OPENSSL_SHLIB_VERSION)

static struct libcrypto crypto_table;
static struct libssl ssl_table;
static void *crypto_dl, *ssl_dl;

#define CRYPTO_SYMBOL(f) {#f, offsetof(struct libcrypto, f)},
#define SSL_SYMBOL(f) {#f, offsetof(struct libssl, f)},
static const struct dl_symbol crypto_symbols[] = {LIBCRYPTO_FUNCTIONS(CRYPTO_SYMBOL)};
static const struct dl_symbol ssl_symbols[] = {LIBSSL_FUNCTIONS(SSL_SYMBOL)};

int openssl_load(bool ssl, const char **ret_error) {
        const char *error = NULL;
        int r = 0;

        if (!crypto_dl)
                r = dl_load(LIBCRYPTO_SONAME, crypto_symbols, ELEMENTSOF(crypto_symbols), &crypto_table, &crypto_dl,
                            &error);
        if (r >= 0 && ssl && !ssl_dl)
                r = dl_load(LIBSSL_SONAME, ssl_symbols, ELEMENTSOF(ssl_symbols), &ssl_table, &ssl_dl, &error);
        if (r < 0 && ret_error)
                *ret_error = error;
        return r;
}

const struct libcrypto *libcrypto(void) {
        const char *error;

        if (!crypto_dl && openssl_load(false, &error) < 0)
                dl_load_failed(error);
        return &crypto_table;
}

const struct libssl *libssl(void) {
        const char *error;

        if (!ssl_dl && openssl_load(true, &error) < 0)
                dl_load_failed(error);
        return &ssl_table;
}
