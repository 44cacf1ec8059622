#!/bin/bash
# ntp from cloud-init's documentation examples, under --root on a Debian
# root: the client chosen as cloud-init chooses it, its config laid out as
# cloud-init's templates lay it out, the old file kept as .dist, the
# service reloaded (recorded through KILN_SYSTEM_COMMAND).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'ID=debian\n' >"$ROOT/etc/os-release"
make_pkg_recorder "$T/pkg" "$T/pkg.log"
export KILN_PKG_COMMAND=$T/pkg
make_pkg_recorder "$T/tool" "$T/tools.log"
export KILN_SYSTEM_COMMAND=$T/tool
mkdir -p "$ROOT/etc/chrony"
printf 'old\n' >"$ROOT/etc/chrony/chrony.conf"
start_ec2 imds

# docs example 1: chrony, default pools
user_data <<'EOF2'
#cloud-config
ntp:
  enabled: true
  ntp_client: chrony  # Uses cloud-init default chrony configuration
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'ntp|warn|error' | head
C=$ROOT/etc/chrony/chrony.conf
check "the old chrony.conf is kept as chrony.conf.dist" grep -qx old "$C.dist"
check "the distro's default pools, as cloud-init's template writes them" \
	diff <(sed -n '2,6p' "$C") <(printf '# pools\npool 0.debian.pool.ntp.org iburst\npool 1.debian.pool.ntp.org iburst\npool 2.debian.pool.ntp.org iburst\npool 3.debian.pool.ntp.org iburst\n')
for d in 'keyfile /etc/chrony/chrony.keys' 'driftfile /var/lib/chrony/chrony.drift' 'logdir /var/log/chrony' \
	'maxupdateskew 100.0' rtcsync 'makestep 1 3'; do
	check "the template's directive: $d" grep -qx "$d" "$C"
done
check "chrony installed (it was not)" grep -qE 'install chrony$' "$T/pkg.log"
check "chrony reloaded" grep -qx 'systemctl reload-or-restart chrony' "$T/tools.log"

# servers, pools, peers, allow (docs example 2's lists) with timesyncd
# installed: auto picks it.
imds_data '{"instance-id": "i-000000000000ntp2"}'
mkdir -p "$ROOT/lib/systemd"
printf '#!/bin/sh\n' >"$ROOT/lib/systemd/systemd-timesyncd"
chmod 755 "$ROOT/lib/systemd/systemd-timesyncd"
user_data <<'EOF2'
#cloud-config
ntp:
  pools: [0.int.pool.ntp.org, 1.int.pool.ntp.org, ntp.myorg.org]
  servers:
  - ntp.server.local
  - ntp.ubuntu.com
  - 192.168.23.2
  allow:
  - 192.168.23.0/32
  peers:
  - km001
  - km002
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "second boot is done (exit $rc)"
check "auto picks the installed systemd-timesyncd; its drop-in as cloud-init's template renders it" \
	diff "$ROOT/etc/systemd/timesyncd.conf.d/cloud-init.conf" \
	<(printf '# cloud-init generated file\n# See timesyncd.conf(5) for details.\n\n[Time]\nNTP=ntp.server.local ntp.ubuntu.com 192.168.23.2 0.int.pool.ntp.org 1.int.pool.ntp.org ntp.myorg.org \n')
check "timesyncd reloaded" grep -qx 'systemctl reload-or-restart systemd-timesyncd' "$T/tools.log"

# docs example 2 whole: a client of the user's own is not done, and says so.
imds_data '{"instance-id": "i-000000000000ntp3"}'
user_data <<'EOF2'
#cloud-config
ntp:
  ntp_client: myntpclient
  config:
    confpath: /etc/myntpclient/myntpclient.conf
    service_name: myntpclient
EOF2
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a client of one's own makes the boot degraded (exit $rc)"
check "... saying why" grep -q 'ntp.config' "$T/boot3.log"

# The chrony layout for servers, pools, peers and allow, against the
# renders of cloud-init's template (jinja2) for the same lists.
imds_data '{"instance-id": "i-000000000000ntp4"}'
user_data <<'EOF2'
#cloud-config
ntp:
  ntp_client: chrony
  servers: [s1, s2]
  pools: [p1]
  peers: [pe]
  allow: [10.0.0.0/8]
EOF2
kiln boot >"$T/boot4.log" 2>&1
check "chrony: pools, servers, peers, allow laid out as the template's render" \
	diff <(sed -n '2,9p' "$C") <(printf '# pools\npool p1 iburst\n# servers\nserver s1 iburst\nserver s2 iburst\npeer pe\nallow 10.0.0.0/8\n\n')
done_testing
