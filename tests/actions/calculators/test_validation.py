"""The forms' validation actions (actions/calculators/validation.py): what the taxpayer is told, which slots are set.

A real Tracker and CollectingDispatcher (Rasa-demo style); messages are parsed by the project's own
entity component, as NLU would.
"""

from __future__ import annotations

from typing import Any, Dict

import pytest
from rasa_sdk.events import SlotSet

from actions.calculators.validation import (
    ValidateAnnualBonusForm,
    ValidateAnnualReconciliationForm,
    ValidateMonthlyWithholdingForm,
    ValidateSmallScaleVatForm,
)
from tests.actions.calculators.support import (
    assert_slots_left_alone,
    english_left,
    format_money_text,
    make_tracker,
    parse,
    run,
    slot_values,
)

# ------------------------------------------------------------------------------ starting a form


async def test_a_start_without_figures_is_introduced() -> None:
    tracker = make_tracker("estimate my annual tax refund", intent="start_calculation")
    messages, _ = await run(ValidateAnnualReconciliationForm(), tracker)
    assert messages[0]["custom"] == {
        "kind": "form", "calculator": "annual_reconciliation", "slot": None, "status": "started"
    }
    assert "4 more figures" in messages[0]["text"] and "stop" in messages[0]["text"]


async def test_figures_given_before_choosing_the_calculator_are_kept() -> None:
    first = parse("calculate the tax on an 80k bonus for 2025", "start_calculation")
    events = [
        {"event": "user", "text": first["text"], "parse_data": first},
        {"event": "action", "name": "action_ask_calculator"},
    ]
    tracker = make_tracker('/start_calculation{"calculator": "annual_bonus"}', intent="start_calculation",
                           events=events)
    _, result = await run(ValidateAnnualBonusForm(), tracker)
    values = slot_values(result)
    assert values["bonus_amount"] == 80000.0 and values["tax_year"] == 2025.0


async def test_activation_forgets_figures_of_an_unfinished_earlier_run() -> None:
    tracker = make_tracker("calculate my annual bonus tax please", intent="start_calculation",
                           slots={"bonus_amount": 99999.0})
    _, events = await run(ValidateAnnualBonusForm(), tracker)
    assert slot_values(events)["bonus_amount"] is None


async def test_activation_is_recognised_even_when_rasa_already_marks_the_form_active() -> None:
    # Rasa may send the tracker with the form already active at activation: the history decides
    tracker = make_tracker("calculate my annual bonus tax please", intent="start_calculation")
    tracker.active_loop = {"name": "annual_bonus_form"}
    messages, _ = await run(ValidateAnnualBonusForm(), tracker)
    assert messages[0]["custom"]["status"] == "started"


# ------------------------------------------------------------------ noting and changing answers


async def test_an_annual_figure_given_per_month_is_converted_with_a_note() -> None:
    tracker = make_tracker("20,000 a month", form="annual_reconciliation_form", requested="annual_income")
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events)["annual_income"] == 240000.0
    assert messages[0]["custom"]["status"] == "noted" and "240,000.00" in messages[0]["text"]


async def test_changing_an_earlier_answer() -> None:
    tracker = make_tracker(
        "actually my income was 250k", form="annual_reconciliation_form", requested="social_insurance",
        slots={"annual_income": 240000.0},
    )
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events) == {"annual_income": 250000.0}
    assert messages[0]["custom"] == {
        "kind": "form", "calculator": "annual_reconciliation", "slot": "annual_income", "status": "updated"
    }
    assert "250,000.00" in messages[0]["text"] and "240,000.00" in messages[0]["text"]


# ---------------------------------------------------------------------------- impossible values


@pytest.mark.parametrize(
    "action, form, slot, text, slots, reason",
    [
        (ValidateAnnualBonusForm(), "annual_bonus_form", "bonus_amount", "-5000", {}, "negative"),
        (ValidateAnnualBonusForm(), "annual_bonus_form", "bonus_amount", "0", {}, "more than zero"),
        (ValidateMonthlyWithholdingForm(), "monthly_withholding_form", "withholding_month", "13", {}, "months 1 to 12"),
        (ValidateAnnualReconciliationForm(), "annual_reconciliation_form", "social_insurance", "300k",
         {"annual_income": 240000.0}, "more than your salary income"),
        (ValidateAnnualReconciliationForm(), "annual_reconciliation_form", "tax_withheld", "500,000",
         {"annual_income": 240000.0}, "more than your salary income"),
        (ValidateMonthlyWithholdingForm(), "monthly_withholding_form", "monthly_social_insurance", "30k",
         {"monthly_salary": 20000.0}, "more than your monthly salary"),
        (ValidateSmallScaleVatForm(), "small_scale_vat_form", "sales_amount", "1.2 million a year", {}, "one quarter"),
        (ValidateAnnualBonusForm(), "annual_bonus_form", "bonus_amount", "20 billion", {}, "typo"),
    ],
)
async def test_impossible_values_are_refused_with_a_reason_and_asked_again(
    action: Any, form: str, slot: str, text: str, slots: Dict[str, Any], reason: str
) -> None:
    tracker = make_tracker(text, form=form, requested=slot, slots=slots)
    messages, events = await run(action, tracker)
    assert SlotSet(slot, None) in events  # the form asks for the slot again
    assert messages[-1]["custom"]["status"] == "invalid" and messages[-1]["custom"]["slot"] == slot
    assert reason in messages[-1]["text"]


