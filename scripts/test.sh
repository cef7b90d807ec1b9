#!/usr/bin/env bash
# Runs every test: the Swift suites (unit and loopback integration), then the interop and
# differential conformance suite against third-party clients and backends (Python websockets,
# Debian's node-ws, PyJWT). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift build --product wsgate
swift test --skip-build
bash Tests/Interop/run.sh --wsgate "$PWD/.build/debug/wsgate"
