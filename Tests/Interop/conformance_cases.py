"""Scripted raw-frame cases covering the areas of the Autobahn TestSuite sections 1-7, 9 and 10.

Every case is a list of steps run by `run_case` over a `RawConnection`:
  Send(data, chunk, pause)  write bytes (optionally split into `chunk`-byte writes)
  Wait(n)                   wait until n frames in total have been received (or the peer closed)
  Close(code, reason)       write a close frame (the client's close)
  End()                     stop the script and wait for the connection to end (peer closes)
After the steps, unless the client already sent or received a close, the client sends close 1000
and waits for the end, as Autobahn's client does.

Cases never race the backend: wherever Autobahn sends a valid message and then something invalid,
the script waits for the echo of the valid part before writing the invalid part, so that each
backend's transcript is deterministic and any difference through the gateway is the gateway's.
Bytes that must reach the server after a failure-triggering frame go in the same write.

Sizes are limited (at most 1 MiB per message, a few hundred messages per case).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from rawws import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawConnection,
                   close_payload, frame)


@dataclass
class Send:
    data: bytes
    chunk: int | None = None
    pause: float = 0.0


@dataclass
class Wait:
    total: int


@dataclass
class Close:
    """A write whose first frame is the client's close (later bytes may follow in the same write)."""
    data: bytes
    chunk: int | None = None
    pause: float = 0.0


@dataclass
class End:
    pass


@dataclass
class Case:
    id: str
    description: str
    steps: list = field(default_factory=list)
    timeout: float = 5.0
    # The case exceeds any limit a gateway can be configured with (a 2^63-byte frame): the
    # gateway may answer with its own 1009, so close frames with code 1009 compare by code only.
    limit_probe: bool = False


class Script:
    """Builds a case's steps; masks come from a per-case seeded RNG so runs are reproducible."""

    def __init__(self, case_id: str):
        self.rng = random.Random(case_id)
        self.steps: list = []
        self.expected = 0

    def f(self, opcode: int, payload: bytes | str = b"", **kw) -> bytes:
        if isinstance(payload, str):
            payload = payload.encode()
        return frame(opcode, payload, rng=self.rng, **kw)

    def send(self, *frames: bytes, chunk: int | None = None, pause: float = 0.0) -> "Script":
        self.steps.append(Send(b"".join(frames), chunk, pause))
        return self

    def octets(self, *frames: bytes) -> "Script":
        """Octet-wise chops: every byte its own write."""
        return self.send(*frames, chunk=1, pause=0.0005)

    def framewise(self, *frames: bytes) -> "Script":
        """Frame-wise chops: every frame its own write."""
        for fr in frames:
            self.steps.append(Send(fr, None, 0.001))
        return self

    def expect(self, n: int = 1) -> "Script":
        self.expected += n
        self.steps.append(Wait(self.expected))
        return self

    def close(self, code: int | None = 1000, reason: bytes | str = b"", *, raw: bytes | None = None,
              then: tuple[bytes, ...] = (), before: tuple[bytes, ...] = (), octets: bool = False) -> "Script":
        """Writes the client's close frame, with `before` and `then` frames in the same write."""
        payload = raw if raw is not None else close_payload(code, reason)
        data = b"".join(before) + self.f(OP_CLOSE, payload) + b"".join(then)
        self.steps.append(Close(data, 1 if octets else None, 0.0005 if octets else 0.0))
        return self

    def end(self) -> "Script":
        self.steps.append(End())
        return self


CASES: list[Case] = []


def case(case_id: str, description: str, timeout: float = 5.0, limit_probe: bool = False):
    def register(build):
        s = Script(case_id)
        build(s)
        CASES.append(Case(case_id, description, s.steps, timeout, limit_probe))
        return build
    return register


def add(case_id: str, description: str, build, timeout: float = 5.0, limit_probe: bool = False):
    case(case_id, description, timeout, limit_probe)(build)


# --- 1 Framing -------------------------------------------------------------------------------

for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536], start=1):
    add(f"1.1.{i}", f"text message, payload {n} bytes",
        lambda s, n=n: s.send(s.f(OP_TEXT, b"*" * n)).expect())
    add(f"1.2.{i}", f"binary message, payload {n} bytes",
        lambda s, n=n: s.send(s.f(OP_BINARY, bytes([0xFE]) * n)).expect())
