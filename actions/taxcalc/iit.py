"""Individual income tax (IIT) for resident individuals.

Annual comprehensive income tax and settlement balance, special additional deductions, cumulative
withholding, the annual one-off bonus (separate vs combined, cliffs) and labour remuneration prepayment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple

from .money import (
    CENT,
    ZERO,
    ceil_money,
    format_money,
    format_rate,
    non_negative_money,
    round_money,
    to_decimal,
)
from .results import (
    CalculationResult,
    RuleRef,
    Step,
    amount_step,
    field_values,
    rate_step,
    unique_rules,
)
from .rules import Bracket, RuleSet, bracket_for, load_rules

BonusTreatment = Literal["separate", "combined"]

FULL_SHARE = Decimal("1")
HALF_SHARE = Decimal("0.5")
_SHARES = (FULL_SHARE, HALF_SHARE)
MONTHS_PER_YEAR = 12

RATE_TABLE = "iit.comprehensive_income.rate_table"
INCOME_RATIOS = "iit.comprehensive_income.income_ratios"
BASIC_DEDUCTION = "iit.basic_deduction"
CUMULATIVE_WITHHOLDING = "iit.cumulative_withholding"
BONUS_TABLE = "iit.annual_bonus.monthly_rate_table"
SETTLEMENT_EXEMPTION = "iit.annual_settlement.exemption"
CHILDREN_EDUCATION = "iit.special_additional.children_education"
INFANT_CARE = "iit.special_additional.infant_care"
ELDERLY_SUPPORT = "iit.special_additional.elderly_support"
CONTINUING_EDUCATION = "iit.special_additional.continuing_education"
SERIOUS_ILLNESS = "iit.special_additional.serious_illness"
HOUSING_LOAN = "iit.special_additional.housing_loan_interest"
HOUSING_RENT = "iit.special_additional.housing_rent"
PERSONAL_PENSION = "iit.other.personal_pension"
HEALTH_INSURANCE = "iit.other.commercial_health_insurance"
LABOUR_EXPENSE = "iit.labour_remuneration.prepayment_expense"
LABOUR_RATES = "iit.labour_remuneration.prepayment_rates"

#: Every rule id this module reads from the data file.
RULE_IDS: Tuple[str, ...] = (
    RATE_TABLE,
    INCOME_RATIOS,
    BASIC_DEDUCTION,
    CUMULATIVE_WITHHOLDING,
    BONUS_TABLE,
    SETTLEMENT_EXEMPTION,
    CHILDREN_EDUCATION,
    INFANT_CARE,
    ELDERLY_SUPPORT,
    CONTINUING_EDUCATION,
    SERIOUS_ILLNESS,
    HOUSING_LOAN,
    HOUSING_RENT,
    PERSONAL_PENSION,
    HEALTH_INSURANCE,
    LABOUR_EXPENSE,
    LABOUR_RATES,
)


# ------------------------------------------------------------------------------------- helpers


def _rules(rules: Optional[RuleSet]) -> RuleSet:
    return rules if rules is not None else load_rules()


def _months(value: int, field_name: str, maximum: int = MONTHS_PER_YEAR) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"{field_name} must be a whole number from 0 to {maximum}, got {value!r}")
    return value


def _count(value: int, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 50:
        raise ValueError(f"{field_name} must be a whole number from 0 to 50, got {value!r}")
    return value


def _share(value: Any, field_name: str) -> Decimal:
    share = to_decimal(value, field_name)
    if share not in _SHARES:
        raise ValueError(f"{field_name} must be 1 (100%) or 0.5 (50%), got {value!r}")
    return FULL_SHARE if share == FULL_SHARE else HALF_SHARE


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def table_tax(amount: Decimal, brackets: Sequence[Bracket]) -> Tuple[Decimal, Bracket]:
    """Tax on `amount` with a quick-deduction table (amount x rate - quick deduction), to the cent."""
    if amount <= ZERO:
        return round_money(ZERO), brackets[0]
    bracket = bracket_for(amount, brackets)
    return round_money(max(ZERO, amount * bracket.rate - bracket.quick_deduction)), bracket


def comprehensive_table_tax(
    taxable_income: Decimal, tax_year: int, rules: Optional[RuleSet] = None
) -> Decimal:
    """Tax on an annual taxable comprehensive income with the annual rate table of `tax_year`."""
    table = _rules(rules).for_year(RATE_TABLE, tax_year)
    return table_tax(non_negative_money(taxable_income, "taxable income"), table.brackets)[0]


def _bracket_text(bracket: Bracket) -> str:
    limit = "no upper limit" if bracket.up_to is None else f"up to {format_money(bracket.up_to)}"
    return f"bracket {limit}: {format_rate(bracket.rate)}, quick deduction {format_money(bracket.quick_deduction)}"


# ---------------------------------------------------------------- special additional deductions


@dataclass(frozen=True)
class SpecialAdditionalFacts:
    """The taxpayer's facts behind the special additional deductions for one tax year.

    Months are the months of the year the condition held (0-12); shares are 1 (100%) or 0.5.
    """

    children_in_education: int = 0
    children_education_months: int = 12
    children_education_share: Decimal = FULL_SHARE
    infants: int = 0
    infant_care_months: int = 12
    infant_care_share: Decimal = FULL_SHARE
    supports_elderly: bool = False
    elderly_support_months: int = 12
    only_child: bool = True
    siblings_sharing: int = 1
    elderly_agreed_monthly_share: Optional[Decimal] = None
    degree_education_months: int = 0
    degree_months_claimed_before: int = 0
    vocational_certificate_obtained: bool = False
    serious_illness_expenses: Tuple[Decimal, ...] = ()
    housing_loan_months: int = 0
    housing_loan_share: Decimal = FULL_SHARE
    housing_loan_months_claimed_before: int = 0
    rent_months: int = 0
    rent_city_tier: int = 1

    def __post_init__(self) -> None:
        """Validate the facts and normalise amounts to Decimal."""
        _count(self.children_in_education, "children_in_education")
        _months(self.children_education_months, "children_education_months")
        _set(
            self,
            "children_education_share",
            _share(self.children_education_share, "children_education_share"),
        )
        _count(self.infants, "infants")
        _months(self.infant_care_months, "infant_care_months")
        _set(self, "infant_care_share", _share(self.infant_care_share, "infant_care_share"))
        _months(self.elderly_support_months, "elderly_support_months")
        if (
            isinstance(self.siblings_sharing, bool)
            or not isinstance(self.siblings_sharing, int)
            or not 1 <= self.siblings_sharing <= 50
        ):
            raise ValueError(
                f"siblings_sharing must be a whole number from 1 to 50, got {self.siblings_sharing!r}"
            )
        if (
            self.supports_elderly
            and not self.only_child
            and self.siblings_sharing < 2
            and self.elderly_agreed_monthly_share is None
        ):
            raise ValueError(
                "a taxpayer who is not an only child shares with at least one sibling: "
                "set siblings_sharing >= 2 or an agreed share"
            )
        if self.elderly_agreed_monthly_share is not None:
            _set(
                self,
                "elderly_agreed_monthly_share",
                non_negative_money(self.elderly_agreed_monthly_share, "elderly_agreed_monthly_share"),
            )
        _months(self.degree_education_months, "degree_education_months")
        _months(self.degree_months_claimed_before, "degree_months_claimed_before", maximum=600)
        _set(
            self,
            "serious_illness_expenses",
            tuple(non_negative_money(x, "serious_illness_expenses") for x in self.serious_illness_expenses),
        )
        _months(self.housing_loan_months, "housing_loan_months")
        _set(self, "housing_loan_share", _share(self.housing_loan_share, "housing_loan_share"))
        _months(self.housing_loan_months_claimed_before, "housing_loan_months_claimed_before", maximum=600)
        _months(self.rent_months, "rent_months")
        if self.rent_city_tier not in (1, 2, 3):
            raise ValueError(f"rent_city_tier must be 1, 2 or 3 (Beijing is 1), got {self.rent_city_tier!r}")
        if self.rent_months and self.housing_loan_months:
            raise ValueError(
                "housing loan interest and housing rent cannot both be deducted in the same tax year"
            )


@dataclass(frozen=True)
class SpecialAdditionalDeductionsResult(CalculationResult):
    """The special additional deductions for one tax year, item by item."""

    items: Mapping[str, Decimal]
    total: Decimal


def special_additional_deductions(
    facts: SpecialAdditionalFacts, tax_year: int, rules: Optional[RuleSet] = None
) -> SpecialAdditionalDeductionsResult:
    """Each special additional deduction allowed for `tax_year`, capped as the rules say."""
    ruleset = _rules(rules)
    steps: List[Step] = []
    used: List[RuleRef] = []
    items: Dict[str, Decimal] = {}

    if facts.children_in_education and facts.children_education_months:
        rule = ruleset.for_year(CHILDREN_EDUCATION, tax_year)
        amount = round_money(
            rule.number()
            * facts.children_in_education
            * facts.children_education_months
            * facts.children_education_share
        )
        items["children_education"] = amount
        used.append(rule.ref())
        steps.append(
            amount_step(
                "Children's education",
                amount,
                f"{facts.children_in_education} child(ren) x {format_money(rule.number())} a month x "
                f"{facts.children_education_months} months x {format_rate(facts.children_education_share)} share",
            )
        )

    if facts.infants and facts.infant_care_months:
        rule = ruleset.for_year(INFANT_CARE, tax_year)
        amount = round_money(
            rule.number() * facts.infants * facts.infant_care_months * facts.infant_care_share
        )
        items["infant_care"] = amount
        used.append(rule.ref())
        steps.append(
            amount_step(
                "Infant care (under three)",
                amount,
                f"{facts.infants} child(ren) x {format_money(rule.number())} a month x "
                f"{facts.infant_care_months} months x {format_rate(facts.infant_care_share)} share",
            )
        )

    if facts.supports_elderly and facts.elderly_support_months:
        rule = ruleset.for_year(ELDERLY_SUPPORT, tax_year)
        full, cap = rule.get("only_child"), rule.get("sibling_share_cap")
        if facts.only_child:
            monthly = full
            why = f"only child: {format_money(full)} a month"
        elif facts.elderly_agreed_monthly_share is not None:
            monthly = min(facts.elderly_agreed_monthly_share, cap)
            why = (
                f"agreed or designated share {format_money(facts.elderly_agreed_monthly_share)} a month, "
                f"capped at {format_money(cap)} per sibling"
            )
        else:
            monthly = min(round_money(full / facts.siblings_sharing), cap)
            why = (
                f"{format_money(full)} shared evenly by {facts.siblings_sharing} children, "
                f"capped at {format_money(cap)} per sibling: {format_money(monthly)} a month"
            )
        amount = round_money(monthly * facts.elderly_support_months)
        items["elderly_support"] = amount
        used.append(rule.ref())
        steps.append(amount_step("Elderly support", amount, f"{why} x {facts.elderly_support_months} months"))

    degree_months = 0
    if facts.degree_education_months or facts.vocational_certificate_obtained:
        rule = ruleset.for_year(CONTINUING_EDUCATION, tax_year)
        remaining = max(0, int(rule.get("degree_max_months")) - facts.degree_months_claimed_before)
        degree_months = min(facts.degree_education_months, remaining)
        degree = round_money(rule.get("degree_monthly") * degree_months)
        certificate = rule.get("certificate_annual") if facts.vocational_certificate_obtained else ZERO
        amount = round_money(degree + certificate)
        items["continuing_education"] = amount
        used.append(rule.ref())
        parts = []
        if facts.degree_education_months:
            parts.append(
                f"degree: {format_money(rule.get('degree_monthly'))} a month x {degree_months} months"
                f" (at most {int(rule.get('degree_max_months'))} months for one degree)"
            )
        if facts.vocational_certificate_obtained:
            parts.append(f"certificate obtained this year: {format_money(certificate)}")
        steps.append(amount_step("Continuing education", amount, "; ".join(parts)))

    if any(facts.serious_illness_expenses):
        rule = ruleset.for_year(SERIOUS_ILLNESS, tax_year)
        threshold, cap = rule.get("threshold"), rule.get("cap")
        per_person = [min(max(ZERO, spent - threshold), cap) for spent in facts.serious_illness_expenses]
        amount = round_money(sum(per_person, ZERO))
        items["serious_illness"] = amount
        used.append(rule.ref())
        detail = ", ".join(
            f"{format_money(spent)} -> {format_money(d)}"
            for spent, d in zip(facts.serious_illness_expenses, per_person)
        )
        steps.append(
            amount_step(
                "Serious illness medical expenses",
                amount,
                f"per person, the out-of-pocket part above {format_money(threshold)}, at most "
                f"{format_money(cap)}: {detail}",
            )
        )

    if facts.housing_loan_months:
        rule = ruleset.for_year(HOUSING_LOAN, tax_year)
        remaining = max(0, int(rule.get("max_months")) - facts.housing_loan_months_claimed_before)
        months = min(facts.housing_loan_months, remaining)
        amount = round_money(rule.get("monthly") * months * facts.housing_loan_share)
        items["housing_loan_interest"] = amount
        used.append(rule.ref())
        steps.append(
            amount_step(
                "Housing loan interest",
                amount,
                f"{format_money(rule.get('monthly'))} a month x {months} months x "
                f"{format_rate(facts.housing_loan_share)} share (at most {int(rule.get('max_months'))} months)",
            )
        )

    if facts.rent_months:
        rule = ruleset.for_year(HOUSING_RENT, tax_year)
        monthly = rule.get(f"tier_{facts.rent_city_tier}")
        amount = round_money(monthly * facts.rent_months)
        items["housing_rent"] = amount
        used.append(rule.ref())
        steps.append(
            amount_step(
                "Housing rent",
                amount,
                f"city tier {facts.rent_city_tier}: {format_money(monthly)} a month x {facts.rent_months} months",
            )
        )

    total = round_money(sum(items.values(), ZERO))
    steps.append(amount_step("Special additional deductions, total", total, "sum of the items above"))
    return SpecialAdditionalDeductionsResult(
        calculation="iit.special_additional_deductions",
        inputs={"tax_year": tax_year, **field_values(facts)},
        steps=tuple(steps),
        result=total,
        result_label="Special additional deductions for the year",
        rules=unique_rules(used),
        items=items,
        total=total,
    )


# ------------------------------------------------------------------- annual comprehensive income


@dataclass(frozen=True)
class AnnualIncome:
    """A resident's comprehensive income, deductions and tax withheld for one tax year (CNY).

    Amounts are gross for the year; `special_deductions` is the individual's share of social
    insurance and housing fund; `personal_pension` and `commercial_health_insurance` are the
    amounts actually paid (capped by the rules); `other_deductions` are other deductions allowed
    by law (e.g. enterprise annuity), taken as given.
    """

    salary: Decimal = ZERO
    labour_remuneration: Decimal = ZERO
    author_remuneration: Decimal = ZERO
    royalties: Decimal = ZERO
    annual_bonus: Decimal = ZERO
    bonus_treatment: BonusTreatment = "separate"
    special_deductions: Decimal = ZERO
    personal_pension: Decimal = ZERO
    commercial_health_insurance: Decimal = ZERO
    other_deductions: Decimal = ZERO
    tax_withheld: Decimal = ZERO
    special_additional: SpecialAdditionalFacts = field(default_factory=SpecialAdditionalFacts)

    def __post_init__(self) -> None:
        """Validate and normalise every amount to a non-negative Decimal in cents."""
        for f in dataclasses.fields(self):
            if f.name not in ("bonus_treatment", "special_additional"):
                _set(self, f.name, non_negative_money(getattr(self, f.name), f.name))
        if self.bonus_treatment not in ("separate", "combined"):
            raise ValueError(
                f"bonus_treatment must be 'separate' or 'combined', got {self.bonus_treatment!r}"
            )
        if not isinstance(self.special_additional, SpecialAdditionalFacts):
            raise ValueError("special_additional must be SpecialAdditionalFacts")


@dataclass(frozen=True)
class AnnualIITResult(CalculationResult):
    """Annual IIT on comprehensive income (plus a separately taxed bonus) and the settlement balance.

    `balance` = annual tax - tax withheld: positive is tax due, negative a refund.
    """

    tax_year: int
    gross_income: Decimal
    income_amount: Decimal
    deductions: Mapping[str, Decimal]
    taxable_income: Decimal
    rate: Decimal
    quick_deduction: Decimal
    comprehensive_tax: Decimal
    bonus_tax: Decimal
    annual_tax: Decimal
    tax_withheld: Decimal
    balance: Decimal
    outcome: Literal["refund", "due", "nil"]
    may_skip_payment: Optional[bool]


def annual_iit(income: AnnualIncome, tax_year: int, rules: Optional[RuleSet] = None) -> AnnualIITResult:
    """Annual tax on comprehensive income for `tax_year` and the refund or amount due."""
    ruleset = _rules(rules)
    table = ruleset.for_year(RATE_TABLE, tax_year)
    ratios = ruleset.for_year(INCOME_RATIOS, tax_year)
    basic = ruleset.for_year(BASIC_DEDUCTION, tax_year)
    used: List[RuleRef] = [table.ref(), ratios.ref(), basic.ref()]
    steps: List[Step] = []

    keep = FULL_SHARE - ratios.get("expense_ratio")
    author_factor = ratios.get("author_remuneration_factor")
    salary = income.salary
    combined_bonus = income.annual_bonus if income.bonus_treatment == "combined" else ZERO
    labour = round_money(income.labour_remuneration * keep)
    author = round_money(income.author_remuneration * keep * author_factor)
    royalties = round_money(income.royalties * keep)
    steps.append(amount_step("Wages and salaries", salary, "gross for the year"))
    if combined_bonus:
        steps.append(amount_step("Annual bonus (combined)", combined_bonus, "added to wages and salaries"))
    if income.labour_remuneration:
        steps.append(
            amount_step(
                "Labour remuneration (income amount)",
                labour,
                f"{format_money(income.labour_remuneration)} less {format_rate(ratios.get('expense_ratio'))} expenses",
            )
        )
    if income.author_remuneration:
        steps.append(
            amount_step(
                "Author's remuneration (income amount)",
                author,
                f"{format_money(income.author_remuneration)} less {format_rate(ratios.get('expense_ratio'))} "
                f"expenses, counted at {format_rate(author_factor)}",
            )
        )
    if income.royalties:
        steps.append(
            amount_step(
                "Royalties (income amount)",
                royalties,
                f"{format_money(income.royalties)} less {format_rate(ratios.get('expense_ratio'))} expenses",
            )
        )
    gross_income = round_money(
        salary + combined_bonus + income.labour_remuneration + income.author_remuneration + income.royalties
    )
    income_amount = round_money(salary + combined_bonus + labour + author + royalties)
    steps.append(amount_step("Comprehensive income", income_amount, "sum of the income amounts above"))

    deductions: Dict[str, Decimal] = {"basic": round_money(basic.number())}
    steps.append(amount_step("Basic deduction", basic.number(), "fixed amount for the year"))
    if income.special_deductions:
        deductions["special"] = income.special_deductions
        steps.append(
            amount_step(
                "Special deductions",
                income.special_deductions,
                "individual social insurance and housing fund contributions, as paid",
            )
        )
    sad = special_additional_deductions(income.special_additional, tax_year, ruleset)
    if sad.items:
        deductions["special_additional"] = sad.total
        steps.extend(sad.steps)
        used.extend(sad.rules)
    if income.personal_pension:
        rule = ruleset.for_year(PERSONAL_PENSION, tax_year)
        amount = round_money(min(income.personal_pension, rule.number()))
        deductions["personal_pension"] = amount
        used.append(rule.ref())
        steps.append(
            amount_step(
                "Personal pension",
                amount,
                f"paid {format_money(income.personal_pension)}, at most {format_money(rule.number())} a year",
            )
        )
    if income.commercial_health_insurance:
        rule = ruleset.for_year(HEALTH_INSURANCE, tax_year)
        amount = round_money(min(income.commercial_health_insurance, rule.number()))
        deductions["commercial_health_insurance"] = amount
        used.append(rule.ref())
        steps.append(
            amount_step(
                "Commercial health insurance",
                amount,
                f"paid {format_money(income.commercial_health_insurance)}, "
                f"at most {format_money(rule.number())} a year",
            )
        )
    if income.other_deductions:
        deductions["other"] = income.other_deductions
        steps.append(
            amount_step(
                "Other deductions", income.other_deductions, "other deductions allowed by law, as given"
            )
        )

    total_deductions = round_money(sum(deductions.values(), ZERO))
    taxable = round_money(max(ZERO, income_amount - total_deductions))
    steps.append(
        amount_step(
            "Taxable income",
            taxable,
            f"{format_money(income_amount)} - {format_money(total_deductions)} deductions"
            + (
                " (deductions exceed income, so 0; unused deductions are not carried over)"
                if taxable == ZERO
                else ""
            ),
        )
    )
    comprehensive_tax, bracket = table_tax(taxable, table.brackets)
    steps.append(rate_step("Tax rate", bracket.rate, _bracket_text(bracket)))
    steps.append(amount_step("Quick deduction", bracket.quick_deduction, "from the annual rate table"))
    steps.append(
        amount_step(
            "Tax on comprehensive income",
            comprehensive_tax,
            f"{format_money(taxable)} x {format_rate(bracket.rate)} - {format_money(bracket.quick_deduction)}",
        )
    )

    bonus_tax = ZERO
    if income.annual_bonus and income.bonus_treatment == "separate":
        bonus = annual_bonus_tax(income.annual_bonus, tax_year, ruleset)
        bonus_tax = bonus.tax
        used.extend(bonus.rules)
        steps.append(
            amount_step(
                "Tax on the annual bonus (separate)",
                bonus_tax,
                f"{format_money(income.annual_bonus)} x {format_rate(bonus.rate)} - "
                f"{format_money(bonus.quick_deduction)} "
                f"(rate chosen by the bonus / 12 = {format_money(bonus.monthly_average)})",
            )
        )
    annual_tax = round_money(comprehensive_tax + bonus_tax)
    steps.append(
        amount_step("Annual tax", annual_tax, "tax on comprehensive income + tax on a separate bonus")
    )
    steps.append(
        amount_step("Tax already withheld", income.tax_withheld, "withheld or prepaid during the year")
    )
    balance = round_money(annual_tax - income.tax_withheld)
    outcome: Literal["refund", "due", "nil"] = "due" if balance > 0 else "refund" if balance < 0 else "nil"
    steps.append(
        amount_step(
            "Refund" if outcome == "refund" else "Tax due" if outcome == "due" else "Balance",
            abs(balance),
            f"{format_money(annual_tax)} - {format_money(income.tax_withheld)}",
        )
    )

    may_skip: Optional[bool] = None
    if outcome == "due" and ruleset.has_year(SETTLEMENT_EXEMPTION, tax_year):
        rule = ruleset.for_year(SETTLEMENT_EXEMPTION, tax_year)
        used.append(rule.ref())
        may_skip = gross_income <= rule.get("income_limit") or balance <= rule.get("balance_limit")
        steps.append(
            amount_step(
                "Payment may be waived" if may_skip else "Payment must be made",
                balance,
                "no settlement is needed when comprehensive income is at most "
                f"{format_money(rule.get('income_limit'))} "
                f"or the tax due is at most {format_money(rule.get('balance_limit'))}, "
                "unless the payer failed to withhold"
                + (": this applies" if may_skip else ": this does not apply"),
            )
        )

    return AnnualIITResult(
        calculation="iit.annual",
        inputs={"tax_year": tax_year, **field_values(income)},
        steps=tuple(steps),
        result=balance,
        result_label="Tax due (positive) or refund (negative) at the annual settlement",
        rules=unique_rules(used),
        tax_year=tax_year,
        gross_income=gross_income,
        income_amount=income_amount,
        deductions=deductions,
        taxable_income=taxable,
        rate=bracket.rate,
        quick_deduction=round_money(bracket.quick_deduction),
        comprehensive_tax=comprehensive_tax,
        bonus_tax=bonus_tax,
        annual_tax=annual_tax,
        tax_withheld=income.tax_withheld,
        balance=balance,
        outcome=outcome,
        may_skip_payment=may_skip,
    )


# ---------------------------------------------------------------------- cumulative withholding


@dataclass(frozen=True)
class MonthlyPayroll:
    """One month's wages and the deductions the employer applies that month (CNY)."""

    salary: Decimal
    special_deductions: Decimal = ZERO
    special_additional_deductions: Decimal = ZERO
    other_deductions: Decimal = ZERO

    def __post_init__(self) -> None:
        """Validate and normalise every amount to a non-negative Decimal in cents."""
        for f in dataclasses.fields(self):
            _set(self, f.name, non_negative_money(getattr(self, f.name), f.name))


