#!/bin/bash
# apt_pipelining: as cloud-init's cc_apt_pipelining, once per instance on
# Debian/Ubuntu, under --root: false writes depth 0, 0-5 that depth, to
# /etc/apt/apt.conf.d/90cloud-init-pipelining; os/none/unchanged leave apt
# alone; anything else (true) is refused, not dropped silently.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf 'ID=debian\nVERSION_CODENAME=bookworm\n' >"$ROOT/etc/os-release"
start_ec2 imds
F=$ROOT/etc/apt/apt.conf.d/90cloud-init-pipelining
expect() { printf "//Written by cloud-init per 'apt_pipelining'\nAcquire::http::Pipeline-Depth \"%s\";\n" "$1"; }

printf '#cloud-config\napt_pipelining: false\n' >"$T/ud"
kiln validate --no-fetch "$T/ud" >"$T/validate.log" 2>&1
check "kiln validate knows apt_pipelining" bash -c "! grep -E 'not supported|not a cloud-config key' '$T/validate.log'"
diag "$T/validate.log" | head -3

user_data <"$T/ud"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "false: boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'pipelin|warn|error' | head
check "false: depth 0, the file as cloud-init writes it" diff "$F" <(expect 0)

imds_data '{"instance-id": "i-00000000000000pip2"}'
printf '#cloud-config\napt_pipelining: 3\n' | user_data
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "3: boot is done (exit $rc)"
check "3: depth 3" diff "$F" <(expect 3)

imds_data '{"instance-id": "i-00000000000000pip3"}'
printf '#cloud-config\napt_pipelining: os\n' | user_data
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "os: boot is done (exit $rc)"
check "os: the file is left as it was (cloud-init does not touch it)" diff "$F" <(expect 3)

imds_data '{"instance-id": "i-00000000000000pip4"}'
printf '#cloud-config\napt_pipelining: true\n' | user_data
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "true (not a value cloud-init takes): the boot is degraded (exit $rc)"
check "... saying why" grep -q "apt_pipelining: .*true" "$T/boot4.log"
diag "$T/boot4.log" | grep -iE 'pipelin' | head -3
check "... and the file is left alone" diff "$F" <(expect 3)

imds_data '{"instance-id": "i-00000000000000pip5"}'
rm -f "$F"
printf 'ID=fedora\n' >"$ROOT/etc/os-release"
printf '#cloud-config\napt_pipelining: false\n' | user_data
kiln boot >"$T/boot5.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "not Debian: boot is done (exit $rc)"
check "not Debian: nothing written (cloud-init's module is for debian and ubuntu only)" test ! -e "$F"
done_testing
