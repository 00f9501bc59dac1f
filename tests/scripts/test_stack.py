"""The process supervisor's pure parts (scripts/stack.py): no running stack, no training."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa.utils.endpoints import read_endpoint_config

from scripts import rasa_worker, stack

PORTS = stack.Ports(rasa=5005, actions=5055, gateway=8000)


# --------------------------------------------------------------------------- RASA_WORKERS


def test_rasa_workers_defaults_to_the_number_of_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.os, "cpu_count", lambda: 6)
    assert stack.rasa_workers({}) == 6
    assert stack.rasa_workers({"RASA_WORKERS": " "}) == 6


def test_rasa_workers_is_one_when_the_cores_are_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.os, "cpu_count", lambda: None)
    assert stack.rasa_workers({}) == 1


def test_rasa_workers_takes_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack.os, "cpu_count", lambda: 6)
    assert stack.rasa_workers({"RASA_WORKERS": "3"}) == 3


@pytest.mark.parametrize("value", ["two", "0", "-1", "1.5"])
def test_a_bad_rasa_workers_exits_naming_the_variable(value: str) -> None:
    with pytest.raises(SystemExit) as exited:
        stack.rasa_workers({"RASA_WORKERS": value})
    message = str(exited.value.code)
    assert message.startswith("RASA_WORKERS must be")
    assert repr(value) in message


# --------------------------------------------------------------------------- var/endpoints.yml


def endpoints(tmp_path: Path, redis_url: str | None, ports: stack.Ports = PORTS) -> Dict[str, Any]:
    target = tmp_path / "endpoints.yml"
    written = stack.write_endpoints(ports, redis_url, path=target)
    assert written == target
    document = yaml.safe_load(target.read_text())
    assert isinstance(document, dict)
    return document


def test_endpoints_name_the_action_server_and_no_stores_without_redis(tmp_path: Path) -> None:
    ports = stack.Ports(rasa=5005, actions=6123, gateway=8000)
    assert endpoints(tmp_path, None, ports) == {"action_endpoint": {"url": "http://127.0.0.1:6123/webhook"}}


def test_endpoints_with_redis_have_tracker_and_lock_stores(tmp_path: Path) -> None:
    document = endpoints(tmp_path, "redis://:s3cret@redis.internal:6380/2")
    assert document["action_endpoint"] == {"url": "http://127.0.0.1:5055/webhook"}
    connection = {"type": "redis", "url": "redis.internal", "port": 6380, "db": 2, "password": "s3cret",
                  "key_prefix": "taxguide"}
    assert document["tracker_store"] == {**connection, "record_exp": 86400}
    assert document["lock_store"] == connection


def test_endpoints_redis_defaults_to_local_port_6379_db_0_without_password(tmp_path: Path) -> None:
    document = endpoints(tmp_path, "redis://localhost")
    for store in ("tracker_store", "lock_store"):
        assert document[store]["url"] == "localhost"
        assert document[store]["port"] == 6379
        assert document[store]["db"] == 0
        assert "password" not in document[store]


def test_endpoints_keep_a_password_with_quotes_intact(tmp_path: Path) -> None:
    document = endpoints(tmp_path, 'redis://:pa"ss\\word@127.0.0.1:6379/1')
    assert document["tracker_store"]["password"] == 'pa"ss\\word'
    assert document["lock_store"]["password"] == 'pa"ss\\word'


def test_endpoints_go_to_this_runs_own_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "VAR", tmp_path / "var")
    written = stack.write_endpoints(PORTS, None)
    assert written == tmp_path / "var" / f"run-{os.getpid()}" / "endpoints.yml"
    assert not (tmp_path / "var" / "endpoints.yml").exists()
    assert yaml.safe_load(written.read_text())["action_endpoint"]["url"] == "http://127.0.0.1:5055/webhook"


@pytest.mark.filterwarnings(r"ignore:the load_module\(\) method is deprecated:DeprecationWarning")  # pykwalify
def test_endpoints_give_rasa_the_action_servers_token_in_a_private_file(tmp_path: Path) -> None:
    target = tmp_path / "endpoints.yml"
    target.write_text("old\n")
    target.chmod(0o644)
    stack.write_endpoints(PORTS, "redis://:s3cret@127.0.0.1:6379/0", target, action_token="-tok'en\"")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds secrets: the token, Redis's password
    config = read_endpoint_config(str(target), "action_endpoint")  # as Rasa reads it
    assert config is not None and config.url == "http://127.0.0.1:5055/webhook"
    assert config.headers == {"Authorization": "Bearer -tok'en\""}


# --------------------------------------------------------------------------- per-run folders and processes


def test_each_process_gets_its_own_private_run_folder_and_dead_runs_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"run-{dead.pid}").mkdir()
    (tmp_path / f"run-{dead.pid}" / "endpoints.yml").write_text("stale")
    (tmp_path / f"run-{os.getppid()}").mkdir()  # a live process's run
    folder = stack.run_dir(tmp_path)
    assert folder == tmp_path / f"run-{os.getpid()}" and folder.is_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not (tmp_path / f"run-{dead.pid}").exists()
    assert (tmp_path / f"run-{os.getppid()}").exists()


def test_the_children_are_named_as_their_checks_and_no_token_is_on_a_command_line(tmp_path: Path) -> None:
    ports = stack.Ports(rasa=6000, actions=6100, gateway=6200, workers=2)
    env = {"PATH": "/usr/bin", "RASA_TOKEN": "rasa-secret"}
    children = stack.stack_children(env, ports, tmp_path / "model.tar.gz", tmp_path, gateway=True)
    assert [c.name for c in children] == list(stack.health_checks(ports, gateway=True))
    actions, *workers, gateway = children
    token = actions.env["ACTION_SERVER_TOKEN"]
    assert len(token) >= 32
    endpoints = tmp_path / "endpoints.yml"
    assert yaml.safe_load(endpoints.read_text())["action_endpoint"]["headers"] == {
        "Authorization": f"Bearer {token}"}
    for worker, port in zip(workers, ports.rasa_ports):
        assert worker.command[1:3] == ["-m", "scripts.rasa_worker"]
        assert worker.command[worker.command.index("--endpoints") + 1] == str(endpoints)
        assert worker.command[worker.command.index("--port") + 1] == str(port)
        assert worker.env["RASA_TOKEN"] == "rasa-secret"
    for each in children:
        assert not any("rasa-secret" in part or token in part for part in each.command), each.command
    assert gateway.env["RASA_URLS"] == "http://127.0.0.1:6000,http://127.0.0.1:6001"
    again = stack.stack_children(env, ports, tmp_path / "model.tar.gz", tmp_path, gateway=False)
    assert [c.name for c in again] == ["action server", "rasa worker 1", "rasa worker 2"]
    assert again[0].env["ACTION_SERVER_TOKEN"] != token  # a new secret each run
    given = stack.stack_children(dict(env, ACTION_SERVER_TOKEN="chosen"), ports, tmp_path / "m", tmp_path, False)
    assert given[0].env["ACTION_SERVER_TOKEN"] == "chosen"
    assert "TICKET_LOCK_LIFETIME" not in given[1].env  # in-memory lock store: nothing to expire


def test_a_hung_workers_redis_lock_expires_in_seconds_not_rasas_minute(tmp_path: Path) -> None:
    ports = stack.Ports(rasa=6000, actions=6100, gateway=6200, workers=2)
    env = {"PATH": "/usr/bin", "RASA_TOKEN": "t", "REDIS_URL": "redis://127.0.0.1:6379/3"}
    actions, *workers = stack.stack_children(env, ports, tmp_path / "model.tar.gz", tmp_path, gateway=False)
    assert [w.env["TICKET_LOCK_LIFETIME"] for w in workers] == ["5", "5"]
    chosen = stack.stack_children(dict(env, TICKET_LOCK_LIFETIME="20"), ports, tmp_path / "m", tmp_path, False)
    assert chosen[1].env["TICKET_LOCK_LIFETIME"] == "20"


def test_running_keeps_its_files_apart_from_the_running_stacks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "VAR", tmp_path / "var")
    live = stack.write_endpoints(PORTS, None)  # what `make run` wrote in this process's run folder
    before = live.read_text()
    folders: List[Path] = []

    def start(env: Dict[str, str], ports: stack.Ports, model: Path, gateway: bool = True,
              log: Any = None, directory: Optional[Path] = None) -> List[Any]:
        assert directory is not None
        stack.stack_children(env, ports, model, directory, gateway, log)  # writes the endpoints file
        folders.append(directory)
        return []

    monkeypatch.setattr(stack, "start_stack", start)
    monkeypatch.setattr(stack, "wait_healthy", lambda *args, **kwargs: None)
    monkeypatch.setattr(stack, "warm_up", lambda port: None)
    for _ in range(2):
        with stack.running({"PATH": "/usr/bin"}, gateway=False, model=tmp_path / "m.tar.gz") as ports:
            written = yaml.safe_load((folders[-1] / "endpoints.yml").read_text())
            assert written["action_endpoint"]["url"] == f"http://127.0.0.1:{ports.actions}/webhook"
    assert live.read_text() == before
    assert folders[0] != folders[1] and not any(folder.exists() for folder in folders)  # removed afterwards
    assert not any(folder.is_relative_to(tmp_path / "var") for folder in folders)


# --------------------------------------------------------------------------- the Rasa worker's token


def test_the_rasa_workers_token_is_handed_to_rasa_not_put_on_its_command_line() -> None:
    assert rasa_worker.rasa_arguments(["--port", "5005"], "-tok") == [
        "rasa", "run", "--port", "5005", "--enable-api", "--auth-token=-tok"]
    for given in (["--auth-token", "x"], ["-t", "x"], ["--auth-token=x"]):
        with pytest.raises(ValueError):
            rasa_worker.rasa_arguments(given, "tok")
    # Rasa's own parser reads what the launcher hands it (a subprocess: Rasa's imports warn)
    parsed = subprocess.run(
        [sys.executable, "-c", "from rasa.__main__ import create_argument_parser as p\n"
         "from scripts.rasa_worker import rasa_arguments as r\n"
         "a = p().parse_args(r(['--port', '5005'], '-tok')[1:])\n"
         "print(a.auth_token, a.enable_api, a.port)"],
        cwd=stack.ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert parsed.stdout.split() == ["-tok", "True", "5005"]


def test_a_rasa_workers_command_line_in_proc_holds_no_token(tmp_path: Path) -> None:
    token = "sekrit-" + "x" * 20
    command = stack.rasa_command(tmp_path / "missing.tar.gz", tmp_path / "endpoints.yml", stack.free_port())
    process = subprocess.Popen(command, cwd=stack.ROOT, env=dict(os.environ, RASA_TOKEN=token),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        cmdline = b""
        for _ in range(500):  # until the exec: before it, /proc shows the parent's command line
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
            if b"scripts.rasa_worker" in cmdline or process.poll() is not None:
                break
            time.sleep(0.01)
        assert b"scripts.rasa_worker" in cmdline
        assert token.encode() not in cmdline
        time.sleep(1)  # the launcher has rewritten its own argv for Rasa by now: the kernel's copy is unchanged
        if process.poll() is None:
            assert token.encode() not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
    finally:
        stack.stop([process])


def test_the_rasa_worker_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RASA_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "scripts.rasa_worker", "--port", "1"], cwd=stack.ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "RASA_TOKEN is not set" in done.stderr


# --------------------------------------------------------------------------- training fingerprint


def test_every_training_input_exists() -> None:
    missing = [name for name in stack.TRAINING_INPUTS if not (stack.ROOT / name).exists()]
    assert not missing, f"TRAINING_INPUTS names files that are gone: {missing}"


def copy_inputs(root: Path) -> Path:
    """A copy of the training inputs, plus one file that is not an input, under ``root``."""
    for name in stack.TRAINING_INPUTS:
        source, target = stack.ROOT / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (root / "bot").mkdir()
    (root / "bot" / "app.py").write_text("# not a training input\n")
    return root


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_inputs(tmp_path / "checkout")
    monkeypatch.setattr(stack, "ROOT", root)
    return root


def fingerprint() -> str:
    return stack.training_fingerprint({})


def test_fingerprint_is_stable_and_independent_of_the_checkout_path(
        inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fingerprint()
    assert len(first) == 16
    assert fingerprint() == first
    monkeypatch.setattr(stack, "ROOT", copy_inputs(tmp_path / "elsewhere"))
    assert fingerprint() == first


@pytest.mark.parametrize("name", ["config.yml", "domain.yml", "knowledge/text.py"])
def test_fingerprint_changes_when_a_training_file_changes(inputs: Path, name: str) -> None:
    before = fingerprint()
    with (inputs / name).open("a") as file:
        file.write("\n# edited\n")
    assert fingerprint() != before


def test_fingerprint_changes_when_nlu_data_changes_or_is_added(inputs: Path) -> None:
    before = fingerprint()
    example = next(iter(sorted((inputs / "nlu").rglob("*.yml"))))
    example.write_text(example.read_text() + "\n")
    edited = fingerprint()
    assert edited != before
    (inputs / "nlu" / "extra.yml").write_text("version: '3.1'\nnlu: []\n")
    assert fingerprint() != edited


def test_fingerprint_ignores_files_that_are_not_training_inputs(inputs: Path) -> None:
    before = fingerprint()
    (inputs / "bot" / "app.py").write_text("# edited, still not a training input\n")
    (inputs / "README.md").write_text("notes\n")
    (inputs / "nlu" / "notes.txt").write_text("not yaml or python\n")
    (inputs / "nlu" / "__pycache__").mkdir(exist_ok=True)
    (inputs / "nlu" / "__pycache__" / "stale.py").write_text("# cache\n")
    for name in stack.NOT_TRAINING_INPUTS:  # the REST channel and its cache run beside the model
        (inputs / name).write_text("# edited: the model does not change\n")
    assert fingerprint() == before


def test_fingerprint_changes_when_an_nlu_component_changes(inputs: Path) -> None:
    before = fingerprint()
    with (inputs / "nlu" / "components" / "tax_entities.py").open("a") as file:
        file.write("\n# edited\n")
    assert fingerprint() != before


# --------------------------------------------------------------------------- health checks and ports


def test_health_checks_with_one_worker_and_the_gateway() -> None:
    assert stack.health_checks(PORTS, gateway=True) == {
        "action server": "http://127.0.0.1:5055/health",
        "rasa": "http://127.0.0.1:5005/",
        "gateway": "http://127.0.0.1:8000/health",
    }


def test_health_checks_name_each_worker_when_there_are_several() -> None:
    ports = stack.Ports(rasa=6000, actions=5055, gateway=8000, workers=3)
    assert stack.health_checks(ports, gateway=False) == {
        "action server": "http://127.0.0.1:5055/health",
        "rasa worker 1": "http://127.0.0.1:6000/",
        "rasa worker 2": "http://127.0.0.1:6001/",
        "rasa worker 3": "http://127.0.0.1:6002/",
    }


def test_free_port_can_be_listened_on() -> None:
    port = stack.free_port()
    assert 0 < port < 65536
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