add("1.1.8", "text message, payload 65536 bytes, sent in chops of 997 octets",
    lambda s: s.send(s.f(OP_TEXT, b"*" * 65536), chunk=997).expect())
add("1.2.8", "binary message, payload 65536 bytes, sent in chops of 997 octets",
    lambda s: s.send(s.f(OP_BINARY, bytes([0xFE]) * 65536), chunk=997).expect())


@case("1.3.1", "text frames with header split octet-wise: 126 and 65536 length encodings")
def _(s):
    big = s.f(OP_TEXT, b"b" * 65536)
    s.octets(s.f(OP_TEXT, b"a" * 126)).expect().send(big[:14], chunk=1, pause=0.0005).send(big[14:]).expect()


add("1.3.2", "non-minimal length encoding (16-bit length field carrying 5)",
    lambda s: s.send(bytes([0x81, 0x80 | 126]) + struct.pack("!H", 5) + b"\0\0\0\0" + b"hello").expect())
add("1.3.3", "non-minimal length encoding (64-bit length field carrying 200)",
    lambda s: s.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 200) + b"\0\0\0\0" + b"x" * 200).expect())
add("1.3.4", "64-bit length with the most significant bit set", lambda s: s.send(
    bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + b"\0\0\0\0" + b"x" * 16).end(), limit_probe=True)
add("1.3.5", "unmasked client frame", lambda s: s.send(s.f(OP_TEXT, "unmasked", mask=False)).end())
add("1.3.6", "masked text with a non-zero mask key and octet-wise payload",
    lambda s: s.octets(s.f(OP_TEXT, "Hello, masked world", mask_key=b"\x37\xfa\x21\x3d")).expect())

# --- 2 Pings and pongs ------------------------------------------------------------------------

add("2.1", "ping without payload", lambda s: s.send(s.f(OP_PING)).expect())
add("2.2", "ping with small text payload", lambda s: s.send(s.f(OP_PING, "Hello, world!")).expect())
add("2.3", "ping with small binary (non UTF-8) payload",
    lambda s: s.send(s.f(OP_PING, bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF]))).expect())
add("2.4", "ping with 125 byte binary payload", lambda s: s.send(s.f(OP_PING, b"\xfe" * 125)).expect())
add("2.5", "ping with 126 byte binary payload (control frame too long)",
    lambda s: s.send(s.f(OP_PING, b"\xfe" * 126)).end())
add("2.6", "ping with 125 byte payload, sent octet-wise",
    lambda s: s.octets(s.f(OP_PING, b"\xfe" * 125)).expect())
add("2.7", "unsolicited pong without payload", lambda s: s.send(s.f(OP_PONG)))
add("2.8", "unsolicited pong with payload", lambda s: s.send(s.f(OP_PONG, "unsolicited pong payload")))
add("2.9", "unsolicited pong, then ping", lambda s: s.send(s.f(OP_PONG, "unsolicited"), s.f(OP_PING, "sollicited")).expect())
add("2.10", "10 pings in one write", lambda s: s.send(*[s.f(OP_PING, f"payload-{i}") for i in range(10)]).expect(10))
add("2.11", "10 pings, each frame its own write",
    lambda s: s.framewise(*[s.f(OP_PING, f"payload-{i}") for i in range(10)]).expect(10))
add("2.12", "10 pings sent octet-wise", lambda s: s.octets(*[s.f(OP_PING, f"p{i}") for i in range(10)]).expect(10))

# --- 3 Reserved bits ----------------------------------------------------------------------------

add("3.1", "text with RSV = 1", lambda s: s.send(s.f(OP_TEXT, "Hello, world!", rsv=1)).end())
add("3.2", "text, then text with RSV = 2, then ping",
    lambda s: s.send(s.f(OP_TEXT, "Hello, world!")).expect()
    .send(s.f(OP_TEXT, "Hello, world!", rsv=2), s.f(OP_PING, "Hello, world!")).end())
add("3.3", "text, then text with RSV = 3, then ping, frame-wise",
    lambda s: s.framewise(s.f(OP_TEXT, "Hello, world!")).expect()
    .send(s.f(OP_TEXT, "Hello, world!", rsv=3) + s.f(OP_PING, "Hello, world!")).end())
