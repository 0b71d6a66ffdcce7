#!/usr/bin/env bash
# Fuzz smoke: the property tests of crates/wire (every decoder fed arbitrary
# bytes, every format round-tripped, the SSE parser in arbitrary chunkings)
# with many more cases than `cargo test` runs.
#
#   scripts/fuzz-smoke.sh                 # 5000 cases per property
#   PROPTEST_CASES=20000 scripts/fuzz-smoke.sh
#   FUZZ_TIMEOUT=300 scripts/fuzz-smoke.sh
#
# Bounded: the whole run is killed after FUZZ_TIMEOUT seconds (default 600;
# 5000 cases take about 80 s on 2 cores in the debug profile). A failure is
# shrunk and saved under crates/wire/proptest-regressions/: commit that file
# with the fix, so the case is replayed first from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROPTEST_CASES="${PROPTEST_CASES:-5000}"
timeout_s="${FUZZ_TIMEOUT:-600}"

echo "fuzz smoke: ${PROPTEST_CASES} cases per property, at most ${timeout_s} s"
# Build first, so the time limit is spent on cases rather than compiling.
cargo test -p pushpoll-wire --test main --no-run
status=0
timeout --signal=TERM --kill-after=10 "$timeout_s" \
  cargo test -p pushpoll-wire --test main -- --test-threads="$(nproc)" || status=$?
if [ "$status" -eq 124 ]; then
  echo "fuzz smoke: over ${timeout_s} s; lower PROPTEST_CASES or raise FUZZ_TIMEOUT" >&2
fi
exit "$status"
