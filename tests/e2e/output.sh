#!/bin/bash
# output: cloud-init's default form ({all: '| tee -a FILE'}) and the
# per-stage forms of its docs: what bootcmd (init) and runcmd (final)
# print goes to the file as well, made 0640 root:adm as cloud-init makes it.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds

user_data <<'EOF2'
#cloud-config
output: {all: '| tee -a /var/log/cloud-init-output.log'}
bootcmd:
  - echo early-bird
runcmd:
  - echo late-owl
  - echo to-stderr >&2
EOF2
mkdir -p "$ROOT/var/log"
printf 'kept\n' >"$ROOT/var/log/cloud-init-output.log"
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'output|warn|error' | head
L=$ROOT/var/log/cloud-init-output.log
check "tee -a appends: what was there is kept" grep -qx kept "$L"
check "bootcmd's output is in it" grep -qx early-bird "$L"
check "runcmd's stdout and stderr are in it" sh -c "grep -qx late-owl '$L' && grep -qx to-stderr '$L'"

imds_data '{"instance-id": "i-0000000000output2"}'
user_data <<'EOF2'
#cloud-config
output:
  init: "> /var/log/kiln-init.out"
  final:
    - ">> /var/log/kiln-final.out"
    - "&1"
bootcmd:
  - echo init-line
runcmd:
  - echo final-line
EOF2
printf 'old\n' >"$ROOT/var/log/kiln-init.out"
kiln boot >"$T/boot2.log" 2>&1
check "'> FILE' writes the file anew" test "$(cat "$ROOT/var/log/kiln-init.out")" = init-line
check "[>> FILE, &1] appends stdout and stderr" grep -qx final-line "$ROOT/var/log/kiln-final.out"
check "a new file is 0640, group adm" test "$(stat -c %a:%g "$ROOT/var/log/kiln-final.out")" = "640:4"

imds_data '{"instance-id": "i-0000000000output3"}'
printf '#cloud-config\noutput: {all: "| logger -t cloud"}\nruncmd:\n  - echo x\n' | user_data
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a pipe to another command is not done: degraded (exit $rc)"
check "... saying so" grep -q "output: '| logger -t cloud' (init) is not done" "$T/boot3.log"
done_testing
