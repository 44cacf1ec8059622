#!/bin/bash
# phone_home (cloud-init's docs example, with $INSTANCE_ID for the jinja
# part kiln does not render) against a local server that fails the first
# POST: retried, form-encoded fields in cloud-init's order, N/A for what is
# missing, the URL with the instance id.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
mkdir -p "$ROOT/etc/ssh"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPhoneHome root@host\n' >"$ROOT/etc/ssh/ssh_host_ed25519_key.pub"
start_ec2 imds

cat >"$T/server.py" <<'PY'
import http.server, sys, threading
log = open(sys.argv[1], "ab", buffering=0)
hits = {"n": 0}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        hits["n"] += 1
        log.write(b"%s %s %s\n" % (self.path.encode(), self.headers.get("Content-Type", "").encode(), body))
        self.send_response(500 if hits["n"] == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_address[1]))
threading.Timer(120, s.shutdown).start()
s.serve_forever()
PY
$PYTHON "$T/server.py" "$T/posts.log" "$T/port" &
track $!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")

imds_data '{"hostname": "ip-10-1-2-3.eu-west-1.compute.internal"}'
user_data <<EOF2
#cloud-config
phone_home:
  post: [pub_key_rsa, pub_key_ecdsa, pub_key_ed25519, instance_id, hostname, fqdn]
  tries: 5
  url: http://127.0.0.1:$PORT/\$INSTANCE_ID/
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'phone|warn|error' | head
IID=$(grep -o 'i-[0-9a-f]*' "$T/boot.log" | head -1)
check "two POSTs: the first failed (500), the second went through" test "$(wc -l <"$T/posts.log")" = 2
check "posted to the URL with the instance id" grep -q "^/$IID/ application/x-www-form-urlencoded " "$T/posts.log"
body=$(tail -1 "$T/posts.log" | cut -d' ' -f3-)
expected=$($PYTHON -c 'import sys, urllib.parse
print(urllib.parse.urlencode([("pub_key_rsa", "N/A"), ("pub_key_ecdsa", "N/A"),
    ("pub_key_ed25519", open(sys.argv[1]).read()), ("instance_id", sys.argv[2]),
    ("hostname", sys.argv[3].split(".")[0]), ("fqdn", sys.argv[3])]))' \
	"$ROOT/etc/ssh/ssh_host_ed25519_key.pub" "$IID" ip-10-1-2-3.eu-west-1.compute.internal)
diag <<<"got:      $body"
diag <<<"expected: $expected"
check "the body is the fields form-encoded as Python encodes them, in order, N/A for missing keys" \
	test "$body" = "$expected"

kiln boot >"$T/boot2.log" 2>&1
check "not again at the next boot (per instance)" test "$(wc -l <"$T/posts.log")" = 2
done_testing
