#!/usr/bin/env bash
# wsgate side by side with the backend reached directly, HAProxy 2.6 doing the same job, and
# nginx as a plain relay. Loopback only. See bench/README.md.
#
#   bench/run.sh                       # everything (~13 min on 2 cores)
#   RUNS=1 DURATION=3 bench/run.sh     # a quick look
#   SCENARIOS="echo" TARGETS="wsgate haproxy" IDLE_COUNTS= bench/run.sh
#   SCENARIOS= IDLE_COUNTS=9000 IDLE_TARGETS="wsgate haproxy" bench/run.sh   # idle memory only
#   SCENARIOS="wss-handshake wss-handshake-resumed wss-echo upgrade-latency" IDLE_COUNTS= bench/run.sh
#
# Environment: RUNS (3), DURATION (10 s per measurement), TARGETS (direct wsgate haproxy nginx),
# SCENARIOS (handshake echo stream wss-handshake wss-handshake-resumed wss-echo upgrade-latency),
# CERTS (ecdsa rsa: the wss scenarios run once per certificate), WSS_TLS (1.3; or 1.2),
# LATENCY_CONCURRENCY (1 4 32), RESUME_C (4), IDLE_COUNTS (1000 5000 9000), IDLE_TARGETS (wsgate
# haproxy nginx), IDLE_HOLD (3 s), PROXY_CPU (1), LOAD_CPU (0), OUT (bench/results/latest), SKIP_BUILD,
# QUIET_TRIES (60: how many 5 s waits a measurement gives another engineer's release build),
# WSGATE_BIN (measure this wsgate binary instead of the one built).
# SCENARIOS may also name `storm` (reconnect storm: STORM_N 9000 connections opened, all dropped at
# once, all reconnected at concurrency STORM_C 1000, STORM_TOKENS 9000 distinct tokens; targets
# STORM_TARGETS, default "wsgate haproxy"). WSGATE_CONFIG replaces bench/wsgate/wsgate.yaml;
# TOKEN_CACHE_SIZE sets its auth.token_cache_size (0: no verified-token cache).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
TARGETS=${TARGETS:-"direct wsgate haproxy nginx"}
SCENARIOS=${SCENARIOS-"handshake echo stream wss-handshake wss-handshake-resumed wss-echo upgrade-latency"}
CERTS=${CERTS:-"ecdsa rsa"}
WSS_TLS=${WSS_TLS:-1.3}
LATENCY_CONCURRENCY=${LATENCY_CONCURRENCY:-"1 4 32"}
RESUME_C=${RESUME_C:-4}
IDLE_COUNTS=${IDLE_COUNTS-"1000 5000 9000"}
IDLE_TARGETS=${IDLE_TARGETS:-"wsgate haproxy nginx"}
IDLE_HOLD=${IDLE_HOLD:-3}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
OUT=${OUT:-$ROOT/bench/results/latest}
HANDSHAKE_C=${HANDSHAKE_C:-32}
ECHO_C=${ECHO_C:-100}
ECHO_SIZE=${ECHO_SIZE:-64}
STREAM_SIZE=${STREAM_SIZE:-1048576}
STREAM_WINDOW=${STREAM_WINDOW:-4}
STORM_N=${STORM_N:-9000}
STORM_C=${STORM_C:-1000}
STORM_TOKENS=${STORM_TOKENS:-9000}
STORM_TARGETS=${STORM_TARGETS:-"wsgate haproxy"}

BACKEND_ADDR=127.0.0.1:19001
declare -A PORT=([direct]=19001 [wsgate]=18080 [haproxy]=18081 [nginx]=18082)
# wss listeners, one per certificate (bench/wsgate/wsgate.yaml, bench/haproxy/haproxy.cfg, bench/nginx/nginx.conf).
declare -A TLS_PORT=([wsgate-ecdsa]=18443 [wsgate-rsa]=18444 [haproxy-ecdsa]=18445 [haproxy-rsa]=18446
    [nginx-ecdsa]=18447 [nginx-rsa]=18448)
ISS=https://auth.bench.local

