"""Shared fixtures: the environment, one knowledge service per test session, the browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from knowledge.env import apply_offline_defaults
from knowledge.settings import PROJECT_ROOT, KnowledgeSettings
from tests.browser import Pages, launch, missing
from tests.ci import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from knowledge.service import KnowledgeService

apply_offline_defaults(os.environ)  # quiet, offline TensorFlow and Hugging Face


@pytest.fixture(scope="session")
def knowledge_settings() -> KnowledgeSettings:
    return KnowledgeSettings.from_env()


@pytest.fixture(scope="session")
def knowledge_service(knowledge_settings: KnowledgeSettings) -> Iterator["KnowledgeService"]:
    """The real knowledge service over the real articles (index cached on disk between runs)."""
    from knowledge.service import KnowledgeService

    service = KnowledgeService(knowledge_settings)
    service.start()
    yield service


@pytest.fixture(scope="session")
def encoder(knowledge_service: "KnowledgeService"):  # type: ignore[no-untyped-def]
    """The loaded sentence encoder, shared by the tests."""
    return knowledge_service.retriever.encoder


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


# --------------------------------------------------------------------------- browser (tests/browser.py)


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Debian's Chromium, one per test module. Missing (or without playwright): fails in CI, skips elsewhere."""
    reason = missing()  # before anything imports playwright
    if reason:
        unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def pages(request: pytest.FixtureRequest) -> Iterator[Pages]:
    """Opens watched pages (`pages.new(...)`); the test fails if a page reports an error it did not allow.

    An integration test fails also outside CI when there is no browser: it needs everything.
    """
    reason = missing()
    if reason:
        unavailable(reason, required=request.node.get_closest_marker("integration") is not None)
    opened = Pages(request.getfixturevalue("browser"))
    yield opened
    errors = opened.unexpected()
    opened.close()
    assert not errors, "the pages reported errors:\n" + "\n".join(errors)
