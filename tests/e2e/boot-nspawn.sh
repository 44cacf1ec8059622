#!/bin/bash
# The whole product, as users get it: the Debian package built from this
# tree, baked into a Debian 12 image (packaging/image/bake), booted under a
# real systemd (systemd-nspawn --boot) as an EC2 instance whose IMDS answers
# at 169.254.169.254 from a network namespace of its own. Checked from
# outside: kiln.service READY with its STATUS line, the script ran once, a
# reboot does not run it again, a new instance-id does, the unit's exposure
# (systemd-analyze security) is no worse than recorded, purge removes state.
#
# What needs modules still to come (HTTPS site with a Pebble certificate,
# redirect, SSH key, metrics, reload adding a site, CloudWatch outage) is in
# functions that run when the kiln binary supports it (its command list and
# `kiln validate --keys`), and report `not ok ... # TODO` until then.
#
# Needs root, systemd-nspawn, debootstrap, dpkg-buildpackage. The Debian
# download and the baked image are cached in $KILN_BAKE_CACHE
# (/var/cache/kiln-bake): cold about a minute, warm seconds.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/nspawn/lib.sh"
trap nspawn_cleanup EXIT

# The unit's `systemd-analyze security` exposure as last recorded; the test
# fails when it gets worse. Lower it here when the unit gets tighter.
EXPOSURE_RECORDED=5.1
INSTANCE_ID=i-0b0a4e00000000001
INSTANCE_ID2=i-0b0a4e00000000002
LAUNCH_KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBakeTestLaunchKeyForKilnNspawnBootTest00 bake-launch-key"
SITE=app.kiln.test
CACHE_IMAGE=$BAKE_CACHE/image-boot-test
t0=$(date +%s.%N)

elapsed() { awk -v a="$1" -v b="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.1f", b - a }'; }
# A check of behaviour the product does not have yet, run for real: TAP
# TODO, so it fails nothing now and shows up (XPASS, a failure) once it
# passes, asking for the marker to go.
ok_todo() { # ok_todo EXIT-CODE DESCRIPTION WHY
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $tap_n - $2 # TODO $3"; else echo "not ok $tap_n - $2 # TODO $3"; fi
}
todo() { # todo DESCRIPTION WHAT-IS-MISSING
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n - $1 # TODO $2"
}

# --- what the kiln under test can do -------------------------------------

kiln_commands() { "$KILN" --help 2>/dev/null | awk '/^Commands:/ {c = 1; next} /^$/ {c = 0} c {print $1}'; }
COMMANDS=$(kiln_commands)
# Here-strings, not pipes: grep -q ends early, and under pipefail a writer's SIGPIPE would read as "no".
has_command() { grep -qx "$1" <<<"$COMMANDS"; }
KEYS=$("$KILN" validate --keys 2>/dev/null || true)
has_key() { grep -qE "(^|[[:space:]\`])$1([.[:space:]\`]|$)" <<<"$KEYS"; }

# --- prerequisites, package, image ---------------------------------------

