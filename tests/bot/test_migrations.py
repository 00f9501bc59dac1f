"""Schema migrations (bot/db/migrate.py) when several gateways start at once on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import alembic_config, upgrade_head
from tests.bot.analytics.test_outage import PG_ADMIN_URL

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def fresh_database(require_service: Any) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"tg_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_gateways_starting_together_on_an_empty_database_all_start(fresh_database: str) -> None:
    engines = [create_async_engine(fresh_database, future=True) for _ in range(3)]
    try:
        # without a shared lock they block one another for good: bounded, so that fails instead of hanging
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(upgrade_head(engine) for engine in engines), return_exceptions=True), 60)
        assert [o for o in outcomes if o is not None] == []  # none failed on another's half-made schema
        async with engines[0].connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    finally:
        for engine in engines:
            await engine.dispose()
    assert version == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
