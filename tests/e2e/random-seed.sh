#!/bin/bash
# random_seed from cloud-init's documentation examples, under --root: data
# appended to the root's file as cloud-init's cc_seed_random appends it,
# decoded per encoding; the command run with RANDOM_SEED_FILE (recorded
# through KILN_SYSTEM_COMMAND) when its program is in the root, else an
# error only with command_required.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
cat >"$T/tool" <<EOF
#!/bin/sh
printf '%s | %s\n' "\$RANDOM_SEED_FILE" "\$*" >>"$T/tools.log"
EOF
chmod 755 "$T/tool"
export KILN_SYSTEM_COMMAND=$T/tool
mkdir -p "$ROOT/dev" "$ROOT/usr/bin"
printf 'old:' >"$ROOT/dev/urandom"
printf '#!/bin/sh\n' >"$ROOT/usr/bin/sh"
chmod 755 "$ROOT/usr/bin/sh"
start_ec2 imds

# docs example 1
user_data <<'EOF2'
#cloud-config
random_seed:
  file: /dev/urandom
  data: my random string
  encoding: raw
  command: ['sh', '-c', 'dd if=/dev/urandom of=$RANDOM_SEED_FILE']
  command_required: true
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'random|warn|error' | head
check "data appended to the root's /dev/urandom" diff "$ROOT/dev/urandom" <(printf 'old:my random string')
check "command run with RANDOM_SEED_FILE" \
	grep -qxF '/dev/urandom | sh -c dd if=/dev/urandom of=$RANDOM_SEED_FILE' "$T/tools.log"

# docs example 2: pollinate is not in the root and command_required is true
imds_data '{"instance-id": "i-00000000000seed2"}'
: >"$T/tools.log"
user_data <<'EOF2'
#cloud-config
random_seed:
  file: /dev/urandom
  command: ["pollinate", "--server=http://local.polinate.server"]
  command_required: true
EOF2
kiln boot >"$T/boot2.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "a required command that is not there makes the boot degraded (exit $rc)"
check "... saying so" grep -q "command 'pollinate' not found but command_required is true" "$T/boot2.log"
check "... and it is not run" test ! -s "$T/tools.log"

# not required: skipped quietly; base64 and gzip data, another file
imds_data '{"instance-id": "i-00000000000seed3"}'
user_data <<EOF2
#cloud-config
random_seed:
  file: /var/lib/seed
  data: $(printf 'b64 seed' | base64)
  encoding: b64
  command: [pollinate]
EOF2
kiln boot >"$T/boot3.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "a command not there and not required is skipped (exit $rc)"
check "base64 data decoded into file" diff "$ROOT/var/lib/seed" <(printf 'b64 seed')

imds_data '{"instance-id": "i-00000000000seed4"}'
user_data <<'EOF2'
#cloud-config
random_seed:
  file: /var/lib/seed
  data: x
  encoding: rot13
EOF2
kiln boot >"$T/boot4.log" 2>&1
rc=$?
ok $([ $rc -eq 2 ]; echo $?) "an unknown encoding is an error, as in cloud-init (exit $rc)"
check "nothing appended then" diff "$ROOT/var/lib/seed" <(printf 'b64 seed')
done_testing
