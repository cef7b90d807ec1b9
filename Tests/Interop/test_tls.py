"""TLS through the real `wsgate serve`: a Python `ssl` client against a `tls:` listener, with a
throwaway CA made by the `openssl` command, in front of the third-party backends."""

import asyncio
import json
import ssl
import subprocess

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
