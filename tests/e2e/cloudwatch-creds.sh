#!/bin/bash
# The instance role's credentials from the fake IMDS, with short expiries:
# kiln refreshes them before they expire, keeps the current ones while IMDS
# is unreachable, and loses nothing when they run out meanwhile.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
trap "stop_daemon KILL; cleanup" EXIT

LOCAL_EC2_ROLE=kiln-test-role LOCAL_EC2_CRED_TTL=6 start_ec2 imds cloudwatch
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
cw_config </dev/null
imds_reads() {
	curl -sf "$LOCAL_EC2_IMDS/_fake/requests" |
		$PYTHON -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["path"].endswith("/security-credentials/kiln-test-role")))'
}
keys_used() {
	cw_get requests | $PYTHON -c 'import json,sys; print(len({r.get("access_key") for r in json.load(sys.stdin) if r.get("status") == 200}))'
}

start_daemon
for i in $(seq 1 16); do
	kiln put-metric Role "$i"
	sleep 1
done
wait_for 15 has_samples Role 1 16
ok $? "signed with the instance role's credentials: every datum once"
grep -q "credentials: instance role 'kiln-test-role'" <(kiln status)
ok $? "kiln status names the credentials' source"
n=$(keys_used)
[ "$n" -ge 2 ]
ok $? "credentials lasting 6 s were refreshed: $n access keys used"
[ "$(imds_reads)" -le 40 ]
ok $? "without hammering IMDS ($(imds_reads) reads in ~16 s)"

# IMDS unreachable: the current credentials are kept while they last,
# then datums wait in the spool until IMDS answers again.
curl -sf -X POST -d '{"paths": {"/latest/meta-data/iam/*": {"status": 500, "count": -1}}}' \
	"$LOCAL_EC2_IMDS/_fake/config" >/dev/null
ok $? "IMDS starts failing the credentials path"
put_seq Cut 1 3
sleep 8
put_seq Cut 4 6
wait_for 10 metrics_is queued_datums 3
ok $? "once the credentials expired, new datums wait in the spool"
grep -q "Failed to push metrics, keeping" "$T/daemon.log"
ok $? "the log says datums are kept"
curl -sf -X POST -d '{"paths": {}}' "$LOCAL_EC2_IMDS/_fake/config" >/dev/null
wait_for 30 has_samples Cut 1 6
ok $? "IMDS back: every datum 1..6 arrives exactly once"

secrets=$(curl -sf "$LOCAL_EC2_IMDS/_fake/credentials" | $PYTHON -c "$(printf "import json,sys\nfor c in json.load(sys.stdin):\n    print(c[\"SecretAccessKey\"])\n    print(c[\"Token\"][:40])")")
leaked=0
while read -r s; do
	[ -n "$s" ] && grep -qF -- "$s" "$T/daemon.log" "$ROOT/run/kiln/status.json" && leaked=1
done <<<"$secrets"
[ $leaked = 0 ]
ok $? "no secret key or session token in kiln's log or status"
stop_daemon
done_testing
