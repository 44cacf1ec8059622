#!/bin/bash
# SSH host keys per instance, as cloud-init's ssh module makes them
# (ssh_deletekeys, ssh_genkeytypes), and the console block cloud-init's
# write-ssh-key-fingerprints writes (tools parse its markers), then each
# failed step and a final line.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds
export KILN_CONSOLE=$T/console
SSH=$ROOT/etc/ssh
mkdir -p "$SSH"
: >"$SSH/sshd_config"
# The image's keys, baked in: every instance would share them.
for t in rsa dsa ed25519; do
	echo "OLD $t" >"$SSH/ssh_host_${t}_key"
	echo "OLD $t pub" >"$SSH/ssh_host_${t}_key.pub"
done
echo "OLD cert" >"$SSH/ssh_host_ed25519_key-cert.pub"
keysum() { cat "$SSH"/ssh_host_* 2>/dev/null | sha256sum; }

no_user_data
kiln boot >"$T/out" 2>&1
ok $? "first boot exits 0" || diag "$T/out"
for t in rsa ecdsa ed25519; do
	check "$t key made" ssh-keygen -l -f "$SSH/ssh_host_${t}_key.pub"
	pub=$(ssh-keygen -y -f "$SSH/ssh_host_${t}_key" | cut -d' ' -f1-2)
	[ -n "$pub" ] && [ "$pub" = "$(cut -d' ' -f1-2 "$SSH/ssh_host_${t}_key.pub")" ]
	ok $? "$t private and public keys match"
	[ "$(stat -c %a "$SSH/ssh_host_${t}_key")" = 600 ] && [ "$(stat -c %a "$SSH/ssh_host_${t}_key.pub")" = 644 ]
	ok $? "$t key modes 0600 and 0644"
done
! grep -rq OLD "$SSH"
ok $? "the image's keys are gone"
[ ! -e "$SSH/ssh_host_dsa_key" ] && [ ! -e "$SSH/ssh_host_ed25519_key-cert.pub" ]
ok $? "dsa key and the certificate deleted, not made again (not in ssh_genkeytypes)"

# The console: cloud-init's exact markers and forms.
check "fingerprints block opens" grep -Eq '^<14>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----$' "$KILN_CONSOLE"
check "fingerprints block closes" grep -Eq '^<14>.* cloud-init: -----END SSH HOST KEY FINGERPRINTS-----$' "$KILN_CONSOLE"
check "hash rule lines" test "$(grep -c '^<14>.* cloud-init: #############################################################$' "$KILN_CONSOLE")" = 2
for t in rsa ecdsa ed25519; do
	fp=$(ssh-keygen -l -f "$SSH/ssh_host_${t}_key.pub")
	check "$t fingerprint on the console" grep -qF "cloud-init: $fp" "$KILN_CONSOLE"
done
sed -n '/^-----BEGIN SSH HOST KEY KEYS-----$/,/^-----END SSH HOST KEY KEYS-----$/p' "$KILN_CONSOLE" >"$T/keys"
cat "$SSH/ssh_host_ecdsa_key.pub" "$SSH/ssh_host_ed25519_key.pub" "$SSH/ssh_host_rsa_key.pub" >"$T/want"
check "keys block holds the public keys, in glob order" diff <(sed '1d;$d' "$T/keys") "$T/want"
check "final line with result and time" grep -Eq '^kiln v\. .* finished at .*\. Result: done in [0-9]+ ms\. Up [0-9.]+ seconds\.$' "$KILN_CONSOLE"
sum1=$(keysum)

# A reboot of the same instance keeps its keys and does not print them again.
: >"$KILN_CONSOLE"
kiln boot >"$T/out" 2>&1
ok $? "reboot exits 0"
check "reboot keeps the keys" test "$(keysum)" = "$sum1"
! grep -q 'SSH HOST KEY' "$KILN_CONSOLE"
ok $? "keys printed once per instance"
check "final line at every boot" grep -q 'Result: done' "$KILN_CONSOLE"

# A new instance from the same disk: new keys.
imds_data '{"instance_id": "i-0000000000000new1"}'
kiln boot >"$T/out" 2>&1
ok $? "new instance boots"
sum2=$(keysum)
check "new instance, new keys" test "$sum2" != "$sum1"

