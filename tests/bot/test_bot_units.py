"""Unit tests: merge of Rasa custom items, socket.io shapes, validation, token bucket, session ids, settings."""
import asyncio
from pathlib import Path

import pytest

from bot.errors import ApiError
from bot.rasa_client import merge_custom
from bot.ratelimit import Limit, MemoryRateLimiter
from bot.sessions import SessionSigner
from bot.settings import PROJECT_ROOT, Settings, SettingsError
from bot.socket_channel import to_socket_events
from bot.validation import decode_json_body, parse_rest_payload

CUSTOM = {"kind": "answer", "article_id": "a1", "confidence": 0.9, "sources": [{"title": "t"}]}


def test_merge_custom_into_preceding_text() -> None:
    items = [
        {"recipient_id": "u", "text": "hi", "buttons": [{"title": "A", "payload": "/a"}]},
        {"recipient_id": "u", "custom": CUSTOM},
        {"recipient_id": "u", "text": "second"},
    ]
    assert merge_custom(items) == [
        {"recipient_id": "u", "text": "hi", "buttons": [{"title": "A", "payload": "/a"}], "custom": CUSTOM},
        {"recipient_id": "u", "text": "second"},
    ]


def test_merge_keeps_lone_or_double_custom() -> None:
    items = [{"recipient_id": "u", "custom": {"kind": "x"}}, {"recipient_id": "u", "text": "t"},
             {"recipient_id": "u", "custom": {"kind": "a"}}, {"recipient_id": "u", "custom": {"kind": "b"}}]
    merged = merge_custom(items)
    assert merged == [{"recipient_id": "u", "custom": {"kind": "x"}},
                      {"recipient_id": "u", "text": "t", "custom": {"kind": "a"}},
                      {"recipient_id": "u", "custom": {"kind": "b"}}]


def test_socket_events_like_rasa() -> None:
    item = {"recipient_id": "u", "text": "one\n\ntwo", "buttons": [{"title": "是", "payload": "/affirm"}],
            "custom": CUSTOM}
    assert to_socket_events(item) == [
        {"text": "one", "quick_replies": []},
        {"text": "two", "quick_replies": [{"content_type": "text", "title": "是", "payload": "/affirm"}]},
        CUSTOM,  # the custom json alone, after the text (Rasa's send_custom_json)
    ]
    assert to_socket_events({"recipient_id": "u", "text": "plain"}) == [{"text": "plain"}]
    assert to_socket_events({"recipient_id": "u", "custom": CUSTOM}) == [CUSTOM]
    assert to_socket_events({"recipient_id": "u", "image": "http://i"}) == [
        {"attachment": {"type": "image", "payload": {"src": "http://i"}}}
    ]


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "empty_body"),
        (b"\xff\xfe\x00binary", "invalid_encoding"),
        (b"{not json", "malformed_json"),
    ],
)
def test_decode_errors(body: bytes, code: str) -> None:
    with pytest.raises(ApiError) as err:
        decode_json_body(body)
    assert err.value.code == code and err.value.status == 400


def test_parse_rest_payload_strips_and_keeps_html() -> None:
    msg = parse_rest_payload({"sender": "s1", "message": "  <b>hi</b>\n", "metadata": None}, 2000)
    assert (msg.sender, msg.text, msg.metadata) == ("s1", "<b>hi</b>", {})


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    limit = Limit(burst=2, per_minute=60)  # 1 token a second

    async def run():
        hits = [await limiter.hit("k", limit) for _ in range(3)]
        assert [h.allowed for h in hits] == [True, True, False]
        assert hits[2].retry_after == pytest.approx(1.0)
        assert hits[2].retry_after_header == "1"
        now[0] = 1.0
        assert (await limiter.hit("k", limit)).allowed
        assert not (await limiter.hit("k", limit)).allowed
        assert (await limiter.hit("other", limit)).allowed

    asyncio.run(run())


def test_session_ids_are_signed() -> None:
    signer = SessionSigner("s3cret")
    sid = signer.new_id()
    assert len(sid) == 32 and signer.is_valid(sid)
    assert not SessionSigner("other").is_valid(sid)
    assert not signer.is_valid(sid[:-1] + ("0" if sid[-1] != "0" else "1"))
    assert not signer.is_valid("alice") and not signer.is_valid(None)


def test_settings_from_env() -> None:
    s = Settings.from_env({})
    assert (s.port, s.rasa_url, s.action_server_url, s.redis_url) == (
        8000, "http://127.0.0.1:5005", "http://127.0.0.1:5055", None)
    assert s.database_url == f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'taxguide.db'}"
    s = Settings.from_env({
        "PORT": "9000", "HOST": "127.0.0.1", "RASA_URL": "http://rasa:5005/", "REDIS_URL": "redis://r:6379/0",
        "DATABASE_URL": "postgresql+asyncpg://u@db/tg", "UPSTREAM_TIMEOUT": "3.5",
        "RATE_LIMIT_SENDER_BURST": "5", "CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        "TRUST_PROXY": "yes", "SESSION_SECRET": "k",
    })
    assert s.port == 9000 and s.rasa_url == "http://rasa:5005" and s.redis_url == "redis://r:6379/0"
    assert s.database_url == "postgresql+asyncpg://u@db/tg" and s.reply_timeout == 3.5
    assert s.sender_burst == 5 and s.trust_proxy and s.session_secret == "k"
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert "session_secret" not in repr(s)


@pytest.mark.parametrize(
    "env", [{"PORT": "abc"}, {"PORT": "70000"}, {"UPSTREAM_TIMEOUT": "-1"}, {"TRUST_PROXY": "maybe"}]
)
def test_settings_reject_bad_values(env) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import bot.app, bot.__main__, bot.views, bot.socket_channel; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={"PATH": "", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x/db.sqlite"}, timeout=30)
    assert out.stdout.strip() == "ok", out.stderr
    assert not (tmp_path / "x").exists()
