"""The guided calculators' actions with a real Tracker and CollectingDispatcher (Rasa-demo style).

Messages are parsed by the project's own entity component (as NLU would), so amounts reach the
actions as `amount` entities with their period role.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import calculator_forms as forms
from actions import calculators
from actions.calculator_forms import (
    ValidateAnnualBonusForm,
    ValidateAnnualReconciliationForm,
    ValidateMonthlyWithholdingForm,
    ValidateSmallScaleVatForm,
)
from actions.taxcalc import AnnualIncome, MonthlyPayroll, annual_bonus_tax, annual_iit, cumulative_withholding
from knowledge.catalogue import MESSAGES_DIR, catalogue
from nlu.components.tax_entities import DEFAULT_PATTERNS, build_pipeline, extract

ROOT = Path(__file__).resolve().parents[2]
DOMAIN: Dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "today", lambda: TODAY)


def parse(text: str, intent: str) -> Dict[str, Any]:
    entities = extract(build_pipeline(str(DEFAULT_PATTERNS)), text)
    return {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities}


def make_tracker(
    text: str,
    intent: str = "inform",
    slots: Optional[Dict[str, Any]] = None,
    form: Optional[str] = None,
    requested: Optional[str] = None,
    events: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    message = parse(text, intent)
    all_slots: Dict[str, Any] = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    all_slots["requested_slot"] = requested
    history = list(events or [])
    if form:  # the form was activated by an earlier message
        history += [{"event": "action", "name": form}, {"event": "active_loop", "name": form}]
    return Tracker(
        sender_id="taxpayer-1",
        slots=all_slots,
        latest_message=message,
        events=history + [{"event": "user", "text": text, "parse_data": message}],
        paused=False,
        followup_action=None,
        active_loop={"name": form} if form else {},
        latest_action_name="action_listen",
    )


async def run(action: Any, tracker: Tracker):  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    json.dumps(dispatcher.messages)  # everything a client receives is JSON
    return dispatcher.messages, events


def slot_values(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The last value each SlotSet event gives."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# ------------------------------------------------------------------------ collecting figures


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


async def test_a_start_without_figures_is_introduced() -> None:
    tracker = make_tracker("estimate my annual tax refund", intent="start_calculation")
    messages, _ = await run(ValidateAnnualReconciliationForm(), tracker)
    assert messages[0]["custom"] == {
        "kind": "form", "calculator": "annual_reconciliation", "slot": None, "status": "started"
    }
    assert "4 more figures" in messages[0]["text"] and "stop" in messages[0]["text"]


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
     ("3", "withholding_month", 3.0), ("month 12", "withholding_month", 12.0), ("no", "monthly_special_additional", 0.0)],
)
async def test_monthly_answers(text: str, slot: str, expected: float) -> None:
    intent = "deny" if text == "no" else "inform"
    tracker = make_tracker(text, intent=intent, form="monthly_withholding_form", requested=slot)
    _, events = await run(ValidateMonthlyWithholdingForm(), tracker)
    assert slot_values(events)[slot] == expected


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


# -------------------------------------------------------------------------- impossible values


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


# ------------------------------------------------------------------------ interruptions, stop


@pytest.mark.parametrize(
    "text, intent",
    [("what is the basic deduction?", "ask_tax_question"), ("stop", "stop_form"), ("cancel", "stop_form"),
     ("is 24,000 social insurance normal for beijing?", "ask_tax_question"), ("blorp zzzt", "nlu_fallback")],
)
async def test_questions_and_stop_leave_the_slots_alone_so_the_form_rejects(text: str, intent: str) -> None:
    await assert_slots_left_alone(text, intent)


async def assert_slots_left_alone(text: str, intent: str) -> None:
    """Mid-form, `text` (classified as `intent`) sets no slot and says nothing: the rules take over."""
    tracker = make_tracker(text, intent=intent, form="annual_reconciliation_form", requested="social_insurance",
                           slots={"annual_income": 240000.0})
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert events == [] and messages == []


async def test_another_calculator_asked_for_mid_form_is_left_to_the_rules() -> None:
    tracker = make_tracker("how much vat do i pay on my sales", intent="start_calculation",
                           form="annual_bonus_form", requested="bonus_amount")
    _, events = await run(ValidateAnnualBonusForm(), tracker)
    assert events == []


# ------------------------------------------------------------------------------- tax year


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


# ------------------------------------------------------------------------------- questions


async def test_activation_is_recognised_even_when_rasa_already_marks_the_form_active() -> None:
    # Rasa may send the tracker with the form already active at activation: the history decides
    tracker = make_tracker("calculate my annual bonus tax please", intent="start_calculation")
    tracker.active_loop = {"name": "annual_bonus_form"}
    messages, _ = await run(ValidateAnnualBonusForm(), tracker)
    assert messages[0]["custom"]["status"] == "started"


async def test_which_calculator_offers_one_button_each() -> None:
    messages, events = await run(forms.AskWhichCalculator(), make_tracker("calculate my tax", "start_calculation"))
    assert events == []
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads == ['/start_calculation{"calculator": "%s"}' % name for name in forms.CALCULATORS]
    assert messages[0]["custom"]["kind"] == "form" and messages[0]["custom"]["slot"] == "calculator"


async def test_the_questions_carry_the_form_payload_and_the_year() -> None:
    tracker = make_tracker("240k", slots={"tax_year": 2025.0}, form="annual_reconciliation_form")
    messages, events = await run(forms.ASK_ACTIONS["social_insurance"](), tracker)
    assert events == []
    assert messages[0]["custom"] == {
        "kind": "form", "calculator": "annual_reconciliation", "slot": "social_insurance", "status": "asking",
        "tax_year": 2025,
    }
    assert "2025" in messages[0]["text"]


def test_every_form_slot_has_a_question_and_a_validation_and_is_in_the_domain() -> None:
    actions = set(DOMAIN["actions"])
    for calculator in forms.CALCULATORS.values():
        assert DOMAIN["forms"][calculator.form]["required_slots"] == list(calculator.slots)
        assert f"validate_{calculator.form}" in actions
        for slot in calculator.slots:
            assert f"action_ask_{slot}" in actions and slot in DOMAIN["slots"]
        validator = {
            "annual_reconciliation": ValidateAnnualReconciliationForm,
            "monthly_withholding": ValidateMonthlyWithholdingForm,
            "annual_bonus": ValidateAnnualBonusForm,
            "small_scale_vat": ValidateSmallScaleVatForm,
        }[calculator.name]
        assert validator().name() == f"validate_{calculator.form}"
        assert all(hasattr(validator, f"validate_{slot}") for slot in calculator.slots)
        assert f"action_calculate_{calculator.name}" in actions
    assert set(DOMAIN["slots"]["calculator"]["values"]) == set(forms.CALCULATORS)


def test_the_action_server_registers_every_custom_action_of_the_domain() -> None:
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")  # raises if an action class cannot be instantiated
    custom = {a for a in DOMAIN["actions"] if a.startswith(("action_", "validate_"))}
    calculator_actions = {a for a in custom if "calculat" in a or a.startswith(("validate_", "action_ask_"))}
    assert calculator_actions <= set(executor.actions)


# ----------------------------------------------------------------------------------- results


async def result_of(calculator: str, slots: Dict[str, Any]):  # type: ignore[no-untyped-def]
    action = {
        "annual_reconciliation": calculators.CalculateAnnualReconciliation,
        "monthly_withholding": calculators.CalculateMonthlyWithholding,
        "annual_bonus": calculators.CalculateAnnualBonus,
        "small_scale_vat": calculators.CalculateSmallScaleVat,
    }[calculator]()
    messages, events = await run(action, make_tracker("12,000", slots=slots))
    assert len(messages) == 1
    assert SlotSet("calculator", None) in events and SlotSet("requested_slot", None) in events
    assert all(SlotSet(slot, None) in events for slot in forms.ALL_CALCULATOR_SLOTS)
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
    messages, result = await run(calculators.CancelCalculation(), tracker)
    assert messages[0]["custom"] == {"kind": "form", "calculator": "monthly_withholding", "slot": None,
                                     "status": "cancelled"}
    assert "monthly withholding" in messages[0]["text"]
    assert SlotSet("monthly_salary", None) in result


# ================================================================================ in Chinese
#
# The same actions with Chinese messages: every text the taxpayer sees comes from the catalogue in
# the reply's language (the message's own, else the `language` slot).

ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
#: English words a Chinese reply may contain (the app's own name).
ALLOWED_IN_CHINESE = {"App"}


def english_left(text: str) -> set:
    return set(ENGLISH_WORD.findall(text)) - ALLOWED_IN_CHINESE


def _flat_keys(value: Any, prefix: str = "") -> set:
    if isinstance(value, dict):
        keys: set = set()
        for key, inner in value.items():
            keys |= _flat_keys(inner, f"{prefix}.{key}" if prefix else str(key))
        return keys
    return {prefix}


def test_the_calculator_catalogue_files_have_the_same_keys() -> None:
    en = _flat_keys(yaml.safe_load((MESSAGES_DIR / "calculators.en.yml").read_text(encoding="utf-8")))
    zh = _flat_keys(yaml.safe_load((MESSAGES_DIR / "calculators.zh.yml").read_text(encoding="utf-8")))
    assert en == zh
    assert en and all(key.startswith("calc.") for key in en)


def test_every_chinese_calculator_text_has_the_placeholders_of_the_english_one() -> None:
    en, zh = catalogue("en"), catalogue("zh")
    for key in (k for k in en if k.startswith("calc.")):
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", zh[key])), key


async def chinese_conversation(calculator: str, opening: str, answers: Dict[str, str]):  # type: ignore[no-untyped-def]
    """Starts `calculator` with `opening`, then for each slot the form asks: the question, the answer.

    Returns (every text the bot said, the slots at the end, the result message)."""
    validator = {
        "annual_reconciliation": ValidateAnnualReconciliationForm,
        "monthly_withholding": ValidateMonthlyWithholdingForm,
        "annual_bonus": ValidateAnnualBonusForm,
        "small_scale_vat": ValidateSmallScaleVatForm,
    }[calculator]()
    form = forms.CALCULATORS[calculator].form
    slots: Dict[str, Any] = {"language": "zh"}
    said: List[str] = []
    messages, events = await run(validator, make_tracker(opening, intent="start_calculation", slots=slots))
    said += [m["text"] for m in messages]
    slots.update(slot_values(events))
    last = opening
    for slot in forms.CALCULATORS[calculator].slots:
        if slots.get(slot) is not None:
            continue
        messages, _ = await run(forms.ASK_ACTIONS[slot](), make_tracker(last, slots=slots, form=form))
        said += [m["text"] for m in messages]
        assert messages[0]["custom"]["slot"] == slot
        last = answers[slot]
        intent = "deny" if last.startswith("没有") else "inform"
        messages, events = await run(validator, make_tracker(last, intent=intent, slots=slots, form=form, requested=slot))
        said += [m["text"] for m in messages]
        slots.update(slot_values(events))
        assert slots.get(slot) is not None, (slot, last, said)
    action = {
        "annual_reconciliation": calculators.CalculateAnnualReconciliation,
        "monthly_withholding": calculators.CalculateMonthlyWithholding,
        "annual_bonus": calculators.CalculateAnnualBonus,
        "small_scale_vat": calculators.CalculateSmallScaleVat,
    }[calculator]()
    messages, _ = await run(action, make_tracker(last, slots=slots))
    return said, slots, messages[0]


def assert_all_chinese(message: Dict[str, Any]) -> None:
    """No English left in the text, the working, the result label or the rules of a result."""
    assert not english_left(message["text"]), english_left(message["text"])
    result = message["custom"]["result"]
    for step in result["steps"]:
        assert not english_left(step["label"] + step["explanation"]), step
    assert not english_left(result["result_label"])
    for source in message["custom"]["sources"]:
        assert not english_left(" ".join(str(v) for k, v in source.items() if k != "rule_id")), source
    assert not english_left(message["custom"]["where_to_file"])


async def test_annual_reconciliation_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "annual_reconciliation", "帮我估算一下年度汇算能退多少税",
        {"annual_income": "24万", "social_insurance": "每月2000", "special_additional": "两千",
         "tax_withheld": "已经预缴了1.2万"},
    )
    assert said[0].startswith("我们来计算您2026年的综合所得年度汇算估算") and "4项" in said[0]
    assert "全年的税前工资薪金收入" in said[1] and "2026年" in said[1]
    assert "社会保险和住房公积金" in said[2]
    assert "每月 2,000.00 元，折合每年 24,000.00 元" in said[3]  # the note on the conversion
    assert "专项附加扣除" in said[4] and "个人所得税App" in said[5] and len(said) == 6
    assert all(not english_left(text) for text in said), said
    assert slots["annual_income"] == 240000.0 and slots["social_insurance"] == 24000.0
    assert slots["special_additional"] == 2000.0 and slots["tax_withheld"] == 12000.0
    custom = result["custom"]
    assert custom["summary"]["refund"] == "1320.00" and custom["language"] == "zh"
    assert custom["result"]["result"] == "-1320.00"  # the same figures as in English
    text = result["text"]
    for words in ("2026年度综合所得汇算估算：可退税 1,320.00 元", "应纳税所得额 132,000.00 元", "税率 10%",
                  "速算扣除数 2,520.00 元", "计算过程：", "- 专项附加扣除：24,000.00（按您申报的每月 2,000.00 × 12个月）",
                  "依据的规定：", "《中华人民共和国个人所得税法》", "2019-01-01起适用", "估算", "个人所得税App",
                  "自然人电子税务局"):
        assert words in text, words
    assert [s["label"] for s in custom["result"]["steps"]][:2] == ["工资、薪金所得", "综合所得收入额"]
    assert_all_chinese(result)


async def test_annual_reconciliation_amount_due_in_chinese() -> None:
    said, _, result = await chinese_conversation(
        "annual_reconciliation", "我要算个税汇算，年薪40万",
        {"social_insurance": "没有", "special_additional": "没有专项附加", "tax_withheld": "一万"},
    )
    assert "需补税 43,080.00 元" in result["text"] and "需要补税" in result["text"]
    assert result["custom"]["summary"]["amount_due"] == "43080.00"
    assert_all_chinese(result)


async def test_monthly_withholding_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "monthly_withholding", "我想算本月工资预扣的个税，月薪2万",
        {"monthly_social_insurance": "2200", "monthly_special_additional": "三千", "withholding_month": "三月"},
    )
    assert slots["monthly_salary"] == 20000.0
    assert slots["withholding_month"] == 11.0  # "本月" in the first message: November (today is fixed)
    assert said[0].startswith("我们来计算您2026年的工资薪金每月预扣预缴估算") and "2项" in said[0]
    assert "每月从您工资中扣缴的社会保险和住房公积金" in said[1]
    assert all(not english_left(text) for text in said), said
    assert "2026年11月预扣预缴税额估算" in result["text"]
    assert_all_chinese(result)


async def test_monthly_withholding_result_for_march_in_chinese() -> None:
    slots = {"monthly_salary": 20000.0, "monthly_social_insurance": 2200.0, "monthly_special_additional": 3000.0,
             "withholding_month": 3.0, "language": "zh"}
    messages, _ = await run(calculators.CalculateMonthlyWithholding(), make_tracker("三月", slots=slots))
    message = messages[0]
    assert message["custom"]["summary"]["withheld_this_month"] == "294.00"
    assert "2026年3月预扣预缴税额估算：294.00 元" in message["text"]
    assert "1月至3月累计预扣预缴应纳税所得额为 29,400.00 元" in message["text"]
    assert "- 3月预扣预缴税额：294.00" in message["text"] and "- 1月预扣预缴税额" not in message["text"]
    labels = [s["label"] for s in message["custom"]["result"]["steps"]]
    assert labels == ["每月基本减除费用", "1月预扣预缴税额", "2月预扣预缴税额", "3月预扣预缴税额", "累计预扣预缴税额"]
    assert_all_chinese(message)


async def test_annual_bonus_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "annual_bonus", "帮我算一下年终奖要交多少税", {"bonus_amount": "3.7万"},
    )
    assert said[1] == "全年一次性奖金（税前）是多少？例如“50000”或“5万”。"
    assert slots["bonus_amount"] == 37000.0
    text = result["text"]
    assert "2026年全年一次性奖金 37,000.00 元 单独计税，应纳税额 3,490.00 元" in text
    assert "税后到手 33,510.00 元" in text
    assert "提示：这笔奖金刚好超过 36,000.00 元 的临界点" in text and "多得 1,410.00 元" in text
    assert result["custom"]["result"]["tax"] == "3490.00" and result["custom"]["cliff"]["in_dead_zone"] is True
    assert not english_left(" ".join(s["label"] + s["explanation"] for s in result["custom"]["cliff"]["steps"]))
    assert_all_chinese(result)


async def test_small_scale_vat_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "small_scale_vat", "小规模纳税人增值税怎么算，这个季度卖了35万", {"vat_period": "按季"},
    )
    assert slots["sales_amount"] == 350000.0 and slots["vat_period"] == "quarter"
    text = result["text"]
    assert "本季度应纳增值税 3,500.00 元（350,000.00 元 × 征收率 1%）" in text
    assert "附加税费（小规模纳税人减半征收）210.00 元，合计 3,710.00 元" in text
    assert "城市维护建设税（市区）" in text and "电子税务局" in text
    assert result["custom"]["result"]["total"] == "3710.00"
    assert_all_chinese(result)


async def test_small_scale_vat_asked_step_by_step_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "small_scale_vat", "帮我算增值税", {"sales_amount": "12万", "vat_period": "按月"},
    )
    assert "本期不含增值税的销售额是多少" in said[1] and "按月还是按季度" in said[2]
    assert "本月销售额 120,000.00 元 未超过 100,000.00 元" not in result["text"]  # 120,000 > 100,000: taxed
    assert "本月应纳增值税 1,200.00 元" in result["text"]
    assert_all_chinese(result)


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


def format_money_text(value: float) -> str:
    return f"{value:,.2f} 元"


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
         {"annual_income": 240000.0}, "300,000.00 元超过了您的全年工资薪金收入（240,000.00 元），而个人缴费是从工资中支付的"),
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
    result = await run(calculators.CalculateAnnualBonus(),
                       make_tracker("五万", slots={"bonus_amount": 50000.0, "tax_year": 2030.0}))
    message = result[0][0]
    assert message["custom"]["error"] == "no_rules_for_year"
    assert message["text"].startswith("抱歉，我无法计算2030年的全年一次性奖金个人所得税") and "2019年至2027年" in message["text"]


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


async def test_cancel_in_chinese_names_the_calculator_and_forgets_the_figures() -> None:
    events = [{"event": "active_loop", "name": "small_scale_vat_form"}, {"event": "active_loop", "name": None}]
    tracker = make_tracker("算了", intent="stop_form", slots={"sales_amount": 120000.0}, events=events)
    messages, result = await run(calculators.CancelCalculation(), tracker)
    assert messages[0]["custom"] == {"kind": "form", "calculator": "small_scale_vat", "slot": None,
                                     "status": "cancelled"}
    assert messages[0]["text"] == (
        "好的，已停止小规模纳税人增值税的计算，您提供的数据也已清除。您可以继续咨询税务问题，或随时重新开始计算。"
    )
    assert SlotSet("sales_amount", None) in result
    messages, _ = await run(calculators.CancelCalculation(), make_tracker("取消", intent="stop_form"))
    assert messages[0]["text"].startswith("好的，已停止本次计算")


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


async def test_which_calculator_in_chinese() -> None:
    messages, _ = await run(forms.AskWhichCalculator(), make_tracker("帮我算个税", "start_calculation"))
    assert messages[0]["text"] == "我可以为您估算以下四项，您想算哪一项？"
    assert [b["title"] for b in messages[0]["buttons"]] == [
        "综合所得年度汇算（退税/补税）", "本月工资预扣预缴个税", "全年一次性奖金个税", "小规模纳税人增值税"]
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads == ['/start_calculation{"calculator": "%s"}' % name for name in forms.CALCULATORS]


async def test_the_language_slot_decides_when_the_answer_has_no_words() -> None:
    tracker = make_tracker("240000", slots={"language": "zh"}, form="annual_reconciliation_form")
    messages, _ = await run(forms.ASK_ACTIONS["social_insurance"](), tracker)
    assert messages[0]["text"].startswith("您2026年个人缴纳的社会保险和住房公积金")
    tracker = make_tracker("240000", slots={"language": "en"}, form="annual_reconciliation_form")
    messages, _ = await run(forms.ASK_ACTIONS["social_insurance"](), tracker)
    assert messages[0]["text"].startswith("How much did you pay into social insurance")


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
    years = forms.supported_years(calculator)
    assert years
    for year in years:
        message = calculators.result_message(calculator, slots, year, "zh")
        assert_all_chinese(message)
        if calculator == "annual_bonus":
            cliff = message["custom"]["cliff"]
            steps = " ".join(s["label"] + s["explanation"] for s in cliff["steps"])
            assert not english_left(steps + cliff["result_label"]), year


def test_an_english_text_without_a_chinese_entry_stays_english() -> None:
    assert calculators.translated("calc.step.label", "Some new step", "zh") == "Some new step"
    assert calculators.translated("calc.step.label", "Month 7 withholding", "zh") == "7月预扣预缴税额"
    assert calculators.translated("calc.rule.article_text", "Article 11", "zh") == "第十一条"
    stale = {"rule_id": "iit.basic_deduction", "title": "A title the catalogue does not know", "authority": "x",
             "document": "y", "article": None, "valid_from": "2019-01-01", "valid_to": None}
    assert calculators.localized_rule(stale, "zh")["title"] == "A title the catalogue does not know"


async def test_a_chinese_answer_with_a_negation_is_not_a_correction() -> None:
    tracker = make_tracker("不是每个月都交，全年一共1万", form="annual_reconciliation_form", requested="social_insurance",
                           slots={"annual_income": 240000.0})
    _, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert slot_values(events) == {"social_insurance": 10000.0}
