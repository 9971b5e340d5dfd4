"""The cutover from the legacy chan_sip servers: ``edgectl import``
(its parsers and handlers live with the importer, edgectl/legacy/cli.py)."""

from __future__ import annotations

from edgectl.legacy.cli import register

__all__ = ["register"]
