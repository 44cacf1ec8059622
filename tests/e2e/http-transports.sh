#!/bin/bash
# The HTTP client has two transports: its own for plain http:// (IMDS,
# loopback) and libcurl for everything else. test-http and test-imds run on
# the first by default; here they run again with libcurl forced.
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
export KILN_HTTP_CURL=1
# A test hook acts only under a root other than "/" (agent/path.h).
KILN_ROOT=$(mktemp -d /tmp/kiln-transports.XXXXXX)
export KILN_ROOT
trap 'rm -rf "$KILN_ROOT"' EXIT
n=0
failed=0
for t in test-http test-imds; do
	while IFS= read -r line; do
		case $line in
		"ok "*) n=$((n + 1)); echo "ok $n - libcurl: ${line#ok * - }" ;;
		"not ok "*) n=$((n + 1)); failed=1; echo "not ok $n - libcurl: ${line#not ok * - }" ;;
		"#"*) echo "$line" ;;
		esac
	done < <("$top_builddir/tests/unit/$t" 2>>"$KILN_ROOT/err")
done
n=$((n + 1))
if grep -q "Ignoring \$KILN_HTTP_CURL" "$KILN_ROOT/err"; then
	failed=1
	echo "not ok $n - KILN_HTTP_CURL acted (the tests ran on libcurl)"
else
	echo "ok $n - KILN_HTTP_CURL acted (the tests ran on libcurl)"
fi
echo "1..$n"
[ $n -gt 0 ] && [ $failed -eq 0 ]
