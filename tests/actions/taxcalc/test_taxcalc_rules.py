"""The rules data file: it validates, every rule the calculators read exists, selection by year."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from actions.taxcalc import iit, vat
from actions.taxcalc.rules import (
    DEFAULT_RULES_PATH,
    RuleNotInForceError,
    RulesDataError,
    load_rules,
    parse_rules,
    supported_years,
)


@pytest.fixture(scope="module")
def raw() -> Dict[str, Any]:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_data_file_validates_and_has_every_rule_the_calculators_use() -> None:
    rules = load_rules()
    for rule_id in iit.RULE_IDS + vat.RULE_IDS:
        assert rules.versions(rule_id), rule_id


def test_every_version_names_authority_and_document() -> None:
    for versions in load_rules().rules.values():
        for version in versions:
            assert version.source.authority and version.source.document
            ref = version.ref().to_dict()
            assert ref["valid_from"] == version.valid_from.isoformat()


def test_known_figures() -> None:
    rules = load_rules()
    table = rules.for_year("iit.comprehensive_income.rate_table", 2024).brackets
    assert [b.rate for b in table] == [
        Decimal(x) for x in ("0.03", "0.1", "0.2", "0.25", "0.3", "0.35", "0.45")
    ]
    assert [b.quick_deduction for b in table] == [0, 2520, 16920, 31920, 52920, 85920, 181920]
    assert rules.for_year("iit.basic_deduction", 2019).number() == 60000
    assert rules.for_year("iit.other.personal_pension", 2023).number() == 12000
    assert rules.for_year("iit.other.commercial_health_insurance", 2019).number() == 2400
    assert rules.for_year("iit.special_additional.housing_rent", 2024).get("tier_1") == 1500


def test_selection_by_tax_year() -> None:
    rules = load_rules()
    children = "iit.special_additional.children_education"
    assert rules.for_year(children, 2022).number() == 1000
    assert rules.for_year(children, 2023).number() == 2000
    elderly = "iit.special_additional.elderly_support"
    assert rules.for_year(elderly, 2022).get("sibling_share_cap") == 1000
    assert rules.for_year(elderly, 2023).get("sibling_share_cap") == 1500
    bonus = "iit.annual_bonus.monthly_rate_table"
    assert "2021 No. 42" in rules.for_year(bonus, 2023).source.document
    assert "2023 No. 30" in rules.for_year(bonus, 2027).source.document
    assert rules.on("vat.small_scale.reduced_levy_rate", date(2027, 12, 31)).number() == Decimal("0.01")


def test_missing_year_is_a_clear_error() -> None:
    rules = load_rules()
    with pytest.raises(RuleNotInForceError, match=r"tax year 2018.*covers 2019-01-01"):
        rules.for_year("iit.comprehensive_income.rate_table", 2018)
    with pytest.raises(RuleNotInForceError, match="2028"):
        rules.for_year("iit.annual_bonus.monthly_rate_table", 2028)
    with pytest.raises(RuleNotInForceError, match="tax year 2021; the data covers 2022-01-01"):
        rules.for_year("iit.special_additional.infant_care", 2021)
    with pytest.raises(RuleNotInForceError, match="2028-01-01"):
        rules.on("vat.small_scale.reduced_levy_rate", date(2028, 1, 1))
    assert not rules.has_year("iit.other.personal_pension", 2021)


def test_rule_changing_mid_year_refuses_a_whole_year_answer(raw: Dict[str, Any]) -> None:
    data = _break(raw, "iit.special_additional.children_education", 0, valid_to=date(2022, 6, 30))
    data["rules"]["iit.special_additional.children_education"]["versions"][1]["valid_from"] = date(2022, 7, 1)
    rules = parse_rules(data)
    with pytest.raises(RuleNotInForceError, match="changes during tax year 2022"):
        rules.for_year("iit.special_additional.children_education", 2022)
    assert rules.on("iit.special_additional.children_education", date(2022, 7, 1)).number() == 2000


def test_unknown_rule_is_a_data_error() -> None:
    with pytest.raises(RulesDataError, match="no rule"):
        load_rules().versions("iit.no_such_rule")


def test_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(RulesDataError, match="cannot read"):
        load_rules(tmp_path / "missing.yml")


def _break(raw: Dict[str, Any], rule_id: str, version: int, **changes: Any) -> Dict[str, Any]:
    data = copy.deepcopy(raw)
    data["rules"][rule_id]["versions"][version].update(changes)
    return data


def test_inconsistent_quick_deduction_is_rejected(raw: Dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["rules"]["iit.comprehensive_income.rate_table"]["versions"][0]["brackets"][1][
        "quick_deduction"
    ] = 2250
    with pytest.raises(RulesDataError, match="quick deduction of bracket 2 is inconsistent"):
        parse_rules(data)


def test_overlapping_versions_are_rejected(raw: Dict[str, Any]) -> None:
    data = _break(raw, "iit.special_additional.children_education", 0, valid_to=date(2023, 6, 30))
    with pytest.raises(RulesDataError, match="overlaps"):
        parse_rules(data)


def test_unknown_source_is_rejected(raw: Dict[str, Any]) -> None:
    data = _break(raw, "iit.basic_deduction", 0, source="made_up")
    with pytest.raises(RulesDataError, match="made_up"):
        parse_rules(data)


def test_rate_above_one_is_rejected(raw: Dict[str, Any]) -> None:
    data = _break(raw, "surcharge.education", 0, value=3)
    with pytest.raises(RulesDataError, match="between 0 and 1"):
        parse_rules(data)


def test_missing_valid_to_is_rejected(raw: Dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    del data["rules"]["iit.basic_deduction"]["versions"][0]["valid_to"]
    with pytest.raises(RulesDataError, match="valid_to"):
        parse_rules(data)


def test_values_must_keep_their_names_across_versions(raw: Dict[str, Any]) -> None:
    data = _break(raw, "iit.special_additional.elderly_support", 1, values={"only_child": 3000})
    with pytest.raises(RulesDataError, match="same names"):
        parse_rules(data)


def test_supported_years_are_the_years_a_calculation_finds_its_rules_in_force() -> None:
    rules = load_rules()
    assert supported_years(lambda year: iit.annual_bonus_tax(Decimal(1), year, rules)) == tuple(range(2019, 2028))
    assert supported_years(lambda year: rules.for_year(iit.BONUS_TABLE, year), years=[2018, 2019, 2030]) == (2019,)


def test_supported_years_does_not_hide_broken_rules_data() -> None:
    def broken(year: int) -> None:
        raise RulesDataError(f"bad data for {year}")

    with pytest.raises(RulesDataError):
        supported_years(broken)
