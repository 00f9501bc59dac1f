"""The guided calculators' results and cancellation (`action_calculate_<name>`, `action_cancel_calculation`).

A result runs the tax calculation library (`actions.taxcalc`) on the collected slots and replies with
the working, the rules used (source and effective date) and where to file.

Every result message carries `custom.kind = "calculation"` with `result` = the library result's
`to_dict()` (inputs, steps, result, rules), so a web page can show the working as a table.

Every text comes from the message catalogue (knowledge/messages/calculators.<lang>.yml) in the language
of the reply. The tax library and the rules data write their working and titles in English; a Chinese
reply shows the catalogue's Chinese for them: the English text is matched against the English entries
of `calc.step.*` (placeholders such as {amount} capture the figures) and rendered from the Chinese entry
of the same key, in the message text and in the payload's `result` alike.
"""

from __future__ import annotations

import copy
import logging
import re
from abc import ABC, abstractmethod
from datetime import date
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any, Dict, List, Mapping, Optional, Pattern, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.calculators import catalog
from actions.calculators.catalog import (
    ALL_CALCULATOR_SLOTS,
    CALCULATORS,
    YEAR_SLOT,
    default_tax_year,
    form_payload,
    years_text,
)
from actions.language import reply_language
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
from actions.taxcalc.rules import supported_years
from knowledge.catalogue import catalogue
from knowledge.catalogue import text as phrase

logger = logging.getLogger(__name__)


def estimate_note(language: str = "en") -> str:
    """The reminder that a result is an estimate."""
    return phrase("calc.result.estimate", language)


def where_to_file(calculator: str, language: str = "en") -> str:
    """Where and when to file for `calculator` ("File the annual reconciliation between ...")."""
    return phrase(f"calc.where.{calculator}", language)


# ------------------------------------------------------------------------------- calculation


def tax_year_of(slots: Mapping[str, Any]) -> int:
    """The tax year of the calculation: the `tax_year` slot, else the current year."""
    year = slots.get(YEAR_SLOT)
    return int(year) if year else default_tax_year()


def period_date(period: str, year: int) -> date:
    """A day of the VAT period: today in the current year, otherwise the year's last period."""
    now = catalog.today()
    if year == now.year:
        return now
    return date(year, 12, 31)


def _amount(slots: Mapping[str, Any], name: str) -> Decimal:
    value = slots.get(name)
    return Decimal(str(value)) if value is not None else Decimal(0)


def calculate(calculator: str, slots: Mapping[str, Any], year: int) -> Tuple[CalculationResult, Dict[str, Any]]:
    """The library result for `calculator` and the payload's `result` (its to_dict, adapted where said).

    The payload is in English, as the library writes it (`localized` gives it in another language).
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
                step["label"] = phrase("calc.step.label.special_additional", "en")
                step["explanation"] = phrase(
                    "calc.step.explain.special_additional_declared", "en", amount=format_money(monthly_sad)
                )
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


@lru_cache(maxsize=None)
def calculator_years(calculator: str) -> Tuple[int, ...]:
    """The tax years the rules data covers for `calculator` (its dry run finds every rule in force)."""
    return supported_years(partial(dry_run, calculator))


# ------------------------------------------------------------------- the library's English texts

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CN_DIGITS = "零一二三四五六七八九"


@lru_cache(maxsize=None)
def _patterns(group: str) -> Tuple[Tuple[Pattern[str], str], ...]:
    """The English entries under `group` ("calc.step.label") as patterns capturing their placeholders.

    The most specific (most fixed text) come first.
    """
    found = []
    prefix = group + "."
    for key, template in catalogue("en").items():
        if not key.startswith(prefix):
            continue
        regex, seen, fixed = [], set(), 0
        for index, part in enumerate(_PLACEHOLDER.split(template)):
            if index % 2 == 0:
                regex.append(re.escape(part))
                fixed += len(part)
            elif part in seen:
                regex.append(f"(?P={part})")
            else:
                seen.add(part)
                regex.append(f"(?P<{part}>.+?)")
        found.append((fixed, re.compile("".join(regex), re.DOTALL), key))
    found.sort(key=lambda item: -item[0])
    return tuple((pattern, key) for _, pattern, key in found)


def _chinese_number(number: int) -> str:
    """1-99 in Chinese numerals (6 -> 六, 11 -> 十一, 23 -> 二十三), as laws number their articles."""
    if not 0 < number < 100:
        return str(number)
    tens, units = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _CN_DIGITS[tens] + "十")
    return head + (_CN_DIGITS[units] if units else "")


def _value_in(name: str, value: str, language: str) -> str:
    """A captured placeholder in `language`.

    Words with a `calc.word.<name>.*` entry ("month" -> 月) are translated, article numbers written in
    Chinese numerals; figures stay as they are.
    """
    if name == "number" and language == "zh" and value.isdigit():
        return _chinese_number(int(value))
    prefix = f"calc.word.{name}."
    for key, english in catalogue("en").items():
        if key.startswith(prefix) and english == value:
            return phrase(key, language)
    return value


def translated(group: str, english: str, language: str) -> str:
    """`english` (a text of the tax library or the rules data) in `language`, from the catalogue.

    The entries under `group` are tried; the English text itself is returned when none matches (logged).
    """
    if language == "en" or not english:
        return english
    for pattern, key in _patterns(group):
        match = pattern.fullmatch(english)
        if match:
            values = {name: _value_in(name, value, language) for name, value in match.groupdict().items()}
            return phrase(key, language, **values)
    logger.warning("No %s text in the catalogue for %r (%s): shown in English", language, english, group)
    return english


def localized_steps(steps: List[Mapping[str, Any]], language: str) -> List[Dict[str, Any]]:
    """The working's lines with label and explanation in `language`."""
    return [
        {**step, "label": translated("calc.step.label", step["label"], language),
         "explanation": translated("calc.step.explain", step["explanation"], language)}
        for step in steps
    ]


