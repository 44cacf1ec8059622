#!/bin/sh
# The boot test's user-data script: counts its runs in a file the test reads.
set -e
n=$(cat /var/lib/kiln-test-runs 2>/dev/null || echo 0)
echo $((n + 1)) >/var/lib/kiln-test-runs
echo "script ran on $KILN_INSTANCE_ID" >>/var/lib/kiln-test-log
