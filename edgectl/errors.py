"""The refused command, in a module of its own: the parser, the command
families and the service layer name it without importing PostgreSQL's driver
(``edgectl.db`` re-exports it)."""

from __future__ import annotations


class EdgeError(Exception):
    """A refused command: the message is the one line printed on stderr."""
