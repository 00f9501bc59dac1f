"""Load and validate knowledge/rules/tax_rules.yml and select rule versions by tax year or date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import yaml

from .money import to_decimal
from .results import RuleRef

#: The data file shipped with the project.
DEFAULT_RULES_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "rules" / "tax_rules.yml"

#: The tax years `supported_years` tries.
CANDIDATE_YEARS = range(2015, 2036)

KINDS = ("amount", "rate", "values", "brackets", "policy")
_VERSION_KEYS = {"valid_from", "valid_to", "source", "article", "notes", "value", "values", "brackets"}
_PAYLOAD_KEY = {
    "amount": "value",
    "rate": "value",
    "values": "values",
    "brackets": "brackets",
    "policy": None,
}


class RulesDataError(ValueError):
    """The rules data file is malformed; the message names the rule and the field."""


class RuleNotInForceError(LookupError):
    """No version of a rule is in force for the requested tax year or date."""


@dataclass(frozen=True)
class Source:
    """Where a rule comes from: the issuing authority and the document."""

    authority: str
    document: str


@dataclass(frozen=True)
class Bracket:
    """One row of a quick-deduction table: `up_to` inclusive (None = no upper limit)."""

    up_to: Optional[Decimal]
    rate: Decimal
    quick_deduction: Decimal

    def covers(self, amount: Decimal) -> bool:
        """True when `amount` is not above this bracket's upper limit."""
        return self.up_to is None or amount <= self.up_to


@dataclass(frozen=True)
class RuleVersion:
    """One version of a rule with its effective period and figures."""

    rule_id: str
    title: str
    kind: str
    unit: Optional[str]
    valid_from: date
    valid_to: Optional[date]
    source: Source
    article: Optional[str]
    notes: Optional[str]
    value: Optional[Decimal] = None
    values: Mapping[str, Decimal] = field(default_factory=dict)
    brackets: Tuple[Bracket, ...] = ()

    def in_force_on(self, day: date) -> bool:
        """True when `day` lies in this version's effective period."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def number(self) -> Decimal:
        """The single figure of an `amount` or `rate` rule."""
        if self.value is None:
            raise RulesDataError(f"rule {self.rule_id!r} has no single value (kind {self.kind})")
        return self.value

    def get(self, key: str) -> Decimal:
        """The figure named `key` of a `values` rule; RulesDataError when it is missing."""
        try:
            return self.values[key]
        except KeyError:
            raise RulesDataError(
                f"rule {self.rule_id!r} (from {self.valid_from}) has no value {key!r}"
            ) from None

    def ref(self) -> RuleRef:
        """A reference to this version for a calculation's `rules` list."""
        return RuleRef(
            rule_id=self.rule_id,
            title=self.title,
            authority=self.source.authority,
            document=self.source.document,
            article=self.article,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
        )


@dataclass(frozen=True)
class RuleSet:
    """All rules of the data file, each a tuple of versions in date order."""

    rules: Mapping[str, Tuple[RuleVersion, ...]]
    currency: str = "CNY"

    def versions(self, rule_id: str) -> Tuple[RuleVersion, ...]:
        """Every version of `rule_id`; RulesDataError when the rule is not in the data file."""
        try:
            return self.rules[rule_id]
        except KeyError:
            raise RulesDataError(f"the rules data has no rule {rule_id!r}") from None

    def on(self, rule_id: str, day: date) -> RuleVersion:
        """The version of `rule_id` in force on `day`; RuleNotInForceError when there is none."""
        versions = self.versions(rule_id)
        for version in versions:
            if version.in_force_on(day):
                return version
        raise RuleNotInForceError(
            f"no version of rule {rule_id!r} ({versions[0].title}) is in force on {day.isoformat()}; "
            f"the data covers {_coverage(versions)}"
        )

    def for_year(self, rule_id: str, tax_year: int) -> RuleVersion:
        """The version of `rule_id` in force for the whole of `tax_year`.

        RuleNotInForceError when no version applies on 1 January, or when the rule changes
        during the year (the calculators handle whole tax years only).
        """
        _check_year(tax_year)
        first, last = date(tax_year, 1, 1), date(tax_year, 12, 31)
        versions = self.versions(rule_id)
        for version in versions:
            if version.in_force_on(first):
                if not version.in_force_on(last):
                    raise RuleNotInForceError(
                        f"rule {rule_id!r} ({version.title}) changes during tax year {tax_year} "
                        f"(version in force on {first.isoformat()} ends {version.valid_to}); "
                        "a whole-year calculation is not possible"
                    )
                return version
        raise RuleNotInForceError(
            f"no version of rule {rule_id!r} ({versions[0].title}) is in force for tax year "
            f"{tax_year}; the data covers {_coverage(versions)}"
        )

    def has_year(self, rule_id: str, tax_year: int) -> bool:
        """True when `rule_id` has a version in force for the whole of `tax_year`."""
        try:
            self.for_year(rule_id, tax_year)
        except RuleNotInForceError:
            return False
        return True


