"""TLS through the real `wsgate serve`: a Python `ssl` client against a `tls:` listener, with a
throwaway CA made by the `openssl` command, in front of the third-party backends."""

import asyncio
import base64
import hashlib
import json
import os
import socket
import ssl
import statistics
import struct
import subprocess
import time

import pytest
import websockets

from conftest import SECRET_ENV, SUB, base_config
from harness import Gateway, free_port
from test_interop import assert_token_absent, header_values


def make_ca(directory):
    """A CA and a server certificate for 127.0.0.1 / localhost, valid for two days."""
    (directory / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    steps = [
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", "2", "-subj", "/CN=wsgate interop CA"],
        ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.pem", "-days", "2", "-extfile", "san.cnf"],
    ]
    for step in steps:
        subprocess.run(["openssl", *step], cwd=directory, check=True, capture_output=True, timeout=30)
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


@pytest.fixture(scope="module")
def tls_gateway(wsgate_bin, work, secret, rsa_public_pem, backends):
    directory = work / "tls"
    directory.mkdir(exist_ok=True)
    ca, cert, key = make_ca(directory)
    port, admin_port = free_port(), free_port()
    config = base_config(port, admin_port, rsa_public_pem, work, "tls")
    config["listen"] = [{"address": f"127.0.0.1:{port}",
                         "tls": {"certificate_file": str(cert), "private_key_file": str(key)}}]
    config["routes"] = [
        {"path": f"/{kind}/report", "upstream": f"ws://127.0.0.1:{b.port}/report", "auth": "required",
         "claims_to_headers": {"sub": "X-User-Id"}}
        for kind, b in backends.items()
    ]
    gw = Gateway(wsgate_bin, config, work, {SECRET_ENV: secret.decode()}, name="wsgate-tls")
    yield gw, ca
    gw.stop()


@pytest.mark.parametrize("kind", ["python", "node"])
def test_wss_client_with_python_ssl(tls_gateway, minter, kind):
    gw, ca = tls_gateway
    token = minter.hs256()
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    async def run():
        async with websockets.connect(f"wss://localhost:{gw.port}/{kind}/report", ssl=context,
                                      additional_headers={"Authorization": f"Bearer {token}"},
                                      open_timeout=10) as ws:
            greeting = await asyncio.wait_for(ws.recv(), 10)
            await ws.send("over tls")
            echo = await asyncio.wait_for(ws.recv(), 10)
            negotiated = ws.transport.get_extra_info("ssl_object")
            return greeting, echo, negotiated.version(), negotiated.selected_alpn_protocol()

    greeting, echo, version, _ = asyncio.run(run())
    report = json.loads(greeting)
    assert header_values(report, "X-User-Id") == [SUB]
    assert header_values(report, "X-Forwarded-Proto") == ["https"]
    assert_token_absent(report, token)
    assert "over tls" in echo
    assert version in ("TLSv1.2", "TLSv1.3")


def test_untrusted_client_cannot_connect(tls_gateway):
    gw, _ = tls_gateway
    context = ssl.create_default_context()  # the system store does not know the throwaway CA

    async def run():
        async with websockets.connect(f"wss://localhost:{gw.port}/python/report", ssl=context, open_timeout=10):
            pass

    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(run())
    assert gw.alive()


def test_tls_1_1_is_refused(tls_gateway):
    gw, ca = tls_gateway
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass

    async def run():
        async with websockets.connect(f"wss://localhost:{gw.port}/python/report", ssl=context, open_timeout=10):
            pass

    with pytest.raises((ssl.SSLError, OSError)):
        asyncio.run(run())
    assert gw.alive()


def raw_upgrade(sock, path, token):
    """Writes an upgrade request on a connected (TLS) socket; returns the seconds from the request
    to the end of the response head, and the head."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode()
    head = b""
    started = time.perf_counter()
    sock.sendall(request)
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed before the response head ended: {head!r}"
        head += chunk
    elapsed = time.perf_counter() - started
    head, _, rest = head.partition(b"\r\n\r\n")
    accept = base64.b64encode(hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return elapsed, head.decode(), accept.decode(), rest


def read_text_frame(sock, already: bytes) -> str:
    """One unmasked server frame (RFC 6455 §5.2), payload under 64 KiB."""
    data = already
    while len(data) < 4:
        data += sock.recv(4096)
    length = data[1] & 0x7F
    start = 2
    if length == 126:
        length, start = struct.unpack("!H", data[2:4])[0], 4
    while len(data) < start + length:
        data += sock.recv(4096)
    assert data[0] == 0x81, data[:2]
    return data[start:start + length].decode()


def tls13_client(ca):
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def test_tls13_session_resumes_and_still_upgrades(tls_gateway, minter):
    """RFC 8446 §2.2: the tickets the gateway issues (they leave with its first write, the 101)
    let a second connection resume; the resumed connection is authenticated and relayed alike."""
    gw, ca = tls_gateway
    context = tls13_client(ca)
    session = None
    for attempt in ("full", "resumed"):
        token = minter.hs256()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                assert tls.version() == "TLSv1.3"
                _, head, accept, rest = raw_upgrade(tls, "/python/report", token)
                lines = head.split("\r\n")
                assert lines[0] == "HTTP/1.1 101 Switching Protocols", head
                fields = dict((name.lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:]))
                assert fields["sec-websocket-accept"] == accept, head
                report = json.loads(read_text_frame(tls, rest))
                assert header_values(report, "X-User-Id") == [SUB]
                assert header_values(report, "X-Forwarded-Proto") == ["https"]
                assert_token_absent(report, token)
                assert tls.session_reused is (attempt == "resumed"), attempt
                if attempt == "full":
                    assert tls.session is not None and tls.session.has_ticket, "no session ticket was issued"
                    session = tls.session
    assert gw.alive()


def test_nagle_client_gets_its_101_without_a_delayed_ack_stall(tls_gateway, minter):
    """A client with Nagle on (no TCP_NODELAY) sends its request right behind its TLS Finished;
    Nagle holds the request until the Finished is acknowledged. The gateway acknowledges it at
    once: request → 101 stays far below Linux's 40 ms delayed-ACK timer (median of 20 upgrades)."""
    gw, ca = tls_gateway
    context = tls13_client(ca)
    token = minter.hs256()
    waits = []
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
            assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                elapsed, head, _, _ = raw_upgrade(tls, "/python/report", token)
                assert head.startswith("HTTP/1.1 101 "), head
                waits.append(elapsed)
    median = statistics.median(waits)
    assert median < 0.020, f"request → 101 median {median * 1000:.1f} ms: {[round(w * 1000, 1) for w in waits]}"
