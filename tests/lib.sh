# Shared by the end-to-end tests: TAP output, a scratch root, the local EC2.
# Every test runs kiln with --root "$ROOT", never on the machine's own /etc.

set -uo pipefail

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${KILN:=$top_builddir/kiln}"
PYTHON=/usr/bin/python3

T=$(mktemp -d /tmp/kiln-e2e.XXXXXX)
ROOT=$T/root
EC2=$T/ec2
mkdir -p "$ROOT" "$EC2"
# Every instance has a root user and the files the shadow tools need.
. "$top_srcdir/tests/data/userdata/root.sh"
make_root "$ROOT"
# The kiln root the local EC2 serves from (its nginx reads $ROOT/etc/nginx).
export LOCAL_EC2_ROOT=$ROOT
tap_n=0
tap_failed=0

# shellcheck source=tests/pid.sh
. "$top_srcdir/tests/pid.sh"
# track PID: a helper this test started in the background, stopped when the
# test ends if it still runs (never a process that took its PID since).
track() { pid_record "$1" "$T/pids"; }

cleanup() {
	pid_kill_all TERM "$T/pids"
	"$top_srcdir/tests/local-ec2" stop "$EC2" >/dev/null 2>&1 || true
	[ -n "${KEEP_TEST_DIR:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

ok() { # ok COND-EXIT-CODE DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

check() { # check DESCRIPTION COMMAND...
	local desc=$1
	shift
	"$@" >/dev/null 2>&1
	ok $? "$desc"
}

done_testing() {
	echo "1..$tap_n"
	[ $tap_failed -eq 0 ]
	exit $?
}

diag() { sed 's/^/# /' "$@" || true; }

start_ec2() { # start_ec2 SERVICE...
	"$top_srcdir/tests/local-ec2" start "$EC2" "$@" || { echo "Bail out! local EC2 did not start"; exit 1; }
	# shellcheck source=/dev/null
	. "$EC2/env"
}

kiln() { "$KILN" --root "$ROOT" "$@"; }

# Sets the user-data the fake IMDS serves (read on every request).
user_data() { cat >"$EC2/user-data"; }
user_data_file() { cp "$1" "$EC2/user-data"; }
no_user_data() { rm -f "$EC2/user-data"; }

# Changes the instance the fake IMDS describes (a new launch of the image).
imds_data() { curl -sf -X POST -d "$1" "$LOCAL_EC2_IMDS/_fake/data" >/dev/null; }
imds_faults() { curl -sf -X POST -d "$1" "$LOCAL_EC2_IMDS/_fake/config" >/dev/null; }

status_field() { $PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$ROOT/run/kiln/status.json" "$1"; }
