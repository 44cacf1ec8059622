/* SPDX-License-Identifier: MIT */
#pragma once

/* OpenSSL's libcrypto and libssl, loaded on first use.
 *
 * Most runs of kiln never need them: a boot that runs scripts and writes
 * nginx sites, a daemon that pushes metrics over plain HTTP or through
 * libcurl (itself loaded on demand, see http.c), all hash with sha256.h.
 * Linked, the two libraries would still cost every process their
 * relocations at start-up: about 1.7 MiB of resident pages and a third of a
 * millisecond. So kiln does not link them. The files that call OpenSSL (the
 * keys, the certificates, the certificate collector) include this header
 * instead of OpenSSL's: each function listed below then goes through a table
 * that openssl_load() fills with dlopen() and dlsym().
 *
 * Callers run openssl_load() where a failure can be reported (it names the
 * library that could not be loaded); a call through the table before that
 * loads it too, and aborts with a message if it cannot, as a missing shared
 * library would have at start-up.
 *
 * Using one more function: add it to the list of its library and a #define
 * at the end. The link, which has no -lcrypto to fall back on, names any
 * function that was missed. */

#include <stdbool.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define LIBCRYPTO_FUNCTIONS(X)            \
        X(ASN1_INTEGER_to_BN)             \
        X(ASN1_STRING_get0_data)          \
        X(ASN1_STRING_length)             \
        X(ASN1_TIME_diff)                 \
        X(ASN1_TIME_to_tm)                \
        X(BIO_ctrl)                       \
        X(BIO_free)                       \
        X(BIO_new)                        \
        X(BIO_new_mem_buf)                \
        X(BIO_s_mem)                      \
        X(BN_bin2bn)                      \
        X(BN_bn2bin)                      \
        X(BN_bn2binpad)                   \
        X(BN_bn2hex)                      \
        X(BN_free)                        \
        X(BN_num_bits)                    \
        X(BN_to_ASN1_INTEGER)             \
        X(CRYPTO_free)                    \
        X(ECDSA_SIG_free)                 \
        X(ECDSA_SIG_get0)                 \
        X(EVP_Digest)                     \
        X(EVP_DigestSign)                 \
        X(EVP_DigestSignInit)             \
        X(EVP_MD_CTX_free)                \
        X(EVP_MD_CTX_new)                 \
        X(EVP_PKEY_Q_keygen)              \
        X(EVP_PKEY_free)                  \
        X(EVP_PKEY_get_bits)              \
        X(EVP_PKEY_get_bn_param)          \
        X(EVP_PKEY_get_utf8_string_param) \
        X(EVP_PKEY_is_a)                  \
        X(EVP_sha256)                     \
        X(EVP_sha384)                     \
        X(GENERAL_NAMES_free)             \
        X(OPENSSL_cleanse)                \
        X(OPENSSL_sk_new_null)            \
        X(OPENSSL_sk_num)                 \
        X(OPENSSL_sk_pop_free)            \
        X(OPENSSL_sk_push)                \
        X(OPENSSL_sk_value)               \
        X(PEM_read_X509)                  \
        X(PEM_read_bio_PrivateKey)        \
        X(PEM_read_bio_X509)              \
        X(PEM_write_bio_PrivateKey)       \
        X(PEM_write_bio_X509)             \
        X(RAND_bytes)                     \
        X(X509V3_EXT_conf_nid)            \
        X(X509_EXTENSION_free)            \
        X(X509_NAME_add_entry_by_txt)     \
        X(X509_NAME_get_text_by_NID)      \
        X(X509_NAME_print_ex)             \
        X(X509_REQ_add_extensions)        \
        X(X509_REQ_free)                  \
        X(X509_REQ_get_subject_name)      \
        X(X509_REQ_new)                   \
        X(X509_REQ_set_pubkey)            \
        X(X509_REQ_sign)                  \
        X(X509_add_ext)                   \
        X(X509_cmp)                       \
        X(X509_free)                      \
        X(X509_get0_authority_key_id)     \
        X(X509_get0_notAfter)             \
        X(X509_get0_notBefore)            \
        X(X509_get0_serialNumber)         \
        X(X509_get_ext_d2i)               \
        X(X509_get_issuer_name)           \
        X(X509_get_serialNumber)          \
        X(X509_get_subject_name)          \
        X(X509_getm_notAfter)             \
        X(X509_getm_notBefore)            \
        X(X509_gmtime_adj)                \
        X(X509_new)                       \
        X(X509_set_issuer_name)           \
        X(X509_set_pubkey)                \
        X(X509_set_version)               \
        X(X509_sign)                      \
        X(EVP_get_digestbyname)           \
        X(d2i_ECDSA_SIG)                  \
        X(i2d_X509_REQ)

