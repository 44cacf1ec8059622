#!/bin/bash
# cloud-config keys as cloud-init 22.4 takes them: keys that mean nothing on
# EC2 accepted and ignored (listed once by validate, never a degraded boot);
# the module lists' frequencies (AWS's [scripts-user, always] recipe);
# passwords, ssh_pwauth, disable_root, groups. All under --root against the
# local EC2.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
v() { "$KILN" --root "$ROOT" validate --no-fetch "$@"; }

# --- keys with no meaning on EC2 ---------------------------------------------
cat >"$T/ignored.txt" <<'EOF2'
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/cloud-config

#cloud-config
datasource:
  Ec2:
    timeout: 5
    metadata_urls: ["http://169.254.169.254"]
datasource_list: [Ec2, None]
reporting:
  hook: {level: DEBUG, type: log}
vendor_data: {enabled: false}
timezone: Europe/Berlin
--XX
Content-Type: text/cloud-config

#cloud-config
datasource:
  Ec2: {max_wait: 10}
--XX--
EOF2
v "$T/ignored.txt" >"$T/out" 2>&1
ok $? "validate: keys meaning nothing on EC2 are valid"
diag "$T/out"
check "... with no warning" grep -q ": valid: 0 error(s), 0 warning(s)" "$T/out"
check "... listed on one note line" grep -q "^$T/ignored.txt: note: cloud-config keys that mean nothing on EC2, accepted and ignored: 'datasource' (" "$T/out"
ok $([ "$(grep -o "'datasource'" "$T/out" | wc -l)" -eq 1 ]; echo $?) "... each once, though two parts have it"
check "... datasource_list, reporting, vendor_data named" grep -q "'datasource_list'.*'reporting'.*'vendor_data'" "$T/out"
user_data_file "$T/ignored.txt"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $rc "boot with only EC2-meaningless keys besides supported ones is not degraded (exit $rc)"
diag "$T/boot.log" | grep -iE 'warn|degrad|fail' | head
check "... the rest applied" test -L "$ROOT/etc/localtime"
ok $([ "$(status_field 'd["result"]')" = done ]; echo $?) "... status: done"

# A key that changes the instance and that kiln does not do still degrades.
printf '#cloud-config\ndatasource: {Ec2: {timeout: 5}}\nsnap:\n  commands: [snap install hello]\n' | user_data
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a key kiln does not do (snap) still makes the boot degraded (exit $rc)"
check "... naming snap, not datasource" grep -q "does not support, skipped: 'snap'\"" "$ROOT/run/kiln/status.json"
done_testing
