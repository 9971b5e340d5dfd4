"""A number registered from two devices, both answering: the proxy relays
every 2xx (RFC 3261 16.7 step 5), so the caller may get a second 200 -- the
other fork answered before its CANCEL arrived. That second answer must never
touch the call the first one established: not its media session in
rtpengine, not its end, not its CDR; and its own SDP still never reaches the
caller unrewritten.

(The edge's dialog module knows the dialog of the first 2xx only: requests
inside the second fork's dialog are refused with 481 like any dialog the
edge did not set up; that device ends it by itself, RFC 3261 13.3.1.4.)

The devices and the caller are raw UDP endpoints (tests/harness): the test
decides when each fork answers, which SIPp cannot.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from edgectl import rtpengine
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient, authorization
from harness.ua import SDP, reply_to
from harness.calls import Legacy, unregister_all

CALLER_PRIVATE = "192.168.50.30"          # a NATed caller: Contact and SDP private
DEVICE_PRIVATE = "192.168.50.31"          # a NATed device's Contact
FORK_PORTS = (40002, 40004)               # each device's RTP port in its answer


class Endpoint:
    """A UDP socket that keeps every SIP message it received."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.got: list[str] = []

    def _receive(self, seconds: float) -> bool:
        """Keep the next message arriving within ``seconds``; False if none."""
        self.sock.settimeout(max(seconds, 0.001))
        try:
            data, _ = self.sock.recvfrom(65535)
        except (socket.timeout, TimeoutError):
            return False
        self.got.append(data.decode(errors="replace"))
        return True

    def wait(self, start: str, timeout: float = 5.0) -> str:
        """The first message received that starts with ``start`` (and was
        not taken before)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.got):
                if m.startswith(start):
                    return self.got.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {start!r} at port {self.port}; got "
                                     f"{[m.splitlines()[0] for m in self.got]}")
            self._receive(left)

    def drain(self, seconds: float) -> list[str]:
        """Everything that arrives within ``seconds`` (and what came before)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and self._receive(left):
            pass
        return self.got

    def send(self, msg: str, to: tuple[str, int]) -> None:
        self.sock.sendto(msg.encode(), to)

    def close(self) -> None:
        self.sock.close()


class Device(Endpoint):
    def register(self, edge: Edge, au: str, pw: str, nat: bool = False) -> None:
        """REGISTER from this socket; ``nat``: its Contact names a private
        address (the edge then reaches it at the source, media anchored)."""
        c = SipClient(edge.sip)
        c.sock.close()
        c.sock, c.local = self.sock, self.sock.getsockname()
        _, r = c.register(au, pw, contact_host=DEVICE_PRIVATE if nat else None)
        assert r is not None and r.code == 200, r

    def answer(self, invite: str, rtp_port: int, edge: tuple[str, int]) -> None:
        self.send(reply_to(invite, 200, "OK", [
            f"Contact: <sip:dev@127.0.0.1:{self.port}>", "Content-Type: application/sdp"],
            SDP.format(ip="127.0.0.1", port=rtp_port)), edge)

    def take_request(self, method: str, edge: tuple[str, int], timeout: float = 5.0) -> str:
        req = self.wait(method + " ", timeout)
        if method not in ("ACK",):
            self.send(reply_to(req, 200, "OK"), edge)
        return req


def _hdrs(msg: str, name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"(?im)^{name}\s*:(.*)$", msg)]


def _sdp_port(msg: str) -> int:
    m = re.search(r"(?m)^m=audio (\d+)", msg)
    assert m, msg
    return int(m.group(1))


