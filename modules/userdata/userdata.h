/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "context.h"

#define USERDATA_MAX_SIZE (16u * 1024 * 1024)
#define USERDATA_MAX_INCLUDES 16

/* User-data as users bring it, decoded: gzip (by magic), base64 of any of
 * these (up to a few layers), MIME multipart, `#!` scripts, `#kiln-config`,
 * `#cloud-config` (mapped onto kiln's keys), `#cloud-boothook`, and
 * `#include` / text/x-include-url lists of URLs fetched with the core HTTP
 * client. A broken part is reported and skipped; the others are kept. */

struct userdata_options {
        const char *origin; /* how messages name the input: "user-data", a file name */
        bool yaml_is_config; /* unrecognised content is read as kiln config (a kiln.yaml) */
        bool fetch_includes; /* false: #include URLs are listed, not fetched */
        const char *ca_file; /* trust anchors for includes (default: the system's) */
        /* The instance data "## template: jinja" parts are rendered with
         * (cloud-init's shape: v1, ds, ...), asked for once, at the first
         * such part; NULL (or a NULL answer): such parts are an error.
         * *ret_problem: why the answer is NULL or incomplete (a warning). */
        json_t *(*instance_data)(void *userdata, char **ret_problem);
        void *instance_data_userdata;
        const char *instance_data_note; /* said once when a template is rendered (validate: "example data") */
        /* This instance's ami-launch-index as IMDS serves it (NULL: none,
         * then no part is dropped), asked for once, at the first part with
         * a launch index; NULL callback: unknown (validate: each such part
         * is named in notes). *ret_problem: why it could not be read. */
        char *(*launch_index)(void *userdata, char **ret_problem);
        void *launch_index_userdata;
};

struct userdata {
        struct userdata_part *parts; /* scripts and boothooks, in order */
        size_t n_parts;
        json_t *config; /* every config part mapped and merged, in order */
        json_t *positions; /* config path -> "origin:line:column" */
        char **warnings; /* each names its part and, when known, its position */
        char **errors;
        char **includes; /* URLs seen (fetched or not) */
        char **ignored; /* cloud-config keys accepted and ignored: "'key' (why)", each once */
        char **notes; /* for `kiln validate`: neither problems nor keys */
        char **dropped; /* parts for another launch index, not applied (as cloud-init): each, why */
};

int userdata_parse(const char *data, size_t len, const struct userdata_options *o, struct userdata *ret);
void userdata_done(struct userdata *u);

/* The cloud-config keys kiln understands, mapped onto kiln's config. Keys
 * kiln does not support are dropped and named in *ret_skipped (a list of
 * paths, NULL when none). positions (may be NULL) is renamed alongside. */
int cloudconfig_map(const json_t *doc, const json_t *positions, json_t **ret, json_t **ret_positions,
                    char ***ret_skipped);

/* Merges one #cloud-config document (doc, its positions pos) into *acc
 * (start with {}) as cloud-init 22.4+ merges user-data parts: with the
 * mergers of its merge_how / merge_type, then of header (its MIME
 * Merge-Type, may be NULL), else dict(replace)+list()+str(). -EINVAL with
 * *ret_error when cloud-init would fail to merge it (then *acc is as it was). */
int cloudconfig_merge_part(json_t **acc, json_t **acc_pos, json_t *doc, const json_t *pos, const char *header,
                           char **ret_error);

/* What to say of a skipped path: a cloud-init key kiln does not do, or not
 * a cloud-config key at all (with the supported key it is likely a typo
 * of). */
char *cloudconfig_skip_message(const char *path);

/* Why a cloud-config key (a path as in *ret_skipped above) means nothing
 * on EC2 and is accepted and ignored; NULL when it is not such a key. */
const char *cloudconfig_ignored_why(const char *path);

/* cloud-init's distro name (system_info.distro) for an os-release ID;
 * NULL for an ID it is not known for. See distros.c. */
const char *cloudconfig_distro_name(const char *os_id);
/* Whether unverified_modules (the cloud-config value, may be NULL) names
 * module (as form_module_name() spells it, without "cc_"). */
bool cloudconfig_module_unverified(const json_t *unverified, const char *module);
/* Whether cloud-init 22.4 skips the module of top-level key on distro (a
 * module kiln does not do, not verified there, not in unverified): then
 * its module name and the distros it runs on. */
bool cloudconfig_distro_skips(const char *key, const char *distro, const json_t *unverified, const char **ret_module,
                              const char **ret_distros);
/* *ret: why key is accepted and ignored on this machine's distribution
 * (its --root's os-release), NULL when cloud-init would run its module. */
int cloudconfig_distro_why(const char *key, const json_t *unverified, char **ret);

/* cloud_init_modules, cloud_config_modules, cloud_final_modules in u's
 * config, as cloud-init reads them: the keys (and script parts) of the
 * modules a given list leaves out are dropped and named in u->ignored; a
 * frequency kiln does not honour is a warning. See module-lists.c. */
int userdata_apply_module_lists(struct userdata *u);

/* How often scripts-user runs in config's module lists (AWS's
 * [scripts-user, always]), def when no list says. */
enum frequency userdata_scripts_user_frequency(const json_t *config, enum frequency def);
/* A script part's frequency: a per-instance one (scripts-user's) as the
 * module lists say. */
enum frequency userdata_script_frequency(const json_t *config, const struct userdata_part *p);

/* Inflates gzip data, at most USERDATA_MAX_SIZE bytes (-EFBIG beyond);
 * -EBADMSG when corrupt or truncated (see gzip.h). */
int userdata_gunzip(const char *data, size_t len, char **ret, size_t *ret_len);

/* The instance data of a "## template: jinja" part as cloud-init 22.4
 * makes it on EC2 (v1 with its standard keys, ds.meta_data and
 * ds.dynamic.instance-identity crawled from IMDS): from IMDS (a bounded
 * crawl, bounded in requests and time), or an example instance's for
 * `kiln validate`. NULL when IMDS has no meta-data or on ENOMEM.
 * *ret_problem (free it): why there is no meta-data, or what the crawl
 * could not read. */
struct imds;
json_t *userdata_instance_data_from_imds(struct imds *c, char **ret_problem);
json_t *userdata_instance_data_example(void);
/* Instance data as jinja sees it (convert_jinja_instance_data()):
 * hyphenated keys also with '_', v1's keys also at the top level. */
json_t *userdata_jinja_vars(const json_t *instance_data);

/* This instance's ami-launch-index from IMDS (a userdata_options
 * launch_index callback; userdata is a struct imds *). */
char *userdata_launch_index_from_imds(void *imds, char **ret_problem);

/* Trust anchors for includes: $KILN_CA_FILE, else userdata.ca_file. */
const char *userdata_ca_file(const json_t *config);

/* The part types kiln runs: scripts at a frequency and boothooks. */
bool userdata_part_is_script(const struct userdata_part *p);
bool userdata_part_is_boothook(const struct userdata_part *p);
#define USERDATA_TYPE_BOOTHOOK "text/cloud-boothook"
