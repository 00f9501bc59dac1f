"""The calculator forms' questions: "which calculation?" and one ask action per form slot.

Rasa asks for a form's next slot by running `action_ask_<slot>`; these actions word the question in
the reply's language, naming the tax year, with the form payload (`custom.kind = "form"`,
`status = "asking"`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from abc import ABC, abstractmethod
from typing import Callable, Dict, List, Optional, Text, Tuple, Type

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import replies
from actions.calculators.catalog import SLOT_TO_CALCULATOR, YEAR_SLOT, default_tax_year, form_payload
from actions.language import reply_language
from knowledge.catalogue import text as phrase
from knowledge.routing import Reach, decision, reach
from knowledge.service import KnowledgeService, get_service

#: The calculators offered by "which calculation?", in order (button titles: calc.choice.<name>).
CHOICES: Tuple[str, ...] = ("annual_reconciliation", "monthly_withholding", "annual_bonus", "small_scale_vat")


class AskWhichCalculator(Action):
    """Asks which calculation the taxpayer wants, with one button per calculator.

    Figures outside a calculation that the knowledge base answers with certainty ("首套房契税1%还是1.5%",
    which the NLU reads as `inform`) get that answer instead (`knowledge.routing`).
    (A custom action rather than a response: Rasa would try to fill the payloads' braces as slots.)
    """

    def __init__(
        self, service: Optional[KnowledgeService] = None, clock: Optional[Callable[[], dt.date]] = None
    ) -> None:
        self._service = service
        self._clock = clock or dt.date.today

    def name(self) -> Text:
        """`action_ask_calculator`."""
        return "action_ask_calculator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the question with its buttons (sets no slot), or the knowledge base's sure answer."""
        language = reply_language(tracker)
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        text = (message.get("text") or "").strip()
        route = reach(intent, message.get("entities") or [])
        if text and not text.startswith("/") and route is Reach.SURE:
            service = self._service or get_service()
            result = await asyncio.get_running_loop().run_in_executor(None, service.search, text, language)
            if decision(result, route) == "answer" and result.best is not None:
                dispatcher.utter_message(**replies.retrieval_answer(result, language, self._clock()))
                return [SlotSet("failed_turns", 0), SlotSet("last_article_id", result.best.article.id)]
        buttons = [
            {
                "title": phrase(f"calc.choice.{name}", language),
                "payload": '/start_calculation{"calculator": "%s"}' % name,
            }
            for name in CHOICES
        ]
        dispatcher.utter_message(
            text=phrase("calc.choice.prompt", language),
            buttons=buttons,
            custom=form_payload(None, "calculator", "asking", options=list(CHOICES)),
        )
        return []


class AskForSlot(Action, ABC):
    """Asks for one slot of a calculator form (`action_ask_<slot>`), naming the tax year."""

    @property
    @abstractmethod
    def slot_name(self) -> str:
        """The slot asked for (a class attribute in each subclass)."""

    def name(self) -> Text:
        """`action_ask_<slot>`, the name Rasa asks for the slot by."""
        return f"action_ask_{self.slot_name}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the slot's question for the form's tax year; sets no slot."""
        calc = SLOT_TO_CALCULATOR[self.slot_name]
        spec = calc.field(self.slot_name)
        year = tracker.get_slot(YEAR_SLOT)
        shown_year = int(year) if year else default_tax_year()
        dispatcher.utter_message(
            text=spec.question(reply_language(tracker), shown_year),
            custom=form_payload(calc.name, self.slot_name, "asking", tax_year=shown_year),
        )
        return []


# ------------------------------------------------------------------ annual reconciliation


class AskAnnualIncome(AskForSlot):
    """`action_ask_annual_income`."""

    slot_name = "annual_income"


class AskSocialInsurance(AskForSlot):
    """`action_ask_social_insurance`."""

    slot_name = "social_insurance"


class AskSpecialAdditional(AskForSlot):
    """`action_ask_special_additional`."""

    slot_name = "special_additional"


class AskTaxWithheld(AskForSlot):
    """`action_ask_tax_withheld`."""

    slot_name = "tax_withheld"


# -------------------------------------------------------------------- monthly withholding


class AskMonthlySalary(AskForSlot):
    """`action_ask_monthly_salary`."""

    slot_name = "monthly_salary"


class AskMonthlySocialInsurance(AskForSlot):
    """`action_ask_monthly_social_insurance`."""

    slot_name = "monthly_social_insurance"


class AskMonthlySpecialAdditional(AskForSlot):
    """`action_ask_monthly_special_additional`."""

    slot_name = "monthly_special_additional"


class AskWithholdingMonth(AskForSlot):
    """`action_ask_withholding_month`."""

    slot_name = "withholding_month"


# --------------------------------------------------------------------------- annual bonus


class AskBonusAmount(AskForSlot):
    """`action_ask_bonus_amount`."""

    slot_name = "bonus_amount"


# ------------------------------------------------------------------------ small-scale VAT


class AskSalesAmount(AskForSlot):
    """`action_ask_sales_amount`."""

    slot_name = "sales_amount"


class AskVatPeriod(AskForSlot):
    """`action_ask_vat_period`."""

    slot_name = "vat_period"


#: The ask action of each form slot.
ASK_ACTIONS: Dict[str, Type[AskForSlot]] = {
    action.slot_name: action
    for action in (
        AskAnnualIncome, AskSocialInsurance, AskSpecialAdditional, AskTaxWithheld,
        AskMonthlySalary, AskMonthlySocialInsurance, AskMonthlySpecialAdditional, AskWithholdingMonth,
        AskBonusAmount,
        AskSalesAmount, AskVatPeriod,
    )
}
