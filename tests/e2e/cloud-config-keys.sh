#!/bin/bash
# cloud-config keys as cloud-init 22.4 takes them: keys that mean nothing on
# EC2 accepted and ignored (listed once by validate, never a degraded boot);
# the module lists' frequencies (AWS's [scripts-user, always] recipe);
# passwords, ssh_pwauth, disable_root, groups. All under --root against the
# local EC2.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
v() { "$KILN" --root "$ROOT" validate --no-fetch "$@"; }

# --- keys with no meaning on EC2 ---------------------------------------------
cat >"$T/ignored.txt" <<'EOF2'
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/cloud-config

#cloud-config
datasource:
  Ec2:
    timeout: 5
    metadata_urls: ["http://169.254.169.254"]
datasource_list: [Ec2, None]
reporting:
  hook: {level: DEBUG, type: log}
vendor_data: {enabled: false}
timezone: Europe/Berlin
--XX
Content-Type: text/cloud-config

#cloud-config
datasource:
  Ec2: {max_wait: 10}
--XX--
EOF2
v "$T/ignored.txt" >"$T/out" 2>&1
ok $? "validate: keys meaning nothing on EC2 are valid"
diag "$T/out"
check "... with no warning" grep -q ": valid: 0 error(s), 0 warning(s)" "$T/out"
check "... listed on one note line" grep -q "^$T/ignored.txt: note: cloud-config keys accepted and ignored, as cloud-init on EC2 would: 'datasource' (" "$T/out"
ok $([ "$(grep -o "'datasource'" "$T/out" | wc -l)" -eq 1 ]; echo $?) "... each once, though two parts have it"
check "... datasource_list, reporting, vendor_data named" grep -q "'datasource_list'.*'reporting'.*'vendor_data'" "$T/out"
user_data_file "$T/ignored.txt"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $rc "boot with only EC2-meaningless keys besides supported ones is not degraded (exit $rc)"
diag "$T/boot.log" | grep -iE 'warn|degrad|fail' | head
check "... the rest applied" test -L "$ROOT/etc/localtime"
ok $([ "$(status_field 'd["result"]')" = done ]; echo $?) "... status: done"

# --- modules cloud-init runs only on some distributions ----------------------
# cloud-init 22.4 skips a module whose meta does not list the distro
# (snap: ubuntu only) unless unverified_modules names it. kiln takes the
# distro from --root's os-release, as cloud-init's from its image.
os_release() { printf 'PRETTY_NAME="%s"\nID=%s\n' "$1" "$1" >"$ROOT/etc/os-release"; }
snap_ud='#cloud-config\ndatasource: {Ec2: {timeout: 5}}\nsnap:\n  commands: [snap install hello]\n'

os_release debian
printf "$snap_ud" | v - >"$T/out" 2>&1
ok $? "debian: validate accepts snap"
check "... no warning" grep -q ": valid: 0 error(s), 0 warning(s)" "$T/out"
check "... a note: cloud-init does not run snap on debian either, only on ubuntu, from --root's os-release" \
	grep -qF "'snap' (cloud-init 22.4 does not run its module snap on debian either, only on ubuntu; debian is --root's distribution (ID=debian in $ROOT/etc/os-release))" "$T/out"
printf "$snap_ud" | user_data
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $rc "debian: a snap key does not make the boot degraded (exit $rc)"
check "... status: done" test "$(status_field 'd["result"]')" = done
check "... not called unsupported" sh -c "! grep -q \"key 'snap' is not supported\" '$ROOT/run/kiln/status.json'"

os_release amzn
printf '#cloud-config\nlxd: {init: {storage_backend: dir}}\nsnap: {commands: [a]}\nwireguard: {interfaces: []}\nubuntu_advantage: {token: x}\n' | v - >"$T/out" 2>&1
check "amazon: lxd, snap, wireguard, ubuntu_advantage are ignored with no warning" grep -q ": valid: 0 error(s), 0 warning(s)" "$T/out"
check "... each named, amzn read as cloud-init's amazon" grep -qF "'wireguard' (cloud-init 22.4 does not run its module wireguard on amazon either, only on ubuntu;" "$T/out"
printf '#cloud-config\nrh_subscription: {username: a}\n' | v - >"$T/out" 2>&1
check "amazon: rh_subscription (fedora, rhel only) ignored too" grep -qF "'rh_subscription' (cloud-init 22.4 does not run its module rh_subscription on amazon either, only on fedora, rhel;" "$T/out"

