"""Alembic environment: uses a connection handed over by the gateway, or
DATABASE_URL when run from the command line (``alembic -c bot/alembic.ini upgrade head``)."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.models import Base

config = context.config
target_metadata = Base.metadata


def _do_run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from bot.settings import Settings

    engine = create_async_engine(Settings.from_env().database_url, future=True)
    async with engine.begin() as conn:
        await conn.run_sync(_do_run)
    await engine.dispose()


def run_migrations_offline() -> None:
    from bot.settings import Settings

    context.configure(url=Settings.from_env().database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif config.attributes.get("connection") is not None:
    _do_run(config.attributes["connection"])
else:
    asyncio.run(_run_async())
