"""Attacks on the live edge, each from its own loopback address: sipvicious
(svmap, svwar, svcrack -- as shipped, and with a disguised User-Agent so the
brute-force and enumeration defences themselves are tested, not only the
scanner filter), a request flood, forged in-dialog requests, concurrent-call
limits and bans across two edge nodes sharing one Redis. Each test fails if
its defence is removed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness import sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient, authorization
from harness.calls import SCEN, final_invite_reply, register_contact, unregister_all
from harness.probes import answered, mirrored, register_code

RUN = Path(__file__).resolve().parents[1] / "harness" / "sipvicious_run.py"
UAC = Path(__file__).resolve().parents[2] / "loadtest" / "sipp" / "uac_setup.xml"


@pytest.fixture(scope="module")
def sedge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    e = Edge(tmp_path_factory.mktemp("security"))
    e.start()
    e.add_node("edge2")
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def victim(sedge: Edge) -> dict[str, str]:
    t = sedge.new_tenant("Victims", "--no-recording")
    sedge.new_device(t, "7001", "password")            # deliberately weak
    for ext in ("7002", "7003", "7004"):
        sedge.new_device(t, ext)
    sedge.wait_synced()
    return {"tenant": t, "weak": f"{t}7001"}


def sipvicious(tool: str, source: str, *args: str, disguised: bool = False,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real sipvicious tool, from its own loopback source address."""
    cmd = [sys.executable, str(RUN), tool, source] + (["--disguised"] if disguised else [])
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def target(e: Edge) -> list[str]:
    return [e.cfg.sip.listen_ip, "-p", str(e.cfg.sip.udp_port)]


def bans(e: Edge) -> dict[str, dict]:
    return {b["who"]: b for b in json.loads(e.ctl_ok("ban", "list", "--json"))}


def test_svmap_learns_neither_product_nor_version(sedge):
    out = sipvicious("svmap", "127.0.0.81", *target(sedge), timeout=30)
    text = (out.stdout + out.stderr).lower()
    assert "kamailio" not in text and "5.6" not in text
    assert "127.0.0.81" in bans(sedge)                   # and the scanner is banned
    # even disguised, with an answer, nothing names the software
    out = sipvicious("svmap", "127.0.0.82", *target(sedge), disguised=True, timeout=30)
    text = out.stdout + out.stderr
    assert sedge.cfg.sip.listen_ip in text, text         # it did find the edge
    assert "kamailio" not in text.lower() and "5.6" not in text


def test_svwar_enumerates_no_extension(sedge, victim):
    t = victim["tenant"]
    # the provisioned identities are <tenant><ext>: 7001..7004 are real
    for disguised, src in ((False, "127.0.0.83"), (True, "127.0.0.84")):
        out = sipvicious("svwar", src, *target(sedge), "-m", "REGISTER",
                         "-e", "7000-7010", "--template", f"{t}%d", "--force",
                         disguised=disguised, timeout=60)
        text = out.stdout + out.stderr
        for ext in ("7001", "7002", "7003", "7004"):
            assert f"{t}{ext}" not in text, text
    # the exempt source check: svwar also finds nothing with INVITE
    out = sipvicious("svwar", "127.0.0.85", *target(sedge), "-m", "INVITE",
                     "-e", "7000-7005", "--template", f"{t}%d", "--force", disguised=True)
    assert f"{t}7001" not in out.stdout


def _dictionary(tmp: Path, n: int, position: int) -> Path:
    words = [f"guess{i:04d}" for i in range(n)]
    words[position] = "password"
    p = tmp / "dict.txt"
    p.write_text("\n".join(words) + "\n")
    return p


