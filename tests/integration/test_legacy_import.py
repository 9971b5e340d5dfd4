"""Cutover from the legacy chan_sip servers on the live edge (issue 14).

The three generated servers (tests/harness/legacy_tree.py) are imported with
the real CLI into one stack of this module, which also listens on GV1P's and
GV2P's old addresses (127.0.0.21, 127.0.0.22); GV3P is bound to a DNS name.
Phones then register with their legacy peer names and secrets to their old
server's address, and call as they did there.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from typing import Any, Iterator

import pytest

from edgecore import pool as edge_pool
from harness import sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient, authorization
from harness.calls import ack_for
from harness.legacy_estate import (ADDR, GV3P_NAME, MEMBER_IP, SCEN, UAC, Estate,
                                   baresip_registers, register, sipp_register)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    base = tmp_path_factory.mktemp("legacy")
    e = Edge(base / "edge", sip={"legacy_listen": list(ADDR.values())})
    e.start()
    try:
        yield Estate(e, base)
    finally:
        e.stop()


# -- refusals first: nothing may be written -------------------------------------------

def test_broken_tree_is_refused_with_file_line_and_nothing_written(estate: Estate):
    broken = estate.base / "broken"
    shutil.copytree(estate.trees["GV1P"].root, broken)
    rg = broken / "dialplan" / "95.rgdial"
    lines = rg.read_text().splitlines()
    lines.insert(2, "exten => 95,n,Dial(SIP/3000)x")      # still a setting: fine
    lines.insert(3, "this line is not asterisk config")
    rg.write_text("\n".join(lines) + "\n")
    before = estate.rows()
    out = estate.edge.ctl(*estate.args("GV1P", broken))
    assert out.returncode != 0
    assert "dialplan/95.rgdial:4: not a setting" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert estate.rows() == before
    # a missing #include is as fatal
    (broken / "dialplan" / "95.rgdial").write_text("exten => 95,1,NoOp(x)\n")
    (broken / "endpoints_dialplan_rg.def").write_text("#include dialplan/nope.rgdial\n")
    out = estate.edge.ctl(*estate.args("GV1P", broken))
    assert out.returncode != 0 and "endpoints_dialplan_rg.def:1: included file" in out.stderr
    assert estate.rows() == before


def test_dry_run_reports_and_writes_nothing(estate: Estate):
    before = estate.rows()
    out = estate.edge.ctl_ok(*estate.args("GV2P"), "--dry-run", "--json")
    rep = json.loads(out)
    assert rep["counts"]["devices"] == len(estate.trees["GV2P"].server.peers)
    assert rep["counts"]["ring_groups"] == 125
    assert rep["global_tenants"] == ["00001", "00002"]
    bad = {p.split(": ")[0] for p in rep["unimportable"]}
    assert bad == set(estate.trees["GV2P"].server.bad), rep["unimportable"]
    assert rep["reachability_lost"] and "dials any extension" in rep["reachability_note"]
    assert estate.rows() == before
    text = estate.edge.ctl_ok(*estate.args("GV2P"), "--dry-run")
    assert "lines not imported: 4" in text and "reachability that changes" in text
    # the same tree as a tarball reads the same
    tgz = shutil.make_archive(str(estate.base / "gv2p"), "gztar",
                              root_dir=estate.trees["GV2P"].root.parent, base_dir="GV2P")
    assert json.loads(estate.edge.ctl_ok("import", "chan-sip", "--server", "GV2P", "--address",
                                         ADDR["GV2P"], "--dry-run", "--json", tgz)) == rep


# -- the import -----------------------------------------------------------------------

def test_import_all_three_servers(estate: Estate):
    for server in ("GV1P", "GV2P", "GV3P"):
        t0 = time.monotonic()
        out = json.loads(estate.edge.ctl_ok(*estate.args(server), "--json"))
        estate.import_seconds[server] = time.monotonic() - t0
        assert out["changes"]["created"] > 0
    total = sum(estate.import_seconds.values())
    print(f"import of the three servers: {total:.2f}s "
          + ", ".join(f"{k} {v:.2f}s" for k, v in estate.import_seconds.items()))
    rows = estate.rows()
    peers = {(s, p.name) for s, t in estate.trees.items() for p in t.server.peers.values()}
    assert len(rows["identities"]) == len(peers)
    # same tenant and number on several servers: one device
    devices = {(p.tenant, p.name) for t in estate.trees.values() for p in t.server.peers.values()}
    assert len([d for d in rows["devices"] if d[0] in {t for t, _ in devices}]) == len(devices)
    assert (ADDR["GV1P"], "gv1p", "asterisk") in rows["namespaces"]
    assert (GV3P_NAME, "gv3p", "asterisk") in rows["namespaces"]
    estate.edge.wait_synced()


def test_reimport_is_a_noop(estate: Estate):
    before = estate.rows()
    out = estate.edge.ctl_ok(*estate.args("GV2P"))
    assert "nothing changed" in out
    assert estate.rows() == before


def test_same_number_in_two_namespaces_both_register(estate: Estate):
    """1000 is Baluarte's (00129) on GV1P and 00003's on GV2P: same peer name,
    different phones; each registers with its own secret to its own server's
    address, SIPp to one, baresip to the other."""
    gv1, gv2 = estate.peer("GV1P", "1000"), estate.peer("GV2P", "1000")
    assert gv1.tenant != gv2.tenant
    res = sipp_register(estate.edge_addr("GV1P"), "1000", gv1.password)
    assert res.received_codes[-1] == 200, res.describe()
    wait_for(lambda: estate.edge.contacts(gv1.tenant, "1000"), what="GV1P 1000 registered")
    baresip_registers(estate.edge_addr("GV2P"), "1000", gv2.password,
                      lambda: estate.edge.contacts(gv2.tenant, "1000"))
    # an md5secret peer registers with the password its HA1 was made from
    md5 = next(p for p in estate.trees["GV2P"].server.peers.values() if p.md5)
    assert register(estate.edge_addr("GV2P"), md5.name, md5.password) == 200


def test_wrong_namespace_is_refused_like_a_wrong_password(estate: Estate):
    gv1 = estate.peer("GV1P", "1000")
    wrong_ns = register(estate.edge_addr("GV2P"), "1000", gv1.password)
    wrong_pw = register(estate.edge_addr("GV1P"), "1000", "not-the-secret")
    unknown = register(estate.edge_addr("GV1P"), "8999", "whatever")
    assert wrong_ns == wrong_pw == unknown == 401
    # the native namespace does not know legacy names, nor "<ns>/<peer>" identities
    assert register(estate.edge.sip, "1000", gv1.password) == 401
    assert register(estate.edge.sip, "gv1p/1000", gv1.password) == 401


def test_dns_name_namespace_registers_and_calls_by_request_uri(estate: Estate):
    p = next(iter(x for x in estate.trees["GV3P"].server.peers.values() if x.tenant == "00131"))
    assert register(estate.edge.sip, p.name, p.password, domain=GV3P_NAME) == 200
    assert estate.edge.contacts("00131", p.name)
    # a call to the server's name is the edge's to route (not a foreign domain):
    # a known number of the tenant, not registered, is 480
    callee = next(x.name for x in estate.trees["GV3P"].server.peers.values()
                  if x.tenant == "00131" and x.name != p.name)
    with SipClient(estate.edge.sip) as c:
        ruri, me = f"sip:{callee}@{GV3P_NAME}", f"sip:{p.name}@{GV3P_NAME}"
        contact = f"<sip:{p.name}@{c.local[0]}:{c.local[1]}>"
        challenge = c.request(c.build("INVITE", ruri, me, ruri, contact=contact))
        assert challenge is not None and challenge.code == 407
        assert 'realm="asterisk"' in (challenge.header("proxy-authenticate") or "")
        auth = authorization(challenge.header("proxy-authenticate") or "", "INVITE", ruri,
                             p.name, p.password, header="Proxy-Authorization")
        invite = c.build("INVITE", ruri, me, ruri, [auth], contact=contact)
        final = c.request(invite)
        assert final is not None and final.code == 480, final.raw if final else None
        c.send_raw(ack_for(invite))


def test_status_shows_registrations_and_failures_per_server(estate: Estate):
    d = json.loads(estate.edge.ctl_ok("status", "--json"))
    rows = {r["namespace"]: r for r in d["legacy_servers"]}
    assert set(rows) == {"gv1p", "gv2p", "gv3p"}
    assert rows["gv1p"]["addresses"] == [ADDR["GV1P"]]
    # the tests above: registrations to each server, refusals to gv1p and gv2p
    assert all(rows[n]["registrations"] >= 1 for n in rows), rows
    assert rows["gv1p"]["auth_failures"] >= 2 and rows["gv2p"]["auth_failures"] >= 1, rows
    assert "legacy servers" in estate.edge.ctl_ok("status")


def _redis_commands(edge: Edge, names: tuple[str, ...]) -> int:
    stats = edge.redis().info("commandstats")
    return sum(int(stats.get(f"cmdstat_{n}", {}).get("calls", 0)) for n in names)


def test_namespace_lookup_costs_no_redis_round_trip_per_request(estate: Estate):
    """The namespace table is read once per read-model version by each
    worker, never per request."""
    p = estate.peer("GV2P", "1002")
    addr = estate.edge_addr("GV2P")
    workers = estate.edge.cfg.sip.children + estate.edge.cfg.sip.tcp_children
    with SipClient(addr) as c:
        assert c.register("1002", p.password)[1].code == 200
        before = _redis_commands(estate.edge, ("hgetall",))
        for _ in range(15):                              # 30 requests
            assert c.register("1002", p.password)[1].code == 200
        assert _redis_commands(estate.edge, ("hgetall",)) - before <= workers


def test_a_new_address_of_a_server_applies_live(estate: Estate):
    """Re-importing with another DNS name only changes the namespace table;
    the running edge takes it without a restart."""
    p = next(iter(x for x in estate.trees["GV3P"].server.peers.values() if x.tenant == "00131"))
    other = "pabx3.legacy.test"
    assert register(estate.edge.sip, p.name, p.password, domain=other) == 401
    root = str(estate.trees["GV3P"].root)
    out = json.loads(estate.edge.ctl_ok("import", "chan-sip", "--server", "GV3P", "--address",
                                        GV3P_NAME, "--address", other, root, "--json"))
    assert out["changes"] == {"created": 1, "updated": 0, "deleted": 0}, out
    wait_for(lambda: register(estate.edge.sip, p.name, p.password, domain=other) == 200,
             what="the new name served")
    estate.edge.ctl_ok("import", "undo", str(out["import"]))
    wait_for(lambda: register(estate.edge.sip, p.name, p.password, domain=other) == 401,
             what="the name withdrawn")
    assert register(estate.edge.sip, p.name, p.password, domain=GV3P_NAME) == 200


def _explain(estate: Estate, caller: str, dialled: str) -> dict[str, Any]:
    return json.loads(estate.edge.ctl_ok("explain", caller, dialled, "--json"))


def test_each_namespace_reaches_its_own_tenants_numbers(estate: Estate):
    """7001 is a ring group of 00128 on GV1P and of 00003 on GV2P; 1001 an
    extension of each; a call from each namespace's 1000 reaches its own."""
    for server, tenant in (("GV1P", "00129"), ("GV2P", "00003")):
        e = _explain(estate, f"{server.lower()}/1000", "1001")
        assert (e["caller_tenant"], e["target_tenant"], e["target_kind"], e["allowed"]) == \
            (tenant, tenant, "device", True), e
    e = _explain(estate, "00003:1000", "7001")             # TENANT:EXT names the device too
    assert (e["caller"], e["target_tenant"], e["target_kind"], e["allowed"]) == \
        ("gv2p/1000", "00003", "ring_group", True)
    e = _explain(estate, "gv1p/1000", "201")            # Baluarte's own ring group there
    assert (e["target_tenant"], e["target_kind"], e["allowed"]) == ("00129", "ring_group", True)


