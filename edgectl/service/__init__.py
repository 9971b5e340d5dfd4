"""The service layer: every administrative operation on the edge, for
``edgectl`` and the HTTP API alike.

It owns three things the callers must not do differently: *who may do what*
(an :class:`Actor` with a role and, for a tenant admin, one tenant), *one
transaction per change* (naming the actor and the operation for the audit
trail the schema's triggers write: ``sql/migrations/0007_administration.sql``),
and *the same refusal for the same bad input* (:class:`EdgeError` and its
kinds below, one line a person can act on). The validation itself stays in
``edgectl.provision`` / ``edgectl.pool`` and in the schema.

A tenant admin asking for another tenant's object gets :class:`NotFound`
with exactly the text a missing object gets, so nothing tells it exists.
"""

from __future__ import annotations

import contextlib
import getpass
import re
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator

import psycopg

from edgecore.config import Config
from edgectl import db
from edgectl.db import EdgeError

from edgectl.vocab import DEFAULT_LIMIT, MAX_LIMIT, ROLES  # noqa: F401  (re-exported)
from edgectl.vocab import PROVIDER_ADMIN, READ_ONLY, TENANT_ADMIN


class NotFound(EdgeError):
    """The object does not exist -- or the actor may not know it does."""


class Forbidden(EdgeError):
    """The actor's role does not allow the operation (on its own tenant)."""


class QuotaExceeded(EdgeError):
    """The tenant is at its quota of devices or ring groups."""


class Conflict(EdgeError):
    """The change clashes with what exists (duplicate, still in use)."""


# messages of edgectl.provision / edgectl.pool / the schema that mean "no such object"
_NOT_FOUND = re.compile(r"^unknown tenant\b| has no |^no exception |^no pool member |"
                        r"^unknown (device|caller|pool member)|is not a pool member|"
                        r"^no such ")
_CONFLICT = re.compile(r"already|still (has|holds)|overlaps|is a (ring group|device)|in use|"
                       r"calls in progress|not drained")


def classify(exc: EdgeError) -> EdgeError:
    """The same refusal, typed by what it means (for the API's status code)."""
    if type(exc) is not EdgeError:
        return exc
    msg = str(exc)
    if _NOT_FOUND.search(msg):
        return NotFound(msg)
    if _CONFLICT.search(msg):
        return Conflict(msg)
    return exc


@dataclass(frozen=True)
class Actor:
    """Who is acting: ``name`` is what the audit trail records (an API user,
    or ``edgectl:<OS user>``); ``tenant`` limits a tenant admin (and a
    read-only account that has one) to that tenant."""

    name: str
    role: str = PROVIDER_ADMIN
    tenant: str | None = None
    user_id: int | None = None

    @property
    def is_provider(self) -> bool:
        return self.role == PROVIDER_ADMIN


def cli_actor() -> Actor:
    """edgectl runs with shell access to the edge: the provider's own tool."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"edgectl:{user}", PROVIDER_ADMIN)


Connect = Callable[[], ContextManager[psycopg.Connection]]


@dataclass(frozen=True)
class Page:
    """A window of a list: ``limit`` rows from ``offset`` (``limit`` None:
    every row, for edgectl's lists)."""

    limit: int | None = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise EdgeError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.offset < 0:
            raise EdgeError("offset must be >= 0")

    def cut(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """This window of a list held in memory, as a page."""
        end = None if self.limit is None else self.offset + self.limit
        return paged(items[self.offset:end], len(items), self)


EVERYTHING = Page(None)


def paged(items: list[dict[str, Any]], total: int, page: Page) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


class Base:
    """Transactions and permission checks shared by the service's parts."""

    def __init__(self, cfg: Config, actor: Actor, connect: Connect | None = None):
        self.cfg = cfg
        self.actor = actor
        self._connect: Connect = connect or (lambda: contextlib.closing(db.connect(cfg)))

    # -- transactions ------------------------------------------------------------------
    @contextlib.contextmanager
    def change(self, action: str, own_account: bool = False) -> Iterator[psycopg.Connection]:
        """One change = one transaction, recorded in the audit trail as
        ``action`` by this actor; any refusal rolls it back whole. A
        read-only account changes nothing but its own password
        (``own_account``)."""
        if not own_account:
            self.may_write()
        with self._tx() as conn:
            conn.execute("SELECT set_config('edge.actor', %s, true),"
                         " set_config('edge.action', %s, true)", (self.actor.name, action))
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[psycopg.Connection]:
        with self._tx() as conn:
            yield conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        try:
            with self._connect() as conn:
                with conn.transaction():
                    yield conn
        except psycopg.Error as exc:
            if exc.diag.message_hint == "quota":
                raise QuotaExceeded(db.explain_error(exc)) from None
            if isinstance(exc, psycopg.OperationalError):
                raise
            raise classify(EdgeError(db.explain_error(exc))) from None
        except EdgeError as exc:
            raise classify(exc) from None

    def audit(self, conn: psycopg.Connection, action: str, obj: str, tenant: str | None,
              before: Any, after: Any, op: str = "CHANGE") -> None:
        """A change outside PostgreSQL (a ban in Redis) in the same trail."""
        from psycopg.types.json import Jsonb

        conn.execute("INSERT INTO audit_log (actor, action, op, object, tenant_id, before, after)"
                     " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (self.actor.name, action, op, obj, tenant,
                      None if before is None else Jsonb(before),
                      None if after is None else Jsonb(after)))

    # -- who may do what ------------------------------------------------------------------
    def see(self, tenant: str) -> str:
        """The tenant, if the actor may know of it; otherwise exactly what a
        tenant that does not exist gives."""
        if self.actor.tenant is not None and tenant != self.actor.tenant:
            raise NotFound(f"unknown tenant {tenant}")
        return tenant

    def scope(self, tenant: str | None) -> str | None:
        """A list's tenant filter: a scoped actor always sees only its own."""
        if tenant is not None:
            return self.see(tenant)
        return self.actor.tenant

    def may_write(self) -> None:
        if self.actor.role == READ_ONLY:
            raise Forbidden("this account is read-only")

    def provider_only(self, what: str) -> None:
        if not self.actor.is_provider:
            raise Forbidden(f"only a provider admin may {what}")



# the parts need Base above; together they are the service
from edgectl.service.accounts import Accounts  # noqa: E402
from edgectl.service.operations import Operations  # noqa: E402
from edgectl.service.provisioning import Provisioning  # noqa: E402


class Service(Provisioning, Operations, Accounts):
    """Every operation, for one actor."""


def service(cfg: Config, actor: Actor | None = None, connect: Connect | None = None) -> Service:
    """The service for ``actor`` (edgectl's own when none is given)."""
    return Service(cfg, actor or cli_actor(), connect)
