"""The two parties of each dialog the edge relays: where each really is, so
an in-dialog request goes to the other party and nowhere else
(edgecore.dialogs says why; this module records and enforces).

Recorded as dialog variables keyed by the party's dialog tag
(``p:<tag>`` = "<source URI> <Contact URI>"): the caller's from its initial
INVITE, the callee's from its 2xx, and again from any target refresh
(re-INVITE or UPDATE, and their 2xx) -- the Contact may change in a dialog
(RFC 3261 12.2), where the party is does not. A request goes to the party
whose tag is its To tag. Cost: dialog variables in shared memory, no I/O.
"""

from __future__ import annotations

import KSR

from edgecore import dialogs
from kemi import context, peers

VAR_PREFIX = "p:"
# every Route header value of the request, comma-joined
ROUTES = "$(hdr(Route)[*])"


def _source_uri() -> str:
    uri = "sip:%s:%s" % (KSR.kx.get_srcip(), KSR.kx.get_srcport())
    proto = context.pv_str("$pr").lower()
    return uri if proto in ("", "udp") else f"{uri};transport={proto}"


def _contact_uri() -> str:
    ct = context.pv_str("$ct")
    uris = dialogs.route_uris(ct)
    return uris[0] if uris else ct.split(";", 1)[0].strip()


def note(tag: str) -> None:
    """The party with dialog tag ``tag`` sent the message being handled
    (a request with From tag ``tag``, or a reply with To tag ``tag``)."""
    # recorded even without a Contact: a party that gave none cannot be
    # sent anything inside the dialog (edgecore.dialogs.steered refuses),
    # rather than leaving its dialog unjudged
    if tag and " " not in tag:
        KSR.dialog.var_sets(VAR_PREFIX + tag, f"{_source_uri()} {_contact_uri()}".rstrip())


def note_caller() -> None:
    note(context.pv_str("$ft"))


def note_answer() -> None:
    """Reply route: a 2xx to an INVITE or UPDATE (a dialog's answer or a
    target refresh's)."""
    note(context.pv_str("$tt"))


def _party(tag: str) -> tuple[str, str] | None:
    v = KSR.dialog.var_get(VAR_PREFIX + tag)
    if not v:
        return None
    source, _, contact = str(v).partition(" ")
    return source, contact


def _is_self(uri: str) -> bool:
    return bool(KSR.is_myself(uri))


def _is_peer(uri: str) -> bool:
    hp = dialogs.hostport(uri)
    return hp is not None and peers.enabled() and \
        (hp in peers.peers() or hp == peers.own_address())


def receiver() -> tuple[str, str] | None:
    """Inside a known dialog: the recorded (source, Contact) of the party the
    request being routed goes to (the one whose tag is its To tag); None for
    a dialog without records (set up before they were kept)."""
    return _party(context.pv_str("$tt"))


def steered(party: tuple[str, str], ruri: str, routes: str) -> str | None:
    """Before loose routing an in-dialog request to ``party`` (receiver()),
    with R-URI ``ruri`` and Route header values ``routes`` (ROUTES): why it
    would leave the dialog (None: it goes to its other party)."""
    source, contact = party
    return dialogs.steered(ruri, dialogs.route_uris(routes), contact, source, _is_self, _is_peer)


def to_party(party: tuple[str, str] | None) -> None:
    """After loose routing, no further hop: the request goes to where the
    receiving ``party`` (receiver()) really is -- the alias nathelper put in
    its Contact, or its recorded source when its Contact names another host
    (as a REGISTER's does, kemi/nat.py) -- never to whatever host that
    Contact names."""
    if KSR.isdsturiset():
        return
    had_alias = dialogs.uri_param(context.pv_str("$ru"), "alias") is not None
    KSR.nathelper.handle_ruri_alias()
    if had_alias or party is None:
        return
    source, contact = dialogs.hostport(party[0]), dialogs.hostport(party[1])
    if source is not None and (contact is None or contact[0] != source[0]):
        KSR.setdsturi(party[0])
