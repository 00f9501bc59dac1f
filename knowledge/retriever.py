"""Hybrid retrieval over the articles: BM25 (bm25s) fused with sentence embeddings.

A calibrated confidence decides between answering, asking to clarify, and declaring the question out of scope.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, TypeAlias, TypedDict

import bm25s
import numpy as np
from sklearn.linear_model import LogisticRegression

from knowledge.domain import DomainClassifier
from knowledge.encoder import Encoder, Vectors
from knowledge.schema import Article, article_files
from knowledge.settings import DEFAULT_ANSWER_THRESHOLDS, DEFAULT_DOMAIN_THRESHOLDS
from knowledge.text import LANGUAGES, language_of, tokenize

logger = logging.getLogger(__name__)

INDEX_VERSION = "10"
DENSE_WEIGHT = 0.8
LEXICAL_SATURATION = 6.0
ANSWER_UNIT_DISCOUNT = 0.9
CLARIFY_BUTTONS = 3
# An answer shows the runner-ups within this fused score of the top article as related buttons, and
# also answers below the answer threshold when the dense, lexical and fused rankings agree on the top
# article with at least AGREED_MARGIN to the second. Both chosen on the dev sets' tuning parts: 0.03 is
# the smallest related margin that reaches the best tuning coverage in both languages, and 0.03 the
# smallest agreement margin whose extra answers were all right on the tuning parts.
RELATED_MARGIN = 0.03
AGREED_MARGIN = 0.03
# Where articles overlap, an answer also offers the top article's declared neighbours (`related` either
# way) that are as close (RELATED_MARGIN) but rank below the first runner-ups, down to NEIGHBOUR_WINDOW,
# so a general rule links its close special cases; at most RELATED_BUTTONS buttons, in rank order, and a
# clear answer still has none. Chosen on the tuning parts: window 4 with 3 buttons is the smallest pair
# that raised Chinese coverage (right article in answer or buttons; 0.962 to 0.967 before the variants of
# issue 10), no wider neighbour margin added coverage, and no English figure moved.
NEIGHBOUR_WINDOW = 4
RELATED_BUTTONS = 3
# An answer by confidence alone also needs the top article this far ahead of the best article that is
# not its declared neighbour (`related` either way): near-duplicates are not punished, confusions with
# unrelated articles are. Chosen on the tuning parts: in Chinese 0.02 raised answered-right from
# 0.946 to 0.959 with 0.933 answered; in English no value helped without answering under 0.93. On the
# enlarged tuning part (tests/data/tuning_zh.yml) 0.01 answered more (0.978 against 0.944) at 0.975
# right against 0.979, but answered wrongly the close calls between unrelated articles that
# tests/knowledge/test_retriever.py guards (a tax dispute answered with the IIT app), so it stays 0.02.
DISTINCT_MARGIN = {"en": 0.0, "zh": 0.02}
# The calibration also reads log(top-1 margin + GAP_FLOOR): a margin of a few thousandths between two
# articles is a coin toss (on the articles' held-out variants the top article of such a pair is right
# 35-45 % of the time), which the linear margin feature under-weights. Added and checked on the enlarged
# tuning part (tests/data/tuning_*.yml, first draft, before near-copies of reporting items were taken
# out): en answered right 0.947 -> 0.950, zh answered 0.935 -> 0.938, nothing lower; 0.002 is the order
# of the margins of those coin tosses, not tuned further.
GAP_FLOOR = 0.002
CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
# Off-topic sentences per language for the in-domain model (never the dev sets).
CALIBRATION_FILES = {"en": CALIBRATION_DIR / "off_topic.txt", "zh": CALIBRATION_DIR / "off_topic_zh.txt"}

UNIT_TITLE, UNIT_QUESTION, UNIT_ANSWER = 0, 1, 2
Scores: TypeAlias = "np.ndarray[Any, np.dtype[np.float32]]"  # one per article
Vector: TypeAlias = "np.ndarray[Any, np.dtype[np.float32]]"  # one text's embedding, (dimension,)
Features: TypeAlias = "np.ndarray[Any, np.dtype[np.float64]]"  # the calibration features of one query
Mask: TypeAlias = "np.ndarray[Any, np.dtype[np.bool_]]"  # one per unit
Owners: TypeAlias = "np.ndarray[Any, np.dtype[np.int32]]"  # one per unit: the article's index
Kinds: TypeAlias = "np.ndarray[Any, np.dtype[np.int8]]"  # one per unit: UNIT_TITLE / UNIT_QUESTION / UNIT_ANSWER
# Calibrated P(top-1 right) needed to answer rather than clarify, per language: chosen on the tuning
# parts of the dev sets (knowledge/evaluation.py), never on the held-out parts that report.


@dataclass(frozen=True)
class Candidate:
    """One article's scores for a query."""

    article: Article
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Retrieval:
    """The retriever's verdict: `decision` is answer, clarify or out_of_scope.

    `related` are the close runner-ups an answer shows as buttons beside the top article.
    """

    query: str
    decision: str
    confidence: float
    in_domain: float
    candidates: Tuple[Candidate, ...]
    related: Tuple[Candidate, ...] = ()

    @property
    def best(self) -> Optional[Candidate]:
        """The top candidate, if any."""
        return self.candidates[0] if self.candidates else None

    @property
    def shown(self) -> Tuple[Candidate, ...]:
        """The articles the reply shows: the answer and its related buttons, or the clarify buttons."""
        if self.decision == "answer":
            return self.candidates[:1] + self.related
        if self.decision == "clarify":
            return self.candidates[:CLARIFY_BUTTONS]
        return ()


