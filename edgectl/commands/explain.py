"""Dry run of a call: ``edgectl explain``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from edgecore.config import Config


def cmd_explain(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import explain, rpc

    def registered(aor: str) -> int | None:
        try:
            res = rpc.call(cfg.rpc_socket, "ul.lookup", "location", aor.removeprefix("sip:"),
                           timeout=2)
        except rpc.RpcError as exc:
            return 0 if "not found" in str(exc).lower() else None
        except OSError:
            return None
        return len(res.get("Contacts", [])) if isinstance(res, dict) else None

    def pool_up() -> bool | None:
        from edgectl import pool

        view = pool.node_view(cfg)
        if view is None:
            return None
        return any(v["flags"].startswith(("A", "T")) for v in view.values())

    e = explain.explain(cfg, a.caller, a.dialled, registered, pool_up)
    print(json.dumps(e.as_dict(), indent=1) if a.json else explain.render(e))


def register(top: Any, group: Any, json_flag: Any) -> None:
    sp = top.add_parser("explain", help="dry run: what the edge does with a call",
                        description="Resolve DIALLED for CALLER and apply the dialing policy "
                                    "exactly as the edge does, without placing a call.")
    sp.add_argument("caller", metavar="CALLER", help="auth username, or TENANT:EXTENSION")
    sp.add_argument("dialled", metavar="DIALLED", help="the dialled number")
    json_flag(sp)
    sp.set_defaults(fn=cmd_explain)
