"""kemi.cluster.deliver: a peer node's call for a device this node holds is
relayed over the device's own connection, tracked as a dialog (its
in-dialog requests are validated here) that writes no CDR -- the caller's
node has the call's CDR."""

from __future__ import annotations

from kemi import calls, cluster, peers
from kemi.context import Request
from kemi.ksrconst import FLT_DELIVERED, STOP


def _from_peer(ksr, method: str) -> Request:
    ksr.message(method)
    ksr.results["siputils.has_totag"] = -1          # an initial request
    ksr.results["isdsturiset"] = True               # the Path's `received`
    ksr.results["hdr.is_present"] = 1               # its Route: this node's Path entry
    ksr.results["rr.loose_route"] = 1
    ksr.results["tm.t_relay"] = 1
    req = Request()
    req.from_peer = True
    return req


def test_a_delivered_call_has_a_dialog_without_a_cdr(ksr):
    req = _from_peer(ksr, "INVITE")
    assert cluster.deliver(req) == STOP
    assert ksr.called("dialog.dlg_manage")
    assert (calls.V_NO_CDR, "1") in ksr.called("dialog.var_sets")
    assert FLT_DELIVERED in ksr.flags and ksr.called("rr.record_route")
    assert ksr.called("tm.t_relay")
    # the CDR fields are the caller's node's: none is filled here
    assert {a[0] for a in ksr.called("dialog.var_sets")} == {calls.V_NO_CDR}


def test_a_delivered_keepalive_opens_no_dialog(ksr):
    req = _from_peer(ksr, "OPTIONS")
    assert cluster.deliver(req) == STOP
    assert not ksr.called("dialog.dlg_manage") and not ksr.called("dialog.var_sets")
    assert ksr.called("tm.t_relay")


def test_a_device_is_never_delivered_as_a_peer(ksr):
    req = _from_peer(ksr, "INVITE")
    req.from_peer = False
    cluster.deliver(req)
    assert not ksr.called("tm.t_relay") and not ksr.called("dialog.var_sets")


def test_peers_are_recognised_without_dns_in_the_worker(ksr, monkeypatch):
    """Issue 15 item 9: a SIP worker never resolves a name. Peers given by
    address are compared directly; peers given by name are looked up in the
    `edgepeers` table, which the `peers` timer process fills (resolving at
    once, then every RESOLVE_EVERY), keeping a name's addresses while it
    does not resolve."""
    import socket

    from edgecore.config import Config
    from fakes import FakeWorker, use

    cfg = Config()
    cfg.cluster.peers = ["10.0.0.2:5060", "edge-peers.example:5070"]
    use(FakeWorker(cfg))
    monkeypatch.setattr(peers, "_peers", None)
    monkeypatch.setattr(peers, "_resolved", {"at": None, "by_name": {}})

    def no_dns(*a):
        raise AssertionError("DNS lookup in a SIP worker")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    table: dict[str, int] = {}
    ksr.results["htable.sht_get"] = lambda t, k: table.get(k) if t == peers.PEER_TABLE else None
    for src, peer in ((("10.0.0.2", 5060), True), (("10.0.0.3", 5070), False)):
        ksr.results["kx.get_srcip"], ksr.results["kx.get_srcport"] = src
        req = Request()
        cluster.classify_source(req)
        assert req.from_peer is peer

    # the timer process resolves the name...
    answers = [[(2, 2, 17, "", ("10.0.0.3", 5070)), (2, 2, 17, "", ("10.0.0.4", 5070))]]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a: answers[0])
    ksr.results["htable.sht_seti"] = lambda t, k, v: table.__setitem__(k, v) or 1
    ksr.results["htable.sht_rm"] = lambda t, k: table.pop(k, None) and 1
    peers.refresh_peers()
    assert set(table) == {"10.0.0.3:5070", "10.0.0.4:5070"}
    req = Request()
    cluster.classify_source(req)                     # ...and the worker sees it
    assert req.from_peer is True
    # a name that stops resolving keeps its addresses; a changed one is updated
    peers._resolved["at"] = None

    def fails(*a):
        raise socket.gaierror("temporary failure")

    monkeypatch.setattr(socket, "getaddrinfo", fails)
    peers.refresh_peers()
    assert set(table) == {"10.0.0.3:5070", "10.0.0.4:5070"}
    peers._resolved["at"] = None
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a: answers[0][:1])
    peers.refresh_peers()
    assert set(table) == {"10.0.0.3:5070"}
    peers.refresh_peers()                           # not due yet: nothing resolved


def test_own_address_is_the_one_the_launcher_resolved(ksr, monkeypatch):
    """A node listening on 0.0.0.0 is reached by its peers at the address its
    host name resolves to; the launcher resolves it once and defines it
    (DMQ_SERVER). The worker takes it from there: its Path and its own
    keepalives' source are that address, without a lookup of its own."""
    import socket

    from edgecore.config import Config
    from fakes import FakeWorker, use

    cfg = Config()
    cfg.sip.listen_ip = "0.0.0.0"
    cfg.cluster.peers = ["10.0.0.2:5060"]
    use(FakeWorker(cfg))
    monkeypatch.setattr(peers, "_own", None)

    def no_dns(*a):
        raise AssertionError("DNS lookup in a SIP worker")

    monkeypatch.setattr(socket, "gethostbyname", no_dns)
    monkeypatch.setattr(socket, "gethostname", no_dns)
    ksr.defines["DMQ_SERVER"] = '"sip:10.0.0.7:5070"'
    ksr.results["kx.get_srcip"], ksr.results["kx.get_srcport"] = "10.0.0.7", 5070
    req = Request()
    cluster.classify_source(req)
    assert req.from_peer is True
    ksr.message("REGISTER")
    ksr.results["kx.get_srcip"], ksr.results["kx.get_srcport"] = "192.0.2.9", 40000
    cluster.add_path()
    (path,) = ksr.called("hdr.append")
    assert path[0].startswith("Path: <sip:10.0.0.7:5070;lr;received=")
