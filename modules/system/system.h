/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "context.h"

/* The system module: boot commands and boothooks (early), hostname,
 * timezone, users and SSH keys, files, packages, then deferred files.
 *
 * What it does is decided in one place, the plan: the config (and the
 * user-data's parts) normalised into what will be run, written and
 * installed. `kiln validate --plan` prints it; the apply stage carries it
 * out, so the two cannot disagree. */

/* The plan for config and parts. default_user_name: the name when config
 * gives none (see system_default_user_name()). Never fails on odd input:
 * what it cannot use, the validate hook reports, and the plan leaves out or
 * marks with "error". */
json_t *system_plan(const json_t *config, const struct userdata_part *parts, size_t n_parts,
                    const char *default_user_name);

/* The plan's commands list for one key ("bootcmd", "runcmd"): each item
 * {name, marker, frequency, argv}. */
json_t *system_plan_commands(const json_t *config, const char *key, enum frequency def);

/* Removes secrets (passwords) from a plan, for printing. */
void system_plan_redact(json_t *plan);

/* The usual first user of the distribution under the root: admin (Debian),
 * ubuntu, ec2-user (Amazon Linux, RHEL, Fedora and the rest). */
const char *system_default_user_name(void);

/* Semantic checks of the system keys (the descriptor's validate hook). */
void system_validate(const json_t *config, struct config_report *rep);

/* A packages item that is a list: [name] or [name, version], the version
 * any scalar (cloud-init's expand_package_list()). */
bool system_package_pair_ok(const json_t *p);

/* Checks a bootcmd/runcmd list: items' command and frequency. */
void system_validate_commands(const json_t *config, struct config_report *rep, const char *key);

/* write_files content, decoded per its encoding (text, b64, gzip, gz+b64). */
int system_decode_content(const char *content, size_t len, const char *encoding, char **ret, size_t *ret_len,
                          const char **ret_error);

/* Appliers (apply stage), each recording what it did. */
int system_apply_hostname(struct kiln_context *ctx, const json_t *plan);
int system_apply_timezone(struct kiln_context *ctx, const char *zone);

/* yum_repos (repos.c): one file rendered as cloud-init writes it, and all
 * of config's yum_repos written (per instance, RHEL family only). */
int system_yum_repo_render(const char *id, const json_t *repo, time_t now, char **ret, char **ret_error);
int system_apply_yum_repos(struct kiln_context *ctx, const json_t *config);

/* apt (apt.c): proxies, conf, sources and their keys, as cloud-init's
 * cc_apt_configure (Debian/Ubuntu, per instance). */
int system_apply_apt(struct kiln_context *ctx, const json_t *config);
/* apt_pipelining (apt.c): Acquire::http::Pipeline-Depth, as cloud-init's
 * cc_apt_pipelining (Debian/Ubuntu, per instance). */
int system_apply_apt_pipelining(struct kiln_context *ctx, const json_t *config);
/* grub_dpkg (apt.c): grub-pc's install device in debconf, as cloud-init's
 * cc_grub_dpkg (Debian/Ubuntu, per instance, on by default). */
int system_apply_grub_dpkg(struct kiln_context *ctx, const json_t *config);
void system_validate_apt(const json_t *config, struct config_report *rep);
/* add_apt_repo_match (a Python regex) as a POSIX ERE, or an error. */
int system_apt_repo_regex(const char *py, char **ret, char **ret_error);
int system_apt_dearmor(const char *armored, char **ret, size_t *ret_len);
int system_apt_fetch_key(const char *keyid, const char *keyserver, char **ret, size_t *ret_len);
int system_apt_render(const char *in, const json_t *params, char **ret, char **ret_error);

/* A system tool run as cloud-init runs it (run.c); under --root only the
 * KILN_SYSTEM_COMMAND test hook is run, with argv after it (-EROFS without). */
int system_run_tool(const char *const *argv, const char *stdin_data);
/* system_run_tool(), its stdout (at most 64 KiB; stderr dropped) in *ret. */
int system_run_tool_stdout(const char *const *argv, char **ret);
/* system_run_tool() with one more NAME=VALUE in its environment (or NULL). */
int system_run_tool_env(const char *const *argv, const char *stdin_data, const char *extra_env);
/* system_run_tool_env() keeping the tool's output (the last 64 KiB of
 * stdout and stderr) out of the log, in *ret_output (when it ran). */
