"""The guided calculators' actions with a real Tracker and CollectingDispatcher (Rasa-demo style).

Messages are parsed by the project's own entity component (as NLU would), so amounts reach the
actions as `amount` entities with their period role.
"""

from __future__ import annotations

import json
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
