/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "module.h"
#include "pkg.h"
#include "scripts/scripts.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"
#include "userdata/userdata.h"

static int fold(int result, int r) {
        if (r < 0 || (r > 0 && result >= 0))
                return r < 0 ? KILN_DEGRADED : r;
        return result;
}

/* Boothooks and bootcmd: first thing in the apply stage, every boot unless
 * an item says otherwise. */
static int run_early(struct kiln_context *ctx, const json_t *plan) {
        json_t *item;
        size_t i;
        int result = 0;

        for (i = 0; i < ctx->n_parts; i++)
                if (userdata_part_is_boothook(&ctx->parts[i]))
                        result = fold(result, scripts_run_part(ctx, &ctx->parts[i], "boothook"));
        json_array_foreach(json_object_get(plan, "bootcmd"), i, item)
                result = fold(result, scripts_run_command(ctx, item, "bootcmd"));
        return result;
}

/* 1 when per-instance work named `marker` is due, 0 when done (recorded). */
static int due(struct kiln_context *ctx, const char *marker) {
        int r = state_should_run(ctx, FREQ_INSTANCE, marker);

        if (r < 0)
                return kiln_fail(ctx, r, "Not doing %s: %s", marker,
                                 r == -ENXIO ? "the instance is unknown, so per-instance work cannot be tracked"
                                             : strerror(-r));
        if (r == 0)
                kiln_record(ctx, json_pack("{s:s, s:s, s:s}", "name", marker, "result", "skipped", "frequency",
                                           "per-instance"));
        return r;
}

static int apply_files(struct kiln_context *ctx, const json_t *files, bool deferred) {
        const char *marker = deferred ? "write_files-deferred" : "write_files";
        bool any = false;
        json_t *f;
        size_t i;
        int r;

        json_array_foreach(files, i, f)
                any = any || json_is_true(json_object_get(f, "defer")) == deferred;
        if (!any)
                return 0;
        r = due(ctx, marker);
        if (r <= 0)
                return r;
        /* Each file is marked as it is written; the whole list once all
         * are, so that later boots look at one marker. */
        r = system_apply_files(ctx, files, deferred);
        if (r != 0)
                return r;
        r = state_mark_done(ctx, FREQ_INSTANCE, marker);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that %s ran: %s", marker, strerror(-r)) : 0;
}

/* [name, version] as the package manager spells it. */
static char *package_spec(const json_t *p, enum pkg_manager m) {
        if (json_is_string(p))
                return strdup(json_string_value(p));
        return strdup_printf("%s%s%s", json_string_value(json_array_get(p, 0)), m == PKG_APT ? "=" : "-",
                             json_string_value(json_array_get(p, 1)));
}

static int pkg_step(struct kiln_context *ctx, const char *name, int r) {
        kiln_record(ctx, json_pack("{s:s, s:s, s:s?}", "name", name, "result", r < 0 ? "failed" : "ok", "error",
                                   r < 0 ? strerror(-r) : NULL));
        if (r == -EROFS)
                return kiln_degrade(ctx, "%s: not touching packages under --root (KILN_PKG_COMMAND is for tests)",
                                    name);
        if (r == -ENOENT)
                return kiln_degrade(ctx, "%s: no package manager found (apt-get, dnf or yum)", name);
        return r < 0 ? kiln_degrade(ctx, "%s failed: %s", name, strerror(-r)) : 0;
}

/* Per instance, marked done only when everything went in: a mirror that
 * was down is tried again at the next boot. */
