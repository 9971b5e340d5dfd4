"""Integration fixtures: the real edge (PostgreSQL, Redis, rtpengine, sync
follower, Kamailio) on ephemeral loopback ports, stopped by PID even when a
test fails."""

from __future__ import annotations

from typing import Iterator

import pytest

from harness.calls import Legacy, provision_legacy
from testkit.edge import Edge

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """One edge shared by the session; tests create their own tenants."""
    e = Edge(tmp_path_factory.mktemp("edge"))
    e.start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def fresh_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """A private edge for a test that breaks things (stops Redis, ...)."""
    e = Edge(tmp_path_factory.mktemp("edge"))
    e.start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def legacy(edge: Edge) -> Legacy:
    """The legacy numbering plan (harness.calls), provisioned once per module
    that asks for it (test_calls, test_dialogs, test_forks)."""
    return provision_legacy(edge)
