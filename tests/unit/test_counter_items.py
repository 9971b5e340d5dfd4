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
