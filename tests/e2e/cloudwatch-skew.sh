#!/bin/bash
# A clock off CloudWatch's: the fake's clock is shifted, so kiln's
# signatures fall outside its 5 minutes. kiln keeps the batch, learns
# CloudWatch's time from the answer's Date as the AWS SDKs do, signs again,
# and does not fetch new credentials for it. Also: the reason logged when no
# region is known, and put-metric with a negative value.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

LOCAL_EC2_ROLE=kiln-skew-role LOCAL_EC2_CRED_TTL=3600 start_ec2 imds cloudwatch
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
cw_config </dev/null
imds_cred_reads() {
	curl -sf "$LOCAL_EC2_IMDS/_fake/requests" |
		$PYTHON -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["path"].endswith("/security-credentials/kiln-skew-role")))'
}
refused() { # refused CODE: requests the fake refused with CODE
	cw_get requests | $PYTHON -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get("error_code") == sys.argv[1]))' "$1"
}

# --- CloudWatch's clock 20 minutes ahead: 403 "Signature expired"
cw_post faults '{"clock_offset_s": 1200}'
start_daemon
put_seq Skew 1 5
wait_for 20 has_samples Skew 1 5
ok $? "CloudWatch's clock 20 min ahead: every datum 1..5 arrives once"
n=$(refused SignatureDoesNotMatch)
[ "$n" -ge 1 ] && [ "$n" -le 2 ]
ok $? "after the first 'Signature expired', kiln signs with CloudWatch's time ($n refused)"
grep -q "CloudWatch's clock is 1200 s ahead of this one" "$T/daemon.log"
ok $? "the offset is logged"
r=$(imds_cred_reads)
[ "$r" -le 1 ]
ok $? "no credentials fetched again for a clock error ($r reads of the role's credentials)"
put_seq Later 1 5
wait_for 20 has_samples Later 1 5
ok $? "later datums go at once"
[ "$(refused SignatureDoesNotMatch)" = "$n" ]
ok $? "... without another refusal"

# --- the clock steps back (NTP fixed it, or CloudWatch's side moved): 400 RequestExpired
cw_post faults '{"clock_offset_s": -900, "skew_error": "RequestExpired"}'
put_seq Back 1 5
wait_for 20 has_samples Back 1 5
ok $? "CloudWatch answering 400 RequestExpired: the batch is kept and sent again (1..5 arrive once)"
[ "$(refused RequestExpired)" -ge 1 ]
ok $? "... after $(refused RequestExpired) RequestExpired answer(s)"
wait_for 5 metrics_is rejected_datums 0
ok $? "nothing counted as rejected"
[ "$(imds_cred_reads)" -le 1 ]
ok $? "still no credentials fetched again"
stop_daemon
cw_post faults '{"clock_offset_s": 0, "skew_error": "SignatureDoesNotMatch"}'

# --- no region: the reason is said
: >"$T/daemon.log"
kiln put-metric NoRegion 1
(
	unset AWS_REGION AWS_DEFAULT_REGION
	export AWS_EC2_METADATA_DISABLED=true
	start_daemon
	echo "$DPID $DSTART" >"$T/dpid"
	wait_for 20 grep -q "Failed to push metrics" "$T/daemon.log"
)
read -r DPID DSTART <"$T/dpid"
grep "Failed to push metrics" "$T/daemon.log" | head -1 | sed 's/^/# /'
grep -q "Failed to push metrics, keeping 1 datum(s) spooled and retrying: no region: set metrics.region or AWS_REGION" "$T/daemon.log"
ok $? "with no region known, the log says why the push failed"
wait_for 5 sh -c "$(declare -f metrics_field); PYTHON=$PYTHON ROOT=$ROOT metrics_field last_error | grep -q '^no region'"
ok $? "... and so does status"
stop_daemon
cw_post reset '{}'

# --- negative values
kiln put-metric Temp -3.5
ok $? "kiln put-metric Temp -3.5 is taken as NAME VALUE"
kiln put-metric --unit Count Temp -1e3 --dimension Room=a
ok $? "... with options before and after a negative value"
kiln put-metric -u Count -- Temp -2
ok $? "... and after --"
kiln put-metric Temp -x >/dev/null 2>&1
[ $? = 64 ]
ok $? "an unknown option is still refused (exit 64)"
start_daemon
negatives() { [ "$(samples Temp | tr '\n' ' ')" = "-1000 -3.5 -2 " ]; }
wait_for 20 negatives
ok $? "the negative values arrive: $(samples Temp | tr '\n' ' ')"
stop_daemon

done_testing
