#!/usr/bin/env bash
# Installs what building wsgate needs on Debian/Ubuntu, or says exactly what is missing.
# Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
  echo "wsgate: the Swift toolchain (6.0 or later) is not on PATH; install it from swift.org first." >&2
  exit 1
fi

missing=()
for pkg in libssl-dev libjansson-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "wsgate: missing system packages: ${missing[*]}; install them with: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "wsgate: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
