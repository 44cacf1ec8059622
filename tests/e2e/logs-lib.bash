# Helpers for the CloudWatch Logs end-to-end tests (sourced after
# tests/lib.sh and tests/e2e/cloudwatch-lib.bash): moto's server with IAM
# authentication on (its first three requests make an IAM user allowed
# CloudWatch Logs; every later one must be signed with that user's key), and
# tests/fakes/fault-proxy.py in front of it, which kiln talks to.

MOTO_PYTHON=${MOTO_PYTHON:-/root/.pyenv/shims/python3.11}
LOGS_PY="$top_srcdir/tests/e2e/logs-moto.py"
INSTANCE=i-0123456789abcdef0

logs_moto_start() {
	local port pport
	port=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	INITIAL_NO_AUTH_ACTION_COUNT=3 "$MOTO_PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$T/moto.log" 2>&1 &
	track $!
	for _ in $(seq 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	MOTO=http://127.0.0.1:$port
	eval "$($PYTHON "$LOGS_PY" setup "$MOTO")" || { echo "Bail out! IAM setup on moto failed"; exit 1; }
	export AWS_REGION=us-east-1
	$PYTHON "$top_srcdir/tests/fakes/fault-proxy.py" --upstream "$port" --port-file "$T/proxy.port" \
		>"$T/proxy.log" 2>&1 &
	track $!
	for _ in $(seq 100); do
		[ -s "$T/proxy.port" ] && break
		sleep 0.05
	done
	PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
	export AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=$PROXY
}

# fault MODE: pass, 503, throttle or reset
fault() { curl -sf -X POST -d "{\"mode\": \"$1\"}" "$PROXY/_fault" >/dev/null; }
fault_count() { curl -sf "$PROXY/_fault" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["stats"].get(sys.argv[1], 0))' "$1"; }

events() { $PYTHON "$LOGS_PY" events "$MOTO" "$1" "$2"; }
event_count() { events "$1" "$2" | wc -l; }
# has_events GROUP STREAM N: at least N events
has_events() { [ "$(event_count "$1" "$2")" -ge "$3" ]; }

logs_field() { $PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))["logs"][sys.argv[2]])' "$ROOT/run/kiln/status.json" "$1" 2>/dev/null; }

# lines FILE FROM TO [PREFIX]: appends "PREFIX N" lines
lines() { seq -f "${4:-line} %g" "$2" "$3" >>"$1"; }