# ssh_deletekeys: false and ssh_genkeytypes from cloud-config.
rm -f "$SSH/ssh_host_ed25519_key" "$SSH/ssh_host_ed25519_key.pub"
rsa=$(sha256sum <"$SSH/ssh_host_rsa_key")
imds_data '{"instance_id": "i-0000000000000new2"}'
user_data <<'UD'
#cloud-config
ssh_deletekeys: false
ssh_genkeytypes: [ed25519]
UD
kiln boot >"$T/out" 2>&1
ok $? "boot with ssh_deletekeys false"
check "rsa key kept" test "$(sha256sum <"$SSH/ssh_host_rsa_key")" = "$rsa"
check "missing ed25519 key made" ssh-keygen -l -f "$SSH/ssh_host_ed25519_key.pub"

# A failed step is on the console, and the boot is degraded.
: >"$KILN_CONSOLE"
imds_data '{"instance_id": "i-0000000000000new3"}'
user_data <<'UD'
#cloud-config
ssh_genkeytypes: [ed25519, "../../tmp/x"]
UD
kiln boot >"$T/out" 2>&1
[ $? -eq 2 ]
ok $? "an invalid key type degrades the boot"
check "the failed step on the console" grep -q "^kiln: apply: degraded: ssh host keys: ssh_genkeytypes: invalid key type '../../tmp/x'" "$KILN_CONSOLE"
check "final line says degraded" grep -Eq '^kiln v\. .*Result: degraded in [0-9]+ ms' "$KILN_CONSOLE"
check "only ed25519 now" test "$(ls "$SSH" | grep -c '^ssh_host_.*_key$')" = 1

# kiln host-keys (kiln-host-keys.service, before sshd): once per instance,
# with the user-data's config; the boot after it keeps those keys.
no_user_data
imds_data '{"instance_id": "i-0000000000000new4"}'
kiln host-keys >"$T/out" 2>&1
ok $? "kiln host-keys exits 0"
check "host-keys made the default types" test "$(ls "$SSH" | grep -c '^ssh_host_.*_key$')" = 3
sum4=$(keysum)
kiln host-keys >"$T/out" 2>&1
ok $? "kiln host-keys again exits 0"
check "host-keys again changes nothing" test "$(keysum)" = "$sum4"
: >"$KILN_CONSOLE"
kiln boot >"$T/out" 2>&1
ok $? "boot after host-keys exits 0"
check "boot keeps the keys host-keys made" test "$(keysum)" = "$sum4"
check "boot prints them on the console" grep -q 'BEGIN SSH HOST KEY KEYS' "$KILN_CONSOLE"

# The console's blacklists (by key type, as the public key file starts) and
# emit_keys_to_console.
: >"$KILN_CONSOLE"
printf '#cloud-config\nssh_fp_console_blacklist: [ssh-rsa]\nssh_key_console_blacklist: [ssh-ed25519]\n' | user_data
imds_data '{"instance_id": "i-000000000000new4b"}'
kiln boot >"$T/out" 2>&1
ok $? "boot with console blacklists exits 0"
check "rsa fingerprint left out" test "$(grep -c 'cloud-init: .*(RSA)$' "$KILN_CONSOLE")" = 0
check "ed25519 fingerprint shown" grep -q 'cloud-init: .*(ED25519)$' "$KILN_CONSOLE"
check "ed25519 public key left out" test "$(grep -c '^ssh-ed25519 ' "$KILN_CONSOLE")" = 0
check "rsa public key shown" grep -q '^ssh-rsa ' "$KILN_CONSOLE"
: >"$KILN_CONSOLE"
printf '#cloud-config\nssh:\n  emit_keys_to_console: false\n' | user_data
imds_data '{"instance_id": "i-000000000000new4c"}'
kiln boot >"$T/out" 2>&1
ok $? "boot with emit_keys_to_console false exits 0"
! grep -q 'SSH HOST KEY' "$KILN_CONSOLE"
ok $? "emit_keys_to_console false: no key block"
check "... the final line still" grep -q 'Result: done' "$KILN_CONSOLE"

