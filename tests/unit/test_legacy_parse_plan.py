"""edgectl.legacy: the chan_sip tree parser, the planner and the generator of
legacy-shaped trees (pure: no database, no files but the generator's)."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from edgecore import digest
from edgectl.legacy import parse, plan
from harness import legacy_tree

SIP = """[general]
realm=legacy.example ; the server's realm
#tryinclude missing.conf

[base](!)
type=friend
host=dynamic
disallow=all
allow=ulaw,alaw
allow=g729

[7001](base)
secret=Pw\\;7001
callerid="Efetiva Att 1" <7001>
setvar=REVENDA=00003
disallow=alaw

[bad7003](base)
secret=x
setvar=REVENDA=00003
#include peers.def
"""

PEERS = """; peers of 00003 and 00004
[7002](base)
md5secret=0123456789ABCDEF0123456789abcdef
setvar=REVENDA=00003
[7010](base)
secret=Other2019!
callerid=Plain Name <7010>
setvar=REVENDA=00004
[7011](nosuch)
secret=x
"""

EXT = """[general]
static=yes
[record]
exten => _XXXX,1,MixMonitor(/monitor/x.wav)
same => n,Dial(SIP/${EXTEN},60,tT)
[record-rg]
#include dialplan/*.rgdial
"""

RG_ALL = """exten => 7100,1,NoOp(Efetiva ilha)
exten => 7100,n,GotoIf($["${REVENDA}" = "00003" | "${REVENDA}" = "00004"]?ok)
exten => 7100,n,Hangup()
exten => 7100,n(ok),MixMonitor(/monitor/rg.wav)
exten => 7100,n,Dial(SIP/7001&SIP/7002&IAX2/x,45,tT)
"""

RG_SEQ = """exten => 95,1,GotoIf($["${REVENDA}" = "00004"]?ok)
exten => 95,n(ok),Dial(SIP/7010,15)
exten => 95,n,Dial(SIP/7099,20)
"""


def tree() -> dict[str, str]:
    return {"sip.conf": SIP, "peers.def": PEERS, "extensions.conf": EXT,
            "dialplan/7100.rgdial": RG_ALL, "dialplan/95.rgdial": RG_SEQ,
            "__CENTRALS__.DEF": "; registry\n00003;Efetiva\ngarbage\n"}


def test_peers_templates_includes_comments_and_secrets():
    s = parse.parse_server(tree())
    assert s.realm == "legacy.example"
    assert sorted(s.peers) == ["7001", "7002", "7010"]
    p = s.peers["7001"]
    assert (p.revenda, p.secret, p.display_name, p.codecs) == \
        ("00003", "Pw;7001", "Efetiva Att 1", ("ulaw", "g729"))
    assert s.peers["7002"].ha1 == "0123456789abcdef0123456789abcdef"
    assert s.peers["7010"].display_name == "Plain Name"
    problems = {str(p.where): p.why for p in s.problems}
    assert "peer name 'bad7003' is not a number" in problems["sip.conf:18"]
    assert "unknown template 'nosuch'" in problems["peers.def:9"]
    assert "not 'NNNNN;Name'" in problems["__CENTRALS__.DEF:3"]
    assert s.resellers == {"00003": "Efetiva"}


def test_ring_groups_members_strategy_timeout_admission():
    s = parse.parse_server(tree())
    g = s.ring_groups["7100"]
    assert (g.name, g.admitted, g.members, g.strategy, g.timeout, g.recording) == \
        ("Efetiva ilha", ("00003", "00004"), ("7001", "7002"), "ringall", 45, True)
    q = s.ring_groups["95"]
    assert (q.members, q.strategy, q.timeout, q.recording) == \
        (("7010", "7099"), "sequential", 20, False)
    assert [str(w) for w in s.open_dial] == ["extensions.conf:4"]
    assert any("IAX2/x" in p.why and str(p.where) == "dialplan/7100.rgdial:5"
               for p in s.problems)


@pytest.mark.parametrize("files,where", [
    ({"sip.conf": "[general]\nrealm=x\n[7001\n"}, "sip.conf:3: malformed section"),
    ({"sip.conf": "secret=x\n"}, "sip.conf:1: setting 'secret' outside"),
    ({"sip.conf": "[g]\n#include nope.def\n"}, "sip.conf:2: included file nope.def is missing"),
    ({"sip.conf": "[g]\n#exec /bin/sh\n"}, "sip.conf:2: unknown directive"),
    ({"sip.conf": "[g]\n", "extensions.conf": "[x]\nexten => 1,1,Dial(SIP/2)\njunk\n"},
     "extensions.conf:3: not a setting"),
])
def test_unreadable_trees_fail_with_file_and_line(files, where):
    with pytest.raises(parse.ParseError, match=where):
        parse.parse_server(files)


def test_tarball_and_directory_read_the_same(tmp_path: Path):
    root = tmp_path / "etc" / "asterisk"
    for name, text in tree().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    tgz = tmp_path / "gv.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(tmp_path / "etc", arcname="etc")
    assert parse.read_tree(root) == parse.read_tree(tgz) == tree()
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(parse.ParseError, match="not a directory or a readable tarball"):
        parse.read_tree(bad)


def test_plan_tenants_devices_ring_groups_exceptions():
    p = plan.plan_server("gv9", ["10.0.0.9"], None, parse.parse_server(tree()))
    assert p["realm"] == "legacy.example"
    assert p["tenants"] == {"00003": {"name": "Efetiva", "global": False},
                            "00004": {"name": "Plain Name", "global": False}}
    assert p["identities"]["7001"]["ha1"] == digest.ha1("7001", "legacy.example", "Pw;7001")
    assert p["identities"]["7002"]["ha1"] == "0123456789abcdef0123456789abcdef"
    assert p["devices"]["00003:7001"] == {"display_name": "Efetiva Att 1"}
    assert p["ring_groups"]["00003:7100"]["members"] == ["7001", "7002"]
    assert p["ring_groups"]["00004:95"]["members"] == ["7010"]      # 7099 is no peer
    assert p["exceptions"] == ["00004>00003"]      # 7100 of 00003 admits 00004


def _plans(tmp_path: Path) -> dict[str, plan.Plan]:
    out = {}
    for name, t in legacy_tree.estate(tmp_path).items():
        files = parse.read_tree(t.root)
        out[name] = plan.plan_server(name.lower(), ["10.0.0.1"], None, parse.parse_server(files))
    return out


def test_generator_is_shaped_like_the_survey_and_deterministic(tmp_path: Path):
    a = legacy_tree.estate(tmp_path / "a")
    b = legacy_tree.estate(tmp_path / "b")
    for name in a:
        fa = parse.read_tree(a[name].root)
        assert fa == parse.read_tree(b[name].root)
    resellers = {t for s in a.values() for t in s.server.resellers}
    endpoints = sum(len(s.server.peers) for s in a.values())
    groups = sum(len(s.server.groups) for s in a.values())
    assert 128 <= len(resellers) <= 140 and 1250 <= endpoints <= 1500 and 145 <= groups <= 160
    where = Counter(n for s in a.values() for n in s.server.peers)
    assert 150 <= sum(1 for c in where.values() if c >= 2) <= 600
    assert any(c == 3 for c in where.values())
    assert len(a["GV2P"].server.resellers) == 125


def test_estate_plans_merge(tmp_path: Path):
    plans = _plans(tmp_path)
    for name, p in plans.items():
        assert len(p["problems"]) == 4, (name, p["problems"])
        assert {t for t, v in p["tenants"].items() if v["global"]} == {"00001", "00002"}
    merged, notes = plan.merge(plans.values())
    # support numbers are on all three servers: one device, three identities
    ids = [k for k, v in merged["identities"].items() if v["device"] == "00001:9000"]
    assert sorted(ns for ns, _ in ids) == ["gv1p", "gv2p", "gv3p"]
    # 1000: a device of 00129 on GV1P, of 00003 on GV2P, a ring group of 00131 on GV3P
    assert {"00129:1000", "00003:1000"} <= set(merged["devices"])
    assert "00131:1000" in merged["ring_groups"]
    assert any("7000" in n and "members merged" in n for n in notes)
    # ranges: runs of one tenant's numbers; none holds a number the tenant does not use
    for t, runs in merged["ranges"].items():
        own = {k.split(":")[1] for k in [*merged["devices"], *merged["ring_groups"]]
               if k.startswith(t + ":")}
        inside = {str(n) for first, last in runs for n in range(int(first), int(last) + 1)}
        assert inside == own, t
        assert all(len(first) == len(last) for first, last in runs)
    assert merged["ranges"]["00131"][0] == ("1000", "1000")


def test_report_numbers_on_several_servers_and_reachability(tmp_path: Path):
    plans = _plans(tmp_path)
    rep = plan.report(plans["GV2P"], [plans["GV1P"]], existing_tenants=set())
    shared = {s["number"]: s["outcome"] for s in rep["numbers_on_several_servers"]}
    assert "different tenants" in shared["1000"]
    assert shared["9001"].startswith("same tenant 00001, same secret")
    assert "secrets differ" in shared["9000"]
    assert "one ring group, members merged" in shared["7000"]
    assert rep["reachability_lost"] and "00003>00004" in rep["reachability_lost"]
    assert "00001>00003" not in rep["reachability_lost"]          # support: global access
    assert rep["imported_servers"]["gv1p"]["devices"] == len(plans["GV1P"]["devices"])
    assert rep["after_import"]["identities"] == \
        len(plans["GV1P"]["identities"]) + len(plans["GV2P"]["identities"])
    text = plan.render(rep)
    assert "lines not imported: 4" in text and "sip/00001.conf:" in text
    assert "already imported gv1p: tenants 5" in text and "the edge after this import" in text


@pytest.mark.parametrize("args,msg", [
    (["--server", "GV 2", "--address", "10.0.0.1"], "server name 'GV 2'"),
    (["--server", "GV2P", "--address", "not an address!"], "neither an IP address nor a DNS"),
    (["--server", "GV2P", "--address", "10.0.0.1"], "no such directory or file"),
])
def test_bad_import_arguments_get_one_line(tmp_path: Path, capsys, args, msg):
    from edgectl import cli
    rc = cli.main(["import", "chan-sip", *args, str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert rc == 1 and msg in err and len(err.strip().splitlines()) == 1, err
