"""Serving the administration API and console: uvicorn over TLS only (the
edge's own certificate unless ``[api]`` names another), a small pool of
PostgreSQL connections opened once, and the first provider admin."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

import psycopg

from edgecore.config import Config
from edgectl import certs, db
from edgectl.db import EdgeError

FIRST_ADMIN = "admin"


def tls_files(cfg: Config) -> tuple[Path, Path]:
    if bool(cfg.api.certificate) != bool(cfg.api.private_key):
        raise EdgeError("[api] certificate and private_key are set together "
                        "(both empty: the edge's own certificate)")
    if cfg.api.certificate:
        return Path(cfg.api.certificate), Path(cfg.api.private_key)
    return certs.ensure(cfg)


def credentials_file(cfg: Config) -> Path:
    return cfg.run_dir / "api-admin.txt"


def ensure_first_admin(cfg: Config) -> tuple[str, str] | None:
    """With no account yet, create provider admin ``admin`` with a random
    password, kept (mode 0600) in the run directory for ``make up`` to print;
    (username, password) when made or still on file, else None."""
    from edgectl.service import Actor, service

    f = credentials_file(cfg)
    with contextlib.closing(db.connect(cfg)) as c:
        row = c.execute("SELECT count(*) FROM admin_users").fetchone()
    if row and row[0]:
        if f.exists():
            user, _, pw = f.read_text().strip().partition(" ")
            return user, pw
        return None
    password = secrets.token_urlsafe(12)
    service(cfg, Actor("edgectl:stack-up")).user_add(FIRST_ADMIN, password, "provider_admin")
    f.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{FIRST_ADMIN} {password}\n")
    return FIRST_ADMIN, password


def run(cfg: Config, ready_file: Path | None = None) -> None:
    """Serve until SIGTERM/SIGINT (uvicorn's own handlers)."""
    import uvicorn
    from psycopg_pool import ConnectionPool

    from edgectl.api.app import create_app

    cert, key = tls_files(cfg)
    pool = ConnectionPool(cfg.postgres.dsn, min_size=1, max_size=8, open=False, timeout=5,
                          kwargs={"connect_timeout": 5})
    pool.open(wait=False)             # serve (503s) even while PostgreSQL is down

    @contextlib.contextmanager
    def connect() -> Iterator[psycopg.Connection]:
        with pool.connection() as conn:
            yield conn

    app = create_app(cfg, connect)
    config = uvicorn.Config(app, host=cfg.api.listen, port=cfg.api.port,
                            ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning",
                            access_log=False, server_header=False)
    server = uvicorn.Server(config)
    if ready_file is not None:
        orig = server.startup

        async def startup(sockets: list | None = None) -> None:   # type: ignore[type-arg]
            await orig(sockets)
            ready_file.write_text(str(os.getpid()))
        server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    finally:
        pool.close()
