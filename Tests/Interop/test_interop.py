"""Interop through wsgate with software we did not write: a Python `websockets` client, Python
`websockets` and Node `ws` backends, PyJWT-minted tokens (HS256 and RS256).

Covers relay (text, binary, 1 MiB, fragmented, ping/pong, close codes both ways, permessage-deflate
end to end, early frames, backend gone, client gone), every token source, claim headers, spoofed
header removal, the token never reaching the backend or a log, and the rejection table.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import AUDIENCE, BACKENDS, COOKIE, ISSUER, SUB, token_fp
from harness import http_get
from rawws import OP_BINARY, OP_CLOSE, OP_TEXT, RawConnection, close_payload, frame, http_exchange, upgrade_request

T = 5  # seconds: bound on every await in these tests


def run(coro):
    async def bounded():
        return await asyncio.wait_for(coro, 60)
    return asyncio.run(bounded())


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def ws_connect(gateway, path: str, headers: dict | None = None, **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    return connect(gateway.url(path), additional_headers=headers or {}, **kw)


async def first_message(ws):
    """The backend's first message, which it sends right after its 101 (often in the same TCP
    segment, so it reaches wsgate in the same read as the 101 head)."""
    try:
        return await asyncio.wait_for(ws.recv(), T)
    except asyncio.TimeoutError:
        raise AssertionError(f"the backend's first message (sent right after its 101) did not reach the client "
                             f"within {T}s; the backend sent it (direct connections get it at once)") from None


async def first_report(ws) -> dict:
    return json.loads(await first_message(ws))


def header_values(report: dict, name: str) -> list[str]:
    return [v for k, v in report["headers"] if k.lower() == name.lower()]


def assert_token_absent(report: dict, token: str):
    dump = json.dumps(report)
    signature = token.split(".")[2]
    assert token not in dump, f"the token reached the backend: {dump}"
    assert (signature not in dump) if signature else True, f"the token's signature reached the backend: {dump}"
    assert not header_values(report, "Authorization"), report["headers"]
    assert "access_token" not in report["request_line"], report["request_line"]
    for cookie in header_values(report, "Cookie"):
        assert COOKIE not in cookie, cookie


# --- relay ------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_text_and_binary_echo(backend, gateway, minter):
    async def go():
        async with ws_connect(gateway, f"/{backend}/echo", bearer(minter.hs256())) as ws:
            await ws.send("hello, wsgate ✓")
            assert await asyncio.wait_for(ws.recv(), T) == "hello, wsgate ✓"
            blob = bytes(range(256)) * 4
            await ws.send(blob)
            assert await asyncio.wait_for(ws.recv(), T) == blob
            await ws.send(b"")
            assert await asyncio.wait_for(ws.recv(), T) == b""
    run(go())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_one_mebibyte_message(backend, kind, gateway, minter):
    payload = ("é" * (1 << 19)) if kind == "text" else os.urandom(1 << 20)
    assert len(payload.encode() if kind == "text" else payload) == 1 << 20

    async def go():
        async with ws_connect(gateway, f"/{backend}/echo", bearer(minter.hs256()), compression=None) as ws:
            await ws.send(payload)
            assert await asyncio.wait_for(ws.recv(), T) == payload
    run(go())


@pytest.mark.parametrize("backend", BACKENDS)
def test_fragmented_messages_both_ways(backend, gateway, minter):
    async def go():
        async with ws_connect(gateway, f"/{backend}/cmd", bearer(minter.hs256())) as ws:
            # Client -> backend: one message in three fragments, echoed whole.
            await ws.send(iter(["frag-one|", "frag-two|", "frag-three"]))
            assert await asyncio.wait_for(ws.recv(), T) == "frag-one|frag-two|frag-three"
            await ws.send(iter([b"\x00\x01", b"\x02", b"\x03\x04"]))
            assert await asyncio.wait_for(ws.recv(), T) == b"\x00\x01\x02\x03\x04"
            # Backend -> client: the backend fragments; the fragments arrive as sent.
            await ws.send("frag alpha beta gamma")
            fragments = []
            async for fragment in ws.recv_streaming():
                fragments.append(fragment)
            # (websockets ends an iterated message with an empty final fragment; ws does not.)
            assert [f for f in fragments if f] == ["alpha", "beta", "gamma"], fragments
    run(go())


@pytest.mark.parametrize("backend", BACKENDS)
def test_ping_pong_both_ways(backend, gateway, minter):
    async def go():
        async with ws_connect(gateway, f"/{backend}/cmd", bearer(minter.hs256())) as ws:
            # Client ping with payload: the backend's pong comes back through the relay.
            waiter = await ws.ping(b"client-ping-payload")
            latency = await asyncio.wait_for(waiter, T)
            assert latency >= 0
            # Backend ping: the client's automatic pong reaches the backend.
            await ws.send("ping backend-ping-payload")
            assert await asyncio.wait_for(ws.recv(), T) == "pong-received backend-ping-payload"
    run(go())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("code,reason", [(1000, "done"), (4000, "client says bye ✓")])
def test_close_code_client_to_backend(backend, code, reason, gateway, backends, minter):
    test_id = uuid.uuid4().hex

    async def go():
        ws = await ws_connect(gateway, f"/{backend}/cmd", {**bearer(minter.hs256()), "X-Test-Id": test_id})
        await ws.send("ready?")
        await asyncio.wait_for(ws.recv(), T)
        await ws.close(code, reason)
        return ws.close_code, ws.close_reason
    run(go())
    event = backends[backend].wait_closed(test_id)
    assert (event["code"], event["reason"]) == (code, reason), event


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("code,reason", [(1000, "finished"), (1001, "going away"), (4321, "server bye")])
def test_close_code_backend_to_client(backend, code, reason, gateway, minter):
    async def go():
        async with ws_connect(gateway, f"/{backend}/cmd", bearer(minter.hs256())) as ws:
            await ws.send(f"close {code} {reason}")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), T)
            return info.value.rcvd
    rcvd = run(go())
    assert rcvd is not None, "the client received no close frame"
    assert (rcvd.code, rcvd.reason) == (code, reason)


def test_permessage_deflate_negotiated_end_to_end(gateway, minter):
    """Extensions are the backend's choice; compressed frames (RSV1) pass untouched."""
    async def go():
        async with ws_connect(gateway, "/python/echo", bearer(minter.hs256()), compression="deflate") as ws:
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            text = "compressible " * 20000
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), T) == text
            return negotiated
    assert "permessage-deflate" in run(go())


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_sent_before_the_101_are_held(backend, gateway, minter):
    """A client that pipelines a frame right after its request head still gets its echo."""
    async def go():
        early = frame(OP_TEXT, b"sent before the 101")
        conn = await RawConnection.open(gateway.host, gateway.port, f"/{backend}/echo",
                                        list(bearer(minter.hs256()).items()), early=early)
        try:
            assert conn.handshake.status == 101 and conn.accept_ok, conn.handshake
            assert await conn.wait_frames(1, T), \
                f"no echo within {T}s of a frame sent in the same write as the request head (held, not forwarded?)"
            got = conn.frames[0]
            assert (got.opcode, got.payload) == (OP_TEXT, b"sent before the 101")
            conn.close_sent = True
            await conn.send(frame(OP_CLOSE, close_payload(1000)))
            assert await conn.wait_end(T) == "eof"
        finally:
            conn.abort()
    run(go())


