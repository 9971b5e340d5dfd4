"""kemi.registrar: save under the tenant-scoped AOR, identity and domain rules."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from fakes import FakeWorker, use
from kemi import context, registrar, registrations
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLB_NATB, FLB_NATSIPPING, STOP

TENANT = rm.Tenant("00003", "Efetiva", domain="efetiva.example.net")


@pytest.fixture
def req(ksr) -> Request:
    ksr.results["registrar.save_uri"] = 1         # the location table takes the contact
    ksr.results["registrar.reg_fetch_contacts"] = 1   # and holds the AOR's contacts
    ksr.pv["$(hdr(Contact)[*])"] = "<sip:7001@127.0.0.5:5070>"   # on its source host
    ksr.results["kx.get_srcip"] = "127.0.0.5"
    w = use(FakeWorker())
    d = w.add(TENANT, "7001")
    return Request(device=d, tenant=TENANT)


def test_a_contact_elsewhere_is_saved_with_the_source(ksr, req):
    """The registrar stores the real source before it saves (kemi/nat.py)."""
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    ksr.pv["$(hdr(Contact)[*])"] = "<sip:7001@127.0.0.99>"
    ksr.results["kx.get_srcip"] = "127.0.0.5"
    assert registrar.register(req) == STOP
    names = [n for n, _ in ksr.calls]
    assert names.index("nathelper.fix_nated_register") < names.index("registrar.save_uri")


@pytest.mark.parametrize("to_user,domain", [
    ("000037001", "127.0.0.1"),            # IP literal
    ("7001", "edge.local"),               # the edge's own domain, extension as user
    ("000037001", "efetiva.example.net"),  # the tenant's domain
    ("000037001", "[::1]"),
])
def test_saves_under_tenant_scoped_aor(ksr, req, to_user, domain):
    ksr.message("REGISTER", tU=to_user, td=domain)
    assert registrar.register(req) == STOP
    assert ksr.called("registrar.save_uri") == [("location", 0, "sip:7001@00003")]
    assert ksr.replies() == []


def test_other_identity_is_refused(ksr, req):
    ksr.message("REGISTER", tU="000037002", td="127.0.0.1")
    assert registrar.register(req) == STOP
    assert ksr.replies() == [(403, "Forbidden - Not Your Identity")]
    assert not ksr.called("registrar.save_uri")


def test_foreign_domain_is_refused(ksr, req):
    ksr.message("REGISTER", tU="000037001", td="epavi.example.net")
    ksr.results["is_myself_turi"] = False
    assert registrar.register(req) == STOP
    assert ksr.replies() == [(403, "Forbidden - Domain Not Served")]


def test_nated_contact_is_flagged_for_keepalive(ksr, req):
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    req.nat = True
    registrar.register(req)
    assert {FLB_NATB, FLB_NATSIPPING} <= ksr.bflags


def test_save_failure_answers_with_the_registrar_error(ksr, req):
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    ksr.results["registrar.save_uri"] = -1
    assert registrar.register(req) == STOP
    assert ksr.called("sl.sl_reply_error")


def test_other_methods_pass_through(ksr, req):
    ksr.message("INVITE")
    assert registrar.register(req) == CONTINUE


class _Pipe:
    """Records the Redis commands a pipeline queues."""

    def __init__(self) -> None:
        self.cmds: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str):
        return lambda *args, **kw: self.cmds.append((name, args + ((kw,) if kw else ())))

    def register_script(self, source: str):
        """The slot-clearing script: recorded as one command, "clear_slots"."""
        return lambda keys, args, client=None: self.cmds.append(("clear_slots",
                                                                 (*keys, *args)))


class _Queue(dict):
    pipes: list


@pytest.fixture
def queue(ksr, req) -> _Queue:
    """The node's edgeregq htable, through the double's htable functions
    (set, iterate, remove the current item), and a Redis client whose
    pipeline records what the timer process writes."""
    table = _Queue()
    it: dict[str, object] = {}
    key, val = f"$shtitkey({registrations.ITERATOR})", f"$shtitval({registrations.ITERATOR})"

    def start(iname: str, hname: str) -> int:
        assert hname == registrations.QUEUE
        it["keys"] = list(table)
        return 1

    def next_(iname: str) -> int:
        keys = it["keys"]
        assert isinstance(keys, list)
        ksr.pv.pop(key, None), ksr.pv.pop(val, None)
        if not keys:
            return -1
        it["cur"] = keys.pop(0)
        ksr.pv[key], ksr.pv[val] = it["cur"], table[str(it["cur"])]
        return 1

    ksr.results["htable.sht_sets"] = lambda t, k, v: table.__setitem__(k, v) or 1
    ksr.results["htable.sht_iterator_start"] = start
    ksr.results["htable.sht_iterator_next"] = next_
    ksr.results["htable.sht_iterator_rm"] = lambda i: table.pop(str(it["cur"])) and 1
    ksr.results["htable.sht_iterator_end"] = lambda i: 1
    pipes: list[_Pipe] = []
    w = context.worker()
    w.redis = type("R", (), {"pipeline": lambda self, transaction=True: pipes.append(_Pipe())
                             or pipes[-1]})()
    table.pipes = pipes
    return table


def test_an_accepted_register_notes_the_aors_contacts_for_counting(ksr, req, queue):
    import time

    from edgestore import regcount
    soon = int(time.time()) + 600
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    ksr.pv["$(ulc(edgereg=>count))"] = 2
    ksr.pv["$(ulc(edgereg=>expires)[0])"] = soon - 100
    ksr.pv["$(ulc(edgereg=>expires)[1])"] = soon
    ksr.pv["$(ulc(edgereg=>addr)[1])"] = "sip:7001@192.168.1.5:5060"
    ksr.pv["$(ulc(edgereg=>received)[1])"] = "sip:203.0.113.9:40000"
    ksr.pv["$(ulc(edgereg=>user_agent)[1])"] = "Gate phone 1.0"
    ksr.pv["$(ulc(edgereg=>socket)[1])"] = "udp:127.0.0.1:5060"
    ksr.pv["$(ulc(edgereg=>received)[0])"] = "[not set]"
    assert registrar.register(req) == STOP
    # no Redis write in the worker, no reading the contacts back: a note in
    # the node's table (the AOR and its tenant)
    assert ksr.called("registrar.reg_fetch_contacts") == []
    assert not queue.pipes
    assert dict(queue) == {"7001@00003": "00003"}
    # the timer process reads the AOR's contacts, writes them (one pipeline)
    # and takes the note out of the table
    assert registrations.flush() == 1
    assert ksr.called("registrar.reg_fetch_contacts") == [("location", "sip:7001@00003",
                                                           "edgereg")]
    assert ksr.called("registrar.reg_free_contacts") == [("edgereg",)]
    assert queue == {}
    (pipe,) = queue.pipes
    assert ("execute", ()) in pipe.cmds
    assert ("zadd", (regcount.devices_key("00003"), {"7001@00003": soon})) in pipe.cmds
    # slot 1 is the :dev member; :ct holds the further slots only
    assert ("zadd", (regcount.contacts_key("00003"), {"7001@00003#2": soon - 100})) in pipe.cmds
    # what the listing shows, in the same slot order (latest expiry first)
    (info,) = [a for n, a in pipe.cmds if n == "hset"]
    assert info[0] == regcount.info_key("00003") and list(info[1]["mapping"]) == ["7001@00003"]
    first, second = regcount.decode_info(info[1]["mapping"]["7001@00003"])
    assert first == {"contact": "sip:7001@192.168.1.5:5060",
                     "received": "sip:203.0.113.9:40000", "user_agent": "Gate phone 1.0",
                     "socket": "udp:127.0.0.1:5060"}
    assert second.get("received") is None
    # the slots above the count (up to max_contacts) are cleared
    (rem,) = [a for n, a in pipe.cmds if n == "clear_slots"]
    assert rem == (regcount.contacts_key("00003"), "7001@00003", 3, 10)
    assert registrations.flush() == 0 and len(queue.pipes) == 1    # nothing left: no write


def test_a_later_note_of_the_same_aor_replaces_the_earlier(ksr, req, queue):
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    ksr.pv["$(ulc(edgereg=>count))"] = 1
    ksr.pv["$(ulc(edgereg=>expires)[0])"] = 2_000_000_000
    registrar.register(req)
    ksr.results["registrar.reg_fetch_contacts"] = -1       # then unregistered
    registrar.register(req)
    assert len(queue) == 1
    assert registrations.flush() == 1
    assert [n for n, _ in queue.pipes[0].cmds] == ["sadd", "zrem", "hdel", "clear_slots", "execute"]


def test_an_unregister_records_no_contacts(ksr, req, queue):
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    ksr.results["registrar.reg_fetch_contacts"] = -1       # none left
    registrar.register(req)
    registrations.flush()
    assert [n for n, _ in queue.pipes[0].cmds] == ["sadd", "zrem", "hdel", "clear_slots", "execute"]


def test_a_refused_register_records_nothing(ksr, req, queue):
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    ksr.results["registrar.save_uri"] = -1
    registrar.register(req)
    assert queue == {} and not queue.pipes


def test_an_unreadable_contact_list_costs_that_count_not_the_others(ksr, req, queue):
    ksr.message("REGISTER", tU="000037001", td="127.0.0.1")
    assert registrar.register(req) == STOP
    assert ksr.replies() == [] and not queue.pipes
    queue["7002@00003"] = "00003"                    # another AOR's note
    ksr.pv["$(ulc(edgereg=>count))"] = "garbage"         # the first AOR read
    fetched: list[str] = []

    def fetch(table: str, aor: str, profile: str) -> int:
        fetched.append(aor)
        if len(fetched) == 2:
            ksr.pv["$(ulc(edgereg=>count))"] = 0
        return 1

    ksr.results["registrar.reg_fetch_contacts"] = fetch
    assert registrations.flush() == 2 and queue == {}
    assert ksr.called("registrar.reg_free_contacts") == [("edgereg",), ("edgereg",)]
    (pipe,) = queue.pipes
    written = str(pipe.cmds)
    good, bad = (f.removeprefix("sip:") for f in reversed(fetched))
    assert good in written and bad not in written