say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- tools -------------------------------------------------------------------------------------
need_apt=()
command -v haproxy >/dev/null || need_apt+=(haproxy)
command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v openssl >/dev/null || need_apt+=(openssl)
if ((${#need_apt[@]})); then
    say "installing ${need_apt[*]}"
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is needed for the summary" >&2; exit 1; }

# --- descriptors -------------------------------------------------------------------------------
hard=$(ulimit -Hn)
ulimit -n "$hard"
say "open files: soft=$(ulimit -n) hard=$hard"
max_idle=0
for n in $IDLE_COUNTS; do ((n > max_idle)) && max_idle=$n; done
[[ " $SCENARIOS " == *" storm "* ]] && ((STORM_N > max_idle)) && max_idle=$STORM_N
if ((max_idle * 2 + 100 > $(ulimit -n))); then
    echo "ulimit -n $(ulimit -n) is too low for $max_idle proxied connections (2 descriptors each)" >&2
    exit 1
fi

# --- build -------------------------------------------------------------------------------------
# By default the measured binaries are built from a clean export of HEAD (git archive), so other
# people's uncommitted work in this tree neither breaks the build nor changes the figures; the
# dependency build in .build-bench is reused. BENCH_TREE=worktree builds the working tree instead.
BENCH_TREE=${BENCH_TREE:-head}
COMMIT=$(git rev-parse --short HEAD)
if [[ $BENCH_TREE == head ]]; then
    SRC=$(mktemp -d /tmp/wsgate-bench-src.XXXXXX)
    git archive HEAD | tar -x -C "$SRC"
    [[ -f Package.resolved ]] && cp Package.resolved "$SRC/"
else
    SRC=$ROOT
    git diff --quiet HEAD -- Sources Plugins dashboard Package.swift || COMMIT="$COMMIT+dirty"
fi
if [[ -z ${SKIP_BUILD:-} ]]; then
    say "building (release, .build-bench) from $([[ $SRC == "$ROOT" ]] && echo 'the working tree' || echo "HEAD $COMMIT")"
    for product in wsgate wsgate-bench; do
        swift build -c release --package-path "$SRC" --scratch-path "$ROOT/.build-bench" --product "$product" >&2
    done
fi
[[ $SRC != "$ROOT" ]] && rm -rf "$SRC"
BIN=$ROOT/.build-bench/release
WSGATE=${WSGATE_BIN:-$BIN/wsgate} # WSGATE_BIN: another build of wsgate, for an A/B of one change
BENCH=$BIN/wsgate-bench

# --- work dir, keys ----------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/wsgate-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/private.pem" 2>/dev/null
openssl pkey -in "$WORK/private.pem" -pubout -out "$WORK/public.pem"
cp "${WSGATE_CONFIG:-bench/wsgate/wsgate.yaml}" "$WORK/wsgate.yaml"
# TOKEN_CACHE_SIZE=0: every handshake checks its signature, as HAProxy's does (the "plain" handshake).
[[ -n ${TOKEN_CACHE_SIZE:-} ]] && sed -i "s|^auth:\$|auth:\n  token_cache_size: $TOKEN_CACHE_SIZE|" "$WORK/wsgate.yaml"
mkdir -p "$WORK/nginx/tmp" "$OUT"
# Server certificates for the wss scenarios (CN and SAN localhost / 127.0.0.1, self-signed: the
# clients do not verify, so only the proxies' work is measured). HAProxy takes cert + key in one file.
san="subjectAltName=DNS:localhost,IP:127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" \
    -days 2 -subj /CN=localhost -addext "$san" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" \
    -days 2 -subj /CN=localhost -addext "$san" 2>/dev/null
for c in ecdsa rsa; do cat "$WORK/$c.crt" "$WORK/$c.key" >"$WORK/$c.pem"; done
export BENCH_CERT_ECDSA=$WORK/ecdsa.pem BENCH_CERT_RSA=$WORK/rsa.pem
sed "s|@WORK@|$WORK|g" bench/nginx/nginx.conf >"$WORK/nginx/nginx.conf"
rm -f "$OUT"/*.json
export BENCH_PUBKEY=$WORK/public.pem BENCH_BACKEND=$BACKEND_ADDR
TOKEN_ARGS=(--key "$WORK/private.pem" --alg RS256 --kid bench-rsa --iss "$ISS" --aud chat --claim role=member --sub bench-user)

wait_port() { # port
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listening on $1" >&2
    return 1
}

# Measurements wait while another engineer's release build runs (noisy figures otherwise).
wait_quiet() {
    for _ in $(seq 1 "${QUIET_TRIES:-60}"); do
        if ! pgrep -f 'swift-build.*-c release' | grep -v "^$$\$" | xargs -r ps -o args= -p 2>/dev/null | grep -qv -- '--scratch-path .build-bench'; then
            return 0
        fi
        say "another release build is running; waiting"
        sleep 5
    done
}

# --- processes ---------------------------------------------------------------------------------
taskset -c "$LOAD_CPU" "$WSGATE" echo-backend --listen "$BACKEND_ADDR" >"$WORK/backend.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID")
wait_port 19001

declare -A PROXY_PID=()
start_proxy() { # name
    case $1 in
    wsgate)
        taskset -c "$PROXY_CPU" "$WSGATE" serve --config "$WORK/wsgate.yaml" --threads 1 >/dev/null 2>"$WORK/wsgate.err" &
        ;;
    haproxy)
        taskset -c "$PROXY_CPU" haproxy -db -f bench/haproxy/haproxy.cfg >/dev/null 2>"$WORK/haproxy.err" &
        ;;
    nginx)
        taskset -c "$PROXY_CPU" nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" >/dev/null 2>"$WORK/nginx.err" &
        ;;
    *) return 0 ;;
    esac
    PROXY_PID[$1]=$!
    PIDS+=("$!")
    wait_port "${PORT[$1]}"
}
stop_proxy() { # name
    local pid=${PROXY_PID[$1]:-}
    [[ -z $pid ]] && return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PROXY_PID[$1]"
}
watch_args() { # target
    if [[ $1 == direct ]]; then echo "--watch-pid $BACKEND_PID"; else echo "--watch-pid ${PROXY_PID[$1]} --watch-pid $BACKEND_PID"; fi
}
url() { echo "ws://127.0.0.1:${PORT[$1]}/ws/chat"; }
wss_url() { echo "wss://127.0.0.1:${TLS_PORT[$1-$2]}/ws/chat"; } # target cert
# The wss scenarios run against the proxies only (the backend speaks no TLS).
resume_token() { # one token for the Python resumption client (wsgate-bench mints its own)
    "$WSGATE" token --key "$WORK/private.pem" --alg RS256 --kid bench-rsa --iss "$ISS" --aud chat \
        --claim role=member --sub bench-user --ttl 2h
}
wss_targets() { for t in $TARGETS; do [[ $t != direct ]] && echo "$t"; done; }

for t in $TARGETS; do start_proxy "$t"; done
say "backend $BACKEND_PID; proxies: $(for t in "${!PROXY_PID[@]}"; do printf '%s=%s ' "$t" "${PROXY_PID[$t]}"; done)"

{
    echo "{\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"commit\":\"$COMMIT\","
    echo "\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\",\"cores\":$(nproc),"
    echo "\"kernel\":\"$(uname -r)\",\"haproxy\":\"$(haproxy -v | head -1 | awk '{print $3}')\",\"nginx\":\"$(nginx -v 2>&1 | cut -d/ -f2)\","
    echo "\"swift\":\"$(swift --version 2>/dev/null | head -1 | sed 's/"/\\"/g')\",\"runs\":$RUNS,\"duration\":$DURATION,"
    echo "\"proxy_cpu\":$PROXY_CPU,\"load_cpu\":$LOAD_CPU,\"handshake_c\":$HANDSHAKE_C,\"echo_c\":$ECHO_C,\"echo_size\":$ECHO_SIZE,\"stream_size\":$STREAM_SIZE,\"stream_window\":$STREAM_WINDOW,"
    echo "\"wss_tls\":\"$WSS_TLS\",\"resume_c\":$RESUME_C,\"latency_concurrency\":\"$LATENCY_CONCURRENCY\",\"storm_n\":$STORM_N,\"storm_c\":$STORM_C,\"storm_tokens\":$STORM_TOKENS}"
} >"$OUT/machine.json"

# --- throughput scenarios, targets interleaved within each run ---------------------------------
measure() { # scenario target out-file args...: one wsgate-bench measurement
    local scenario=$1 t=$2 file=$3
    shift 3
    wait_quiet
    say "run $run/$RUNS ${file%.json} $t"
    # shellcheck disable=SC2046
    taskset -c "$LOAD_CPU" "$BENCH" "$scenario" "${TOKEN_ARGS[@]}" $(watch_args "$t") \
        --label "$t" --duration "$DURATION" "$@" --json >"$OUT/$file"
}
for run in $(seq 1 "$RUNS"); do
    for scenario in $SCENARIOS; do
        case $scenario in
        handshake | echo | stream)
            for t in $TARGETS; do
                case $scenario in
                handshake) args=(--concurrency "$HANDSHAKE_C") ;;
                echo) args=(--concurrency "$ECHO_C" --size "$ECHO_SIZE") ;;
                stream) args=(--concurrency 1 --size "$STREAM_SIZE" --window "$STREAM_WINDOW") ;;
                esac
                measure "$scenario" "$t" "$scenario-$t-$run.json" --url "$(url "$t")" "${args[@]}"
            done
            ;;
        wss-handshake | wss-echo)
            for cert in $CERTS; do
                for t in $(wss_targets); do
                    case $scenario in
                    wss-handshake) args=(handshake --concurrency "$HANDSHAKE_C") ;;
                    wss-echo) args=(echo --concurrency "$ECHO_C" --size "$ECHO_SIZE") ;;
                    esac
                    measure "${args[0]}" "$t" "$scenario-$cert-$t-$run.json" --url "$(wss_url "$t" "$cert")" \
                        --tls-version "$WSS_TLS" "${args[@]:1}"
                done
            done
            ;;
        wss-handshake-resumed)
            token=$(resume_token)
            for cert in $CERTS; do
                for t in $(wss_targets); do
                    wait_quiet
                    say "run $run/$RUNS $scenario-$cert $t"
                    # shellcheck disable=SC2046
                    taskset -c "$LOAD_CPU" python3 bench/wss_resume.py --url "$(wss_url "$t" "$cert")" --token "$token" \
                        $(watch_args "$t") --label "$t" --duration "$DURATION" --concurrency "$RESUME_C" \
                        >"$OUT/$scenario-$cert-$t-$run.json"
                done
            done
            ;;
        upgrade-latency)
            # Request → 101 over wss (ECDSA), clients with and without TCP_NODELAY.
            for c in $LATENCY_CONCURRENCY; do
                for nodelay in on off; do
                    for t in $(wss_targets); do
                        [[ $t == nginx ]] && continue # no auth: not the same job
                        measure handshake "$t" "latency-c$c-nodelay-$nodelay-$t-$run.json" \
                            --url "$(wss_url "$t" ecdsa)" --tls-version "$WSS_TLS" --concurrency "$c" --nodelay "$nodelay"
                    done
                done
            done
            ;;
        storm)
            for t in $STORM_TARGETS; do
                wait_quiet
                # A fresh proxy: the storm starts from N relayed connections and nothing else.
                stop_proxy "$t"
                start_proxy "$t"
                say "run $run/$RUNS storm $STORM_N at $STORM_C $t"
                # shellcheck disable=SC2046
                taskset -c "$LOAD_CPU" "$BENCH" storm --url "$(url "$t")" "${TOKEN_ARGS[@]}" $(watch_args "$t") \
                    --label "$t" --connections "$STORM_N" --concurrency "$STORM_C" --tokens "$STORM_TOKENS" --tokens-file "$WORK/storm-tokens.txt" \
                    --source-addresses 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --json >"$OUT/storm-$t-$run.json"
            done
            ;;
        *) echo "unknown scenario $scenario" >&2; exit 1 ;;
        esac
    done
done

# --- idle connections: RSS per proxied connection; 9k held while new clients handshake -------------
for run in $(seq 1 "$RUNS"); do
    for n in $IDLE_COUNTS; do
        for t in $IDLE_TARGETS; do
            wait_quiet
            # A fresh proxy for each count: the RSS growth is then the connections' alone.
            stop_proxy "$t"
            start_proxy "$t"
            sleep 0.5
            hold=$IDLE_HOLD
            ((n == max_idle)) && hold=$((DURATION + 4))
            rm -f "$WORK/ready"
            say "run $run/$RUNS idle $n $t"
            # shellcheck disable=SC2046
            taskset -c "$LOAD_CPU" "$BENCH" idle --url "$(url "$t")" "${TOKEN_ARGS[@]}" $(watch_args "$t") \
                --label "$t" --connections "$n" --hold "$hold" --ready-file "$WORK/ready" \
                --source-addresses 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --json >"$OUT/idle-$n-$t-$run.json" &
            idle_pid=$!
            if ((n == max_idle)); then
                for _ in $(seq 1 600); do [[ -f $WORK/ready ]] && break; sleep 0.1; done
                say "  $(cat "$WORK/ready" 2>/dev/null || echo '?') held; handshakes meanwhile"
                # shellcheck disable=SC2046
                taskset -c "$LOAD_CPU" "$BENCH" handshake --url "$(url "$t")" "${TOKEN_ARGS[@]}" $(watch_args "$t") \
                    --label "$t" --duration "$DURATION" --concurrency "$HANDSHAKE_C" \
                    --source-addresses 127.0.0.6,127.0.0.7 --json >"$OUT/loaded-handshake-$n-$t-$run.json"
            fi
            wait "$idle_pid"
        done
    done
done

for t in "${!PROXY_PID[@]}"; do stop_proxy "$t"; done
python3 bench/summarize.py "$OUT" | tee "$OUT/summary.md"
