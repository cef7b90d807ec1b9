"""Live sessions in a real browser (headless Chromium, Debian's `chromium`).

A page opens a socket on a `token_refresh` route with the token in the subprotocol list (a
browser's only way), renews its token on the open socket with
`ws.send(JSON.stringify({type: "wsgate.refresh", token}))`, and keeps a second socket open that
the test revokes through the admin API: the page must see `wsgate.refreshed`, echoes of its own
messages only (the backend echoes everything, so a refresh message reaching it would come back),
and close code 4003 with the operator's reason.
"""

from __future__ import annotations

import json
import threading
import time

from test_browser import extract_result, run_page, shown
from test_sessions import admin_call, sessions_gateway  # noqa: F401  (the module's gateway fixture)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wsgate sessions browser test</title></head>
<body><pre id="result"></pre>
<script>
"use strict";
const CONFIG = %(config)s;
const out = {refresh: {events: []}, revoked: {events: []}};
function finish() { out.done = true; document.getElementById("result").textContent = JSON.stringify(out); }

// Step 1: echo, refresh on the open socket, echo again, close 1000.
function refresh(next) {
  const r = out.refresh;
  const ws = new WebSocket(CONFIG.url, ["bearer", CONFIG.token]);
  ws.onopen = () => { r.events.push("open"); ws.send("before"); };
  ws.onmessage = (e) => {
    r.events.push(e.data);
    if (e.data === "before") ws.send(JSON.stringify({type: "wsgate.refresh", token: CONFIG.renewed}));
    else if (e.data.startsWith('{"type":"wsgate.refreshed"')) ws.send("after");
    else if (e.data === "after") ws.close(1000, "done");
  };
  ws.onclose = (e) => { r.close = {code: e.code, reason: e.reason}; next(); };
}

// Step 2: a socket the operator revokes; the page waits for its close.
function revoked(next) {
  const r = out.revoked;
  const ws = new WebSocket(CONFIG.url, ["bearer", CONFIG.revokedToken]);
  ws.onopen = () => { r.events.push("open"); ws.send("hello"); };
  ws.onmessage = (e) => { r.events.push(e.data); };
  ws.onclose = (e) => { r.close = {code: e.code, reason: e.reason, wasClean: e.wasClean}; next(); };
}

refresh(() => revoked(finish));
</script></body></html>
"""


def test_browser_refreshes_its_token_and_sees_its_revocation(sessions_gateway, minter, tmp_path):  # noqa: F811
    gw = sessions_gateway["gw"]
    renewed_exp = int(time.time()) + 900
    config = {
        "url": f"ws://127.0.0.1:{gw.port}/live",
        "token": minter.hs256(sub="erin-browser", role="member"),
        "renewed": minter.hs256(sub="erin-browser", role="member", exp=renewed_exp),
        "revokedToken": minter.hs256(sub="frank-browser", role="member"),
    }
    page = tmp_path / "page.html"
    page.write_text(PAGE % {"config": json.dumps(config)}, encoding="utf-8")

    result: dict = {}
    browser = threading.Thread(target=lambda: result.update(zip(("dom", "stderr"), run_page(page, tmp_path))))
    browser.start()
    # Revoke frank once his socket is live (the admin API lists it), not after a guessed delay.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and browser.is_alive():
        status, listed, _ = admin_call(gw, "GET", "/sessions?sub=frank-browser")
        if status == 200 and listed["count"] == 1:
            status, answer, _ = admin_call(gw, "POST", "/sessions/revoke", {"sub": "frank-browser", "reason": "kicked by test"})
            assert (status, answer["closed"]) == (200, 1), answer
            break
        time.sleep(0.05)
    browser.join(90)
    page_result = extract_result(result.get("dom", ""))
    assert page_result is not None and page_result.get("done"), \
        f"the page did not finish:\n{shown(result.get('dom', ''))}\n{result.get('stderr', '')[-3000:]}"

    refresh = page_result["refresh"]
    assert refresh["events"] == ["open", "before", json.dumps({"type": "wsgate.refreshed", "exp": renewed_exp},
                                                              separators=(",", ":")), "after"], refresh
    assert refresh["close"] == {"code": 1000, "reason": "done"}, refresh
    revoked = page_result["revoked"]
    assert revoked["events"] == ["open", "hello"], revoked
    assert revoked["close"] == {"code": 4003, "reason": "kicked by test", "wasClean": True}, revoked
