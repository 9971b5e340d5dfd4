"""Step: request sanity (RFC 3261 16.3) -- hop count and well-formedness.

Max-Forwards exhausted gets 483; a request that fails the sanity module's
checks (missing mandatory headers, bad CSeq, Content-Length, URIs...) is
answered by the module itself with a precise 400-class reply.
"""

from __future__ import annotations

import KSR

from kemi.context import Request
from kemi.ksrconst import CONTINUE, MAX_FORWARDS, SANITY_MSG_CHECKS, SANITY_URI_CHECKS, STOP
from kemi.replies import send


def check(req: Request) -> int:
    if KSR.maxfwd.process_maxfwd(MAX_FORWARDS) < 0:
        if KSR.is_ACK():
            return STOP
        return send(483, "Too Many Hops")
    if KSR.sanity.sanity_check(SANITY_MSG_CHECKS, SANITY_URI_CHECKS) < 0:
        # the internet sends these all day: worth a line, not an error
        KSR.info("malformed request from %s:%s\n" % (KSR.kx.get_srcip(), KSR.kx.get_srcport()))
        return STOP       # the sanity module has replied
    return CONTINUE
