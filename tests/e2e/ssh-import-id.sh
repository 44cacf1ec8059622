#!/bin/bash
# ssh_import_id against a local key server (KILN_SSH_IMPORT_ID_URL, a
# --root-only hook standing for api.github.com and launchpad.net): keys
# authorized as ssh-import-id writes them ("KEY NAME@github/ID # ssh-import-id
# gh:NAME"), for the default user (top level) and users[]; a line that is
# not a key is dropped; an unknown user makes the boot degraded.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
ssh-keygen -q -t ed25519 -N '' -C a -f "$T/a" >/dev/null
ssh-keygen -q -t ed25519 -N '' -C b -f "$T/b" >/dev/null
A=$(cut -d' ' -f1,2 "$T/a.pub")
B=$(cut -d' ' -f1,2 "$T/b.pub")
mkdir -p "$T/www/users/alice" "$T/www/~bob/+sshkeys.d"
printf '[{"id": 123, "key": "%s"}]' "$A" >"$T/www/alice.json"
printf '%s bob@laptop\nnot a key at all\n' "$B" >"$T/www/bob.txt"

cat >"$T/server.py" <<'PY'
import http.server, sys, threading
www = sys.argv[1]
routes = {"/users/alice/keys": www + "/alice.json", "/~bob/+sshkeys": www + "/bob.txt"}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        f = routes.get(self.path)
        body = open(f, "rb").read() if f else b'{"message": "Not Found"}'
        self.send_response(200 if f else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write(str(s.server_address[1]))
threading.Timer(120, s.shutdown).start()
s.serve_forever()
PY
$PYTHON "$T/server.py" "$T/www" "$T/port" &
track $!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
export KILN_SSH_IMPORT_ID_URL=http://127.0.0.1:$(cat "$T/port")

user_data <<'EOF2'
#cloud-config
ssh_import_id: [gh:alice]
users:
  - default
  - name: bob
    ssh_import_id: [lp:bob]
  - name: carol
    ssh-import-id: gh:nobody
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "boot ends degraded: gh:nobody has no keys (exit $rc)"
diag "$T/boot.log" | grep -iE 'import|warn|error' | head
check "the default user has alice's GitHub key as ssh-import-id writes it" \
	grep -qxF "$A alice@github/123 # ssh-import-id gh:alice" "$ROOT/home/admin/.ssh/authorized_keys"
check "bob has his Launchpad key, with its comment kept" \
	grep -qxF "$B bob@laptop # ssh-import-id lp:bob" "$ROOT/home/bob/.ssh/authorized_keys"
check "a line that is not a key is not authorized" test "$(grep -c 'not a key' "$ROOT/home/bob/.ssh/authorized_keys")" = 0
check "the unknown user is named, with the status" grep -q 'gh:nobody: .*status 404' "$T/boot.log"
check "carol was still created" grep -q '^carol:' "$ROOT/etc/passwd"
done_testing
