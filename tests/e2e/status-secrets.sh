#!/bin/bash
# A script's output tail may hold a token it printed (cloud-init's
# CVE-2023-1786): it stays out of the world-readable status.json, in a
# root-only file beside it, and `kiln status` shows it to root only.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds

secret=kiln-secret-$RANDOM$RANDOM$RANDOM
# Output is bytes: a tail may start inside a UTF-8 character, or not be
# UTF-8 at all (Latin-1 here); the script is recorded all the same.
user_data <<UD
#!/bin/sh
printf 'caf\351 au lait\n'
echo "token=$secret"
UD
kiln boot >"$T/boot.out" 2>&1
ok $? "the boot is done"
pub=$ROOT/run/kiln/status.json
priv=$ROOT/run/kiln/status-private.json

check "status.json is 0644" test "$(stat -c %a "$pub")" = 644
! grep -qF "$secret" "$pub"
ok $? "status.json does not hold the script's output"
check "... but still records the script" $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); it=[i for s in d["stages"] for i in s.get("items",[]) if i.get("name")=="user-data"]; assert it and it[0]["exit_code"] == 0 and "output" not in it[0]' "$pub"
check "the private file is 0600" test "$(stat -c %a "$priv")" = 600
check "... owned by root" test "$(stat -c %u:%g "$priv")" = 0:0
check "... and holds the output tail" grep -qF "token=$secret" "$priv"
check "... as valid JSON, the byte that is not UTF-8 replaced" $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1], encoding="utf-8")); it=[i for s in d["stages"] for i in s.get("items",[]) if i.get("name")=="user-data"]; assert it[0]["output"].startswith("caf\ufffd au lait\n")' "$priv"

kiln status >"$T/root.txt" 2>&1
ok $? "kiln status as root exits 0"
check "... and shows the output tail" grep -qF "token=$secret" "$T/root.txt"
kiln status --json >"$T/root.json" 2>&1
ok $? "kiln status --json as root exits 0"
check "... and has the output tail" grep -qF "token=$secret" "$T/root.json"

# An unprivileged user who can read status.json (the directories are
# world-readable on an instance: /run/kiln is 0755).
chmod 0755 "$T" "$ROOT" "$ROOT/run" "$ROOT/run/kiln"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$KILN" --root "$ROOT" "$@"; }
as_nobody status >"$T/nobody.txt" 2>"$T/nobody.err"
ok $? "kiln status as nobody exits 0"
! grep -qF "$secret" "$T/nobody.txt" "$T/nobody.err"
ok $? "... and shows no output tail"
check "... but the result" grep -q "result: *done" "$T/nobody.txt"
check "... and says nothing on stderr" test ! -s "$T/nobody.err"
diag "$T/nobody.err"
as_nobody status --json >"$T/nobody.json" 2>"$T/nobody.err"
ok $? "kiln status --json as nobody exits 0"
! grep -qF "$secret" "$T/nobody.json"
ok $? "... without the output tail"
check "... and prints valid JSON" $PYTHON -c 'import json,sys; assert json.load(open(sys.argv[1]))["result"] == "done"' "$T/nobody.json"

# A private file from another write than status.json's (a crash between
# the two) is not shown: what root sees is what status.json says.
$PYTHON - "$priv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["result"] = "degraded"
json.dump(d, open(sys.argv[1], "w"))
PY
kiln status --json >"$T/stale.json" 2>&1
ok $? "a private file that disagrees with status.json is ignored (exit 0: done)"
check "... and status.json's result is shown" grep -q '"result": "done"' "$T/stale.json"

done_testing
