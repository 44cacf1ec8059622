#!/bin/bash
# A cloud-config document in the shape cloud-init's documentation gives,
# applied by `kiln boot` under --root against the local EC2, checked on
# disk; then a reboot (nothing runs twice, nothing is lost) and a new
# instance (per-instance work runs again).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
start_ec2 imds
OUT=$T/out
mkdir -p "$OUT"

user_data <<EOF2
#cloud-config
hostname: web1
fqdn: web1.example.com
manage_etc_hosts: localhost
timezone: Europe/Berlin
package_update: true
package_upgrade: true
packages:
  - nginx
  - [curl, 7.88.1-10]
users:
  - default
  - name: deploy
    gecos: Deploy User
    groups: [adm, www-data]
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/sh
    lock_passwd: true
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKey0000000000000000000000000000000 deploy@laptop
  - name: carol
    hashed_passwd: \$6\$rounds=4096\$salt\$hashhashhash
    lock_passwd: false
  - name: hy
    lock-passwd: false
    hashed-passwd: \$6\$hy\$hyphenhash
    ssh-authorized-keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHyphenatedKey00000000000000000000000000 hy@laptop
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 extra
write_files:
  - path: /etc/app/app.conf
    content: |
      listen = 8000
    owner: deploy:deploy
    permissions: '0640'
  - path: /etc/app/blob.bin
    encoding: b64
    content: aGVsbG8gYmFzZTY0Cg==
  - path: /etc/app/gz.txt
    encoding: gz+b64
    content: H4sIAAAAAAAAA8tIzcnJV0ivyizgAgA5fGNWCwAAAA==
  - path: /etc/app/log.txt
    content: "line\n"
    append: true
  - path: /etc/app/after-packages.txt
    content: deferred
    defer: true
bootcmd:
  - echo boot >> $OUT/bootcmd.log
  - B=set-in-an-earlier-item
  - echo "\$B" >> $OUT/bootcmd-var.log
runcmd:
  - echo "runcmd \$KILN_INSTANCE_ID" >> $OUT/runcmd.log
  - [sh, -c, "echo argv >> $OUT/argv.log"]
  - cd $OUT
  - X=carried
  - if true; then
  - echo "\$X in \$(pwd)" > carried.log
  - fi
  - [sh, -c, 'printf "%s\\n" "\$1" > $OUT/quoted.log', sh, "it's; \$HOME \`x\`"]
  - "false"
  - echo after-false >> $OUT/after.log
  - no-such-command-kiln
  - exit 3
  - echo after-exit >> $OUT/after.log
# the root is Debian, where cloud-init runs ubuntu_advantage only when told to
unverified_modules: [ubuntu-advantage]
ubuntu_advantage:
  token: x
ssh_pwauth: false
EOF2
printf 'line\n' >"$T/log-before"
mkdir -p "$ROOT/etc/app"
printf 'before\n' >"$ROOT/etc/app/log.txt"

kiln boot >"$T/boot1.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "boot with a failing runcmd item ends degraded (exit $rc)"
diag "$T/boot1.log" | grep -iE 'fail|error|warn' | head -20

# hostname and time zone
check "/etc/hostname is the short name" grep -qx web1 "$ROOT/etc/hostname"
check "/etc/hosts maps the fqdn" grep -q '^127.0.1.1 web1.example.com web1 # kiln$' "$ROOT/etc/hosts"
check "/etc/hosts keeps localhost" grep -q '^127.0.0.1 localhost$' "$ROOT/etc/hosts"
check "/etc/localtime links to the zone" test "$(readlink "$ROOT/etc/localtime")" = /usr/share/zoneinfo/Europe/Berlin
check "/etc/timezone names the zone" grep -qx Europe/Berlin "$ROOT/etc/timezone"