@dataclass(frozen=True)
class MonthWithholding:
    """The cumulative figures and the tax withheld for one month."""

    month: int
    cumulative_income: Decimal
    cumulative_deductions: Decimal
    cumulative_taxable: Decimal
    rate: Decimal
    quick_deduction: Decimal
    cumulative_tax: Decimal
    previously_withheld: Decimal
    withheld: Decimal


@dataclass(frozen=True)
class WithholdingResult(CalculationResult):
    """Month-by-month withholding on wages under the cumulative withholding method."""

    tax_year: int
    months: Tuple[MonthWithholding, ...]
    total_withheld: Decimal


def cumulative_withholding(
    payroll: Sequence[MonthlyPayroll],
    tax_year: int,
    first_month: int = 1,
    rules: Optional[RuleSet] = None,
) -> WithholdingResult:
    """Tax withheld each month on wages from `first_month` on, with the cumulative method.

    Cumulative taxable income = cumulative wages - 5,000 x months employed this year - cumulative
    deductions; the month's withholding is the cumulative tax less what was withheld before (a
    negative result withholds nothing: refunds wait for the annual settlement).
    """
    if isinstance(first_month, bool) or not isinstance(first_month, int) or not 1 <= first_month <= 12:
        raise ValueError(f"first_month must be 1 to 12, got {first_month!r}")
    if not payroll:
        raise ValueError("payroll needs at least one month")
    if first_month + len(payroll) - 1 > MONTHS_PER_YEAR:
        raise ValueError(f"{len(payroll)} months from month {first_month} run past December")
    ruleset = _rules(rules)
    method = ruleset.for_year(CUMULATIVE_WITHHOLDING, tax_year)
    table = ruleset.for_year(RATE_TABLE, tax_year)
    basic = ruleset.for_year(BASIC_DEDUCTION, tax_year)
    monthly_basic = round_money(basic.number() / MONTHS_PER_YEAR)

    steps: List[Step] = [
        amount_step("Basic deduction per month", monthly_basic, f"{format_money(basic.number())} / 12")
    ]
    months: List[MonthWithholding] = []
    cum_income = cum_deductions = withheld_total = ZERO
    for index, pay in enumerate(payroll):
        month = first_month + index
        employed = index + 1
        cum_income += pay.salary
        cum_deductions += pay.special_deductions + pay.special_additional_deductions + pay.other_deductions
        deductions = cum_deductions + monthly_basic * employed
        taxable = round_money(max(ZERO, cum_income - deductions))
        cum_tax, bracket = table_tax(taxable, table.brackets)
        withheld = max(ZERO, cum_tax - withheld_total)
        months.append(
            MonthWithholding(
                month=month,
                cumulative_income=cum_income,
                cumulative_deductions=deductions,
                cumulative_taxable=taxable,
                rate=bracket.rate,
                quick_deduction=round_money(bracket.quick_deduction),
                cumulative_tax=cum_tax,
                previously_withheld=withheld_total,
                withheld=withheld,
            )
        )
        steps.append(
            amount_step(
                f"Month {month} withholding",
                withheld,
                f"cumulative income {format_money(cum_income)} - deductions {format_money(deductions)} "
                f"= taxable {format_money(taxable)}; "
                f"x {format_rate(bracket.rate)} - {format_money(bracket.quick_deduction)} = {format_money(cum_tax)}; "
                f"less {format_money(withheld_total)} already withheld",
            )
        )
        withheld_total += withheld
    steps.append(amount_step("Total withheld", withheld_total, f"months {first_month} to {months[-1].month}"))
    return WithholdingResult(
        calculation="iit.cumulative_withholding",
        inputs={"tax_year": tax_year, "first_month": first_month, "payroll": tuple(payroll)},
        steps=tuple(steps),
        result=withheld_total,
        result_label="Total tax withheld over the months given",
        rules=unique_rules([method.ref(), table.ref(), basic.ref()]),
        tax_year=tax_year,
        months=tuple(months),
        total_withheld=withheld_total,
    )


