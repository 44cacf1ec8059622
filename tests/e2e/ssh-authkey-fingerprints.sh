#!/bin/bash
# ssh_authkey_fingerprints as cloud-init 22.4: each user's authorized keys'
# fingerprints on the console (its SimpleTable, "ci-info: " lines), once per
# instance; authkey_hash picks the digest; no_ssh_fingerprints turns it off.
# The expected tables were rendered by cloud-init 22.4's own
# _pprint_key_entries on the same authorized_keys files.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
export KILN_CONSOLE=$T/console
: >"$KILN_CONSOLE"
user_data <<'UD'
#cloud-config
users:
  - default
  - name: bob
    ssh_authorized_keys:
      - 'no-port-forwarding,command="echo hi there" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 bob'
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc1Pcf0H0xGvxjbmiyhsV+GQIaZDSqPG0BN9BQ5D0Qp alice@example ünï
      - ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEm
  - name: carol
  - name: sys
    system: true
ssh_authorized_keys:
  - ssh-rsa !!notbase64 bad
UD
kiln boot >"$T/boot.log" 2>&1
ok $? "boot exits 0" || diag "$T/boot.log"
grep '^ci-info: ' "$KILN_CONSOLE" >"$T/got"
cat >"$T/want" <<'WANT'
ci-info: +++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++Authorized keys from /home/bob/.ssh/authorized_keys for user bob+++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++
ci-info: +---------------------+-------------------------------------------------------------------------------------------------+--------------------------------------------+-------------------+
ci-info: |       Keytype       |                                       Fingerprint (sha256)                                      |                  Options                   |      Comment      |
ci-info: +---------------------+-------------------------------------------------------------------------------------------------+--------------------------------------------+-------------------+
ci-info: |       ssh-rsa       | 06:08:c7:1f:93:f3:96:cd:31:d1:c7:9e:c6:11:e5:d2:d1:66:e8:40:52:14:a5:ae:90:e7:33:ad:0a:dd:97:d6 | no-port-forwarding,command="echo hi there" |        bob        |
ci-info: |     ssh-ed25519     | 1a:ce:02:d6:47:0c:5c:24:69:24:4d:89:01:22:66:b2:69:4c:48:b8:4b:fb:44:11:59:d4:a3:5d:81:10:6d:62 |                     -                      | alice@example ünï |
ci-info: | ecdsa-sha2-nistp256 |                                                ?                                                |                     -                      |         -         |
ci-info: +---------------------+-------------------------------------------------------------------------------------------------+--------------------------------------------+-------------------+
ci-info: no authorized SSH keys fingerprints found for user carol.
ci-info: Authorized keys from /home/admin/.ssh/authorized_keys for user admin
ci-info: +-------------+----------------------+---------+------------+
ci-info: |   Keytype   | Fingerprint (sha256) | Options |  Comment   |
ci-info: +-------------+----------------------+---------+------------+
ci-info: |   ssh-rsa   |          ?           |    -    |    bad     |
ci-info: | ssh-ed25519 |          ?           |    -    | launch-key |
ci-info: +-------------+----------------------+---------+------------+
WANT
check "the tables, byte for byte as cloud-init 22.4 renders them, in its order: the default user last (system user skipped)" diff "$T/want" "$T/got"

# A reboot of the same instance prints nothing again.
: >"$KILN_CONSOLE"
kiln boot >"$T/boot.log" 2>&1
ok $? "reboot exits 0"
! grep -q 'ci-info' "$KILN_CONSOLE"
ok $? "fingerprints printed once per instance"

# A new instance, authkey_hash sha512, lines added by hand; only bob listed.
printf '# by hand\n\n' >>"$ROOT/home/bob/.ssh/authorized_keys"
imds_data '{"instance_id": "i-00000000000000f02"}'
user_data <<'UD'
#cloud-config
authkey_hash: sha512
users:
  - name: bob
