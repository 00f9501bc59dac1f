"""The tax entity extractor (nlu/components/tax_entities.py): the entities a taxpayer's text produces."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components.tax_entities import TaxEntityExtractor


def found(message: Message) -> List[Dict[str, Any]]:
    """The entities without the extractor's name (every one carries it)."""
    entities = message.get(ENTITIES) or []
    assert all(e["extractor"] == "TaxEntityExtractor" for e in entities)
    return [{k: v for k, v in e.items() if k != "extractor"} for e in entities]


def test_amounts_in_yuan_with_the_period_as_role(parse: Callable[..., Message]) -> None:
    assert found(parse("我的salary是2.4万，每月交社保2000")) == [
        {"entity": "amount", "start": 9, "end": 13, "value": "24000"},
        {"entity": "amount", "start": 19, "end": 23, "value": "2000", "role": "month"},
        {"entity": "language", "value": "zh", "start": 0, "end": 23},
    ]
    assert found(parse("How much tax on 24,000 yuan?")) == [
        {"entity": "amount", "start": 16, "end": 27, "value": "24000"},
        {"entity": "language", "value": "en", "start": 0, "end": 28},
    ]
    assert found(parse("年薪24万、月薪2万")) == [
        {"entity": "amount", "start": 2, "end": 5, "value": "240000", "role": "year"},
        {"entity": "amount", "start": 8, "end": 10, "value": "20000", "role": "month"},
        {"entity": "language", "value": "zh", "start": 0, "end": 10},
    ]


def test_calculator_tax_type_and_year(parse: Callable[..., Message]) -> None:
    assert found(parse("my annual bonus is 36,001 yuan, how much IIT")) == [
        {"entity": "calculator", "start": 3, "end": 15, "value": "annual_bonus"},
        {"entity": "amount", "start": 19, "end": 30, "value": "36001", "role": "year"},
        {"entity": "tax_type", "start": 41, "end": 44, "value": "iit"},
        {"entity": "language", "value": "en", "start": 0, "end": 44},
    ]
    assert found(parse("年终奖5万 for 2025")) == [
        {"entity": "calculator", "start": 0, "end": 3, "value": "annual_bonus"},
        {"entity": "amount", "start": 3, "end": 5, "value": "50000"},
        {"entity": "year", "start": 10, "end": 14, "value": "2025"},
        {"entity": "language", "value": "zh", "start": 0, "end": 14},
    ]
    assert found(parse("小规模纳税人增值税 这个季度卖了35万"))[:2] == [
        {"entity": "calculator", "start": 0, "end": 9, "value": "small_scale_vat"},
        {"entity": "amount", "start": 16, "end": 19, "value": "350000", "role": "quarter"},
    ]


def test_hotline_numbers_and_years_are_not_money(parse: Callable[..., Message]) -> None:
    assert found(parse("call 12366 about the 2023 rules")) == [
        {"entity": "year", "start": 21, "end": 25, "value": "2023"},
        {"entity": "language", "value": "en", "start": 0, "end": 31},
    ]


@pytest.mark.parametrize(
    "text, metadata, language",
    [
        ("240000", {"language": "zh"}, "zh"),  # no words: the page's 中文/EN preference decides
        ("240000", None, None),
        ("ok", {"language": "fr"}, None),  # only zh and en are answered
        ("how much is the basic deduction", {"language": "zh"}, "en"),  # the text's own language wins
    ],
)
def test_the_language_entity(parse: Callable[..., Message], text: str, metadata: Any, language: Any) -> None:
    languages = [e["value"] for e in found(parse(text, metadata)) if e["entity"] == "language"]
    assert languages == ([language] if language else [])


@pytest.mark.parametrize(
    "text", ["我的salary是2.4万，每月交社保2000", "How much tax on 24,000 yuan?", "年终奖5万 for 2025", "２４０００元"]
)
def test_entities_start_and_end_on_the_tokenizers_tokens(parse: Callable[..., Message], text: str) -> None:
    # Rasa's featurizers and evaluation expect entity boundaries on token boundaries
    message = parse(text)
    starts = {t.start for t in message.get(TOKENS_NAMES[TEXT])}
    ends = {t.end for t in message.get(TOKENS_NAMES[TEXT])}
    spans = [(e["start"], e["end"]) for e in found(message) if e["entity"] != "language"]
    assert spans and all(start in starts and end in ends for start, end in spans)


def test_entities_found_earlier_in_the_pipeline_are_kept(
    make_extractor: Callable[..., TaxEntityExtractor], to_message: Callable[..., Message]
) -> None:
    message = to_message("年终奖5万")
    earlier = {"entity": "article_id", "value": "iit-bonus", "start": 0, "end": 3, "extractor": "RegexEntityExtractor"}
    message.set(ENTITIES, [earlier])
    make_extractor().process([message])
    entities = message.get(ENTITIES)
    assert entities[0] == earlier and {e["entity"] for e in entities[1:]} == {"calculator", "amount", "language"}


def test_an_empty_message_gets_no_entities(
    make_extractor: Callable[..., TaxEntityExtractor], to_message: Callable[..., Message]
) -> None:
    message = to_message("")
    make_extractor().process([message])
    assert message.get(ENTITIES) is None


def test_the_phrases_come_from_the_patterns_file(
    make_extractor: Callable[..., TaxEntityExtractor], to_message: Callable[..., Message], tmp_path: Path
) -> None:
    patterns = tmp_path / "patterns.yml"
    patterns.write_text("calculator:\n  stamp_duty: [stamp duty, 印花税]\nyears: {min: 2020, max: 2021}\n",
                        encoding="utf-8")
    message = to_message("印花税 for 2021 and for 2025")  # 2025 is outside the years of this file
    make_extractor(patterns_file=str(patterns)).process([message])
    assert [(e["entity"], e["value"]) for e in message.get(ENTITIES)] == [
        ("calculator", "stamp_duty"), ("year", "2021"), ("language", "zh")
    ]


def test_a_relative_patterns_file_is_read_from_the_project_root(
    make_extractor: Callable[..., TaxEntityExtractor], to_message: Callable[..., Message]
) -> None:
    message = to_message("年终奖5万")
    make_extractor(patterns_file="knowledge/entity_patterns.yml").process([message])
    assert [e["entity"] for e in message.get(ENTITIES)] == ["calculator", "amount", "language"]


def test_training_data_is_left_as_it_is(make_extractor: Callable[..., TaxEntityExtractor]) -> None:
    example = Message.build("年终奖5万", intent="start_calculation")
    data = TrainingData([example])
    assert make_extractor().process_training_data(data) is data and example.get(ENTITIES) is None
    assert example.get(TEXT) == "年终奖5万"
