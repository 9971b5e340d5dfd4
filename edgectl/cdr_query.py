"""``edgectl cdr list``: the edge's call records as an operator reads them.

Owned here (not in the CLI parser) so the checks survive any reshaping of the
command line: every filter value is checked before the database is asked, and
a malformed one is one clear error (EdgeError: one stderr line, exit 1), never
an empty listing with exit 0.

* ``--tenant T`` matches the calls T made *or* received (``tenant`` or
  ``callee_tenant``); ``--direction out|in`` narrows to one side.
* ``--since`` / ``--until``: an ISO 8601 date or time (UTC unless it says
  otherwise) or an age (``30m``, ``2h``, ``7d``) -- setup time, until exclusive.
* ``--format table|csv|json``: a table and csv start with a header row.

Rows are calls (kind ``call``) with who answered (view edge_call,
sql/migrations/0006); ``--legs`` adds the legs media-pool members rang back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from edgectl.db import EdgeError
from edgectl.provision import check_tenant_id

FORMATS = ("table", "csv", "json")
DIRECTIONS = ("in", "out")
AGE = re.compile(r"^(\d+)([smhd])$")
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

COLUMNS = ("setup_at", "call_id", "tenant", "caller", "caller_id", "callee", "resolved",
           "callee_tenant", "final_code", "final_reason", "answer_at", "duration_ms",
           "answered_by", "pool_member", "media", "recording", "unrecorded", "node")
LEG_COLUMNS = ("kind", "parent_call_id")


@dataclass(frozen=True)
class Filters:
    tenant: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    call_id: str | None = None
    limit: int = 20
    legs: bool = False


def parse_time(flag: str, value: str, now: datetime) -> datetime:
    m = AGE.match(value.strip())
    if m:
        return now - timedelta(seconds=int(m.group(1)) * AGE_UNITS[m.group(2)])
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EdgeError(f"{flag}: {value!r} is not a time (ISO 8601 such as 2026-12-06 or "
                        f"2026-12-06T10:00Z, or an age such as 30m, 2h, 7d)") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def filters(tenant: str | None = None, direction: str | None = None, since: str | None = None,
            until: str | None = None, call_id: str | None = None, limit: int = 20,
            legs: bool = False, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
            ) -> Filters:
    """Checked filters, or EdgeError naming the bad value."""
    if tenant is not None:
        check_tenant_id(tenant)
    if direction is not None:
        if direction not in DIRECTIONS:
            raise EdgeError(f"--direction must be 'in' or 'out', not {direction!r}")
        if tenant is None:
            raise EdgeError("--direction needs --tenant (in: calls it received, out: made)")
    if limit < 1:
        raise EdgeError(f"--limit must be at least 1, not {limit}")
    t = now()
    start = parse_time("--since", since, t) if since is not None else None
    end = parse_time("--until", until, t) if until is not None else None
    if start is not None and end is not None and start >= end:
        raise EdgeError(f"--since ({start:%Y-%m-%d %H:%M:%S}) is not before --until "
                        f"({end:%Y-%m-%d %H:%M:%S})")
    return Filters(tenant, direction, start, end, call_id or None, limit, legs)


def sql(f: Filters) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if f.tenant is not None:
        if f.direction == "out":
            where.append("f_tenant = %s")
            args.append(f.tenant)
        elif f.direction == "in":
            where.append("f_callee_tenant = %s")
            args.append(f.tenant)
        else:
            where.append("(f_tenant = %s OR f_callee_tenant = %s)")
            args += [f.tenant, f.tenant]
    if f.since is not None:
        where.append("setup_at >= %s")
        args.append(f.since)
    if f.until is not None:
        where.append("setup_at < %s")
        args.append(f.until)
    if f.call_id is not None:
        where.append("call_id = %s")
        args.append(f.call_id)
    cols = ", ".join(COLUMNS)
    # --tenant/--direction judge a call by its own tenants and a pool leg by
    # its call's (parent_call_id): a leg's row holds the tenant of the device
    # it rang, so a leg of A's call to B's ring group was listed as B's
    # outgoing call and missed from A's
    calls = (f"SELECT {cols}, 'call' AS kind, NULL::text AS parent_call_id,"
             " tenant AS f_tenant, callee_tenant AS f_callee_tenant FROM edge_call")
    if f.legs:
        calls += (f" UNION ALL SELECT {cols.replace('answered_by', 'NULL::text')}, kind,"
                  " parent_call_id, f_tenant, f_callee_tenant FROM (SELECT l.*,"
                  " coalesce(p.tenant, l.tenant) AS f_tenant,"
                  " coalesce(p.callee_tenant, l.callee_tenant) AS f_callee_tenant"
                  " FROM edge_cdr l LEFT JOIN edge_call p ON p.call_id = l.parent_call_id"
                  " WHERE l.kind = 'pool_leg') l")
    text = (f"SELECT * FROM ({calls}) c WHERE {' AND '.join(where) or 'true'} "
            "ORDER BY setup_at DESC LIMIT %s")
    return text, [*args, f.limit]


def query(conn: Any, f: Filters) -> list[dict[str, Any]]:
    text, args = sql(f)
    cur = conn.execute(text, args)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(v)


def render(rows: Sequence[dict[str, Any]], fmt: str, legs: bool = False) -> str:
    if fmt not in FORMATS:
        raise EdgeError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    cols = list(COLUMNS) + (list(LEG_COLUMNS) if legs else [])
    if fmt == "json":
        return json.dumps([{c: r.get(c) for c in cols} for r in rows], default=_cell, indent=1)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in cols])
        return out.getvalue().rstrip("\n")
    shown = ["setup_at", "tenant", "caller", "callee", "callee_tenant", "final_code",
             "duration_ms", "answered_by", "unrecorded"] + (["kind"] if legs else [])
    table = [[_cell(r.get(c)) or "-" for c in shown] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in table]) for i, c in enumerate(shown)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(shown, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join(lines)
