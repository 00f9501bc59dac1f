"""Retrieval quality on the labelled dev sets, per language and per part (tuning / held-out).

Every dev item belongs to a part by a hash of its text: `tune` may be looked at while choosing
thresholds and features, `heldout` only reports. Figures: top-1 accuracy, MRR, the share answered
directly and how many of those are right, the clarify rate, whether the right article is in the
answer or the three clarify buttons, and for off-topic messages the false-answer rate (answered with
an article) and the share shown any article (answer or buttons). Buttons count only as the reply
shows them: a clarification's three, an answer's related runner-ups (`Retrieval.shown`). `TARGETS`
are issue 10's thresholds; `make eval` prints each next to its figure.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, NamedTuple, Sequence, Tuple, TypedDict

import yaml

from knowledge.retriever import Retriever
from knowledge.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "tests" / "data"
DEV_SETS: Dict[str, Tuple[Path, ...]] = {
    "en": (DATA_DIR / "retrieval_dev.yml", DATA_DIR / "retrieval_dev_en_2026.yml"),
    "zh": (DATA_DIR / "retrieval_dev_zh.yml",),
}
PARTS = ("tune", "heldout")


class DevQuestion(TypedDict):
    """One labelled question of a dev file: the taxpayer's words and the article that answers them."""

    text: str
    article: str


class DevFile(TypedDict, total=False):
    """A dev file (tests/data/retrieval_dev*.yml): labelled questions and off-topic messages."""

    questions: List[DevQuestion]
    off_topic: List[str]


def part_of(text: str) -> str:
    """'tune' or 'heldout', fixed by the text itself (half and half)."""
    return PARTS[hashlib.sha1(text.strip().encode("utf-8")).digest()[0] % 2]


@dataclass(frozen=True)
class EvalSet:
    """Taxpayer questions with their expected article, and off-topic questions."""

    questions: Tuple[Tuple[str, str], ...]
    off_topic: Tuple[str, ...]

    @classmethod
    def load(cls, *paths: Path) -> "EvalSet":
        """The union of one or more dev files."""
        questions: List[Tuple[str, str]] = []
        off_topic: List[str] = []
        for path in paths:
            data: DevFile = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or DevFile()
            questions.extend((item["text"], item["article"]) for item in data.get("questions") or [])
            off_topic.extend(data.get("off_topic") or [])
        return cls(tuple(questions), tuple(off_topic))

    @classmethod
    def for_language(cls, language: str, part: str = "") -> "EvalSet":
        """The dev set of one language, whole or one part."""
        whole = cls.load(*DEV_SETS[language])
        return whole.part(part) if part else whole

    def part(self, part: str) -> "EvalSet":
        """Only the items of `part`."""
        return EvalSet(
            tuple(q for q in self.questions if part_of(q[0]) == part),
            tuple(t for t in self.off_topic if part_of(t) == part),
        )


