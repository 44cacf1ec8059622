#!/bin/bash
# ssh_quiet_keygen as cloud-init 22.4's cc_ssh: what ssh-keygen prints of
# each host key it makes goes to the console (with the keys' /etc/ssh paths,
# not kiln's private directory), unless ssh_quiet_keygen is true.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds
export KILN_CONSOLE=$T/console
SSH=$ROOT/etc/ssh
mkdir -p "$SSH"
: >"$SSH/sshd_config"
: >"$KILN_CONSOLE"
no_user_data
kiln boot >"$T/out" 2>&1
ok $? "first boot exits 0" || diag "$T/out"
for t in rsa ecdsa ed25519; do
	check "$t: ssh-keygen's first line on the console" grep -qx "Generating public/private $t key pair." "$KILN_CONSOLE"
	check "$t: saved in its /etc/ssh path" grep -qx "Your identification has been saved in /etc/ssh/ssh_host_${t}_key" "$KILN_CONSOLE"
	fp=$(ssh-keygen -l -f "$SSH/ssh_host_${t}_key.pub" | cut -d' ' -f2)
	check "$t: its fingerprint" grep -q "^$fp " "$KILN_CONSOLE"
done
check "randomart shown" test "$(grep -c "^The key's randomart image is:$" "$KILN_CONSOLE")" = 3
! grep -q 'ssh-keygen\.' "$KILN_CONSOLE"
ok $? "kiln's private directory is not named"

imds_data '{"instance_id": "i-00000000000000e02"}'
user_data <<'UD'
#cloud-config
ssh_quiet_keygen: true
UD
: >"$KILN_CONSOLE"
kiln boot >"$T/out" 2>&1
ok $? "boot with ssh_quiet_keygen exits 0" || diag "$T/out"
check "new keys were made" grep -q "Made 3 new SSH host key" "$T/out"
! grep -qE 'Generating public/private|randomart|identification has been saved' "$KILN_CONSOLE"
ok $? "ssh_quiet_keygen: nothing of ssh-keygen on the console"
check "the host key fingerprints block is still there" grep -q 'BEGIN SSH HOST KEY FINGERPRINTS' "$KILN_CONSOLE"
done_testing
