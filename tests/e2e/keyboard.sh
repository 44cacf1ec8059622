#!/bin/bash
# keyboard from cloud-init's documentation examples, under --root: the
# tools cloud-init's Debian distro runs (localectl set-x11-keymap, then
# systemctl restart console-setup), recorded through KILN_SYSTEM_COMMAND;
# skipped where cloud-init skips cc_keyboard.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
make_pkg_recorder "$T/tool" "$T/tools.log"
export KILN_SYSTEM_COMMAND=$T/tool
start_ec2 imds

# docs example 1 (Debian)
user_data <<'EOF2'
#cloud-config
# Set keyboard layout to "us"
keyboard:
  layout: us
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'keyboard|warn|error' | head
check "Debian: localectl with model pc105, empty variant and options, then console-setup restarted" \
	diff "$T/tools.log" <(printf 'localectl set-x11-keymap us pc105  \nsystemctl restart console-setup\n')

# docs example 2 (RHEL: localectl only)
imds_data '{"instance-id": "i-000000000000kbd2"}'
printf 'ID="rhel"\n' >"$ROOT/etc/os-release"
: >"$T/tools.log"
user_data <<'EOF2'
#cloud-config
# Set specific keyboard layout, model, variant, options
keyboard:
  layout: de
  model: pc105
  variant: nodeadkeys
  options: compose:rwin
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "second boot is done (exit $rc)"
check "RHEL: localectl with all four, no console-setup" \
	diff "$T/tools.log" <(printf 'localectl set-x11-keymap de pc105 nodeadkeys compose:rwin\n')
kiln boot >"$T/boot2b.log" 2>&1
check "once per instance" diff "$T/tools.log" <(printf 'localectl set-x11-keymap de pc105 nodeadkeys compose:rwin\n')

# Alpine: not among cc_keyboard's distributions
imds_data '{"instance-id": "i-000000000000kbd3"}'
printf 'ID=alpine\n' >"$ROOT/etc/os-release"
: >"$T/tools.log"
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "Alpine: boot is done (exit $rc)"
check "Alpine: skipped, as cloud-init skips it" test ! -s "$T/tools.log"

# layout is required
imds_data '{"instance-id": "i-000000000000kbd4"}'
printf 'ID=debian\n' >"$ROOT/etc/os-release"
user_data <<'EOF2'
#cloud-config
keyboard:
  model: pc104
EOF2
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -ne 0 ]; echo $?) "no layout: not a clean boot (exit $rc)"
check "... and nothing run" test ! -s "$T/tools.log"
done_testing
