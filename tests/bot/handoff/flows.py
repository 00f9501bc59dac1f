"""Steps the handoff API tests share: an app with an agent account, a taxpayer session, an online agent."""
from __future__ import annotations

from bot.keys import SIGNER

URL = "/webhooks/rest/webhook"


def ref(app, sender: str) -> str:
    """The conversation reference staff see for a taxpayer's session token or REST sender."""
    return app[SIGNER].conversation_id(sender)


async def start(aiohttp_client, make_handoff_app, handoff_helpers, policy=None, **settings):
    """A handoff app and its test client, with the agent account "wang"."""
    app = make_handoff_app(policy=policy, **settings)
    client = await aiohttp_client(app)
    await handoff_helpers["add_account"](app, "wang", "agent")
    return app, client


async def session(client) -> str:
    """A new signed taxpayer session id."""
    return (await (await client.post("/sessions")).json())["session_id"]


async def online_agent(client, helpers, name="wang", presence="online") -> str:
    """Sign ``name`` in on ``client`` and set their presence; returns the CSRF token."""
    csrf = await helpers["login"](client, name)
    if presence:
        resp = await client.post("/agent/api/presence", json={"status": presence}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
    return csrf
