"""SIP cases as data: each folder of tests/sip_cases/ holds a case.toml stating
what to provision, which SIPp invocations to run against the live edge, the
replies each must receive, and what the edge must hold afterwards.

case.toml
    description = "..."
    [tenant]            optional: domain = "{tid}.example.net" (templated)
    [other_tenant]      optional second tenant (same keys)
    [[device]]          ext, password (in the case tenant)
    [[step]]            one SIPp run:
        register = {ext, password?, expires?, to_user?, domain?, contact_host?}
                         (scenario register_any.xml), or scenario + rows
        transport = "u1" | "t1"
        expect_replies = [401, 200]   codes received, in order
        expect_text = ["..."]         substrings of the received messages
        wait_before = seconds
    [after]
        registered = {"7001" = 1}     contact count per extension
        received = ["7001"]           contacts stored with their NAT source
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness import sipp
from testkit.ports import free_port
from testkit.edge import Edge, wait_for

CASES = Path(__file__).resolve().parents[1] / "sip_cases"
SCENARIOS = CASES / "scenarios"


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "case.toml").exists())


def _fmt(value: Any, ctx: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ctx)
    if isinstance(value, list):
        return [_fmt(v, ctx) for v in value]
    if isinstance(value, dict):
        return {k: _fmt(v, ctx) for k, v in value.items()}
    return value


def _tenant(edge: Edge, spec: dict[str, Any] | None, ctx: dict[str, str], key: str) -> str:
    tid = edge.new_tenant(f"case {key}")
    if spec and spec.get("domain"):
        domain = spec["domain"].format(tid=tid)
        edge.ctl_ok("tenant", "set", tid, "--domain", domain)
        ctx[f"{key}_domain"] = domain
    return tid


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_sip_case(edge: Edge, case: Path) -> None:
    spec = tomllib.loads((case / "case.toml").read_text())
    ctx: dict[str, str] = {"edge_ip": edge.cfg.sip.listen_ip, "edge_domain": edge.cfg.node.domain}
    tid = _tenant(edge, spec.get("tenant"), ctx, "tenant")
    ctx["tenant"] = tid
    if "other_tenant" in spec:
        ctx["other_tenant"] = _tenant(edge, spec["other_tenant"], ctx, "other_tenant")
    devices: dict[str, tuple[str, str]] = {}
    for d in spec.get("device", []):
        devices[d["ext"]] = edge.new_device(tid, d["ext"], d.get("password"))
        ctx[f"auth_{d['ext']}"] = devices[d["ext"]][0]
    edge.wait_synced()
    port = free_port()             # one UA: the same Contact across the case's steps

    for i, step in enumerate(_fmt(spec["step"], ctx)):
        time.sleep(float(step.get("wait_before", 0)))
        if "register" in step:
            reg = step["register"]
            au, pw = devices[reg["ext"]]
            pw = reg.get("password", pw)
            au = reg.get("auth_user", au)
            row = [au, f"[authentication username={au} password={pw}]",
                   str(reg.get("expires", 600)), reg.get("to_user", au),
                   reg.get("domain", ctx["edge_ip"]), reg.get("contact_host", ctx["edge_ip"])]
            res = sipp.run(edge.target, SCENARIOS / "register_any.xml", [row],
                           transport=step.get("transport", "u1"), port=port)
        else:
            res = sipp.run(edge.target, step["scenario"], step.get("rows"), case_dir=case,
                           transport=step.get("transport", "u1"), keys=step.get("keys"),
                           port=port)
        assert res.rc == 0, f"step {i}: " + res.describe()
        assert res.received_codes == step["expect_replies"], f"step {i}: " + res.describe()
        text = "\n".join(res.received)
        for needle in step.get("expect_text", []):
            assert needle.lower() in text.lower(), f"step {i}: {needle!r} not in replies\n{text}"

    after = spec.get("after", {})
    for ext, count in after.get("registered", {}).items():
        got = wait_for(lambda: len(edge.contacts(tid, ext)) == count or None, timeout=5,
                       what=f"{count} contact(s) for {ext}") and edge.contacts(tid, ext)
        assert len(got) == count
    for ext in after.get("received", []):
        contacts = edge.contacts(tid, ext)
        assert contacts and all(c["Received"].startswith("sip:127.0.0.1:") for c in contacts), \
            contacts
