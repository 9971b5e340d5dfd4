"""Toll fraud and call-limit bypass through the edge's routing, tried as an
attacker with valid credentials would, from loopback addresses that are not
exempt from screening, with a stand-in "outside" host (127.0.0.99, UDP and
TCP on one port) that must receive nothing:

* a registered Contact pointing at the outside host (calls go where the
  device really is);
* in-dialog requests steered out by their R-URI or an added Route, and a BYE
  steered out that would end the dialog, free the call slot and close the
  CDR while the real call runs on;
* a call for a foreign domain (refused, not routed on its user part);
* every way a call ends releases its call slot exactly once."""

from __future__ import annotations

import re
import threading
import time
from typing import Iterator

import pytest

from testkit.ports import free_port
from harness import sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import Reply, SipClient, authorization
from harness.ua import SDP
from harness.calls import SCEN, final_invite_reply, unregister_all
from harness.routing_holes import ATTACKER, OUTSIDE, Outside, registered_uas, sipp_call, slots


@pytest.fixture
def outside() -> Iterator[Outside]:
    o = Outside()
    try:
        yield o
    finally:
        o.close()


@pytest.fixture(scope="module")
def tenant(edge: Edge) -> dict[str, tuple[str, str]]:
    """A tenant whose 7001 may hold one call at a time; calls go to devices
    directly (no recording, so no media pool)."""
    t = edge.new_tenant("Routing holes", "--no-recording")
    creds = {x: edge.new_device(t, x) for x in ("7001", "7002", "7003")}
    edge.ctl_ok("device", "remove", t, "7001")
    edge.ctl_ok("device", "add", t, "7001", "--password", creds["7001"][1], "--max-calls", "1")
    edge.wait_synced()
    return {"id": (t, ""), **creds}


# -- 1. a registered Contact pointing anywhere ---------------------------------------------
def test_a_contact_pointing_elsewhere_is_called_where_the_device_is(edge, tenant, outside):
    t, _ = tenant["id"]
    au, pw = tenant["7002"]
    port = free_port(ATTACKER)
    with SipClient(edge.sip, local_ip=ATTACKER, local_port=port) as c:
        aor = f"sip:{au}@{edge.target}"
        contact = f"<sip:+5511999999999@{OUTSIDE}:{outside.port}>"
        hdrs = ["Expires: 600"]
        first = c.request(c.build("REGISTER", f"sip:{edge.target}", aor, aor, hdrs,
                                  contact=contact))
        assert first is not None and first.code == 401
        auth = authorization(first.header("www-authenticate") or "", "REGISTER",
                             f"sip:{edge.target}", au, pw)
        r = c.request(c.build("REGISTER", f"sip:{edge.target}", aor, aor, hdrs + [auth],
                              contact=contact))
        assert r is not None and r.code == 200
    (stored,) = edge.contacts(t, "7002")
    assert stored["Received"] == f"sip:{ATTACKER}:{port}"
    try:
        # the device, on the socket it registered from, answers the call
        with sipp.SippServer(SCEN / "uas_answer.xml", local_ip=ATTACKER, port=port) as uas:
            res = sipp_call(edge, *tenant["7003"], "7002")
            assert final_invite_reply(res)[0] == 200, res.describe()
            invite = uas.received_requests("INVITE")[0]
            assert OUTSIDE in invite.split("\r\n", 1)[0]       # its R-URI, untouched
        time.sleep(0.5)
        assert outside.got == []
    finally:
        unregister_all(edge, au, pw)


