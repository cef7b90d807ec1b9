"""The backend's side of the upgrade, as the gateway reads it with its own parser: interim
responses before the 101, bare-LF line endings, a head split over many writes, and heads it must
refuse (malformed, folded, larger than `limits.max_header_bytes`) with a 502 before any upgrade.

The backend is a raw asyncio server written here (the handshake bytes are the point), answering
with a correct Sec-WebSocket-Accept and a first text frame; the client is Python `websockets`.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from harness import Gateway, free_port
from rawws import OP_CLOSE, OP_TEXT, accept_for, frame
from test_interop import T, run


def head(lines: list[str], eol: str = "\r\n") -> bytes:
    return (eol.join(lines) + eol + eol).encode("latin-1")


def upgrade_lines(key: str) -> list[str]:
    return ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_for(key)}"]


async def answer(path: str, key: str, writer: asyncio.StreamWriter) -> bool:
    """Writes the response for `path`; True when it upgraded."""
    ok = upgrade_lines(key)
    if path == "/interim":
        writer.write(head(["HTTP/1.1 100 Continue"]) + head(["HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload"]))
        await writer.drain()
        writer.write(head(ok))
    elif path == "/barelf":
        writer.write(head(ok, eol="\n"))
    elif path == "/framing":
        # Message-framing headers mean nothing on a 101 (RFC 9110 §15.2, RFC 6455 §4.2.2): the
        # gateway drops them, whatever their case, and passes the rest on.
        writer.write(head(ok + ["Content-Length: 0", "KEEP-ALIVE: timeout=5", "X-Backend: framing"]))
    elif path == "/split":
        for byte in head(ok):
            writer.write(bytes([byte]))
            await writer.drain()
    elif path == "/malformed":
        writer.write(head(ok[:1] + ["Upgrade websocket"] + ok[2:]))
        return False
    elif path == "/folded":
        writer.write(head(ok + ["X-Long: a", " continued"]))
        return False
    elif path == "/huge":
        writer.write(head(ok + [f"X-Big: {'b' * 20000}"]))
        return False
    else:
        writer.write(head(["HTTP/1.1 404 Not Found", "Content-Length: 0"]))
        return False
    writer.write(frame(OP_TEXT, f"hello from {path}".encode(), mask=False))
    await writer.drain()
    return True


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        lines = request.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        key = next(l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("sec-websocket-key:"))
        if not await answer(path, key, writer):
            await writer.drain()
            return
        # Frames from the client arrive masked, as the client sent them; answer a close.
        while True:
            first = await reader.readexactly(2)
            length = first[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if first[1] & 0x80 else b""
            payload = await reader.readexactly(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if first[0] & 0x0F == OP_CLOSE:
                writer.write(frame(OP_CLOSE, payload[:2], mask=False))
                await writer.drain()
                return
    except (asyncio.IncompleteReadError, ConnectionError, StopIteration):
        pass
    finally:
        writer.close()


class RawBackend:
    """The raw backend on its own event loop thread, for the session of one test module."""

    def __init__(self):
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def main():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(serve_one, "127.0.0.1", self.port))
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert started.wait(10), "the raw backend did not start"

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


PATHS = ["/interim", "/barelf", "/framing", "/split", "/malformed", "/folded", "/huge"]


@pytest.fixture(scope="module")
def raw_gateway(wsgate_bin, work):
    backend = RawBackend()
    port = free_port()
    config = {
        "listen": [{"address": f"127.0.0.1:{port}"}],
        "rejection_log": {"path": str(work / "upstream-head-rejections.jsonl")},
        "limits": {"upstream_timeout": "3s"},
        "routes": [{"path": p, "upstream": f"ws://127.0.0.1:{backend.port}{p}", "auth": "none"} for p in PATHS],
    }
    gateway = Gateway(wsgate_bin, config, work, {}, name="wsgate-upstream-head")
    yield gateway
    gateway.stop()
    backend.stop()


@pytest.mark.parametrize("path", ["/interim", "/barelf", "/split"])
def test_backend_heads_the_gateway_accepts(raw_gateway, path):
    async def go():
        async with connect(f"ws://127.0.0.1:{raw_gateway.port}{path}", open_timeout=T) as ws:
            assert await asyncio.wait_for(ws.recv(), T) == f"hello from {path}"
    run(go())


def test_backend_101_framing_headers_are_dropped_and_the_rest_kept(raw_gateway):
    async def go():
        async with connect(f"ws://127.0.0.1:{raw_gateway.port}/framing", open_timeout=T) as ws:
            headers = ws.response.headers
            assert headers.get_all("X-Backend") == ["framing"]
            assert headers.get_all("Content-Length") == []
            assert headers.get_all("Keep-Alive") == []
            assert await asyncio.wait_for(ws.recv(), T) == "hello from /framing"
    run(go())


@pytest.mark.parametrize("path", ["/malformed", "/folded", "/huge"])
def test_backend_heads_the_gateway_refuses_with_502(raw_gateway, path):
    async def go():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{raw_gateway.port}{path}", open_timeout=T):
                pass
        assert refused.value.response.status_code == 502, refused.value.response
        assert b"upstream_unavailable" in refused.value.response.body
    run(go())
    assert raw_gateway.alive()
