#!/usr/bin/env bash
# Prints what failed in a `swift test` log: failed expectations and issues, a crash's message,
# and the crashed thread's first frames. scripts/test.sh calls it after a failed run.
set -uo pipefail
log="$1"
echo
echo "=== what failed in the Swift tests (from $log) ==="
grep -E '✘|Fatal error|fatal error|Precondition failed|Assertion failed|\*\*\* .*crashed|error: Exited with' "$log" | head -60
# The crashed thread (the backtracer's "Thread N "name" crashed:" block), its first 30 lines.
awk '/^Thread [0-9]+.* crashed:/ { show = 1; lines = 0 } show && lines < 30 { print; lines++ } lines == 30 { show = 0 }' "$log"
echo "=== end ==="
