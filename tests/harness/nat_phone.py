"""A SIP phone behind NAT, by hand (tests/integration/test_webrtc.py): a
challenged INVITE with a private Contact and SDP answered, its ACKs, the
requests it waits for and its replies to them."""

from __future__ import annotations

import os
import re
import time
from typing import Any

from testkit.edge import Edge
from testkit.sipmsg import SipClient, authorization

# what a desk phone behind NAT puts in its Contact and SDP (RFC 1918)
PRIVATE = "192.168.1.10"
OFFER = ("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
         "m=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")


def answered_invite(c: SipClient, user: str, pw: str, dialled: str, e: Edge,
                    before_answer: Any = None) -> Any:
    """INVITE (challenged, then with credentials) from a phone behind NAT
    (private Contact and SDP); the 200. `before_answer` runs once it rings."""
    ruri, me = f"sip:{dialled}@{e.target}", f"sip:{user}@{e.target}"
    contact = f"<sip:{user}@{PRIVATE}:{c.local[1]}>"
    hdrs = ["Content-Type: application/sdp"]
    body = OFFER.format(ip=PRIVATE)
    first = c.build("INVITE", ruri, me, ruri, hdrs, body=body, contact=contact)
    challenge = c.request(first)
    assert challenge is not None and challenge.code == 407, challenge
    c.send_raw(ack_for_challenge(first))
    auth = authorization(challenge.header("proxy-authenticate") or "", "INVITE", ruri, user, pw,
                         header="Proxy-Authorization")
    c.send_raw(c.build("INVITE", ruri, me, ruri, hdrs + [auth], body=body, contact=contact))
    while True:
        r = c.recv(timeout=20)
        assert r is not None, "no answer"
        if r.code == 180 and before_answer is not None:
            before_answer()
            before_answer = None
        if r.code >= 200:
            assert r.code == 200, r.raw
            return r


def ack_for_challenge(invite: str) -> str:
    head = invite.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [ln for ln in head[1:] if ln.split(":", 1)[0] in ("Via", "From", "To", "Call-ID")]
    cseq = next(ln for ln in head if ln.startswith("CSeq:")).split()[1]
    return "\r\n".join([f"ACK {head[0].split()[1]} SIP/2.0", *keep, f"CSeq: {cseq} ACK",
                         "Max-Forwards: 70", "Content-Length: 0"]) + "\r\n\r\n"


def ack_2xx(c: SipClient, ok: Any) -> str:
    """The ACK of a 2xx (RFC 3261 13.2.2.4): to its Contact, by its route set."""
    target = re.search(r"<([^>]+)>", ok.header("contact") or "")
    assert target, ok.raw
    routes = ok.headers.get("record-route", [])
    host, port = c.local
    return "\r\n".join([
        f"ACK {target.group(1)} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{os.urandom(6).hex()};rport",
        *(f"Route: {r}" for r in reversed(routes)),
        f"From: {ok.header('from')}", f"To: {ok.header('to')}",
        f"Call-ID: {ok.header('call-id')}",
        f"CSeq: {(ok.header('cseq') or '1').split()[0]} ACK",
        "Max-Forwards: 70", "Content-Length: 0"]) + "\r\n\r\n"


def wait_request(c: SipClient, method: str, timeout: float) -> str:
    """The next request `method` the phone receives (replies are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = c.sock.recv(65535).decode(errors="replace")
        except OSError:
            continue
        if data.startswith(method + " "):
            return data
    raise AssertionError(f"no {method} at the phone within {timeout}s")


def reply_to(request: str, code: int, reason: str) -> str:
    head = request.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [ln for ln in head[1:] if ln.split(":", 1)[0].lower() in
            ("via", "from", "to", "call-id", "cseq")]
    return "\r\n".join([f"SIP/2.0 {code} {reason}", *keep, "Content-Length: 0"]) + "\r\n\r\n"
