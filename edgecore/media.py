"""When and how a call's media goes through rtpengine.

Pure. Media is anchored when either side is behind NAT (its SDP names an
address the other side cannot reach) or is a browser (WebRTC: ICE, DTLS-SRTP,
RTP/SAVPF, rtcp-mux), which must be bridged to plain RTP/AVP for SIP phones
and the Asterisk pool. rtpengine is told, for each SDP it rewrites (offer or
answer, initial or in-dialog), what the *receiver* of that SDP needs; a NATed
*sender* is marked ``SIP-source-address`` so media first goes where its
signalling came from, until rtpengine learns the real RTP source. Flags are
those of the Kamailio rtpengine module (README.rtpengine 5.2).
"""

from __future__ import annotations

WEBRTC_PROTOCOL = "UDP/TLS/RTP/SAVPF"
PLAIN_PROTOCOL = "RTP/AVP"

BASE = ("replace-origin", "replace-session-connection")
TO_BROWSER = (f"transport-protocol={WEBRTC_PROTOCOL}", "ICE=force", "SDES-off",
              "rtcp-mux-require", "generate-mid")
# DTLS role towards a browser: in an offer to it, rtpengine is passive (the
# browser connects). In an answer to a browser's offer it keeps the role it
# took when the offer arrived -- it starts the handshake as soon as ICE is
# known, and switching role at answer time races with that handshake.
OFFER_TO_BROWSER = ("DTLS=passive",)
TO_PLAIN = (f"transport-protocol={PLAIN_PROTOCOL}", "ICE=remove", "DTLS=off",
            "rtcp-mux-demux")


def anchor(caller_nat: bool, callee_nat: bool, caller_webrtc: bool = False,
           callee_webrtc: bool = False) -> bool:
    return caller_nat or callee_nat or caller_webrtc or callee_webrtc


def sdp_flags(sender_nat: bool, sender_webrtc: bool, receiver_webrtc: bool,
              offer: bool = True) -> str:
    """Flags for an SDP (an offer, or an answer) travelling from sender to receiver."""
    flags = list(BASE) + list(TO_BROWSER if receiver_webrtc else TO_PLAIN)
    if receiver_webrtc and offer:
        flags += OFFER_TO_BROWSER
    if sender_nat and not sender_webrtc:      # browsers are found by ICE instead
        flags.append("SIP-source-address")
    return " ".join(flags)