@lru_cache(maxsize=None)
def _source_keys() -> Dict[Tuple[str, str], str]:
    """(authority, document) in English -> the `calc.source.<key>` they are catalogued under."""
    english = catalogue("en")
    keys = {}
    for key, document in english.items():
        if key.startswith("calc.source.") and key.endswith(".document"):
            base = key[: -len(".document")]
            keys[(english.get(base + ".authority", ""), document)] = base
    return keys


def localized_rule(rule: Mapping[str, Any], language: str) -> Dict[str, Any]:
    """A rule reference (RuleRef.to_dict) with title, authority, document and article in `language`.

    Each is left in English when the catalogue's English no longer matches the rules data (logged).
    """
    out = dict(rule)
    if language == "en":
        return out
    title_key = f"calc.rule.title.{rule['rule_id']}"
    if catalogue("en").get(title_key) == rule["title"]:
        out["title"] = phrase(title_key, language)
    else:
        logger.warning("No up-to-date %s title for rule %s: shown in English", language, rule["rule_id"])
    source = _source_keys().get((rule["authority"], rule["document"]))
    if source is not None:
        out["authority"] = phrase(source + ".authority", language)
        out["document"] = phrase(source + ".document", language)
    else:
        logger.warning("No %s text for the source %r: shown in English", language, rule["document"])
    if rule.get("article"):
        out["article"] = translated("calc.rule.article_text", rule["article"], language)
    return out


def localized(data: Mapping[str, Any], language: str) -> Dict[str, Any]:
    """A library result's to_dict with its working, result label and rules in `language`."""
    if language == "en":
        return dict(data)
    out = copy.deepcopy(dict(data))
    if "steps" in out:
        out["steps"] = localized_steps(out["steps"], language)
    if out.get("result_label"):
        out["result_label"] = translated("calc.step.result", out["result_label"], language)
    if "rules" in out:
        out["rules"] = [localized_rule(rule, language) for rule in out["rules"]]
    return out


# ------------------------------------------------------------------------------------ replies


def money_text(value: Any, language: str = "en") -> str:
    """'1,320.00 yuan' / '1,320.00 元'."""
    return phrase("calc.money", language, amount=format_money(Decimal(str(value))))


def step_value(step: Mapping[str, Any]) -> str:
    """A working line's figure as shown: a rate, a count or money."""
    value = Decimal(step["value"])
    if step["kind"] == "rate":
        return format_rate(value)
    if step["kind"] == "count":
        return str(int(value))
    return format_money(value)


