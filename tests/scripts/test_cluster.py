"""The cluster's generated files (scripts/cluster.py), and its nginx configuration run for real in front of two
tiny stand-in gateways: no Rasa, no training."""

from __future__ import annotations

import asyncio
import base64
import re
import stat
import subprocess
from pathlib import Path
from typing import AsyncIterator, Dict, List, Tuple

import aiohttp
import pytest
import yaml
from aiohttp import web

from bot.handoff.auth import session_key_bytes
from scripts import cluster, stack
from tests.ci import unavailable

PORTS = cluster.ClusterPorts(proxy=8080, gateways=(8001, 8002), rasa=(5005, 5006), actions=(5055, 5056))


def block(config: str, opening: str) -> str:
    """The body of the block that starts with ``opening`` (no nested blocks inside)."""
    start = config.index(opening + " {")
    return config[start:config.index("}", start)]


def test_both_upstreams_list_both_gateways_and_only_socketio_is_sticky(tmp_path: Path) -> None:
    config = cluster.nginx_config(PORTS, tmp_path)
    spread, sticky = block(config, "upstream taxguide_gateways"), block(config, "upstream taxguide_socketio")
    for upstream in (spread, sticky):
        assert re.findall(r"server (127\.0\.0\.1:\d+)", upstream) == ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert "hash $remote_addr consistent;" in sticky and not re.search(r"^\s*ip_hash", config, re.M)
    assert "hash" not in spread and "least_conn;" in spread
    assert "proxy_pass http://taxguide_socketio;" in block(config, "location /socket.io/")
    assert "proxy_pass http://taxguide_gateways;" in block(config, "location = /agent/ws")
    assert "proxy_pass http://taxguide_gateways;" in block(config, "location /")
    assert "listen 0.0.0.0:8080;" in config
    assert "listen 127.0.0.1:8080;" in cluster.nginx_config(PORTS, tmp_path, "127.0.0.1")


def headers_for(config: str, location: str) -> Dict[str, str]:
    """The headers nginx sets for ``location``: its own proxy_set_header lines, else (and only then) the server's."""
    own = dict(re.findall(r"proxy_set_header (\S+) (\S+);", block(config, location)))
    if own:
        return own
    server = config[config.index("    server {"):config.index("        location")]
    return dict(re.findall(r"proxy_set_header (\S+) (\S+);", server))


@pytest.mark.parametrize("location", ["location /socket.io/", "location = /agent/ws"])
def test_the_websocket_locations_pass_the_upgrade_on(tmp_path: Path, location: str) -> None:
    config = cluster.nginx_config(PORTS, tmp_path)
    headers = headers_for(config, location)
    assert headers["Upgrade"] == "$http_upgrade" and headers["Connection"] == "$connection_upgrade"
    timeout = re.search(r"proxy_read_timeout (\d+)s;", block(config, location))
    assert timeout and int(timeout[1]) >= 3600
    assert "proxy_http_version 1.1;" in config  # websockets need HTTP/1.1 to the upstream
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*''\s*close;", config)


@pytest.mark.parametrize("location", ["location /socket.io/", "location = /agent/ws", "location /"])
def test_every_location_gives_the_gateways_the_host_with_its_port_and_the_client_address(
        tmp_path: Path, location: str) -> None:
    headers = headers_for(cluster.nginx_config(PORTS, tmp_path), location)
    assert headers["Host"] == "$http_host"  # the console's same-origin check compares Origin with it, port included
    assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for"


def test_every_file_nginx_writes_is_under_the_state_folder(tmp_path: Path) -> None:
    config = cluster.nginx_config(PORTS, tmp_path)
    paths = re.findall(r"^\s*(?:pid|error_log|access_log|\w+_temp_path) (\S+?)[;\s]", config, re.M)
    assert len(paths) == 8
    assert all(Path(p).is_absolute() and Path(p).is_relative_to(tmp_path.resolve()) for p in paths), paths
    assert "daemon off;" in config


