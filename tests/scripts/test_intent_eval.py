"""The before/after intent evaluation (scripts/intent_eval.py): its test lines, overlap dropping and scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.evaluation import EvalSet
from nlu.parse import normalise
from scripts.intent_eval import EvalLine, drop_seen, eval_lines, score, table


@pytest.mark.parametrize(("text", "expected"), [
    ("  How much   TAX on\tmy bonus? ", "how much tax on my bonus?"),
    ("I earned [5000](amount) in [2025](year)", "i earned 5000 in 2025"),
    ('what is [IIT]{"entity": "tax_type", "value": "iit"} ', "what is iit"),
    ("个税  汇算 [年终奖](tax_type)", "个税 汇算 年终奖"),
])
def test_normalise_removes_markup_case_and_spacing(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_a_line_seen_in_either_training_set_is_dropped() -> None:
    lines = [
        EvalLine("Hello there", "greet", "en"),                    # in the old data, other case
        EvalLine("talk to  a human", "request_human", "en"),       # in the new data, other spacing
        EvalLine("I paid 5000 in 2025", "ask_tax_question", "en"),  # the new data has it with markup
        EvalLine("转人工", "request_human", "zh"),                   # in neither
        EvalLine("hello there, bot", "greet", "en"),               # only similar: kept
    ]
    before = ["hello there", "bye"]
    after = ["Talk to a human", "I paid [5000](amount) in [2025](year)"]
    kept, dropped = drop_seen(lines, before, after)
    assert [line.text for line in kept] == ["转人工", "hello there, bot"]
    assert [line.text for line in dropped] == ["Hello there", "talk to  a human", "I paid 5000 in 2025"]


def test_scores_per_gold_intent() -> None:
    gold = ["greet", "greet", "greet", "request_human", "request_human", "ask_tax_question", "ask_tax_question"]
    got = ["greet", "greet", "goodbye", "request_human", "out_of_scope", "out_of_scope", "greet"]
    scores = score(gold, got)
    two_thirds = pytest.approx(2 / 3, abs=1e-4)
    assert scores["intents"]["greet"] == {"support": 3, "precision": two_thirds, "recall": two_thirds,
                                          "f1": two_thirds}
    assert scores["intents"]["request_human"] == {"support": 2, "precision": 1.0, "recall": 0.5, "f1": two_thirds}
    assert scores["intents"]["ask_tax_question"] == {"support": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    # predicted-only intents (goodbye, out_of_scope) are no rows and do not enter the means
    assert set(scores["intents"]) == {"greet", "request_human", "ask_tax_question"}
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3, abs=1e-4)
    assert scores["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 2 / 3 + 0) / 7, abs=1e-4)
    assert scores["n"] == 7
    assert scores["out_of_scope_share"] == {"request_human": 0.5, "ask_tax_question": 0.5}
    assert scores["predicted"]["ask_tax_question"] == {"out_of_scope": 1, "greet": 1}


def test_a_language_without_training_data_scores_zero_not_an_error() -> None:
    scores = score(["greet", "thanks"], ["nlu_fallback", "nlu_fallback"])
    assert (scores["weighted_f1"], scores["macro_f1"]) == (0.0, 0.0)
    assert scores["out_of_scope_share"] == {}
    assert scores["fallback_share"] == 1.0
    with pytest.raises(ValueError):
        score(["greet"], [])


def test_the_table_puts_before_and_after_side_by_side() -> None:
    before = {"zh": score(["greet", "request_human"], ["nlu_fallback", "out_of_scope"])}
    after = {"zh": score(["greet", "request_human"], ["greet", "request_human"])}
    rows = table({"before": before, "after": after}).splitlines()
    assert "| zh | greet | 1 | 0.000 | 0.000 | 0.000 | 1.000 | 1.000 | 1.000 |" in rows
    assert "| zh | **macro F1** | | | | 0.000 | | | 1.000 |" in rows
    assert "| zh | request_human → out_of_scope | 1 | | | 1.000 | | | 0.000 |" in rows
    assert "| zh | any → nlu_fallback | 2 | | | 0.500 | | | 0.000 |" in rows


def test_the_lines_are_small_talk_then_dev_questions_and_off_topic(tmp_path: Path) -> None:
    smalltalk = tmp_path / "smalltalk.yml"
    smalltalk.write_text('lines:\n  - {text: "你好", intent: greet, lang: zh}\n'
                         '  - {text: "a person please", intent: request_human, lang: en}\n', encoding="utf-8")
    assert eval_lines(smalltalk, languages=()) == [EvalLine("你好", "greet", "zh"),
                                                   EvalLine("a person please", "request_human", "en")]
    lines = eval_lines(smalltalk, languages=("zh",))
    dev = EvalSet.for_language("zh")
    assert len(lines) == 2 + len(dev.questions) + len(dev.off_topic)
    assert EvalLine(dev.questions[0][0], "ask_tax_question", "zh") in lines
    assert EvalLine(dev.off_topic[0], "out_of_scope", "zh") in lines
