"""Calls and registrations of the integration tests: the legacy numbering
plan the call cases run against, SIPp call scenarios and their replies,
registering and unregistering contacts, the ACK of a refused INVITE."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness import sipp
from testkit.edge import Edge
from testkit.sipmsg import SipClient

SCEN = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"


@dataclass
class Legacy:
    edge: Edge
    tenants: dict[str, str] = field(default_factory=dict)                 # alias -> id
    devices: dict[str, tuple[str, str]] = field(default_factory=dict)     # "A:7001" -> creds
    ctx: dict[str, str] = field(default_factory=dict)                     # templating

    def device(self, ref: str) -> tuple[str, str, str, str]:
        """'A:7001' or 'L:{L1}' -> (tenant id, extension, auth user, password)."""
        alias, ext = ref.split(":", 1)
        ext = ext.format(**self.ctx)
        au, pw = self.devices[f"{alias}:{ext}"]
        return self.tenants[alias], ext, au, pw


def provision_legacy(edge: Edge) -> Legacy:
    """The legacy numbering plan (tests/call_cases): support tenants S1, S2,
    tenants A-D with 7001-7003, tenant L with global numbers, a ring group,
    one-way and both-ways exceptions."""
    d = Legacy(edge)
    for alias in ("S1", "S2", "A", "B", "C", "D"):
        flags = ("--global-access",) if alias.startswith("S") else ()
        d.tenants[alias] = edge.new_tenant(f"legacy {alias}", *flags)
    lid = edge.new_tenant("legacy L", ranges=())
    d.tenants["L"] = lid
    first, last = f"55{lid}000", f"55{lid}999"
    edge.ctl_ok("range", "add", lid, first, last)           # 10 digits: global
    d.ctx = {k: v for k, v in d.tenants.items()}
    d.ctx.update(L1=f"55{lid}001", L2=f"55{lid}002")
    for alias in ("S1", "S2"):
        d.devices[f"{alias}:7001"] = edge.new_device(d.tenants[alias], "7001")
    for alias in ("A", "B", "C", "D"):
        for ext in ("7001", "7002", "7003"):
            d.devices[f"{alias}:{ext}"] = edge.new_device(d.tenants[alias], ext)
    for n in (d.ctx["L1"], d.ctx["L2"]):
        d.devices[f"L:{n}"] = edge.new_device(lid, n)
    edge.ctl_ok("ringgroup", "add", d.tenants["A"], "7050", "--name", "A attendants",
                "--member", "7001", "--member", "7002")
    edge.ctl_ok("exception", "add", d.tenants["A"], d.tenants["B"])        # one way
    edge.ctl_ok("exception", "add", d.tenants["C"], d.tenants["D"], "--both-ways")
    edge.wait_synced()
    return d


def final_invite_reply(res: sipp.SippResult) -> tuple[int, str]:
    """Final reply to the caller's last INVITE (status code, whole message)."""
    finals = [m for m in res.received
              if re.search(r"(?m)^CSeq:\s*\d+ INVITE", m)
              and (mm := re.match(r"SIP/2\.0 (\d{3})", m)) and int(mm.group(1)) >= 200]
    assert finals, res.describe()
    last = finals[-1]
    return int(last.split()[1]), last


def register_contact(edge: Edge, au: str, pw: str, port: int) -> None:
    with SipClient(edge.sip) as c:
        _, r = c.register(au, pw, contact_port=port)
        assert r is not None and r.code == 200


def unregister_all(edge: Edge, au: str, pw: str) -> None:
    with SipClient(edge.sip) as c:
        c.register(au, pw, expires=0, extra=[])            # this client's own contact
        host = c.local
        aor = f"sip:{au}@{edge.target.split(':')[0]}"
        first = c.request(c.build("REGISTER", f"sip:{edge.target}", aor, aor,
                                  ["Expires: 0"], contact="*"))
        if first is not None and first.code == 401:
            from testkit.sipmsg import authorization
            auth = authorization(first.header("www-authenticate") or "", "REGISTER",
                                 f"sip:{edge.target}", au, pw)
            c.request(c.build("REGISTER", f"sip:{edge.target}", aor, aor,
                              ["Expires: 0", auth], contact="*"))
        del host


def ack_for(invite: str) -> str:
    """The ACK of a non-2xx final reply (RFC 3261 17.1.1.3): the INVITE's
    Via (same branch), From, Call-ID and CSeq number, no body."""
    head = invite.split("\r\n\r\n", 1)[0].split("\r\n")
    ruri = head[0].split(" ")[1]
    keep = [ln for ln in head[1:] if ln.split(":", 1)[0] in ("Via", "From", "To", "Call-ID",
                                                             "Max-Forwards")]
    cseq = next(ln for ln in head if ln.startswith("CSeq:")).split()[1]
    return "\r\n".join([f"ACK {ruri} SIP/2.0", *keep, f"CSeq: {cseq} ACK",
                         "Content-Length: 0"]) + "\r\n\r\n"


def call(edge: Edge, au: str, pw: str, dialled: str, hold_ms: int = 200) -> sipp.SippResult:
    row = [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
           "127.0.0.1"]
    return sipp.run(edge.target, SCEN / "call_any.xml", [row], timeout=30,
                    extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"])


def final_code(res: sipp.SippResult) -> int:
    """The INVITE's final reply after the proxy challenge."""
    return [c for c in res.received_codes if c >= 200 and c != 407][0]


def register(edge: Edge, au: str, pw: str, port: int | None = None) -> None:
    with SipClient(edge.sip) as c:
        _, r = c.register(au, pw, contact_port=port) if port else c.register(au, pw)
        assert r is not None and r.code == 200
