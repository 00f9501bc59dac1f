"""The calculator forms' validation actions (`validate_<name>_form`): read the answer, check it, fill the slots.

Rasa runs a form's validation action at activation and after each answer. The action reads the
latest message (`reading.read_answer`) into the calculator's slots, checks each value (the
`validate_<slot>` methods: impossible values are refused with the reason, and the form asks again)
and keeps the tax year when the rules data covers it. A message that answers nothing (a tax
question, "stop", "算了") sets no slot: the form rejects, and the rules answer or cancel.

Every text the taxpayer sees comes from the message catalogue (knowledge/messages/calculators.<lang>.yml,
keys `calc.*`) in the language of the reply (`actions.language.reply_language`).
"""

from __future__ import annotations

from abc import abstractmethod
from decimal import Decimal
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from actions.calculators import catalog
from actions.calculators.catalog import CALCULATORS, YEAR_SLOT, Calculator, default_tax_year, form_payload, years_text
from actions.calculators.reading import ANSWER_INTENTS, NEVER_ANSWER_INTENTS, is_cancellation, read_answer
from actions.calculators.results import calculator_years
from actions.language import reply_language
from actions.taxcalc.money import format_money
from knowledge.catalogue import text as phrase

#: Amounts above this are refused as typing mistakes (10 billion yuan).
MAX_AMOUNT = Decimal("10000000000")


def loop_at_latest_message(tracker: Tracker) -> Optional[str]:
    """The form that was active when the taxpayer sent the latest message (None: none was).

    A form validation action runs at activation as well as after each answer; at activation the
    form was not active yet when the message came.
    """
    events = list(tracker.events or [])
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    loop: Optional[str] = None
    for event in events[: users[-1]] if users else events:
        if event.get("event") == "active_loop":
            loop = event.get("name") or None
        elif event.get("event") in ("restart", "session_started"):
            loop = None
    return loop