def working_lines(steps: List[Mapping[str, Any]], language: str = "en") -> List[str]:
    """One line per step ("- Taxable income: 132,000.00 (...)"); the steps already in `language`."""
    return [
        phrase("calc.result.step", language, label=s["label"], value=step_value(s), explanation=s["explanation"])
        for s in steps
    ]


def rule_line(rule: Mapping[str, Any], language: str = "en") -> str:
    """'- <title>: <authority>, <document>, <article> (effective <date>, applies until <date>)'.

    The rule is already in `language`.
    """
    article = phrase("calc.rule.article", language, article=rule["article"]) if rule.get("article") else ""
    until = phrase("calc.rule.until", language, valid_to=rule["valid_to"]) if rule.get("valid_to") else ""
    return phrase(
        "calc.rule.line", language, title=rule["title"], authority=rule["authority"], document=rule["document"],
        article=article, valid_from=rule["valid_from"], until=until,
    )


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
              slots: Mapping[str, Any], language: str = "en") -> Tuple[str, List[str], Dict[str, Any]]:
    """(headline, extra lines, summary figures) for one calculator's result."""
    extra: List[str] = []
    r = result  # typed per calculator below

    def money(value: Any) -> str:
        return money_text(value, language)

    if calculator == "annual_reconciliation":
        outcome = r.outcome  # type: ignore[attr-defined]
        balance = abs(r.balance)  # type: ignore[attr-defined]
        figures = phrase(
            "calc.result.annual_reconciliation.figures", language,
            taxable_income=money(r.taxable_income), rate=format_rate(r.rate),  # type: ignore[attr-defined]
            quick_deduction=money(r.quick_deduction), annual_tax=money(r.annual_tax),  # type: ignore[attr-defined]
            tax_withheld=money(r.tax_withheld),  # type: ignore[attr-defined]
        )
        headline = phrase(
            f"calc.result.annual_reconciliation.{outcome}", language, year=year, balance=money(balance), figures=figures
        )
        if outcome == "due" and r.may_skip_payment:  # type: ignore[attr-defined]
            extra.append(phrase("calc.result.annual_reconciliation.may_skip", language))
        summary = {
            "taxable_income": data["taxable_income"], "rate": data["rate"], "quick_deduction": data["quick_deduction"],
            "tax": data["annual_tax"], "tax_withheld": data["tax_withheld"], "outcome": outcome,
            "refund": format(balance, "f") if outcome == "refund" else "0.00",
            "amount_due": format(balance, "f") if outcome == "due" else "0.00",
        }
        return headline, extra, summary
    if calculator == "monthly_withholding":
        month = r.months[-1]  # type: ignore[attr-defined]
        headline = phrase(
            "calc.result.monthly_withholding.headline", language,
            month_name=phrase(f"calc.month.{month.month}", language), year=year, month=month.month,
            withheld=money(month.withheld), taxable=money(month.cumulative_taxable),
            income=money(month.cumulative_income), deductions=money(month.cumulative_deductions),
            rate=format_rate(month.rate), quick_deduction=money(month.quick_deduction),
            tax=money(month.cumulative_tax), previously_withheld=money(month.previously_withheld),
        )
        extra.append(phrase("calc.result.monthly_withholding.assumption", language))
        summary = {
            "month": month.month, "taxable_income": format(month.cumulative_taxable, "f"),
            "rate": format(month.rate, "f"), "quick_deduction": format(month.quick_deduction, "f"),
            "tax": format(month.cumulative_tax, "f"), "previously_withheld": format(month.previously_withheld, "f"),
            "withheld_this_month": format(month.withheld, "f"),
        }
        return headline, extra, summary
    if calculator == "annual_bonus":
        headline = phrase(
            "calc.result.annual_bonus.headline", language,
            bonus=money(r.bonus), year=year, tax=money(r.tax),  # type: ignore[attr-defined]
            monthly_average=money(r.monthly_average), rate=format_rate(r.rate),  # type: ignore[attr-defined]
            quick_deduction=money(r.quick_deduction), net=money(r.net),  # type: ignore[attr-defined]
        )
        summary = {
            "taxable_income": data["bonus"], "rate": data["rate"], "quick_deduction": data["quick_deduction"],
            "tax": data["tax"], "net": data["net"],
        }
        return headline, extra, summary
    if calculator == "small_scale_vat":
        period = phrase(f"calc.word.period.{r.period}", language)  # type: ignore[attr-defined]
        if r.exempt:  # type: ignore[attr-defined]
            headline = phrase(
                "calc.result.small_scale_vat.exempt", language,
                sales=money(r.sales), period=period, threshold=money(r.threshold),  # type: ignore[attr-defined]
            )
        else:
            headline = phrase(
                "calc.result.small_scale_vat.taxed", language,
                period=period, vat=money(r.vat), sales=money(r.sales),  # type: ignore[attr-defined]
                rate=format_rate(r.levy_rate), surcharges=money(r.surcharge_total),  # type: ignore[attr-defined]
                total=money(r.total),  # type: ignore[attr-defined]
            )
        extra.append(phrase("calc.result.small_scale_vat.assumption", language))
        summary = {
            "taxable_income": data["sales"], "rate": data["levy_rate"], "tax": data["vat"],
            "surcharges": data["surcharge_total"], "total": data["total"], "exempt": data["exempt"],
        }
        return headline, extra, summary
    raise ValueError(f"unknown calculator {calculator!r}")


