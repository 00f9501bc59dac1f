"""Retrieval quality on the labelled dev sets, per language and per part (tuning / held-out / fresh).

Every dev item belongs to a part by a hash of its text: `tune` may be looked at while choosing
thresholds and features, `heldout` only reports. The tuning sets (`TUNING_SETS`) join `tune`; the
fresh sets (`FRESH_SETS`) are a third part that only reports. Figures: top-1 accuracy, MRR, the share answered
directly and how many of those are right, the clarify rate, whether the right article is in the
answer or the three clarify buttons, and for off-topic messages the false-answer rate (answered with
an article) and the share shown any article (answer or buttons). Buttons count only as the reply
shows them: a clarification's three, an answer's related runner-ups (`Retrieval.shown`). `TARGETS`
are issue 10's thresholds; `make eval` prints each next to its figure.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import AbstractSet, Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Sequence, Tuple, TypedDict

import yaml

from knowledge.retriever import Retriever
from knowledge.routing import Reach, decision, reach
from knowledge.settings import PROJECT_ROOT
from nlu.parse import normalise, parse, training_texts

_NOT_A_WORD = re.compile(r"[\W_]+", re.UNICODE)

DATA_DIR = PROJECT_ROOT / "tests" / "data"
DEV_SETS: Dict[str, Tuple[Path, ...]] = {
    "en": (DATA_DIR / "retrieval_dev.yml", DATA_DIR / "retrieval_dev_en_2026.yml"),
    "zh": (DATA_DIR / "retrieval_dev_zh.yml",),
}
PARTS = ("tune", "heldout")
#: Fresh questions, a third reporting part: written for the 2026-12 release by people who saw only the
#: articles' titles and answers (never the dev sets or the articles' variants). Nothing is tuned on them.
FRESH_SETS: Dict[str, Tuple[Path, ...]] = {
    "en": (DATA_DIR / "fresh_en.yml",),
    "zh": (DATA_DIR / "fresh_zh.yml",),
}
REPORTED_PARTS = PARTS + ("fresh",)
#: More tuning questions and off-topic lines, written for the 2026-12 release without sight of the dev or
#: fresh sets: they join the dev sets' tuning part (never a reporting part).
TUNING_SETS: Dict[str, Tuple[Path, ...]] = {
    "en": (DATA_DIR / "tuning_en.yml",),
    "zh": (DATA_DIR / "tuning_zh.yml",),
}
#: A report's key: language, part and path ("retriever": every message searched in full;
#: "assistant": routed by the trained NLU first, `knowledge.routing`).
Key = Tuple[str, ...]


class DevQuestion(TypedDict):
    """One labelled question of a dev file: the taxpayer's words and the article that answers them."""

    text: str
    article: str


class DevFile(TypedDict, total=False):
    """A dev file (tests/data/retrieval_dev*.yml): labelled questions and off-topic messages."""

    questions: List[DevQuestion]
    off_topic: List[str]


def _letters(text: str) -> str:
    return _NOT_A_WORD.sub("", normalise(text).lower())


def near_copy(first: str, second: str) -> bool:
    """True when two texts are copies of each other, give or take a few words.

    Copies: the same letters up to case, spacing and punctuation; one containing the other (six
    characters or more); or at least 60 % of their character bigrams shared (Jaccard). The guard
    between training or tuning data and the reporting parts: e5 similarity alone misses a Chinese line
    with a clause added, which still teaches the domain classifier the held-out words.
    """
    a, b = _letters(first), _letters(second)
    if not a or not b:
        return False
    if a == b or (min(len(a), len(b)) >= 6 and (a in b or b in a)):
        return True
    grams_a = {a[i : i + 2] for i in range(len(a) - 1)} or {a}
    grams_b = {b[i : i + 2] for i in range(len(b) - 1)} or {b}
    return len(grams_a & grams_b) / len(grams_a | grams_b) >= 0.6


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
        """The dev set of one language, whole or one part.

        Part "fresh" is the fresh set (`FRESH_SETS`); part "tune" is the dev sets' tuning half and the
        tuning sets (`TUNING_SETS`); the whole dev set is the dev files alone.
        """
        if part == "fresh":
            return cls.load(*FRESH_SETS[language])
        whole = cls.load(*DEV_SETS[language])
        if part == "tune":
            return whole.part(part).plus(cls.load(*TUNING_SETS[language]))
        return whole.part(part) if part else whole

    def without(self, texts: AbstractSet[str]) -> "EvalSet":
        """The items whose text is not in `texts` (e.g. the NLU's own training examples)."""
        return EvalSet(
            tuple(q for q in self.questions if q[0] not in texts),
            tuple(t for t in self.off_topic if t not in texts),
        )

    def plus(self, other: "EvalSet") -> "EvalSet":
        """This set's items followed by `other`'s."""
        return EvalSet(self.questions + other.questions, self.off_topic + other.off_topic)

    def part(self, part: str) -> "EvalSet":
        """Only the items of `part`."""
        return EvalSet(
            tuple(q for q in self.questions if part_of(q[0]) == part),
            tuple(t for t in self.off_topic if part_of(t) == part),
        )


class Miss(NamedTuple):
    """A question not answered right: what the reply did, what the retriever decided, and why."""

    question: str
    expected: str
    got: str  # the retriever's top article ("-" when none)
    reply: str  # answer | clarify | decline (the reply shows no article)
    retriever: str  # the retriever's own decision: answer | clarify | out_of_scope
    confidence: float
    route: str  # how far the NLU let the knowledge base answer (knowledge.routing.Reach); "-" through the retriever


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
    misses: List[Miss] = field(default_factory=list)
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