async def test_an_answer_without_a_figure_is_asked_again() -> None:
    tracker = make_tracker("i am not sure", form="annual_bonus_form", requested="bonus_amount")
    messages, events = await run(ValidateAnnualBonusForm(), tracker)
    assert events == [SlotSet("bonus_amount", None)]
    assert messages[0]["custom"]["status"] == "invalid" and '"50,000"' in messages[0]["text"]


# -------------------------------------------------------------------------- interruptions, stop


@pytest.mark.parametrize(
    "text, intent",
    [("what is the basic deduction?", "ask_tax_question"), ("stop", "stop_form"), ("cancel", "stop_form"),
     ("is 24,000 social insurance normal for beijing?", "ask_tax_question"), ("blorp zzzt", "nlu_fallback")],
)
async def test_questions_and_stop_leave_the_slots_alone_so_the_form_rejects(text: str, intent: str) -> None:
    await assert_slots_left_alone(text, intent)


async def test_another_calculator_asked_for_mid_form_is_left_to_the_rules() -> None:
    tracker = make_tracker("how much vat do i pay on my sales", intent="start_calculation",
                           form="annual_bonus_form", requested="bonus_amount")
    _, events = await run(ValidateAnnualBonusForm(), tracker)
    assert events == []


# ------------------------------------------------------------------------------------- tax year


async def test_a_named_tax_year_is_kept() -> None:
    tracker = make_tracker("estimate my 2025 annual tax refund", intent="start_calculation")
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    values = slot_values(events)
    assert values["tax_year"] == 2025.0 and values["annual_income"] is None
    assert "2025" in messages[0]["text"]


async def test_the_year_can_be_given_in_the_middle_of_the_form() -> None:
    tracker = make_tracker("it's for 2025", form="annual_bonus_form", requested="bonus_amount")
    messages, events = await run(ValidateAnnualBonusForm(), tracker)
    assert events == [SlotSet("tax_year", 2025.0)]
    assert messages[0]["custom"]["status"] == "noted" and "2025" in messages[0]["text"]


async def test_a_year_without_rules_is_refused_politely() -> None:
    tracker = make_tracker("tax on my 2030 year-end bonus", intent="start_calculation")
    messages, events = await run(ValidateAnnualBonusForm(), tracker)
    assert slot_values(events)["tax_year"] is None
    assert "2030" in messages[-1]["text"] and "2019 to 2027" in messages[-1]["text"]
    assert "2026" in messages[0]["text"]


# ----------------------------------------------------------------------------------- in Chinese


@pytest.mark.parametrize(
    "text, intent, requested, slots, changed",
    [
        ("不对 我收入是25万", "deny", "tax_withheld", {"social_insurance": 24000.0}, ("annual_income", 250000.0)),
        ("改成25万", "inform", "social_insurance", {}, ("annual_income", 250000.0)),
        ("不对，是25万", "deny", "social_insurance", {}, ("annual_income", 250000.0)),
        ("不是2万，是2.5万", "deny", "tax_withheld", {"social_insurance": 20000.0, "special_additional": 0.0},
         ("social_insurance", 25000.0)),
    ],
)
async def test_chinese_corrections_change_an_earlier_answer(
    text: str, intent: str, requested: str, slots: Dict[str, Any], changed: Any
) -> None:
    tracker = make_tracker(text, intent=intent, form="annual_reconciliation_form", requested=requested,
                           slots={"annual_income": 240000.0, **slots})
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    slot, value = changed
    assert slot_values(events) == {slot: value}
    assert messages[0]["custom"]["status"] == "updated" and messages[0]["text"].startswith("已更改：")
    assert format_money_text(value) in messages[0]["text"]


async def test_a_bare_no_is_not_a_zero_when_it_corrects() -> None:
    tracker = make_tracker("不对", intent="deny", form="annual_reconciliation_form", requested="special_additional",
                           slots={"annual_income": 240000.0})
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert events == [SlotSet("special_additional", None)]
    assert messages[0]["text"] == "抱歉，我没有看懂您说的每月专项附加扣除。请按“3000”或“没有”这样的格式回答。"


