"""edgestore.regcount against a real Redis: the per-tenant registration data
the registrar step writes is counted, listed and trimmed -- an AOR whose
contacts expired without a REGISTER leaves the listing's hash together with
the devices' sorted set, in one Lua script, and nothing else does."""

from __future__ import annotations

from pathlib import Path

from edgestore import regcount
from testkit.stacks import scratch_redis

NOW = 2_000_000_000.0


def _contact(ext: str, expires: float) -> dict[str, object]:
    return {"expires": expires, "contact": f"sip:{ext}@192.0.2.1", "received": None,
            "user_agent": None, "socket": "udp:127.0.0.1:5060"}


def test_expired_aors_leave_the_listing_and_its_hash(tmp_path: Path):
    with scratch_redis(tmp_path) as r:
        pipe = r.pipeline(transaction=False)
        regcount.record(pipe, "00001", "7001@00001", [_contact("7001", NOW + 10)], 10, NOW)
        regcount.record(pipe, "00001", "7002@00001", [_contact("7002", NOW + 100)], 10, NOW)
        pipe.execute()
        later = NOW + 50
        assert regcount.counts(r, later) == ({"00001": 1}, {"00001": 1})
        total, items = regcount.listing(r, "00001", later)
        assert total == 1 and items[0]["contact"] == "sip:7002@192.0.2.1"
        assert items[0]["expires"] == 50
        assert set(r.hkeys(regcount.info_key("00001"))) == {"7002@00001"}
        assert regcount.decode_info(r.hget(regcount.info_key("00001"), "7002@00001")) == [
            {"contact": "sip:7002@192.0.2.1", "socket": "udp:127.0.0.1:5060"}]


def test_a_polls_notes_clear_exactly_the_slots_above_each_aors_count(tmp_path: Path):
    """record_many against a real Redis: the slot-clearing script removes
    each AOR's slot 1 (it lives in :dev) and the slots above its count up to
    the limit, and nothing of the other AORs."""
    with scratch_redis(tmp_path) as r:
        ct = regcount.contacts_key("00001")
        # what an earlier write left: 7001 with 4 contacts, 7002 with 3, an
        # older edge's #1 member of 7003
        r.zadd(ct, {**{f"7001@00001#{k}": NOW + 100 for k in range(1, 5)},
                    **{f"7002@00001#{k}": NOW + 100 for k in range(2, 4)},
                    "7003@00001#1": NOW + 100})
        pipe = r.pipeline(transaction=False)
        regcount.record_many(pipe, [
            ("00001", "7001@00001", [_contact("7001", NOW + 10), _contact("7001", NOW + 20)]),
            ("00001", "7002@00001", [_contact("7002", NOW + 30)] * 3),
            ("00001", "7003@00001", [_contact("7003", NOW + 40)]),
            ("00001", "7004@00001", []),
        ], 4, NOW)
        pipe.execute()
        assert sorted(r.zrange(ct, 0, -1)) == ["7001@00001#2", "7002@00001#2", "7002@00001#3"]
        assert regcount.counts(r, NOW) == ({"00001": 6}, {"00001": 3})