# users
check "default user admin created" grep -q '^admin:' "$ROOT/etc/passwd"
check "deploy created with its shell" grep -q '^deploy:.*:Deploy User:/home/deploy:/bin/sh$' "$ROOT/etc/passwd"
check "missing group www-data was created" grep -q '^www-data:' "$ROOT/etc/group"
check "deploy is in adm" grep -qE '^adm:x:4:.*deploy' "$ROOT/etc/group"
check "deploy's password is locked" grep -q '^deploy:!' "$ROOT/etc/shadow"
check "carol's hashed password is set" grep -q '^carol:\$6\$rounds=4096\$salt\$hashhashhash:' "$ROOT/etc/shadow"
check "sudoers rule for the default user" grep -qx 'admin ALL=(ALL) NOPASSWD:ALL' "$ROOT/etc/sudoers.d/90-kiln-users"
check "sudoers rule for deploy" grep -qx 'deploy ALL=(ALL) NOPASSWD:ALL' "$ROOT/etc/sudoers.d/90-kiln-users"
check "sudoers file is 0440" test "$(stat -c %a "$ROOT/etc/sudoers.d/90-kiln-users")" = 440
ak=$ROOT/home/admin/.ssh/authorized_keys
check "launch key installed for admin" grep -q 'launch-key$' "$ak"
check "top-level key installed for admin" grep -q ' extra$' "$ak"
check "~/.ssh is 0700" test "$(stat -c %a "$ROOT/home/admin/.ssh")" = 700
check "authorized_keys is 0600" test "$(stat -c %a "$ak")" = 600
admin_uid=$(awk -F: '$1=="admin"{print $3}' "$ROOT/etc/passwd")
check "authorized_keys owned by admin" test "$(stat -c %u "$ak")" = "$admin_uid"
check "deploy's key installed" grep -q 'deploy@laptop$' "$ROOT/home/deploy/.ssh/authorized_keys"

# files
check "app.conf written" grep -qx 'listen = 8000' "$ROOT/etc/app/app.conf"
check "app.conf is 0640" test "$(stat -c %a "$ROOT/etc/app/app.conf")" = 640
deploy_uid=$(awk -F: '$1=="deploy"{print $3}' "$ROOT/etc/passwd")
check "app.conf owned by deploy" test "$(stat -c %u "$ROOT/etc/app/app.conf")" = "$deploy_uid"
check "b64 content decoded" grep -qx 'hello base64' "$ROOT/etc/app/blob.bin"
check "gz+b64 content decoded" grep -qx 'hello gzip' "$ROOT/etc/app/gz.txt"
check "append kept what was there" test "$(cat "$ROOT/etc/app/log.txt")" = "$(printf 'before\nline')"
check "deferred file written" grep -qx deferred "$ROOT/etc/app/after-packages.txt"

# packages
check "package index refreshed" grep -qx 'apt-get -q update' "$T/pkg.log"
check "packages installed, versions apt-style" grep -qE '^apt-get .*install nginx curl=7.88.1-10$' "$T/pkg.log"
check "package_upgrade is apt-get dist-upgrade, as cloud-init runs it" grep -qE '^apt-get .* dist-upgrade$' "$T/pkg.log"

# commands
check "bootcmd ran" test "$(wc -l <"$OUT/bootcmd.log")" = 1
check "runcmd string ran through the shell" grep -qx 'runcmd i-0123456789abcdef0' "$OUT/runcmd.log"
check "runcmd argv ran" grep -qx argv "$OUT/argv.log"
# runcmd and bootcmd are one shell script each, as cloud-init runs them.
check "bootcmd: a variable carries from item to item" grep -qx set-in-an-earlier-item "$OUT/bootcmd-var.log"
check "runcmd: cd, a variable and if ... fi carry from item to item" grep -qx "carried in $OUT" "$OUT/carried.log"
check "runcmd: list words quoted as cloud-init quotes them" grep -qxF "it's; \$HOME \`x\`" "$OUT/quoted.log"
check "runcmd: the script goes on after a failing command" grep -qx after-false "$OUT/after.log"
check "runcmd: exit in an item ends the script" test "$(grep -c after-exit "$OUT/after.log")" = 0
check "status records runcmd failed with exit 3" \
	$PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); it=[i for s in d["stages"] for i in s.get("items",[]) if i.get("name")=="runcmd"]; sys.exit(0 if len(it)==1 and it[0]["result"]=="failed" and it[0]["exit_code"]==3 else 1)' "$ROOT/run/kiln/status.json"
