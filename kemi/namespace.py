"""Which legacy namespace a request is addressed to (edgectl import, issue 14).

An imported chan_sip server is a namespace: its phones keep sending to the
server's old address (now routed to the edge) or DNS name, with their legacy
peer names and the server's digest realm. The namespace is the first of

* the local address the request arrived on (``$Ri``);
* the host of the request URI (``$rd``) -- a DNS name pointed at the edge;
* the host of the To URI (``$td``);

found in the read model's namespace table (``edge:ns``, written by the sync),
else the edge-wide namespace of the native devices (None). The table is
fetched once per read-model version by each worker (VersionedCache): no Redis
round trip per request.

Within a namespace the digest identity looked up is ``<ns>/<peer>``
(:func:`edgecore.readmodel.legacy_identity`); an auth username that itself
contains '/' is no identity at all, so no request can name another
namespace's identity directly.
"""

from __future__ import annotations

from edgecore import readmodel as rm
from edgecore.cache import Unavailable
from kemi import context

_SPECS = ("$Ri", "$rd", "$td")


def of_request(w: context.Worker, last_known: bool = False) -> rm.Namespace | None:
    """Raises Unavailable like every read-model lookup; with ``last_known``
    it never does: the table as this worker last fetched it (the realm of a
    challenge while the read model is unreachable)."""
    table = w.last_namespaces if last_known else w.namespaces()
    if not table:
        return None
    for spec in _SPECS:
        ns = table.get(context.pv_str(spec).lower())
        if ns is not None:
            return ns
    return None


def addresses(w: context.Worker) -> tuple[str, ...]:
    """Every address and name of an imported server: the edge serves them
    (kemi/domains.py). The table is already cached by the request's auth step."""
    try:
        return tuple(w.namespaces())
    except Unavailable:
        return ()


def identity(ns: rm.Namespace | None, authuser: str) -> str:
    """The identity to look up for a digest username ("" when it can be none)."""
    if "/" in authuser:
        return ""
    return rm.legacy_identity(ns.name, authuser) if ns is not None else authuser
