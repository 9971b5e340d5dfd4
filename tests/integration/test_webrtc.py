"""WebRTC browsers on the edge, verified in a real browser: headless Chromium
(Debian's package, fake audio devices) drives the edge's web phone over WSS.

The browser runs in a network namespace of the test's own; the edge,
rtpengine and the SIPp devices listen on the host end of its veth link, so
all of the browser's signalling and media cross only that link. Asserted:
registration over WSS through the same auth as UDP; two-way audio between
the browser and a SIPp device in both call directions (from the browser's
WebRTC statistics and from rtpengine's view, which shows one leg DTLS-SRTP
and the other plain RTP); no rtpengine session left after any hang-up,
cancel or failure; a wrong password and a cross-tenant call shown as errors;
the registration ends with the WebSocket; rtpengine down gives a clear 5xx.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from harness import sipp
from harness.browser import SETUP_HINT, Browser, missing_tools
from testkit.edge import Edge, wait_for
from harness.netns import NetNs
from testkit.sipmsg import SipClient
from harness.nat_phone import PRIVATE, ack_2xx, answered_invite, reply_to, wait_request
from harness.webrtc_edge import (call_id_of, calls, cdr, creds, finished, from_tag_of, legs,
                                 monologues, phone_up, register_device, rtpengine_restarted,
                                 sip_call, unregister_device, url, websockets)

LOADTEST = Path(__file__).resolve().parents[2] / "loadtest" / "sipp"
CASES = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@pytest.fixture(scope="module", autouse=True)
def browser_tools() -> None:
    """The browser proof is part of every run: missing tools fail, not skip."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"the WebRTC browser tests need {', '.join(missing)}: {SETUP_HINT}",
                    pytrace=False)


@pytest.fixture(scope="module")
def net() -> Iterator[NetNs]:
    with NetNs() as n:
        yield n


