"""Live sessions with clients and backends we did not write (SESSIONS.md).

Python `websockets` clients through a real `wsgate serve` in front of the Python `websockets`
backend: the admin API (and the `wsgate sessions` / `wsgate revoke` / `wsgate revocations` CLI)
lists and revokes sessions, revoked sockets close with 4003 and the reason while others stay
open, a revoked token is refused with 401 `token_revoked`, revocations survive a restart, every
admin endpoint but the probes needs the admin token, and a client renews its token on the open
socket without the backend ever seeing the refresh message.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import SECRET_ENV, base_config
from harness import Gateway, free_port

ADMIN_TOKEN = "interop-admin-token-0123456789abcdef"


def admin_call(gw: Gateway, method: str, path: str, body: dict | str | None = None, token: str | None = ADMIN_TOKEN):
    """One admin request over a raw socket; returns (status, parsed JSON or text, headers)."""
    payload = b"" if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    with socket.create_connection(gw.admin, timeout=10) as s:
        s.sendall(head.encode() + b"\r\n" + payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    try:
        parsed = json.loads(rest)
    except ValueError:
        parsed = rest.decode()
    return int(lines[0].split()[1]), parsed, headers


@pytest.fixture(scope="module")
def sessions_gateway(wsgate_bin, work, secret, rsa_public_pem, backends, tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    port, admin_port = free_port(), free_port()
    config = base_config(port, admin_port, rsa_public_pem, work, "sessions")
    config["admin"]["token_env"] = "WSGATE_ADMIN_TOKEN"
    config["state_dir"] = str(state)
    up = f"ws://127.0.0.1:{backends['python'].port}"
    config["routes"] = [
        {"path": "/chat", "upstream": f"{up}/record", "auth": "required", "claims_to_headers": {"sub": "X-User-Id"}},
        {"path": "/live", "upstream": f"{up}/record", "auth": "required", "claims_to_headers": {"sub": "X-User-Id", "role": "X-Role"},
         "token_refresh": {"notify_before": "2s", "grace": "1s"}},
    ]
    env = {SECRET_ENV: secret.decode(), "WSGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    handle = {"gw": Gateway(wsgate_bin, config, work, env, name="wsgate-sessions"), "config": config, "env": env}
    yield handle
    handle["gw"].stop()


def closed_events(backend, test_ids: set[str], timeout: float = 10.0) -> dict:
    """The backend's "closed" events for these connections, in whatever order they come."""
    found = {}
    while len(found) < len(test_ids):
        event = backend.process.wait_for_event(
            lambda e: e.get("event") == "closed" and e.get("test_id") in test_ids - found.keys(), timeout)
        found[event["test_id"]] = event
    return found


def cli(wsgate_bin, gw: Gateway, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(wsgate_bin), *args, "--admin", f"http://127.0.0.1:{gw.admin[1]}"],
                          env={"WSGATE_ADMIN_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_revoke_closes_alices_sockets_with_4003_and_keeps_bobs(sessions_gateway, minter, backends, wsgate_bin):
    gw = sessions_gateway["gw"]
    alice = minter.hs256(sub="alice-rev")
    bob = minter.hs256(sub="bob-rev")

    async def scenario():
        url = f"ws://127.0.0.1:{gw.port}/chat"
        a1 = await connect(url, additional_headers={"Authorization": f"Bearer {alice}", "X-Test-Id": "rev-a1"})
        a2 = await connect(url + f"?access_token={alice}", additional_headers={"X-Test-Id": "rev-a2"})
        b1 = await connect(url, additional_headers={"Authorization": f"Bearer {bob}", "X-Test-Id": "rev-b1"})
        for ws in (a1, a2, b1):
            await ws.send("hi")
            assert await ws.recv() == "hi"

        listed = cli(wsgate_bin, gw, "sessions", "--sub", "alice-rev", "--json")
        assert listed.returncode == 0, listed.stderr
        sessions = json.loads(listed.stdout)
        assert sessions["count"] == 2
        assert {s["sub"] for s in sessions["sessions"]} == {"alice-rev"}
        table = cli(wsgate_bin, gw, "sessions", "--sub", "alice-rev")
        assert table.stdout.splitlines()[0].split() == ["ID", "ROUTE", "SUB", "CLIENT", "OPENED", "EXPIRES", "INSTANCE"]
        assert table.stdout.splitlines()[-1] == "2 sessions"

        revoked = cli(wsgate_bin, gw, "revoke", "--sub", "alice-rev", "--reason", "password changed")
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.rstrip().endswith("closed 2 sessions")

        for ws in (a1, a2):
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4003
            assert closed.value.rcvd.reason == "password changed"
        await b1.send("still here")
        assert await asyncio.wait_for(b1.recv(), 5) == "still here"

        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers={"Authorization": f"Bearer {alice}"})
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body) == {"status": 401, "reason": "token_revoked"}
        await b1.close()

    asyncio.run(scenario())
    # The backend was told too: close 4003 with the reason on both of alice's sockets, 1000 on bob's.
    closed = closed_events(backends["python"], {"rev-a1", "rev-a2", "rev-b1"})
    assert {k: (e["code"], e["reason"]) for k, e in closed.items()} == {
        "rev-a1": (4003, "password changed"), "rev-a2": (4003, "password changed"), "rev-b1": (1000, ""),
    }


