"""edgecore.domains: which R-URI hosts the edge serves."""

from __future__ import annotations

from edgecore import domains


def test_edge_tenant_and_extra_domains_are_served_and_nothing_else():
    served = domains.served_domains(["edge.local", "Alias.Example"], "a.tenant.example", None,
                                    "", "ns.imported.example")
    for host in ("edge.local", "EDGE.LOCAL.", "alias.example", "a.tenant.example",
                 "ns.imported.example"):
        assert domains.served(host, served, is_local=False), host
    for host in ("evil.example", "edge.local.evil.example", "127.0.0.99", "[::1]", ""):
        assert not domains.served(host, served, is_local=False), host


def test_the_nodes_own_addresses_are_served():
    assert domains.served("127.0.0.1", frozenset(), is_local=True)
    assert domains.served("[::1]", domains.served_domains(["::1"]), is_local=False)

