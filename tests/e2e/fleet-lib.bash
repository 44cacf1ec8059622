# shellcheck shell=bash
# A fleet on loopback for the fleet-mode tests: N kiln "instances", each
# with its own --root, its own local EC2 (fake IMDS with its own
# instance-id, same region; its own real nginx on its own ports), one Pebble
# (with pebble-challtestsrv) for all, and a load balancer: a separate real
# nginx, round-robin over every instance's HTTP port, listening on the port
# Pebble validates http-01 on, so a validation lands on any instance.
# Sourced after tests/lib.sh (and tests/e2e/aws-lib.bash when AWS is used).
#
#   fleet_setup N        instances 1..N and the load balancer and Pebble;
#                        instance I's instance-id is ${FLEET_IDS[I]} (set
#                        FLEET_IDS=(... ) before to choose them, e.g. the
#                        ids aws_asg printed), LOCAL_EC2_REGION applies to
#                        all. Sets, per instance I: FLEET_ROOT[I],
#                        FLEET_EC2[I] (its local-EC2 dir: nginx logs in
#                        nginx/logs/), FLEET_IMDS[I] (URL), FLEET_HTTP[I],
#                        FLEET_HTTPS[I]; and FLEET_N, FLEET_LB_PORT,
#                        FLEET_LB_LOG (its access log: "upstream" field is
#                        the instance's port), FLEET_CA_DIR (Pebble's local
#                        EC2 dir), LOCAL_EC2_ACME_DIRECTORY,
#                        LOCAL_EC2_ACME_CA, LOCAL_EC2_PEBBLE_MGMT,
#                        LOCAL_EC2_CHALLTESTSRV_MGMT, UPSTREAM_PORT (a test
#                        upstream for sites)
#   fleet_config [I]     kiln config (YAML on stdin) for instance I, or
#                        every instance: /etc/kiln/kiln.yaml under its root
#                        (its nginx ports are in kiln.d/00-local-ec2.yaml);
#                        "@I@" in the text becomes the instance's number
#   fleet_acme_yaml [DOMAINS]
#                        prints an acme section for Pebble and one site
#                        "demo" (tls: acme, DOMAINS default "demo.test,
#                        www.demo.test") for fleet_config
#   fleet_imds I JSON    POST /_fake/data to instance I's fake IMDS
#   fleet_kiln I ARGS... runs kiln for instance I (its root, its IMDS; with
#                        aws-lib.bash's moto started with MOTO_USERS >= N,
#                        instance I's AWS keys are user kiln-I's, so
#                        moto_count ... key=$(moto_key main kiln-I) counts
#                        its requests)
#   fleet_boot I [ARGS]  `kiln boot` for instance I in the background; log
#                        in $T/fleet/I/boot.log
#   fleet_wait [SECONDS] waits (bounded, default 120 s) for every boot
#                        started; FLEET_RC[I] is its exit code (124: still
#                        running at the deadline, then killed); fails if
#                        any did not exit 0
#   fleet_serial I NAME  the serial of the certificate instance I's nginx
#                        serves for NAME over HTTPS (empty if none)
#   fleet_lb_hits        "PORT COUNT" lines: requests the load balancer
#                        sent to each instance's HTTP port
#   fleet_teardown       stops every process of the fleet (also at exit)

FLEET_N=0
declare -ga FLEET_ROOT=() FLEET_EC2=() FLEET_IMDS=() FLEET_HTTP=() FLEET_HTTPS=() FLEET_RC=() FLEET_PID=()
[ -n "${FLEET_IDS+x}" ] || declare -ga FLEET_IDS=()
FLEET_LB_PORT=
FLEET_LB_LOG=
FLEET_CA_DIR=

fleet_free_port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# fleet_env FILE VAR: a variable of a local-EC2 env file.
# shellcheck source=/dev/null
fleet_env() { (. "$1" && eval "echo \"\${$2}\""); }

