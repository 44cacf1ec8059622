# Pebble, Let's Encrypt's ACME test server, and pebble-challtestsrv as its
# DNS (every name resolves to 127.0.0.1), both from Debian, on free ports.
#
# Knobs (environment): LOCAL_EC2_HTTP_PORT, the port Pebble validates http-01
# on (the nginx service, started before, exports it; a free port otherwise);
# LOCAL_EC2_PEBBLE_HTTP_PORT overrides it (a closed port: "port 80 is not
# reachable from the CA");
# PEBBLE_WFE_NONCEREJECT (Pebble's default, 5%, unless set);
# LOCAL_EC2_PEBBLE_VALIDITY, certificateValidityPeriod in seconds;
# LOCAL_EC2_PEBBLE_EAB=1, require External Account Binding.
#
# Debian's package ships no test certificates, so a throwaway CA and a
# certificate for 127.0.0.1/localhost are made here for Pebble's HTTPS.
#
# Exports LOCAL_EC2_ACME_DIRECTORY, LOCAL_EC2_ACME_CA (for acme.ca_file),
# LOCAL_EC2_PEBBLE_MGMT (roots at /roots/0), LOCAL_EC2_CHALLTESTSRV (its DNS's
# management API), LOCAL_EC2_ACME_HTTP_PORT and,
# with EAB, LOCAL_EC2_PEBBLE_EAB_KID / LOCAL_EC2_PEBBLE_EAB_HMAC.

pebble_certs() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=kiln local-ec2 pebble test CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		>/dev/null 2>&1 || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout "$d/key.pem" -out "$d/req.pem" >/dev/null 2>&1 || return 1
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/req.pem" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
		-extfile "$d/ext.cnf" -out "$d/cert.pem" >/dev/null 2>&1
}

# Waits (bounded) until url answers over TLS with the test CA.
pebble_wait() {
	local url=$1 pid=$2 name=$3
	for _ in $(seq 100); do
		curl -sf --max-time 2 --cacert "$DIR/pebble/ca.pem" "$url" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "local-ec2: $name did not start; see $DIR/$name.log" >&2
	return 1
}

pebble_config() {
	local listen=$1 mgmt=$2 http=$3 tls=$4
	local eab='"externalAccountBindingRequired": false'
	local validity=''
	if [ "${LOCAL_EC2_PEBBLE_EAB:-}" = 1 ]; then
		eab='"externalAccountBindingRequired": true, "externalAccountMACKeys": {"kiln-kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}'
	fi
	if [ -n "${LOCAL_EC2_PEBBLE_VALIDITY:-}" ]; then
		validity="\"certificateValidityPeriod\": $LOCAL_EC2_PEBBLE_VALIDITY,"
	fi
	cat <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$listen", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$DIR/pebble/cert.pem", "privateKey": "$DIR/pebble/key.pem",
  "httpPort": $http, "tlsPort": $tls, "ocspResponderURL": "", $validity $eab}}
EOF
}

start_pebble() {
	local dns cmgmt listen mgmt http tls
	pebble_certs "$DIR/pebble" || { echo "local-ec2: cannot make Pebble's certificates" >&2; return 1; }
	dns=$(free_port)
	cmgmt=$(free_port)
	pebble-challtestsrv -dns01 "127.0.0.1:$dns" -management "127.0.0.1:$cmgmt" -http01 "" -https01 "" \
		-tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$DIR/challtestsrv.log" 2>&1 &
	track_pid $!
	listen=$(free_port)
	mgmt=$(free_port)
	http=${LOCAL_EC2_PEBBLE_HTTP_PORT:-${LOCAL_EC2_HTTP_PORT:-$(free_port)}}
	tls=$(free_port)
	pebble_config "$listen" "$mgmt" "$http" "$tls" >"$DIR/pebble/config.json"
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-5} \
		pebble -config "$DIR/pebble/config.json" -dnsserver "127.0.0.1:$dns" -strict \
		>"$DIR/pebble.log" 2>&1 &
	track_pid $!
	pebble_wait "https://127.0.0.1:$listen/dir" $! pebble || return 1
	add_env LOCAL_EC2_ACME_DIRECTORY "https://127.0.0.1:$listen/dir"
	add_env LOCAL_EC2_ACME_CA "$DIR/pebble/ca.pem"
	add_env LOCAL_EC2_PEBBLE_MGMT "https://127.0.0.1:$mgmt"
	# challtestsrv's management API (POST /set-txt, /clear-txt): tests/fakes/r53-bridge.py
	add_env LOCAL_EC2_CHALLTESTSRV "http://127.0.0.1:$cmgmt"
	add_env LOCAL_EC2_ACME_HTTP_PORT "$http"
	if [ "${LOCAL_EC2_PEBBLE_EAB:-}" = 1 ]; then
		add_env LOCAL_EC2_PEBBLE_EAB_KID kiln-kid-1
		add_env LOCAL_EC2_PEBBLE_EAB_HMAC zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
	fi
}
