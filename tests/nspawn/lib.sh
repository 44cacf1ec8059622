# Helpers for booting the baked image as an EC2 instance under systemd-nspawn.
# Sourced after tests/lib.sh (for T, ok, check, diag).
#
# The network, as on EC2 but private to one test run:
#   netns $NS_EC2  the instance's surroundings: the fake IMDS at
#                  169.254.169.254:80, the other fakes beside it
#   netns $NS_INST the instance: ens5 with $INST_IP; the container runs in it
#   a veth pair links the two; both namespaces are deleted on exit.
# The instance's root is an overlay on the baked image, so the image stays
# as baked and a "reboot" keeps what the instance wrote.

BAKE_CACHE=${KILN_BAKE_CACHE:-/var/cache/kiln-bake}
# The scratch directory moves out of /tmp: the instance's overlay is large,
# and other tests' cleanups sweep /tmp/kiln-e2e.*.
rm -rf "$T"
T=$(mktemp -d /var/tmp/kiln-boot-test.XXXXXX)
ROOT=$T/root
EC2=$T/ec2
NS_EC2=kiln-ec2-$$
NS_INST=kiln-inst-$$
EC2_IP=169.254.169.254
INST_IP=169.254.10.10
INSTANCE=$T/instance # upper, work, root (the overlay), console logs
NSPAWN_PID=
LEADER=
BOOTS=0
NSPAWN_EXTRA=() # more systemd-nspawn options (bench/vs-cloudinit: --private-network --bind-ro=...)
EC2_PIDS=()

in_ec2() { ip netns exec "$NS_EC2" "$@"; }

nspawn_cleanup() {
	local p
	instance_kill
	for p in "${EC2_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${EC2_PIDS[@]}"; do timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
	umount "$INSTANCE/root" 2>/dev/null || umount -l "$INSTANCE/root" 2>/dev/null || true
	ip netns delete "$NS_INST" 2>/dev/null || true
	ip netns delete "$NS_EC2" 2>/dev/null || true
	cleanup # tests/lib.sh's
}

net_setup() {
	ip netns add "$NS_EC2" && ip netns add "$NS_INST" || return 1
	ip link add ens5 netns "$NS_INST" type veth peer name ec2 netns "$NS_EC2" || return 1
	in_ec2 ip link set lo up &&
		in_ec2 ip addr add "$EC2_IP/16" dev ec2 && in_ec2 ip link set ec2 up &&
		ip -n "$NS_INST" link set lo up &&
		ip -n "$NS_INST" addr add "$INST_IP/16" dev ens5 && ip -n "$NS_INST" link set ens5 up
}

# Starts a service in the EC2 namespace in the background; its PID is the
# service itself (ip netns exec execs it), and it does not inherit the
# test's lock (fd 8).
ec2_spawn() { # ec2_spawn NAME COMMAND...
	local name=$1
	shift
	ip netns exec "$NS_EC2" "$@" >>"$T/$name.log" 2>&1 8>&- &
	EC2_PIDS+=("$!")
	eval "PID_${name//-/_}=$!"
}

