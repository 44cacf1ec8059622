#!/bin/bash
# resolv_conf from cloud-init's documentation example, under --root:
# /etc/resolv.conf as cloud-init 22.4's resolv.conf.tmpl renders it (the
# expected files below are jinja2's renders of that template), only with
# manage_resolv_conf true and only on the distributions cloud-init runs
# cc_resolv_conf on.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'ID="rhel"\n' >"$ROOT/etc/os-release"
printf 'nameserver 10.0.0.2\n' >"$ROOT/etc/resolv.conf"
start_ec2 imds
H='# Your system has been configured with '"'"'manage-resolv-conf'"'"' set to true.
# As a result, cloud-init has written this file with configuration data
# that it has been provided. Cloud-init, by default, will write this file
# a single time (PER_ONCE).
#
'

# on Debian (the root's first os-release), cloud-init skips the module
printf 'ID=debian\n' >"$ROOT/etc/os-release"
user_data <<'EOF2'
#cloud-config
manage_resolv_conf: true
resolv_conf:
  nameservers:
    - 8.8.8.8
    - 8.8.4.4
  searchdomains:
    - foo.example.com
    - bar.example.com
  domain: example.com
  sortlist:
    - 10.0.0.1/255
    - 10.0.0.2
  options:
    rotate: true
    timeout: 1
EOF2
kiln boot >"$T/boot0.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "Debian: boot is done (exit $rc)"
check "Debian: resolv.conf left alone, as cloud-init leaves it" grep -qx 'nameserver 10.0.0.2' "$ROOT/etc/resolv.conf"

# docs example on RHEL
imds_data '{"instance-id": "i-0000000000resol2"}'
printf 'ID="rhel"\n' >"$ROOT/etc/os-release"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "RHEL: boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'resolv|warn|error' | head
check "the docs example rendered as cloud-init's template" diff "$ROOT/etc/resolv.conf" \
	<(printf '%snameserver 8.8.8.8\nnameserver 8.8.4.4\n\nsearch foo.example.com bar.example.com \ndomain example.com\n\nsortlist 10.0.0.1/255 10.0.0.2 \noptions rotate timeout:1\n' "$H")

# manage_resolv_conf false: nothing
imds_data '{"instance-id": "i-0000000000resol3"}'
printf 'keep\n' >"$ROOT/etc/resolv.conf"
user_data <<'EOF2'
#cloud-config
manage_resolv_conf: false
resolv_conf:
  nameservers: [1.1.1.1]
EOF2
kiln boot >"$T/boot3.log" 2>&1
check "manage_resolv_conf false: left alone" grep -qx keep "$ROOT/etc/resolv.conf"

# the template's layout for parts of it, with false flags and sorted options
imds_data '{"instance-id": "i-0000000000resol4"}'
user_data <<'EOF2'
#cloud-config
manage_resolv_conf: "yes"
resolv_conf:
  nameservers: [1.1.1.1]
  options: {edns0: false, ndots: 2, attempts: 3, rotate: true, inet6: true}
EOF2
kiln boot >"$T/boot4.log" 2>&1
check "flags in order, options sorted, false flags left out" diff "$ROOT/etc/resolv.conf" \
	<(printf '%snameserver 1.1.1.1\n\n\noptions rotate inet6 attempts:3 ndots:2\n' "$H")

imds_data '{"instance-id": "i-0000000000resol5"}'
user_data <<'EOF2'
#cloud-config
manage_resolv_conf: true
resolv_conf:
  domain: d.example
EOF2
kiln boot >"$T/boot5.log" 2>&1
check "domain alone" diff "$ROOT/etc/resolv.conf" <(printf '%sdomain d.example\n\n' "$H")
done_testing
