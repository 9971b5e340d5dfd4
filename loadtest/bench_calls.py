#!/usr/bin/env python3
"""Call setups per second through the edge: proxy digest auth, number
resolution, dialing policy and relay to a registered device, per call --
and media anchored in rtpengine when the callers are behind NAT (--nat).

SIPp UACs (loadtest/sipp/uac_setup.xml: INVITE, 407, ACK, INVITE with
credentials, 200, ACK, BYE) call synthetic devices whose registered contacts
are SIPp UASs (uas_setup.xml), closed loop, the number of calls in flight
stepped while the rate grows. A benchmark, not a test: it asserts nothing.
(`make bench` compares the edge with native Kamailio: loadtest/bench.py.)

    # self-contained: a private stack on free loopback ports, synthetic devices
    loadtest/bench_calls.py --start-stack [--devices 2000] [--calls 10000] [--nat]

    # against any edge: a calls injection file (edgectl loadtest csv calls ...)
    # whose callees are registered at an answering UAS (README: load kit)
    loadtest/bench_calls.py --target 10.0.0.10:5060 --csv calls.csv --local-ip 10.0.0.50
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgectl import loadkit  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402
from loadtest.bench_register import describe  # noqa: E402

NAT_ADDRESS = "192.168.77.10"


def local(a: argparse.Namespace, work: Path) -> tuple[bl.Measured, list[bl.Measured]]:
    """A private stack, synthetic devices registered at answering UASs."""
    with bl.LocalEdge(work / "edge") as edge, bl.UasPool(2, work) as uas:
        shape = loadkit.Shape(a.tenants, max(2, a.devices // a.tenants))
        loadkit.provision(edge.cfg, shape)
        rows = loadkit.device_rows(edge.cfg, shape.tenant_ids())
        edge.wait_devices([r[2] for r in rows[::shape.devices_per_tenant]])
        system = edge.system()
        # every device registers; its contact is one of the answering UASs
        reg = loadkit.split(loadkit.register_csv(rows, contacts=uas.addresses,
                                                 expires=3600), a.procs, work / "reg.csv")
        m = bl.measure(system, bl.SIPP_DIR / "register.xml", reg, len(rows), work, limit=100)
        if m.failed:
            raise SystemExit(f"could not register the devices ({m.failed} failed)")
        pairs = [(c, e[1]) for c, e in loadkit.call_pairs(rows)]
        files = loadkit.split(loadkit.calls_csv(pairs, order="RANDOM",
                                                private_address=NAT_ADDRESS if a.nat else ""),
                              a.procs, work / "calls.csv")
        return bl.capacity(lambda lim: bl.measure(
            system, bl.SIPP_DIR / "uac_setup.xml", files, a.calls, work, limit=lim,
            extra=["-d", "0"]), a.limit)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", help="edge address host:port (with --csv)")
    ap.add_argument("--csv", type=Path, help="SIPp injection file for uac_setup.xml")
    ap.add_argument("--local-ip", help="with --target: this host's address as the edge sees it")
    ap.add_argument("--start-stack", action="store_true",
                    help="start a private stack and provision synthetic devices")
    ap.add_argument("--devices", type=int, default=2000, help="with --start-stack")
    ap.add_argument("--tenants", type=int, default=20, help="with --start-stack")
    ap.add_argument("--calls", type=int, default=5000, help="calls per run")
    ap.add_argument("--limit", type=int, default=25, help="calls in flight at first")
    ap.add_argument("--procs", type=int, default=2, help="SIPp UAC processes")
    ap.add_argument("--nat", action="store_true",
                    help=f"with --start-stack: callers behind NAT (Contact/SDP {NAT_ADDRESS}): "
                         "media via rtpengine")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    if not a.start_stack and not (a.target and a.csv):
        ap.error("give --target and --csv, or --start-stack")
    with tempfile.TemporaryDirectory(prefix="benchcalls") as d:
        work = Path(d)
        if not a.start_stack:
            files = loadkit.split(a.csv.read_text(), a.procs, work / "calls.csv")
            best, steps = bl.capacity(lambda lim: bl.measure(
                bl.System("edge", a.target, dict), bl.SIPP_DIR / "uac_setup.xml", files,
                a.calls, work, limit=lim, advertise=a.local_ip, extra=["-d", "0"]), a.limit)
        else:
            best, steps = local(a, work)
    for s in steps:
        print("  " + describe(s))
    what = "NATed callers, media anchored" if a.nat else ("no NAT" if a.start_stack else a.target)
    print(f"call setups through the edge ({what}): {describe(best)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
