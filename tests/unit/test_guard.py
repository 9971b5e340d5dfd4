"""edgecore.guard's per-request checks: scanner User-Agents and digest
usernames no device can have."""

from __future__ import annotations

import pytest

from edgecore import guard


def test_scanner_tokens_match_anywhere_whatever_the_case():
    s = guard.Scanners(["friendly-scanner", "SIPVicious", "", "a.b+c"])
    assert "Friendly-Scanner 1.0" in s
    assert "x sipvicious/0.3" in s
    assert "tool a.b+c" in s
    assert "tool aXb+c" not in s           # a token is text, not a pattern
    assert "Yealink SIP-T46S" not in s
    assert "" not in s


def test_no_scanner_tokens_match_nothing():
    assert "friendly-scanner" not in guard.Scanners([])
    assert "anything" not in guard.Scanners(["", ""])


@pytest.mark.parametrize("name,bad", [
    ("000037001", False), ("gv1p/ramal-100", False), ("José", False),
    ("7001\x00", True), ("70\r\n01", True), ("a\x1b[0m", True), ("x\x7f", True), ("\t", True),
])
def test_control_bytes_make_a_malformed_identity(name, bad):
    assert guard.malformed_identity(name) is bad
