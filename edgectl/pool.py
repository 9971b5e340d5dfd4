"""The media pool as ops manage it: members in PostgreSQL (``pool_members``),
rendered into the nodes' dispatcher list file (edgecore.dispatcher_list) and
applied to running edge nodes by ``dispatcher.reload`` -- run by each node's
sync follower on the ``pool`` notification, and by this module on the local
node so a command returns once the change is in effect. A node loads the
file, never PostgreSQL, so it starts and routes during a PostgreSQL outage.

States: ``active`` (selected by weight), ``draining`` (never selected for a
new call; calls in progress continue and their in-dialog requests still reach
it). As the edge sees a member, it is also up or down (dispatcher's OPTIONS
probing).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import psycopg

from edgecore import tenancy
from edgecore.config import Config
from edgectl import rpc
from edgectl.db import EdgeError

_HOSTPORT = re.compile(r"^(?:sips?:)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$")


def normalise_uri(value: str) -> str:
    """'10.0.0.5', '10.0.0.5:5070' or 'sip:10.0.0.5:5060' -> 'sip:10.0.0.5:5060'."""
    m = _HOSTPORT.match(value.strip())
    if not m:
        raise EdgeError(f"malformed pool member {value!r}: expected host[:port] or sip:host[:port]")
    port = int(m.group(2) or 5060)
    if not 0 < port < 65536:
        raise EdgeError(f"malformed pool member {value!r}: bad port")
    scheme = "sips" if value.strip().startswith("sips:") else "sip"
    return f"{scheme}:{m.group(1)}:{port}"


def _member(conn: psycopg.Connection, uri: str) -> tuple[int, str, int]:
    row = conn.execute("SELECT id, state, weight FROM pool_members WHERE uri = %s",
                       (uri,)).fetchone()
    if row is None:
        raise EdgeError(f"no pool member {uri}")
    return int(row[0]), str(row[1]), int(row[2])


def add(conn: psycopg.Connection, uri: str, weight: int = 1, description: str | None = None
        ) -> str:
    host = _HOSTPORT.match(uri.strip())
    uri = normalise_uri(uri)
    if host and not tenancy.is_ip_literal(host.group(1)):
        # the edge trusts a member's legs by source address (dispatcher
        # ds_is_from_list) and dispatcher resolves a name once, at load: a
        # name that does not resolve leaves a member that never takes a call
        raise EdgeError(f"pool member {host.group(1)!r} is not an IP address "
                        "(members are added by address)")
    if not 1 <= weight <= 100:
        raise EdgeError("weight must be between 1 and 100")
    if conn.execute("SELECT 1 FROM pool_members WHERE uri = %s", (uri,)).fetchone():
        raise EdgeError(f"pool member {uri} already exists")
    conn.execute("INSERT INTO pool_members (uri, weight, description) VALUES (%s, %s, %s)",
                 (uri, weight, description))
    return uri


def set_state(conn: psycopg.Connection, uri: str, state: str) -> str:
    uri = normalise_uri(uri)
    _member(conn, uri)
    conn.execute("UPDATE pool_members SET state = %s WHERE uri = %s", (state, uri))
    return uri


def set_weight(conn: psycopg.Connection, uri: str, weight: int) -> str:
    uri = normalise_uri(uri)
    if not 1 <= weight <= 100:
        raise EdgeError("weight must be between 1 and 100")
    _member(conn, uri)
    conn.execute("UPDATE pool_members SET weight = %s WHERE uri = %s", (weight, uri))
    return uri


def remove(conn: psycopg.Connection, uri: str, force: bool = False,
           in_progress: Callable[[str], int | None] | None = None) -> str:
    """Remove a drained member once the edge has no call in progress on it
    (``in_progress``: :func:`calls_in_progress`); removed earlier, its calls'
    in-dialog requests would no longer be the pool's. ``force`` skips both
    checks."""
    uri = normalise_uri(uri)
    _, state, _ = _member(conn, uri)
    if not force:
        if state != "draining":
            raise EdgeError(f"pool member {uri} is {state}: drain it first (edgectl pool drain), "
                            "or use --force")
        calls = in_progress(uri) if in_progress is not None else None
        if calls is None:
            raise EdgeError(f"cannot tell whether pool member {uri} has calls in progress "
                            "(no edge node answers): use --force to remove it anyway")
        if calls:
            raise EdgeError(f"pool member {uri} still has {calls} call(s) in progress: "
                            "remove it when they have ended (edgectl pool list), or use --force")
    conn.execute("DELETE FROM pool_members WHERE uri = %s", (uri,))
    return uri


# dialog profile with value (kamailio/features/pool.cfg; kemi/calls.py sets
# it on every pool call): calls in progress per member URI
PROFILE = "pool"


def _profile_size(res: Any) -> int:
    """dlg.profile_get_size's answer: an integer (dialog module 5.6), or a
    struct with a count in other releases."""
    if isinstance(res, dict):
        res = res.get("count", res.get("value", 0))
    return int(res)


def calls_in_progress(cfg: Config, uri: str) -> int | None:
    """Calls the local edge nodes have in progress on a member (its dialogs
    in profile ``pool``), summed over the nodes; None when no node answers."""
    total, answered = 0, False
    for sock in rpc.node_sockets(cfg).values():
        try:
            total += _profile_size(rpc.call(sock, "dlg.profile_get_size", PROFILE, uri,
                                            timeout=2))
            answered = True
        except (rpc.RpcError, OSError, TypeError, ValueError):
            continue
    return total if answered else None


def rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    out = []
    for id_, uri, weight, state, desc in conn.execute(
            "SELECT id, uri, weight, state, description FROM pool_members ORDER BY id"):
        out.append({"uri": uri, "weight": weight, "state": state, "description": desc,
                    "duid": f"m{id_}"})
    return out


# -- the edge's view (dispatcher.list) -------------------------------------------

def node_view(cfg: Config) -> dict[str, dict[str, Any]] | None:
    """uri -> {flags, seen} as the local node's dispatcher sees it (None: node
    not reachable)."""
    try:
        res = rpc.call(cfg.rpc_socket, "dispatcher.list", timeout=2)
    except rpc.RpcError as exc:
        if "no destination sets" in str(exc).lower():      # an empty pool
            return {}
        return None
    except OSError:
        return None
    out: dict[str, dict[str, Any]] = {}
    for rec in (res or {}).get("RECORDS", []) if isinstance(res, dict) else []:
        for target in rec.get("SET", {}).get("TARGETS", []):
            dest = target.get("DEST", {})
            out[dest.get("URI", "")] = {"flags": dest.get("FLAGS", "")}
    return out


def describe_flags(flags: str) -> str:
    """dispatcher.list FLAGS (README.dispatcher 5.3): A active, I inactive,
    T trying, D disabled; P probing."""
    if not flags:
        return "not loaded"
    state = {"A": "up", "I": "down", "T": "failing", "D": "disabled"}.get(flags[0], flags)
    return state + (" (probing)" if "P" in flags[1:] else "")


def listing(cfg: Config, conn: psycopg.Connection) -> list[dict[str, Any]]:
    view = node_view(cfg)
    out = []
    for r in rows(conn):
        if view is None:
            seen = "node not reachable"
        else:
            seen = describe_flags(view.get(r["uri"], {}).get("flags", ""))
        out.append({**r, "edge_sees": seen})
    return out


def reload_node(cfg: Config) -> bool:
    """The list file from PostgreSQL, then dispatcher.reload on every local
    node; False when none is running."""
    from edgectl import poollist
    poollist.write(cfg)
    ok = False
    for sock in rpc.node_sockets(cfg).values():
        try:
            rpc.call(sock, "dispatcher.reload", timeout=5)
            ok = True
        except (rpc.RpcError, OSError):
            continue
    return ok


def wait_applied(cfg: Config, uri: str, present: bool, disabled: bool | None = None,
                 timeout: float = 5.0) -> bool:
    """Until the local node's dispatcher shows the member as the database says
    (False: no local node, or not applied in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = node_view(cfg)
        if view is None:
            return False
        flags = view.get(uri, {}).get("flags")
        if present == (flags is not None) and (
                disabled is None or flags is None or disabled == flags.startswith("D")):
            return True
        reload_node(cfg)
        time.sleep(0.1)
    return False
