"""Periodic jobs across gateway instances: each due item is handled by exactly one instance."""
from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.analytics.models import conversation_outcomes
from bot.analytics.setup import sweep_idle
from bot.analytics.store import AnalyticsRepository
from bot.app import create_app
from bot.db.repository import TranscriptRepository
from bot.keys import ENGINE, SIGNER, SURVEY
from tests.bot.analytics.test_outage import PG_ADMIN_URL

URL = "/webhooks/rest/webhook"


def reply(sender: str, message: str):  # type: ignore[no-untyped-def]
    return [{"recipient_id": sender, "text": "个人所得税按综合所得计算。",
             "custom": {"kind": "answer", "article_id": "iit-rates", "language": "zh"}}]


async def test_two_instances_sweeping_at_once_ask_each_idle_conversation_once(
    aiohttp_client, make_settings, fake_rasa, require_service, tmp_path,
) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"tg_jobs_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    fake_rasa.reply = reply
    try:
        a, b = [await aiohttp_client(create_app(make_settings(database_url=url))) for _ in range(2)]
        senders = []
        for i in range(12):  # conversations spread over both instances
            client = (a, b)[i % 2]
            sid = (await (await client.post("/sessions")).json())["session_id"]
            assert (await client.post(URL, json={"sender": sid, "message": "个税怎么算"})).status == 200
            senders.append(sid)
        apps = [a.server.app, b.server.app]
        claimed = await asyncio.gather(*(
            sweep_idle(AnalyticsRepository(app[ENGINE]), app[SURVEY], 0.0) for app in apps for _ in range(3)
        ))
        assert sum(claimed) == len(senders), "every idle conversation is asked by exactly one sweep"
        transcripts = TranscriptRepository(apps[0][ENGINE])
        for sid in senders:
            kinds = [m["kind"] for m in await transcripts.history(apps[0][SIGNER].conversation_id(sid), 100)]
            assert kinds.count("survey") == 1, (sid, kinds)
        async with apps[0][ENGINE].connect() as conn:
            ended = (await conn.execute(select(conversation_outcomes.c.end_reason))).scalars().all()
        assert sorted(ended) == ["idle"] * len(senders)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
