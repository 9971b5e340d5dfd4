"""The media pool's stand-in members for the pool tests
(tests/integration/test_pool.py): SIPp UASs on their own loopback addresses,
and the calls, headers and state the tests read through them."""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Iterator

from harness import sipp
from testkit.edge import Edge, wait_for
from harness.calls import SCEN

UAC = Path(__file__).resolve().parents[2] / "loadtest" / "sipp" / "uac_setup.xml"
TOLERATE_REORDER = ["-default_behaviors", "all,-abortunexp"]


class Member(sipp.SippServer):
    """A pool member stand-in: answers every call (or as ``scenario`` says),
    replies to OPTIONS probes."""

    def __init__(self, n: int, scenario: Path = SCEN / "member.xml"):
        self.ip = f"127.0.0.{20 + n}"
        super().__init__(scenario, local_ip=self.ip, port=5060)

    @property
    def uri(self) -> str:
        return f"sip:{self.ip}:5060"

    def invites(self) -> list[str]:
        return self.received_requests("INVITE")


def call_any(edge: Edge, t: dict[str, str], dialled: str,
             scenario: Path = SCEN / "call_any.xml") -> sipp.SippResult:
    """One call that may end any way (call_any.xml): its final reply is in
    the trace (final_invite_reply)."""
    au, pw = t["au"], t["pw"]
    row = [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
           "127.0.0.1"]
    return sipp.run(edge.target, scenario, [row], extra=TOLERATE_REORDER)


def header(msg: str, name: str) -> list[str]:
    return re.findall(rf"(?im)^{re.escape(name)}:\s*(.*?)\s*$", msg)


def start(members: list[Member], n: int, scenario: Path = SCEN / "member.xml") -> Member:
    m = Member(n, scenario)
    members.append(m)
    return m


@contextlib.contextmanager
def call_in_progress(e: Edge, t: dict[str, str], member: Member, hold_ms: int
                     ) -> Iterator[None]:
    """A ring-group call held ``hold_ms`` in the background: the block runs
    once it reached ``member``; on leaving, the call has ended, answered."""
    out: list[sipp.SippResult] = []
    th = threading.Thread(target=lambda: out.append(
        calls(e, t, "7050", 1, hold_ms=hold_ms)))
    th.start()
    try:
        wait_for(lambda: member.invites(), what=f"call on member {member.uri}")
        yield
    finally:
        th.join()
    assert out and out[0].rc == 0, out[0].describe() if out else "no result"


def seen(e: Edge, uri: str) -> str:
    """The member's state as the edge sees it (edgectl pool list)."""
    return next((r["edge_sees"] for r in json_list(e) if r["uri"] == uri), "not listed")


def calls(edge: Edge, t: dict[str, str], dialled: str, n: int, rate: float = 20,
          hold_ms: int = 0, timeout: float = 60) -> sipp.SippResult:
    row = [t["au"], f"[authentication username={t['au']} password={t['pw']}]", dialled]
    return sipp.run(edge.target, UAC, [row], calls=n, rate=rate, timeout=timeout,
                    extra=["-d", str(hold_ms), *TOLERATE_REORDER])


def json_list(e: Edge) -> list[dict]:
    import json
    return json.loads(e.ctl_ok("pool", "list", "--json"))