def test_a_legacy_phone_calls_its_tenants_extension(estate: Estate):
    caller, callee = estate.peer("GV2P", "1000"), estate.peer("GV2P", "1001")
    addr = estate.edge_addr("GV2P")
    with sipp.SippServer(SCEN / "uas_answer.xml") as uas:
        with SipClient(addr) as c:
            _, r = c.register("1001", callee.password, contact_port=uas.port)
            assert r is not None and r.code == 200
        row = ["1000", f"[authentication username=1000 password={caller.password}]", "1001",
               "1000", "127.0.0.1", "127.0.0.1"]
        res = sipp.run(f"{addr[0]}:{addr[1]}", SCEN / "call_any.xml", [row],
                       extra=["-d", "200", "-default_behaviors", "all,-abortunexp"], timeout=20)
        assert 200 in res.received_codes, res.describe()
        assert uas.received_requests("INVITE")


def test_each_namespace_reaches_its_own_ring_group_through_the_pool(estate: Estate):
    """GV2P's 1000 (00003) dials 7001, its reseller's ilha; GV1P's 1000
    (00129) dials 201, Baluarte's; 7001 of GV1P is 00128's and admits only
    00128 and support: refused to GV1P's 1000, as on the legacy server."""
    e = estate.edge
    with sipp.SippServer(SCEN / "member.xml", local_ip=MEMBER_IP, port=5060) as member:
        e.ctl_ok("pool", "add", f"sip:{MEMBER_IP}:5060")
        try:
            for server, dialled, tenant, targets in (
                    ("GV2P", "7001", "00003", "00003*1000,00003*1001,00003*1002"),
                    ("GV1P", "201", "00129", "00129*3010,00129*3011,00129*3012")):
                addr = estate.edge_addr(server)
                pw = estate.peer(server, "1000").password
                before = len(member.received_requests("INVITE"))
                res = sipp.run(f"{addr[0]}:{addr[1]}", UAC,
                               [["1000", f"[authentication username=1000 password={pw}]",
                                 dialled]], timeout=20,
                               extra=["-d", "100", "-default_behaviors", "all,-abortunexp"])
                assert res.rc == 0, res.describe()
                inv = member.received_requests("INVITE")[before]

                def header(name: str, inv: str = inv) -> list[str]:
                    return re.findall(rf"(?im)^{re.escape(name)}:\s*(.*?)\s*$", inv)
                assert header(edge_pool.H_TENANT) == [tenant]
                assert header(edge_pool.H_DEST) == [dialled]
                assert header(edge_pool.H_TARGETS) == [targets]
            refused = _explain(estate, "gv1p/1000", "7001")
            assert (refused["allowed"], refused["predicted_code"]) == (False, 404), refused
        finally:
            e.ctl("pool", "remove", f"sip:{MEMBER_IP}:5060", "--force")