def test_the_shared_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = cluster.shared_secrets(tmp_path)
    assert set(first) == {"SESSION_SECRET", "SESSION_KEY", "RASA_TOKEN"} and all(first.values())
    path = tmp_path / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cluster.shared_secrets(tmp_path) == first
    # a Fernet-style key: the console cookie cipher uses its 32 bytes as they are
    assert session_key_bytes(first["SESSION_KEY"]) == base64.urlsafe_b64decode(first["SESSION_KEY"])
    path.write_text(f"SESSION_SECRET={first['SESSION_SECRET']}\n")
    again = cluster.shared_secrets(tmp_path)
    assert again["SESSION_SECRET"] == first["SESSION_SECRET"] and again["RASA_TOKEN"]


def test_the_members_are_wired_to_their_own_action_server_and_share_the_stores(tmp_path: Path) -> None:
    redis_url = "redis://127.0.0.1:6379/3"
    database_url = "postgresql+asyncpg://postgres@127.0.0.1:5432/taxguide_cluster"
    built = cluster.Cluster({"PORT": "9999", "RASA_URL": "http://elsewhere"}, tmp_path / "model.tar.gz", PORTS,
                            tmp_path, database_url, redis_url)
    assert sorted(built.members) == ["actions-1", "actions-2", "gateway-a", "gateway-b", "nginx", "rasa-1", "rasa-2"]
    for index, (rasa, actions) in enumerate(zip(PORTS.rasa, PORTS.actions), start=1):
        member = built.members[f"rasa-{index}"]
        endpoints = yaml.safe_load(Path(member.command[member.command.index("--endpoints") + 1]).read_text())
        assert endpoints["action_endpoint"]["url"] == f"http://127.0.0.1:{actions}/webhook"
        assert endpoints["tracker_store"]["type"] == endpoints["lock_store"]["type"] == "redis"
        assert endpoints["tracker_store"]["db"] == 3
        assert member.command[member.command.index("--port") + 1] == str(rasa)
        assert not any(built.secrets["RASA_TOKEN"] in part for part in member.command)  # argv is public (ps)
        assert member.env["RASA_TOKEN"] == built.secrets["RASA_TOKEN"]
        assert endpoints["action_endpoint"]["headers"] == {"Authorization": f"Bearer {built.action_token}"}
        assert built.members[f"actions-{index}"].env["ACTION_SERVER_TOKEN"] == built.action_token
    a, b = built.members["gateway-a"].env, built.members["gateway-b"].env
    for env, port, actions in ((a, 8001, 5055), (b, 8002, 5056)):
        assert env["RASA_URLS"] == "http://127.0.0.1:5005,http://127.0.0.1:5006" and "RASA_URL" not in env
        assert env["PORT"] == str(port) and env["ACTION_SERVER_URL"] == f"http://127.0.0.1:{actions}"
        assert env["TRUST_PROXY"] == "true" and env["RUN_MIGRATIONS"] == "false"
        assert (env["DATABASE_URL"], env["REDIS_URL"]) == (database_url, redis_url)
    assert a["ANALYTICS_SPOOL_PATH"] != b["ANALYTICS_SPOOL_PATH"]
    for name in ("SESSION_SECRET", "SESSION_KEY", "RASA_TOKEN"):
        assert a[name] == b[name] == built.secrets[name]


# --------------------------------------------------------------------------- nginx for real


@pytest.fixture(scope="module")
def nginx() -> str:
    found = cluster.nginx_binary()
    if found is None:
        unavailable("nginx is not installed (bash scripts/nginx.sh)")
    return found


def test_nginx_accepts_the_generated_configuration(nginx: str, tmp_path: Path) -> None:
    path = cluster.write_nginx_config(PORTS, tmp_path, "127.0.0.1")
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "logs" / "error.log"),
                              "-c", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