wait_for() { # wait_for SECONDS COMMAND...: polls every 0.1 s
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

ec2_started() { # ec2_started NAME COMMAND...: waits for COMMAND, else shows the log
	local name=$1
	shift
	wait_for 15 "$@" && return 0
	echo "# $name did not start:"
	diag "$T/$name.log"
	return 1
}

imds_start() { # imds_start USER-DATA-FILE INSTANCE-ID PUBLIC-KEY
	ec2_spawn imds $PYTHON "$top_srcdir/tests/fakes/imds.py" --bind "$EC2_IP" --port 80 \
		--port-file "$T/imds.port" --user-data-file "$1" --instance-id "$2" --public-key "$3" \
		--region us-east-1 --image-id ami-0kilnbake0000000 --role kiln-boot-test-role
	ec2_started imds test -s "$T/imds.port"
}
imds_ctl() { in_ec2 curl -sf --max-time 5 -X POST -d "$2" "http://$EC2_IP/_fake/$1" >/dev/null; }

# EC2's DHCP server (dnsmasq, DHCP only), with the router, domain and MTU a
# VPC gives. The instance's own address is set from outside before it boots
# (net_setup, and networkd keeps it), so nothing in kiln's boot asks; but
# cloud-init, once it knows it is on AWS, takes an ephemeral DHCP lease in
# init-local to read the IMDS, as on EC2, and would wait a minute without an
# answer. It adds the leased address to ens5 itself and gives up when ens5
# has it already ("Address already assigned"), so the lease is another
# address of the subnet, $DHCP_IP, which it removes again when done.
DHCP_IP=169.254.10.11
dhcp_start() {
	ec2_spawn dhcp dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --user=root \
		--interface=ec2 --bind-interfaces --pid-file= --log-facility=- --log-dhcp \
		--dhcp-range="$DHCP_IP,$DHCP_IP,255.255.0.0,1h" --dhcp-authoritative --dhcp-leasefile="$T/dhcp.leases" \
		--dhcp-option=option:router,"$EC2_IP" --dhcp-option=option:domain-name,ec2.internal \
		--dhcp-option=option:mtu,9001
	ec2_started dhcp grep -q 'DHCP, IP range' "$T/dhcp.log"
}

# The fake CloudWatch at $EC2_IP:8080, accepting the role keys the IMDS hands out.
CW_URL=http://$EC2_IP:8080
cloudwatch_start() {
	rm -f "$T/cloudwatch.port"
	ec2_spawn cloudwatch $PYTHON "$top_srcdir/tests/fakes/cloudwatch.py" --bind "$EC2_IP" --port 8080 \
		--port-file "$T/cloudwatch.port" --region us-east-1 --trust-imds "http://$EC2_IP" \
		--access-key AKIDKILNBOOTTEST --secret-key kiln-boot-test-secret-key-not-used
	ec2_started cloudwatch test -s "$T/cloudwatch.port"
}
cloudwatch_stop() {
	kill -TERM "$PID_cloudwatch" 2>/dev/null
	timeout 10 tail --pid="$PID_cloudwatch" -f /dev/null
}
cloudwatch_get() { in_ec2 curl -sf --max-time 5 "$CW_URL/_fake/$1"; }

# Pebble at $EC2_IP:14000 (management :15000), validating http-01 on the
# instance's port 80; pebble-challtestsrv as its DNS answers every name with
# the instance's address. Pebble's own HTTPS certificate is made here.
PEBBLE_DIR=https://$EC2_IP:14000/dir
PEBBLE_MGMT=https://$EC2_IP:15000
pebble_certs() {
	local d=$T/pebble
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=kiln boot test pebble CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$EC2_IP" \
			-keyout "$d/key.pem" -out "$d/req.pem" &&
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$EC2_IP" >"$d/ext.cnf" &&
		openssl x509 -req -in "$d/req.pem" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
			-extfile "$d/ext.cnf" -out "$d/cert.pem"
}
pebble_start() {
	pebble_certs >"$T/pebble-certs.log" 2>&1 || { diag "$T/pebble-certs.log"; return 1; }
	cat >"$T/pebble/config.json" <<-EOF
	{"pebble": {"listenAddress": "$EC2_IP:14000", "managementListenAddress": "$EC2_IP:15000",
	  "certificate": "$T/pebble/cert.pem", "privateKey": "$T/pebble/key.pem",
	  "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
	EOF
	ec2_spawn challtestsrv pebble-challtestsrv -dns01 "$EC2_IP:8053" -management "$EC2_IP:8055" \
		-http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 "$INST_IP" -defaultIPv6 ""
	ec2_spawn pebble env PEBBLE_VA_NOSLEEP=1 pebble -config "$T/pebble/config.json" \
		-dnsserver "$EC2_IP:8053" -strict
	ec2_started pebble in_ec2 curl -sf --max-time 2 --cacert "$T/pebble/ca.pem" "$PEBBLE_DIR"
}
# Pebble's issuing root, which the site's certificate must verify to.
pebble_root() { in_ec2 curl -sf --max-time 5 --cacert "$T/pebble/ca.pem" "$PEBBLE_MGMT/roots/0"; }

# The instance's root: the image below, this instance's changes above.
instance_create() { # instance_create IMAGE-ROOTFS
	mkdir -p "$INSTANCE/upper" "$INSTANCE/work" "$INSTANCE/root"
	mount -t overlay overlay -o "lowerdir=$1,upperdir=$INSTANCE/upper,workdir=$INSTANCE/work" "$INSTANCE/root" || return 1
	# The test's network: ens5 is configured from outside; networkd only
	# has to see it configured (the image's DHCP file would wait forever).
	mkdir -p "$INSTANCE/root/etc/systemd/network" "$INSTANCE/root/var/log/journal"
	cat >"$INSTANCE/root/etc/systemd/network/10-kiln-test.network" <<-EOF
	[Match]
	Name=ens5
	[Network]
	Address=$INST_IP/16
	KeepConfiguration=yes
	EOF
}

# Boots the instance; sets NSPAWN_PID (the process this test started) and
# LEADER (the container's PID 1, found among its descendants).
instance_boot() {
	BOOTS=$((BOOTS + 1))
	BOOT_START=$(date +%s.%N)
	# The tmpfs on /run/systemd/nspawn lives in a mount namespace of its own.
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 unshare -m --propagation private bash -c '
		mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn &&
		exec systemd-nspawn --boot --register=no --keep-unit --resolv-conf=off --console=read-only \
			--network-namespace-path="$1" --machine="$2" "${@:4}" -D "$3"' bash \
		"/run/netns/$NS_INST" "kiln-test-$$" "$INSTANCE/root" "${NSPAWN_EXTRA[@]}" \
		</dev/null >"$INSTANCE/console-$BOOTS.log" 2>&1 8>&- &
	NSPAWN_PID=$!
	LEADER=
	local p
	for _ in $(seq 100); do
		for p in $(descendants "$NSPAWN_PID"); do
			if [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$p/status" 2>/dev/null)" = 1 ]; then
				LEADER=$p
				return 0
			fi
		done
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# the container did not start:"
	diag "$INSTANCE/console-$BOOTS.log"
	return 1
}

descendants() { # all descendants of PID, by parent links
	local k
	for k in $(pgrep -P "$1"); do
		echo "$k"
		descendants "$k"
	done
}

# Runs a command inside the running instance (all its namespaces).
in_instance() {
	[ -n "$LEADER" ] || return 125
	timeout 60 nsenter 8>&- --target "$LEADER" --mount --uts --ipc --net --pid --cgroup --root --wd -- \
		/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# Waits (bounded) for the container's systemd to finish starting up.
instance_wait_booted() { # instance_wait_booted SECONDS
	local state
	for _ in $(seq $(($1 * 5))); do
		state=$(in_instance systemctl is-system-running 2>/dev/null)
		case $state in running | degraded) BOOTED_AT=$(date +%s.%N); return 0 ;; esac
		kill -0 "$NSPAWN_PID" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

# Stops the instance the way ACTION (reboot, poweroff) asks and waits for
# the nspawn this test started to exit; kills it if it does not in time.
instance_stop() { # instance_stop ACTION
	[ -n "$NSPAWN_PID" ] || return 0
	in_instance systemctl "$1" --no-block >/dev/null 2>&1
	if ! timeout 60 tail --pid="$NSPAWN_PID" -f /dev/null; then
		instance_kill
		return 1
	fi
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=
	LEADER=
}

instance_kill() {
	[ -n "${NSPAWN_PID:-}" ] || return 0
	kill -TERM "$NSPAWN_PID" 2>/dev/null # nspawn asks the container to power off
	timeout 20 tail --pid="$NSPAWN_PID" -f /dev/null 2>/dev/null || kill -KILL "$NSPAWN_PID" 2>/dev/null
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=
	LEADER=
}

# What the instance's journal says about a unit, for diagnostics.
instance_journal() { in_instance journalctl -b --no-pager -o cat -u "$1" 2>&1 | tail -40 | sed 's/^/#   /'; }
