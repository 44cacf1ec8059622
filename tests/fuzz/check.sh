#!/bin/bash
# `make check`: every fuzz target for a bounded time (FUZZ_SECONDS, default
# 5): the seeds are replayed and each target gets a short run. Long runs
# (minutes per target) are `tests/fuzz/run.sh SECONDS`, outside make check.
exec "$top_srcdir/tests/fuzz/run.sh" "${FUZZ_SECONDS:-5}"
