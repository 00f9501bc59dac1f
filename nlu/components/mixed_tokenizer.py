"""A Rasa tokenizer for Chinese, English and both in one message: jieba for Chinese runs, words elsewhere."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from knowledge.text import CJK

# A run of Chinese characters, or one word of letters/digits (with inner . , ' for 2.4 / 24,000 / don't).
_WORD = r"[0-9A-Za-z\u00c0-\u024f\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]+"
_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|" + _WORD + r"(?:[.,']" + _WORD + r")*")


def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(60)
    return jieba


def split_mixed(text: str) -> List[Token]:
    """Tokens with character offsets: jieba words inside Chinese runs, whole words elsewhere."""
    tokens: List[Token] = []
    for match in _RUN.finditer(text):
        run, start = match.group(), match.start()
        if CJK.match(run):
            for word, begin, _end in _jieba().tokenize(run):
                if word.strip():
                    tokens.append(Token(word, start + begin))
        else:
            tokens.append(Token(run, start))
    return tokens


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class MixedTokenizer(Tokenizer):
    """Tokenizes Chinese runs with jieba and everything else on word boundaries, keeping offsets."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The base tokenizer's options (intent splitting, token pattern)."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Any: Chinese and English are the ones it is built for."""
        return None

    @staticmethod
    def required_packages() -> List[Text]:
        """The packages it needs: jieba segments the Chinese runs."""
        return ["jieba"]

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MixedTokenizer":
        """A tokenizer with `config` merged over the defaults."""
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """The tokens of `attribute` of `message` (lower-cased by the featurizers, not here)."""
        text = message.get(attribute) or ""
        tokens = split_mixed(text)
        if not tokens and text.strip():
            # punctuation or symbols only: one token so the featurizers still see something
            stripped = text.strip()
            tokens = [Token(stripped, text.index(stripped))]
        return self._apply_token_pattern(tokens)