@pytest.mark.serial  # rates and windows of seconds: run alone
def test_svcrack_is_stopped_before_the_threshold_and_never_finds_it(sedge, victim, tmp_path):
    """The weak password sits at guess 15 of the dictionary: past the identity
    limit (10), before the source limit (20). Without the identity lock svcrack
    finds it; without the source ban it keeps going."""
    weak, t = victim["weak"], victim["tenant"]
    sec = sedge.cfg.security
    words = _dictionary(tmp_path, 200, sec.identity_failures + 5)
    # the victim's own phone, at its usual address
    with SipClient(sedge.sip, local_ip="127.0.0.85") as phone:
        assert phone.register(weak, "password")[1].code == 200
    # another tenant phone behind the NAT the attacker will use
    neighbour, npw = f"{t}7002", f"pw-{t}-7002"
    with SipClient(sedge.sip, local_ip="127.0.0.86") as phone:
        assert phone.register(neighbour, npw)[1].code == 200
    # as shipped: a scanner, dropped at its first packet and banned
    out = sipvicious("svcrack", "127.0.0.87", *target(sedge), "-u", weak,
                     "-d", str(words), "--maximumtime", "5")
    assert "| password" not in out.stdout
    assert "127.0.0.87" in bans(sedge)
    # disguised as a phone, from the shared NAT: stopped by the brute-force limits
    out = sipvicious("svcrack", "127.0.0.86", *target(sedge), "-u", weak, "-d", str(words),
                     "--maximumtime", "6", disguised=True, timeout=120)
    assert "| password" not in out.stdout, out.stdout
    b = bans(sedge)
    assert b[weak.lower()]["kind"] == "identity"
    assert b["127.0.0.86"]["kind"] == "source"
    # the attacker's address is dropped...
    assert not answered(sedge, "127.0.0.86")
    # ...yet the neighbour behind that NAT still registers (trusted there)
    with SipClient(sedge.sip, local_ip="127.0.0.86") as phone:
        first, second = phone.register(neighbour, npw)
        assert first is not None and first.code == 401
        assert second is not None and second.code == 200
    # the victim keeps working from its own address, where it never failed,
    with SipClient(sedge.sip, local_ip="127.0.0.85") as phone:
        assert phone.register(weak, "password")[1].code == 200
    # and nobody can even try its password from anywhere else
    with SipClient(sedge.sip, local_ip="127.0.0.88") as other:
        assert other.register(weak, "password")[1].code == 401


@pytest.mark.serial  # rates and windows of seconds: run alone
def test_request_flood_bans_the_source_on_every_node(sedge):
    src = "127.0.0.89"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    port = s.getsockname()[1]
    n = sedge.cfg.security.flood_requests * 3
    for i in range(n):
        msg = (f"OPTIONS sip:{sedge.target} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{port};"
               f"branch=z9hG4bKf{i}\r\nFrom: <sip:f@x>;tag={i}\r\nTo: <sip:f@x>\r\n"
               f"Call-ID: flood{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), sedge.sip)
    s.close()
    wait_for(lambda: src in bans(sedge), what="flooding source banned")
    assert bans(sedge)[src]["reason"] == "request flood"
    assert not answered(sedge, src)
    node2 = sedge.nodes[0]
    wait_for(lambda: not answered(sedge, src, node2.cfg.sip.udp_port), timeout=3,
             what="ban enforced by the other node")
    assert answered(sedge, "127.0.0.90", node2.cfg.sip.udp_port)


def test_auth_failures_on_one_node_ban_on_the_other(sedge, victim):
    src = "127.0.0.91"
    t = victim["tenant"]
    for i in range(sedge.cfg.security.source_failures):
        with SipClient(sedge.sip, local_ip=src) as c:
            c.register(f"{t}7{i:03d}9", "not-a-password")     # unknown identities too
    node2 = sedge.nodes[0]
    wait_for(lambda: not answered(sedge, src, node2.cfg.sip.udp_port), timeout=3,
             what="node 2 drops the source banned on node 1")
    # lifted by an operator: answered again on both nodes
    sedge.ctl_ok("ban", "remove", src)
    wait_for(lambda: answered(sedge, src) and answered(sedge, src, node2.cfg.sip.udp_port),
             timeout=3, what="ban lifted everywhere")


def test_forged_in_dialog_request_never_reaches_a_device(sedge, victim):
    t = victim["tenant"]
    au, pw = f"{t}7003", f"pw-{t}-7003"
    with sipp.SippServer(SCEN / "uas_answer.xml") as device:
        register_contact(sedge, au, pw, device.port)
        try:
            with SipClient(sedge.sip, local_ip="127.0.0.92") as c:
                contact = f"sip:uas@127.0.0.1:{device.port}"
                for method in ("BYE", "INVITE", "INFO"):
                    msg = c.build(method, contact, "sip:evil@x", f"sip:7003@{t}",
                                  [f"Route: <sip:{sedge.target};lr>"], to_tag="forged1")
                    r = c.request(msg)
                    assert r is not None and r.code == 481, (method, r and r.code)
            assert not device.received_requests("BYE")
            assert not device.received_requests("INVITE")
        finally:
            unregister_all(sedge, au, pw)


def test_no_relay_to_foreign_destinations(sedge, victim):
    t = victim["tenant"]
    au, pw = f"{t}7002", f"pw-{t}-7002"
    with SipClient(sedge.sip, local_ip="127.0.0.93") as c:
        ruri = "sip:+5511999990000@gateway.example.com"
        r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri))
        assert r is not None and r.code == 407
        auth = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au, pw,
                             header="Proxy-Authorization")
        r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri, [auth]))
        assert r is not None and r.code == 404          # resolved as a number, never relayed


