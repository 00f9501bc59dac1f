"""The async SQLAlchemy engine of the gateway's database (SQLite by default, PostgreSQL by DATABASE_URL)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a file-backed SQLite database (SQLite does not)."""
    prefix, sep, path = url.partition(":///")
    if sep and prefix.startswith("sqlite") and path not in ("", ":memory:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str) -> Any:
    """An ``AsyncEngine`` for ``url`` that checks pooled connections before use."""
    ensure_sqlite_dir(url)
    return create_async_engine(url, future=True, pool_pre_ping=True)
