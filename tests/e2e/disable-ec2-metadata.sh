#!/bin/bash
# disable_ec2_metadata as cloud-init 22.4's cc_disable_ec2_metadata: at every
# boot, `ip route add prohibit 169.254.169.254`, run (recorded here through
# KILN_SYSTEM_COMMAND) last, once kiln's boot is done. The boot log warns
# that metrics and role credentials stop working; with kiln's metrics
# configured, `kiln validate` warns too and the boot is degraded.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf '#!/bin/sh\necho "$*" >>%s\n' "$T/calls" >"$T/tool"
chmod +x "$T/tool"
export KILN_SYSTEM_COMMAND=$T/tool
start_ec2 imds

cat >"$T/off.yaml" <<'UD'
#cloud-config
disable_ec2_metadata: true
runcmd:
  - echo script ran
UD
"$KILN" validate "$T/off.yaml" >"$T/validate" 2>&1
ok $? "validate exits 0" || diag "$T/validate"
check "without metrics, validate has no warning: it is what the user asked for" \
	sh -c "! grep -q disable_ec2_metadata '$T/validate'"
printf '#kiln-config\ndisable_ec2_metadata: true\nmetrics:\n  namespace: MyApp\n' >"$T/off-metrics.yaml"
"$KILN" validate "$T/off-metrics.yaml" >"$T/validate" 2>&1
ok $? "with metrics, validate exits 0 (a warning, not an error)" || diag "$T/validate"
check "... and warns that metrics and role credentials stop working" \
	grep -Eq 'disable_ec2_metadata.*169\.254\.169\.254.*CloudWatch metrics.*credentials stop working' "$T/validate"

# Not set, false, or "no": nothing is run.
for v in '' 'disable_ec2_metadata: false' 'disable_ec2_metadata: "no"'; do
	printf '#cloud-config\n%s\n' "$v" | user_data
	rm -f "$T/calls"
	kiln boot >"$T/boot.log" 2>&1
	ok $? "boot with '$v' exits 0" || diag "$T/boot.log"
	! grep -q 'route' "$T/calls" 2>/dev/null
	ok $? "'$v': the route is left alone"
done

user_data_file "$T/off.yaml"
rm -f "$T/calls"
kiln boot >"$T/boot.log" 2>&1
test $? = 0
ok $? "boot with disable_ec2_metadata and no metrics is done (exit 0), as under cloud-init" || diag "$T/boot.log"
check "ip route add prohibit 169.254.169.254, as cloud-init runs it" \
	test "$(grep route "$T/calls")" = "ip route add prohibit 169.254.169.254"
check "the boot log warns" grep -q 'disable_ec2_metadata: the instance metadata service .*credentials stop working' "$T/boot.log"
wl=$(grep -n 'disable_ec2_metadata: rejecting the route' "$T/boot.log" | head -1 | cut -d: -f1)
sl=$(grep -n 'runcmd\|user-data\|script' "$T/boot.log" | tail -1 | cut -d: -f1)
[ -n "$wl" ] && [ -n "$sl" ] && [ "$wl" -gt "$sl" ]
ok $? "blocked after the scripts ran, at the end of the boot" || diag "$T/boot.log"

# Every boot (cloud-init's frequency: always), not once per instance.
rm -f "$T/calls"
kiln boot >"$T/boot.log" 2>&1
test $? = 0
ok $? "reboot is done too"
check "the route is added again at the next boot" grep -q 'route add prohibit 169.254.169.254' "$T/calls"

# "yes" counts as true, as for cloud-init.
printf '#cloud-config\ndisable_ec2_metadata: "yes"\n' | user_data
rm -f "$T/calls"
kiln boot >"$T/boot.log" 2>&1
check "'yes' is true" grep -q 'route add prohibit 169.254.169.254' "$T/calls"

# With kiln's metrics configured, blocking IMDS breaks kiln's own job: the
# boot is degraded and status says why.
mkdir -p "$ROOT/etc/kiln"
printf 'metrics:\n  namespace: MyApp\n' >"$ROOT/etc/kiln/kiln.yaml"
user_data_file "$T/off.yaml"
rm -f "$T/calls"
kiln boot >"$T/boot.log" 2>&1
test $? = 2
ok $? "with metrics configured the boot is degraded (exit 2)" || diag "$T/boot.log"
check "status.json has the warning" grep -q 'CloudWatch metrics' "$ROOT/run/kiln/status.json"
check "the route is still added, as asked" grep -q 'route add prohibit 169.254.169.254' "$T/calls"
done_testing
