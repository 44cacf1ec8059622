# shellcheck shell=bash
# AWS for the end-to-end tests: moto's server (moto 5.2.1, for the pyenv
# Python 3.11, not Debian's python3) with its IAM auth on, through the
# wrapper tests/fakes/moto-server.py (request log, outage switch, the
# lifecycle actions moto lacks, workarounds for its server's bugs: see its
# header), and set-up calls with botocore (tests/fakes/aws-admin.py).
# Sourced after tests/lib.sh (uses $T, track, $PYTHON).
#
#   moto_start NAME [auth|noauth]
#       starts a moto on a free loopback port, in $T/moto-NAME/, and waits
#       for it (bounded). auth (the default): IAM auth on, users kiln-admin
#       (everything; used by the helpers below) and kiln (only what kiln
#       needs; S3 only on the buckets in $MOTO_BUCKETS, default
#       "$MOTO_BUCKET"), plus kiln-1..kiln-$MOTO_USERS like kiln. Exports
#       the kiln user's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
#       AWS_REGION (us-east-1 unless set) and AWS_ENDPOINT_URL_S3,
#       _AUTO_SCALING, _CLOUDWATCH, _CLOUDWATCH_LOGS, _EC2 pointing at it.
#       noauth: no signature checks; exports AWS_ENDPOINT_URL_ROUTE_53 only
#       (moto fails its own signature check on Route 53 GETs with auth on,
#       so Route 53 lives on its own moto: `moto_start r53 noauth`).
#       Sets MOTO_MAIN (last auth moto) / MOTO_R53 (last noauth moto) and
#       MOTO_URL[NAME].
#   moto_stop [NAME]           stops NAME (every moto without NAME)
#   moto_fail on|off|reset [NAME]
#       on: every request answers 503 ServiceUnavailable; reset: every
#       connection is closed with a RST, unanswered; off: service again.
#       NAME defaults to $MOTO_MAIN.
#   moto_creds NAME USER       "ACCESS_KEY_ID SECRET" of USER (admin, kiln,
#                              kiln-1, ...)
#   moto_key NAME USER         its access key id alone
#   moto_admin NAME COMMAND... tests/fakes/aws-admin.py as kiln-admin on
#                              NAME (see its header for the commands)
#   aws_bucket BUCKET [REGION] create a bucket (on $MOTO_MAIN)
#   aws_zone DOMAIN            create a hosted zone (on $MOTO_R53, else
#                              $MOTO_MAIN); prints its id, Z...
#   aws_records ZONE_ID        "NAME TYPE VALUE" lines
#   aws_asg GROUP N [HOOK:launching|terminating[:HEARTBEAT]]...
#       an Auto Scaling group of N instances (launch template, default
#       VPC subnets) with lifecycle hooks; prints the instance ids (give
#       them to the fake IMDS: CompleteLifecycleAction wants an instance of
#       the group)
#   aws_objects BUCKET [PREFIX] "KEY SIZE" lines
#   aws_object BUCKET KEY      the object's bytes on stdout
#   aws_head BUCKET KEY        the object's response headers as JSON
#   moto_lifecycle [NAME]      JSON list of CompleteLifecycleAction and
#                              RecordLifecycleActionHeartbeat calls seen
#   moto_requests [NAME]       the request log, one JSON object a line:
#                              time method path query service key agent status
#   moto_count NAME [FIELD=VALUE]...
#       how many logged requests match all filters; VALUE ending in * is a
#       prefix; FIELD is one of the log's fields or "op" (S3 operation:
#       GET PUT LIST HEAD DELETE, LIST being a GET on a bucket), e.g.
#       moto_count main service=s3 op=LIST key=$(moto_key main kiln-1)
#   r53_bridge_start [CHALLTESTSRV_URL]
#       mirrors the TXT records of every zone of $MOTO_R53 into
#       pebble-challtestsrv (default: $LOCAL_EC2_CHALLTESTSRV, exported by
#       the local EC2's pebble service), every 0.1 s; Pebble's dns-01
#       validation then sees what kiln put in Route 53.

MOTO_PYTHON=${MOTO_PYTHON:-/root/.pyenv/shims/python3.11}
MOTO_BUCKET=${MOTO_BUCKET:-kiln-test-bucket}
MOTO_MAIN=
MOTO_R53=
declare -gA MOTO_URL=()

# moto_available: moto can be imported (else tests skip or bail out).
moto_available() { "$MOTO_PYTHON" -c 'import moto' >/dev/null 2>&1; }

