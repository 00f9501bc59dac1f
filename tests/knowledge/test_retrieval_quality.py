"""Retrieval quality on the independent dev set: prints top-1, MRR and the false-answer rate."""

from __future__ import annotations

from pathlib import Path

from knowledge.evaluation import EvalSet, evaluate

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "retrieval_dev.yml"


def test_dev_set_is_large_enough_and_labelled_with_real_articles(knowledge_service) -> None:  # type: ignore[no-untyped-def]
    dev = EvalSet.load(DEV_SET)
    assert len(dev.questions) >= 150 and len(dev.off_topic) >= 100
    unknown = {article for _, article in dev.questions if knowledge_service.get(article) is None}
    assert not unknown, f"dev set names unknown articles: {unknown}"


def test_top1_accuracy_and_false_answer_rate(knowledge_service, capsys) -> None:  # type: ignore[no-untyped-def]
    report = evaluate(knowledge_service.retriever, EvalSet.load(DEV_SET))
    with capsys.disabled():
        print(f"\nretrieval dev set: {report.summary()}")
    assert report.top1 >= 0.90, report.misses
    assert report.false_answer_rate <= 0.05, report.false_answers
