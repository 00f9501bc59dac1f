"""Runs alembic ``upgrade head`` on an async engine."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

BOT_DIR = Path(__file__).resolve().parent.parent
#: The PostgreSQL advisory lock every gateway takes while it migrates (any constant they share).
MIGRATION_LOCK = 0x7A_6775_6964  # "taxguide"-ish; only its sameness matters


def alembic_config() -> Config:
    """Alembic config of the gateway (``bot/alembic.ini``, ``bot/migrations``)."""
    cfg = Config(str(BOT_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(BOT_DIR / "migrations"))
    return cfg


async def upgrade_head(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema to the newest revision (or to `revision`, e.g. to test an upgrade)."""
    cfg = alembic_config()

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # gateways starting together (`make run-cluster`, a rolling deploy) migrate one after the other;
            # the lock ends with this transaction, and the next one finds the schema current
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        await conn.run_sync(_run)