def _call(e: Edge, port: int, au: str, pw: str, dialled: str, hold_ms: int
          ) -> sipp.SippResult:
    row = [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
           "127.0.0.1"]
    return sipp.run(f"{e.cfg.sip.listen_ip}:{port}", SCEN / "call_any.xml", [row],
                    extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"],
                    timeout=30)


def test_call_limits_hold_across_nodes(sedge):
    t = sedge.new_tenant("Limited", "--no-recording", "--max-calls", "2")
    creds = {x: sedge.new_device(t, x) for x in ("7001", "7002", "7003", "7004")}
    sedge.ctl_ok("device", "remove", t, "7001")
    sedge.ctl_ok("device", "add", t, "7001", "--password", creds["7001"][1], "--max-calls", "1")
    sedge.wait_synced()
    node1, node2 = sedge.cfg.sip.udp_port, sedge.nodes[0].cfg.sip.udp_port
    with sipp.SippServer(SCEN / "uas_answer.xml") as callee:
        register_contact(sedge, *creds["7004"], callee.port)
        # each node's location table is its own until nodes share
        # registrations: the callee registers with both
        with SipClient((sedge.cfg.sip.listen_ip, node2)) as c:
            assert c.register(*creds["7004"], contact_port=callee.port)[1].code == 200
        try:
            out: list[sipp.SippResult] = []
            long_call = threading.Thread(target=lambda: out.append(
                _call(sedge, node1, *creds["7001"], "7004", 4000)))
            long_call.start()
            wait_for(lambda: callee.received_requests("INVITE"), what="first call up")
            # the same device on the other node: over its limit of 1
            code, msg = final_invite_reply(_call(sedge, node2, *creds["7001"], "7004", 0))
            assert code == 403 and "Concurrent Call Limit (device)" in msg.splitlines()[0]
            # another device of the tenant: the tenant's second call is fine...
            second = threading.Thread(target=lambda: out.append(
                _call(sedge, node2, *creds["7002"], "7004", 3000)))
            second.start()
            wait_for(lambda: len(callee.received_requests("INVITE")) == 2, what="second call")
            # ...its third is not, on either node
            code, msg = final_invite_reply(_call(sedge, node1, *creds["7003"], "7004", 0))
            assert code == 403 and "(tenant)" in msg.splitlines()[0]
            long_call.join()
            second.join()
            assert all(final_invite_reply(r)[0] == 200 for r in out)
            # the slots were freed when the calls ended
            code, _ = final_invite_reply(_call(sedge, node2, *creds["7001"], "7004", 0))
            assert code == 200
        finally:
            unregister_all(sedge, *creds["7004"])


