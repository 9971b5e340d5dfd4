"""The counters' htable items (edgecore.metrics): keys that name a counter
and its labels, read back summed over nodes, modulo 2^32."""

from edgecore import metrics
from edgectl import counters


def test_a_key_names_the_counter_and_its_label_values():
    k = metrics.key("registrations", ("00007", "ok"))
    assert k == "registrations|00007|ok"
    assert metrics.parse(k) == ("registrations", ("00007", "ok"))


def test_a_separator_in_a_label_value_cannot_shift_the_labels():
    k = metrics.key("policy_denials", ("t|x", "cross_tenant"))
    assert metrics.parse(k) == ("policy_denials", ("t_x", "cross_tenant"))


def test_items_of_no_counter_or_the_wrong_arity_are_ignored():
    assert metrics.parse("nosuch|a") is None
    assert metrics.parse("registrations|00007") is None
    assert metrics.totals([("registrations|00007", 3), ("x", 1)]) == {}


def test_nodes_add_up_and_a_wrapped_item_reads_unsigned():
    items = [("registrations|00007|ok", 5), ("registrations|00007|ok", 7),
             ("call_attempts|00007", -2)]          # 2^32 - 2 attempts: wrapped in C
    assert metrics.totals(items) == {"registrations": {("00007", "ok"): 12},
                                     "call_attempts": {("00007",): (1 << 32) - 2}}


def test_an_htable_dump_reply_is_read_item_by_item():
    dump = [{"entry": 3, "size": 2, "slot": [{"name": "call_attempts|00007", "value": 4,
                                             "type": "int"},
                                            {"name": "odd", "value": "text", "type": "str"}]},
            {"entry": 9, "size": 1, "slot": [{"name": "bans|source|flood", "value": 1}]}]
    assert list(counters.table_items(dump)) == [("call_attempts|00007", 4),
                                                 ("bans|source|flood", 1)]


def test_kamailio_declares_a_table_for_every_counter():
    """One htable per counter (kamailio/core.cfg): a table's dump must fit one
    RPC datagram (about 1,300 items), so no counter shares a table."""
    import re
    from pathlib import Path

    cfg = (Path(__file__).resolve().parents[2] / "kamailio" / "core.cfg").read_text()
    declared = set(re.findall(r'"htable", "(edgemetrics_\w+)=>[^"]*initval=0;', cfg))
    assert declared == {metrics.table(n) for n in metrics.COUNTERS}


def test_a_counter_one_answering_node_cannot_give_is_left_out_not_summed_short(monkeypatch,
                                                                                 caplog):
    """Node b answers every table but call_attempts': a sum of node a's part alone would look like a reset, so the
    counter is left out of the scrape and a warning says why; a node that
    answers nothing (c) only leaves its own part out."""
    from edgectl import rpc

    def call(sock, reply_dir, method, table, timeout=2.0):
        assert method == "htable.dump" and reply_dir == "replies"
        if sock == "c" or (sock == "b" and table == metrics.table("call_attempts")):
            raise rpc.RpcError("timed out")
        counter = table.removeprefix(metrics.table(""))
        key = {"call_attempts": "call_attempts|00007",
               "registrations": "registrations|00007|ok"}.get(counter)
        return [{"entry": 1, "size": 1, "slot": [{"name": key, "value": 2}]}] if key else []

    monkeypatch.setattr(rpc, "node_streams",
                        lambda cfg: {n: (n, "replies") for n in ("a", "b", "c")})
    monkeypatch.setattr(rpc, "call_stream", call)
    with caplog.at_level("WARNING", logger="edgectl.counters"):
        counts, unreadable = counters.read(object())
    assert unreadable == {"call_attempts"}
    assert counts == {"registrations": {("00007", "ok"): 4}}
    assert "node b answered but not for call_attempts" in caplog.text
    names = [fam.name for fam in counters.Collector(object()).collect()]
    assert "edge_call_attempts" not in names and "edge_registrations" in names
