#!/usr/bin/env bash
# Verified-token cache and handshake CPU (issue 16): RS256 handshakes with 1 token repeated and
# with TOKENS (100,000) distinct tokens, on a gateway with the cache (default token_cache_size)
# and one without (token_cache_size: 0), next to HS256 handshakes on the cacheless gateway and
# HAProxy doing the RS256 job; then the forged kid-less token flood (wsgate-bench verify
# --forged-keys 10). See bench/README.md.
#
#   bench/cache.sh                     # RUNS=3 DURATION=10 TOKENS=100000; builds like run.sh
#   SKIP_BUILD=1 bench/cache.sh        # reuse .build-bench/release
#
# Pinning and processes as in run.sh: the gateways and HAProxy on CPU 1 (PROXY_CPU), the echo
# backend and the load on CPU 0 (LOAD_CPU); one measurement at a time, the rows interleaved
# within each run. Tokens are minted once into files (signing 100,000 RS256 tokens takes a while
# and is not measured).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
TOKENS=${TOKENS:-100000}
CONCURRENCY=${CONCURRENCY:-32}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
OUT=${OUT:-$ROOT/bench/results/cache}
ISS=https://auth.bench.local
# Ports of their own (run.sh's 18080-18082 and 19001 may be busy with another engineer's run).
BACKEND_PORT=${BACKEND_PORT:-29001}
CACHED_PORT=${CACHED_PORT:-28080}
UNCACHED_PORT=${UNCACHED_PORT:-28083}
HAPROXY_PORT=${HAPROXY_PORT:-28081}
say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [[ -z ${SKIP_BUILD:-} ]]; then
    SRC=$(mktemp -d /tmp/wsgate-bench-src.XXXXXX)
    git archive HEAD | tar -x -C "$SRC"
    for product in wsgate wsgate-bench; do
        swift build -c release --package-path "$SRC" --scratch-path "$ROOT/.build-bench" --product "$product" >&2
    done
    rm -rf "$SRC"
