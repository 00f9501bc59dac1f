"""The LRU cache of retrieval results in the knowledge service, with a small fake encoder (fast, no TF)."""

from __future__ import annotations

import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Sequence

import numpy as np
import pytest
import yaml

from knowledge.encoder import Encoder, Vectors
from knowledge.retriever import Retrieval, save_npz
from knowledge.service import KnowledgeService, normalise_query
from knowledge.settings import KnowledgeSettings

ARTICLES = Path(__file__).resolve().parents[2] / "knowledge" / "articles"
CHOSEN = [
    "iit-basic-deduction", "iit-rate-table", "iit-sad-housing-rent", "vat-rates", "deed-tax", "proc-12366-hotline",
]
DIM = 64


class FakeEncoder:
    """Hashed bag of lower-cased words, L2-normalised (uncased, as the cache key assumes); counts what it embeds."""

    name = "fake-hashed-words"
    dimension = DIM

    def __init__(self) -> None:
        self.texts: List[str] = []
        self._lock = threading.Lock()

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        return self.encode_queries(texts)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            self.texts.extend(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    for article_id in CHOSEN:
        source = next(ARTICLES.rglob(f"{article_id}.yml"))
        data = yaml.safe_load(source.read_text())
        data["related"] = [r for r in data.get("related", []) if r in CHOSEN]
        target = tmp_path / "articles" / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return tmp_path / "articles"


def make_service(kb: Path, size: int = 16) -> "tuple[KnowledgeService, FakeEncoder]":
    encoder = FakeEncoder()
    settings = KnowledgeSettings(articles_dir=kb, model_dir=None, cache_dir=kb.parent / "cache",
                                 refresh_seconds=3600.0, retrieval_cache_size=size)
    service = KnowledgeService(settings, encoder_factory=lambda: encoder)
    service.start()
    encoder.texts.clear()
    return service, encoder


def seen(result: Retrieval) -> tuple[object, ...]:
    """Everything a caller gets back except the echoed query."""
    scores = [(c.article.id, c.score, c.dense, c.lexical) for c in result.candidates]
    return result.decision, result.confidence, result.in_domain, scores


def same(a: Retrieval, b: Retrieval) -> bool:
    return seen(a) == seen(b)


def test_a_repeated_question_is_embedded_once_and_gets_the_same_result(kb: Path) -> None:
    service, encoder = make_service(kb)
    uncached = service.retriever.search("what VAT rate applies to consulting services")
    encoder.texts.clear()
    first = service.search("what VAT rate applies to consulting services")
    again = service.search("  What VAT rate  applies to CONSULTING services ")
    assert encoder.texts == ["what VAT rate applies to consulting services"]
    assert same(first, uncached) and same(again, uncached)
    assert again.query == "What VAT rate applies to CONSULTING services"  # the caller's own words
    assert (service.cache.hits, service.cache.misses) == (1, 1)


def test_different_questions_are_cached_separately(kb: Path) -> None:
    service, encoder = make_service(kb)
    a = service.search("deed tax when buying a flat")
    b = service.search("how much can I earn before income tax kicks in")
    assert service.search("deed tax when buying a flat") is not b
    assert same(service.search("deed tax when buying a flat"), a)
    assert len(encoder.texts) == 2 and len(service.cache) == 2


def test_the_least_recently_used_result_is_evicted(kb: Path) -> None:
    service, encoder = make_service(kb, size=2)
    service.search("deed tax")
    service.search("vat rate")
    service.search("deed tax")  # now the most recent
    service.search("12366 hotline")  # evicts "vat rate"
    assert len(service.cache) == 2
    encoder.texts.clear()
    service.search("deed tax")
    assert encoder.texts == []
    service.search("vat rate")
    assert encoder.texts == ["vat rate"]


def test_an_edited_knowledge_base_never_serves_results_of_the_old_index(kb: Path) -> None:
    service, encoder = make_service(kb)
    service.search("who do I call about tax")
    old_key = service.retriever.key
    path = next(kb.rglob("proc-12366-hotline.yml"))
    data = yaml.safe_load(path.read_text())
    data["answer"]["en"] = "TEST-MARKER. " + data["answer"]["en"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    service.refresh_now()
    encoder.texts.clear()
    after = service.search("who do I call about tax")
    assert "who do I call about tax" in encoder.texts, "the new index must be asked, not the cache"
    assert service.retriever.key != old_key
    assert service.get("proc-12366-hotline").answer["en"].startswith("TEST-MARKER")
    assert after.decision in ("answer", "clarify"), after  # the taxpayer is shown an answer or three buttons
    shown = {c.article.id: c.article for c in after.candidates[:3]}
    assert "proc-12366-hotline" in shown, after
    assert shown["proc-12366-hotline"].answer["en"].startswith("TEST-MARKER"), "the edited text must be served"


def test_size_zero_turns_the_cache_off(kb: Path) -> None:
    service, encoder = make_service(kb, size=0)
    service.search("vat rate")
    service.search("vat rate")
    assert encoder.texts == ["vat rate", "vat rate"] and len(service.cache) == 0


def test_concurrent_searches_from_executor_threads_agree(kb: Path) -> None:
    service, _ = make_service(kb, size=4)
    questions = ["deed tax", "vat rate", "12366 hotline", "rent deduction", "income tax rate table", "basic deduction"]
    expected = {q: service.retriever.search(q) for q in questions}
    failures: List[str] = []

    def worker(offset: int) -> None:
        for i in range(60):
            q = questions[(i + offset) % len(questions)]
            if not same(service.search(q), expected[q]):
                failures.append(q)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    assert len(service.cache) <= 4


def test_a_cache_of_one_keeps_only_the_last_question(kb: Path) -> None:
    service, encoder = make_service(kb, size=1)
    service.search("deed tax")
    service.search("vat rate")
    encoder.texts.clear()
    service.search("vat rate")
    assert encoder.texts == []
    service.search("deed tax")
    assert encoder.texts == ["deed tax"]
    assert len(service.cache) == 1


def test_the_language_asked_for_is_part_of_the_key(kb: Path) -> None:
    service, encoder = make_service(kb)
    service.search("vat rate", language="en")
    service.search("vat rate", language="zh")
    service.search("vat rate")
    assert encoder.texts == ["vat rate"] * 3 and len(service.cache) == 3


def test_queries_are_normalised_for_the_key() -> None:
    assert normalise_query("  How MUCH\ttax\n") == "how much tax"


def test_the_real_encoder_can_be_called_from_several_executor_threads(encoder: Encoder) -> None:
    """The action server searches in executor threads: concurrent calls give the same vectors."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"question {i} about income tax " + "with a longer tail " * (i % 6) for i in range(24)]
    with ThreadPoolExecutor(6) as pool:
        vectors = list(pool.map(lambda text: encoder.encode_queries([text])[0], texts))
    expected = encoder.encode_queries(texts[:3])
    assert np.allclose(np.stack(vectors[:3]), expected, atol=1e-5)


def test_writers_racing_for_one_cache_file_leave_a_whole_file_and_no_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "index-k.npz"
    arrays = [np.full((400, 384), i, dtype=np.float32) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda a: save_npz(target, vectors=a), arrays))
    with np.load(target) as stored:
        vectors = stored["vectors"]
    assert vectors.shape == (400, 384) and len(set(vectors.ravel().tolist())) == 1  # one writer's whole array
    assert [p.name for p in tmp_path.iterdir()] == ["index-k.npz"]
