"""Money helpers: Decimal conversion and rounding half up to the cent."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from actions.taxcalc.money import (
    format_money,
    format_rate,
    money,
    non_negative_money,
    round_money,
    to_decimal,
)
from actions.taxcalc.results import Step, to_jsonable


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.005", "0.01"), ("0.004", "0.00"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("1080", "1080.00")],
)
def test_round_half_up_to_the_cent(value: str, expected: str) -> None:
    assert str(round_money(Decimal(value))) == expected


def test_to_decimal_accepts_numbers_and_refuses_nonsense() -> None:
    assert to_decimal("24,000") == 24000
    assert to_decimal(0.1) == Decimal("0.1")
    for bad in ("NaN", "inf", "abc", True, None):
        with pytest.raises(ValueError):
            to_decimal(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be negative"):
        non_negative_money(-1, "salary")
    assert money("3390.095") == Decimal("3390.10")


def test_formatting() -> None:
    assert format_money(Decimal("1080")) == "1,080.00"
    assert format_rate(Decimal("0.03")) == "3%"
    assert format_rate(Decimal("0.035")) == "3.5%"
    step = Step("Tax", Decimal("1080"), "amount", "x")
    assert step.to_dict()["value"] == "1080.00"
    assert json.dumps(to_jsonable({"a": [Decimal("0.10")]})) == '{"a": ["0.10"]}'
