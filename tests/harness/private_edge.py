"""A stack of a test module's own (a module-scoped fixture yields from it):
started, yielded, stopped."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from testkit.edge import Edge


def private_edge(factory: pytest.TempPathFactory, name: str, **sections: Any
                  ) -> Iterator[Edge]:
    e = Edge(factory.mktemp(name), **sections)
    e.start()
    try:
        yield e
    finally:
        e.stop()