add("3.4", "text, then text with RSV = 4, both octet-wise",
    lambda s: s.octets(s.f(OP_TEXT, "Hello, world!")).expect()
    .octets(s.f(OP_TEXT, "Hello, world!", rsv=4)).end())
add("3.5", "binary with RSV = 5", lambda s: s.send(s.f(OP_BINARY, bytes(range(8)), rsv=5)).end())
add("3.6", "ping with RSV = 6", lambda s: s.send(s.f(OP_PING, "Hello, world!", rsv=6)).end())
add("3.7", "close with RSV = 7", lambda s: s.send(s.f(OP_CLOSE, close_payload(1000), rsv=7)).end())
add("3.8", "continuation frame with RSV = 1 inside a fragmented text",
    lambda s: s.send(s.f(OP_TEXT, "frag1", fin=False), s.f(OP_CONT, "frag2", rsv=1)).end())

# --- 4 Opcodes ----------------------------------------------------------------------------------

for i, op in enumerate([3, 4, 5, 6, 7], start=1):
    if i <= 2:
        add(f"4.1.{i}", f"reserved non-control opcode {op}" + (" with payload" if i == 2 else ""),
            lambda s, op=op, i=i: s.send(s.f(op, b"reserved" if i == 2 else b"")).end())
    else:
        add(f"4.1.{i}", f"text, then reserved non-control opcode {op} with payload, then ping",
            lambda s, op=op, i=i: s.send(s.f(OP_TEXT, "Hello, world!")).expect()
            .send(s.f(op, "reserved"), s.f(OP_PING, "ping"), chunk=1 if i == 5 else None,
                  pause=0.0005 if i == 5 else 0.0).end())
for i, op in enumerate([11, 12, 13, 14, 15], start=1):
    if i <= 2:
        add(f"4.2.{i}", f"reserved control opcode {op}" + (" with payload" if i == 2 else ""),
            lambda s, op=op, i=i: s.send(s.f(op, b"reserved" if i == 2 else b"")).end())
    else:
        add(f"4.2.{i}", f"text, then reserved control opcode {op} with payload, then ping",
            lambda s, op=op, i=i: s.send(s.f(OP_TEXT, "Hello, world!")).expect()
            .send(s.f(op, "reserved"), s.f(OP_PING, "ping"), chunk=1 if i == 5 else None,
                  pause=0.0005 if i == 5 else 0.0).end())

# --- 5 Fragmentation ----------------------------------------------------------------------------

add("5.1", "ping in 2 fragments", lambda s: s.send(s.f(OP_PING, "fragment1", fin=False), s.f(OP_CONT, "fragment2")).end())
add("5.2", "pong in 2 fragments", lambda s: s.send(s.f(OP_PONG, "fragment1", fin=False), s.f(OP_CONT, "fragment2")).end())
add("5.3", "text in 2 fragments", lambda s: s.send(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_CONT, "fragment2")).expect())
add("5.4", "text in 2 fragments, frame-wise",
    lambda s: s.framewise(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_CONT, "fragment2")).expect())
add("5.5", "text in 2 fragments, octet-wise",
    lambda s: s.octets(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_CONT, "fragment2")).expect())
add("5.6", "text in 2 fragments with a ping in between",
    lambda s: s.send(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_PING, "ping payload"), s.f(OP_CONT, "fragment2")).expect(2))
add("5.7", "text in 2 fragments with a ping in between, frame-wise",
    lambda s: s.framewise(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_PING, "ping payload"), s.f(OP_CONT, "fragment2")).expect(2))
add("5.8", "text in 2 fragments with a ping in between, octet-wise",
    lambda s: s.octets(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_PING, "ping payload"), s.f(OP_CONT, "fragment2")).expect(2))
add("5.9", "continuation FIN=1 with nothing to continue, then text",
    lambda s: s.send(s.f(OP_CONT, "non-continuation payload"), s.f(OP_TEXT, "Hello, world!")).end())
add("5.10", "continuation FIN=1 with nothing to continue, then text, frame-wise",
    lambda s: s.framewise(s.f(OP_CONT, "non-continuation payload") + s.f(OP_TEXT, "Hello, world!")).end())
