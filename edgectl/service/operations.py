"""The running edge as the service layer offers it (see ``edgectl.service``):
the media pool, bans, registrations (who is online, from where), CDRs and
recordings' metadata, ``explain``, a tenant's overview and the audit trail.

Edge-wide things (the pool, bans) are the provider's: a tenant-scoped actor
is refused them. Everything per tenant is filtered to the actor's tenant.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from edgectl import pool as pool_ops
from edgectl.db import EdgeError
from edgectl.service import Base, Forbidden, NotFound, Page
from edgectl.service.provisioning import page_of, rows

_CDR_SELECT = ("SELECT id, call_id, node, kind, tenant, caller, callee, callee_tenant, setup_at,"
               " answer_at, end_at, duration_ms, final_code, final_reason, pool_member, media,"
               " recording FROM edge_cdr")


# what a tenant-scoped actor sees instead of another tenant's id
OTHER_TENANT = "(another tenant)"


def _listed(contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as the registrations listing shows it."""
    sock = contact.pop("socket", None) or ""
    return {**contact, "transport": sock.split(":", 1)[0] or None}


class Operations(Base):
    """Pool, bans, registrations, CDRs, explain, overview, audit."""

    def edge_wide(self, what: str, write: bool = False) -> None:
        if self.actor.tenant is not None:
            raise Forbidden(f"{what} is the provider's")
        if write:
            self.provider_only(f"change {what}")

    # -- the media pool ---------------------------------------------------------------------
    def pool(self, page: Page = Page(), state: str | None = None) -> dict[str, Any]:
        self.edge_wide("the media pool")
        with self.read() as c:
            items = pool_ops.listing(self.cfg, c)
        if state is not None:
            items = [i for i in items if i["state"] == state]
        return page.cut(items)

    def pool_add(self, uri: str, weight: int = 1, description: str | None = None) -> str:
        self.edge_wide("the media pool", write=True)
        with self.change("pool.add") as c:
            return pool_ops.add(c, uri, weight, description)

    def pool_state(self, uri: str, state: str) -> str:
        self.edge_wide("the media pool", write=True)
        if state not in ("active", "draining"):
            raise EdgeError("state must be active or draining")
        with self.change("pool.drain" if state == "draining" else "pool.activate") as c:
            return pool_ops.set_state(c, uri, state)

    def pool_weight(self, uri: str, weight: int) -> str:
        self.edge_wide("the media pool", write=True)
        with self.change("pool.weight") as c:
            return pool_ops.set_weight(c, uri, weight)

    def pool_remove(self, uri: str, force: bool = False) -> str:
        self.edge_wide("the media pool", write=True)
        with self.change("pool.remove") as c:
            return pool_ops.remove(c, uri, force,
                                   lambda u: pool_ops.calls_in_progress(self.cfg, u))

    # -- bans -----------------------------------------------------------------------------------
    @staticmethod
    def ban_target(target: str) -> tuple[str, str]:
        """An IP address bans a source; anything else is an identity."""
        from edgecore import tenancy
        from edgectl.provision import AUTH_USER

        if tenancy.is_ip_literal(target):
            return "src", target.strip("[]")
        if tenancy.looks_like_ip(target):
            raise EdgeError(f"not a valid IP address: {target!r}")
        if not AUTH_USER.match(target):
            raise EdgeError(f"not an IP address nor an auth username: {target!r}")
        return "id", target

    def _guard_redis(self) -> Any:
        import redis

        from edgectl.sync import redis_client
        r = redis_client(self.cfg)
        try:
            r.ping()
        except redis.RedisError as exc:
            raise EdgeError(f"cannot reach Redis at {self.cfg.redis.url}: {exc}") from None
        return r

    def bans(self, page: Page = Page(), now: float | None = None) -> dict[str, Any]:
        from edgestore import guard as guardstore

        self.edge_wide("the ban list")
        now = time.time() if now is None else now
        items = [{"kind": "source" if b.kind == "src" else "identity", "who": b.value,
                  "until": datetime.fromtimestamp(b.until, timezone.utc)
                  .isoformat(timespec="seconds"),
                  "seconds_left": int(b.until - now), "reason": b.reason}
                 for b in guardstore.bans(self._guard_redis(), now)]
        return page.cut(items)

    def ban_add(self, target: str, seconds: int, reason: str) -> tuple[str, str]:
        from edgecore import guard
        from edgestore import guard as guardstore

        self.edge_wide("bans", write=True)
        if seconds <= 0:
            raise EdgeError("--for must be a positive number of seconds")
        kind, value = self.ban_target(target)
        until = guard.ban_until(time.time(), seconds)
        with self.change("ban.add") as c:
            self.audit(c, "ban.add", "bans", None, None,
                       {"kind": kind, "who": value, "until": until, "reason": reason})
            guardstore.ban(self._guard_redis(), kind, value, until, reason)
        return kind, value

    def ban_remove(self, target: str) -> str:
        from edgestore import guard as guardstore

        self.edge_wide("bans", write=True)
        kind, value = self.ban_target(target)
        with self.change("ban.remove") as c:
            self.audit(c, "ban.remove", "bans", None, {"kind": kind, "who": value}, None)
            if not guardstore.unban(self._guard_redis(), kind, value):
                raise NotFound(f"{value} is not banned")
        return value

    # -- registrations ----------------------------------------------------------------------------
    def registrations(self, tenant: str | None = None, page: Page = Page(),
                      q: str | None = None) -> dict[str, Any]:
        """Who is online, from where: every live contact, as the registrar
        step records them per tenant in Redis (edgestore.regcount; on a
        cluster every node's registrations, once). A tenant's page costs its
        own contacts, never the node's whole location table (``ul.dump``
        stops fitting one RPC reply after a few thousand)."""
        from edgestore import regcount

        tenant = self.scope(tenant)
        if tenant is not None:
            with self.read() as c:
                from edgectl import provision
                provision._require_tenant(c, tenant)
        r, now = self._guard_redis(), time.time()
        try:
            tenants = [tenant] if tenant is not None else sorted(
                r.smembers(regcount.TENANTS_KEY))
            items: list[dict[str, Any]] = []
            total = 0
            for t in tenants:
                left = None if page.limit is None else page.limit - len(items)
                n, got = regcount.listing(r, t, now, max(0, page.offset - total), left, q or "")
                total += n
                items += [{"tenant": t, **_listed(i)} for i in got]
        finally:
            r.close()
        return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}

    # -- CDRs and recordings -------------------------------------------------------------------
    def cdrs(self, tenant: str | None = None, page: Page = Page(), *,
             call_id: str | None = None, caller: str | None = None, callee: str | None = None,
             since: datetime | None = None, until: datetime | None = None,
             answered: bool | None = None, failed: bool | None = None,
             recorded: bool | None = None) -> dict[str, Any]:
        """CDRs newest first; a tenant's are the calls it made or received."""
        tenant = self.scope(tenant)
        where: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            where.append("(tenant = %s OR callee_tenant = %s)")
            params += [tenant, tenant]
        for col, v in (("call_id", call_id), ("caller", caller), ("callee", callee)):
            if v is not None:
                where.append(f"{col} = %s")
                params.append(v)
        if since is not None:
            where.append("setup_at >= %s")
            params.append(since)
        if until is not None:
            where.append("setup_at < %s")
            params.append(until)
        if answered is not None:
            where.append("answer_at IS " + ("NOT NULL" if answered else "NULL"))
        if failed is not None:
            where.append(("" if failed else "NOT ") + "(final_code >= 300)")
        if recorded is not None:
            where.append(("" if recorded else "NOT ") + "(coalesce(recording, '') <> '')")
        with self.read() as c:
            if tenant is not None:
                from edgectl import provision
                provision._require_tenant(c, tenant)
            res = page_of(c, _CDR_SELECT, where, params, "setup_at DESC, id DESC", page)
        own = self.actor.tenant
        if own is not None:
            # a call between tenants (an exception, a global number): the
            # other side's tenant is not this actor's to know
            for r in res["items"]:
                for col in ("tenant", "callee_tenant"):
                    if r[col] not in (None, own):
                        r[col] = OTHER_TENANT
        return res

    def recordings(self, tenant: str | None = None, page: Page = Page(),
                   **filters: Any) -> dict[str, Any]:
        """Recordings' metadata: the recorded calls, with where their file is."""
        res = self.cdrs(tenant, page, recorded=True, **filters)
        res["items"] = [{"call_id": r["call_id"], "tenant": r["tenant"], "caller": r["caller"],
                         "callee": r["callee"], "setup_at": r["setup_at"],
                         "duration_ms": r["duration_ms"], "pool_member": r["pool_member"],
                         "recording": r["recording"]} for r in res["items"]]
        return res

    # -- explain ---------------------------------------------------------------------------------
    def explain(self, caller: str, dialled: str) -> dict[str, Any]:
        """``edgectl explain``: the edge's decision for a call, as a dry run. A
        tenant-scoped actor may explain its own devices' calls only, and is not
        told which other tenant a number belongs to."""
        from edgectl import explain, rpc

        def registered(aor: str) -> int | None:
            try:
                res = rpc.call(self.cfg.rpc_socket, "ul.lookup", "location",
                               aor.removeprefix("sip:"), timeout=2)
            except rpc.RpcError as exc:
                return 0 if "not found" in str(exc).lower() else None
            except OSError:
                return None
            return len(res.get("Contacts", [])) if isinstance(res, dict) else None

        def pool_up() -> bool | None:
            view = pool_ops.node_view(self.cfg)
            if view is None:
                return None
            return any(v["flags"].startswith(("A", "T")) for v in view.values())

        own = self.actor.tenant
        if own is not None and ":" in caller:
            self.see(caller.split(":", 1)[0])
        try:
            e = explain.explain(self.cfg, caller, dialled, registered, pool_up)
        except EdgeError as exc:
            if own is not None and ("no device" in str(exc) or "unknown caller" in str(exc)):
                raise NotFound(f"unknown caller {caller}") from None
            raise
        out = e.as_dict()
        if own is not None:
            if e.caller_tenant != own:
                raise NotFound(f"unknown caller {caller}")
            if e.target_tenant not in (None, own):
                other = e.target_tenant
                out.update({k: (v.replace(other, OTHER_TENANT) if isinstance(v, str) else v)
                            for k, v in out.items()})
        return out

    # -- a tenant at a glance --------------------------------------------------------------------
    def overview(self, tenant: str, now: datetime | None = None) -> dict[str, Any]:
        """The console's first screen: devices online/offline, ring groups,
        today's calls and failures (UTC day)."""
        from edgestore import regcount

        self.see(tenant)
        now = now or datetime.now(timezone.utc)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        with self.read() as c:
            from edgectl import provision
            provision._require_tenant(c, tenant)
            t = rows(c, "SELECT id, name, max_devices, max_ring_groups,"
                        " (SELECT count(*) FROM devices WHERE tenant_id = t.id) AS devices,"
                        " (SELECT count(*) FROM ring_groups WHERE tenant_id = t.id)"
                        " AS ring_groups FROM tenants t WHERE id = %s", (tenant,))[0]
            calls = rows(c, "SELECT count(*) AS calls,"
                            " count(*) FILTER (WHERE final_code >= 300) AS failures"
                            " FROM edge_cdr WHERE kind = 'call' AND setup_at >= %s"
                            " AND (tenant = %s OR callee_tenant = %s)", (day, tenant, tenant))[0]
        r = self._guard_redis()
        try:
            online = regcount.online(r, tenant, time.time())
        finally:
            r.close()
        return {**t, "devices_online": online,
                "devices_offline": max(0, t["devices"] - online),
                "calls_today": calls["calls"], "failures_today": calls["failures"]}

    # -- the audit trail -------------------------------------------------------------------------
    def audit_log(self, tenant: str | None = None, page: Page = Page(), *,
                  actor: str | None = None, action: str | None = None,
                  since: datetime | None = None) -> dict[str, Any]:
        """Changes newest first; a tenant-scoped actor sees its tenant's."""
        tenant = self.scope(tenant)
        where: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            where.append("tenant_id = %s")
            params.append(tenant)
        if self.actor.tenant is not None:
            # an exception's row names the other tenant
            where.append("object <> 'tenant_exceptions'")
        if actor is not None:
            where.append("actor = %s")
            params.append(actor)
        if action is not None:
            where.append("action LIKE %s")
            params.append(action.replace("%", "") + "%")
        if since is not None:
            where.append("at >= %s")
            params.append(since)
        with self.read() as c:
            return page_of(c, "SELECT id, at, actor, action, op, object, tenant_id AS tenant,"
                              " before, after FROM audit_log", where, params, "id DESC", page)
