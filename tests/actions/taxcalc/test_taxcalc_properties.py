"""Property-based tests of the calculators (hypothesis, modest example counts, deterministic)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.taxcalc import (
    AnnualIncome,
    MonthlyPayroll,
    SpecialAdditionalFacts,
    annual_bonus_tax,
    annual_iit,
    bonus_cliffs,
    comprehensive_table_tax,
    cumulative_withholding,
    labour_remuneration_prepayment,
    load_rules,
    small_scale_vat,
    special_additional_deductions,
)

CENT = Decimal("0.01")
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

YEARS = st.integers(min_value=2019, max_value=2027)
BONUS_YEARS = st.integers(min_value=2019, max_value=2027)


def cents(max_value: int) -> st.SearchStrategy[Decimal]:
    """Amounts in cents from 0 to `max_value` yuan."""
    return st.integers(min_value=0, max_value=max_value * 100).map(lambda c: Decimal(c) / 100)


def _boundaries(year: int) -> list[Decimal]:
    table = load_rules().for_year("iit.comprehensive_income.rate_table", year).brackets
    return [b.up_to for b in table if b.up_to is not None]


NEAR_BOUNDARIES = st.sampled_from(_boundaries(2024)).flatmap(
    lambda b: st.integers(min_value=-300, max_value=300).map(lambda c: b + Decimal(c) / 100)
)
INCOMES = st.one_of(cents(2_000_000), NEAR_BOUNDARIES)


# ------------------------------------------------------------------ comprehensive income table


@PROPERTY
@given(x=INCOMES, y=INCOMES, year=YEARS)
def test_table_tax_never_negative_and_monotone(x: Decimal, y: Decimal, year: int) -> None:
    low, high = sorted((x, y))
    tax_low = comprehensive_table_tax(low, year)
    assert tax_low >= 0
    assert tax_low <= comprehensive_table_tax(high, year)
    assert comprehensive_table_tax(high, year) <= high  # never more than the income (top rate 45%)


@PROPERTY
@given(x=INCOMES, year=YEARS)
def test_table_tax_is_continuous(x: Decimal, year: int) -> None:
    # one cent more income never raises the tax by more than a cent (45% of a cent, plus rounding)
    step = comprehensive_table_tax(x + CENT, year) - comprehensive_table_tax(x, year)
    assert 0 <= step <= CENT


def test_table_tax_is_continuous_at_every_boundary() -> None:
    for boundary in _boundaries(2024):
        at, above = comprehensive_table_tax(boundary, 2024), comprehensive_table_tax(boundary + CENT, 2024)
        assert 0 <= above - at <= CENT, boundary


@PROPERTY
@given(
    salary=cents(1_500_000),
    extra=cents(200_000),
    social=cents(50_000),
    year=YEARS,
    children=st.integers(0, 3),
    elderly=st.booleans(),
)
def test_annual_tax_monotone_in_income(
    salary: Decimal, extra: Decimal, social: Decimal, year: int, children: int, elderly: bool
) -> None:
    facts = SpecialAdditionalFacts(children_in_education=children, supports_elderly=elderly)
    lower = annual_iit(AnnualIncome(salary=salary, special_deductions=social, special_additional=facts), year)
    higher = annual_iit(
        AnnualIncome(salary=salary + extra, special_deductions=social, special_additional=facts), year
    )
    assert 0 <= lower.annual_tax <= higher.annual_tax
    assert lower.taxable_income >= 0


# ------------------------------------------------------------------------------ bonus cliffs


@PROPERTY
@given(year=BONUS_YEARS, data=st.data())
def test_bonus_cliffs_exist_exactly_at_the_thresholds(year: int, data: st.DataObject) -> None:
    cliffs = bonus_cliffs(year)
    thresholds = {c.threshold for c in cliffs}
    near = st.sampled_from(sorted(thresholds)).flatmap(
        lambda t: st.integers(min_value=-5, max_value=5).map(lambda c: t + Decimal(c) / 100)
    )
    bonus = data.draw(st.one_of(cents(1_500_000), near))

    def tax(amount: Decimal) -> Decimal:
        return annual_bonus_tax(amount, year).tax

    jump = tax(bonus + CENT) - tax(bonus)
    # a cent more raises the tax by more than a yuan only when crossing a threshold
    assert (jump > 1) == (bonus in thresholds)
    assert jump >= 0


@PROPERTY
@given(year=BONUS_YEARS, bonus=cents(1_300_000))
def test_dead_zones_are_where_less_is_left_after_tax(year: int, bonus: Decimal) -> None:
    cliffs = bonus_cliffs(year)

    def net(amount: Decimal) -> Decimal:
        return amount - annual_bonus_tax(amount, year).tax

    below = [c for c in cliffs if c.threshold < bonus]
    if not below:
        return
    cliff = below[-1]
    in_zone = bonus < cliff.zone_end
    assert (net(bonus) < net(cliff.threshold)) == in_zone


# ----------------------------------------------------------------------- cumulative withholding


@PROPERTY
@given(
    monthly=cents(150_000),
    social_share=st.integers(0, 20),
    year=YEARS,
    children=st.integers(0, 3),
    elderly=st.booleans(),
    only_child=st.booleans(),
    rent=st.booleans(),
)
def test_twelve_months_of_withholding_equal_the_annual_tax(
    monthly: Decimal, social_share: int, year: int, children: int, elderly: bool, only_child: bool, rent: bool
) -> None:
    social = (monthly * social_share / 100).quantize(CENT)
    facts = SpecialAdditionalFacts(
        children_in_education=children,
        supports_elderly=elderly,
        only_child=only_child,
        siblings_sharing=1 if only_child else 2,
        rent_months=12 if rent else 0,
    )
    sad = special_additional_deductions(facts, year).total
    assert sad % 12 == 0  # whole-year monthly deductions spread evenly
    payroll = [
        MonthlyPayroll(salary=monthly, special_deductions=social, special_additional_deductions=sad / 12)
    ] * 12
    withheld = cumulative_withholding(payroll, year)
    annual = annual_iit(
        AnnualIncome(salary=monthly * 12, special_deductions=social * 12, special_additional=facts), year
    )
    assert withheld.total_withheld == annual.annual_tax
    assert all(m.withheld >= 0 for m in withheld.months)
    # the settlement then has nothing left to pay or refund
    assert (
        annual_iit(
            AnnualIncome(
                salary=monthly * 12,
                special_deductions=social * 12,
                special_additional=facts,
                tax_withheld=withheld.total_withheld,
            ),
            year,
        ).balance
        == 0
    )


# ------------------------------------------------------------------------ labour and VAT


@PROPERTY
@given(x=cents(300_000), y=cents(300_000), year=YEARS)
def test_labour_prepayment_never_negative_and_monotone(x: Decimal, y: Decimal, year: int) -> None:
    low, high = sorted((x, y))
    tax_low = labour_remuneration_prepayment(low, year).tax
    assert 0 <= tax_low <= labour_remuneration_prepayment(high, year).tax
    assert tax_low <= low


@PROPERTY
@given(
    sales=cents(2_000_000),
    period=st.sampled_from(["month", "quarter"]),
    day=st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31)),
)
def test_small_scale_vat_exemption_and_rate(sales: Decimal, period: str, day: date) -> None:
    result = small_scale_vat(sales, period, day)  # type: ignore[arg-type]
    threshold = Decimal(100000 if period == "month" else 300000)
    assert result.exempt == (sales <= threshold)
    assert result.vat == (0 if result.exempt else (sales / 100).quantize(CENT, rounding="ROUND_HALF_UP"))
    assert result.total == result.vat + result.surcharge_total >= 0
    # halved 7% + 3% + 2% = 6% of the VAT, give or take rounding of each surcharge
    assert abs(result.surcharge_total - result.vat * Decimal("0.06")) <= Decimal("0.02")
