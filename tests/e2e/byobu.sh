#!/bin/bash
# byobu_by_default as cloud-init 22.4's cc_byobu: the one shell command
# cloud-init builds (recorded through KILN_SYSTEM_COMMAND), once per
# instance; the expected commands are those cloud-init 22.4's handle()
# builds for the same values; a failure (no byobu) degrades the boot.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
printf '#!/bin/sh\necho "$*" >>%s\n! [ -e %s ]\n' "$T/calls" "$T/fail" >"$T/tool"
chmod +x "$T/tool"
export KILN_SYSTEM_COMMAND=$T/tool
start_ec2 imds
n=0
byobu_boot() { # VALUE: a new instance with byobu_by_default VALUE
	n=$((n + 1))
	imds_data "{\"instance_id\": \"i-00000000000000b$(printf %02d $n)\"}"
	printf '#cloud-config\nbyobu_by_default: %s\n' "$1" | user_data
	rm -f "$T/calls"
	kiln boot >"$T/boot.log" 2>&1
}
calls() { grep '^sh -c' "$T/calls" 2>/dev/null; }

byobu_boot user
ok $? "user: boot exits 0" || diag "$T/boot.log"
check "user: the default user's launcher and the system setting, as cloud-init's command" test "$(calls)" = \
	'sh -c X=0;  sudo -Hu "admin" byobu-launcher-install || X=$(($X+1)); echo "byobu byobu/launch-by-default boolean true" | debconf-set-selections && dpkg-reconfigure byobu --frontend=noninteractive || X=$(($X+1));  exit $X'
byobu_boot system
check "system: only the system setting" test "$(calls)" = \
	'sh -c X=0; echo "byobu byobu/launch-by-default boolean true" | debconf-set-selections && dpkg-reconfigure byobu --frontend=noninteractive || X=$(($X+1));  exit $X'
byobu_boot disable
check "disable: both, uninstall and false" test "$(calls)" = \
	'sh -c X=0;  sudo -Hu "admin" byobu-launcher-uninstall || X=$(($X+1)); echo "byobu byobu/launch-by-default boolean false" | debconf-set-selections && dpkg-reconfigure byobu --frontend=noninteractive || X=$(($X+1));  exit $X'
byobu_boot disable-user
check "disable-user: the default user's launcher only" test "$(calls)" = \
	'sh -c X=0;  sudo -Hu "admin" byobu-launcher-uninstall || X=$(($X+1));  exit $X'

# Once per instance.
rm -f "$T/calls"
kiln boot >"$T/boot.log" 2>&1
ok $? "reboot exits 0"
check "reboot: nothing run again" test -z "$(calls)"

byobu_boot bogus
ok $? "an unknown value: boot exits 0"
check "an unknown value: nothing run" test -z "$(calls)"
check "an unknown value: warned, as cloud-init warns" grep -q 'Unknown value bogus for byobu_by_default' "$T/boot.log"

# Without byobu the command fails, as cloud-init's module fails: degraded.
: >"$T/fail"
byobu_boot enable
rc=$?
check "the command ran" test -n "$(calls)"
ok $([ $rc = 2 ]; echo $?) "a failing command makes the boot degraded (exit $rc)"
done_testing
