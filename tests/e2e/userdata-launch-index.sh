#!/bin/bash
# Launch index as cloud-init 22.4 filters user-data (filters/launch_index.py):
# a part with a Launch-Index header, or a text/cloud-config part with a
# launch-index key (the header wins), runs only on the instance whose IMDS
# meta-data/ami-launch-index is that number; parts without one everywhere.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds

user_data <<EOF2
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/x-shellscript; name="zero.sh"
Launch-Index: 0

#!/bin/sh
echo "zero \$INSTANCE_ID" >> $T/ran.log
--XX
Content-Type: text/x-shellscript; name="one.sh"
Launch-Index: 1

#!/bin/sh
echo "one \$INSTANCE_ID" >> $T/ran.log
--XX
Content-Type: text/x-shellscript; name="all.sh"

#!/bin/sh
echo "all \$INSTANCE_ID" >> $T/ran.log
--XX
Content-Type: text/cloud-config

#cloud-config
launch-index: 1
runcmd:
  - echo "cc-one \$INSTANCE_ID" >> $T/ran.log
--XX
Content-Type: text/cloud-config
Launch-Index: 0

#cloud-config
launch-index: 1
bootcmd:
  - echo "cc-header-zero \$INSTANCE_ID" >> $T/ran.log
--XX--
EOF2

ran() { sort "$T/ran.log" 2>/dev/null | tr '\n' ' '; }

imds_data '{"instance_id": "i-index0", "launch_index": "0"}'
check "the fake IMDS serves ami-launch-index 0" test "$(curl -sf "$LOCAL_EC2_IMDS/latest/meta-data/ami-launch-index" -H "X-aws-ec2-metadata-token: $(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$LOCAL_EC2_IMDS/latest/api/token")")" = 0
rm -f "$T/ran.log"
kiln boot >"$T/boot0.log" 2>&1
ok $? "index 0: the boot is done (launch-index is no unknown key)"
check "index 0: its script, the one for all and the cloud-config whose header says 0 ran, nothing else" test "$(ran)" = "all i-index0 cc-header-zero i-index0 zero i-index0 "
echo "# ran: $(ran)"
check "index 0: the dropped script is named with both indexes" grep -q "user-data:[0-9]*:1: part 2 'one.sh': for launch index 1, this instance's ami-launch-index is 0: not applied" "$T/boot0.log"
check "index 0: so is the dropped cloud-config" grep -q "part 4: for launch index 1, this instance's ami-launch-index is 0" "$T/boot0.log"
check "no warning about launch-index" bash -c "! grep -qi \"launch-index' is not\" '$T/boot0.log'"

imds_data '{"instance_id": "i-index1", "launch_index": "1"}'
rm -f "$T/ran.log"
kiln boot >"$T/boot1.log" 2>&1
ok $? "index 1: the boot is done"
check "index 1: its script, the one for all and the cloud-config with launch-index 1 ran, nothing else" test "$(ran)" = "all i-index1 cc-one i-index1 one i-index1 "
echo "# ran: $(ran)"
check "index 1: the Launch-Index 0 header wins over the key 1" grep -q "part 5: for launch index 0, this instance's ami-launch-index is 1" "$T/boot1.log"

imds_data '{"instance_id": "i-noindex", "launch_index": ""}'
rm -f "$T/ran.log"
kiln boot >"$T/boot2.log" 2>&1
ok $? "no ami-launch-index: the boot is done"
check "no ami-launch-index: every part applies, as cloud-init's filter is then off" test "$(ran)" = "all i-noindex cc-header-zero i-noindex cc-one i-noindex one i-noindex zero i-noindex "
echo "# ran: $(ran)"

# Plain #cloud-config user-data is one part: the key drops it all.
user_data <<EOF2
#cloud-config
launch-index: 1
runcmd:
  - echo "plain \$INSTANCE_ID" >> $T/ran.log
EOF2
imds_data '{"instance_id": "i-plain0", "launch_index": "0"}'
rm -f "$T/ran.log"
kiln boot >"$T/boot3.log" 2>&1
ok $? "plain cloud-config for index 1 on index 0: the boot is done"
check "... nothing of it applied" test ! -e "$T/ran.log"
check "... and the log says why" grep -q "user-data:1:1: for launch index 1, this instance's ami-launch-index is 0" "$T/boot3.log"
imds_data '{"instance_id": "i-plain1", "launch_index": "1"}'
kiln boot >"$T/boot4.log" 2>&1
ok $? "plain cloud-config on index 1: the boot is done"
check "... it applied" test "$(ran)" = "plain i-plain1 "

# validate has no IMDS: it names such parts
cp "$EC2/user-data" "$T/plain.yaml"
kiln validate "$T/plain.yaml" >"$T/out" 2>&1
ok $? "validate: a cloud-config with launch-index is valid"
check "validate: note that it applies only to launch index 1" grep -q "note: the user-data (line 1) applies only to the instance of launch index 1" "$T/out"
check "validate: no warning" grep -q "0 warning(s)" "$T/out"
printf 'Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\nContent-Type: text/x-shellscript\nLaunch-Index: two\n\n#!/bin/sh\ntrue\n--b--\n' >"$T/bad.mime"
kiln validate "$T/bad.mime" >"$T/out" 2>&1
check "validate: a Launch-Index that is not a number is a warning" grep -q "Launch-Index 'two' is not a number: cloud-init skips this part on every instance" "$T/out"

done_testing
