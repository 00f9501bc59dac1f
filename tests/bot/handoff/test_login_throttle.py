"""Console login throttling: lockout per account and per client address with exponential back-off (429 and
Retry-After, even for the right password), counted in the database or in Redis; an unknown username costs
the same bcrypt work as a known one."""
from __future__ import annotations

import asyncio

import bcrypt
import pytest

from bot.app import create_app
from bot.handoff.login_guard import LoginPolicy
from tests.bot.handoff.conftest import REDIS_URL
from tests.bot.handoff.flows import start

PASSWORD = "agent-password-1"
A, B = "203.0.113.7", "198.51.100.9"  # two client addresses (behind the trusted proxy)


@pytest.fixture(params=["database", "redis"])
def backend(request, require_service):
    """Settings overrides for each place failures are counted (Redis under a key prefix of its own)."""
    overrides = {"trust_proxy": True}
    if request.param == "redis":
        overrides.update(redis_url=REDIS_URL, handoff_redis_prefix=request.getfixturevalue("redis_prefix"))
    return overrides


async def _login(client, username: str, password: str, address: str):
    return await client.post("/agent/api/login", json={"username": username, "password": password},
                             headers={"X-Forwarded-For": address})


async def test_forty_wrong_passwords_lock_the_account_even_for_the_right_one(aiohttp_client, make_handoff_app,
                                                                             handoff_helpers, backend) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, login_max_failures=5, **backend)
    await handoff_helpers["add_account"](app, "li", "agent")
    statuses = [(await _login(client, "wang", f"wrong-guess-{i}", A)).status for i in range(40)]
    assert statuses == [401] * 5 + [429] * 35
    for address in (A, B):  # the account is locked from everywhere, the right password included
        resp = await _login(client, "wang", PASSWORD, address)
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"]["code"] == "login_locked"
    assert (await _login(client, "li", PASSWORD, B)).status == 200  # other accounts are not locked


async def test_each_lockout_doubles(aiohttp_client, make_handoff_app, handoff_helpers, backend) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, login_max_failures=3,
                              login_lockout_seconds=1.0, **backend)
    for _ in range(3):
        assert (await _login(client, "wang", "wrong-guess", A)).status == 401
    first = await _login(client, "wang", PASSWORD, A)
    assert first.status == 429 and first.headers["Retry-After"] == "1"
    while (await _login(client, "wang", "wrong-again", A)).status == 429:  # wait the lock out
        await asyncio.sleep(0.3)
    second = await _login(client, "wang", PASSWORD, A)  # one more failure after the lock: twice as long
    assert second.status == 429 and second.headers["Retry-After"] == "2"
    assert [LoginPolicy().lockout(n, 5) for n in (4, 5, 6, 7, 20)] == [0.0, 30.0, 60.0, 120.0, 3600.0]


async def test_a_success_clears_only_its_own_account(aiohttp_client, make_handoff_app, handoff_helpers,
                                                     backend) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, login_max_failures=5,
                              login_address_max_failures=6, **backend)
    await handoff_helpers["add_account"](app, "li", "agent")
    for _ in range(4):
        assert (await _login(client, "li", "wrong-guess", A)).status == 401
    assert (await _login(client, "wang", PASSWORD, A)).status == 200
    # the address's failures against li stand: two more (unknown usernames count too) lock the address
    for name in ("ghost", "nobody"):
        assert (await _login(client, name, "wrong-guess", A)).status == 401
    resp = await _login(client, "wang", PASSWORD, A)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await _login(client, "wang", PASSWORD, B)).status == 200  # another address is not locked
    # li's own success clears li's failures: four more wrong ones do not lock li
    assert (await _login(client, "li", PASSWORD, B)).status == 200
    for _ in range(4):
        assert (await _login(client, "li", "wrong-guess", B)).status == 401
    assert (await _login(client, "li", PASSWORD, B)).status == 200


async def test_unknown_usernames_cost_the_same_bcrypt_work(aiohttp_client, make_settings, handoff_policy,
                                                           handoff_helpers, monkeypatch) -> None:
    settings = make_settings(session_key="handoff-test-session-key", bcrypt_rounds=5)
    app = create_app(settings, handoff_policy=handoff_policy)
    client = await aiohttp_client(app)
    from bot.db.handoff_repository import HandoffRepository
    from bot.handoff.auth import hash_password
    from bot.keys import ENGINE

    await HandoffRepository(app[ENGINE]).create_account("wang", hash_password(PASSWORD, 5), "agent", "Wang")
    costs = []
    checkpw = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))  # the cost field of "$2b$<rounds>$..."
        return checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    known = await client.post("/agent/api/login", json={"username": "wang", "password": "wrong-guess"})
    unknown = await client.post("/agent/api/login", json={"username": "ghost", "password": "wrong-guess"})
    assert known.status == unknown.status == 401
    assert await known.json() == await unknown.json()
    assert costs == [5, 5]
