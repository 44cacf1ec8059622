/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "clock.h"
#include "config.h"
#include "imds/imds.h"
#include "log.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/userdata.h"

/* The variables of a "## template: jinja" part, as cloud-init 22.4 makes
 * them on EC2: its instance-data (v1: the standard keys, ds: what the
 * datasource crawled from IMDS, sys_info), converted as
 * convert_jinja_instance_data() converts it for jinja. */

/* Bounds on the IMDS crawl: the meta-data tree has ~60 leaves, read in
 * well under a second. A path IMDS fails to answer (5xx, a hang) gets a
 * few retries within CRAWL_REQUEST_MS, not imds.timeout, and the whole
 * crawl stops at CRAWL_TOTAL_MS: templates then render without what was
 * not read, and the boot says so. */
#define CRAWL_MAX_REQUESTS 400
#define CRAWL_MAX_DEPTH 8
#define CRAWL_REQUEST_MS 5000L
#define CRAWL_TOTAL_MS 20000L

/* cloud-init's get_jinja_variable_alias(): '-' and '.' (jinja operators)
 * become '_'. NULL when the name needs no alias. */
static char *alias_name(const char *key) {
        char *a;

        if (!strpbrk(key, "-."))
                return NULL;
        a = strdup(key);
        for (char *p = a; p && *p; p++)
                if (*p == '-' || *p == '.')
                        *p = '_';
        return a;
}

static bool is_version_key(const char *key) {
        if (key[0] != 'v' || !key[1])
                return false;
        for (const char *p = key + 1; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return false;
        return true;
}

/* convert_jinja_instance_data(): keys in sorted order, each with its alias
 * after it, and the keys of v1 (v2, ...) copied to the top level. */
static json_t *convert(const json_t *data, unsigned depth) {
        _cleanup_json_ json_t *out = json_object();
        _cleanup_strv_free_ char **keys = NULL;
        const char *k;
        json_t *v;

        if (!out || depth > 32)
                return NULL;
        json_object_foreach((json_t *) data, k, v)
                if (strv_push(&keys, k) < 0)
                        return NULL;
        for (size_t i = 0; keys && keys[i]; i++) /* sorted(): few keys, insertion sort */
                for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                        char *t = keys[j];
                        keys[j] = keys[j - 1];
                        keys[j - 1] = t;
                }
        for (size_t i = 0; keys && keys[i]; i++) {
                _cleanup_free_ char *alias = alias_name(keys[i]);
                json_t *value = json_object_get(data, keys[i]), *conv;
                conv = json_is_object(value) ? convert(value, depth + 1) : json_deep_copy(value);
                if (!conv || json_object_set_new(out, keys[i], conv) < 0)
                        return NULL;
                if (json_is_object(value) && is_version_key(keys[i])) {
                        const char *sk;
                        json_t *sv;
                        json_object_foreach(conv, sk, sv)
                                if (json_object_set_new(out, sk, json_deep_copy(sv)) < 0)
                                        return NULL;
                }
                if (alias && json_object_set_new(out, alias, json_deep_copy(conv)) < 0)
                        return NULL;
        }
        return TAKE_PTR(out);
}

json_t *userdata_jinja_vars(const json_t *instance_data) {
        return json_is_object(instance_data) ? convert(instance_data, 0) : NULL;
}

/* cloud-init's canonical_cloud_id() for AWS. */
static const char *cloud_id(const char *region) {
        if (region && strneq(region, "cn-", 3))
                return "aws-china";
        if (region && strneq(region, "us-gov-", 7))
                return "aws-gov";
        return "aws";
}

/* The short host name, as DataSource.get_hostname() makes v1.local_hostname
 * from meta-data's local-hostname: the first label, or ip-A-B-C-D for an
 * address. */
static json_t *short_hostname(const char *lhost) {
        _cleanup_free_ char *h = NULL;
        size_t n = 0, dots = 0;
        bool ipv4 = true;

        if (!lhost)
                return json_null();
        for (const char *p = lhost; *p; p++) {
                dots += *p == '.';
                ipv4 = ipv4 && (isdigit((unsigned char) *p) || *p == '.');
        }
        if (ipv4 && dots == 3) {
                h = strdup_printf("ip-%s", lhost);
                for (char *p = h; p && *p; p++)
                        if (*p == '.')
                                *p = '-';
                return h ? json_string(h) : NULL;
        }
        n = strcspn(lhost, ".");
        return json_stringn(lhost, n);
}

