#!/usr/bin/env python3
"""Builds wsgate's container image as an OCI image layout, without a Docker engine or a base image.

    swift build -c release --static-swift-stdlib --product wsgate --scratch-path .build-release
    deploy/container/build-oci.py [--binary .build-release/release/wsgate] [--out .build-image] [--tag TAG]

The one layer holds what `Containerfile` assembles: the binary at /usr/local/bin/wsgate, the
shared libraries `ldd` says it needs (and the dynamic loader) at the paths it names, the build
machine's CA bundle, /etc/passwd and /etc/group naming the unprivileged user 65532 (`nonroot`),
and /var/lib/wsgate (`state_dir`) owned by it. The tar is reproducible: sorted, numeric owners,
mtime 0. The layout (`oci-layout`, `index.json`, `blobs/sha256/…`) loads with
`skopeo copy oci:.build-image:wsgate docker-daemon:wsgate:latest`, `podman load` (after `tar -C
.build-image -cf wsgate.tar .`), or unpacks with `umoci unpack --image .build-image:wsgate rootfs`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

USER = 65532
CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]


def shared_libraries(binary: Path) -> list[Path]:
    """Every library `ldd` resolves for `binary`, the dynamic loader included; fails on one it cannot find."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if out.returncode != 0 and "not a dynamic executable" in (out.stdout + out.stderr):
        return []
    libraries = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            sys.exit(f"build-oci: {binary} needs a library ldd cannot find: {line}")
        match = re.search(r"(/\S+) \(0x[0-9a-f]+\)$", line)
        if match:
            libraries.append(Path(match[1]))
    return libraries


class Layer:
    """A reproducible tar: entries in the order added, root-owned unless said, mtime 0."""

    def __init__(self):
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)
        self.seen: set[str] = set()

    def directory(self, path: str, mode: int = 0o755, owner: int = 0):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            name = "/".join(parts[:i])
            if name in self.seen:
                continue
            self.seen.add(name)
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode if i == len(parts) else 0o755
            info.uid = info.gid = owner if i == len(parts) else 0
            self.tar.addfile(info)

    def file(self, path: str, data: bytes, mode: int = 0o644):
        self.directory(os.path.dirname(path.strip("/")))
        info = tarfile.TarInfo(path.strip("/"))
        info.size = len(data)
        info.mode = mode
        self.seen.add(info.name)
        self.tar.addfile(info, io.BytesIO(data))

    def symlink(self, path: str, target: str):
        self.directory(os.path.dirname(path.strip("/")))
        info = tarfile.TarInfo(path.strip("/"))
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self.seen.add(info.name)
        self.tar.addfile(info)

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def blob(blobs: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build-release/release/wsgate")
    parser.add_argument("--out", default=".build-image")
    parser.add_argument("--tag", default="wsgate")
    args = parser.parse_args()
    binary = Path(args.binary).resolve()
    if not binary.is_file():
        sys.exit(f"build-oci: no binary at {binary}; build it first (see the top of this file)")

    layer = Layer()
    layer.file("/usr/local/bin/wsgate", binary.read_bytes(), 0o755)
    for library in shared_libraries(binary):
        # The path ldd printed, and its real file's content (libraries are often symlinks).
        layer.file(str(library), library.resolve().read_bytes(), 0o755)
    bundle = next((Path(p) for p in CA_BUNDLES if Path(p).is_file()), None)
    if bundle is None:
        sys.exit("build-oci: no CA bundle on this machine (install ca-certificates)")
    ca = bundle.read_bytes()
    layer.file("/etc/ssl/certs/ca-certificates.crt", ca)
    layer.file("/etc/passwd", f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER}:{USER}:nonroot:/home/nonroot:/sbin/nologin\n".encode())
    layer.file("/etc/group", f"root:x:0:\nnonroot:x:{USER}:\n".encode())
    layer.file("/etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    layer.directory("/etc/wsgate")
    layer.directory("/var/lib/wsgate", 0o700, USER)
    layer.directory("/home/nonroot", 0o700, USER)
    layer.directory("/tmp", 0o1777)
    tar = layer.bytes()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    # mtime 0 in the gzip header too, so the compressed digest is reproducible.
    compressed = gzip.compress(tar, compresslevel=9, mtime=0)

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(blobs, compressed)}
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {
            "User": f"{USER}:{USER}",
            "Entrypoint": ["/usr/local/bin/wsgate"],
            "Cmd": ["serve", "--config", "/etc/wsgate/wsgate.yaml", "--log-format", "json"],
            "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
            "Env": ["PATH=/usr/local/bin", "TZ=UTC", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "WorkingDir": "/",
            "StopSignal": "SIGTERM",
            "Labels": {"org.opencontainers.image.title": "wsgate"},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "deploy/container/build-oci.py"}],
    }
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **blob(blobs, json.dumps(config, sort_keys=True, separators=(",", ":")).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     **blob(blobs, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()),
                     "annotations": {"org.opencontainers.image.ref.name": args.tag}}
    (out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                                "manifests": [manifest_desc]}, indent=2))
    print(f"build-oci: {out}/ tag {args.tag}: layer {len(compressed)} bytes compressed, {len(tar)} uncompressed "
          f"({len(shared_libraries(binary))} shared libraries)")


if __name__ == "__main__":
    main()
