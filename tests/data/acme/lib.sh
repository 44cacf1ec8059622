# Helpers for the ACME end-to-end tests (sourced after tests/lib.sh).
# Until kiln's nginx module serves the sites, tests/data/acme/standin.py
# stands in for nginx: http-01 answers on Pebble's httpPort, and the site's
# certificate over TLS on a free port (exported as HTTPS_PORT).

SITE=demo
SITE_DIR() { echo "$ROOT/var/lib/kiln/acme/sites/$SITE"; }

start_standin() {
	rm -f "$T/standin.port"
	$PYTHON "$top_srcdir/tests/data/acme/standin.py" --root "$ROOT" --site "$SITE" \
		--http-port "$LOCAL_EC2_ACME_HTTP_PORT" --port-file "$T/standin.port" >"$T/standin.log" 2>&1 &
	STANDIN_PID=$!
	for _ in $(seq 100); do
		[ -s "$T/standin.port" ] && break
		sleep 0.05
	done
	HTTPS_PORT=$(cat "$T/standin.port" 2>/dev/null || echo 1)
}

stop_standin() {
	[ -n "${STANDIN_PID:-}" ] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null
	STANDIN_PID=
	return 0
}

# acme_config [DIRECTORY] [CA_FILE]: the acme section and one site with two
# names, baked into the image (/etc/kiln/kiln.d/acme.yaml).
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
		echo "nginx:"
		echo "  http_port: $LOCAL_EC2_ACME_HTTP_PORT"
		echo "  https_port: ${HTTPS_PORT:-443}"
		echo "sites:"
		echo "  - name: $SITE"
		echo "    domains: [demo.test, www.demo.test]"
		echo "    tls: acme"
		echo "    upstream: http://127.0.0.1:8000"
	} >"$T/acme.yaml"
	mkdir -p "$ROOT/etc/kiln/kiln.d"
	cp "$T/acme.yaml" "$ROOT/etc/kiln/kiln.d/acme.yaml"
}

state_field() { $PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$(SITE_DIR)/state.json" "$1"; }

# The SHA-256 fingerprint of the certificate served on 127.0.0.1:PORT for NAME.
served_fingerprint() {
	openssl s_client -connect "127.0.0.1:$1" -servername "$2" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
file_fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }
# True when the site on PORT serves FILE's certificate (both read).
serves() {
	local a b
	a=$(served_fingerprint "$1" demo.test)
	b=$(file_fingerprint "$2")
	[ -n "$a" ] && [ "$a" = "$b" ]
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
