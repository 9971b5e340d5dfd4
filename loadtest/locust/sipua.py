"""SIP over UDP for the locust users: a device that registers with digest and
places calls (INVITE, 407, ACK, INVITE with credentials, 200, ACK, BYE), and
a device that answers them.

Built on the test kit's raw SIP client (testkit/sipmsg.py: message
building, reply parsing, RFC 2617 digest), with what a load test adds: UDP
retransmissions (RFC 3261 17.1, T1 = 500 ms), replies matched by CSeq, the
dialog's route set, and an answering side. Plain sockets: under locust,
gevent's monkey-patching makes every wait cooperative.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass, field

from testkit.sipmsg import Reply, SipClient, authorization

T1 = 0.5                        # RFC 3261 retransmission timer base (seconds)


class SipError(Exception):
    """A SIP exchange that did not end as a device expects."""


def sdp(addr: str, port: int, version: int = 1) -> str:
    return (f"v=0\r\no=- {version} {version} IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\n"
            f"t=0 0\r\nm=audio {port} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n"
            f"a=rtpmap:0 PCMU/8000\r\n")


def _cseq(text: str) -> tuple[int, str]:
    m = re.search(r"(?im)^CSeq:\s*(\d+)\s+(\w+)", text)
    return (int(m.group(1)), m.group(2)) if m else (0, "")


@dataclass
class Dialog:
    call_id: str
    remote_uri: str            # To of the INVITE
    target: str                # the callee's Contact: R-URI of requests in the dialog
    to_tag: str
    routes: list[str] = field(default_factory=list)     # Route headers, in order


class Device(SipClient):
    """One device on its own UDP socket."""

    def __init__(self, edge: tuple[str, int], auth_user: str, password: str,
                 local_ip: str = "127.0.0.1", timeout: float = 8.0):
        super().__init__(edge, local_ip, timeout=timeout)
        self.auth_user, self.password = auth_user, password
        self.timeout = timeout

    @property
    def contact(self) -> str:
        return f"<sip:{self.auth_user}@{self.local[0]}:{self.local[1]};transport=udp>"

    @property
    def uri(self) -> str:
        return f"sip:{self.auth_user}@{self.edge[0]}"

    def transact(self, msg: str, invite: bool = False) -> Reply:
        """Send a request and return its final reply, retransmitting with T1
        doubling (an INVITE only until a provisional reply arrives)."""
        want = _cseq(msg)
        deadline = time.monotonic() + self.timeout
        interval, provisional = T1, False
        self.send_raw(msg)
        resend = time.monotonic() + interval
        while True:
            now = time.monotonic()
            if now > deadline:
                raise SipError(f"{want[1]}: no final reply in {self.timeout:g}s")
            try:
                r = self.recv(max(0.01, (deadline if provisional else min(resend, deadline))
                                  - now))
            except ValueError:
                continue                 # a request (a call to a device leaving): not ours
            if r is None:
                if not provisional and time.monotonic() >= resend:
                    self.send_raw(msg)
                    interval = min(interval * 2, 4.0)
                    resend = time.monotonic() + interval
                continue
            if _cseq(r.raw) != want:
                continue                 # a late retransmission of an earlier reply
            if r.code >= 200:
                return r
            provisional = provisional or invite

    def register(self, expires: int = 600) -> Reply:  # type: ignore[override]
        """REGISTER, 401, REGISTER with credentials, 200."""
        ruri = f"sip:{self.edge[0]}:{self.edge[1]}"
        hdrs = [f"Expires: {expires}"]
        call_id = os.urandom(8).hex() + "@lt"
        r = self.transact(self.build("REGISTER", ruri, self.uri, self.uri, hdrs,
                                     contact=self.contact, call_id=call_id))
        if r.code == 401:
            auth = authorization(r.header("www-authenticate") or "", "REGISTER", ruri,
                                 self.auth_user, self.password)
            r = self.transact(self.build("REGISTER", ruri, self.uri, self.uri, hdrs + [auth],
                                         contact=self.contact, call_id=call_id))
        if r.code != 200:
            raise SipError(f"REGISTER: {r.code} {r.reason}")
        return r

    def invite(self, dialled: str) -> Dialog:
        """INVITE, 407, ACK, INVITE with credentials, until answered; ACK."""
        host, port = self.edge
        ruri, callee = f"sip:{dialled}@{host}:{port}", f"sip:{dialled}@{host}"
        call_id = os.urandom(8).hex() + "@lt"
        body, hdrs = sdp(self.local[0], 40000), ["Content-Type: application/sdp"]
        msg = self.build("INVITE", ruri, self.uri, callee, hdrs, body=body,
                         contact=self.contact, call_id=call_id)
        r = self.transact(msg, invite=True)
        if r.code == 407:
            self.ack_failure(msg, r)
            auth = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri,
                                 self.auth_user, self.password, header="Proxy-Authorization")
            msg = self.build("INVITE", ruri, self.uri, callee, hdrs + [auth], body=body,
                             contact=self.contact, call_id=call_id)
            r = self.transact(msg, invite=True)
        if r.code != 200:
            if r.code >= 300:
                self.ack_failure(msg, r)
            raise SipError(f"INVITE: {r.code} {r.reason}")
        target = re.search(r"<([^>]+)>", r.header("contact") or "")
        tag = re.search(r";tag=([^;>\s]+)", r.header("to") or "")
        if not target or not tag:
            raise SipError("INVITE: 200 without Contact or To tag")
        routes = [x.strip() for rr in reversed(r.headers.get("record-route", []))
                  for x in reversed(rr.split(","))]
        d = Dialog(call_id, callee, target.group(1), tag.group(1), routes)
        self.send_raw(self.in_dialog("ACK", d, _cseq(r.raw)[0]))
        return d

    def bye(self, d: Dialog) -> Reply:
        self.cseq += 1
        r = self.transact(self.in_dialog("BYE", d, self.cseq))
        if r.code != 200:
            raise SipError(f"BYE: {r.code} {r.reason}")
        return r

    def in_dialog(self, method: str, d: Dialog, cseq: int) -> str:
        return self.build(method, d.target, self.uri, d.remote_uri,
                          [f"Route: {r}" for r in d.routes], cseq=cseq, call_id=d.call_id,
                          to_tag=d.to_tag)

    def ack_failure(self, invite: str, r: Reply) -> None:
        """ACK of a non-2xx final reply: the INVITE's Via branch (17.1.1.3)."""
        keep = [h for h in invite.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
                if h.split(":", 1)[0].lower() in ("via", "from", "call-id")]
        self.send_raw("\r\n".join([f"ACK {invite.split(' ', 2)[1]} SIP/2.0", *keep,
                                   f"To: {r.header('to')}", f"CSeq: {_cseq(r.raw)[0]} ACK",
                                   "Max-Forwards: 70", "Content-Length: 0"]) + "\r\n\r\n")


