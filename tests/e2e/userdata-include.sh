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
check "plain HTTP off-host is refused" grep -q "only https:// URLs are fetched" "$T/boot3.log"
check "the good include still ran" grep -qx included-script "$T/script.log"
check "validate --no-fetch lists, does not fetch" sh -c "'$KILN' --root '$ROOT' validate --no-fetch --plan '$EC2/user-data' 2>/dev/null | grep -q missing.yaml"

done_testing
