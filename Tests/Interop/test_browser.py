"""A real browser through wsgate: headless Chromium (Debian's `chromium`, installed by run.sh).

Browsers cannot set headers on a WebSocket, so a page's only way to hand wsgate a token is the
subprotocol list: `new WebSocket(url, ["bearer", token])` sends `Sec-WebSocket-Protocol: bearer,
<jwt>`. The browser fails the handshake unless the 101 selects one of the offered protocols, so
when the backend picks none wsgate must answer `bearer`. This test proves that end to end: the
page opens a socket with a token (protocol, the backend's report of the headers it saw, an echo,
a clean 1000 close), then one without (401 before the upgrade: the browser reports 1006), and
writes the results as JSON into `<pre id=result>` only when every step has finished. The test
drives Chromium over the DevTools protocol and reads the DOM once the result is there (or after a
bound, the whole run being limited to CHROMIUM_TIMEOUT); a missing result fails with the DOM shown.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from conftest import BACKENDS, SUB
from test_interop import assert_token_absent, header_values

CHROMIUM_TIMEOUT = 60  # seconds: bound on the whole browser run, start to DOM
ECHO_TEXT = "hello from a real browser \u2713"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wsgate browser test</title></head>
<body><pre id="result"></pre><pre id="progress"></pre>
<script>
"use strict";
const CONFIG = %(config)s;
const out = {userAgent: navigator.userAgent};
const progress = document.getElementById("progress");
function note(text) { progress.textContent += text + "\\n"; }

// Step 1: with the token in the subprotocol list; greeting (headers the backend saw), echo, close 1000.
function withToken(next) {
  const r = out.authed = {events: []};
  let ws;
  try {
    ws = new WebSocket(CONFIG.url, ["bearer", CONFIG.token]);
  } catch (e) {
    r.exception = String(e);
    return next();
  }
  ws.onopen = () => { r.events.push("open"); r.protocol = ws.protocol; note("authed: open"); };
  ws.onmessage = (e) => {
    if (!("greeting" in r)) {
      r.events.push("greeting");
      r.greeting = e.data;
      ws.send(CONFIG.echoText);
    } else if (!("echo" in r)) {
      r.events.push("echo");
      r.echo = e.data;
      ws.close(1000, "browser done");
    } else {
      r.events.push("extra message");
    }
  };
  ws.onerror = () => { r.events.push("error"); note("authed: error"); };
  ws.onclose = (e) => {
    r.events.push("close");
    r.close = {code: e.code, reason: e.reason, wasClean: e.wasClean};
    note("authed: close " + e.code);
    next();
  };
}

// Step 2: no token; wsgate answers 401 before upgrading, so the browser sees error then close 1006.
function withoutToken(next) {
  const r = out.tokenless = {events: []};
  let ws;
  try {
    ws = new WebSocket(CONFIG.url);
  } catch (e) {
    r.exception = String(e);
    return next();
  }
  ws.onopen = () => { r.events.push("open"); ws.close(1000); };
  ws.onmessage = () => { r.events.push("message"); };
  ws.onerror = () => { r.events.push("error"); };
  ws.onclose = (e) => {
    r.events.push("close");
    r.close = {code: e.code, reason: e.reason, wasClean: e.wasClean};
    note("tokenless: close " + e.code);
    next();
  };
}

withToken(() => withoutToken(() => {
  out.done = true;
  document.getElementById("result").textContent = JSON.stringify(out);
}));
</script>
</body></html>
"""


def chromium_binary() -> str:
    explicit = os.environ.get("WSGATE_CHROMIUM")
    found = explicit or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed (Tests/Interop/run.sh installs Debian's chromium; "
                    "WSGATE_CHROMIUM=PATH names another binary)")
    return found


class Chromium:
    """Headless Chromium driven over the DevTools protocol (a WebSocket on loopback; the port is
    read from DevToolsActivePort in the profile, so nothing is guessed). --no-sandbox because the
    tests may run as root; --disable-dev-shm-usage because containers often have a 64 MiB /dev/shm.
    `--dump-dom` with `--virtual-time-budget` is not enough here: virtual time does not wait for
    WebSockets, so the DOM would be dumped before the first socket opens."""

    def __init__(self, profile: Path, log_dir: Path):
        binary = chromium_binary()
        profile.mkdir(parents=True, exist_ok=True)
        self.stderr_path = log_dir / "chromium.stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                                     start_new_session=True)
        self.ws = None  # the DevTools connection, set by run_page while it is open
        self._next_id = 0
        try:
            self.endpoint = self._endpoint(profile / "DevToolsActivePort")
        except BaseException:
            self.stop()
            raise

    def _endpoint(self, active_port: Path) -> str:
        deadline = time.monotonic() + 30
        delay = 0.01
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: {self.stderr_tail()}")
            try:
                port, path = active_port.read_text().split("\n")[:2]
                if port and path:
                    return f"ws://127.0.0.1:{int(port)}{path}"
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"chromium wrote no {active_port.name} within 30s: {self.stderr_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def call(self, method: str, params: dict | None = None, session: str | None = None, *, deadline: float) -> dict:
        """Sends a command and returns its answer (events in between are ignored)."""
        self._next_id += 1
        msg_id = self._next_id
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"chromium: no answer to {method} in time")
            reply = json.loads(self.ws.recv(timeout=remaining))
            if reply.get("id") == msg_id:
                return reply

    def stderr_tail(self, n: int = 4000) -> str:
        try:
            return self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the browser if it hung, helpers left behind if any
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self._stderr.close()


