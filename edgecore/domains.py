"""Which request domains the edge serves: a call is routed only when its
request URI names the edge.

An INVITE is routed on its dialled number; before that, the R-URI's host must
be one the edge serves, else it is refused (404, as for a number the edge
does not know: RFC 3261 21.4.5 -- "the domain in the Request-URI does not
match any of the domains handled by the recipient"). Served are

* the edge's own names (config ``node.domain`` and ``node.aliases``);
* the addresses the node itself listens on or advertises (Kamailio's
  ``is_myself``: the caller passes the answer as ``is_local``);
* tenant domains: the caller's tenant's and the callee's tenant's (the
  tenants the call's one read-model round trip already fetched).

Everything else -- ``sip:7001@evil.example``, an IP literal that is not the
node's -- is refused rather than routed on its user part alone. The set is
plain data so other served names (imported namespaces) are added by the
caller, never by editing this check.

Pure functions of plain values.
"""

from __future__ import annotations

from typing import Iterable

# RFC 3261 21.4.5: the domain is not one the recipient handles
REFUSAL_CODE = 404
REFUSAL_REASON = "Not Found - Domain Not Served"
RULE_FOREIGN_DOMAIN = "foreign-domain"


def normalise(domain: str) -> str:
    """Host of a URI as compared here: lower case, no trailing dot, no
    brackets around an IPv6 literal."""
    d = domain.strip().lower().rstrip(".")
    if d.startswith("[") and d.endswith("]"):
        d = d[1:-1]
    return d


def served_domains(edge_domains: Iterable[str], *extra: str | None) -> frozenset[str]:
    """The edge's names plus any others (tenant domains, namespaces); empty
    or missing ones are left out."""
    return frozenset(normalise(d) for d in (*edge_domains, *extra) if d)


def served(domain: str, domains: frozenset[str], is_local: bool) -> bool:
    """The R-URI host ``domain`` is served: one of this node's addresses
    (``is_local``) or one of ``domains`` (normalised, see served_domains)."""
    return is_local or normalise(domain) in domains