# ----------------------------------------------------------------------- annual one-off bonus


@dataclass(frozen=True)
class BonusTaxResult(CalculationResult):
    """Tax on an annual one-off bonus taxed separately from comprehensive income."""

    bonus: Decimal
    monthly_average: Decimal
    rate: Decimal
    quick_deduction: Decimal
    tax: Decimal
    net: Decimal


def annual_bonus_tax(bonus: Decimal, tax_year: int, rules: Optional[RuleSet] = None) -> BonusTaxResult:
    """Tax on `bonus` taxed separately: bonus x rate - quick deduction, rate chosen by bonus / 12.

    RuleNotInForceError when separate taxation is not available in `tax_year`.
    """
    amount = non_negative_money(bonus, "bonus")
    table = _rules(rules).for_year(BONUS_TABLE, tax_year)
    monthly = amount / MONTHS_PER_YEAR  # exact: the bracket is chosen on the unrounded quotient
    bracket = bracket_for(monthly, table.brackets)
    tax = round_money(max(ZERO, amount * bracket.rate - bracket.quick_deduction))
    steps = [
        amount_step("Annual bonus", amount, "taxed on its own, not added to comprehensive income"),
        amount_step("Bonus / 12", round_money(monthly), "selects the bracket of the monthly-converted table"),
        rate_step("Tax rate", bracket.rate, _bracket_text(bracket)),
        amount_step("Quick deduction", bracket.quick_deduction, "monthly-converted table (deducted once)"),
        amount_step(
            "Tax on the bonus",
            tax,
            f"{format_money(amount)} x {format_rate(bracket.rate)} - {format_money(bracket.quick_deduction)}",
        ),
        amount_step("Bonus after tax", amount - tax, f"{format_money(amount)} - {format_money(tax)}"),
    ]
    return BonusTaxResult(
        calculation="iit.annual_bonus_separate",
        inputs={"tax_year": tax_year, "bonus": amount},
        steps=tuple(steps),
        result=tax,
        result_label="Tax on the annual bonus (taxed separately)",
        rules=(table.ref(),),
        bonus=amount,
        monthly_average=round_money(monthly),
        rate=bracket.rate,
        quick_deduction=round_money(bracket.quick_deduction),
        tax=tax,
        net=amount - tax,
    )


