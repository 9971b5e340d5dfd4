"""edgestore.regcount's listing: what the registrar step records per AOR is
listed per tenant, paged, by extension, expired contacts left out -- against
an in-memory stand-in for the few Redis commands involved."""

from __future__ import annotations

import json
from typing import Any

from edgestore import regcount

NOW = 1_000_000.0


class _Redis:
    """Sorted sets and hashes, enough for record() and listing()."""

    def __init__(self) -> None:
        self.z: dict[str, dict[str, float]] = {}
        self.h: dict[str, dict[str, str]] = {}
        self.s: dict[str, set[str]] = {}

    def sadd(self, key: str, *members: str) -> None:
        self.s.setdefault(key, set()).update(members)

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        self.z.setdefault(key, {}).update(mapping)

    def zrem(self, key: str, *members: str) -> None:
        for m in members:
            self.z.get(key, {}).pop(m, None)

    def hset(self, key: str, field: str | None = None, value: str | None = None,
             mapping: dict[str, str] | None = None) -> None:
        h = self.h.setdefault(key, {})
        if field is not None and value is not None:
            h[field] = value
        h.update(mapping or {})

    def hdel(self, key: str, *fields: str) -> None:
        for f in fields:
            self.h.get(key, {}).pop(f, None)

    def hmget(self, key: str, fields: list[str]) -> list[str | None]:
        return [self.h.get(key, {}).get(f) for f in fields]

    def _live(self, key: str, low: str) -> list[tuple[str, float]]:
        floor = float(low.lstrip("("))
        return sorted((m, e) for m, e in self.z.get(key, {}).items() if e > floor)

    def zrangebyscore(self, key: str, low: str, high: str, withscores: bool = False) -> Any:
        live = self._live(key, low)
        return live if withscores else [m for m, _ in live]

    def zcount(self, key: str, low: str, high: str) -> int:
        return len(self._live(key, low))

    def pipeline(self, transaction: bool = True) -> "_Pipeline":
        return _Pipeline(self)

    def register_script(self, source: str) -> Any:
        """regcount's slot-clearing script, as Redis would run it (its Lua
        is run by tests/integration/test_regcount_store.py)."""
        assert "ZREM" in source

        def run(keys: list[str], args: list[Any]) -> None:
            for i in range(0, len(args), 3):
                aor, first, last = args[i:i + 3]
                self.zrem(keys[0], f"{aor}#1",
                          *(f"{aor}#{k}" for k in range(int(first), int(last) + 1)))

        def call(keys: list[str], args: list[Any], client: Any = None) -> None:
            if isinstance(client, _Pipeline):
                client.queued.append((run, (keys, args), {}))
            else:
                run(keys, args)
        call.__name__ = "clear_slots"
        return call


class _Pipeline:
    """Queues the calls; execute() answers them in order."""

    def __init__(self, r: _Redis) -> None:
        self.r, self.queued = r, []  # type: list[Any]

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **kw: self.queued.append((getattr(self.r, name), a, kw))

    def register_script(self, source: str) -> Any:
        return self.r.register_script(source)

    def execute(self) -> list[Any]:
        return [fn(*a, **kw) for fn, a, kw in self.queued]


def _contact(ext: str, k: int, expires: float, **extra: Any) -> dict[str, Any]:
    return {"expires": expires, "contact": f"sip:{ext}-{k}@192.0.2.1:5060",
            "received": None, "user_agent": "phone", "socket": "udp:127.0.0.1:5060", **extra}


def _registered() -> _Redis:
    r = _Redis()
    regcount.record(r, "00001", "7002@00001",
                    [_contact("7002", 1, NOW + 100), _contact("7002", 2, NOW + 300,
                                                              received="sip:203.0.113.7:4000")],
                    10, NOW)
    regcount.record(r, "00001", "7001@00001", [_contact("7001", 1, 0)], 10, NOW)
    regcount.record(r, "00001", "7003@00001", [_contact("7003", 1, NOW - 1)], 10, NOW)
    regcount.record(r, "00002", "7001@00002", [_contact("7001", 1, NOW + 50)], 10, NOW)
    return r


def test_a_tenants_live_contacts_are_listed_by_extension_latest_first():
    total, items = regcount.listing(_registered(), "00001", NOW)
    assert total == 3
    assert [(i["extension"], i["contact"], i["expires"]) for i in items] == [
        ("7001", "sip:7001-1@192.0.2.1:5060", None),            # permanent (ul.add)
        ("7002", "sip:7002-2@192.0.2.1:5060", 300),
        ("7002", "sip:7002-1@192.0.2.1:5060", 100)]
    assert items[1]["received"] == "sip:203.0.113.7:4000"
    assert items[1]["user_agent"] == "phone" and items[1]["socket"] == "udp:127.0.0.1:5060"


def test_pages_filters_and_other_tenants():
    r = _registered()
    assert regcount.listing(r, "00001", NOW, offset=1, limit=1)[1][0]["contact"] == \
        "sip:7002-2@192.0.2.1:5060"
    assert regcount.listing(r, "00001", NOW, offset=3, limit=10) == (3, [])
    assert regcount.listing(r, "00001", NOW, limit=0) == (3, [])
    total, items = regcount.listing(r, "00001", NOW, prefix="7002")
    assert total == 2 and {i["extension"] for i in items} == {"7002"}
    assert regcount.listing(r, "00002", NOW)[0] == 1
    assert regcount.listing(r, "00003", NOW) == (0, [])