# In the page: once the result is set (or after a page-side bound, the DOM then showing how far the
# page got), resolves with the DOM; in any other document (the new tab's initial about:blank, before
# the page commits) resolves at once with its address, and the caller asks again.
AWAIT_DOM = """new Promise((resolve) => {
  if (location.href !== %(url)s) return resolve({href: location.href});
  const deadline = Date.now() + %(ms)d;
  const check = () => {
    const el = document.getElementById("result");
    if ((el && el.textContent) || Date.now() > deadline) resolve({href: location.href, dom: document.documentElement.outerHTML});
    else setTimeout(check, 20);
  };
  check();
})"""


def run_page(page: Path, work: Path) -> tuple[str, str]:
    """Loads the page in headless Chromium and returns (its DOM when done, chromium's stderr)."""
    deadline = time.monotonic() + CHROMIUM_TIMEOUT
    browser = Chromium(work / "profile", work)
    try:
        with connect(browser.endpoint, max_size=None, open_timeout=10, close_timeout=5) as browser.ws:
            try:
                return _load_and_wait(browser, page.as_uri(), deadline), browser.stderr_tail()
            finally:
                try:
                    browser.ws.send(json.dumps({"id": 0, "method": "Browser.close"}))
                except Exception:
                    pass
    finally:
        browser.stop()


def _load_and_wait(browser: Chromium, url: str, deadline: float) -> str:
    target = browser.call("Target.createTarget", {"url": url}, deadline=deadline)["result"]["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                           deadline=deadline)["result"]["sessionId"]
    answers = []
    while time.monotonic() < deadline:
        page_ms = int(max(1.0, deadline - time.monotonic() - 5) * 1000)
        answer = browser.call("Runtime.evaluate", {"expression": AWAIT_DOM % {"url": json.dumps(url), "ms": page_ms},
                                                   "awaitPromise": True, "returnByValue": True}, session,
                              deadline=deadline)
        value = answer.get("result", {}).get("result", {}).get("value") or {}
        if "dom" in value:
            return value["dom"]
        # Not the page yet, or its context was replaced while evaluating (the navigation committed).
        answers.append(answer)
        time.sleep(0.05)
    raise TimeoutError(f"the page never became evaluable within {CHROMIUM_TIMEOUT}s; last answers: {answers[-3:]}")


def extract_result(dom: str) -> dict | None:
    m = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    if not m or not m.group(1).strip():
        return None
    return json.loads(html.unescape(m.group(1)))


def shown(dom: str) -> str:
    """The dumped DOM without the page's own script (which is known), for failure messages."""
    return re.sub(r"<script>.*?</script>", "<script>…</script>", dom, flags=re.S)[-6000:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_browser_bearer_subprotocol_end_to_end(backend, gateway, minter, tmp_path):
    route = f"/{backend}/report"
    token = minter.hs256()
    page = tmp_path / "page.html"
    page.write_text(PAGE % {"config": json.dumps({"url": gateway.url(route), "token": token, "echoText": ECHO_TEXT})},
                    encoding="utf-8")
    offset = gateway.log.size()

    dom, stderr = run_page(page, tmp_path)
    result = extract_result(dom)
    assert result is not None and result.get("done"), \
        f"the page did not finish (no result in the DOM):\n{shown(dom)}\nchromium stderr:\n{stderr[-4000:]}"

    assert "Chrome/" in result["userAgent"], result["userAgent"]

    authed = result["authed"]
    assert "exception" not in authed, authed
    assert authed["events"] == ["open", "greeting", "echo", "close"], authed
    # The browser only completes the handshake if the 101 selects an offered protocol: wsgate
    # answers "bearer" since the backend picked none.
    assert authed["protocol"] == "bearer", authed
    report = json.loads(authed["greeting"])
    assert header_values(report, "X-User-Id") == [SUB], report["headers"]
    assert header_values(report, "X-User-Role") == ["member"], report["headers"]
    assert_token_absent(report, token)
    # Neither "bearer" nor the token is passed on: the backend was offered no subprotocol.
    assert not header_values(report, "Sec-WebSocket-Protocol"), report["headers"]
    assert report.get("subprotocol") is None, report
    assert any("Chrome/" in ua for ua in header_values(report, "User-Agent")), report["headers"]
    assert authed["echo"] == ECHO_TEXT, authed
    assert authed["close"] == {"code": 1000, "reason": "browser done", "wasClean": True}, authed

    tokenless = result["tokenless"]
    assert "exception" not in tokenless, tokenless
    assert tokenless["events"] == ["error", "close"], tokenless
    assert tokenless["close"]["code"] == 1006 and tokenless["close"]["wasClean"] is False, tokenless

    def missing_line(line: str) -> bool:
        try:
            entry = json.loads(line)
        except ValueError:
            return False
        return entry.get("reason") == "token_missing" and entry.get("path") == route

    lines = gateway.log.wait_lines(offset, missing_line)
    entry = json.loads(lines[-1])
    assert entry["status"] == 401, entry
    for line in gateway.log.lines_from(offset):
        assert token not in line and token.split(".")[2] not in line, f"token in rejection log: {line}"
