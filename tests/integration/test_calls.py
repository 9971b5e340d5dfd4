"""Calls between devices on the live edge, on a dataset shaped like the legacy
servers: support tenants S1/S2 (global access), resellers A, B, C, D that all
use the same 7xxx extensions, a one-way exception A -> B, a both-ways
exception C <-> D, and tenant L on 10-digit global numbers.

Each folder of tests/call_cases/ is one call: who calls, what is dialled, how
the callee's registered contacts (SIPp UAS) behave, and the final reply the
caller must get. For every case, ``edgectl explain`` must predict that reply.
"""

from __future__ import annotations

import json
import tomllib
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

import pytest

from edgecore.numbering import normalise
from harness import sipp
from harness.calls import SCEN, Legacy, final_invite_reply, register_contact, unregister_all
from testkit.edge import Edge

CASES = Path(__file__).resolve().parents[1] / "call_cases"
BEHAVIOUR = {"answer": "uas_answer.xml", "busy": "uas_busy.xml", "ring": "uas_ring.xml"}
BEHAVIOUR_CODE = {"answer": 200, "busy": 486, "ring": 408}


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "case.toml").exists())


def place_call(legacy: Legacy, caller: str, dialled: str, *, password: str | None = None,
               from_user: str | None = None, contact_ip: str = "127.0.0.1",
               sdp_ip: str = "127.0.0.1", hold_ms: int = 200) -> sipp.SippResult:
    _, _, au, pw = legacy.device(caller)
    pw = password or pw
    row = [au, f"[authentication username={au} password={pw}]", dialled, from_user or au,
           contact_ip, sdp_ip]
    # a callee's back-to-back 180 and 200 may be reordered over UDP across the
    # edge's workers: a late 180 must not abort the caller's SIPp
    return sipp.run(legacy.edge.target, SCEN / "call_any.xml", [row],
                    extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"],
                    timeout=20)


def check_cdr(edge: Edge, res: sipp.SippResult, caller: tuple[str, str, str, str],
              dialled: str, code: int, msg: str) -> None:
    tenant, ext = caller[0], caller[1]
    [call_id] = res.call_ids
    rows = edge.cdrs(call_id=call_id, expect=1)
    assert len(rows) == 1, f"no CDR for {call_id}"
    cdr = rows[0]
    reason = msg.splitlines()[0].split(" ", 2)[2].strip()
    # the callee as the edge resolved it: the dialled string normalised
    assert (cdr["kind"], cdr["tenant"], cdr["caller"], cdr["callee"]) == \
        ("call", tenant, ext, normalise(dialled))
    assert (cdr["final_code"], cdr["final_reason"]) == (code, reason)
    assert cdr["setup_at"] <= cdr["end_at"]
    if code == 200:
        assert cdr["answer_at"] is not None and cdr["duration_ms"] >= 150   # held 200 ms
        assert cdr["setup_at"] <= cdr["answer_at"] <= cdr["end_at"]
    else:
        assert cdr["answer_at"] is None and cdr["duration_ms"] == 0
    assert cdr["media"] == "direct" and cdr["node"] == edge.cfg.node.name


def explain(edge: Edge, au: str, dialled: str) -> dict:
    return json.loads(edge.ctl_ok("explain", au, dialled, "--json"))


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: p.name)
def test_call_case(legacy: Legacy, case: Path) -> None:
    spec = tomllib.loads((case / "case.toml").read_text())
    edge = legacy.edge
    dialled = spec["dialled"].format(**legacy.ctx)
    callee = spec.get("callee", {})
    behaviours = callee.get("behaviours", [])
    with ExitStack() as stack:
        servers = []
        if callee.get("device"):
            _, _, cau, cpw = legacy.device(callee["device"])
            stack.callback(unregister_all, edge, cau, cpw)
            for b in behaviours:
                uas = stack.enter_context(sipp.SippServer(SCEN / BEHAVIOUR[b]))
                servers.append(uas)
                register_contact(edge, cau, cpw, uas.port)
        _, _, au, pw = legacy.device(spec["caller"])
        predicted = explain(edge, au, dialled)
        from_user = spec.get("from_user")
        if from_user:
            from_user = legacy.device(from_user)[2]
        res = place_call(legacy, spec["caller"], dialled, password=spec.get("password"),
                         from_user=from_user)
        code, msg = final_invite_reply(res)
        expect = spec["expect"]
        assert code == expect["final"], res.describe()
        if "reason" in expect:
            assert expect["reason"] in msg.splitlines()[0], msg.splitlines()[0]
        invited = [bool(s.received_requests("INVITE")) for s in servers]
        assert any(invited) == expect.get("callee_invited", False), invited
        for s, b in zip(servers, behaviours):
            if b == "ring" and code != 408 and expect.get("callee_invited", False):
                assert s.received_requests("CANCEL"), "ringing contact was not cancelled"
        # every call the edge handled leaves its CDR (an unauthenticated or
        # impersonating INVITE is not a call: no record)
        if spec.get("password") is None and from_user is None:
            check_cdr(edge, res, legacy.device(spec["caller"]), dialled, code, msg)
        # edgectl explain agrees with what the edge did
        if spec.get("password") is None and from_user is None:
            if predicted["predicted_code"] is not None:
                assert predicted["predicted_code"] == code, predicted
            else:
                assert predicted["allowed"] and predicted["registered_contacts"]
                best = min(BEHAVIOUR_CODE[b] for b in behaviours)
                assert code == best, predicted


def test_legacy_numbers_coexist(legacy: Legacy) -> None:
    """The same 7001 lives in five tenants; each resolves inside its own."""
    for alias in ("A", "B", "C"):
        _, _, au, _ = legacy.device(f"{alias}:7002")
        e = explain(legacy.edge, au, "7001")
        assert e["target_tenant"] == legacy.tenants[alias] and e["rule"] == "same-tenant"
