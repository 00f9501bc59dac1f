"""A Rasa NLU component that extracts tax entities with a spaCy pipeline.

spaCy's EntityRuler matches tax types, calculator names and tax years from the phrases in
`knowledge/entity_patterns.yml`; a small spaCy component adds money amounts found by
`knowledge.amounts`, whose parsed value (a plain number, with its period) becomes the entity value.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import spacy
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from knowledge.amounts import find_amounts
from knowledge.text import detect_language

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATTERNS = PROJECT_ROOT / "knowledge" / "entity_patterns.yml"
AMOUNT_COMPONENT = "taxguide_amounts"


@Language.component(AMOUNT_COMPONENT)
def _amounts(doc: Doc) -> Doc:
    """Add AMOUNT spans for every money amount in the text (aligned to token boundaries)."""
    spans: List[Span] = list(doc.ents)
    for amount in find_amounts(doc.text):
        span = doc.char_span(amount.start, amount.end, label="amount", alignment_mode="expand")
        if span is not None:
            span._.amount = amount
            spans.append(span)
    doc.ents = filter_spans(spans)
    return doc


if not Span.has_extension("amount"):
    Span.set_extension("amount", default=None)


# One token per Chinese character, per run of letters, per number and per other symbol, so that Chinese
# phrases ("年终奖") match inside unsegmented text and English phrases match as before.
_TOKEN = re.compile(r"\s+|[\u3400-\u4dbf\u4e00-\u9fff]|[A-Za-z]+|\d+(?:[.,]\d+)*|\S")


class MixedTokenizer:
    """A spaCy tokenizer for Chinese, English and mixed text that keeps the text exactly."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        """A Doc of `text`: one token per Chinese character, letter run, number or other symbol."""
        words: List[str] = []
        spaces: List[bool] = []
        for match in _TOKEN.finditer(text):
            piece = match.group()
            if piece.isspace():
                if words and not spaces[-1] and piece.startswith(" "):
                    spaces[-1] = True
                    piece = piece[1:]
                if not piece:
                    continue
            words.append(piece)
            spaces.append(False)
        return Doc(self.vocab, words=words, spaces=spaces)


def _ruler_patterns(config: Dict[str, Any]) -> List[Dict[str, Any]]:
    patterns: List[Dict[str, Any]] = []
    for label in ("tax_type", "calculator"):
        for value, phrases in (config.get(label) or {}).items():
            for phrase in phrases:
                patterns.append({"label": label, "pattern": str(phrase).lower(), "id": value})
    years = config.get("years") or {}
    low, high = int(years.get("min", 2018)), int(years.get("max", 2035))
    alternatives = "|".join(str(y) for y in range(low, high + 1))
    patterns.append({"label": "year", "pattern": [{"TEXT": {"REGEX": f"^({alternatives})$"}}], "id": "year"})
    return patterns


@lru_cache(maxsize=4)
def build_pipeline(patterns_file: str) -> Language:
    """A blank spaCy pipeline (mixed-script tokenizer) with the EntityRuler and the amount component."""
    config = yaml.safe_load(Path(patterns_file).read_text(encoding="utf-8")) or {}
    nlp = spacy.blank("en")
    nlp.tokenizer = MixedTokenizer(nlp.vocab)
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(_ruler_patterns(config))
    nlp.add_pipe(AMOUNT_COMPONENT, after="entity_ruler")
    return nlp


def extract(nlp: Language, text: str) -> List[Dict[str, Any]]:
    """Rasa-style entity dicts for `text`."""
    entities: List[Dict[str, Any]] = []
    for span in nlp(text).ents:
        entity: Dict[str, Any] = {"entity": span.label_, "start": span.start_char, "end": span.end_char}
        if span.label_ == "amount" and span._.amount is not None:
            amount = span._.amount
            entity["value"] = format(amount.value.normalize(), "f")
            if amount.period:
                entity["role"] = amount.period
        elif span.label_ == "year":
            entity["value"] = span.text
        else:
            entity["value"] = span.ent_id_ or span.text.lower()
        entities.append(entity)
    return entities


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class TaxEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts `amount` (value in yuan, role = period), `year`, `tax_type`, `calculator` and `language`.

    `language` (zh/en) is the message's language, or, when the text has none (numbers, "ok", a button
    payload), the page's preference from the message metadata (`{"language": "zh"}`); the `language`
    slot takes it, and the responses and actions answer in it.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The phrases file: knowledge/entity_patterns.yml (a relative path is read from the project root)."""
        return {"patterns_file": str(DEFAULT_PATTERNS)}

    def __init__(self, config: Dict[Text, Any]) -> None:
        path = Path(config.get("patterns_file") or DEFAULT_PATTERNS)
        self._patterns_file = str(path if path.is_absolute() else PROJECT_ROOT / path)
        self._nlp: Optional[Language] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TaxEntityExtractor":
        """An extractor reading the phrases of `config["patterns_file"]` (loaded on first use)."""
        return cls(config)

    @property
    def nlp(self) -> Language:
        """The spaCy pipeline, built on first use and shared by extractors of the same phrases file."""
        if self._nlp is None:
            self._nlp = build_pipeline(self._patterns_file)
        return self._nlp

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """The training data unchanged (the entities are not trained)."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Add the extracted entities to each message."""
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = extract(self.nlp, text)
            metadata = message.get("metadata") or {}
            preferred = metadata.get("language") if isinstance(metadata, dict) else None
            language = detect_language(text) or (preferred if preferred in ("en", "zh") else None)
            if language:
                found.append({"entity": "language", "value": language, "start": 0, "end": len(text)})
            found = self.add_extractor_name(found)
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
