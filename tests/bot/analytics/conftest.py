"""Analytics test fixtures: a migrated database, SQLite or a fresh schema in the local PostgreSQL."""
from __future__ import annotations

import os
import uuid
from typing import AsyncIterator

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.db.migrate import upgrade_head

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def engine(request, tmp_path, require_service) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    """A migrated database: SQLite, or a fresh schema (dropped afterwards) in the local PostgreSQL."""
    if request.param == "sqlite":
        eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}", future=True)
        await upgrade_head(eng)
        yield eng
        await eng.dispose()
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"tg_analytics_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(PG_URL, future=True)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_async_engine(PG_URL, future=True, connect_args={"server_settings": {"search_path": schema}})
    try:
        await upgrade_head(eng)
        yield eng
    finally:
        await eng.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()
