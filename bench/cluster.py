#!/usr/bin/env python3
"""Cluster figures (SESSIONS.md "The cluster"), on loopback, one throwaway PostgreSQL:

1. Revocation propagation: three `wsgate serve` instances; N clients (distinct `sub`) hold a
   socket on instance B; for each, `POST /sessions/revoke` on instance A, and the time from
   sending that request to the client on B receiving its close frame (4003). Run twice: with
   NOTIFY, and with NOTIFY off on B (`WSGATE_CLUSTER_NOTIFY=off`: the watermark poll alone).
2. Handshake CPU: the gateway process's CPU time (utime + stime from /proc) for M sequential
   handshakes (connect, one echo, close) with the cluster configured and without, 100 active
   revocations in both (the check reads memory, never PostgreSQL).

    python3 bench/cluster.py --wsgate .build/debug/wsgate [--revocations 200] [--handshakes 2000]

Prints a JSON summary and a Markdown table. Requires the interop suite's Python packages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "Interop"))

import jwt  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from harness import Gateway, ManagedProcess, free_port, wait_tcp  # noqa: E402

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN = "bench-admin-token-0123456789abcdef"


def token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256", headers={"kid": "k1"})


def admin_post(gw: Gateway, path: str, body: dict) -> tuple[int, dict]:
    import http.client
    conn = http.client.HTTPConnection(*gw.admin, timeout=10)
    conn.request("POST", path, json.dumps(body), {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    return response.status, data


def config(upstream: str, cluster: dict | None) -> dict:
    out = {
        "listen": [{"address": f"127.0.0.1:{free_port()}"}],
        "admin": {"address": f"127.0.0.1:{free_port()}", "token_env": "WSGATE_ADMIN_TOKEN"},
        "keys": [{"id": "k1", "algorithms": ["HS256"], "secret_env": "BENCH_SECRET"}],
        "routes": [{"path": "/chat", "upstream": upstream, "auth": "required"}],
        "limits": {"max_handshakes_per_ip_per_second": 1000000},
        "state_dir": tempfile.mkdtemp(prefix="wsgate-bench-state-"),
    }
    if cluster is not None:
        out["cluster"] = cluster
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def propagation(a: Gateway, b: Gateway, count: int, label: str) -> list[float]:
    url = f"ws://127.0.0.1:{b.port}/chat"
    sockets = []
    for i in range(count):
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {token(f'{label}-{i}')}"})
        sockets.append(ws)
    latencies = []
    for i, ws in enumerate(sockets):
        started = time.perf_counter()
        status, answer = await asyncio.to_thread(admin_post, a, "/sessions/revoke", {"sub": f"{label}-{i}"})
        assert status == 200, answer
        try:
            while True:  # the echo backend may greet first; wait for the close
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            assert closed.rcvd.code == 4003, closed.rcvd
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def handshakes(gw: Gateway, count: int) -> float:
    url = f"ws://127.0.0.1:{gw.port}/chat"
    good = token("handshake-bench")
    # Warm up, then measure the gateway's own CPU for `count` handshakes.
    for _ in range(50):
        async with connect(url, additional_headers={"Authorization": f"Bearer {good}"}) as ws:
            await ws.send("x")
            await ws.recv()
    before = cpu_seconds(gw.process.proc.pid)
    for _ in range(count):
        async with connect(url, additional_headers={"Authorization": f"Bearer {good}"}) as ws:
            await ws.send("x")
            await ws.recv()
    return (cpu_seconds(gw.process.proc.pid) - before) / count * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wsgate", default=str(REPO / ".build" / "debug" / "wsgate"))
    parser.add_argument("--revocations", type=int, default=200)
    parser.add_argument("--handshakes", type=int, default=2000)
    args = parser.parse_args()
    binary = Path(args.wsgate).resolve()
    work = Path(tempfile.mkdtemp(prefix="wsgate-bench-cluster-"))
    pg_dir = tempfile.mktemp(prefix="wsgate-pg-bench-", dir="/tmp")
    script = REPO / "scripts" / "postgres-test.sh"
    pg_url = subprocess.run(["bash", str(script), "start", pg_dir], check=True, capture_output=True, text=True).stdout.strip()
    backend_port = free_port()
    backend = ManagedProcess("echo", [str(binary), "echo-backend", "--listen", f"127.0.0.1:{backend_port}"], log_dir=work)
    wait_tcp("127.0.0.1", backend_port, 30, backend)
    upstream = f"ws://127.0.0.1:{backend_port}/"
    env = {"BENCH_SECRET": SECRET, "WSGATE_ADMIN_TOKEN": ADMIN, "WSGATE_POSTGRES_URL": pg_url}
    started: list[Gateway] = []
    results: dict = {"build": "debug" if "/debug/" in str(binary) else "release", "revocations": args.revocations,
                     "handshakes": args.handshakes}

    def gateway(name: str, cluster: dict | None, extra_env: dict | None = None) -> Gateway:
        gw = Gateway(binary, config(upstream, cluster), work, {**env, **(extra_env or {})}, name=name)
        started.append(gw)
        return gw

    try:
        def clustered(name):
            return {"postgres": {"url_env": "WSGATE_POSTGRES_URL"}, "instance": name}
        a = gateway("bench-a", clustered("bench-a"))
        gateway("bench-c", clustered("bench-c"))
        for mode, extra in (("notify", {}), ("poll_only", {"WSGATE_CLUSTER_NOTIFY": "off"})):
            b = gateway(f"bench-b-{mode}", clustered(f"bench-b-{mode}"), extra)
            latencies = asyncio.run(propagation(a, b, args.revocations, mode))
            results[mode] = {"p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
                             "max_ms": round(max(latencies), 1), "mean_ms": round(statistics.mean(latencies), 1)}
            b.stop()

        # Handshake CPU: 100 active revocations on both, cluster on and off.
        for mode, cluster in (("cluster", clustered("bench-hs")), ("single", None)):
            gw = gateway(f"bench-hs-{mode}", cluster)
            for i in range(100):
                assert admin_post(gw, "/sessions/revoke", {"sub": f"someone-{mode}-{i}"})[0] == 200
            results[f"handshake_cpu_us_{mode}"] = round(asyncio.run(handshakes(gw, args.handshakes)), 1)
            gw.stop()
    finally:
        for gw in started:
            gw.stop()
        backend.stop()
        subprocess.run(["bash", str(script), "stop", pg_dir], capture_output=True)

    print(json.dumps(results, indent=2))
    print()
    print(f"| propagation ({results['build']} build, {args.revocations} revocations, 3 instances) | p50 | p99 | max |")
    print("| --- | --- | --- | --- |")
    for mode in ("notify", "poll_only"):
        r = results[mode]
        print(f"| {mode.replace('_', ' ')} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms |")
    print()
    print(f"handshake CPU (gateway process, per handshake, {args.handshakes} handshakes): "
          f"cluster {results['handshake_cpu_us_cluster']} µs, single {results['handshake_cpu_us_single']} µs")


if __name__ == "__main__":
    main()