def message_before_choice(tracker: Tracker) -> Optional[Dict[str, Any]]:
    """The taxpayer's message before "which calculation?" was asked, when the latest message answers it.

    That message asked for a calculation without naming one and may hold the figures.
    """
    users = [i for i, e in enumerate(tracker.events or []) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    previous, latest = users[-2], users[-1]
    between = tracker.events[previous + 1 : latest]
    asked = any(e.get("event") == "action" and e.get("name") == "action_ask_calculator" for e in between)
    if not asked:
        return None
    event = tracker.events[previous]
    parse = dict(event.get("parse_data") or {})
    parse.setdefault("text", event.get("text") or "")
    return parse


class CalculatorFormValidation(FormValidationAction):
    """Reads the latest message into the calculator's slots and validates them.

    Subclasses name their calculator; the `validate_<slot>` methods hold the per-slot checks. Every
    message is in the reply's language (`reply_language`).
    """

    @property
    @abstractmethod
    def calculator_name(self) -> str:
        """The calculator this form belongs to (a class attribute in each subclass)."""

    @property
    def calculator(self) -> Calculator:
        """The calculator's catalogue entry."""
        return CALCULATORS[self.calculator_name]

    def name(self) -> Text:
        """`validate_<name>_form`, the name Rasa calls the form's validation by."""
        return f"validate_{self.calculator.form}"

    def _say(self, dispatcher: CollectingDispatcher, text: str, slot: Optional[str], status: str) -> None:
        dispatcher.utter_message(text=text, custom=form_payload(self.calculator_name, slot, status))

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Reads the latest message into the form's slots, checks them and says what was noted or refused."""
        calc = self.calculator
        language = reply_language(tracker)
        today = catalog.today()
        message = tracker.latest_message or {}
        activating = loop_at_latest_message(tracker) != calc.form
        requested = None if activating else tracker.get_slot(REQUESTED_SLOT)
        filled = {slot: tracker.get_slot(slot) for slot in calc.slots}
        reading = read_answer(calc, message, requested, activating, language, filled, today=today)
        first_message = len(dispatcher.messages)
        if activating:
            earlier = message_before_choice(tracker)
            if earlier is not None:
                # "calculate the tax on an 80k bonus" -> which calculator? -> [bonus button]: keep the 80k
                before = read_answer(calc, earlier, None, True, language, today=today)
                before.values.update(reading.values)
                before.notes.update(reading.notes)
                before.problems.update(reading.problems)
                before.year = reading.year if reading.year is not None else before.year
                reading = before
        events: List[EventType] = []

        def set_slot(slot: str, value: Any) -> None:
            events.append(SlotSet(slot, value))
            tracker.slots[slot] = value

        if activating:
            # a fresh start: nothing from an earlier, unfinished run of this calculator is kept
            for slot in calc.slots:
                set_slot(slot, None)
            set_slot(YEAR_SLOT, None)
        elif reading.empty:
            intent = ((message.get("intent") or {}).get("name")) or ""
            if intent in NEVER_ANSWER_INTENTS or intent not in ANSWER_INTENTS:
                return []  # the form rejects; the rules answer the question or cancel
            if is_cancellation(message.get("text") or ""):
                return []  # "算了" / "stop" whatever the intent: never an answer, the rules cancel
            entity_calculators = {
                e.get("value") for e in message.get("entities") or [] if e.get("entity") == "calculator"
            }
            if intent in ("start_calculation", "inform") and entity_calculators - {calc.name}:
                return []  # another calculator was asked for: the rules switch to it
            if intent == "nlu_fallback":
                return []  # not understood: the knowledge action decides, then the form asks again
            if requested in calc.slots:
                spec = calc.field(requested)
                if intent == "start_calculation":
                    text = phrase("calc.form.already_started", language, title=calc.title_in(language))
                else:
                    text = phrase(
                        "calc.form.not_understood", language, label=spec.label(language), hint=spec.hint(language)
                    )
                self._say(dispatcher, text, requested, "invalid")
                set_slot(requested, None)
            return events

        if reading.year is not None:
            self._apply_year(reading.year, dispatcher, set_slot, language, announce=not activating)

        for slot, value in reading.values.items():
            previous_value = tracker.get_slot(slot)
            validate = getattr(self, f"validate_{slot}")
            result = validate(value, dispatcher, tracker, domain)
            new_value = result.get(slot)
            set_slot(slot, new_value)
            if new_value is None:
                continue
            note = reading.notes.get(slot)
            label = calc.field(slot).label(language)
            if not activating and previous_value is not None and previous_value != new_value:
                self._say(
                    dispatcher,
                    phrase(
                        "calc.form.changed", language, label=label, value=self._show(slot, new_value, language),
                        previous=self._show(slot, previous_value, language),
                    ),
                    slot,
                    "updated",
                )
            elif note:
                self._say(dispatcher, phrase("calc.form.noted", language, label=label, note=note), slot, "noted")
        for slot, reason in reading.problems.items():
            self._refuse_in(dispatcher, slot, reason, language)
            set_slot(slot, None)
        if activating:
            self._introduce(dispatcher, tracker, first_message, language)
        return events

    def _introduce(self, dispatcher: CollectingDispatcher, tracker: Tracker, position: int, language: str) -> None:
        """At activation, when questions will follow: what this calculator does and how to stop."""
        calc = self.calculator
        missing = [slot for slot in calc.slots if tracker.slots.get(slot) is None]
        if not missing:
            return  # every figure was in the first message: the result follows at once
        year = tracker.slots.get(YEAR_SLOT)
        shown_year = int(year) if year else default_tax_year()
        count = len(missing)
        text = phrase(
            "calc.form.started_many" if count > 1 else "calc.form.started_one", language,
            title=calc.title_in(language), year=shown_year, count=count,
        )
        dispatcher.messages.insert(position, {
            "text": text, "buttons": [], "elements": [], "custom": form_payload(calc.name, None, "started"),
            "template": None, "response": None, "image": None, "attachment": None,
        })

    def _apply_year(
        self, year: int, dispatcher: CollectingDispatcher, set_slot: Any, language: str = "en", announce: bool = False
    ) -> None:
        years = calculator_years(self.calculator_name)
        title = self.calculator.title_in(language)
        if year in years:
            set_slot(YEAR_SLOT, float(year))
            if announce:
                noted = phrase("calc.form.year_noted", language, title=title, year=year)
                self._say(dispatcher, noted, YEAR_SLOT, "noted")
            return
        set_slot(YEAR_SLOT, None)
        self._say(
            dispatcher,
            phrase(
                "calc.form.year_refused", language, year=year, title=title, years=years_text(years, language),
                default_year=default_tax_year(),
            ),
            YEAR_SLOT,
            "invalid",
        )

    @staticmethod
    def _show(slot: str, value: Any, language: str = "en") -> str:
        if slot == "withholding_month":
            return phrase(f"calc.month.{int(value)}", language)
        if slot == "vat_period":
            return phrase(f"calc.show.vat_period.{value}", language)
        return phrase("calc.money", language, amount=format_money(Decimal(str(value))))

    # ------------------------------------------------------------------ shared checks

    def _refuse_in(self, dispatcher: CollectingDispatcher, slot: str, reason: str, language: str) -> Dict[Text, Any]:
        label = self.calculator.field(slot).label(language)
        self._say(dispatcher, phrase("calc.form.refused", language, label=label, reason=reason), slot, "invalid")
        return {slot: None}

    def _refuse(
        self, dispatcher: CollectingDispatcher, slot: str, tracker: Tracker, reason: str, **values: Any
    ) -> Dict[Text, Any]:
        """Says why the answer for `slot` cannot be used (`reason` a key under calc.reason) and clears it."""
        language = reply_language(tracker)
        return self._refuse_in(dispatcher, slot, phrase(f"calc.reason.{reason}", language, **values), language)

    def _check_amount(
        self, value: Any, dispatcher: CollectingDispatcher, slot: str, tracker: Tracker, at_most: Optional[str] = None
    ) -> Dict[Text, Any]:
        """`{slot: value}` for a usable amount, else `{slot: None}` after saying why it is refused.

        Usable: not negative, above zero unless the field allows zero, not absurdly large, and when
        `at_most` (another slot) is given not above that slot's value (the reason is the catalogue's
        calc.reason.why.<slot>).
        """
        if value is None:
            return {slot: None}
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            return self._refuse(dispatcher, slot, tracker, "not_a_number")
        if not amount.is_finite():
            return self._refuse(dispatcher, slot, tracker, "not_a_number")
        spec = self.calculator.field(slot)
        if amount < 0:
            return self._refuse(dispatcher, slot, tracker, "negative")
        if amount == 0 and not spec.allow_zero:
            return self._refuse(dispatcher, slot, tracker, "zero")
        if amount > MAX_AMOUNT:
            return self._refuse(dispatcher, slot, tracker, "too_large", amount=format_money(amount))
        if at_most is not None:
            limit = tracker.get_slot(at_most)
            if limit is not None and amount > Decimal(str(limit)):
                language = reply_language(tracker)
                return self._refuse(
                    dispatcher, slot, tracker, "above_limit",
                    amount=format_money(amount), other=self.calculator.field(at_most).label(language),
                    limit=format_money(Decimal(str(limit))), why=phrase(f"calc.reason.why.{slot}", language),
                )
        return {slot: float(amount)}


class ValidateAnnualReconciliationForm(CalculatorFormValidation):
    """Validates the annual reconciliation form (`validate_annual_reconciliation_form`)."""

    calculator_name = "annual_reconciliation"

    def validate_annual_income(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The year's salary income: an amount above zero."""
        return self._check_amount(value, dispatcher, "annual_income", tracker)

    def validate_social_insurance(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The year's social insurance: zero or more, not above the income."""
        return self._check_amount(value, dispatcher, "social_insurance", tracker, at_most="annual_income")

    def validate_special_additional(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The monthly special additional deductions: zero or more."""
        return self._check_amount(value, dispatcher, "special_additional", tracker)

    def validate_tax_withheld(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The tax withheld during the year: zero or more, not above the income."""
        return self._check_amount(value, dispatcher, "tax_withheld", tracker, at_most="annual_income")


class ValidateMonthlyWithholdingForm(CalculatorFormValidation):
    """Validates the monthly withholding form (`validate_monthly_withholding_form`)."""

    calculator_name = "monthly_withholding"

    def validate_monthly_salary(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The monthly salary: an amount above zero."""
        return self._check_amount(value, dispatcher, "monthly_salary", tracker)

    def validate_monthly_social_insurance(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The monthly social insurance: zero or more, not above the salary."""
        return self._check_amount(value, dispatcher, "monthly_social_insurance", tracker, at_most="monthly_salary")

    def validate_monthly_special_additional(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The monthly special additional deductions: zero or more."""
        return self._check_amount(value, dispatcher, "monthly_special_additional", tracker)

    def validate_withholding_month(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The month of the tax year: a whole number from 1 to 12."""
        if value is None:
            return {"withholding_month": None}
        try:
            month = float(value)
        except (TypeError, ValueError):
            return self._refuse(dispatcher, "withholding_month", tracker, "name_a_month")
        if month != int(month) or not 1 <= month <= 12:
            return self._refuse(dispatcher, "withholding_month", tracker, "months_1_to_12")
        return {"withholding_month": float(int(month))}


class ValidateAnnualBonusForm(CalculatorFormValidation):
    """Validates the annual bonus form (`validate_annual_bonus_form`)."""

    calculator_name = "annual_bonus"

    def validate_bonus_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The bonus: an amount above zero."""
        return self._check_amount(value, dispatcher, "bonus_amount", tracker)


class ValidateSmallScaleVatForm(CalculatorFormValidation):
    """Validates the small-scale VAT form (`validate_small_scale_vat_form`)."""

    calculator_name = "small_scale_vat"

    def validate_sales_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The period's sales: an amount above zero."""
        return self._check_amount(value, dispatcher, "sales_amount", tracker)

    def validate_vat_period(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The filing period: "month" or "quarter"."""
        if value in ("month", "quarter"):
            return {"vat_period": value}
        if value is None:
            return {"vat_period": None}
        return self._refuse(dispatcher, "vat_period", tracker, "vat_period")