def _bonus_tax(amount: Decimal, brackets: Sequence[Bracket]) -> Decimal:
    bracket = bracket_for(amount / MONTHS_PER_YEAR, brackets)
    return round_money(max(ZERO, amount * bracket.rate - bracket.quick_deduction))


@dataclass(frozen=True)
class BonusComparisonResult(CalculationResult):
    """Total annual tax with the bonus taxed separately vs combined with comprehensive income."""

    separate_tax: Decimal
    combined_tax: Decimal
    better: Literal["separate", "combined", "equal"]
    saving: Decimal


def compare_bonus_treatment(
    income: AnnualIncome, tax_year: int, rules: Optional[RuleSet] = None
) -> BonusComparisonResult:
    """Total annual tax both ways for the bonus in `income`, and which way is lower."""
    ruleset = _rules(rules)
    separate = annual_iit(dataclasses.replace(income, bonus_treatment="separate"), tax_year, ruleset)
    combined = annual_iit(dataclasses.replace(income, bonus_treatment="combined"), tax_year, ruleset)
    saving = abs(separate.annual_tax - combined.annual_tax)
    better: Literal["separate", "combined", "equal"] = (
        "equal" if saving == ZERO else "separate" if separate.annual_tax < combined.annual_tax else "combined"
    )
    steps = [
        amount_step(
            "Annual tax, bonus taxed separately",
            separate.annual_tax,
            f"comprehensive income tax {format_money(separate.comprehensive_tax)} "
            f"+ bonus tax {format_money(separate.bonus_tax)}",
        ),
        amount_step(
            "Annual tax, bonus combined",
            combined.annual_tax,
            f"bonus added to comprehensive income: taxable {format_money(combined.taxable_income)}",
        ),
        amount_step(
            "Difference",
            saving,
            (
                "both ways give the same tax"
                if better == "equal"
                else f"taxing the bonus {better} is lower by this amount"
            ),
        ),
    ]
    return BonusComparisonResult(
        calculation="iit.annual_bonus_comparison",
        inputs={"tax_year": tax_year, **field_values(income)},
        steps=tuple(steps),
        result=saving,
        result_label="Tax saved by the better treatment of the bonus",
        rules=unique_rules(list(separate.rules) + list(combined.rules)),
        separate_tax=separate.annual_tax,
        combined_tax=combined.annual_tax,
        better=better,
        saving=saving,
    )


