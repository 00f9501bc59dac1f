"""The action server is private: loopback by default, and with a token only Rasa (which has it) may call it.

The server runs for real in a subprocess (without building the knowledge index, which no request here needs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Mapping, Optional, Tuple

import pytest

from actions.server import DEFAULT_HOST, is_loopback, options
from scripts import stack

TOKEN = "test-action-token-0123456789"


def test_it_listens_on_the_loopback_address_by_default() -> None:
    chosen = options({}, [])
    assert (chosen.host, chosen.port, chosen.token) == (DEFAULT_HOST, 5055, None) and DEFAULT_HOST == "127.0.0.1"
    assert options({"ACTION_SERVER_HOST": "::1"}, ["--port", "6000"]).host == "::1"
    assert options({}, ["--host", "localhost"]).host == "localhost"


def test_it_listens_elsewhere_only_with_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    for environ, argv in (({"ACTION_SERVER_HOST": "0.0.0.0"}, []), ({}, ["--host", "10.1.2.3"])):
        with pytest.raises(SystemExit) as exited:
            options(environ, argv)
        assert exited.value.code == 2
        assert "ACTION_SERVER_TOKEN must be set to listen on" in capsys.readouterr().err
    chosen = options({"ACTION_SERVER_HOST": "0.0.0.0", "ACTION_SERVER_TOKEN": TOKEN}, [])
    assert (chosen.host, chosen.token) == ("0.0.0.0", TOKEN)


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.53", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org"))


SERVE = "from actions.server import Options, serve; serve(Options('127.0.0.1', {port}, {token!r}, 'INFO'))"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The action server with TOKEN on a free loopback port; yields its base URL."""
    port = stack.free_port()
    env = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_TOKEN"}
    process = subprocess.Popen([sys.executable, "-c", SERVE.format(port=port, token=TOKEN)], cwd=stack.ROOT,
                               env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        stack.wait_healthy({"action server": f"http://127.0.0.1:{port}/health"}, [process], timeout=120)
    except RuntimeError:
        stack.stop([process])
        assert process.stderr is not None
        pytest.fail(f"the action server did not start: {process.stderr.read().decode()[-2000:]}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stack.stop([process])
        if process.stderr is not None:
            process.stderr.close()


def call(url: str, token: Optional[str] = None, body: Optional[Mapping[str, object]] = None) -> Tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


ACTION_CALL = {"next_action": "action_no_such_action", "sender_id": "t", "version": "3.6.21", "domain": {},
               "tracker": {"sender_id": "t", "slots": {}, "latest_message": {}, "events": []}}


def test_requests_without_the_token_are_refused(server: str) -> None:
    status, body = call(server + "/webhook", body=ACTION_CALL)
    assert status == 401 and "token" in str(body)
    assert call(server + "/actions")[0] == 401


def test_requests_with_another_token_are_forbidden(server: str) -> None:
    assert call(server + "/webhook", "wrong", ACTION_CALL)[0] == 403
    assert call(server + "/actions", TOKEN + "x")[0] == 403


def test_requests_with_the_token_reach_the_actions(server: str) -> None:
    status, names = call(server + "/actions", TOKEN)
    assert status == 200 and {"name": "action_answer_knowledge"} in names  # type: ignore[operator]
    status, body = call(server + "/webhook", TOKEN, ACTION_CALL)
    assert status == 404 and "action_no_such_action" in str(body)  # past the check: rasa-sdk's own answer


def test_health_stays_open_for_probes(server: str) -> None:
    assert call(server + "/health") == (200, {"status": "ok"})


def test_rasa_sends_the_token_the_stack_wrote(server: str, tmp_path: Path) -> None:
    """Rasa's own HTTP client, configured by the endpoints file the stack writes, gets through."""
    endpoints = stack.write_endpoints(stack.Ports(5005, int(server.rsplit(":", 1)[1]), 8000), None,
                                      tmp_path / "endpoints.yml", TOKEN)
    script = ("import asyncio, json, sys\n"
              "from rasa.utils.endpoints import read_endpoint_config\n"
              "async def main():\n"
              "    endpoint = read_endpoint_config(sys.argv[1], 'action_endpoint')\n"
              "    try:\n"
              "        await endpoint.request(json=json.loads(sys.argv[2]), method='post')\n"
              "    except Exception as error:\n"
              "        print(getattr(error, 'status', type(error).__name__))\n"
              "asyncio.run(main())\n")
    done = subprocess.run([sys.executable, "-c", script, str(endpoints), json.dumps(ACTION_CALL)], cwd=stack.ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-1:] == ["404"], done.stderr[-2000:]  # the unknown action: the token was accepted