class Caller:
    """A NATed caller on a raw socket: INVITE with proxy digest, and the ACK
    and BYE of each dialog a 200 opened (by its route set, RFC 3261 12.1.2)."""

    def __init__(self, edge: Edge, au: str, pw: str, nat: bool) -> None:
        self.edge, self.au, self.pw = edge, au, pw
        self.c = SipClient(edge.sip)
        self.ep = Endpoint()
        self.c.sock.close()
        self.c.sock, self.c.local = self.ep.sock, self.ep.sock.getsockname()
        host = edge.sip[0]
        self.aor = f"sip:{au}@{host}"
        ip = CALLER_PRIVATE if nat else "127.0.0.1"
        self.sdp = SDP.format(ip=ip, port=30000)
        self.contact = f"<sip:{au}@{ip}:{self.ep.port}>"

    def invite(self, dialled: str) -> None:
        host = self.edge.sip[0]
        ruri = f"sip:{dialled}@{host}"
        hdrs = ["Content-Type: application/sdp"]
        first = self.c.build("INVITE", ruri, self.aor, ruri, hdrs, self.sdp, contact=self.contact)
        self.ep.send(first, self.edge.sip)
        challenge = self.ep.wait("SIP/2.0 407")
        to = _hdrs(challenge, "To")[0]
        via = _hdrs(first, "Via")[0]
        ack = (f"ACK {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
               f"From: <{self.aor}>;tag={self.c.tag}\r\nTo: {to}\r\n"
               f"Call-ID: {self.c.call_id}\r\nCSeq: {self.c.cseq} ACK\r\nContent-Length: 0\r\n\r\n")
        self.ep.send(ack, self.edge.sip)
        auth = authorization(_hdrs(challenge, "Proxy-Authenticate")[0], "INVITE", ruri,
                             self.au, self.pw, header="Proxy-Authorization")
        self.invite_cseq = self.c.cseq + 1
        self.ep.send(self.c.build("INVITE", ruri, self.aor, ruri, hdrs + [auth], self.sdp,
                                  contact=self.contact), self.edge.sip)

    def in_dialog(self, method: str, ok: str, cseq: int) -> None:
        """ACK/BYE inside the dialog the 200 ``ok`` opened."""
        target = re.search(r"<([^>]+)>", _hdrs(ok, "Contact")[0]).group(1)
        routes = [f"Route: {r}" for r in reversed(_hdrs(ok, "Record-Route"))]
        to = _hdrs(ok, "To")[0]
        tag = to.split(";tag=", 1)[1].split(";")[0]
        self.ep.send(self.c.build(method, target, self.aor, to.split("<", 1)[1].split(">")[0],
                                  routes, cseq=cseq, to_tag=tag), self.edge.sip)

    def close(self) -> None:
        self.ep.close()


def _sessions(edge: Edge) -> set[str]:
    r = rtpengine.command(edge.cfg.rtpengine.ng_host, edge.cfg.rtpengine.ng_port,
                          {"command": "list"})
    return set(r.get("calls", []))


@contextmanager
def forked_call(legacy: Legacy, callee: str, caller: str, caller_nat: bool,
                first_nat: bool) -> Iterator[tuple[Edge, str, Device, Device, Caller]]:
    """Two devices registered for ``callee`` (the first NATed or not, the
    second direct), and a caller (NATed or not); all gone afterwards."""
    edge = legacy.edge
    _, ext, cau, cpw = legacy.device(callee)
    _, _, au, pw = legacy.device(caller)
    first, second = Device(), Device()
    caller_ep = Caller(edge, au, pw, caller_nat)
    try:
        first.register(edge, cau, cpw, nat=first_nat)
        second.register(edge, cau, cpw)
        yield edge, ext, first, second, caller_ep
    finally:
        unregister_all(edge, cau, cpw)
        for ep in (caller_ep, first, second):
            ep.close()


def test_second_fork_answering_during_the_call_leaves_it_alone(legacy: Legacy):
    """The NATed device answers (media anchored), then the direct one as
    the edge cancels it: the caller gets its 200 as it is (that fork needs no
    relay), and the first call keeps its media session until its own BYE --
    a direct fork's 200 releases the session only when it is the answer."""
    with forked_call(legacy, "D:7003", "D:7002", caller_nat=False,
                     first_nat=True) as (edge, ext, first, second, caller):
        caller.invite(ext)
        inv1, inv2 = first.wait("INVITE "), second.wait("INVITE ")
        first.send(reply_to(inv1, 180, "Ringing"), edge.sip)
        second.send(reply_to(inv2, 180, "Ringing"), edge.sip)
        first.answer(inv1, FORK_PORTS[0], edge.sip)
        ok1 = caller.ep.wait("SIP/2.0 200")
        assert _sdp_port(ok1) not in FORK_PORTS                 # anchored
        caller.in_dialog("ACK", ok1, caller.invite_cseq)
        first.take_request("ACK", edge.sip)
        sessions = wait_for(lambda: _sessions(edge) & {caller.c.call_id},
                            what="the call's rtpengine session")
        # the other device answers as the edge cancels it (their messages cross)
        second.wait("CANCEL ")
        second.answer(inv2, FORK_PORTS[1], edge.sip)
        ok2 = caller.ep.wait("SIP/2.0 200")
        assert _hdrs(ok2, "To") != _hdrs(ok1, "To")
        assert _sdp_port(ok2) == FORK_PORTS[1]                  # direct: not anchored
        caller.in_dialog("ACK", ok2, caller.invite_cseq)
        # the first call is untouched: its session is there, nobody was sent a BYE
        assert _sessions(edge) & sessions == sessions
        assert not [m for m in first.drain(0.5) if m.startswith("BYE ")]
        assert not [m for m in caller.ep.drain(0) if m.startswith("BYE ")]
        caller.in_dialog("BYE", ok1, caller.invite_cseq + 1)
        first.take_request("BYE", edge.sip)
        caller.ep.wait("SIP/2.0 200")
        wait_for(lambda: not _sessions(edge) & sessions, what="session deleted")
        [cdr] = edge.cdrs(call_id=caller.c.call_id, expect=1)
        assert (cdr["final_code"], cdr["media"]) == (200, "rtpengine")


