"""The calculator tests run on a fixed day (`support.TODAY`)."""

from __future__ import annotations

import pytest

from actions.calculators import catalog
from tests.actions.calculators.support import TODAY


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "today", lambda: TODAY)
