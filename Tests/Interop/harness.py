"""Process management for the interop tests: backends, the gateway, tokens, configs.

Readiness is always a signal, never a sleep: backends print a JSON "listening" line with their
port; the gateway is ready when its listener accepts a TCP connection (bounded connect loop, the
process being watched for an early exit) and, when it has an admin address, `/readyz` answers 200.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_PATHS = ["/usr/share/nodejs", "/usr/lib/nodejs"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    return free_port()


class ManagedProcess:
    """A subprocess whose stdout lines are read on a thread into a queue; killed on stop()."""

    def __init__(self, name: str, argv: list[str], *, env: dict | None = None, log_dir: Path, cwd=None,
                 close_fds: bool = True, preexec_fn=None):
        self.name = name
        self.argv = argv
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.stdout_lines: list[str] = []
        self._lines: "queue.Queue[str | None]" = queue.Queue()
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, cwd=cwd, start_new_session=True,
                                     close_fds=close_fds, preexec_fn=preexec_fn)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_for_event(self, predicate, timeout: float) -> dict:
        """Waits for a JSON stdout line matching predicate; raises with context on timeout/exit."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no matching event within {timeout}s; stdout so far: "
                                   f"{self.stdout_lines[-10:]}; stderr: {self.stderr_tail()}")
            line = self.next_line(remaining)
            if line is None:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; stderr: {self.stderr_tail()}")
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if predicate(event):
                return event

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, n: int = 4000) -> str:
        try:
            return self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._stderr.close()
        self._thread.join(timeout=5)  # the pump reads to EOF; closing stdout under it raises in the thread
        if self.proc.stdout:
            self.proc.stdout.close()


def node_binary() -> str | None:
    return shutil.which("node") or shutil.which("nodejs")


def node_env() -> dict:
    env = dict(os.environ)
    extra = [p for p in NODE_PATHS if os.path.isdir(p)]
    env["NODE_PATH"] = os.pathsep.join(extra + ([env["NODE_PATH"]] if env.get("NODE_PATH") else []))
    return env


class Backend:
    """A third-party WebSocket server (Python `websockets` or Node `ws`) on a free port."""

    def __init__(self, kind: str, log_dir: Path):
        self.kind = kind
        if kind == "python":
            argv = [sys.executable, str(HERE / "backends" / "py_backend.py")]
            env = dict(os.environ)
        elif kind == "node":
            node = node_binary()
            if node is None:
                raise RuntimeError("node is not installed (Tests/Interop/run.sh installs node-ws and uses the system node)")
            argv = [node, str(HERE / "backends" / "node_backend.js")]
            env = node_env()
        else:
            raise ValueError(kind)
        self.process = ManagedProcess(f"backend-{kind}", argv, env=env, log_dir=log_dir)
        event = self.process.wait_for_event(lambda e: e.get("event") == "listening", 20)
        self.port = int(event["port"])

    def wait_closed(self, test_id: str, timeout: float = 10.0) -> dict:
        """Waits for the "closed" event of the connection whose request carried X-Test-Id."""
        return self.process.wait_for_event(lambda e: e.get("event") == "closed" and e.get("test_id") == test_id, timeout)

    def stop(self):
        self.process.stop()


def wait_tcp(host: str, port: int, timeout: float, proc: ManagedProcess | None = None):
    """Bounded connect loop against an external process, failing fast if it exits."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with code {proc.proc.returncode} before listening on "
                               f"{host}:{port}; argv {proc.argv}; stderr: {proc.stderr_tail()!r}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{host}:{port} did not accept a connection within {timeout}s"
                                   + (f"; stderr: {proc.stderr_tail()!r}" if proc else ""))
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def http_get(host: str, port: int, path: str, timeout: float = 2.0, method: str = "GET") -> tuple[int, bytes]:
    body_length = "" if method == "GET" else "Content-Length: 0\r\n"  # e.g. POST /reload, no body
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{body_length}Connection: close\r\n\r\n".encode())
        data = b""
        length = None
        while True:
            if length is None and b"\r\n\r\n" in data:
                head = data.split(b"\r\n\r\n", 1)[0]
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
            if length is not None and len(data.split(b"\r\n\r\n", 1)[1]) >= length:
                break  # a complete response, even if the server keeps the connection open
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


def resolve_wsgate(explicit: str | None) -> Path:
    value = explicit or os.environ.get("WSGATE_BIN") or ".build/debug/wsgate"
    path = Path(value)
    if not path.is_absolute():
        path = (REPO / path) if not (Path.cwd() / path).exists() else (Path.cwd() / path)
    return path.resolve()


class Gateway:
    """`wsgate serve --config FILE` with a generated config; ready when it accepts connections."""

    def __init__(self, binary: Path, config: dict, work: Path, env: dict, name: str = "wsgate", args=(), wrap=None):
        if not binary.exists():
            raise RuntimeError(f"wsgate binary not found at {binary} (build it with `swift build`, or pass "
                               f"--wsgate PATH / WSGATE_BIN)")
        # Every gateway keeps its revocations in its own folder unless the test names one: the
        # default (/var/lib/wsgate) would carry one test's revocations into every later run.
        config.setdefault("state_dir", str(work / f"{name}-state"))
        self.config = config
        self.config_path = work / f"{name}.yaml"
        # JSON is valid YAML 1.2 flow style, so the config needs no YAML emitter.
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")
        host, port = config["listen"][0]["address"].rsplit(":", 1)
        self.host, self.port = host, int(port)
        admin = config.get("admin", {}).get("address")
        self.admin = (admin.rsplit(":", 1)[0], int(admin.rsplit(":", 1)[1])) if admin else None
        full_env = dict(os.environ)
        full_env.update(env)
        argv = [str(binary), "serve", "--config", str(self.config_path), *args]
        self.process = ManagedProcess(name, wrap(argv) if wrap else argv,
                                      env=full_env, log_dir=work, cwd=work)
        try:
            wait_tcp(self.host, self.port, 30, self.process)
            if self.admin:
                self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + 15
        last = None
        delay = 0.01
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"wsgate exited with {self.process.proc.returncode}; stderr: {self.process.stderr_tail()!r}")
            try:
                status, _ = http_get(*self.admin, "/readyz")
                if status == 200:
                    return
                last = status
            except OSError as e:
                last = e
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        raise TimeoutError(f"wsgate admin /readyz never returned 200 (last: {last}); stderr: {self.process.stderr_tail()!r}")

    def alive(self) -> bool:
        return self.process.alive()

    def stop(self):
        self.process.stop()


def gateway_supports_serve(binary: Path) -> tuple[bool, str]:
    """Whether `wsgate serve --help` describes a real command (the stub's abstract is '(coming)')."""
    if not binary.exists():
        return False, f"{binary} does not exist"
    try:
        out = subprocess.run([str(binary), "serve", "--help"], stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    text = (out.stdout + out.stderr).decode("utf-8", "replace")
    if "(coming)" in text:
        return False, "wsgate serve is still the stub ('(coming)')"
    return True, text
