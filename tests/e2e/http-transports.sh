#!/bin/bash
# The HTTP client has two transports: its own for plain http:// (IMDS,
# loopback) and libcurl for everything else. test-http and test-imds run on
# the first by default; here they run again with libcurl forced.
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
export KILN_HTTP_CURL=1
n=0
failed=0
for t in test-http test-imds; do
	while IFS= read -r line; do
		case $line in
		"ok "*) n=$((n + 1)); echo "ok $n - libcurl: ${line#ok * - }" ;;
		"not ok "*) n=$((n + 1)); failed=1; echo "not ok $n - libcurl: ${line#not ok * - }" ;;
		"#"*) echo "$line" ;;
		esac
	done < <("$top_builddir/tests/unit/$t")
done
echo "1..$n"
[ $n -gt 0 ] && [ $failed -eq 0 ]
