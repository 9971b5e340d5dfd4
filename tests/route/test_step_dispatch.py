"""The request route by method (kemi/edge.py ONLY_FOR / NOT_FOR): a request
of a dispatched method runs REQUEST_STEPS without the steps that never act
on it. Each step left out is run here against that method -- initial and
in-dialog -- and must pass the request on having done nothing: no reply, no
flag, no write, no forwarding. So a chain can only ever be shorter, never
different."""

from __future__ import annotations

import pytest

from kemi import edge
from kemi.context import Request
from kemi.ksrconst import CONTINUE

import fakes

# KSR calls that only read the request (and is_INVITE(), is_ACK() ...)
READS = {"kx.get_method", "pv.get", "pv.is_null", "siputils.has_totag", "is_myself_ruri",
         "hdr.is_present"}

LEFT_OUT = [(method, step) for method in edge.DISPATCHED
            for step in edge.REQUEST_STEPS
            if step not in edge.chains(edge.REQUEST_STEPS, edge.STEP_NAMES)[method][0]]


def test_register_and_invite_skip_what_never_acts_on_them():
    by = edge.chains(edge.REQUEST_STEPS, edge.STEP_NAMES)
    names = {m: set(by[m][1]) for m in by}
    assert {"registrar.register", "auth.authenticate", "indialog.within",
            "security.screen"} <= names["REGISTER"]
    assert not {"keepalive.options", "indialog.cancel", "cluster.dmq", "tenant.resolve",
                "relay.to_device", "methods.refuse_unsupported"} & names["REGISTER"]
    assert {"tenant.resolve", "policy.enforce", "relay.to_device", "indialog.within",
            "cluster.deliver", "auth.authenticate"} <= names["INVITE"]
    assert "registrar.register" not in names["INVITE"]
    assert "methods.refuse_unsupported" in names["BYE"]
    for m, (steps, nms) in by.items():      # the flat list's order, its names
        assert list(steps) == [s for s in edge.REQUEST_STEPS if s in steps]
        assert nms == tuple(edge.STEP_NAMES[edge.REQUEST_STEPS.index(s)] for s in steps)


@pytest.mark.parametrize("method,step", LEFT_OUT,
                         ids=[f"{m}-{s.__module__.rsplit('.', 1)[-1]}.{s.__name__}"
                              for m, s in LEFT_OUT])
@pytest.mark.parametrize("totag", [-1, 1], ids=["initial", "in-dialog"])
def test_a_step_left_out_does_nothing_for_that_method(ksr, method, step, totag):
    fakes.use(fakes.FakeWorker())
    ksr.message(method, rU="7001", tU="7001")
    ksr.results["siputils.has_totag"] = totag
    ksr.results["hdr.is_present"] = 1
    for from_peer in (False, True):
        ksr.calls.clear()
        req = Request(from_peer=from_peer)
        assert step(req) == CONTINUE
        assert all(n in READS or n.startswith("is_") for n, _ in ksr.calls), ksr.calls
        assert not ksr.flags and not ksr.bflags and req == Request(from_peer=from_peer)


def test_other_methods_run_every_step(ksr):
    assert edge._chain("SUBSCRIBE") == (edge.REQUEST_STEPS, edge.STEP_NAMES)
    assert edge._chain(None) == (edge.REQUEST_STEPS, edge.STEP_NAMES)