@dataclass(frozen=True)
class BonusCliff:
    """A bracket boundary of the separate bonus tax, where the tax jumps.

    Just above `threshold` the tax jumps, and every bonus up to `zone_end` (exclusive) leaves less
    after tax than `threshold` itself.
    """

    threshold: Decimal
    jump: Decimal
    zone_end: Decimal


def _net(amount: Decimal, brackets: Sequence[Bracket]) -> Decimal:
    return amount - _bonus_tax(amount, brackets)


def _zone_end(threshold: Decimal, brackets: Sequence[Bracket]) -> Decimal:
    """Smallest bonus above `threshold` leaving at least as much after tax as `threshold`."""
    target = _net(threshold, brackets)
    lower = threshold
    for bracket in brackets:
        upper = None if bracket.up_to is None else bracket.up_to * MONTHS_PER_YEAR
        if upper is not None and upper <= threshold:
            continue
        # net = B x (1 - rate) + quick deduction within this bracket (before rounding)
        candidate = max(ceil_money((target - bracket.quick_deduction) / (1 - bracket.rate)), lower + CENT)
        while _net(candidate, brackets) < target:
            candidate += CENT
        while candidate - CENT > lower and _net(candidate - CENT, brackets) >= target:
            candidate -= CENT
        if upper is None or candidate <= upper:
            return candidate
        lower = upper
    raise AssertionError("the last bracket has no upper limit")  # pragma: no cover