@dataclass(frozen=True)
class Units:
    """The embedded texts of the articles: titles, question variants and answers."""

    article_index: Owners
    kind: Kinds
    language: Tuple[str, ...]
    text: Tuple[str, ...]
    vectors: Vectors  # (n_units, dim)


class CalibrationJson(TypedDict):
    """A fitted `Calibration` as stored in the index's JSON file."""

    correct_coef: List[float]
    correct_intercept: float
    domain_coef: List[float]
    domain_intercept: float


class IndexMeta(TypedDict):
    """The JSON file stored beside the index vectors: the embedded texts and the fitted calibration."""

    texts: List[str]
    calibration: Dict[str, CalibrationJson]


@dataclass(frozen=True)
class Calibration:
    """Two logistic models over the same features: P(top-1 is right) and P(question is in domain)."""

    correct_coef: Tuple[float, ...]
    correct_intercept: float
    domain_coef: Tuple[float, ...]
    domain_intercept: float

    def probabilities(self, features: Features) -> Tuple[float, float]:
        """(P(top-1 is right), P(in domain)) for one query's features."""
        correct = 1.0 / (1.0 + np.exp(-(features @ np.array(self.correct_coef) + self.correct_intercept)))
        domain = 1.0 / (1.0 + np.exp(-(features @ np.array(self.domain_coef) + self.domain_intercept)))
        return float(correct), float(domain)

    def to_json(self) -> CalibrationJson:
        """The fitted coefficients for the index's JSON file."""
        return {
            "correct_coef": list(self.correct_coef),
            "correct_intercept": self.correct_intercept,
            "domain_coef": list(self.domain_coef),
            "domain_intercept": self.domain_intercept,
        }

    @classmethod
    def from_json(cls, stored: CalibrationJson) -> "Calibration":
        """The calibration `to_json` wrote."""
        return cls(
            correct_coef=tuple(stored["correct_coef"]),
            correct_intercept=stored["correct_intercept"],
            domain_coef=tuple(stored["domain_coef"]),
            domain_intercept=stored["domain_intercept"],
        )


def content_hash(articles_dir: Path, encoder_name: str) -> str:
    """A key for the on-disk index: the articles, the calibration data, the encoder and the index version."""
    digest = hashlib.sha256(INDEX_VERSION.encode())
    for path in article_files(articles_dir):
        digest.update(str(path.relative_to(articles_dir)).encode())
        digest.update(path.read_bytes())
    for path in CALIBRATION_FILES.values():
        if path.exists():
            digest.update(path.read_bytes())
    digest.update(encoder_name.encode())
    return digest.hexdigest()[:24]


