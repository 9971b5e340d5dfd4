"""Failure route of a relayed INVITE: no branch answered. A pool call whose
member failed is retried on the next member; otherwise the callee's own final
reply (486 busy, 480/408 no answer, 603...) is passed back by tm as it is,
and the anchored media session is released."""

from __future__ import annotations

import KSR

from edgecore import callrecord
from kemi import calls, context, media, pool


def on_failure() -> None:
    if calls.in_call():
        # as the caller will hear it (a relayed 503 is sent as 500)
        calls.final(*callrecord.relayed(int(KSR.pv.get("$T_reply_code") or 0),
                                        context.pv_str("$T_reply_reason")))
    if pool.failover():
        return
    media.release_on_failure()
