"""Differential conformance: every scripted raw-frame case runs directly against each third-party
backend and through wsgate in front of that backend; the transcripts must be identical.

A transcript is everything the client can observe: the handshake outcome (status, accept key,
subprotocol, extensions), every frame received (opcode, FIN, RSV, mask bit, length, payload digest,
close code and reason) and how the connection ended (EOF after close, EOF mid-frame, reset, or a
timeout). Nothing is normalised away.
"""

from __future__ import annotations

import asyncio
import difflib
import pprint

import pytest

from conformance_cases import CASES, comparable, run_case
from conftest import BACKENDS

from websockets.asyncio.client import connect


def _diff(direct, via) -> str:
    a = pprint.pformat(direct, width=140).splitlines()
    b = pprint.pformat(via, width=140).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "direct", "through wsgate", lineterm="", n=2))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_case(backend, case, backends, conformance_gateway, minter):
    token = minter.hs256()
    b = backends[backend]

    async def both():
        direct = await run_case(case, "127.0.0.1", b.port, "/echo")
        via = await run_case(case, conformance_gateway.host, conformance_gateway.port, f"/conformance/{backend}",
                             [("Authorization", f"Bearer {token}")])
        return direct, via

    direct, via = (comparable(case, t) for t in asyncio.run(both()))
    if not conformance_gateway.gw.alive():
        pytest.fail("wsgate exited during the case: " + conformance_gateway.gw.process.stderr_tail(), pytrace=False)
    if via != direct:
        pytest.fail(f"case {case.id} ({case.description}) differs through wsgate:\n{_diff(direct, via)}", pytrace=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gateway_healthy_after_conformance(backend, conformance_gateway, minter):
    """After all cases: the process is alive and a normal echo works."""
    assert conformance_gateway.gw.alive(), conformance_gateway.gw.process.stderr_tail()

    async def echo():
        async with connect(conformance_gateway.url(f"/conformance/{backend}"),
                           additional_headers={"Authorization": f"Bearer {minter.hs256()}"},
                           open_timeout=5, close_timeout=5) as ws:
            await ws.send("still healthy")
            return await asyncio.wait_for(ws.recv(), 5)

    assert asyncio.run(echo()) == "still healthy"


@pytest.mark.parametrize("backend", BACKENDS)
def test_direct_transcripts_are_deterministic(backend, backends):
    """The harness itself: every case run twice directly against the backend gives the same
    transcript, so a difference through wsgate is wsgate's, not the harness's or the backend's."""
    b = backends[backend]

    async def twice():
        unstable = []
        for c in CASES:
            first = await run_case(c, "127.0.0.1", b.port, "/echo")
            second = await run_case(c, "127.0.0.1", b.port, "/echo")
            if first != second:
                unstable.append(f"{c.id}:\n{_diff(first, second)}")
        return unstable

    unstable = asyncio.run(twice())
    if unstable:
        pytest.fail(f"{len(unstable)} cases are not deterministic directly against {backend}:\n" + "\n".join(unstable),
                    pytrace=False)
