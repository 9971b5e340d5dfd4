"""What the WebRTC tests (tests/integration/test_webrtc.py) read and drive on
their edge: the web phone's URL and credentials, rtpengine's sessions, legs
and restarts, the WebSockets, SIPp devices and calls, the CDRs."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from edgectl import rtpengine
from harness import sipp
from harness.browser import Browser
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient

def url(e: Edge) -> str:
    return f"https://{e.cfg.sip.listen_ip}:{e.cfg.sip.wss_port}/"


def creds(t: str, ext: str) -> tuple[str, str]:
    return f"{t}{ext}", f"pw-{t}-{ext}"


def phone_up(b: Browser, e: Edge, name: str, tenant: str, ext: str) -> None:
    user, pw = creds(tenant, ext)
    b.cmd("open", phone=name, url=url(e))
    b.cmd("register", phone=name, user=user, password=pw)
    b.wait_for(name, "registration", "registered")


def calls(e: Edge) -> list[str]:
    r = rtpengine.command(e.cfg.rtpengine.ng_host, e.cfg.rtpengine.ng_port, {"command": "list"})
    return list(r.get("calls", []))


def monologues(e: Edge, call_id: str) -> dict[str, tuple[str, int]]:
    """tag -> (protocol, packets rtpengine received from that side), one per
    monologue of the call (an offered branch that never answered has none)."""
    q = rtpengine.command(e.cfg.rtpengine.ng_host, e.cfg.rtpengine.ng_port,
                          {"command": "query", "call-id": call_id})
    out: dict[str, tuple[str, int]] = {}
    for tag, t in q["tags"].items():
        for m in t["medias"]:
            packets = out.get(tag, ("", 0))[1] + sum(s["stats"]["packets"]
                                                     for s in m["streams"])
            out[tag] = (m["protocol"], packets)
    return out


def legs(e: Edge, call_id: str) -> dict[str, int]:
    """protocol -> packets rtpengine received on that leg."""
    out: dict[str, int] = {}
    for protocol, packets in monologues(e, call_id).values():
        out[protocol] = out.get(protocol, 0) + packets
    return out


def rtpengine_restarted(e: Edge) -> None:
    """rtpengine back, and the edge using it again: the rtpengine module keeps
    a proxy it found dead disabled for a while; the operator's RPC re-enables
    it (after its own ping)."""
    e.stack.rtpengine.start()

    def enabled() -> bool:
        try:
            e.rpc("rtpengine.enable", "all", 1)
        except Exception:          # noqa: BLE001 - "fail" while the ping fails
            return False
        return True
    wait_for(enabled, timeout=15, interval=0.2, what="the edge using rtpengine again")


def websockets(e: Edge) -> set[int]:
    """Ids of the WebSocket connections the edge holds (websocket RPC ws.dump)."""
    return {int(line.split(":", 1)[0]) for line in e.rpc("ws.dump").get("connections", [])}


def register_device(e: Edge, tenant: str, ext: str, port: int) -> None:
    user, pw = creds(tenant, ext)
    with SipClient(e.sip, local_ip=e.cfg.sip.listen_ip) as c:
        assert c.register(user, pw, contact_port=port)[1].code == 200


def unregister_device(e: Edge, tenant: str, ext: str, port: int) -> None:
    user, pw = creds(tenant, ext)
    with SipClient(e.sip, local_ip=e.cfg.sip.listen_ip) as c:
        c.register(user, pw, contact_port=port, expires=0)


def call_id_of(msg: str) -> str:
    m = re.search(r"(?im)^Call-ID:\s*(\S+)", msg)
    assert m, msg
    return m.group(1)


def from_tag_of(msg: str) -> str:
    m = re.search(r"(?im)^From:[^\r\n]*;tag=([^;\s]+)", msg)
    assert m, msg
    return m.group(1)


def sip_call(e: Edge, tenant: str, caller_ext: str, dialled: str, scenario: Path,
             private: str = "", hold_ms: int = 6000,
             rtp: bool = True) -> tuple[threading.Thread, list[sipp.SippResult]]:
    """A SIPp desk phone calls `dialled` in the background (a private address:
    it sits behind NAT; rtp: it sends audio once answered)."""
    caller, pw = creds(tenant, caller_ext)
    row = [caller, f"[authentication username={caller} password={pw}]", dialled, private,
           "rtp" if rtp else "none"]
    out: list[sipp.SippResult] = []
    th = threading.Thread(target=lambda: out.append(sipp.run(
        e.target, scenario, [row], local_ip=e.cfg.sip.listen_ip, timeout=40,
        extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"])))
    th.start()
    return th, out


def finished(th: threading.Thread, out: list[sipp.SippResult]) -> sipp.SippResult:
    th.join()
    assert out, "no SIPp result"
    assert out[0].rc == 0, out[0].describe()
    return out[0]


def cdr(e: Edge, call_id: str) -> dict[str, Any]:
    rows = e.cdrs(call_id=call_id, expect=1)
    assert len(rows) == 1, rows
    return rows[0]