@pytest.mark.parametrize(
    "action, form, slot, text, slots, reason",
    [
        (ValidateAnnualReconciliationForm(), "annual_reconciliation_form", "social_insurance", "30万",
         {"annual_income": 240000.0},
         "300,000.00 元超过了您的全年工资薪金收入（240,000.00 元），而个人缴费是从工资中支付的"),
        (ValidateAnnualBonusForm(), "annual_bonus_form", "bonus_amount", "负五千", {}, "金额不能为负数"),
        (ValidateAnnualBonusForm(), "annual_bonus_form", "bonus_amount", "0元", {}, "金额必须大于零"),
        (ValidateAnnualBonusForm(), "annual_bonus_form", "bonus_amount", "200亿", {}, "可能是输入有误"),
        (ValidateMonthlyWithholdingForm(), "monthly_withholding_form", "withholding_month", "13月", {},
         "没有13月：一个纳税年度只有1月至12月"),
        (ValidateSmallScaleVatForm(), "small_scale_vat_form", "sales_amount", "一年120万", {}, "一个季度的销售额"),
    ],
)
async def test_impossible_values_are_refused_in_chinese(
    action: Any, form: str, slot: str, text: str, slots: Dict[str, Any], reason: str
) -> None:
    tracker = make_tracker(text, form=form, requested=slot, slots=slots)
    messages, events = await run(action, tracker)
    assert SlotSet(slot, None) in events
    assert messages[-1]["custom"]["status"] == "invalid" and messages[-1]["custom"]["slot"] == slot
    assert messages[-1]["text"].startswith("抱歉，这个回答不能作为") and reason in messages[-1]["text"]
    assert not english_left(messages[-1]["text"])


async def test_an_unclear_chinese_answer_is_asked_again_in_chinese() -> None:
    tracker = make_tracker("不太清楚", form="annual_bonus_form", requested="bonus_amount")
    messages, events = await run(ValidateAnnualBonusForm(), tracker)
    assert events == [SlotSet("bonus_amount", None)]
    assert messages[0]["text"] == "抱歉，我没有看懂您说的全年一次性奖金。请按“50000”或“5万”这样的格式回答。"


async def test_a_conversion_note_in_chinese() -> None:
    tracker = make_tracker("一年24万", form="monthly_withholding_form", requested="monthly_salary")
    messages, events = await run(ValidateMonthlyWithholdingForm(), tracker)
    assert slot_values(events)["monthly_salary"] == 20000.0
    assert messages[0]["text"] == "已记录：月工资为每年 240,000.00 元，折合每月 20,000.00 元。"


async def test_a_year_without_rules_is_refused_in_chinese() -> None:
    tracker = make_tracker("帮我算2030年的年终奖个税", intent="start_calculation")
    messages, events = await run(ValidateAnnualBonusForm(), tracker)
    assert slot_values(events)["tax_year"] is None
    assert messages[0]["text"].startswith("我们来计算您2026年的全年一次性奖金个人所得税")
    assert messages[-1]["text"] == (
        "抱歉，我没有2030年的税收规则数据：全年一次性奖金个人所得税目前只能计算2019年至2027年。"
        "除非您指定其中一个年份，我将按2026年计算。"
    )


async def test_a_chinese_tax_year_is_noted() -> None:
    tracker = make_tracker("是2025年的", form="annual_bonus_form", requested="bonus_amount")
    messages, events = await run(ValidateAnnualBonusForm(), tracker)
    assert events == [SlotSet("tax_year", 2025.0)]
    assert messages[0]["text"] == "已记录：我将按2025年计算全年一次性奖金个人所得税。"


@pytest.mark.parametrize("text", ["算了", "不算了", "不用了", "取消", "停", "算了吧", "不用算了"])
@pytest.mark.parametrize("intent", ["stop_form", "deny", "inform"])
async def test_chinese_cancel_words_are_never_an_answer(text: str, intent: str) -> None:
    # whatever NLU makes of it, "不用了" must not become "none" (0) for the question being asked
    await assert_slots_left_alone(text, intent)


async def test_interruptions_in_chinese() -> None:
    # a question without a question mark is left to the rules
    tracker = make_tracker("24000的社保正常吗", intent="ask_tax_question", form="annual_reconciliation_form",
                           requested="social_insurance", slots={"annual_income": 240000.0})
    assert await run(ValidateAnnualReconciliationForm(), tracker) == ([], [])
    # asking for the same calculation again
    tracker = make_tracker("我要算年终奖", intent="start_calculation", form="annual_bonus_form",
                           requested="bonus_amount")
    messages, _ = await run(ValidateAnnualBonusForm(), tracker)
    assert messages[0]["text"] == "我们正在计算您的全年一次性奖金个人所得税，请继续回答。"
