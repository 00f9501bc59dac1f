"""Small-scale VAT: worked examples checked by hand (the working is in the comments)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import pytest

from actions.taxcalc import RuleNotInForceError, small_scale_vat

Q2_2024 = date(2024, 4, 1)


def test_quarter_450000() -> None:
    # 450,000 > 300,000 threshold: all sales taxed at 1% -> 4,500.00 VAT
    # urban maintenance 4,500 x 7% x 50% = 157.50; education 4,500 x 3% x 50% = 67.50;
    # local education 4,500 x 2% x 50% = 45.00; surcharges 270.00; total 4,770.00
    result = small_scale_vat(D(450000), "quarter", Q2_2024)
    assert result.vat == D("4500.00") and not result.exempt
    assert result.surcharges == {
        "urban_maintenance": D("157.50"),
        "education": D("67.50"),
        "local_education": D("45.00"),
    }
    assert result.surcharge_total == D("270.00")
    assert result.total == D("4770.00")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["vat"] == "4500.00" and data["period_date"] == "2024-04-01"
    assert any("2023 No. 19" in rule["document"] for rule in data["rules"])
    assert any("2023 No. 12" in rule["document"] for rule in data["rules"])


@pytest.mark.parametrize(
    ("sales", "period", "vat"),
    [
        (D(300000), "quarter", D("0.00")),  # at the threshold: exempt
        (D("300000.01"), "quarter", D("3000.00")),  # 300,000.01 x 1% = 3,000.0001 -> 3,000.00
        (D(100000), "month", D("0.00")),
        (D(100001), "month", D("1000.01")),
        (D(150000), "month", D("1500.00")),
        (D(0), "month", D("0.00")),
    ],
)
def test_threshold_and_reduced_rate(sales: D, period: str, vat: D) -> None:
    assert small_scale_vat(sales, period, date(2025, 1, 1)).vat == vat  # type: ignore[arg-type]


def test_vat_inclusive_sales_are_converted_first() -> None:
    # 454,500 / 1.01 = 450,000 -> 4,500.00
    result = small_scale_vat(D(454500), "quarter", Q2_2024, includes_vat=True)
    assert result.sales == D("450000.00") and result.vat == D("4500.00")


def test_county_town_rate() -> None:
    # 4,500 x 5% x 50% = 112.50
    result = small_scale_vat(D(450000), "quarter", Q2_2024, location="county_town")
    assert result.surcharges["urban_maintenance"] == D("112.50")


def test_dates_outside_the_rules_are_clear_errors() -> None:
    with pytest.raises(RuleNotInForceError, match="2022-06-01"):
        small_scale_vat(D(450000), "quarter", date(2022, 6, 1))
    with pytest.raises(RuleNotInForceError, match="2028-01-01"):
        small_scale_vat(D(450000), "quarter", date(2028, 1, 1))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        small_scale_vat(D(1), "week", Q2_2024)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        small_scale_vat(D(-1), "month", Q2_2024)
