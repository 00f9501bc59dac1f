"""The guided calculators' results: run the tax calculation library on the collected slots and reply
with the working, the rules used (source and effective date) and where to file.

Every result message carries `custom.kind = "calculation"` with `result` = the library result's
`to_dict()` (inputs, steps, result, rules), so a web page can show the working as a table.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import date
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import calculator_forms as forms
from actions.taxcalc import (
    AnnualIncome,
    CalculationResult,
    MonthlyPayroll,
    RuleNotInForceError,
    RulesDataError,
    annual_bonus_tax,
    annual_iit,
    bonus_cliff_check,
    cumulative_withholding,
    small_scale_vat,
)
from actions.taxcalc.money import format_money, format_rate

logger = logging.getLogger(__name__)

ESTIMATE_NOTE = "This is an estimate from the figures you gave, not a tax assessment."
WHERE_TO_FILE = {
    "annual_reconciliation": (
        "File the annual reconciliation between 1 March and 30 June of the following year in the IIT app "
        "(个人所得税 App) or on the natural-person e-tax bureau website; the app pre-fills your income and "
        "withholding. For your personal case, call the 12366 hotline."
    ),
    "monthly_withholding": (
        "Your employer withholds and files this tax each month; you can check every month's withholding and "
        "declare your special additional deductions in the IIT app (个人所得税 App). For your personal case, "
        "call the 12366 hotline."
    ),
    "annual_bonus": (
        "Your employer withholds the tax on the bonus; at the annual reconciliation you can switch the bonus "
        "between separate and combined taxation in the IIT app (个人所得税 App). For your personal case, call "
        "the 12366 hotline."
    ),
    "small_scale_vat": (
        "File and pay VAT and the surcharges on the Beijing e-tax bureau (electronic tax bureau) by the 15th of "
        "the month after the period (holidays extend the deadline). For your case, call the 12366 hotline."
    ),
}


# ------------------------------------------------------------------------------- calculation


def tax_year_of(slots: Mapping[str, Any]) -> int:
    year = slots.get(forms.YEAR_SLOT)
    return int(year) if year else forms.default_tax_year()


def period_date(period: str, year: int) -> date:
    """A day of the VAT period: today in the current year, otherwise the year's last period."""
    now = forms.today()
    if year == now.year:
        return now
    return date(year, 12, 31)


def _amount(slots: Mapping[str, Any], name: str) -> Decimal:
    value = slots.get(name)
    return Decimal(str(value)) if value is not None else Decimal(0)


def calculate(calculator: str, slots: Mapping[str, Any], year: int) -> Tuple[CalculationResult, Dict[str, Any]]:
    """The library result for `calculator` and the payload's `result` (its to_dict, adapted where said).

    RuleNotInForceError when the rules data has no figures for `year`.
    """
    if calculator == "annual_reconciliation":
        monthly_sad = _amount(slots, "special_additional")
        income = AnnualIncome(
            salary=_amount(slots, "annual_income"),
            special_deductions=_amount(slots, "social_insurance"),
            # a declared monthly total, not the itemised facts: passed as a deduction "as given"
            other_deductions=monthly_sad * 12,
            tax_withheld=_amount(slots, "tax_withheld"),
        )
        annual = annual_iit(income, year)
        data = annual.to_dict()
        data["inputs"]["special_additional_per_month"] = format(monthly_sad, "f")
        for step in data["steps"]:
            if step["label"] == "Other deductions":
                step["label"] = "Special additional deductions"
                step["explanation"] = f"{format_money(monthly_sad)} a month as you declared x 12 months"
        if "other" in data["deductions"]:
            data["deductions"]["special_additional"] = data["deductions"].pop("other")
        return annual, data
    if calculator == "monthly_withholding":
        month = int(slots.get("withholding_month") or 1)
        pay = MonthlyPayroll(
            salary=_amount(slots, "monthly_salary"),
            special_deductions=_amount(slots, "monthly_social_insurance"),
            special_additional_deductions=_amount(slots, "monthly_special_additional"),
        )
        withholding = cumulative_withholding([pay] * month, year, first_month=1)
        return withholding, withholding.to_dict()
    if calculator == "annual_bonus":
        bonus = annual_bonus_tax(_amount(slots, "bonus_amount"), year)
        return bonus, bonus.to_dict()
    if calculator == "small_scale_vat":
        period = slots.get("vat_period") or "quarter"
        vat = small_scale_vat(_amount(slots, "sales_amount"), period, period_date(period, year))
        return vat, vat.to_dict()
    raise ValueError(f"unknown calculator {calculator!r}")


