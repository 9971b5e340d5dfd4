#!/usr/bin/env python3
"""`make soak`: N minutes of mixed traffic against a private edge, watching
for what grows and what does not come back.

A private stack on free loopback ports (benchlib.LocalEdge) with synthetic
tenants (edgectl.loadkit; each tenant with a call limit, so every call
takes and must give back a call slot), then, all at once, from SIPp
processes (loadtest/sipp/):

* REGISTER refreshes of the callee devices (register.xml, contacts at
  answering SIPp UASs, every device about every 30 s);
* calls without NAT (uac_setup.xml, held ``--hold`` ms, BYE);
* calls from callers behind NAT (private Contact/SDP: media anchored in
  rtpengine);
* calls to numbers that exist but are not registered (uac_refused.xml: 480);
* REGISTERs with a wrong password (register_wrong.xml).

Before, during and after the load (``--settle`` seconds, the registrations
left to expire) it samples every ``--sample`` seconds: Kamailio's private
memory (RssAnon of its processes) and shared memory in use (core.shmmem),
dialogs and transactions in progress, contacts (usrloc statistics), Redis
keys and call slots (edge:calls:*), rtpengine sessions, open file
descriptors (Kamailio, rtpengine, Redis) and the size of the stack's logs.
It prints each figure at the start, its peak, at the end of the load and
after settling, what grew and what did not return to its starting value,
and writes every sample to loadtest/results/soak-<time>.json. Not part of
the suite: it asserts nothing.

    loadtest/soak.py [--minutes 10] [--rate 20] [--hold 2000] [--settle 90]
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgecore.config import Config  # noqa: E402
from edgectl import loadkit, rpc  # noqa: E402
from edgectl import ops as edgeops  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402

RESULTS = ROOT / "loadtest" / "results"
NAT_ADDRESS = "192.168.77.10"         # what the NATed callers put in Contact and SDP
REFRESH_EVERY = 30.0                  # seconds between a callee's REGISTERs
REG_EXPIRES = 60                      # the registrar's min_expires (default)

# figures whose growth during the load is expected (the log grows, contacts
# expire afterwards): reported, not flagged
CUMULATIVE = {"log_bytes"}


# -- what is sampled ----------------------------------------------------------------

def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _fds(pids: list[int]) -> int:
    n = 0
    for pid in pids:
        try:
            n += len(list(Path(f"/proc/{pid}/fd").iterdir()))
        except OSError:
            continue
    return n


def _stats(sock: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in rpc.call(sock, "stats.get_statistics", "all", timeout=5.0) or []:
        name, _, value = str(line).partition(" = ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def shm_by_site(sock: Path) -> dict[str, int]:
    """Kamailio's shared memory in use by allocation site (``mod.stats all
    shm``, core/kex mod_stats: "<module>/<function>(<line>)" -> bytes), so a
    growth says which module holds it."""
    out: dict[str, int] = {}
    module = ""
    for item in rpc.call(sock, "mod.stats", "all", "shm", timeout=10.0) or []:
        if isinstance(item, str) and item.startswith("Module: "):
            module = item.removeprefix("Module: ")
        elif isinstance(item, dict):
            for site, size in item.items():
                if site != "Total":
                    out[f"{module}/{site}"] = int(size)
    return out


def shm_growth(before: dict[str, int], after: dict[str, int], top: int = 8) -> list[str]:
    """The allocation sites (and modules) that hold more after than before,
    largest first."""
    sites = {k: after.get(k, 0) - before.get(k, 0) for k in before.keys() | after.keys()}
    mods: dict[str, int] = {}
    for k, d in sites.items():
        mods[k.split("/", 1)[0]] = mods.get(k.split("/", 1)[0], 0) + d
    lines = [f"{m} {d / 1024:+.0f} KB" for m, d in sorted(mods.items(), key=lambda x: -x[1])
             if d > 0][:top]
    lines += [f"  {k} {d / 1024:+.0f} KB" for k, d in sorted(sites.items(), key=lambda x: -x[1])
              if d > 0][:top]
    return lines


def key_families(url: str) -> dict[str, int]:
    """Redis keys by family: the key up to its last ':' part with digits
    (edge:calls:d:9000010001 -> edge:calls:d), so a leak says what leaks."""
    import redis

    r = redis.Redis.from_url(url, decode_responses=True)
    out: dict[str, int] = {}
    try:
        for key in r.scan_iter(count=1000):
            parts = key.split(":")
            while len(parts) > 1 and any(ch.isdigit() for ch in parts[-1]):
                parts.pop()
            fam = ":".join(parts)
            out[fam] = out.get(fam, 0) + 1
    finally:
        r.close()
    return out


def sampler(edge: bl.LocalEdge) -> Callable[[], dict[str, float]]:
    import redis

    st, cfg = edge.stack, edge.cfg
    r = redis.Redis.from_url(cfg.redis.url, decode_responses=True)

    def sample() -> dict[str, float]:
        kam = bl.process_tree(st.kamailio.pid or 0)
        stats = _stats(cfg.rpc_socket)
        shm = rpc.call(cfg.rpc_socket, "core.shmmem", timeout=5.0) or {}
        slots = 0
        for key in r.scan_iter(match="edge:calls:*", count=1000):
            slots += int(r.zcard(key))
        logs = sum(p.stat().st_size for p in (cfg.run_dir / "logs").glob("*.log*"))
        try:
            sessions = edgeops.rtpengine_sessions(cfg)
        except Exception:
            sessions = -1
        return {
            "t": time.time(),
            "kamailio_private_kb": sum(_status_kb(p, "RssAnon") for p in kam),
            "kamailio_processes": len(kam),
            "shm_used_kb": int(shm.get("real_used", shm.get("used", 0))) // 1024,
            "shm_fragments": int(shm.get("fragments", 0)),
            "dialogs": stats.get("dialog:active_dialogs", -1),
            "transactions": stats.get("tmx:inuse_transactions", -1),
            "contacts": stats.get("usrloc:location_contacts", -1),
            "redis_keys": int(r.dbsize()),
            "call_slots": slots,
            "rtpengine_sessions": sessions,
            "fds_kamailio": _fds(kam),
            "fds_rtpengine": _fds([st.rtpengine.pid or 0]),
            "fds_redis": _fds([st.redis.pid or 0]),
            "log_bytes": logs,
        }
    return sample


# -- the traffic ----------------------------------------------------------------------

class Traffic:
    """One SIPp traffic class run in a thread (benchlib.run_sipp)."""

    def __init__(self, name: str, run: Callable[[], bl.SippRun]):
        self.name, self.error = name, ""
        self.result: bl.SippRun | None = None
        self._run = run
        self.thread = threading.Thread(target=self._go, name=name, daemon=True)

    def _go(self) -> None:
        try:
            self.result = self._run()
        except Exception as exc:          # reported, the other classes go on
            self.error = str(exc)


def _rate_args(rate: float) -> tuple[int, list[str]]:
    """SIPp -r/-rp for a rate in calls per second (fractions allowed)."""
    if rate >= 1:
        return int(rate), []
    return 1, ["-rp", str(int(1000 / max(rate, 0.01)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    ap.add_argument("--rate", type=float, default=20.0,
                    help="calls per second in all (40%% direct, 30%% NATed, 20%% to "
                         "unregistered numbers) plus 10%% wrong-password REGISTERs")
    ap.add_argument("--hold", type=int, default=2000, help="answered calls last this (ms)")
    ap.add_argument("--tenants", type=int, default=4)
    ap.add_argument("--devices", type=int, default=200, help="per tenant")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--settle", type=float, default=90.0,
                    help="seconds sampled after the load (registrations expire: 60 s)")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    if a.minutes <= 0 or a.rate <= 0 or a.devices < 8 or a.tenants < 1:
        ap.error("--minutes and --rate must be positive, --devices at least 8")
    seconds = a.minutes * 60
    with tempfile.TemporaryDirectory(prefix="soak") as d:
        work = Path(d)
        # Kamailio logs at the production default level (benchlib's edge: warnings)
        level = Config().sip.log_level
        with bl.LocalEdge(work / "edge", sip={"log_level": level}) as edge, \
                bl.UasPool(2, work) as uas:
            report = soak(a, edge, uas, work, seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nsamples: {out}")
    return 0


def soak(a: argparse.Namespace, edge: bl.LocalEdge, uas: bl.UasPool, work: Path,
         seconds: float) -> dict[str, Any]:
    from edgectl import db, provision

    shape = loadkit.Shape(a.tenants, a.devices)
    loadkit.provision(edge.cfg, shape)
    with db.transaction(edge.cfg) as conn:          # every call takes a slot
        for t in shape.tenant_ids():
            provision.tenant_set(conn, t, max_calls=100000)
    rows = loadkit.device_rows(edge.cfg, shape.tenant_ids())
    edge.wait_devices([r[2] for r in rows[::shape.devices_per_tenant]])
    by_tenant: dict[str, list[loadkit.Row]] = {}
    for r in rows:
        by_tenant.setdefault(r[0], []).append(r)
    # per tenant: a quarter callers, a quarter callees (registered), a
    # quarter never registered, the rest wrong-password targets
    callers, callees, absent, guessed = [], [], [], []
    for devs in by_tenant.values():
        q = len(devs) // 4
        callers += devs[:q]
        callees += devs[q:2 * q]
        absent += devs[2 * q:3 * q]
        guessed += devs[3 * q:]

    def pairs(targets: list[loadkit.Row]) -> list[tuple[loadkit.Row, str]]:
        return [(c, t[1]) for c, t in zip(callers, targets)]

    reg_csv = loadkit.register_csv(callees, contacts=uas.addresses, expires=REG_EXPIRES)
    reg = loadkit.split(reg_csv, 1, work / "reg.csv")
    first = bl.run_sipp(edge.target, reg, len(callees), 200, 50, work)
    print(f"registered {first.successful} of {len(callees)} callees "
          f"({first.failed} failed)")
    direct = loadkit.split(loadkit.calls_csv(pairs(callees), order="RANDOM"), 1,
                           work / "direct.csv")
    nated = loadkit.split(loadkit.calls_csv(pairs(callees), order="RANDOM",
                                            private_address=NAT_ADDRESS), 1, work / "nat.csv")
    unreg = loadkit.split(loadkit.calls_csv(pairs(absent), order="RANDOM"), 1,
                          work / "unreg.csv")
    wrong = loadkit.split(loadkit.register_csv(guessed, pattern="wrong-{tenant}-{ext}",
                                               order="RANDOM"), 1, work / "wrong.csv")

    sample = sampler(edge)
    samples: list[dict[str, float]] = []
    phases: dict[str, int] = {}

    def take(phase: str) -> None:
        try:
            s = sample()
        except Exception as exc:                      # a sample lost, the soak goes on
            print(f"  sample failed: {exc}")
            return
        s["phase"] = phase                            # type: ignore[assignment]
        samples.append(s)
        phases.setdefault(phase, len(samples) - 1)

    take("start")
    families = {"start": key_families(edge.cfg.redis.url)}
    shm_sites = {"start": shm_by_site(edge.cfg.rpc_socket)}
    hold = ["-d", str(a.hold)]
    timeout = seconds + 60
    classes = []
    for name, scen, files, share, extra in (
            ("refresh", bl.SIPP_DIR / "register.xml", reg, len(callees) / REFRESH_EVERY, []),
            ("calls", bl.SIPP_DIR / "uac_setup.xml", direct, 0.4 * a.rate, hold),
            ("nat calls", bl.SIPP_DIR / "uac_setup.xml", nated, 0.3 * a.rate, hold),
            ("unregistered", bl.SIPP_DIR / "uac_refused.xml", unreg, 0.2 * a.rate, []),
            ("wrong password", bl.SIPP_DIR / "register_wrong.xml", wrong, 0.1 * a.rate, [])):
        cps, rp = _rate_args(share)
        wd = work / name.replace(" ", "_")
        wd.mkdir()
        classes.append(Traffic(name, functools.partial(
            bl.run_sipp, edge.target, files, max(1, int(share * seconds)), cps,
            max(10, int(cps * (a.hold / 1000 + 2) * 3)), wd, scenario=scen, timeout=timeout,
            extra=[*rp, *extra])))
    t0 = time.monotonic()
    print(f"load: {a.minutes:g} min, {a.rate:g} calls/s, {len(callees) / REFRESH_EVERY:.1f} "
          f"REGISTER refreshes/s")
    for c in classes:
        c.thread.start()
    while any(c.thread.is_alive() for c in classes):
        time.sleep(a.sample)
        take("load")
        done = time.monotonic() - t0
        if int(done) % 60 < a.sample:
            s = samples[-1]
            print(f"  {done / 60:4.1f} min: dialogs {s['dialogs']:.0f}, slots "
                  f"{s['call_slots']:.0f}, rtpengine {s['rtpengine_sessions']:.0f}, "
                  f"shm {s['shm_used_kb']:.0f} KB, log {s['log_bytes'] / 1024:.0f} KB")
    for c in classes:
        c.thread.join(timeout=60)
    take("end of load")
    shm_sites["end of load"] = shm_by_site(edge.cfg.rpc_socket)
    load_s = time.monotonic() - t0
    settle_until = time.monotonic() + a.settle
    while time.monotonic() < settle_until:
        time.sleep(a.sample)
        take("settled")
    families["settled"] = key_families(edge.cfg.redis.url)
    shm_sites["settled"] = shm_by_site(edge.cfg.rpc_socket)
    report = summarize(samples, phases, classes, load_s)
    more = {f: n - families["start"].get(f, 0) for f, n in families["settled"].items()
            if n != families["start"].get(f, 0)}
    print("Redis keys added (by family), start -> settled: " +
          (", ".join(f"{f} {n:+d}" for f, n in sorted(more.items())) or "none"))
    for phase in ("end of load", "settled"):
        print(f"shared memory by module and site, start -> {phase}:\n  " +
              "\n  ".join(shm_growth(shm_sites["start"], shm_sites[phase]) or ["no growth"]))
    report["redis_key_families"] = families
    report["shm_by_site"] = shm_sites
    report["args"] = vars(a)
    return report


def summarize(samples: list[dict[str, Any]], phases: dict[str, int], classes: list[Traffic],
              load_s: float) -> dict[str, Any]:
    print("\ntraffic:")
    traffic: dict[str, Any] = {}
    for c in classes:
        r = c.result
        if r is None:
            print(f"  {c.name:<15} did not run: {c.error}")
            continue
        traffic[c.name] = {"successful": r.successful, "failed": r.failed,
                           "retransmissions": r.retransmissions, "errors": r.errors}
        print(f"  {c.name:<15} {r.successful:>7} ok {r.failed:>6} failed "
              f"{r.retransmissions:>6} retransmissions"
              + (f"  ({r.errors[0][:80]})" if r.errors else ""))
    start = samples[phases["start"]]
    end = samples[phases.get("end of load", len(samples) - 1)]
    after = samples[-1]
    during = [s for s in samples if s.get("phase") == "load"] or [end]
    keys = [k for k in start if k not in ("t", "phase")]
    print(f"\n{'figure':<22}{'start':>12}{'peak':>12}{'end of load':>13}{'settled':>12}  verdict")
    grew, stuck = [], []
    for k in keys:
        peak = max(s[k] for s in during)
        verdict = ""
        if k in CUMULATIVE:
            per_min = (end[k] - start[k]) / (load_s / 60) if load_s else 0
            verdict = f"+{per_min / 1024:.1f} KB/min under load"
        else:
            tolerance = max(2.0, 0.02 * abs(start[k]))
            if end[k] > start[k] + tolerance:
                grew.append(k)
                verdict = "grew"
            if after[k] > start[k] + tolerance:
                stuck.append(k)
                verdict = "DID NOT RETURN to its start"
            elif k in grew:
                verdict = "grew, returned"
        print(f"{k:<22}{start[k]:>12.0f}{peak:>12.0f}{end[k]:>13.0f}{after[k]:>12.0f}  {verdict}")
    print(f"\ngrew under load: {', '.join(grew) or 'nothing'}")
    print(f"not back to the starting value after settling: {', '.join(stuck) or 'nothing'}")
    return {"traffic": traffic, "samples": samples, "grew": grew, "not_returned": stuck,
            "load_seconds": load_s}


if __name__ == "__main__":
    raise SystemExit(main())