static int apply_packages(struct kiln_context *ctx, const json_t *pk) {
        _cleanup_strv_free_ char **names = NULL;
        enum pkg_manager m = pkg_detect();
        json_t *p;
        size_t i;
        int r, failed = 0;

        if (!json_is_true(json_object_get(pk, "update")) && !json_is_true(json_object_get(pk, "upgrade")) &&
            json_array_size(json_object_get(pk, "install")) == 0)
                return 0;
        r = due(ctx, "packages");
        if (r <= 0)
                return r;
        json_array_foreach(json_object_get(pk, "install"), i, p) {
                _cleanup_free_ char *spec = package_spec(p, m);
                if (!spec || strv_push(&names, spec) < 0)
                        return -ENOMEM;
        }
        if (json_is_true(json_object_get(pk, "update")))
                failed |= pkg_step(ctx, "package_update", pkg_update()) != 0;
        if (json_is_true(json_object_get(pk, "upgrade")))
                failed |= pkg_step(ctx, "package_upgrade", pkg_upgrade()) != 0;
        if (names)
                failed |= pkg_step(ctx, "packages", pkg_install(names)) != 0;
        if (failed)
                return KILN_DEGRADED;
        r = state_mark_done(ctx, FREQ_INSTANCE, "packages");
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that packages were installed: %s", strerror(-r)) : 0;
}

/* apply, before scripts: boothooks and bootcmd, hostname, time zone, users
 * and SSH keys, files, packages, deferred files. */
static int system_boot(struct kiln_context *ctx) {
        _cleanup_json_ json_t *plan = system_plan(ctx->config, ctx->parts, ctx->n_parts, system_default_user_name());
        _cleanup_json_ json_t *cfg = NULL, *users_plan = NULL;
        bool packages_due;
        int result;

        if (!plan)
                return kiln_fail(ctx, -ENOMEM, "Out of memory planning the system setup.");
        result = fold(system_check_output(ctx), run_early(ctx, plan));
        result = fold(result, system_apply_hostname(ctx, json_object_get(plan, "hostname")));
        result = fold(result, system_apply_timezone(ctx, json_string_value(json_object_get(plan, "timezone"))));
        /* ssh_import_id: the keys fetched join the users' ssh_authorized_keys */
        cfg = json_deep_copy(ctx->config);
        if (!cfg)
                return kiln_fail(ctx, -ENOMEM, "Out of memory planning the system setup.");
        result = fold(result, system_ssh_import_ids(ctx, cfg));
        users_plan = system_plan(cfg, ctx->parts, ctx->n_parts, system_default_user_name());
        if (!users_plan)
                return kiln_fail(ctx, -ENOMEM, "Out of memory planning the system setup.");
        result = fold(result, system_apply_groups(ctx, json_object_get(plan, "groups")));
        result = fold(result, system_apply_users(ctx, json_object_get(users_plan, "users")));
        result = fold(result, system_apply_root_keys(ctx, json_object_get(plan, "root_keys")));
        result = fold(result, apply_files(ctx, json_object_get(plan, "write_files"), false));
        result = fold(result, system_apply_passwords(ctx, json_object_get(plan, "passwords")));
        result = fold(result, system_apply_locale(ctx, ctx->config));
        result = fold(result, system_apply_ca_certs(ctx, ctx->config));
        result = fold(result, system_apply_ntp(ctx, ctx->config));
        result = fold(result, system_apply_rsyslog(ctx, ctx->config));
        result = fold(result, system_apply_random_seed(ctx, ctx->config));
        result = fold(result, system_apply_resolv_conf(ctx, ctx->config));
        result = fold(result, system_apply_keyboard(ctx, ctx->config));
        /* Repositories before packages, as cloud-init's config stage orders them
         * (grub-dpkg, apt-pipelining, apt-configure). */
        result = fold(result, system_apply_grub_dpkg(ctx, ctx->config));
        result = fold(result, system_apply_apt(ctx, ctx->config));
        result = fold(result, system_apply_apt_pipelining(ctx, ctx->config));
        result = fold(result, system_apply_yum_repos(ctx, ctx->config));
        /* cloud-init's config stage, before the final stage installs packages. */
        result = fold(result, system_apply_byobu(ctx, ctx->config, json_object_get(users_plan, "users")));
        /* As cloud-init: only when packages were upgraded or installed in this boot. */
        packages_due = (json_is_true(json_object_get(json_object_get(plan, "packages"), "upgrade")) ||
                        json_array_size(json_object_get(json_object_get(plan, "packages"), "install")) > 0) &&
                       state_should_run(ctx, FREQ_INSTANCE, "packages") > 0;
        result = fold(result, apply_packages(ctx, json_object_get(plan, "packages")));
        result = fold(result, system_reboot_if_required(ctx, ctx->config, packages_due));
        if (ctx->power_now)
                return result;
        result = fold(result, apply_files(ctx, json_object_get(plan, "write_files"), true));
        /* cloud-init's final stage: after write-files-deferred, before the scripts
         * (puppet, chef, ansible, mcollective, salt_minion in upstream's cloud.cfg). */
        result = fold(result, system_apply_puppet(ctx, ctx->config));
        result = fold(result, system_apply_ansible(ctx, ctx->config));
        result = fold(result, system_apply_salt_minion(ctx, ctx->config));
        /* cloud-init's final stage prints these; the keys are all in place by now. */
        result = fold(result, system_authkey_fingerprints(ctx, ctx->config, json_object_get(users_plan, "users")));
        return result;
}

