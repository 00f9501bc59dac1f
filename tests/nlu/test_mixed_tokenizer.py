"""The mixed-script tokenizer (nlu/components/mixed_tokenizer.py): jieba for Chinese runs, words elsewhere."""

from __future__ import annotations

from typing import Callable, List, Tuple

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.components.mixed_tokenizer import MixedTokenizer


def tokens(tokenizer: MixedTokenizer, message: Message) -> List[Tuple[str, int, int]]:
    tokenizer.process([message])
    return [(t.text, t.start, t.end) for t in message.get(TOKENS_NAMES[TEXT])]


def test_chinese_is_segmented_by_jieba(tokenizer: MixedTokenizer, to_message: Callable[..., Message]) -> None:
    # the sentence of Rasa's own JiebaTokenizer test, with the same words and offsets
    assert tokens(tokenizer, to_message("我想去吃兰州拉面")) == [
        ("我", 0, 1), ("想", 1, 2), ("去", 2, 3), ("吃", 3, 4), ("兰州", 4, 6), ("拉面", 6, 8)
    ]


def test_english_words_keep_their_figures_whole(tokenizer: MixedTokenizer, to_message: Callable[..., Message]) -> None:
    assert tokens(tokenizer, to_message("How much tax on 24,000 yuan?")) == [
        ("How", 0, 3), ("much", 4, 8), ("tax", 9, 12), ("on", 13, 15), ("24,000", 16, 22), ("yuan", 23, 27)
    ]


def test_one_message_mixing_both_languages(tokenizer: MixedTokenizer, to_message: Callable[..., Message]) -> None:
    assert tokens(tokenizer, to_message("我的salary是2.4万，每月交社保2000")) == [
        ("我", 0, 1), ("的", 1, 2), ("salary", 2, 8), ("是", 8, 9), ("2.4", 9, 12), ("万", 12, 13),
        ("每月", 14, 16), ("交", 16, 17), ("社保", 17, 19), ("2000", 19, 23),
    ]
    assert tokens(tokenizer, to_message("Can I deduct rent? 我每月房租3000")) == [
        ("Can", 0, 3), ("I", 4, 5), ("deduct", 6, 12), ("rent", 13, 17),
        ("我", 19, 20), ("每月", 20, 22), ("房租", 22, 24), ("3000", 24, 28),
    ]


@pytest.mark.parametrize(
    "text",
    ["年终奖5万 for 2025", "２４０００元", "小规模纳税人增值税 这个季度卖了35万", "don't know, maybe 1.2 million?",
     "我的 salary  是 ¥5000/month"],
)
def test_every_token_is_the_text_at_its_offsets(
    tokenizer: MixedTokenizer, to_message: Callable[..., Message], text: str
) -> None:
    message = to_message(text)
    found = tokens(tokenizer, message)
    assert found
    for word, start, end in found:
        assert message.get(TEXT)[start:end] == word
    assert [start for _, start, _ in found] == sorted(start for _, start, _ in found)


def test_punctuation_alone_is_one_token(tokenizer: MixedTokenizer, to_message: Callable[..., Message]) -> None:
    assert tokens(tokenizer, to_message("？？")) == [("？？", 0, 2)]


def test_training_examples_and_their_intents_are_tokenized(tokenizer: MixedTokenizer) -> None:
    data = TrainingData([Message.build("年终奖5万", intent="start_calculation")])
    tokenizer.process_training_data(data)
    (example,) = data.training_examples
    assert [t.text for t in example.get(TOKENS_NAMES[TEXT])] == ["年终奖", "5", "万"]
    assert [t.text for t in example.get(TOKENS_NAMES[INTENT])] == ["start_calculation"]  # intents are not split
