"""Retrieval quality on a labelled question set: top-1 accuracy, MRR and the false-answer rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import yaml

from knowledge.retriever import Retriever

ANSWERING = ("answer",)


@dataclass(frozen=True)
class EvalSet:
    """Taxpayer questions with their expected article, and off-topic questions."""

    questions: Tuple[Tuple[str, str], ...]
    off_topic: Tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> "EvalSet":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return cls(
            questions=tuple((item["text"], item["article"]) for item in data["questions"]),
            off_topic=tuple(data["off_topic"]),
        )


@dataclass
class EvalReport:
    """What the evaluation measured; `misses` lists (question, expected, got) for reading."""

    top1: float
    mrr: float
    answered_rate: float
    answered_correct_rate: float
    false_answer_rate: float
    off_topic_shown_articles_rate: float
    questions: int
    off_topic: int
    misses: List[Tuple[str, str, str, str]] = field(default_factory=list)
    false_answers: List[Tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"questions={self.questions} top1={self.top1:.3f} MRR={self.mrr:.3f} "
            f"answered={self.answered_rate:.3f} answered-and-right={self.answered_correct_rate:.3f} | "
            f"off-topic={self.off_topic} false-answer rate={self.false_answer_rate:.3f} "
            f"(shown any article incl. clarify: {self.off_topic_shown_articles_rate:.3f})"
        )


def evaluate(retriever: Retriever, eval_set: EvalSet, depth: int = 10) -> EvalReport:
    """Run every question through the retriever and score it."""
    hits = 0
    reciprocal = 0.0
    answered = 0
    answered_right = 0
    misses: List[Tuple[str, str, str, str]] = []
    for text, expected in eval_set.questions:
        result = retriever.search(text, k=depth)
        ranked = [c.article.id for c in result.candidates]
        if ranked and ranked[0] == expected:
            hits += 1
        else:
            misses.append((text, expected, ranked[0] if ranked else "-", result.decision))
        if expected in ranked:
            reciprocal += 1.0 / (ranked.index(expected) + 1)
        if result.decision in ANSWERING:
            answered += 1
            answered_right += int(bool(ranked) and ranked[0] == expected)
    false_answers: List[Tuple[str, str, str]] = []
    shown = 0
    for text in eval_set.off_topic:
        result = retriever.search(text)
        if result.decision != "out_of_scope":
            shown += 1
        if result.decision in ANSWERING and result.best is not None:
            false_answers.append((text, result.best.article.id, f"{result.confidence:.2f}/{result.in_domain:.2f}"))
    n = max(len(eval_set.questions), 1)
    m = max(len(eval_set.off_topic), 1)
    return EvalReport(
        top1=hits / n,
        mrr=reciprocal / n,
        answered_rate=answered / n,
        answered_correct_rate=answered_right / max(answered, 1),
        false_answer_rate=len(false_answers) / m,
        off_topic_shown_articles_rate=shown / m,
        questions=len(eval_set.questions),
        off_topic=len(eval_set.off_topic),
        misses=misses,
        false_answers=false_answers,
    )


def report_dict(report: EvalReport) -> Dict[str, Any]:
    """The figures, for JSON output."""
    return {k: v for k, v in report.__dict__.items() if k not in ("misses", "false_answers")}
