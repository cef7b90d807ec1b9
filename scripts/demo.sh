#!/usr/bin/env bash
# The embedded default: builds wsgate and runs `wsgate demo` (gateway on 127.0.0.1:8080 in front
# of a built-in echo backend; prints a sample token and a command to connect).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The printed connect command uses Python's websockets client; install it if it is missing.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import websockets' 2>/dev/null; then
  python3 -m pip install -q websockets >/dev/null 2>&1 || echo "wsgate: (optional) pip install websockets for the sample client" >&2
fi
swift build --product wsgate
exec .build/debug/wsgate demo "$@"
