#!/bin/bash
# The demo's user-data: a MIME message with a #kiln-config part and scripts
# at two frequencies, through `kiln boot` against the local EC2; then the
# other formats users bring: gzip, base64 of it, a boothook, a broken part
# next to good ones.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
DEMO=$top_srcdir/tests/data/userdata/demo-user-data.mime
items() { $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); print("\n".join("%s %s" % (i["name"], i["result"]) for s in d["stages"] for i in s.get("items", [])))' "$ROOT/run/kiln/status.json"; }

check "the demo user-data validates" kiln validate "$DEMO"
user_data_file "$DEMO"
kiln boot >"$T/boot1.log" 2>&1
ok $? "demo boot is done"
diag "$T/boot1.log" | grep -iE 'warn|error' | head
items >"$T/items1"
check "kiln-config wrote the page" grep -q 'Served by kiln' "$ROOT/var/www/demo/index.html"
check "kiln-config set the hostname" grep -qx demo "$ROOT/etc/hostname"
check "setup.sh ran" grep -qx 'setup.sh ok' "$T/items1"
check "every-boot.sh ran" grep -qx 'every-boot.sh ok' "$T/items1"
check "runcmd item named hello ran" grep -qx 'runcmd hello ok' "$T/items1"
check "its output is in the log" grep -q 'hello from runcmd on i-0123456789abcdef0' "$ROOT/var/log/kiln/runcmd.log"
check "runcmd ran before setup.sh, as cloud-init orders them by name" test "$(grep -n 'setup.sh ok' "$T/items1" | cut -d: -f1)" -gt "$(grep -n 'runcmd hello' "$T/items1" | cut -d: -f1)"

kiln boot >"$T/boot2.log" 2>&1
items >"$T/items2"
check "reboot: setup.sh skipped" grep -qx 'setup.sh skipped' "$T/items2"
check "reboot: every-boot.sh ran again" grep -qx 'every-boot.sh ok' "$T/items2"
check "reboot: per-boot runcmd item ran again" grep -qx 'runcmd uptime-every-boot ok' "$T/items2"
check "reboot: hello skipped" grep -qx 'runcmd hello skipped' "$T/items2"

# gzip, and base64 of gzip (users encode twice)
gzip -c "$DEMO" >"$T/demo.gz"
user_data_file "$T/demo.gz"
imds_data '{"instance_id": "i-gzip"}'
kiln boot >"$T/boot3.log" 2>&1
ok $? "gzip-compressed MIME user-data boots"
check "gzip: setup.sh ran for the new instance" grep -q 'setup for i-gzip' "$ROOT/var/log/kiln/user-data.log"
base64 "$T/demo.gz" | user_data
imds_data '{"instance_id": "i-b64"}'
kiln boot >"$T/boot4.log" 2>&1
ok $? "base64 of gzip boots"
check "base64: setup.sh ran for the new instance" grep -q 'setup for i-b64' "$ROOT/var/log/kiln/user-data.log"

# A broken part does not stop the others; the error names part and line.
user_data <<EOF2
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/cloud-config

