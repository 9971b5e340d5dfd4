"""Where a request inside a dialog may go: only to the dialog's other party,
along the route set the edge recorded.

A party inside an established call controls its in-dialog requests: their
request URI, their Route headers, the ``alias`` parameter nathelper put in a
Contact. Routed as they come (RFC 3261 16.12 loose routing), an INFO or a
re-INVITE whose R-URI or an added Route names another host leaves the edge
towards it from the edge's own address -- toll fraud through a trusted edge
-- and a BYE sent that way ends the dialog on the edge (its call slot, its
CDR) while the real call runs on. So the edge keeps, per party (by its dialog
tag), where its messages really came from and the Contact it gave, and an
in-dialog request is refused before it is routed unless

* every Route header names this node or a peer edge node;
* its R-URI is the receiving party's Contact (host and port);
* a nathelper ``alias`` in it is the receiving party's real source.

Pure functions of plain values; kemi/parties.py records and enforces.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

# why a request is refused (logged)
ROUTE, REQUEST_URI, ALIAS = "route", "request-uri", "alias"

_URI = re.compile(r"^\s*<?\s*(sips?):(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?([^>]*)>?",
                  re.IGNORECASE)


# A request inside a dialog parses the same few URIs several times (its R-URI
# for the check and again for the routing, the party's Contact and source),
# and the next request of the dialog the same ones again: the answers are
# kept per worker, a bounded few (a URI is at most a message long).
PARSED_KEPT = 256


@lru_cache(maxsize=PARSED_KEPT)
def hostport(uri: str) -> tuple[str, int] | None:
    """Host (lower case) and port of a SIP URI, the port defaulted by scheme
    (RFC 3263: 5060, sips 5061); None when it is not a SIP URI."""
    m = _URI.match(uri)
    if not m:
        return None
    default = 5061 if m.group(1).lower() == "sips" else 5060
    return m.group(2).lower(), int(m.group(3)) if m.group(3) else default


@lru_cache(maxsize=PARSED_KEPT)
def uri_param(uri: str, name: str) -> str | None:
    m = _URI.match(uri)
    if not m:
        return None
    for p in m.group(4).split(";"):
        k, _, v = p.partition("=")
        if k.strip().lower() == name:
            return v.strip()
    return None


def alias_hostport(alias: str) -> tuple[str, int] | None:
    """nathelper's ``alias=ip~port~proto`` as (ip, port)."""
    parts = alias.split("~")
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return parts[0].lower(), int(parts[1])


_ANGLED = re.compile(r"<([^>]*)>")


def route_uris(routes: str) -> list[str]:
    """The URIs of Route header values (one or several, comma-joined)."""
    return _ANGLED.findall(routes)


def steered(ruri: str, routes: list[str], party_contact: str, party_source: str,
            is_self: Callable[[str], bool], is_peer: Callable[[str], bool]) -> str | None:
    """Why an in-dialog request would leave its dialog (None: it would not).

    ``party_contact``/``party_source``: the Contact the receiving party gave
    and the address its messages came from, as recorded by the edge;
    ``is_self``/``is_peer``: a Route URI names this node / a peer node."""
    beyond = [r for r in routes if not is_self(r)]
    if any(not is_peer(r) for r in beyond):
        return ROUTE
    want = hostport(party_contact)
    if want is None or hostport(ruri) != want:           # no Contact: nowhere to go
        return REQUEST_URI
    alias = uri_param(ruri, "alias")
    if alias is not None and not beyond and alias_hostport(alias) != hostport(party_source):
        return ALIAS
    return None


def contact_elsewhere(contacts: str, source_ip: str) -> bool:
    """A REGISTER's Contact values (comma-joined; ``*`` unregisters) name a
    host other than ``source_ip``, the address the REGISTER came from."""
    uris = route_uris(contacts) or [c.strip() for c in contacts.split(",")]
    for uri in uris:
        if uri == "*" or not uri:
            continue
        hp = hostport(uri)
        if hp is None or hp[0].strip("[]") != source_ip.lower():
            return True
    return False