fleet_setup() {
	local n=$1 i root ec2 env
	mkdir -p "$T/fleet"
	FLEET_N=$n
	# The load balancer's port first: Pebble validates http-01 there.
	FLEET_LB_PORT=$(fleet_free_port)
	for i in $(seq 1 "$n"); do
		root=$T/fleet/$i/root
		ec2=$T/fleet/$i/ec2
		mkdir -p "$root" "$ec2"
		make_root "$root"
		[ -n "${FLEET_IDS[$i]:-}" ] || FLEET_IDS[i]=$(printf 'i-0f1ee7%011x' "$i")
		LOCAL_EC2_ROOT=$root LOCAL_EC2_INSTANCE_ID=${FLEET_IDS[$i]} \
			"$top_srcdir/tests/local-ec2" start "$ec2" imds nginx >"$T/fleet/$i/ec2.log" 2>&1 || {
			echo "fleet_setup: instance $i's local EC2 did not start:" >&2
			cat "$T/fleet/$i/ec2.log" >&2
			return 1
		}
		env=$ec2/env
		FLEET_ROOT[i]=$root
		FLEET_EC2[i]=$ec2
		FLEET_IMDS[i]=$(fleet_env "$env" LOCAL_EC2_IMDS)
		FLEET_HTTP[i]=$(fleet_env "$env" LOCAL_EC2_HTTP_PORT)
		FLEET_HTTPS[i]=$(fleet_env "$env" LOCAL_EC2_HTTPS_PORT)
		mkdir -p "$root/etc/kiln/kiln.d"
		fleet_env "$env" LOCAL_EC2_NGINX_CONFIG >"$root/etc/kiln/kiln.d/00-local-ec2.yaml"
	done
	fleet_lb_start || return 1
	FLEET_CA_DIR=$T/fleet/ca
	LOCAL_EC2_PEBBLE_HTTP_PORT=$FLEET_LB_PORT "$top_srcdir/tests/local-ec2" start "$FLEET_CA_DIR" pebble \
		>"$T/fleet/ca.log" 2>&1 || {
		echo "fleet_setup: Pebble did not start:" >&2
		cat "$T/fleet/ca.log" >&2
		return 1
	}
	# shellcheck source=/dev/null
	. "$FLEET_CA_DIR/env"
	if [ -z "${UPSTREAM_PORT:-}" ]; then
		rm -f "$T/fleet/app.port"
		$PYTHON "$top_srcdir/tests/data/nginx/upstream.py" --port-file "$T/fleet/app.port" --name app \
			>"$T/fleet/app.log" 2>&1 &
		track $!
		for _ in $(seq 100); do
			[ -s "$T/fleet/app.port" ] && break
			sleep 0.05
		done
		UPSTREAM_PORT=$(cat "$T/fleet/app.port")
	fi
}

# The load balancer: nginx with a prefix of its own under $T/fleet/lb.
fleet_lb_start() {
	local d=$T/fleet/lb i user=""
	mkdir -p "$d/logs" "$d/tmp"
	[ "$(id -u)" = 0 ] && user="user root root;"
	FLEET_LB_LOG=$d/logs/access.log
	{
		echo "# The fleet's load balancer (tests/e2e/fleet-lib.bash)."
		echo "$user"
		echo "worker_processes 1;"
		echo "pid $d/nginx.pid;"
		echo "error_log $d/logs/error.log notice;"
		echo "events { worker_connections 256; }"
		echo "http {"
		echo "    log_format lb '\$remote_addr \"\$request\" \$status upstream=\$upstream_addr';"
		echo "    access_log $FLEET_LB_LOG lb;"
		for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $d/tmp/$t;"; done
		echo "    upstream fleet {"
		# max_fails=0: never taken out of the rotation (an instance not up yet
		# would otherwise be skipped for 10 s).
		for i in $(seq 1 "$FLEET_N"); do echo "        server 127.0.0.1:${FLEET_HTTP[$i]} max_fails=0;"; done
		echo "    }"
		echo "    server {"
		echo "        listen 127.0.0.1:$FLEET_LB_PORT;"
		echo "        location / {"
		echo "            proxy_pass http://fleet;"
		echo "            proxy_set_header Host \$host;"
		# One instance down must not answer for the others.
		echo "            proxy_next_upstream error timeout;"
		echo "        }"
		echo "    }"
		echo "}"
	} >"$d/nginx.conf"
	/usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" >"$d/start.log" 2>&1 || {
		echo "fleet_lb_start: nginx did not start:" >&2
		cat "$d/start.log" >&2
		return 1
	}
	local pid=""
	for _ in $(seq 100); do
		pid=$(cat "$d/nginx.pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && break
		pid=""
		sleep 0.05
	done
	[ -n "$pid" ] || return 1
	track "$pid"
}