add("5.11", "continuation FIN=1 with nothing to continue, octet-wise",
    lambda s: s.octets(s.f(OP_CONT, "non-continuation payload")).end())
add("5.12", "continuation FIN=0 with nothing to continue, then text",
    lambda s: s.send(s.f(OP_CONT, "non-continuation payload", fin=False), s.f(OP_TEXT, "Hello, world!")).end())
add("5.13", "continuation FIN=0 with nothing to continue, frame-wise",
    lambda s: s.framewise(s.f(OP_CONT, "non-continuation payload", fin=False) + s.f(OP_TEXT, "Hello, world!")).end())
add("5.14", "continuation FIN=0 with nothing to continue, octet-wise",
    lambda s: s.octets(s.f(OP_CONT, "non-continuation payload", fin=False)).end())
add("5.15", "fragmented text, then continuation FIN=0 with nothing to continue",
    lambda s: s.send(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_CONT, "fragment2")).expect()
    .send(s.f(OP_CONT, "fragment3", fin=False), s.f(OP_CONT, "fragment4")).end())
add("5.16", "continuation frames with nothing to continue, twice in a row",
    lambda s: s.send(s.f(OP_CONT, "fragment1", fin=False), s.f(OP_TEXT, "fragment2", fin=False), s.f(OP_CONT, "fragment3")).end())
add("5.17", "continuation FIN=1 first, then fragmented text",
    lambda s: s.send(s.f(OP_CONT, "fragment1"), s.f(OP_TEXT, "fragment2", fin=False), s.f(OP_CONT, "fragment3")).end())
add("5.18", "text in 2 fragments where the second also has opcode text",
    lambda s: s.send(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_TEXT, "fragment2")).end())
add("5.19", "text in 5 fragments with pings between, waiting for each pong",
    lambda s: s.send(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_CONT, "fragment2", fin=False), s.f(OP_PING, "pong, 1"))
    .expect().send(s.f(OP_CONT, "fragment3", fin=False), s.f(OP_CONT, "fragment4", fin=False), s.f(OP_PING, "pong, 2"))
    .expect().send(s.f(OP_CONT, "fragment5")).expect())
add("5.20", "text in 5 fragments with pings between, frame-wise, waiting for each pong",
    lambda s: s.framewise(s.f(OP_TEXT, "fragment1", fin=False), s.f(OP_CONT, "fragment2", fin=False), s.f(OP_PING, "pong, 1"))
    .expect().framewise(s.f(OP_CONT, "fragment3", fin=False), s.f(OP_CONT, "fragment4", fin=False), s.f(OP_PING, "pong, 2"))
    .expect().framewise(s.f(OP_CONT, "fragment5")).expect())
add("5.21", "binary in 3 fragments", lambda s: s.send(
    s.f(OP_BINARY, b"\x00\x01", fin=False), s.f(OP_CONT, b"\x02\x03", fin=False), s.f(OP_CONT, b"\x04")).expect())
add("5.22", "binary fragmented, then text interleaved before the last fragment",
    lambda s: s.send(s.f(OP_BINARY, b"\x00\x01", fin=False), s.f(OP_TEXT, "interloper"), s.f(OP_CONT, b"\x04")).end())
add("5.23", "100 single-byte fragments", lambda s: s.send(
    s.f(OP_TEXT, "a", fin=False), *[s.f(OP_CONT, "b", fin=False) for _ in range(98)], s.f(OP_CONT, "c")).expect())
add("5.24", "empty fragments around data", lambda s: s.send(
    s.f(OP_BINARY, b"", fin=False), s.f(OP_CONT, b"data", fin=False), s.f(OP_CONT, b"")).expect())

# --- 6 UTF-8 handling ---------------------------------------------------------------------------

add("6.1.1", "empty text message", lambda s: s.send(s.f(OP_TEXT, b"")).expect())
add("6.1.2", "text in 3 empty fragments", lambda s: s.send(
    s.f(OP_TEXT, b"", fin=False), s.f(OP_CONT, b"", fin=False), s.f(OP_CONT, b"")).expect())
