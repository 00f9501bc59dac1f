"""How the tests know they run in CI, where a missing browser or service fails a test instead of skipping it.

Every test asks `in_ci()`; `unavailable()` is the one fail-or-skip rule built on it.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when the environment variable CI is 1, true or yes (any case)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str, *, required: bool = False) -> NoReturn:
    """Fail the test in CI or when `required` (integration tests need everything); skip it otherwise."""
    if in_ci():
        pytest.fail(f"{reason} (CI: this test needs it)", pytrace=False)
    if required:
        pytest.fail(reason, pytrace=False)
    pytest.skip(f"{reason} (a failure in CI)")
