"""The message catalogue: every text a taxpayer can see, one set of files per language.

`knowledge/messages/<area>.<language>.yml` map keys such as `handoff.queued` to texts with `{name}`
placeholders; all files of a language are merged. The action server and the gateway both read it, so
a reply has one wording per language wherever it is produced. `missing()` lists keys that one language
has and another lacks (a test fails on any).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List

import yaml

from knowledge.text import LANGUAGES

MESSAGES_DIR = Path(__file__).resolve().parent / "messages"
DEFAULT_LANGUAGE = "en"


def _flatten(prefix: str, value: Any, into: Dict[str, str], source: Path) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into, source)
    elif isinstance(value, str):
        if prefix in into:
            raise ValueError(f"{source}: key {prefix!r} is defined twice")
        into[prefix] = value
    else:
        raise ValueError(f"{source}: key {prefix!r} must be text, got {type(value).__name__}")


@lru_cache(maxsize=None)
def catalogue(language: str) -> Dict[str, str]:
    """Every key of `language`, merged from its files."""
    texts: Dict[str, str] = {}
    for path in sorted(MESSAGES_DIR.glob(f"*.{language}.yml")):
        _flatten("", yaml.safe_load(path.read_text(encoding="utf-8")) or {}, texts, path)
    return texts


def text(key: str, language: str, **values: Any) -> str:
    """The text of `key` in `language` (English for an unknown language), placeholders filled."""
    texts = catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    return texts[key].format(**values) if values else texts[key]


def missing() -> Dict[str, List[str]]:
    """For each language, the keys another language has and it lacks."""
    keys = {language: set(catalogue(language)) for language in LANGUAGES}
    every = set().union(*keys.values())
    return {language: sorted(every - have) for language, have in keys.items() if every - have}