int system_run_tool_output(const char *const *argv, const char *stdin_data, const char *extra_env, char **ret_output);
/* system_run_tool(), recorded in status; a failure degrades the boot with
 * key (the config key it does) in the message. */
int system_run_recorded(struct kiln_context *ctx, const char *key, const char *const *argv, const char *stdin_data);
/* A key whose cloud-init module runs once per instance with its semaphore
 * taken before it runs, so once even when it fails (puppet, salt_minion,
 * ansible): apply(ctx, cfg) at most once per instance, recorded "skipped"
 * after that; returns apply()'s result. With mapping, a cfg that is not a
 * mapping degrades the boot instead (cloud-init fails on it) and a success
 * is recorded "ok". */
int system_apply_once(struct kiln_context *ctx, const char *key, const json_t *cfg, bool mapping,
                      int (*apply)(struct kiln_context *ctx, const json_t *cfg));
/* A field of the root's /etc/os-release (ID, VERSION_CODENAME...), unquoted;
 * NULL when absent. */
char *system_os_release(const char *field);
/* ca_certs (ca.c) and locale (locale.c), as cloud-init does them. */
int system_apply_ca_certs(struct kiln_context *ctx, const json_t *config);
int system_apply_locale(struct kiln_context *ctx, const json_t *config);
char *system_locale_gen_line(const char *supported, const char *requested);
/* ntp (ntp.c): chrony or systemd-timesyncd configured as cloud-init does. */
int system_apply_ntp(struct kiln_context *ctx, const json_t *config);
/* ssh_import_id (ssh-import-id.c): the keys of gh:/lp: ids fetched and
 * added to config's ssh_authorized_keys (top level, users[]). */
int system_ssh_import_ids(struct kiln_context *ctx, json_t *config);
/* output (output.c): the fd the scripts of a cloud-init stage ("init":
 * bootcmd, boothooks; "final": runcmd, scripts) also write to; 0: none. */
int system_output_fd(struct kiln_context *ctx, const char *mode);
int system_check_output(struct kiln_context *ctx);
int system_ntp_render(const char *client, const json_t *servers, const json_t *pools, const json_t *peers,
                      const json_t *allow, char **ret);
/* Field n (0-based) of name's line in a colon file under the root
 * (/etc/passwd, /etc/group, /etc/shadow). -ENOENT when name has none. */
int system_colon_field(const char *file, const char *name, unsigned n, char **ret);
int system_apply_users(struct kiln_context *ctx, const json_t *users);
int system_apply_files(struct kiln_context *ctx, const json_t *files, bool deferred);

/* Runs a shadow tool (useradd, chpasswd, passwd...) with --root when kiln
 * has one; stdin_data may be NULL. -EIO with its output when it fails. */
int system_run_shadow_tool(const char *tool, char *const *args, const char *stdin_data, char **ret_output);

/* chpasswd, password, ssh_pwauth (passwords.c): the plan, given the users'
 * plan (for the default user); its secrets replaced; applied. */
json_t *system_passwords_plan(const json_t *config, const json_t *users_plan);
void system_passwords_redact(json_t *plan);
int system_apply_passwords(struct kiln_context *ctx, const json_t *plan);

/* The launch key pair's public key from IMDS (a JSON string), NULL if none. */
json_t *system_launch_key(struct kiln_context *ctx);

/* root's authorized_keys (root-keys.c): disable_root, disable_root_opts,
 * the launch key and the top-level ssh_authorized_keys, as cloud-init's ssh
 * module writes them; the plan given the users' plan (the default user). */
json_t *system_root_keys_plan(const json_t *config, const json_t *users_plan);
int system_apply_root_keys(struct kiln_context *ctx, const json_t *plan);

/* Top-level groups (groups.c): the plan [{name, members}], applied once per
 * instance before the users. */
json_t *system_groups_plan(const json_t *config);
int system_apply_groups(struct kiln_context *ctx, const json_t *groups);

