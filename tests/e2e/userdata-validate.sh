#!/bin/bash
# kiln validate: exit codes, FILE:LINE:COLUMN messages, stdin, the baked
# config, --keys against docs/CONFIG.md; and `kiln boot` recording the same
# problems in status, with positions, while applying the rest.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
v() { "$KILN" --root "$ROOT" validate "$@"; }

printf '#kiln-config\nhostname: ok\n' >"$T/good.yaml"
check "a valid file exits 0" v "$T/good.yaml"
printf '#kiln-config\nhostname: [1]\n' >"$T/bad.txt"
v "$T/bad.txt" >"$T/out" 2>&1
ok $([ $? -eq 1 ]; echo $?) "an invalid file exits 1"
check "the error is FILE:LINE:COLUMN: error: message" grep -qx "$T/bad.txt:2:1: error: 'hostname' must be a string" "$T/out"
printf '#cloud-config\nruncmd:\n  - ls\nhostnme: x\n' | v - >"$T/out" 2>&1
ok $? "stdin: unknown keys are warnings, exit 0"
check "stdin: a misspelt cloud-config key at its line, with the key meant" grep -qx "<stdin>:4:1: warning: 'hostnme' is not a cloud-config key (did you mean 'hostname'?), skipped" "$T/out"
printf 'imds:\n  timeout: 5\n  alow_v1: true\nsites: 3\n' >"$T/kiln.yaml"
# A .yaml file is user-data unless said otherwise: the boot would refuse it
# as user-data without its #cloud-config or #kiln-config line, so validate does.
v "$T/kiln.yaml" >"$T/out" 2>&1
ok $([ $? -eq 1 ]; echo $?) "a .yaml file without a header is refused, as the boot refuses it as user-data"
check "... pointing at --config" grep -q "kiln.yaml: note: read as user-data, as the boot would read it" "$T/out"
v --config "$T/kiln.yaml" >"$T/out" 2>&1
check "--config reads it as kiln config, with a suggestion" grep -q "kiln.yaml:3:3: warning: unknown key 'imds.alow_v1' (did you mean 'allow_v1'?), ignoring" "$T/out"
mkdir -p "$ROOT/etc/kiln/kiln.d"
cp "$T/kiln.yaml" "$ROOT/etc/kiln/kiln.d/50-x.yaml"
v "$ROOT/etc/kiln/kiln.d/50-x.yaml" >"$T/out" 2>&1
check "a file in /etc/kiln/kiln.d is read as kiln config" grep -q "50-x.yaml:3:3: warning: unknown key 'imds.alow_v1'" "$T/out"
rm "$ROOT/etc/kiln/kiln.d/50-x.yaml"
head -c 2000 /dev/urandom >"$T/junk"
v "$T/junk" >"$T/out" 2>&1
ok $([ $? -eq 1 ]; echo $?) "binary junk is invalid, not a crash"
/usr/bin/python3 -c 'import sys; sys.stdout.write("#!/bin/sh\n" + "echo x\n" * 1500000)' >"$T/big"
v "$T/big" >"$T/out" 2>&1
ok $? "a 10 MB script is fine"
/usr/bin/python3 -c 'import sys; sys.stdout.write("#kiln-config\n" + "k%d: v\n" * 0 + "".join("k%d: %d\n" % (i, i) for i in range(1000000)))' >"$T/bigyaml"
v "$T/bigyaml" >"$T/out" 2>&1
ok $([ $? -eq 1 ]; echo $?) "a config with a million keys is refused"
check "... saying why" grep -q "too many nodes" "$T/out"
check "validate --help" v --help
v a b >/dev/null 2>&1
ok $([ $? -eq 64 ]; echo $?) "two files is a usage error"

# --keys is the same table docs/CONFIG.md holds for every key
v --keys >"$T/keys"
check "--keys prints a Markdown table" grep -qx '| key | type | meaning |' "$T/keys"
check "--keys lists runcmd[]" grep -q '^| `runcmd\[\]` | command' "$T/keys"
missing=0
for key in $(sed -n 's/^| `\([^`]*\)` .*/\1/p' "$T/keys" | grep -vE '^(imds|sites|acme|metrics|nginx|cloudwatch)'); do
	grep -qF "| \`$key\` |" "$top_srcdir/docs/CONFIG.md" || { echo "# not in docs/CONFIG.md: $key"; missing=1; }
done
ok $missing "every key of userdata, system and scripts is documented in docs/CONFIG.md"

# The examples in docs/CONFIG.md validate as written.
n=0
awk -v dir="$T" '/^```yaml/{f=1; n++; next} /^```/{f=0} f{print > (dir "/doc-example-" n ".yaml")}' "$top_srcdir/docs/CONFIG.md"
for ex in "$T"/doc-example-*.yaml; do
	n=$((n + 1))
	v "$ex" >"$T/out" 2>&1
	ok $? "docs example $(basename "$ex") is valid"
	diag "$T/out"
done
ok $([ $n -ge 3 ]; echo $?) "the docs have examples ($n)"

# The baked config, without FILE
mkdir -p "$ROOT/etc/kiln/kiln.d"
printf 'hostname: baked\n' >"$ROOT/etc/kiln/kiln.yaml"
printf 'runcmd: {a: 1}\n' >"$ROOT/etc/kiln/kiln.d/10-bad.yaml"
v >"$T/out" 2>&1
ok $([ $? -eq 1 ]; echo $?) "a bad drop-in makes the baked config invalid"
check "... naming the drop-in and line" grep -q "^/etc/kiln/kiln.d/10-bad.yaml:1:1: error: 'runcmd' must be a list" "$T/out"
rm "$ROOT/etc/kiln/kiln.d/10-bad.yaml"

# kiln boot: same checks, recorded in status with positions; the rest applied.
start_ec2 imds
user_data <<'EOF2'
#kiln-config
timezone: Europe/Berlin
write_files:
  - path: /etc/ok.txt
    content: applied
  - path: /etc/bad.txt
    encoding: rot13
    content: x
default_user:
  nmae: x
EOF2
kiln boot >"$T/boot.log" 2>&1
ok $([ $? -eq 1 ]; echo $?) "boot with an invalid config is an error"
check "status has the error with its position" grep -q "user-data:6:5: 'write_files\[1\]': encoding must be one of" "$ROOT/run/kiln/status.json"
check "status has the warning with a suggestion" grep -q "user-data:10:3: unknown key 'default_user.nmae' (did you mean 'name'?)" "$ROOT/run/kiln/status.json"
check "the good file was still written" grep -qx applied "$ROOT/etc/ok.txt"
check "the time zone was still set" test -L "$ROOT/etc/localtime"
check "the baked hostname applied" grep -qx baked "$ROOT/etc/hostname"
# The boot's count of the user-data's problems is validate's.
v "$EC2/user-data" >"$T/v.out" 2>&1
want=$(sed -n 's/.*: invalid: \([0-9]*\) error(s), \([0-9]*\) warning(s).*/\1 error(s), \2 warning(s)/p' "$T/v.out")
check "the boot counts the user-data's problems as validate does ($want)" grep -q "User-data: .*, $want" "$T/boot.log"

done_testing
