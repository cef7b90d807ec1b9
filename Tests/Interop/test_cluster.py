"""The cluster (SESSIONS.md "The cluster"): several real `wsgate serve` processes on one real
PostgreSQL (Debian's, started by scripts/postgres-test.sh), Python `websockets` clients and the
Python `websockets` backend.

- a revocation made through instance A's admin API closes alice's socket on instance B with 4003
  within a second (NOTIFY), and bob's stays open;
- an instance started afterwards loads it before it listens: alice's token is refused there;
- a lift made on B reaches every instance;
- PostgreSQL stopped: relayed sessions keep echoing, revocations known stay enforced, revoke
  answers 503, `stale_after` turns handshakes into 503 `cluster_unavailable`; started again: a
  revocation made on A while B's link is cut reaches B through the watermark poll when B is back;
- an instance killed with SIGKILL: the others keep serving, and it ages out of
  `wsgate sessions --cluster` (listed as unreachable until then).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import SECRET_ENV, base_config
from harness import Gateway, free_port
from test_sessions import ADMIN_TOKEN, admin_call

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "postgres-test.sh"


class Postgres:
    """A throwaway PostgreSQL cluster; `pause`/`resume` stop and restart the server, `sql` runs psql."""

    def __init__(self):
        self.dir = Path(tempfile.mktemp(prefix="wsgate-pg-", dir="/tmp"))
        out = subprocess.run(["bash", str(SCRIPT), "start", str(self.dir)], capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"postgres-test.sh start failed: {out.stderr[-3000:]}")
        self.url = out.stdout.strip().splitlines()[-1]
        self.port = int((self.dir / "port").read_text())
        self.password = (self.dir / "pwfile").read_text().strip()
        self.psql = str(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1])

    def run(self, command: str):
        out = subprocess.run(["bash", str(SCRIPT), command, str(self.dir)], capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr

    def sql(self, statement: str) -> str:
        out = subprocess.run([self.psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "wsgate", "-d", "postgres",
                              "-v", "ON_ERROR_STOP=1", "-Atc", statement],
                             env={**os.environ, "PGPASSWORD": self.password}, capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def url_for(self, user: str, password: str) -> str:
        return f"postgres://{user}:{password}@127.0.0.1:{self.port}/postgres?sslmode=disable"


@pytest.fixture(scope="module")
def postgres():
    pg = Postgres()
    yield pg
    pg.run("stop")


class Cluster:
    def __init__(self, wsgate_bin, work, secret, rsa_public_pem, backends, postgres):
        self.args = (wsgate_bin, work, secret, rsa_public_pem)
        self.upstream = f"ws://127.0.0.1:{backends['python'].port}/record"
        self.postgres = postgres
        self.gateways: dict[str, Gateway] = {}

    def start(self, name: str, *, url: str | None = None, **cluster) -> Gateway:
        wsgate_bin, work, secret, rsa_public_pem = self.args
        config = base_config(free_port(), free_port(), rsa_public_pem, work, f"cluster-{name}")
        config["admin"]["token_env"] = "WSGATE_ADMIN_TOKEN"
        config["routes"] = [{"path": "/chat", "upstream": self.upstream, "auth": "required"}]
        config["cluster"] = {"postgres": {"url_env": "WSGATE_POSTGRES_URL"}, "instance": name, "poll_interval": "1s", **cluster}
        env = {SECRET_ENV: secret.decode(), "WSGATE_ADMIN_TOKEN": ADMIN_TOKEN, "WSGATE_POSTGRES_URL": url or self.postgres.url}
        gw = Gateway(wsgate_bin, config, work, env, name=f"wsgate-cluster-{name}")
        self.gateways[name] = gw
        return gw

    def stop(self):
        for gw in self.gateways.values():
            gw.stop()


@pytest.fixture(scope="module")
def cluster(wsgate_bin, work, secret, rsa_public_pem, backends, postgres):
    # B connects as its own role, so the outage test can cut B's link alone.
    postgres.sql("CREATE ROLE gw_b LOGIN SUPERUSER PASSWORD 'gw-b-password'")
    c = Cluster(wsgate_bin, work, secret, rsa_public_pem, backends, postgres)
    c.start("gw-a")
    c.start("gw-b", url=postgres.url_for("gw_b", "gw-b-password"))
    c.start("gw-c", stale_after="2s")
    yield c
    c.stop()


def url(gw: Gateway) -> str:
    return f"ws://127.0.0.1:{gw.port}/chat"


async def open_socket(gw: Gateway, token: str, test_id: str):
    ws = await connect(url(gw), additional_headers={"Authorization": f"Bearer {token}", "X-Test-Id": test_id})
    await ws.send("hello")
    assert await ws.recv() == "hello"
    return ws


async def handshake(gw: Gateway, token: str) -> tuple[int, dict | None]:
    try:
        ws = await connect(url(gw), additional_headers={"Authorization": f"Bearer {token}"})
    except InvalidStatus as e:
        return e.response.status_code, json.loads(e.response.body)
    await ws.close()
    return 101, None


async def call(gw: Gateway, method: str, path: str, body=None):
    return await asyncio.to_thread(admin_call, gw, method, path, body)


async def metric(gw: Gateway, name: str) -> float:
    status, text, _ = await call(gw, "GET", "/metrics")
    assert status == 200
    found = re.search(rf"^{name}(?:\{{[^}}]*\}})?\s+(\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


async def wait_for_metric(gw: Gateway, name: str, value: float, timeout: float = 20):
    """Polls /metrics until `name` is `value` (the gateway has no push channel for it)."""
    deadline = time.monotonic() + timeout
    while (current := await metric(gw, name)) != value:
        assert time.monotonic() < deadline, f"{name} stayed {current}, expected {value}"
        await asyncio.sleep(0.1)


async def expect_revoked(ws, reason: str, timeout: float):
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4003, reason)


async def still_echoes(ws, text: str = "still here"):
    await ws.send(text)
    assert await asyncio.wait_for(ws.recv(), 5) == text


def test_revoke_on_a_closes_alice_on_b_within_a_second_and_a_later_instance_refuses_her(cluster, minter):
    a, b, c = (cluster.gateways[n] for n in ("gw-a", "gw-b", "gw-c"))
    alice, bob = minter.hs256(sub="alice-cluster"), minter.hs256(sub="bob-cluster")

    async def scenario():
        alice_b = await open_socket(b, alice, "cl-alice-b")
        bob_b = await open_socket(b, bob, "cl-bob-b")
        started = time.monotonic()
        status, answer, _ = await call(a, "POST", "/sessions/revoke", {"sub": "alice-cluster", "reason": "cluster test"})
        assert status == 200, answer
        assert answer["closed"] == 0  # A's own sessions: none
        await expect_revoked(alice_b, "cluster test", 1.0)
        assert time.monotonic() - started < 1.0
        await still_echoes(bob_b)
        # Every instance has it for handshakes, C included.
        for gw in (a, b, c):
            assert await handshake(gw, alice) == (401, {"status": 401, "reason": "token_revoked"})
        assert await handshake(c, bob) == (101, None)
        await bob_b.close()
        return answer["revocation"]["id"]

    revocation_id = asyncio.run(scenario())

    # A fourth instance started afterwards loads the revocation before it listens.
    d = cluster.start("gw-d")
    assert asyncio.run(handshake(d, alice)) == (401, {"status": 401, "reason": "token_revoked"})
    assert asyncio.run(handshake(d, bob)) == (101, None)
    d.stop()
    del cluster.gateways["gw-d"]

    # A lift made on B reaches A and C.
    status, answer, _ = admin_call(b, "DELETE", f"/revocations/{revocation_id}")
    assert status == 200, answer

    async def lifted():
        deadline = time.monotonic() + 5
        for gw in (a, c):
            while (result := await handshake(gw, alice))[0] != 101:
                assert time.monotonic() < deadline, result
                await asyncio.sleep(0.05)
    asyncio.run(lifted())


def test_postgres_outage_keeps_sessions_refuses_revokes_and_catches_up(cluster, minter, postgres):
    a, b, c = (cluster.gateways[n] for n in ("gw-a", "gw-b", "gw-c"))
    carol, dave, erin = (minter.hs256(sub=s) for s in ("carol-cluster", "dave-cluster", "erin-cluster"))

    async def scenario():
        status, _, _ = await call(a, "POST", "/sessions/revoke", {"sub": "dave-cluster"})
        assert status == 200
        await wait_for_metric(c, "wsgate_cluster_connected", 1)
        carol_b = await open_socket(b, carol, "cl-carol-b")
        carol_c = await open_socket(c, carol, "cl-carol-c")
        # The revocation reached C before the outage (its handshakes refuse dave).
        assert await handshake(c, dave) == (401, {"status": 401, "reason": "token_revoked"})

        await asyncio.to_thread(postgres.run, "pause")
        for gw in (a, b, c):
            await wait_for_metric(gw, "wsgate_cluster_connected", 0)
        await still_echoes(carol_b)
        await still_echoes(carol_c)
        status, answer, _ = await call(a, "POST", "/sessions/revoke", {"sub": "carol-cluster"})
        assert status == 503
        assert answer["error"].startswith("cluster unavailable: ")
        assert "gw-b-password" not in answer["error"] and postgres.password not in answer["error"]
        # A (stale_after 0) keeps serving on what it knows: dave refused, erin let in.
        assert await handshake(a, dave) == (401, {"status": 401, "reason": "token_revoked"})
        assert await handshake(a, erin) == (101, None)
        assert await metric(a, "wsgate_cluster_lag_seconds") > 0
        # C (stale_after 2s) refuses new handshakes once the bus has been gone that long.
        deadline = time.monotonic() + 10
        while (result := await handshake(c, erin))[0] == 101:
            assert time.monotonic() < deadline, "C never turned stale"
            await asyncio.sleep(0.1)
        assert result == (503, {"status": 503, "reason": "cluster_unavailable"})
        await still_echoes(carol_c)  # open sessions untouched

        await asyncio.to_thread(postgres.run, "resume")
        for gw in (a, b, c):
            await wait_for_metric(gw, "wsgate_cluster_connected", 1)
        assert await handshake(c, erin) == (101, None)

        # Cut B alone (its role cannot log in, its connections are ended), revoke on A: B cannot
        # hear the NOTIFY; when B is back, its watermark poll brings the revocation.
        await asyncio.to_thread(postgres.sql, "ALTER ROLE gw_b NOLOGIN")
        await asyncio.to_thread(postgres.sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'gw_b'")
        await wait_for_metric(b, "wsgate_cluster_connected", 0)
        status, answer, _ = await call(a, "POST", "/sessions/revoke", {"sub": "carol-cluster", "reason": "caught up"})
        assert status == 200, answer
        await expect_revoked(carol_c, "caught up", 1.0)
        await still_echoes(carol_b)  # B has not heard of it yet
        await asyncio.to_thread(postgres.sql, "ALTER ROLE gw_b LOGIN")
        await expect_revoked(carol_b, "caught up", 15)  # reconnect backoff ≤ 5 s, then the catch-up poll
        await wait_for_metric(b, "wsgate_cluster_connected", 1)
        assert await handshake(b, carol) == (401, {"status": 401, "reason": "token_revoked"})

    asyncio.run(scenario())


def test_an_instance_killed_with_sigkill_ages_out_of_the_cluster_listing(cluster, minter, wsgate_bin):
    a, b = cluster.gateways["gw-a"], cluster.gateways["gw-b"]
    e = cluster.start("gw-e")
    frank = minter.hs256(sub="frank-cluster")

    def listing() -> dict:
        out = subprocess.run([str(wsgate_bin), "sessions", "--cluster", "--sub", "frank-cluster", "--json",
                              "--admin", f"http://127.0.0.1:{a.admin[1]}"],
                             env={"WSGATE_ADMIN_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    async def scenario():
        frank_e = await open_socket(e, frank, "cl-frank-e")
        frank_b = await open_socket(b, frank, "cl-frank-b")
        # Wait for E's first heartbeat row (written once it serves).
        deadline = time.monotonic() + 10
        while (found := await asyncio.to_thread(listing))["count"] != 2:
            assert time.monotonic() < deadline, found
            await asyncio.sleep(0.1)
        assert sorted(s["instance"] for s in found["sessions"]) == ["gw-b", "gw-e"]
        assert found["unreachable"] == []
        table = subprocess.run([str(wsgate_bin), "sessions", "--cluster", "--admin", f"http://127.0.0.1:{a.admin[1]}"],
                               env={"WSGATE_ADMIN_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert "gw-e" in table.stdout and "unreachable" not in table.stdout

        os.kill(e.process.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        e.process.proc.wait(timeout=10)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(frank_e.recv(), 5)
        await still_echoes(frank_b)
        right_after = await asyncio.to_thread(listing)
        assert right_after["unreachable"] == ["gw-e"]
        assert [s["instance"] for s in right_after["sessions"]] == ["gw-b"]
        # Ages out: heartbeat older than max(3 × poll_interval, 10 s).
        while (later := await asyncio.to_thread(listing))["unreachable"]:
            assert time.monotonic() - killed < 15, later
            await asyncio.sleep(0.2)
        assert time.monotonic() - killed >= 8  # not before the age-out (10 s after the last heartbeat, ≤ 1 s before the kill)
        assert later["count"] == 1 and later["sessions"][0]["instance"] == "gw-b"
        assert await handshake(a, frank) == (101, None)
        await frank_b.close()

    asyncio.run(scenario())
    e.stop()
    del cluster.gateways["gw-e"]