def test_early_bytes_beyond_the_bound_close_the_connection(gateway, minter):
    """Early bytes wait in the gateway only up to a bound (head limit + 4 KiB): a client that
    floods before its 101 (the backend here never answers) is disconnected at once rather than
    held until the upstream timeout, and the gateway goes on serving."""
    async def go():
        request, _ = upgrade_request(gateway.host, gateway.port, "/blackhole", list(bearer(minter.hs256()).items()))
        reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
        started = time.monotonic()
        try:
            writer.write(request)
            writer.write(frame(OP_BINARY, b"x" * 65536) * 2)
            try:
                await asyncio.wait_for(writer.drain(), T)
            except (ConnectionError, OSError):
                pass
            data = b""
            try:
                while chunk := await asyncio.wait_for(reader.read(65536), T):
                    data += chunk
            except (ConnectionError, OSError):
                pass
            elapsed = time.monotonic() - started
            assert not data.startswith(b"HTTP/1.1 101"), data[:80]
            # The blackhole route's upstream timeout is 1 s; the bound acts before it.
            assert elapsed < 0.9, f"closed after {elapsed:.2f}s (the upstream timeout, not the early-bytes bound?)"
        finally:
            writer.close()
        async with connect(gateway.url("/python/echo"), additional_headers=bearer(minter.hs256()), open_timeout=T) as ws:
            await ws.send("still serving")
            assert await asyncio.wait_for(ws.recv(), T) == "still serving"
    run(go())


