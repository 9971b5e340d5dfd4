"""Calls leave nothing behind in Kamailio's shared memory: once a bounded run
of calls has ended, their dialogs are gone from the dialog table
(``dlg.list``) and the dialog module's shared memory is back at its idle size
(``mod.stats dialog shm``). The soak (loadtest/soak.py) saw shared memory
7.9 -> 17 MB after a minute at 20 calls/s, not back after settling: every
call that took a call-limit slot kept its dialog, variables and all, for
300 s after it ended (kemi/policy.py: dialog.var_rm leaked a dialog
reference in Kamailio 5.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient

SCEN = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"
CALLS = 40


def _dialog_shm(edge: Edge) -> int:
    """Bytes of shared memory the dialog module holds (its allocation sites'
    total)."""
    res: list[Any] = edge.rpc("mod.stats", "dialog", "shm") or []
    return sum(int(item.get("Total", 0)) for item in res if isinstance(item, dict))


def _dialogs(edge: Edge, caller: str) -> int:
    """Dialogs in the table (in any state, ended ones too) from this caller."""
    return sum(1 for d in edge.rpc("dlg.list") or [] if caller in str(d.get("from_uri")))


def test_ended_calls_with_a_call_slot_leave_no_dialog_in_memory(edge: Edge):
    t = edge.new_tenant("Limited", "--no-recording", "--max-calls", "100")
    caller, callee_creds = edge.new_device(t, "7001"), edge.new_device(t, "7002")
    edge.wait_synced()
    idle = _dialog_shm(edge)
    with sipp.SippServer(SCEN / "uas_answer.xml") as callee:
        with SipClient(edge.sip) as c:
            _, r = c.register(*callee_creds, contact_port=callee.port)
            assert r is not None and r.code == 200
        au, pw = caller
        row = [au, f"[authentication username={au} password={pw}]", "7002", au, "127.0.0.1",
               "127.0.0.1"]
        res = sipp.run(edge.target, SCEN / "call_any.xml", [row], calls=CALLS, rate=10,
                       extra=["-d", "200", "-default_behaviors", "all,-abortunexp"],
                       timeout=60)
        assert res.rc == 0, res.describe()
        assert len(callee.received_requests("BYE")) == CALLS
    # the slots were given back (the call limit's own check)...
    r = edge.redis()
    try:
        assert r.zcard(f"edge:calls:t:{t}") == 0
    finally:
        r.close()
    # ...and the dialogs freed once their transactions are (tm's wait timer),
    # not 300 s later by the dialog module's cleaner
    wait_for(lambda: _dialogs(edge, caller[0]) == 0, timeout=30,
             what=f"the {CALLS} ended calls' dialogs to leave the dialog table")
    held = _dialog_shm(edge) - idle
    assert held < 4096, f"the dialog module holds {held} bytes more than before the calls"