def test_an_unregister_removes_the_aors_contacts_from_the_listing():
    r = _registered()
    regcount.record(r, "00001", "7002@00001", [], 10, NOW)
    assert [i["extension"] for i in regcount.listing(r, "00001", NOW)[1]] == ["7001"]
    assert "7002@00001" not in r.h[regcount.info_key("00001")]
    # fewer contacts than before: the slots above are gone, the info matches
    regcount.record(r, "00001", "7001@00001", [_contact("7001", 9, NOW + 5)], 10, NOW)
    (only,) = regcount.listing(r, "00001", NOW)[1]
    assert only["contact"] == "sip:7001-9@192.0.2.1:5060"
    assert regcount.decode_info(r.h[regcount.info_key("00001")]["7001@00001"]) == [
        {"contact": "sip:7001-9@192.0.2.1:5060", "socket": "udp:127.0.0.1:5060",
         "user_agent": "phone"}]


def test_info_keeps_fields_by_position_and_reads_an_older_edges():
    """No field names and no expiry (the sorted set's score) in the :info
    value kept per AOR; one written by an older edge (dicts) still lists."""
    r = _registered()
    raw = r.h[regcount.info_key("00001")]["7002@00001"]
    assert json.loads(raw) == [
        ["sip:7002-2@192.0.2.1:5060", "udp:127.0.0.1:5060", "phone", "sip:203.0.113.7:4000"],
        ["sip:7002-1@192.0.2.1:5060", "udp:127.0.0.1:5060", "phone"]]
    r.h[regcount.info_key("00001")]["7002@00001"] = json.dumps(
        [{"expires": NOW + 300, "contact": "sip:old@192.0.2.1", "received": None,
          "user_agent": "old phone", "socket": "udp:127.0.0.1:5060"}])
    items = regcount.listing(r, "00001", NOW, prefix="7002")[1]
    assert (items[0]["contact"], items[0]["user_agent"]) == ("sip:old@192.0.2.1", "old phone")


def test_the_providers_listing_pages_across_tenants(monkeypatch):
    from edgecore.config import Config
    from edgectl.service import Actor, Page, Service

    r = _registered()
    r.smembers = lambda key: r.s.get(key, set())          # type: ignore[attr-defined]
    r.close = lambda: None                                  # type: ignore[attr-defined]
    s = Service(Config(), Actor("test"))
    monkeypatch.setattr(s, "_guard_redis", lambda: r)
    monkeypatch.setattr("edgectl.service.operations.time.time", lambda: NOW)

    def page(offset: int, limit: int) -> list[tuple[str, str, str | None]]:
        got = s.registrations(None, Page(limit, offset))
        assert got["total"] == 4
        return [(i["tenant"], i["extension"], i["transport"]) for i in got["items"]]

    assert page(0, 10) == [("00001", "7001", "udp"), ("00001", "7002", "udp"),
                           ("00001", "7002", "udp"), ("00002", "7001", "udp")]
    assert page(2, 2) == [("00001", "7002", "udp"), ("00002", "7001", "udp")]
    assert page(3, 1) == [("00002", "7001", "udp")]
    assert page(4, 5) == []


def test_one_contact_is_one_sorted_set_member_and_an_older_edges_slot_goes():
    """Slot 1 of an AOR is its :dev member (what counts the device), never
    repeated in :ct: a phone with one contact costs one member. An older
    edge's ``<aor>#1`` in :ct is listed once, and the AOR's next write
    removes it."""
    r = _registered()
    assert set(r.z[regcount.contacts_key("00001")]) == {"7002@00001#2"}
    assert set(r.z[regcount.devices_key("00001")]) == {"7001@00001", "7002@00001"}
    r.z[regcount.contacts_key("00001")]["7001@00001#1"] = NOW + 7     # an older edge's
    total, items = regcount.listing(r, "00001", NOW)
    assert total == 3 and [i["extension"] for i in items] == ["7001", "7002", "7002"]
    assert regcount.listing(r, "00001", NOW, limit=0)[0] == 4    # counted twice until...
    regcount.record(r, "00001", "7001@00001", [_contact("7001", 1, 0)], 10, NOW)
    assert regcount.listing(r, "00001", NOW, limit=0)[0] == 3    # ...its next write
    assert set(r.z[regcount.contacts_key("00001")]) == {"7002@00001#2"}


def test_a_polls_notes_cost_a_few_commands_per_tenant_not_per_aor():
    r = _Redis()
    pipe = r.pipeline()
    notes = [("00001", f"70{i:02d}@00001", [_contact(f"70{i:02d}", 1, NOW + 60 + i)])
             for i in range(40)]
    notes.append(("00001", "7100@00001", []))                       # unregistered
    notes.append(("00002", "7001@00002", [_contact("7001", 1, NOW + 30),
                                          _contact("7001", 2, NOW + 20)]))
    regcount.record_many(pipe, notes, 10, NOW)
    names = [fn.__name__ for fn, _, _ in pipe.queued]
    assert names == ["sadd",
                     "zadd", "hset", "zrem", "hdel", "run",             # 00001
                     "zadd", "zadd", "hset", "run"]                     # 00002
    pipe.execute()
    total, items = regcount.listing(r, "00001", NOW)
    assert total == 40 and items[0]["contact"] == "sip:7000-1@192.0.2.1:5060"
    assert regcount.listing(r, "00002", NOW)[0] == 2
    # the same as one AOR at a time
    one = _Redis()
    for t, aor, contacts in notes:
        regcount.record(one, t, aor, contacts, 10, NOW)
    assert (one.z, one.h, one.s) == (r.z, r.h, r.s)
