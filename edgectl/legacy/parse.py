"""Parser of one legacy chan_sip server's ``/etc/asterisk`` tree.

Pure: it works on a mapping ``relative path -> text`` (:func:`read_tree`
fills it from a directory or a tarball; nothing else touches the disk), so
the planner and the tests need no files. The config file syntax (comments,
includes, sections) is conf.py's; this module reads what the settings mean.

What it understands -- the subset the GV1P/GV2P/GV3P servers use (survey
``seeds/000_fb1d7ccd90f05e2e.txt``), with Asterisk's config syntax
(doc: "Asterisk Configuration Files", config.c):

* ``;`` comments (``\\;`` is a literal semicolon), ``#include`` and
  ``#tryinclude`` (paths relative to the tree root, ``*`` globs allowed);
* ``[name]``, templates ``[name](!)`` and inheritance ``[name](tpl[,tpl2])``;
* sip.conf peers: ``secret=`` / ``md5secret=`` (an HA1 for the ``realm`` of
  ``[general]``, chan_sip's default ``asterisk``), ``callerid=``,
  ``setvar=REVENDA=NNNNN``, ``allow=``/``disallow=`` (in order);
* extensions.conf: ``exten =>`` / ``same =>`` lines; a literal-number
  extension that Dials SIP peers is a ring group (``Dial(SIP/a&SIP/b,30,tT)``
  rings all, several one-peer Dials ring in sequence), the ``GotoIf`` on
  ``${REVENDA}`` before it lists the resellers it admits, ``MixMonitor`` means
  recorded; a pattern extension that dials ``SIP/${EXTEN}`` with no REVENDA
  check (the ``[record]`` context) lets any device call any extension;
* ``__CENTRALS__.DEF``: ``NNNNN;Name`` (also ``=`` or ``,``) lines naming
  the resellers.

Two kinds of trouble: a line that is not Asterisk config syntax, or a
missing ``#include``, makes the tree unreadable (:class:`ParseError`, the
whole import is refused); a well-formed line that cannot be imported (a peer
without a secret or reseller, a malformed md5secret, a ring group member that
is no peer) is a :class:`Problem`, skipped and reported with its ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

# ParseError, Where and read_tree are also this module's interface (cli.py, plan.py)
from edgectl.legacy.conf import Line, ParseError, Where, config_lines, read_tree, sections

DEFAULT_REALM = "asterisk"          # chan_sip: realm default (sip.conf.sample)
NUMBER = re.compile(r"^[0-9]{1,15}$")
RESELLER = re.compile(r"^[0-9]{5}$")
HA1 = re.compile(r"^[0-9a-fA-F]{32}$")
_CALLERID = re.compile(r'^\s*"?([^"<]*?)"?\s*(?:<([^>]*)>)?\s*$')
_APP = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$")
_REVENDA_EQ = re.compile(r'"?\$\{REVENDA\}"?\s*=\s*"?([0-9]{5})"?')


@dataclass(frozen=True)
class Problem:
    where: Where
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"


@dataclass
class Peer:
    name: str
    where: Where
    revenda: str
    ha1: str | None = None           # md5secret, or computed by the planner from secret
    secret: str | None = None
    display_name: str | None = None
    codecs: tuple[str, ...] = ()
    context: str = ""


@dataclass
class RingGroup:
    number: str
    where: Where
    name: str
    admitted: tuple[str, ...]        # resellers the GotoIf lets in (() = no check)
    members: tuple[str, ...]         # peer names, in dial order
    strategy: str                    # ringall | sequential
    timeout: int
    recording: bool
    member_lines: tuple[Where, ...] = ()


@dataclass
class LegacyServer:
    realm: str = DEFAULT_REALM
    peers: dict[str, Peer] = field(default_factory=dict)
    ring_groups: dict[str, RingGroup] = field(default_factory=dict)
    resellers: dict[str, str] = field(default_factory=dict)     # registry names
    open_dial: list[Where] = field(default_factory=list)        # [record]: no REVENDA check
    problems: list[Problem] = field(default_factory=list)
    files: int = 0



# -- sip.conf -------------------------------------------------------------------

def _codecs(settings: list[Line]) -> tuple[str, ...]:
    codecs: list[str] = []
    for s in settings:
        names = [c.strip().lower() for c in s.value.replace("&", ",").split(",") if c.strip()]
        if s.name == "disallow":
            codecs = [] if "all" in names else [c for c in codecs if c not in names]
        elif s.name == "allow":
            for c in names:
                if c == "all":
                    continue
                if c not in codecs:
                    codecs.append(c)
    return tuple(codecs)


def _display_name(callerid: str) -> str | None:
    m = _CALLERID.match(callerid)
    name = (m.group(1) if m else callerid).strip()
    return name[:100] or None


def parse_sip(files: Mapping[str, str], server: LegacyServer) -> None:
    templates: dict[str, list[Line]] = {}
    for head, body in sections(config_lines(files, "sip.conf")):
        name, opts = head.name, [o.strip() for o in head.value.split(",") if o.strip()]
        if name == "general":
            for s in body:
                if s.name == "realm" and s.value:
                    server.realm = s.value
            continue
        settings: list[Line] = []
        missing = [t for t in opts if t != "!" and t not in templates]
        if missing:
            server.problems.append(Problem(head.where, f"peer [{name}] uses unknown template "
                                                       f"{missing[0]!r}: not imported"))
            continue
        for t in opts:
            if t != "!":
                settings.extend(templates[t])
        settings.extend(body)
        if "!" in opts:
            templates[name] = settings
            continue
        _peer(name, head.where, settings, server)


def _peer(name: str, where: Where, settings: list[Line], server: LegacyServer) -> None:
    last: dict[str, Line] = {}
    revenda: Line | None = None
    for s in settings:
        last[s.name] = s
        if s.name == "setvar":
            var, _, val = s.value.partition("=")
            if var.strip().upper() == "REVENDA":
                revenda = Line(s.where, "kv", "revenda", val.strip())
    ptype = last["type"].value.lower() if "type" in last else "friend"
    if ptype not in ("friend", "peer", "user"):
        server.problems.append(Problem(where, f"[{name}] type={ptype}: not a phone"))
        return
    if "host" in last and last["host"].value.lower() != "dynamic":
        server.problems.append(Problem(where, f"[{name}] host={last['host'].value}: a static "
                                              "peer (trunk), not a registering phone"))
        return
    if not NUMBER.match(name):
        server.problems.append(Problem(where, f"peer name {name!r} is not a number"))
        return
    if revenda is None:
        server.problems.append(Problem(where, f"[{name}] has no setvar=REVENDA: its reseller "
                                              "is unknown"))
        return
    if not RESELLER.match(revenda.value):
        server.problems.append(Problem(revenda.where, f"[{name}] REVENDA={revenda.value!r} is "
                                                      "not a 5-digit reseller id"))
        return
    peer = Peer(name, where, revenda.value, codecs=_codecs(settings),
                context=last["context"].value if "context" in last else "")
    if "md5secret" in last:
        md5 = last["md5secret"]
        if not HA1.match(md5.value):
            server.problems.append(Problem(md5.where, f"[{name}] md5secret is not 32 hex digits"))
            return
        peer.ha1 = md5.value.lower()
    elif "secret" in last and last["secret"].value:
        peer.secret = last["secret"].value
    else:
        server.problems.append(Problem(where, f"[{name}] has no secret or md5secret"))
        return
    if "callerid" in last:
        peer.display_name = _display_name(last["callerid"].value)
    if name in server.peers:
        server.problems.append(Problem(where, f"peer [{name}] defined again (first at "
                                              f"{server.peers[name].where}): ignored"))
        return
    server.peers[name] = peer


# -- extensions.conf -------------------------------------------------------------

@dataclass
class _Ext:
    where: Where
    name: str = ""
    admitted: list[str] = field(default_factory=list)
    checks_revenda: bool = False
    dials: list[tuple[Where, list[str], int]] = field(default_factory=list)
    recording: bool = False


def _split_args(args: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for c in args:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(c)
    out.append("".join(cur))
    return [a.strip() for a in out]


def parse_extensions(files: Mapping[str, str], server: LegacyServer) -> None:
    for head, body in sections(config_lines(files, "extensions.conf")):
        context = head.name
        exts: dict[str, _Ext] = {}
        current = ""
        for s in body:
            if s.name not in ("exten", "same"):
                continue
            if s.name == "exten":
                parts = s.value.split(",", 2)
                if len(parts) < 3:
                    server.problems.append(Problem(s.where, "exten line without extension, "
                                                            "priority and application"))
                    continue
                current, app = parts[0].strip(), parts[2]
            else:
                parts = s.value.split(",", 1)
                if not current or len(parts) < 2:
                    server.problems.append(Problem(s.where, "same => without a preceding exten"))
                    continue
                app = parts[1]
            ext = exts.setdefault(current, _Ext(s.where))
            m = _APP.match(app)
            if not m:
                continue
            appname, args = m.group(1).lower(), m.group(2) or ""
            if appname == "noop" and not ext.name:
                ext.name = args.strip()[:200]
            elif appname == "gotoif" and "REVENDA" in args:
                ext.checks_revenda = True
                ext.admitted.extend(r for r in _REVENDA_EQ.findall(args) if r not in ext.admitted)
            elif appname == "mixmonitor":
                ext.recording = True
            elif appname == "dial":
                a = _split_args(args)
                targets = [t.strip() for t in a[0].split("&") if t.strip()]
                try:
                    timeout = int(a[1]) if len(a) > 1 and a[1] else 0
                except ValueError:
                    timeout = 0
                ext.dials.append((s.where, targets, timeout))
        for exten, e in exts.items():
            _classify(context, exten, e, server)


def _classify(context: str, exten: str, e: _Ext, server: LegacyServer) -> None:
    if not e.dials:
        return
    if exten.startswith("_"):
        if any(t.upper() == "SIP/${EXTEN}" for _, ts, _ in e.dials for t in ts) \
                and not e.checks_revenda:
            server.open_dial.append(e.where)
        return
    if not NUMBER.match(exten):
        server.problems.append(Problem(e.where, f"[{context}] extension {exten!r} is not a "
                                                "number: not imported"))
        return
    members: list[str] = []
    lines: list[Where] = []
    for where, targets, _ in e.dials:
        for t in targets:
            tech, _, peer = t.partition("/")
            if tech.upper() != "SIP" or not NUMBER.match(peer):
                server.problems.append(Problem(where, f"ring group {exten}: dial target {t!r} "
                                                      "is not a SIP peer: left out"))
                continue
            if peer not in members:
                members.append(peer)
                lines.append(where)
    if members == [exten]:
        return                      # a device's own .dial entry, not a group
    sequential = len(e.dials) > 1 and all(len(ts) == 1 for _, ts, _ in e.dials)
    timeout = max((to for _, _, to in e.dials), default=0) or 30
    if exten in server.ring_groups:
        server.problems.append(Problem(e.where, f"ring group {exten} defined again (first at "
                                                f"{server.ring_groups[exten].where}): ignored"))
        return
    server.ring_groups[exten] = RingGroup(
        exten, e.where, e.name or f"ring group {exten}", tuple(e.admitted), tuple(members),
        "sequential" if sequential else "ringall", min(max(timeout, 5), 600), e.recording,
        tuple(lines))


# -- the reseller registry ----------------------------------------------------------

_REGISTRY_LINE = re.compile(r"^\s*([0-9]{5})\s*[;=,|:]\s*(.+?)\s*$")


def parse_registry(files: Mapping[str, str], server: LegacyServer) -> None:
    name = "__CENTRALS__.DEF"
    if name not in files:
        return
    for no, raw in enumerate(files[name].splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith(";") or text.startswith("#"):
            continue
        m = _REGISTRY_LINE.match(text)
        if not m:
            server.problems.append(Problem(Where(name, no), "registry line is not "
                                                            "'NNNNN;Name': ignored"))
            continue
        server.resellers[m.group(1)] = m.group(2).strip('"')[:200]


def parse_server(files: Mapping[str, str]) -> LegacyServer:
    """The whole tree: sip.conf, extensions.conf (if any), __CENTRALS__.DEF."""
    server = LegacyServer(files=len(files))
    parse_sip(files, server)
    if "extensions.conf" in files:
        parse_extensions(files, server)
    parse_registry(files, server)
    return server