def test_oversized_request_is_refused_with_513(sedge):
    """RFC 3261 21.5.11: a request larger than the edge will process."""
    with SipClient(sedge.sip, local_ip="127.0.0.94") as c:
        big = [f"X-Padding: {'a' * 200}" for _ in range(sedge.cfg.security.max_message_size
                                                          // 200 + 2)]
        r = c.request(c.build("OPTIONS", f"sip:{sedge.target}", "sip:big@x", "sip:big@x", big))
        assert r is not None and r.code == 513
        # the same request of a normal size is answered
        r = c.request(c.build("OPTIONS", f"sip:{sedge.target}", "sip:big@x", "sip:big@x"))
        assert r is not None and r.code == 200


def test_operator_bans_a_source_and_locks_an_identity_on_every_node(sedge, victim):
    t = victim["tenant"]
    au, pw = f"{t}7004", f"pw-{t}-7004"
    node2 = sedge.nodes[0].cfg.sip.udp_port
    src = "127.0.0.95"
    assert answered(sedge, src)
    sedge.ctl_ok("ban", "add", src, "--for", "120", "--reason", "test")
    wait_for(lambda: not answered(sedge, src) and not answered(sedge, src, node2), timeout=3,
             what="operator's source ban on both nodes")
    assert bans(sedge)[src]["reason"] == "test"
    # an identity lock: its right password is not even checked from an
    # address it never authenticated from, on either node
    sedge.ctl_ok("ban", "add", au, "--for", "120")
    for node in (sedge.stack.kamailio, sedge.nodes[0]):
        wait_for(lambda node=node: mirrored(node, f"id:{au.lower()}"), timeout=3,
                 what="identity lock mirrored by the node")
    for port in (sedge.cfg.sip.udp_port, node2):
        assert register_code(sedge, port, "127.0.0.96", au, pw) == 401
    sedge.ctl_ok("ban", "remove", src)
    sedge.ctl_ok("ban", "remove", au)
    wait_for(lambda: answered(sedge, src, node2), timeout=3, what="source ban lifted")
    wait_for(lambda: register_code(sedge, node2, "127.0.0.96", au, pw) == 200, timeout=3,
             what="identity lock lifted")


@pytest.mark.serial  # rates and windows of seconds: run alone
def test_failures_age_out_of_the_window_and_bans_expire(tmp_path):
    """The failure counters are a sliding window: failures older than it do
    not add up to a ban; a ban lasts ban_time and no longer. The window holds
    the four exchanges of the second burst, and the ban outlasts the checks
    that it holds (an OPTIONS left unanswered, then `ban list`), even on a
    loaded machine: a 2 s window and a 3 s ban had both run out under load."""
    sec = {"window": 4, "source_failures": 4, "identity_failures": 100, "ban_time": 6}
    e = Edge(tmp_path / "window", security=sec)
    e.start()
    try:
        src = "127.0.0.97"
        # three failures, a pause longer than the window, three more: no ban
        for burst in range(2):
            for i in range(3):
                assert register_code(e, e.cfg.sip.udp_port, src, f"nobody{burst}{i}",
                                      "x-password") == 401
            if burst == 0:
                time.sleep(sec["window"] + 0.5)        # the window itself is what is tested
        assert src not in bans(e) and answered(e, src)
        # a fourth inside the window bans the source...
        assert register_code(e, e.cfg.sip.udp_port, src, "nobody9", "x-password") == 401
        wait_for(lambda: not answered(e, src), timeout=2, what="ban after 4 failures in the window")
        assert src in bans(e)
        # ...for ban_time only
        wait_for(lambda: answered(e, src), timeout=sec["ban_time"] + 3, interval=0.2,
                 what="the ban expired by itself")
        assert src not in bans(e)
    finally:
        e.stop()


def test_unauthenticated_invite_to_a_ring_group_never_reaches_the_pool(sedge):
    """Ring groups and recorded calls go to the media pool: a caller without
    the right credentials is challenged, and no member ever sees the call."""
    t = sedge.new_tenant("Pool target")                # records: calls go to the pool
    au, pw = sedge.new_device(t, "7001")
    sedge.new_device(t, "7002")
    sedge.ctl_ok("ringgroup", "add", t, "7050", "--name", "Island", "--member", "7002")
    sedge.wait_synced()
    member = sipp.SippServer(SCEN / "member.xml", local_ip="127.0.0.61", port=5060)
    try:
        sedge.ctl_ok("pool", "add", "sip:127.0.0.61:5060")
        with SipClient(sedge.sip, local_ip="127.0.0.98") as c:
            for dialled in ("7050", "7002"):
                ruri = f"sip:{dialled}@{sedge.target}"
                r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri))
                assert r is not None and r.code == 407
                wrong = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au,
                                      "not-the-password", header="Proxy-Authorization")
                r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri, [wrong]))
                assert r is not None and r.code == 407
        assert member.received_requests("INVITE") == []
        # the same INVITE with the right password does reach the member
        with SipClient(sedge.sip, local_ip="127.0.0.98") as c:
            ruri = f"sip:7050@{sedge.target}"
            r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri))
            ok = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au, pw,
                               header="Proxy-Authorization")
            c.send_raw(c.build("INVITE", ruri, f"sip:{au}@x", ruri, [ok]))
            wait_for(lambda: member.received_requests("INVITE"), timeout=5,
                     what="the authenticated ring-group call at the member")
    finally:
        member.stop()
        sedge.ctl("pool", "remove", "sip:127.0.0.61:5060", "--force")
