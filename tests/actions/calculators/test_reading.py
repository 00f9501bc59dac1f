"""Reading a taxpayer's message into a calculator's slots (actions/calculators/reading.py).

First through the form's validation action, as Rasa runs it (the slots it sets for a message parsed as
NLU would); then the pure reading functions on their own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict

import pytest

from actions.calculators.catalog import CALCULATORS
from actions.calculators.reading import (
    FoundAmount,
    corrected_slot,
    is_bare_answer,
    is_cancellation,
    read_answer,
    read_month,
    read_period,
    read_year,
)
from actions.calculators.validation import (
    ValidateAnnualBonusForm,
    ValidateAnnualReconciliationForm,
    ValidateMonthlyWithholdingForm,
    ValidateSmallScaleVatForm,
)
from tests.actions.calculators.support import TODAY, make_tracker, parse, run, slot_values

# ----------------------------------------------------------------- figures in the first message


async def test_all_figures_in_the_first_message_fill_every_slot() -> None:
    tracker = make_tracker(
        "estimate my annual tax refund: my annual salary was 240k, I paid 24,000 social insurance and housing "
        "fund, 2000 a month special additional deductions and 10000 tax was withheld",
        intent="start_calculation",
    )
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events) == {
        "annual_income": 240000.0, "social_insurance": 24000.0, "special_additional": 2000.0,
        "tax_withheld": 10000.0, "tax_year": None,
    }
    assert messages == []  # every figure given: no introduction, the result follows at once


async def test_bonus_named_with_its_amount_is_taken_at_once() -> None:
    tracker = make_tracker("how much tax on a 50,000 yuan year-end bonus", intent="start_calculation")
    _, events = await run(ValidateAnnualBonusForm(), tracker)
    assert slot_values(events)["bonus_amount"] == 50000.0


async def test_vat_sales_and_period_from_one_message() -> None:
    tracker = make_tracker("how much VAT do I pay on 120,000 yuan of sales this quarter", intent="start_calculation")
    _, events = await run(ValidateSmallScaleVatForm(), tracker)
    values = slot_values(events)
    assert values["sales_amount"] == 120000.0 and values["vat_period"] == "quarter"


async def test_withheld_this_month_sets_the_current_month_and_asks_the_rest() -> None:
    tracker = make_tracker("how much will be withheld from my salary this month", intent="start_calculation")
    _, events = await run(ValidateMonthlyWithholdingForm(), tracker)
    values = slot_values(events)
    assert values["withholding_month"] == 11.0 and values["monthly_salary"] is None


# ----------------------------------------------------------- answers in the taxpayer's notation


@pytest.mark.parametrize(
    "text, slot, expected",
    [
        ("240k", "annual_income", 240000.0),
        ("24,000", "social_insurance", 24000.0),
        ("¥5000/month", "annual_income", 60000.0),
        ("2,000 a month", "social_insurance", 24000.0),
        ("none", "special_additional", 0.0),
        ("nothing", "tax_withheld", 0.0),
        ("12,345.67", "tax_withheld", 12345.67),
    ],
)
async def test_answers_in_taxpayers_notations(text: str, slot: str, expected: float) -> None:
    tracker = make_tracker(text, form="annual_reconciliation_form", requested=slot,
                           slots={"annual_income": 1000000.0} if slot != "annual_income" else None)
    _, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events)[slot] == expected


@pytest.mark.parametrize(
    "text, slot, expected",
    [("2.4万", "monthly_salary", 24000.0), ("2万5", "monthly_salary", 25000.0), ("March", "withholding_month", 3.0),
     ("3", "withholding_month", 3.0), ("month 12", "withholding_month", 12.0),
     ("no", "monthly_special_additional", 0.0)],
)
async def test_monthly_answers(text: str, slot: str, expected: float) -> None:
    intent = "deny" if text == "no" else "inform"
    tracker = make_tracker(text, intent=intent, form="monthly_withholding_form", requested=slot)
    _, events = await run(ValidateMonthlyWithholdingForm(), tracker)
    assert slot_values(events)[slot] == expected


@pytest.mark.parametrize(
    "text, slot, expected",
    [
        ("24万", "annual_income", 240000.0),
        ("2.4万", "annual_income", 24000.0),
        ("10万元", "annual_income", 100000.0),
        ("¥5000/月", "annual_income", 60000.0),
        ("月薪1.2万", "annual_income", 144000.0),
        ("三千五", "social_insurance", 3500.0),
        ("没有", "social_insurance", 0.0),
        ("无", "special_additional", 0.0),
        ("零", "special_additional", 0.0),
        ("没有专项附加", "special_additional", 0.0),
        ("一分没交", "tax_withheld", 0.0),
        ("个税没扣过", "tax_withheld", 0.0),
    ],
)
async def test_chinese_answers_in_taxpayers_notations(text: str, slot: str, expected: float) -> None:
    slots = {"annual_income": 1000000.0} if slot != "annual_income" else None
    tracker = make_tracker(text, form="annual_reconciliation_form", requested=slot, slots=slots)
    _, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events)[slot] == expected


@pytest.mark.parametrize(
    "text, expected",
    [("3月", 3.0), ("三月", 3.0), ("3月份", 3.0), ("第3个月", 3.0), ("第三个月", 3.0), ("十二月份", 12.0),
     ("十一月", 11.0), ("本月", 11.0), ("上个月", 10.0), ("七", 7.0)],
)
async def test_chinese_months(text: str, expected: float) -> None:
    tracker = make_tracker(text, form="monthly_withholding_form", requested="withholding_month")
    _, events = await run(ValidateMonthlyWithholdingForm(), tracker)
    assert slot_values(events)["withholding_month"] == expected


@pytest.mark.parametrize(
    "text, expected",
    [("按月", "month"), ("按季", "quarter"), ("季度", "quarter"), ("月度", "month"), ("按季度申报", "quarter"),
     ("每个月报一次", "month")],
)
async def test_chinese_vat_periods(text: str, expected: str) -> None:
    tracker = make_tracker(text, form="small_scale_vat_form", requested="vat_period")
    _, events = await run(ValidateSmallScaleVatForm(), tracker)
    assert slot_values(events)["vat_period"] == expected


async def test_a_chinese_answer_with_a_negation_is_not_a_correction() -> None:
    tracker = make_tracker("不是每个月都交，全年一共1万", form="annual_reconciliation_form",
                           requested="social_insurance", slots={"annual_income": 240000.0})
    _, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events) == {"social_insurance": 10000.0}


# ------------------------------------------------------------------------------- the pure functions
#
# No Rasa objects: the parse data as the NLU sends it, today's date given.

BONUS = CALCULATORS["annual_bonus"]
RECONCILIATION = CALCULATORS["annual_reconciliation"]
WITHHOLDING = CALCULATORS["monthly_withholding"]
VAT = CALCULATORS["small_scale_vat"]


def test_read_answer_keys_each_amount_to_the_slot_its_words_name() -> None:
    message = parse("my salary was 240k, tax withheld 10000, social insurance 2,000 a month", "inform")
    reading = read_answer(RECONCILIATION, message, "annual_income", today=TODAY)
    assert reading.values == {"annual_income": 240000.0, "tax_withheld": 10000.0, "social_insurance": 24000.0}
    assert set(reading.notes) == {"social_insurance"} and "24,000.00" in reading.notes["social_insurance"]
    assert reading.problems == {} and reading.year is None and not reading.empty


def test_read_answer_without_nlu_entities_reads_the_raw_text() -> None:
    # a message that did not go through the pipeline (no entities at all): knowledge.amounts reads it
    reading = read_answer(BONUS, {"text": "2万5 for 2025", "intent": {"name": "inform"}}, "bonus_amount",
                          today=TODAY)
    assert reading.values == {"bonus_amount": 25000.0} and reading.year == 2025


@pytest.mark.parametrize(
    "text, intent",
    [("", "inform"), ("/start_calculation", "start_calculation"), ("stop", "stop_form"), ("算了", "inform"),
     ("what is the basic deduction for 5000 a month?", "ask_tax_question")],
)
def test_read_answer_finds_nothing_in_a_message_that_answers_nothing(text: str, intent: str) -> None:
    reading = read_answer(BONUS, parse(text, intent), "bonus_amount", today=TODAY)
    assert reading.empty and reading.values == {}


def test_read_answer_explains_what_it_cannot_use_in_the_replys_language() -> None:
    reading = read_answer(BONUS, parse("负五千", "inform"), "bonus_amount", language="zh", today=TODAY)
    assert reading.values == {} and reading.problems == {"bonus_amount": "金额不能为负数"}
    reading = read_answer(VAT, parse("1.2 million a year", "inform"), "sales_amount", today=TODAY)
    assert "one quarter" in reading.problems["sales_amount"]


def test_read_answer_takes_today_for_relative_months() -> None:
    message = parse("last month", "inform")
    assert read_answer(WITHHOLDING, message, "withholding_month", today=TODAY).values == {"withholding_month": 10}
    january = read_answer(WITHHOLDING, message, "withholding_month", language="zh", today=TODAY.replace(month=1))
    assert january.values == {} and "withholding_month" in january.problems


@pytest.mark.parametrize(
    "text, requested, expected",
    [("March", False, 3), ("may I ask", False, None), ("may", True, 5), ("3", True, 3), ("3", False, None),
     ("第三个月", False, 3), ("本月", False, 11), ("下个月", False, 12), ("month 12", False, 12)],
)
def test_read_month(text: str, requested: bool, expected: Any) -> None:
    month, problem, span = read_month(text, requested, today=TODAY)
    assert month == expected and problem is None
    assert (span is None) == (expected is None)


def test_read_month_names_an_impossible_month() -> None:
    month, problem, _ = read_month("13月", True, "zh", today=TODAY)
    assert month is None and problem is not None and "13" in problem


@pytest.mark.parametrize(
    "text, expected",
    [("quarterly", "quarter"), ("Q3", "quarter"), ("按季度申报", "quarter"), ("monthly", "month"),
     ("每个月报一次", "month"), ("month or quarter?", None), ("120,000", None)],
)
def test_read_period(text: str, expected: Any) -> None:
    assert read_period(text) == expected


def test_read_year_prefers_the_nlu_entity() -> None:
    assert read_year({"entities": [{"entity": "year", "value": "2024"}]}, "for 2025") == 2024
    assert read_year({"entities": [{"entity": "amount", "value": "2025"}]}, "for 2025") is None
    assert read_year({}, "tax for 2025") == 2025
    assert read_year({}, "2025 yuan") is None


@pytest.mark.parametrize(
    "text, answer",
    [("it's about 240k", True), ("大概24万", True), ("240k?", False), ("24000的社保正常吗", False),
     ("what is the basic deduction this year", False)],
)
def test_is_bare_answer(text: str, answer: bool) -> None:
    amounts = parse(text, "inform")["entities"]
    spans = [(e["start"], e["end"]) for e in amounts if e["entity"] == "amount"]
    assert is_bare_answer(text, spans) is answer


@pytest.mark.parametrize("text", ["stop", "Cancel the calculation", "never mind", "算了吧", "不用算了", "取消"])
def test_is_cancellation(text: str) -> None:
    assert is_cancellation(text)


@pytest.mark.parametrize("text", ["stop paying 5000", "不用交社保", "", "cancel my 2024 bonus tax?"])
def test_is_not_cancellation(text: str) -> None:
    assert not is_cancellation(text)


def test_corrected_slot_is_the_slot_whose_value_is_quoted_else_the_one_before() -> None:
    filled: Dict[str, Any] = {"annual_income": 240000.0, "social_insurance": 20000.0, "special_additional": 0.0}
    quoted = [FoundAmount(Decimal(20000), None, 2, 4), FoundAmount(Decimal(25000), None, 7, 11)]
    assert corrected_slot(RECONCILIATION, "tax_withheld", filled, quoted) == "social_insurance"
    latest = [FoundAmount(Decimal(250000), None, 2, 5)]
    assert corrected_slot(RECONCILIATION, "social_insurance", filled, latest) == "annual_income"
    assert corrected_slot(RECONCILIATION, None, filled, latest) is None
