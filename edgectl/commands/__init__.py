"""edgectl's command families: one module each, with its handlers and a
``register(top, group, json_flag)`` that adds its parsers."""

from __future__ import annotations

# in the order `edgectl --help` lists them
FAMILIES = ("schema", "tenants", "ranges", "devices", "exceptions", "ringgroups", "pool", "bans",
            "loadtest", "sync", "ops", "cdr", "explain", "legacy", "admin", "api", "stack")
