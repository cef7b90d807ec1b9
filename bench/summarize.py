#!/usr/bin/env python3
"""Medians of bench/run.sh's JSON results as Markdown tables, ratios and the issue-6 targets.

    python3 bench/summarize.py bench/results/latest
"""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest"
machine = json.load(open(os.path.join(out, "machine.json")))
TARGETS = ["direct", "wsgate", "haproxy", "nginx"]


def load(pattern):
    rows = []
    for path in sorted(glob.glob(os.path.join(out, pattern))):
        try:
            rows.append(json.load(open(path)))
        except (ValueError, OSError):
            print(f"(unreadable: {os.path.basename(path)})", file=sys.stderr)
    return rows


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def proxy(report):
    """The first watched process: the proxy (or the backend for direct)."""
    return report["watched"][0] if report.get("watched") else None


def backend(report):
    return report["watched"][-1] if report.get("watched") else None


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def ratio(a, b, digits=2):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.{digits}f}"


print(f"machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; "
      f"HAProxy {machine['haproxy']}, nginx {machine['nginx']}; {machine['swift']}")
print(f"date: {machine['date']}, commit {machine['commit']}; {machine['runs']} runs of {machine['duration']} s, "
      f"medians; proxies pinned to CPU {machine['proxy_cpu']}, load generator and backend to CPU {machine['load_cpu']}")
print()

summary = {}
CERT_NAMES = {"ecdsa": "ECDSA P-256", "rsa": "RSA-2048"}
tls = machine.get("wss_tls", "1.3")
blocks = [("handshake", "handshake", "handshakes/s", machine["handshake_c"], "RS256 token, connect → first message → close"),
          ("echo", "echo", "round trips/s", machine["echo_c"], f"{machine['echo_size']} B binary, one in flight per connection"),
          ("stream", "stream", "MB/s", 1, f"{machine['stream_size']} B messages, {machine['stream_window']} in flight, echoed back")]
for cert in ("ecdsa", "rsa"):
    blocks += [(f"wss-handshake-{cert}", "handshake", "handshakes/s", machine["handshake_c"],
                f"TLS {tls} full handshake, {CERT_NAMES[cert]}, X25519, AES-128-GCM; RS256 token, connect → first message → close"),
               (f"wss-handshake-resumed-{cert}", "handshake", "handshakes/s", machine.get("resume_c", 4),
                f"TLS 1.3 resumed from a session ticket (Python ssl client), {CERT_NAMES[cert]}; RS256 token"),
               (f"wss-echo-{cert}", "echo", "round trips/s", machine["echo_c"],
                f"TLS {tls}, {CERT_NAMES[cert]}; {machine['echo_size']} B binary, one in flight per connection")]
for name, scenario, unit, c, extra in blocks:
    rows = {}
    for t in TARGETS:
        reports = load(f"{name}-{t}-*.json")
        if not reports:
            continue
        lat = [r["latencyMicroseconds"] for r in reports if r.get("latencyMicroseconds")]
        rows[t] = {
            "n": len(reports),
            "rate": med([r["megabytesPerSecond"] if scenario == "stream" else r["operationsPerSecond"] for r in reports]),
            "p50": med([l["p50"] for l in lat]), "p90": med([l["p90"] for l in lat]),
            "p99": med([l["p99"] for l in lat]), "p999": med([l["p999"] for l in lat]),
            "max": med([l["max"] for l in lat]),
            "cpu1k": med([proxy(r)["cpuMillisecondsPer1000Operations"] for r in reports]) if t != "direct" else None,
            "cpu_pct": med([proxy(r)["cpuPercentOfOneCore"] for r in reports]) if t != "direct" else None,
            "rss": med([proxy(r)["rssKiBEnd"] for r in reports]) if t != "direct" else None,
            "backend_pct": med([backend(r)["cpuPercentOfOneCore"] for r in reports]),
            "client_pct": med([r["client"]["cpuPercentOfOneCore"] for r in reports]),
            "errors": sum(r["errors"] for r in reports),
        }
    if not rows:
        continue
    summary[name] = rows
    print(f"### {name} ({c} connections; {extra})")
    print()
    print(f"| target | {unit} | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | proxy CPU ms / 1000 ops | proxy CPU % | proxy RSS KiB | backend CPU % | client CPU % | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t, r in rows.items():
        print(f"| {t} | {fmt(r['rate'])} | {fmt(r['p50'])} | {fmt(r['p90'])} | {fmt(r['p99'])} | {fmt(r['p999'])} | {fmt(r['max'])} | "
              f"{fmt(r['cpu1k'], 2)} | {fmt(r['cpu_pct'])} | {fmt(r['rss'])} | {fmt(r['backend_pct'])} | {fmt(r['client_pct'])} | {r['errors']} |")
    w, h, d = rows.get("wsgate"), rows.get("haproxy"), rows.get("direct")
    if w:
        print()
        print(f"wsgate/HAProxy: rate {ratio(w['rate'], h and h['rate'])}, p99 {ratio(w['p99'], h and h['p99'])}, "
              f"CPU per op {ratio(w['cpu1k'], h and h['cpu1k'])}; "
              f"wsgate/direct: rate {ratio(w['rate'], d and d['rate'])}, p99 {ratio(w['p99'], d and d['p99'])}")
    print()

latency = {}
for path in glob.glob(os.path.join(out, "latency-*.json")):
    _, c, _, nodelay, t, _ = os.path.basename(path)[:-5].split("-")  # latency-c4-nodelay-off-wsgate-1
    latency.setdefault((int(c[1:]), nodelay, t), []).append(json.load(open(path)))
if latency:
    print(f"### upgrade latency over wss (TLS {tls}, ECDSA): request written → 101 head read, µs")
    print()
    print("| connections | client TCP_NODELAY | target | p50 µs | p99 µs | handshakes/s | errors |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for key in sorted(latency, key=lambda k: (k[0], k[1] != "on", TARGETS.index(k[2]))):
        rs = latency[key]
        up = [r["upgradeLatencyMicroseconds"] for r in rs if r.get("upgradeLatencyMicroseconds")]
        latency[key] = {"p50": med([u["p50"] for u in up]), "p99": med([u["p99"] for u in up])}
        print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(latency[key]['p50'])} | {fmt(latency[key]['p99'])} | "
              f"{fmt(med([r['operationsPerSecond'] for r in rs]))} | {sum(r['errors'] for r in rs)} |")