async def stand_in(name: str) -> Tuple[web.AppRunner, int]:
    """A gateway stand-in that says who it is, to HTTP and to websockets."""

    async def who(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                await ws.send_str(f"{name}:{message.data}:{request.host}:{request.headers.get('X-Forwarded-For')}")
            return ws
        return web.json_response({"name": name, "host": request.host, "forwarded": request.headers.get(
            "X-Forwarded-For"), "body": (await request.text()) or None})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", who)
    runner = web.AppRunner(app)
    await runner.setup()
    port = stack.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


@pytest.fixture
async def proxied(nginx: str, tmp_path: Path) -> AsyncIterator[Tuple[str, Dict[str, web.AppRunner]]]:
    """nginx with the generated configuration in front of stand-ins "a" and "b"; yields its URL and them."""
    (runner_a, port_a), (runner_b, port_b) = await stand_in("a"), await stand_in("b")
    ports = cluster.ClusterPorts(stack.free_port(), (port_a, port_b), (1, 2), (3, 4))
    path = cluster.write_nginx_config(ports, tmp_path, "127.0.0.1")
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-e", str(tmp_path / "logs" / "error.log"), "-c",
                                str(path)], start_new_session=True, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{ports.proxy}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(url + "/ready"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield url, {"a": runner_a, "b": runner_b}
    finally:
        stack.stop([process])
        for runner in (runner_a, runner_b):
            await runner.cleanup()


async def names(session: aiohttp.ClientSession, url: str, times: int, method: str = "GET") -> List[str]:
    seen = []
    for i in range(times):
        async with session.request(method, url, data=f"m{i}" if method == "POST" else None) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
            assert response.headers["X-TaxGuide-Gateway"] == body["name"]
            seen.append(body["name"])
    return seen


async def test_requests_are_spread_and_socketio_sticks_to_one_gateway(
        proxied: Tuple[str, Dict[str, web.AppRunner]]) -> None:
    url, _ = proxied
    async with aiohttp.ClientSession() as session:
        assert set(await names(session, url + "/webhooks/rest/webhook", 6, "POST")) == {"a", "b"}
        sticky = await names(session, url + "/socket.io/?EIO=4&transport=polling", 6)
        assert len(set(sticky)) == 1, sticky
        async with session.get(url + "/health") as response:
            body = await response.json()
    port = url.rsplit(":", 1)[1]
    assert body["host"] == f"127.0.0.1:{port}" and body["forwarded"].split(",")[-1].strip() == "127.0.0.1"


@pytest.mark.parametrize("path", ["/agent/ws", "/socket.io/?EIO=4&transport=websocket"])
async def test_websockets_are_upgraded_through_the_proxy(
        proxied: Tuple[str, Dict[str, web.AppRunner]], path: str) -> None:
    url, _ = proxied
    async with aiohttp.ClientSession() as session, session.ws_connect(url + path) as ws:
        await ws.send_str("ping")
        reply = await asyncio.wait_for(ws.receive_str(), 5)
    name, text, host = reply.split(":", 2)
    assert name in ("a", "b") and text == "ping"
    assert host == f"{url.removeprefix('http://')}:127.0.0.1"  # Host with nginx's port, and the client address


async def test_a_dead_gateway_is_passed_over_even_for_posts(proxied: Tuple[str, Dict[str, web.AppRunner]]) -> None:
    url, runners = proxied
    async with aiohttp.ClientSession() as session:
        sticky = (await names(session, url + "/socket.io/?EIO=4&transport=polling", 1))[0]
        await runners[sticky].cleanup()  # the socket.io clients' gateway goes away: refused connections
        other = "b" if sticky == "a" else "a"
        assert await names(session, url + "/webhooks/rest/webhook", 4, "POST") == [other] * 4
        assert await names(session, url + "/socket.io/?EIO=4&transport=polling", 2) == [other] * 2
