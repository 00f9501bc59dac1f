"""The action server (rasa-sdk) registers exactly the custom actions domain.yml declares."""

from __future__ import annotations

from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8"))


def test_every_action_class_is_registered_under_a_name_the_domain_declares() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")  # imports every module of the package, as `rasa_sdk --actions actions`
    assert sorted(executor.actions) == sorted(DOMAIN["actions"])