def dry_run(calculator: str, year: int) -> None:
    """Raises RuleNotInForceError when the rules data cannot serve `calculator` in `year`."""
    slots = {"annual_income": 1, "monthly_salary": 1, "withholding_month": 12, "bonus_amount": 1,
             "sales_amount": 1, "vat_period": "quarter"}
    calculate(calculator, slots, year)
    if calculator == "annual_bonus":
        bonus_cliff_check(Decimal(1), year)


# ------------------------------------------------------------------------------------ replies


def money_text(value: Any) -> str:
    return f"{format_money(Decimal(str(value)))} yuan"


def step_value(step: Mapping[str, Any]) -> str:
    value = Decimal(step["value"])
    if step["kind"] == "rate":
        return format_rate(value)
    if step["kind"] == "count":
        return str(int(value))
    return format_money(value)


def working_lines(steps: List[Mapping[str, Any]]) -> List[str]:
    return [f"- {s['label']}: {step_value(s)} ({s['explanation']})" for s in steps]


def rule_line(rule: Mapping[str, Any]) -> str:
    line = f"- {rule['title']}: {rule['authority']}, {rule['document']}"
    if rule.get("article"):
        line += f", {rule['article']}"
    line += f" (effective {rule['valid_from']}"
    if rule.get("valid_to"):
        line += f", applies until {rule['valid_to']}"
    return line + ")"


