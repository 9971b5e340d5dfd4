"""The KSR double itself: an int-returning call a test did not program fails
the test, and the few calls it answers on its own (ACTIONS) are ones whose
result no KEMI code reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import KSR
from ksr_double import ACTIONS, KsrDouble, UnprogrammedCall

KEMI = Path(__file__).resolve().parents[2] / "kemi"


def test_an_unprogrammed_int_call_raises_and_is_remembered():
    d = KsrDouble()
    with pytest.raises(UnprogrammedCall, match="siputils.has_totag"):
        d("siputils.has_totag", ())
    assert d.unprogrammed == [("siputils.has_totag", ())]
    d.results["siputils.has_totag"] = -1
    assert d("siputils.has_totag", ()) == -1
    assert d("rr.record_route", ()) == 1                 # an action: done
    assert d("pv.get", ("$rU",)) is None                 # xval: absent


def _ksr_name(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "KSR" and parts:
        return ".".join(reversed(parts))
    return None


def results_read() -> set[str]:
    """KSR calls in kemi/ whose result is used (the call is not a statement
    of its own)."""
    out = set()
    for path in KEMI.glob("*.py"):
        tree = ast.parse(path.read_text())
        bare = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and id(n) not in bare:
                name = _ksr_name(n.func)
                if name:
                    out.add(name)
    return out


def test_actions_are_calls_whose_result_no_kemi_code_reads():
    assert "tm.t_relay" in results_read()               # the check sees a read result
    assert ACTIONS & results_read() == set()


def test_actions_are_int_returning_calls_of_the_stub():
    for name in ACTIONS:
        obj = KSR
        for part in name.split("."):
            obj = getattr(obj, part)
        assert obj.__annotations__.get("return") == "int", name