add("6.1.3", "text: empty, 'middle', empty fragments", lambda s: s.send(
    s.f(OP_TEXT, b"", fin=False), s.f(OP_CONT, b"middle", fin=False), s.f(OP_CONT, b"")).expect())

HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = "κόσμε".encode()
add("6.2.1", "valid UTF-8 in one frame", lambda s: s.send(s.f(OP_TEXT, HELLO)).expect())
add("6.2.2", "valid UTF-8 in 2 fragments, split at a code point boundary", lambda s: s.send(
    s.f(OP_TEXT, HELLO[:12], fin=False), s.f(OP_CONT, HELLO[12:])).expect())
add("6.2.3", "valid UTF-8 fragmented into one frame per octet", lambda s: s.send(
    *[s.f(OP_TEXT if i == 0 else OP_CONT, HELLO[i:i + 1], fin=i == len(HELLO) - 1) for i in range(len(HELLO))]).expect())
add("6.2.4", "valid UTF-8 (κόσμε) fragmented into one frame per octet", lambda s: s.send(
    *[s.f(OP_TEXT if i == 0 else OP_CONT, KOSME[i:i + 1], fin=i == len(KOSME) - 1) for i in range(len(KOSME))]).expect())

BAD = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")  # κόσμε + surrogate + "edited"
add("6.3.1", "invalid UTF-8 in one frame", lambda s: s.send(s.f(OP_TEXT, BAD)).end())
add("6.3.2", "invalid UTF-8 fragmented into one frame per octet", lambda s: s.send(
    *[s.f(OP_TEXT if i == 0 else OP_CONT, BAD[i:i + 1], fin=i == len(BAD) - 1) for i in range(len(BAD))]).end())
add("6.4.1", "invalid UTF-8 in the middle fragment of three", lambda s: s.send(
    s.f(OP_TEXT, KOSME, fin=False), s.f(OP_CONT, bytes.fromhex("f4908080"), fin=False), s.f(OP_CONT, "edited")).end())
add("6.4.2", "invalid code point split across fragments", lambda s: s.send(
    s.f(OP_TEXT, KOSME + b"\xf4", fin=False), s.f(OP_CONT, b"\x90\x80\x80", fin=False), s.f(OP_CONT, "edited")).end())
add("6.4.3", "invalid UTF-8 in the first fragment, then octet-wise rest", lambda s: s.send(
    s.f(OP_TEXT, KOSME + bytes.fromhex("f4908080"), fin=False)).octets(s.f(OP_CONT, "edited")).end())
add("6.4.4", "valid fragments, truncated code point at the end of the message", lambda s: s.send(
    s.f(OP_TEXT, KOSME, fin=False), s.f(OP_CONT, b"\xce")).end())
for i in range(1, len(KOSME) + 1):
    add(f"6.5.{i}", f"κόσμε prefix of {i} octets in one frame (valid only at code point ends)",
        lambda s, i=i: s.send(s.f(OP_TEXT, KOSME[:i])).expect())

