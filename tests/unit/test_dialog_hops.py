"""edgecore.dialogs: where requests inside a dialog, and contacts, may point."""

from __future__ import annotations

from edgecore import dialogs

def test_in_dialog_requests_steered_out_of_their_dialog():
    me = "sip:127.0.0.1:5060;lr;did=1"
    peer = "sip:127.0.0.1:5070;lr"
    is_self = lambda u: u == me                                  # noqa: E731
    is_peer = lambda u: u == peer                                # noqa: E731
    contact, source = "sip:uas@127.0.0.83:5090;transport=udp", "sip:127.0.0.83:5090"
    ok = dialogs.steered("sip:uas@127.0.0.83:5090", [me], contact, source, is_self, is_peer)
    assert ok is None
    assert dialogs.steered("sip:uas@127.0.0.83:5090", [me, peer], contact, source, is_self,
                           is_peer) is None
    assert dialogs.steered("sip:x@127.0.0.99", [me], contact, source, is_self,
                           is_peer) == dialogs.REQUEST_URI
    assert dialogs.steered("sip:uas@127.0.0.83:5090", [me, "sip:127.0.0.99;lr"], contact,
                           source, is_self, is_peer) == dialogs.ROUTE
    assert dialogs.steered("sip:uas@127.0.0.83:5090;alias=127.0.0.99~5060~1", [me], contact,
                           source, is_self, is_peer) == dialogs.ALIAS
    assert dialogs.steered("sip:uas@127.0.0.83:5090;alias=127.0.0.83~5090~1", [me], contact,
                           source, is_self, is_peer) is None
    # a party that gave no Contact is sent nothing, whatever the R-URI
    for ruri in ("sip:uas@127.0.0.83:5090", "tel:+5511999999999", ""):
        assert dialogs.steered(ruri, [me], "", source, is_self,
                               is_peer) == dialogs.REQUEST_URI


def test_a_contact_naming_another_host_than_the_source():
    assert not dialogs.contact_elsewhere("<sip:a@127.0.0.5:5070>;expires=60", "127.0.0.5")
    assert not dialogs.contact_elsewhere("*", "127.0.0.5")
    assert dialogs.contact_elsewhere("<sip:a@127.0.0.99>", "127.0.0.5")
    assert dialogs.contact_elsewhere("sip:a@phone.example", "127.0.0.5")


def test_uri_answers_are_kept_bounded_and_unchanged():
    dialogs.hostport.cache_clear()
    dialogs.uri_param.cache_clear()
    uri = "sip:uas@127.0.0.83:5090;alias=10.0.0.1~5060~1"
    for _ in range(3):
        assert dialogs.hostport(uri) == ("127.0.0.83", 5090)
        assert dialogs.uri_param(uri, "alias") == "10.0.0.1~5060~1"
    assert dialogs.hostport.cache_info().hits == 2 and dialogs.uri_param.cache_info().hits == 2
    for i in range(dialogs.PARSED_KEPT * 2):                 # a flood of made-up URIs
        dialogs.hostport(f"sip:x@10.0.{i // 256}.{i % 256}")
    assert dialogs.hostport.cache_info().currsize == dialogs.PARSED_KEPT