static json_t *string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

/* sys_info's dist: os-release's ID, VERSION_ID, VERSION_CODENAME. */
static int add_v1(json_t *v1, const json_t *meta, const char *instance_id, const char *region, const char *az,
                  json_t *keys) {
        _cleanup_free_ char *id = system_os_release("ID"), *version = system_os_release("VERSION_ID"),
                            *codename = system_os_release("VERSION_CODENAME");
        const char *lhost = json_string_value(json_object_get(meta, "local-hostname"));
        struct utsname u = {};
        int r = 0;

        (void) uname(&u);
        r |= json_object_set_new(v1, "_beta_keys", json_pack("[s]", "subplatform"));
        r |= json_object_set_new(v1, "availability-zone", string_or_null(az));
        r |= json_object_set_new(v1, "availability_zone", string_or_null(az));
        r |= json_object_set_new(v1, "cloud_id", json_string(cloud_id(region)));
        r |= json_object_set_new(v1, "cloud-name", json_string("aws"));
        r |= json_object_set_new(v1, "cloud_name", json_string("aws"));
        r |= json_object_set_new(v1, "distro", json_string(id ? id : ""));
        r |= json_object_set_new(v1, "distro_version", json_string(version ? version : ""));
        r |= json_object_set_new(v1, "distro_release", json_string(codename ? codename : ""));
        r |= json_object_set_new(v1, "platform", json_string("ec2"));
        r |= json_object_set_new(v1, "public_ssh_keys", keys ? json_incref(keys) : json_array());
        r |= json_object_set_new(v1, "instance-id", string_or_null(instance_id));
        r |= json_object_set_new(v1, "instance_id", string_or_null(instance_id));
        r |= json_object_set_new(v1, "kernel_release", json_string(u.release));
        r |= json_object_set_new(v1, "local-hostname", short_hostname(lhost));
        r |= json_object_set_new(v1, "local_hostname", short_hostname(lhost));
        r |= json_object_set_new(v1, "machine", json_string(u.machine));
        r |= json_object_set_new(v1, "region", string_or_null(region));
        r |= json_object_set_new(v1, "subplatform", json_string("metadata (http://169.254.169.254)"));
        r |= json_object_set_new(v1, "variant", json_string(id ? id : ""));
        return r ? -ENOMEM : 0;
}

/* public-keys as cloud-init crawls them: {"NAME": "KEY"} */
static json_t *public_keys(const json_t *meta) {
        json_t *keys = json_array(), *v;
        const char *k;

        json_object_foreach(json_object_get(meta, "public-keys"), k, v) {
                size_t i;
                json_t *line;
                if (json_is_string(v))
                        (void) json_array_append(keys, v);
                else
                        json_array_foreach(v, i, line)
                                if (json_is_string(line) && json_string_length(line) > 0)
                                        (void) json_array_append(keys, line);
        }
        return keys;
}

/* MetadataLeafDecoder: a {...} blob is JSON, a blob of several lines a
 * list of them, else the text. */
static json_t *leaf_value(const char *body, size_t len) {
        if (len >= 2 && body[0] == '{' && body[len - 1] == '}') {
                json_t *j = json_loadb(body, len, 0, NULL);
                if (j)
                        return j;
        }
        if (memchr(body, '\n', len)) {
                json_t *list = json_array();
                for (size_t i = 0; list && i < len;) {
                        const char *nl = memchr(body + i, '\n', len - i);
                        size_t n = nl ? (size_t) (nl - (body + i)) : len - i;
                        if (n > 0 && body[i + n - 1] == '\r')
                                (void) json_array_append_new(list, json_stringn(body + i, n - 1));
                        else
                                (void) json_array_append_new(list, json_stringn(body + i, n));
                        i += n + 1;
                }
                return list;
        }
        return json_stringn(body, len);
}

