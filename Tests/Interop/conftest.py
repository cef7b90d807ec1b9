"""Fixtures for wsgate's out-of-process interop and differential conformance tests.

Everything the tests talk to is a real process on loopback: the wsgate binary (`--wsgate PATH`,
`WSGATE_BIN`, default `.build/debug/wsgate` from the repository root), a Python `websockets`
backend and a Node `ws` backend (third-party libraries), and `wsgate echo-backend`.
When the gateway cannot start (binary missing, `serve` still a stub, bad config), every test
that needs it errors with the reason: they fail, they never skip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (Backend, Gateway, ManagedProcess, closed_port, free_port, gateway_supports_serve, resolve_wsgate,
                     wait_tcp)  # noqa: E402

ISSUER = "https://issuer.interop.test"
AUDIENCE = "wsgate-interop"
SUB = "alice"
COOKIE = "wsgate_token"
SECRET_ENV = "WSGATE_TEST_SECRET"
BACKENDS = ["python", "node"]


def pytest_addoption(parser):
    parser.addoption("--wsgate", action="store", default=None,
                     help="path to the wsgate binary (default: $WSGATE_BIN or .build/debug/wsgate)")


def pytest_report_header(config):
    binary = resolve_wsgate(config.getoption("--wsgate"))
    if not binary.exists():
        return [f"wsgate: {binary} (missing: every gateway test will fail)"]
    ok, why = gateway_supports_serve(binary)
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(binary.stat().st_mtime))
    return [f"wsgate: {binary} (built {built} UTC; serve: {'yes' if ok else 'NO - ' + why})"]


@pytest.fixture(scope="session")
def wsgate_bin(request) -> Path:
    return resolve_wsgate(request.config.getoption("--wsgate"))


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("interop")


class Minter:
    """Mints tokens with PyJWT and remembers every one, so tests can prove none leaked."""

    def __init__(self, secret: bytes, rsa_key):
        self.secret = secret
        self.rsa_key = rsa_key
        self.minted: list[str] = []

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": SUB, "iat": now, "exp": now + 600,
            "role": "member", "org": {"id": "org-42"}, "groups": ["red", "blue"],
            "jti": uuid.uuid4().hex,
        }
        for k, v in overrides.items():
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        return claims

    def hs256(self, *, kid: str = "k1", secret: bytes | None = None, **claims) -> str:
        token = jwt.encode(self.claims(**claims), secret or self.secret, algorithm="HS256", headers={"kid": kid})
        self.minted.append(token)
        return token

    def rs256(self, *, kid: str = "k-rsa", **claims) -> str:
        token = jwt.encode(self.claims(**claims), self.rsa_key, algorithm="RS256", headers={"kid": kid})
        self.minted.append(token)
        return token

    def alg_none(self, *, kid: str = "k1", **claims) -> str:
        def b64(obj):
            return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
        token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64(self.claims(**claims))}."
        self.minted.append(token)
        return token


@pytest.fixture(scope="session")
def secret() -> bytes:
    return secrets.token_urlsafe(48).encode()


@pytest.fixture(scope="session")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def minter(secret, rsa_key) -> Minter:
    return Minter(secret, rsa_key)


@pytest.fixture(scope="session")
def rsa_public_pem(work, rsa_key) -> Path:
    path = work / "rsa.pub.pem"
    path.write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


@pytest.fixture(scope="session")
def backends(work):
    started = {}
    try:
        for kind in BACKENDS:
            started[kind] = Backend(kind, work)
        yield started
    finally:
        for b in started.values():
            b.stop()


@pytest.fixture(scope="session")
def victim_backend(work):
    """A Python backend that one test kills mid-stream (backend gone -> client 1011)."""
    b = Backend("python", work)
    b.process.name = "backend-victim"
    yield b
    b.stop()


class Blackhole:
    """A TCP listener that accepts and never answers (an upstream that hangs: 504)."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self):
        self.sock.close()
        for c in self.accepted:
            c.close()


@pytest.fixture(scope="session")
def blackhole():
    b = Blackhole()
    yield b
    b.stop()


class EchoBackend:
    def __init__(self, binary: Path, work: Path):
        self.port = free_port()
        self.process = ManagedProcess("wsgate-echo-backend", [str(binary), "echo-backend", "--listen", f"127.0.0.1:{self.port}"],
                                      log_dir=work)
        try:
            wait_tcp("127.0.0.1", self.port, 30, self.process)
        except BaseException:
            self.process.stop()
            raise

    def stop(self):
        self.process.stop()


@pytest.fixture(scope="session")
def echo_backend_port(wsgate_bin, work):
    """`wsgate echo-backend`, or None when it cannot start (its own tests then fail)."""
    try:
        eb = EchoBackend(wsgate_bin, work)
    except Exception as e:  # reported by the tests that use it
        yield e
        return
    yield eb
    eb.stop()


