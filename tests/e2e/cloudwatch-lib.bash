# Helpers for the cloudwatch end-to-end tests (sourced after tests/lib.sh).

DPID=

# cw_config [YAML lines for metrics:, indented by two spaces]
cw_config() {
	mkdir -p "$ROOT/etc/kiln"
	{
		echo "metrics:"
		echo "  namespace: MyApp"
		echo "  interval: 1"
		echo "  timeout: 2"
		echo "  endpoint: $LOCAL_EC2_CLOUDWATCH"
		echo "  collect: []"
		cat
	} >"$ROOT/etc/kiln/kiln.yaml"
}

start_daemon() {
	"$KILN" --root "$ROOT" -v daemon >>"$T/daemon.log" 2>&1 &
	DPID=$!
	DSTART=$(pid_start "$DPID")
}

stop_daemon() { # stop_daemon [SIGNAL]
	[ -n "$DPID" ] || return 0
	pid_kill "${1:-TERM}" "$DPID" "$DSTART"
	for _ in $(seq 100); do
		pid_alive "$DPID" "$DSTART" || break
		sleep 0.1
	done
	pid_kill KILL "$DPID" "$DSTART"
	wait "$DPID" 2>/dev/null
	DPID=
}

cw_get() { curl -sf "$LOCAL_EC2_CLOUDWATCH/_fake/$1"; }
cw_post() { curl -sf -X POST -d "$2" "$LOCAL_EC2_CLOUDWATCH/_fake/$1" >/dev/null; }

# The samples the fake recorded for a metric, expanded by Counts, sorted,
# one per line.
samples() {
	cw_get "datapoints?metric_name=$1" | $PYTHON -c '
import json, sys
out = []
for p in json.load(sys.stdin):
    if p["value"] is not None:
        out.append(p["value"])
    else:
        counts = p["counts"] or [1] * len(p["values"])
        for v, c in zip(p["values"], counts):
            out.extend([v] * int(c))
for v in sorted(out):
    print("%g" % v)'
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
	local limit=$1
	shift
	for _ in $(seq $((limit * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# has_samples NAME FROM TO: exactly FROM..TO, each once.
has_samples() { [ "$(samples "$1")" = "$(seq "$2" "$3")" ]; }

metrics_field() { $PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"][sys.argv[2]])' "$ROOT/run/kiln/status.json" "$1" 2>/dev/null; }
metrics_is() { [ "$(metrics_field "$1")" = "$2" ]; }

put_seq() { # put_seq NAME FROM TO [ARGS...]
	local name=$1 from=$2 to=$3
	shift 3
	for i in $(seq "$from" "$to"); do
		kiln put-metric "$name" "$i" --unit Count "$@" || return 1
	done
}