def test_backend_gone_mid_stream_gives_1011(gateway, victim_backend, minter):
    async def go():
        async with ws_connect(gateway, "/victim/cmd", bearer(minter.hs256())) as ws:
            await ws.send("before the crash")
            assert await asyncio.wait_for(ws.recv(), T) == "before the crash"
            victim_backend.process.proc.send_signal(signal.SIGKILL)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), T)
            return info.value.rcvd
    rcvd = run(go())
    assert rcvd is not None and rcvd.code == 1011, f"expected close 1011 from wsgate, got {rcvd}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_gone_gives_backend_1001(backend, gateway, backends, minter):
    test_id = uuid.uuid4().hex

    async def go():
        conn = await RawConnection.open(gateway.host, gateway.port, f"/{backend}/cmd",
                                        list(bearer(minter.hs256()).items()) + [("X-Test-Id", test_id)])
        await conn.send(frame(OP_TEXT, b"about to vanish"))
        assert await conn.wait_frames(1, T)
        conn.abort()  # TCP gone without a close frame
    run(go())
    event = backends[backend].wait_closed(test_id)
    assert event["code"] == 1001, event


# --- token sources, claims, no token upstream ---------------------------------------------------

def _source_kwargs(source: str, token: str) -> tuple[str, dict, list | None]:
    if source == "header":
        return "", bearer(token), None
    if source == "query":
        return f"?access_token={token}", {}, None
    if source == "cookie":
        return "", {"Cookie": f"theme=dark; {COOKIE}={token}; lang=en"}, None
    if source == "subprotocol":
        return "", {}, ["bearer", token]
    raise ValueError(source)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source", ["header", "query", "cookie", "subprotocol"])
@pytest.mark.parametrize("alg", ["HS256", "RS256"])
def test_token_source_accepted_and_never_forwarded(backend, source, alg, gateway, minter):
    token = minter.hs256() if alg == "HS256" else minter.rs256()
    query, headers, subprotocols = _source_kwargs(source, token)

    async def go():
        async with ws_connect(gateway, f"/{backend}/report{query}", headers, subprotocols=subprotocols) as ws:
            report = await first_report(ws)
            await ws.send("after report")
            assert await asyncio.wait_for(ws.recv(), T) == "after report"
            return report, ws.subprotocol
    report, subprotocol = run(go())
    assert_token_absent(report, token)
    assert header_values(report, "X-User-Id") == [SUB]
    if source == "subprotocol":
        # The backend chose none; browsers need one of theirs answered.
        assert subprotocol == "bearer"
        assert not header_values(report, "Sec-WebSocket-Protocol"), report["headers"]
    else:
        assert subprotocol is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_subprotocol_carrier_with_application_protocol(backend, gateway, minter):
    token = minter.hs256()

    async def go():
        async with ws_connect(gateway, f"/{backend}/report", subprotocols=["bearer", token, "chat.v1"]) as ws:
            return await first_report(ws), ws.subprotocol
    report, subprotocol = run(go())
    assert subprotocol == "chat.v1"
    assert [p.strip() for v in header_values(report, "Sec-WebSocket-Protocol") for p in v.split(",")] == ["chat.v1"]
    assert_token_absent(report, token)


