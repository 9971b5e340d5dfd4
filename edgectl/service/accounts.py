"""Accounts of the administration API and console: users with argon2
password hashes and an optional TOTP second factor (RFC 6238), bearer tokens
that expire and can be revoked (only their SHA-256 is stored), and the lock
of an account after repeated failed logins. The per-address rate limit of
login attempts lives in front of this, in the API process.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import argon2
import pyotp

from edgectl.db import EdgeError
from edgectl.service import (PROVIDER_ADMIN, READ_ONLY, ROLES, TENANT_ADMIN, Actor, Base,
                             NotFound, Page)
from edgectl.service.provisioning import page_of, rows

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12
_hasher = argon2.PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist: the same work,
    so the answer's timing does not tell which usernames exist (made on first
    use: an argon2 hash costs ~0.1-0.5 s, not to be paid by every edgectl run)."""
    return _hasher.hash(secrets.token_hex(16))


class LoginRefused(EdgeError):
    """Wrong credentials, missing/wrong TOTP code, or a locked account: one
    message for all, so a guesser learns nothing."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Accounts(Base):
    """Users (provider-admin only) and logins (anyone)."""

    _USER_SELECT = ("SELECT id, username, role, tenant_id AS tenant,"
                    " totp_secret IS NOT NULL AS totp, locked_until, created_at"
                    " FROM admin_users")

    def users(self, page: Page = Page(), tenant: str | None = None) -> dict[str, Any]:
        self.provider_only("manage accounts")
        where, params = ([], []) if tenant is None else (["tenant_id = %s"], [tenant])
        with self.read() as c:
            return page_of(c, self._USER_SELECT, where, params, "username", page)

    def user_add(self, username: str, password: str, role: str, tenant: str | None = None,
                 totp: bool = False) -> dict[str, Any]:
        """Create an account; with ``totp`` its secret and provisioning URI are
        returned (once) for the authenticator app."""
        self.provider_only("manage accounts")
        if not USERNAME.match(username):
            raise EdgeError(f"malformed username {username!r}")
        if role not in ROLES:
            raise EdgeError(f"role must be one of {', '.join(ROLES)}")
        if role == TENANT_ADMIN and tenant is None:
            raise EdgeError("a tenant admin needs a tenant")
        if role == PROVIDER_ADMIN and tenant is not None:
            raise EdgeError("a provider admin belongs to no tenant")
        _check_password(password)
        secret = pyotp.random_base32() if totp else None
        with self.change("user.add") as c:
            if tenant is not None:
                from edgectl import provision
                provision._require_tenant(c, tenant)
            if c.execute("SELECT 1 FROM admin_users WHERE lower(username) = lower(%s)",
                         (username,)).fetchone():
                raise EdgeError(f"user {username} already exists")
            c.execute("INSERT INTO admin_users (username, password_hash, role, tenant_id,"
                      " totp_secret) VALUES (%s, %s, %s, %s, %s)",
                      (username, _hasher.hash(password), role, tenant, secret))
        out: dict[str, Any] = {"username": username, "role": role, "tenant": tenant}
        if secret:
            out["totp_secret"] = secret
            out["totp_uri"] = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="SIP edge")
        return out

    def user_passwd(self, username: str, password: str) -> None:
        """Set an account's password (a provider admin, or the user itself);
        it also unlocks the account and revokes its tokens."""
        own = self.actor.name == f"api:{username}"
        if not own:
            self.provider_only("manage accounts")
        _check_password(password)
        with self.change("user.passwd", own_account=own) as c:
            cur = c.execute("UPDATE admin_users SET password_hash = %s, failed_logins = 0,"
                            " locked_until = NULL WHERE lower(username) = lower(%s)"
                            " RETURNING id", (_hasher.hash(password), username))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"no such user {username}")
            c.execute("UPDATE admin_tokens SET revoked_at = now() WHERE user_id = %s"
                      " AND revoked_at IS NULL", (row[0],))

    def user_totp(self, username: str, enabled: bool) -> dict[str, Any]:
        """Require (a new secret, returned once) or stop requiring a TOTP
        code at the account's login: a provider admin, or the user itself."""
        own = self.actor.name == f"api:{username}"
        if not own:
            self.provider_only("manage accounts")
        secret = pyotp.random_base32() if enabled else None
        with self.change("user.totp", own_account=own) as c:
            if c.execute("UPDATE admin_users SET totp_secret = %s WHERE lower(username) ="
                         " lower(%s)", (secret, username)).rowcount == 0:
                raise NotFound(f"no such user {username}")
        out: dict[str, Any] = {"username": username, "totp": enabled}
        if secret:
            out["totp_secret"] = secret
            out["totp_uri"] = pyotp.TOTP(secret).provisioning_uri(name=username,
                                                                  issuer_name="SIP edge")
        return out

    def user_remove(self, username: str) -> None:
        self.provider_only("manage accounts")
        with self.change("user.remove") as c:
            if c.execute("DELETE FROM admin_users WHERE lower(username) = lower(%s)",
                         (username,)).rowcount == 0:
                raise NotFound(f"no such user {username}")

    # -- login and tokens --------------------------------------------------------------------
    def login(self, username: str, password: str, totp_code: str | None = None,
              now: datetime | None = None) -> dict[str, Any]:
        """A bearer token for good credentials (and TOTP code, when the
        account has one). After ``max_failed_logins`` failures in a row the
        account is locked for ``lockout_seconds``, whatever is then sent."""
        api = self.cfg.api
        now = now or _now()
        refused = LoginRefused("wrong username, password or code, or the account is locked")
        with self._tx() as c:
            found = rows(c, "SELECT id, username, password_hash, role, tenant_id, totp_secret,"
                            " failed_logins, locked_until FROM admin_users"
                            " WHERE lower(username) = lower(%s) FOR UPDATE", (username,))
            if not found:
                _verify(_dummy_hash(), password)
                raise refused
            u = found[0]
            if u["locked_until"] is not None and u["locked_until"] > now:
                raise refused
            ok = _verify(u["password_hash"], password)
            if ok and u["totp_secret"]:
                ok = bool(totp_code) and pyotp.TOTP(u["totp_secret"]).verify(
                    str(totp_code), for_time=now, valid_window=1)
            if not ok:
                failed = u["failed_logins"] + 1
                locked = (now + timedelta(seconds=api.lockout_seconds)
                          if failed >= api.max_failed_logins else None)
                c.execute("UPDATE admin_users SET failed_logins = %s, locked_until = %s"
                          " WHERE id = %s", (0 if locked else failed, locked, u["id"]))
        if not ok:
            raise refused
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=api.token_ttl)
        with self._tx() as c:
            c.execute("UPDATE admin_users SET failed_logins = 0, locked_until = NULL"
                      " WHERE id = %s", (u["id"],))
            c.execute("INSERT INTO admin_tokens (token_sha256, user_id, created_at, expires_at)"
                      " VALUES (%s, %s, %s, %s)", (token_digest(token), u["id"], now, expires))
            c.execute("DELETE FROM admin_tokens WHERE expires_at < %s", (now,))
        return {"token": token, "expires_at": expires, "username": u["username"],
                "role": u["role"], "tenant": u["tenant_id"]}

    def actor_of(self, token: str, now: datetime | None = None) -> Actor | None:
        """The actor a bearer token stands for (None: unknown, expired or revoked)."""
        with self._tx() as c:
            found = rows(c, "SELECT u.id, u.username, u.role, u.tenant_id FROM admin_tokens k"
                            " JOIN admin_users u ON u.id = k.user_id"
                            " WHERE k.token_sha256 = %s AND k.revoked_at IS NULL"
                            " AND k.expires_at > %s", (token_digest(token), now or _now()))
        if not found:
            return None
        u = found[0]
        return Actor(f"api:{u['username']}", u["role"], u["tenant_id"], u["id"])

    def revoke(self, token: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE admin_tokens SET revoked_at = now() WHERE token_sha256 = %s",
                      (token_digest(token),))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise EdgeError(f"password too short: at least {MIN_PASSWORD} characters")


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


__all__ = ["Accounts", "LoginRefused", "READ_ONLY", "token_digest"]