#define LIBSSL_FUNCTIONS(X)          \
        X(SSL_CTX_free)              \
        X(SSL_CTX_new)               \
        X(SSL_connect)               \
        X(SSL_ctrl)                  \
        X(SSL_free)                  \
        X(SSL_get1_peer_certificate) \
        X(SSL_new)                   \
        X(SSL_set_fd)                \
        X(SSL_shutdown)              \
        X(TLS_client_method)

#define OPENSSL_POINTER(f) __typeof__(f) *f;
struct libcrypto {
        LIBCRYPTO_FUNCTIONS(OPENSSL_POINTER)
};
struct libssl {
        LIBSSL_FUNCTIONS(OPENSSL_POINTER)
};
#undef OPENSSL_POINTER

/* Loads libcrypto (and with ssl, libssl): 0, or -ENOPKG with *ret_error (may
 * be NULL) naming what failed, static storage. */
int openssl_load(bool ssl, const char **ret_error);

const struct libcrypto *libcrypto(void);
const struct libssl *libssl(void);

#ifndef OPENSSL_LOADER
#define ASN1_INTEGER_to_BN (libcrypto()->ASN1_INTEGER_to_BN)
#define ASN1_STRING_get0_data (libcrypto()->ASN1_STRING_get0_data)
#define ASN1_STRING_length (libcrypto()->ASN1_STRING_length)
#define ASN1_TIME_diff (libcrypto()->ASN1_TIME_diff)
#define ASN1_TIME_to_tm (libcrypto()->ASN1_TIME_to_tm)
#define BIO_ctrl (libcrypto()->BIO_ctrl)
#define BIO_free (libcrypto()->BIO_free)
#define BIO_new (libcrypto()->BIO_new)
#define BIO_new_mem_buf (libcrypto()->BIO_new_mem_buf)
#define BIO_s_mem (libcrypto()->BIO_s_mem)
#define BN_bin2bn (libcrypto()->BN_bin2bn)
#define BN_bn2bin (libcrypto()->BN_bn2bin)
#define BN_bn2binpad (libcrypto()->BN_bn2binpad)
#define BN_bn2hex (libcrypto()->BN_bn2hex)
#define BN_free (libcrypto()->BN_free)
#define BN_num_bits (libcrypto()->BN_num_bits)
#define BN_to_ASN1_INTEGER (libcrypto()->BN_to_ASN1_INTEGER)
#define CRYPTO_free (libcrypto()->CRYPTO_free)
#define ECDSA_SIG_free (libcrypto()->ECDSA_SIG_free)
#define ECDSA_SIG_get0 (libcrypto()->ECDSA_SIG_get0)
#define EVP_Digest (libcrypto()->EVP_Digest)
#define EVP_DigestSign (libcrypto()->EVP_DigestSign)
#define EVP_DigestSignInit (libcrypto()->EVP_DigestSignInit)
#define EVP_MD_CTX_free (libcrypto()->EVP_MD_CTX_free)
#define EVP_MD_CTX_new (libcrypto()->EVP_MD_CTX_new)
#define EVP_PKEY_Q_keygen (libcrypto()->EVP_PKEY_Q_keygen)
#define EVP_PKEY_free (libcrypto()->EVP_PKEY_free)
#define EVP_PKEY_get_bits (libcrypto()->EVP_PKEY_get_bits)
#define EVP_PKEY_get_bn_param (libcrypto()->EVP_PKEY_get_bn_param)
#define EVP_PKEY_get_utf8_string_param (libcrypto()->EVP_PKEY_get_utf8_string_param)
#define EVP_PKEY_is_a (libcrypto()->EVP_PKEY_is_a)
#define EVP_sha256 (libcrypto()->EVP_sha256)
#define EVP_sha384 (libcrypto()->EVP_sha384)
#define GENERAL_NAMES_free (libcrypto()->GENERAL_NAMES_free)
#define OPENSSL_cleanse (libcrypto()->OPENSSL_cleanse)
#define OPENSSL_sk_new_null (libcrypto()->OPENSSL_sk_new_null)
#define OPENSSL_sk_num (libcrypto()->OPENSSL_sk_num)
#define OPENSSL_sk_pop_free (libcrypto()->OPENSSL_sk_pop_free)
#define OPENSSL_sk_push (libcrypto()->OPENSSL_sk_push)
#define OPENSSL_sk_value (libcrypto()->OPENSSL_sk_value)
#define PEM_read_X509 (libcrypto()->PEM_read_X509)
#define PEM_read_bio_PrivateKey (libcrypto()->PEM_read_bio_PrivateKey)
#define PEM_read_bio_X509 (libcrypto()->PEM_read_bio_X509)
#define PEM_write_bio_PrivateKey (libcrypto()->PEM_write_bio_PrivateKey)
#define PEM_write_bio_X509 (libcrypto()->PEM_write_bio_X509)
#define RAND_bytes (libcrypto()->RAND_bytes)
#define X509V3_EXT_conf_nid (libcrypto()->X509V3_EXT_conf_nid)
#define X509_EXTENSION_free (libcrypto()->X509_EXTENSION_free)
#define X509_NAME_add_entry_by_txt (libcrypto()->X509_NAME_add_entry_by_txt)
#define X509_NAME_get_text_by_NID (libcrypto()->X509_NAME_get_text_by_NID)
#define X509_NAME_print_ex (libcrypto()->X509_NAME_print_ex)
#define X509_REQ_add_extensions (libcrypto()->X509_REQ_add_extensions)
#define X509_REQ_free (libcrypto()->X509_REQ_free)
#define X509_REQ_get_subject_name (libcrypto()->X509_REQ_get_subject_name)
#define X509_REQ_new (libcrypto()->X509_REQ_new)
#define X509_REQ_set_pubkey (libcrypto()->X509_REQ_set_pubkey)
#define X509_REQ_sign (libcrypto()->X509_REQ_sign)
#define X509_add_ext (libcrypto()->X509_add_ext)
#define X509_cmp (libcrypto()->X509_cmp)
#define X509_free (libcrypto()->X509_free)
#define X509_get0_authority_key_id (libcrypto()->X509_get0_authority_key_id)
#define X509_get0_notAfter (libcrypto()->X509_get0_notAfter)
#define X509_get0_notBefore (libcrypto()->X509_get0_notBefore)
#define X509_get0_serialNumber (libcrypto()->X509_get0_serialNumber)
#define X509_get_ext_d2i (libcrypto()->X509_get_ext_d2i)
#define X509_get_issuer_name (libcrypto()->X509_get_issuer_name)
#define X509_get_serialNumber (libcrypto()->X509_get_serialNumber)
#define X509_get_subject_name (libcrypto()->X509_get_subject_name)
#define X509_getm_notAfter (libcrypto()->X509_getm_notAfter)
#define X509_getm_notBefore (libcrypto()->X509_getm_notBefore)
#define X509_gmtime_adj (libcrypto()->X509_gmtime_adj)
#define X509_new (libcrypto()->X509_new)
#define X509_set_issuer_name (libcrypto()->X509_set_issuer_name)
#define X509_set_pubkey (libcrypto()->X509_set_pubkey)
#define X509_set_version (libcrypto()->X509_set_version)
#define X509_sign (libcrypto()->X509_sign)
#define EVP_get_digestbyname (libcrypto()->EVP_get_digestbyname)
#define d2i_ECDSA_SIG (libcrypto()->d2i_ECDSA_SIG)
#define i2d_X509_REQ (libcrypto()->i2d_X509_REQ)
#define SSL_CTX_free (libssl()->SSL_CTX_free)
#define SSL_CTX_new (libssl()->SSL_CTX_new)
#define SSL_connect (libssl()->SSL_connect)
#define SSL_ctrl (libssl()->SSL_ctrl)
#define SSL_free (libssl()->SSL_free)
#define SSL_get1_peer_certificate (libssl()->SSL_get1_peer_certificate)
#define SSL_new (libssl()->SSL_new)
#define SSL_set_fd (libssl()->SSL_set_fd)
#define SSL_shutdown (libssl()->SSL_shutdown)
#define TLS_client_method (libssl()->TLS_client_method)
#endif