moto_start() {
	local name=$1 mode=${2:-auth} pid port
	local dir=$T/moto-$name
	local args=(--port 0 --port-file "$dir/port" --log "$dir/requests.log")
	mkdir -p "$dir"
	rm -f "$dir/port" "$dir/creds.json"
	case $mode in
	auth)
		args+=(--auth --creds-file "$dir/creds.json" --users "${MOTO_USERS:-0}")
		local b
		for b in ${MOTO_BUCKETS:-$MOTO_BUCKET}; do args+=(--bucket "$b"); done
		;;
	noauth) ;;
	*)
		echo "moto_start: auth or noauth, not $mode" >&2
		return 64
		;;
	esac
	"$MOTO_PYTHON" "$top_srcdir/tests/fakes/moto-server.py" "${args[@]}" >>"$dir/server.log" 2>&1 &
	pid=$!
	track "$pid"
	echo "$pid $(pid_start "$pid")" >"$dir/pid"
	# moto's import takes seconds, more on a loaded machine.
	for _ in $(seq 600); do
		[ -s "$dir/port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	port=$(cat "$dir/port" 2>/dev/null) || {
		echo "moto_start: moto $name did not start:" >&2
		tail -n 20 "$dir/server.log" >&2
		return 1
	}
	MOTO_URL[$name]=http://127.0.0.1:$port
	export AWS_REGION=${AWS_REGION:-us-east-1}
	unset AWS_SESSION_TOKEN AWS_PROFILE
	if [ "$mode" = auth ]; then
		MOTO_MAIN=$name
		read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < <(moto_creds "$name" kiln)
		export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
		export AWS_ENDPOINT_URL_S3=${MOTO_URL[$name]}
		export AWS_ENDPOINT_URL_AUTO_SCALING=${MOTO_URL[$name]}
		export AWS_ENDPOINT_URL_CLOUDWATCH=${MOTO_URL[$name]}
		export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=${MOTO_URL[$name]}
		export AWS_ENDPOINT_URL_EC2=${MOTO_URL[$name]}
	else
		MOTO_R53=$name
		export AWS_ENDPOINT_URL_ROUTE_53=${MOTO_URL[$name]}
	fi
}

moto_stop() {
	local names=("$@") name pid start
	[ $# -gt 0 ] || names=("${!MOTO_URL[@]}")
	for name in "${names[@]}"; do
		read -r pid start <"$T/moto-$name/pid" 2>/dev/null || continue
		pid_kill TERM "$pid" "$start"
		for _ in $(seq 50); do
			pid_alive "$pid" "$start" || break
			sleep 0.1
		done
		pid_kill KILL "$pid" "$start"
		unset "MOTO_URL[$name]"
	done
}

moto_fail() {
	local mode=$1 name=${2:-$MOTO_MAIN}
	case $mode in
	on) mode=503 ;;
	off | reset) ;;
	*)
		echo "moto_fail: on, off or reset" >&2
		return 64
		;;
	esac
	curl -sf -m 10 -d "$mode" "${MOTO_URL[$name]}/_harness/fail" >/dev/null
}

moto_creds() {
	$PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1]))[sys.argv[2]]; print(d["AccessKeyId"], d["SecretAccessKey"])' \
		"$T/moto-$1/creds.json" "$2"
}
moto_key() { moto_creds "$1" "$2" | cut -d' ' -f1; }

moto_admin() {
	local name=$1 key=AKIAKILNTESTNOAUTH00 secret=noauth
	shift
	[ -f "$T/moto-$name/creds.json" ] && read -r key secret < <(moto_creds "$name" admin)
	$PYTHON "$top_srcdir/tests/fakes/aws-admin.py" --endpoint "${MOTO_URL[$name]}" \
		--key "$key" --secret "$secret" --region "${AWS_REGION:-us-east-1}" "$@"
}

aws_bucket() { moto_admin "$MOTO_MAIN" bucket "$@"; }
aws_zone() { moto_admin "${MOTO_R53:-$MOTO_MAIN}" zone "$@"; }
aws_records() { moto_admin "${MOTO_R53:-$MOTO_MAIN}" records "$@"; }
aws_asg() { moto_admin "$MOTO_MAIN" asg "$@"; }
aws_objects() { moto_admin "$MOTO_MAIN" objects "$@"; }
aws_object() { moto_admin "$MOTO_MAIN" object "$@"; }
aws_head() { moto_admin "$MOTO_MAIN" head "$@"; }

moto_lifecycle() { curl -sf -m 10 "${MOTO_URL[${1:-$MOTO_MAIN}]}/_harness/lifecycle"; }
moto_requests() { cat "$T/moto-${1:-$MOTO_MAIN}/requests.log" 2>/dev/null; }

moto_count() {
	local name=$1
	shift
	moto_requests "$name" | $PYTHON -c '
import json, sys
filters = [a.split("=", 1) for a in sys.argv[1:]]
def op(e):
    m, parts = e["method"], e["path"].strip("/").split("/", 1)
    if m == "GET" and len(parts) == 1:
        return "LIST"
    return m
def match(e, k, v):
    got = op(e) if k == "op" else str(e.get(k, ""))
    return got.startswith(v[:-1]) if v.endswith("*") else got == v
n = 0
for line in sys.stdin:
    e = json.loads(line)
    n += all(match(e, k, v) for k, v in filters)
print(n)' "$@"
}

r53_bridge_start() {
	local mgmt=${1:-${LOCAL_EC2_CHALLTESTSRV:-}} pid
	[ -n "$mgmt" ] || {
		echo "r53_bridge_start: no pebble-challtestsrv (start the local EC2's pebble)" >&2
		return 1
	}
	rm -f "$T/r53-bridge.ready"
	$PYTHON "$top_srcdir/tests/fakes/r53-bridge.py" --route53 "${MOTO_URL[${MOTO_R53:-$MOTO_MAIN}]}" \
		--challtestsrv "$mgmt" --ready-file "$T/r53-bridge.ready" >>"$T/r53-bridge.log" 2>&1 &
	pid=$!
	track "$pid"
	for _ in $(seq 300); do
		[ -e "$T/r53-bridge.ready" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "r53_bridge_start: the bridge did not start:" >&2
	tail -n 20 "$T/r53-bridge.log" >&2
	return 1
}
