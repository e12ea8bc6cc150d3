"""Headless Chromium driven through the DevTools protocol (CDP), for tests of the web demo.

    with Browser(tmp_path / "profile") as browser:
        browser.open("http://127.0.0.1:7860")
        browser.set_files("#speech input[type=file]", ["/tmp/speech.wav"])
        browser.wait_for("document.querySelector('video') !== null", timeout=60)
        browser.screenshot(tmp_path / "page.png")

Chromium (Debian's `chromium` package, CHROMIUM) runs with --remote-debugging-pipe: CDP messages are JSON
texts ending in a NUL byte, written to the browser's file descriptor 3 and read from its descriptor 4, so no
websocket library is needed. The pipe ends are given to bash as stdin and stdout, and bash moves them to 3
and 4 as it execs the browser (no preexec_fn, which is unsafe while the test's web server runs in threads).
Page commands go through one session attached to a page target (Target.attachToTarget with flatten: messages
carry its sessionId).
"""
from __future__ import annotations

import base64
import json
import os
import queue
import shlex
import subprocess
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,1600", "--autoplay-policy=no-user-gesture-required")


class BrowserError(RuntimeError):
    """A CDP command failed, a page script threw, or the browser did not answer in time."""


class Browser:
    """One headless Chromium with one page (module docstring)."""

    def __init__(self, user_data_dir: str | os.PathLike, executable: str = CHROMIUM, timeout: float = 30.0):
        self.timeout = timeout
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        Path(user_data_dir).mkdir(parents=True, exist_ok=True)
        self.log = Path(user_data_dir).with_suffix(".log")
        command = " ".join(shlex.quote(part) for part in (executable, *FLAGS, f"--user-data-dir={user_data_dir}"))
        with open(self.log, "wb") as log:  # the pipe ends come in as bash's stdin/stdout and become fds 3 and 4
            self.process = subprocess.Popen(["bash", "-c", f"exec {command} 3<&0 4>&1 0</dev/null 1>&2"],
                                            stdin=to_browser, stdout=from_browser, stderr=log)
        os.close(to_browser)
        os.close(from_browser)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=True)

    def _read(self) -> None:
        """Reader thread: route every reply to the queue of its command id (events are not needed)."""
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    reply = json.loads(message)
                    if "id" in reply:
                        with self._lock:
                            box = self._replies.get(reply["id"])
                        if box is not None:
                            box.put(reply)

    def send(self, method: str, params: dict | None = None, session: bool = False,
             timeout: float | None = None) -> dict:
        """Run one CDP command (on the page's session with `session`) and return its result."""
        with self._lock:
            self._next_id += 1
            command_id, box = self._next_id, queue.Queue()
            self._replies[command_id] = box
        message = {"id": command_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = box.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise BrowserError(f"{method}: no answer from the browser in {timeout or self.timeout} s "
                               f"(log: {self.log})") from None
        finally:
            with self._lock:
                self._replies.pop(command_id, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply["result"]

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.25):
        """Poll a JavaScript expression until it is truthy; its value, or BrowserError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"waited {timeout} s for: {expression} (last value {value!r})")
            time.sleep(interval)

    def open(self, url: str, timeout: float = 30.0) -> None:
        """Load `url` and wait until the document has loaded."""
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_for(f"location.href.startsWith({json.dumps(url)}) && document.readyState === 'complete'",
                      timeout)

    def set_files(self, selector: str, paths: list[str | os.PathLike]) -> None:
        """Choose files in the <input type=file> matching a CSS selector (fires its change event)."""
        root = self.send("DOM.getDocument", {"depth": 0}, session=True)["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector}, session=True)["nodeId"]
        if not node:
            raise BrowserError(f"no element matches {selector!r}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(Path(p).resolve()) for p in paths]},
                  session=True)

    def screenshot(self, path: str | os.PathLike) -> Path:
        """Save a PNG of the whole page (beyond the window when it is taller)."""
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True)
        path = Path(path)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def element_screenshot(self, selector: str, path: str | os.PathLike) -> Path:
        """Save a PNG of the element matching a CSS selector (what the page shows there: WebGL canvases too)."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            f".getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width, r.height]; }})()")
        clip = dict(zip(("x", "y", "width", "height"), box), scale=1)
        data = self.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True},
                         session=True)
        path = Path(path)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
