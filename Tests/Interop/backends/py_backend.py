"""A WebSocket backend built on the third-party Python `websockets` library (not written by us).

Paths (query strings ignored):
  /echo    every message echoed as it came (text as text, binary as binary); nothing else.
  /report  first message: JSON {"request_line", "path", "headers": [[name, value], ...]} of the
           upgrade request as received; then echo.
  /cmd     text commands: "close CODE REASON", "ping DATA", "frag A B C", else echo.
  /refuse  the handshake is refused with HTTP 403.
  /record  every message echoed; the "closed" event lists every message received (text, or
           binary as hex), so a test can assert exactly what reached the backend.

Readiness and events go to stdout as JSON lines: {"event": "listening", "port": N} once bound,
then {"event": "closed", "path", "code", "reason"} when a connection has ended, so tests wait on
output instead of sleeping.
"""

import asyncio
import json
import logging
import signal
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def select_subprotocol(connection, offered):
    # Negotiate `chat.v1` when offered, continue without a subprotocol otherwise.
    return "chat.v1" if "chat.v1" in offered else None


def process_request(connection, request):
    if request.path.split("?", 1)[0] == "/refuse":
        return connection.respond(HTTPStatus.FORBIDDEN, "refused by backend\n")
    return None


async def handler(ws):
    path = ws.request.path.split("?", 1)[0]
    received = []
    try:
        if path == "/report" or path.startswith("/report/"):
            await ws.send(json.dumps({
                "request_line": f"GET {ws.request.path} HTTP/1.1",
                "path": ws.request.path,
                "headers": [[k, v] for k, v in ws.request.headers.raw_items()],
                "subprotocol": ws.subprotocol,
            }))
        async for message in ws:
            if path == "/record":
                received.append(message if isinstance(message, str) else message.hex())
            if path == "/cmd" and isinstance(message, str):
                verb, _, rest = message.partition(" ")
                if verb == "close":
                    code, _, reason = rest.partition(" ")
                    await ws.close(int(code), reason)
                    break
                if verb == "ping":
                    waiter = await ws.ping(rest.encode())
                    await waiter
                    await ws.send("pong-received " + rest)
                    continue
                if verb == "frag":
                    await ws.send(iter(rest.split(" ")))
                    continue
            await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        rcvd = ws.protocol.close_rcvd
        emit({
            "event": "closed",
            "path": path,
            "test_id": ws.request.headers.get("X-Test-Id"),
            "code": rcvd.code if rcvd is not None else None,
            "reason": rcvd.reason if rcvd is not None else None,
            **({"messages": received} if path == "/record" else {}),
        })


async def main():
    logging.basicConfig(level=logging.CRITICAL)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        "127.0.0.1",
        port,
        max_size=64 * 1024 * 1024,
        max_queue=None,
        ping_interval=None,
        select_subprotocol=select_subprotocol,
        process_request=process_request,
    ) as server:
        emit({"event": "listening", "port": server.sockets[0].getsockname()[1]})
        await stop


if __name__ == "__main__":
    asyncio.run(main())
