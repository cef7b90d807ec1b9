"""The gateway's own log never stalls the gateway: with stdout a pipe nobody reads (a wedged log
collector), connections keep being served, and the lines wait in the gateway's log buffer
(4 MiB; beyond it lines are dropped and counted) until the pipe drains, whole and in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import pytest
from websockets.asyncio.client import connect

from conftest import EchoBackend
from harness import free_port, wait_tcp
from test_interop import T, run

# Each connection logs two lines of ~150-300 bytes: this many overflow a 64 KiB pipe several
# times (a gateway writing its log from the event loop would block after ~100 connections).
CONNECTIONS = 600


def test_a_stalled_stdout_does_not_stall_the_gateway(wsgate_bin, work, echo_backend_port):
    if not isinstance(echo_backend_port, EchoBackend):
        pytest.fail(f"wsgate echo-backend did not start: {echo_backend_port}")
    port = free_port()
    config_path = work / "stalled-stdout.yaml"
    config = {
        "listen": [{"address": f"127.0.0.1:{port}"}],
        "rejection_log": {"path": str(work / "stalled-stdout-rejections.jsonl")},
        "limits": {"max_handshakes_per_ip_per_second": 1000000},
        "routes": [{"path": "/echo", "upstream": f"ws://127.0.0.1:{echo_backend_port.port}/", "auth": "none"}],
    }
    config_path.write_text(json.dumps(config))
    # stdout is a pipe this test does not read until the end.
    proc = subprocess.Popen([str(wsgate_bin), "serve", "--config", str(config_path), "--log-format", "json"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_tcp("127.0.0.1", port, 30)

        async def many():
            started = time.monotonic()
            for i in range(CONNECTIONS):
                async with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=T) as ws:
                    await asyncio.wait_for(ws.recv(), T)  # the backend's greeting
                    await ws.send(f"m{i}")
                    assert await asyncio.wait_for(ws.recv(), T) == f"Recv: m{i}"
            return time.monotonic() - started

        elapsed = run(many())
        assert proc.poll() is None, "the gateway exited"
        # Now read what the pipe held: every line, whole, in order.
        os.set_blocking(proc.stdout.fileno(), False)
        deadline = time.monotonic() + 10
        data = b""
        while time.monotonic() < deadline and data.count(b'"connection closed"') < CONNECTIONS:
            try:
                chunk = os.read(proc.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            if not chunk:
                break
            data += chunk
        events = [json.loads(line) for line in data.decode("utf-8").splitlines()]  # never a torn line
        opened = [e for e in events if e["msg"] == "connection opened"]
        closed = [e for e in events if e["msg"] == "connection closed"]
        assert len(opened) == CONNECTIONS and len(closed) == CONNECTIONS, \
            f"{len(opened)} open and {len(closed)} close lines for {CONNECTIONS} connections (in {elapsed:.1f}s)"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
