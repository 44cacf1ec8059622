#!/bin/bash
# Golden tests: each user-data format in tests/data/userdata/golden/*.in,
# the plan kiln makes of it (`kiln validate --plan`) and its messages out,
# compared with NAME.plan and NAME.msgs. UPDATE_GOLDEN=1 rewrites them.
. "$top_srcdir/tests/lib.sh"

# The plans name the default user, which follows os-release: the golden
# files are for an image without one (the user is then ec2-user).
rm -f "$ROOT/etc/os-release"

G=$top_srcdir/tests/data/userdata/golden
cd "$G" || exit 1
for in in *.in; do
	name=${in%.in}
	"$KILN" --root "$ROOT" validate --plan --no-fetch "$in" >"$T/$name.plan" 2>"$T/$name.msgs"
	echo "exit $?" >>"$T/$name.msgs"
	if [ -n "${UPDATE_GOLDEN:-}" ]; then
		cp "$T/$name.plan" "$name.plan"
		cp "$T/$name.msgs" "$name.msgs"
	fi
	diff -u "$name.plan" "$T/$name.plan" >"$T/diff" 2>&1
	ok $? "$name: plan as expected"
	diag "$T/diff"
	diff -u "$name.msgs" "$T/$name.msgs" >"$T/diff" 2>&1
	ok $? "$name: messages as expected"
	diag "$T/diff"
done
done_testing
