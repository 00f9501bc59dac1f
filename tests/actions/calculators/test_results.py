"""The results and the cancellation (actions/calculators/results.py): the working, the rules used, where to file."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict

import pytest
from rasa_sdk.events import SlotSet

from actions.calculators.catalog import ALL_CALCULATOR_SLOTS
from actions.calculators.results import (
    CalculateAnnualBonus,
    CalculateAnnualReconciliation,
    CalculateMonthlyWithholding,
    CalculateSmallScaleVat,
    CancelCalculation,
    calculator_years,
    localized_rule,
    result_message,
    translated,
)
from actions.taxcalc import AnnualIncome, MonthlyPayroll, annual_bonus_tax, annual_iit, cumulative_withholding
from tests.actions.calculators.support import (
    CALCULATE_ACTIONS,
    TODAY,
    assert_all_chinese,
    english_left,
    make_tracker,
    run,
)


async def result_of(calculator: str, slots: Dict[str, Any]):  # type: ignore[no-untyped-def]
    action = {
        "annual_reconciliation": CalculateAnnualReconciliation,
        "monthly_withholding": CalculateMonthlyWithholding,
        "annual_bonus": CalculateAnnualBonus,
        "small_scale_vat": CalculateSmallScaleVat,
    }[calculator]()
    messages, events = await run(action, make_tracker("12,000", slots=slots))
    assert len(messages) == 1
    assert SlotSet("calculator", None) in events and SlotSet("requested_slot", None) in events
    assert all(SlotSet(slot, None) in events for slot in ALL_CALCULATOR_SLOTS)
    return messages[0]


async def test_annual_reconciliation_result_shows_the_working_rules_and_where_to_file() -> None:
    slots = {"annual_income": 240000.0, "social_insurance": 24000.0, "special_additional": 2000.0,
             "tax_withheld": 12000.0}
    message = await result_of("annual_reconciliation", slots)
    custom = message["custom"]
    expected = annual_iit(
        AnnualIncome(salary=Decimal(240000), special_deductions=Decimal(24000), other_deductions=Decimal(24000),
                     tax_withheld=Decimal(12000)),
        2026,
    ).to_dict()
    assert custom["kind"] == "calculation" and custom["calculator"] == "annual_reconciliation"
    assert custom["tax_year"] == 2026
    result = custom["result"]
    assert set(result) >= {"inputs", "steps", "result", "rules"}
    assert result["result"] == expected["result"] == "-1320.00" and result["outcome"] == "refund"
    assert result["taxable_income"] == "132000.00" and result["rate"] == expected["rate"]
    assert [s["value"] for s in result["steps"]] == [s["value"] for s in expected["steps"]]
    assert any(s["label"] == "Special additional deductions" for s in result["steps"])
    assert custom["summary"]["refund"] == "1320.00" and custom["summary"]["amount_due"] == "0.00"
    assert custom["sources"][0]["effective_date"] == "2019-01-01"
    text = message["text"]
    for words in ("refund of 1,320.00 yuan", "Taxable income", "Tax rate: 10%", "Quick deduction: 2,520.00",
                  "Rules used:", "effective 2019-01-01", "estimate", "IIT app", "e-tax bureau"):
        assert words in text, words


async def test_annual_reconciliation_amount_due() -> None:
    message = await result_of("annual_reconciliation",
                              {"annual_income": 400000.0, "social_insurance": 0.0, "special_additional": 0.0,
                               "tax_withheld": 10000.0})
    assert message["custom"]["summary"]["outcome"] == "due"
    assert "you would owe" in message["text"]


async def test_monthly_withholding_result_is_this_months_cumulative_withholding() -> None:
    slots = {"monthly_salary": 20000.0, "monthly_social_insurance": 2200.0, "monthly_special_additional": 3000.0,
             "withholding_month": 3.0}
    message = await result_of("monthly_withholding", slots)
    pay = MonthlyPayroll(salary=Decimal(20000), special_deductions=Decimal(2200),
                         special_additional_deductions=Decimal(3000))
    expected = cumulative_withholding([pay] * 3, 2026)
    assert message["custom"]["result"] == expected.to_dict()
    assert message["custom"]["summary"]["withheld_this_month"] == format(expected.months[-1].withheld, "f") == "294.00"
    assert "March 2026: 294.00 yuan" in message["text"]


async def test_bonus_result_with_cliff_warning() -> None:
    message = await result_of("annual_bonus", {"bonus_amount": 37000.0})
    custom = message["custom"]
    assert custom["result"] == annual_bonus_tax(Decimal(37000), 2026).to_dict()
    assert custom["cliff"]["in_dead_zone"] is True and custom["cliff_warning"]
    assert "36,000.00" in message["text"] and "Warning" in message["text"]


async def test_bonus_result_without_cliff_warning() -> None:
    message = await result_of("annual_bonus", {"bonus_amount": 50000.0})
    assert message["custom"]["cliff_warning"] is None and message["custom"]["result"]["tax"] == "4790.00"
    assert "Warning" not in message["text"]


async def test_vat_exempt_and_taxed() -> None:
    exempt = await result_of("small_scale_vat", {"sales_amount": 120000.0, "vat_period": "quarter"})
    assert exempt["custom"]["result"]["exempt"] is True and "no VAT" in exempt["text"]
    taxed = await result_of("small_scale_vat", {"sales_amount": 350000.0, "vat_period": "quarter"})
    assert taxed["custom"]["result"]["vat"] == "3500.00" and taxed["custom"]["result"]["surcharge_total"] == "210.00"
    assert "e-tax bureau" in taxed["text"]


async def test_a_year_without_rules_gets_a_polite_answer() -> None:
    message = await result_of("annual_bonus", {"bonus_amount": 50000.0, "tax_year": 2030.0})
    assert message["custom"]["kind"] == "calculation" and message["custom"]["result"] is None
    assert message["custom"]["error"] == "no_rules_for_year"
    assert "Sorry" in message["text"] and "2030" in message["text"] and "2019 to 2027" in message["text"]


async def test_cancel_names_the_calculator_and_forgets_the_figures() -> None:
    events = [{"event": "active_loop", "name": "monthly_withholding_form"}, {"event": "active_loop", "name": None}]
    tracker = make_tracker("stop", intent="stop_form", slots={"monthly_salary": 20000.0}, events=events)
    messages, result = await run(CancelCalculation(), tracker)
    assert messages[0]["custom"] == {"kind": "form", "calculator": "monthly_withholding", "slot": None,
                                     "status": "cancelled"}
    assert "monthly withholding" in messages[0]["text"]
    assert SlotSet("monthly_salary", None) in result


def test_the_years_a_calculator_covers_come_from_the_rules_data() -> None:
    assert calculator_years("annual_bonus") == tuple(range(2019, 2028))
    for calculator in CALCULATE_ACTIONS:
        years = calculator_years(calculator)
        assert TODAY.year in years, calculator
        result_message(calculator, {"annual_income": 1, "monthly_salary": 1, "withholding_month": 1,
                                    "bonus_amount": 1, "sales_amount": 1, "vat_period": "quarter"}, years[-1])


# ----------------------------------------------------------------------------------- in Chinese


async def test_monthly_withholding_result_for_march_in_chinese() -> None:
    slots = {"monthly_salary": 20000.0, "monthly_social_insurance": 2200.0, "monthly_special_additional": 3000.0,
             "withholding_month": 3.0, "language": "zh"}
    messages, _ = await run(CalculateMonthlyWithholding(), make_tracker("三月", slots=slots))
    message = messages[0]
    assert message["custom"]["summary"]["withheld_this_month"] == "294.00"
    assert "2026年3月预扣预缴税额估算：294.00 元" in message["text"]
    assert "1月至3月累计预扣预缴应纳税所得额为 29,400.00 元" in message["text"]
    assert "- 3月预扣预缴税额：294.00" in message["text"] and "- 1月预扣预缴税额" not in message["text"]
    labels = [s["label"] for s in message["custom"]["result"]["steps"]]
    assert labels == ["每月基本减除费用", "1月预扣预缴税额", "2月预扣预缴税额", "3月预扣预缴税额", "累计预扣预缴税额"]
    assert_all_chinese(message)


async def test_cancel_in_chinese_names_the_calculator_and_forgets_the_figures() -> None:
    events = [{"event": "active_loop", "name": "small_scale_vat_form"}, {"event": "active_loop", "name": None}]
    tracker = make_tracker("算了", intent="stop_form", slots={"sales_amount": 120000.0}, events=events)
    messages, result = await run(CancelCalculation(), tracker)
    assert messages[0]["custom"] == {"kind": "form", "calculator": "small_scale_vat", "slot": None,
                                     "status": "cancelled"}
    assert messages[0]["text"] == (
        "好的，已停止小规模纳税人增值税的计算，您提供的数据也已清除。您可以继续咨询税务问题，或随时重新开始计算。"
    )
    assert SlotSet("sales_amount", None) in result
    messages, _ = await run(CancelCalculation(), make_tracker("取消", intent="stop_form"))
    assert messages[0]["text"].startswith("好的，已停止本次计算")


@pytest.mark.parametrize(
    "calculator, slots",
    [
        ("annual_reconciliation", {"annual_income": 100000.0, "social_insurance": 0.0, "special_additional": 0.0,
                                   "tax_withheld": 0.0}),
        ("annual_reconciliation", {"annual_income": 50000.0, "social_insurance": 0.0, "special_additional": 0.0,
                                   "tax_withheld": 0.0}),
        ("annual_reconciliation", {"annual_income": 1500000.0, "social_insurance": 24000.0,
                                   "special_additional": 3000.0, "tax_withheld": 200000.0}),
        ("monthly_withholding", {"monthly_salary": 80000.0, "monthly_social_insurance": 2200.0,
                                 "monthly_special_additional": 3000.0, "withholding_month": 12.0}),
        ("annual_bonus", {"bonus_amount": 20000.0}),
        ("annual_bonus", {"bonus_amount": 1000000.0}),
        ("small_scale_vat", {"sales_amount": 50000.0, "vat_period": "month"}),
    ],
)
def test_every_working_line_and_rule_of_the_four_calculators_has_chinese(
    calculator: str, slots: Dict[str, Any]
) -> None:
    """The library's and the rules data's English texts all have an up-to-date Chinese entry, in every
    year a calculator covers (a change to them in actions/taxcalc or knowledge/rules/tax_rules.yml
    needs one in calculators.*.yml)."""
    years = calculator_years(calculator)
    assert years
    for year in years:
        message = result_message(calculator, slots, year, "zh")
        assert_all_chinese(message)
        if calculator == "annual_bonus":
            cliff = message["custom"]["cliff"]
            steps = " ".join(s["label"] + s["explanation"] for s in cliff["steps"])
            assert not english_left(steps + cliff["result_label"]), year


def test_an_english_text_without_a_chinese_entry_stays_english() -> None:
    assert translated("calc.step.label", "Some new step", "zh") == "Some new step"
    assert translated("calc.step.label", "Month 7 withholding", "zh") == "7月预扣预缴税额"
    assert translated("calc.rule.article_text", "Article 11", "zh") == "第十一条"
    stale = {"rule_id": "iit.basic_deduction", "title": "A title the catalogue does not know", "authority": "x",
             "document": "y", "article": None, "valid_from": "2019-01-01", "valid_to": None}
    assert localized_rule(stale, "zh")["title"] == "A title the catalogue does not know"


async def test_a_year_without_rules_gets_a_polite_answer_in_chinese() -> None:
    result = await run(CalculateAnnualBonus(),
                       make_tracker("五万", slots={"bonus_amount": 50000.0, "tax_year": 2030.0}))
    message = result[0][0]
    assert message["custom"]["error"] == "no_rules_for_year"
    assert message["text"].startswith("抱歉，我无法计算2030年的全年一次性奖金个人所得税")
    assert "2019年至2027年" in message["text"]