fi
BIN=$ROOT/.build-bench/release
mkdir -p "$OUT"
rm -f "$OUT"/*.json
WORK=$(mktemp -d /tmp/wsgate-cache-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/private.pem" 2>/dev/null
openssl pkey -in "$WORK/private.pem" -pubout -out "$WORK/public.pem"
export BENCH_HS_SECRET=bench-hs256-secret-0123456789abcdef0123
export BENCH_PUBKEY=$WORK/public.pem BENCH_BACKEND=127.0.0.1:$BACKEND_PORT
# The run.sh configuration plus an HS256 key, without its wss listeners (their certificates are
# run.sh's); `uncached` (UNCACHED_PORT) has the cache off.
hs_key='  - {id: bench-hs, algorithms: [HS256], secret_env: BENCH_HS_SECRET}'
no_tls='/address: 127.0.0.1:18443/,/private_key_file: rsa.key/d'
sed -e "$no_tls" -e "s/127.0.0.1:18080/127.0.0.1:$CACHED_PORT/" -e "s/127.0.0.1:19001/127.0.0.1:$BACKEND_PORT/" -e "/^auth:/i\\$hs_key" \
    bench/wsgate/wsgate.yaml >"$WORK/cached.yaml"
sed -e "$no_tls" -e "s/127.0.0.1:18080/127.0.0.1:$UNCACHED_PORT/" -e "s/127.0.0.1:19001/127.0.0.1:$BACKEND_PORT/" -e "/^auth:/i\\$hs_key" \
    -e '/^auth:/a\  token_cache_size: 0' bench/wsgate/wsgate.yaml >"$WORK/uncached.yaml"
sed -e "s/127.0.0.1:18081/127.0.0.1:$HAPROXY_PORT/" -e '/^ *bind .* ssl /d' bench/haproxy/haproxy.cfg >"$WORK/haproxy.cfg"
for port in $BACKEND_PORT $CACHED_PORT $UNCACHED_PORT $HAPROXY_PORT; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is busy" >&2; exit 1; fi
done

taskset -c "$LOAD_CPU" "$BIN/wsgate" echo-backend --listen 127.0.0.1:$BACKEND_PORT >/dev/null 2>&1 &
PIDS+=($!)
BACKEND_PID=$!
taskset -c "$PROXY_CPU" "$BIN/wsgate" serve --config "$WORK/cached.yaml" --threads 1 >/dev/null 2>"$WORK/cached.err" &
PIDS+=($!)
CACHED_PID=$!
taskset -c "$PROXY_CPU" "$BIN/wsgate" serve --config "$WORK/uncached.yaml" --threads 1 >/dev/null 2>"$WORK/uncached.err" &
PIDS+=($!)
UNCACHED_PID=$!
taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg" >/dev/null 2>"$WORK/haproxy.err" &
PIDS+=($!)
HAPROXY_PID=$!
for port in $BACKEND_PORT $CACHED_PORT $UNCACHED_PORT $HAPROXY_PORT; do
    for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    # A process that did not start (a configuration run.sh changed) fails the run, not its figures.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "nothing listening on $port:" >&2
        cat "$WORK"/*.err >&2
        exit 1
    fi
done

RS=(--key "$WORK/private.pem" --alg RS256 --kid bench-rsa --iss "$ISS" --aud chat --claim role=member --sub bench-user)
HS=(--secret-env BENCH_HS_SECRET --alg HS256 --kid bench-hs --iss "$ISS" --aud chat --claim role=member --sub bench-user)
say "minting $TOKENS RS256 tokens (not measured)"
taskset -c "$LOAD_CPU" "$BIN/wsgate-bench" handshake --url ws://127.0.0.1:$BACKEND_PORT/ws/chat "${RS[@]}" --tokens "$TOKENS" \
    --tokens-file "$WORK/rs-many.txt" --duration 0.5 --concurrency 1 >/dev/null
"$BIN/wsgate-bench" handshake --url ws://127.0.0.1:$BACKEND_PORT/ws/chat "${RS[@]}" --tokens 1 --tokens-file "$WORK/rs-one.txt" --duration 0.5 --concurrency 1 >/dev/null
"$BIN/wsgate-bench" handshake --url ws://127.0.0.1:$BACKEND_PORT/ws/chat "${HS[@]}" --tokens 1 --tokens-file "$WORK/hs-one.txt" --duration 0.5 --concurrency 1 >/dev/null

# name port pid tokens-file
ROWS=(
    "rs256-distinct-nocache $UNCACHED_PORT $UNCACHED_PID rs-many"
    "rs256-distinct-cache $CACHED_PORT $CACHED_PID rs-many"
    "rs256-repeated-nocache $UNCACHED_PORT $UNCACHED_PID rs-one"
    "rs256-repeated-cache $CACHED_PORT $CACHED_PID rs-one"
    "hs256-repeated-nocache $UNCACHED_PORT $UNCACHED_PID hs-one"
    "haproxy-rs256-distinct $HAPROXY_PORT $HAPROXY_PID rs-many"
)
for run in $(seq 1 "$RUNS"); do
    for row in "${ROWS[@]}"; do
        read -r name port pid file <<<"$row"
        say "run $run/$RUNS $name"
        taskset -c "$LOAD_CPU" "$BIN/wsgate-bench" handshake --url "ws://127.0.0.1:$port/ws/chat" \
            --tokens-file "$WORK/$file.txt" --watch-pid "$pid" --watch-pid "$BACKEND_PID" --label "$name" \
            --duration "$DURATION" --concurrency "$CONCURRENCY" --json >"$OUT/$name-$run.json"
    done
done

python3 - "$OUT" "$RUNS" <<'EOF'
import json, statistics, sys, glob, os
out, runs = sys.argv[1], int(sys.argv[2])
names = ["rs256-distinct-nocache", "rs256-distinct-cache", "rs256-repeated-nocache", "rs256-repeated-cache", "hs256-repeated-nocache", "haproxy-rs256-distinct"]
med = {}
print("| handshake (32 connections) | handshakes/s | p50 µs | p99 µs | proxy CPU ms / 1000 | runs (CPU ms / 1000) | errors |")
print("|---|---:|---:|---:|---:|---|---:|")
for name in names:
    rs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(out, f"{name}-*.json")))]
    if not rs: continue
    cpu = [r["watched"][0]["cpuMillisecondsPer1000Operations"] for r in rs]
    med[name] = statistics.median(cpu)
    print(f"| {name} | {statistics.median(r['operationsPerSecond'] for r in rs):,.1f} | {statistics.median(r['latencyMicroseconds']['p50'] for r in rs):,} | "
          f"{statistics.median(r['latencyMicroseconds']['p99'] for r in rs):,} | {med[name]:.2f} | {' / '.join(f'{c:.1f}' for c in cpu)} | {sum(r['errors'] for r in rs)} |")
if "rs256-repeated-cache" in med and "hs256-repeated-nocache" in med:
    print(f"\nrepeated RS256 with the cache ÷ HS256 handshake: {med['rs256-repeated-cache'] / med['hs256-repeated-nocache']:.2f} (target ≤ 1)")
if "rs256-distinct-nocache" in med and "haproxy-rs256-distinct" in med:
    print(f"RS256 distinct tokens, no cache ÷ HAProxy: {med['rs256-distinct-nocache'] / med['haproxy-rs256-distinct']:.2f}; "
          f"with the cache (all misses) ÷ HAProxy: {med['rs256-distinct-cache'] / med['haproxy-rs256-distinct']:.2f}")
EOF

say "forged kid-less tokens, 10 keys"
taskset -c "$LOAD_CPU" "$BIN/wsgate-bench" verify --forged-keys 10 --runs 5 --seconds 1
