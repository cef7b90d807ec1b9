"""deploy/systemd and socket activation (sd_listen_fds(3)).

- The units pass `systemd-analyze verify` (with ExecStart pointing at the built binary).
- Debian's `systemd-socket-activate` holds the listening socket and starts `wsgate serve` only
  when the first client connects: that client waited in the backlog and is served; the socket
  reaches the `listen[]` entry named like its `--fdname`; another entry is bound by wsgate.
- A restart refuses nobody: a holder process (doing what systemd does for a .socket unit)
  keeps the socket across two wsgate processes; clients that connect while none runs are
  queued by the kernel and served by the next one.
- A socket that matches no `listen[]` entry stops start-up with a message naming it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conftest import SECRET_ENV, base_config
from harness import ManagedProcess, free_port, wait_tcp
from test_interop import T, bearer, run

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"


def echo_once(port: int, token: str, text: str) -> str:
    async def go():
        async with connect(f"ws://127.0.0.1:{port}/echo", additional_headers=bearer(token), open_timeout=15,
                           close_timeout=T, ping_interval=None) as ws:
            await ws.send(text)
            return await asyncio.wait_for(ws.recv(), T)
    return run(go())


def write_config(work: Path, name: str, config: dict) -> Path:
    import json
    path = work / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


@pytest.fixture()
def activation_config(work, rsa_public_pem, backends):
    def make(name: str, port: int, own_port: int | None = None) -> dict:
        config = base_config(port, free_port(), rsa_public_pem, work, name)
        config["listen"][0]["name"] = "public"
        if own_port:
            config["listen"].append({"address": f"127.0.0.1:{own_port}"})
        config["routes"] = [{"path": "/echo", "upstream": f"ws://127.0.0.1:{backends['python'].port}/echo"}]
        return config
    return make


def test_units_verify(wsgate_bin, tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    for unit in ("wsgate.service", "wsgate.socket"):
        (tmp_path / unit).write_text((UNITS / unit).read_text().replace("/usr/local/bin/wsgate", str(wsgate_bin)))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "wsgate.socket"), str(tmp_path / "wsgate.service")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    socket_unit = (UNITS / "wsgate.socket").read_text()
    assert re.search(r"^FileDescriptorName=public$", socket_unit, re.M)
    service_unit = (UNITS / "wsgate.service").read_text()
    assert re.search(r"^Requires=wsgate.socket$", service_unit, re.M)


def test_systemd_socket_activate_hands_over_the_socket(wsgate_bin, work, secret, minter, activation_config):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        pytest.fail("systemd-socket-activate is not installed (Debian's systemd package; Tests/Interop/run.sh installs it)")
    port, own = free_port(), free_port()
    path = write_config(work, "activated", activation_config("activated", port, own))
    env = dict(os.environ, **{SECRET_ENV: secret.decode()})
    argv = [tool, "-l", f"127.0.0.1:{port}", "--fdname=public", "-E", SECRET_ENV,
            str(wsgate_bin), "serve", "--config", str(path), "--log-format", "json"]
    proc = ManagedProcess("socket-activate", argv, env=env, log_dir=work)
    try:
        wait_tcp("127.0.0.1", port, 10, proc)  # systemd-socket-activate listens; wsgate is not running yet
        # This client's connection is what starts wsgate; it waits in the backlog meanwhile.
        assert echo_once(port, minter.hs256(), "first through the inherited socket") == "first through the inherited socket"
        event = proc.wait_for_event(lambda e: e.get("msg") == "wsgate listening", 10)
        assert event["inherited"] == f'fd 3 "public" 127.0.0.1:{port}'
        assert event["listeners"] == f"127.0.0.1:{port},127.0.0.1:{own}"
        # The entry without a socket was bound by wsgate itself.
        assert echo_once(own, minter.hs256(), "own listener") == "own listener"
    finally:
        proc.stop()


def start_with_socket(wsgate_bin, listener: socket.socket, config_path: Path, env: dict, work: Path, name: str):
    """Starts wsgate with `listener` as fd 3 and LISTEN_* set for it, as systemd does."""
    def as_fd3():
        os.dup2(listener.fileno(), 3)  # dup2 clears close-on-exec: fd 3 survives the exec
    script = 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=public exec "$@"'
    argv = ["sh", "-c", script, "sh", str(wsgate_bin), "serve", "--config", str(config_path), "--log-format", "json"]
    # close_fds=False: Python's own descriptors are close-on-exec anyway, and closing the rest
    # would close fd 3 after the dup2.
    proc = ManagedProcess(name, argv, env=env, log_dir=work, close_fds=False, preexec_fn=as_fd3)
    return proc


def test_restart_refuses_nobody(wsgate_bin, work, secret, minter, activation_config):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    path = write_config(work, "restart", activation_config("restart", port))
    env = dict(os.environ, **{SECRET_ENV: secret.decode()})
    first = start_with_socket(wsgate_bin, listener, path, env, work, "restart-1")
    second = None
    try:
        first.wait_for_event(lambda e: e.get("msg") == "wsgate listening", 20)
        assert echo_once(port, minter.hs256(), "before") == "before"
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=15) == 0, first.stderr_tail()
        # No wsgate runs now; the socket is still listening (held here, as systemd holds it).
        waiting = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
        second = start_with_socket(wsgate_bin, listener, path, env, work, "restart-2")
        # Those connections were accepted by the kernel, not refused, and the new wsgate serves them.
        request = (f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {minter.hs256()}\r\n\r\n").encode()
        for conn in waiting:
            conn.sendall(request)
        for conn in waiting:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                assert chunk, head
                head += chunk
            assert head.startswith(b"HTTP/1.1 101 "), head
            conn.close()
        assert echo_once(port, minter.hs256(), "after") == "after"
    finally:
        first.stop()
        if second:
            second.stop()
        listener.close()


def test_unmatched_inherited_socket_stops_startup(wsgate_bin, work, secret, activation_config):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    config = activation_config("unmatched", free_port())
    del config["listen"][0]["name"]  # neither the name nor the address matches now
    path = write_config(work, "unmatched", config)
    env = dict(os.environ, **{SECRET_ENV: secret.decode()})
    proc = start_with_socket(wsgate_bin, listener, path, env, work, "unmatched")
    try:
        assert proc.proc.wait(timeout=20) != 0
        port = listener.getsockname()[1]
        assert f'socket activation: inherited socket fd 3 "public" 127.0.0.1:{port} matches no listen[] entry' in proc.stderr_tail()
    finally:
        proc.stop()
        listener.close()