@dataclass
class EvalReport:
    """What the evaluation measured; `misses` lists the questions that went wrong, for reading."""

    top1: float
    mrr: float
    answered_rate: float
    answered_correct_rate: float
    clarify_rate: float
    right_in_answer_or_buttons: float
    false_answer_rate: float
    off_topic_shown_articles_rate: float
    questions: int
    off_topic: int
    misses: List[Tuple[str, str, str, str, float]] = field(default_factory=list)
    false_answers: List[Tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line with every figure."""
        return (
            f"questions={self.questions} top1={self.top1:.3f} MRR={self.mrr:.3f} "
            f"answered={self.answered_rate:.3f} answered-and-right={self.answered_correct_rate:.3f} "
            f"clarify={self.clarify_rate:.3f} right-in-answer-or-buttons={self.right_in_answer_or_buttons:.3f} | "
            f"off-topic={self.off_topic} false-answer rate={self.false_answer_rate:.3f} "
            f"(shown any article incl. clarify: {self.off_topic_shown_articles_rate:.3f})"
        )


def evaluate(retriever: Retriever, eval_set: EvalSet, depth: int = 10) -> EvalReport:
    """Run every question through the retriever and score it."""
    hits = answered = answered_right = clarified = covered = 0
    reciprocal = 0.0
    misses: List[Tuple[str, str, str, str, float]] = []
    for text, expected in eval_set.questions:
        result = retriever.search(text, k=depth)
        ranked = [c.article.id for c in result.candidates]
        top = ranked[0] if ranked else "-"
        if top == expected:
            hits += 1
        if expected in ranked:
            reciprocal += 1.0 / (ranked.index(expected) + 1)
        shown = [c.article.id for c in result.shown]
        covered += int(expected in shown)
        if result.decision == "answer":
            answered += 1
            answered_right += int(top == expected)
        elif result.decision == "clarify":
            clarified += 1
        if top != expected or result.decision != "answer":
            misses.append((text, expected, top, result.decision, result.confidence))
    false_answers: List[Tuple[str, str, str]] = []
    off_topic_shown = 0
    for text in eval_set.off_topic:
        result = retriever.search(text)
        if result.shown:
            off_topic_shown += 1
        if result.decision == "answer" and result.best is not None:
            false_answers.append((text, result.best.article.id, f"{result.confidence:.2f}/{result.in_domain:.2f}"))
    n = max(len(eval_set.questions), 1)
    m = max(len(eval_set.off_topic), 1)
    return EvalReport(
        top1=hits / n,
        mrr=reciprocal / n,
        answered_rate=answered / n,
        answered_correct_rate=answered_right / max(answered, 1),
        clarify_rate=clarified / n,
        right_in_answer_or_buttons=covered / n,
        false_answer_rate=len(false_answers) / m,
        off_topic_shown_articles_rate=off_topic_shown / m,
        questions=len(eval_set.questions),
        off_topic=len(eval_set.off_topic),
        misses=misses,
        false_answers=false_answers,
    )


def report_dict(report: EvalReport) -> Dict[str, float]:
    """The figures, for JSON output."""
    return {k: v for k, v in report.__dict__.items() if k not in ("misses", "false_answers")}


def evaluate_all(retriever: Retriever, languages: Sequence[str] = ("en", "zh")) -> Dict[Tuple[str, str], EvalReport]:
    """A report for every language and part."""
    return {
        (language, part): evaluate(retriever, EvalSet.for_language(language, part))
        for language in languages
        for part in PARTS
    }


def table(reports: Dict[Tuple[str, str], EvalReport]) -> str:
    """The figures as a Markdown table, one row per language and part."""
    lines = [
        "| language | part | questions | top-1 | MRR | answered | answered right | clarify "
        "| right in answer or buttons | off-topic | false answers | off-topic shown any article |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (language, part), r in reports.items():
        lines.append(
            f"| {language} | {part} | {r.questions} | {r.top1:.3f} | {r.mrr:.3f} | {r.answered_rate:.3f} "
            f"| {r.answered_correct_rate:.3f} | {r.clarify_rate:.3f} | {r.right_in_answer_or_buttons:.3f} "
            f"| {r.off_topic} | {r.false_answer_rate:.3f} | {r.off_topic_shown_articles_rate:.3f} |"
        )
    return "\n".join(lines)


class Target(NamedTuple):
    """One of issue 10's thresholds: a report figure and its bound."""

    figure: str  # an EvalReport attribute
    label: str
    bound: float
    at_most: bool = False  # True: the figure must not exceed the bound

    def met(self, report: EvalReport) -> bool:
        """True when `report` meets this target."""
        value = float(getattr(report, self.figure))
        return value <= self.bound + 1e-9 if self.at_most else value >= self.bound - 1e-9


TARGETS: Tuple[Target, ...] = (
    Target("answered_rate", "answered", 0.90),
    Target("answered_correct_rate", "answered right", 0.97),
    Target("right_in_answer_or_buttons", "right in answer or buttons", 0.98),
    Target("off_topic_shown_articles_rate", "off-topic shown any article", 0.02, at_most=True),
)


def target_lines(reports: Dict[Tuple[str, str], EvalReport]) -> str:
    """Each target next to its figure, PASS or FAIL, per language and part."""
    lines = []
    for (language, part), report in reports.items():
        cells = []
        for target in TARGETS:
            sign = "<=" if target.at_most else ">="
            verdict = "PASS" if target.met(report) else "FAIL"
            figure = float(getattr(report, target.figure))
            cells.append(f"{target.label} {figure:.3f} {sign} {target.bound:.2f} {verdict}")
        lines.append(f"{language} {part:7s}: " + "; ".join(cells))
    return "\n".join(lines)


def write_misses(reports: Dict[Tuple[str, str], EvalReport], path: Path) -> int:
    """Every miss (not answered right) and false answer as TSV for the knowledge-base maintainers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["language", "part", "kind", "question", "expected", "got", "decision", "confidence"])
        for (language, part), report in reports.items():
            for text, expected, got, decision, confidence in report.misses:
                writer.writerow([language, part, "question", text, expected, got, decision, f"{confidence:.3f}"])
                count += 1
            for text, got, scores in report.false_answers:
                writer.writerow([language, part, "off_topic", text, "-", got, "answer", scores])
                count += 1
    return count