ECHOED = ("via", "from", "to", "call-id", "cseq", "record-route")


class Answerer(Device):
    """A registered device that answers every call at once (180, then 200
    with SDP) and every BYE; :meth:`serve` runs until :meth:`close`."""

    def __init__(self, edge: tuple[str, int], auth_user: str, password: str,
                 local_ip: str = "127.0.0.1", timeout: float = 8.0):
        super().__init__(edge, auth_user, password, local_ip, timeout)
        self.answered = 0
        self.running = True

    def serve(self) -> None:
        self.sock.settimeout(0.5)
        while self.running:
            try:
                data, src = self.sock.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            text = data.decode(errors="replace")
            method = text.split(" ", 1)[0]
            if method == "INVITE":
                self.reply(text, src, "180 Ringing")
                self.reply(text, src, "200 OK", sdp(self.local[0], 40002, 2))
                self.answered += 1
            elif method in ("BYE", "OPTIONS", "CANCEL"):
                self.reply(text, src, "200 OK")

    def reply(self, req: str, src: tuple[str, int], status: str, body: str = "") -> None:
        head = req.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        lines = [f"SIP/2.0 {status}"]
        for h in head:
            name = h.split(":", 1)[0].strip().lower()
            if name == "to" and ";tag=" not in h:
                h += ";tag=" + _tag(head)       # the same for a retransmitted INVITE
            if name in ECHOED:
                lines.append(h)
        lines.append(f"Contact: {self.contact}")
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), src)

    def close(self) -> None:
        self.running = False
        super().close()


def _tag(head: list[str]) -> str:
    call_id = next((h.split(":", 1)[1].strip() for h in head
                    if h.split(":", 1)[0].strip().lower() == "call-id"), "")
    return hashlib.md5(call_id.encode()).hexdigest()[:10]
