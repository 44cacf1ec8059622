# Shared by the nginx end-to-end tests (sourced, not a test itself): a test
# upstream, kiln config for the local EC2's nginx, and requests through it.
# shellcheck source=/dev/null
. "$top_srcdir/tests/lib.sh"

NGX_DATA=$top_srcdir/tests/data/nginx

# Kept for the tests that chain their own cleanup to it.
nginx_cleanup() { cleanup; }

# start_upstream NAME: a test upstream on a free port, in $UPSTREAM_PORT.
start_upstream() {
	rm -f "$T/$1.port"
	$PYTHON "$NGX_DATA/upstream.py" --port-file "$T/$1.port" --name "$1" >"$T/$1.log" 2>&1 &
	track $!
	for _ in $(seq 100); do
		[ -s "$T/$1.port" ] && break
		sleep 0.05
	done
	UPSTREAM_PORT=$(cat "$T/$1.port") || { echo "Bail out! upstream $1 did not start"; exit 1; }
}

# The local EC2's nginx settings as a kiln.d drop-in; sites go in kiln.yaml.
nginx_settings() {
	mkdir -p "$ROOT/etc/kiln/kiln.d"
	echo "$LOCAL_EC2_NGINX_CONFIG" >"$ROOT/etc/kiln/kiln.d/00-local-ec2.yaml"
}
sites_config() { mkdir -p "$ROOT/etc/kiln" && cat >"$ROOT/etc/kiln/kiln.yaml"; }

# get HOST PATH [CURL-ARGS...]: over HTTP, as HOST.
get() {
	local host=$1 path=$2
	shift 2
	curl -s -m 5 -H "Host: $host" "http://127.0.0.1:$LOCAL_EC2_HTTP_PORT$path" "$@"
}
# gets HOST PATH [CURL-ARGS...]: over HTTPS, with SNI for HOST.
gets() {
	local host=$1 path=$2
	shift 2
	curl -s -k -m 5 --resolve "$host:$LOCAL_EC2_HTTPS_PORT:127.0.0.1" "https://$host:$LOCAL_EC2_HTTPS_PORT$path" "$@"
}
# jq-less: jfield EXPR reads JSON on stdin, prints eval(EXPR) with d bound.
jfield() { $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>/dev/null; }

# is VALUE EXPECTED DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else
		ok 1 "$3"
		echo "#   got '$1', expected '$2'"
	fi
}