@pytest.mark.parametrize("backend", BACKENDS)
def test_claims_become_headers(backend, gateway, minter):
    token = minter.hs256(sub="bob", role="member", org={"id": "org-7", "name": "Seven"}, groups=["red", "blue"])

    async def go():
        async with ws_connect(gateway, f"/{backend}/report", bearer(token)) as ws:
            return await first_report(ws)
    report = run(go())
    assert header_values(report, "X-User-Id") == ["bob"]
    assert header_values(report, "X-User-Role") == ["member"]
    assert header_values(report, "X-Org-Id") == ["org-7"]
    assert header_values(report, "X-Groups") == ["red,blue"]
    assert header_values(report, "X-Forwarded-For") == ["127.0.0.1"]
    assert_token_absent(report, token)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spoofed_claim_headers_are_replaced(backend, gateway, minter):
    token = minter.hs256(sub="carol", role="member", org=None)
    spoof = {
        "Authorization": f"Bearer {token}",
        "X-User-Id": "mallory",
        "x-user-role": "admin",
        "X-Org-Id": "org-evil",        # the token has no org: the header must vanish, not pass
        "X-JWT-Claims": "eyJmb3JnZWQiOnRydWV9",
        "X-JWT-Anything": "forged",
    }

    async def go():
        async with ws_connect(gateway, f"/{backend}/report", spoof) as ws:
            return await first_report(ws)
    report = run(go())
    assert header_values(report, "X-User-Id") == ["carol"], report["headers"]
    assert header_values(report, "X-User-Role") == ["member"], report["headers"]
    assert header_values(report, "X-Org-Id") == [], report["headers"]
    assert header_values(report, "X-JWT-Claims") == [], report["headers"]
    assert header_values(report, "X-JWT-Anything") == [], report["headers"]
    assert "mallory" not in json.dumps(report) and "forged" not in json.dumps(report)


def test_forward_payload_header_carries_verified_claims(gateway, minter):
    import base64
    token = minter.hs256(sub="dave")

    async def go():
        async with ws_connect(gateway, "/python/payload", {**bearer(token), "X-JWT-Claims": "forged"}) as ws:
            return await first_report(ws)
    report = run(go())
    values = header_values(report, "X-JWT-Claims")
    assert len(values) == 1, report["headers"]
    raw = values[0] + "=" * (-len(values[0]) % 4)
    payload = json.loads(base64.urlsafe_b64decode(raw))
    assert payload["sub"] == "dave" and payload["iss"] == ISSUER
    assert_token_absent(report, token)


@pytest.mark.parametrize("backend", BACKENDS)
def test_public_route_needs_no_token(backend, gateway):
    async def go():
        async with ws_connect(gateway, f"/{backend}/public") as ws:
            return await first_report(ws)
    report = run(go())
    assert header_values(report, "X-User-Id") == []


# --- rejections ---------------------------------------------------------------------------------

