#!/usr/bin/env python3
"""Writes the seed corpora and the findings' reproducers (Tests/Fuzz/corpus/<target>/).

Seeds are small real examples (requests, frames, headers, tokens, key sets and configs as the
Swift tests use them); tokens are signed with the harness's HS256 secret (FuzzKeys.swift) for
its fixed `now`. Files named finding-* reproduce the findings listed in Tests/Fuzz/README.md;
refused-* are inputs the code under test must refuse (all others it must accept).
Run from anywhere; rewrites the files it names and leaves others (libFuzzer's additions) alone.
"""
import base64, hashlib, hmac, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = b"wsgate-fuzz-hs256-secret-0123456"
ISS, AUD = "https://issuer.example", "wsgate"
NOW = 1_800_000_000


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(header, payload):
    signing = b64(header) + "." + b64(payload)
    mac = hmac.new(SECRET, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(mac)


def claims(**extra):
    base = {"iss": ISS, "aud": AUD, "sub": "alice", "exp": NOW + 3600, "iat": NOW - 60}
    base.update(extra)
    return json.dumps(base, separators=(",", ":")).encode()


TOKEN = hs256(b'{"alg":"HS256","typ":"JWT","kid":"hs"}', claims(org={"id": "acme"}))


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def upgrade(target, *headers):
    lines = [f"GET {target} HTTP/1.1", "Host: gw.example", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", *headers]
    return "\r\n".join(lines) + "\r\n\r\n"


# request-head: the four carriers, a prefix route, an open route, forward_token.
write("request-head", "bearer-header", upgrade("/ws/chat", f"Authorization: Bearer {TOKEN}", "X-User-Id: spoofed"))
write("request-head", "query-token", upgrade(f"/ws/chat?room=1&access_token={TOKEN}"))
write("request-head", "cookie-token", upgrade("/ws/chat", f"Cookie: theme=dark; wsgate_token={TOKEN}"))
write("request-head", "subprotocol-token", upgrade("/ws/chat", f"Sec-WebSocket-Protocol: bearer, {TOKEN}, chat.v1"))
write("request-head", "prefix-route-origin", upgrade("/ws/rooms/42?x=1", "Origin: https://app.example.com"))
write("request-head", "public-route", upgrade("/ws/public", "X-Forwarded-For: 203.0.113.9"))
write("request-head", "forward-token", upgrade("/ws/forward", f"Authorization: Bearer {TOKEN}"))
# Finding 1: carriers a lenient backend still reads as the token reach it unstripped.
write("request-head", "finding-1-cookie-tab", upgrade("/ws/chat", f"Authorization: Bearer {TOKEN}", "Cookie: a=b;\twsgate_token=EVIL"))
write("request-head", "finding-1-cookie-space-before-equals", upgrade("/ws/chat", f"Authorization: Bearer {TOKEN}", "Cookie: wsgate_token =EVIL"))
write("request-head", "finding-1-query-semicolon", upgrade("/ws/chat?x=1;access_token=EVIL", f"Authorization: Bearer {TOKEN}"))
# Finding 2: dot segments match a prefix route (the backend resolves them to /ws/chat).
write("request-head", "finding-2-dot-segments", upgrade("/ws/rooms/../chat"))

# response-head: what backends answer (without the blank line, as the upstream handler passes it).
accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
write("response-head", "switching-protocols", f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\n")
write("response-head", "subprotocol-bare-lf", f"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n{accept}\nSec-WebSocket-Protocol: chat.v1\n")
write("response-head", "forbidden", "HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n")
write("response-head", "no-reason", "HTTP/1.1 503\r\nRetry-After:  5 \r\n")
# Finding 7 (new, found by this target): a status code NIO does not name keeps the backend's
# reason phrase, bare CR included, and the gateway's own refusal repeats it to the client.
write("response-head", "finding-7-reason-phrase-bare-cr", "HTTP/1.1 599 a\rb\r\nContent-Length: 0\r\n")


def frame(opcode, payload=b"", masked=False, fin=True, key=b"\x37\xfa\x21\x3d"):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mask = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask | n])
    elif n < 65536:
        head += bytes([mask | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mask | 127]) + struct.pack(">Q", n)
    if masked:
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def cuts(lengths, stream):
    return bytes([len(lengths)] + lengths) + stream


# frame-tracker: byte 0 = number of cuts, then the cut lengths, then the stream.
write("frame-tracker", "masked-text-then-close", cuts([], frame(1, b"hello", True) + frame(8, struct.pack(">H", 1000) + b"bye", True)))
write("frame-tracker", "fragmented-split-reads", cuts([1, 1, 3, 7], frame(1, b"frag", fin=False) + frame(0, b"ment") + frame(9, b"p") + frame(10, b"p")))
write("frame-tracker", "extended-length", cuts([2, 2], frame(2, bytes(300), True) + frame(8)))
write("frame-tracker", "refused-frame-too-large", cuts([5], frame(2, b"ok") + bytes([0x82, 0x7E, 0x04, 0x01])))
# Finding 5: an empty close, then an 8 MiB frame header in the same read.
huge = bytes([0x82, 0x7F]) + struct.pack(">Q", 8 << 20)
write("frame-tracker", "finding-5-empty-close-then-huge", cuts([], frame(8) + huge))

# proxy-header: byte 0 = number of cuts, then the cut lengths, then the bytes.
sig = b"\r\n\r\n\x00\r\nQUIT\n"
write("proxy-header", "v1-tcp4", cuts([3, 10], b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n"))
write("proxy-header", "v1-tcp6", cuts([], b"PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"))
write("proxy-header", "v1-unknown", cuts([], b"PROXY UNKNOWN\r\n"))
write("proxy-header", "v2-tcp4", cuts([13], sig + b"\x21\x11\x00\x0c" + bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 56324, 443)))
write("proxy-header", "v2-local", cuts([], sig + b"\x20\x00\x00\x00"))
write("proxy-header", "v2-tcp6-tlv", cuts([20], sig + b"\x21\x21\x00\x29" + bytes(range(16)) + bytes(range(16, 32)) + struct.pack(">HH", 1, 2) + b"\x04\x00\x02ok"))
# Finding 8 (new, found by this target): a v1 header whose first read is 7 to 11 bytes
# ("PROXY TCP4") is refused as "no PROXY protocol header"; whole, it parses.
write("proxy-header", "finding-8-v1-first-read-of-10-bytes", cuts([10], b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"))
# Finding 6: a v2 header whose TLVs take it past 216 bytes is never parsed.
write("proxy-header", "finding-6-v2-longer-than-216", cuts([], sig + b"\x21\x11\x01\x2c" + bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 1, 2) + b"\x04\x01\x1d" + bytes(285)))

# token: mode 0 = a token; 1 = HS256-signed, 2 = ES256-signed (byte 1 = header length).
def signed(mode, header, payload):
    return bytes([mode, len(header)]) + header + payload

write("token", "raw-valid", b"\x00" + TOKEN.encode())
write("token", "refused-expired", b"\x00" + hs256(b'{"alg":"HS256"}', claims(exp=NOW - 1)).encode())
write("token", "hs256-kid", signed(1, b'{"alg":"HS256","kid":"hs"}', claims(scope="chat.read chat.write")))
write("token", "es256-kid", signed(2, b'{"alg":"ES256","kid":"es","typ":"JWT"}', claims(aud=["x", AUD], nbf=NOW)))
write("token", "es256-no-kid", signed(2, b'{"alg":"ES256"}', claims()))
write("token", "refused-alg-not-allowed-for-kid", signed(1, b'{"alg":"HS256","kid":"es"}', claims()))
# Finding 4: a NUL after a number in the claims; jansson stops reading there.
write("token", "finding-4-nul-after-number", signed(1, b'{"alg":"HS256","kid":"hs"}', b'{"iss":"https://issuer.example","aud":"wsgate","exp":1800003600\x00}'))

# jwks: the fixture set's kinds of key, and finding 3.
with open(os.path.join(HERE, "..", "GatewayAuthTests", "Fixtures", "jwks.json"), "rb") as f:
    fixture = json.load(f)
for entry in fixture["keys"][:3]:
    write("jwks", "fixture-" + entry["kid"], json.dumps({"keys": [entry]}))
write("jwks", "fixture-all", json.dumps(fixture))
# Finding 3: an RSA key with e = 1 (a signature is then the padded digest itself: forgeable).
weak = dict(fixture["keys"][0], e="AQ", kid="e-is-1")
write("jwks", "finding-3-rsa-e-1", json.dumps({"keys": [weak]}))
# Finding 3, variant libFuzzer found: an even exponent (65536) is accepted too (RFC 8017 §3.1).
even = dict(fixture["keys"][0], e="AQAA", kid="e-is-even")
write("jwks", "finding-3-rsa-e-even", json.dumps({"keys": [even]}))

# config: the demo, every token source and route kind, and a broken one.
write("config", "demo", """listen:
  - address: 127.0.0.1:8080
admin:
  address: 127.0.0.1:9090
keys:
  - id: demo
    algorithms: [HS256]
    secret_env: WSGATE_FUZZ_SECRET
routes:
  - path: /wss/demo
    upstream: ws://127.0.0.1:9001/
    auth: required
    claims_to_headers:
      sub: X-User-Id
  - path: /wss/public
    upstream: ws://127.0.0.1:9001/
    auth: none
""")
write("config", "full", """listen:
  - address: 0.0.0.0:8443
    proxy_protocol: true
keys:
  - id: hs
    algorithms: [HS256]
    secret_env: WSGATE_FUZZ_SECRET
auth:
  issuers: [https://auth.example.com]
  audiences: [chat]
  leeway: 30s
  max_token_bytes: 4KiB
  token_sources: [header, query:access_token, cookie:wsgate_token, subprotocol]
limits:
  max_header_bytes: 16KiB
  max_frame_bytes: 1MiB
  max_message_bytes: 4MiB
  handshake_timeout: 5s
  idle_timeout: 10m
trusted_proxies: [10.0.0.0/8, "::1/128"]
routes:
  - path: /ws/chat
    upstream: [ws://10.0.0.5:9001/chat, ws://10.0.0.6:9001/chat]
    auth: required
    require_claims: { role: [admin, member] }
    require_scopes: [chat.write]
    claims_to_headers: { sub: X-User-Id, org.id: X-Org-Id }
    forward_payload_header: X-JWT-Claims
    allowed_origins: [https://app.example.com]
    expiry_close_code: 4001
  - path: /ws/rooms/*
    upstream: ws://10.0.0.7:9001/rooms
    auth: optional
    token_sources: [header, subprotocol]
""")
write("config", "refused-problems", """listen:
  - address: nowhere
keys:
  - id: hs
    algorithms: [HS256]
    secret_env: MISSING
limits:
  max_frame_bytes: 5MB
routes:
  - path: ws/chat
    upstream: http://x
    auth: maybe
""")