def cliff_warning(bonus: Decimal, year: int, language: str = "en") -> Tuple[Optional[str], Dict[str, Any]]:
    """A warning when the bonus sits just above a bracket cliff, and the cliff check's to_dict (in `language`)."""
    check = bonus_cliff_check(bonus, year)
    data = localized(check.to_dict(), language)
    if check.in_dead_zone and check.threshold is not None:
        return (
            phrase(
                "calc.result.annual_bonus.cliff_warning", language,
                threshold=money_text(check.threshold, language),
                recommended=money_text(check.recommended_bonus, language),
                extra=money_text(check.extra_net, language), zone_end=money_text(check.zone_end, language),
            ),
            data,
        )
    return None, data


def input_rows(inputs: Mapping[str, Any], language: str) -> List[Dict[str, Any]]:
    """The calculation's inputs as labelled rows in `language` for display (lists such as a payroll are left out)."""
    texts = catalogue(language if language in ("en", "zh") else "en")
    rows: List[Dict[str, Any]] = []
    for name, value in inputs.items():
        if isinstance(value, (list, tuple, dict)) or value is None:
            continue
        raw = str(value).lower() if isinstance(value, bool) else str(value)
        shown = texts.get(f"calc.inputs.value.{raw}", raw)
        rows.append({"name": name, "label": texts.get(f"calc.inputs.label.{name}", name), "value": shown})
    return rows


def result_message(calculator: str, slots: Mapping[str, Any], year: int, language: str = "en") -> Dict[str, Any]:
    """The reply for a finished calculator: text with the working, rules and filing note, and payload."""
    result, english = calculate(calculator, slots, year)
    data = localized(english, language)
    headline, extra, summary = _headline(calculator, result, data, year, slots, language)
    where = where_to_file(calculator, language)
    custom: Dict[str, Any] = {
        "kind": "calculation",
        "calculator": calculator,
        "tax_year": year,
        "language": language,
        "summary": summary,
        "result": data,
        "input_rows": input_rows(english["inputs"], language) if isinstance(english.get("inputs"), Mapping) else [],
        "sources": sources(data),
        "estimate": True,
        "where_to_file": where,
    }
    if calculator == "annual_bonus":
        warning, cliff = cliff_warning(Decimal(data["bonus"]), year, language)
        custom["cliff"] = cliff
        custom["cliff_warning"] = warning
        if warning:
            extra.insert(0, warning)
    steps = data["steps"]
    if calculator == "monthly_withholding":
        # the month asked about (the last month line, just before the total); the payload keeps every month's line
        last_month = len(steps) - 2
        steps = [s for i, (s, e) in enumerate(zip(steps, english["steps"]))
                 if not e["label"].startswith("Month ") or i == last_month]
    parts = [headline, *extra, "", phrase("calc.result.working", language), *working_lines(steps, language), "",
             phrase("calc.result.rules", language)]
    parts += [rule_line(rule, language) for rule in data["rules"]]
    parts += ["", phrase("calc.result.closing", language, estimate=estimate_note(language), where=where)]
    return {"text": "\n".join(parts).replace("\n\n\n", "\n\n"), "custom": custom}


