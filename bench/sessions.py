#!/usr/bin/env python3
"""Figures for live sessions (issue 12), loopback only, release binaries.

  bench/sessions.sh     # builds the binaries (before = BEFORE commit, after = HEAD) and runs this

What it measures, each RUNS times, before/after interleaved where both apply:
  echo     CPU ms of the gateway per 1,000 64-byte echoes (wsgate-bench echo, 100 connections):
           the 'before' binary on /ws/chat, the 'after' binary on /ws/chat (no token_refresh)
           and on /ws/live (token_refresh on); binary messages, and text messages shaped like an
           application's JSON (--text), which the refresh route's interceptor must look into.
  handshake vs refresh
           CPU ms of the gateway per 1,000 RS256 handshakes (wsgate-bench handshake) and per
           1,000 token refreshes on open sockets (32 connections, each sending
           {"type":"wsgate.refresh","token":…} and awaiting wsgate.refreshed, RS256 tokens).
  revoke   time from the revoke call to the last client's close frame, for 1 and N sessions
           of one subject (raw sockets, one epoll loop, so the client adds little).
The gateway runs single-threaded on PROXY_CPU; load and backend on LOAD_CPU.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jwt

RUNS = int(os.environ.get("RUNS", "3"))
DURATION = float(os.environ.get("DURATION", "8"))
REVOKE_N = int(os.environ.get("REVOKE_N", "9900"))
PROXY_CPU = os.environ.get("PROXY_CPU", "1")
LOAD_CPU = os.environ.get("LOAD_CPU", "0")
ISS, AUD = "https://auth.bench.local", "chat"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.025)
    raise TimeoutError(f"nothing on {port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Setup:
    def __init__(self, work: Path, before: Path, after: Path, bench: Path):
        self.work, self.before, self.after, self.bench = work, before, after, bench
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                        str(work / "private.pem")], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(work / "private.pem"), "-pubout", "-out", str(work / "public.pem")],
                       check=True, capture_output=True)
        self.key = (work / "private.pem").read_bytes()
        self.backend_port = free_port()
        self.procs = []
        self.backend = self.spawn([str(after), "echo-backend", "--listen", f"127.0.0.1:{self.backend_port}"], LOAD_CPU)
        wait_port(self.backend_port)

    def spawn(self, argv, cpu, env=None):
        p = subprocess.Popen(["taskset", "-c", cpu, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(self.work / f"p{len(self.procs)}.err", "wb"), env=env)
        self.procs.append(p)
        return p

    def gateway(self, binary: Path, name: str, refresh_route: bool):
        port, admin = free_port(), free_port()
        routes = [{"path": "/ws/chat", "upstream": f"ws://127.0.0.1:{self.backend_port}/ws/chat", "auth": "required",
                   "require_claims": {"role": ["admin", "member"]}, "claims_to_headers": {"sub": "X-User-Id", "role": "X-User-Role"}}]
        if refresh_route:
            routes.append(dict(routes[0], path="/ws/live", token_refresh={"notify_before": "0s", "grace": "5s"}))
        config = {"listen": [{"address": f"127.0.0.1:{port}"}], "admin": {"address": f"127.0.0.1:{admin}"},
                  "keys": [{"id": "bench-rsa", "algorithms": ["RS256"], "public_key_file": str(self.work / "public.pem")}],
                  "auth": {"issuers": [ISS], "audiences": [AUD], "token_sources": ["header"]},
                  "routes": routes, "rejection_log": {"enabled": False},
                  "limits": {"idle_timeout": "1h", "max_connections": 100000, "handshake_timeout": "30s"}}
        if refresh_route:
            state = self.work / f"state-{name}"
            shutil.rmtree(state, ignore_errors=True)  # revocations of an earlier run would refuse this one's tokens
            config["state_dir"] = str(state)
        path = self.work / f"{name}.yaml"
        path.write_text(json.dumps(config))
        p = self.spawn([str(binary), "serve", "--config", str(path), "--threads", "1", "--log-level", "warning"], PROXY_CPU)
        wait_port(port)
        return p, port, admin

    def token(self, sub="bench-user", ttl=3600, **extra) -> str:
        now = int(time.time())
        claims = {"iss": ISS, "aud": AUD, "sub": sub, "role": "member", "iat": now, "exp": now + ttl, **extra}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench-rsa"})

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def bench_json(setup: Setup, scenario: str, url: str, pid: int, args: list[str]) -> dict:
    key = setup.work / "private.pem"
    out = subprocess.run(["taskset", "-c", LOAD_CPU, str(setup.bench), scenario, "--url", url, "--key", str(key), "--alg", "RS256",
                          "--kid", "bench-rsa", "--iss", ISS, "--aud", AUD, "--claim", "role=member", "--sub", "bench-user",
                          "--watch-pid", str(pid), "--duration", str(DURATION), "--json", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


async def refresh_load(port: int, tokens: list[str], seconds: float, connections: int = 32) -> int:
    from websockets.asyncio.client import connect
    done = 0
    stop = time.monotonic() + seconds

    async def one(i: int):
        nonlocal done
        async with connect(f"ws://127.0.0.1:{port}/ws/live", additional_headers={"Authorization": f"Bearer {tokens[0]}"},
                           compression=None, max_queue=None) as ws:
            await ws.recv()  # the echo backend's greeting: the request it received
            k = i
            while time.monotonic() < stop:
                k += 1
                await ws.send('{"type":"wsgate.refresh","token":"' + tokens[k % len(tokens)] + '"}')
                answer = await ws.recv()
                if not answer.startswith('{"type":"wsgate.refreshed"'):
                    raise RuntimeError(answer)
                done += 1

    await asyncio.gather(*(one(i) for i in range(connections)))
    return done


def raw_open(port: int, token: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall((f"GET /ws/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    return s


def revoke_time(port: int, admin: int, token: str, sub: str, n: int) -> tuple[float, int]:
    """Opens n sessions of `sub`, revokes them, returns (seconds from the call to the last close frame, closes)."""
    socks = []
    for i in range(0, n, 200):
        batch = [raw_open(port, token) for _ in range(min(200, n - i))]
        for s in batch:
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
            assert data.startswith(b"HTTP/1.1 101"), data[:100]
            # The echo backend greets with the request it received: read it before measuring.
            s.setblocking(False)
        socks += batch
    # Drain greetings.
    time.sleep(0.5)
    for s in socks:
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
    pending = {s.fileno(): s for s in socks}
    body = json.dumps({"sub": sub}).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", admin)) as a:
        a.sendall(b"POST /sessions/revoke HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        answer = b""
        while chunk := a.recv(65536):
            answer += chunk
    closed = json.loads(answer.split(b"\r\n\r\n", 1)[1])["closed"]
    last = started
    while pending and time.monotonic() - started < 60:
        for fd, _ in poller.poll(1):
            s = pending.get(fd)
            if s is None:
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if not data or b"\x88" in data:
                last = time.monotonic()
                poller.unregister(fd)
                del pending[fd]
    for s in socks:
        s.close()
    if pending:
        raise RuntimeError(f"{len(pending)} sessions got no close frame")
    return last - started, closed


def main():
    work, before, after, bench = (Path(p) for p in sys.argv[1:5])
    setup = Setup(work, before, after, bench)
    results = {"echo_before": [], "echo_after_chat": [], "echo_after_live": [], "text_after_chat": [], "text_after_live": [],
               "handshake": [], "refresh": [],
               "revoke_1": [], f"revoke_{REVOKE_N}": []}
    try:
        old, old_port, _ = setup.gateway(before, "before", False)
        new, new_port, new_admin = setup.gateway(after, "after", True)
        for run in range(RUNS):
            print(f"run {run + 1}/{RUNS}", file=sys.stderr, flush=True)
            for label, pid, url in (("echo_before", old.pid, f"ws://127.0.0.1:{old_port}/ws/chat"),
                                    ("echo_after_chat", new.pid, f"ws://127.0.0.1:{new_port}/ws/chat"),
                                    ("echo_after_live", new.pid, f"ws://127.0.0.1:{new_port}/ws/live")):
                r = bench_json(setup, "echo", url, pid, ["--concurrency", "100", "--size", "64"])
                results[label].append(r["watched"][0]["cpuMillisecondsPer1000Operations"])
            for label, url in (("text_after_chat", f"ws://127.0.0.1:{new_port}/ws/chat"),
                               ("text_after_live", f"ws://127.0.0.1:{new_port}/ws/live")):
                r = bench_json(setup, "echo", url, new.pid, ["--concurrency", "100", "--size", "64", "--text"])
                results[label].append(r["watched"][0]["cpuMillisecondsPer1000Operations"])
            r = bench_json(setup, "handshake", f"ws://127.0.0.1:{new_port}/ws/chat", new.pid, ["--concurrency", "32"])
            results["handshake"].append(r["watched"][0]["cpuMillisecondsPer1000Operations"])
            tokens = [setup.token(jti=f"t{i}") for i in range(64)]
            cpu0 = cpu_seconds(new.pid)
            count = asyncio.run(refresh_load(new_port, tokens, DURATION))
            results["refresh"].append((cpu_seconds(new.pid) - cpu0) * 1e6 / count)
            for n in (1, REVOKE_N):
                sub = f"victim-{run}-{n}"
                seconds, closed = revoke_time(new_port, new_admin, setup.token(sub=sub), sub, n)
                assert closed == n, (closed, n)
                results[f"revoke_{n}"].append(seconds * 1000)
    finally:
        setup.stop()
    print(json.dumps(results, indent=1))
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"echo CPU ms/1000: before {med['echo_before']:.2f}, after /ws/chat {med['echo_after_chat']:.2f} "
          f"({med['echo_after_chat'] / med['echo_before']:.3f}x), after /ws/live (token_refresh) {med['echo_after_live']:.2f} "
          f"({med['echo_after_live'] / med['echo_before']:.3f}x)")
    print(f"text echo (JSON-shaped 64 B) CPU ms/1000, after: /ws/chat {med['text_after_chat']:.2f}, /ws/live (token_refresh) "
          f"{med['text_after_live']:.2f} ({med['text_after_live'] / med['text_after_chat']:.3f}x)")
    print(f"CPU ms per 1000: RS256 handshakes {med['handshake']:.1f}, refreshes {med['refresh']:.1f} "
          f"({med['refresh'] / med['handshake']:.2f}x)")
    print(f"revoke call -> last close frame: 1 session {med['revoke_1']:.2f} ms, {REVOKE_N} sessions {med[f'revoke_{REVOKE_N}']:.1f} ms "
          f"(medians of {RUNS})")


if __name__ == "__main__":
    main()
