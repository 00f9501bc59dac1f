"""Runs alembic ``upgrade head`` on an async engine."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

BOT_DIR = Path(__file__).resolve().parent.parent


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
        await conn.run_sync(_run)