def bonus_cliffs(tax_year: int, rules: Optional[RuleSet] = None) -> Tuple[BonusCliff, ...]:
    """Every cliff of the separate bonus tax in `tax_year`: the bracket limits x 12."""
    brackets = _rules(rules).for_year(BONUS_TABLE, tax_year).brackets
    cliffs = []
    for bracket in brackets[:-1]:
        assert bracket.up_to is not None
        threshold = round_money(bracket.up_to * MONTHS_PER_YEAR)
        jump = _bonus_tax(threshold + CENT, brackets) - _bonus_tax(threshold, brackets)
        cliffs.append(BonusCliff(threshold=threshold, jump=jump, zone_end=_zone_end(threshold, brackets)))
    return tuple(cliffs)


@dataclass(frozen=True)
class BonusCliffResult(CalculationResult):
    """Whether a separately taxed bonus sits just above a cliff, and the better amount if so."""

    bonus: Decimal
    tax: Decimal
    net: Decimal
    in_dead_zone: bool
    threshold: Optional[Decimal]
    threshold_tax: Optional[Decimal]
    threshold_net: Optional[Decimal]
    zone_end: Optional[Decimal]
    recommended_bonus: Decimal
    extra_net: Decimal


def bonus_cliff_check(bonus: Decimal, tax_year: int, rules: Optional[RuleSet] = None) -> BonusCliffResult:
    """Whether `bonus` lies just above a cliff, where a smaller bonus leaves more after tax.

    When it does, `recommended_bonus` is the cliff threshold (the best amount not above `bonus`)
    and `extra_net` how much more it leaves after tax; otherwise the bonus itself and 0.
    """
    amount = non_negative_money(bonus, "bonus")
    table = _rules(rules).for_year(BONUS_TABLE, tax_year)
    brackets = table.brackets
    tax = _bonus_tax(amount, brackets)
    net = amount - tax
    below = [c for c in bonus_cliffs(tax_year, rules) if c.threshold < amount]
    cliff = below[-1] if below else None
    steps: List[Step] = [
        amount_step("Annual bonus", amount, "taxed separately"),
        amount_step("Tax on the bonus", tax, "monthly-converted table"),
        amount_step("Bonus after tax", net, f"{format_money(amount)} - {format_money(tax)}"),
    ]
    in_zone = False
    threshold_tax = threshold_net = zone_end = None
    recommended, extra = amount, ZERO
    if cliff is not None:
        threshold_tax = _bonus_tax(cliff.threshold, brackets)
        threshold_net = cliff.threshold - threshold_tax
        zone_end = cliff.zone_end
        in_zone = amount < cliff.zone_end
        steps.append(
            amount_step(
                "Nearest cliff below",
                cliff.threshold,
                f"one cent more raises the tax by {format_money(cliff.jump)}; bonuses above it and below "
                f"{format_money(cliff.zone_end)} leave less after tax than {format_money(cliff.threshold)}",
            )
        )
        steps.append(
            amount_step(
                "After tax at the cliff",
                threshold_net,
                f"{format_money(cliff.threshold)} - {format_money(threshold_tax)}",
            )
        )
        if in_zone:
            recommended, extra = cliff.threshold, threshold_net - net
            steps.append(
                amount_step(
                    "More after tax with the smaller bonus",
                    extra,
                    f"a bonus of {format_money(cliff.threshold)} leaves {format_money(threshold_net)} "
                    f"against {format_money(net)} now",
                )
            )
        else:
            steps.append(
                amount_step(
                    "Above the dead zone",
                    amount - cliff.zone_end,
                    f"the bonus is at least {format_money(cliff.zone_end)}: no smaller bonus leaves more",
                )
            )
    else:
        steps.append(amount_step("No cliff below", ZERO, "the bonus is within the first bracket"))
    return BonusCliffResult(
        calculation="iit.annual_bonus_cliff",
        inputs={"tax_year": tax_year, "bonus": amount},
        steps=tuple(steps),
        result=recommended,
        result_label="Bonus amount (not above the given bonus) that leaves the most after tax",
        rules=(table.ref(),),
        bonus=amount,
        tax=tax,
        net=net,
        in_dead_zone=in_zone,
        threshold=cliff.threshold if cliff else None,
        threshold_tax=threshold_tax,
        threshold_net=threshold_net,
        zone_end=zone_end,
        recommended_bonus=recommended,
        extra_net=extra,
    )


