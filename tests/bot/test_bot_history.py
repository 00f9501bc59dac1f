"""GET /conversations/{id}/history: only the owner session may read it."""
import pytest

pytestmark = pytest.mark.asyncio

URL = "/webhooks/rest/webhook"


async def _session(client) -> str:
    resp = await client.post("/sessions")
    assert resp.status == 201
    return (await resp.json())["session_id"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_owner_reads_masked_history(client, custom_payload) -> None:
    sid = await _session(client)
    await client.post(URL, json={"sender": sid, "message": "我的手机 138 1234 5678，身份证 110101198903071234"})
    await client.post(URL, json={"sender": sid, "message": "echo:<img src=x onerror=alert(1)>"})
    resp = await client.get(f"/conversations/{sid}/history", headers=_bearer(sid))
    assert resp.status == 200 and resp.content_type == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    history = await resp.json()
    assert [m["sender"] for m in history] == ["taxpayer", "bot", "taxpayer", "bot"]
    assert history[0]["text"] == "我的手机 138****5678，身份证 110***********1234"
    assert "13812345678" not in str(history) and "199003071" not in str(history)
    answer = history[1]
    assert answer["kind"] == "answer" and answer["article_id"] == "iit-annual-settlement"
    assert answer["confidence"] == pytest.approx(0.87)
    assert isinstance(answer["custom"].pop("feedback_id"), str)  # thumbs up/down id (bot/analytics)
    assert answer["custom"] == custom_payload
    assert answer["buttons"] == [{"title": "是", "payload": "/affirm"}, {"title": "否", "payload": "/deny"}]
    assert history[3]["text"] == "<img src=x onerror=alert(1)>"
    assert all(m["channel"] == "rest" and m["time"].endswith("+00:00") for m in history)


async def test_empty_history(client) -> None:
    sid = await _session(client)
    resp = await client.get(f"/conversations/{sid}/history", headers=_bearer(sid))
    assert resp.status == 200 and await resp.json() == []


async def test_no_token_is_401(client) -> None:
    sid = await _session(client)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        resp = await client.get(f"/conversations/{sid}/history", headers=headers)
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"


async def test_other_taxpayer_cannot_read(client) -> None:
    alice, mallory = await _session(client), await _session(client)
    await client.post(URL, json={"sender": alice, "message": "echo:secret"})
    resp = await client.get(f"/conversations/{alice}/history", headers=_bearer(mallory))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"


async def test_made_up_ids_cannot_read(client) -> None:
    # a REST sender chosen by the client is not a gateway-issued session id
    await client.post(URL, json={"sender": "alice", "message": "echo:hi"})
    resp = await client.get("/conversations/alice/history", headers=_bearer("alice"))
    assert resp.status == 403
    fake = "0" * 32
    resp = await client.get(f"/conversations/{fake}/history", headers=_bearer(fake))
    assert resp.status == 403