UTF8_VECTORS: list[tuple[str, str]] = [
    # 6.6 / 6.7 boundary conditions (valid)
    ("6.6.1", "00"), ("6.6.2", "c280"), ("6.6.3", "e0a080"), ("6.6.4", "f0908080"),
    ("6.6.5", "7f"), ("6.6.6", "dfbf"), ("6.6.7", "efbfbf"), ("6.6.8", "f48fbfbf"),
    ("6.6.9", "ed9fbf"), ("6.6.10", "ee8080"), ("6.6.11", "efbfbd"), ("6.6.12", "f4908080"),
    # 6.8 five and six byte sequences
    ("6.8.1", "f888808080"), ("6.8.2", "fc8480808080"),
    # 6.9 last possible sequence of each length
    ("6.9.1", "f7bfbfbf"), ("6.9.2", "fbbfbfbfbf"), ("6.9.3", "fdbfbfbfbfbf"),
    # 6.10 unexpected continuation bytes
    ("6.10.1", "80"), ("6.10.2", "bf"), ("6.10.3", "80bf"), ("6.10.4", "80bf80"),
    ("6.10.5", "80bf80bf"), ("6.10.6", "80bf80bf80"), ("6.10.7", "80bf80bf80bf"),
    ("6.10.8", "".join(f"{b:02x}" for b in range(0x80, 0xC0))),
    # 6.11 lonely start characters
    ("6.11.1", "".join(f"{b:02x}20" for b in range(0xC0, 0xE0))),
    ("6.11.2", "".join(f"{b:02x}20" for b in range(0xE0, 0xF0))),
    ("6.11.3", "".join(f"{b:02x}20" for b in range(0xF0, 0xF8))),
    ("6.11.4", "f820f920fa20fb20"), ("6.11.5", "fc20"),
    # 6.12 sequences with the last continuation byte missing
    ("6.12.1", "c0"), ("6.12.2", "e080"), ("6.12.3", "f08080"), ("6.12.4", "f8808080"),
    ("6.12.5", "fc80808080"), ("6.12.6", "df"), ("6.12.7", "efbf"), ("6.12.8", "f7bfbf"),
    ("6.12.9", "fbbfbfbf"), ("6.12.10", "fdbfbfbfbf"),
    # 6.13 concatenated incomplete sequences
    ("6.13.1", "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf"),
    # 6.14 impossible bytes
    ("6.14.1", "fe"), ("6.14.2", "ff"), ("6.14.3", "fefeffff"),
    # 6.15 overlong ASCII '/'
    ("6.15.1", "c0af"), ("6.15.2", "e080af"), ("6.15.3", "f08080af"), ("6.15.4", "f8808080af"),
    ("6.15.5", "fc80808080af"),
    # 6.16 maximum overlong sequences
    ("6.16.1", "c1bf"), ("6.16.2", "e09fbf"), ("6.16.3", "f08fbfbf"), ("6.16.4", "f887bfbfbf"),
    ("6.16.5", "fc83bfbfbfbf"),
    # 6.17 overlong NUL
    ("6.17.1", "c080"), ("6.17.2", "e08080"), ("6.17.3", "f0808080"), ("6.17.4", "f880808080"),
    ("6.17.5", "fc8080808080"),
    # 6.18 single UTF-16 surrogates
    ("6.18.1", "eda080"), ("6.18.2", "edadbf"), ("6.18.3", "edae80"), ("6.18.4", "edafbf"),
    ("6.18.5", "edb080"), ("6.18.6", "edbe80"), ("6.18.7", "edbfbf"),
    # 6.19 paired UTF-16 surrogates
    ("6.19.1", "eda080edb080"), ("6.19.2", "eda080edbfbf"), ("6.19.3", "edadbfedb080"),
    ("6.19.4", "edadbfedbfbf"), ("6.19.5", "edae80edb080"), ("6.19.6", "edae80edbfbf"),
    ("6.19.7", "edafbfedb080"), ("6.19.8", "edafbfedbfbf"),
    # 6.20 noncharacters (valid UTF-8, must be accepted)
    ("6.20.1", "efbfbe"), ("6.20.2", "efbfbf"), ("6.20.3", "efb790"), ("6.20.4", "efb7af"),
    ("6.20.5", "f09fbfbe"), ("6.20.6", "f09fbfbf"), ("6.20.7", "f48fbfbe"), ("6.20.8", "f48fbfbf"),
    # 6.21 more valid text: mixed scripts, emoji, BOM
    ("6.21.1", "efbbbf" + "68656c6c6f"), ("6.21.2", "f09f9880f09f9a80"),
    ("6.21.3", "e4bda0e5a5bd"), ("6.21.4", "d985d8b1d8add8a8d8a7"),
]
for vid, hexstr in UTF8_VECTORS:
    payload = bytes.fromhex(hexstr)
    add(vid, f"text payload {hexstr[:24]}{'…' if len(hexstr) > 24 else ''} in one frame",
        lambda s, p=payload: s.send(s.f(OP_TEXT, p)).expect())
    if len(payload) >= 2:
        add(vid + ".f", f"text payload {hexstr[:24]} fragmented per octet",
            lambda s, p=payload: s.send(*[s.f(OP_TEXT if i == 0 else OP_CONT, p[i:i + 1], fin=i == len(p) - 1)
                                          for i in range(len(p))]).expect())

# --- 7 Close handling ---------------------------------------------------------------------------

