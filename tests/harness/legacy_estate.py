"""The legacy estate of the cutover tests (tests/integration/test_legacy_import.py):
the generated chan_sip servers imported into one stack, their old addresses,
and the ways a legacy phone registers (SIP client, SIPp, baresip)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from harness import legacy_tree, sipp
from harness.baresip import Baresip
from testkit.edge import Edge
from testkit.sipmsg import SipClient

SCEN = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"
UAC = Path(__file__).resolve().parents[2] / "loadtest" / "sipp" / "uac_setup.xml"
ADDR = {"GV1P": "127.0.14.1", "GV2P": "127.0.14.2"}      # the old servers' addresses
MEMBER_IP = "127.0.14.9"                                  # a pool member stand-in
GV3P_NAME = "gv3p.legacy.test"


class Estate:
    def __init__(self, edge: Edge, base: Path):
        self.edge = edge
        self.base = base
        self.trees = legacy_tree.estate(base / "estate")
        self.import_seconds: dict[str, float] = {}

    def address(self, server: str) -> str:
        return ADDR.get(server, GV3P_NAME)

    def args(self, server: str, root: Path | None = None) -> list[str]:
        return ["import", "chan-sip", "--server", server, "--address", self.address(server),
                str(root or self.trees[server].root)]

    def peer(self, server: str, number: str) -> legacy_tree.Peer:
        return self.trees[server].server.peers[number]

    def edge_addr(self, server: str) -> tuple[str, int]:
        return (ADDR.get(server, "127.0.0.1"), self.edge.cfg.sip.udp_port)

    def rows(self) -> dict[str, Any]:
        """Everything an import writes, for before/after comparisons."""
        with self.edge.db() as c:
            q = {
                "tenants": "SELECT id, name, global_access FROM tenants ORDER BY 1",
                "ranges": "SELECT tenant_id, first_number, last_number FROM number_ranges"
                          " ORDER BY 1, 2",
                # by number, not id: a tenant whose ranges change gets its numbers re-created
                "devices": "SELECT tenant_id, extension, display_name FROM devices ORDER BY 1, 2",
                "identities": "SELECT i.namespace, i.auth_username, d.tenant_id, d.extension,"
                              " i.ha1, i.codecs FROM legacy_identities i JOIN devices d"
                              " ON d.id = i.device_id ORDER BY 1, 2",
                "groups": "SELECT g.tenant_id, g.number, g.name, g.strategy, g.ring_timeout,"
                          " array_agg(d.extension ORDER BY m.position) FROM ring_groups g"
                          " LEFT JOIN ring_group_members m ON m.ring_group_id = g.id"
                          " LEFT JOIN devices d ON d.id = m.device_id GROUP BY g.id ORDER BY 1, 2",
                "exceptions": "SELECT from_tenant, to_tenant FROM tenant_exceptions ORDER BY 1, 2",
                "namespaces": "SELECT a.address, n.name, n.realm FROM legacy_namespaces n"
                              " JOIN legacy_namespace_addresses a ON a.namespace = n.name"
                              " ORDER BY 1",
            }
            return {k: c.execute(v).fetchall() for k, v in q.items()}


def register(addr: tuple[str, int], user: str, password: str,
             domain: str | None = None) -> int:
    with SipClient(addr) as c:
        first, second = c.register(user, password, domain=domain)
        final = second or first
        assert final is not None
        return final.code


def sipp_register(addr: tuple[str, int], user: str, password: str) -> sipp.SippResult:
    row = [user, f"[authentication username={user} password={password}]", "600", user,
           addr[0], "127.0.0.1"]
    return sipp.run(f"{addr[0]}:{addr[1]}", SCEN / "register_any.xml", [row], timeout=10)


def baresip_registers(addr: tuple[str, int], user: str, password: str,
                      registered: Callable[[], Any]) -> None:
    """baresip registers (again on another local port if the free one it was
    given was taken by someone else before it bound it: a shared machine)."""
    for _ in range(3):
        with Baresip(addr, user, password) as phone:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if registered():
                    return
                if "Address already in use" in phone.output():
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"baresip did not register:\n{phone.output()}")
    raise AssertionError("baresip found no free local port")