def evaluate(
    retriever: Retriever, eval_set: EvalSet, depth: int = 10, routes: Optional[Mapping[str, Reach]] = None
) -> EvalReport:
    """Run every question through the retriever and score it.

    With `routes` (each text's `knowledge.routing.Reach`, from the trained NLU) the figures are the
    assistant's: a message the NLU sends elsewhere shows no article, and one it calls out of scope
    shows only a sure answer. Without, every message reaches the retriever in full.
    """
    hits = answered = answered_right = clarified = covered = 0
    reciprocal = 0.0
    misses: List[Miss] = []
    for text, expected in eval_set.questions:
        result = retriever.search(text, k=depth)
        route = routes[text] if routes is not None else Reach.FULL
        verdict = decision(result, route)
        ranked = [c.article.id for c in result.candidates]
        top = ranked[0] if ranked else "-"
        if top == expected:
            hits += 1
        if expected in ranked:
            reciprocal += 1.0 / (ranked.index(expected) + 1)
        shown = [c.article.id for c in result.shown] if verdict != "decline" else []
        covered += int(expected in shown)
        if verdict == "answer":
            answered += 1
            answered_right += int(top == expected)
        elif verdict == "clarify":
            clarified += 1
        if top != expected or verdict != "answer":
            misses.append(Miss(text, expected, top, verdict, result.decision, result.confidence,
                               route.value if routes is not None else "-"))
    false_answers: List[Tuple[str, str, str]] = []
    off_topic_shown = 0
    for text in eval_set.off_topic:
        result = retriever.search(text)
        verdict = decision(result, routes[text] if routes is not None else Reach.FULL)
        if verdict != "decline" and result.shown:
            off_topic_shown += 1
        if verdict == "answer" and result.best is not None:
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


def assistant_routes(
    model: Path, languages: Sequence[str] = ("en", "zh")
) -> Tuple[Dict[str, Reach], FrozenSet[str]]:
    """The route of every text of every part by the NLU of the Rasa model `model`, and the texts it was trained on."""
    texts: List[str] = []
    for language in languages:
        for dev in (EvalSet.for_language(language, part) for part in REPORTED_PARTS):
            texts.extend(q for q, _ in dev.questions)
            texts.extend(dev.off_topic)
    trained = training_texts()
    excluded = frozenset(t for t in texts if normalise(t) in trained)
    verdicts = parse(model, [t for t in texts if t not in excluded])
    return {text: reach(v.intent, v.entities) for text, v in verdicts.items()}, excluded


def evaluate_all(
    retriever: Retriever,
    languages: Sequence[str] = ("en", "zh"),
    routes: Optional[Mapping[str, Reach]] = None,
    excluded: AbstractSet[str] = frozenset(),
) -> Dict[Key, EvalReport]:
    """A report for every language and part through the retriever, and with `routes` through the assistant.

    The assistant rows leave out the `excluded` texts (the dev items the NLU was trained on).
    """
    reports: Dict[Key, EvalReport] = {}
    for language in languages:
        for part in REPORTED_PARTS:
            eval_set = EvalSet.for_language(language, part)
            reports[(language, part, "retriever")] = evaluate(retriever, eval_set)
            if routes is not None:
                reports[(language, part, "assistant")] = evaluate(retriever, eval_set.without(excluded), routes=routes)
    return reports


def table(reports: Mapping[Key, EvalReport]) -> str:
    """The figures as a Markdown table, one row per language, part and path."""
    lines = [
        "| language | part | through | questions | top-1 | MRR | answered | answered right | clarify "
        "| right in answer or buttons | off-topic | false answers | off-topic shown any article |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, r in reports.items():
        language, part, through = (tuple(key) + ("retriever",))[:3]
        lines.append(
            f"| {language} | {part} | {through} | {r.questions} | {r.top1:.3f} | {r.mrr:.3f} | {r.answered_rate:.3f} "
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


def target_lines(reports: Mapping[Key, EvalReport]) -> str:
    """Each target next to its figure, PASS or FAIL, per language, part and path."""
    lines = []
    for key, report in reports.items():
        cells = []
        for target in TARGETS:
            sign = "<=" if target.at_most else ">="
            verdict = "PASS" if target.met(report) else "FAIL"
            figure = float(getattr(report, target.figure))
            cells.append(f"{target.label} {figure:.3f} {sign} {target.bound:.2f} {verdict}")
        lines.append(f"{' '.join(key)}: " + "; ".join(cells))
    return "\n".join(lines)


def write_misses(reports: Mapping[Key, EvalReport], path: Path) -> int:
    """Every miss (not answered right) and false answer as TSV for the knowledge-base maintainers.

    `reply` is what the taxpayer saw (`decline`: no article); `NLU route` says why an assistant row shows
    less than the retriever found: `none` (the NLU sent the message to small talk, a calculator or a
    person), `sure` (out of scope or bare figures: only a sure answer), `full`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["language", "part", "through", "kind", "question", "expected", "got", "reply",
                         "retriever decision", "confidence", "NLU route"])
        for key, report in reports.items():
            language, part, through = (tuple(key) + ("retriever",))[:3]
            for miss in report.misses:
                writer.writerow([language, part, through, "question", miss.question, miss.expected, miss.got,
                                 miss.reply, miss.retriever, f"{miss.confidence:.3f}", miss.route])
                count += 1
            for text, got, scores in report.false_answers:
                writer.writerow([language, part, through, "off_topic", text, "-", got, "answer", "answer", scores,
                                 "-"])
                count += 1
    return count

