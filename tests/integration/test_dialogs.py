"""Dialogs through the edge: in-dialog requests in both directions by the
recorded route set, CANCEL, and media anchored in rtpengine when a side is
behind NAT (and only then), with no session left after the call."""

from __future__ import annotations

import re
import threading
import time

from edgectl import rtpengine
from harness import sipp
from testkit.edge import Edge, wait_for
from harness.calls import SCEN, Legacy, final_invite_reply, register_contact, unregister_all


def _row(legacy: Legacy, caller: str, dialled: str, contact_ip: str = "127.0.0.1",
         sdp_ip: str = "127.0.0.1") -> list[str]:
    _, _, au, pw = legacy.device(caller)
    return [au, f"[authentication username={au} password={pw}]", dialled, au, contact_ip,
            sdp_ip]


def _calls(edge: Edge) -> list[str]:
    r = rtpengine.command(edge.cfg.rtpengine.ng_host, edge.cfg.rtpengine.ng_port,
                          {"command": "list"})
    return list(r.get("calls", []))


def test_in_dialog_requests_and_callee_hangup(legacy: Legacy):
    edge = legacy.edge
    _, _, cau, cpw = legacy.device("B:7003")
    try:
        with sipp.SippServer(SCEN / "uas_indialog.xml") as uas:
            register_contact(edge, cau, cpw, uas.port)
            res = sipp.run(edge.target, SCEN / "call_indialog.xml",
                           [_row(legacy, "B:7001", "7003")], timeout=20)
            assert res.rc == 0, res.describe()
            want = ["INVITE", "ACK", "INFO", "UPDATE", "INVITE", "ACK", "SIP/2.0"]

            def got() -> list[str]:
                return [m.split()[0] for m, d in zip(*uas.messages()) if d == "received"]
            # the caller's 200 to the callee's BYE is relayed after the caller
            # is done: under load it reaches the callee a moment later
            try:
                wait_for(lambda: len(got()) >= len(want), timeout=5,
                         what="the caller's 200 to the BYE at the callee")
            finally:
                assert got() == want, got()
            # every in-dialog request reached the callee through the edge (Route header
            # consumed, Record-Route kept the edge in the path)
            invite = uas.received_requests("INVITE")[0]
            assert re.search(r"(?im)^Record-Route:.*lr", invite), invite
            # the callee's BYE reached the caller, and its 200 came back
            assert any(m.startswith("BYE ") for m in res.received)
    finally:
        unregister_all(edge, cau, cpw)


def test_caller_cancels_while_ringing(legacy: Legacy):
    edge = legacy.edge
    _, _, cau, cpw = legacy.device("C:7003")
    try:
        with sipp.SippServer(SCEN / "uas_ring.xml") as uas:
            register_contact(edge, cau, cpw, uas.port)
            res = sipp.run(edge.target, SCEN / "call_cancel.xml",
                           [_row(legacy, "C:7001", "7003")], timeout=20)
            assert res.rc == 0, res.describe()
            assert 487 in res.received_codes and 200 in res.received_codes
            wait_for(lambda: uas.received_requests("CANCEL"), what="CANCEL at the callee")
    finally:
        unregister_all(edge, cau, cpw)


def _call_in_background(edge: Edge, row: list[str], hold_ms: int) -> tuple[threading.Thread,
                                                                           list]:
    out: list = []
    th = threading.Thread(target=lambda: out.append(sipp.run(
        edge.target, SCEN / "call_any.xml", [row], extra=["-d", str(hold_ms)], timeout=20)))
    th.start()
    return th, out


def _sdp_addr(msg: str) -> tuple[str, int]:
    c = re.search(r"(?m)^c=IN IP4 (\S+)", msg)
    m = re.search(r"(?m)^m=audio (\d+)", msg)
    assert c and m, msg
    return c.group(1), int(m.group(1))


