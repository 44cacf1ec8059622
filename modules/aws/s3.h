/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws/aws.h"

/* Amazon S3, the few calls kiln's fleet mode needs: objects read, written
 * (conditionally: If-None-Match: * to create, If-Match: ETAG to replace or
 * delete), deleted and listed under a prefix. Path-style addressing
 * (ENDPOINT/BUCKET/KEY) whenever an endpoint was given, virtual-hosted
 * (BUCKET.s3.REGION.amazonaws.com) otherwise. A bucket in another region is
 * followed (x-amz-bucket-region, PermanentRedirect, AuthorizationHeaderMalformed)
 * and signed for, as the SDKs do, and remembered. Every object written asks
 * for server-side encryption: aws:kms with kms_key_id when set, else AES256. */

struct s3 {
        struct aws_client client;
        char *bucket;
        char *kms_key_id; /* NULL: AES256 */
        bool path_style;
        size_t page_size; /* ListObjectsV2 max-keys per page; 0: S3's (1000) */
};

/* s3://BUCKET/PREFIX[/] -> bucket and prefix ("" or "PREFIX/" with one
 * trailing '/'). -EINVAL with a reason for anything else. */
int s3_url_parse(const char *url, char **ret_bucket, char **ret_prefix, char **ret_error);

int s3_init(struct s3 *s, const char *bucket, const char *region, const char *endpoint_override, const char *kms_key_id,
            struct aws_creds_provider *creds);
void s3_done(struct s3 *s);

struct s3_object {
        char *data; /* NUL-terminated */
        size_t len;
        char etag[130]; /* with its quotes, as S3 gives it */
        time_t last_modified;
};
void s3_object_done(struct s3_object *o);

/* Outcomes common to all calls:
 *   0            done
 *   -ENOENT      no such key (404 NoSuchKey) (get, delete with If-Match); a missing
 *                bucket (404 NoSuchBucket) is -EIO: a broken setup, not an absent key
 *   -EEXIST      PUT If-None-Match: the key exists (412 PreconditionFailed)
 *   -ESTALE      If-Match did not hold: someone else changed it (412)
 *   -EAGAIN      a conditional request raced with another (409 ConditionalRequestConflict): try again
 *   -EACCES      denied (403), no credentials
 *   -EFBIG       get: the object is larger than max_len
 *   -EIO         anything else S3 said, or no answer (res->error says what; res->retry when worth retrying)
 * res may be NULL; when given it is filled and must be aws_result_done()'d. */

/* GET; max_len caps the object (-EFBIG beyond). */
int s3_get(struct s3 *s, const char *key, size_t max_len, struct s3_object *ret, struct aws_result *res);

enum s3_put_condition {
        S3_PUT_ALWAYS,
        S3_PUT_IF_ABSENT, /* If-None-Match: * */
        S3_PUT_IF_MATCH, /* If-Match: etag */
};
/* PUT with server-side encryption; *ret_etag (optional, 130 bytes) gets the new ETag. */
int s3_put(struct s3 *s, const char *key, const void *data, size_t len, enum s3_put_condition cond, const char *etag,
           char *ret_etag, struct aws_result *res);
/* DELETE, with If-Match when etag is not NULL. A missing key is 0. */
int s3_delete(struct s3 *s, const char *key, const char *etag, struct aws_result *res);
/* ListObjectsV2 under prefix (all pages, at most max_keys): keys, NULL-terminated. */
int s3_list(struct s3 *s, const char *prefix, size_t max_keys, char ***ret_keys, struct aws_result *res);

/* One ListObjectsV2 answer (for s3_list() and the fuzzer): its keys, each
 * under prefix, appended to *keys (*n_keys of them) up to max_keys; whether
 * more pages follow and the token for the next. -EBADMSG for anything else. */
int s3_list_parse(const char *xml, size_t len, const char *prefix, size_t max_keys, char ***keys, size_t *n_keys,
                  bool *ret_truncated, char **ret_token);