def test_revocations_survive_a_restart_and_lift(sessions_gateway, minter, wsgate_bin, work):
    gw = sessions_gateway["gw"]
    token = minter.hs256(sub="carol-restart")
    status, answer, _ = admin_call(gw, "POST", "/sessions/revoke", {"sub": "carol-restart", "until": int(time.time()) + 600})
    assert status == 200 and answer["closed"] == 0
    revocation_id = answer["revocation"]["id"]
    gw.stop()
    sessions_gateway["gw"] = gw = Gateway(wsgate_bin, sessions_gateway["config"], work, sessions_gateway["env"], name="wsgate-sessions-2")

    async def handshake() -> int:
        try:
            ws = await connect(f"ws://127.0.0.1:{gw.port}/chat", additional_headers={"Authorization": f"Bearer {token}"})
        except InvalidStatus as e:
            return e.response.status_code
        await ws.close()
        return 101

    assert asyncio.run(handshake()) == 401
    # `wsgate verify` reads the same state_dir and names the reason the gateway gives.
    verify = subprocess.run([str(wsgate_bin), "verify", "--config", str(gw.config_path), token],
                            env={**sessions_gateway["env"], "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
    assert verify.returncode == 1, verify.stderr
    assert verify.stdout.startswith(f"token_revoked (401): revoked by sub revocation {revocation_id} until ")
    listed = cli(wsgate_bin, gw, "revocations", "--json")
    assert revocation_id in [r["id"] for r in json.loads(listed.stdout)["revocations"]]
    lifted = cli(wsgate_bin, gw, "revocations", "--lift", revocation_id)
    assert lifted.returncode == 0, lifted.stderr
    assert asyncio.run(handshake()) == 101


def test_every_admin_endpoint_but_the_probes_needs_the_token(sessions_gateway):
    gw = sessions_gateway["gw"]
    for method, path in [("GET", "/sessions"), ("POST", "/sessions/revoke"), ("GET", "/revocations"),
                         ("DELETE", "/revocations/0123456789abcdef0123456789abcdef"), ("GET", "/metrics"),
                         ("GET", "/rejections"), ("POST", "/reload")]:
        for token in (None, "wrong", ADMIN_TOKEN[:-1]):
            status, _, headers = admin_call(gw, method, path, {"sub": "x"} if method == "POST" else None, token=token)
            assert status == 401, (method, path, token)
            assert headers["www-authenticate"].startswith('Bearer realm="wsgate-admin"')
    for path in ("/healthz", "/readyz"):
        assert admin_call(gw, "GET", path, token=None)[0] == 200
    # Nothing changed: no revocation of "x" was made by the refused calls.
    _, listed, _ = admin_call(gw, "GET", "/revocations")
    assert all(r.get("sub") != "x" for r in listed["revocations"])
    # Bad bodies: 400 naming the field, nothing changed.
    status, answer, _ = admin_call(gw, "POST", "/sessions/revoke", {"sub": "a", "reason": "r" * 124})
    assert (status, answer) == (400, {"error": "is over 123 bytes (a close frame's limit)", "field": "reason"})
    status, answer, _ = admin_call(gw, "POST", "/sessions/revoke", {"sub": "a", "jti": "b"})
    assert (status, answer["field"]) == (400, "jti")


def test_refresh_on_the_open_socket_never_reaches_the_backend(sessions_gateway, minter, backends):
    gw = sessions_gateway["gw"]
    first = minter.hs256(sub="dave-refresh", role="member", exp=int(time.time()) + 4)
    renewed_exp = int(time.time()) + 600
    renewed = minter.hs256(sub="dave-refresh", role="member", exp=renewed_exp)
    other_sub = minter.hs256(sub="mallory", role="member")
    other_role = minter.hs256(sub="dave-refresh", role="admin")

    async def scenario():
        ws = await connect(f"ws://127.0.0.1:{gw.port}/live", additional_headers={"Authorization": f"Bearer {first}", "X-Test-Id": "refresh-1"})
        # notify_before 2s on a 4s token: the warning comes at once or within two seconds.
        expiring = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert expiring["type"] == "wsgate.token_expiring"
        await ws.send("before")
        assert await ws.recv() == "before"
        for token, reason in ((other_sub, "claims_changed"), (other_role, "claims_changed"), ("not.a.token", "token_malformed")):
            await ws.send(json.dumps({"type": "wsgate.refresh", "token": token}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "wsgate.refresh_failed", "reason": reason}
        await ws.send('{"type":"wsgate.refresh","token":42}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "wsgate.refresh_failed", "reason": "message_malformed"}
        # Fragmented: the websockets client sends an iterable as fragments.
        message = json.dumps({"type": "wsgate.refresh", "token": renewed}, separators=(",", ":"))
        await ws.send(iter([message[:5], message[5:40], message[40:]]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "wsgate.refreshed", "exp": renewed_exp}
        # Past the first token's exp + grace, the connection lives on.
        await asyncio.sleep(0)  # yield; the check below waits on the echo, not on time
        deadline = time.time() + 6
        while time.time() < deadline:
            await ws.send("after")
            assert await asyncio.wait_for(ws.recv(), 5) == "after"
            await asyncio.sleep(0.5)
        await ws.close()

    asyncio.run(scenario())
    event = closed_events(backends["python"], {"refresh-1"})["refresh-1"]
    assert event["messages"] == ["before"] + ["after"] * len([m for m in event["messages"] if m == "after"])
    assert not any("wsgate" in m for m in event["messages"])
