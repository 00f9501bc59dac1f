"""The process supervisor's pure parts (scripts/stack.py): no running stack, no training."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from scripts import stack

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


def test_endpoints_go_to_var_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "VAR", tmp_path / "var")
    written = stack.write_endpoints(PORTS, None)
    assert written == tmp_path / "var" / "endpoints.yml"
    assert yaml.safe_load(written.read_text())["action_endpoint"]["url"] == "http://127.0.0.1:5055/webhook"


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
    assert fingerprint() == before


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
