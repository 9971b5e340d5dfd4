"""Constants of the KEMI code.

Step results follow Kamailio's KEMI convention (misc/examples/kemi): a step
that has sent the final answer returns STOP (-255, "exit"), otherwise CONTINUE.
Message/branch flag numbers are defined once, in kamailio/defaults.cfg, and
read back here through ``$def(...)`` so Python never repeats a number.
"""

from __future__ import annotations

import KSR

CONTINUE = 1
STOP = -255


def _define(name: str) -> int:
    value = KSR.pv.get(f"$def({name})")
    if value is None:
        raise RuntimeError(f"kamailio define {name} missing (kamailio/defaults.cfg)")
    return int(str(value).strip('"'))


FLT_NATS = _define("FLT_NATS")            # request came from behind NAT
FLB_NATB = _define("FLB_NATB")            # branch/contact is behind NAT (usrloc nat_bflag)
FLB_NATSIPPING = _define("FLB_NATSIPPING")  # send OPTIONS keepalives to this contact
FLB_MEDIA = _define("FLB_MEDIA")          # this branch's media is anchored in rtpengine
FLB_WEBRTC = _define("FLB_WEBRTC")        # the contact is a browser (registered over WS)
FLT_DELIVERED = _define("FLT_DELIVERED")  # relayed for a peer to a device this node owns
FLT_CALL = _define("FLT_CALL")            # an INVITE kemi.calls records (CDR, counters)

# RFC 3261 8.1.1.6 recommends 70; the edge refuses beyond this many hops left
MAX_FORWARDS = 10
# sanity module checks (README.sanity 3.1): ruri version/scheme, required
# headers, CSeq method/value, Content-Length, Expires, Proxy-Require,
# URI parsing, duplicated tags -- as in Kamailio's default config
SANITY_MSG_CHECKS = 17895
SANITY_URI_CHECKS = 7            # R-URI, From, To
# nathelper nat_uac_test: 1 Contact in RFC1918, 2 Via received != source,
# 16 source port != Via port, 64 came over a WebSocket (its Contact/Via name
# no reachable address)
NAT_TESTS = 83
# auth module flags (README.auth 4.3 / 4.6)
AUTH_QOP = 1                      # challenge with qop=auth
AUTH_STALE = 16                   # challenge with stale=true
AUTH_HA1 = 1                      # pv_auth_check: the password argument is HA1
AUTH_NONCE_EXPIRED = -4           # pv_auth_check return code
LOCATION = "location"             # usrloc table (registered natively in kamailio.cfg)
# dispatcher (README.dispatcher): the media pool's destination set, the
# relative-weight algorithm (11, attribute rweight), and the source-match
# mode "ignore port and protocol"
POOL_SET = 1
POOL_ALG_WEIGHT = 11
POOL_MATCH_IP = 1 | 2
# Record-Route parameter marking a dialog whose media rtpengine anchors, so
# in-dialog requests (re-INVITE, UPDATE, BYE) keep driving rtpengine
RR_MEDIA = "ma=1"
# ... and which ends of the dialog are browsers (caller: wa, callee: wb)
RR_WEBRTC_CALLER = "wa=1"
RR_WEBRTC_CALLEE = "wb=1"
