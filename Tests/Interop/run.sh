#!/usr/bin/env bash
# Interop and differential conformance tests for wsgate, against software we did not write:
# Python `websockets` (client and server), Node `ws` (Debian's node-ws), PyJWT, and a real browser
# (Debian's chromium, headless).
#
#   Tests/Interop/run.sh [--wsgate PATH] [extra pytest args...]
#
# Installs what is missing first (pip packages from requirements.txt; node-ws and chromium with
# apt-get, running `apt-get update` only when a package is unknown), then runs pytest on Tests/Interop. The
# gateway binary defaults to $WSGATE_BIN, else .build/debug/wsgate under the repository root; build
# it first (`swift build`). Non-interactive (CI=true, no stdin); exits non-zero on any failure.
set -euo pipefail
exec </dev/null

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
wsgate="${WSGATE_BIN:-.build/debug/wsgate}"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wsgate) wsgate="$2"; shift 2 ;;
    --wsgate=*) wsgate="${1#--wsgate=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$wsgate" in /*) ;; *) wsgate="$repo/$wsgate" ;; esac

python="${PYTHON:-python3}"
log() { echo "interop: $*" >&2; }

# apt_install PACKAGE: apt-get install, running apt-get update first only when the package is unknown.
apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else log "$1 is missing and this user cannot run apt-get"; return 1; fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  local policy
  policy="$(apt-cache policy "$1" 2>/dev/null || true)"
  if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
    log "apt-get update ($1 not known yet)"
    $sudo apt-get update -qq
  fi
  log "installing $1"
  $sudo apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

# Python packages (websockets >= 13 is not in Debian 12, so pip).
if ! "$python" -c 'import websockets.asyncio.client, jwt, cryptography, pytest, kubernetes_validate' 2>/dev/null; then
  "$python" -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  log "installing Python packages from requirements.txt"
  "$python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" 2>/dev/null \
    || "$python" -m pip install -q --disable-pip-version-check --break-system-packages -r "$here/requirements.txt"
fi

# Node and the ws module (Debian installs node modules under /usr/share/nodejs). node-ws depends
# on nodejs:any, so an installed nodejs (e.g. NodeSource's 20.x) satisfies it and is kept.
export NODE_PATH="/usr/share/nodejs:/usr/lib/nodejs${NODE_PATH:+:$NODE_PATH}"
node_ok() { command -v node >/dev/null 2>&1 && node -e 'require("ws")' >/dev/null 2>&1; }
if ! node_ok; then
  apt_install node-ws
  node_ok || { log "node cannot load ws after installing node-ws (NODE_PATH=$NODE_PATH)"; exit 1; }
fi

# A real browser for test_browser.py (Debian's chromium, run headless; no sandbox package needed
# since the test passes --no-sandbox). WSGATE_CHROMIUM overrides the binary the test uses.
if [ -z "${WSGATE_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium
  command -v chromium >/dev/null 2>&1 || { log "chromium is not on PATH after installing it"; exit 1; }
fi

# The deployment tests: Debian's haproxy (test_deploy_haproxy.py, the L4 balancer in front of three
# instances) and systemd's systemd-socket-activate and systemd-analyze (test_deploy_systemd.py).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || apt_install haproxy
command -v systemd-socket-activate >/dev/null 2>&1 || apt_install systemd

if [ ! -x "$wsgate" ]; then
  log "wsgate binary not found at $wsgate (build it with 'swift build', or pass --wsgate PATH); the tests will fail"
fi

cd "$repo"
export WSGATE_BIN="$wsgate"
exec "$python" -m pytest -q -c "$here/pytest.ini" --rootdir "$here" "$here" --wsgate "$wsgate" ${args[@]+"${args[@]}"}
