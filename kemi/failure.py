"""Failure route of a relayed INVITE: no branch answered. The callee's own
final reply (486 busy, 480/408 no answer, 603...) is passed back by tm as it
is; here the anchored media session is released."""

from __future__ import annotations

from kemi import media


def on_failure() -> None:
    media.release_on_failure()