fleet_config() {
	local text i list
	text=$(cat)
	if [ $# -gt 0 ]; then list=$1; else list=$(seq 1 "$FLEET_N"); fi
	for i in $list; do
		printf '%s\n' "${text//@I@/$i}" >"${FLEET_ROOT[$i]}/etc/kiln/kiln.yaml"
	done
}

fleet_acme_yaml() {
	cat <<-EOF
		acme:
		  email: admin@example.com
		  directory: $LOCAL_EC2_ACME_DIRECTORY
		  ca_file: $LOCAL_EC2_ACME_CA
		sites:
		  - name: demo
		    domains: [${1:-demo.test, www.demo.test}]
		    tls: acme
		    upstream: http://127.0.0.1:$UPSTREAM_PORT
	EOF
}

fleet_imds() { curl -sf -m 10 -X POST -d "$2" "${FLEET_IMDS[$1]}/_fake/data" >/dev/null; }

fleet_kiln() {
	local i=$1 key="${AWS_ACCESS_KEY_ID:-}" secret="${AWS_SECRET_ACCESS_KEY:-}"
	shift
	# With aws-lib.bash's moto (MOTO_USERS >= N): instance I signs as
	# kiln-I, so the request log tells the instances apart.
	if [ -n "${MOTO_MAIN:-}" ] && [ -f "$T/moto-$MOTO_MAIN/creds.json" ]; then
		read -r key secret < <(moto_creds "$MOTO_MAIN" "kiln-$i" 2>/dev/null ||
			echo "${AWS_ACCESS_KEY_ID:-} ${AWS_SECRET_ACCESS_KEY:-}")
	fi
	AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret \
		AWS_EC2_METADATA_SERVICE_ENDPOINT=${FLEET_IMDS[$i]} "$KILN" --root "${FLEET_ROOT[$i]}" "$@"
}

fleet_boot() {
	local i=$1
	shift
	fleet_kiln "$i" boot "$@" >"$T/fleet/$i/boot.log" 2>&1 &
	FLEET_PID[i]="$! $(pid_start $!)"
	track $!
}

fleet_wait() {
	local limit=${1:-120} i pid start failed=0 deadline
	deadline=$(($(date +%s) + limit))
	for i in "${!FLEET_PID[@]}"; do
		read -r pid start <<<"${FLEET_PID[$i]}"
		while pid_alive "$pid" "$start" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
		if pid_alive "$pid" "$start"; then
			pid_kill KILL "$pid" "$start"
			wait "$pid" 2>/dev/null
			FLEET_RC[i]=124
		else
			wait "$pid" 2>/dev/null
			FLEET_RC[i]=$?
		fi
		[ "${FLEET_RC[$i]}" = 0 ] || failed=1
		unset "FLEET_PID[$i]"
	done
	return $failed
}

fleet_serial() {
	timeout 10 openssl s_client -connect "127.0.0.1:${FLEET_HTTPS[$1]}" -servername "$2" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

fleet_lb_hits() {
	sed -n 's/.* upstream=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$FLEET_LB_LOG" 2>/dev/null | sort | uniq -c |
		awk '{print $2, $1}'
}

fleet_teardown() {
	local i pid
	for i in $(seq 1 "$FLEET_N"); do
		# An nginx master kiln started itself is not the local EC2's.
		pid=$(cat "${FLEET_ROOT[$i]:-/nonexistent}/run/nginx.pid" 2>/dev/null) && [ -n "$pid" ] &&
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] && kill -QUIT "$pid" 2>/dev/null
		[ -z "${FLEET_EC2[$i]:-}" ] || "$top_srcdir/tests/local-ec2" stop "${FLEET_EC2[$i]}" >/dev/null 2>&1
	done
	[ -z "$FLEET_CA_DIR" ] || "$top_srcdir/tests/local-ec2" stop "$FLEET_CA_DIR" >/dev/null 2>&1
	pid=$(cat "$T/fleet/lb/nginx.pid" 2>/dev/null) && [ -n "$pid" ] &&
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] && kill -QUIT "$pid" 2>/dev/null
	FLEET_N=0
}

fleet_cleanup() {
	fleet_teardown || true
	cleanup
}
trap fleet_cleanup EXIT
