#!/usr/bin/env bash
# Runs every test: the Swift suites (unit and loopback integration), then the interop and
# differential conformance suite against third-party clients and backends (Python websockets,
# Debian's node-ws, PyJWT, PostgreSQL). Installs what is missing first.
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
swift test --skip-build
bash Tests/Interop/run.sh --wsgate "$PWD/.build/debug/wsgate"