# -- 2. and 3. in-dialog requests steered out ----------------------------------------------
class Dialog:
    """An answered call placed by a raw client: the route set, the callee's
    Contact and tags, to build in-dialog requests with."""

    def __init__(self, c: SipClient, edge: Edge, au: str, pw: str, dialled: str):
        self.c, self.edge = c, edge
        ruri = f"sip:{dialled}@{edge.target}"
        self.frm, self.to = f"sip:{au}@{edge.target}", ruri
        ip, port = c.local
        self.contact = f"<sip:{au}@{ip}:{port}>"
        sdp = SDP.format(ip=ip, port=40100)
        extra = ["Content-Type: application/sdp"]
        r = c.request(c.build("INVITE", ruri, self.frm, self.to, extra, body=sdp,
                              contact=self.contact))
        assert r is not None and r.code == 407
        self._ack(r, 1, ruri)
        auth = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au, pw,
                             header="Proxy-Authorization")
        ok = c.request(c.build("INVITE", ruri, self.frm, self.to, extra + [auth], body=sdp,
                               contact=self.contact, cseq=2), timeout=10)
        assert ok is not None and ok.code == 200, ok and ok.raw
        self.answer = ok
        self.to_tag = re.search(r";tag=([^;>\s]+)", ok.header("to") or "").group(1)
        self.remote = re.search(r"<([^>]+)>", ok.header("contact") or "").group(1)
        rr = ",".join(ok.headers.get("record-route", []))
        self.routes = list(reversed(re.findall(r"<[^>]+>", rr)))
        self.cseq = 2
        self.request("ACK", cseq=2)

    def _ack(self, r: Reply, cseq: int, ruri: str) -> None:
        to = r.header("to") or ""
        tag = re.search(r";tag=([^;>\s]+)", to)
        msg = self.c.build("ACK", ruri, self.frm, self.to, cseq=cseq,
                           to_tag=tag.group(1) if tag else None)
        # the ACK of a non-2xx reuses the INVITE's branch: tm absorbs it either way
        self.c.send_raw(msg)

    def request(self, method: str, ruri: str | None = None, routes: list[str] | None = None,
                cseq: int | None = None, body: str = "", extra: list[str] | None = None
                ) -> Reply | None:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        hdrs = [f"Route: {r}" for r in (self.routes if routes is None else routes)]
        msg = self.c.build(method, ruri or self.remote, self.frm, self.to,
                           hdrs + list(extra or []), body=body, cseq=cseq,
                           to_tag=self.to_tag, contact=self.contact)
        if method == "ACK":
            self.c.send_raw(msg)
            return None
        return self.c.request(msg)


def test_in_dialog_requests_and_a_bye_steered_out_are_refused(edge, tenant, outside):
    t, _ = tenant["id"]
    au, pw = tenant["7001"]                 # --max-calls 1
    out_uri = f"sip:+5511999999999@{OUTSIDE}:{outside.port}"
    out_route = f"<sip:{OUTSIDE}:{outside.port};lr>"
    with registered_uas(edge, *tenant["7002"]) as uas:
        with SipClient(edge.sip, local_ip=ATTACKER) as c:
            d = Dialog(c, edge, au, pw, "7002")
            [call_id] = {c.call_id}
            assert slots(edge, au, t) == 1
            sdp = SDP.format(ip=ATTACKER, port=40102)
            steered = [("INFO", out_uri, None), ("INFO", None, d.routes + [out_route]),
                       ("INVITE", out_uri, None), ("INVITE", None, d.routes + [out_route]),
                       ("BYE", out_uri, None), ("BYE", None, d.routes + [out_route])]
            for method, ruri, routes in steered:
                body = sdp if method == "INVITE" else ""
                extra = ["Content-Type: application/sdp"] if body else []
                r = d.request(method, ruri, routes, body=body, extra=extra)
                assert r is not None and r.code == 403, (method, ruri, routes, r and r.raw)
            time.sleep(0.5)
            assert outside.got == []
            assert not uas.received_requests("BYE")
            # the dialog and its slot live on: a second call is over the limit
            assert slots(edge, au, t) == 1
            code, msg = final_invite_reply(sipp_call(edge, au, pw, "7003"))
            assert code == 403 and "Concurrent Call Limit (device)" in msg.splitlines()[0]
            assert edge.cdrs(call_id=call_id, timeout=0.5) == []      # the CDR is not closed
            bye_at = time.time()
            r = d.request("BYE")                     # the real end of the call
            assert r is not None and r.code == 200
        wait_for(lambda: uas.received_requests("BYE"), what="BYE at the callee")
        wait_for(lambda: slots(edge, au, t) == 0, what="slot released by the real BYE")
        (cdr,) = edge.cdrs(call_id=call_id, expect=1)
        assert cdr["final_code"] == 200 and cdr["end_at"].timestamp() >= bye_at - 0.5


