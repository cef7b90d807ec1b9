"""Many instances behind an L4 balancer: deploy/haproxy/haproxy.cfg in front of three wsgate
instances on loopback (PROXY v2 listeners, /readyz health checks, leastconn), and a rolling
restart while 300 clients stay connected and keep sending.

Each instance in turn gets SIGTERM (drain_delay 1s: /readyz answers 503 and HAProxy marks it
down while it still accepts; drain_spread 2s: its clients get their 1001 spread over 2 s), exits,
and is started again on the same ports; the next one waits until HAProxy's check sees it up.

What is checked, for every client: after a 1001 it is connected again through HAProxy within
2 s; no connection attempt is refused or answered with a 5xx (nor fails any other way); every
message is echoed exactly, in order. A message that was still unanswered when its socket got the
1001 cannot be echoed on that socket (the gateway may send nothing after its close, RFC 6455
§5.5.1): the client sends it again after reconnecting, and it is counted as `resent`; `lost` are
messages never echoed at all. The clients connect from 127.0.0.7, HAProxy from 127.0.0.1: the
"connection opened" lines in wsgate's log must name 127.0.0.7 and each client's own port.

The figures are printed as one line, `rolling-restart: ...` (run with -s to see it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import SECRET_ENV, base_config
from harness import Gateway, ManagedProcess, free_port, http_get, wait_tcp
from test_interop import bearer

REPO = Path(__file__).resolve().parents[2]
CLIENTS = 300
CLIENT_IP = "127.0.0.7"
SEND_EVERY = 0.25  # seconds between a client's messages
RECONNECT_BOUND = 2.0
DRAIN = {"drain_delay": "1s", "drain_spread": "2s", "drain_timeout": "6s"}


class Instance:
    """One wsgate behind HAProxy: a fixed listener and admin port, restartable."""

    def __init__(self, index, wsgate_bin, work, config, secret):
        self.index = index
        self.wsgate_bin, self.work, self.config, self.secret = wsgate_bin, work, config, secret
        self.generation = 0
        self.logs: list[str] = []
        self.gw = None
        self.start()

    def start(self):
        self.generation += 1
        self.gw = Gateway(self.wsgate_bin, self.config, self.work, {SECRET_ENV: self.secret},
                          name=f"haproxy-gw{self.index}-{self.generation}", args=["--log-format", "json"])

    def stop_gracefully(self, timeout=15):
        proc = self.gw.process.proc
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=timeout)
        self.gw.stop()
        self.logs.extend(self.gw.process.stdout_lines)
        return code

    def kill(self):
        if self.gw:
            self.gw.stop()
            self.logs.extend(self.gw.process.stdout_lines)


class Stats:
    def __init__(self):
        self.connected = set()
        self.closes_1001 = 0
        self.other_closes = []
        self.reconnect_times: list[float] = []
        self.refused = 0
        self.status_5xx = 0
        self.other_errors: list[str] = []
        self.sent = 0
        self.echoed = 0
        self.resent = 0
        self.mismatched: list[str] = []
        self.local_ports: set[int] = set()


async def client(index, port, token, stats: Stats, stop: asyncio.Event):
    seq = 0
    pending: str | None = None  # sent, not yet echoed
    closed_at: float | None = None
    while not stop.is_set():
        try:
            ws = await connect(f"ws://127.0.0.1:{port}/echo", additional_headers=bearer(token), open_timeout=5,
                               close_timeout=2, ping_interval=None, local_addr=(CLIENT_IP, 0))
        except ConnectionRefusedError:
            stats.refused += 1
            await asyncio.sleep(0.05)
            continue
        except InvalidStatus as e:
            if e.response.status_code >= 500:
                stats.status_5xx += 1
            else:
                stats.other_errors.append(f"client {index}: status {e.response.status_code}")
            await asyncio.sleep(0.05)
            continue
        except (OSError, asyncio.TimeoutError, ConnectionClosed) as e:
            stats.other_errors.append(f"client {index}: {type(e).__name__}: {e}")
            await asyncio.sleep(0.05)
            continue
        if closed_at is not None:
            stats.reconnect_times.append(time.monotonic() - closed_at)
            closed_at = None
        stats.connected.add(index)
        stats.local_ports.add(ws.local_address[1])
        try:
            while not stop.is_set():
                if pending is None:
                    seq += 1
                    pending = f"client {index} message {seq}"
                    stats.sent += 1
                else:
                    stats.resent += 1
                await ws.send(pending)
                echoed = await asyncio.wait_for(ws.recv(), 5)
                if echoed != pending:
                    stats.mismatched.append(f"{pending!r} came back as {echoed!r}")
                stats.echoed += 1
                pending = None
                try:
                    await asyncio.wait_for(stop.wait(), SEND_EVERY)
                except asyncio.TimeoutError:
                    pass
            await ws.close()
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.code == 1001:
                stats.closes_1001 += 1
                closed_at = time.monotonic()
            else:
                stats.other_closes.append(f"client {index}: {e.rcvd}")
        except asyncio.TimeoutError:
            stats.other_errors.append(f"client {index}: no echo within 5 s")
            await ws.close()


def haproxy_server_up(stats_socket: Path, server: str) -> bool:
    import socket as sock
    with sock.socket(sock.AF_UNIX) as s:
        s.connect(str(stats_socket))
        s.sendall(b"show servers state wsgate\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    for line in data.decode().splitlines():
        fields = line.split()
        # be_id be_name srv_id srv_name srv_addr srv_op_state (2 = running)
        if len(fields) > 5 and fields[3] == server:
            return fields[5] == "2"
    return False


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise TimeoutError(what)


@pytest.fixture()
def haproxy_bin():
    path = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy")
    if not path:
        pytest.fail("haproxy is not installed (Tests/Interop/run.sh installs Debian's haproxy)")
    return path


def test_rolling_restart_behind_haproxy(wsgate_bin, work, secret, rsa_public_pem, backends, minter, haproxy_bin, tmp_path):
    instances: list[Instance] = []
    haproxy = None
    try:
        for i in (1, 2, 3):
            config = base_config(free_port(), free_port(), rsa_public_pem, work, f"haproxy-gw{i}")
            config["listen"][0]["proxy_protocol"] = True
            config["limits"].update(DRAIN)
            config["routes"] = [{"path": "/echo", "upstream": f"ws://127.0.0.1:{backends['python'].port}/echo"}]
            instances.append(Instance(i, wsgate_bin, work, config, secret.decode()))
        front = free_port()
        stats_socket = tmp_path / "haproxy.sock"
        cfg = tmp_path / "haproxy.cfg"
        # The shipped file, plus a stats socket so the test can see when a server is up again, and
        # a connection cap that needs no raised descriptor limit.
        cfg.write_text((REPO / "deploy/haproxy/haproxy.cfg").read_text()
                       .replace("global\n", f"global\n    stats socket {stats_socket} level admin\n", 1)
                       .replace("maxconn 200000", "maxconn 4000").replace("maxconn 100000", "maxconn 2000"))
        env = dict(os.environ, WSGATE_HAPROXY_BIND=f"127.0.0.1:{front}")
        for inst in instances:
            env[f"WSGATE_GW{inst.index}"] = f"127.0.0.1:{inst.gw.port}"
            env[f"WSGATE_GW{inst.index}_ADMIN"] = str(inst.gw.admin[1])
        haproxy = ManagedProcess("haproxy", [haproxy_bin, "-db", "-f", str(cfg)], env=env, log_dir=tmp_path)
        wait_tcp("127.0.0.1", front, 10, haproxy)
        wait_until(lambda: all(haproxy_server_up(stats_socket, f"gw{i}") for i in (1, 2, 3)), 10, "HAProxy never saw all three up")

        stats = Stats()
        token = minter.hs256(exp=int(time.time()) + 3600)

        async def scenario():
            stop = asyncio.Event()
            tasks = [asyncio.create_task(client(i, front, token, stats, stop)) for i in range(CLIENTS)]
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + 30
            while len(stats.connected) < CLIENTS and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(stats.connected) == CLIENTS, f"only {len(stats.connected)} of {CLIENTS} connected"
            for inst in instances:
                code = await loop.run_in_executor(None, inst.stop_gracefully)
                assert code == 0, inst.gw.process.stderr_tail()
                await loop.run_in_executor(None, inst.start)
                await loop.run_in_executor(None, wait_until, lambda: haproxy_server_up(stats_socket, f"gw{inst.index}"),
                                           10, f"HAProxy never saw gw{inst.index} up again")
            # Let the last reconnections settle and every client exchange a message more.
            await asyncio.sleep(2 * SEND_EVERY + 0.5)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 20)

        started = time.monotonic()
        asyncio.run(asyncio.wait_for(scenario(), 100))
        elapsed = time.monotonic() - started
        for inst in instances:
            inst.kill()
        times = sorted(stats.reconnect_times)
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else 0.0
        lost = stats.sent - stats.echoed
        print(f"\nrolling-restart: clients={CLIENTS} connected={len(stats.connected)} closes_1001={stats.closes_1001} "
              f"reconnects={len(times)} reconnect_p50={p(0.5):.3f}s p99={p(0.99):.3f}s max={max(times, default=0):.3f}s "
              f"refused={stats.refused} 5xx={stats.status_5xx} other_errors={len(stats.other_errors)} "
              f"messages_sent={stats.sent} echoed={stats.echoed} resent={stats.resent} lost={lost} elapsed={elapsed:.1f}s")
        assert stats.other_errors == [] and stats.other_closes == [], (stats.other_errors[:5], stats.other_closes[:5])
        assert stats.refused == 0 and stats.status_5xx == 0
        assert stats.mismatched == []
        # Each instance held about a third of the clients at its restart; every one got its 1001.
        assert stats.closes_1001 >= CLIENTS, stats.closes_1001
        assert len(times) == stats.closes_1001
        assert max(times) < RECONNECT_BOUND, times[-5:]
        assert lost == 0
        # The addresses wsgate saw are the clients', carried by PROXY v2, not HAProxy's 127.0.0.1.
        opened = [json.loads(line) for inst in instances for line in inst.logs
                  if line.startswith("{") and '"connection opened"' in line]
        assert len(opened) == CLIENTS + stats.closes_1001, len(opened)
        clients_seen = {entry["client"] for entry in opened}
        assert all(c.startswith(f"{CLIENT_IP}:") for c in clients_seen), sorted(clients_seen)[:5]
        assert {int(c.rsplit(":", 1)[1]) for c in clients_seen} == stats.local_ports
    finally:
        for inst in instances:
            inst.kill()
        if haproxy:
            haproxy.stop()