def test_nated_caller_media_is_anchored_and_released(legacy: Legacy):
    edge = legacy.edge
    _, _, cau, cpw = legacy.device("A:7003")
    try:
        with sipp.SippServer(SCEN / "uas_answer.xml") as uas:
            register_contact(edge, cau, cpw, uas.port)
            before = set(_calls(edge))
            th, out = _call_in_background(edge, _row(legacy, "A:7001", "7003",
                                                     contact_ip="192.168.50.10",
                                                     sdp_ip="192.168.50.10"), 1500)
            wait_for(lambda: uas.received_requests("INVITE"), what="INVITE at the callee")
            during = wait_for(lambda: set(_calls(edge)) - before, what="rtpengine session")
            th.join()
            res = out[0]
            code, answer = final_invite_reply(res)
            assert code == 200, res.describe()
            # the callee was offered rtpengine's address, not the caller's private one
            addr, port = _sdp_addr(uas.received_requests("INVITE")[0])
            assert addr == edge.cfg.rtpengine.interface
            assert edge.cfg.rtpengine.port_min <= port <= edge.cfg.rtpengine.port_max
            # and the caller got rtpengine's address back in the answer
            addr, port = _sdp_addr(answer)
            assert addr == edge.cfg.rtpengine.interface
            assert edge.cfg.rtpengine.port_min <= port <= edge.cfg.rtpengine.port_max
            # BYE deleted the session
            wait_for(lambda: not (set(_calls(edge)) & during), what="session deleted")
    finally:
        unregister_all(edge, cau, cpw)


def test_nated_callee_media_is_anchored(legacy: Legacy):
    """The callee registered a private Contact from its real address: the INVITE
    goes to the address the REGISTER came from, and media is anchored."""
    edge = legacy.edge
    _, _, cau, cpw = legacy.device("C:7002")
    from testkit.ports import free_port
    port = free_port()
    reg = sipp.run(edge.target, SCEN / "register_any.xml",
                   [[cau, f"[authentication username={cau} password={cpw}]", "600", cau,
                     "127.0.0.1", "10.20.30.40"]], port=port)
    assert reg.received_codes == [401, 200], reg.describe()
    (contact,) = edge.contacts(legacy.tenants["C"], "7002")
    assert contact["Received"] == f"sip:127.0.0.1:{port}"
    try:
        with sipp.SippServer(SCEN / "uas_answer.xml", port=port) as uas:
            th, out = _call_in_background(edge, _row(legacy, "C:7001", "7002"), 300)
            th.join()
            code, answer = final_invite_reply(out[0])
            assert code == 200, out[0].describe()
            invite = uas.received_requests("INVITE")[0]
            assert invite.startswith("INVITE sip:") and "10.20.30.40" in invite.split()[1]
            assert _sdp_addr(invite)[0] == edge.cfg.rtpengine.interface
            assert _sdp_addr(answer)[0] == edge.cfg.rtpengine.interface
    finally:
        unregister_all(edge, cau, cpw)


def test_no_nat_no_media_anchoring(legacy: Legacy):
    edge = legacy.edge
    _, _, cau, cpw = legacy.device("B:7002")
    try:
        with sipp.SippServer(SCEN / "uas_answer.xml") as uas:
            register_contact(edge, cau, cpw, uas.port)
            before = set(_calls(edge))
            res = sipp.run(edge.target, SCEN / "call_any.xml", [_row(legacy, "B:7001", "7002")],
                           extra=["-d", "300"])
            assert final_invite_reply(res)[0] == 200
            assert _sdp_addr(uas.received_requests("INVITE")[0])[0] == "127.0.0.1"
            assert not set(_calls(edge)) - before
    finally:
        unregister_all(edge, cau, cpw)


def test_rtpengine_down_fails_nated_call_with_503(fresh_edge: Edge):
    """No one-way audio: a call that needs a media relay it cannot get is refused."""
    e = fresh_edge
    t = e.new_tenant("NoMedia")
    au1, pw1 = e.new_device(t, "7001")
    au2, pw2 = e.new_device(t, "7002")
    e.wait_synced()
    e.stack.rtpengine.stop()
    with sipp.SippServer(SCEN / "uas_answer.xml") as uas:
        register_contact(e, au2, pw2, uas.port)
        row = [au1, f"[authentication username={au1} password={pw1}]", "7002", au1,
               "192.168.1.20", "192.168.1.20"]
        t0 = time.monotonic()
        res = sipp.run(e.target, SCEN / "call_any.xml", [row], timeout=20)
        code, msg = final_invite_reply(res)
        assert code == 503 and "Media Relay" in msg.splitlines()[0], res.describe()
        assert not uas.received_requests("INVITE")
        assert time.monotonic() - t0 < 15
