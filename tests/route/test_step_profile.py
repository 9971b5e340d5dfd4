"""The per-step profile (kemi/stepprofile.py, edgecore/stepprofile.py): one
route run in SAMPLE_EVERY per worker is timed step by step and its running
totals land in the node's edgeprof table; the other runs write nothing."""

from __future__ import annotations

import itertools
import os

import pytest

import fakes
from edgecore import stepprofile as sp
from kemi import edge, relay, stepprofile
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP


def one(req: Request) -> int:
    return CONTINUE


def two(req: Request) -> int:
    return STOP


def never(req: Request) -> int:
    raise AssertionError("the route stopped before this step")


@pytest.fixture
def timed_route(ksr, monkeypatch):
    fakes.use(fakes.FakeWorker())
    ticks = itertools.count(0, 1500)               # every clock reading 1.5 us later
    monkeypatch.setattr(stepprofile, "clock", lambda: next(ticks))
    monkeypatch.setattr(stepprofile, "_totals", {})
    monkeypatch.setattr(edge, "REQUEST_STEPS", (one, two, never))
    monkeypatch.setattr(edge, "STEP_NAMES", ("t.one", "t.two", "t.never"))
    ksr.message("OPTIONS")
    return edge.EdgeRouter(edge.edgeconfig.Config())


def written(ksr) -> dict[str, int]:
    return {k: v for t, k, v in ksr.called("htable.sht_seti") if t == sp.TABLE}


def test_only_one_run_in_sample_every_is_timed(ksr, timed_route, monkeypatch):
    monkeypatch.setattr(stepprofile, "_countdown", 3)
    timed_route.ksr_request_route(None)
    timed_route.ksr_request_route(None)
    assert written(ksr) == {}
    timed_route.ksr_request_route(None)                 # the third: timed
    pid = os.getpid()
    assert written(ksr) == {
        f"request|t.one|{pid}|us": 1, f"request|t.one|{pid}|n": 1,
        f"request|t.two|{pid}|us": 1, f"request|t.two|{pid}|n": 1}
    assert stepprofile._countdown == sp.SAMPLE_EVERY    # the next timed run is 64 away


def test_totals_run_on_and_the_reader_estimates_per_request(ksr, timed_route, monkeypatch):
    before = sp.snapshot([])
    for _ in range(2):
        monkeypatch.setattr(stepprofile, "_countdown", 1)
        timed_route.ksr_request_route(None)
    after = sp.snapshot(written(ksr).items())
    assert after[("request", "t.two", str(os.getpid()), "n")] == 2
    assert after[("request", "t.two", str(os.getpid()), "us")] == 3
    rows = {r["step"]: r for r in sp.per_request(before, after, requests=64)}
    # 2 timed runs of 1.5 us stand for 2 * 64 runs over 64 requests
    assert rows["t.two"]["us_per_run"] == 1.5
    assert rows["t.two"]["us_per_request"] == 3 * sp.SAMPLE_EVERY / 64
    assert rows["t.two"]["runs_per_request"] == 2 * sp.SAMPLE_EVERY / 64
    assert "t.never" not in rows


def test_a_reply_route_is_timed_as_one_step(ksr, timed_route, monkeypatch):
    monkeypatch.setattr(stepprofile, "_countdown", 1)
    def on_reply() -> None:
        pass

    monkeypatch.setattr(relay, "on_reply", on_reply)
    timed_route.ksr_onreply_manage(None)
    step = f"reply|{__name__.rsplit('.', 1)[-1]}.on_reply|{os.getpid()}"
    assert written(ksr) == {f"{step}|us": 1, f"{step}|n": 1}


def test_items_wrap_like_c_ints():
    assert sp.as_item(5) == 5
    assert sp.as_item((1 << 31) + 1) == -(1 << 31) + 1
    assert sp.snapshot([("request|a.b|7|us", -1)]) == {("request", "a.b", "7", "us"): (1 << 32) - 1}
