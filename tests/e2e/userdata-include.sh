#!/bin/bash
# #include and text/x-include-url: parts fetched over HTTPS (a local server
# with a test CA given by KILN_CA_FILE), decoded like user-data; plain HTTP
# refused unless it stays on this machine.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
WWW=$T/www
mkdir -p "$WWW"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=kiln-test-ca \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/ext" -out "$T/srv.pem" 2>/dev/null
$PYTHON "$top_srcdir/tests/data/userdata/https-server.py" "$WWW" "$T/srv.pem" "$T/srv.key" "$T/port" 2>"$T/https.log" &
track $!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
PORT=$(cat "$T/port")
export KILN_CA_FILE=$T/ca.pem
start_ec2 imds

printf '#cloud-config\nhostname: included\nruncmd:\n  - echo included-runcmd > %s/inc.log\n' "$T" >"$WWW/config.yaml"
printf '#!/bin/sh\necho included-script > %s/script.log\n' "$T" >"$WWW/script.sh"
gzip -c "$WWW/script.sh" >"$WWW/script.gz"

user_data <<EOF2
#include
# comments and blank lines are fine
https://127.0.0.1:$PORT/config.yaml

https://localhost:$PORT/script.gz
EOF2
kiln boot >"$T/boot1.log" 2>&1
ok $? "boot with #include of two HTTPS URLs is done"
diag "$T/boot1.log" | grep -iE 'warn|error'
check "included cloud-config applied" grep -qx included "$ROOT/etc/hostname"
check "included runcmd ran" grep -qx included-runcmd "$T/inc.log"
check "included gzip script ran" grep -qx included-script "$T/script.log"

# Without the test CA the server is not trusted: an error naming the URL.
imds_data '{"instance_id": "i-noca"}'
KILN_CA_FILE=/dev/null kiln boot >"$T/boot2.log" 2>&1
ok $([ $? -eq 1 ]; echo $?) "an untrusted include server is an error"
check "the error names the URL" grep -q "include 'https://127.0.0.1:$PORT/config.yaml'" "$T/boot2.log"

# text/x-include-url in MIME, a 404, and plain HTTP off this machine.
user_data <<EOF2
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/x-include-url

https://127.0.0.1:$PORT/missing.yaml
http://192.0.2.1/never-fetched.yaml
https://127.0.0.1:$PORT/script.sh
--B--
EOF2
imds_data '{"instance_id": "i-mime"}'
rm -f "$T/script.log"
kiln boot >"$T/boot3.log" 2>&1
ok $([ $? -eq 1 ]; echo $?) "a missing include is an error"
check "404 is reported" grep -q "missing.yaml': HTTP status 404" "$T/boot3.log"
check "plain HTTP off-host is refused" grep -q "plain http:// only from a loopback address" "$T/boot3.log"
check "the good include still ran" grep -qx included-script "$T/script.log"
check "validate --no-fetch lists, does not fetch" sh -c "'$KILN' --root '$ROOT' validate --no-fetch --plan '$EC2/user-data' 2>/dev/null | grep -q missing.yaml"

# Plain HTTP only from a loopback address, parsed as a URL (not a prefix),
# and the connection pinned to it: no proxy, no name lookup.
mkdir -p "$T/plain"
printf '#!/bin/sh\necho plain-script > %s/plain.log\n' "$T" >"$T/plain/plain.sh"
$PYTHON "$top_srcdir/tests/data/userdata/https-server.py" "$T/plain" - - "$T/plain.port" 2>"$T/plain.log.srv" &
track $!
for _ in $(seq 100); do [ -s "$T/plain.port" ] && break; sleep 0.05; done
PLAIN=$(cat "$T/plain.port")
user_data <<EOF2
#include
# a comment
http://127.attacker.example/x.yaml
http://127.0.0.1@attacker.example:$PLAIN/plain.sh

http://127.0.0.1:$PLAIN@attacker.example/plain.sh
http://localhost.attacker.example:$PLAIN/plain.sh
http://10.0.0.1:$PLAIN/plain.sh
http://127.0.0.1:$PLAIN/plain.sh
EOF2
imds_data '{"instance_id": "i-plain"}'
http_proxy=http://192.0.2.1:3128 HTTP_PROXY=http://192.0.2.1:3128 kiln boot >"$T/boot4.log" 2>&1
ok $([ $? -eq 1 ]; echo $?) "includes of plain HTTP off this machine are errors"
diag "$T/boot4.log" | grep -i include
check "http://127.attacker.example/ is refused, at its line" \
	grep -q "user-data:3:1: include 'http://127.attacker.example/x.yaml': plain http:// only from a loopback address" "$T/boot4.log"
check "userinfo before a loopback address is refused, at its line" \
	grep -q "user-data:4:1: include 'http://127.0.0.1@attacker.example:$PLAIN/plain.sh': not a URL" "$T/boot4.log"
check "userinfo after a loopback address is refused" \
	grep -q "user-data:6:1: include 'http://127.0.0.1:$PLAIN@attacker.example/plain.sh': not a URL" "$T/boot4.log"
check "a name that starts with localhost is refused" \
	grep -q "user-data:7:1: include 'http://localhost.attacker.example:$PLAIN/plain.sh': plain http://" "$T/boot4.log"
check "a private address is refused" grep -q "user-data:8:1: include 'http://10.0.0.1:$PLAIN/plain.sh': plain http://" "$T/boot4.log"
check "http://127.0.0.1 is fetched directly, not through http_proxy" grep -qx plain-script "$T/plain.log"
check "and nothing else was asked of the plain server" test "$(grep -c 'GET ' "$T/plain.log.srv")" = 1

# localhost: looked up, and pinned to the loopback address found.
user_data <<EOF2
#include
http://localhost:$PLAIN/plain.sh
EOF2
imds_data '{"instance_id": "i-localhost"}'
rm -f "$T/plain.log"
kiln boot >"$T/boot5.log" 2>&1
ok $? "http://localhost is fetched"
diag "$T/boot5.log" | grep -iE 'warn|error'
check "and its script ran" grep -qx plain-script "$T/plain.log"
# Through libcurl too (a proxy set, the pin holds: CURLOPT_CONNECT_TO, no proxy).
imds_data '{"instance_id": "i-localhost-curl"}'
rm -f "$T/plain.log"
KILN_HTTP_CURL=1 http_proxy=http://192.0.2.1:3128 kiln boot >"$T/boot6.log" 2>&1
ok $? "http://localhost through libcurl, a proxy set"
diag "$T/boot6.log" | grep -iE 'warn|error'
check "fetched directly" grep -qx plain-script "$T/plain.log"

done_testing
