"""The calculator catalogue (actions/calculators/catalog.py) agrees with domain.yml and the message catalogue."""

from __future__ import annotations

import re
from typing import Any

import yaml

from actions.calculators.catalog import CALCULATORS
from actions.calculators.validation import (
    ValidateAnnualBonusForm,
    ValidateAnnualReconciliationForm,
    ValidateMonthlyWithholdingForm,
    ValidateSmallScaleVatForm,
)
from knowledge.catalogue import MESSAGES_DIR, catalogue
from tests.actions.calculators.support import DOMAIN


def test_every_form_slot_has_a_question_and_a_validation_and_is_in_the_domain() -> None:
    actions = set(DOMAIN["actions"])
    for calculator in CALCULATORS.values():
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
    assert set(DOMAIN["slots"]["calculator"]["values"]) == set(CALCULATORS)


def test_the_action_server_registers_every_custom_action_of_the_domain() -> None:
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")  # raises if an action class cannot be instantiated
    custom = {a for a in DOMAIN["actions"] if a.startswith(("action_", "validate_"))}
    calculator_actions = {a for a in custom if "calculat" in a or a.startswith(("validate_", "action_ask_"))}
    assert calculator_actions <= set(executor.actions)


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
