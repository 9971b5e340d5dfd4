"""When and how a call's media goes through rtpengine.

Pure. Media is anchored when either side is behind NAT (its SDP names an
address the other side cannot reach); the NATed side is told to rtpengine
with ``SIP-source-address`` so media goes to where its signalling really
came from until rtpengine learns the real RTP source (symmetric RTP).
Flags are rtpengine ng flags as the Kamailio rtpengine module passes them
(README.rtpengine 5.2).
"""

from __future__ import annotations

BASE = ("replace-origin", "replace-session-connection", "ICE=remove")


def anchor(caller_nat: bool, callee_nat: bool) -> bool:
    return caller_nat or callee_nat


def offer_flags(caller_nat: bool) -> str:
    """Flags of the offer (the INVITE's SDP, from the caller)."""
    return " ".join(BASE + (("SIP-source-address",) if caller_nat else ()))


def answer_flags(callee_nat: bool) -> str:
    """Flags of the answer (the reply's SDP, from the callee)."""
    return " ".join(BASE + (("SIP-source-address",) if callee_nat else ()))