add("7.1.1", "text echo, then close 1000", lambda s: s.send(s.f(OP_TEXT, "Hello World!")).expect().close(1000).end())
add("7.1.2", "close, then close again", lambda s: s.close(1000, then=(s.f(OP_CLOSE, close_payload(1000)),)).end())
add("7.1.3", "close, then ping", lambda s: s.close(1000, then=(s.f(OP_PING, "Hello World!"),)).end())
add("7.1.4", "close, then text", lambda s: s.close(1000, then=(s.f(OP_TEXT, "Hello World!"),)).end())
add("7.1.5", "text fragment, close, then continuation", lambda s: s.close(
    1000, before=(s.f(OP_TEXT, "fragment1", fin=False),), then=(s.f(OP_CONT, "fragment2"),)).end())
add("7.1.6", "256 KiB text echoed, then close and a ping in one write", lambda s: s.send(
    s.f(OP_TEXT, b"BAsd7&jh23" * 26214)).expect().close(1000, then=(s.f(OP_PING, "ping"),)).end())
add("7.3.1", "close with empty payload", lambda s: s.close(None).end())
add("7.3.2", "close with 1 byte payload", lambda s: s.close(raw=b"\x03").end())
add("7.3.3", "close with code 1000 and no reason", lambda s: s.close(1000).end())
add("7.3.4", "close with code 1000 and a reason", lambda s: s.close(1000, "Hello World!").end())
add("7.3.5", "close with code 1000 and a 123 byte reason", lambda s: s.close(1000, "*" * 123).end())
add("7.3.6", "close with code 1000 and a 124 byte reason (control frame too long)",
    lambda s: s.close(1000, "*" * 124).end())
add("7.5.1", "close with invalid UTF-8 in the reason", lambda s: s.close(1000, BAD).end())
add("7.5.2", "close with a multi-byte UTF-8 reason", lambda s: s.close(1000, "κόσμε ✓ 👋").end())
for i, code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                          3000, 3999, 4000, 4999], start=1):
    add(f"7.7.{i}", f"close with valid code {code}", lambda s, c=code: s.close(c, "bye").end())
for i, code in enumerate([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535], start=1):
    add(f"7.9.{i}", f"close with invalid code {code}", lambda s, c=code: s.close(c).end())
add("7.10.1", "close frame with FIN = 0 (fragmented control frame)",
    lambda s: s.send(s.f(OP_CLOSE, close_payload(1000), fin=False)).end())
add("7.10.2", "close sent octet-wise", lambda s: s.close(1000, "octets", octets=True).end())
add("7.10.3", "close while a large message is half sent", lambda s: s.close(
    4321, "mid-message", before=(s.f(OP_BINARY, b"x" * 4096, fin=False),)).end())


# --- 9 Limited-size performance ------------------------------------------------------------------

SIZES = [(1, 65536), (2, 262144), (3, 1048576)]
for i, n in SIZES:
    add(f"9.1.{i}", f"text message of {n} bytes", lambda s, n=n: s.send(s.f(OP_TEXT, b"*" * n)).expect(), 20.0)
    add(f"9.2.{i}", f"binary message of {n} bytes", lambda s, n=n: s.send(s.f(OP_BINARY, bytes([0xFE]) * n)).expect(), 20.0)
FRAGS = [(1, 64, 65536), (2, 256, 262144), (3, 1024, 1048576), (4, 4096, 1048576), (5, 16384, 1048576),
         (6, 65536, 1048576), (7, 262144, 1048576), (8, 1048576, 1048576)]
for i, fsize, n in FRAGS:
    def fragmented(s, opcode, fsize=fsize, n=n):
        data = (b"*" if opcode == OP_TEXT else b"\xfe") * n
        chunks = [data[j:j + fsize] for j in range(0, n, fsize)]
        s.send(*[s.f(opcode if j == 0 else OP_CONT, c, fin=j == len(chunks) - 1) for j, c in enumerate(chunks)]).expect()
    add(f"9.3.{i}", f"text message of {n} bytes in fragments of {fsize}", lambda s, fr=fragmented: fr(s, OP_TEXT), 20.0)
    add(f"9.4.{i}", f"binary message of {n} bytes in fragments of {fsize}", lambda s, fr=fragmented: fr(s, OP_BINARY), 20.0)