def test_verify_shows_only_the_explained_difference(estate: Estate):
    for server in ("gv1p", "gv2p", "gv3p"):
        t0 = time.monotonic()
        out = estate.edge.ctl("import", "verify", server, "--json")
        print(f"verify {server}: {time.monotonic() - t0:.2f}s")
        res = json.loads(out.stdout)
        assert res["unexplained"] == [], res["unexplained"][:5]
        assert out.returncode == 0, out.stderr
        assert res["same"] > 0 and res["qualified"] > 0     # support reaching everyone
        assert res["identities_missing"] == []
        # [record]: direct cross-reseller calls worked on every legacy server
        assert res["explained"]["record"] > 0
    gv1 = json.loads(estate.edge.ctl_ok("import", "verify", "gv1p", "--json"))
    assert gv1["explained"]["exception"] == 2       # 00130 admitted to 201 only, now to all
    text = estate.edge.ctl_ok("import", "verify", "gv1p")
    assert "unexplained differences: 0" in text


def test_changed_input_updates_and_undo_restores(estate: Estate):
    before = estate.rows()
    changed = estate.base / "gv1p-changed"
    shutil.copytree(estate.trees["GV1P"].root, changed)
    f = changed / "sip" / "00130.conf"
    text = f.read_text()
    gv1 = estate.peer("GV1P", "8000")
    assert f"secret={gv1.password}" in text
    f.write_text(text.replace(f"secret={gv1.password}", "secret=Changed2024!"))
    out = json.loads(estate.edge.ctl_ok(*estate.args("GV1P", changed), "--json"))
    assert out["changes"] == {"created": 0, "updated": 1, "deleted": 0}, out
    estate.edge.wait_synced()
    addr = estate.edge_addr("GV1P")
    wait_for(lambda: register(addr, "8000", "Changed2024!") == 200, what="new secret works")
    # a new peer next to 00130's 8000-8009: its range grows to 8000-8010
    again = estate.base / "gv1p-grown"
    shutil.copytree(changed, again)
    with (again / "sip" / "00130.conf").open("a") as fh:
        fh.write('[8010](condominio)\nsecret=Novo2024!\ncallerid="Novo" <8010>\n'
                 "setvar=REVENDA=00130\n")
    grown = json.loads(estate.edge.ctl_ok(*estate.args("GV1P", again), "--json"))
    with estate.edge.db() as c:
        assert ("8000", "8010") in c.execute("SELECT first_number, last_number FROM"
                                             " number_ranges WHERE tenant_id = '00130'").fetchall()
    estate.edge.wait_synced()
    wait_for(lambda: register(addr, "8010", "Novo2024!") == 200, what="added peer registers")
    assert register(addr, "8001", estate.peer("GV1P", "8001").password) == 200
    estate.edge.ctl_ok("import", "undo", str(grown["import"]))
    first = [i for i in json.loads(estate.edge.ctl_ok("import", "list", "--json"))
             if i["server"] == "gv1p"][0]
    refused = estate.edge.ctl("import", "undo", str(first["id"]))   # not the latest of gv1p
    assert refused.returncode != 0 and f"undo {out['import']} first" in refused.stderr
    estate.edge.ctl_ok("import", "undo", str(out["import"]))
    assert estate.rows() == before
    again = estate.edge.ctl("import", "undo", str(out["import"]))
    assert again.returncode != 0 and "already undone" in again.stderr
    estate.edge.wait_synced()
    wait_for(lambda: register(addr, "8000", gv1.password) == 200, what="old secret back")
    # undoing a server's only import removes what it alone brought
    imports = json.loads(estate.edge.ctl_ok("import", "list", "--json"))
    gv3 = [i for i in imports if i["server"] == "gv3p" and not i["undone_at"]][-1]
    estate.edge.ctl_ok("import", "undo", str(gv3["id"]))
    rows = estate.rows()
    assert "00131" not in {t[0] for t in rows["tenants"]}
    assert GV3P_NAME not in {n[0] for n in rows["namespaces"]}
    assert {"00001", "00002"} <= {t[0] for t in rows["tenants"]}    # still on GV1P/GV2P
    estate.edge.ctl_ok(*estate.args("GV3P"))