def _rejections(minter):
    """(id, path, headers, method, omit, status, reason, token-or-None)."""
    other_secret = b"a-completely-different-secret-of-enough-length!!"
    good = minter.hs256()
    now = int(time.time())
    cases = []

    def add(rid, path, status, reason, token=None, headers=None, method="GET", omit=(), where="header"):
        hdrs = list((headers or {}).items())
        if token is not None and where == "header":
            hdrs.append(("Authorization", f"Bearer {token}"))
        if token is not None and where == "query":
            path += ("&" if "?" in path else "?") + f"access_token={token}"
        cases.append((rid, path, hdrs, method, omit, status, reason, token))

    add("route_not_found", f"/no/such/route/{uuid.uuid4().hex}", 404, "route_not_found", token=good)
    add("method_not_allowed", "/python/echo", 405, "method_not_allowed", token=good, method="POST")
    add("bad_handshake", "/python/echo", 400, "bad_handshake", token=good, omit=("Upgrade",))
    add("unsupported_version", "/python/echo", 426, "unsupported_version", token=good,
        headers={"Sec-WebSocket-Version": "8"}, omit=("Sec-WebSocket-Version",))
    add("origin_forbidden", "/python/origin", 403, "origin_forbidden", token=good,
        headers={"Origin": "https://evil.interop.test"})
    add("token_missing", "/python/echo", 401, "token_missing")
    add("token_malformed", "/python/echo", 401, "token_malformed", token="not-a-jwt")
    add("token_malformed_segments", "/python/echo", 401, "token_malformed", token="abc.def.ghi")
    add("token_malformed_query", "/python/echo?keep=1", 401, "token_malformed", token="garbage.token", where="query")
    cases.append(("token_conflict", f"/python/echo?access_token={minter.hs256(sub='eve')}",
                  [("Authorization", f"Bearer {good}")], "GET", (), 401, "token_conflict", good))
    add("algorithm_not_allowed", "/python/echo", 401, "algorithm_not_allowed", token=minter.hs256(kid="k-rsa"))
    add("alg_none", "/python/echo", 401, "algorithm_not_allowed", token=minter.alg_none())
    add("unknown_key", "/python/echo", 401, "unknown_key", token=minter.hs256(kid="no-such-kid"))
    add("signature_invalid", "/python/echo", 401, "signature_invalid", token=minter.hs256(secret=other_secret))
    add("token_expired", "/python/echo", 401, "token_expired", token=minter.hs256(iat=now - 7200, exp=now - 3600))
    add("token_not_yet_valid", "/python/echo", 401, "token_not_yet_valid", token=minter.hs256(nbf=now + 3600))
    add("issuer_mismatch", "/python/echo", 401, "issuer_mismatch", token=minter.hs256(iss="https://evil.test"))
    add("audience_mismatch", "/python/echo", 401, "audience_mismatch", token=minter.hs256(aud="someone-else"))
    rs = minter.rs256()
    tampered = rs[:-8] + ("AAAAAAAA" if not rs.endswith("AAAAAAAA") else "AAAAAAAQ")  # same length, canonical base64url
    minter.minted.append(tampered)
    add("rs256_signature_invalid", "/node/echo", 401, "signature_invalid", token=tampered)
    add("claim_forbidden", "/python/admin", 403, "claim_forbidden", token=minter.hs256(role="member"))
    add("claim_forbidden_node", "/node/admin", 403, "claim_forbidden", token=minter.rs256(role="guest"))
    add("upstream_unavailable", "/dead", 502, "upstream_unavailable", token=good)
    add("upstream_timeout", "/blackhole", 504, "upstream_timeout", token=good)
    add("headers_too_large", "/python/echo", 431, "headers_too_large", token=good,
        headers={f"X-Filler-{i}": "f" * 1000 for i in range(20)})
    add("upstream_refused_python", "/python/refuse", 403, "upstream_refused", token=good)
    add("upstream_refused_node", "/node/refuse", 403, "upstream_refused", token=good)
    return cases


@pytest.fixture(scope="module")
def rejection_cases(minter):
    return {c[0]: c for c in _rejections(minter)}


REJECTION_IDS = ["route_not_found", "method_not_allowed", "bad_handshake", "unsupported_version", "origin_forbidden",
                 "token_missing", "token_malformed", "token_malformed_segments", "token_malformed_query",
                 "token_conflict", "algorithm_not_allowed", "alg_none", "unknown_key", "signature_invalid",
                 "token_expired", "token_not_yet_valid", "issuer_mismatch", "audience_mismatch",
                 "rs256_signature_invalid", "claim_forbidden", "claim_forbidden_node", "upstream_unavailable",
                 "upstream_timeout", "headers_too_large",
                 "upstream_refused_python", "upstream_refused_node"]


