"""Operating wsgate through the real `wsgate serve` process: Prometheus metrics after a known
sequence of handshakes, reload (SIGHUP and `POST /reload`) that adds a route and rotates a key
while an open connection keeps echoing, a broken config refused on reload, and the operator's
commands `wsgate check`, `wsgate token` and `wsgate verify`.

Every gateway here is a fresh process (metrics are per process, reloads change its config) run
with `--log-format json`, so a reload is observed from its own log line ("configuration reloaded"
or "reload refused…"), never from a sleep. Every wait is bounded; every process is stopped at
teardown.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import connect

from conftest import AUDIENCE, ISSUER, SECRET_ENV, SUB, base_config
from harness import Gateway, free_port, http_get
from rawws import http_exchange
from test_interop import T, bearer, run

RELOADED = "configuration reloaded"
REFUSED = "reload refused; the previous configuration keeps serving"


# --- helpers ------------------------------------------------------------------------------------

class Operated:
    """One `wsgate serve` process with its config file, which tests rewrite before a reload."""

    def __init__(self, gw: Gateway, config: dict, env: dict):
        self.gw = gw
        self.config = config
        self.env = env

    @property
    def pid(self) -> int:
        return self.gw.process.proc.pid

    def url(self, path: str) -> str:
        return f"ws://{self.gw.host}:{self.gw.port}{path}"

    def write_config(self, config: dict | None = None, *, text: str | None = None):
        """Replaces the config file (JSON is YAML) or writes raw text, atomically (rename)."""
        path = self.gw.config_path
        tmp = path.with_name(path.name + ".new")
        tmp.write_text(text if text is not None else json.dumps(config, indent=2) + "\n")
        tmp.replace(path)
        if config is not None:
            self.config = config

    def log_event(self, messages: tuple[str, ...], timeout: float = 10.0) -> dict:
        """The next JSON log line (stdout) whose msg is one of `messages`."""
        return self.gw.process.wait_for_event(lambda e: e.get("msg") in messages, timeout)

    def sighup_reload(self) -> dict:
        """SIGHUP, then the gateway's own log line saying how the reload ended."""
        wait_signal_caught(self.pid, signal.SIGHUP)
        self.gw.process.proc.send_signal(signal.SIGHUP)
        return self.log_event((RELOADED, REFUSED))

    def admin_reload(self) -> tuple[int, dict]:
        status, body = http_get(*self.gw.admin, "/reload", timeout=T, method="POST")
        return status, json.loads(body)

    def metrics(self) -> dict:
        status, body = http_get(*self.gw.admin, "/metrics", timeout=T)
        assert status == 200, (status, body)
        return parse_prometheus(body.decode())