def build_units(articles: Sequence[Article]) -> Tuple[Owners, Kinds, Tuple[str, ...], Tuple[str, ...]]:
    """The texts to embed for every article and language."""
    rows: List[Tuple[int, int, str, str]] = []  # (article index, kind, language, text)
    for index, article in enumerate(articles):
        rows.extend((index, UNIT_TITLE, language, title) for language, title in article.title.items())
        for language, questions in article.questions.items():
            rows.extend((index, UNIT_QUESTION, language, question) for question in questions)
        rows.extend((index, UNIT_ANSWER, language, answer) for language, answer in article.answer.items())
    owners: Owners = np.array([row[0] for row in rows], dtype=np.int32)
    kinds: Kinds = np.array([row[1] for row in rows], dtype=np.int8)
    return owners, kinds, tuple(row[2] for row in rows), tuple(row[3] for row in rows)


def embed_units(encoder: Encoder, kinds: Kinds, texts: Sequence[str]) -> Vectors:
    """Unit vectors: titles and question variants as queries, answers as passages."""
    vectors: Vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    answers = np.flatnonzero(kinds == UNIT_ANSWER)
    others = np.flatnonzero(kinds != UNIT_ANSWER)
    if len(others):
        vectors[others] = encoder.encode_queries([texts[i] for i in others])
    if len(answers):
        vectors[answers] = encoder.encode_passages([texts[i] for i in answers])
    return vectors


def save_npz(path: Path, **arrays: Any) -> None:
    """Write `arrays` to `path` through a temporary file of this writer's own and an atomic rename.

    Processes building the same index at once (two action servers on a cold start) then never read or
    write a half-written file.
    """
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem, suffix=".npz", delete=False) as handle:
        np.savez(handle, **arrays)
    Path(handle.name).replace(path)


def embed_units_cached(encoder: Encoder, kinds: Kinds, texts: Sequence[str], cache_dir: Path) -> Vectors:
    """`embed_units`, reusing the vectors of texts embedded before by the same encoder.

    Editing one article re-embeds only its changed texts; the store is one file per encoder.
    """
    store = Path(cache_dir) / f"embeddings-{hashlib.sha256(encoder.name.encode()).hexdigest()[:16]}.npz"
    keys = [hashlib.sha1(f"{int(kind)}\x00{text}".encode("utf-8")).hexdigest() for kind, text in zip(kinds, texts)]
    known: Dict[str, Vectors] = {}
    if store.exists():
        try:
            with np.load(store) as stored:
                known = dict(zip(stored["keys"].tolist(), stored["vectors"]))
        except (OSError, KeyError, ValueError) as error:
            logger.warning("Ignoring a broken embedding store %s: %s", store, error)
    missing = [i for i, key in enumerate(keys) if key not in known]
    if missing:
        fresh = embed_units(encoder, kinds[missing], [texts[i] for i in missing])
        for i, vector in zip(missing, fresh):
            known[keys[i]] = vector
        store.parent.mkdir(parents=True, exist_ok=True)
        wanted = set(keys)
        kept = [k for k in known if k in wanted]
        save_npz(store, keys=np.array(kept), vectors=np.stack([known[k] for k in kept]))
    vectors: Vectors = np.stack([known[key] for key in keys]).astype(np.float32)
    return vectors


def _lexical_documents(articles: Sequence[Article], units: Units, mask: Mask) -> List[List[str]]:
    """One BM25 document per article with the tokens of both languages, so mixed queries match both."""
    documents: List[List[str]] = [[] for _ in articles]
    for i in np.flatnonzero(mask):
        documents[int(units.article_index[i])].extend(tokenize(units.text[i]))
    for index, article in enumerate(articles):
        documents[index].extend(tokenize(" ".join(article.tags)))
        if not documents[index]:
            documents[index].append("__empty__")
    return documents