def no_rules_message(calculator: str, year: int, error: Exception, language: str = "en") -> Dict[str, Any]:
    """The polite refusal when the rules data has no figures for `year`, naming the years it has."""
    calc = CALCULATORS[calculator]
    years = calculator_years(calculator)
    text = phrase(
        "calc.result.no_rules", language, title=calc.title_in(language), year=year,
        years=years_text(years, language),
    )
    return {"text": text, "custom": {"kind": "calculation", "calculator": calculator, "tax_year": year,
                                     "language": language, "result": None, "error": "no_rules_for_year",
                                     "detail": str(error)}}


def reset_events() -> List[EventType]:
    """Clears every calculator slot so that the next calculation starts afresh."""
    slots = ("calculator", YEAR_SLOT, "requested_slot", *ALL_CALCULATOR_SLOTS)
    return [SlotSet(slot, None) for slot in slots]


class CalculateAction(Action, ABC):
    """Replies with a finished calculator's result (one subclass per calculator)."""

    @property
    @abstractmethod
    def calculator_name(self) -> str:
        """The calculator (a class attribute in each subclass)."""

    def name(self) -> Text:
        """`action_calculate_<name>`."""
        return f"action_calculate_{self.calculator_name}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the result (or why there is none) and clears the calculator's slots."""
        slots = dict(tracker.slots)
        year = tax_year_of(slots)
        language = reply_language(tracker)
        try:
            message = result_message(self.calculator_name, slots, year, language)
        except RuleNotInForceError as error:
            logger.info("No rules for %s in %s: %s", self.calculator_name, year, error)
            message = no_rules_message(self.calculator_name, year, error, language)
        except (ValueError, RulesDataError) as error:
            logger.exception("Calculation %s failed", self.calculator_name)
            message = {
                "text": phrase("calc.result.failed", language),
                "custom": {"kind": "calculation", "calculator": self.calculator_name, "tax_year": year,
                           "language": language, "result": None, "error": "calculation_failed",
                           "detail": str(error)},
            }
        dispatcher.utter_message(**message)
        return reset_events()


class CalculateAnnualReconciliation(CalculateAction):
    """`action_calculate_annual_reconciliation`: the refund or amount due for the year."""

    calculator_name = "annual_reconciliation"


class CalculateMonthlyWithholding(CalculateAction):
    """`action_calculate_monthly_withholding`: the tax withheld from the month's salary."""

    calculator_name = "monthly_withholding"


class CalculateAnnualBonus(CalculateAction):
    """`action_calculate_annual_bonus`: the tax on the annual one-off bonus."""

    calculator_name = "annual_bonus"


class CalculateSmallScaleVat(CalculateAction):
    """`action_calculate_small_scale_vat`: VAT and surcharges for the month or quarter."""

    calculator_name = "small_scale_vat"


def stopped_calculator(tracker: Tracker) -> Optional[str]:
    """The calculator whose form was active last (the `calculator` slot when no form is found)."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "active_loop" and event.get("name"):
            name = str(event["name"])
            if name.endswith("_form") and name[: -len("_form")] in CALCULATORS:
                return name[: -len("_form")]
    calculator = tracker.get_slot("calculator")
    return calculator if calculator in CALCULATORS else None


class CancelCalculation(Action):
    """Stops a calculator at the taxpayer's request and forgets its figures."""

    def name(self) -> Text:
        """`action_cancel_calculation`."""
        return "action_cancel_calculation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Says which calculation was stopped and clears the calculator's slots."""
        language = reply_language(tracker)
        calculator = stopped_calculator(tracker)
        calc = CALCULATORS.get(calculator) if calculator else None
        what = (
            phrase("calc.cancel.named", language, title=calc.title_in(language)) if calc
            else phrase("calc.cancel.any", language)
        )
        dispatcher.utter_message(
            text=phrase("calc.cancel.done", language, what=what),
            custom=form_payload(calculator, None, "cancelled"),
        )
        return reset_events()
