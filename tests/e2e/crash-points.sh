#!/bin/bash
# Crash points: kiln killed with SIGKILL at every point where it writes,
# renames, links, unlinks, syncs, truncates, changes a mode or owner or
# sends a signal, during a first boot, an nginx apply, a certificate
# renewal and a metrics push; after each, kiln runs again and what it left
# must equal what an uncrashed run leaves (see tests/e2e/crash-points.py).
# The figures (points exercised, inconsistencies) are TAP comments.
#
# The points are counted and the kill is made by an LD_PRELOAD shim
# (tests/e2e/crash-shim.c, built here with cc). Under the sanitizer build
# the shim goes after libasan in LD_PRELOAD, which ASan needs first.
. "$top_srcdir/tests/lib.sh"

CC=${CC_FOR_TESTS:-cc}
if ! command -v "$CC" >/dev/null; then
	echo "Bail out! no C compiler ($CC) to build the crash shim"
	exit 1
fi
"$CC" -shared -fPIC -O1 -o "$T/crash-shim.so" "$top_srcdir/tests/e2e/crash-shim.c" -ldl &&
	"$CC" -O1 -o "$T/crash-run" "$top_srcdir/tests/e2e/crash-run.c" ||
	{ echo "Bail out! cannot build the crash shim"; exit 1; }

preload=$T/crash-shim.so
asan=$(ldd "$KILN" 2>/dev/null | awk '/libasan/ {print $3; exit}')
if [ -n "$asan" ]; then
	preload="$asan:$preload"
	echo "# sanitizer build: LD_PRELOAD=$asan (first, as ASan needs) then the shim"
fi

# The root as lib.sh made it, for the workers' roots (crash-points.py).
cp -a "$ROOT" "$T/root0"
# The workers' nginx, should the driver not stop them itself.
stop_workers() {
	local d
	for d in "$T"/w*/ec2; do
		[ -d "$d" ] && "$top_srcdir/tests/local-ec2" stop "$d" >/dev/null 2>&1
	done
	cleanup
}
trap stop_workers EXIT

start_ec2 imds nginx pebble cloudwatch

export T ROOT EC2 KILN top_srcdir
export CRASH_RUN=$T/crash-run CRASH_PRELOAD=$preload CRASH_ROOT0=$T/root0
$PYTHON "$top_srcdir/tests/e2e/crash-points.py"
