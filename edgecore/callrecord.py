"""What the caller of a call actually heard, for its CDR (pure).

The edge's CDR must carry the final code the caller received, not the one a
callee (or a pool member) sent: Kamailio's tm relays a 503 as 500 (RFC 3261
section 16.7 item 6: a proxy never forwards 503, as the caller would take the
proxy itself for unavailable; tm parameter ``remap_503_500``, on by default),
so a member's "503" reached the caller as "500".
"""

from __future__ import annotations

# tm remap_503_500 (default 1): the reason phrase tm sends with it
REMAPPED = {503: (500, "Server Internal Error")}


def relayed(code: int, reason: str) -> tuple[int, str]:
    """The final reply the caller gets when the edge relays ``code``."""
    return REMAPPED.get(code, (code, reason))