@pytest.mark.parametrize("rid", REJECTION_IDS)
def test_rejection(rid, rejection_cases, gateway):
    _, path, headers, method, omit, status, reason, token = rejection_cases[rid]
    offset = gateway.log.size()
    result = run(http_exchange(gateway.host, gateway.port, path, headers, method=method, omit=omit, timeout=T))

    # The response: status, JSON body with the same reason, WWW-Authenticate on 401/403-claims.
    assert result.status == status, f"{rid}: expected {status} {reason}, got {result.status} {result.body!r}"
    if reason != "upstream_refused":
        assert json.loads(result.body) == {"status": status, "reason": reason}, result.body
    www = result.header_all("WWW-Authenticate")
    if status == 401:
        assert len(www) == 1 and www[0].startswith("Bearer"), result.headers
        if token is not None:
            assert 'error="invalid_token"' in www[0], www
        else:
            assert "error=" not in www[0], www
    if reason == "claim_forbidden":
        assert len(www) == 1 and www[0].startswith("Bearer") and 'error="insufficient_scope"' in www[0], result.headers
    if reason == "unsupported_version":
        assert result.header("Sec-WebSocket-Version") == "13", result.headers

    # The log: exactly one line for this rejection, with the reason and status, the path without
    # the query, and no token. Lines are matched by the response's X-Request-Id when it has one
    # (the log writer need not keep order across connections); a sentinel rejection written after
    # ours bounds the wait.
    request_id = result.header("X-Request-Id")

    def ours_line(line: str) -> bool:
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        if request_id and "request_id" in entry:
            return entry["request_id"] == request_id
        return entry.get("reason") == reason and entry.get("path", path.split("?", 1)[0]) == path.split("?", 1)[0]

    sentinel = f"/sentinel/{uuid.uuid4().hex}"
    sent = run(http_exchange(gateway.host, gateway.port, sentinel, timeout=T))
    assert sent.status == 404
    gateway.log.wait_lines(offset, lambda l: sentinel in l)
    gateway.log.wait_lines(offset, ours_line)
    ours = [l for l in gateway.log.lines_from(offset) if ours_line(l)]
    assert len(ours) == 1, f"{rid}: expected one rejection line, got {ours}"
    entry = json.loads(ours[0])
    assert entry["status"] == status and entry["reason"] == reason, entry
    if reason != "headers_too_large":  # the head was not read: its path may be unknown
        assert entry.get("path") == path.split("?", 1)[0], entry
    assert "?" not in entry.get("path", ""), entry
    assert "access_token=" not in ours[0], ours[0]
    assert "client" in entry and "time" in entry, entry
    for t in filter(None, [token] + [v.split(" ", 1)[-1] for k, v in headers if k == "Authorization"]):
        assert t not in ours[0], f"token in rejection log: {ours[0]}"
        if t.count(".") == 2 and t.split(".")[2]:
            assert t.split(".")[2] not in ours[0], f"token signature in rejection log: {ours[0]}"
        if "token_fp" in entry and token is not None and rid != "token_conflict":
            assert entry["token_fp"] == token_fp(token), entry