# --------------------------------------------------------------------- labour remuneration


@dataclass(frozen=True)
class LabourPrepaymentResult(CalculationResult):
    """Tax the payer withholds in advance on one payment of labour remuneration."""

    payment: Decimal
    expenses: Decimal
    income_amount: Decimal
    rate: Decimal
    quick_deduction: Decimal
    tax: Decimal


def labour_remuneration_prepayment(
    payment: Decimal, tax_year: int, rules: Optional[RuleSet] = None
) -> LabourPrepaymentResult:
    """Withholding prepayment on one labour remuneration payment made in `tax_year`.

    Expenses: 800 when the payment is at most 4,000, otherwise 20%; the income amount is taxed
    with the prepayment table (20%; 30% less 2,000; 40% less 7,000).
    """
    ruleset = _rules(rules)
    expense_rule = ruleset.for_year(LABOUR_EXPENSE, tax_year)
    table = ruleset.for_year(LABOUR_RATES, tax_year)
    amount = non_negative_money(payment, "payment")
    limit = expense_rule.get("fixed_expense_limit")
    if amount <= limit:
        expenses = min(amount, expense_rule.get("fixed_expense"))
        why = (
            f"payment at most {format_money(limit)}: fixed {format_money(expense_rule.get('fixed_expense'))}"
        )
    else:
        expenses = round_money(amount * expense_rule.get("expense_ratio"))
        why = f"payment over {format_money(limit)}: {format_rate(expense_rule.get('expense_ratio'))} of the payment"
    income_amount = amount - expenses
    tax, bracket = table_tax(income_amount, table.brackets)
    steps = [
        amount_step("Payment", amount, "labour remuneration for one payment"),
        amount_step("Expenses", expenses, why),
        amount_step("Income amount", income_amount, f"{format_money(amount)} - {format_money(expenses)}"),
        rate_step("Prepayment rate", bracket.rate, _bracket_text(bracket)),
        amount_step("Quick deduction", bracket.quick_deduction, "prepayment rate table"),
        amount_step(
            "Tax withheld in advance",
            tax,
            f"{format_money(income_amount)} x {format_rate(bracket.rate)} - {format_money(bracket.quick_deduction)}",
        ),
    ]
    return LabourPrepaymentResult(
        calculation="iit.labour_remuneration_prepayment",
        inputs={"tax_year": tax_year, "payment": amount},
        steps=tuple(steps),
        result=tax,
        result_label="Tax withheld in advance on this payment",
        rules=(expense_rule.ref(), table.ref()),
        payment=amount,
        expenses=expenses,
        income_amount=income_amount,
        rate=bracket.rate,
        quick_deduction=round_money(bracket.quick_deduction),
        tax=tax,
    )