class RejectionLog:
    """Reads the gateway's rejection log (JSON lines) from an offset."""

    def __init__(self, path: Path):
        self.path = path

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def lines_from(self, offset: int) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return []
        # Only complete lines.
        return [l.decode("utf-8", "replace") for l in data.split(b"\n")[:-1]]

    def wait_lines(self, offset: int, predicate, timeout: float = 5.0) -> list[str]:
        """Bounded poll until a complete line after offset satisfies predicate; returns all lines
        up to and including it (the writer is asynchronous and the file is the only signal)."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            lines = self.lines_from(offset)
            for i, line in enumerate(lines):
                if predicate(line):
                    return lines[:i + 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching rejection log line within {timeout}s; lines after offset: {lines}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def token_fp(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def base_config(port: int, admin_port: int, rsa_pem: Path, work: Path, name: str) -> dict:
    return {
        "listen": [{"address": f"127.0.0.1:{port}"}],
        "admin": {"address": f"127.0.0.1:{admin_port}"},
        "keys": [
            {"id": "k1", "algorithms": ["HS256"], "secret_env": SECRET_ENV},
            {"id": "k-rsa", "algorithms": ["RS256"], "public_key_file": str(rsa_pem)},
        ],
        "auth": {
            "issuers": [ISSUER],
            "audiences": [AUDIENCE],
            "leeway": "5s",
            "token_sources": ["header", "query:access_token", f"cookie:{COOKIE}", "subprotocol"],
        },
        "rejection_log": {"path": str(work / f"{name}-rejections.jsonl")},
        "limits": {
            "handshake_timeout": "5s",
            "upstream_timeout": "5s",
            # Above every message the tests send (1 MiB), so no case meets a gateway limit.
            "max_frame_bytes": "4MiB",
            "max_message_bytes": "16MiB",
            "max_handshakes_per_ip_per_second": 1000000,
        },
    }


CLAIM_HEADERS = {"sub": "X-User-Id", "role": "X-User-Role", "org.id": "X-Org-Id", "groups": "X-Groups"}


class GatewayHandle:
    def __init__(self, gw: Gateway, log: RejectionLog):
        self.gw = gw
        self.host = gw.host
        self.port = gw.port
        self.admin = gw.admin
        self.log = log

    def url(self, path: str) -> str:
        return f"ws://{self.host}:{self.port}{path}"


@pytest.fixture(scope="session")
def gateway(wsgate_bin, work, secret, rsa_public_pem, backends, victim_backend, echo_backend_port, blackhole):
    """The interop gateway: routes /<backend>/{echo,report,cmd,refuse,admin,origin} per backend."""
    port, admin_port = free_port(), free_port()
    config = base_config(port, admin_port, rsa_public_pem, work, "interop")
    # Short enough for the timeout rejections to be tested quickly, long enough for loopback.
    config["limits"]["handshake_timeout"] = "1s"
    config["limits"]["upstream_timeout"] = "1s"
    config["auth"]["leeway"] = "1s"
    routes = []
    for kind, b in backends.items():
        up = f"ws://127.0.0.1:{b.port}"
        for sub in ["echo", "report", "cmd"]:
            routes.append({"path": f"/{kind}/{sub}", "upstream": f"{up}/{sub}", "auth": "required",
                           "claims_to_headers": CLAIM_HEADERS})
        routes.append({"path": f"/{kind}/refuse", "upstream": f"{up}/refuse", "auth": "required"})
        routes.append({"path": f"/{kind}/admin", "upstream": f"{up}/report", "auth": "required",
                       "require_claims": {"role": ["admin"]}, "claims_to_headers": CLAIM_HEADERS})
        routes.append({"path": f"/{kind}/origin", "upstream": f"{up}/echo", "auth": "required",
                       "allowed_origins": ["https://app.interop.test"]})
        routes.append({"path": f"/{kind}/public", "upstream": f"{up}/report", "auth": "none"})
        routes.append({"path": f"/{kind}/payload", "upstream": f"{up}/report", "auth": "required",
                       "claims_to_headers": {"sub": "X-User-Id"}, "forward_payload_header": "X-JWT-Claims"})
    routes.append({"path": "/victim/cmd", "upstream": f"ws://127.0.0.1:{victim_backend.port}/cmd", "auth": "required"})
    routes.append({"path": "/dead", "upstream": f"ws://127.0.0.1:{closed_port()}/", "auth": "required"})
    routes.append({"path": "/blackhole", "upstream": f"ws://127.0.0.1:{blackhole.port}/", "auth": "required"})
    if isinstance(echo_backend_port, EchoBackend):
        routes.append({"path": "/wsgate-echo", "upstream": f"ws://127.0.0.1:{echo_backend_port.port}/",
                       "auth": "required", "claims_to_headers": {"sub": "X-User-Id"}})
    config["routes"] = routes
    gw = Gateway(wsgate_bin, config, work, {SECRET_ENV: secret.decode()}, name="wsgate-interop")
    yield GatewayHandle(gw, RejectionLog(work / "interop-rejections.jsonl"))
    gw.stop()


@pytest.fixture(scope="session")
def conformance_gateway(wsgate_bin, work, secret, rsa_public_pem, backends):
    """The conformance gateway: /conformance/<backend> in front of each backend's /echo."""
    port, admin_port = free_port(), free_port()
    config = base_config(port, admin_port, rsa_public_pem, work, "conformance")
    config["routes"] = [
        {"path": f"/conformance/{kind}", "upstream": f"ws://127.0.0.1:{b.port}/echo", "auth": "required",
         "claims_to_headers": {"sub": "X-User-Id"}}
        for kind, b in backends.items()
    ]
    gw = Gateway(wsgate_bin, config, work, {SECRET_ENV: secret.decode()}, name="wsgate-conformance")
    yield GatewayHandle(gw, RejectionLog(work / "conformance-rejections.jsonl"))
    gw.stop()


# --- summary line ---------------------------------------------------------------------------------

_conformance = {"passed": 0, "failed": 0}


def pytest_runtest_logreport(report):
    if "test_conformance.py::test_case" not in report.nodeid:
        return
    if report.when == "call":
        _conformance["passed" if report.passed else "failed"] += 1
    elif report.when == "setup" and report.failed:
        _conformance["failed"] += 1


def pytest_terminal_summary(terminalreporter):
    total = _conformance["passed"] + _conformance["failed"]
    if total:
        terminalreporter.write_line(f"conformance: {_conformance['passed']} passed, {_conformance['failed']} failed")
