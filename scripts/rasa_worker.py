"""`rasa run` with an exact cache of NLU results: `python scripts/rasa_worker.py run <rasa run options>`.

Rasa parses every message with the whole NLU pipeline (tokenizer, the spaCy entity extractor, count
vectors, the MiniLM language-model featurizer, DIET) on its event loop; that is most of a message's CPU
time. For a loaded model the parse result depends only on the message text: the NLU target of the
prediction graph needs nothing but the message and the domain (checked at start; otherwise nothing is
cached), and no component reads the message metadata. So repeated texts - greetings, thanks, popular
questions asked the same way, button payloads - reuse the parse of the same text instead of running the
pipeline again. The cache is per loaded model (a new model starts an empty cache), holds at most
RASA_NLU_CACHE_SIZE texts (default 4096; 0 turns it off, i.e. plain `rasa run`), and every hit returns a
deep copy, so what Rasa does next (policies, actions, tracker events) is exactly what it would have done.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections import OrderedDict
from typing import Any, Dict, Hashable, Optional, Set

log = logging.getLogger("taxguide.rasa_worker")
DEFAULT_SIZE = 4096
MESSAGE_INPUTS = {"__message__"}


class ParseCache:
    """A small LRU; used from Rasa's event loop only (NLU runs there), so it needs no lock."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self._items: "OrderedDict[Hashable, Dict[str, Any]]" = OrderedDict()

    def get(self, key: Hashable) -> Optional[Dict[str, Any]]:
        value = self._items.get(key)
        if value is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return copy.deepcopy(value)

    def put(self, key: Hashable, value: Dict[str, Any]) -> None:
        self._items[key] = copy.deepcopy(value)
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)


def nlu_depends_only_on_text(model_metadata: Any) -> bool:
    """True when every node the NLU target depends on takes only the message and fixed model parts."""
    nodes = model_metadata.predict_schema.nodes
    pending, seen = [model_metadata.nlu_target], set()  # type: ignore[var-annotated]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        node = nodes.get(name)
        if node is None:
            if name.startswith("__") and name not in MESSAGE_INPUTS:
                return False  # a placeholder other than the message (e.g. the tracker)
            continue
        pending.extend(node.needs.values())
    return True


def install(max_size: int) -> None:
    """Wrap MessageProcessor._parse_message_with_graph with a per-processor cache keyed by the text."""
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor._parse_message_with_graph
    unsafe: Set[int] = set()

    def parse(self: Any, message: Any, tracker: Any, only_output_properties: bool = True) -> Dict[str, Any]:
        cache = self.__dict__.get("_taxguide_parse_cache")
        if cache is None and id(self) not in unsafe:
            if nlu_depends_only_on_text(self.model_metadata):
                cache = self.__dict__["_taxguide_parse_cache"] = ParseCache(max_size)
                log.info("NLU cache on (%d texts) for model %s", max_size, self.model_metadata.model_id)
            else:
                unsafe.add(id(self))
                log.warning("NLU depends on more than the text; not caching parse results")
        if cache is None or not isinstance(message.text, str):
            return original(self, message, tracker, only_output_properties)
        key = (message.text, only_output_properties)
        parsed = cache.get(key)
        if parsed is None:
            parsed = original(self, message, tracker, only_output_properties)
            cache.put(key, parsed)
        return parsed

    MessageProcessor._parse_message_with_graph = parse  # type: ignore[method-assign]


def cache_size(env: Dict[str, str]) -> int:
    raw = (env.get("RASA_NLU_CACHE_SIZE") or "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_SIZE
    except ValueError:
        sys.exit(f"RASA_NLU_CACHE_SIZE must be a whole number, got {raw!r}")


def main() -> None:
    size = cache_size(dict(os.environ))
    if size:
        install(size)
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
