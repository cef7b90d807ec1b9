#!/usr/bin/env bash
# Runs every test: the Swift suites (unit and loopback integration), then the interop and
# differential conformance suite against third-party clients and backends (Python websockets,
# Debian's node-ws, PyJWT, PostgreSQL), then every libFuzzer target briefly (scripts/fuzz.sh --ci).
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift build --product wsgate
# A throwaway PostgreSQL for the Swift cluster tests (the interop suite starts its own).
pg_dir="$(mktemp -u /tmp/wsgate-pg-swift.XXXXXX)"
trap 'bash scripts/postgres-test.sh stop "$pg_dir"' EXIT
WSGATE_TEST_POSTGRES_URL="$(bash scripts/postgres-test.sh start "$pg_dir")"
export WSGATE_TEST_POSTGRES_URL
# The Swift run's output is kept: when it fails, what failed is printed again at the end, so a
# log that keeps only its tail (CI's) still shows the failed expectations, or a crash's message
# and the crashed thread's frames rather than the other threads' idle stacks.
swift_log="$(mktemp /tmp/wsgate-swift-test.XXXXXX)"
if ! swift test --skip-build 2>&1 | tee "$swift_log"; then
    bash scripts/test-failures.sh "$swift_log"
    exit 1
fi
rm -f "$swift_log"
bash Tests/Interop/run.sh --wsgate "$PWD/.build/debug/wsgate"
# Fuzzing: each libFuzzer target replays its corpus, then runs WSGATE_FUZZ_SECONDS (default 25).
# The instrumented build reuses .build's compiled dependencies (about a minute; it recompiles
# only wsgate's own modules, which the next plain `swift build` compiles back).
WSGATE_FUZZ_SCRATCH=.build bash scripts/fuzz.sh --ci "${WSGATE_FUZZ_SECONDS:-25}"
