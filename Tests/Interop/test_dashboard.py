"""The admin dashboard in a real browser (headless Chromium, Debian's `chromium`, over DevTools).

A real `wsgate serve` with admin authentication, Python `websockets` clients making a small load
(sessions on two routes, refused handshakes for three reasons). Chromium opens the page on the
admin listener, which asks for the token; the test types it in, waits for a session of the
test's client to be listed, clicks its Revoke button (mouse events at the button), fills in the
reason in the confirmation dialog and confirms. The client must get close 4003 with that reason
and the row must vanish; both charts must have drawn non-empty SVG paths; the page must log no
console error or exception; and without the token every data call the page makes is refused 401.
With WSGATE_DASHBOARD_SCREENSHOTS=DIR the screenshots are also written there (docs/ in the repo).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from test_browser import Chromium
from test_sessions import ADMIN_TOKEN, admin_call, sessions_gateway  # noqa: F401  (the module's gateway fixture)

API_CALLS = ["/api/stats", "/api/keys", "/api/config", "/sessions?limit=500", "/rejections?limit=500"]
TIMEOUT = 90  # seconds: bound on the whole browser session


class Page:
    """One tab driven over DevTools; keeps every console message, log entry and exception."""

    def __init__(self, browser: Chromium, deadline: float):
        self.browser = browser
        self.deadline = deadline
        self.events: list[dict] = []
        self.next_id = 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(domain, session=True)

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.browser.ws.send(json.dumps(msg))
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"chromium: no answer to {method}")
            reply = json.loads(self.browser.ws.recv(timeout=remaining))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str):
        answer = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20.0):
        """Evaluates `expression` every 50 ms until it is truthy; returns its value."""
        end = min(self.deadline, time.monotonic() + timeout)
        while time.monotonic() < end:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the document is being replaced (navigation)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"the page never showed {what}; body: {self.evaluate('document.body.innerText')[:3000]}")

    def click(self, selector: str):
        """A real click: mouse pressed and released at the element's centre."""
        box = self.wait_for(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: "center"}}); const r = e.getBoundingClientRect();
            return r.width > 0 ? {{x: r.x + r.width / 2, y: r.y + r.height / 2}} : null; }})()""", selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
                      session=True)

    def screenshot(self, path: Path):
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def problems(self) -> list[dict]:
        """Console errors and warnings, error log entries, uncaught exceptions."""
        bad = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                bad.append(params)
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                bad.append(params)
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                bad.append(params["entry"])
        return bad


def small_load(gw, minter, stop: threading.Event):
    """Refused handshakes for three reasons, a few per second, until `stop` is set."""
    url = f"ws://127.0.0.1:{gw.port}"
    expired = minter.hs256(sub="mallory", exp=int(time.time()) - 60)
    while not stop.is_set():
        for path, headers in (("/chat", {}), ("/chat", {"Authorization": f"Bearer {expired}"}), ("/nowhere", {})):
            try:
                connect(url + path, additional_headers=headers, open_timeout=5).close()
            except (InvalidStatus, OSError):
                pass
        stop.wait(0.4)


def test_dashboard_lists_revokes_and_charts_in_a_real_browser(sessions_gateway, minter, tmp_path):  # noqa: F811
    gw = sessions_gateway["gw"]
    chat = f"ws://127.0.0.1:{gw.port}/chat"
    victim = connect(chat, additional_headers={"Authorization": f"Bearer {minter.hs256(sub='dash-victim')}"}, open_timeout=10)
    others = [connect(f"ws://127.0.0.1:{gw.port}{path}", additional_headers={"Authorization": f"Bearer {minter.hs256(sub=sub, role='member')}"},
                      open_timeout=10)
              for path, sub in (("/chat", "dash-bob"), ("/chat", "dash-carol"), ("/live", "dash-dave"))]
    victim.send("hello")
    assert victim.recv(timeout=10) == "hello"  # /record echoes: the session is relayed
    listed = admin_call(gw, "GET", "/sessions?sub=dash-victim")[1]["sessions"]
    assert len(listed) == 1, listed
    victim_id = listed[0]["id"]

    stop = threading.Event()
    load = threading.Thread(target=small_load, args=(gw, minter, stop), daemon=True)
    load.start()
    shots = os.environ.get("WSGATE_DASHBOARD_SCREENSHOTS")
    deadline = time.monotonic() + TIMEOUT
    browser = Chromium(tmp_path / "profile", tmp_path)
    try:
        with connect(browser.endpoint, max_size=None, open_timeout=10, close_timeout=5) as browser.ws:
            page = Page(browser, deadline)
            page.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
                      session=True)
            page.call("Page.navigate", {"url": f"http://127.0.0.1:{gw.admin[1]}/"}, session=True)

            # The page asks for the token before any data call.
            page.wait_for("document.getElementById('login') && !document.getElementById('login').hidden", "the token form")
            assert page.evaluate("document.getElementById('main').hidden") is True
            if shots:
                page.screenshot(Path(shots) / "dashboard-login.png")
            page.click("#token")
            page.call("Input.insertText", {"text": ADMIN_TOKEN}, session=True)
            page.click("#login-submit")
            assert page.evaluate("sessionStorage.getItem('wsgate.admin-token')") == ADMIN_TOKEN

            row = f'#session-table tr[data-session="{victim_id}"]'
            page.wait_for(f"!!document.querySelector({json.dumps(row)})", "the test client's session")
            # Charts: both drawn with non-empty paths once a rejection has been sampled.
            page.wait_for("""(() => {
                const lines = [...document.querySelectorAll('#chart-traffic path.line')];
                const areas = [...document.querySelectorAll('#chart-reasons path.area')];
                return lines.length === 2 && lines.every((p) => p.getAttribute('d').length > 10)
                    && areas.length >= 3 && areas.every((p) => p.getAttribute('d').length > 10); })()""",
                          "charts with paths")
            reasons = page.evaluate("[...document.querySelectorAll('#chart-reasons path.area')].map((p) => p.dataset.series)")
            assert set(reasons) >= {"token_missing", "token_expired", "route_not_found"}, reasons
            page.wait_for("document.querySelectorAll('#rejection-table tbody tr').length > 3", "recent rejections")
            verify = page.evaluate("document.querySelector('#rejection-table tbody details code').textContent")
            assert verify.startswith("wsgate verify --config wsgate.yaml --route "), verify
            assert page.evaluate("document.querySelector('#local-keys tbody').innerText").count("HS256") >= 1
            assert "/chat" in page.evaluate("document.querySelector('#route-table tbody').innerText")
            # The auth settings in effect, from /api/config: the default cache, kid-less tokens bounded.
            limits = page.evaluate("[...document.querySelectorAll('#limits dt')].map((dt) => dt.textContent + '=' + dt.nextElementSibling.textContent)")
            assert "verified-token cache=1024 per event loop" in limits, limits
            assert "tokens without kid=first key of their algorithm" in limits, limits
            if shots:
                page.screenshot(Path(shots) / "dashboard.png")

            # Revoke: button, confirmation dialog with a reason, confirm.
            page.click(f'{row} button.revoke')
            page.wait_for("document.getElementById('revoke-dialog').open", "the confirmation dialog")
            page.evaluate("document.getElementById('revoke-reason').select()")
            page.call("Input.insertText", {"text": "kicked from the dashboard"}, session=True)
            page.click("#revoke-confirm")
            with pytest.raises(ConnectionClosed):
                while True:
                    victim.recv(timeout=10)
            assert (victim.close_code, victim.close_reason) == (4003, "kicked from the dashboard")
            page.wait_for(f"!document.querySelector({json.dumps(row)})", "the revoked row gone")
            for other in others:
                other.send("still here")
            assert page.evaluate("document.querySelectorAll('#session-table tbody tr[data-session]').length") >= 3

            problems = page.problems()
            assert problems == [], [(p.get("text"), p.get("url")) for p in problems]

            # Without the token every data call the page makes is refused.
            statuses = page.evaluate(f"""Promise.all({json.dumps(API_CALLS)}.map((path) =>
                fetch(path, {{cache: 'no-store'}}).then((r) => [path, r.status])))""")
            assert statuses == [[path, 401] for path in API_CALLS], statuses
    finally:
        stop.set()
        load.join(10)
        browser.stop()
        for ws in [victim, *others]:
            ws.close()
    for path in API_CALLS + ["/revocations", "/metrics"]:
        assert admin_call(gw, "GET", path, token=None)[0] == 401, path
        assert admin_call(gw, "GET", path, token="wrong")[0] == 401, path
    for path in ("/", "/ui/app.js", "/ui/app.css", "/ui/icon.svg"):
        status, _, headers = admin_call(gw, "GET", path, token=None)
        assert status == 200, path
        assert headers["content-security-policy"].startswith("default-src 'self'"), headers
        assert headers["x-frame-options"] == "DENY", headers
