"""Money amounts in taxpayers' words (knowledge/amounts.py)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.amounts import Amount, find_amounts, parse_amount

PROPERTY = settings(max_examples=80, deadline=None, database=None, derandomize=True)


@pytest.mark.parametrize(
    ("text", "value", "period"),
    [
        ("240k", D(240000), None),
        ("24,000", D(24000), None),
        ("2.4万", D(24000), None),
        ("¥5000/month", D(5000), "month"),
        ("5000 yuan a month", D(5000), "month"),
        ("120,000 RMB per year", D(120000), "year"),
        ("1.2 million", D(1200000), None),
        ("3千", D(3000), None),
        ("50k per quarter", D(50000), "quarter"),
        ("2.4万元/年", D(24000), "year"),
        ("年薪30万", D(300000), "year"),
        ("月薪5000元", D(5000), "month"),
        ("每月5000", D(5000), "month"),
        ("I earn 5K monthly", D(5000), "month"),
        ("my monthly salary is 20,000", D(20000), "month"),
        ("CNY 1,200.50", D("1200.50"), None),
        ("RMB5000", D(5000), None),
        ("５０００元", D(5000), None),
        ("0.5k", D(500), None),
        ("1.5亿", D(150000000), None),
        ("it was 36,001 yuan", D(36001), None),
        ("2万5", D(25000), None),
        ("3千5百元/月", D(3500), "month"),
        ("quarterly sales of 450,000", D(450000), "quarter"),
    ],
)
def test_parse_amount_examples(text: str, value: D, period: Optional[str]) -> None:
    amount = parse_amount(text)
    assert amount is not None
    assert amount.value == value
    assert amount.period == period
    assert text[amount.start : amount.end] == amount.text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no numbers here",
        "-5000",
        "−5000 yuan",
        "minus 300",
        "NaN",
        "inf",
        "3%",
        "12 months",
        "call 12366",
        "in 2023",
        "2023年",
        "Announcement 2023 No. 30",
        "on 2024-03-01",
        "at 10:30",
        "5 pm",
        "1e5",
        "2 children",
    ],
)
def test_not_amounts(text: str) -> None:
    assert parse_amount(text) is None
    assert find_amounts(text) == []


def test_find_amounts_in_a_sentence() -> None:
    text = "My annual salary is 240,000, social insurance 2,000/month and a bonus of 3万 for 2 kids in 2024."
    amounts = find_amounts(text)
    assert [(a.value, a.period) for a in amounts] == [
        (D(240000), "year"),
        (D(2000), "month"),
        (D(30000), None),
    ]
    assert [a.text for a in amounts] == ["240,000", "2,000/month", "3万"]
    assert amounts[1].per_year() == D(24000)
    assert amounts[2].per_year() is None


def test_ranges_and_lists_give_each_amount() -> None:
    assert [a.value for a in find_amounts("between 3000-5000 yuan")] == [D(3000), D(5000)]
    assert [a.value for a in find_amounts("5000，3000")] == [D(5000), D(3000)]


def test_amount_is_frozen() -> None:
    amount = parse_amount("5000")
    assert isinstance(amount, Amount)
    with pytest.raises(AttributeError):
        amount.value = D(1)  # type: ignore[misc]
    assert amount.span == (0, 4)


def _grouped(value: int) -> str:
    return f"{value:,}"


VALUES = st.integers(min_value=1, max_value=99_999_999)
PERIODS = st.sampled_from(
    [
        ("", None),
        ("/month", "month"),
        (" a month", "month"),
        (" per month", "month"),
        ("/月", "month"),
        (" per quarter", "quarter"),
        (" quarterly", "quarter"),
        (" per year", "year"),
        (" a year", "year"),
        ("/年", "year"),
        (" annually", "year"),
    ]
)


@PROPERTY
@given(
    value=VALUES, period=PERIODS, currency=st.sampled_from(["", " yuan", " RMB", "元"]), grouped=st.booleans()
)
def test_round_trip_of_plain_numbers(value: int, period: tuple, currency: str, grouped: bool) -> None:
    suffix, expected_period = period
    text = f"{_grouped(value) if grouped else value}{currency}{suffix}"
    amount = parse_amount(text)
    assert amount is not None, text
    assert amount.value == value and amount.period == expected_period
    assert amount.text == text


@PROPERTY
@given(thousands=st.integers(min_value=1, max_value=999_999), unit=st.sampled_from(["k", "K", " thousand"]))
def test_round_trip_of_thousands(thousands: int, unit: str) -> None:
    amount = parse_amount(f"about {thousands}{unit} yuan")
    assert amount is not None and amount.value == thousands * 1000


@PROPERTY
@given(tenths=st.integers(min_value=1, max_value=99_999))
def test_round_trip_of_wan(tenths: int) -> None:
    amount = parse_amount(f"{D(tenths) / 10}万")
    assert amount is not None and amount.value == tenths * 1000


@PROPERTY
@given(value=VALUES)
def test_negative_numbers_are_refused(value: int) -> None:
    assert parse_amount(f"-{value}") is None
    assert parse_amount(f"minus {value} yuan") is None


@PROPERTY
@given(a=VALUES, b=VALUES)
def test_find_amounts_finds_both(a: int, b: int) -> None:
    text = f"I got {a} yuan in March and {_grouped(b)} yuan in April"
    assert [x.value for x in find_amounts(text)] == [a, b]


@PROPERTY
@given(st.text(max_size=60))
def test_never_crashes_and_never_negative(text: str) -> None:
    for amount in find_amounts(text):
        assert amount.value >= 0 and amount.value.is_finite()
        assert text[amount.start : amount.end] == amount.text
