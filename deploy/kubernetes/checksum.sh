#!/usr/bin/env bash
# Writes the sha256 of each kustomization's wsgate.yaml into its pod-template annotation
# `checksum/config`, so that changing the config changes the pod template and the pods roll.
#   deploy/kubernetes/checksum.sh          # after editing base/wsgate.yaml or an overlay's
set -euo pipefail
cd "$(dirname "$0")"
stamp() {  # stamp CONFIG MANIFEST
  local sum
  sum="$(sha256sum "$1" | cut -d' ' -f1)"
  sed -i -E "s|(checksum/config: )\"[0-9a-f]{64}\"|\1\"$sum\"|" "$2"
}
stamp base/wsgate.yaml base/deployment.yaml
stamp overlays/postgres-cluster/wsgate.yaml overlays/postgres-cluster/deployment-patch.yaml
