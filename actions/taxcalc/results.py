"""Result types shared by the calculators: the working (steps), the rules used, JSON conversion."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple

from .money import format_plain, round_money

StepKind = Literal["amount", "rate", "count"]


@dataclass(frozen=True)
class Step:
    """One line of the working: a label, an amount (CNY), a rate (fraction) or a count, and why."""

    label: str
    value: Decimal
    kind: StepKind
    explanation: str

    def to_dict(self) -> Dict[str, Any]:
        """The step as JSON-able data; amounts always carry two decimals."""
        value = round_money(self.value) if self.kind == "amount" else self.value
        return {
            "label": self.label,
            "kind": self.kind,
            "value": format_plain(value),
            "explanation": self.explanation,
        }


def amount_step(label: str, value: Decimal, explanation: str) -> Step:
    """A step whose value is an amount in CNY."""
    return Step(label, value, "amount", explanation)


def rate_step(label: str, value: Decimal, explanation: str) -> Step:
    """A step whose value is a rate (a fraction, 0.03 = 3%)."""
    return Step(label, value, "rate", explanation)


def count_step(label: str, value: int, explanation: str) -> Step:
    """A step whose value is a count (months, children)."""
    return Step(label, Decimal(value), "count", explanation)


@dataclass(frozen=True)
class RuleRef:
    """Which rule version a calculation used: its id, title, source and effective period."""

    rule_id: str
    title: str
    authority: str
    document: str
    article: Optional[str]
    valid_from: date
    valid_to: Optional[date]

    def to_dict(self) -> Dict[str, Any]:
        """The reference as JSON-able data (dates as ISO strings)."""
        return _fields(self)


@dataclass(frozen=True)
class CalculationResult:
    """Common shape of every calculation: inputs, working, headline result and the rules used.

    Subclasses add typed fields for the figures a caller needs (all included by `to_dict`).
    """

    calculation: str
    inputs: Mapping[str, Any]
    steps: Tuple[Step, ...]
    result: Decimal
    result_label: str
    rules: Tuple[RuleRef, ...]

    def to_dict(self) -> Dict[str, Any]:
        """Every field as JSON-able data: Decimals and dates as strings, tuples as lists."""
        return _fields(self)


def field_values(obj: Any) -> Dict[str, Any]:
    """A dataclass instance's fields as a plain dict (values unconverted), e.g. for `inputs`."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _fields(obj: Any) -> Dict[str, Any]:
    """A dataclass instance's fields as JSON-able data."""
    return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def to_jsonable(value: Any) -> Any:
    """`value` converted recursively to JSON-able data (Decimal -> str, date -> ISO string)."""
    if isinstance(value, Step):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, Decimal):
        return format_plain(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        items: List[Any] = [to_jsonable(item) for item in value]
        return items
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot convert {type(value).__name__} to JSON-able data")


def unique_rules(rules: "list[RuleRef] | tuple[RuleRef, ...]") -> Tuple[RuleRef, ...]:
    """`rules` without repeats, in first-use order."""
    seen: Dict[Tuple[str, date], RuleRef] = {}
    for rule in rules:
        seen.setdefault((rule.rule_id, rule.valid_from), rule)
    return tuple(seen.values())