check "the failure names the item the shell complained about" \
	grep -q "runcmd exited with status 3; the shell's last error is in runcmd\[10\]" "$T/boot1.log"
check "the hyphenated user's ssh-authorized-keys installed" grep -q 'hy@laptop$' "$ROOT/home/hy/.ssh/authorized_keys"
check "the hyphenated user's hashed-passwd set, not locked" grep -q '^hy:\$6\$hy\$hyphenhash:' "$ROOT/etc/shadow"
check "unsupported keys named, each at its line" grep -q "user-data:[0-9]*:1: cloud-config key 'ubuntu_advantage' is not supported by kiln, skipped" "$T/boot1.log"
check "ssh_pwauth is supported now, not named" sh -c "! grep -q \"key 'ssh_pwauth' is not supported\" '$T/boot1.log'"

# A key added by hand is kept; a reboot changes nothing and runs no per-instance work again.
echo 'ssh-rsa AAAAB3NzaC1yc2EHandAdded hand@added' >>"$ak"
cp "$ROOT/etc/passwd" "$T/passwd1"
kiln boot >"$T/boot2.log" 2>&1
check "reboot: the hand-added key is kept" grep -q 'hand@added$' "$ak"
check "reboot: no key is added twice" test "$(grep -c 'launch-key$' "$ak")" = 1
check "reboot: passwd unchanged" cmp -s "$T/passwd1" "$ROOT/etc/passwd"
check "reboot: bootcmd ran again" test "$(wc -l <"$OUT/bootcmd.log")" = 2
check "reboot: runcmd did not run again" test "$(wc -l <"$OUT/runcmd.log")" = 1
check "reboot: packages not installed again" test "$(grep -c install "$T/pkg.log")" = 1
check "reboot: append not repeated" test "$(grep -c line "$ROOT/etc/app/log.txt")" = 1

# A new instance of the image: per-instance work runs again.
imds_data '{"instance_id": "i-new"}'
kiln boot >"$T/boot3.log" 2>&1
check "new instance: runcmd ran again" grep -qx 'runcmd i-new' "$OUT/runcmd.log"
check "new instance: packages installed again" test "$(grep -c install "$T/pkg.log")" = 2
check "new instance: no duplicate user lines" test "$(grep -c '^deploy:' "$ROOT/etc/passwd")" = 1

# /etc/hosts as cloud-init's cc_update_etc_hosts: left alone without
# manage_etc_hosts, written whole from the distribution's template with true.
printf '10.0.0.5 db.internal db\n127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
cp "$ROOT/etc/hosts" "$T/hosts-by-hand"
user_data <<EOF2
#cloud-config
hostname: web2
fqdn: web2.example.com
EOF2
imds_data '{"instance_id": "i-hosts"}'
kiln boot >"$T/boot4.log" 2>&1
check "without manage_etc_hosts, /etc/hosts is left as written" cmp -s "$T/hosts-by-hand" "$ROOT/etc/hosts"
check "... and the hostname is still set" grep -qx web2 "$ROOT/etc/hostname"
user_data <<EOF2
#cloud-config
hostname: web3
fqdn: web3.example.com
manage_etc_hosts: True
EOF2
kiln boot >"$T/boot5.log" 2>&1
check "manage_etc_hosts: true writes the Debian template's lines" \
	grep -qx '127.0.1.1 web3.example.com web3' "$ROOT/etc/hosts"
check "... and only those" test "$(grep -v '^#' "$ROOT/etc/hosts" | grep -c .)" = 5
check "... the hand-written line is gone, as with cloud-init" test "$(grep -c db.internal "$ROOT/etc/hosts")" = 0

done_testing
