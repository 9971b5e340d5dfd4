"""Final replies sent by the steps: statelessly (sl), except for a call
kemi.calls records, answered statefully (tm) so its dialog fails and acc
writes its CDR with this code."""

from __future__ import annotations

import KSR

from kemi import calls
from kemi.ksrconst import STOP


def send(code: int, reason: str, *headers: str) -> int:
    for h in headers:
        KSR.hdr.append_to_reply(h + "\r\n")
    if calls.in_call():
        calls.final(code, reason)
        if KSR.tm.t_newtran() > 0:      # the dialog is made with the transaction
            KSR.tm.t_reply(code, reason)
        else:
            KSR.sl.send_reply(code, reason)
    else:
        KSR.sl.send_reply(code, reason)
    return STOP


def unavailable(retry_after: int) -> int:
    """The read model cannot be consulted: 503 with Retry-After (RFC 3261
    21.5.4), never a guess about the caller."""
    return send(503, "Service Unavailable", f"Retry-After: {retry_after}")


def fault(code: int = 500, reason: str = "Server Internal Error") -> None:
    """The answer to a request whose routing raised: inside its transaction
    when one exists (a stateless reply beside it is "stateless error reply
    used" and leaves the transaction to end on its own timer), nothing when
    the transaction already has its final reply, otherwise as send() does.
    tm t_get_status_code: -1 without a transaction, else the code sent
    (0 before any)."""
    status = KSR.tm.t_get_status_code()
    if status >= 200:
        return
    if status >= 0:
        if calls.in_call():
            calls.final(code, reason)
        KSR.tm.t_reply(code, reason)
        return
    send(code, reason)
