"""Bad input gets a 4xx JSON error and never crashes the gateway."""
import json

import pytest

pytestmark = pytest.mark.asyncio

URL = "/webhooks/rest/webhook"


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"", 400, "empty_body"),
        (_json({"sender": "s", "message": ""}), 400, "empty_message"),
        (_json({"sender": "s", "message": " \n\t\u3000 "}), 400, "empty_message"),
        (_json({"sender": "s", "message": "x" * 2001}), 400, "message_too_long"),
        (b'{"sender": "s", "message": "\xff\xfe bad"}', 400, "invalid_encoding"),
        (b"\x00\x01\x02\x03\xff binary", 400, "invalid_encoding"),
        (_json({"sender": "s", "message": "nul \u0000 byte"}), 400, "invalid_message"),
        (b'{"sender": "s", "message": "\\ud800"}', 400, "invalid_message"),
        (b'{"sender": "s", "message": ', 400, "malformed_json"),
        (b"[1, 2]", 400, "invalid_type"),
        (b'"just a string"', 400, "invalid_type"),
        (_json({"sender": "s", "message": 42}), 400, "invalid_type"),
        (_json({"sender": 7, "message": "hi"}), 400, "invalid_type"),
        (_json({"sender": "s", "message": ["hi"]}), 400, "invalid_type"),
        (_json({"sender": "s", "message": "hi", "metadata": "x"}), 400, "invalid_type"),
        (_json({"message": "hi"}), 400, "missing_field"),
        (_json({"sender": "", "message": "hi"}), 400, "invalid_sender"),
        (_json({"sender": "a b", "message": "hi"}), 400, "invalid_sender"),
        (_json({"sender": "s" * 129, "message": "hi"}), 400, "invalid_sender"),
        (b"[" * 100000 + b"]" * 100000, 413, "payload_too_large"),
    ],
)
async def test_bad_bodies(client, fake_rasa, body: bytes, status: int, code: str) -> None:
    resp = await client.post(URL, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == status
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert error["code"] == code and isinstance(error["message"], str) and error["message"]
    assert fake_rasa.received == []
    ok = await client.post(URL, json={"sender": "s", "message": "echo:still here"})
    assert ok.status == 200


async def test_exactly_max_length_is_accepted(client) -> None:
    resp = await client.post(URL, json={"sender": "s", "message": "echo:" + "税" * 1995})
    assert resp.status == 200


async def test_deeply_nested_json_is_rejected(client) -> None:
    body = b'{"sender":"s","message":"hi","metadata":' + b"[" * 30000 + b"]" * 30000 + b"}"
    resp = await client.post(URL, data=body)
    assert resp.status == 400 and (await resp.json())["error"]["code"] in ("malformed_json", "invalid_type")


async def test_unknown_route_and_method(client) -> None:
    resp = await client.get("/no/such/route")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get(URL)
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers.get("Allow", "")


async def test_history_wrong_method(client) -> None:
    resp = await client.delete("/conversations/x/history")
    assert resp.status == 405 and "error" in await resp.json()


# --------------------------------------------------------------------------- hostile JSON on every endpoint

HUGE_INT = b"1" + b"0" * 5000  # Python's int() refuses more than 4300 digits (ValueError)
HOSTILE = [
    pytest.param(b'{"x": ' + HUGE_INT + b"}", "invalid_number", id="int-over-4300-digits"),
    pytest.param(b'{"x": 18446744073709551616}', "invalid_number", id="int-over-64-bits"),
    pytest.param(b'{"x": 1e999}', "invalid_number", id="float-overflow"),
    pytest.param(b'{"x": NaN}', "invalid_number", id="nan"),
    pytest.param(b'{"x": "\\ud800"}', "invalid_message", id="lone-surrogate"),
    pytest.param(b'{"\\udfff": 1}', "invalid_message", id="lone-surrogate-key"),
    pytest.param(b'{"x": ["nul \\u0000"]}', "invalid_message", id="nul"),
    pytest.param(b'{"x": "esc \\u001b[2J"}', "invalid_message", id="c0-escape"),
    pytest.param(b'{"x": "del \\u007f"}', "invalid_message", id="del"),
    pytest.param('{"x": "c1 \u0085"}'.encode(), "invalid_message", id="c1"),
]

#: every JSON endpoint a taxpayer or a stranger can reach ({sid}: a fresh session id with its bearer)
JSON_ENDPOINTS = [
    "/webhooks/rest/webhook",
    "/conversations/{sid}/rating",
    "/conversations/{sid}/feedback",
    "/conversations/{sid}/handoff/ticket",
    "/agent/api/login",
]


async def _sid(client) -> str:
    return (await (await client.post("/sessions")).json())["session_id"]


def conversation_of(app, sid: str) -> str:
    """The path id of a session's conversation (derived from the token when the signer does that)."""
    from bot.keys import SIGNER

    signer = app[SIGNER]
    return signer.conversation_id(sid) if hasattr(signer, "conversation_id") else sid


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body, code", HOSTILE)
async def test_hostile_json_is_a_400_on_every_endpoint(client, fake_rasa, path: str, body: bytes, code: str) -> None:
    sid = await _sid(client)
    resp = await client.post(path.format(sid=conversation_of(client.server.app, sid)), data=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {sid}"})
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert fake_rasa.received == []


@pytest.mark.parametrize("field", ["sender", "message", "metadata"])
async def test_huge_integer_in_a_rest_field_is_a_400(client, field: str) -> None:
    body = {"sender": "s", "message": "hi", "metadata": {}}
    raw = json.dumps(body).replace(json.dumps(body[field]), HUGE_INT.decode(), 1).encode()
    resp = await client.post(URL, data=raw)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_number"


@pytest.mark.parametrize("message", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b\n\u3000\u200d "])
async def test_zero_width_only_message_is_a_400_not_an_empty_reply(client, fake_rasa, message: str) -> None:
    resp = await client.post(URL, json={"sender": "s", "message": message})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "empty_message"
    assert fake_rasa.received == []


async def test_zero_width_inside_text_is_kept(client) -> None:
    resp = await client.post(URL, json={"sender": "s", "message": "echo:个\u200b税"})
    assert resp.status == 200 and (await resp.json())[0]["text"] == "个\u200b税"


async def test_rating_comment_with_nul_is_refused_and_nothing_stored(client) -> None:
    sid = await _sid(client)
    bearer = {"Authorization": f"Bearer {sid}"}
    url = f"/conversations/{conversation_of(client.server.app, sid)}/rating"
    resp = await client.post(url, json={"score": 4, "comment": "ok\u0000"}, headers=bearer)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_message"
    resp = await client.post(url, json={"score": 4, "comment": "ok\tfine\n"}, headers=bearer)
    assert resp.status == 201


async def test_socket_and_agent_texts_share_the_checks() -> None:
    """socket.io's user_uttered and the agent's messages use validate_text / validate_metadata."""
    from bot.errors import ApiError
    from bot.validation import validate_metadata, validate_text

    for bad, code in (("\u200b\u200d", "empty_message"), ("a\u0085b", "invalid_message"),
                      ("\ud83d", "invalid_message")):
        with pytest.raises(ApiError) as caught:
            validate_text(bad, 100)
        assert caught.value.status == 400 and caught.value.code == code
    with pytest.raises(ApiError) as caught:
        validate_metadata({"language": "zh\u0000"})
    assert caught.value.code == "invalid_message"
    assert validate_text(" 税\t率\r\n ", 100) == "税\t率"
