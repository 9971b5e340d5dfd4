#!/usr/bin/env python3
"""Call setups per second through the edge: proxy digest auth, number
resolution, dialing policy and relay to a registered device, per call --
and media anchored in rtpengine when the callers are behind NAT (--nat).

SIPp UACs (loadtest/sipp/uac_setup.xml: INVITE, 407, ACK, INVITE with
credentials, 200, ACK, BYE) call synthetic devices whose registered contacts
are SIPp UASs (uas_setup.xml), closed loop, the number of calls in flight
stepped while the rate grows. A benchmark, not a test: it asserts nothing.
(`make bench` compares the edge with native Kamailio: loadtest/bench.py.)

    loadtest/bench_calls.py --start-stack [--devices 2000] [--calls 10000] [--nat]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start-stack", action="store_true", required=True,
                    help="start a private stack and provision synthetic devices")
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--calls", type=int, default=5000, help="calls per run")
    ap.add_argument("--limit", type=int, default=25, help="calls in flight at first")
    ap.add_argument("--procs", type=int, default=2, help="SIPp UAC processes")
    ap.add_argument("--nat", action="store_true",
                    help=f"callers behind NAT (Contact/SDP {NAT_ADDRESS}): media via rtpengine")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    with tempfile.TemporaryDirectory(prefix="benchcalls") as d:
        work = Path(d)
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
            best, steps = bl.capacity(lambda lim: bl.measure(
                system, bl.SIPP_DIR / "uac_setup.xml", files, a.calls, work, limit=lim,
                extra=["-d", "0"]), a.limit)
    for s in steps:
        print("  " + describe(s))
    what = "NATed callers, media anchored" if a.nat else "no NAT"
    print(f"call setups through the edge ({what}): {describe(best)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
