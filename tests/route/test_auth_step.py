"""kemi.auth: digest authentication against the read model."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from fakes import FakeWorker, use
from kemi import auth
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP

TENANT = rm.Tenant("00003", "Efetiva")


@pytest.fixture
def worker(ksr) -> FakeWorker:
    ksr.results["auth.has_credentials"] = 1       # unless a test says otherwise
    w = use(FakeWorker())
    w.add(TENANT, "7001", ha1="b" * 32)
    return w


def test_no_credentials_is_challenged_with_qop(ksr, worker):
    ksr.message("REGISTER")
    ksr.results["auth.has_credentials"] = -1
    assert auth.authenticate(Request()) == STOP
    assert ksr.called("auth.auth_challenge") == [("sipedge", 1)]
    assert not ksr.called("auth.pv_auth_check")


def test_known_device_right_password_passes(ksr, worker):
    ksr.message("REGISTER", au="000037001")
    ksr.results["auth.pv_auth_check"] = 1
    req = Request()
    assert auth.authenticate(req) == CONTINUE
    assert ksr.called("auth.pv_auth_check") == [("sipedge", "b" * 32, 1, 0)]
    assert ksr.called("auth.consume_credentials")
    assert req.device and req.device.extension == "7001" and req.tenant == TENANT
    assert ksr.replies() == []


def test_auth_username_is_case_insensitive_lookup(ksr, worker):
    worker.devices["abc"] = (rm.Device("AbC", "00003", "7005", "c" * 32), TENANT)
    ksr.message("REGISTER", au="ABC")
    ksr.results["auth.pv_auth_check"] = 1
    assert auth.authenticate(Request()) == CONTINUE


def _challenge_calls(ksr, au: str, check_rc: int) -> list:
    ksr.calls.clear()
    ksr.message("REGISTER", au=au)
    ksr.results["auth.pv_auth_check"] = check_rc
    assert auth.authenticate(Request()) == STOP
    return [(n, a) for n, a in ksr.calls if n.startswith("auth.")]


def test_unknown_user_and_wrong_password_look_the_same(ksr, worker):
    wrong = _challenge_calls(ksr, "000037001", -2)
    unknown = _challenge_calls(ksr, "nosuchuser", -2)
    # same sequence of auth calls, same challenge; only the HA1 compared differs
    assert [n for n, _ in wrong] == [n for n, _ in unknown] == [
        "auth.has_credentials", "auth.pv_auth_check", "auth.auth_challenge"]
    assert wrong[-1] == unknown[-1] == ("auth.auth_challenge", ("sipedge", 1))
    assert unknown[1][1][1] == auth.DUMMY_HA1


def test_stale_nonce_is_rechallenged_with_stale_flag(ksr, worker):
    calls = _challenge_calls(ksr, "000037001", -4)
    assert calls[-1] == ("auth.auth_challenge", ("sipedge", 1 | 16))


def test_stale_nonce_of_an_unknown_user_gets_the_same_stale_challenge(ksr, worker):
    """Replaying an expired nonce must not tell known from unknown identities."""
    known = _challenge_calls(ksr, "000037001", -4)
    unknown = _challenge_calls(ksr, "nosuchuser", -4)
    assert [n for n, _ in known] == [n for n, _ in unknown]
    assert known[-1] == unknown[-1] == ("auth.auth_challenge", ("sipedge", 1 | 16))


def test_read_model_down_is_503_with_retry_after_never_a_pass(ksr, worker):
    worker.down = True
    ksr.message("REGISTER", au="000037001")
    ksr.results["auth.pv_auth_check"] = 1
    req = Request()
    assert auth.authenticate(req) == STOP
    assert ksr.replies() == [(503, "Service Unavailable")]
    assert ksr.reply_headers == ["Retry-After: 5\r\n"]
    assert req.device is None
    assert not ksr.called("auth.pv_auth_check")


@pytest.mark.parametrize("au", ["7001\x00x", "7001\x01", "\x7f"])
def test_control_bytes_in_the_username_are_a_wrong_credential(ksr, worker, au):
    """Issue 15 item 11: challenged like a wrong password, one INFO line,
    never looked up (no KSR function takes a NUL)."""
    ksr.message("REGISTER", au=au)
    assert auth.authenticate(Request()) == STOP
    assert ksr.called("auth.auth_challenge") == [("sipedge", 1)]
    assert not ksr.called("auth.pv_auth_check") and not ksr.called("htable.sht_get")
    assert len(ksr.called("info")) == 1 and not ksr.called("err")