prereqs() {
	local missing=() c
	[ "$(id -u)" = 0 ] || missing+=(root)
	for c in systemd-nspawn debootstrap dpkg-buildpackage dh nsenter unshare ip curl openssl; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || missing+=(overlayfs)
	[ ${#missing[@]} = 0 ] && return 0
	echo "# missing: ${missing[*]} (dev/deps installs systemd-container debootstrap debhelper)"
	return 1
}
prereqs
ok $? "prerequisites: root, systemd-nspawn, debootstrap, debhelper, overlayfs"
[ $tap_failed = 0 ] || done_testing

mkdir -p "$BAKE_CACHE"
exec 8>"$BAKE_CACHE/boot-test.lock"
flock -w 900 8
ok $? "no other boot test holds the image (waited at most 15 min)"

t=$(date +%s.%N)
(unset MAKEFLAGS MFLAGS MAKELEVEL; mkdir -p "$top_builddir/pkg" && flock -w 600 "$top_builddir/pkg/.lock" make -C "$top_builddir" deb PKG_CROSS_ARCHES=) >"$T/deb.log" 2>&1
ok $? "dpkg-buildpackage builds the .deb from the tree (make deb)"
deb=$(ls "$top_builddir"/pkg/kiln_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)
[ -n "$deb" ] || { tail -30 "$T/deb.log" | diag; done_testing; }
echo "# package: $(basename "$deb") in $(elapsed "$t") s"

t=$(date +%s.%N)
"$top_srcdir/packaging/image/bake" --deb "$deb" "$CACHE_IMAGE" >"$T/bake.log" 2>&1
ok $? "packaging/image/bake bakes an image"
diag "$T/bake.log"
echo "# bake: $(elapsed "$t") s"
IMG=$CACHE_IMAGE/rootfs
[ -x "$IMG/usr/bin/kiln" ] || done_testing

dpkg_img() { dpkg-query --admindir="$IMG/var/lib/dpkg" "$@"; }
dpkg_img -W -f='${Conffiles}\n' kiln | grep -q '^ /etc/kiln/kiln.yaml '
ok $? "the image's kiln package marks /etc/kiln/kiln.yaml as a conffile"
check "the package enables kiln.service" test -L "$IMG/etc/systemd/system/multi-user.target.wants/kiln.service"
check "the image has no machine-id (kiln clean --machine-id)" test ! -s "$IMG/etc/machine-id"
check "the image has no instance state (kiln clean)" test ! -e "$IMG/var/lib/kiln/instance-id"
check "nginx is in the image" test -x "$IMG/usr/sbin/nginx"

# --- the instance's surroundings -----------------------------------------

net_setup
ok $? "network namespaces and the veth pair between instance and IMDS"

# MIME user-data (script + #kiln-config) once kiln reads it; the script alone until then.
UD=$T/user-data
mime_supported() { has_command validate && "$KILN" validate "$T/user-data.mime" >/dev/null 2>&1; }
make_mime() {
	local b=kiln-boot-test-boundary
	{
		printf 'Content-Type: multipart/mixed; boundary="%s"\nMIME-Version: 1.0\n\n' $b
		printf -- '--%s\nContent-Type: text/x-shellscript; charset="us-ascii"\n\n' $b
		cat "$top_srcdir/tests/data/bake/script.sh"
		printf -- '\n--%s\nContent-Type: text/x-kiln-config; charset="us-ascii"\n\n' $b
		sed -e "s|@SITE@|$SITE|g" -e "s|@EC2@|$EC2_IP|g" "$top_srcdir/tests/data/bake/kiln-config.yaml"
		printf -- '\n--%s--\n' $b
	} >"$T/user-data.mime"
}
make_mime
if mime_supported; then
	cp "$T/user-data.mime" "$UD"
	echo "# user-data: MIME (script + #kiln-config)"
else
	cp "$top_srcdir/tests/data/bake/script.sh" "$UD"
	echo "# user-data: the script alone (kiln does not read MIME user-data yet)"
fi

imds_start "$UD" "$INSTANCE_ID" "$LAUNCH_KEY"
ok $? "the fake IMDS answers at $EC2_IP in its own network namespace"

pebble_start
ok $? "Pebble and its DNS answer at $EC2_IP"
cloudwatch_start
ok $? "the fake CloudWatch answers at $EC2_IP:8080"

instance_create "$IMG"
ok $? "the instance's root: an overlay on the image"
# What the ACME config trusts for Pebble's own HTTPS (a test CA).
cp "$T/pebble/ca.pem" "$INSTANCE/root/etc/kiln/test-acme-ca.pem"

# --- boots ----------------------------------------------------------------

# boot_and_check NAME: boots, waits for kiln, checks the service; prints times.
boot_and_check() {
	local name=$1 rc
	instance_boot
	ok $? "$name: the container starts"
	kill -0 "$NSPAWN_PID" 2>/dev/null || return 1
	instance_wait_booted 90
	ok $? "$name: systemd finishes starting up"
	in_instance kiln status --wait --timeout 60 >"$T/status-$BOOTS.txt" 2>&1
	rc=$?
	DONE_AT=$(date +%s.%N)
	ok $rc "$name: kiln status says done"
	in_instance systemctl list-units --failed --plain --no-legend >"$T/failed-$BOOTS.txt" 2>&1
	[ ! -s "$T/failed-$BOOTS.txt" ]
	ok $? "$name: no unit failed in the instance"
	diag "$T/failed-$BOOTS.txt"
	[ $rc = 0 ] || { diag "$T/status-$BOOTS.txt"; instance_journal kiln.service; }
	check "$name: kiln.service is active" in_instance systemctl is-active -q kiln.service
	# Type=notify: active means READY=1 arrived; NRestarts 0 means the first try.
	in_instance systemctl show -p Type -p SubState -p NRestarts kiln.service >"$T/show-$BOOTS.txt" 2>&1
	grep -qx 'Type=notify' "$T/show-$BOOTS.txt" && grep -qx 'SubState=running' "$T/show-$BOOTS.txt" &&
		grep -qx 'NRestarts=0' "$T/show-$BOOTS.txt"
	ok $? "$name: kiln.service reached READY (Type=notify, running, no restart)"
	in_instance systemctl status --no-pager kiln.service >"$T/systemctl-status-$BOOTS.txt" 2>&1
	grep -qE '^ *Status: "[^"]+"' "$T/systemctl-status-$BOOTS.txt"
	ok $? "$name: systemctl status kiln shows kiln's STATUS line"
	grep -E '^ *Status:' "$T/systemctl-status-$BOOTS.txt" | sed 's/^ */# /'
	boot_times "$name"
}

boot_times() {
	local us_start us_ready analyze
	analyze=$(in_instance systemd-analyze 2>/dev/null | head -1)
	us_start=$(in_instance systemctl show -P ExecMainStartTimestampMonotonic kiln.service 2>/dev/null)
	us_ready=$(in_instance systemctl show -P ActiveEnterTimestampMonotonic kiln.service 2>/dev/null)
	echo "# $1 times: container start to kiln done $(elapsed "$BOOT_START" "$DONE_AT") s;" \
		"kiln start to READY $(((${us_ready:-0} - ${us_start:-0}) / 1000)) ms; $analyze"
}

script_runs() { cat "$INSTANCE/root/var/lib/kiln-test-runs" 2>/dev/null || echo 0; }

boot_and_check "first boot"
is_runs() { [ "$(script_runs)" = "$1" ]; }
check "first boot: the user-data script ran once" is_runs 1
grep -q "script ran on $INSTANCE_ID" "$INSTANCE/root/var/lib/kiln-test-log" 2>/dev/null
ok $? "first boot: the script saw KILN_INSTANCE_ID"
check "first boot: kiln recorded the instance-id" grep -qx "$INSTANCE_ID" "$INSTANCE/root/var/lib/kiln/instance-id"

# What cloud-init did for the image (issue 14): host keys made for this
# instance by kiln-host-keys.service before sshd, and the console carrying
# cloud-init's host key block and kiln's final line (`aws ec2
# get-console-output` shows the same).
hostkeys_sum() { cat "$INSTANCE/root/etc/ssh/"ssh_host_*_key.pub 2>/dev/null | sha256sum; }
console_has() { tr -d '\r' <"$INSTANCE/console-$BOOTS.log" | grep -qE -- "$1"; }
image_duties() { # image_duties NAME
	if ! has_command host-keys; then
		todo "$1: SSH host keys and the console block" "needs the instance module (issue 14) in kiln"
		return
	fi
	check "$1: kiln-host-keys.service ran" in_instance systemctl is-active -q kiln-host-keys.service
	check "$1: ssh.service started after it, with the keys" in_instance systemctl is-active -q ssh.service
	check "$1: an ed25519 host key" test -s "$INSTANCE/root/etc/ssh/ssh_host_ed25519_key.pub"
	check "$1: the console has cloud-init's fingerprint block" console_has 'cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----'
	check "$1: the console has the public keys block" console_has '^-----END SSH HOST KEY KEYS-----$'
	check "$1: the console has kiln's final line" console_has 'kiln v\. .* finished at .*\. Result: done in [0-9]+ ms'
}
image_duties "first boot"
KEYS1=$(hostkeys_sum)

# Hardening: the unit's exposure, as systemd rates it, must not get worse.
security() {
	local score
	in_instance systemd-analyze security --no-pager kiln.service >"$T/security.txt" 2>&1
	score=$(sed -n 's/.*Overall exposure level for kiln.service: \([0-9.]*\).*/\1/p' "$T/security.txt")
	echo "# systemd-analyze security kiln.service: ${score:-?} (recorded: $EXPOSURE_RECORDED)"
	grep -E '^ *✗' "$T/security.txt" | sed 's/^ */#   /' | head -40
	[ -n "$score" ] && awk -v s="$score" -v r="$EXPOSURE_RECORDED" 'BEGIN { exit !(s <= r) }'
}
security
ok $? "the unit's exposure is no worse than recorded ($EXPOSURE_RECORDED)"

# --- the checks of modules: run when the binary supports them -------------

can_tls() { has_key sites && has_key acme && has_command certs && mime_supported; }
can_metrics() { has_key metrics && has_command put-metric && mime_supported; }

# The site's certificate as served, from outside the instance: verified
# against Pebble's root, for the site's name. Prints the serial.
site_cert_serial() {
	in_ec2 openssl s_client -connect "$INST_IP:443" -servername "$SITE" -verify_return_error \
		-CAfile "$T/pebble-root.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
site_curl() { in_ec2 curl -s --max-time 5 --resolve "$SITE:443:$INST_IP" --resolve "$SITE:80:$INST_IP" "$@"; }
pebble_orders() { grep -c 'POST /order-plz' "$T/pebble.log" 2>/dev/null || true; }

https_site() {
	if ! can_tls; then
		todo "HTTPS site with a certificate from Pebble" "needs sites (nginx), acme and MIME user-data in kiln"
		return
	fi
	pebble_root >"$T/pebble-root.pem"
	ok $? "Pebble's issuing root is available"
	# Issuance may still run when the boot is done: bounded wait for the real certificate.
	wait_for 90 site_cert_serial
	SERIAL1=$(site_cert_serial)
	[ -n "$SERIAL1" ]
	ok $? "the site serves a certificate that verifies to Pebble's root ($SERIAL1)"
	[ -n "$SERIAL1" ] || { in_instance kiln certs 2>&1 | sed 's/^/#   /'; instance_journal kiln.service; }
	site_curl --cacert "$T/pebble-root.pem" "https://$SITE/kiln-health" >"$T/health.txt" 2>&1
	grep -qx 'kiln-ok' "$T/health.txt"
	ok $? "the site answers over HTTPS"
}
http_redirect() {
	if ! can_tls; then
		todo "HTTP redirects to HTTPS" "needs sites.redirect_http (nginx), acme and MIME user-data in kiln"
		return
	fi
	local code loc
	read -r code loc < <(site_curl -o /dev/null -w '%{http_code} %{redirect_url}\n' "http://$SITE/kiln-health")
	case $code in 301 | 302 | 307 | 308) [ "$loc" = "https://$SITE/kiln-health" ] ;; *) false ;; esac
	ok $? "HTTP redirects to HTTPS ($code $loc)"
}
ssh_key() {
	if ! has_key default_user || ! mime_supported; then
		todo "the launch SSH key is in the default user's authorized_keys" "needs users and SSH keys (issue 3) in kiln"
		return
	fi
	grep -qF "$LAUNCH_KEY" "$INSTANCE/root/home/admin/.ssh/authorized_keys" 2>/dev/null
	ok $? "the launch SSH key is in the default user's (admin) authorized_keys"
}
# Datapoints of METRIC with Dimension InstanceId=ID at the fake CloudWatch.
cw_count() { # cw_count METRIC INSTANCE-ID [VALUE]
	cloudwatch_get "datapoints?metric_name=$1" | $PYTHON -c '
import json, sys
want_id = sys.argv[1]
want = float(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None
def dims(p):
    d = p.get("dimensions") or {}
    if isinstance(d, dict):
        return d
    return {(x.get("Name") or x.get("name")): (x.get("Value") or x.get("value")) for x in d}
n = 0
for p in json.load(sys.stdin):
    if dims(p).get("InstanceId") != want_id:
        continue
    if p.get("value") is not None:
        samples = [(p["value"], 1)]
    else:
        vals = p.get("values") or []
        samples = list(zip(vals, p.get("counts") or [1] * len(vals)))
    n += sum(int(c) for v, c in samples if want is None or float(v) == want)
print(n)' "$2" "${3:-}"
}
metrics_arrive() {
	if ! can_metrics; then
		todo "metrics arrive at the fake CloudWatch with InstanceId" "needs metrics (CloudWatch) in kiln"
		return
	fi
	has_points() { [ "$(cw_count MemoryUtilization "$1")" -gt 0 ]; }
	wait_for 30 has_points "$INSTANCE_ID"
	ok $? "metrics arrive at the fake CloudWatch with InstanceId=$INSTANCE_ID"
}
cloudwatch_outage() {
	if ! can_metrics; then
		todo "a CloudWatch outage loses no datapoint" "needs metrics (CloudWatch) in kiln"
		return
	fi
	local i all=1 got
	cloudwatch_stop
	ok $? "the fake CloudWatch is down"
	# Datums put while CloudWatch is away, one per interval, each its own value.
	for i in 1 2 3 4 5; do
		in_instance kiln put-metric KilnBootTestOutage "$i" --dimension "InstanceId=$INSTANCE_ID" >/dev/null 2>&1 || all=0
		sleep 2
	done
	ok $((1 - all)) "kiln put-metric queues datums during the outage"
	cloudwatch_start
	ok $? "the fake CloudWatch is back (same address)"
	all_arrived() { for i in 1 2 3 4 5; do [ "$(cw_count KilnBootTestOutage "$INSTANCE_ID" "$i")" -ge 1 ] || return 1; done; }
	wait_for 60 all_arrived
	ok $? "every datum put during the outage arrived afterwards"
	got=$(cw_count KilnBootTestOutage "$INSTANCE_ID")
	[ "$got" = 5 ]
	ok $? "each arrived exactly once ($got of 5)"
	has_points() { [ "$(cw_count MemoryUtilization "$INSTANCE_ID")" -gt 0 ]; }
	wait_for 30 has_points
	ok $? "collected metrics flow again after the outage"
}
reload_adds_site() {
	if ! has_key sites || ! mime_supported; then
		todo "systemctl reload kiln adds a second site without restarting nginx's master" "needs sites (nginx) in kiln"
		return
	fi
	# A second site from the baked config, a reload, the same nginx master.
	local master before after
	master() { in_instance cat /run/nginx.pid; }
	before=$(master)
	mkdir -p "$INSTANCE/root/etc/kiln/kiln.d"
	cat >"$INSTANCE/root/etc/kiln/kiln.d/50-second-site.yaml" <<-EOF
	sites:
	  - name: second
	    domains: [second.kiln.test]
	    locations:
	      /: { return: 200, body: "second-ok" }
	EOF
	in_instance systemctl reload kiln.service
	ok $? "systemctl reload kiln"
	second_up() { [ "$(in_ec2 curl -s --max-time 3 -H 'Host: second.kiln.test' "http://$INST_IP/")" = second-ok ]; }
	wait_for 10 second_up
	# Sites merge by name across config sources (docs/CONFIG.md): the
	# baked site joins the user-data's.
	ok $? "the reload added the second site from the baked config"
	after=$(master)
	[ -n "$before" ] && [ "$before" = "$after" ]
	ok $? "nginx's master was not restarted (pid $before, then $after)"
	rm -f "$INSTANCE/root/etc/kiln/kiln.d/50-second-site.yaml"
}
cert_reused() { # after a reboot
	if ! can_tls; then
		todo "reboot: the certificate is reused, not ordered again" "needs acme (kiln certs) in kiln"
		return
	fi
	local serial
	wait_for 30 site_cert_serial
	serial=$(site_cert_serial)
	[ -n "$serial" ] && [ "$serial" = "$SERIAL1" ]
	ok $? "reboot: the site serves the same certificate ($serial)"
	[ "$(pebble_orders)" = "$ORDERS1" ]
	ok $? "reboot: no new order at Pebble ($(pebble_orders) orders, $ORDERS1 before)"
}
cert_new_instance() {
	if ! can_tls; then
		todo "new instance: a new certificate is ordered" "needs acme (kiln certs) in kiln"
		return
	fi
	local serial
	new_cert() { serial=$(site_cert_serial) && [ -n "$serial" ] && [ "$serial" != "$SERIAL1" ]; }
	wait_for 15 new_cert
	ok $? "new instance: the site serves a new certificate ($serial)"
	[ "$(pebble_orders)" -gt "$ORDERS1" ]
	ok $? "new instance: a new order at Pebble ($(pebble_orders) orders, $ORDERS1 before)"
}

https_site
ORDERS1=$(pebble_orders)
http_redirect
ssh_key
metrics_arrive
reload_adds_site
cloudwatch_outage

# --- a reboot: nothing per-instance runs again ----------------------------

instance_stop reboot
ok $? "reboot: the instance shuts down"
boot_and_check "reboot"
check "reboot: the script did not run again" is_runs 1
cert_reused

# --- the same image as a new instance: per-instance work runs again -------

instance_stop poweroff
ok $? "power off before the new launch"
imds_ctl data "{\"instance_id\": \"$INSTANCE_ID2\"}"
ok $? "the IMDS now describes a new instance ($INSTANCE_ID2)"
boot_and_check "new instance"
check "new instance: the script ran again" is_runs 2
grep -q "script ran on $INSTANCE_ID2" "$INSTANCE/root/var/lib/kiln-test-log" 2>/dev/null
ok $? "new instance: the script saw the new instance-id"
check "new instance: kiln recorded the new instance-id" grep -qx "$INSTANCE_ID2" "$INSTANCE/root/var/lib/kiln/instance-id"
image_duties "new instance"
if has_command host-keys; then
	[ "$(hostkeys_sum)" != "$KEYS1" ]
	ok $? "new instance: new SSH host keys"
fi
cert_new_instance

# --- purge removes kiln's state ---------------------------------------------

in_instance systemctl stop kiln.service >/dev/null 2>&1
in_instance dpkg --purge kiln >"$T/purge.log" 2>&1
ok $? "dpkg --purge kiln"
check "purge removed /var/lib/kiln" test ! -e "$INSTANCE/root/var/lib/kiln"
check "purge removed /var/log/kiln" test ! -e "$INSTANCE/root/var/log/kiln"
check "purge removed the conffile /etc/kiln/kiln.yaml" test ! -e "$INSTANCE/root/etc/kiln/kiln.yaml"
check "purge removed the enablement link" test ! -e "$INSTANCE/root/etc/systemd/system/multi-user.target.wants/kiln.service"

instance_stop poweroff
ok $? "the instance powers off"
echo "# boot test total: $(elapsed "$t0") s"
# The arm64 (Graviton) image (packaging/image/bake --arch arm64, make
# image-arm64) needs binfmt_misc to run its programs under qemu-aarch64;
# this test does not boot it yet, and says so once, with why.
if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
	echo "# arm64 image: not booted by this test (this machine could bake it: make image-arm64)"
else
	echo "# arm64 image: not baked or booted: this machine has no binfmt_misc entry for qemu-aarch64"
fi

done_testing
