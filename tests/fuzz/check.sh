#!/bin/bash
# `make check`: every fuzz target for a bounded time (FUZZ_SECONDS, default 10).
exec "$top_srcdir/tests/fuzz/run.sh" "${FUZZ_SECONDS:-10}"
