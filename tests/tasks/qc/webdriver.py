"""A minimal W3C WebDriver client for Debian's chromium + chromium-driver (no selenium):
start chromedriver on 127.0.0.1, drive headless chromium, stop both."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C web element identifier


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Headless chromium through chromedriver (a context manager)."""

    def __init__(self, width: int = 1400, height: int = 1000):
        self.size = (width, height)
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.sid = ""

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"{}").get("value")

    def __enter__(self) -> Browser:
        driver = shutil.which("chromedriver")
        binary = shutil.which("chromium")
        if not driver or not binary:
            raise RuntimeError("chromium and chromium-driver (Debian) are needed: "
                               "ops/system_packages.txt")
        port = free_port()
        self.proc = subprocess.Popen([driver, f"--port={port}", "--allowed-ips=127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        w, h = self.size
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": binary, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                       "--disable-dev-shm-usage", f"--window-size={w},{h}"]}}}}
        self.sid = self._call("POST", "/session", caps)["sessionId"]
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.sid:
                self._call("DELETE", f"/session/{self.sid}")
        finally:
            if self.proc is not None:
                self.proc.terminate()
                self.proc.wait(timeout=30)

    def get(self, url: str) -> None:
        """Open ``url`` and wait for the load."""
        self._call("POST", f"/session/{self.sid}/url", {"url": url})

    def find(self, css: str) -> str:
        """The element id of the first match of ``css``."""
        found = self._call("POST", f"/session/{self.sid}/element",
                           {"using": "css selector", "value": css})
        if not isinstance(found, dict) or ELEMENT not in found:
            raise LookupError(f"no element {css!r}: {found}")
        return found[ELEMENT]

    def click(self, css: str) -> None:
        """Click the element."""
        self._call("POST", f"/session/{self.sid}/element/{self.find(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        """Type into the element."""
        self._call("POST", f"/session/{self.sid}/element/{self.find(css)}/value",
                   {"text": text})

    def script(self, js: str, *args: Any) -> Any:
        """Run JavaScript in the page; its return value."""
        return self._call("POST", f"/session/{self.sid}/execute/sync",
                          {"script": js, "args": list(args)})

    def wait_for(self, js: str, expected: Any, timeout: float = 15.0) -> Any:
        """Run ``js`` until it returns ``expected`` (a click that submits a form returns before
        the browser has followed the redirect); the last value (or error) when time is up."""
        import time

        end = time.monotonic() + timeout
        while True:
            try:
                value = self.script(js)
            except Exception as exc:  # the page is being replaced
                value = f"{type(exc).__name__}: {exc}"
            if value == expected or time.monotonic() > end:
                return value
            time.sleep(0.1)

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """A PNG of the window (resized to the page height first when ``full_page``)."""
        if full_page:
            h = int(self.script("return document.documentElement.scrollHeight") or 1000)
            self._call("POST", f"/session/{self.sid}/window/rect",
                       {"width": self.size[0], "height": min(max(h + 120, 400), 6000)})
        png = base64.b64decode(self._call("GET", f"/session/{self.sid}/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path