storm = {}
for t in TARGETS:
    reports = load(f"storm-{t}-*.json")
    if reports:
        lat = [r["latencyMicroseconds"] for r in reports if r.get("latencyMicroseconds")]
        storm[t] = {"n": reports[0]["operations"], "seconds": med([r["seconds"] for r in reports]),
                    "rate": med([r["operationsPerSecond"] for r in reports]),
                    "p50": med([l["p50"] for l in lat]), "p99": med([l["p99"] for l in lat]), "max": med([l["max"] for l in lat]),
                    "cpu1k": med([proxy(r)["cpuMillisecondsPer1000Operations"] for r in reports]) if t != "direct" else None,
                    "cpu_pct": med([proxy(r)["cpuPercentOfOneCore"] for r in reports]) if t != "direct" else None,
                    "errors": sum(r["errors"] for r in reports), "runs": [round(r["seconds"], 3) for r in reports]}
if storm:
    print(f"### reconnect storm (all connections dropped at once, all reconnect at concurrency {machine.get('storm_c', '?')})")
    print()
    print("| target | reconnected | all relayed again after s | reconnects/s | p50 µs | p99 µs | max µs | proxy CPU ms / 1000 reconnects | proxy CPU % | errors | runs (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for t, r in storm.items():
        print(f"| {t} | {r['n']:,} | {fmt(r['seconds'], 3)} | {fmt(r['rate'])} | {fmt(r['p50'])} | {fmt(r['p99'])} | {fmt(r['max'])} | "
              f"{fmt(r['cpu1k'], 2)} | {fmt(r['cpu_pct'])} | {r['errors']} | {' / '.join(str(x) for x in r['runs'])} |")
    w, h = storm.get("wsgate"), storm.get("haproxy")
    if w and h:
        print()
        print(f"wsgate/HAProxy: reconnect rate {ratio(w['rate'], h['rate'])}, CPU per reconnect {ratio(w['cpu1k'], h['cpu1k'])}")
    print()

idle = {}
for path in glob.glob(os.path.join(out, "idle-*.json")):
    _, n, t, _ = os.path.basename(path)[:-5].split("-")
    idle.setdefault((t, int(n)), []).append(json.load(open(path)))
if idle:
    print("### idle connections (fresh proxy per count; RSS growth ÷ connections)")
    print()
    print("| target | connections | opened | still open after hold | still echoing | proxy RSS before KiB | with all open KiB | KiB per connection | open rate /s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (t, n) in sorted(idle, key=lambda k: (TARGETS.index(k[0]), k[1])):
        rs = idle[(t, n)]
        f = [r["idle"] for r in rs]
        idle[(t, n)] = {"per": med([x["watchedRSSKiBPerConnection"] for x in f]),
                        "opened": min(x["opened"] for x in f), "still": min(x["stillOpen"] for x in f),
                        "echo": min(x["echoing"] for x in f)}
        print(f"| {t} | {n:,} | {min(x['opened'] for x in f):,} | {min(x['stillOpen'] for x in f):,} | {min(x['echoing'] for x in f):,} | "
              f"{fmt(med([x['watchedRSSKiBBefore'] for x in f]))} | {fmt(med([x['watchedRSSKiBOpen'] for x in f]))} | "
              f"{fmt(idle[(t, n)]['per'], 2)} | {fmt(med([x['openPerSecond'] for x in f]))} |")
    print("(opened/still open/echoing: the worst run)")
    print()

loaded = {}
for path in glob.glob(os.path.join(out, "loaded-handshake-*.json")):
    _, _, n, t, _ = os.path.basename(path)[:-5].split("-")
    loaded.setdefault((t, int(n)), []).append(json.load(open(path)))
if loaded:
    print("### handshakes while the idle connections are held")
    print()
    print("| target | held | handshakes/s | vs. idle proxy | p99 µs | proxy CPU ms / 1000 |")
    print("|---|---:|---:|---:|---:|---:|")
    for (t, n), rs in sorted(loaded.items()):
        rate = med([r["operationsPerSecond"] for r in rs])
        base = summary.get("handshake", {}).get(t, {}).get("rate")
        loaded[(t, n)] = {"rate": rate, "base": base}
        print(f"| {t} | {n:,} | {fmt(rate)} | {ratio(rate, base)} | {fmt(med([r['latencyMicroseconds']['p99'] for r in rs]))} | "
              f"{fmt(med([proxy(r)['cpuMillisecondsPer1000Operations'] for r in rs]), 2)} |")
    print()

# The issue-6 targets.
checks = []
def check(name, ok, detail):
    checks.append((name, ok, detail))

hs, ec, st = summary.get("handshake", {}), summary.get("echo", {}), summary.get("stream", {})
if "wsgate" in hs and "haproxy" in hs:
    w, h = hs["wsgate"]["cpu1k"], hs["haproxy"]["cpu1k"]
    check("CPU per 1,000 RS256 handshakes ≤ HAProxy", w <= h, f"wsgate {w:.1f} ms vs HAProxy {h:.1f} ms ({w / h:.2f}×)")
if "wsgate" in ec and "haproxy" in ec:
    w, h = ec["wsgate"]["cpu1k"], ec["haproxy"]["cpu1k"]
    check("CPU per 1,000 relayed 64 B echoes ≤ HAProxy", w <= h, f"wsgate {w:.2f} ms vs HAProxy {h:.2f} ms ({w / h:.2f}×)")
    w, h = ec["wsgate"]["rate"], ec["haproxy"]["rate"]
    check("echo round trips/s at 100 connections ≥ HAProxy", w >= h, f"{w:,.0f} vs {h:,.0f} ({w / h:.2f}×)")
    w, h = ec["wsgate"]["p99"], ec["haproxy"]["p99"]
    check("echo p99 ≤ HAProxy", w <= h, f"{w:,} µs vs {h:,} µs ({w / h:.2f}×)")
if "wsgate" in st and "direct" in st:
    w, d = st["wsgate"]["rate"], st["direct"]["rate"]
    check("stream 1 MiB ≥ 0.9 × direct", w >= 0.9 * d, f"{w:,.0f} vs {d:,.0f} MB/s ({w / d:.2f}×)")
if ("wsgate", 9000) in idle:
    w = idle[("wsgate", 9000)]["per"]
    h = idle.get(("haproxy", 9000), {}).get("per")
    check("RSS per idle proxied connection at 9k ≤ 8 KiB", w <= 8, f"{w:.2f} KiB")
    if h is not None:
        check("… and ≤ HAProxy's", w <= h, f"{w:.2f} vs {h:.2f} KiB ({w / h:.2f}×)")
    i = idle[("wsgate", 9000)]
    check("9,000 held by wsgate, every one still echoing", i["echo"] >= 9000, f"opened {i['opened']}, still open {i['still']}, echoing {i['echo']}")
if ("wsgate", 9000) in loaded and loaded[("wsgate", 9000)]["base"]:
    l = loaded[("wsgate", 9000)]
    check("handshake rate with 9k held within 20% of idle", l["rate"] >= 0.8 * l["base"], f"{l['rate']:,.0f} vs {l['base']:,.0f} /s ({l['rate'] / l['base']:.2f}×)")
for cert in ("ecdsa", "rsa"):
    for kind, what in (("handshake", "full handshakes"), ("handshake-resumed", "resumed handshakes"), ("echo", "64 B echoes")):
        rows = summary.get(f"wss-{kind}-{cert}", {})
        if "wsgate" in rows and "haproxy" in rows and rows["wsgate"]["cpu1k"] and rows["haproxy"]["cpu1k"]:
            w, h = rows["wsgate"]["cpu1k"], rows["haproxy"]["cpu1k"]
            check(f"CPU per 1,000 wss {what} ({CERT_NAMES[cert]}) ≤ HAProxy", w <= h,
                  f"wsgate {w:.2f} ms vs HAProxy {h:.2f} ms ({w / h:.2f}×)")
for (c, nodelay, t), v in sorted(latency.items()):
    h = latency.get((c, nodelay, "haproxy"))
    if t == "wsgate" and h and v["p50"] is not None and h["p50"] is not None:
        check(f"wss request → 101 p50 ≤ HAProxy + 1 ms ({c} connections, TCP_NODELAY {nodelay})",
              v["p50"] <= h["p50"] + 1000, f"{v['p50']:,} vs {h['p50']:,} µs; p99 {v['p99']:,} vs {h['p99']:,} µs")
if checks:
    print("### issue 6 and 16 targets")
    print()
    print("| target | met | figures (medians) |")
    print("|---|---|---|")
    for name, ok, detail in checks:
        print(f"| {name} | {'yes' if ok else '**no**'} | {detail} |")
