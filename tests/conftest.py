"""Shared fixtures: the environment, one knowledge service per test session, service checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from knowledge.settings import PROJECT_ROOT, KnowledgeSettings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def in_ci() -> bool:
    """True in CI, where a missing service must fail a test instead of skipping it."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
