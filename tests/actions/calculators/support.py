"""Shared helpers of the calculator tests: messages parsed as NLU would, a real Tracker, the actions run.

Messages are parsed by the project's own entity component (as NLU would), so amounts reach the
actions as `amount` entities with their period role.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Type

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.calculators.results import (
    CalculateAction,
    CalculateAnnualBonus,
    CalculateAnnualReconciliation,
    CalculateMonthlyWithholding,
    CalculateSmallScaleVat,
)
from actions.calculators.validation import (
    CalculatorFormValidation,
    ValidateAnnualBonusForm,
    ValidateAnnualReconciliationForm,
    ValidateMonthlyWithholdingForm,
    ValidateSmallScaleVatForm,
)
from nlu.components.tax_entities import DEFAULT_PATTERNS, build_pipeline, extract

ROOT = Path(__file__).resolve().parents[3]
DOMAIN: Dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
#: The day the tests run on (the `fixed_today` fixture in conftest.py).
TODAY = date(2026, 11, 23)

VALIDATORS: Dict[str, Type[CalculatorFormValidation]] = {
    "annual_reconciliation": ValidateAnnualReconciliationForm,
    "monthly_withholding": ValidateMonthlyWithholdingForm,
    "annual_bonus": ValidateAnnualBonusForm,
    "small_scale_vat": ValidateSmallScaleVatForm,
}
CALCULATE_ACTIONS: Dict[str, Type[CalculateAction]] = {
    "annual_reconciliation": CalculateAnnualReconciliation,
    "monthly_withholding": CalculateMonthlyWithholding,
    "annual_bonus": CalculateAnnualBonus,
    "small_scale_vat": CalculateSmallScaleVat,
}


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


async def run(action: Action, tracker: Tracker) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    json.dumps(dispatcher.messages)  # everything a client receives is JSON
    return dispatcher.messages, events


def slot_values(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The last value each SlotSet event gives."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def assert_slots_left_alone(text: str, intent: str) -> None:
    """Mid-form, `text` (classified as `intent`) sets no slot and says nothing: the rules take over."""
    tracker = make_tracker(text, intent=intent, form="annual_reconciliation_form", requested="social_insurance",
                           slots={"annual_income": 240000.0})
    messages, events = await run(ValidateAnnualReconciliationForm(), tracker)
    assert events == [] and messages == []


# ----------------------------------------------------------------------------------- in Chinese
#
# Every text the taxpayer sees comes from the catalogue in the reply's language (the message's own,
# else the `language` slot).

ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
#: English words a Chinese reply may contain (the app's own name).
ALLOWED_IN_CHINESE = {"App"}


def english_left(text: str) -> set:
    return set(ENGLISH_WORD.findall(text)) - ALLOWED_IN_CHINESE


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


def format_money_text(value: float) -> str:
    return f"{value:,.2f} 元"