def test_handshake_timeout(gateway):
    """A client that never finishes its request head gets 408 handshake_timeout (limit: 1s)."""
    async def go():
        reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
        try:
            writer.write(b"GET /python/echo HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), T)
        finally:
            writer.close()
        return data
    offset = gateway.log.size()
    data = run(go())
    assert data.startswith(b"HTTP/1.1 408"), data
    assert json.loads(data.split(b"\r\n\r\n", 1)[1]) == {"status": 408, "reason": "handshake_timeout"}
    gateway.log.wait_lines(offset, lambda l: '"handshake_timeout"' in l)


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_expiry_closes_open_connection_with_4001(backend, gateway, minter):
    """exp passes on an open connection: the client gets 4001 "token expired" (leeway: 1s)."""
    now = int(time.time())
    token = minter.hs256(iat=now, exp=now + 2)
    test_id = uuid.uuid4().hex

    async def go():
        async with ws_connect(gateway, f"/{backend}/cmd", {**bearer(token), "X-Test-Id": test_id}) as ws:
            await ws.send("alive")
            assert await asyncio.wait_for(ws.recv(), T) == "alive"
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            return info.value.rcvd
    rcvd = run(go())
    assert rcvd is not None and rcvd.code == 4001, f"expected close 4001 on token expiry, got {rcvd}"
    assert time.time() >= now + 2


def test_sigterm_drain_sends_1001(wsgate_bin, work, secret, rsa_public_pem, backends, minter):
    """SIGTERM: open clients get close 1001, and the process exits once they are gone."""
    from conftest import SECRET_ENV, base_config
    from harness import Gateway, free_port
    config = base_config(free_port(), free_port(), rsa_public_pem, work, "drain")
    config["limits"]["drain_timeout"] = "3s"
    config["routes"] = [{"path": "/echo", "upstream": f"ws://127.0.0.1:{backends['python'].port}/echo"}]
    gw = Gateway(wsgate_bin, config, work, {SECRET_ENV: secret.decode()}, name="wsgate-drain")
    try:
        async def go():
            async with connect(f"ws://{gw.host}:{gw.port}/echo", additional_headers=bearer(minter.hs256()),
                               open_timeout=T, close_timeout=T, ping_interval=None) as ws:
                await ws.send("before drain")
                assert await asyncio.wait_for(ws.recv(), T) == "before drain"
                gw.process.proc.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), T)
                return info.value.rcvd
        rcvd = run(go())
        assert rcvd is not None and rcvd.code == 1001, f"expected close 1001 on SIGTERM, got {rcvd}"
        assert gw.process.proc.wait(timeout=10) == 0, gw.process.stderr_tail()
    finally:
        gw.stop()


# --- wsgate's own echo backend ------------------------------------------------------------------

def test_wsgate_echo_backend_through_gateway(gateway, echo_backend_port, minter):
    if isinstance(echo_backend_port, Exception):
        pytest.fail(f"wsgate echo-backend did not start: {echo_backend_port}")
    token = minter.hs256(sub="zoe")

    async def go():
        async with ws_connect(gateway, "/wsgate-echo", bearer(token)) as ws:
            first = await first_message(ws)
            await ws.send("hi")
            recv = await asyncio.wait_for(ws.recv(), T)
            await ws.send(b"\x00\xffbinary")
            binary = await asyncio.wait_for(ws.recv(), T)
            await ws.send("nihao")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), T)
            return first, recv, binary, info.value.rcvd
    first, recv, binary, rcvd = run(go())
    assert isinstance(first, str) and re.search(r"(?im)^x-user-id:\s*zoe\s*$", first), first
    assert token not in first and "authorization" not in first.lower(), first
    assert first.startswith("GET "), first
    assert recv == "Recv: hi"
    assert binary == b"\x00\xffbinary"
    assert rcvd is not None and rcvd.code == 1000 and "zoe" in rcvd.reason, rcvd


# --- the end: nothing leaked --------------------------------------------------------------------

def test_zz_no_token_in_any_gateway_output(gateway, minter):
    texts = [gateway.gw.process.stderr_tail(10 ** 9), "\n".join(gateway.gw.process.stdout_lines),
             gateway.log.path.read_text() if gateway.log.path.exists() else ""]
    for token in minter.minted:
        signature = token.split(".")[2]
        for text in texts:
            assert token not in text
            if len(signature) > 16:
                assert signature not in text


def test_zz_gateway_healthy_and_connections_drained(gateway):
    assert gateway.gw.alive(), gateway.gw.process.stderr_tail()
    status, _ = http_get(*gateway.admin, "/healthz")
    assert status == 200
    # Every scenario above has ended; the active-connection gauge must come back to zero.
    deadline = time.monotonic() + 10
    while True:
        status, body = http_get(*gateway.admin, "/metrics")
        assert status == 200
        active = [line for line in body.decode().splitlines()
                  if line.startswith("wsgate_connections_active") and float(line.rsplit(" ", 1)[1]) != 0]
        if not active:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"connections still active after all scenarios: {active}")
        time.sleep(0.05)
