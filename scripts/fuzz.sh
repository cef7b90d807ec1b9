#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (Tests/Fuzz/README.md).
#
#   scripts/fuzz.sh TARGET [SECONDS]   one target until SECONDS pass (default 600) or it finds a bug
#   scripts/fuzz.sh --keep-going TARGET [SECONDS]   the same, saving each crash and going on
#                                      (libFuzzer -fork=1 -ignore_crashes=1; for open findings)
#   scripts/fuzz.sh --ci [SECONDS]     every target: replay its corpus, then fuzz it SECONDS (default 25)
#   scripts/fuzz.sh --list             the targets
#
# The fuzz build instruments wsgate's own modules (WSGATE_FUZZ=1, see Package.swift) in
# WSGATE_FUZZ_SCRATCH (default .build-fuzz; CI passes .build to reuse the compiled dependencies).
# New inputs go to $SCRATCH/fuzz-corpus/TARGET, never into the committed corpus; a crashing
# input is saved as $SCRATCH/fuzz-artifacts/TARGET-crash-<sha1> and its path printed.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(request-head response-head frame-tracker proxy-header token jwks config)
SCRATCH="${WSGATE_FUZZ_SCRATCH:-.build-fuzz}"
CORPUS=Tests/Fuzz/corpus
# Leak checks off: the Swift runtime's caches and the harness's once-built snapshot live for the
# process and would be reported as leaks; memory errors are still caught by ASan.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
# The Swift runtime's in-process backtracer walks the stack after a check traps, which ASan
# reports as a second error; libFuzzer's own stack trace is enough.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

build() {
    echo "fuzz: building wsgate-fuzz with -sanitize=fuzzer,address in $SCRATCH" >&2
    WSGATE_FUZZ=1 swift build --scratch-path "$SCRATCH" --product wsgate-fuzz >&2
    BINARY="$SCRATCH/debug/wsgate-fuzz"
}

# Fuzzes $1 for $2 seconds from the committed corpus (reproducers of open findings excluded
# when $3 is "skip-findings"); prints "<execs> <cov> <ft> <status>" on the last line.
run() {
    local target=$1 seconds=$2 mode=${3:-all} extra=()
    [[ ${KEEP_GOING:-0} == 1 ]] && extra=(-fork=1 -ignore_crashes=1)
    if [[ $mode == skip-findings ]]; then
        # CI: a fixed seed and a fixed number of inputs per target, so a commit's fuzz step gives
        # the same verdict on every run (a time-bounded random run could fail a later CI run of
        # the same code on a finding it happened to reach); the time bound stays as a cap.
        extra+=(-seed="${WSGATE_FUZZ_SEED:-1}" -runs="$(ci_runs "$target")")
    fi
    local work="$SCRATCH/fuzz-corpus/$target" artifacts="$SCRATCH/fuzz-artifacts"
    # CI starts from the committed seeds alone, as on a fresh clone (same seed, same inputs).
    [[ $mode == skip-findings ]] && rm -rf "$work"
    mkdir -p "$work" "$artifacts"
    local seeds="$CORPUS/$target"
    if [[ $mode == skip-findings ]]; then
        seeds="$SCRATCH/fuzz-seeds/$target"
        rm -rf "$seeds" && mkdir -p "$seeds"
        find "$CORPUS/$target" -maxdepth 1 -type f ! -name 'finding-*' -exec cp {} "$seeds/" \;
    fi
    local log="$SCRATCH/fuzz-logs/$target.log" status=0
    mkdir -p "$(dirname "$log")"
    "$BINARY" "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$target-" ${extra[@]+"${extra[@]}"} "$work" "$seeds" >"$log" 2>&1 || status=$?
    local execs cov ft
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # Fork mode prints no final stats; its progress lines start with "#<executions>:".
    [[ -n $execs ]] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [[ $status != 0 ]]; then
        grep -E 'Fatal error|ERROR: (AddressSanitizer|libFuzzer)|Test unit written' "$log" | head -5 >&2 || true
    fi
    echo "${execs:-0} ${cov:-?} ${ft:-?} $([[ $status == 0 ]] && echo pass || echo FAIL) $log"
}

# Inputs each target runs in CI (about 10–25 s each on this 2-core machine).
ci_runs() {
    case $1 in
        request-head|response-head|token) echo 60000 ;;
        frame-tracker|proxy-header|jwks) echo 200000 ;;
        config) echo 20000 ;;
        *) echo 50000 ;;
    esac
}

# Runs every committed corpus file of $1 once through the instrumented binary; prints the
# names of those that fail (the checks and the sanitizer both apply).
replay() {
    local target=$1 failed=()
    for file in "$CORPUS/$target"/*; do
        "$BINARY" "$target" -runs=1 "$file" >/dev/null 2>&1 || failed+=("$(basename "$file")")
    done
    echo "${failed[*]:-}"
}

case "${1:-}" in
    --list)
        printf '%s\n' "${TARGETS[@]}"
        ;;
    --ci)
        seconds=${2:-25}
        start=$(date +%s)
        build
        failures=0
        summary=()
        for target in "${TARGETS[@]}"; do
            failed=$(replay "$target")
            total=$(find "$CORPUS/$target" -maxdepth 1 -type f | wc -l)
            read -r execs cov ft status log < <(run "$target" "$seconds" skip-findings)
            replayed="replay $total files: $([[ -z $failed ]] && echo pass || echo "FAIL ($failed)")"
            line="fuzz $target: $replayed; run (seed ${WSGATE_FUZZ_SEED:-1}, at most ${seconds}s): $execs execs, cov: $cov ft: $ft, $status"
            [[ -z $failed && $status == pass ]] || failures=$((failures + 1))
            summary+=("$line")
            echo "$line"
        done
        echo "fuzz summary ($(( $(date +%s) - start )) s):"
        printf '  %s\n' "${summary[@]}"
        echo "fuzz: $(( ${#summary[@]} - failures )) passed, $failures failed"
        exit $(( failures > 0 ))
        ;;
    --keep-going)
        shift
        KEEP_GOING=1 exec "$0" "$@"
        ;;
    ""|-h|--help)
        usage
        ;;
    *)
        target=$1
        seconds=${2:-600}
        [[ " ${TARGETS[*]} " == *" $target "* ]] || { echo "unknown target $target; try --list" >&2; exit 2; }
        build
        read -r execs cov ft status log < <(run "$target" "$seconds")
        echo "fuzz $target: ${seconds}s run: $execs execs, cov: $cov ft: $ft, $status (log: $log)"
        [[ $status == pass ]]
        ;;
esac
