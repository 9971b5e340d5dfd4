"""Final replies sent by the steps (statefully when a transaction exists)."""

from __future__ import annotations

import KSR

from kemi.ksrconst import STOP


def send(code: int, reason: str, *headers: str) -> int:
    for h in headers:
        KSR.hdr.append_to_reply(h + "\r\n")
    KSR.sl.send_reply(code, reason)
    return STOP


def unavailable(retry_after: int) -> int:
    """The read model cannot be consulted: 503 with Retry-After (RFC 3261
    21.5.4), never a guess about the caller."""
    return send(503, "Service Unavailable", f"Retry-After: {retry_after}")
