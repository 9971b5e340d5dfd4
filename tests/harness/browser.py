"""Headless Chromium driving the edge's web phone (tests/harness/
webphone_driver.mjs, playwright-core from webphone/node_modules, Debian's
chromium). The driver and the browser it launches run in their own process
group, stopped by that group's id (the driver's PID) -- never by name."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

DRIVER = Path(__file__).with_name("webphone_driver.mjs")
WEBPHONE = Path(__file__).resolve().parents[2] / "webphone"
SETUP_HINT = ("scripts/bootstrap.sh installs chromium and node and builds the web "
              "phone (npm ci, npm run build in webphone/)")


def chromium_path() -> str:
    """Debian's chromium unless $CHROMIUM names another (as the driver does)."""
    return os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing_tools(chromium: str | None = None, webphone: Path = WEBPHONE) -> list[str]:
    """What the browser tests need and this host lacks (empty: all there)."""
    out = []
    chromium = chromium or chromium_path()
    if not os.access(chromium, os.X_OK):
        out.append(f"chromium ({chromium})")
    if shutil.which("node") is None:
        out.append("node")
    if not (webphone / "node_modules" / "playwright-core" / "package.json").exists():
        out.append(f"playwright-core ({webphone}/node_modules)")
    bundle, source = webphone / "public" / "app.js", webphone / "src" / "app.js"
    if not bundle.exists():
        out.append(f"the web phone bundle ({bundle})")
    elif source.exists() and source.stat().st_mtime > bundle.stat().st_mtime:
        out.append(f"an up-to-date web phone bundle ({bundle} is older than {source})")
    return out


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, netns: str | None = None, driver: Path = DRIVER) -> None:
        cmd = ["node", str(driver)]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        first = self.proc.stdout.readline() if self.proc.stdout else ""
        if not first.strip():
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise BrowserError(f"browser driver did not start: {err[-2000:]}")

    def cmd(self, cmd: str, **kw: Any) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"browser driver died during {cmd}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise BrowserError(f"{cmd}: {reply['error']}")
        return reply["result"]

    def wait_for(self, phone: str, attr: str, value: str, timeout: float = 15) -> dict[str, str]:
        return self.cmd("wait", phone=phone, attr=attr, value=value, timeout=int(timeout * 1000))

    def wait_stats(self, phone: str, minimum: int = 50, timeout: float = 20) -> dict[str, Any]:
        """Until the phone has sent and received at least `minimum` audio packets."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.cmd("stats", phone=phone)
            if s["sent"] >= minimum and s["received"] >= minimum:
                return dict(s)
            if time.monotonic() > deadline:
                raise AssertionError(f"audio did not flow both ways: {s}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()          # the driver closes the browser
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # anything left in its group
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=5)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *a: object) -> None:
        self.stop()
