"""Individual income tax: worked examples checked by hand (the working is in the comments)."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from actions.taxcalc import (
    AnnualIncome,
    MonthlyPayroll,
    RuleNotInForceError,
    SpecialAdditionalFacts,
    annual_bonus_tax,
    annual_iit,
    bonus_cliff_check,
    bonus_cliffs,
    compare_bonus_treatment,
    cumulative_withholding,
    labour_remuneration_prepayment,
    special_additional_deductions,
)

ONE_CHILD_ONLY_CHILD = SpecialAdditionalFacts(children_in_education=1, supports_elderly=True)


# ------------------------------------------------------------------------------ annual tax


def test_salary_240000_with_social_insurance_2000_a_month() -> None:
    # 240,000 - 60,000 basic - 24,000 social insurance (2,000 x 12) = 156,000 taxable
    # 156,000 is in the 20% bracket (144,000 < x <= 300,000): 156,000 x 20% - 16,920 = 14,280.00
    result = annual_iit(AnnualIncome(salary=D(240000), special_deductions=D(24000)), 2024)
    assert result.taxable_income == D("156000.00")
    assert result.rate == D("0.2")
    assert result.annual_tax == D("14280.00")
    assert result.balance == D("14280.00") and result.outcome == "due"


def test_salary_240000_with_child_and_parents_refund() -> None:
    # 2024: child 2,000 x 12 = 24,000; elderly (only child) 3,000 x 12 = 36,000
    # 240,000 - 60,000 - 24,000 - 24,000 - 36,000 = 96,000 taxable
    # 96,000 x 10% - 2,520 = 7,080.00; withheld 10,000 -> refund 2,920.00
    income = AnnualIncome(
        salary=D(240000),
        special_deductions=D(24000),
        tax_withheld=D(10000),
        special_additional=ONE_CHILD_ONLY_CHILD,
    )
    result = annual_iit(income, 2024)
    assert result.taxable_income == D("96000.00")
    assert result.annual_tax == D("7080.00")
    assert result.balance == D("-2920.00") and result.outcome == "refund"
    assert result.may_skip_payment is None
    labels = [step.label for step in result.steps]
    assert "Children's education" in labels and "Elderly support" in labels and labels[-1] == "Refund"


def test_same_facts_in_2022_use_the_older_caps() -> None:
    # 2022: child 1,000 x 12 = 12,000; elderly 2,000 x 12 = 24,000
    # 240,000 - 60,000 - 24,000 - 12,000 - 24,000 = 120,000 -> 120,000 x 10% - 2,520 = 9,480.00
    income = AnnualIncome(
        salary=D(240000), special_deductions=D(24000), special_additional=ONE_CHILD_ONLY_CHILD
    )
    assert annual_iit(income, 2022).annual_tax == D("9480.00")


def test_income_below_the_basic_deduction_pays_nothing_and_gets_the_withholding_back() -> None:
    # 50,000 - 60,000 < 0 -> taxable 0, tax 0; withheld 300 -> refund 300.00
    result = annual_iit(AnnualIncome(salary=D(50000), tax_withheld=D(300)), 2024)
    assert result.taxable_income == 0 and result.annual_tax == 0
    assert result.balance == D("-300.00")


def test_labour_author_and_royalty_income_amounts() -> None:
    # labour 10,000 x 80% = 8,000; author 10,000 x 80% x 70% = 5,600; royalties 10,000 x 80% = 8,000
    # salary 100,000 + 21,600 = 121,600 - 60,000 = 61,600 -> 61,600 x 10% - 2,520 = 3,640.00
    income = AnnualIncome(
        salary=D(100000), labour_remuneration=D(10000), author_remuneration=D(10000), royalties=D(10000)
    )
    result = annual_iit(income, 2024)
    assert result.income_amount == D("121600.00")
    assert result.annual_tax == D("3640.00")


def test_other_deductions_are_capped() -> None:
    # pension paid 15,000 -> 12,000; health insurance paid 3,000 -> 2,400
    # 200,000 - 60,000 - 12,000 - 2,400 = 125,600 -> 125,600 x 10% - 2,520 = 10,040.00
    income = AnnualIncome(salary=D(200000), personal_pension=D(15000), commercial_health_insurance=D(3000))
    result = annual_iit(income, 2024)
    assert result.deductions["personal_pension"] == D("12000.00")
    assert result.deductions["commercial_health_insurance"] == D("2400.00")
    assert result.annual_tax == D("10040.00")


def test_personal_pension_before_2022_is_a_clear_error() -> None:
    with pytest.raises(RuleNotInForceError, match="personal_pension"):
        annual_iit(AnnualIncome(salary=D(200000), personal_pension=D(1000)), 2021)


def test_year_without_rules_is_a_clear_error() -> None:
    with pytest.raises(RuleNotInForceError, match="tax year 2018"):
        annual_iit(AnnualIncome(salary=D(100000)), 2018)


@pytest.mark.parametrize(
    ("salary", "withheld", "may_skip"),
    [
        # income 100,000 <= 120,000: 40,000 x 10% - 2,520 = 1,480 due, payment may be waived
        (D(100000), D(0), True),
        # 200,000 - 60,000 = 140,000 -> 11,480; 11,480 - 11,100 = 380 <= 400: waived
        (D(200000), D(11100), True),
        # 11,480 - 11,000 = 480 > 400 and income > 120,000: must pay
        (D(200000), D(11000), False),
    ],
)
def test_settlement_exemption(salary: D, withheld: D, may_skip: bool) -> None:
    assert annual_iit(AnnualIncome(salary=salary, tax_withheld=withheld), 2024).may_skip_payment is may_skip


def test_result_is_json_able_with_decimals_as_strings() -> None:
    result = annual_iit(AnnualIncome(salary=D(240000), special_additional=ONE_CHILD_ONLY_CHILD), 2024)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["annual_tax"] == result.annual_tax.to_eng_string()
    assert data["inputs"]["salary"] == "240000.00"
    assert {"label", "kind", "value", "explanation"} == set(data["steps"][0])
    assert all(set(rule) >= {"authority", "document", "valid_from", "valid_to"} for rule in data["rules"])
    assert any(
        rule["rule_id"] == "iit.special_additional.children_education" and rule["valid_from"] == "2023-01-01"
        for rule in data["rules"]
    )


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        AnnualIncome(salary=D(-1))
    with pytest.raises(ValueError, match="bonus_treatment"):
        AnnualIncome(bonus_treatment="both")  # type: ignore[arg-type]


# ------------------------------------------------------------ special additional deductions


@pytest.mark.parametrize(
    ("facts", "year", "item", "expected"),
    [
        # two children, 50% share: 2 x 2,000 x 12 x 50% = 24,000
        (
            SpecialAdditionalFacts(children_in_education=2, children_education_share=D("0.5")),
            2023,
            "children_education",
            D(24000),
        ),
        # infant born in March: 2,000 x 10 months = 20,000
        (SpecialAdditionalFacts(infants=1, infant_care_months=10), 2023, "infant_care", D(20000)),
        (SpecialAdditionalFacts(infants=1), 2022, "infant_care", D(12000)),
        # not an only child, two siblings share evenly: 3,000 / 2 = 1,500 x 12 = 18,000
        (
            SpecialAdditionalFacts(supports_elderly=True, only_child=False, siblings_sharing=2),
            2023,
            "elderly_support",
            D(18000),
        ),
        # three siblings: 1,000 a month each
        (
            SpecialAdditionalFacts(supports_elderly=True, only_child=False, siblings_sharing=3),
            2023,
            "elderly_support",
            D(12000),
        ),
        # agreed share 2,000 is capped at 1,500 per sibling
        (
            SpecialAdditionalFacts(
                supports_elderly=True, only_child=False, elderly_agreed_monthly_share=D(2000)
            ),
            2024,
            "elderly_support",
            D(18000),
        ),
        # 2022: two siblings -> 2,000 / 2 = 1,000 (cap 1,000) x 12
        (
            SpecialAdditionalFacts(supports_elderly=True, only_child=False, siblings_sharing=2),
            2022,
            "elderly_support",
            D(12000),
        ),
        # degree with 40 of 48 months used before: 8 x 400 = 3,200, plus certificate 3,600 = 6,800
        (
            SpecialAdditionalFacts(
                degree_education_months=12,
                degree_months_claimed_before=40,
                vocational_certificate_obtained=True,
            ),
            2024,
            "continuing_education",
            D(6800),
        ),
        # serious illness per person: 20,000 -> 5,000; 100,000 -> 80,000 (cap); 10,000 -> 0
        (
            SpecialAdditionalFacts(serious_illness_expenses=(D(20000), D(100000), D(10000))),
            2024,
            "serious_illness",
            D(85000),
        ),
        (SpecialAdditionalFacts(housing_loan_months=12), 2024, "housing_loan_interest", D(12000)),
        (SpecialAdditionalFacts(rent_months=12), 2024, "housing_rent", D(18000)),
        (SpecialAdditionalFacts(rent_months=12, rent_city_tier=2), 2024, "housing_rent", D(13200)),
        (SpecialAdditionalFacts(rent_months=6, rent_city_tier=3), 2024, "housing_rent", D(4800)),
    ],
)
def test_special_additional_deduction_items(
    facts: SpecialAdditionalFacts, year: int, item: str, expected: D
) -> None:
    result = special_additional_deductions(facts, year)
    assert result.items[item] == expected
    assert result.total == expected


def test_infant_care_before_2022_is_a_clear_error() -> None:
    with pytest.raises(RuleNotInForceError, match="infant_care"):
        special_additional_deductions(SpecialAdditionalFacts(infants=1), 2021)


def test_rent_and_loan_interest_cannot_both_be_claimed() -> None:
    with pytest.raises(ValueError, match="same tax year"):
        SpecialAdditionalFacts(rent_months=12, housing_loan_months=12)
    with pytest.raises(ValueError, match="share"):
        SpecialAdditionalFacts(children_in_education=1, children_education_share=D("0.3"))
    with pytest.raises(ValueError, match="months"):
        SpecialAdditionalFacts(children_in_education=1, children_education_months=13)


# ------------------------------------------------------------------- cumulative withholding


def test_cumulative_withholding_month_by_month() -> None:
    # 20,000 a month, social insurance 2,000: 13,000 taxable a month (20,000 - 5,000 - 2,000)
    # m1 13,000 x 3% = 390; m2 26,000 -> 780 - 390 = 390; m3 39,000 -> 3,900 - 2,520 = 1,380 - 780 = 600
    # m4..m11 +1,300 each (10%); m12 156,000 -> 31,200 - 16,920 = 14,280 - 11,780 = 2,500
    payroll = [MonthlyPayroll(salary=D(20000), special_deductions=D(2000))] * 12
    result = cumulative_withholding(payroll, 2024)
    assert [m.withheld for m in result.months] == [D(390), D(390), D(600)] + [D(1300)] * 8 + [D(2500)]
    assert result.total_withheld == D("14280.00")
    annual = annual_iit(AnnualIncome(salary=D(240000), special_deductions=D(24000)), 2024)
    assert result.total_withheld == annual.annual_tax


def test_withholding_never_refunds_during_the_year() -> None:
    # m1 20,000 - 5,000 = 15,000 -> 450; m2 (salary 0) 20,000 - 10,000 = 10,000 -> 300 < 450: withhold 0
    result = cumulative_withholding([MonthlyPayroll(salary=D(20000)), MonthlyPayroll(salary=D(0))], 2024)
    assert [m.withheld for m in result.months] == [D(450), D(0)]


def test_withholding_for_a_new_employee_starts_with_their_first_month() -> None:
    result = cumulative_withholding([MonthlyPayroll(salary=D(10000))] * 6, 2024, first_month=7)
    assert [m.month for m in result.months] == [7, 8, 9, 10, 11, 12]
    # six months: 60,000 - 30,000 = 30,000 x 3% = 900
    assert result.total_withheld == D("900.00")
    with pytest.raises(ValueError, match="past December"):
        cumulative_withholding([MonthlyPayroll(salary=D(10000))] * 7, 2024, first_month=7)


# --------------------------------------------------------------------------- annual bonus


@pytest.mark.parametrize(
    ("bonus", "tax"),
    [
        (D(36000), D("1080.00")),  # 36,000 / 12 = 3,000 -> 3%: 36,000 x 3% = 1,080.00
        (D(36001), D("3390.10")),  # 3,000.08 -> 10%: 3,600.10 - 210 = 3,390.10
        (D(144000), D("14190.00")),  # 12,000 -> 10%: 14,400 - 210 = 14,190.00
        (D(144001), D("27390.20")),  # 20%: 28,800.20 - 1,410 = 27,390.20
        (D(0), D("0.00")),
    ],
)
def test_bonus_taxed_separately(bonus: D, tax: D) -> None:
    assert annual_bonus_tax(bonus, 2024).tax == tax


def test_separate_bonus_ends_after_2027() -> None:
    with pytest.raises(RuleNotInForceError, match="2028"):
        annual_bonus_tax(D(36000), 2028)
    with pytest.raises(RuleNotInForceError, match="2028"):
        annual_iit(AnnualIncome(salary=D(100000), annual_bonus=D(36000)), 2028)
    # combined is still possible: 136,000 - 60,000 = 76,000 x 10% - 2,520 = 5,080.00
    combined = AnnualIncome(salary=D(100000), annual_bonus=D(36000), bonus_treatment="combined")
    assert annual_iit(combined, 2028).annual_tax == D("5080.00")


def test_compare_bonus_treatment() -> None:
    # low earner: salary 50,000 + bonus 30,000. Separate: 0 + 30,000 x 3% = 900.
    # Combined: 80,000 - 60,000 = 20,000 x 3% = 600 -> combined saves 300.
    low = compare_bonus_treatment(AnnualIncome(salary=D(50000), annual_bonus=D(30000)), 2024)
    assert (low.separate_tax, low.combined_tax, low.better, low.saving) == (
        D(900),
        D(600),
        "combined",
        D(300),
    )
    # high earner: salary 400,000 + bonus 36,000. Separate: 340,000 x 25% - 31,920 = 53,080 + 1,080 = 54,160.
    # Combined: 376,000 x 25% - 31,920 = 62,080 -> separate saves 7,920.
    high = compare_bonus_treatment(AnnualIncome(salary=D(400000), annual_bonus=D(36000)), 2024)
    assert (high.separate_tax, high.combined_tax, high.better, high.saving) == (
        D(54160),
        D(62080),
        "separate",
        D(7920),
    )


def test_bonus_cliffs_are_at_the_bracket_limits_times_twelve() -> None:
    cliffs = bonus_cliffs(2024)
    assert [c.threshold for c in cliffs] == [D(36000), D(144000), D(300000), D(420000), D(660000), D(960000)]
    # zone end: B x (1 - r) + qd = net at the threshold, e.g. (36,000 - 1,080 - 210) / 0.9 = 38,566.67
    assert [c.zone_end for c in cliffs] == [
        D("38566.67"),
        D("160500.00"),
        D("318333.33"),
        D("447500.00"),
        D("706538.46"),
        D("1120000.00"),
    ]


def test_bonus_cliff_check() -> None:
    # 37,000: tax 37,000 x 10% - 210 = 3,490, net 33,510; at 36,000 net 34,920 -> 1,410 more
    check = bonus_cliff_check(D(37000), 2024)
    assert check.in_dead_zone and check.threshold == D(36000)
    assert check.recommended_bonus == D(36000) and check.extra_net == D("1410.00")
    assert bonus_cliff_check(D(36001), 2024).extra_net == D("2309.10")  # 34,920 - (36,001 - 3,390.10)
    assert bonus_cliff_check(D("38566.66"), 2024).in_dead_zone
    assert not bonus_cliff_check(D("38566.67"), 2024).in_dead_zone
    assert not bonus_cliff_check(D(36000), 2024).in_dead_zone
    first = bonus_cliff_check(D(30000), 2024)
    assert first.threshold is None and first.recommended_bonus == D(30000) and first.extra_net == 0


# -------------------------------------------------------------------- labour remuneration


@pytest.mark.parametrize(
    ("payment", "tax"),
    [
        (D(3000), D("440.00")),  # (3,000 - 800) x 20% = 440.00
        (D(800), D("0.00")),  # 800 - 800 = 0
        (D(500), D("0.00")),  # expenses cannot exceed the payment
        (D(4000), D("640.00")),  # (4,000 - 800) x 20% = 640.00
        (D(5000), D("800.00")),  # 5,000 x 80% = 4,000 x 20% = 800.00
        (D(25000), D("4000.00")),  # 25,000 x 80% = 20,000 x 20% = 4,000.00
        (D(30000), D("5200.00")),  # 24,000 x 30% - 2,000 = 5,200.00
        (D(100000), D("25000.00")),  # 80,000 x 40% - 7,000 = 25,000.00
    ],
)
def test_labour_remuneration_prepayment(payment: D, tax: D) -> None:
    result = labour_remuneration_prepayment(payment, 2024)
    assert result.tax == tax
    assert result.to_dict()["result"] == str(tax)
