#!/bin/bash
# rsyslog from cloud-init's documentation examples, under --root: the files
# cloud-init's cc_rsyslog writes, byte for byte, and rsyslog reloaded as its
# Debian distro does (recorded through KILN_SYSTEM_COMMAND).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
make_pkg_recorder "$T/tool" "$T/tools.log"
export KILN_SYSTEM_COMMAND=$T/tool
start_ec2 imds

# docs example 1
user_data <<'EOF2'
#cloud-config
rsyslog:
    remotes:
        maas: 192.168.1.1
        juju: 10.0.4.1
    service_reload_command: auto
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'rsyslog|warn|error' | head
check "remotes as cloud-init renders them (UDP: one @)" \
	diff "$ROOT/etc/rsyslog.d/20-cloud-config.conf" \
	<(printf '# begin remotes\n*.* @192.168.1.1 # maas\n*.* @10.0.4.1 # juju\n# end remotes\n')
check "rsyslog reloaded as cloud-init's manage_service('try-reload')" \
	grep -qx 'systemctl reload-or-try-restart rsyslog' "$T/tools.log"

# docs example 2
imds_data '{"instance-id": "i-00000000000rsys2"}'
: >"$T/tools.log"
user_data <<'EOF2'
#cloud-config
rsyslog:
    config_dir: /opt/etc/rsyslog.d
    config_filename: 99-late-cloud-config.conf
    configs:
        - "*.* @@192.158.1.1"
        - content: "*.*   @@192.0.2.1:10514"
          filename: 01-example.conf
        - content: |
            *.*   @@syslogd.example.com
    remotes:
        maas: 192.168.1.1
        juju: 10.0.4.1
    service_reload_command: [your, syslog, restart, command]
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "second boot is done (exit $rc)"
diag "$T/boot2.log" | grep -iE 'rsyslog|warn|error' | head
check "config_filename: configs and remotes appended in order" \
	diff "$ROOT/opt/etc/rsyslog.d/99-late-cloud-config.conf" \
	<(printf '*.* @@192.158.1.1\n*.*   @@syslogd.example.com\n# begin remotes\n*.* @192.168.1.1 # maas\n*.* @10.0.4.1 # juju\n# end remotes\n')
check "an entry's own filename" diff "$ROOT/opt/etc/rsyslog.d/01-example.conf" <(printf '*.*   @@192.0.2.1:10514\n')
check "service_reload_command run as given" grep -qx 'your syslog restart command' "$T/tools.log"
check "auto's reload not run" sh -c "! grep -q reload-or-try-restart '$T/tools.log'"

# remote forms: match, @@ (TCP), port, IPv6 in brackets, comment as name,
# a refused one (two spaces) left out and the boot degraded; the old list
# form with rsyslog_filename and rsyslog_dir.
imds_data '{"instance-id": "i-00000000000rsys3"}'
user_data <<'EOF2'
#cloud-config
rsyslog:
  remotes:
    tcp: "@@10.0.0.5:0514"
    v6: "kern.* [2001:db8::1]:514"
    "": "10.1.1.1 # from-comment"
    bad: "a b c"
    p0: "h:0"
    c2: "x # a # b"
EOF2
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a remote cloud-init refuses makes the boot degraded (exit $rc)"
check "remote lines as SyslogRemotesLine.__str__() (checked against cloud-init 22.4's own remotes_to_rsyslog_cfg)" \
	diff "$ROOT/etc/rsyslog.d/20-cloud-config.conf" \
	<(printf '# begin remotes\n*.* @@10.0.0.5:514 # tcp\nkern.* @[2001:db8::1]:514 # v6\n*.* @10.1.1.1 # from-comment\n*.* @h # p0\n# end remotes\n')

imds_data '{"instance-id": "i-00000000000rsys4"}'
user_data <<'EOF2'
#cloud-config
rsyslog:
  - "*.* @@old.example"
  - content: "local0.* /var/log/l0"
    filename: other.conf
rsyslog_filename: legacy.conf
rsyslog_dir: /etc/legacy.d
EOF2
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "the old list form is done (exit $rc)"
check "old form: rsyslog_dir/rsyslog_filename" diff "$ROOT/etc/legacy.d/legacy.conf" <(printf '*.* @@old.example\n')
check "old form: an entry's filename" diff "$ROOT/etc/legacy.d/other.conf" <(printf 'local0.* /var/log/l0\n')

# once per instance: a reboot writes nothing again
rm "$ROOT/etc/legacy.d/legacy.conf"
kiln boot >"$T/boot5.log" 2>&1
check "not again on the same instance" test ! -e "$ROOT/etc/legacy.d/legacy.conf"
done_testing
