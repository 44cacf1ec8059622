#!/bin/bash
# The command line: help, version, metadata, clean, usage errors.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

start_ec2 imds

check "--help" kiln --help
kiln --help | grep -q '^  metadata'
ok $? "--help lists module commands"
# Every command the binary lists, and every subcommand its usage line names
# (lowercase words: "nginx apply", "debug sigv4"), answers --help and -h with
# its usage on stdout and exit 0, whatever else is on the line.
cmds=$(kiln --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
[ "$(echo "$cmds" | wc -w)" -ge 12 ]
ok $? "--help lists the commands ($(echo $cmds))"
for cmd in $cmds; do
	kiln "$cmd" --help >"$T/help" 2>"$T/help.err"
	rc=$?
	[ $rc -eq 0 ] && grep -q "^Usage: kiln .*\b$cmd\b" "$T/help" && [ ! -s "$T/help.err" ]
	ok $? "$cmd --help (exit $rc)"
	kiln "$cmd" -h 2>/dev/null | grep -q "^Usage: kiln .*\b$cmd\b"
	ok $? "$cmd -h"
	subs=$(sed -n "1s/^Usage: kiln \(\[OPTIONS\] \)\?$cmd //p" "$T/help" | sed 's/<.*//' | tr ' ' '\n' | grep -E '^[a-z][a-z0-9-]*$')
	for sub in $subs; do
		kiln "$cmd" "$sub" --help >"$T/help" 2>"$T/help.err"
		rc=$?
		[ $rc -eq 0 ] && grep -q "^Usage: kiln .*\b$cmd\b" "$T/help" && [ ! -s "$T/help.err" ]
		ok $? "$cmd $sub --help (exit $rc)"
		kiln "$cmd" "$sub" --region x -h >/dev/null 2>&1
		ok $? "$cmd $sub ... -h"
	done
done
kiln debug sigv4 -- --help </dev/null >/dev/null 2>&1
[ $? -eq 64 ]
ok $? "an argument after -- is not a help request"
kiln version | grep -qE '^kiln [0-9]+\.[0-9]+\.[0-9]+$'
ok $? "version"
kiln frobnicate >/dev/null 2>&1
[ $? -eq 64 ]
ok $? "unknown command exits 64"
"$KILN" --root relative boot >/dev/null 2>&1
[ $? -eq 64 ]
ok $? "a relative --root is refused"

[ "$(kiln metadata instance-id)" = i-0123456789abcdef0 ]
ok $? "metadata instance-id"
[ "$(kiln metadata placement/region)" = us-east-1 ]
ok $? "metadata placement/region"
kiln metadata public-keys/0/openssh-key | grep -q '^ssh-ed25519 '
ok $? "metadata public-keys/0/openssh-key"
kiln metadata user-data >/dev/null 2>"$T/err"
[ $? -eq 4 ]
ok $? "absent user-data exits 4"
check "and says it is absent" grep -q 'absent (404)' "$T/err"
printf 'hello' >"$EC2/user-data"
[ "$(kiln metadata user-data)" = hello ]
ok $? "metadata user-data prints it as is"
kiln metadata --json >"$T/facts.json"
$PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["instance_id"]=="i-0123456789abcdef0" and d["region"]=="us-east-1" and d["instance_type"] and d["image_id"] and d["private_ipv4"]' "$T/facts.json"
ok $? "metadata --json summarises the instance"
kiln metadata | grep -q '^availability_zone: us-east-1'
ok $? "metadata summary for a person"
kiln validate "$EC2/user-data" --plan >/dev/null 2>&1
[ $? -ne 64 ]
ok $? "a command's options may follow its arguments"
before=$(curl -sf "$LOCAL_EC2_IMDS/_fake/stats" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["gets"])')
kiln metadata --json >/dev/null
after=$(curl -sf "$LOCAL_EC2_IMDS/_fake/stats" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)["gets"])')
[ $((after - before)) -le 4 ]
ok $? "the summary does not crawl the tree ($((after - before)) GETs)"
AWS_EC2_METADATA_DISABLED=true "$KILN" --root "$ROOT" metadata instance-id >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q AWS_EC2_METADATA_DISABLED "$T/err"
ok $? "AWS_EC2_METADATA_DISABLED is honoured with a clear message"

no_user_data
kiln boot >/dev/null 2>&1
check "state exists after a boot" test -s "$ROOT/var/lib/kiln/instance-id"
mkdir -p "$ROOT/var/log/kiln" "$ROOT/etc"
echo x >"$ROOT/var/log/kiln/user-data.log"
echo 0123456789abcdef0123456789abcdef >"$ROOT/etc/machine-id"
kiln clean
ok $? "clean exits 0"
check "clean removes the state" test ! -e "$ROOT/var/lib/kiln/instance-id"
check "clean keeps logs without --logs" test -e "$ROOT/var/log/kiln/user-data.log"
kiln clean --logs --machine-id
check "--logs removes the logs" test ! -e "$ROOT/var/log/kiln"
check "--machine-id empties /etc/machine-id" test ! -s "$ROOT/etc/machine-id"
check "status is gone too" test ! -e "$ROOT/run/kiln/status.json"

done_testing
