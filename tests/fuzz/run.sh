#!/bin/bash
# Builds the libFuzzer targets of tests/fuzz with clang
# (-fsanitize=fuzzer,address,undefined, linking kiln's sources) and runs each
# for SECONDS, seeded with the golden user-data; prints TAP.
#   tests/fuzz/run.sh [SECONDS]          (default 20)
# Needs clang and libclang-rt (Debian: clang, libclang-rt-14-dev). Without
# clang this fails: fuzzing is part of the checks, not optional.
set -uo pipefail

SECONDS_EACH=${1:-20}
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
CC=${FUZZ_CC:-clang}
OUT=$top_builddir/tests/fuzz-build
TARGETS="fuzz-mime fuzz-yaml-config fuzz-cloud-config fuzz-metrics"
TARGETS="$TARGETS fuzz-http-plain fuzz-retry-after"
TARGETS="$TARGETS fuzz-spool-queue fuzz-credentials fuzz-times fuzz-collect"
TARGETS="$TARGETS fuzz-nginx-render fuzz-nginx-include fuzz-jinja"
TARGETS="$TARGETS fuzz-aws-xml fuzz-route53 fuzz-s3 fuzz-ini"
n=0

tap() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "not ok 1 - clang is needed to build the fuzz targets (apt-get install clang libclang-rt-14-dev)"
	echo "1..1"
	exit 1
fi
if [ ! -f "$top_builddir/autoconfig.h" ]; then
	echo "not ok 1 - no $top_builddir/autoconfig.h: run configure first"
	echo "1..1"
	exit 1
fi

mkdir -p "$OUT/obj" "$OUT/corpus"
FLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
INC="-include $top_builddir/autoconfig.h -I$top_srcdir/agent -I$top_srcdir/modules -DKILN_SYSCONFDIR=\"/etc\""
PKGS="libcurl openssl jansson libsystemd yaml-0.1 expat zlib libcrypt"
# shellcheck disable=SC2086
CFLAGS_PKG=$(pkg-config --cflags $PKGS)
# shellcheck disable=SC2086
LIBS_PKG=$(pkg-config --libs $PKGS)
newest_header=$(find "$top_srcdir/agent" "$top_srcdir/modules" -name '*.h' -printf '%T@\n' | sort -n | tail -1)

build_ok=0
objs=()
for src in "$top_srcdir"/agent/*.c "$top_srcdir"/modules/*/*.c; do
	[ "$(basename "$src")" = main.c ] && continue
	obj=$OUT/obj/$(echo "${src#"$top_srcdir"/}" | tr / _).o
	objs+=("$obj")
	if [ -f "$obj" ] && [ "$obj" -nt "$src" ] && \
		[ "$(stat -c %Y "$obj")" -ge "${newest_header%.*}" ]; then
		continue
	fi
	# shellcheck disable=SC2086
	$CC $FLAGS $INC $CFLAGS_PKG -c "$src" -o "$obj" 2>>"$OUT/build.log" || build_ok=1
done
tap $build_ok "kiln's sources build with clang and the fuzzing sanitizers"

cp "$top_srcdir"/tests/data/userdata/golden/*.in "$OUT/corpus/" 2>/dev/null
cp "$top_srcdir"/tests/data/userdata/*.mime "$OUT/corpus/" 2>/dev/null
cp "$top_srcdir"/tests/data/metrics/*.json "$OUT/corpus/" 2>/dev/null
cp "$top_srcdir"/tests/data/fuzz/http/* "$OUT/corpus/" 2>/dev/null
cp "$top_srcdir"/tests/data/nginx/*.yaml "$top_srcdir"/tests/fuzz/seeds/* "$OUT/corpus/" 2>/dev/null
# fuzz-nginx-render puts what it renders through the real nginx -t (in a
# network namespace of its own: root only); without, its own checks only.
NGINX=${FUZZ_NGINX:-/usr/sbin/nginx}
if [ "$(id -u)" = 0 ] && [ -x "$NGINX" ] && { [ -s "$OUT/fuzz.key" ] ||
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fuzz -days 3650 \
		-keyout "$OUT/fuzz.key" -out "$OUT/fuzz.pem" >/dev/null 2>&1; }; then
	export FUZZ_NGINX=$NGINX FUZZ_CERT=$OUT/fuzz.pem FUZZ_KEY=$OUT/fuzz.key
	v=$("$NGINX" -v 2>&1 | sed -n 's#.*nginx/\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*#\1 \2 \3#p')
	read -r maj min pat <<<"$v"
	[ $((${maj:-0} * 1000000 + ${min:-0} * 1000 + ${pat:-0})) -ge 1025001 ] && export FUZZ_NGINX_HTTP2=1
else
	unset FUZZ_NGINX
	echo "# fuzz-nginx-render: not root or no $NGINX: the rendered configs are not put through nginx -t"
fi
for t in $TARGETS; do
	# shellcheck disable=SC2086
	if ! $CC $FLAGS -fsanitize=fuzzer $INC $CFLAGS_PKG "$top_srcdir/tests/fuzz/$t.c" "${objs[@]}" $LIBS_PKG \
		-o "$OUT/$t" 2>>"$OUT/build.log"; then
		tap 1 "$t builds"
		continue
	fi
	mkdir -p "$OUT/corpus-$t"
	cp "$top_srcdir/tests/data/fuzz/$t/"* "$OUT/corpus-$t/" 2>/dev/null
	dict=$top_srcdir/tests/fuzz/$t.dict
	[ -f "$dict" ] || dict=
	# -rss_limit_mb and -max_len keep memory bounded; a crash or leak fails.
	ASAN_OPTIONS=detect_leaks=1 timeout $((SECONDS_EACH + 60)) "$OUT/$t" -max_total_time="$SECONDS_EACH" \
		-rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 \
		${dict:+"-dict=$dict"} -artifact_prefix="$OUT/$t-" "$OUT/corpus-$t" "$OUT/corpus" >"$OUT/$t.log" 2>&1
	rc=$?
	tap $rc "$t ran ${SECONDS_EACH}s without a crash, leak or timeout"
	[ $rc -eq 0 ] || tail -30 "$OUT/$t.log" | sed 's/^/# /'
	grep -E '^stat::number_of_executed_units|^fuzz-nginx-render: [0-9]' "$OUT/$t.log" | sed 's/^/# /'
	# The differential check, bounded by the corpus: every config of it
	# that kiln accepts, rendered, must pass nginx -t.
	if [ "$t" = fuzz-nginx-render ] && [ -n "${FUZZ_NGINX:-}" ]; then
		FUZZ_NGINX_ALL=1 ASAN_OPTIONS=detect_leaks=1 timeout 300 "$OUT/$t" -runs=0 -rss_limit_mb=2048 \
			-max_len=65536 -artifact_prefix="$OUT/$t-replay-" "$OUT/corpus-$t" "$OUT/corpus" \
			>"$OUT/$t-replay.log" 2>&1
		rc=$?
		tap $rc "every config of $t's corpus that kiln accepts passes nginx -t"
		[ $rc -eq 0 ] || tail -40 "$OUT/$t-replay.log" | sed 's/^/# /'
		grep -E '^fuzz-nginx-render: [0-9]' "$OUT/$t-replay.log" | sed 's/^/# /'
	fi
done
[ $build_ok -eq 0 ] || tail -20 "$OUT/build.log" | sed 's/^/# /'
echo "1..$n"
