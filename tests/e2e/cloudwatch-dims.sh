#!/bin/bash
# metrics.append_dimensions and metrics.aggregation_dimensions as the
# CloudWatch agent means them, checked at the fake CloudWatch (which
# refuses what CloudWatch refuses, 31 dimensions among it): the EC2
# dimensions on collected and put-metric datums, the group from the IMDS
# tag or left out without it, each roll-up once, 30 dimensions at most, and
# the real aws CLI reading a statistic per group.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/e2e/cloudwatch-lib.bash"
trap 'stop_daemon KILL; cleanup' EXIT

start_ec2 imds cloudwatch
imds_data '{"tags": {"aws:autoscaling:groupName": "web-asg"}}'

# dimsets METRIC: each distinct dimension set the fake recorded for METRIC,
# as "Name=Value,Name=Value" sorted by name, one per line, sorted.
dimsets() {
	cw_get "datapoints?metric_name=$1" | $PYTHON -c '
import json, sys
sets = set()
for p in json.load(sys.stdin):
    sets.add(",".join(sorted("%s=%s" % (d["Name"], d["Value"]) for d in p["dimensions"])))
for s in sorted(sets):
    print(s)'
}
# count METRIC SET: how many datums of METRIC the fake recorded with SET.
count() { cw_get "datapoints?metric_name=$1" | $PYTHON -c '
import json, sys
print(sum(1 for p in json.load(sys.stdin)
          if ",".join(sorted("%s=%s" % (d["Name"], d["Value"]) for d in p["dimensions"])) == sys.argv[1]))' "$2"; }

at_least() { [ "$(count "$1" "$2")" -ge "$3" ]; } # at_least METRIC SET N
is() { # is GOT WANT DESCRIPTION
	[ "$1" = "$2" ]
	ok $? "$3" || true
	[ "$1" = "$2" ] || printf '# got:\n%s\n# expected:\n%s\n' "$1" "$2" | sed 's/^\([^#]\)/#   \1/'
}

# What the fake IMDS says the instance is.
fact() { curl -sf "$LOCAL_EC2_IMDS/_fake/data" | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ID=$(fact instance_id) AMI=$(fact image_id) TYPE=$(fact instance_type)
EC2DIMS="AutoScalingGroupName=web-asg,ImageId=$AMI,InstanceId=$ID,InstanceType=$TYPE"

cw_config <<'EOY'
  append_dimensions:
    InstanceId: "${aws:InstanceId}"
    InstanceType: "${aws:InstanceType}"
    ImageId: "${aws:ImageId}"
    AutoScalingGroupName: "${aws:AutoScalingGroupName}"
    Owner: "${aws:Owner}"
  aggregation_dimensions: [[AutoScalingGroupName], [InstanceType, InstanceId], [InstanceId, InstanceType, InstanceId], []]
EOY
sed -i "s|interval: 1|interval: 2|; s|collect: \[\]|collect: [memory, disk]|" "$ROOT/etc/kiln/kiln.yaml"

kiln validate >"$T/validate.out" 2>&1
ok $? "the agent's keys validate"
check "kiln validate warns that a key the agent ignores is ignored" grep -q "append_dimensions.Owner.*ignoring" "$T/validate.out"

kiln put-metric Jobs 5 --unit Count --dimension Role=web --dimension InstanceId=i-mine
ok $? "put-metric queues a datum with its own dimensions"
wide=()
for i in $(seq -w 0 28); do wide+=(--dimension "D$i=v"); done
kiln put-metric Wide 1 "${wide[@]}"
ok $? "put-metric queues a datum of 29 dimensions"

start_daemon
wait_for 20 at_least MemoryUsed "$EC2DIMS" 2
ok $? "collected metrics arrive with the four EC2 dimensions, from IMDS"
want=$(printf '%s\n' "" "AutoScalingGroupName=web-asg" "$EC2DIMS" "InstanceId=$ID,InstanceType=$TYPE" | sort)
is "$(dimsets MemoryUsed)" "$want" "MemoryUsed: the datum and one roll-up per distinct set, nothing else (no default-only InstanceId)"
stop_daemon
full=$(count MemoryUsed "$EC2DIMS")
is "$full:$(count MemoryUsed "InstanceId=$ID,InstanceType=$TYPE")" "$(( full > 0 ? full : -1 )):$full" \
	"a roll-up given three times (names repeated, reordered) is pushed once a datum"
is "$full:$(count MemoryUsed "AutoScalingGroupName=web-asg")" "$(( full > 0 ? full : -1 )):$full" \
	"... the group roll-up once a datum"
dimsets DiskUsedPercent | grep >/dev/null "^$EC2DIMS,Mount=/"
ok $? "disk datums keep their Mount"
dimsets DiskUsedPercent | grep -v "$EC2DIMS" | grep >/dev/null . && ! dimsets DiskUsedPercent | grep -v "$EC2DIMS" | grep >/dev/null Mount
ok $? "... and roll-ups leave it out"
dimsets DiskUsedPercent | grep -x "AutoScalingGroupName=web-asg" >/dev/null
ok $? "per-mount datums roll up to the group"

is "$(dimsets Jobs)" "$(printf '%s\n' "" "AutoScalingGroupName=web-asg" "$EC2DIMS,Role=web" "InstanceId=$ID,InstanceType=$TYPE" | sort)" \
	"put-metric's datum: its Role kept, its InstanceId replaced by the instance's, and rolled up"
is "$(samples Jobs)" "$(printf '5\n5\n5\n5')" "... the value in each of the four"
wide_dims=$(dimsets Wide | awk 'length > length(m) { m = $0 } END { print m }')
is "$(echo "$wide_dims" | tr ',' '\n' | grep -c .)" 30 "29 own + 4 appended dimensions: 30 reach CloudWatch, which takes no more"
case $wide_dims in
AutoScalingGroupName=web-asg,D00=v,*,D28=v) r=0 ;;
*) r=1 ;;
esac
[ $r = 0 ] || echo "# got: $wide_dims"
ok $r "... the first 30 by name, as the agent keeps them (ImageId, InstanceId, InstanceType left out)"
check "... with a warning" grep -q "more than 30 dimensions" "$T/daemon.log"
cw_get datapoints >"$T/all.json" && grep -q AutoScalingGroupName "$T/all.json" && ! grep -q Owner "$T/all.json"
ok $? "an append_dimensions key the agent does not know adds nothing"
check "no batch was rejected" metrics_is rejected_datums 0