/* power_state's plan (power.c), NULL without one; the reboot that
 * package_reboot_if_required asks for when packages ran in this boot. */
json_t *system_power_plan(const json_t *config);
int system_reboot_if_required(struct kiln_context *ctx, const json_t *config, bool packages_ran);

/* cloud-init's DISABLE_USER_OPTS (template NULL) or template, with $USER
 * and $DISABLE_USER replaced. */
char *system_disable_user_options(const char *template, const char *user, const char *disabled);

/* Checks of the keys in passwords.c, power.c, users' cloud-init rules
 * (validate-keys.c), called by system_validate(). */
void system_validate_keys(const json_t *config, struct config_report *rep);

/* rsyslog, random_seed, resolv_conf, keyboard (misc.c), as cloud-init's
 * cc_rsyslog, cc_seed_random, cc_resolv_conf, cc_keyboard (per instance). */
int system_apply_rsyslog(struct kiln_context *ctx, const json_t *config);
int system_apply_random_seed(struct kiln_context *ctx, const json_t *config);
int system_apply_resolv_conf(struct kiln_context *ctx, const json_t *config);
int system_apply_keyboard(struct kiln_context *ctx, const json_t *config);
int system_rsyslog_remote(const char *name, const char *line, char **ret);
int system_resolv_conf_render(const json_t *params, char **ret);

/* ssh_authkey_fingerprints: each user's authorized keys' fingerprints on
 * the console, once per instance, as cloud-init 22.4 (authkey-fp.c). */
int system_authkey_fingerprints_text(const char *user, const char *key_fn, const char *text, const char *hash,
                                     char **ret);
int system_authkey_fingerprints(struct kiln_context *ctx, const json_t *config, const json_t *users);
bool system_is_true(const json_t *v);

/* byobu_by_default as cloud-init 22.4's cc_byobu (byobu.c). */
int system_byobu_command(const char *value, const char *default_user, char **ret, const char **ret_warning);
int system_apply_byobu(struct kiln_context *ctx, const json_t *config, const json_t *users);

/* Python as cloud-init uses it for the configuration-management keys
 * (cm-render.c): str() of a scalar (NULL for a list or mapping), repr() of
 * a float; ConfigParser's INI as cloud-init reads it (lines lstripped,
 * comments dropped, strict: a repeated section or option is an error) into
 * {"defaults": {...}, "sections": {name: {option: value}}}, set() as
 * cloud-init's DefaultingConfigParser does (-ENOENT: NoSectionError), and
 * written back; yaml.dump(v, default_flow_style=False), or with
 * cloudinit_dumps as cloud-init's safeyaml.dumps() (indent 4, "---" and
 * "..."). */
#define SYSTEM_INI_MAX (4u << 20)
char *system_py_str(const json_t *v);
char *system_py_float(double d);
int system_ini_parse(const char *text, size_t len, json_t **ret, char **ret_error);
int system_ini_set(json_t *ini, const char *section, const char *option, const char *value);
char *system_ini_render(const json_t *ini);
int system_yaml_dump(const json_t *v, bool cloudinit_dumps, char **ret);
/* puppet (puppet.c), as cloud-init 22.4's cc_puppet; socket.getfqdn(). */
int system_apply_puppet(struct kiln_context *ctx, const json_t *config);
char *system_getfqdn(void);
/* salt_minion (salt.c), as cloud-init 22.4's cc_salt_minion on Linux. */
int system_apply_salt_minion(struct kiln_context *ctx, const json_t *config);
/* Checks of puppet and salt_minion (puppet.c) that their types do not cover. */
void system_validate_cm(const json_t *config, struct config_report *rep);
/* ansible as cloud-init 22.4's cc_ansible (ansible.c): the problem that
 * stops it before anything runs (a static message), NULL when none; the
 * key applied once per instance. */
const char *system_ansible_problem(const json_t *ansible);
int system_apply_ansible(struct kiln_context *ctx, const json_t *config);
/* Its checks for `kiln validate`: the problem, keys cloud-init's schema lacks. */
void system_validate_ansible(const json_t *config, struct config_report *rep);