for i, chop in enumerate([64, 128, 256, 512, 1024, 2048], start=1):
    add(f"9.5.{i}", f"text message of 256 KiB sent in chops of {chop} octets",
        lambda s, c=chop: s.send(s.f(OP_TEXT, b"*" * 262144), chunk=c).expect(), 20.0)
    add(f"9.6.{i}", f"binary message of 256 KiB sent in chops of {chop} octets",
        lambda s, c=chop: s.send(s.f(OP_BINARY, b"\xfe" * 262144), chunk=c).expect(), 20.0)
for i, n in enumerate([0, 16, 64, 256, 1024, 4096], start=1):
    add(f"9.7.{i}", f"300 text messages of {n} bytes, pipelined",
        lambda s, n=n: s.send(*[s.f(OP_TEXT, (str(k % 10) * n).encode()) for k in range(300)]).expect(300), 20.0)
    add(f"9.8.{i}", f"300 binary messages of {n} bytes, pipelined",
        lambda s, n=n: s.send(*[s.f(OP_BINARY, bytes([k % 256]) * n) for k in range(300)]).expect(300), 20.0)
add("9.9.1", "200 text messages, each written and echoed one at a time", lambda s: [
    s.send(s.f(OP_TEXT, f"message {k}")).expect() for k in range(200)], 20.0)

# --- 10 Misc: auto-fragmentation ----------------------------------------------------------------

add("10.1.1", "text message of 65536 bytes in 1300-byte fragments", lambda s: s.send(*[
    s.f(OP_TEXT if j == 0 else OP_CONT, b"*" * min(1300, 65536 - j), fin=j + 1300 >= 65536)
    for j in range(0, 65536, 1300)]).expect())
add("10.1.2", "binary message of 65536 bytes in 1300-byte fragments, octet-chopped headers", lambda s: s.send(*[
    s.f(OP_BINARY if j == 0 else OP_CONT, b"\xfe" * min(1300, 65536 - j), fin=j + 1300 >= 65536)
    for j in range(0, 65536, 1300)], chunk=1300).expect())


def comparable(c: Case, transcript: list[tuple]) -> list[tuple]:
    """The transcript as compared. Only for a `limit_probe` case, a 1009 close frame is reduced to
    its code (the gateway's own "message too big" and the backend's wording both mean 1009)."""
    if not c.limit_probe:
        return transcript
    return [("frame", 8, "close", 1009) if e[:2] == ("frame", 8) and len(e) > 8 and e[8] == 1009 else e
            for e in transcript]


async def run_case(c: Case, host: str, port: int, path: str, headers=None) -> list[tuple]:
    """Runs one case and returns its transcript."""
    conn = await RawConnection.open(host, port, path, headers, timeout=c.timeout,
                                    rng=random.Random(c.id + "/replies"))
    hs = conn.handshake
    transcript: list[tuple] = [("handshake", hs.status, conn.accept_ok,
                                hs.header("Sec-WebSocket-Protocol"), hs.header("Sec-WebSocket-Extensions"))]
    if hs.status != 101:
        return transcript
    try:
        ended_by_script = False
        for i, step in enumerate(c.steps):
            if isinstance(step, End):
                ended_by_script = True
                break
            if conn.close_received or conn.ended is not None:
                # Once the server has closed, a client sends nothing more (RFC 6455 §5.5.1).
                break
            if isinstance(step, Send):
                await conn.send(step.data, chunk=step.chunk, pause=step.pause)
            elif isinstance(step, Close):
                conn.close_sent = True
                await conn.send(step.data, chunk=step.chunk, pause=step.pause)
            elif isinstance(step, Wait):
                if not await conn.wait_frames(step.total, c.timeout):
                    if not conn.close_received and conn.ended is None:
                        transcript.append(("stalled", i, len(conn.frames)))
        if not ended_by_script and not conn.close_sent and not conn.close_received and conn.ended is None:
            conn.close_sent = True
            await conn.send(frame(OP_CLOSE, close_payload(1000), rng=conn.rng))
        end = await conn.wait_end(c.timeout)
    finally:
        conn.abort()
    transcript.extend(f.describe() for f in conn.frames)
    transcript.extend(conn.events)
    transcript.append(("end", end))
    return transcript
