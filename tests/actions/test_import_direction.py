"""Dependencies point one way: the action server never imports the gateway (`bot`)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

import actions

ACTIONS_DIR = Path(actions.__file__).resolve().parent


def imported_modules(source: str, package: str) -> List[str]:
    """Every module `source` imports, at the top or inside a function (relative imports resolved in `package`)."""
    names: List[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            names.append(".".join([*base, *([node.module] if node.module else [])]))
    return names


def gateway_imports(source: str, package: str = "actions") -> List[str]:
    return [name for name in imported_modules(source, package) if name == "bot" or name.startswith("bot.")]


def test_no_module_under_actions_imports_the_gateway() -> None:
    modules = sorted(ACTIONS_DIR.rglob("*.py"))
    assert len(modules) > 10  # the walk found the package
    found = {}
    for path in modules:
        package = ".".join(("actions", *path.relative_to(ACTIONS_DIR).parent.parts))
        names = gateway_imports(path.read_text(encoding="utf-8"), package)
        if names:
            found[str(path.relative_to(ACTIONS_DIR))] = names
    assert found == {}


@pytest.mark.parametrize(
    "source, package",
    [
        ("import bot", "actions"),
        ("import os, bot.handoff.policy as policy", "actions"),
        ("from bot.handoff.policy import get_policy", "actions"),
        ("from bot import keys", "actions.calculators"),
        ("def announce():\n    from bot.handoff import policy\n", "actions"),
        ("from ...bot import keys", "actions.calculators"),  # resolves to bot.keys
    ],
)
def test_the_check_sees_every_way_of_importing_the_gateway(source: str, package: str) -> None:
    assert gateway_imports(source, package), source


def test_the_check_leaves_other_imports_alone() -> None:
    source = "import botocore\nfrom knowledge import catalogue\nfrom .catalog import Field\nfrom . import reading\n"
    assert gateway_imports(source, "actions.calculators") == []
    assert imported_modules(source, "actions.calculators") == [
        "botocore", "knowledge", "actions.calculators.catalog", "actions.calculators"
    ]


def test_reading_answers_needs_no_rasa() -> None:
    # the calculators' catalogue and answer reading are pure: usable (and testable) without Rasa or rasa-sdk
    code = (
        "import sys, actions.calculators.catalog, actions.calculators.reading; "
        "print(sorted(m for m in ('rasa', 'rasa_sdk', 'bot') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
