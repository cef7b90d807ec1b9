#!/usr/bin/env python3
"""Resumed wss handshakes for bench/run.sh (`wss-handshake-resumed`), the one scenario
wsgate-bench cannot drive: swift-nio-ssl's client keeps no sessions, Python's `ssl` (OpenSSL)
does (`session=`).

C threads each loop: TCP connect (TCP_NODELAY on, like wsgate-bench), TLS 1.3 resuming the last
session ticket the proxy issued (RFC 8446 §2.2), upgrade with a token, wait for the backend's first
message, send close 1000, wait for the server to close TCP. A handshake that was not resumed
(or not with TLS_AES_128_GCM_SHA256 and X25519, the other wss scenarios' TLS) counts as an error,
so the figure is for resumed handshakes only. The proxy's CPU per 1,000
handshakes comes from /proc/PID/stat at the window's edges, as in wsgate-bench; the JSON has
wsgate-bench's shape, so bench/summarize.py reads it alike.

    wss_resume.py --url wss://127.0.0.1:18443/ws/chat --token T --concurrency 4 --duration 10 \\
        --watch-pid PROXY --watch-pid BACKEND --label wsgate
"""
import argparse
import base64
import json
import os
import sys
import tempfile

# The same TLS as every other wss scenario: TLS_AES_128_GCM_SHA256 with X25519. Python's `ssl`
# cannot restrict TLS 1.3 cipher suites, and OpenSSL's client offers AES-256-GCM-SHA384 first,
# which a BoringSSL server (wsgate) takes while HAProxy's configuration allows AES-128 only: the
# proxies would do different work. OpenSSL reads its configuration when `ssl` is first imported,
# so the script sets OPENSSL_CONF and starts itself again before that.
if os.environ.get("WSS_RESUME_TLS_CONF") is None:
    conf = tempfile.NamedTemporaryFile("w", prefix="wss-resume-", suffix=".cnf", delete=False)
    conf.write("openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n[ssl_sect]\n"
               "system_default = tls\n[tls]\nCiphersuites = TLS_AES_128_GCM_SHA256\nGroups = X25519\n")
    conf.close()
    os.environ["OPENSSL_CONF"] = os.environ["WSS_RESUME_TLS_CONF"] = conf.name
    os.execv(sys.executable, [sys.executable] + sys.argv)

import socket  # noqa: E402
import ssl  # noqa: E402
import struct
import threading
import time
from urllib.parse import urlsplit

CLOSE_1000 = bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8])  # masked with a zero key (RFC 6455 §5.3)


def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return cpu, rss


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--watch-pid", type=int, action="append", default=[])
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    url = urlsplit(args.url)
    host, port, path = url.hostname, url.port, url.path or "/"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the benchmark's certificates are minted on the spot
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["http/1.1"])
    if os.path.exists(os.environ["WSS_RESUME_TLS_CONF"]):
        os.unlink(os.environ["WSS_RESUME_TLS_CONF"])  # OpenSSL has read it by now

    lock = threading.Lock()
    state = {"session": None, "ok": 0, "errors": 0, "latencies": [], "measuring": False}
    stop_at = [0.0]

    def one(session):
        started = time.perf_counter()
        raw = socket.create_connection((host, port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            key = base64.b64encode(os.urandom(16)).decode()
            tls.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         f"Authorization: Bearer {args.token}\r\n\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(16384)
                if not chunk:
                    return None, tls.session, False
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                return None, tls.session, False
            while len(data) < 2:  # the first message's frame header (RFC 6455 §5.2)
                chunk = tls.recv(16384)
                if not chunk:
                    return None, tls.session, False
                data += chunk
            elapsed = time.perf_counter() - started  # the first message's header arrived
            tls.sendall(CLOSE_1000)
            while tls.recv(16384):
                pass
            # Another cipher is another job: counted as an error, like a handshake not resumed.
            same_job = tls.cipher()[0] == "TLS_AES_128_GCM_SHA256"
            return elapsed, tls.session, tls.session_reused and same_job

    # A full handshake first: its ticket seeds every worker.
    _, state["session"], _ = one(None)

    def worker():
        while True:
            with lock:
                session = state["session"]
            if time.perf_counter() >= stop_at[0]:
                return
            try:
                elapsed, new_session, reused = one(session)
            except (OSError, ssl.SSLError):
                elapsed, new_session, reused = None, None, False
            with lock:
                if new_session is not None and new_session.has_ticket:
                    state["session"] = new_session
                if not state["measuring"]:
                    continue
                if elapsed is not None and reused:
                    state["ok"] += 1
                    state["latencies"].append(int(elapsed * 1e6))
                else:
                    state["errors"] += 1

    stop_at[0] = time.perf_counter() + args.duration + 1
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    time.sleep(1)  # warm-up: every worker has a session ticket
    start_samples = {pid: proc_sample(pid) for pid in args.watch_pid}
    cpu0, t0 = time.process_time(), time.perf_counter()
    with lock:
        state["measuring"] = True
    time.sleep(args.duration)
    with lock:
        state["measuring"] = False
        ok, errors, latencies = state["ok"], state["errors"], sorted(state["latencies"])
    seconds = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0
    end_samples = {pid: proc_sample(pid) for pid in args.watch_pid}
    for t in threads:
        t.join()

    watched = []
    for pid in args.watch_pid:
        (a_cpu, a_rss), (b_cpu, b_rss) = start_samples[pid], end_samples[pid]
        cpu = b_cpu - a_cpu
        watched.append({"pid": pid, "cpuSeconds": cpu,
                        "cpuMillisecondsPer1000Operations": cpu * 1e6 / ok if ok else None,
                        "cpuPercentOfOneCore": cpu / seconds * 100, "rssKiBStart": a_rss, "rssKiBEnd": b_rss})
    report = {
        "scenario": "wss-handshake-resumed", "label": args.label, "url": args.url,
        "concurrency": args.concurrency, "seconds": seconds, "operations": ok, "errors": errors,
        "operationsPerSecond": ok / seconds,
        "latencyMicroseconds": {"count": len(latencies), "p50": percentile(latencies, 50),
                                "p90": percentile(latencies, 90), "p99": percentile(latencies, 99),
                                "p999": percentile(latencies, 99.9), "max": latencies[-1] if latencies else 0},
        "client": {"cpuSeconds": client_cpu, "cpuPercentOfOneCore": client_cpu / seconds * 100},
        "watched": watched,
    }
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