def test_the_callee_cannot_steer_its_requests_out_either(edge, tenant, outside):
    """Upstream: the answering device sends an INFO and a BYE whose R-URI is
    the outside host along the dialog's route set; neither leaves the edge,
    and the caller's own BYE later still finds the dialog."""
    from harness.ua import TcpDevice

    callee = TcpDevice(edge.sip, *tenant["7002"])
    try:
        assert callee.register() == 200
        callee.start()
        out: list[sipp.SippResult] = []
        th = threading.Thread(target=lambda: out.append(
            sipp_call(edge, *tenant["7003"], "7002", hold_ms=3000)))
        th.start()
        inv = callee.wait_request("INVITE")
        head = inv.split("\r\n\r\n", 1)[0]

        def hdr(name: str) -> str:
            m = re.search(rf"(?im)^{name}\s*:\s*(.*)$", head)
            assert m, name
            return m.group(1).strip()

        routes = re.findall(r"<[^>]+>", ",".join(
            re.findall(r"(?im)^record-route\s*:\s*(.*)$", head)))
        to_tag = "dev" + str(abs(hash(inv)) % 100000)        # the tag TcpDevice answered with
        ip, port = callee.client.local
        for n, method in enumerate(("INFO", "BYE")):
            msg = "\r\n".join([
                f"{method} sip:+5511999999999@{OUTSIDE}:{outside.port} SIP/2.0",
                f"Via: SIP/2.0/TCP {ip}:{port};branch=z9hG4bKup{n}{to_tag};rport",
                "Max-Forwards: 70",
                f"From: {hdr('To')};tag={to_tag}",
                f"To: {hdr('From')}",
                f"Call-ID: {hdr('Call-ID')}",
                f"CSeq: {10 + n} {method}",
                *[f"Route: {r}" for r in routes],
                "Content-Length: 0"]) + "\r\n\r\n"
            callee.client.send_raw(msg)
        th.join(timeout=30)
        assert final_invite_reply(out[0])[0] == 200, out[0].describe()
        assert out[0].rc == 0, out[0].describe()         # its BYE found the dialog: 200
        callee.wait_request("BYE")
        time.sleep(0.5)
        assert outside.got == []
    finally:
        callee.close()
        unregister_all(edge, *tenant["7002"])


def test_a_callee_answering_with_a_contact_elsewhere_gets_the_dialog_itself(
        edge, tenant, outside, tmp_path):
    """The callee's 2xx names the outside host as its Contact: the caller's
    ACK and BYE, addressed there, are delivered to the callee, not to it."""
    text = (SCEN / "uas_answer.xml").read_text().replace(
        "Contact: <sip:uas@[local_ip]:[local_port];transport=[transport]>",
        f"Contact: <sip:uas@{OUTSIDE}:{outside.port}>")
    lying = tmp_path / "uas_contact_elsewhere.xml"
    lying.write_text(text)
    with registered_uas(edge, *tenant["7002"], scenario=str(lying)) as uas:
        res = sipp_call(edge, *tenant["7003"], "7002")
        assert final_invite_reply(res)[0] == 200, res.describe()
        wait_for(lambda: uas.received_requests("BYE"), what="the caller's BYE at the callee")
        assert uas.received_requests("ACK")
    time.sleep(0.5)
    assert outside.got == []


# -- 4. foreign domains ---------------------------------------------------------------------
def test_a_call_for_a_foreign_domain_is_refused_even_to_a_number_that_exists(edge, tenant):
    au, pw = tenant["7003"]
    with registered_uas(edge, *tenant["7002"]) as uas:
        with SipClient(edge.sip, local_ip=ATTACKER) as c:
            for host in ("evil.example", OUTSIDE):
                ruri = f"sip:7002@{host}"
                r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri))
                assert r is not None and r.code == 407
                auth = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au,
                                     pw, header="Proxy-Authorization")
                r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri, [auth]))
                assert r is not None and (r.code, r.reason) == \
                    (404, "Not Found - Domain Not Served"), host
        assert not uas.received_requests("INVITE")
        # the same number at the edge's own address is called
        assert final_invite_reply(sipp_call(edge, au, pw, "7002"))[0] == 200