@pytest.fixture(scope="module")
def wedge(net: NetNs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    e = Edge(tmp_path_factory.mktemp("webrtc"), listen_ip=net.host_ip,
             rtpengine={"interface": net.host_ip})
    e.start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def tenants(wedge: Edge) -> dict[str, str]:
    a = wedge.new_tenant("WebRTC A", "--no-recording")
    b = wedge.new_tenant("WebRTC B", "--no-recording")
    for ext in ("7001", "7002", "7003", "7004", "7005"):
        wedge.new_device(a, ext)
    wedge.new_device(b, "7001")
    wedge.wait_synced()
    return {"A": a, "B": b}


@pytest.fixture
def browser(net: NetNs) -> Iterator[Browser]:
    with Browser(netns=net.name) as b:
        yield b




def test_browser_registers_over_wss(wedge, tenants, browser, net):
    phone_up(browser, wedge, "a", tenants["A"], "7001")
    (c,) = wedge.contacts(tenants["A"], "7001")
    assert c["Address"].endswith(";transport=ws")
    assert c["Socket"] == f"tls:{wedge.cfg.sip.listen_ip}:{wedge.cfg.sip.wss_port}"
    # reachable only through the browser's own connection: the edge keeps it
    assert c["Received"].startswith(f"sip:{net.ns_ip}:") and c["Received"].endswith(";transport=ws")
    assert "web phone" in c["User-Agent"]


def test_wrong_password_shows_an_error(wedge, tenants, browser):
    user, _ = creds(tenants["A"], "7002")
    browser.cmd("open", phone="bad", url=url(wedge))
    browser.cmd("register", phone="bad", user=user, password="not-the-password")
    state = browser.wait_for("bad", "registration", "failed")
    assert state["error"] == "Registration failed: 401 Unauthorized"
    assert not wedge.contacts(tenants["A"], "7002")


def test_browser_calls_a_sip_device_with_two_way_audio(wedge, tenants, browser):
    ip = wedge.cfg.sip.listen_ip
    with sipp.SippServer(LOADTEST / "uas.xml", local_ip=ip) as device:
        register_device(wedge, tenants["A"], "7003", device.port)
        try:
            phone_up(browser, wedge, "a", tenants["A"], "7001")
            browser.cmd("call", phone="a", number="7003")
            browser.wait_for("a", "call", "in call")
            stats = browser.wait_stats("a", minimum=50)
            assert stats["state"] == "connected"
            call_id = call_id_of(device.received_requests("INVITE")[0])
            # the device was offered plain RTP through rtpengine, not the browser's SDP
            invite = device.received_requests("INVITE")[0]
            assert "RTP/AVP" in invite and "SAVPF" not in invite
            assert f"c=IN IP4 {wedge.cfg.rtpengine.interface}" in invite
            seen = wait_for(lambda: (lambda l: l if all(v > 20 for v in l.values()) else None)(
                legs(wedge, call_id)), timeout=10, what="packets on both legs")
            assert set(seen) == {"UDP/TLS/RTP/SAVPF", "RTP/AVP"}, seen
            browser.cmd("hangup", phone="a")
            browser.wait_for("a", "call", "ended")
            wait_for(lambda: call_id not in calls(wedge), what="rtpengine session deleted")
            wait_for(lambda: device.received_requests("BYE"), what="BYE at the device")
            row = cdr(wedge, call_id)
            assert (row["media"], row["final_code"], row["caller"], row["callee"]) == \
                ("webrtc", 200, "7001", "7003"), row
        finally:
            unregister_device(wedge, tenants["A"], "7003", device.port)


def test_sip_device_calls_the_browser_which_answers(wedge, tenants, browser):
    phone_up(browser, wedge, "b", tenants["A"], "7001")
    before = set(calls(wedge))
    th, out = sip_call(wedge, tenants["A"], "7002", "7001", LOADTEST / "uac_call.xml")
    try:
        browser.wait_for("b", "call", "incoming", timeout=15)
        browser.cmd("answer", phone="b")
        browser.wait_for("b", "call", "in call")
        stats = browser.wait_stats("b", minimum=50)
        assert stats["state"] == "connected"
        live = set(calls(wedge)) - before
        assert len(live) == 1
        call_id = live.pop()
        seen = legs(wedge, call_id)
        assert set(seen) == {"UDP/TLS/RTP/SAVPF", "RTP/AVP"} and all(seen.values()), seen
    finally:
        th.join()
    finished(th, out)
    browser.wait_for("b", "call", "ended")            # the device hung up
    wait_for(lambda: call_id not in calls(wedge), what="rtpengine session deleted")
    assert cdr(wedge, call_id)["media"] == "webrtc"


def test_cross_tenant_call_is_refused_with_the_same_403(wedge, tenants, browser):
    phone_up(browser, wedge, "c", tenants["A"], "7002")
    before = set(calls(wedge))
    browser.cmd("call", phone="c", number=f"{tenants['B']}*7001")
    state = browser.wait_for("c", "call", "failed")
    assert state["error"] == "Call failed: 403 Forbidden - Cross-Tenant Call Blocked"
    assert set(calls(wedge)) <= before          # refused before any media was set up


def test_cancel_and_unanswered_leave_no_session(wedge, tenants, browser):
    ip = wedge.cfg.sip.listen_ip
    with sipp.SippServer(CASES / "uas_ring.xml", local_ip=ip) as device:
        register_device(wedge, tenants["A"], "7003", device.port)
        try:
            phone_up(browser, wedge, "d", tenants["A"], "7001")
            before = set(calls(wedge))
            browser.cmd("call", phone="d", number="7003")
            browser.wait_for("d", "call", "ringing")
            ringing = set(calls(wedge)) - before       # anchored while ringing
            assert len(ringing) == 1
            browser.cmd("hangup", phone="d")           # CANCEL
            browser.wait_for("d", "call", "failed")
            wait_for(lambda: device.received_requests("CANCEL"), what="CANCEL at the device")
            wait_for(lambda: not ringing & set(calls(wedge)),
                     what="rtpengine session deleted after CANCEL")
        finally:
            unregister_device(wedge, tenants["A"], "7003", device.port)


def test_expired_registration_closes_its_websocket(wedge, tenants, browser):
    """The other half of the connection's lifetime following the
    registration's: a browser that stops renewing (the connection still up)
    is forgotten when its registration expires, and the edge closes its
    WebSocket (usrloc close_expired_tcp) -- no stale binding. (The phone
    then reconnects and registers anew, on a new connection: its choice.)"""
    user, pw = creds(tenants["A"], "7003")
    browser.cmd("open", phone="x", url=url(wedge) + "?expires=10")
    browser.cmd("register", phone="x", user=user, password=pw)
    browser.wait_for("x", "registration", "registered")
    browser.cmd("hold_refresh", phone="x")
    (c,) = wedge.contacts(tenants["A"], "7003")
    assert 0 < int(c["Expires"]) <= 10 and c["Address"].endswith(";transport=ws")
    conn = int(c["Tcpconn-Id"])
    assert conn in websockets(wedge)
    wait_for(lambda: not wedge.contacts(tenants["A"], "7003"), timeout=20, interval=0.2,
             what="the expired registration removed")
    wait_for(lambda: conn not in websockets(wedge), timeout=5, interval=0.2,
             what="its WebSocket closed by the edge")


@pytest.mark.parametrize("scenario,code", [("uas_busy.xml", 486), ("uas_ring.xml", 408)],
                         ids=["busy", "ring-timeout"])
def test_busy_and_unanswered_leave_no_session(wedge, tenants, browser, scenario, code):
    """The browser calls a device that is busy, or rings past the ring timer
    (sip.ring_timeout, 3 s in tests): the caller gets the callee's 486 or
    the edge's 408, and the failure route deletes the anchored session."""
    ip = wedge.cfg.sip.listen_ip
    with sipp.SippServer(CASES / scenario, local_ip=ip) as device:
        register_device(wedge, tenants["A"], "7003", device.port)
        try:
            phone_up(browser, wedge, "g", tenants["A"], "7001")
            browser.cmd("call", phone="g", number="7003")
            state = browser.wait_for("g", "call", "failed",
                                     timeout=wedge.cfg.sip.ring_timeout + 15)
            assert state["error"].startswith(f"Call failed: {code} "), state
            invite = device.received_requests("INVITE")[0]
            assert f"c=IN IP4 {wedge.cfg.rtpengine.interface}" in invite   # it was anchored
            call_id = call_id_of(invite)
            wait_for(lambda: call_id not in calls(wedge), what="rtpengine session deleted")
            if code == 408:
                wait_for(lambda: device.received_requests("CANCEL"), what="CANCEL at the device")
            row = cdr(wedge, call_id)
            assert (row["final_code"], row["answer_at"], row["media"]) == (code, None, "webrtc")
        finally:
            unregister_device(wedge, tenants["A"], "7003", device.port)


def test_registration_ends_with_the_websocket(wedge, tenants, browser):
    phone_up(browser, wedge, "e", tenants["A"], "7002")
    assert wedge.contacts(tenants["A"], "7002")
    browser.cmd("close", phone="e")                    # the tab goes away
    wait_for(lambda: not wedge.contacts(tenants["A"], "7002"), timeout=10,
             what="contact removed with its connection")


# -- forking: one number, a browser and a desk phone --------------------------

@pytest.fixture
def desk_and_browser(wedge, tenants, browser):
    """7004 registered twice: by the web phone and by a SIPp desk phone. The
    test picks the desk's scenario (it starts when called with one)."""
    servers: list[sipp.SippServer] = []

    def up(scenario: Path) -> sipp.SippServer:
        device = sipp.SippServer(scenario, local_ip=wedge.cfg.sip.listen_ip)
        servers.append(device)
        register_device(wedge, tenants["A"], "7004", device.port)
        phone_up(browser, wedge, "w", tenants["A"], "7004")
        assert len(wedge.contacts(tenants["A"], "7004")) == 2
        return device
    yield up
    for device in servers:
        unregister_device(wedge, tenants["A"], "7004", device.port)
        device.stop()


def test_forked_call_answered_by_the_browser(wedge, tenants, browser, desk_and_browser):
    """The caller is behind NAT, so both branches are anchored, each with its
    own flags (plain RTP to the desk, DTLS-SRTP to the browser): each gets its
    own monologue in rtpengine. The browser answers, talks, and hangs up --
    a BYE from the callee's side still deletes every branch's monologue."""
    desk = desk_and_browser(CASES / "uas_ring.xml")
    th, out = sip_call(wedge, tenants["A"], "7005", "7004", SCENARIOS / "uac_call_until_bye.xml",
                       private=PRIVATE)
    try:
        browser.wait_for("w", "call", "incoming", timeout=15)
        browser.cmd("answer", phone="w")
        browser.wait_for("w", "call", "in call")
        assert browser.wait_stats("w", minimum=50)["state"] == "connected"
        invite = wait_for(lambda: desk.received_requests("INVITE"), what="INVITE at the desk")[0]
        call_id, caller_tag = call_id_of(invite), from_tag_of(invite)
        wait_for(lambda: desk.received_requests("CANCEL"), what="CANCEL at the desk")
        # the desk was offered plain RTP on its own branch, not the browser's flags
        assert "RTP/AVP" in invite and "SAVPF" not in invite
        mono = wait_for(lambda: (lambda m: m if m.get(caller_tag, ("", 0))[1] > 20 and any(
            p == "UDP/TLS/RTP/SAVPF" and n > 20 for p, n in m.values()) else None)(
            monologues(wedge, call_id)), timeout=10, what="media both ways")
        assert sorted(p for p, _ in mono.values()) == ["RTP/AVP", "RTP/AVP",
                                                        "UDP/TLS/RTP/SAVPF"], mono
        browser.cmd("hangup", phone="w")
        browser.wait_for("w", "call", "ended")
    finally:
        th.join()
    finished(th, out)
    wait_for(lambda: call_id not in calls(wedge), what="every branch's session deleted")
    assert cdr(wedge, call_id)["media"] == "webrtc"


def test_forked_call_answered_by_the_desk_phone(wedge, tenants, browser, desk_and_browser):
    """Same fork; the desk phone answers at once and the browser's branch is
    cancelled. The desk's media flows both ways through its own monologue --
    not through flags the browser's offer left -- and the caller's BYE
    deletes the whole call, the browser's unanswered branch included."""
    desk = desk_and_browser(LOADTEST / "uas.xml")
    th, out = sip_call(wedge, tenants["A"], "7005", "7004", LOADTEST / "uac_call.xml",
                       private=PRIVATE, hold_ms=8000)
    try:
        invite = wait_for(lambda: desk.received_requests("INVITE"), timeout=10,
                          what="INVITE at the desk")[0]
        call_id, caller_tag = call_id_of(invite), from_tag_of(invite)
        browser.wait_for("w", "call", "failed", timeout=15)       # cancelled: answered elsewhere
        assert not browser.cmd("state", phone="w")["error"]
        mono = wait_for(lambda: (lambda m: m if sum(n > 20 for _, n in m.values()) == 2 else None)(
            monologues(wedge, call_id)), timeout=10, what="media both ways at the desk")
        assert mono[caller_tag][1] > 20
        assert sorted(p for p, _ in mono.values()) == ["RTP/AVP", "RTP/AVP",
                                                        "UDP/TLS/RTP/SAVPF"], mono
        assert all(n == 0 for p, n in mono.values() if p == "UDP/TLS/RTP/SAVPF")
    finally:
        th.join()
    finished(th, out)
    wait_for(lambda: desk.received_requests("BYE"), what="BYE at the desk")
    wait_for(lambda: call_id not in calls(wedge), what="every branch's session deleted")
    assert cdr(wedge, call_id)["media"] == "rtpengine"


def test_forked_call_answered_directly_by_the_desk_phone(wedge, tenants, browser,
                                                       desk_and_browser):
    """A caller not behind NAT: only the browser's branch is anchored, the
    desk gets the caller's own SDP. When the desk answers, media flows
    directly and the session the browser's branch had is deleted at once, not
    left to the end of the call (or to rtpengine's timeout)."""
    desk = desk_and_browser(LOADTEST / "uas.xml")
    before = set(calls(wedge))
    th, out = sip_call(wedge, tenants["A"], "7005", "7004", LOADTEST / "uac_call.xml",
                       hold_ms=6000)
    try:
        invite = wait_for(lambda: desk.received_requests("INVITE"), timeout=10,
                          what="INVITE at the desk")[0]
        call_id = call_id_of(invite)
        assert f"c=IN IP4 {wedge.cfg.sip.listen_ip}" in invite      # the caller's own SDP
        browser.wait_for("w", "call", "failed", timeout=15)       # cancelled: answered elsewhere
        wait_for(lambda: desk.received_requests("ACK"), what="the call up at the desk")
        wait_for(lambda: call_id not in calls(wedge), what="the unused session deleted")
        assert th.is_alive() and not desk.received_requests("BYE")    # still talking
        assert set(calls(wedge)) <= before
    finally:
        th.join()
    finished(th, out)
    assert cdr(wedge, call_id)["media"] == "direct"


def test_rtpengine_down_fails_browser_call_with_5xx(wedge, tenants, browser):
    ip = wedge.cfg.sip.listen_ip
    with sipp.SippServer(LOADTEST / "uas_setup.xml", local_ip=ip) as device:
        register_device(wedge, tenants["A"], "7003", device.port)
        phone_up(browser, wedge, "f", tenants["A"], "7001")
        wedge.stack.rtpengine.stop()
        try:
            browser.cmd("call", phone="f", number="7003")
            state = browser.wait_for("f", "call", "failed", timeout=20)
            assert state["error"].startswith("Call failed: 503"), state
            assert not device.received_requests("INVITE")
        finally:
            rtpengine_restarted(wedge)
            unregister_device(wedge, tenants["A"], "7003", device.port)


def test_rtpengine_down_at_answer_ends_the_call_without_media(wedge, tenants):
    """rtpengine dies between the offer and the answer. tm relays every 2xx of
    an INVITE, so the caller gets the 200 -- with every stream rejected, not
    the callee's SDP rtpengine could not rewrite (no one-way audio, no media
    to an address the caller cannot reach) -- and the edge ends the call on
    both sides with BYE once the caller's ACK confirms it. The caller is a
    raw SIP client behind NAT (SIPp cannot take a rejected stream)."""
    ip = wedge.cfg.sip.listen_ip
    with sipp.SippServer(SCENARIOS / "uas_answer_late.xml", local_ip=ip) as device, \
            SipClient(wedge.sip, local_ip=ip) as phone:
        register_device(wedge, tenants["A"], "7003", device.port)
        try:
            ok = answered_invite(phone, *creds(tenants["A"], "7005"), "7003", wedge,
                                 before_answer=lambda: (
                                     wait_for(lambda: device.received_requests("INVITE"),
                                              timeout=10, what="INVITE at the device"),
                                     wedge.stack.rtpengine.stop()))
            invite = device.received_requests("INVITE")[0]
            assert f"c=IN IP4 {wedge.cfg.rtpengine.interface}" in invite    # it was anchored
            answer = ok.raw.split("\r\n\r\n", 1)[1]
            assert re.search(r"(?m)^m=audio 0 RTP/AVP ", answer), answer    # streams rejected
            assert ip not in answer and "c=IN IP4 0.0.0.0" in answer          # no callee address
            phone.send_raw(ack_2xx(phone, ok))
            bye = wait_request(phone, "BYE", timeout=10)                      # ended by the edge
            phone.send_raw(reply_to(bye, 200, "OK"))
            callee_bye = wait_for(lambda: device.received_requests("BYE"), timeout=10,
                                  what="the callee's leg ended by the edge")[0]
            for msg in (bye, callee_bye):
                assert 'Reason: SIP;cause=503;text="Media Relay Down"' in msg, msg
        finally:
            rtpengine_restarted(wedge)
            unregister_device(wedge, tenants["A"], "7003", device.port)
    row = cdr(wedge, call_id_of(invite))
    assert (row["final_code"], row["final_reason"]) == (503, "Media Relay Down"), row


