#!/bin/bash
# salt_minion as cloud-init 22.4's cc_salt_minion does it, under --root on
# a Debian root: the package installed (apt-get update first), minion and
# grains written as cloud-init's safeyaml.dumps() writes them, the key pair
# in pki_dir, the service restarted; a package the archive does not have
# (Debian 12 has no salt-minion) degrades the boot and writes nothing.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
make_pkg_recorder "$T/tool" "$T/tools.log"
export KILN_SYSTEM_COMMAND=$T/tool
start_ec2 imds
imds_data '{"instance-id": "i-0000000000000salt"}'

# cloud-init's docs example, with more in conf and grains; the default
# pki_dir (<config_dir>/pki: /etc/salt/pki/minion is not a directory).
user_data <<'EOF2'
#cloud-config
salt_minion:
    pkg_name: salt-minion
    service_name: salt-minion
    config_dir: /etc/salt
    conf:
        master: salt.example.com
        file_roots: {base: [/srv/salt]}
        log_level: warning
        startup_states: highstate
    grains:
        role:
            - web
        dc: eu-1
        id: 7
        "on": "yes"
    public_key: |
        ------BEGIN PUBLIC KEY-------
        <key data>
        ------END PUBLIC KEY-------
    private_key: |
        ------BEGIN PRIVATE KEY------
        <key data>
        ------END PRIVATE KEY-------
EOF2
"$KILN" --root "$ROOT" validate --no-fetch "$EC2/user-data" >"$T/validate.log" 2>&1
ok $? "validate: the salt_minion example is valid"
check "... with no warning" grep -q ': valid: 0 error(s), 0 warning(s)' "$T/validate.log"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'salt|warn|error|degrad' | head -20
check "the package index refreshed, then salt-minion installed" \
	diff <(sed 's/.* \(update\)$/\1/; s/.* install /install /' "$T/pkg.log") <(printf 'update\ninstall salt-minion\n')
# What cloud-init 22.4.2's safeyaml.dumps() gives for conf and grains.
check "minion: conf as cloud-init's safeyaml.dumps() writes it" diff "$ROOT/etc/salt/minion" <(printf '%s\n' \
	--- 'file_roots:' '    base:' '    - /srv/salt' 'log_level: warning' 'master: salt.example.com' \
	'startup_states: highstate' ...)
check "grains likewise (keys sorted; 'on' and 'yes' quoted)" diff "$ROOT/etc/salt/grains" <(printf '%s\n' \
	--- 'dc: eu-1' 'id: 7' "'on': 'yes'" 'role:' '- web' ...)
check "... both 0644" test "$(stat -c %a "$ROOT/etc/salt/minion" "$ROOT/etc/salt/grains" | sort -u)" = 644
check "minion.pub in /etc/salt/pki (made 0700)" diff "$ROOT/etc/salt/pki/minion.pub" \
	<(printf '%s\n' '------BEGIN PUBLIC KEY-------' '<key data>' '------END PUBLIC KEY-------')
check "... pki 0700, minion.pub 0644, minion.pem 0600" test "$(stat -c %a "$ROOT/etc/salt/pki" \
	"$ROOT/etc/salt/pki/minion.pub" "$ROOT/etc/salt/pki/minion.pem" | tr '\n' ' ')" = "700 644 600 "
check "... minion.pem" grep -qx -- '------BEGIN PRIVATE KEY------' "$ROOT/etc/salt/pki/minion.pem"
check "the service restarted" diff "$T/tools.log" <(echo 'service salt-minion restart')

# Another instance: /etc/salt/pki/minion exists, so it is the default
# pki_dir; a config_dir and service of one's own; one key alone is not written.
imds_data '{"instance-id": "i-000000000000salt2"}'
: >"$T/tools.log"
: >"$T/pkg.log"
mkdir -p "$ROOT/etc/salt/pki/minion"
user_data <<'EOF2'
#cloud-config
salt_minion:
    config_dir: /srv/saltcfg
    service_name: my-minion
    pkg_name: salt-minion-custom
    conf: {master: m2}
    public_key: only-public
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "second instance: done (exit $rc)"
check "... pkg_name installed" grep -q 'install salt-minion-custom$' "$T/pkg.log"
check "... minion in config_dir" diff "$ROOT/srv/saltcfg/minion" <(printf -- '---\nmaster: m2\n...\n')
check "... no grains, no key written without private_key" \
	test ! -e "$ROOT/srv/saltcfg/grains" -a ! -e "$ROOT/srv/saltcfg/pki"
check "... service_name restarted" diff "$T/tools.log" <(echo 'service my-minion restart')
imds_data '{"instance-id": "i-000000000000salt3"}'
printf '#cloud-config\nsalt_minion: {public_key: p, private_key: k}\n' | user_data
kiln boot >"$T/boot3.log" 2>&1
check "with /etc/salt/pki/minion a directory, the keys go there" \
	test "$(cat "$ROOT/etc/salt/pki/minion/minion.pub" "$ROOT/etc/salt/pki/minion/minion.pem")" = pk

# Debian 12 has no salt-minion: apt-get fails, the boot is degraded, nothing written.
imds_data '{"instance-id": "i-000000000000salt4"}'
: >"$T/tools.log"
rm -rf "$ROOT/etc/salt"
printf '#!/bin/sh\necho "$*" >>%s\ncase "$*" in *install*) echo "E: Unable to locate package salt-minion" >&2; exit 100;; esac\n' \
	"$T/pkg.log" >"$T/pkg"
printf '#cloud-config\nsalt_minion: {conf: {master: m}}\n' | user_data
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a salt-minion package the archive lacks makes the boot degraded (exit $rc)"
check "... saying so, with the reason" grep -q 'salt_minion: installing the package salt-minion failed.*Debian 12 has no salt-minion' \
	"$ROOT/run/kiln/status.json"
check "... nothing written or restarted, as cloud-init" test ! -e "$ROOT/etc/salt" -a ! -s "$T/tools.log"
ok $([ "$(status_field 'd["result"]')" != done ]; echo $?) "... status is not done"
done_testing
