# Helpers for the ACME end-to-end tests, sourced after tests/e2e/nginx-lib.sh
# (which sources tests/lib.sh). Everything goes through the local EC2's real
# nginx: `start_ec2 imds nginx pebble` makes Pebble validate http-01 on
# nginx's HTTP port, where kiln's stateless challenge location answers, and
# the site's certificate is served by nginx on $LOCAL_EC2_HTTPS_PORT.

SITE=demo

# An nginx master kiln started itself (when it found none running) is not
# the local EC2's: stopped here too.
acme_cleanup() {
	local pid
	pid=$(cat "$ROOT/run/nginx.pid" 2>/dev/null) && [ -n "$pid" ] &&
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] && kill -QUIT "$pid" 2>/dev/null
	nginx_cleanup
}
trap acme_cleanup EXIT
SITE_DIR() { echo "$ROOT/var/lib/kiln/acme/sites/$SITE"; }

# The local EC2 with nginx and Pebble (knobs as environment, see
# tests/local-ec2.d/pebble.sh), and an upstream for the site.
start_acme_ec2() {
	start_upstream app
	start_ec2 imds nginx pebble
	nginx_settings
}

# acme_config [DIRECTORY] [CA_FILE]: the acme section and one site with two
# names that redirects HTTP to HTTPS, baked into the image
# (/etc/kiln/kiln.d/acme.yaml; nginx's ports are in 00-local-ec2.yaml).
acme_config() {
	local dir=${1:-$LOCAL_EC2_ACME_DIRECTORY} ca=${2-$LOCAL_EC2_ACME_CA}
	{
		echo "acme:"
		echo "  email: admin@example.com"
		echo "  directory: $dir"
		[ -n "$ca" ] && echo "  ca_file: $ca"
		if [ -n "${EAB_KID:-}" ]; then
			echo "  eab:"
			echo "    kid: $EAB_KID"
			echo "    hmac_key: $EAB_HMAC"
		fi
		echo "sites:"
		echo "  - name: $SITE"
		echo "    domains: [${DOMAINS:-demo.test, www.demo.test}]"
		echo "    tls: acme"
		echo "    redirect_http: true"
		echo "    upstream: http://127.0.0.1:$UPSTREAM_PORT"
	} >"$T/acme.yaml"
	mkdir -p "$ROOT/etc/kiln/kiln.d"
	cp "$T/acme.yaml" "$ROOT/etc/kiln/kiln.d/acme.yaml"
}

state_field() { $PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$(SITE_DIR)/state.json" "$1"; }

# The SHA-256 fingerprint of the certificate nginx serves for NAME.
served_fingerprint() {
	timeout 10 openssl s_client -connect "127.0.0.1:$LOCAL_EC2_HTTPS_PORT" -servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
file_fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }
# serves FILE [NAME]: nginx serves FILE's certificate for NAME (demo.test).
serves() {
	local a b
	a=$(served_fingerprint "${2:-demo.test}")
	b=$(file_fingerprint "$1")
	[ -n "$a" ] && [ "$a" = "$b" ]
}

# http_status PATH: the status and Location of http://demo.test/PATH via nginx.
http_status() { get demo.test "$1" -o /dev/null -w '%{http_code} %{redirect_url}'; }
# The upstream's answer over HTTPS, checked against Pebble's root.
https_upstream_name() {
	curl -s -m 5 --cacert "$T/pebble-root.pem" --resolve "demo.test:$LOCAL_EC2_HTTPS_PORT:127.0.0.1" \
		"https://demo.test:$LOCAL_EC2_HTTPS_PORT/x" | jfield 'd["name"]'
}

# Pebble's root, from its management interface (it changes with every start).
pebble_root() { curl -sf --cacert "$LOCAL_EC2_ACME_CA" "$LOCAL_EC2_PEBBLE_MGMT/roots/0" >"$T/pebble-root.pem"; }

chain_verifies() {
	pebble_root && openssl verify -CAfile "$T/pebble-root.pem" -untrusted "$(SITE_DIR)/chain.pem" \
		"$(SITE_DIR)/cert.pem" >/dev/null 2>&1
}

is_placeholder() {
	[ -e "$(SITE_DIR)/placeholder" ] &&
		openssl x509 -in "$(SITE_DIR)/fullchain.pem" -noout -subject 2>/dev/null | grep -q "kiln placeholder"
}

# pebble_stop keeps Pebble's command line for pebble_start, which starts it
# again on the same ports (with all its state lost) and waits, bounded, for
# its directory.
pebble_pid() {
	local pid
	local pid start
	while read -r pid start; do
		pid_alive "$pid" "$start" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pebble ] && echo "$pid"
	done <"$EC2/pids"
}
pebble_stop() {
	PEBBLE_PID=$(pebble_pid)
	[ -n "$PEBBLE_PID" ] || return 1
	tr '\0' ' ' <"/proc/$PEBBLE_PID/cmdline" >"$T/pebble.cmd"
	kill "$PEBBLE_PID"
	for _ in $(seq 100); do kill -0 "$PEBBLE_PID" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}
pebble_start() {
	# shellcheck disable=SC2046
	(cd "$EC2" && PEBBLE_VA_NOSLEEP=1 exec $(cat "$T/pebble.cmd") >>"$EC2/pebble.log" 2>&1) &
	pid_record $! "$EC2/pids"
	for _ in $(seq 100); do
		curl -sf -m 2 --cacert "$LOCAL_EC2_ACME_CA" "$LOCAL_EC2_ACME_DIRECTORY" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}