class LexicalIndex:
    """BM25 over whole articles in both languages, without embeddings (the agent console's search)."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.articles = tuple(articles)
        owners, kinds, languages, texts = build_units(self.articles)
        units = Units(owners, kinds, languages, texts, np.zeros((len(texts), 1), dtype=np.float32))
        self._bm25 = bm25s.BM25()
        self._bm25.index(_lexical_documents(self.articles, units, np.ones(len(texts), dtype=bool)), show_progress=False)

    def search(self, query: str, limit: int = 5) -> List[Tuple[Article, float]]:
        """The best-matching articles with their BM25 scores (only those that match at all)."""
        tokens = tokenize(query)
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        order = [int(i) for i in np.argsort(-scores)[:limit] if scores[i] > 0]
        return [(self.articles[i], float(scores[i])) for i in order]


class _Scorer:
    """Raw scores of every article for a query, over a subset of the units."""

    def __init__(self, articles: Sequence[Article], units: Units, mask: Mask) -> None:
        self.articles = articles
        self.units = units
        self.mask = mask
        self.bm25 = bm25s.BM25()
        self.bm25.index(_lexical_documents(articles, units, mask), show_progress=False)
        self.weights = np.where(units.kind == UNIT_ANSWER, ANSWER_UNIT_DISCOUNT, 1.0).astype(np.float32)

    def scores(self, query: str, vector: Vector, language: str) -> Tuple[Scores, Scores, Scores]:
        """(fused, dense, lexical) score arrays, one entry per article."""
        n = len(self.articles)
        sims = np.where(self.mask, (self.units.vectors @ vector) * self.weights, -np.inf)
        dense = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(dense, self.units.article_index, sims.astype(np.float32))
        dense = np.clip(dense, 0.0, 1.0)
        tokens = tokenize(query)
        raw = np.asarray(self.bm25.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(n, dtype=np.float32)
        lexical: Scores = raw / (raw + LEXICAL_SATURATION)
        fused: Scores = DENSE_WEIGHT * dense + (1.0 - DENSE_WEIGHT) * lexical
        return fused, dense, lexical


def features(fused: Scores, dense: Scores, lexical: Scores, in_domain: float) -> Features:
    """Calibration features of one query: its score arrays and the domain classifier's probability."""
    order = np.argsort(-fused)
    top, second = order[0], order[1] if len(order) > 1 else order[0]
    row: Features = np.array(
        [fused[top], dense[top], lexical[top], fused[top] - fused[second], float(dense.max()), in_domain,
         float(np.log(fused[top] - fused[second] + GAP_FLOOR))],
        dtype=np.float64,
    )
    return row


def rankings_agree(fused: Scores, dense: Scores, lexical: Scores) -> bool:
    """True when the dense and the lexical ranking put the fused top article first, AGREED_MARGIN ahead."""
    order = np.argsort(-fused)
    top = int(order[0])
    margin = float(fused[top] - fused[order[1]]) if len(order) > 1 else float(fused[top])
    agree = int(np.argmax(dense)) == top and int(np.argmax(lexical)) == top and float(lexical[top]) > 0.0
    return agree and margin >= AGREED_MARGIN


def _domain_texts(units: Units, mask: Mask) -> List[str]:
    """The in-domain examples for the domain classifier: titles and question variants under `mask`."""
    return [units.text[i] for i in np.flatnonzero(mask & (units.kind != UNIT_ANSWER))]


def calibrate(
    articles: Sequence[Article],
    units: Units,
    encoder: Encoder,
    off_topic: Dict[str, List[str]],
    language: str = "en",
) -> Calibration:
    """Fit the confidence of one language on its held-out question variants (two folds) and off-topic sentences.

    Each fold's scorer and domain classifier are built without that fold's variants and off-topic
    sentences, so every feature is out-of-sample.
    """
    question_ids = np.flatnonzero((units.kind == UNIT_QUESTION) & (np.array(units.language) == language))
    own = off_topic.get(language, [])
    others = [text for lang, texts in off_topic.items() if lang != language for text in texts]
    rows: List[Features] = []
    correct: List[int] = []
    domain: List[int] = []
    off_vectors = encoder.encode_queries(list(own)) if own else np.zeros((0, units.vectors.shape[1]))
    for fold in (0, 1):
        held_out = question_ids[(np.arange(len(question_ids)) % 2) == fold]
        mask = np.ones(len(units.text), dtype=bool)
        mask[held_out] = False
        scorer = _Scorer(articles, units, mask)
        classifier = DomainClassifier(_domain_texts(units, mask), own[1 - fold :: 2] + others)
        held_texts = [units.text[i] for i in held_out]
        held_domain = classifier.probability(held_texts)
        for i, p in zip(held_out, held_domain):
            fused, dense, lexical = scorer.scores(units.text[i], units.vectors[i], language)
            rows.append(features(fused, dense, lexical, float(p)))
            correct.append(int(np.argmax(fused) == units.article_index[i]))
            domain.append(1)
        fold_off = own[fold::2]
        for sentence, vector, p in zip(fold_off, off_vectors[fold::2], classifier.probability(fold_off)):
            fused, dense, lexical = scorer.scores(sentence, vector, language)
            rows.append(features(fused, dense, lexical, float(p)))
            correct.append(0)
            domain.append(0)
    x = np.vstack(rows)
    correct_model = LogisticRegression(C=10.0, max_iter=2000).fit(x, np.array(correct))
    domain_model = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(x, np.array(domain))
    return Calibration(
        correct_coef=tuple(float(c) for c in correct_model.coef_[0]),
        correct_intercept=float(correct_model.intercept_[0]),
        domain_coef=tuple(float(c) for c in domain_model.coef_[0]),
        domain_intercept=float(domain_model.intercept_[0]),
    )