# The real AWS CLI reads the statistic of the group.
AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	/usr/bin/aws --endpoint-url "$LOCAL_EC2_CLOUDWATCH" --output json cloudwatch get-metric-statistics \
	--namespace MyApp --metric-name Jobs --dimensions Name=AutoScalingGroupName,Value=web-asg \
	--start-time "$(date -u -d '-30 min' +%FT%TZ)" --end-time "$(date -u -d '+5 min' +%FT%TZ)" \
	--period 3600 --statistics Sum SampleCount >"$T/stats.json" 2>&1
ok $? "aws cloudwatch get-metric-statistics by AutoScalingGroupName"
is "$($PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1]))["Datapoints"]; print(sum(p["Sum"] for p in d), sum(p["SampleCount"] for p in d))' "$T/stats.json")" \
	"5.0 1.0" "... sees the put-metric datum once"

# Not in a group (or tags not in IMDS): the group is left out, quietly,
# and so is the roll-up to it.
cw_post reset '{}'
imds_data '{"tags": {}}'
: >"$T/daemon.log"
start_daemon
NOASG="ImageId=$AMI,InstanceId=$ID,InstanceType=$TYPE"
wait_for 20 at_least MemoryUsed "$NOASG" 1
ok $? "without the tag, metrics arrive with the other three EC2 dimensions"
stop_daemon
is "$(dimsets MemoryUsed)" "$(printf '%s\n' "" "$NOASG" "InstanceId=$ID,InstanceType=$TYPE" | sort)" \
	"... and no roll-up to the group"
check "the left-out group is logged at info level, not as a warning" \
	sh -c "grep 'AutoScalingGroupName is unknown' '$T/daemon.log' | grep -qv -i warn"

# append_dimensions alone: no default InstanceId, and no roll-ups.
cw_post reset '{}'
imds_data '{"tags": {"aws:autoscaling:groupName": "web-asg"}}'
cw_config <<'EOY'
  append_dimensions:
    AutoScalingGroupName: "${aws:AutoScalingGroupName}"
EOY
sed -i "s|collect: \[\]|collect: [memory]|" "$ROOT/etc/kiln/kiln.yaml"
start_daemon
wait_for 20 at_least MemoryUsed AutoScalingGroupName=web-asg 1
ok $? "append_dimensions with the group alone: metrics per group"
stop_daemon
is "$(dimsets MemoryUsed)" "AutoScalingGroupName=web-asg" "... and nothing else: append_dimensions replace metrics.dimensions' default"

done_testing