struct crawl {
        struct imds *c;
        unsigned requests;
        long deadline;
        unsigned failed; /* paths not read, 404s aside (cloud-init skips those too) */
        char *first_failure; /* the first one, with imds_error() */
};

/* One GET of the crawl, within its bounds; failures other than 404 are
 * counted. */
static int crawl_get(struct crawl *cr, const char *path, char **ret, size_t *ret_len) {
        long left = cr->deadline - now_ms();
        int r;

        if (++cr->requests > CRAWL_MAX_REQUESTS)
                r = -E2BIG;
        else
                r = imds_get_within(cr->c, path,
                                    left <= 0                 ? -1
                                    : left < CRAWL_REQUEST_MS ? left
                                                              : CRAWL_REQUEST_MS,
                                    ret, ret_len);
        if (r >= 0 || r == -ENOENT)
                return r;
        cr->failed++;
        if (!cr->first_failure)
                cr->first_failure = strdup_printf("%s: %s", path,
                                                  r == -E2BIG ? "more than " STRINGIFY(CRAWL_MAX_REQUESTS) " requests"
                                                              : imds_error(cr->c));
        return r;
}

/* MetadataMaterializer: a listing's "NAME/" lines are subtrees, the others
 * leaves; "N=NAME" (public-keys) is the leaf NAME read from N/openssh-key;
 * security-credentials is left out, as cloud-init leaves it out. */
static json_t *crawl_tree(struct crawl *cr, const char *path, unsigned depth) {
        _cleanup_json_ json_t *out = json_object();
        _cleanup_free_ char *listing = NULL;
        size_t len = 0;

        if (!out || depth > CRAWL_MAX_DEPTH || crawl_get(cr, path, &listing, &len) < 0)
                return TAKE_PTR(out);
        for (size_t i = 0; i < len;) {
                const char *nl = memchr(listing + i, '\n', len - i);
                size_t n = nl ? (size_t) (nl - (listing + i)) : len - i;
                _cleanup_free_ char *line = strndup(listing + i, n), *name = NULL, *sub = NULL;
                char *l = line ? strstrip(line) : NULL, *eq;
                i += n + 1;
                if (!l || !*l || streq(l, "/"))
                        continue;
                if (l[strlen(l) - 1] == '/') {
                        l[strlen(l) - 1] = 0;
                        if (streq(l, "security-credentials") || strchr(l, '/'))
                                continue;
                        sub = strdup_printf("%s%s/", path, l);
                        if (sub && json_object_set_new(out, l, crawl_tree(cr, sub, depth + 1)) < 0)
                                return NULL;
                        continue;
                }
                eq = strchr(l, '=');
                if (eq && eq > l && strspn(l, "0123456789") == (size_t) (eq - l)) {
                        *eq = 0;
                        name = strdup(eq + 1);
                        sub = strdup_printf("%s%s/openssh-key", path, l);
                } else {
                        name = strdup(l);
                        sub = strdup_printf("%s%s", path, l);
                }
                if (!name || !sub || strchr(name, '/') || streq(name, "security-credentials"))
                        continue;
                {
                        _cleanup_free_ char *body = NULL;
                        size_t blen = 0;
                        if (crawl_get(cr, sub, &body, &blen) < 0)
                                continue;
                        if (json_object_set_new(out, name, leaf_value(body, blen)) < 0)
                                return NULL;
                }
        }
        return TAKE_PTR(out);
}

