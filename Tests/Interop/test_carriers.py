"""Issue 10 findings 1 and 2 end to end: whatever wsgate forwards, no common backend parser finds a
token in it (unless the route sets `forward_token: true`), and dot segments cannot move a request
onto another route's policy.

A table of hostile requests goes through a live gateway in front of the Python `websockets`
backend, whose `/report` answers with the request it received. For each row the gateway either
refuses it with the exact status and reason, or the received request is read with:
Python's `http.cookies.SimpleCookie` and `urllib.parse.parse_qsl` (with `&`, with `;`, with both),
and faithful re-implementations of Go's `net/http` `readCookies` and Node's `cookie.parse`. A name
counts as a carrier after percent-decoding, trimming, PHP's rules (`name[]` is `name`, `.` and
spaces are `_`) and case-folding (ASP.NET ignores case), so the check is stricter than any one of
those parsers.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, unquote, unquote_plus

import pytest

from conftest import COOKIE, SECRET_ENV, base_config
from harness import Gateway, free_port
from rawws import read_http_head, upgrade_request

T = 5
CARRIERS = {"access_token", COOKIE}


@pytest.fixture(scope="module")
def carrier_gateway(wsgate_bin, work, secret, rsa_public_pem, backends):
    port, admin_port = free_port(), free_port()
    config = base_config(port, admin_port, rsa_public_pem, work, "carriers")
    up = f"ws://127.0.0.1:{backends['python'].port}"
    config["routes"] = [
        {"path": "/c/report", "upstream": f"{up}/report", "auth": "required"},
        {"path": "/c/chat", "upstream": f"{up}/report/chat", "auth": "required"},
        {"path": "/c/open/*", "upstream": f"{up}/report", "auth": "optional"},
        {"path": "/c/fwd", "upstream": f"{up}/report", "auth": "required", "forward_token": True},
    ]
    gw = Gateway(wsgate_bin, config, work, {SECRET_ENV: secret.decode()}, name="wsgate-carriers")
    yield gw
    gw.stop()


# --- How backends read a request --------------------------------------------------------------

def go_read_cookies(line: str) -> list[tuple[str, str]]:
    """Go net/http `readCookies` (cookie.go, Go 1.22): split at ';', `textproto.TrimString` each
    part and name, name must be a token, value unquoted once and checked by validCookieValueByte."""
    def trim(s: str) -> str:
        return s.strip(" \t\r\n")
    token_chars = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    out = []
    for part in trim(line).split(";"):
        part = trim(part)
        if not part:
            continue
        name, _, val = part.partition("=")
        name = trim(name)
        if not name or any(c not in token_chars for c in name):
            continue
        if len(val) > 1 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        if any(not (0x20 <= ord(c) < 0x7F) or c in '";\\' for c in val):
            continue
        out.append((name, val))
    return out


def node_cookie_parse(s: str) -> dict[str, str]:
    """Node `cookie` 0.6 `parse`: pairs end at ';' (backtracking when a part has no '='), key and
    value skip spaces and tabs at both ends, the first occurrence wins, a quoted value is unquoted,
    then `decodeURIComponent` when it contains '%' (kept as is when that throws)."""
    obj: dict[str, str] = {}
    n, index = len(s), 0
    if n < 2:
        return obj

    def start(i, end):
        while i < end and s[i] in " \t":
            i += 1
        return i

    def stop(i, begin):
        while i > begin and s[i - 1] in " \t":
            i -= 1
        return i

    while index < n:
        eq = s.find("=", index)
        if eq == -1:
            break
        end = s.find(";", index)
        if end == -1:
            end = n
        elif eq > end:
            index = s.rfind(";", 0, eq) + 1
            continue
        ks = start(index, eq)
        key = s[ks:stop(eq, ks)]
        if key not in obj:
            vs = start(eq + 1, end)
            ve = stop(end, vs)
            if ve - vs >= 2 and s[vs] == '"' and s[ve - 1] == '"':
                vs, ve = vs + 1, ve - 1
            val = s[vs:ve]
            if "%" in val:
                try:
                    val = unquote(val, errors="strict")
                except UnicodeDecodeError:
                    pass
            obj[key] = val
        index = end + 1
    return obj


def simple_cookie(line: str) -> list[str]:
    jar = SimpleCookie()
    try:
        jar.load(line)
    except CookieError:
        return []
    return list(jar.keys())


def query_names(query: str) -> list[str]:
    names = []
    for separator in ["&", ";"]:
        names += [k for k, _ in parse_qsl(query, keep_blank_values=True, separator=separator)]
    for piece in re.split("[&;]", query):
        names += [k for k, _ in parse_qsl(piece, keep_blank_values=True)]
    return names


def is_carrier(name: str) -> bool:
    """PHP's reading of a name, case-folded: percent-decoded, trimmed, `name[...]` as `name`,
    `.` and spaces as `_` (main/php_variables.c), compared as ASP.NET does (ignoring case)."""
    name = unquote_plus(name).strip()
    if name.endswith("]") and "[" in name:
        name = name[:name.index("[")]
    return name.replace(".", "_").replace(" ", "_").lower() in CARRIERS


def tokens_found(report: dict) -> list[str]:
    """Every (parser, name) under which some backend would find a token in the request."""
    found = []
    target = report["path"]
    query = target.split("?", 1)[1] if "?" in target else ""
    found += [f"query:{n}" for n in query_names(query) if is_carrier(n)]
    for name, value in report["headers"]:
        if name.lower() == "authorization":
            found.append("authorization")
        if name.lower() != "cookie":
            continue
        found += [f"go:{n}" for n, _ in go_read_cookies(value) if is_carrier(n)]
        found += [f"node:{n}" for n in node_cookie_parse(value) if is_carrier(n)]
        found += [f"python:{n}" for n in simple_cookie(value) if is_carrier(n)]
    return found


# --- One raw request through the gateway --------------------------------------------------------

async def exchange(gw, target: str, headers: list[tuple[str, str]]):
    """Sends one upgrade request as raw bytes; returns (status, body or the backend's report)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(gw.host, gw.port), T)
    try:
        request, _ = upgrade_request(gw.host, gw.port, target, headers)
        writer.write(request)
        await writer.drain()
        status, _, head = await read_http_head(reader, T)
        if status != 101:
            length = next(int(v) for k, v in head if k.lower() == "content-length")
            return status, json.loads(await asyncio.wait_for(reader.readexactly(length), T))
        first = await asyncio.wait_for(reader.readexactly(2), T)
        length = first[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), T))[0]
        return status, json.loads(await asyncio.wait_for(reader.readexactly(length), T))
    finally:
        writer.close()


