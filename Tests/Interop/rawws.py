"""A deliberately permissive raw WebSocket client for conformance tests (RFC 6455).

It can write any bytes, valid or not (bad RSV bits, reserved opcodes, fragmented control frames,
bad UTF-8, invalid close codes, wrong lengths), split writes down to single bytes, and it records
everything the server sends as a transcript: the handshake outcome, every frame (opcode, FIN,
RSV, mask bit, length, payload digest), close code and reason, and how the connection ended.

The client validates nothing it receives (so it never hides what a peer did); its only reaction
is the RFC 6455 §5.5.1 one: when a close frame arrives and none was sent yet, reply with a close
frame echoing the status code, like Autobahn's fuzzing client.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import struct
from dataclasses import dataclass, field

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
          mask_key: bytes | None = None, rng: random.Random | None = None) -> bytes:
    """Encodes one frame exactly as asked, with the minimal length encoding."""
    b0 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    if mask_key is None:
        mask_key = bytes((rng or random).getrandbits(8) for _ in range(4))
    return head + mask_key + apply_mask(payload, mask_key)


def apply_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big")


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass
class Received:
    opcode: int
    fin: bool
    rsv: int
    masked: bool
    payload: bytes

    def describe(self) -> tuple:
        """The transcript entry: everything observable, payload by length and digest."""
        entry = ("frame", self.opcode, self.fin, self.rsv, self.masked, len(self.payload), digest(self.payload))
        if self.opcode == OP_CLOSE:
            code = struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None
            reason = self.payload[2:].decode("utf-8", "backslashreplace")
            entry += ("close", code, reason)
        elif len(self.payload) <= 32:
            entry += ("preview", self.payload.decode("utf-8", "backslashreplace"))
        return entry


@dataclass
class HandshakeResult:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class HandshakeError(Exception):
    pass


async def read_http_head(reader: asyncio.StreamReader, timeout: float) -> tuple[int, str, list[tuple[str, str]]]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise HandshakeError(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def upgrade_request(host: str, port: int, path: str, headers: list[tuple[str, str]] | None = None,
                    key: str | None = None, method: str = "GET", omit: tuple[str, ...] = ()) -> tuple[bytes, str]:
    key = key or base64.b64encode(os.urandom(16)).decode()
    base = [
        ("Host", f"{host}:{port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    base = [(k, v) for k, v in base if k not in omit]
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in base + list(headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


async def http_exchange(host: str, port: int, path: str, headers=None, *, method: str = "GET",
                        omit: tuple[str, ...] = (), timeout: float = 5.0) -> HandshakeResult:
    """One upgrade request; returns status, headers and (for non-101) the body."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        req, _ = upgrade_request(host, port, path, headers, method=method, omit=omit)
        writer.write(req)
        await writer.drain()
        status, reason, hdrs = await read_http_head(reader, timeout)
        body = b""
        if status != 101:
            length = next((int(v) for k, v in hdrs if k.lower() == "content-length"), None)
            if length is not None:
                body = await asyncio.wait_for(reader.readexactly(length), timeout)
            else:
                body = await asyncio.wait_for(reader.read(), timeout)
        return HandshakeResult(status, reason, hdrs, body)
    finally:
        writer.close()


@dataclass
class RawConnection:
    """One raw WebSocket connection with a background frame reader."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    handshake: HandshakeResult
    accept_ok: bool
    frames: list[Received] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    close_sent: bool = False
    close_received: bool = False
    ended: str | None = None  # "eof", "eof_mid_frame", "reset", "timeout"
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    async def open(cls, host: str, port: int, path: str, headers=None, *, timeout: float = 5.0,
                   rng: random.Random | None = None, early: bytes = b"") -> "RawConnection":
        """Opens a connection; `early` bytes (frames) go in the same write as the request."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=1 << 24), timeout)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            import socket
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req, key = upgrade_request(host, port, path, headers)
        writer.write(req + early)
        await writer.drain()
        try:
            status, reason, hdrs = await read_http_head(reader, timeout)
        except BaseException:
            writer.close()
            raise
        hs = HandshakeResult(status, reason, hdrs)
        conn = cls(reader, writer, hs, hs.header("Sec-WebSocket-Accept") == accept_for(key),
                   rng=rng or random.Random())
        if status == 101:
            conn._task = asyncio.create_task(conn._read_loop())
        else:
            writer.close()
            conn.ended = "rejected"
        return conn

    def _notify(self):
        self._changed.set()
        self._changed = asyncio.Event()

    async def _read_loop(self):
        r = self.reader
        try:
            while True:
                try:
                    head = await r.readexactly(2)
                except asyncio.IncompleteReadError as e:
                    self.ended = "eof" if not e.partial else "eof_mid_frame"
                    return
                b0, b1 = head
                n = b1 & 0x7F
                try:
                    if n == 126:
                        n = struct.unpack("!H", await r.readexactly(2))[0]
                    elif n == 127:
                        n = struct.unpack("!Q", await r.readexactly(8))[0]
                    key = await r.readexactly(4) if b1 & 0x80 else None
                    payload = await r.readexactly(n)
                except asyncio.IncompleteReadError:
                    self.ended = "eof_mid_frame"
                    return
                if key is not None:
                    payload = apply_mask(payload, key)
                f = Received(b0 & 0xF, bool(b0 & 0x80), (b0 >> 4) & 7, key is not None, payload)
                self.frames.append(f)
                if f.opcode == OP_CLOSE and not self.close_received:
                    self.close_received = True
                    if not self.close_sent:
                        # RFC 6455 §5.5.1: answer with a close echoing the status code.
                        self.close_sent = True
                        try:
                            self.writer.write(frame(OP_CLOSE, f.payload[:2], rng=self.rng))
                            await self.writer.drain()
                        except (ConnectionError, OSError):
                            pass
                self._notify()
        except (ConnectionResetError, BrokenPipeError):
            self.ended = "reset"
        except OSError as e:
            self.ended = f"error:{e.errno}"
        finally:
            self._notify()

    async def send(self, data: bytes, *, chunk: int | None = None, pause: float = 0.0):
        """Writes bytes, optionally in chunks of `chunk` bytes, each flushed (and paced) alone."""
        try:
            if chunk is None:
                self.writer.write(data)
                await self.writer.drain()
            else:
                for i in range(0, len(data), chunk):
                    self.writer.write(data[i:i + chunk])
                    await self.writer.drain()
                    # Pacing, not synchronisation: gives each piece its own TCP segment.
                    await asyncio.sleep(pause)
        except (ConnectionError, OSError) as e:
            self.events.append(("write_error", type(e).__name__))

    async def wait_frames(self, count: int, timeout: float) -> bool:
        """Waits until at least `count` frames have arrived in total, or the peer closed/ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.frames) < count and not self.close_received and self.ended is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return len(self.frames) >= count

    async def wait_end(self, timeout: float) -> str:
        if self._task is None:
            return self.ended or "none"
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            self.ended = "timeout"
            self._task.cancel()
        return self.ended

    def abort(self):
        if self._task is not None and not self._task.done():
            self._task.cancel()
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()
