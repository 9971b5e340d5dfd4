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
