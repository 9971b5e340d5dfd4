"""edgecore.media: per-branch offers, what each reply of an anchored call
leads to, the SDP that replaces an answer rtpengine could not rewrite."""

from __future__ import annotations

import re

import pytest

from edgecore import media


def test_branch_flags_name_the_branch_only_when_asked():
    assert media.PER_BRANCH in media.sdp_flags(True, False, True, branch=True).split()
    assert media.PER_BRANCH in media.sdp_flags(False, False, False, offer=False,
                                               branch=True).split()
    assert not any(f.startswith("via-branch") for f in media.sdp_flags(True, False, True).split())


def test_delete_names_the_offerer():
    assert media.delete_flags("abc123") == "from-tag=abc123"


@pytest.mark.parametrize("code,branch,call,sdp,rewritten,action", [
    (200, True, True, True, True, media.PASS),       # the usual answer
    (183, True, True, True, True, media.PASS),
    (180, True, True, False, True, media.PASS),      # nothing to rewrite
    (200, False, True, True, True, media.RELEASE),   # a direct branch answered
    (180, False, True, False, True, media.PASS),     # ... only ringing: keep the session
    (200, False, False, True, True, media.PASS),     # nothing anchored at all
    (183, True, True, True, False, media.DROP),      # rtpengine down: no early media
    (200, True, True, True, False, media.REJECT),    # rtpengine down at the answer
    (200, True, False, True, False, media.REJECT),   # ... of a re-INVITE too
])
def test_answer_action(code, branch, call, sdp, rewritten, action):
    assert media.answer_action(code, branch, call, sdp, rewritten) == action


@pytest.mark.parametrize("branch,call,sdp,rewritten,action", [
    (True, True, True, True, media.PASS),        # another fork answered too: rewritten
    (True, True, True, False, media.LATE),       # ... its session gone: streams rejected
    (False, True, True, True, media.PASS),       # a direct fork: the call's session stays
    (True, False, True, False, media.LATE),      # a re-INVITE's retransmitted 200
    (True, True, False, True, media.PASS),
])
def test_late_2xx_never_releases_nor_ends_the_call(branch, call, sdp, rewritten, action):
    assert media.answer_action(200, branch, call, sdp, rewritten, late=True) == action
    assert media.answer_action(180, branch, call, sdp, rewritten, late=True) == \
        media.answer_action(180, branch, call, sdp, rewritten)


SDP = ("v=0\r\no=- 2 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
       "m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n"
       "m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")


def test_rejected_answer_keeps_every_stream_rejected_and_no_address():
    out = media.reject_answer(SDP, receiver_webrtc=False)
    assert re.findall(r"(?m)^m=.*$", out.replace("\r", "")) == [
        "m=audio 0 RTP/AVP 8 0 101", "m=video 0 RTP/AVP 96"]
    assert "198.51.100.7" not in out and "c=IN IP4 0.0.0.0" in out
    assert out.startswith("v=0\r\n") and out.endswith("\r\n")


def test_rejected_answer_to_a_browser_in_its_transport():
    out = media.reject_answer(SDP, receiver_webrtc=True)
    assert "m=audio 0 UDP/TLS/RTP/SAVPF 8 0 101" in out


def test_rejected_answer_of_a_body_without_streams():
    assert "m=audio 0 RTP/AVP 0" in media.reject_answer("", receiver_webrtc=False)


def test_bye_headers():
    h = media.bye_headers("<sip:a@x>;tag=1", "<sip:b@x>;tag=2", "c@x", 7)
    assert h.split("\r\n") == ["From: <sip:a@x>;tag=1", "To: <sip:b@x>;tag=2", "Call-ID: c@x",
                               "CSeq: 7 BYE", 'Reason: SIP;cause=503;text="Media Relay Down"', ""]
