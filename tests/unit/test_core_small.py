"""Small pure pieces: digest, tenancy rules, versioned cache, record encoding."""

from __future__ import annotations

import pytest

from edgecore import digest, readmodel as rm, tenancy
from edgecore.cache import Unavailable, VersionedCache


def test_ha1_rfc2617_vector():
    # RFC 2617 3.5: Mufasa / testrealm@host.com / Circle Of Life
    assert digest.ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == \
        "939e7578ed9e3c518a452acee763bce9"
    assert digest.is_ha1("939e7578ed9e3c518a452acee763bce9")
    assert not digest.is_ha1("939E7578")


T = rm.Tenant("00003", "A", domain="a.example.net")
EDGE = frozenset({"edge.local", "sip.example.com"})


@pytest.mark.parametrize("domain,local,ok", [
    ("a.example.net", False, True), ("A.Example.NET.", False, True),
    ("edge.local", False, True), ("sip.example.com", False, True),
    ("203.0.113.7", False, True), ("[2001:db8::1]", False, True),
    ("b.example.net", False, False), ("b.example.net", True, True), ("", False, False)])
def test_domain_acceptable(domain, local, ok):
    assert tenancy.domain_acceptable(domain, T, EDGE, local) is ok


def test_identity_matches_auth_user_or_extension():
    d = rm.Device("000037001", "00003", "7001", "a" * 32)
    assert tenancy.identity_matches("000037001", d)
    assert tenancy.identity_matches("000037001".upper(), d)
    assert tenancy.identity_matches("7001", d)
    assert not tenancy.identity_matches("7002", d)
    assert not tenancy.identity_matches(None, d)


class Clock:
    def __init__(self):
        self.v = 1


def test_cache_valid_until_version_changes():
    c = Clock()
    cache = VersionedCache(lambda: c.v, 10)
    loads = []
    get = lambda k: cache.get(k, lambda: loads.append(k) or k.upper())  # noqa: E731
    assert get("a") == "A" and get("a") == "A"
    assert loads == ["a"] and cache.hits == 1
    c.v = 2
    get("a")
    assert loads == ["a", "a"]


def test_cache_keeps_negative_answers():
    cache = VersionedCache(lambda: 1, 10)
    n = []
    assert cache.get("x", lambda: n.append(1)) is None
    assert cache.get("x", lambda: n.append(1)) is None
    assert n == [1]


def test_cache_refuses_when_model_unreachable():
    cache = VersionedCache(lambda: -1, 10)
    with pytest.raises(Unavailable):
        cache.get("a", lambda: "never")


def test_a_cached_answer_is_refused_while_the_model_is_unreachable():
    ver = [3]
    cache = VersionedCache(lambda: ver[0], 10)
    assert cache.get("k", lambda: "v") == "v"
    ver[0] = -1
    for _ in range(2):                       # every time, not only the first
        with pytest.raises(Unavailable):
            cache.get("k", lambda: "w")
    ver[0] = 4
    assert cache.get("k", lambda: "w") == "w"     # a new version: fetched again


def test_cache_is_bounded():
    cache = VersionedCache(lambda: 1, 3, 2)
    for k in "abcdef":
        cache.get(k, lambda: 1)
        cache.promote()
    assert len(cache) <= 5


def test_unauthenticated_lookups_cannot_evict_confirmed_answers():
    """Issue 15 item 8: answers enter a bounded probation part; only a
    lookup whose request authenticated (promote) joins the main part, where
    the least recently used entry goes first -- never a clear-all."""
    cache = VersionedCache(lambda: 1, 3, 4)
    loads = []
    get = lambda k: cache.get(k, lambda: loads.append(k) or k)  # noqa: E731
    for k in ("dev1", "dev2"):
        get(k)
        cache.promote()                                 # authenticated
    for i in range(10_000):                             # a flood under made-up names
        get(f"stranger{i}")
    assert len(cache) == 2 + 4
    loads.clear()
    assert get("dev1") == "dev1" and get("dev2") == "dev2" and loads == []
    for k in ("dev3", "dev4"):                          # main part full: LRU goes
        get(k)
        cache.promote()
    loads.clear()
    for k in ("dev2", "dev3", "dev4", "dev1"):
        get(k)
    assert loads == ["dev1"]                            # the least recently used only