def cases(valid: str, evil: str):
    """(id, target, headers, expected status, expected reason or the report's path)."""
    auth = [("Authorization", f"Bearer {valid}")]
    conflict = (401, "token_conflict")
    rows = [
        ("cookie-tab-before-name", "/c/report", auth + [("Cookie", f"a=b;\twsgate_token={evil}")], *conflict),
        ("cookie-space-before-equals", "/c/report", auth + [("Cookie", f"wsgate_token ={evil}")], *conflict),
        ("cookie-space-separated", "/c/report", auth + [("Cookie", f"a=b wsgate_token={evil}")], *conflict),
        ("cookie-comma-separated", "/c/report", auth + [("Cookie", f"a=b,wsgate_token={evil}")], *conflict),
        ("cookie-encoded-name", "/c/report", auth + [("Cookie", f"wsgate%5Ftoken={evil}")], *conflict),
        ("cookie-upper-case", "/c/report", auth + [("Cookie", f"WSGATE_TOKEN={evil}")], *conflict),
        ("cookie-quoted", "/c/report", auth + [("Cookie", f'wsgate_token="{evil}"')], *conflict),
        ("query-semicolon", f"/c/report?x=1;access_token={evil}", auth, *conflict),
        ("query-encoded-name", f"/c/report?access%5Ftoken={evil}", auth, *conflict),
        ("query-plus-in-name", f"/c/report?access_token+={evil}", auth, *conflict),
        ("query-upper-case", f"/c/report?ACCESS_TOKEN={evil}", auth, *conflict),
        # A carrier value with whitespace in it reads differently to SimpleCookie and to Node.
        ("cookie-value-with-space", "/c/report", auth + [("Cookie", f'wsgate_token="{valid}" e=f')], *conflict),
        ("query-php-array", f"/c/report?access_token[]={evil}", auth, *conflict),
        ("query-php-dot", f"/c/report?access.token={evil}", auth, *conflict),
        ("cookie-php-dot", "/c/report", auth + [("Cookie", f"wsgate.token={evil}")], *conflict),
        ("query-repeated", f"/c/report?access_token={valid}&access_token={evil}", [], *conflict),
        # The verified token again in every spelling: forwarded, with none of them.
        ("same-token-everywhere", f"/c/report?x=1;access_token={valid}&access%5Ftoken={valid}&y=2",
         auth + [("Cookie", f'a=b;\twsgate_token={valid}; c=d, wsgate_token ="{valid}"; e=f WSGATE_TOKEN={valid}')],
         101, "/report?x=1&y=2"),
        ("forward-token", f"/c/fwd?access_token={valid}", [("Cookie", f"wsgate%5Ftoken={valid}; k=v")], 101, "/report"),
        # Paths: dot segments resolve before matching; ambiguous forms are refused.
        ("dot-dot-onto-required-route", "/c/open/../chat", [], 401, "token_missing"),
        ("encoded-dot-dot-onto-required-route", "/c/open/%2e%2e/chat", [], 401, "token_missing"),
        ("merged-slashes-then-dot-dot", "/c/open//../chat", [], 401, "token_missing"),
        ("encoded-slash", "/c/open/..%2Fchat", [], 400, "bad_path"),
        ("encoded-backslash", "/c/open/..%5cchat", [], 400, "bad_path"),
        ("encoded-nul", "/c/open/%00", [], 400, "bad_path"),
        ("above-the-root", "/c/open/../../..", [], 400, "bad_path"),
        ("normalised-path-forwarded", "/c/open/a/../%62//./c?q=1", [], 101, "/report/b/c?q=1"),
    ]
    return rows


