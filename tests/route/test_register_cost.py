"""What a registration costs the SIP worker, counted on the KSR double: the
two halves of a digest REGISTER through the whole request route (the edge's
own EdgeRouter, a real Worker with its caches; the read model answered from
the worker's cache). Deterministic figures, where a timing would be noise:
which Kamailio functions are called and how often, and no Redis round trip.
Each value a request needs is read from Kamailio once."""

from __future__ import annotations

import collections

import pytest

from edgecore import readmodel as rm
from edgecore.config import Config
from kemi import context, edge

TENANT = rm.Tenant("00003", "Efetiva", domain="efetiva.example.net")
DEVICE = rm.Device("000037001", TENANT.id, "7001", "a" * 32)


@pytest.fixture
def router(ksr, monkeypatch):
    cfg = Config()
    cfg.node.features = [*cfg.node.features, "antiflood"]
    w = context.Worker(cfg, client=None)
    fetched: list[tuple] = []

    def fetch(fn, *args):
        fetched.append(args)
        return (DEVICE, TENANT) if args else {}

    monkeypatch.setattr(w, "_fetch", fetch)
    monkeypatch.setattr(context, "WORKER", w)
    r = edge.EdgeRouter(cfg)
    r.fetched = fetched
    return r


def _register(ksr, router, credentials: bool) -> tuple[collections.Counter, list[str]]:
    ksr.calls.clear()
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1", ua="Yealink SIP-T46S", ml=420,
                au="000037001" if credentials else None)
    ksr.pv["$(hdr(Contact)[*])"] = "<sip:7001@127.0.0.5:5070>"
    ksr.pv["$shv(edge_cache)"] = 1
    for name, value in {
            "kx.get_srcip": "127.0.0.5", "dispatcher.ds_is_from_list_mode": -1,
            "maxfwd.process_maxfwd": 1, "sanity.sanity_check": 1, "pike.pike_check_req": 1,
            "nathelper.nat_uac_test": -1, "siputils.has_totag": -1,
            "tmx.t_precheck_trans": -1, "tm.t_check_trans": -1,
            "auth.has_credentials": 1 if credentials else -1, "auth.pv_auth_check": 1,
            "registrar.save_uri": 1, "is_myself_turi": True}.items():
        ksr.results[name] = value
    assert router.ksr_request_route(None) == 1
    return (collections.Counter(n for n, _ in ksr.calls),
            [a[0] for n, a in ksr.calls if n == "pv.get"])


def test_a_registration_reads_each_value_once_and_makes_no_round_trip(ksr, router):
    challenge, pv1 = _register(ksr, router, credentials=False)
    assert ksr.replies() == [(401, "challenge")]
    answer, pv2 = _register(ksr, router, credentials=True)
    assert ksr.replies() == []                        # the registrar replied (save_uri)
    assert ksr.called("registrar.save_uri") == [("location", 0, "sip:7001@00003")]
    # a cached device: no read-model lookup beyond the first, no Redis at all
    assert router.fetched == [(), ("000037001",)] or router.fetched == [("000037001",)]
    for calls, pvs in ((challenge, pv1), (answer, pv2)):
        assert calls["kx.get_method"] == 1 and calls["kx.get_srcip"] == 1
        assert len(pvs) == len(set(pvs)), pvs             # no pseudo-variable read twice
    # the halves' Kamailio calls, all told (each one a crossing into C; the
    # answer's include the node cache's two reads of a device it misses)
    assert sum(challenge.values()) <= 18 and sum(answer.values()) <= 35, (challenge, answer)
    # what the workers leave to the timer process: the AOR's note and the trust note
    queued = {a[0] for n, a in ksr.calls if n == "htable.sht_sets"}
    assert {"edgeregq", "edgetrustq"} <= queued