def test_records_round_trip():
    t = rm.Tenant("00001", "Support", True, False, "s.example.net", 10)
    assert rm.Tenant.decode(t.encode()) == t
    d = rm.Device("000017001", "00001", "7001", "f" * 32, 2)
    assert rm.Device.decode(d.encode()) == d and d.aor == "sip:7001@00001"
    g = rm.Target("ring_group", "00001", "7000", name="n", strategy="sequential",
                  ring_timeout=20, members=("7001", "7002"))
    assert rm.Target.decode(g.encode()) == g
    assert rm.Tenant.decode(None) is None and rm.Target.decode("") is None


# -- edgecore.media: what rtpengine is told for each SDP ---------------------

from edgecore import media  # noqa: E402


def test_media_anchored_for_nat_or_browser_only():
    assert not media.anchor(False, False, False, False)
    for i in range(4):
        args = [False] * 4
        args[i] = True
        assert media.anchor(*args)


def test_browser_offer_to_a_phone_becomes_plain_rtp():
    f = media.sdp_flags(sender_nat=True, sender_webrtc=True, receiver_webrtc=False).split()
    assert "transport-protocol=RTP/AVP" in f and "ICE=remove" in f and "DTLS=off" in f
    assert "rtcp-mux-demux" in f
    assert "SIP-source-address" not in f          # browsers are found by ICE


def test_phone_answer_to_a_browser_keeps_rtpengines_dtls_role():
    f = media.sdp_flags(False, False, True, offer=False).split()
    assert "transport-protocol=UDP/TLS/RTP/SAVPF" in f and "ICE=force" in f
    assert "rtcp-mux-require" in f and not any(x.startswith("DTLS") for x in f)


def test_phone_offer_to_a_browser_lets_the_browser_connect():
    f = media.sdp_flags(False, False, True, offer=True).split()
    assert "DTLS=passive" in f and "SDES-off" in f


def test_natted_phone_to_phone():
    f = media.sdp_flags(True, False, False).split()
    assert "SIP-source-address" in f and "transport-protocol=RTP/AVP" in f


from edgecore import guard  # noqa: E402


@pytest.mark.parametrize("now", [1000.0, 1000.01, 1000.5, 1000.99])
def test_a_ban_ends_on_the_second_a_nodes_htable_entry_expires(now):
    """htable keeps time in whole seconds and drops an entry once its expiry
    is behind time(): a ban's end in Redis must never be later than that, or
    a node answers a source that `edgectl ban list` still shows banned."""
    until = guard.ban_until(now, 3)
    assert until == 1003
    set_at = int(now)                                   # htable's time(NULL)
    assert set_at + guard.ban_seconds_left(until, now) == until
    # the poller refreshing the entry while the ban is in force ends it on the same second
    for later in (1000.0, 1001.3, 1002.99):
        assert int(later) + guard.ban_seconds_left(until, later) == until


def test_a_ban_entry_lasts_at_least_a_second():
    assert guard.ban_seconds_left(1000, 1000.5) == 1
    assert guard.ban_seconds_left(999.2, 1000.5) == 1


def test_trust_written_again_only_after_trust_refresh():
    now = 2_200_000_000.5       # past 2038: the stamp still fits a 32-bit htable integer
    stamp = guard.trust_stamp(now)
    assert 0 < stamp < 2 ** 31
    assert guard.trust_due(None, now, 1800)
    assert not guard.trust_due(stamp, now + 1799, 1800)
    assert guard.trust_due(stamp, now + 1800, 1800)