static const struct config_key system_keys[] = {
        {"hostname", CONFIG_STRING, "Host name (default: IMDS local-hostname's first label)."},
        {"fqdn", CONFIG_STRING,
         "Fully qualified name for /etc/hosts; its first label is the hostname if none is given."},
        {"preserve_hostname", CONFIG_BOOL, "Leave the hostname alone (default false)."},
        {"prefer_fqdn_over_hostname", CONFIG_BOOL, "Write the fqdn, not the short name, to /etc/hostname."},
        {"manage_etc_hosts", CONFIG_ANY,
         "true: /etc/hosts written whole for the hostname at every boot; localhost: only its 127.0.1.1 line; "
         "default: left alone."},
        {"timezone", CONFIG_STRING, "Time zone such as Europe/Berlin: /etc/localtime and /etc/timezone."},
        {"default_user", CONFIG_MAP, "The image's login user, which gets the launch key pair."},
        {"default_user.name", CONFIG_STRING, "Its name (default: admin on Debian, ubuntu on Ubuntu, else ec2-user)."},
        {"default_user.groups", CONFIG_STRING_OR_LIST, "Extra groups (created if missing)."},
        {"default_user.sudo", CONFIG_ANY, "sudoers rule(s), or false (default ALL=(ALL) NOPASSWD:ALL)."},
        {"default_user.shell", CONFIG_STRING, "Login shell (default /bin/bash)."},
        {"default_user.lock_passwd", CONFIG_BOOL, "Lock password logins (default true)."},
        {"default_user.gecos", CONFIG_STRING, "Full name / comment field."},
        {"default_user.ssh_authorized_keys", CONFIG_LIST, "Keys added besides the launch key pair."},
        {"users", CONFIG_LIST, "Users to create; \"default\" stands for the default user, left out when not listed."},
        {"users[]", CONFIG_STRING_OR_MAP, "\"default\", a user name, or a mapping."},
        {"users[].name", CONFIG_STRING, "User name (required)."},
        {"users[].groups", CONFIG_STRING_OR_LIST, "Extra groups, as a list or \"a, b\" (created if missing)."},
        {"users[].sudo", CONFIG_ANY, "sudoers rule(s) such as ALL=(ALL) NOPASSWD:ALL, or false (default none)."},
        {"users[].shell", CONFIG_STRING, "Login shell (default /bin/bash)."},
        {"users[].lock_passwd", CONFIG_BOOL, "Lock password logins (default true)."},
        {"users[].gecos", CONFIG_STRING, "Full name / comment field."},
        {"users[].homedir", CONFIG_STRING, "Home directory (default /home/NAME)."},
        {"users[].primary_group", CONFIG_STRING, "Primary group (default: a group named after the user)."},
        {"users[].system", CONFIG_BOOL, "A system account (useradd -r)."},
        {"users[].uid", CONFIG_INT, "User id."},
        {"users[].ssh_authorized_keys", CONFIG_LIST, "Public keys for ~/.ssh/authorized_keys."},
        {"users[].hashed_passwd", CONFIG_STRING, "Password hash (crypt(3)), set when the user is created."},
        {"users[].plain_text_passwd", CONFIG_STRING, "Password, set when the user is created (not under --root)."},
        {"ssh_authorized_keys", CONFIG_LIST, "Public keys for the default user, besides the launch key pair."},
        {"write_files", CONFIG_LIST, "Files written once per instance."},
        {"write_files[]", CONFIG_MAP, "One file."},
        {"write_files[].path", CONFIG_STRING, "Absolute path (required)."},
        {"write_files[].content", CONFIG_STRING, "Content (default empty)."},
        {"write_files[].encoding", CONFIG_STRING,
         "text/plain (default), b64, gzip or gz+b64 (and their long names); base64 read as Python's b64decode()."},
        {"write_files[].owner", CONFIG_STRING, "user:group, or user (default root:root)."},
        {"write_files[].permissions", CONFIG_ANY,
         "Octal mode as a string ('0644', the default; '0o600'), or a YAML number as cloud-init takes it."},
        {"write_files[].append", CONFIG_BOOL, "Append to the file instead of replacing it."},
        {"write_files[].defer", CONFIG_BOOL, "Write after packages are installed (their users and directories exist)."},
        {"packages", CONFIG_LIST,
         "Packages installed once per instance: names, [name] or [name, version] (version as Python's str())."},
        {"package_update", CONFIG_BOOL, "Refresh the package index first (implied by packages and package_upgrade)."},
        {"package_upgrade", CONFIG_BOOL, "Upgrade installed packages (apt-get dist-upgrade, dnf upgrade)."},
        {"bootcmd", CONFIG_LIST, "Commands run early at every boot, as one shell script."},
        {"bootcmd[]", CONFIG_COMMAND,
         "A line of the script, a list of words (quoted into one line), or a mapping (run on its own)."},
        {"bootcmd[].command", CONFIG_ANY, "The command: a shell string or a list of words."},
        {"bootcmd[].frequency", CONFIG_STRING, "per-boot (default), per-instance or once."},
        {"bootcmd[].name", CONFIG_STRING, "Name in `kiln status` and for its run-once marker."},
        {"yum_repos", CONFIG_ANY,
         "Repository id -> settings: <yum_repo_dir>/<id>.repo written as cloud-init writes it (RHEL family)."},
        {"yum_repo_dir", CONFIG_STRING, "Where yum_repos go (default /etc/yum.repos.d/)."},
        {"ca_certs", CONFIG_ANY, "cloud-init's ca_certs: remove_defaults, trusted (PEM certificates)."},
        {"ca-certs", CONFIG_ANY, "The old spelling of ca_certs (ca_certs wins when both are given)."},
        {"locale", CONFIG_ANY, "LANG for the system (Debian/Ubuntu): locale.gen, locale-gen, update-locale."},
        {"locale_configfile", CONFIG_STRING, "The file update-locale writes (default /etc/default/locale)."},
        {"ntp", CONFIG_ANY,
         "cloud-init's ntp: enabled, ntp_client (auto, chrony, systemd-timesyncd), servers, pools, peers, allow."},
        {"ssh_import_id", CONFIG_STRING_OR_LIST, "ids (gh:NAME, lp:NAME) whose public keys the default user gets."},
        {"users[].ssh_import_id", CONFIG_STRING_OR_LIST, "ids (gh:NAME, lp:NAME) whose public keys the user gets."},
        {"output", CONFIG_ANY,
         "cloud-init's output: where the scripts' output also goes (> FILE, >> FILE, | tee [-a] FILE), per stage."},
        {"apt", CONFIG_ANY,
         "cloud-init's apt: proxy keys, conf, sources (key, source, filename, append; ppa: and the like through "
         "add-apt-repository), primary/security uri, debconf_selections, add_apt_repo_match (Debian/Ubuntu)."},
        {"grub_dpkg", CONFIG_ANY,
         "grub-pc/install_devices (default: the disk of /boot) and grub-pc/install_devices_empty set in debconf, "
         "once per instance (Debian/Ubuntu; on without the key; enabled: false turns it off)."},
        {"grub-dpkg", CONFIG_ANY, "The old spelling of grub_dpkg (grub_dpkg wins when both are given)."},
        {"apt_pipelining", CONFIG_ANY,
         "Acquire::http::Pipeline-Depth: false (0) or 0-5; os, none, unchanged: apt's default (Debian/Ubuntu)."},
        {"cloud_init_modules", CONFIG_LIST, "cloud-init's module list for its init stage (see below)."},
        {"cloud_init_modules[]", CONFIG_ANY, "A module: name, [name, frequency, args...] or {name, frequency}."},
        {"cloud_config_modules", CONFIG_LIST, "cloud-init's module list for its config stage."},
        {"cloud_config_modules[]", CONFIG_ANY, "A module: name, [name, frequency, args...] or {name, frequency}."},
        {"cloud_final_modules", CONFIG_LIST,
         "cloud-init's module list for its final stage: [scripts-user, always] runs scripts and runcmd every boot."},
        {"cloud_final_modules[]", CONFIG_ANY, "A module: name, [name, frequency, args...] or {name, frequency}."},
        {"chpasswd", CONFIG_MAP, "Passwords set once per instance, as cloud-init's set_passwords."},
        {"chpasswd.users", CONFIG_LIST, "Users whose password is set."},
        {"chpasswd.users[]", CONFIG_MAP, "One user."},
        {"chpasswd.users[].name", CONFIG_STRING, "User name."},
        {"chpasswd.users[].password", CONFIG_STRING, "The password: a crypt(3) hash, or text (default RANDOM)."},
        {"chpasswd.users[].type", CONFIG_STRING, "hash (default), text or RANDOM (written to the console only)."},
        {"chpasswd.list", CONFIG_STRING_OR_LIST,
         "Deprecated: name:password lines; a $1/$2a/$2y/$5/$6 hash, R or RANDOM, else text."},
        {"chpasswd.expire", CONFIG_ANY, "Make the users change the password at next login (default true)."},
        {"password", CONFIG_STRING, "The default user's password, as a chpasswd.list line (when chpasswd names none)."},
        {"disable_root", CONFIG_BOOL,
         "Root logins with the launch key and ssh_authorized_keys print 'Please login as...' (default true)."},
        {"disable_root_opts", CONFIG_STRING,
         "authorized_keys options for root's keys when disable_root ($USER: the default user, $DISABLE_USER: root)."},
        {"allow_public_ssh_keys", CONFIG_BOOL, "Install the launch key pair (default true)."},
        {"ssh_pwauth", CONFIG_ANY,
         "true/false: PasswordAuthentication yes/no in sshd's config (a drop-in when sshd_config includes them)."},
        {"default_user.homedir", CONFIG_STRING, "Home directory (default /home/NAME)."},
        {"default_user.primary_group", CONFIG_STRING, "Primary group (default: a group named after the user)."},
        {"default_user.system", CONFIG_BOOL, "A system account (useradd -r, no home)."},
        {"default_user.uid", CONFIG_INT, "User id."},
        {"default_user.hashed_passwd", CONFIG_STRING, "Password hash (crypt(3)), set when the user is created."},
        {"default_user.plain_text_passwd", CONFIG_STRING, "Password, set when the user is created (not under --root)."},
        {"default_user.no_create_home", CONFIG_BOOL, "Make no home directory (useradd -M)."},
        {"users[].no_create_home", CONFIG_BOOL, "Make no home directory (useradd -M); not with ssh_authorized_keys."},
        {"users[].expiredate", CONFIG_ANY, "Date the account is disabled (useradd --expiredate), as a string."},
        {"users[].inactive", CONFIG_ANY, "Days after the password expires until the account is disabled, as a string."},
        {"users[].selinux_user", CONFIG_STRING, "SELinux user for logins (useradd --selinux-user)."},
        {"users[].no_user_group", CONFIG_BOOL, "No group named after the user (useradd --no-user-group)."},
        {"users[].no_log_init", CONFIG_BOOL, "Not in the lastlog and faillog databases (useradd --no-log-init)."},
        {"default_user.expiredate", CONFIG_ANY, "Date the account is disabled (useradd --expiredate), as a string."},
        {"default_user.inactive", CONFIG_ANY,
         "Days after the password expires until the account is disabled, as a string."},
        {"default_user.selinux_user", CONFIG_STRING, "SELinux user for logins (useradd --selinux-user)."},
        {"default_user.no_user_group", CONFIG_BOOL, "No group named after the user (useradd --no-user-group)."},
        {"default_user.no_log_init", CONFIG_BOOL, "Not in the lastlog and faillog databases (useradd --no-log-init)."},
        {"users[].ssh_redirect_user", CONFIG_ANY,
         "true: the launch key logs in only to say 'Please login as the user \"DEFAULT\"...' (cloud-init's)."},
        {"user", CONFIG_STRING_OR_MAP,
         "cloud-config's legacy default user: its name, or its keys over default_user's; makes it wanted."},
        {"user.name", CONFIG_STRING, "As default_user.name."},
        {"user.groups", CONFIG_STRING_OR_LIST, "As default_user.groups."},
        {"user.sudo", CONFIG_ANY, "As default_user.sudo."},
        {"user.shell", CONFIG_STRING, "As default_user.shell."},
        {"user.lock_passwd", CONFIG_BOOL, "As default_user.lock_passwd."},
        {"user.gecos", CONFIG_STRING, "As default_user.gecos."},
        {"user.homedir", CONFIG_STRING, "As default_user.homedir."},
        {"user.primary_group", CONFIG_STRING, "As default_user.primary_group."},
        {"user.system", CONFIG_BOOL, "As default_user.system."},
        {"user.uid", CONFIG_INT, "As default_user.uid."},
        {"user.ssh_authorized_keys", CONFIG_LIST, "As default_user.ssh_authorized_keys."},
        {"user.hashed_passwd", CONFIG_STRING, "As default_user.hashed_passwd."},
        {"user.plain_text_passwd", CONFIG_STRING, "As default_user.plain_text_passwd."},
        {"user.no_create_home", CONFIG_BOOL, "As default_user.no_create_home."},
        {"user.expiredate", CONFIG_ANY, "As default_user.expiredate."},
        {"user.inactive", CONFIG_ANY, "As default_user.inactive."},
        {"user.selinux_user", CONFIG_STRING, "As default_user.selinux_user."},
        {"user.no_user_group", CONFIG_BOOL, "As default_user.no_user_group."},
        {"user.no_log_init", CONFIG_BOOL, "As default_user.no_log_init."},
        {"groups", CONFIG_ANY,
         "Groups made before the users, once per instance: 'a, b', a list, or group: [members] (members that exist "
         "are added)."},
        {"rsyslog", CONFIG_ANY,
         "cloud-init's rsyslog: configs (strings or {content, filename}), remotes, config_dir, config_filename, "
         "service_reload_command; or the old list form."},
        {"rsyslog_filename", CONFIG_STRING, "The old list form's config_filename."},
        {"rsyslog_dir", CONFIG_STRING, "The old list form's config_dir."},
        {"random_seed", CONFIG_ANY,
         "cloud-init's random_seed: data (encoding raw, base64/b64, gzip/gz) appended to file (default /dev/urandom), "
         "then command (RANDOM_SEED_FILE set), command_required."},
        {"manage_resolv_conf", CONFIG_ANY, "true: /etc/resolv.conf written from resolv_conf (where cloud-init does)."},
        {"resolv_conf", CONFIG_ANY, "cloud-init's resolv_conf: nameservers, searchdomains, domain, sortlist, options."},
        {"keyboard", CONFIG_MAP,
         "cloud-init's keyboard: localectl set-x11-keymap layout, model (pc105), variant, options."},
        {"keyboard.layout", CONFIG_STRING, "Keyboard layout, such as us or de (required)."},
        {"keyboard.model", CONFIG_STRING, "Keyboard model (default pc105)."},
        {"keyboard.variant", CONFIG_STRING, "Layout variant, such as nodeadkeys (default none)."},
        {"keyboard.options", CONFIG_STRING, "XKB options, such as compose:rwin (default none)."},
        {"no_ssh_fingerprints", CONFIG_ANY,
         "true (cloud-init's is_true: true, yes, on, 1): no authorized keys fingerprints on the console."},
        {"authkey_hash", CONFIG_STRING, "Digest of the authorized keys fingerprints on the console (default sha256)."},
        {"disable_ec2_metadata", CONFIG_ANY,
         "true: the route to 169.254.169.254 rejected at the end of every boot (kiln's metrics and role credentials "
         "stop working: degraded when metrics are configured)."},
        {"byobu_by_default", CONFIG_ANY,
         "user, system, enable-user, enable-system, enable, disable-user, disable-system, disable (cloud-init's "
         "cc_byobu; byobu is not installed)."},
        {"puppet", CONFIG_MAP, "cloud-init's puppet: installed, configured and started once per instance."},
        {"puppet.install", CONFIG_BOOL, "Install puppet (default true; the package is installed even if present)."},
        {"puppet.version", CONFIG_ANY, "Package version: package_name=version (Python's str() of a number)."},
        {"puppet.install_type", CONFIG_STRING,
         "packages (default: the distribution's package) or aio (puppetlabs' install script from aio_install_url)."},
        {"puppet.collection", CONFIG_STRING, "aio only: the release stream (puppet, puppet7...): the script's -c."},
        {"puppet.aio_install_url", CONFIG_STRING,
         "aio only: the install script's URL (default puppetlabs' install.sh on GitHub)."},
        {"puppet.cleanup", CONFIG_BOOL, "aio only: remove the puppetlabs repository after installing (default true)."},
        {"puppet.package_name", CONFIG_STRING, "packages only: the package (default puppet)."},
        {"puppet.conf_file", CONFIG_STRING, "puppet.conf (default: `puppet config print config`)."},
        {"puppet.ssl_dir", CONFIG_STRING, "The SSL directory (default: `puppet config print ssldir`)."},
        {"puppet.csr_attributes_path", CONFIG_STRING,
         "csr_attributes.yaml (default: `puppet config print csr_attributes`)."},
        {"puppet.conf", CONFIG_DICT,
         "Sections (main, server, agent, user...) of options merged into puppet.conf (old one kept as .old); "
         "certname's %f: the fqdn, %i: the instance id; ca_cert: the CA's PEM, to <ssl_dir>/certs/ca.pem."},
        {"puppet.csr_attributes", CONFIG_DICT,
         "custom_attributes and extension_requests, written as YAML to csr_attributes_path."},
        {"puppet.exec", CONFIG_BOOL, "Run `puppet agent` once (default false)."},
        {"puppet.exec_args", CONFIG_STRING_OR_LIST,
         "Its arguments: a list, or a string split at spaces (default --test)."},
        {"puppet.start_service", CONFIG_BOOL,
         "Enable puppet at boot (START=yes in /etc/default/puppet, or systemctl enable) and start it (default true)."},
        {"salt_minion", CONFIG_MAP,
         "cloud-init's salt_minion: the package installed, minion config, grains and key pair written, the service "
         "restarted, once per instance."},
        {"salt_minion.pkg_name", CONFIG_STRING, "The package (default salt-minion; not in Debian 12)."},
        {"salt_minion.service_name", CONFIG_STRING, "The service restarted (default salt-minion)."},
        {"salt_minion.config_dir", CONFIG_STRING, "Where minion and grains go (default /etc/salt)."},
        {"salt_minion.conf", CONFIG_DICT, "The minion config, written as YAML to <config_dir>/minion."},
        {"salt_minion.grains", CONFIG_DICT, "Grains, written as YAML to <config_dir>/grains."},
        {"salt_minion.public_key", CONFIG_STRING, "minion.pub (with private_key) in pki_dir."},
        {"salt_minion.private_key", CONFIG_STRING, "minion.pem (0600; with public_key) in pki_dir."},
        {"salt_minion.pki_dir", CONFIG_STRING,
         "Where the key pair goes (default <config_dir>/pki/minion if a directory, else <config_dir>/pki)."},
        {"ansible", CONFIG_MAP,
         "cloud-init's ansible, once per instance: ansible installed, then galaxy actions, ansible-pull, "
         "setup_controller."},
        {"ansible.install_method", CONFIG_STRING,
         "distro (default: the package through the package manager) or pip (python3 -m pip install)."},
        {"ansible.package_name", CONFIG_STRING,
         "The package (default ansible; ansible-core is smaller), unless an ansible program is there."},
        {"ansible.run_user", CONFIG_STRING,
         "User the commands (and pip, with --user) run as, through su - USER -c (default root)."},
        {"ansible.ansible_config", CONFIG_STRING,
         "ANSIBLE_CONFIG for the commands (lost through su - with run_user, as in cloud-init)."},
        {"ansible.galaxy", CONFIG_MAP, "ansible-galaxy commands."},
        {"ansible.galaxy.actions", CONFIG_LIST,
         "Commands (lists of words) run in order, such as [ansible-galaxy, collection, install, X]."},
        {"ansible.galaxy.actions[]", CONFIG_LIST, "One command as a list of words."},
        {"ansible.pull", CONFIG_DICT,
         "ansible-pull --KEY[=VALUE]... PLAYBOOK: each key (_ as -) a flag in the order given; true: --KEY; false: "
         "none."},
        {"ansible.pull.url", CONFIG_STRING, "Repository URL (required): --url."},
        {"ansible.pull.playbook_name", CONFIG_STRING, "Playbook to run (required), the last argument."},
        {"ansible.pull.accept_host_key", CONFIG_BOOL, "--accept-host-key."},
        {"ansible.pull.clean", CONFIG_BOOL, "--clean."},
        {"ansible.pull.full", CONFIG_BOOL, "--full."},
        {"ansible.pull.diff", CONFIG_BOOL, "--diff (refused with ansible before 2.7, as cloud-init)."},
        {"ansible.pull.ssh_common_args", CONFIG_ANY, "--ssh-common-args=VALUE."},
        {"ansible.pull.scp_extra_args", CONFIG_ANY, "--scp-extra-args=VALUE."},
        {"ansible.pull.sftp_extra_args", CONFIG_ANY, "--sftp-extra-args=VALUE."},
        {"ansible.pull.private_key", CONFIG_ANY, "--private-key=VALUE."},
        {"ansible.pull.checkout", CONFIG_ANY, "--checkout=VALUE (branch, tag or commit)."},
        {"ansible.pull.module_path", CONFIG_ANY, "--module-path=VALUE."},
        {"ansible.pull.timeout", CONFIG_ANY, "--timeout=VALUE."},
        {"ansible.pull.connection", CONFIG_ANY, "--connection=VALUE."},
        {"ansible.pull.vault_id", CONFIG_ANY, "--vault-id=VALUE."},
        {"ansible.pull.vault_password_file", CONFIG_ANY, "--vault-password-file=VALUE."},
        {"ansible.pull.module_name", CONFIG_ANY, "--module-name=VALUE."},
        {"ansible.pull.sleep", CONFIG_ANY, "--sleep=VALUE."},
        {"ansible.pull.tags", CONFIG_ANY, "--tags=VALUE."},
        {"ansible.pull.skip_tags", CONFIG_ANY, "--skip-tags=VALUE."},
        {"ansible.setup_controller", CONFIG_MAP,
         "Repositories cloned, then playbooks run (repositories or run_ansible required)."},
        {"ansible.setup_controller.repositories", CONFIG_LIST, "git clone SOURCE PATH for each, in order."},
        {"ansible.setup_controller.repositories[]", CONFIG_MAP, "One repository."},
        {"ansible.setup_controller.repositories[].source", CONFIG_STRING, "What git clones (required)."},
        {"ansible.setup_controller.repositories[].path", CONFIG_STRING, "Where (required)."},
        {"ansible.setup_controller.run_ansible", CONFIG_LIST, "ansible-playbook runs, in order."},
        {"ansible.setup_controller.run_ansible[]", CONFIG_DICT,
         "playbook_dir (the directory it runs in) and playbook_name (required); every other key KEY: VALUE is "
         "--KEY=VALUE (_ as -; false: none; true: --KEY=True, as cloud-init)."},
        {},
};

const struct kiln_module system_module = {
        .name = "system",
        .stage = STAGE_APPLY,
        .boot = system_boot,
        .validate = system_validate,
        .config_keys = system_keys,
};
