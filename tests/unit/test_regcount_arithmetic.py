"""edgecore.regcount: which contacts count, in which order, and the count
slots a registration leaves empty (the writes are edgestore.regcount's)."""

from __future__ import annotations

from edgecore.regcount import NO_EXPIRY, UNLIMITED_SLOTS, live_contacts, stale_slots

NOW = 1_000_000.0


def test_live_contacts_latest_first_expired_left_out_permanent_last_forever():
    got = live_contacts([{"expires": NOW + 10, "contact": "a"}, {"expires": NOW - 1},
                         {"expires": 0, "contact": "p"}, {"expires": NOW + 60}], NOW)
    assert [c["expires"] for c in got] == [NO_EXPIRY, NOW + 60, NOW + 10]
    assert got[0]["contact"] == "p" and got[2]["contact"] == "a"
    assert live_contacts([], NOW) == []


def test_stale_slots_up_to_the_registrar_limit_or_the_contacts_held():
    assert list(stale_slots(2, 4)) == [3, 4]
    assert list(stale_slots(0, 1)) == [1]
    assert list(stale_slots(5, 3)) == []                 # more than the limit: none empty
    assert list(stale_slots(1, 0)) == list(range(2, UNLIMITED_SLOTS + 1))   # no limit