# A key that changes the instance and that kiln does not do still degrades.
os_release ubuntu
printf "$snap_ud" | v - >"$T/out" 2>&1
check "ubuntu: validate warns that snap is not supported" grep -q "<stdin>:3:1: warning: cloud-config key 'snap' is not supported by kiln, skipped" "$T/out"
printf "$snap_ud" | user_data
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "ubuntu: a key kiln does not do (snap) still makes the boot degraded (exit $rc)"
check "... naming snap" grep -q "cloud-config key 'snap' is not supported by kiln" "$ROOT/run/kiln/status.json"
check "... not datasource" sh -c "! grep -q \"key 'datasource' is not supported\" '$ROOT/run/kiln/status.json'"

os_release debian
for uv in '[snap]' '[cc_snap.py]' '"snap, lxd"' '{snap: 1}'; do
	printf '#cloud-config\nunverified_modules: %s\nsnap:\n  commands: [a]\n' "$uv" | v - >"$T/out" 2>&1
	check "debian, unverified_modules: $uv: snap is not supported, as cloud-init would run it" \
		grep -q "<stdin>:3:1: warning: cloud-config key 'snap' is not supported by kiln, skipped" "$T/out"
done
printf '#cloud-config\nunverified_modules: [lxd]\nsnap:\n  commands: [a]\n' | v - >"$T/out" 2>&1
check "debian, unverified_modules naming another module: snap still ignored" grep -q ": valid: 0 error(s), 0 warning(s)" "$T/out"
check "... unverified_modules itself is neither ignored nor unsupported" sh -c "! grep -q \"'unverified_modules'\" '$T/out'"
printf '#cloud-config\nunverified_modules: [snap]\nsnap:\n  commands: [snap install hello]\n' | user_data
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "debian, snap in unverified_modules: the boot is degraded (exit $rc)"
check "... naming snap" grep -q "cloud-config key 'snap' is not supported by kiln" "$ROOT/run/kiln/status.json"

# --- module lists: AWS's recipe to run user-data at every boot ---------------
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
OUT=$T/runs
mkdir -p "$OUT"
cat >"$T/every-boot.txt" <<EOF2
Content-Type: multipart/mixed; boundary="//"
MIME-Version: 1.0

--//
Content-Type: text/cloud-config; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="cloud-config.txt"

#cloud-config
cloud_final_modules:
- [scripts-user, always]
packages: [nginx]
runcmd:
- echo runcmd >> $OUT/runcmd.log
--//
Content-Type: text/x-shellscript; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit
Content-Disposition: attachment; filename="userdata.txt"

#!/bin/bash
/bin/echo "Hello World" >> $OUT/testfile.txt
--//--
EOF2
v --plan "$T/every-boot.txt" >"$T/plan" 2>"$T/out"
ok $? "validate: AWS's every-boot recipe is valid"
diag "$T/out"
check "... no warning" grep -q ": valid: 0 error(s), 0 warning(s)" "$T/out"
check "... the plan runs the script per boot" $PYTHON -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(0 if p["scripts"][0]["frequency"]=="per-boot" and p["runcmd"][0]["frequency"]=="per-boot" else 1)' "$T/plan"
check "... packages named as left out, as cloud-init leaves them out" grep -q "'packages' (cloud_final_modules leaves out package_update_upgrade_install" "$T/out"
user_data_file "$T/every-boot.txt"
for i in 1 2 3; do
	kiln boot >"$T/boot$i.log" 2>&1
	ok $? "boot $i of the same instance is not degraded"
done
check "the script ran at each of the 3 boots" test "$(grep -c 'Hello World' "$OUT/testfile.txt")" = 3
check "runcmd ran at each of the 3 boots" test "$(grep -c runcmd "$OUT/runcmd.log")" = 3
check "packages were not installed (cloud_final_modules leaves their module out)" test ! -s "$T/pkg.log"

