"""edgecore.dispatcher_list: the pool as the nodes' dispatcher loads it."""

from __future__ import annotations

import pytest

from edgecore import dispatcher_list as dl


def test_rows_of_the_view_become_list_lines_and_back():
    rows = [dl.Destination(1, "sip:10.0.0.5:5060", 0, 0, "rweight=3;duid=m1"),
            dl.Destination(1, "sip:10.0.0.6:5080", 4, 0, "rweight=1;duid=m2")]   # draining
    text = dl.render(rows)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines == ["1 sip:10.0.0.5:5060 0 0 rweight=3;duid=m1",
                     "1 sip:10.0.0.6:5080 4 0 rweight=1;duid=m2"]
    assert dl.parse(text) == rows


def test_an_empty_pool_is_a_file_without_destinations():
    text = dl.render([])
    assert text.startswith("#") and dl.parse(text) == []


@pytest.mark.parametrize("uri,attrs", [("sip:a b", ""), ("", ""), ("#sip:x", ""),
                                       ("sip:10.0.0.5", "duid=m1 x")])
def test_a_field_dispatcher_would_misread_is_refused(uri, attrs):
    with pytest.raises(dl.BadDestination):
        dl.render([dl.Destination(1, uri, 0, 0, attrs)])
