"""edgecore.numbering: precedence of the number spaces (the range lookup
itself is Redis's: tests/integration/test_range_lookup.py)."""

from __future__ import annotations

import pytest

from edgecore.numbering import is_dialable, normalise, resolve, VIA_GLOBAL, \
    VIA_LOCAL, VIA_QUALIFIED
from edgecore.readmodel import CallData, Device, Target, Tenant

A = Tenant("00003", "A")
B = Tenant("00004", "B")
LONG = Tenant("00010", "Long")
CALLER = Device("000037001", "00003", "7001", "a" * 32)


def data(**kw) -> CallData:
    base = dict(caller=CALLER, caller_tenant=A, exceptions=frozenset(), local=None,
                global_range=None, global_target=None, global_tenant=None,
                qualified_target=None, qualified_tenant=None)
    base.update(kw)
    return CallData(**base)


def dev(t: Tenant, n: str) -> Target:
    return Target("device", t.id, n, auth_username=t.id + n)


def test_local_number_wins_over_global():
    d = data(local=dev(A, "7001"), global_range=("7000", "7099", "00004"),
             global_target=dev(B, "7001"), global_tenant=B)
    r = resolve(d)
    assert r.found and r.tenant == A and r.via == VIA_LOCAL


def test_global_range_owner_found():
    d = data(global_range=("5511400000", "5511409999", "00010"),
             global_target=dev(LONG, "5511400001"), global_tenant=LONG)
    r = resolve(d)
    assert r.found and r.tenant == LONG and r.via == VIA_GLOBAL
    assert r.detail == "5511400000-5511409999 of tenant 00010"


def test_owned_but_unprovisioned_global_number_is_not_found():
    r = resolve(data(global_range=("5511400000", "5511409999", "00010"), global_tenant=LONG))
    assert not r.found and r.tenant == LONG


def test_qualified_number_first():
    d = data(local=dev(A, "7001"), qualified_target=dev(B, "7001"), qualified_tenant=B)
    r = resolve(d)
    assert r.tenant == B and r.via == VIA_QUALIFIED


def test_ring_group_target():
    rg = Target("ring_group", A.id, "7000", name="attendants", strategy="ringall",
                ring_timeout=30, members=("7001", "7002"))
    r = resolve(data(local=rg))
    assert r.is_ring_group


def test_nothing_found():
    assert not resolve(data()).found


@pytest.mark.parametrize("s,ok", [("7001", True), ("+5511400001", True), ("00004*7001", True),
                                  ("alice", False), ("", False), ("1" * 16, False),
                                  ("0004*7001", False), ("7001#", False)])
def test_dialable(s, ok):
    assert is_dialable(s) is ok


def test_normalise():
    assert normalise(" +5511 ".strip()) == "5511"
