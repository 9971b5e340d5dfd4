"""Malformed and unroutable requests get a clean final reply (or are dropped),
and never cost a worker."""

from __future__ import annotations

import socket

import pytest

from testkit.edge import Edge
from testkit.sipmsg import SipClient


def test_max_forwards_zero_is_483(edge: Edge):
    with SipClient(edge.sip) as c:
        r = c.request(c.build("OPTIONS", "sip:7001@" + edge.target, "sip:a@x", "sip:b@x",
                              max_forwards=0))
    assert r is not None and r.code == 483


def test_options_to_edge_is_200(edge: Edge):
    with SipClient(edge.sip) as c:
        r = c.request(c.build("OPTIONS", f"sip:{edge.target}", "sip:a@x", "sip:a@x"))
    assert r is not None and r.code == 200 and "REGISTER" in (r.header("allow") or "")


def test_options_over_tcp(edge: Edge):
    with SipClient(edge.sip, tcp=True) as c:
        r = c.request(c.build("OPTIONS", f"sip:{edge.target}", "sip:a@x", "sip:a@x"))
    assert r is not None and r.code == 200


@pytest.mark.parametrize("method,code", [("SUBSCRIBE", 489), ("PUBLISH", 489),
                                         ("MESSAGE", 405), ("FOO", 501)])
def test_methods_not_routed(edge: Edge, method: str, code: int):
    with SipClient(edge.sip) as c:
        r = c.request(c.build(method, "sip:7001@" + edge.target, "sip:a@x", "sip:b@x",
                              extra=["Event: presence"] if method in ("SUBSCRIBE", "PUBLISH")
                              else None))
    assert r is not None and r.code == code


def _strip(msg: str, header: str) -> str:
    return "\r\n".join(l for l in msg.split("\r\n") if not l.lower().startswith(header.lower()))


def test_missing_from_cannot_be_answered_and_is_dropped(edge: Edge):
    """A reply copies From (RFC 3261 8.2.6.2): without it there is nothing to
    answer, so the request is dropped; the edge keeps serving."""
    with SipClient(edge.sip) as c:
        msg = c.build("OPTIONS", "sip:7001@" + edge.target, "sip:a@x", "sip:b@x")
        assert c.request(_strip(msg, "From:"), timeout=1.0) is None
        r = c.request(c.build("OPTIONS", f"sip:{edge.target}", "sip:a@x", "sip:a@x"))
    assert r is not None and r.code == 200


def test_malformed_to_uri_is_400(edge: Edge):
    with SipClient(edge.sip) as c:
        msg = c.build("OPTIONS", "sip:7001@" + edge.target, "sip:a@x", "sip:b@x")
        r = c.request(msg.replace("To: <sip:b@x>", "To: <sip:@@:x:y:z>"))
    assert r is not None and r.code == 400


def test_bad_cseq_is_400(edge: Edge):
    with SipClient(edge.sip) as c:
        msg = c.build("OPTIONS", "sip:7001@" + edge.target, "sip:a@x", "sip:b@x")
        r = c.request(msg.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"))
    assert r is not None and r.code == 400


def test_garbage_is_dropped_and_edge_keeps_serving(edge: Edge):
    pids = edge.kamailio_pids()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"\x00\xff" * 300, b"INVITE\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n", b"",
                 b"REGISTER sip:x SIP/2.0\r\nVia: broken\r\n\r\n"):
        s.sendto(junk, edge.sip)
    s.close()
    with SipClient(edge.sip) as c:
        r = c.request(c.build("OPTIONS", f"sip:{edge.target}", "sip:a@x", "sip:a@x"))
    assert r is not None and r.code == 200
    assert edge.kamailio_pids() == pids