#cloud-config
runcmd:
  - [echo, one
--XX
Content-Type: text/x-shellscript
Content-Transfer-Encoding: base64

!!!not base64!!!
--XX
Content-Type: text/cloud-boothook

#cloud-boothook
#!/bin/sh
echo "boothook \$INSTANCE_ID" >> $T/boothook.log
--XX
Content-Type: text/x-shellscript; name="good.sh"

#!/bin/sh
echo good > $T/good.log
--XX--
EOF2
imds_data '{"instance_id": "i-broken"}'
kiln boot >"$T/boot5.log" 2>&1
ok $([ $? -eq 1 ]; echo $?) "broken parts make the boot an error"
check "the good script still ran" grep -qx good "$T/good.log"
check "the boothook ran with INSTANCE_ID" grep -qx 'boothook i-broken' "$T/boothook.log"
check "the YAML error names the line in the user-data" grep -q 'user-data:10:1: did not find expected' "$T/boot5.log"
check "the bad base64 part is named" grep -q "user-data:14:1: part 2: its base64 body does not decode, skipping it" "$T/boot5.log"
check "status has the errors" grep -q 'did not find expected' "$ROOT/run/kiln/status.json"
diag "$T/boot5.log" | grep -iE 'warn|error' | head

# Parts whose headers are not followed by an empty line, read as Python's
# email parser (cloud-init) reads them: the body starts at the first line
# that cannot be a header, so the script keeps its #! line and the empty
# line inside it; a part read as headers to its end is an error.
user_data <<EOF2
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/x-shellscript; name="bash.sh"
#!/bin/bash
set -e

[[ -n "\$BASH_VERSION" ]] && echo "bash \$INSTANCE_ID" > $T/nosep.log
--XX
Content-Type: text/cloud-config
hostname: lost-as-a-header
--XX--
EOF2
imds_data '{"instance_id": "i-nosep"}'
kiln boot >"$T/boot6.log" 2>&1
ok $([ $? -eq 1 ]; echo $?) "a part that is all headers makes the boot an error"
check "the script without an empty line ran whole, under bash" grep -qx 'bash i-nosep' "$T/nosep.log"
check "it is warned about" grep -q "user-data:6:1: part 1 'bash.sh': no empty line after its headers" "$T/boot6.log"
check "the all-headers part is named" grep -q "user-data:11:1: part 2: no empty line after its headers, and no line" "$T/boot6.log"
diag "$T/boot6.log" | grep -iE 'warn|error' | head

# The order cloud-init runs them in: scripts-per-once, -per-boot and
# -per-instance first (MIME types naming a frequency), then scripts-user:
# the user-data's scripts and runcmd's script together, by file name
# ("runcmd" sorts before "userdata.sh").
user_data <<EOF2
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/x-shellscript; name="userdata.sh"

#!/bin/sh
echo userdata.sh >> $T/order.log
--XX
Content-Type: text/cloud-config

#cloud-config
runcmd:
  - echo runcmd >> $T/order.log
--XX
Content-Type: text/x-shellscript-per-boot; name="zz-boot.sh"

#!/bin/sh
echo zz-boot.sh >> $T/order.log
--XX
Content-Type: text/x-shellscript; name="a-first.sh"

#!/bin/sh
echo a-first.sh >> $T/order.log
--XX--
EOF2
imds_data '{"instance_id": "i-order"}'
rm -f "$T/order.log"
kiln boot >"$T/boot7.log" 2>&1
ok $? "a boot with scripts, per-boot scripts and runcmd is done"
check "they ran in cloud-init's order" test "$(tr '\n' ' ' <"$T/order.log")" = "zz-boot.sh a-first.sh runcmd userdata.sh "
diag "$T/order.log"

# Boothooks as cloud-init 22.4 writes and runs them (handlers/boot_hook.py):
# "#cloud-boothook" (as spelt) and the blanks after it taken off, then the
# file executed itself, with no shell. Without a #! line that fails (exec
# format error): kiln does not run it either and says so, naming the part.
user_data <<EOF2
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/cloud-boothook; name="noshebang"

#cloud-boothook
echo ran > $T/noshebang.log
--XX
Content-Type: text/cloud-boothook; name="spaced"

#cloud-boothook

   #!/bin/bash
[[ -n "\$BASH_VERSION" ]] && echo bash > $T/spaced.log
--XX
Content-Type: text/cloud-boothook; name="case"

#Cloud-Boothook
#!/bin/sh
echo ran > $T/case.log
--XX--
EOF2
imds_data '{"instance_id": "i-boothooks"}'
rm -f "$T"/noshebang.log "$T"/spaced.log "$T"/case.log
kiln boot >"$T/boot8.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a boothook without #! makes the boot degraded (exit $rc)"
check "... it is not run" test ! -e "$T/noshebang.log"
check "... the warning names the part and says why" grep -q "user-data:[0-9]*:1: part 1 'noshebang': boothook with no #! line not run: cloud-init 22.4 executes a boothook file itself, with no shell, and that fails (exec format error)" "$T/boot8.log"
check "... in status too" grep -q "part 1 'noshebang': boothook with no #! line not run" "$ROOT/run/kiln/status.json"
check "blank lines before the #! line are dropped, as cloud-init's lstrip(): it runs under bash" grep -qx bash "$T/spaced.log"
check "#Cloud-Boothook in another case is not taken off (cloud-init's prefix is case-sensitive): not run" test ! -e "$T/case.log"
check "... named too" grep -q "part 3 'case': boothook with no #! line not run" "$T/boot8.log"
printf '#cloud-boothook\necho x\n' | "$KILN" --root "$ROOT" validate - >"$T/out" 2>&1
check "validate warns of it" grep -q "<stdin>:1:1: warning: boothook with no #! line not run: cloud-init 22.4" "$T/out"
check "... and counts no part to run" grep -q "0 part(s) to run" "$T/out"

# Script parts as cloud-init 22.4 runs them (handlers/shell_script.py,
# util.runparts): written as they are and executed, with no shell. One with
# no #! line at its start fails to execute (exec format error): not run,
# named in a warning (degraded). Plain #! user-data is unaffected.
user_data <<EOF2
Content-Type: multipart/mixed; boundary="XX"
MIME-Version: 1.0

--XX
Content-Type: text/x-shellscript; name="bare.sh"

echo ran > $T/bare.log
--XX
Content-Type: text/x-shellscript-per-boot; name="indented.sh"

  #!/bin/sh
echo ran > $T/indented.log
--XX
Content-Type: text/x-shellscript; name="good2.sh"

#!/bin/sh
echo ran > $T/good2.log
--XX--
EOF2
imds_data '{"instance_id": "i-bare"}'
rm -f "$T"/bare.log "$T"/indented.log "$T"/good2.log
kiln boot >"$T/boot9.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a script part without #! makes the boot degraded (exit $rc)"
check "... it is not run" test ! -e "$T/bare.log"
check "... the warning names the part and says why" grep -q "user-data:[0-9]*:1: part 1 'bare.sh': script with no #! line not run: cloud-init 22.4 executes a script file itself, with no shell, and that fails (exec format error)" "$T/boot9.log"
check "... in status too" grep -q "part 1 'bare.sh': script with no #! line not run" "$ROOT/run/kiln/status.json"
check "a per-boot part with blanks before its #! is not run either (the kernel needs #! first)" test ! -e "$T/indented.log"
check "... named too" grep -q "part 2 'indented.sh': script with no #! line not run" "$T/boot9.log"
check "the script with #! next to them ran" grep -qx ran "$T/good2.log"
printf 'Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\nContent-Type: text/x-shellscript\n\necho x\n--b--\n' | "$KILN" --root "$ROOT" validate - >"$T/out" 2>&1
check "validate warns of it" grep -q "<stdin>:7:1: warning: part 1: script with no #! line not run: cloud-init 22.4" "$T/out"
check "... and counts no part to run" grep -q "0 part(s) to run" "$T/out"
printf '#!/bin/sh\necho "plain $INSTANCE_ID" > %s/plain.log\n' "$T" | user_data
imds_data '{"instance_id": "i-plain"}'
kiln boot >"$T/boot10.log" 2>&1
ok $? "plain #! user-data: the boot is done"
check "... the script ran" grep -qx 'plain i-plain' "$T/plain.log"

done_testing