UD
: >"$KILN_CONSOLE"
kiln boot >"$T/boot.log" 2>&1
ok $? "new instance boots" || diag "$T/boot.log"
grep '^ci-info: ' "$KILN_CONSOLE" >"$T/got"
cat >"$T/want" <<'WANT'
ci-info: +++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++Authorized keys from /home/bob/.ssh/authorized_keys for user bob+++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++
ci-info: +---------------------+-------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------+--------------------------------------------+-------------------+
ci-info: |       Keytype       |                                                                                       Fingerprint (sha512)                                                                                      |                  Options                   |      Comment      |
ci-info: +---------------------+-------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------+--------------------------------------------+-------------------+
ci-info: |       ssh-rsa       | a3:c5:b0:e2:2f:41:62:1d:04:9f:61:ef:8e:26:d8:a1:ad:9e:c8:b2:f4:f4:23:23:6b:4d:39:75:08:14:3f:8d:91:6c:af:bd:5e:fe:04:e9:82:b3:b4:3f:43:7c:e7:51:60:51:9d:ff:0d:94:2b:a7:f5:9c:19:84:c5:63:ae:28 | no-port-forwarding,command="echo hi there" |        bob        |
ci-info: |     ssh-ed25519     | 29:a8:80:c0:1a:2a:49:b7:c7:08:87:6a:ca:41:6a:d0:7c:42:1c:28:d3:e5:fa:88:0e:d4:bb:d5:23:8f:2a:0d:45:63:5c:4e:6c:4a:c7:af:2a:d7:cc:12:56:03:1a:6b:64:8d:92:14:5c:1a:8e:dc:e7:78:c5:4c:91:a4:91:90 |                     -                      | alice@example ünï |
ci-info: | ecdsa-sha2-nistp256 |                                                                                                ?                                                                                                |                     -                      |         -         |
ci-info: +---------------------+-------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------+--------------------------------------------+-------------------+
WANT
check "sha512 table for the users listed, comment and blank lines kept out of it" diff "$T/want" "$T/got"

# no_ssh_fingerprints (cloud-init's is_true: "yes" counts).
imds_data '{"instance_id": "i-00000000000000f03"}'
user_data <<'UD'
#cloud-config
no_ssh_fingerprints: "yes"
users: [default, bob]
UD
: >"$KILN_CONSOLE"
kiln boot >"$T/boot.log" 2>&1
ok $? "boot with no_ssh_fingerprints exits 0"
! grep -q 'ci-info' "$KILN_CONSOLE"
ok $? "no_ssh_fingerprints: nothing printed"

# The users own their homes: a link planted as authorized_keys is not
# followed (its target's keys are not shown), a FIFO is not opened (the boot
# does not hang); for both, no keys, as when cloud-init cannot read the file.
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc1Pcf0H0xGvxjbmiyhsV+GQIaZDSqPG0BN9BQ5D0Qp secret-root-key\n' >"$ROOT/root-only"
mkdir -p "$ROOT/home/carol/.ssh"
chown -R --reference="$ROOT/home/carol" "$ROOT/home/carol/.ssh" 2>/dev/null
ln -sf /root-only "$ROOT/home/carol/.ssh/authorized_keys"
rm -f "$ROOT/home/bob/.ssh/authorized_keys"
mkfifo "$ROOT/home/bob/.ssh/authorized_keys"
imds_data '{"instance_id": "i-00000000000000f04"}'
user_data <<'UD'
#cloud-config
users: [bob, carol]
UD
: >"$KILN_CONSOLE"
timeout 60 "$KILN" --root "$ROOT" boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc != 124 ]; echo $?) "a FIFO as authorized_keys does not hang the boot (exit $rc)"
check "bob (FIFO): no keys" grep -qx 'ci-info: no authorized SSH keys fingerprints found for user bob.' "$KILN_CONSOLE"
check "carol (link): no keys" grep -qx 'ci-info: no authorized SSH keys fingerprints found for user carol.' "$KILN_CONSOLE"
! grep -q 'secret-root-key' "$KILN_CONSOLE"
ok $? "the link's target is not shown"
done_testing