def wait_signal_caught(pid: int, sig: int, timeout: float = 10.0):
    """Bounded wait until the process catches `sig` (Linux: SigCgt in /proc/PID/status).

    The gateway installs its SIGHUP handler a moment after /readyz first answers 200; a SIGHUP
    before that would terminate it (the default action), so tests wait for the handler itself.
    """
    deadline = time.monotonic() + timeout
    bit = 1 << (int(sig) - 1)
    while True:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
        if int(fields["SigCgt"].strip(), 16) & bit:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} did not install a handler for {signal.Signals(sig).name} within {timeout}s")
        time.sleep(0.01)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict:
    """{(name, ((label, value), ...) sorted): float} from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        name, labels, value = m.groups()
        key = (name, tuple(sorted(_LABEL.findall(labels or ""))))
        assert key not in samples, f"duplicate series {key} in /metrics"
        samples[key] = float(value)
    return samples


def series(samples: dict, name: str) -> dict:
    """{labels-dict-as-sorted-tuple: value} of one metric name, without the zero series (the gateway
    creates every route's series at 0 when it loads a config, so rates start from a known value)."""
    return {labels: v for (n, labels), v in samples.items() if n == name and v != 0}


def L(**labels) -> tuple:
    return tuple(sorted(labels.items()))


def wait_metrics(op: Operated, predicate, what: str, timeout: float = 10.0) -> dict:
    """Bounded poll of /metrics until predicate(samples) holds (the gateway records a connection's
    close asynchronously after the client has seen it)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = op.metrics()
        if predicate(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"/metrics never showed {what} within {timeout}s; last scrape: "
                                 + json.dumps({f"{n}{dict(l)}": v for (n, l), v in samples.items()
                                               if not n.endswith("_bucket")}, indent=1))
        time.sleep(0.02)


def wire_bytes(payload_length: int, masked: bool) -> int:
    """Size of one unfragmented frame on the wire (RFC 6455 §5.2)."""
    extended = 0 if payload_length < 126 else 2 if payload_length < 1 << 16 else 8
    return 2 + extended + (4 if masked else 0) + payload_length


async def echo(url: str, token: str | None, messages, **kw) -> list:
    """Opens a WebSocket, sends each message, returns the echoes, closes with 1000."""
    kw.setdefault("compression", None)
    async with connect(url, additional_headers=bearer(token) if token else {}, open_timeout=T, close_timeout=T,
                       ping_interval=None, max_size=None, **kw) as ws:
        got = []
        for m in messages:
            await ws.send(m)
            got.append(await asyncio.wait_for(ws.recv(), T))
        return got


def handshake(op: Operated, path: str, token: str | None = None):
    headers = [("Authorization", f"Bearer {token}")] if token else []
    return run(http_exchange(op.gw.host, op.gw.port, path, headers, timeout=T))


def reason_of(result) -> str | None:
    try:
        return json.loads(result.body).get("reason")
    except ValueError:
        return None


def hs_key(kid: str, **source) -> dict:
    return {"id": kid, "algorithms": ["HS256"], **source}


@pytest.fixture
def operate(wsgate_bin, work, secret, rsa_public_pem):
    """Starts `wsgate serve` processes (stopped at teardown): operate(routes, keys=None, name=…)."""
    started: list[Gateway] = []

    def start(routes: list[dict], *, keys: list[dict] | None = None, name: str = "op",
              args: list[str] | None = None) -> Operated:
        unique = f"wsgate-{name}-{uuid.uuid4().hex[:8]}"
        config = base_config(free_port(), free_port(), rsa_public_pem, work, unique)
        if keys is not None:
            config["keys"] = keys
        config["routes"] = routes
        env = {SECRET_ENV: secret.decode()}
        gw = Gateway(wsgate_bin, config, work, env, name=unique, args=["--log-format", "json", *(args or [])])
        started.append(gw)
        op = Operated(gw, config, env)
        op.log_event(("wsgate listening",))
        return op

    yield start
    for gw in started:
        gw.stop()


# --- metrics ------------------------------------------------------------------------------------

def test_operating_metrics_after_known_sequence(operate, backends, minter):
    echo_up = f"ws://127.0.0.1:{backends['python'].port}/echo"
    op = operate([{"path": "/m/echo", "upstream": echo_up, "auth": "required"},
                  {"path": "/m/other", "upstream": echo_up, "auth": "required"}], name="metrics")
    route = "/m/echo"

    first = ["hello", b"\x00" * 200]          # 7-bit and 16-bit payload lengths
    second = ["x" * 10]

    async def two_connections():
        async with connect(op.url(route), additional_headers=bearer(minter.hs256()), open_timeout=T,
                           close_timeout=T, ping_interval=None, compression=None) as a, \
                connect(op.url(route), additional_headers=bearer(minter.hs256()), open_timeout=T,
                        close_timeout=T, ping_interval=None, compression=None) as b:
            for ws, messages in ((a, first), (b, second)):
                for m in messages:
                    await ws.send(m)
                    assert await asyncio.wait_for(ws.recv(), T) == m
            # Both relays are established: the gauge shows them before either closes.
            samples = await asyncio.to_thread(
                wait_metrics, op, lambda s: s.get(("wsgate_connections_active", L(route=route))) == 2,
                "wsgate_connections_active 2 with two open connections")
            return samples
    run(two_connections())

    # Rejections: one unknown path (no route: label "-"), two missing tokens on the route.
    assert handshake(op, "/nowhere").status == 404
    for _ in range(2):
        result = handshake(op, route)
        assert (result.status, reason_of(result)) == (401, "token_missing"), (result.status, result.body)

    # Closed connections are recorded asynchronously: wait for the gauge and the frame counters.
    n_first, n_second = len(first) + 1, len(second) + 1   # + the close frame each way
    samples = wait_metrics(
        op, lambda s: s.get(("wsgate_connections_active", L(route=route))) == 0
        and s.get(("wsgate_frames_total", L(route=route, direction="upstream_to_client"))) == n_first + n_second,
        "the closed connections recorded")

    def length(m):
        return len(m.encode() if isinstance(m, str) else m)

    # Client -> upstream: masked frames plus the client's close (code 1000, no reason: 2 bytes);
    # upstream -> client: unmasked, plus the backend's close reply (code 1000).
    c2u = sum(wire_bytes(length(m), True) for m in first + second) + 2 * wire_bytes(2, True)
    u2c = sum(wire_bytes(length(m), False) for m in first + second) + 2 * wire_bytes(2, False)

    assert series(samples, "wsgate_handshakes_total") == {
        L(route=route, result="accepted"): 2,
        L(route=route, result="rejected"): 2,
        L(route="-", result="rejected"): 1,
    }
    assert series(samples, "wsgate_rejections_total") == {
        L(route=route, reason="token_missing"): 2,
        L(route="-", reason="route_not_found"): 1,
    }
    assert samples.get(("wsgate_connections_active", L(route=route))) == 0
    assert series(samples, "wsgate_connections_active") == {}
    assert series(samples, "wsgate_frames_total") == {
        L(route=route, direction="client_to_upstream"): n_first + n_second,
        L(route=route, direction="upstream_to_client"): n_first + n_second,
    }
    assert series(samples, "wsgate_bytes_total") == {
        L(route=route, direction="client_to_upstream"): c2u,
        L(route=route, direction="upstream_to_client"): u2c,
    }
    # The histograms saw exactly the two accepted handshakes.
    for name in ["wsgate_handshake_duration_seconds", "wsgate_upstream_connect_duration_seconds"]:
        assert samples.get((f"{name}_count", ())) == 2, f"{name}_count: {samples.get((f'{name}_count', ()))}"
        assert samples.get((f"{name}_bucket", L(le="+Inf"))) == 2
        assert 0 < samples[(f"{name}_sum", ())] < 10

    # The admin listener is not the client listener: /metrics there is a 404 rejection.
    assert handshake(op, "/metrics").status == 404


def test_operating_token_cache_metrics(operate, backends, minter):
    """One event loop (one cache): the same token three times is one miss (verified, stored) and
    two hits; a fresh token is a miss; nothing was evicted (the default cache holds 1024)."""
    echo_up = f"ws://127.0.0.1:{backends['python'].port}/echo"
    op = operate([{"path": "/c", "upstream": echo_up, "auth": "required"}], name="cache", args=["--threads", "1"])
    token = minter.hs256()
    for _ in range(3):
        assert run(echo(op.url("/c"), token, ["x"])) == ["x"]
    assert run(echo(op.url("/c"), minter.hs256(sub="other"), ["y"])) == ["y"]
    samples = op.metrics()
    assert series(samples, "wsgate_token_cache_lookups_total") == {L(result="hit"): 2, L(result="miss"): 2}
    assert series(samples, "wsgate_token_cache_evictions_total") == {}


# --- reload -------------------------------------------------------------------------------------

def test_operating_sighup_adds_route_and_rotates_key(operate, backends, minter, work):
    echo_up = f"ws://127.0.0.1:{backends['python'].port}/echo"
    node_up = f"ws://127.0.0.1:{backends['node'].port}/echo"
    op = operate([{"path": "/a", "upstream": echo_up, "auth": "required"},
                  {"path": "/c", "upstream": node_up, "auth": "required"}],
                 keys=[hs_key("k1", secret_env=SECRET_ENV)], name="sighup")
    old_token = minter.hs256(kid="k1")
    assert handshake(op, "/b", minter.hs256(kid="k1")).status == 404  # B does not exist yet

    new_secret = secrets.token_urlsafe(48).encode()
    secret_file = work / f"rotated-{uuid.uuid4().hex[:8]}.key"
    secret_file.write_bytes(new_secret + b"\n")  # a trailing newline is not part of the secret

    async def go():
        async with connect(op.url("/a"), additional_headers=bearer(old_token), open_timeout=T, close_timeout=T,
                           ping_interval=None) as kept, \
                connect(op.url("/c"), additional_headers=bearer(old_token), open_timeout=T, close_timeout=T,
                        ping_interval=None) as kept_on_removed:
            for ws in (kept, kept_on_removed):
                await ws.send("before reload")
                assert await asyncio.wait_for(ws.recv(), T) == "before reload"

            # The new config: key k1 (env) replaced by k2 (secret file), route B added, route C removed.
            config = json.loads(json.dumps(op.config))
            config["keys"] = [hs_key("k2", secret_file=str(secret_file))]
            config["routes"] = [r for r in config["routes"] if r["path"] != "/c"]
            config["routes"].append({"path": "/b", "upstream": node_up, "auth": "required"})
            op.write_config(config)
            event = await asyncio.to_thread(op.sighup_reload)
            assert event["msg"] == RELOADED, f"reload refused: {event}"
            assert (event.get("routes"), event.get("keys")) == ("2", "1"), event

            # New handshakes use the new config: B exists and takes the new key.
            new_token = minter.hs256(kid="k2", secret=new_secret)
            assert await echo(op.url("/b"), new_token, ["on b"]) == ["on b"]
            assert await echo(op.url("/a"), new_token, ["on a"]) == ["on a"]
            # The old key is gone: its kid is unknown; its secret under the new kid does not verify.
            refused = await http_exchange(op.gw.host, op.gw.port, "/a", [("Authorization", f"Bearer {old_token}")], timeout=T)
            assert (refused.status, reason_of(refused)) == (401, "unknown_key"), (refused.status, refused.body)
            forged = minter.hs256(kid="k2")  # signed with the old secret
            refused = await http_exchange(op.gw.host, op.gw.port, "/b", [("Authorization", f"Bearer {forged}")], timeout=T)
            assert (refused.status, reason_of(refused)) == (401, "signature_invalid"), (refused.status, refused.body)

            refused = await http_exchange(op.gw.host, op.gw.port, "/c", [("Authorization", f"Bearer {new_token}")], timeout=T)
            assert (refused.status, reason_of(refused)) == (404, "route_not_found"), (refused.status, refused.body)

            # Connections opened before the reload keep running on their snapshot, even on the
            # removed route and with a token of the removed key.
            for ws in (kept, kept_on_removed):
                for i in range(3):
                    await ws.send(f"after reload {i}")
                    assert await asyncio.wait_for(ws.recv(), T) == f"after reload {i}"
                await ws.send(b"\x01\x02binary")
                assert await asyncio.wait_for(ws.recv(), T) == b"\x01\x02binary"
    run(go())

    assert op.gw.alive(), op.gw.process.stderr_tail()
    assert http_get(*op.gw.admin, "/readyz")[0] == 200


BROKEN = {
    "invalid_yaml": ("text", "routes:\n  - path: /a\n    upstream: [unclosed\n"),
    "unknown_key": ("route_key", "frobnicate"),
    "missing_secret_file": ("keys", None),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_operating_broken_config_on_reload_is_refused(broken, operate, backends, minter, work):
    echo_up = f"ws://127.0.0.1:{backends['python'].port}/echo"
    op = operate([{"path": "/a", "upstream": echo_up, "auth": "required"}], name=f"broken-{broken}")
    good = json.loads(json.dumps(op.config))
    kind, value = BROKEN[broken]
    if kind == "text":
        op.write_config(text=value)
    elif kind == "route_key":
        bad = json.loads(json.dumps(good))
        bad["routes"][0][value] = True
        bad["routes"].append({"path": "/b", "upstream": echo_up})
        op.write_config(bad)
    else:
        bad = json.loads(json.dumps(good))
        bad["keys"] = [hs_key("k1", secret_file=str(work / f"no-such-{uuid.uuid4().hex}.key"))]
        op.write_config(bad)

    event = op.sighup_reload()
    assert event["msg"] == REFUSED, f"a broken config was not refused: {event}"
    assert event.get("problems"), event
    if kind == "route_key":
        assert "frobnicate" in event["problems"] and "routes[0]" in event["problems"], event
    if kind == "keys":
        assert "no-such-" in event["problems"], event

    # The old config keeps serving: route A with the old key, and no route B.
    assert run(echo(op.url("/a"), minter.hs256(), ["still here"])) == ["still here"]
    assert handshake(op, "/b", minter.hs256()).status == 404
    assert op.gw.alive() and http_get(*op.gw.admin, "/readyz")[0] == 200

    # Fixing the file makes the next reload succeed.
    fixed = json.loads(json.dumps(good))
    fixed["routes"].append({"path": "/b", "upstream": echo_up, "auth": "required"})
    op.write_config(fixed)
    assert op.sighup_reload()["msg"] == RELOADED
    assert run(echo(op.url("/b"), minter.hs256(), ["fixed"])) == ["fixed"]


def test_operating_admin_post_reload(operate, backends, minter, work):
    echo_up = f"ws://127.0.0.1:{backends['python'].port}/echo"
    secret_file = work / f"admin-reload-{uuid.uuid4().hex[:8]}.key"
    first_secret = secrets.token_urlsafe(48).encode()
    secret_file.write_bytes(first_secret)
    op = operate([{"path": "/a", "upstream": echo_up, "auth": "required"}],
                 keys=[hs_key("kf", secret_file=str(secret_file))], name="admin-reload")
    first_token = minter.hs256(kid="kf", secret=first_secret)

    async def go():
        async with connect(op.url("/a"), additional_headers=bearer(first_token), open_timeout=T, close_timeout=T,
                           ping_interval=None) as kept:
            await kept.send("one")
            assert await asyncio.wait_for(kept.recv(), T) == "one"

            # Same YAML, new secret in the same file: a reload re-reads secret files.
            second_secret = secrets.token_urlsafe(48).encode()
            secret_file.write_bytes(second_secret)
            config = json.loads(json.dumps(op.config))
            config["routes"].append({"path": "/b", "upstream": echo_up, "auth": "required"})
            op.write_config(config)
            status, body = await asyncio.to_thread(op.admin_reload)
            assert (status, body) == (200, {"status": "reloaded"})
            assert (await asyncio.to_thread(op.log_event, (RELOADED, REFUSED)))["msg"] == RELOADED

            second_token = minter.hs256(kid="kf", secret=second_secret)
            assert await echo(op.url("/b"), second_token, ["on b"]) == ["on b"]
            stale = await http_exchange(op.gw.host, op.gw.port, "/a", [("Authorization", f"Bearer {first_token}")], timeout=T)
            assert (stale.status, reason_of(stale)) == (401, "signature_invalid"), (stale.status, stale.body)

            # A broken config: 422 with the problems; the old config keeps serving.
            op.write_config(text="routes: {this is: [not valid\n")
            status, body = await asyncio.to_thread(op.admin_reload)
            assert status == 422 and body.get("status") == "refused" and body.get("problems"), (status, body)
            assert (await asyncio.to_thread(op.log_event, (RELOADED, REFUSED)))["msg"] == REFUSED
            assert await echo(op.url("/b"), second_token, ["b still served"]) == ["b still served"]

            await kept.send("two")
            assert await asyncio.wait_for(kept.recv(), T) == "two"
    run(go())

    # Reload is a POST: a GET does not reload.
    status, _ = http_get(*op.gw.admin, "/reload")
    assert status in (404, 405), status


# --- check, token, verify -----------------------------------------------------------------------

def wsgate(wsgate_bin, *args, env=None, stdin=None, timeout=30) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([str(wsgate_bin), *args], input=stdin, capture_output=True, timeout=timeout,
                          env=full_env, text=True)


@pytest.fixture
def cli_config(work, rsa_public_pem, backends):
    """A good config on disk (HS256 from a secret file, RS256 from a PEM) and its secret."""
    secret = secrets.token_urlsafe(48).encode()
    secret_file = work / f"cli-{uuid.uuid4().hex[:8]}.key"
    secret_file.write_bytes(secret + b"\n")
    config = base_config(free_port(), free_port(), rsa_public_pem, work, "cli")
    config["keys"] = [hs_key("k-cli", secret_file=str(secret_file)),
                      {"id": "k-rsa", "algorithms": ["RS256"], "public_key_file": str(rsa_public_pem)}]
    config["routes"] = [{"path": "/chat", "upstream": f"ws://127.0.0.1:{backends['python'].port}/echo",
                         "auth": "required", "require_claims": {"role": ["admin"]}}]
    path = work / f"cli-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path, config, secret_file, secret


def test_operating_check_good_and_bad(wsgate_bin, cli_config, work):
    path, config, _, _ = cli_config
    good = wsgate(wsgate_bin, "check", "--config", str(path))
    assert good.returncode == 0, (good.stdout, good.stderr)
    assert good.stdout.startswith("ok:"), good.stdout

    bad = json.loads(json.dumps(config))
    bad["routes"][0]["frobnicate"] = 1
    bad["keys"][0]["secret_file"] = str(work / "missing-secret.key")
    bad["limits"]["handshake_timeout"] = "five seconds"
    bad_path = work / f"cli-bad-{uuid.uuid4().hex[:8]}.yaml"
    bad_path.write_text(json.dumps(bad, indent=2) + "\n")
    out = wsgate(wsgate_bin, "check", "--config", str(bad_path))
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    problems = [line for line in out.stdout.splitlines() if line.strip()]
    # Every problem is listed, each with its key path.
    assert any("routes[0]" in p and "frobnicate" in p for p in problems), problems
    assert any("missing-secret.key" in p for p in problems), problems
    assert any("handshake_timeout" in p for p in problems), problems
    assert len(problems) >= 3, problems
    assert "3 problems" in out.stderr, out.stderr

    unparsable = work / f"cli-yaml-{uuid.uuid4().hex[:8]}.yaml"
    unparsable.write_text("listen: [unclosed\n")
    out = wsgate(wsgate_bin, "check", "--config", str(unparsable))
    assert out.returncode == 1 and out.stdout.strip(), (out.returncode, out.stdout, out.stderr)


def test_operating_token_verify_round_trip(wsgate_bin, cli_config):
    path, _, secret_file, secret = cli_config
    mint = ["token", "--alg", "HS256", "--secret-file", str(secret_file), "--kid", "k-cli", "--sub", "bob",
            "--iss", ISSUER, "--aud", AUDIENCE, "--claim", "role=admin", "--claim", "org.id=7", "--ttl", "10m"]
    # wsgate token … | wsgate verify --config … -
    token_proc = subprocess.Popen([str(wsgate_bin), *mint], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        verify = subprocess.run([str(wsgate_bin), "verify", "--config", str(path), "--route", "/chat", "-"],
                                stdin=token_proc.stdout, capture_output=True, text=True, timeout=30)
        token_proc.stdout.close()
        assert token_proc.wait(timeout=30) == 0, token_proc.stderr.read()
    finally:
        if token_proc.poll() is None:
            token_proc.kill()
            token_proc.wait()
        token_proc.stderr.close()
    assert verify.returncode == 0, (verify.stdout, verify.stderr)
    claims = json.loads(verify.stdout[:verify.stdout.rindex("}") + 1])
    assert claims["sub"] == "bob" and claims["iss"] == ISSUER and claims["role"] == "admin", claims
    assert claims["org"] == {"id": 7}, claims
    assert claims["aud"] in (AUDIENCE, [AUDIENCE]), claims
    assert 590 <= claims["exp"] - claims["iat"] <= 600, claims

    # The minted token is a standard JWT: PyJWT verifies it with the same secret.
    token = wsgate(wsgate_bin, *mint).stdout.strip()
    decoded = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert decoded["sub"] == "bob" and jwt.get_unverified_header(token)["kid"] == "k-cli"
    assert token not in verify.stdout + verify.stderr  # verify never prints the token


def test_operating_verify_rejections(wsgate_bin, cli_config, minter):
    path, _, secret_file, secret = cli_config
    expired = wsgate(wsgate_bin, "token", "--alg", "HS256", "--secret-file", str(secret_file), "--kid", "k-cli",
                     "--sub", "bob", "--iss", ISSUER, "--aud", AUDIENCE, "--ttl=-5m")
    assert expired.returncode == 0, expired.stderr
    out = wsgate(wsgate_bin, "verify", "--config", str(path), "-", stdin=expired.stdout)
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "token_expired" in out.stdout + out.stderr, (out.stdout, out.stderr)
    # … but valid as of a time before it expired (reproducing an old rejection).
    exp = jwt.decode(expired.stdout.strip(), options={"verify_signature": False})["exp"]
    out = wsgate(wsgate_bin, "verify", "--config", str(path), "--now", str(exp - 10), expired.stdout.strip())
    assert out.returncode == 0, (out.stdout, out.stderr)

    # A PyJWT token (RS256) verifies; the route's required claim is checked with --route.
    member = minter.rs256(role="member")
    out = wsgate(wsgate_bin, "verify", "--config", str(path), f"Bearer {member}")
    assert out.returncode == 0 and json.loads(out.stdout[:out.stdout.rindex("}") + 1])["sub"] == SUB, (out.stdout, out.stderr)
    out = wsgate(wsgate_bin, "verify", "--config", str(path), "--route", "/chat", member)
    assert out.returncode == 1 and "claim_forbidden" in out.stdout + out.stderr, (out.stdout, out.stderr)
    # A token signed with another secret, and one from an unknown kid.
    forged = jwt.encode(minter.claims(), b"not-the-secret-" * 4, algorithm="HS256", headers={"kid": "k-cli"})
    out = wsgate(wsgate_bin, "verify", "--config", str(path), forged)
    assert out.returncode == 1 and "signature_invalid" in out.stdout + out.stderr, (out.stdout, out.stderr)
    out = wsgate(wsgate_bin, "verify", "--config", str(path), minter.hs256(kid="nobody"))
    assert out.returncode == 1 and "unknown_key" in out.stdout + out.stderr, (out.stdout, out.stderr)
    for text in (out.stdout, out.stderr):
        assert forged not in text
