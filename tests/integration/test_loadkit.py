"""The load kit against the local edge: every SIPp scenario of loadtest/sipp
and the locust users run for a few seconds on devices provisioned and
exported by `edgectl loadtest`, and complete without a failed call; the
native baseline (and its routes as Python, the bench's floor) authenticates
and relays like the edge. Counts and
outcomes only -- no timing is asserted (the benchmark is `make bench`)."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from edgectl import loadkit, rpc, rtpengine
from harness import sipp
from testkit.edge import ROOT, Edge, wait_for
from testkit.sipmsg import SipClient
from loadtest.baseline import Baseline, credentials, write_credentials
from loadtest.benchlib import Measured, capacity, percentile

# load measured against the host's capacity: run alone (make test's serial pass)
pytestmark = pytest.mark.serial

SIPP = ROOT / "loadtest" / "sipp"
FIRST = 96100                        # this module's load-test tenants: 96100, 96101
TENANTS = ("96100", "96101")
PER_TENANT = 8
TOLERATE_REORDER = ["-default_behaviors", "all,-abortunexp"]


@pytest.fixture(scope="module")
def kit(edge: Edge) -> Iterator[Edge]:
    out = edge.ctl_ok("loadtest", "provision", "--tenants", "2", "--devices", str(PER_TENANT),
                      "--first-tenant", str(FIRST))
    assert f"provisioned {2 * PER_TENANT} devices" in out
    edge.wait_synced()
    yield edge
    edge.ctl_ok("loadtest", "remove", "--tenants", "2", "--first-tenant", str(FIRST))


def export(edge: Edge, tmp: Path, kind: str, *args: str) -> Path:
    path = tmp / f"{kind}.csv"
    edge.ctl_ok("loadtest", "csv", kind, "--tenants", "2", "--first-tenant", str(FIRST),
                *args, "-o", str(path))
    return path


def run(edge: Edge, scenario: str, inject: Path | None, calls: int, rate: float = 50,
        extra: tuple[str, ...] = ()) -> sipp.SippResult:
    res = sipp.run(edge.target, SIPP / scenario, calls=calls, rate=rate, timeout=30,
                   extra=[*(["-inf", str(inject)] if inject else []), *TOLERATE_REORDER,
                          *extra])
    assert res.rc == 0, res.describe()
    return res


def unregister_all(edge: Edge) -> None:
    for tenant in TENANTS:
        for i in range(PER_TENANT):
            try:
                edge.rpc("ul.rm", "location", f"{loadkit.FIRST_EXTENSION + i}@{tenant}")
            except rpc.RpcError:
                pass                              # not registered


# -- edgectl loadtest ---------------------------------------------------------------

def test_csv_files_follow_the_provisioned_devices(kit: Edge, tmp_path: Path):
    reg = export(kit, tmp_path, "register", "--expires", "120").read_text().splitlines()
    assert reg[0] == "SEQUENTIAL" and len(reg) == 1 + 2 * PER_TENANT
    au, auth, expires, contact, _ = reg[1].split(";")
    assert (au, expires, contact) == ("9610010000", "120", "")
    assert auth == f"[authentication username={au} password=lt-96100-10000-pw]"

    calls = export(kit, tmp_path, "calls", "--private-address", "192.168.1.9",
                   "--order", "RANDOM").read_text().splitlines()
    # each tenant: its first half calls its second half, inside the tenant
    assert calls[0] == "RANDOM" and len(calls) == 1 + PER_TENANT
    assert calls[1].split(";")[0::2] == ["9610010000", "10004", ""]
    assert calls[1].split(";")[3] == "192.168.1.9"

    callees = export(kit, tmp_path, "register", "--role", "callees", "--contact",
                     "127.0.0.1:5999").read_text().splitlines()
    assert [ln.split(";")[0] for ln in callees[1:3]] == ["9610010004", "9610010005"]
    assert all(ln.split(";")[3] == "127.0.0.1:5999" for ln in callees[1:])

    with open(export(kit, tmp_path, "devices", "--per-tenant", "2")) as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert rows[0] == loadkit.DEVICES_HEADER.split(";")
    assert rows[1:] == [["96100", "10000", "9610010000", "lt-96100-10000-pw"],
                        ["96100", "10001", "9610010001", "lt-96100-10001-pw"],
                        ["96101", "10000", "9610110000", "lt-96101-10000-pw"],
                        ["96101", "10001", "9610110001", "lt-96101-10001-pw"]]

    listed = kit.ctl_ok("loadtest", "list")
    assert re.search(r"(?m)^96100\s+8$", listed) and re.search(r"(?m)^96101\s+8$", listed)


def test_loadtest_commands_refuse_bad_input_in_one_line(kit: Edge):
    customer = kit.new_tenant("A customer")
    cases = [
        (("loadtest", "remove", "--tenant", customer), "is not a load-test tenant"),
        (("loadtest", "remove", "--tenant", "96999"), "unknown tenant 96999"),
        (("loadtest", "csv", "register"), "choose the tenants"),
        (("loadtest", "provision", "--tenants", "1", "--devices", "2", "--first-tenant",
          str(FIRST)), "a tenant with that id already exists"),
        (("loadtest", "provision", "--tenants", "2", "--devices", "2", "--first-tenant",
          "99999"), "too many load-test tenants"),
        (("loadtest", "provision", "--tenants", "1", "--devices", "2", "--first-tenant",
          "96900", "--pattern", "{nope}"), "bad password pattern"),
        (("loadtest", "csv", "calls", "--tenant", customer), "no devices"),
    ]
    for args, message in cases:
        out = kit.ctl(*args)
        assert out.returncode != 0, args
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    # nothing was written by the refused commands
    assert kit.ctl_ok("tenant", "list").count("loadtest ") == 2


# -- SIPp scenarios -----------------------------------------------------------------

def test_register_scenario_registers_every_device_with_its_own_contact(kit: Edge,
                                                                       tmp_path: Path):
    res = run(kit, "register.xml", export(kit, tmp_path, "register"), 2 * PER_TENANT)
    assert res.received_codes.count(200) == 2 * PER_TENANT
    assert res.received_codes.count(401) == 2 * PER_TENANT
    # an empty contact field registers the SIPp process itself
    via = re.search(r"(?m)^Via: SIP/2.0/UDP ([\d.]+:\d+)", res.sent[0])
    assert via
    for tenant in TENANTS:
        contacts = kit.contacts(tenant, "10003")
        assert [c["Address"] for c in contacts] == [
            f"sip:{tenant}10003@{via.group(1)};transport=UDP"]
    unregister_all(kit)
    assert kit.contacts(TENANTS[0], "10003") == []


def test_options_scenario(kit: Edge):
    res = run(kit, "options.xml", None, 20)
    assert res.received_codes == [200] * 20


def test_call_scenarios_with_and_without_media(kit: Edge, tmp_path: Path):
    """uac_call.xml (RTP from the pcap, caller behind NAT: media through
    rtpengine) against uas.xml (answers and plays RTP); uac_setup.xml against
    uas_setup.xml."""
    with sipp.SippServer(SIPP / "uas.xml") as uas:
        run(kit, "register.xml", export(kit, tmp_path, "register", "--role", "callees",
                                        "--contact", f"127.0.0.1:{uas.port}"), PER_TENANT)
        ng = (kit.cfg.rtpengine.ng_host, kit.cfg.rtpengine.ng_port)
        before = rtpengine.command(*ng, {"command": "statistics"})["statistics"]
        res = run(kit, "uac_call.xml", export(kit, tmp_path, "calls", "--private-address",
                                              "192.168.50.7"), 4, rate=4,
                  extra=("-d", "1500", "-l", "4"))
        assert res.received_codes.count(407) == 4
        answered = [m for m in res.received
                    if m.startswith("SIP/2.0 200") and re.search(r"(?m)^CSeq: 2 INVITE", m)]
        assert len(answered) == 4
        # NATed callers: the answer they got carries rtpengine's address
        assert all(f"c=IN IP4 {kit.cfg.rtpengine.interface}" in m for m in answered)
        after = rtpengine.command(*ng, {"command": "statistics"})["statistics"]
        assert after["totalstatistics"]["managedsessions"] \
            >= before["totalstatistics"]["managedsessions"] + 4
        wait_for(lambda: len(uas.received_requests("BYE")) == 4, what="BYEs at the callee")
    with sipp.SippServer(SIPP / "uas_setup.xml") as uas:
        run(kit, "register.xml", export(kit, tmp_path, "register", "--role", "callees",
                                        "--contact", f"127.0.0.1:{uas.port}"), PER_TENANT)
        res = run(kit, "uac_setup.xml", export(kit, tmp_path, "calls"), 20, rate=40,
                  extra=("-d", "0"))
        assert res.received_codes.count(407) == 20
        wait_for(lambda: len(uas.received_requests("BYE")) == 20, what="BYEs at the callee")
    unregister_all(kit)


def test_soak_scenarios_refused_calls_and_wrong_passwords(kit: Edge, tmp_path: Path):
    """loadtest/soak.py's refusal scenarios: calls to devices that exist but
    are not registered end in 480 and are ACKed (uac_refused.xml); a wrong
    password is refused (register_wrong.xml), and a right one fails that
    scenario."""
    unregister_all(kit)
    res = run(kit, "uac_refused.xml", export(kit, tmp_path, "calls"), 4, rate=10)
    assert res.received_codes.count(480) == 4 and 200 not in res.received_codes
    assert sum(m.startswith("ACK ") and "CSeq: 2 ACK" in m for m in res.sent) == 4
    wrong = export(kit, tmp_path, "register", "--pattern", "wrong-{tenant}-{ext}")
    res = run(kit, "register_wrong.xml", wrong, 4, rate=10)
    assert res.received_codes.count(401) == 8 and 200 not in res.received_codes
    right = sipp.run(kit.target, SIPP / "register_wrong.xml", calls=1, rate=10, timeout=30,
                     extra=["-inf", str(export(kit, tmp_path, "register"))])
    assert res.rc == 0 and right.rc != 0 and 200 in right.received_codes
    unregister_all(kit)


# -- locust -------------------------------------------------------------------------

def test_locust_users_register_and_call_without_failures(kit: Edge, tmp_path: Path):
    devices = export(kit, tmp_path, "devices")
    out = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locust" /
                                                   "locustfile.py"),
         "--headless", "-u", "6", "-r", "6", "-t", "5s", "--csv", str(tmp_path / "out"),
         "--host", kit.target, "--devices-csv", str(devices), "--think-min", "0.1",
         "--think-max", "0.3", "--hold", "0.2", "--only-summary", "--stop-timeout", "5",
         "--loglevel", "WARNING"],
        capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    with open(tmp_path / "out_stats.csv") as fh:
        stats = {(r["Type"], r["Name"]): r for r in csv.DictReader(fh)}
    for key in (("REGISTER", "digest register"), ("REGISTER", "callee register"),
                ("INVITE", "call setup"), ("BYE", "hangup")):
        assert key in stats, sorted(stats)
        assert int(stats[key]["Request Count"]) > 0, stats[key]
        assert int(stats[key]["Failure Count"]) == 0, stats[key]
    # the callees unregistered when their users stopped
    for tenant in TENANTS:
        assert kit.contacts(tenant, "10004") == []


# -- the baseline -------------------------------------------------------------------

@pytest.mark.parametrize("kemi", [False, True], ids=["native", "python-twin"])
def test_baseline_authenticates_and_relays_like_the_edge(kit: Edge, tmp_path: Path, kemi: bool):
    # native: the yardstick; python-twin: its routes as Python KEMI (twin.py),
    # the bench's floor -- the same replies, the same relay, the same CDRs
    base = Baseline(kit.cfg, tmp_path / "baseline", children=2, shm_mb=64, kemi=kemi)
    write_credentials(base.creds_dir, credentials(kit.cfg, TENANTS))
    base.start()
    try:
        assert base.credentials_loaded() == 2 * PER_TENANT
        host, port = base.target.split(":")
        with SipClient((host, int(port))) as c:
            first, second = c.register("9610010000", "lt-96100-10000-pw")
            assert first and first.code == 401 and 'realm="sipedge"' in \
                (first.header("www-authenticate") or "")
            assert second and second.code == 200
            _, wrong = c.register("9610010001", "not-the-password")
            assert wrong and wrong.code == 401
            _, unknown = c.register("9619919999", "whatever")
            assert unknown and unknown.code == 401
        contacts = base.rpc("ul.lookup", "location", "10000@96100")
        assert len(contacts["Contacts"]) == 1           # type: ignore[index]
        with sipp.SippServer(SIPP / "uas_setup.xml") as uas:
            reg = sipp.run(base.target, SIPP / "register.xml", calls=PER_TENANT, rate=100,
                           extra=["-inf", str(export(kit, tmp_path, "register", "--role",
                                                     "callees", "--contact",
                                                     f"127.0.0.1:{uas.port}"))])
            assert reg.rc == 0, reg.describe()
            calls = sipp.run(base.target, SIPP / "uac_setup.xml", calls=8, rate=40,
                             extra=["-inf", str(export(kit, tmp_path, "calls",
                                                       "--private-address", "10.1.2.3")),
                                    "-d", "0", *TOLERATE_REORDER])
            assert calls.rc == 0, calls.describe()
            invite = uas.received_requests("INVITE")[0]
            # the same work as the edge: record-routed inside its dialog (did), media
            # anchored for a NATed caller
            assert re.search(r"(?m)^Record-Route: <sip:127.0.0.1:\d+;lr;ftag=[^;>]+;did=[^;>]+;ma=1>",
                             invite), invite
            assert f"c=IN IP4 {kit.cfg.rtpengine.interface}" in invite
            # and the edge's call record: one CDR per call, from its dialog
            wait_for(lambda: len(_spooled(base.cdr_dir)) >= 8, timeout=10,
                     what="the baseline's CDRs")
            records = _spooled(base.cdr_dir)
            assert len(records) == 8 and all("|200|OK|" in r for r in records), records
        errors = [ln for ln in base.log_path.read_text().splitlines() if "ERROR" in ln]
        assert not errors, errors[:5]       # e.g. a transaction route armed but never run
    finally:
        base.stop()
    assert not base.alive()


def _spooled(spool: Path) -> list[str]:
    """Records acc wrote through db_flatstore (one line each, every file)."""
    return [ln for f in sorted(spool.glob("*")) for ln in f.read_text().splitlines() if ln]


# -- the benchmark's own logic (pure) --------------------------------------------------

def _run(rate: float, limit: int, failed: int = 0, retransmitted: int = 0) -> Measured:
    return Measured("x", rate, 1000, failed, retransmitted, 1.0, limit, 0, 1.0, 1.0, {}, 0.5,
                    [0.2], 0, 0, None)


def test_capacity_keeps_the_fastest_sustained_concurrency():
    def curve(points: dict[int, tuple[float, int, int]]):
        tried: list[int] = []

        def run(limit: int):
            tried.append(limit)
            rate, failed, retr = points.get(limit, (0.0, 1, 0))
            return _run(rate, limit, failed, retr)
        return run, tried

    # grows until doubling stops paying: the plateau's first point wins
    run, tried = curve({25: (800, 0, 0), 50: (1000, 0, 0), 100: (1020, 0, 0)})
    best, steps = capacity(run, 25)
    assert (tried, best.limit) == ([25, 50, 100], 50)
    # failures, or more than 1% retransmitted, are not sustained however fast
    run, tried = curve({25: (800, 0, 0), 50: (1500, 0, 30), 100: (2000, 3, 0)})
    best, _ = capacity(run, 25)
    assert (tried[:2], best.limit, best.rate) == ([25, 50], 25, 800)
    # a peak below the start is found by halving
    run, tried = curve({25: (800, 0, 0), 50: (700, 0, 0), 12: (900, 0, 0), 6: (850, 0, 0)})
    best, _ = capacity(run, 25)
    assert (tried, best.limit) == ([25, 50, 12, 6], 12)
    # nothing sustained at all: the last run is reported, not a made-up rate
    run, tried = curve({})
    best, steps = capacity(run, 25)
    assert best.failed and best is steps[-1]


def test_percentile_is_nearest_rank():
    samples = list(range(1, 101))
    assert (percentile(samples, 50), percentile(samples, 99), percentile([7], 99)) == (50, 99, 7)