def sources(data: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The rules used, in the shape of the knowledge answers' `sources`."""
    items = []
    for rule in data.get("rules", []):
        source: Dict[str, Any] = {
            "rule_id": rule["rule_id"],
            "title": rule["title"],
            "authority": rule["authority"],
            "document": rule["document"],
            "effective_date": rule["valid_from"],
        }
        if rule.get("article"):
            source["article"] = rule["article"]
        if rule.get("valid_to"):
            source["expires"] = rule["valid_to"]
        items.append(source)
    return items


def _headline(calculator: str, result: CalculationResult, data: Mapping[str, Any], year: int,
              slots: Mapping[str, Any]) -> Tuple[str, List[str], Dict[str, Any]]:
    """(headline, extra lines, summary figures) for one calculator's result."""
    extra: List[str] = []
    r = result  # typed per calculator below
    if calculator == "annual_reconciliation":
        outcome = r.outcome  # type: ignore[attr-defined]
        balance = abs(r.balance)  # type: ignore[attr-defined]
        if outcome == "refund":
            headline = f"Estimated {year} annual reconciliation: a refund of {money_text(balance)}."
        elif outcome == "due":
            headline = f"Estimated {year} annual reconciliation: you would owe {money_text(balance)}."
            if r.may_skip_payment:  # type: ignore[attr-defined]
                extra.append(
                    "Because your income or the amount due is under the exemption limits, you may not have to "
                    "pay it (unless your employer failed to withhold tax)."
                )
        else:
            headline = f"Estimated {year} annual reconciliation: no refund and nothing to pay."
        headline += (
            f" Taxable income {money_text(r.taxable_income)}, rate {format_rate(r.rate)}, "  # type: ignore[attr-defined]
            f"quick deduction {money_text(r.quick_deduction)}, annual tax {money_text(r.annual_tax)}, "  # type: ignore[attr-defined]
            f"already withheld {money_text(r.tax_withheld)}."  # type: ignore[attr-defined]
        )
        summary = {
            "taxable_income": data["taxable_income"], "rate": data["rate"], "quick_deduction": data["quick_deduction"],
            "tax": data["annual_tax"], "tax_withheld": data["tax_withheld"], "outcome": outcome,
            "refund": format(balance, "f") if outcome == "refund" else "0.00",
            "amount_due": format(balance, "f") if outcome == "due" else "0.00",
        }
        return headline, extra, summary
    if calculator == "monthly_withholding":
        month = r.months[-1]  # type: ignore[attr-defined]
        name = date(2000, month.month, 1).strftime("%B")
        headline = (
            f"Estimated withholding for {name} {year}: {money_text(month.withheld)}."
            f" Cumulative taxable income for months 1 to {month.month} is {money_text(month.cumulative_taxable)}"
            f" (income {money_text(month.cumulative_income)} less deductions {money_text(month.cumulative_deductions)}),"
            f" rate {format_rate(month.rate)}, quick deduction {money_text(month.quick_deduction)}, cumulative tax"
            f" {money_text(month.cumulative_tax)}, less {money_text(month.previously_withheld)} withheld in earlier months."
        )
        extra.append("This assumes the same pay and deductions every month since January with the same employer.")
        summary = {
            "month": month.month, "taxable_income": format(month.cumulative_taxable, "f"),
            "rate": format(month.rate, "f"), "quick_deduction": format(month.quick_deduction, "f"),
            "tax": format(month.cumulative_tax, "f"), "previously_withheld": format(month.previously_withheld, "f"),
            "withheld_this_month": format(month.withheld, "f"),
        }
        return headline, extra, summary
    if calculator == "annual_bonus":
        headline = (
            f"Tax on an annual bonus of {money_text(r.bonus)} taxed separately in {year}: {money_text(r.tax)}"  # type: ignore[attr-defined]
            f" (bonus / 12 = {money_text(r.monthly_average)}, rate {format_rate(r.rate)},"  # type: ignore[attr-defined]
            f" quick deduction {money_text(r.quick_deduction)}); you keep {money_text(r.net)}."  # type: ignore[attr-defined]
        )
        summary = {
            "taxable_income": data["bonus"], "rate": data["rate"], "quick_deduction": data["quick_deduction"],
            "tax": data["tax"], "net": data["net"],
        }
        return headline, extra, summary
    if calculator == "small_scale_vat":
        period = r.period  # type: ignore[attr-defined]
        if r.exempt:  # type: ignore[attr-defined]
            headline = (
                f"Sales of {money_text(r.sales)} for the {period} are not above the {money_text(r.threshold)}"  # type: ignore[attr-defined]
                f" exemption threshold: no VAT and no surcharges."
            )
        else:
            headline = (
                f"VAT for the {period}: {money_text(r.vat)} ({money_text(r.sales)} x {format_rate(r.levy_rate)}),"  # type: ignore[attr-defined]
                f" surcharges (halved for small-scale taxpayers) {money_text(r.surcharge_total)},"  # type: ignore[attr-defined]
                f" total {money_text(r.total)}."  # type: ignore[attr-defined]
            )
        extra.append("This assumes the sales exclude VAT and the business is in an urban district of Beijing.")
        summary = {
            "taxable_income": data["sales"], "rate": data["levy_rate"], "tax": data["vat"],
            "surcharges": data["surcharge_total"], "total": data["total"], "exempt": data["exempt"],
        }
        return headline, extra, summary
    raise ValueError(f"unknown calculator {calculator!r}")


def cliff_warning(bonus: Decimal, year: int) -> Tuple[Optional[str], Dict[str, Any]]:
    """A warning when the bonus sits just above a bracket cliff, and the cliff check's to_dict."""
    check = bonus_cliff_check(bonus, year)
    data = check.to_dict()
    if check.in_dead_zone and check.threshold is not None:
        return (
            f"Warning: this bonus is just above the {money_text(check.threshold)} cliff, where one more yuan "
            f"raises the rate. A bonus of {money_text(check.recommended_bonus)} would leave you "
            f"{money_text(check.extra_net)} more after tax: any bonus above {money_text(check.threshold)} and below "
            f"{money_text(check.zone_end)} leaves you less after tax than a bonus of exactly "
            f"{money_text(check.threshold)}.",
            data,
        )
    return None, data


def result_message(calculator: str, slots: Mapping[str, Any], year: int) -> Dict[str, Any]:
    """The reply for a finished calculator: text with the working, rules and filing note, and payload."""
    result, data = calculate(calculator, slots, year)
    headline, extra, summary = _headline(calculator, result, data, year, slots)
    custom: Dict[str, Any] = {
        "kind": "calculation",
        "calculator": calculator,
        "tax_year": year,
        "summary": summary,
        "result": data,
        "sources": sources(data),
        "estimate": True,
        "where_to_file": WHERE_TO_FILE[calculator],
    }
    if calculator == "annual_bonus":
        warning, cliff = cliff_warning(Decimal(data["bonus"]), year)
        custom["cliff"] = cliff
        custom["cliff_warning"] = warning
        if warning:
            extra.insert(0, warning)
    steps = data["steps"]
    if calculator == "monthly_withholding":
        # the month asked about; the payload keeps every month's line
        steps = [s for s in steps if not s["label"].startswith("Month ") or s is steps[-2]]
    parts = [headline, *extra, "", "How it is worked out:", *working_lines(steps), "", "Rules used:"]
    parts += [rule_line(rule) for rule in data["rules"]]
    parts += ["", f"{ESTIMATE_NOTE} {WHERE_TO_FILE[calculator]}"]
    return {"text": "\n".join(parts).replace("\n\n\n", "\n\n"), "custom": custom}


def no_rules_message(calculator: str, year: int, error: Exception) -> Dict[str, Any]:
    calc = forms.CALCULATORS[calculator]
    years = forms.supported_years(calculator)
    text = (
        f"Sorry, I can't work out the {calc.title} for {year}: my tax rules data has no figures for that year "
        f"(it covers {forms.years_text(years)} for this calculation). Please try one of those years, or call the "
        "12366 hotline."
    )
    return {"text": text, "custom": {"kind": "calculation", "calculator": calculator, "tax_year": year,
                                     "result": None, "error": "no_rules_for_year", "detail": str(error)}}


def reset_events() -> List[EventType]:
    """Clears every calculator slot so that the next calculation starts afresh."""
    slots = ("calculator", forms.YEAR_SLOT, "requested_slot", *forms.ALL_CALCULATOR_SLOTS)
    return [SlotSet(slot, None) for slot in slots]


class CalculateAction(Action, ABC):
    """Replies with a finished calculator's result (one subclass per calculator)."""

    @property
    @abstractmethod
    def calculator_name(self) -> str:
        """The calculator (a class attribute in each subclass)."""

    def name(self) -> Text:
        return f"action_calculate_{self.calculator_name}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        slots = dict(tracker.slots)
        year = tax_year_of(slots)
        try:
            message = result_message(self.calculator_name, slots, year)
        except RuleNotInForceError as error:
            logger.info("No rules for %s in %s: %s", self.calculator_name, year, error)
            message = no_rules_message(self.calculator_name, year, error)
        except (ValueError, RulesDataError) as error:
            logger.exception("Calculation %s failed", self.calculator_name)
            message = {
                "text": "Sorry, I couldn't complete that calculation. Please check the figures and try again, "
                "or call the 12366 hotline.",
                "custom": {"kind": "calculation", "calculator": self.calculator_name, "tax_year": year,
                           "result": None, "error": "calculation_failed", "detail": str(error)},
            }
        dispatcher.utter_message(**message)
        return reset_events()


class CalculateAnnualReconciliation(CalculateAction):
    calculator_name = "annual_reconciliation"


class CalculateMonthlyWithholding(CalculateAction):
    calculator_name = "monthly_withholding"


class CalculateAnnualBonus(CalculateAction):
    calculator_name = "annual_bonus"


class CalculateSmallScaleVat(CalculateAction):
    calculator_name = "small_scale_vat"


def stopped_calculator(tracker: Tracker) -> Optional[str]:
    """The calculator whose form was active last (the `calculator` slot when no form is found)."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "active_loop" and event.get("name"):
            name = str(event["name"])
            if name.endswith("_form") and name[: -len("_form")] in forms.CALCULATORS:
                return name[: -len("_form")]
    calculator = tracker.get_slot("calculator")
    return calculator if calculator in forms.CALCULATORS else None


class CancelCalculation(Action):
    """Stops a calculator at the taxpayer's request and forgets its figures."""

    def name(self) -> Text:
        return "action_cancel_calculation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        calculator = stopped_calculator(tracker)
        calc = forms.CALCULATORS.get(calculator) if calculator else None
        what = f"the {calc.title}" if calc else "the calculation"
        dispatcher.utter_message(
            text=f"OK, I've stopped {what} and forgotten the figures. Ask me a tax question, or start a "
            "calculation again whenever you like.",
            custom=forms.form_payload(calculator, None, "cancelled"),
        )
        return reset_events()
