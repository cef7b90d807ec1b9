"""deploy/container: the OCI image layout that build-oci.py writes from a release build.

Building the image is slow (a static release build), so it is not part of the suite: build it
with

    swift build -c release --static-swift-stdlib --product wsgate --scratch-path .build-release
    deploy/container/build-oci.py --binary .build-release/release/wsgate --out .build-image

and these tests check it (WSGATE_IMAGE_DIR names another layout). Without a layout they skip.
Then the image is proven by running it: its layer is unpacked into a root filesystem and
`wsgate demo` starts from it under chroot as uid/gid 65532 (the image's user), with an empty
environment; a `websockets` client connects through it with the token the demo prints.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from harness import ManagedProcess, free_port, wait_tcp

REPO = Path(__file__).resolve().parents[2]
IMAGE = Path(os.environ.get("WSGATE_IMAGE_DIR", REPO / ".build-image"))
USER = 65532


@pytest.fixture(scope="module")
def image() -> dict:
    if not (IMAGE / "index.json").exists():
        pytest.skip(f"no image layout at {IMAGE}: build it with deploy/container/build-oci.py (see this file)")

    def read_blob(descriptor: dict) -> bytes:
        algorithm, digest = descriptor["digest"].split(":")
        data = (IMAGE / "blobs" / algorithm / digest).read_bytes()
        # Content addressing: every blob is what its descriptor says, byte for byte.
        assert algorithm == "sha256" and hashlib.sha256(data).hexdigest() == digest, descriptor
        assert len(data) == descriptor["size"], descriptor
        return data

    assert json.loads((IMAGE / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((IMAGE / "index.json").read_text())
    assert index["schemaVersion"] == 2 and len(index["manifests"]) == 1
    manifest_desc = index["manifests"][0]
    assert manifest_desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    manifest = json.loads(read_blob(manifest_desc))
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = json.loads(read_blob(manifest["config"]))
    layers = [read_blob(d) for d in manifest["layers"]]
    assert [d["mediaType"] for d in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    tars = [gzip.decompress(data) for data in layers]
    # diff_ids are the digests of the uncompressed layers (OCI image spec, config.md).
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]
    size = sum(d["size"] for d in manifest["layers"]) + manifest["config"]["size"] + manifest_desc["size"]
    print(f"image: {IMAGE}: {size} bytes compressed ({sum(len(t) for t in tars)} uncompressed)")
    return {"config": config, "tar": tars[0], "size": size}


def test_image_config_and_files(image):
    config = image["config"]["config"]
    assert image["config"]["os"] == "linux"
    assert config["User"] == f"{USER}:{USER}"
    assert config["Entrypoint"] == ["/usr/local/bin/wsgate"]
    with tarfile.open(fileobj=io.BytesIO(image["tar"])) as tar:
        members = {m.name: m for m in tar.getmembers()}
    binary = members["usr/local/bin/wsgate"]
    assert binary.isfile() and binary.mode & 0o111
    assert members["etc/ssl/certs/ca-certificates.crt"].size > 0
    assert members["var/lib/wsgate"].uid == USER and members["var/lib/wsgate"].isdir()
    assert all(m.uid in (0, USER) for m in members.values())
    # No setuid or setgid file in the image.
    assert not [m.name for m in members.values() if m.mode & 0o6000]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_demo_runs_from_the_unpacked_root_as_65532(image, tmp_path):
    # Unpacked by a third-party OCI tool when there is one (Debian's umoci reads the layout and
    # checks every digest itself), else from the layer tar directly.
    if shutil.which("umoci"):
        bundle = tmp_path / "bundle"
        result = subprocess.run(["umoci", "unpack", "--image", f"{IMAGE}:wsgate", str(bundle)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        rootfs = bundle / "rootfs"
    else:
        rootfs = tmp_path / "rootfs"
        with tarfile.open(fileobj=io.BytesIO(image["tar"])) as tar:
            tar.extractall(rootfs, numeric_owner=True, filter="fully_trusted")
    assert (rootfs / "var/lib/wsgate").stat().st_uid == USER
    port, backend_port, admin_port = free_port(), free_port(), free_port()
    # An empty environment: nothing from this machine leaks in; the image's own Env is applied.
    env = dict(e.split("=", 1) for e in image["config"]["config"]["Env"])
    # As a container runtime does: /proc mounted in the root (the Swift runtime of a
    # --static-swift-stdlib binary reads its arguments from /proc/self/cmdline; without it
    # `wsgate demo` sees no arguments, prints its help and exits 0), in a mount namespace of its
    # own so the mount ends with the process. unshare and sh exec, so the pid stays wsgate's.
    (rootfs / "proc").mkdir(exist_ok=True)
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    mount = shutil.which("mount") or "/usr/bin/mount"  # by path: the child's PATH is the image's
    script = (f'root="$1"; shift; {mount} -t proc proc "$root/proc" && '
              f'exec {chroot} --userspec={USER}:{USER} "$root" /usr/local/bin/wsgate "$@"')
    argv = [shutil.which("unshare") or "/usr/bin/unshare", "--mount", "--", "/bin/sh", "-c", script, "sh", str(rootfs),
            "demo", "--port", str(port), "--backend-port", str(backend_port), "--admin-port", str(admin_port)]
    demo = ManagedProcess("image-demo", argv, env=env, log_dir=tmp_path)
    try:
        wait_tcp("127.0.0.1", port, 30, demo)
        status = Path(f"/proc/{demo.proc.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{USER}\s+{USER}\s+{USER}\s+{USER}$", status, re.M), status
        assert re.search(rf"^Gid:\s+{USER}\s+{USER}\s+{USER}\s+{USER}$", status, re.M), status
        token = None
        while token is None:
            line = demo.next_line(10)
            assert line is not None, demo.stderr_tail()
            if re.fullmatch(r"\s*[\w-]+\.[\w-]+\.[\w-]+\s*", line):
                token = line.strip()

        async def client():
            url = f"ws://127.0.0.1:{port}/wss/demo?access_token={token}"
            async with connect(url, open_timeout=10) as ws:
                hello = await asyncio.wait_for(ws.recv(), 10)  # the request the demo backend received
                await ws.send("through the image")
                echoed = await asyncio.wait_for(ws.recv(), 10)
                return hello, echoed

        hello, echoed = asyncio.run(client())
        assert echoed == "Recv: through the image"
        assert "X-User-Id: alice\n" in hello, hello  # injected from the token's sub
        assert token not in hello
    finally:
        demo.stop()