# final_message, after kiln's own final line; a broken one is a config error.
: >"$KILN_CONSOLE"
printf '#cloud-config\nfinal_message: "The system is finally up, after $UPTIME seconds"\n' | user_data
kiln boot >"$T/out" 2>&1
ok $? "boot with final_message exits 0"
check "final_message on the console" grep -Eq '^The system is finally up, after [0-9]+\.[0-9]{2} seconds$' "$KILN_CONSOLE"
check "... after kiln's final line" test "$(tail -1 "$KILN_CONSOLE" | cut -c1-10)" = "The system"
printf '#cloud-config\nfinal_message: "bye $HOME"\n' | user_data
kiln boot >"$T/out" 2>&1
[ $? -eq 1 ]
ok $? "an unknown final_message variable is a config error"
check "... named" grep -q 'final_message names a variable other than' "$T/out"

# ssh_keys: keys given in the config are written (0600, as cloud-init
# writes them), a private key without its public key gets one derived,
# a certificate is named in sshd_config; nothing else is made.
ssh-keygen -q -t ed25519 -N '' -C given-ed -f "$T/given_ed" && ssh-keygen -q -t rsa -b 2048 -N '' -C given-rsa -f "$T/given_rsa"
indent() { sed 's/^/    /' "$1"; }
{
	echo '#cloud-config'
	echo 'ssh_keys:'
	echo '  ed25519_private: |'; indent "$T/given_ed"
	echo '  ed25519_public: |'; indent "$T/given_ed.pub"
	echo '  ed25519_certificate: ssh-ed25519-cert-v01@openssh.com AAAAfake given-cert'
	echo '  rsa_private: |'; indent "$T/given_rsa"
} | user_data
printf 'Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n' >"$SSH/sshd_config"
imds_data '{"instance_id": "i-0000000000000new6"}'
kiln boot >"$T/out" 2>&1
ok $? "boot with ssh_keys exits 0"
check "the given ed25519 private key" cmp "$T/given_ed" "$SSH/ssh_host_ed25519_key"
check "the given ed25519 public key" cmp "$T/given_ed.pub" "$SSH/ssh_host_ed25519_key.pub"
check "given keys 0600" test "$(stat -c %a "$SSH/ssh_host_ed25519_key.pub")" = 600
check "rsa public key derived from the private one" test "$(cut -d' ' -f1-2 "$SSH/ssh_host_rsa_key.pub")" = "$(cut -d' ' -f1-2 "$T/given_rsa.pub")"
check "... with cloud-init's comment" grep -q ' root@localhost$' "$SSH/ssh_host_rsa_key.pub"
check "no ecdsa key made" test ! -e "$SSH/ssh_host_ecdsa_key"
check "certificate written" grep -q given-cert "$SSH/ssh_host_ed25519_key-cert.pub"
check "HostCertificate in the sshd_config.d drop-in" grep -qx 'HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub' "$SSH/sshd_config.d/50-cloud-init.conf"
check "sshd_config itself untouched" test "$(cat "$SSH/sshd_config")" = "$(printf 'Include /etc/ssh/sshd_config.d/*.conf\nPort 22')"
! grep -q 'PRIVATE KEY' "$T/out" "$ROOT/run/kiln/status.json"
ok $? "private keys appear in no log and no status"
printf '#cloud-config\nssh_keys:\n  rsa_secret: x\n' | user_data
imds_data '{"instance_id": "i-0000000000000new7"}'
kiln boot >"$T/out" 2>&1
[ $? -eq 2 ]
ok $? "an unrecognized ssh_keys entry degrades the boot"
check "... and is named" grep -q "ssh_keys: unrecognized entry 'rsa_secret', skipping" "$T/out"
no_user_data

# host-keys cannot read the user-data (it may hold ssh_keys): it makes
# nothing and leaves the keys to the boot, which retries.
imds_data '{"instance_id": "i-0000000000000new8"}'
sum8=$(keysum)
imds_faults '{"paths": {"/latest/user-data": {"status": 500, "count": -1}}}'
kiln host-keys >"$T/out" 2>&1
[ $? -eq 1 ]
ok $? "host-keys without the user-data exits 1"
check "... and changed no key" test "$(keysum)" = "$sum8"
imds_faults '{"paths": {}}'
kiln boot >"$T/out" 2>&1
ok $? "the boot after it exits 0"
check "... and made the new instance's keys" test "$(keysum)" != "$sum8"

# An image without sshd gets no keys.
rm -rf "$SSH"
imds_data '{"instance_id": "i-0000000000000new5"}'
kiln boot >"$T/out" 2>&1
ok $? "boot without sshd exits 0"
check "no /etc/ssh made" test ! -e "$SSH"

done_testing