def load_off_topic(language: str = "en") -> List[str]:
    """Off-topic calibration sentences of one language, one a line (comments start with #)."""
    path = CALIBRATION_FILES[language]
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class Retriever:
    """Answers queries against a fixed set of articles; build with `Retriever.build`."""

    def __init__(
        self,
        articles: Sequence[Article],
        units: Units,
        calibration: Dict[str, Calibration],
        encoder: Encoder,
        answer_threshold: Mapping[str, float],
        domain_threshold: Mapping[str, float],
        key: str,
    ) -> None:
        self.articles = tuple(articles)
        self.units = units
        self.calibration = calibration
        self.encoder = encoder
        self.answer_threshold = dict(answer_threshold)
        self.domain_threshold = dict(domain_threshold)
        self.key = key
        self._by_id = {article.id: article for article in self.articles}
        index = {article.id: i for i, article in enumerate(self.articles)}
        self._neighbours = [
            {index[other] for other in article.related if other in index}
            | {j for j, them in enumerate(self.articles) if article.id in them.related}
            for article in self.articles
        ]
        everything = np.ones(len(units.text), dtype=bool)
        self._scorer = _Scorer(self.articles, units, everything)
        self._domain = DomainClassifier(
            _domain_texts(units, everything), [t for language in LANGUAGES for t in load_off_topic(language)]
        )

    @classmethod
    def build(
        cls,
        articles: Sequence[Article],
        encoder: Encoder,
        cache_dir: Path,
        key: str,
        answer_threshold: Optional[Mapping[str, float]] = None,
        domain_threshold: Optional[Mapping[str, float]] = None,
    ) -> "Retriever":
        """Embed and calibrate, or load both from `cache_dir` when the key is cached already."""
        owners, kinds, languages, texts = build_units(articles)
        cache_file = Path(cache_dir) / f"index-{key}.npz"
        meta_file = Path(cache_dir) / f"index-{key}.json"
        calibration: Optional[Dict[str, Calibration]] = None
        vectors: Optional[Vectors] = None
        if cache_file.exists() and meta_file.exists():
            try:
                meta: IndexMeta = json.loads(meta_file.read_text())
                if list(meta["texts"]) == list(texts):
                    with np.load(cache_file) as stored:
                        vectors = stored["vectors"]
                    calibration = {
                        language: Calibration.from_json(fitted) for language, fitted in meta["calibration"].items()
                    }
                    logger.info("Loaded the retrieval index %s from %s", key, cache_dir)
            except (OSError, KeyError, ValueError, TypeError) as error:
                logger.warning("Ignoring a broken index cache %s: %s", cache_file, error)
        if vectors is None or calibration is None:
            logger.info("Building the retrieval index %s for %d articles", key, len(articles))
            vectors = embed_units_cached(encoder, kinds, texts, Path(cache_dir))
            units = Units(owners, kinds, languages, texts, vectors)
            off_topic = {language: load_off_topic(language) for language in LANGUAGES}
            calibration = {language: calibrate(articles, units, encoder, off_topic, language) for language in LANGUAGES}
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            written: IndexMeta = {
                "texts": list(texts),
                "calibration": {lang: c.to_json() for lang, c in calibration.items()},
            }
            # a temporary file of its own, then an atomic rename (as `save_npz`)
            save_npz(cache_file, vectors=vectors)
            with tempfile.NamedTemporaryFile("w", dir=cache_dir, suffix=".json", delete=False,
                                             encoding="utf-8") as meta_handle:
                meta_handle.write(json.dumps(written, ensure_ascii=False))
            Path(meta_handle.name).replace(meta_file)
        units = Units(owners, kinds, languages, texts, vectors)
        thresholds = answer_threshold if answer_threshold is not None else DEFAULT_ANSWER_THRESHOLDS
        domain = domain_threshold if domain_threshold is not None else DEFAULT_DOMAIN_THRESHOLDS
        return cls(articles, units, calibration, encoder, thresholds, domain, key)

    def get(self, article_id: str) -> Optional[Article]:
        """The article with this id, if any."""
        return self._by_id.get(article_id)

    def search(self, query: str, k: int = 3, language: Optional[str] = None) -> Retrieval:
        """Rank the articles for `query` and decide answer / clarify / out_of_scope.

        Out of scope when P(tax question) is below the language's domain threshold; an answer when
        P(top-1 right) reaches the answer threshold with `DISTINCT_MARGIN`, or when the rankings agree
        (`rankings_agree`); else clarify.
        An answer carries the close runner-ups (`RELATED_MARGIN`), and close declared neighbours down to
        `NEIGHBOUR_WINDOW`, as `related`.
        """
        text = " ".join(query.split())
        if not text:
            return Retrieval(query, "out_of_scope", 0.0, 0.0, ())
        lang = language if language in self.calibration else language_of(text)
        vector = self.encoder.encode_queries([text])[0]
        fused, dense, lexical = self._scorer.scores(text, vector, lang)
        in_domain = float(self._domain.probability([text])[0])
        correct, domain = self.calibration[lang].probabilities(features(fused, dense, lexical, in_domain))
        ranked = np.argsort(-fused)
        candidates = tuple(self._candidate(int(i), fused, dense, lexical) for i in ranked[:k])
        related: Tuple[Candidate, ...] = ()
        if domain < self.domain_threshold.get(lang, DEFAULT_DOMAIN_THRESHOLDS[lang]):
            decision = "out_of_scope"
        elif (
            correct >= self.answer_threshold.get(lang, DEFAULT_ANSWER_THRESHOLDS[lang])
            and self._distinct_margin(ranked, fused) >= DISTINCT_MARGIN.get(lang, 0.0)
        ) or rankings_agree(fused, dense, lexical):
            decision = "answer"
            related = tuple(self._candidate(i, fused, dense, lexical) for i in self._related(ranked, fused))
        else:
            decision = "clarify"
        return Retrieval(text, decision, round(correct, 4), round(domain, 4), candidates, related)

    def _related(self, ranked: Owners, fused: Scores) -> List[int]:
        """The related buttons of an answer: the close runner-ups, and close declared neighbours a little lower."""
        top = int(ranked[0])
        shown = set(int(i) for i in ranked[1:CLARIFY_BUTTONS]) | self._neighbours[top]
        close = [int(i) for i in ranked[1:NEIGHBOUR_WINDOW] if float(fused[top] - fused[i]) <= RELATED_MARGIN]
        return [i for i in close if i in shown][:RELATED_BUTTONS]

    def _distinct_margin(self, ranked: Owners, fused: Scores) -> float:
        """How far the top article is ahead of the best article that is not its declared neighbour."""
        top = int(ranked[0])
        near = self._neighbours[top]
        rival = next((int(i) for i in ranked[1:] if int(i) not in near), None)
        return float(fused[top]) if rival is None else float(fused[top] - fused[rival])

    def _candidate(self, index: int, fused: Scores, dense: Scores, lexical: Scores) -> Candidate:
        """The article at `index` with its scores."""
        return Candidate(self.articles[index], float(fused[index]), float(dense[index]), float(lexical[index]))
