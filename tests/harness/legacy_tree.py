"""Generator of legacy chan_sip ``/etc/asterisk`` trees shaped like the survey
(``seeds/000_fb1d7ccd90f05e2e.txt``): GV2P with 125 resellers (123 small ones
plus the support tenants 00001 PredioTech and 00002 Remiao101) and ring groups
7000-7124; GV1P with 3 big resellers, the ring groups 95, 200-203, 2000, 2100
and a few 7xxx, a 5000 series; GV3P dedicated to RealProtecao (00131): 364
condominiums 4001-4365 and the 17 "ilhas" 1000, 1010, 1100-1900, 2000, 3000,
4000, 4295, 7000, 7101. The support tenants are on all three servers with the
same numbers (9000-9026, 9050-9060) and mostly the same secrets; the small
resellers' numbers (1000-5999) collide with GV1P's and GV3P's.

Templates, ``#include``/``#tryinclude``, ``md5secret`` (one peer in ten),
comments, and a few lines the import must refuse (listed in ``Tree.bad``).

Seeded and deterministic: the same seed writes byte-identical trees.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from edgecore.digest import ha1

REALM = "asterisk"
SUPPORT = {"00001": "PredioTech", "00002": "Remiao101"}
SUPPORT_NUMBERS = {"00001": [str(9000 + i) for i in range(27)],
                   "00002": [str(9050 + i) for i in range(11)]}
NAMES = ["Efetiva", "Epavi", "Heidrich", "LM", "Cindapa", "Confianca", "Vigilancia", "Guardiao",
         "Sentinela", "Protege", "Atalaia", "Escolta", "Vigia", "Alerta", "Muralha"]


@dataclass
class Peer:
    name: str
    tenant: str
    password: str
    md5: bool = False
    display: str = ""


@dataclass
class Group:
    number: str
    tenant: str
    members: list[str]
    admitted: list[str]
    sequential: bool = False


@dataclass
class Server:
    name: str
    resellers: dict[str, str] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)       # "file:line" the import must report

    def add_peer(self, name: str, tenant: str, rnd: random.Random, role: str,
                 password: str | None = None) -> None:
        assert name not in self.peers and name not in self.groups, (self.name, name)
        label = self.resellers.get(tenant, tenant)
        year = rnd.choice([2015, 2017, 2019, 2020, 2023, 2024])
        pw = password or f"{label}{year}{'!' if year >= 2019 else ''}{rnd.randrange(100, 999)}"
        self.peers[name] = Peer(name, tenant, pw, md5=rnd.random() < 0.1,
                                display=f"{label} {role} {name}")


def _block(first: int, n: int, skip: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    out, x = [], first
    while len(out) < n:
        if x not in skip:
            out.append(str(x))
        x += 1
    return out


def _support(s: Server, rnd: random.Random) -> None:
    for t, name in SUPPORT.items():
        s.resellers[t] = name
        for i, num in enumerate(SUPPORT_NUMBERS[t]):
            # the same secret on every server ("senhas consistentes"), except a few
            pw = f"{name}2020!{num}" if i % 9 else f"{name}{s.name}!{num}"
            s.add_peer(num, t, rnd, "suporte", password=pw)


def gv2p(rnd: random.Random) -> Server:
    s = Server("GV2P")
    _support(s, rnd)
    sizes = [23, 19, 19, 19, 15, 15]
    for k in range(123):
        t = f"{k + 3:05d}"
        s.resellers[t] = f"{NAMES[k % len(NAMES)]}{k + 3}"
        n = sizes[k] if k < len(sizes) else 3
        nums = _block(1000 + k * 40, n)
        for j, num in enumerate(nums):
            s.add_peer(num, t, rnd, "atendente" if j < 3 else "condominio")
        admitted = [t, "00001", "00002"]
        if k % 10 == 4:
            admitted.append(f"{((k + 7) % 123) + 3:05d}")   # another reseller: an exception
        s.groups[str(7001 + k)] = Group(str(7001 + k), t, nums[:3], admitted,
                                        sequential=(k % 5 == 2))
    s.groups["7000"] = Group("7000", "00001", SUPPORT_NUMBERS["00001"][:4], ["00001", "00002"])
    s.groups["7124"] = Group("7124", "00002", SUPPORT_NUMBERS["00002"][:3], ["00001", "00002"])
    return s


def gv1p(rnd: random.Random) -> Server:
    s = Server("GV1P")
    _support(s, rnd)
    big = {"00128": ("Vanguarda", [3000, 5000], [10, 200]),
           "00129": ("Baluarte", [3010, 1000], [10, 50]),
           "00130": ("Fortaleza", [3020, 8000], [10, 10])}
    s.resellers.update({"00132": "Inativa132", "00133": "Inativa133"})
    for t, (name, firsts, ns) in big.items():
        s.resellers[t] = name
        for first, n in zip(firsts, ns):
            for num in _block(first, n):
                s.add_peer(num, t, rnd, "atendente" if first < 4000 else "condominio")
    for num, t, first in [("95", "00128", 3000), ("200", "00128", 3003), ("201", "00129", 3010),
                          ("202", "00130", 3020), ("203", "00128", 3006), ("2000", "00128", 3001),
                          ("2100", "00129", 3013), ("7001", "00128", 3002),
                          ("7002", "00129", 3016), ("7003", "00130", 3024)]:
        members = [str(first + i) for i in range(3)]
        admitted = [t, "00001", "00002"] + (["00130"] if num == "201" else [])
        s.groups[num] = Group(num, t, members, admitted, sequential=num in ("95", "2100"))
    s.groups["7000"] = Group("7000", "00001", SUPPORT_NUMBERS["00001"][2:6], ["00001", "00002"])
    return s


def gv3p(rnd: random.Random) -> Server:
    s = Server("GV3P")
    _support(s, rnd)
    t = "00131"
    s.resellers[t] = "RealProtecao"
    s.resellers["00134"] = "RealProtecaoFilial"
    ilhas = ["1000", "1010"] + [str(1100 + 100 * i) for i in range(9)] + \
        ["2000", "3000", "4000", "4295", "7000", "7101"]
    taken = {int(x) for x in ilhas}
    attendants = _block(1011, 89) + _block(2001, 60) + _block(3001, 50)
    for num in attendants:
        s.add_peer(num, t, rnd, "atendente")
    for num in _block(4001, 364, taken):
        s.add_peer(num, t, rnd, "condominio")
    for i, num in enumerate(ilhas):
        members = attendants[i * 5:i * 5 + 4]
        s.groups[num] = Group(num, t, members, [t, "00001", "00002"], sequential=(i % 4 == 3))
    return s


@dataclass
class Tree:
    server: Server
    root: Path


def _peer_lines(p: Peer, realm: str, tpl: str) -> list[str]:
    out = [f"[{p.name}]({tpl})"]
    if p.md5:
        out.append(f"md5secret={ha1(p.name, realm, p.password)}")
    else:
        out.append(f"secret={p.password}")
    out += [f'callerid="{p.display}" <{p.name}>', f"setvar=REVENDA={p.tenant}", ""]
    return out


def write(server: Server, root: Path) -> Tree:
    """Write ``server`` as an /etc/asterisk tree under ``root``; the lines the
    import must refuse are added here and listed in ``server.bad``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sip").mkdir(exist_ok=True)
    (root / "dialplan").mkdir(exist_ok=True)
    (root / "sip.conf").write_text(
        "; chan_sip -- generated\n[general]\ncontext=local\nallowguest=no\n"
        f"realm={REALM}\nudpbindaddr=0.0.0.0:5060\n\n#include endpoints_sip.def\n"
        "#tryinclude sip_custom.conf   ; absent on most servers\n")
    by_tenant: dict[str, list[Peer]] = {}
    for p in server.peers.values():
        by_tenant.setdefault(p.tenant, []).append(p)
    tpl = ["; templates", "[atendente](!)", "type=friend", "host=dynamic", "context=local",
           "disallow=all", "allow=ulaw", "allow=alaw,gsm", "nat=force_rport,comedia",
           "qualify=yes", "", "[condominio](!)", "type=friend", "host=dynamic",
           "context=local", "disallow=all", "allow=ulaw", "allow=g729", "allow=h264",
           "qualify=yes", ""]
    for t in sorted(by_tenant):
        tpl.append(f"#include sip/{t}.conf")
    (root / "endpoints_sip.def").write_text("\n".join(tpl) + "\n")
    for t, peers in sorted(by_tenant.items()):
        lines = [f"; revenda {t} {server.resellers.get(t, '')}"]
        for p in sorted(peers, key=lambda p: int(p.name)):
            lines += _peer_lines(p, REALM, "atendente" if "atendente" in p.display
                                 or "suporte" in p.display else "condominio")
        (root / "sip" / f"{t}.conf").write_text("\n".join(lines) + "\n")
    # a few peers that cannot be imported, appended to the first reseller file
    first = sorted(by_tenant)[0]
    path = root / "sip" / f"{first}.conf"
    body = path.read_text().splitlines()
    extra = [("[8990](atendente)", "secret=SemRevenda2019!", None),
             ("[8991](atendente)", "setvar=REVENDA=00001", "md5secret=abc123"),
             ("[8992](atendente)", "setvar=REVENDA=00001", None),
             ("[trunk-operadora]", "host=200.1.2.3", "type=peer")]
    for head, setting, more in extra:
        body.append(head)
        body.append(setting)
        server.bad.append(f"sip/{first}.conf:{len(body) + (1 if more == 'md5secret=abc123' else -1)}")
        if more:
            body.append(more)
        body.append("")
    path.write_text("\n".join(body) + "\n")
    # extensions.conf: the local/record contexts and one .rgdial per ring group
    (root / "extensions.conf").write_text(
        "[general]\nstatic=yes\nwriteprotect=no\n\n[globals]\n\n"
        "[local]\nexten => _XXXX,1,Goto(record,${EXTEN},1)\n"
        "exten => _XX,1,Goto(record-rg,${EXTEN},1)\nexten => _XXX,1,Goto(record-rg,${EXTEN},1)\n\n"
        "; every call recorded; no REVENDA check here: any extension dials any other\n"
        "[record]\nexten => _XXXX,1,MixMonitor(/monitor/${STRFTIME(${EPOCH},,%Y/%m/%d)}/"
        "internal-${CALLERID(num)}-${EXTEN}-${EPOCH}-${UNIQUEID}.wav)\n"
        "same => n,Dial(SIP/${EXTEN},60,tT)\nsame => n,Hangup()\n\n"
        "[record-rg]\n#include endpoints_dialplan_rg.def\n")
    inc = []
    for num in sorted(server.groups, key=int):
        g = server.groups[num]
        inc.append(f"#include dialplan/{num}.rgdial")
        cond = " | ".join(f'"${{REVENDA}}" = "{r}"' for r in g.admitted)
        lines = [f"; ring group {num} -- revenda {g.tenant}",
                 f"exten => {num},1,NoOp(Ilha {server.resellers.get(g.tenant, g.tenant)} {num})",
                 f"exten => {num},n,GotoIf($[{cond}]?allowed)",
                 f"exten => {num},n,Hangup(21)",
                 f"exten => {num},n(allowed),MixMonitor(/monitor/${{STRFTIME(${{EPOCH}},,%Y/%m/%d)}}"
                 f"/rg-${{CALLERID(num)}}-${{EXTEN}}-${{EPOCH}}-${{UNIQUEID}}.wav)"]
        if g.sequential:
            lines += [f"exten => {num},n,Dial(SIP/{m},15,tT)" for m in g.members]
        else:
            lines.append(f"exten => {num},n,Dial({'&'.join('SIP/' + m for m in g.members)},30,tT)")
        lines.append(f"exten => {num},n,Hangup()")
        (root / "dialplan" / f"{num}.rgdial").write_text("\n".join(lines) + "\n")
    (root / "endpoints_dialplan_rg.def").write_text("\n".join(inc) + "\n")
    reg = ["; REVENDA;NOME"] + [f"{t};{n}" for t, n in sorted(server.resellers.items())]
    (root / "__CENTRALS__.DEF").write_text("\n".join(reg) + "\n")
    return Tree(server, root)


def estate(base: Path, seed: int = 14) -> dict[str, Tree]:
    """The three servers, written under ``base/<name>``."""
    rnd = random.Random(seed)
    return {s.name: write(s, base / s.name) for s in (gv1p(rnd), gv2p(rnd), gv3p(rnd))}
