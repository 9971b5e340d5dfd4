"""kemi.namespace + kemi.auth + kemi.registrar: phones of an imported legacy
server (edgectl import) authenticate with their peer names in their server's
namespace and realm; nothing else changes for native devices."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from fakes import FakeWorker, use
from kemi import auth, namespace, registrar
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP

A = rm.Tenant("00129", "Baluarte")
B = rm.Tenant("00003", "Efetiva")
GV1P = rm.Namespace("gv1p", "asterisk")
GV2P = rm.Namespace("gv2p", "legacy-realm")


@pytest.fixture
def worker(ksr) -> FakeWorker:
    ksr.results["auth.has_credentials"] = 1       # unless a test says otherwise
    ksr.results["registrar.save_uri"] = 1         # the location table takes the contact
    ksr.results["registrar.reg_fetch_contacts"] = 1
    w = use(FakeWorker())
    w.ns = {"127.0.0.21": GV1P, "gv2p.example.net": GV2P}
    w.devices["gv1p/1000"] = (rm.Device("gv1p/1000", A.id, "1000", "a" * 32), A)
    w.devices["gv2p/1000"] = (rm.Device("gv2p/1000", B.id, "1000", "b" * 32), B)
    w.add(B, "7001", ha1="c" * 32)                      # a native device: 000037001
    return w


def test_namespace_by_local_address_then_request_uri_then_to(ksr, worker):
    ksr.message("REGISTER", Ri="127.0.0.21", rd="10.0.0.1", td="10.0.0.1")
    assert namespace.of_request(worker) == GV1P
    ksr.message("REGISTER", Ri="127.0.0.1", rd="GV2P.example.net", td="x")
    assert namespace.of_request(worker) == GV2P
    ksr.message("REGISTER", Ri="127.0.0.1", rd="127.0.0.1", td="gv2p.example.net")
    assert namespace.of_request(worker) == GV2P
    ksr.message("REGISTER", Ri="127.0.0.1", rd="edge.local", td="edge.local")
    assert namespace.of_request(worker) is None


@pytest.mark.parametrize("where,ha1,tenant", [
    ({"Ri": "127.0.0.21"}, "a" * 32, A),
    ({"rd": "gv2p.example.net"}, "b" * 32, B),
])
def test_peer_name_authenticates_in_its_namespace_with_its_realm(ksr, worker, where, ha1, tenant):
    ksr.message("REGISTER", au="1000", **where)
    ksr.results["auth.pv_auth_check"] = 1
    req = Request()
    assert auth.authenticate(req) == CONTINUE
    realm = "asterisk" if tenant is A else "legacy-realm"
    assert ksr.called("auth.pv_auth_check") == [(realm, ha1, 1, 0)]
    assert req.tenant == tenant and req.device is not None and req.device.extension == "1000"
    assert req.namespace == ("gv1p" if tenant is A else "gv2p")


def test_challenge_carries_the_namespace_realm(ksr, worker):
    ksr.message("REGISTER", Ri="127.0.0.21")
    ksr.results["auth.has_credentials"] = -1
    assert auth.authenticate(Request()) == STOP
    assert ksr.called("auth.auth_challenge") == [("asterisk", 1)]


def test_read_model_down_still_challenges_with_the_last_known_realm_then_503(ksr, worker):
    """Redis unreachable: a request without credentials is challenged as
    before (the realm of its namespace as this worker last saw it); the
    request answering the challenge gets 503, never a pass."""
    ksr.message("REGISTER", Ri="127.0.0.21")
    namespace.of_request(worker)                     # the table once seen
    worker.down = True
    ksr.results["auth.has_credentials"] = -1
    assert auth.authenticate(Request()) == STOP
    assert ksr.called("auth.auth_challenge") == [("asterisk", 1)]
    ksr.calls.clear()
    ksr.message("REGISTER", au="1000", Ri="127.0.0.21")
    ksr.results["auth.has_credentials"] = 1
    ksr.results["auth.pv_auth_check"] = 1
    req = Request()
    assert auth.authenticate(req) == STOP
    assert ksr.replies() == [(503, "Service Unavailable")]
    assert req.device is None and not ksr.called("auth.pv_auth_check")


def _auth_calls(ksr, au: str, **where: str) -> list:
    ksr.calls.clear()
    ksr.message("REGISTER", au=au, **where)
    ksr.results["auth.pv_auth_check"] = -2          # the digest does not match
    assert auth.authenticate(Request()) == STOP
    return [(n, a) for n, a in ksr.calls if n.startswith("auth.")]


def test_unknown_in_namespace_looks_like_a_wrong_password(ksr, worker):
    wrong = _auth_calls(ksr, "1000", Ri="127.0.0.21")
    unknown = _auth_calls(ksr, "7001", Ri="127.0.0.21")      # a native name: not in gv1p
    assert [n for n, _ in wrong] == [n for n, _ in unknown]
    assert wrong[-1] == unknown[-1] == ("auth.auth_challenge", ("asterisk", 1))
    assert unknown[1][1][1] == auth.DUMMY_HA1


@pytest.mark.parametrize("au", ["1000", "gv1p/1000", "GV1P/1000"])
def test_native_namespace_never_finds_a_legacy_identity(ksr, worker, au):
    calls = _auth_calls(ksr, au, Ri="127.0.0.1", rd="edge.local")
    assert calls[1][1][1] == auth.DUMMY_HA1
    assert calls[-1] == ("auth.auth_challenge", ("sipedge", 1))


def test_a_slash_name_in_a_namespace_is_no_identity(ksr, worker):
    calls = _auth_calls(ksr, "gv2p/1000", Ri="127.0.0.21")
    assert calls[1][1][1] == auth.DUMMY_HA1


def test_native_devices_unchanged_beside_namespaces(ksr, worker):
    ksr.message("REGISTER", au="000037001", Ri="127.0.0.1", rd="edge.local")
    ksr.results["auth.pv_auth_check"] = 1
    req = Request()
    assert auth.authenticate(req) == CONTINUE
    assert ksr.called("auth.pv_auth_check") == [("sipedge", "c" * 32, 1, 0)]
    assert req.namespace == ""


def test_registrar_serves_a_namespace_dns_name(ksr, worker):
    dev, ten = worker.devices["gv2p/1000"]
    req = Request(device=dev, tenant=ten, namespace="gv2p")
    ksr.message("REGISTER", tU="1000", td="gv2p.example.net")
    ksr.results["is_myself_turi"] = False
    assert registrar.register(req) == STOP
    assert ksr.called("registrar.save_uri") == [("location", 0, "sip:1000@00003")]
    # without the namespace that name is a foreign domain
    ksr.calls.clear()
    assert registrar.register(Request(device=dev, tenant=ten)) == STOP
    assert ksr.replies()[-1] == (403, "Forbidden - Domain Not Served")


def test_an_imported_servers_names_are_served_domains(ksr, worker):
    """An INVITE to a legacy server's DNS name (or its public address behind
    NAT) is routed, not refused as a foreign domain."""
    from edgecore.numbering import Resolution
    from edgecore.policy import CallPlan, Decision
    from kemi import domains

    dev, ten = worker.devices["gv2p/1000"]
    target = rm.Target("device", ten.id, "1001", auth_username="gv2p/1001")
    for host, allowed in (("gv2p.example.net", True), ("127.0.0.21", True),
                          ("evil.example", False)):
        ksr.message("INVITE", rd=host)
        ksr.results["is_myself_ruri"] = False
        req = Request(device=dev, tenant=ten, namespace="gv2p",
                      plan=CallPlan(Resolution(True, target, ten), Decision(True, "same-tenant")))
        domains.check(req)
        assert req.plan is not None and req.plan.decision.allowed is allowed, host