json_t *userdata_instance_data_from_imds(struct imds *c, char **ret_problem) {
        _cleanup_free_ char *first_failure = NULL;
        struct crawl cr = {.c = c, .deadline = now_ms() + CRAWL_TOTAL_MS};
        _cleanup_json_ json_t *meta = NULL, *dyn = NULL, *data = NULL, *v1 = NULL, *keys = NULL;
        const json_t *doc;

        *ret_problem = NULL;
        meta = crawl_tree(&cr, "meta-data/", 0);
        if (meta && json_object_size(meta) > 0)
                dyn = json_pack("{so}", "instance-identity", crawl_tree(&cr, "dynamic/instance-identity/", 0));
        first_failure = TAKE_PTR(cr.first_failure);
        if (!meta || json_object_size(meta) == 0) {
                *ret_problem = strdup_printf("IMDS gave no meta-data (%s)",
                                             first_failure ? first_failure : "an empty listing");
                return NULL;
        }
        doc = json_object_get(json_object_get(dyn, "instance-identity"), "document");
        v1 = json_object();
        keys = public_keys(meta);
        if (!dyn || !v1 || !keys)
                return NULL;
        {
                const char *az = json_string_value(json_object_get(doc, "availabilityZone"));
                const char *region = json_string_value(json_object_get(doc, "region"));
                _cleanup_free_ char *region_from_az = NULL;
                if (!az)
                        az = json_string_value(
                                json_object_get(json_object_get(meta, "placement"), "availability-zone"));
                if (!region && az && *az)
                        region = region_from_az = strndup(az, strlen(az) - 1);
                if (add_v1(v1, meta, json_string_value(json_object_get(meta, "instance-id")), region, az, keys) < 0)
                        return NULL;
        }
        data = json_pack("{s{sOsOss}sO}", "ds", "meta_data", meta, "dynamic", dyn, "_doc",
                         "EXPERIMENTAL: The structure and format of content scoped under the 'ds' key may change "
                         "in subsequent releases of cloud-init.",
                         "v1", v1);
        if (!data)
                return NULL;
        log_info("Instance data for jinja templates crawled from IMDS (%u requests).", cr.requests);
        if (cr.failed > 0)
                *ret_problem = strdup_printf(
                        "the instance data is incomplete: %u IMDS path(s) not read (%s); templates render "
                        "without them",
                        cr.failed, first_failure ? first_failure : "?");
        return TAKE_PTR(data);
}

/* For `kiln validate`, which has no instance: an example EC2 instance. */
json_t *userdata_instance_data_example(void) {
        _cleanup_json_ json_t *meta = json_pack(
                "{ss ss ss ss ss ss ss ss ss ss s{ss ss} s{s[s]} s{s{s{s{ss ss}}}}}", "ami-id", "ami-0123456789abcdef0",
                "ami-launch-index", "0", "hostname", "ip-172-31-16-10.ec2.internal", "instance-id",
                "i-0123456789abcdef0", "instance-type", "t3.micro", "local-hostname", "ip-172-31-16-10.ec2.internal",
                "local-ipv4", "172.31.16.10", "mac", "0e:12:34:56:78:9a", "public-hostname",
                "ec2-203-0-113-10.compute-1.amazonaws.com", "public-ipv4", "203.0.113.10", "placement",
                "availability-zone", "us-east-1a", "region", "us-east-1", "public-keys", "example",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample example", "network",
                "interfaces", "macs", "0e:12:34:56:78:9a", "local-ipv4s", "172.31.16.10", "vpc-id",
                "vpc-0123456789abcdef0");
        _cleanup_json_ json_t *doc = json_pack(
                "{ss ss ss ss ss ss ss ss}", "accountId", "123456789012", "architecture", "x86_64", "availabilityZone",
                "us-east-1a", "imageId", "ami-0123456789abcdef0", "instanceId", "i-0123456789abcdef0", "instanceType",
                "t3.micro", "privateIp", "172.31.16.10", "region", "us-east-1");
        _cleanup_json_ json_t *v1 = json_object(), *keys = NULL;

        if (!meta || !doc || !v1)
                return NULL;
        keys = public_keys(meta);
        if (!keys || add_v1(v1, meta, "i-0123456789abcdef0", "us-east-1", "us-east-1a", keys) < 0)
                return NULL;
        return json_pack("{s{sOs{s{sO}}ss}sO}", "ds", "meta_data", meta, "dynamic", "instance-identity", "document",
                         doc, "_doc", "EXPERIMENTAL", "v1", v1);
}

char *userdata_launch_index_from_imds(void *imds, char **ret_problem) {
        char *v = NULL;
        int r;

        *ret_problem = NULL;
        r = imds_get(imds, "meta-data/ami-launch-index", &v, NULL);
        if (r == -ENOENT)
                return NULL;
        if (r < 0)
                *ret_problem = strdup_printf("cannot read meta-data/ami-launch-index: %s", imds_error(imds));
        return r < 0 ? NULL : v;
}
