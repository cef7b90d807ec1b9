"""The gateway as deployed: an unprivileged user (deploy/systemd/wsgate.service runs it with
`DynamicUser=yes`). Here `wsgate serve` and `wsgate echo-backend` run as `nobody`, and a Python
`websockets` client with a PyJWT token goes through them, end to end.

This is the test for socket options a process may only set with privileges: TCP_NODELAY set at
the SOL_SOCKET level instead of IPPROTO_TCP is SO_DEBUG, which Linux refuses without
CAP_NET_ADMIN, so the accepted connection would be closed before the handshake; as root the same
mistake passes unnoticed. The suite normally runs as root (CI); run by another user, every test
already runs unprivileged and this one is skipped as redundant.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conftest import AUDIENCE, ISSUER, SECRET_ENV, SUB
from harness import Gateway, ManagedProcess, free_port, wait_tcp
from test_interop import T, bearer, run

NOBODY = 65534


def as_nobody(argv: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


@pytest.fixture()
def unprivileged_dir(wsgate_bin):
    """A directory `nobody` can read, holding a copy of the binary (the build tree may not be
    traversable by other users)."""
    if os.geteuid() != 0:
        pytest.skip("not root: the whole suite already runs unprivileged")
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to drop privileges")
    path = Path(tempfile.mkdtemp(prefix="wsgate-nobody-"))
    path.chmod(0o755)
    binary = path / "wsgate"
    shutil.copy2(wsgate_bin, binary)
    binary.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_gateway_and_echo_backend_serve_as_an_unprivileged_user(unprivileged_dir, minter, secret):
    binary = unprivileged_dir / "wsgate"
    backend_port, port = free_port(), free_port()
    backend = ManagedProcess("nobody-echo-backend",
                             as_nobody([str(binary), "echo-backend", "--listen", f"127.0.0.1:{backend_port}"]),
                             log_dir=unprivileged_dir)
    gateway = None
    try:
        wait_tcp("127.0.0.1", backend_port, 30, backend)
        config = {
            "listen": [{"address": f"127.0.0.1:{port}"}],
            "keys": [{"id": "k1", "algorithms": ["HS256"], "secret_env": SECRET_ENV}],
            "auth": {"issuers": [ISSUER], "audiences": [AUDIENCE], "token_sources": ["header"]},
            "rejection_log": {"path": "-"},
            "routes": [{"path": "/echo", "upstream": f"ws://127.0.0.1:{backend_port}/", "auth": "required",
                        "claims_to_headers": {"sub": "X-User-Id"}}],
        }
        gateway = Gateway(binary, config, unprivileged_dir, {SECRET_ENV: secret.decode()}, name="nobody-wsgate",
                          args=["--log-format", "json"], wrap=as_nobody)
        token = minter.hs256()

        async def exchange():
            async with connect(f"ws://127.0.0.1:{port}/echo", additional_headers=bearer(token), open_timeout=T) as ws:
                greeting = await asyncio.wait_for(ws.recv(), T)
                await ws.send("hello as nobody")
                echoed = await asyncio.wait_for(ws.recv(), T)
                return greeting, echoed

        greeting, echoed = run(exchange())
        assert echoed == "Recv: hello as nobody"
        # The echo backend's greeting lists the headers it got: the claim arrived, the token did not.
        lines = [line.lower() for line in greeting.splitlines()]
        assert f"x-user-id: {SUB}".lower() in lines
        assert not any(line.startswith("authorization:") for line in lines)
        opened = gateway.process.wait_for_event(lambda e: e.get("msg") == "connection opened", timeout=T)
        assert opened["route"] == "/echo" and opened["sub"] == SUB and opened["level"] == "info"
        assert opened["time"].endswith("Z"), "log timestamps are UTC (RFC 3339)"
        assert token not in json.dumps(opened)
    finally:
        if gateway:
            gateway.stop()
        backend.stop()