ROW_IDS = [row[0] for row in cases("v", "e")]


@pytest.mark.parametrize("row_id", ROW_IDS)
def test_no_backend_parser_finds_a_token(row_id, carrier_gateway, minter):
    valid = minter.hs256()
    evil = minter.hs256(sub="mallory")
    _, target, headers, status, expected = next(r for r in cases(valid, evil) if r[0] == row_id)
    got_status, got = asyncio.run(exchange(carrier_gateway, target, headers))
    if status != 101:
        assert (got_status, got) == (status, {"status": status, "reason": expected})
        return
    assert got_status == 101, got
    assert got["path"] == expected, got["path"]
    found = tokens_found(got)
    if row_id == "forward-token":
        # Only the verified token, only as Authorization.
        assert found == ["authorization"], got["headers"]
        assert [v for k, v in got["headers"] if k.lower() == "authorization"] == [f"Bearer {valid}"]
        assert [v for k, v in got["headers"] if k.lower() == "cookie"] == ["k=v"]
    else:
        assert found == [], (found, got["headers"], got["path"])
        assert evil not in json.dumps(got) and valid not in json.dumps(got)
    if row_id == "same-token-everywhere":
        assert [v for k, v in got["headers"] if k.lower() == "cookie"] == ["a=b; c=d"]


def test_the_parsers_find_what_they_should():
    """The re-implementations and the property are not vacuous: each finds the hostile spellings
    that the gateway strips (what it forwarded before this fix)."""
    assert go_read_cookies("a=b;\twsgate_token=E") == [("a", "b"), ("wsgate_token", "E")]
    assert go_read_cookies("wsgate_token =E") == [("wsgate_token", "E")]
    assert node_cookie_parse("a=b;\twsgate_token=E") == {"a": "b", "wsgate_token": "E"}
    assert node_cookie_parse('a="x; wsgate_token=%45"') == {"a": '"x', "wsgate_token": 'E"'}
    assert "wsgate_token" in simple_cookie("a=b wsgate_token=E")
    assert "access_token" in query_names("x=1;access_token=E")
    assert tokens_found({"path": "/r?x=1;access_token=E", "headers": [["Cookie", "wsgate_token =E"]]}) == [
        "query:access_token", "query:access_token", "go:wsgate_token", "node:wsgate_token", "python:wsgate_token"]