# Without the recipe: once per instance, packages installed.
imds_data '{"instance_id": "i-keys2"}'
rm -f "$OUT"/*.log "$OUT/testfile.txt"
sed '/cloud_final_modules/,/scripts-user/d' "$T/every-boot.txt" | user_data
kiln boot >"$T/boot4.log" 2>&1
kiln boot >"$T/boot5.log" 2>&1
check "without the list, the script ran once in 2 boots" test "$(grep -c 'Hello World' "$OUT/testfile.txt")" = 1
check "... packages installed" grep -q nginx "$T/pkg.log"

# Items as cloud-init reads them: names with _ or .py or cc_, mappings; a
# frequency kiln does not honour is a warning; an unknown one is cloud-init's default.
printf '#cloud-config\ncloud_init_modules:\n  - cc_write_files.py\n  - [ users-groups ]\n  - {name: bootcmd, frequency: once}\n  - [ssh, weekly]\ncloud_config_modules: [runcmd, timezone]\ncloud_final_modules: [scripts_user]\nbootcmd: [echo]\ntimezone: Europe/Berlin\nhostname: kept\n' >"$T/lists.txt"
v --plan "$T/lists.txt" >"$T/plan" 2>"$T/out"
diag "$T/out"
check "a frequency kiln does not do is a warning" grep -q "'cloud_init_modules\[2\]': kiln runs bootcmd at its usual frequency, not 'once'" "$T/out"
check "an unknown frequency is noted" grep -q "'cloud_init_modules\[3\]' (unknown frequency 'weekly'" "$T/out"
check "the hostname is left alone without set_hostname/update_hostname" $PYTHON -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(0 if p["hostname"]=={"preserve": True} else 1)' "$T/plan"
check "timezone kept (listed in cloud_config_modules)" $PYTHON -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(0 if p["timezone"]=="Europe/Berlin" else 1)' "$T/plan"
check "the default user kept (users-groups listed)" $PYTHON -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(0 if p["users"][0]["default"] else 1)' "$T/plan"


# --- chpasswd, password, ssh_pwauth (cloud-init's set_passwords) -----------
imds_data '{"instance_id": "i-keys3"}'
unset KILN_PKG_COMMAND
mkdir -p "$ROOT/etc/ssh"
printf 'Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n' >"$ROOT/etc/ssh/sshd_config"
# systemctl stand-in: records its calls; "status" answers $T/ssh-status (0 running, 3 stopped, 4 not installed).
printf '#!/bin/sh\necho "$*" >>%s\n[ "$1" = status ] && exit "$(cat %s)"\nexit 0\n' "$T/systemctl.log" "$T/ssh-status" >"$T/systemctl"
chmod 755 "$T/systemctl"
echo 0 >"$T/ssh-status"
export KILN_SYSTEMCTL=$T/systemctl KILN_CONSOLE=$T/console
user_data <<'EOF2'
#cloud-config
users: [default, bob, carol, dave, eve, frank]
password: Default-pw1
chpasswd:
  users:
    - {name: bob, password: $6$rounds=4096$saltsalt$hashhashhash, type: hash}
    - {name: carol, password: carol-text-1, type: text}
    - {name: dave, type: RANDOM}
  list:
    - eve:R
    - frank:$y$j9T$notahashfor$cloudinit
ssh_pwauth: true
EOF2
kiln boot >"$T/boot6.log" 2>&1
ok $? "boot with chpasswd, password, ssh_pwauth is not degraded"
diag "$T/boot6.log" | grep -iE 'warn|degrad|fail|error' | head
field() { awk -F: -v u="$1" -v n="$2" '$1 == u { print $n }' "$ROOT/etc/shadow"; }
verifies() { perl -e 'exit(crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? 0 : 1)' "$2" "$(field "$1" 2)"; }
check "a hash is set as it is" test "$(field bob 2)" = '$6$rounds=4096$saltsalt$hashhashhash'
check "a text password logs in" verifies carol carol-text-1
check "... and is not stored as text" test "$(field carol 2)" != carol-text-1
check "a list line with \$y\$ is text to cloud-init 22.4's pattern" verifies frank '$y$j9T$notahashfor$cloudinit'
check "the console has the random passwords, as cloud-init writes them" grep -qx "Set the following 'random' passwords" "$T/console"
dave_pw=$(sed -n 's/^dave://p' "$T/console")
eve_pw=$(sed -n 's/^eve://p' "$T/console")
check "dave's random password (20 characters of cloud-init's set) logs in" verifies dave "$dave_pw"
ok $([[ $dave_pw =~ ^[a-km-zA-HJ-KM-NP-Z2-9]{20}$ ]]; echo $?) "... its characters from cloud-init's set"
check "eve's (list R) logs in" verifies eve "$eve_pw"
check "random passwords are not in kiln's log" sh -c "! grep -qF '$dave_pw' '$T/boot6.log' '$ROOT/run/kiln/status.json'"
check "password: is not used when chpasswd names users (admin stays locked)" sh -c "field() { awk -F: -v u=\"\$1\" '\$1 == u { print \$2 }' '$ROOT/etc/shadow'; }; test \"\$(field admin)\" = '!' || field admin | grep -q '^!'"
for u in bob carol dave eve frank; do
	check "expire (default true): $u must change it at next login" test "$(field $u 3)" = 0
done
check "ssh_pwauth: drop-in 50-cloud-init.conf written" grep -qx 'PasswordAuthentication yes' "$ROOT/etc/ssh/sshd_config.d/50-cloud-init.conf"
check "... mode 0600" test "$(stat -c %a "$ROOT/etc/ssh/sshd_config.d/50-cloud-init.conf")" = 600
check "... sshd_config itself untouched" grep -qx 'PasswordAuthentication no' "$ROOT/etc/ssh/sshd_config"
check "... the running ssh service restarted" grep -qx 'restart ssh' "$T/systemctl.log"
cp "$ROOT/etc/shadow" "$T/shadow1"
kiln boot >"$T/boot7.log" 2>&1
check "a reboot sets no password again (per instance)" cmp -s "$T/shadow1" "$ROOT/etc/shadow"

# password: alone is the default user's, expired; ssh_pwauth false with sshd stopped: written, not restarted;
# no Include: sshd_config itself rewritten as cloud-init rewrites it.
imds_data '{"instance_id": "i-keys4"}'
echo 3 >"$T/ssh-status"
: >"$T/systemctl.log"
printf '# comment\n  Port 22\nPasswordAuthentication=yes\nUsePAM yes\n' >"$ROOT/etc/ssh/sshd_config"
printf '#cloud-config\npassword: $6$abc$defdefdef\nssh_pwauth: "no"\n' | user_data
kiln boot >"$T/boot8.log" 2>&1
ok $? "boot with password: and ssh_pwauth: \"no\" is not degraded"
diag "$T/boot8.log" | grep -iE 'warn|degrad|fail|error' | head
check "password: set the default user's hash" test "$(field admin 2)" = '$6$abc$defdefdef'
check "... expired" test "$(field admin 3)" = 0
printf '# comment\nPort 22\nPasswordAuthentication no\nUsePAM yes\n' >"$T/want"
check "sshd_config rewritten line by line as cloud-init does" cmp "$T/want" "$ROOT/etc/ssh/sshd_config"
check "... a stopped sshd is not restarted" sh -c "! grep -q restart '$T/systemctl.log'"

# sshd not installed: ssh_pwauth ignored, as cloud-init does.
imds_data '{"instance_id": "i-keys5"}'
echo 4 >"$T/ssh-status"
cp "$ROOT/etc/ssh/sshd_config" "$T/sshd1"
printf '#cloud-config\nssh_pwauth: true\n' | user_data
kiln boot >"$T/boot9.log" 2>&1
check "sshd not installed: nothing written" cmp -s "$T/sshd1" "$ROOT/etc/ssh/sshd_config"


# --- disable_root, disable_root_opts: root's authorized_keys -----------------
# The expected files are what cloud-init 22.4's ssh_util (AuthKeyLineParser,
# update_authorized_keys, DISABLE_USER_OPTS) makes of the same input.
old_root_keys() {
	mkdir -p "$ROOT/root/.ssh"
	printf '%s\n' '# hand comment' \
		'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 old-comment' \
		'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQKeptKey kept' >"$ROOT/root/.ssh/authorized_keys"
}
root_keys_user_data() { # root_keys_user_data EXTRA-LINES
	cat <<EOF2
#cloud-config
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 extra
  - from="10.0.0.0/8" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWithOptions000000000000000000000000000 opt
$1
EOF2
}
opts='no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo '"'"'Please login as the user \"admin\" rather than the user \"root\".'"'"';echo;sleep 10;exit 142"'
printf '%s\n' '# hand comment' \
	"$opts ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 extra" \
	'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQKeptKey kept' \
	"$opts ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnLocalEc2TestKeyOnlyForTests0000000 launch-key" \
	"$opts ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWithOptions000000000000000000000000000 opt" >"$T/want-root"
imds_data '{"instance_id": "i-keys6"}'
old_root_keys
root_keys_user_data "" | user_data
kiln boot >"$T/boot10.log" 2>&1
ok $? "boot with disable_root by default is not degraded"
check "root's authorized_keys as cloud-init writes it (disable_root default true)" cmp "$T/want-root" "$ROOT/root/.ssh/authorized_keys"
diff "$T/want-root" "$ROOT/root/.ssh/authorized_keys" | diag
check "... mode 0600" test "$(stat -c %a "$ROOT/root/.ssh/authorized_keys")" = 600
check "the default user still gets the plain launch key" grep -qx 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnLocalEc2TestKeyOnlyForTests0000000 launch-key' "$ROOT/home/admin/.ssh/authorized_keys"

imds_data '{"instance_id": "i-keys7"}'
old_root_keys
root_keys_user_data "disable_root: false" | user_data
kiln boot >"$T/boot11.log" 2>&1
printf '%s\n' '# hand comment' \
	'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 extra' \
	'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQKeptKey kept' \
	'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnLocalEc2TestKeyOnlyForTests0000000 launch-key' \
	'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWithOptions000000000000000000000000000 opt' >"$T/want-root"
check "disable_root: false: the keys without options (their own dropped, as cloud-init)" cmp "$T/want-root" "$ROOT/root/.ssh/authorized_keys"
diff "$T/want-root" "$ROOT/root/.ssh/authorized_keys" | diag

imds_data '{"instance_id": "i-keys8"}'
old_root_keys
printf '#cloud-config\nusers: [{name: ops}]\ndisable_root_opts: no-pty,command="echo $USER not $DISABLE_USER"\nallow_public_ssh_keys: false\nssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWithOptions000000000000000000000000000 opt]\n' | user_data
kiln boot >"$T/boot12.log" 2>&1
check "disable_root_opts: \$USER is NONE without a default user, \$DISABLE_USER root" grep -qx 'no-pty,command="echo NONE not root" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWithOptions000000000000000000000000000 opt' "$ROOT/root/.ssh/authorized_keys"
check "allow_public_ssh_keys: false: no launch key for root" sh -c "! grep -q 'launch-key' '$ROOT/root/.ssh/authorized_keys'"
cp "$ROOT/root/.ssh/authorized_keys" "$T/rk"
echo '# added by hand' >>"$ROOT/root/.ssh/authorized_keys"
kiln boot >"$T/boot13.log" 2>&1
check "a reboot leaves root's keys alone (per instance)" grep -qx '# added by hand' "$ROOT/root/.ssh/authorized_keys"


# --- groups, user, system_info.default_user in full, no_create_home ----------
imds_data '{"instance_id": "i-keys9"}'
printf 'old:x:3000:3000::/home/old:/bin/sh\n' >>"$ROOT/etc/passwd"
printf 'old:x:3000:\n' >>"$ROOT/etc/group"
printf 'old:!:19000:0:99999:7:::\n' >>"$ROOT/etc/shadow"
user_data <<'EOF2'
#cloud-config
user: {name: joe, gecos: Joe Legacy}
system_info:
  default_user: {name: ignored-by-user, uid: 1500, homedir: /srv/joe, shell: /bin/sh, groups: [adm]}
groups:
  - opsteam
  - admingroup: [old, nosuchuser, svc]
  - cloud-users: old
users:
  - name: svc
    no_create_home: true
  - name: sysacct
    system: true
  - name: conflicted
    no_create_home: true
    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 x]
EOF2
kiln boot >"$T/boot14.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a user with no_create_home and keys makes the boot degraded (exit $rc), as cloud-init refuses it"
check "... naming it" grep -q "Not creating user 'conflicted': ssh_authorized_keys cannot be given with no_create_home" "$ROOT/run/kiln/status.json"
check "... and it is not created" sh -c "! grep -q '^conflicted:' '$ROOT/etc/passwd'"
check "user: makes the default user, named joe (over system_info's name)" grep -q '^joe:x:1500:[0-9]*:Joe Legacy:/srv/joe:/bin/sh$' "$ROOT/etc/passwd"
check "... with system_info.default_user's uid, homedir, shell" test -d "$ROOT/srv/joe"
check "... and its groups" grep -q '^adm:.*joe' "$ROOT/etc/group"
check "no_create_home: no home made" sh -c "grep -q '^svc:' '$ROOT/etc/passwd' && ! test -e '$ROOT/home/svc'"
check "a system user gets no home, as cloud-init (useradd -M)" sh -c "grep -q '^sysacct:' '$ROOT/etc/passwd' && ! test -e '$ROOT/home/sysacct'"
check "groups: opsteam made" grep -q "^opsteam:" "$ROOT/etc/group"
check "groups: an existing member added" grep -q '^admingroup:x:[0-9]*:old$' "$ROOT/etc/group"
check "groups: a member as a string" grep -q '^cloud-users:x:[0-9]*:old$' "$ROOT/etc/group"
check "groups: a missing member is named in the log" grep -q "Unable to add group member 'nosuchuser' to group 'admingroup'" "$T/boot14.log"
check "groups: a user made later in the same boot is not added (groups come first, as in cloud-init)" sh -c "! grep -q '^admingroup:.*svc' '$ROOT/etc/group'"
kiln boot >"$T/boot15.log" 2>&1
check "groups are per instance: svc is still not added at a reboot" sh -c "! grep -q '^admingroup:.*svc' '$ROOT/etc/group'"


# --- the order users are made in: cloud-init's ------------------------------
# ug_util._normalize_users() makes the listed users in their order and the
# default user last, wherever "default" stands (or comes from `user`); a
# users string is sorted first. A listed uid the default user would take
# if made first shows the order.
next_uid() { awk -F: '$3 >= 1000 && $3 < 60000 && $3 > m {m = $3} END {print (m ? m : 999) + 1}' "$ROOT/etc/passwd"; }
imds_data '{"instance_id": "i-order1"}'
uid=$(next_uid)
printf '#cloud-config\nsystem_info: {default_user: {name: dflt1}}\nusers:\n  - default\n  - {name: first1, uid: %s}\n' "$uid" | user_data
kiln boot >"$T/boot-order1.log" 2>&1
rc=$?
ok $rc "users: [default, {uid: $uid}]: not degraded, the listed user is made first (exit $rc)"
check "... the listed user has its uid $uid" grep -q "^first1:x:$uid:" "$ROOT/etc/passwd"
check "... the default user the next one" grep -q "^dflt1:x:$((uid + 1)):" "$ROOT/etc/passwd"

imds_data '{"instance_id": "i-order2"}'
uid=$(next_uid)
printf '#cloud-config\nuser: dflt2\nusers:\n  - {name: first2, uid: %s}\n' "$uid" | user_data
kiln boot >"$T/boot-order2.log" 2>&1
rc=$?
ok $rc "user: at top level: the default user is made after users (exit $rc)"
check "... the listed user has its uid" grep -q "^first2:x:$uid:" "$ROOT/etc/passwd"
check "... the default user (user:) the next one" grep -q "^dflt2:x:$((uid + 1)):" "$ROOT/etc/passwd"

imds_data '{"instance_id": "i-order3"}'
printf '#cloud-config\nsystem_info: {default_user: {name: dflt3}}\nusers: "zed3, default,alice3"\n' | user_data
kiln boot >"$T/boot-order3.log" 2>&1
ok $? "a users string: not degraded"
check "... sorted as cloud-init sorts it, the default user last: alice3, zed3, dflt3" \
	test "$(grep -E '^(alice3|zed3|dflt3):' "$ROOT/etc/passwd" | cut -d: -f1 | tr '\n' ' ')" = "alice3 zed3 dflt3 "
printf '#cloud-config\nusers: "zed, default,alice"\n' | v --plan - 2>/dev/null >"$T/plan"
check "... the plan in that order" test "$($PYTHON -c 'import json,sys; print(" ".join(u["name"] for u in json.load(open(sys.argv[1]))["users"]))' "$T/plan")" = "alice zed admin"

imds_data '{"instance_id": "i-order4"}'
printf '#cloud-config\nsystem_info: {default_user: {name: dflt4, groups: [adm]}}\nusers:\n  - {name: dflt4, groups: [opsteam], shell: /bin/sh}\n  - default\n  - other4\n' | user_data
kiln boot >"$T/boot-order4.log" 2>&1
ok $? "a listed user named as the default user is the default user: not degraded"
check "... made once, last" test "$(grep -E '^(dflt4|other4):' "$ROOT/etc/passwd" | cut -d: -f1 | tr '\n' ' ')" = "other4 dflt4 "
check "... with both lists of groups" sh -c "grep -q '^adm:.*dflt4' '$ROOT/etc/group' && grep -q '^opsteam:.*dflt4' '$ROOT/etc/group'"
check "... the image's shell, not the listed one (cloud-init's default_user config wins)" grep -q '^dflt4:.*:/bin/bash$' "$ROOT/etc/passwd"


# --- power_state, package_reboot_if_required ---------------------------------
export KILN_POWER_LOG=$T/power.log
rm -f "$OUT"/*
imds_data '{"instance_id": "i-keys10"}'
user_data <<EOF2
#cloud-config
runcmd:
  - touch $OUT/runcmd-ran
power_state:
  delay: "+5"
  mode: reboot
  message: Rebooting after setup
  timeout: 30
  condition: [test, -e, $OUT/runcmd-ran]
EOF2
kiln boot >"$T/boot16.log" 2>&1
ok $? "boot with power_state is not degraded"
diag "$T/boot16.log" | grep -iE 'warn|degrad|fail|error|power' | head
check "power_state: shutdown -r +5 MESSAGE, as cloud-init's command" grep -qx 'shutdown -r +5 Rebooting after setup' "$T/power.log"
check "... after runcmd (its condition saw runcmd's file)" test -e "$OUT/runcmd-ran"
check "... recorded in status" grep -q '"name": *"power_state"' "$ROOT/run/kiln/status.json"
kiln boot >"$T/boot17.log" 2>&1
check "power_state is once per instance" test "$(wc -l <"$T/power.log")" = 1

imds_data '{"instance_id": "i-keys11"}'
printf '#cloud-config\npower_state: {mode: poweroff, condition: "exit 1"}\n' | user_data
kiln boot >"$T/boot18.log" 2>&1
ok $? "a condition that exits 1 is not met: not degraded"
check "... and nothing is run" test "$(wc -l <"$T/power.log")" = 1
imds_data '{"instance_id": "i-keys12"}'
printf '#cloud-config\npower_state: {mode: sleep}\n' | user_data
kiln boot >"$T/boot19.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a bad mode: nothing done, the boot degraded (exit $rc)"
check "... saying why" grep -q "power_state.mode must be one of halt, poweroff, reboot" "$ROOT/run/kiln/status.json"
check "... and nothing is run" test "$(wc -l <"$T/power.log")" = 1

imds_data '{"instance_id": "i-keys13"}'
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
mkdir -p "$ROOT/var/run"
: >"$ROOT/var/run/reboot-required"
rm -f "$OUT"/*
user_data <<EOF2
#cloud-config
packages: [linux-image-cloud-amd64]
package_reboot_if_required: true
runcmd:
  - touch $OUT/runcmd-after-reboot
EOF2
kiln boot >"$T/boot20.log" 2>&1
ok $? "package_reboot_if_required with /var/run/reboot-required: not degraded"
check "... reboots right after the packages (/sbin/reboot)" test "$(tail -n1 "$T/power.log")" = /sbin/reboot
check "... before runcmd, which waits for the next boot" test ! -e "$OUT/runcmd-after-reboot"
rm -f "$ROOT/var/run/reboot-required"
kiln boot >"$T/boot21.log" 2>&1
check "the next boot runs runcmd" test -e "$OUT/runcmd-after-reboot"
check "... and does not reboot again" test "$(grep -c reboot "$T/power.log")" = 1
check "... nor install the packages again" test "$(grep -c linux-image "$T/pkg.log")" = 1


# --- more useradd options, as cloud-init passes them -------------------------
imds_data '{"instance_id": "i-keys14"}'
unset KILN_PKG_COMMAND
printf '#cloud-config\nusers:\n  - {name: tempuser, expiredate: "2032-09-01", inactive: "5", no_user_group: true}\n  - {name: intinactive, inactive: 5}\n' | user_data
kiln boot >"$T/boot22.log" 2>&1
rc=$?
ok $rc "users with expiredate, inactive, no_user_group: not degraded (exit $rc)"
diag "$T/boot22.log" | grep -iE "warn|fail|degrad" | head
check "expiredate and inactive in /etc/shadow (useradd -e, -f)" grep -q '^tempuser:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:5:22889:' "$ROOT/etc/shadow"
check "no_user_group: no group named after the user" sh -c "! grep -q '^tempuser:' '$ROOT/etc/group'"
check "inactive as a number is not passed, as cloud-init passes strings only" grep -q '^intinactive:[^:]*:[^:]*:[^:]*:[^:]*:[^:]*::' "$ROOT/etc/shadow"


# --- ssh_redirect_user ---------------------------------------------------------
imds_data '{"instance_id": "i-keys15"}'
printf '#cloud-config\nusers:\n  - default\n  - {name: redir, ssh_redirect_user: true}\n  - {name: badredir, ssh_redirect_user: true, ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWithOptions000000000000000000000000000 x]}\n' | user_data
kiln boot >"$T/boot23.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "ssh_redirect_user with ssh_authorized_keys is refused, as cloud-init refuses it (exit $rc)"
check "... that user is not created" sh -c "! grep -q '^badredir:' '$ROOT/etc/passwd'"
check "ssh_redirect_user: the launch key with cloud-init's redirect options" grep -qxF 'no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command="echo '"'"'Please login as the user \"admin\" rather than the user \"redir\".'"'"';echo;sleep 10;exit 142" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnLocalEc2TestKeyOnlyForTests0000000 launch-key' "$ROOT/home/redir/.ssh/authorized_keys"


# A list without scripts-per-boot: the per-boot part does not run (as under
# cloud-init), the plain script does, at scripts-user's frequency.
cat >"$T/perboot.txt" <<'EOF2'
Content-Type: multipart/mixed; boundary="B"
MIME-Version: 1.0

--B
Content-Type: text/cloud-config

#cloud-config
cloud_final_modules: [[scripts-user, once]]
--B
Content-Type: text/x-shellscript-per-boot; charset="us-ascii"
Content-Disposition: attachment; filename="every-boot.sh"

#!/bin/sh
echo per-boot
--B
Content-Type: text/x-shellscript; charset="us-ascii"
Content-Disposition: attachment; filename="plain.sh"

#!/bin/sh
echo plain
--B--
EOF2
v --plan "$T/perboot.txt" >"$T/plan" 2>"$T/out"
diag "$T/out"
check "the per-boot script is left out, as scripts-per-boot is" $PYTHON -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(0 if [s["name"] for s in p["scripts"]]==["plain.sh"] else 1)' "$T/plan"
check "... and named on the note line" grep -q "1 user-data script(s) (cloud_final_modules leaves out scripts_per_boot" "$T/out"
check "the plain script runs once ([scripts-user, once])" $PYTHON -c 'import json,sys; p=json.load(open(sys.argv[1])); sys.exit(0 if p["scripts"][0]["frequency"]=="once" else 1)' "$T/plan"


# validate says beforehand what the boot would not do.
printf '#cloud-config\npower_state: {mode: reboot, delay: soon}\nchpasswd: {list: "nocolon-secret\\nbob:R"}\nssh_pwauth: maybe\nusers: [{name: a, no_create_home: true, ssh_authorized_keys: [k]}]\n' >"$T/bad-keys.txt"
v "$T/bad-keys.txt" >"$T/out" 2>&1
diag "$T/out"
check "validate: a bad power_state.delay" grep -q "warning: 'power_state': power_state.delay must be 'now' or '+m'" "$T/out"
check "validate: a chpasswd.list line without ':'" grep -q "warning: chpasswd.list: a line without ':'" "$T/out"
check "... without showing it (it may be a password)" sh -c "! grep -q nocolon-secret '$T/out'"
check "validate: ssh_pwauth neither true nor false" grep -q "warning: 'ssh_pwauth': not true or false" "$T/out"
check "validate: no_create_home with keys" grep -q "warning: 'users': not creating 'a'" "$T/out"


# A user name or a hash cannot smuggle a second line (root's password) into chpasswd.
n=16
for entry in '{name: bob, password: "$6$x$y\nroot:$6$abc$smuggled", type: hash}' \
	'{name: "bob:$6$q$w\nroot", password: "$6$abc$smuggled", type: hash}'; do
	imds_data "{\"instance_id\": \"i-keys$n\"}"
	n=$((n + 1))
	printf '#cloud-config\nchpasswd:\n  expire: false\n  users:\n    - %s\n' "$entry" | user_data
	kiln boot >"$T/boot24.log" 2>&1
	rc=$?
	ok $([ $rc -eq 2 ]; echo $?) "a line break in $(echo "$entry" | cut -c1-40)...: refused, degraded (exit $rc)"
	check "... root's password untouched" sh -c "! grep -q smuggled '$ROOT/etc/shadow'"
done


# growpart and resizefs left out of cloud_init_modules: the root is not grown.
imds_data '{"instance_id": "i-keys30"}'
printf '#cloud-config\nruncmd: [true]\n' | user_data
kiln boot >"$T/boot30.log" 2>&1
printf '#cloud-config\ncloud_init_modules: [bootcmd, users-groups]\n' | user_data
imds_data '{"instance_id": "i-keys31"}'
kiln boot >"$T/boot31.log" 2>&1
check "by default the boot looks at growing the root" grep -qiE "growpart|resize_rootfs" "$T/boot30.log"
check "without growpart and resizefs in the list, it does not" sh -c "! grep -qiE 'growpart|resize_rootfs' '$T/boot31.log'"

done_testing
