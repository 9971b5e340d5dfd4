"""kemi.relay: which transaction routes an INVITE arms (issue 19: a plain
call's branch runs no Python; every reply still runs the reply route, which
strips a device's asserted identity) -- against the KSR stub double."""

from __future__ import annotations

import pytest

from kemi import relay
from kemi.ksrconst import FLB_NATB, FLB_WEBRTC, FLT_NATS
from media_fixtures import ksr, worker  # noqa: F401 - the same KSR double and worker


def initial_invite(ksr):
    ksr.message("INVITE", ft="caller-tag", si="127.0.0.2", sp=5060, pr="udp",
                ct="<sip:1001@127.0.0.2:5060>")
    ksr.results["siputils.has_totag"] = -1
    return ksr


def armed(ksr) -> set[str]:
    return {n for n, _ in ksr.calls if n in ("tm.t_on_branch", "tm.t_on_reply", "tm.t_on_failure")}


def test_plain_call_arms_no_branch_route(ksr):
    initial_invite(ksr)
    relay.forward()
    assert armed(ksr) == {"tm.t_on_reply", "tm.t_on_failure"}
    assert ksr.called("tm.t_relay")


@pytest.mark.parametrize("mark", ["caller_nat", "callee_nat", "callee_web", "caller_web",
                                  "fork"])
def test_calls_whose_branches_may_be_anchored_get_the_branch_route(ksr, mark):
    initial_invite(ksr)
    if mark == "caller_nat":
        ksr.flags.add(FLT_NATS)
    elif mark == "callee_nat":
        ksr.bflags.add(FLB_NATB)
    elif mark == "callee_web":
        ksr.bflags.add(FLB_WEBRTC)
    elif mark == "caller_web":
        ksr.pv["$rm"] = "INVITE"
        ksr.results["is_WSX"] = True
    else:
        ksr.pv["$branch(count)"] = "1"          # a second registered contact
    relay.forward()
    assert armed(ksr) == {"tm.t_on_branch", "tm.t_on_reply", "tm.t_on_failure"}


@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_in_dialog_offers_keep_their_reply_route(ksr, method):
    ksr.message(method)
    ksr.results["siputils.has_totag"] = 1        # in-dialog
    relay.forward()
    assert "tm.t_on_reply" in armed(ksr)
    assert "tm.t_on_branch" not in armed(ksr)


def test_bye_arms_no_route(ksr):
    ksr.message("BYE")
    relay.forward()
    assert armed(ksr) == set()
