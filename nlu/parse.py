"""The trained model's NLU verdict on texts, and the texts the NLU was trained on.

Used by `make eval` (the assistant's figures: which messages reach the knowledge base) and by the
NLU evaluations in `scripts/`. Rasa loads only when `parse` runs.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Sequence, Set

import yaml

NLU_DIR = Path(__file__).resolve().parent
# [text](entity), [text]{"entity": ...} and [text][{...}]: Rasa's entity markup, replaced by its text
_MARKUP = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


class Parse(NamedTuple):
    """The NLU's intent and entities for one text."""

    intent: str
    confidence: float
    entities: List[Dict[str, Any]]


def normalise(text: str) -> str:
    """The form texts are compared in: entity markup removed, case folded, whitespace collapsed."""
    return " ".join(_MARKUP.sub(r"\1", text).casefold().split())


def training_texts(nlu_dir: Path = NLU_DIR) -> Set[str]:
    """Every NLU training example of `nlu_dir`'s files, normalised."""
    texts: Set[str] = set()
    for path in sorted(nlu_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.add(normalise(line[2:]))
    return texts


def load_agent(model: Path) -> Any:
    """The Rasa agent of the model archive `model` (Rasa and TensorFlow load here)."""
    from rasa.core.agent import Agent

    return Agent.load(str(model))


async def parse_texts(agent: Any, texts: Sequence[str]) -> List[Parse]:
    """The NLU verdict of `agent` (from `load_agent`) on each text, in order."""
    verdicts: List[Parse] = []
    for text in texts:
        data = await agent.parse_message(text)
        intent = data.get("intent") or {}
        verdicts.append(Parse(str(intent.get("name")), float(intent.get("confidence") or 0.0),
                              list(data.get("entities") or [])))
    return verdicts


async def parse_all(model: Path, texts: Sequence[str]) -> Dict[str, Parse]:
    """The NLU verdict of the Rasa model archive `model` on each distinct text."""
    distinct = list(dict.fromkeys(texts))
    return dict(zip(distinct, await parse_texts(load_agent(model), distinct)))


def parse(model: Path, texts: Sequence[str]) -> Dict[str, Parse]:
    """`parse_all` for callers without an event loop."""
    return asyncio.run(parse_all(model, texts))
