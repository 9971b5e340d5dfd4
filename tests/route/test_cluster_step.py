"""kemi.cluster.deliver: a peer node's call for a device this node holds is
relayed over the device's own connection, tracked as a dialog (its
in-dialog requests are validated here) that writes no CDR -- the caller's
node has the call's CDR."""

from __future__ import annotations

from kemi import calls, cluster
from kemi.context import Request
from kemi.ksrconst import FLT_DELIVERED, STOP


def _from_peer(ksr, method: str) -> Request:
    ksr.message(method)
    ksr.results["siputils.has_totag"] = -1          # an initial request
    ksr.results["isdsturiset"] = True               # the Path's `received`
    req = Request()
    req.from_peer = True
    return req


def test_a_delivered_call_has_a_dialog_without_a_cdr(ksr):
    req = _from_peer(ksr, "INVITE")
    assert cluster.deliver(req) == STOP
    assert ksr.called("dialog.dlg_manage")
    assert (calls.V_NO_CDR, "1") in ksr.called("dialog.var_sets")
    assert FLT_DELIVERED in ksr.flags and ksr.called("rr.record_route")
    assert ksr.called("tm.t_relay")
    # the CDR fields are the caller's node's: none is filled here
    assert {a[0] for a in ksr.called("dialog.var_sets")} == {calls.V_NO_CDR}


def test_a_delivered_keepalive_opens_no_dialog(ksr):
    req = _from_peer(ksr, "OPTIONS")
    assert cluster.deliver(req) == STOP
    assert not ksr.called("dialog.dlg_manage") and not ksr.called("dialog.var_sets")
    assert ksr.called("tm.t_relay")


def test_a_device_is_never_delivered_as_a_peer(ksr):
    req = _from_peer(ksr, "INVITE")
    req.from_peer = False
    cluster.deliver(req)
    assert not ksr.called("tm.t_relay") and not ksr.called("dialog.var_sets")
