"""The evaluation counts what the reply shows, and prints each of issue 10's targets next to its figure."""

from __future__ import annotations

from typing import Dict, Tuple

from knowledge.evaluation import TARGETS, EvalReport, EvalSet, evaluate, target_lines, write_misses
from knowledge.retriever import Candidate, Retrieval
from knowledge.routing import Reach
from knowledge.schema import Article
from knowledge.service import KnowledgeService


class FixedRetriever:
    """Returns a prepared retrieval per question (the product's `Retrieval`, not a copy of its logic)."""

    def __init__(self, results: Dict[str, Retrieval]) -> None:
        self.results = results

    def search(self, query: str, k: int = 3, language: str | None = None) -> Retrieval:
        return self.results.get(query, Retrieval(query, "out_of_scope", 0.0, 0.0, ()))


def candidates(service: KnowledgeService, *ids: str) -> Tuple[Candidate, ...]:
    found = [service.get(i) for i in ids]
    assert all(isinstance(a, Article) for a in found)
    return tuple(Candidate(a, 0.8, 0.9, 0.3) for a in found if a is not None)


def test_an_answers_buttons_count_only_when_the_reply_shows_them(knowledge_service: KnowledgeService) -> None:
    ranked = candidates(knowledge_service, "cit-high-tech", "cit-rate", "cit-small-low-profit")
    results = {
        # the expected article is a related button of the answer: shown, so covered
        "shown": Retrieval("shown", "answer", 0.6, 0.99, ranked, related=ranked[1:2]),
        # the expected article is second in the ranking but not shown beside the answer: not covered
        "hidden": Retrieval("hidden", "answer", 0.6, 0.99, ranked),
        "asked": Retrieval("asked", "clarify", 0.1, 0.99, ranked),
    }
    dev = EvalSet((("shown", "cit-rate"), ("hidden", "cit-rate"), ("asked", "cit-small-low-profit")), ("off",))
    report = evaluate(FixedRetriever(results), dev)  # type: ignore[arg-type]
    assert report.right_in_answer_or_buttons == 2 / 3
    assert report.answered_rate == 2 / 3 and report.answered_correct_rate == 0.0
    assert report.off_topic_shown_articles_rate == 0.0


def report(**figures: float) -> EvalReport:
    base = dict(top1=0.95, mrr=0.97, answered_rate=0.91, answered_correct_rate=0.96, clarify_rate=0.05,
                right_in_answer_or_buttons=0.99, false_answer_rate=0.0, off_topic_shown_articles_rate=0.03)
    base.update(figures)
    return EvalReport(questions=100, off_topic=50, **base)  # type: ignore[arg-type]


def test_make_eval_prints_each_target_next_to_its_figure() -> None:
    lines = target_lines({("en", "heldout"): report(), ("zh", "tune"): report(answered_rate=0.5)}).splitlines()
    assert len(lines) == 2 and lines[0].startswith("en heldout")
    assert "answered 0.910 >= 0.90 PASS" in lines[0]
    assert "answered right 0.960 >= 0.97 FAIL" in lines[0]
    assert "right in answer or buttons 0.990 >= 0.98 PASS" in lines[0]
    assert "off-topic shown any article 0.030 <= 0.02 FAIL" in lines[0]
    assert "answered 0.500 >= 0.90 FAIL" in lines[1]
    assert {t.bound for t in TARGETS} == {0.90, 0.97, 0.98, 0.02}


def test_the_assistant_rows_count_only_what_the_nlu_lets_through(knowledge_service: KnowledgeService) -> None:
    ranked = candidates(knowledge_service, "cit-rate", "cit-high-tech", "cit-small-low-profit")
    results = {
        "sure": Retrieval("sure", "answer", 0.9, 0.99, ranked),
        "unsure": Retrieval("unsure", "answer", 0.2, 0.99, ranked),
        "asked": Retrieval("asked", "clarify", 0.1, 0.99, ranked),
        "off": Retrieval("off", "clarify", 0.1, 0.6, ranked),
    }
    dev = EvalSet((("sure", "cit-rate"), ("unsure", "cit-rate"), ("asked", "cit-rate")), ("off",))
    routes = {"sure": Reach.SURE, "unsure": Reach.SURE, "asked": Reach.NONE, "off": Reach.SURE}
    report = evaluate(FixedRetriever(results), dev, routes=routes)  # type: ignore[arg-type]
    # out_of_scope with a sure answer is answered; unsure, or sent to a calculator, shows nothing
    assert report.answered_rate == 1 / 3 and report.answered_correct_rate == 1.0
    assert report.right_in_answer_or_buttons == 1 / 3
    assert report.off_topic_shown_articles_rate == 0.0
    full = evaluate(FixedRetriever(results), dev)  # type: ignore[arg-type]
    assert full.answered_rate == 2 / 3 and full.off_topic_shown_articles_rate == 1.0


def test_the_misses_file_says_what_the_reply_did_and_why(knowledge_service: KnowledgeService, tmp_path) -> None:
    ranked = candidates(knowledge_service, "iit-annual-bonus", "iit-rate-table")
    results = {
        "year end bonus 个税怎么算": Retrieval("year end bonus 个税怎么算", "answer", 0.9, 0.99, ranked),
        "bonus rate": Retrieval("bonus rate", "clarify", 0.2, 0.99, ranked),
    }
    dev = EvalSet((("year end bonus 个税怎么算", "iit-annual-bonus"), ("bonus rate", "iit-annual-bonus")), ())
    routes = {"year end bonus 个税怎么算": Reach.NONE, "bonus rate": Reach.FULL}  # the first went to a calculator
    reports = {("zh", "tune", "assistant"): evaluate(FixedRetriever(results), dev, routes=routes),  # type: ignore[arg-type]
               ("zh", "tune"): evaluate(FixedRetriever(results), dev)}  # type: ignore[arg-type]
    path = tmp_path / "misses.tsv"
    assert write_misses(reports, path) == 3  # through the retriever alone the first one is answered right
    header, *rows = [line.split("\t") for line in path.read_text("utf-8").splitlines()]
    table = [dict(zip(header, row)) for row in rows]
    assert [(r["through"], r["question"], r["reply"], r["retriever decision"], r["NLU route"]) for r in table] == [
        ("assistant", "year end bonus 个税怎么算", "decline", "answer", "none"),
        ("assistant", "bonus rate", "clarify", "clarify", "full"),
        ("retriever", "bonus rate", "clarify", "clarify", "-"),
    ]