# -- 5. every way a call ends releases its slot ---------------------------------------------
ENDINGS = {
    # name: (callee behaviour or None for not registered, caller scenario, final code)
    "not_registered_480": (None, "call_any.xml", 480),
    "callee_busy_486": ("uas_busy.xml", "call_any.xml", 486),
    "ring_timeout_408": ("uas_ring.xml", "call_any.xml", 408),
    "caller_cancels_487": ("uas_ring.xml", "call_cancel.xml", 487),
    "answered_then_bye": ("uas_answer.xml", "call_any.xml", 200),
}


def _next_call_succeeds(edge: Edge, tenant: dict, au: str, pw: str) -> None:
    with registered_uas(edge, *tenant["7003"]):
        code, msg = final_invite_reply(sipp_call(edge, au, pw, "7003"))
        assert code == 200, msg.splitlines()[0]


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_ending_releases_the_call_slot(edge, tenant, ending):
    t, _ = tenant["id"]
    au, pw = tenant["7001"]                 # --max-calls 1
    behaviour, scenario, code = ENDINGS[ending]
    assert slots(edge, au, t) == 0
    if behaviour is None:
        res = sipp_call(edge, au, pw, "7002", scenario=scenario)
    else:
        with registered_uas(edge, *tenant["7002"], scenario=behaviour):
            res = sipp_call(edge, au, pw, "7002", scenario=scenario)
    assert final_invite_reply(res)[0] == code, res.describe()
    wait_for(lambda: slots(edge, au, t) == 0, timeout=10, what=f"slot released ({ending})")
    _next_call_succeeds(edge, tenant, au, pw)
    wait_for(lambda: slots(edge, au, t) == 0, timeout=10, what="the next call's slot released")


def test_an_answer_never_acked_releases_the_call_slot(edge, tenant):
    """RFC 3261 13.3.1.4: the callee gives up retransmitting its 2xx after
    64*T1; the edge ends the dialog (and frees the slot) soon after, not
    after the whole call timeout."""
    t, _ = tenant["id"]
    au, pw = tenant["7001"]
    with registered_uas(edge, *tenant["7002"]):
        with SipClient(edge.sip, local_ip=ATTACKER) as c:
            ruri = f"sip:7002@{edge.target}"
            sdp = SDP.format(ip=ATTACKER, port=40104)
            hdr = ["Content-Type: application/sdp"]
            ip, port = c.local
            contact = f"<sip:{au}@{ip}:{port}>"
            r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri, hdr, body=sdp,
                                  contact=contact))
            assert r is not None and r.code == 407
            auth = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au, pw,
                                 header="Proxy-Authorization")
            r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri, hdr + [auth], body=sdp,
                                  contact=contact), timeout=10)
            assert r is not None and r.code == 200           # and never ACKed
            assert slots(edge, au, t) == 1
    # the suite's noack_timeout (4 s), then the dialog module's 90 s sweep, then 10 s
    wait_for(lambda: slots(edge, au, t) == 0, timeout=160, interval=1,
             what="slot of the unacknowledged call released")
    _next_call_succeeds(edge, tenant, au, pw)


def test_a_call_past_its_maximum_duration_releases_the_slot(tmp_path):
    """The dialog times out (security.max_call_duration): the edge ends it and
    frees its slot -- removed, not merely expired in Redis."""
    e = Edge(tmp_path / "short", security={"max_call_duration": 4})
    e.start()
    try:
        t = e.new_tenant("Short calls", "--no-recording")
        creds = {x: e.new_device(t, x) for x in ("7001", "7002")}
        e.ctl_ok("device", "remove", t, "7001")
        e.ctl_ok("device", "add", t, "7001", "--password", creds["7001"][1], "--max-calls", "1")
        e.wait_synced()
        au, pw = creds["7001"]
        with registered_uas(e, *creds["7002"]) as uas:
            # the caller would hang up after 25 s: a BYE within 15 s of the
            # answer can only be the edge's
            th = threading.Thread(target=lambda: sipp_call(e, au, pw, "7002", hold_ms=25000))
            th.start()
            wait_for(lambda: uas.received_requests("ACK"), timeout=10, what="call answered")
            assert slots(e, au, t) == 1
            wait_for(lambda: uas.received_requests("BYE"), timeout=15,
                     what="the edge ends the call at its maximum duration")
            wait_for(lambda: slots(e, au, t) == 0, timeout=5, what="slot removed")
            th.join(timeout=40)
    finally:
        e.stop()
