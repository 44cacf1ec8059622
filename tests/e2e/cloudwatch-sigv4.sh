#!/bin/bash
# kiln's SigV4 signatures equal botocore's over hundreds of generated
# requests, checked through `kiln debug sigv4` (TAP from the Python script).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${KILN:=$top_srcdir/kiln}"
exec /usr/bin/python3 "$top_srcdir/tests/e2e/cloudwatch-sigv4.py" "$KILN" "${SIGV4_COUNT:-400}"