def test_second_fork_answering_after_the_hangup_is_not_a_media_failure(legacy: Legacy):
    """The other device's 200 arrives after the caller hung up (the session
    is gone, rtpengine cannot rewrite it): that 200 goes with its streams
    rejected, and the call stays what it was -- answered, ended by the
    caller, its CDR 200 -- not a relay failure ending anyone with a 503."""
    with forked_call(legacy, "D:7003", "D:7001", caller_nat=True,
                     first_nat=False) as (edge, ext, first, second, caller):
        caller.invite(ext)
        inv1, inv2 = first.wait("INVITE "), second.wait("INVITE ")
        second.send(reply_to(inv2, 180, "Ringing"), edge.sip)
        first.answer(inv1, FORK_PORTS[0], edge.sip)
        ok1 = caller.ep.wait("SIP/2.0 200")
        caller.in_dialog("ACK", ok1, caller.invite_cseq)
        caller.in_dialog("BYE", ok1, caller.invite_cseq + 1)
        first.take_request("BYE", edge.sip)
        caller.ep.wait("SIP/2.0 200")
        wait_for(lambda: caller.c.call_id not in _sessions(edge), what="session deleted")
        second.wait("CANCEL ")
        second.answer(inv2, FORK_PORTS[1], edge.sip)
        ok2 = caller.ep.wait("SIP/2.0 200")
        assert re.search(r"(?m)^m=audio 0 ", ok2), ok2          # every stream rejected
        assert str(FORK_PORTS[1]) not in ok2
        caller.in_dialog("ACK", ok2, caller.invite_cseq)
        # its ACK ends nothing: no BYE (Reason 503) to anyone
        assert not [m for m in caller.ep.drain(1.5) if m.startswith("BYE ")]
        assert not [m for m in second.drain(0) if m.startswith("BYE ")]
        [cdr] = edge.cdrs(call_id=caller.c.call_id, expect=1)
        assert (cdr["final_code"], cdr["final_reason"]) == (200, "OK")
        assert cdr["answer_at"] is not None


RACE_ROUNDS = 20          # calls: the crossing is a matter of microseconds


def test_a_fork_ringing_as_the_other_answers_is_cancelled(legacy: Legacy):
    """A device's first provisional reply reaches the edge while it is still
    relaying the other fork's 200 (here: the direct device answers and the
    NATed one's 180 is sent in the same instant; in life, a browser whose 180
    crosses a desk phone's answer). The ringing device must still get
    its CANCEL -- it never sends another provisional, so a CANCEL missed here
    would leave it ringing after the call was answered elsewhere."""
    _, _, au, pw = legacy.device("D:7002")
    missed = []
    with forked_call(legacy, "D:7003", "D:7001", caller_nat=False,
                     first_nat=True) as (edge, ext, first, second, _):
        for n in range(RACE_ROUNDS):
            caller = Caller(edge, au, pw, nat=False)
            try:
                caller.invite(ext)
                inv1, inv2 = first.wait("INVITE "), second.wait("INVITE ")
                second.answer(inv2, FORK_PORTS[1], edge.sip)
                first.send(reply_to(inv1, 180, "Ringing"), edge.sip)
                ok = caller.ep.wait("SIP/2.0 200")
                caller.in_dialog("ACK", ok, caller.invite_cseq)
                second.take_request("ACK", edge.sip)
                try:
                    cancel = first.wait("CANCEL ", timeout=2)
                    first.send(reply_to(cancel, 200, "OK"), edge.sip)
                except AssertionError:
                    missed.append(n)
                first.send(reply_to(inv1, 487, "Request Terminated"), edge.sip)
                first.wait("ACK ")
                caller.in_dialog("BYE", ok, caller.invite_cseq + 1)
                second.take_request("BYE", edge.sip)
                caller.ep.wait("SIP/2.0 200")
            finally:
                caller.close()
    assert not missed, f"no CANCEL for the ringing fork in calls {missed} of {RACE_ROUNDS}"