def supported_years(dry_run: Callable[[int], object], years: Iterable[int] = CANDIDATE_YEARS) -> Tuple[int, ...]:
    """The `years` for which `dry_run(year)` (a calculation) finds every rule it uses in force."""
    covered = []
    for year in years:
        try:
            dry_run(year)
        except RuleNotInForceError:
            continue
        covered.append(year)
    return tuple(covered)


def _check_year(tax_year: int) -> None:
    if isinstance(tax_year, bool) or not isinstance(tax_year, int) or not 1900 <= tax_year <= 2999:
        raise ValueError(f"tax year must be a four-digit year, got {tax_year!r}")


def _coverage(versions: Sequence[RuleVersion]) -> str:
    spans = [
        f"{v.valid_from.isoformat()} to {v.valid_to.isoformat() if v.valid_to else 'open-ended'}"
        for v in versions
    ]
    return ", ".join(spans)


@lru_cache(maxsize=8)
def _load_cached(path: str) -> RuleSet:
    return parse_rules(yaml.safe_load(Path(path).read_text(encoding="utf-8")), origin=path)


def load_rules(path: Optional[Path] = None) -> RuleSet:
    """Read and validate the rules data file (the project's by default); cached per path."""
    target = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        return _load_cached(str(target.resolve()))
    except OSError as error:
        raise RulesDataError(f"cannot read rules data file {target}: {error}") from error
    except yaml.YAMLError as error:
        raise RulesDataError(f"rules data file {target} is not valid YAML: {error}") from error


# ----------------------------------------------------------------------------------- validation


def parse_rules(data: Any, origin: str = "<data>") -> RuleSet:
    """Validate already-parsed YAML data and build the RuleSet; RulesDataError names the problem."""
    where = f"{origin}:"
    if not isinstance(data, dict):
        raise RulesDataError(f"{where} top level must be a mapping")
    if data.get("schema_version") != 1:
        raise RulesDataError(f"{where} schema_version must be 1")
    currency = data.get("currency")
    if currency != "CNY":
        raise RulesDataError(f"{where} currency must be CNY")
    sources = _parse_sources(data.get("sources"), where)
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, dict) or not raw_rules:
        raise RulesDataError(f"{where} rules must be a non-empty mapping")
    rules: Dict[str, Tuple[RuleVersion, ...]] = {}
    for rule_id, raw in raw_rules.items():
        rules[str(rule_id)] = _parse_rule(str(rule_id), raw, sources, where)
    return RuleSet(rules=rules, currency=currency)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RulesDataError(f"{what} must be non-empty text")
    return value.strip()


def _parse_sources(raw: Any, where: str) -> Dict[str, Source]:
    if not isinstance(raw, dict) or not raw:
        raise RulesDataError(f"{where} sources must be a non-empty mapping")
    sources: Dict[str, Source] = {}
    for key, item in raw.items():
        what = f"{where} source {key!r}"
        if not isinstance(item, dict) or set(item) != {"authority", "document"}:
            raise RulesDataError(f"{what} must have exactly 'authority' and 'document'")
        sources[str(key)] = Source(
            authority=_text(item["authority"], f"{what} authority"),
            document=_text(item["document"], f"{what} document"),
        )
    return sources


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise RulesDataError(f"{what} must be a number, got {value!r}")
    try:
        number = to_decimal(value, what)
    except ValueError as error:
        raise RulesDataError(str(error)) from error
    if number < 0:
        raise RulesDataError(f"{what} must not be negative, got {value!r}")
    return number


def _rate(value: Any, what: str) -> Decimal:
    number = _number(value, what)
    if number > 1:
        raise RulesDataError(f"{what} is a rate and must be between 0 and 1, got {value!r}")
    return number


def _date(value: Any, what: str) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RulesDataError(f"{what} must be an ISO date (YYYY-MM-DD), got {value!r}")


