"""Fixtures of the route tests of media and relay (test_media_step,
test_relay_routes): a fake worker for every test, and the KSR double with
branch flags and dialog variables emulated, rtpengine and tm working."""

from __future__ import annotations

import pytest

from fakes import FakeWorker, use


@pytest.fixture(autouse=True)
def worker() -> FakeWorker:
    return use(FakeWorker())


@pytest.fixture
def ksr(ksr):
    ksr.results["isbflagset"] = lambda f: f in ksr.bflags
    ksr.results["dialog.var_get"] = lambda name: ksr.pv.get(f"$dlg_var({name})")
    ksr.results["dialog.var_sets"] = lambda name, v: ksr.pv.__setitem__(f"$dlg_var({name})", v)
    # rtpengine answers and tm relays, unless a test says otherwise
    ksr.results["rtpengine.rtpengine_manage"] = 1
    ksr.results["rtpengine.rtpengine_delete"] = 1
    ksr.results["tm.t_relay"] = 1
    ksr.results["tmx.t_cancel_branches"] = 1
    return ksr
