"""Step and hooks: the record of every call the edge handles -- its CDR
(acc module, from the dialog variables set here) and its counters.

``open`` runs for each initial INVITE once the caller is known (an
authenticated device, or a media-pool member ringing a device back) and the
dialled number resolved: it creates the call's dialog and fills the dialog
variables acc writes as the CDR when the dialog ends, fails or times out
(kamailio/features/cdr.cfg). From then on the call's replies are stateful
(replies.send) so a call the edge refuses itself -- policy 403, 404, 480,
a call limit -- still fails its dialog and leaves a CDR. The final code is
noted where it is known: a 2xx in the reply route, a failure in the failure
route, a local refusal in replies.send; the dialog events count the outcome.

Cost: no round trip -- dialog variables live in Kamailio's shared memory,
counters in the node's shared ``edgemetrics`` htable (kemi/counters.py).
"""

from __future__ import annotations

import time

import KSR

from edgecore import metrics
from kemi import context, counters
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_CALL

# dialog variables: the CDR's fields (kamailio/features/cdr.cfg cdr_extra)
V_TENANT, V_CALLER, V_CALLEE, V_CTENANT = "tenant", "caller", "callee", "ctenant"
V_SETUP, V_ANSWER, V_END, V_CODE, V_REASON = "setup", "answer", "end", "code", "reason"
V_MEMBER, V_MEDIA, V_REC, V_NODE, V_KIND = "member", "media", "rec", "node", "kind"
# the Call-ID as a dialog variable too: a dialog the edge itself ends (dialog
# module BYE, timeout) gets its CDR written without a SIP message, when acc
# resolves only $dlg_var fields (acc "dlg_only" fallback), not $dlg(callid)
V_CALLID = "cid"
# the call as people see it (migration 0006): the resolved number, the
# caller as presented to the callee (edgecore/identity.py), the recording
# tenant's call connected unrecorded, the edge Call-ID of the call a pool
# member's leg belongs to (X-Edge-Call)
V_RESOLVED, V_CALLER_ID, V_CALLER_NAME = "resolved", "cid_num", "cid_name"
V_UNRECORDED, V_PARENT = "unrec", "parent"
# a dialog with this variable set gets no CDR (acc cdr_skip, features/cdr.cfg)
V_NO_CDR = "nocdr"

KIND_CALL, KIND_POOL_LEG = "call", "pool_leg"

# the dialog module's events (event_callback: one per state change) that have
# work here and in kemi.policy.release; kemi/edge.py ignores the others
DIALOG_ENDS = frozenset(("dialog:end", "dialog:failed"))

# dialog profile with value (kamailio/features/pool.cfg): calls per member
POOL_PROFILE = "pool"

MEDIA_DIRECT, MEDIA_RTP, MEDIA_WEBRTC = "direct", "rtpengine", "webrtc"


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def open(req: Request) -> int:  # noqa: A001 - the step's name in REQUEST_STEPS
    if not KSR.is_INVITE() or req.plan is None:
        return CONTINUE
    if req.from_pool:
        # a member ringing a device for a call already recorded: its own
        # CDR (kind pool_leg), not a second call in the counters
        res = req.plan.resolution
        tenant = res.tenant.id if res.tenant else metrics.UNKNOWN_TENANT
        caller, kind = context.pv_str("$fU"), KIND_POOL_LEG
    elif req.device is not None and req.tenant is not None:
        tenant, caller, kind = req.tenant.id, req.device.extension, KIND_CALL
    else:
        return CONTINUE
    KSR.dialog.dlg_manage()
    KSR.setflag(FLT_CALL)
    callee_tenant, target = req.plan.resolution.tenant, req.plan.resolution.target
    for name, value in ((V_CALLID, context.pv_str("$ci")),
                        (V_TENANT, tenant), (V_CALLER, caller), (V_CALLEE, req.dialled),
                        (V_CTENANT, callee_tenant.id if callee_tenant else ""),
                        (V_SETUP, _now_ms()), (V_MEDIA, MEDIA_DIRECT),
                        (V_NODE, context.worker().cfg.node.name), (V_KIND, kind),
                        (V_RESOLVED, target.number if target else "")):
        KSR.dialog.var_sets(name, value)
    if req.from_pool:
        KSR.dialog.var_sets(V_PARENT, context.pv_str("$hdr(X-Edge-Call)"))
    if kind == KIND_CALL:
        counters.inc("call_attempts", tenant)
    return CONTINUE


def delivered() -> None:
    """An initial INVITE a peer node hands this node for one of its devices:
    the call is recorded by the node the caller used (its CDR, its counters).
    Here the dialog only validates the call's in-dialog requests
    (indialog.within) and carries no CDR: acc skips it."""
    KSR.dialog.dlg_manage()
    KSR.dialog.var_sets(V_NO_CDR, "1")


def in_call() -> bool:
    """The request being answered is a call ``open`` recorded."""
    return KSR.isflagset(FLT_CALL)


def final(code: int, reason: str) -> None:
    """The caller's final reply is (so far) this one. Its time is the call's
    end unless it is answered (then the end is the dialog's)."""
    KSR.dialog.var_sets(V_END, _now_ms())
    KSR.dialog.var_sets(V_CODE, str(code))
    KSR.dialog.var_sets(V_REASON, reason)


def answered(code: int, reason: str) -> None:
    """Reply route: a 2xx from a callee (the first one is the answer time)."""
    if KSR.dialog.var_get(V_ANSWER) is None:
        KSR.dialog.var_sets(V_ANSWER, _now_ms())
    final(code, reason)


def media(path: str) -> None:
    """How the call's media flows; a WebRTC leg is never downgraded."""
    if KSR.dialog.var_get(V_MEDIA) != MEDIA_WEBRTC:
        KSR.dialog.var_sets(V_MEDIA, path)


def member(uri: str) -> None:
    """The media-pool member serving the call (the last one tried), also
    counted in the dialog profile ``pool`` (calls in progress per member)."""
    old = KSR.dialog.var_get(V_MEMBER)
    if old:
        KSR.dialog.unset_dlg_profile(POOL_PROFILE, str(old))
    KSR.dialog.var_sets(V_MEMBER, uri)
    KSR.dialog.set_dlg_profile(POOL_PROFILE, uri)


def recording(path: str) -> None:
    """The recording's whole file name (edgecore/pool.py record_file)."""
    KSR.dialog.var_sets(V_REC, path)


def unrecorded() -> None:
    """A recording tenant's call connected without a recording (no pool
    member up): flagged in the CDR."""
    KSR.dialog.var_sets(V_UNRECORDED, "1")


def presented(number: str, name: str) -> None:
    """The caller's identity as the callee was shown it."""
    if in_call():
        KSR.dialog.var_sets(V_CALLER_ID, number)
        KSR.dialog.var_sets(V_CALLER_NAME, name)


def denied(req: Request, rule: str) -> None:
    tenant = req.tenant.id if req.tenant else metrics.UNKNOWN_TENANT
    counters.inc("policy_denials", tenant, rule)


def on_dialog_event(evname: str) -> None:
    """dialog:end / dialog:failed: count the call's outcome by reply class."""
    if evname not in DIALOG_ENDS:
        return
    tenant = KSR.dialog.var_get(V_TENANT)
    if tenant is None or KSR.dialog.var_get(V_KIND) != KIND_CALL:
        return                  # not a call open() counted
    if evname == "dialog:end":
        cls = "2xx"
    else:
        code = KSR.dialog.var_get(V_CODE)
        cls = metrics.reply_class(int(code)) if code else "other"
    counters.inc("call_outcomes", str(tenant), cls)