def _parse_rule(rule_id: str, raw: Any, sources: Mapping[str, Source], where: str) -> Tuple[RuleVersion, ...]:
    what = f"{where} rule {rule_id!r}"
    if not isinstance(raw, dict):
        raise RulesDataError(f"{what} must be a mapping")
    unknown = set(raw) - {"title", "kind", "unit", "versions"}
    if unknown:
        raise RulesDataError(f"{what} has unknown fields {sorted(unknown)}")
    title = _text(raw.get("title"), f"{what} title")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RulesDataError(f"{what} kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unit = raw.get("unit")
    if unit is not None:
        unit = _text(unit, f"{what} unit")
    raw_versions = raw.get("versions")
    if not isinstance(raw_versions, list) or not raw_versions:
        raise RulesDataError(f"{what} versions must be a non-empty list")
    versions = tuple(
        _parse_version(rule_id, title, kind, unit, item, sources, f"{what} version {index + 1}")
        for index, item in enumerate(raw_versions)
    )
    for earlier, later in zip(versions, versions[1:]):
        if earlier.valid_to is None or later.valid_from <= earlier.valid_to:
            raise RulesDataError(
                f"{what}: version from {later.valid_from} overlaps the version from "
                f"{earlier.valid_from} (versions must be in date order and must not overlap)"
            )
    if kind == "values":
        keys = set(versions[0].values)
        for version in versions[1:]:
            if set(version.values) != keys:
                raise RulesDataError(
                    f"{what}: version from {version.valid_from} has values {sorted(version.values)}, "
                    f"expected the same names as the first version {sorted(keys)}"
                )
    return versions


def _parse_version(
    rule_id: str,
    title: str,
    kind: str,
    unit: Optional[str],
    raw: Any,
    sources: Mapping[str, Source],
    what: str,
) -> RuleVersion:
    if not isinstance(raw, dict):
        raise RulesDataError(f"{what} must be a mapping")
    unknown = set(raw) - _VERSION_KEYS
    if unknown:
        raise RulesDataError(f"{what} has unknown fields {sorted(unknown)}")
    payload = _PAYLOAD_KEY[kind]
    for key in ("value", "values", "brackets"):
        if key in raw and key != payload:
            raise RulesDataError(f"{what}: a {kind} rule cannot have {key!r}")
    if payload is not None and payload not in raw:
        raise RulesDataError(f"{what}: a {kind} rule needs {payload!r}")
    if "valid_from" not in raw or "valid_to" not in raw:
        raise RulesDataError(f"{what} needs valid_from and valid_to (null when open-ended)")
    valid_from = _date(raw["valid_from"], f"{what} valid_from")
    valid_to = None if raw["valid_to"] is None else _date(raw["valid_to"], f"{what} valid_to")
    if valid_to is not None and valid_to < valid_from:
        raise RulesDataError(f"{what}: valid_to {valid_to} is before valid_from {valid_from}")
    source_key = str(raw.get("source"))
    if source_key not in sources:
        raise RulesDataError(f"{what} source {source_key!r} is not one of the listed sources")
    article = None if raw.get("article") is None else _text(raw["article"], f"{what} article")
    notes = None if raw.get("notes") is None else _text(raw["notes"], f"{what} notes")
    value: Optional[Decimal] = None
    values: Dict[str, Decimal] = {}
    brackets: Tuple[Bracket, ...] = ()
    if kind == "amount":
        value = _number(raw["value"], f"{what} value")
    elif kind == "rate":
        value = _rate(raw["value"], f"{what} value")
    elif kind == "values":
        if not isinstance(raw["values"], dict) or not raw["values"]:
            raise RulesDataError(f"{what} values must be a non-empty mapping")
        values = {str(k): _number(v, f"{what} value {k!r}") for k, v in raw["values"].items()}
    elif kind == "brackets":
        brackets = _parse_brackets(raw["brackets"], what)
    return RuleVersion(
        rule_id=rule_id,
        title=title,
        kind=kind,
        unit=unit,
        valid_from=valid_from,
        valid_to=valid_to,
        source=sources[source_key],
        article=article,
        notes=notes,
        value=value,
        values=values,
        brackets=brackets,
    )


def _parse_brackets(raw: Any, what: str) -> Tuple[Bracket, ...]:
    if not isinstance(raw, list) or not raw:
        raise RulesDataError(f"{what} brackets must be a non-empty list")
    brackets = []
    for index, row in enumerate(raw):
        row_what = f"{what} bracket {index + 1}"
        if not isinstance(row, dict) or set(row) != {"up_to", "rate", "quick_deduction"}:
            raise RulesDataError(f"{row_what} must have exactly up_to, rate and quick_deduction")
        up_to = None if row["up_to"] is None else _number(row["up_to"], f"{row_what} up_to")
        brackets.append(
            Bracket(
                up_to=up_to,
                rate=_rate(row["rate"], f"{row_what} rate"),
                quick_deduction=_number(row["quick_deduction"], f"{row_what} quick_deduction"),
            )
        )
    if brackets[0].quick_deduction != 0:
        raise RulesDataError(f"{what}: the first bracket's quick deduction must be 0")
    if brackets[-1].up_to is not None:
        raise RulesDataError(f"{what}: the last bracket must have up_to null")
    for index, (lower, upper) in enumerate(zip(brackets, brackets[1:]), start=1):
        if lower.up_to is None:
            raise RulesDataError(f"{what}: only the last bracket may have up_to null")
        if upper.up_to is not None and upper.up_to <= lower.up_to:
            raise RulesDataError(f"{what}: bracket {index + 1} up_to must exceed bracket {index}'s")
        if upper.rate <= lower.rate:
            raise RulesDataError(f"{what}: bracket {index + 1} rate must exceed bracket {index}'s")
        # Quick deductions make the table continuous: both rows give the same tax at the boundary.
        at_lower = lower.up_to * lower.rate - lower.quick_deduction
        at_upper = lower.up_to * upper.rate - upper.quick_deduction
        if at_lower != at_upper:
            raise RulesDataError(
                f"{what}: quick deduction of bracket {index + 1} is inconsistent: at {lower.up_to} "
                f"bracket {index} gives {at_lower} but bracket {index + 1} gives {at_upper}"
            )
    return tuple(brackets)


def bracket_for(amount: Decimal, brackets: Sequence[Bracket]) -> Bracket:
    """The bracket of a quick-deduction table that `amount` falls in."""
    for bracket in brackets:
        if bracket.covers(amount):
            return bracket
    return brackets[-1]
