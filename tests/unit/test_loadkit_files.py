"""edgectl.loadkit injection files (pure: rows in, SIPp CSV text out)."""

from __future__ import annotations

from edgectl import loadkit

ROWS = [("96100", str(10000 + i), f"96100{10000 + i}") for i in range(40)]
CONTACTS = ["127.0.0.1:5071", "127.0.0.1:5072", "127.0.0.1:5073"]


def _bindings(text: str) -> dict[str, str]:
    return {ln.split(";")[0]: ln.split(";")[3] for ln in text.splitlines()[1:]}


def test_each_device_keeps_its_contact_whatever_the_order():
    """A second registration in another order refreshes each binding; it
    never adds a second contact (which would fork every call to the device)."""
    first = _bindings(loadkit.register_csv(ROWS, contacts=CONTACTS))
    again = _bindings(loadkit.register_csv(loadkit.shuffled(ROWS, seed=2), contacts=CONTACTS,
                                           order="RANDOM"))
    assert first == again and len(first) == len(ROWS)
    assert set(first.values()) == set(CONTACTS)          # every contact gets devices


def test_register_file_shape():
    text = loadkit.register_csv(ROWS[:2], expires=300, order="RANDOM")
    head, line, _ = text.splitlines()
    assert head == "RANDOM"
    au, auth, expires, contact, _ = line.split(";")
    assert (au, expires, contact) == ("9610010000", "300", "")
    assert auth.startswith("[authentication username=9610010000 password=")
