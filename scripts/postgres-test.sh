#!/usr/bin/env bash
# A throwaway PostgreSQL for the cluster tests (Swift and interop): Debian's `postgresql`
# (installed when missing), a fresh cluster in DIR, run as an unprivileged user (PostgreSQL
# refuses root), listening on 127.0.0.1 only, on a free port, its unix socket inside DIR.
#
#   scripts/postgres-test.sh start DIR    # initdb + start; prints the URL (postgres://…); DIR is
#                                         # created, its parent must be reachable by `nobody` (/tmp)
#   scripts/postgres-test.sh pause DIR    # stop the server, keep the data (outage tests)
#   scripts/postgres-test.sh resume DIR   # start it again on the same port
#   scripts/postgres-test.sh stop DIR     # stop and delete DIR
set -euo pipefail
exec </dev/null

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|pause|resume|stop DIR" >&2; exit 2; }
log() { echo "postgres-test: $*" >&2; }

bin_dir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

ensure_installed() {
  bin_dir >/dev/null && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache policy postgresql 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    log "apt-get update (postgresql not known yet)"
    $sudo apt-get update -qq
  fi
  log "installing postgresql"
  # The package's own cluster is not wanted: tests make their own.
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bin_dir >/dev/null || { log "no initdb under /usr/lib/postgresql after installing"; exit 1; }
}

# as_owner CMD...: runs CMD as the unprivileged owner of DIR when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

pg_start() {
  local bin port
  bin="$(bin_dir)"
  port="$(cat "$dir/port")"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
}

case "$cmd" in
  start)
    ensure_installed
    bin="$(bin_dir)"
    mkdir -p "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    echo "$port" >"$dir/port"
    password="wsgate-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$password" >"$dir/pwfile"
    [ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$dir"
    chmod 700 "$dir"
    # SCRAM over TCP: the tests use the same password path as production.
    as_owner "$bin/initdb" -D "$dir/data" -U wsgate --pwfile="$dir/pwfile" --auth-host=scram-sha-256 \
      --auth-local=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    pg_start || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://wsgate:$password@127.0.0.1:$port/postgres?sslmode=disable"
    ;;
  pause)
    as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    pg_start || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    if [ -d "$dir/data" ]; then as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|pause|resume|stop DIR" >&2; exit 2 ;;
esac
