"""kemi/stubs/KSR.py must be what the installed Kamailio exports: this fails
as soon as a Kamailio upgrade (or a module added to kamailio.cfg) changes the
KEMI API, and `make stubs` regenerates it."""

from __future__ import annotations

import importlib.util
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_ksr_stubs",
                                                  ROOT / "scripts" / "gen_ksr_stubs.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_stub_matches_installed_kamailio():
    """Asked of a throwaway node with every feature, the cluster's included
    (the generator's own way: `make stubs`)."""
    from edgecore.config import Config

    gen = _generator()
    assert set(gen.FEATURES) == set(Config().node.features), \
        "the stub must cover every feature a node loads by default"
    api, version = gen.fetch_from_throwaway_node()
    assert gen.render(api, version) == (ROOT / "kemi" / "stubs" / "KSR.py").read_text(), \
        "kemi/stubs/KSR.py is stale: run `make stubs`"


def test_every_ksr_call_in_kemi_exists_in_the_stub():
    """Belt and braces for mypy: each KSR.<module>.<function> the code names."""
    import re
    gen_text = (ROOT / "kemi" / "stubs" / "KSR.py").read_text()
    names = set(re.findall(r"_dispatch\('([\w.]+)'", gen_text))
    used = set()
    for f in (ROOT / "kemi").glob("*.py"):
        used |= set(re.findall(r"\bKSR\.((?:\w+\.)?\w+)\(", f.read_text()))
    missing = sorted(u for u in used if u not in names)
    assert not missing, missing
