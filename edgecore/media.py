"""When and how a call's media goes through rtpengine.

Pure. Media is anchored when either side is behind NAT (its SDP names an
address the other side cannot reach) or is a browser (WebRTC: ICE, DTLS-SRTP,
RTP/SAVPF, rtcp-mux), which must be bridged to plain RTP/AVP for SIP phones
and the Asterisk pool. rtpengine is told, for each SDP it rewrites (offer or
answer, initial or in-dialog), what the *receiver* of that SDP needs; a NATed
*sender* is marked ``SIP-source-address`` so media first goes where its
signalling came from, until rtpengine learns the real RTP source. Flags are
those of the Kamailio rtpengine module (README.rtpengine 5.8, the flags of
rtpengine_manage/rtpengine_offer).

Forking: an INVITE to a number registered from several devices (a browser
and a desk phone) has one branch per contact, each with its own flags. The
initial offer of each branch and the answers in that branch's replies carry
``via-branch=extra`` (the module's extra_id_pv, ``$T_branch_idx`` in
kamailio/features/rtpengine.cfg), so rtpengine keeps one callee monologue
per branch instead of the last branch's offer overwriting the others under
the one Call-ID. In-dialog offers need no branch: the tags name the dialog.

What the edge does with each reply of an anchored call (``answer_action``)
is decided here too, so that no reply ever gives the caller an SDP rtpengine
did not rewrite (which would be one-way or no audio).
"""

from __future__ import annotations

import re
from functools import lru_cache

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
# README.rtpengine 5.8 "via-branch=extra": the branch id is the value of the
# module's extra_id_pv (4.8), the tm branch index of the branch route or reply
PER_BRANCH = "via-branch=extra"

# what the reply route does with a reply (answer_action)
PASS = "pass"          # relay it as it is (rewritten by rtpengine, or not anchored)
RELEASE = "release"    # a 2xx from a branch rtpengine does not anchor while another
                       # branch was anchored: the call's rtpengine session is unused
DROP = "drop"          # a 1xx whose SDP rtpengine could not rewrite: not relayed
REJECT = "reject"      # a 2xx whose SDP rtpengine could not rewrite (see reject_answer)
LATE = "late"          # a 2xx after the transaction's first (a retransmission, or another
                       # fork answering too) rtpengine could not rewrite: its streams
                       # rejected, the established call left alone


def anchor(caller_nat: bool, callee_nat: bool, caller_webrtc: bool = False,
           callee_webrtc: bool = False) -> bool:
    return caller_nat or callee_nat or caller_webrtc or callee_webrtc


@lru_cache(maxsize=64)                  # a few dozen combinations of five flags
def sdp_flags(sender_nat: bool, sender_webrtc: bool, receiver_webrtc: bool,
              offer: bool = True, branch: bool = False) -> str:
    """Flags for an SDP (an offer, or an answer) travelling from sender to
    receiver; ``branch``: the initial offer/answer of one branch of a
    (possibly forked) INVITE."""
    flags = list(BASE) + list(TO_BROWSER if receiver_webrtc else TO_PLAIN)
    if receiver_webrtc and offer:
        flags += OFFER_TO_BROWSER
    if sender_nat and not sender_webrtc:      # browsers are found by ICE instead
        flags.append("SIP-source-address")
    if branch:
        flags.append(PER_BRANCH)
    return " ".join(flags)


def delete_flags(offerer_tag: str) -> str:
    """Flags of the delete that ends a call in rtpengine (BYE). rtpengine
    removes the whole call -- every branch's monologue -- when the deleted
    tag is the initial offerer's (the caller's From tag); deleting by the
    answerer's tag would leave the monologues of the branches that did not
    answer. A BYE from the callee carries the caller's tag as its To tag."""
    return f"from-tag={offerer_tag}"


def answer_action(code: int, branch_anchored: bool, call_anchored: bool, has_sdp: bool,
                  rewritten: bool = True, late: bool = False) -> str:
    """What the reply route does with a reply ``code`` (1xx/2xx) of a call:
    ``branch_anchored``: this reply's branch goes through rtpengine;
    ``call_anchored``: some branch of the initial INVITE does; ``rewritten``:
    rtpengine rewrote this reply's SDP (when it was asked to); ``late``: a
    2xx of this transaction was relayed already -- this one is its
    retransmission or the answer of another fork (RFC 3261 16.7 step 5: a
    proxy relays every 2xx). A late 2xx never releases nor ends the call
    the first one established; its SDP still never reaches the caller
    unrewritten (the caller ends that second dialog, RFC 3261 13.2.2.4)."""
    if late and code >= 200:
        return LATE if branch_anchored and has_sdp and not rewritten else PASS
    if not branch_anchored:
        return RELEASE if call_anchored and 200 <= code < 300 else PASS
    if not has_sdp or rewritten:
        return PASS
    return REJECT if code >= 200 else DROP


_M_LINE = re.compile(r"(?m)^m=(\S+) \d+(?:/\d+)? \S+ ([^\r\n]*)")


def reject_answer(sdp: str, receiver_webrtc: bool) -> str:
    """The SDP a 2xx carries instead of the callee's when rtpengine could not
    rewrite it: every stream rejected (port zero, RFC 3264 section 6), in the
    transport the caller offered, naming no address of the callee (the
    unspecified address 0.0.0.0), so the caller sends no media anywhere. The
    edge then ends the call on both sides (kemi.media)."""
    proto = WEBRTC_PROTOCOL if receiver_webrtc else PLAIN_PROTOCOL
    lines = ["v=0", "o=- 0 0 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0"]
    for m in _M_LINE.finditer(sdp):
        lines.append(f"m={m.group(1)} 0 {proto} {m.group(2).strip() or '0'}")
    if len(lines) == 5:                          # no stream: reject a single audio one
        lines.append(f"m=audio 0 {proto} 0")
    return "\r\n".join(lines) + "\r\n"


# RFC 3326 Reason of the BYEs that end a call whose answer could not be
# anchored (kemi.media); the caller's CDR says the same (503)
DOWN_CODE, DOWN_TEXT = 503, "Media Relay Down"
REASON_DOWN = f'Reason: SIP;cause={DOWN_CODE};text="{DOWN_TEXT}"'


def bye_headers(from_hdr: str, to_hdr: str, call_id: str, cseq: int) -> str:
    """Headers of a BYE the edge sends inside a dialog (tm t_uac_send adds
    Via, Max-Forwards, Content-Length): From/To as seen by the side it
    speaks for (tags included), the dialog's Call-ID, the next CSeq of that
    side (RFC 3261 15.1.1, 12.2.1.1)."""
    return (f"From: {from_hdr}\r\nTo: {to_hdr}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} BYE\r\n{REASON_DOWN}\r\n")
