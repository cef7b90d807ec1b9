#!/usr/bin/env bash
# Live-session figures (issue 12): echo CPU with and without token_refresh against the commit
# before live sessions, handshake vs refresh CPU, time to revoke 1 and REVOKE_N sessions.
#   bench/sessions.sh                  # BEFORE=cf7eedb RUNS=3 DURATION=8 REVOKE_N=9900
# Release binaries from clean exports of BEFORE and HEAD, built one after the other in
# .build-bench (the dependencies are built once). 9,900 sessions: a gateway holds two
# descriptors per session and this machine's hard limit is 20,000.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BEFORE=${BEFORE:-cf7eedb}
OUT=${OUT:-$(mktemp -d /tmp/wsgate-sessions-bench.XXXXXX)}
mkdir -p "$OUT"
trap 'rm -rf "$OUT/src"' EXIT
ulimit -n "$(ulimit -Hn)"
build() { # commit name products...
    local commit=$1 name=$2; shift 2
    rm -rf "$OUT/src"; mkdir -p "$OUT/src"
    git archive "$commit" | tar -x -C "$OUT/src"
    for product in "$@"; do
        swift build -c release --package-path "$OUT/src" --scratch-path "$ROOT/.build-bench" --product "$product" >&2
        cp "$ROOT/.build-bench/release/$product" "$OUT/$name-$product"
    done
}
[[ -n ${SKIP_BUILD:-} ]] || { build "$BEFORE" before wsgate; build HEAD after wsgate wsgate-bench; }
[[ -z ${BUILD_ONLY:-} ]] || exit 0
python3 -c 'import jwt, websockets' 2>/dev/null || python3 -m pip install -q -r Tests/Interop/requirements.txt
python3 bench/sessions.py "$OUT" "$OUT/before-wsgate" "$OUT/after-wsgate" "$OUT/after-wsgate-bench"
