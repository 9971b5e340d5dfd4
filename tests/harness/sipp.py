"""Run SIPp (a real SIP engine) as a client or server of the edge.

Each run writes its injection CSV and message trace in a temporary
directory, is bounded in calls and time, and is stopped by PID (subprocess's
own timeout kill) -- never by name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edgectl.stack import stop_pid
from testkit.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = [ROOT / "loadtest" / "sipp"]

SIPP = shutil.which("sipp") or "sipp"


@dataclass
class SippResult:
    rc: int
    messages: list[str]              # every message, in order, as text
    directions: list[str]            # "sent" | "received", parallel to messages
    stdout: str = ""
    stats: dict[str, str] = field(default_factory=dict)

    @property
    def received_codes(self) -> list[int]:
        out = []
        for d, m in zip(self.directions, self.messages):
            if d == "received":
                mm = re.match(r"SIP/2\.0 (\d{3})", m)
                if mm:
                    out.append(int(mm.group(1)))
        return out

    @property
    def received(self) -> list[str]:
        return [m for d, m in zip(self.directions, self.messages) if d == "received"]

    @property
    def sent(self) -> list[str]:
        return [m for d, m in zip(self.directions, self.messages) if d == "sent"]

    @property
    def call_ids(self) -> list[str]:
        """Call-IDs of the requests SIPp sent, in order, without repeats."""
        out: list[str] = []
        for m in self.sent:
            mm = re.search(r"(?mi)^(?:Call-ID|i)\s*:\s*(\S+)", m)
            if mm and mm.group(1) not in out:
                out.append(mm.group(1))
        return out

    def describe(self) -> str:
        return (f"sipp rc={self.rc}, received {self.received_codes}\n{self.stdout[-1500:]}\n"
                + "\n---\n".join(self.messages[-6:]))


_SEP = re.compile(r"^-{10,}.*$", re.M)
_HEAD = re.compile(r"^(UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n", re.M)


def parse_trace(text: str) -> tuple[list[str], list[str]]:
    messages, directions = [], []
    for chunk in _SEP.split(text):
        m = _HEAD.search(chunk)
        if not m:
            continue
        body = chunk[m.end():].strip("\n")
        messages.append(body.replace("\r\n", "\n").strip())
        directions.append(m.group(2))
    return messages, directions


def scenario_path(name: str | Path, case_dir: Path | None = None) -> Path:
    p = Path(name)
    if p.is_absolute():
        return p
    for d in ([case_dir] if case_dir else []) + SCENARIOS:
        if (d / p).exists():
            return d / p
    raise FileNotFoundError(f"scenario {name} not found")


def run(target: str, scenario: str | Path, rows: Sequence[Sequence[str]] | None = None, *,
        calls: int = 1, rate: float = 10, transport: str = "u1", local_ip: str = "127.0.0.1",
        port: int | None = None, timeout: float = 20, keys: dict[str, str] | None = None,
        extra: Sequence[str] = (), case_dir: Path | None = None, order: str = "SEQUENTIAL",
        server: bool = False) -> SippResult:
    scen = scenario_path(scenario, case_dir)
    with tempfile.TemporaryDirectory(prefix="sipp") as d:
        trace = Path(d) / "messages.log"
        cmd = [SIPP]
        if not server:
            cmd.append(target)
        cmd += ["-sf", str(scen), "-t", transport, "-i", local_ip,
                "-p", str(port or free_port(local_ip)), "-nostdin",
                "-trace_msg", "-message_file", str(trace),
                "-timeout", f"{int(timeout)}s", "-timeout_error",
                "-max_recv_loops", "1000"]
        if not server:
            cmd += ["-m", str(calls), "-r", str(rate)]
        else:
            cmd += ["-m", str(calls)]
        if rows is not None:
            csv = Path(d) / "inject.csv"
            csv.write_text(order + "\n" + "".join(";".join(r) + ";\n" for r in rows))
            cmd += ["-inf", str(csv)]
        for k, v in (keys or {}).items():
            cmd += ["-key", k, v]
        cmd += list(extra)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10,
                                 cwd=d)
            rc, stdout = out.returncode, out.stdout + out.stderr
        except subprocess.TimeoutExpired as exc:
            rc, stdout = -9, str(exc.stdout or "")
        text = trace.read_text(errors="replace") if trace.exists() else ""
    messages, directions = parse_trace(text)
    return SippResult(rc, messages, directions, stdout)


class SippServer:
    """A long-running SIPp UAS (a device or a pool member), stopped by PID."""

    def __init__(self, scenario: str | Path, *, local_ip: str = "127.0.0.1",
                 port: int | None = None, transport: str = "u1",
                 keys: dict[str, str] | None = None, extra: Sequence[str] = (),
                 case_dir: Path | None = None):
        self.dir = tempfile.TemporaryDirectory(prefix="sippd")
        self.local_ip = local_ip
        self.port = port or free_port(local_ip)
        self.trace = Path(self.dir.name) / "messages.log"
        cmd = [SIPP, "-sf", str(scenario_path(scenario, case_dir)), "-t", transport,
               "-i", local_ip, "-p", str(self.port), "-nostdin", "-trace_msg",
               "-message_file", str(self.trace), "-max_recv_loops", "1000"]
        for k, v in (keys or {}).items():
            cmd += ["-key", k, v]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, cwd=self.dir.name)

    def messages(self) -> tuple[list[str], list[str]]:
        try:
            return parse_trace(self.trace.read_text(errors="replace"))
        except OSError:
            return [], []

    def received_requests(self, method: str) -> list[str]:
        msgs, dirs = self.messages()
        return [m for m, d in zip(msgs, dirs) if d == "received" and m.startswith(method + " ")]

    def stop(self) -> None:
        stop_pid(self.proc.pid, "sipp", timeout=5)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.dir.cleanup()

    def __enter__(self) -> "SippServer":
        return self

    def __exit__(self, *a: object) -> None:
        self.stop()
