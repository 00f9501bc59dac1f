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
