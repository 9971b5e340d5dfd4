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
import shutil
import threading
from pathlib import Path
from typing import Iterator

import pytest

from edgectl import rtpengine
from harness import sipp
from harness.browser import Browser
from harness.edge import Edge, wait_for
from harness.netns import NetNs
from harness.sipmsg import SipClient

LOADTEST = Path(__file__).resolve().parents[2] / "loadtest" / "sipp"
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None or
                                shutil.which("node") is None,
                                reason="chromium/node are installed by scripts/bootstrap.sh")


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
    for ext in ("7001", "7002", "7003"):
        wedge.new_device(a, ext)
    wedge.new_device(b, "7001")
    wedge.wait_synced()
    return {"A": a, "B": b}


@pytest.fixture
def browser(net: NetNs) -> Iterator[Browser]:
    with Browser(netns=net.name) as b:
        yield b


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


def legs(e: Edge, call_id: str) -> dict[str, int]:
    """protocol -> packets rtpengine received on that leg."""
    q = rtpengine.command(e.cfg.rtpengine.ng_host, e.cfg.rtpengine.ng_port,
                          {"command": "query", "call-id": call_id})
    out: dict[str, int] = {}
    for tag in q["tags"].values():
        for m in tag["medias"]:
            out[m["protocol"]] = out.get(m["protocol"], 0) + sum(
                s["stats"]["packets"] for s in m["streams"])
    return out


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
        finally:
            unregister_device(wedge, tenants["A"], "7003", device.port)


def test_sip_device_calls_the_browser_which_answers(wedge, tenants, browser):
    ip = wedge.cfg.sip.listen_ip
    phone_up(browser, wedge, "b", tenants["A"], "7001")
    before = set(calls(wedge))
    caller, pw = creds(tenants["A"], "7002")
    row = [caller, f"[authentication username={caller} password={pw}]", "7001"]
    out: list[sipp.SippResult] = []
    th = threading.Thread(target=lambda: out.append(sipp.run(
        wedge.target, LOADTEST / "uac_call.xml", [row], local_ip=ip, timeout=40,
        extra=["-d", "6000", "-default_behaviors", "all,-abortunexp"])))
    th.start()
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
    assert out and out[0].rc == 0, out[0].describe() if out else "no SIPp result"
    browser.wait_for("b", "call", "ended")            # the device hung up
    wait_for(lambda: call_id not in calls(wedge), what="rtpengine session deleted")


def test_cross_tenant_call_is_refused_with_the_same_403(wedge, tenants, browser):
    phone_up(browser, wedge, "c", tenants["A"], "7002")
    before = set(calls(wedge))
    browser.cmd("call", phone="c", number=f"{tenants['B']}*7001")
    state = browser.wait_for("c", "call", "failed")
    assert state["error"] == "Call failed: 403 Forbidden - Cross-Tenant Call Blocked"
    assert set(calls(wedge)) <= before          # refused before any media was set up


def test_cancel_and_unanswered_leave_no_session(wedge, tenants, browser):
    ip = wedge.cfg.sip.listen_ip
    ring = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios" / "uas_ring.xml"
    with sipp.SippServer(ring, local_ip=ip) as device:
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


def test_registration_ends_with_the_websocket(wedge, tenants, browser):
    phone_up(browser, wedge, "e", tenants["A"], "7002")
    assert wedge.contacts(tenants["A"], "7002")
    browser.cmd("close", phone="e")                    # the tab goes away
    wait_for(lambda: not wedge.contacts(tenants["A"], "7002"), timeout=10,
             what="contact removed with its connection")


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
            wedge.stack.rtpengine.start()
            unregister_device(wedge, tenants["A"], "7003", device.port)
