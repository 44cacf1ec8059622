#!/bin/bash
# ssh_keys from cloud-init's documentation example, under --root: host
# keys written to /etc/ssh as cloud-init's cc_ssh writes them (modes,
# HostCertificate in sshd_config.d), a public key derived from a private
# key given alone, unknown names skipped with a warning.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
mkdir -p "$ROOT/etc/ssh/sshd_config.d"
printf 'Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n' >"$ROOT/etc/ssh/sshd_config"
ssh-keygen -q -t ed25519 -N '' -C test -f "$T/ed" >/dev/null
ED=$(sed 's/^/    /' "$T/ed")
start_ec2 imds

user_data <<EOF2
#cloud-config
ssh_keys: {rsa_certificate: 'ssh-rsa-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQt
    ...

    ', rsa_private: '-----BEGIN RSA PRIVATE KEY-----

    MIIBxwIBAAJhAKD0YSHy73nUgysO13XsJmd4fHiFyQ+00R7VVu2iV9Qco

    ...

    -----END RSA PRIVATE KEY-----

    ', rsa_public: ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAGEAoPRhIfLvedSDKw7Xd ...}
EOF2
cat >>"$EC2/user-data" <<EOF2
  ed25519_private: |
$ED
  ecdsa-sk_private: nope
EOF2
# the flow mapping above is closed: make ssh_keys a block mapping instead
python3 - "$EC2/user-data" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
head, flow = s.split("ssh_keys: {", 1)
flow, rest = flow.split("...}\n", 1)
s = head + "ssh_keys:\n  {" + flow + "...}\n"
# rewrite: keep the docs' flow mapping as one part, the extra keys as another
open(p, "w").write(s)
open(p + ".extra", "w").write("#cloud-config\nmerge_how: dict(recurse_array)+list()+str()\nssh_keys:\n" + rest)
PY
{
	printf 'Content-Type: multipart/mixed; boundary="b"\nMIME-Version: 1.0\n\n--b\nContent-Type: text/cloud-config\n\n'
	cat "$EC2/user-data"
	printf -- '--b\nContent-Type: text/cloud-config\n\n'
	cat "$EC2/user-data.extra"
	printf -- '--b--\n'
} >"$T/ud" && cp "$T/ud" "$EC2/user-data"

kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'ssh|warn|error' | head

S=$ROOT/etc/ssh
check "rsa_private as YAML gives it" diff "$S/ssh_host_rsa_key" \
	<(printf -- '-----BEGIN RSA PRIVATE KEY-----\nMIIBxwIBAAJhAKD0YSHy73nUgysO13XsJmd4fHiFyQ+00R7VVu2iV9Qco\n...\n-----END RSA PRIVATE KEY-----\n')
check "private key 0600" test "$(stat -c %a "$S/ssh_host_rsa_key")" = 600
check "rsa_public to .pub, 0600 as cloud-init 22.4 writes all three" test "$(cat "$S/ssh_host_rsa_key.pub")" = 'ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAGEAoPRhIfLvedSDKw7Xd ...' -a "$(stat -c %a "$S/ssh_host_rsa_key.pub")" = 600
check "rsa_certificate to -cert.pub" grep -q '^ssh-rsa-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQt' "$S/ssh_host_rsa_key-cert.pub"
check "HostCertificate in sshd_config.d/50-cloud-init.conf (sshd_config includes it)" \
	grep -qx 'HostCertificate /etc/ssh/ssh_host_rsa_key-cert.pub' "$S/sshd_config.d/50-cloud-init.conf"
check "sshd_config itself untouched" test "$(wc -l <"$S/sshd_config")" = 2
check "ed25519_private written" cmp "$S/ssh_host_ed25519_key" "$T/ed"
check "its public key derived (ssh-keygen -yf) with root@localhost" \
	test "$(cat "$S/ssh_host_ed25519_key.pub")" = "$(ssh-keygen -yf "$T/ed") root@localhost"
check "ecdsa-sk_private skipped, named" grep -q 'ecdsa-sk_private' "$T/boot.log"
check "no ecdsa key generated or written" test ! -e "$S/ssh_host_ecdsa_key"
done_testing
