"""Per-intent F1 of the NLU before and after issue 10's training data, on lines neither data set trained on.

    python -m scripts.intent_eval [--before-rev def1e88] [--model PATH | --train-after] [--before-model PATH]
    make intent-eval

"Before" is the NLU training data of commit ``--before-rev`` (English only then); "after" is nlu/*.yml now.
Both are classified with the current config.yml, so only the data differs: "before" is an NLU-only model
trained here, "after" is the current Rasa model (``--model``, else TAXGUIDE_MODEL, else the one
``python -m scripts.stack model-path`` gives if it is already trained), or, with ``--train-after`` or when the
current inputs have no model yet, an NLU-only model trained the same way as "before".

Test lines: tests/data/smalltalk_dev.yml (its intent and language), and every question (gold
``ask_tax_question``) and off-topic line (gold ``out_of_scope``) of both parts of the retrieval dev sets
(knowledge.evaluation), in the dev set's language. Both parts are used because no threshold is chosen
here. A line whose normalised text equals a training example of either data set is dropped.
Figures per language and gold intent: support, precision, recall, F1; weighted and macro F1 over the gold
intents; the share of request_human lines and of tax questions predicted as out_of_scope; the share of
lines that fell back (nlu_fallback).
Results go to results/intent-eval.json and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, TypedDict

import yaml

from nlu.parse import normalise
from scripts.stack import ROOT, environment

SMALLTALK_DEV = ROOT / "tests" / "data" / "smalltalk_dev.yml"
RESULTS = ROOT / "results" / "intent-eval.json"
LANGUAGES = ("en", "zh")
OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"
TAX_QUESTION = "ask_tax_question"
SWALLOWABLE = ("request_human", TAX_QUESTION)  # intents out_of_scope must not take over (issue 10)


class EvalLine(NamedTuple):
    """One test message: its text, the intent it should get and its language."""

    text: str
    intent: str
    language: str


class IntentScore(TypedDict):
    """One gold intent's figures."""

    support: int
    precision: float
    recall: float
    f1: float


class Scores(TypedDict):
    """One model's figures on one language's lines."""

    n: int
    weighted_f1: float
    macro_f1: float
    intents: Dict[str, IntentScore]
    out_of_scope_share: Dict[str, float]  # per swallowable gold intent: share predicted out_of_scope
    fallback_share: float  # share of all lines predicted nlu_fallback (FallbackClassifier, below its threshold)
    predicted: Dict[str, Dict[str, int]]  # gold intent -> predicted intent -> count


def eval_lines(smalltalk: Path = SMALLTALK_DEV, languages: Sequence[str] = LANGUAGES) -> List[EvalLine]:
    """The small-talk dev lines, then each language's dev questions and off-topic lines."""
    from knowledge.evaluation import EvalSet

    data = yaml.safe_load(smalltalk.read_text(encoding="utf-8")) or {}
    lines = [EvalLine(str(item["text"]), str(item["intent"]), str(item["lang"])) for item in data.get("lines") or []]
    for language in languages:
        dev = EvalSet.for_language(language)
        lines.extend(EvalLine(text, TAX_QUESTION, language) for text, _ in dev.questions)
        lines.extend(EvalLine(text, OUT_OF_SCOPE, language) for text in dev.off_topic)
    return lines


def drop_seen(lines: Sequence[EvalLine], *training: Iterable[str]) -> Tuple[List[EvalLine], List[EvalLine]]:
    """``lines`` split into (kept, dropped): dropped ones equal, normalised, an example of any training set."""
    seen = {normalise(text) for texts in training for text in texts}
    kept = [line for line in lines if normalise(line.text) not in seen]
    dropped = [line for line in lines if normalise(line.text) in seen]
    return kept, dropped


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def score(gold: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Per gold intent precision, recall and F1, their support-weighted and plain means, and the swallowing."""
    pairs = list(zip(gold, predicted, strict=True))
    support = Counter(gold)
    guessed = Counter(predicted)
    right = Counter(g for g, p in pairs if g == p)
    intents: Dict[str, IntentScore] = {}
    f1s: Dict[str, float] = {}
    for intent in sorted(support):
        precision = _ratio(right[intent], guessed[intent])
        recall = _ratio(right[intent], support[intent])
        f1 = f1s[intent] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        intents[intent] = IntentScore(support=support[intent], precision=round(precision, 4),
                                      recall=round(recall, 4), f1=round(f1, 4))
    confusion: Dict[str, Counter[str]] = {intent: Counter() for intent in support}
    for g, p in pairs:
        confusion[g][p] += 1
    n = len(pairs)
    return Scores(
        n=n,
        weighted_f1=round(_ratio(math.fsum(f1s[i] * support[i] for i in f1s), n), 4),
        macro_f1=round(_ratio(math.fsum(f1s.values()), len(f1s)), 4),
        intents=intents,
        out_of_scope_share={intent: round(_ratio(confusion[intent][OUT_OF_SCOPE], support[intent]), 4)
                            for intent in SWALLOWABLE if intent in support},
        fallback_share=round(_ratio(guessed[FALLBACK], n), 4),
        predicted={intent: dict(confusion[intent].most_common()) for intent in sorted(confusion)},
    )


def examples_at(rev: str) -> List[Tuple[str, str]]:
    """(text, intent) of every NLU example in nlu/*.yml at git revision ``rev``."""
    from rasa.shared.nlu.training_data.loading import load_data

    names = subprocess.run(["git", "ls-tree", "--name-only", rev, "nlu/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    examples: List[Tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="intent-eval-") as directory:
        for name in sorted(n for n in names if n.endswith(".yml")):
            text = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout
            if "nlu:" not in text:
                continue
            path = Path(directory) / Path(name).name
            path.write_text(text, encoding="utf-8")
            for message in load_data(str(path)).intent_examples:
                examples.append((" ".join(str(message.get("text")).split()), str(message.get("intent"))))
    return examples


def table(results: Dict[str, Dict[str, Scores]]) -> str:
    """Before and after side by side: one row per language and gold intent, then the summary rows."""
    before, after = results["before"], results["after"]
    lines = ["| language | gold intent | support | P before | R before | F1 before | P after | R after | F1 after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for language in sorted(after):
        for intent, a in after[language]["intents"].items():
            b = before[language]["intents"][intent]
            lines.append(f"| {language} | {intent} | {a['support']} | {b['precision']:.3f} | {b['recall']:.3f} "
                         f"| {b['f1']:.3f} | {a['precision']:.3f} | {a['recall']:.3f} | {a['f1']:.3f} |")
        b_all, a_all = before[language], after[language]
        lines.append(f"| {language} | **weighted F1** | {a_all['n']} | | | {b_all['weighted_f1']:.3f} | | "
                     f"| {a_all['weighted_f1']:.3f} |")
        lines.append(f"| {language} | **macro F1** | | | | {b_all['macro_f1']:.3f} | | | {a_all['macro_f1']:.3f} |")
        for intent in SWALLOWABLE:
            if intent in a_all["out_of_scope_share"]:
                lines.append(f"| {language} | {intent} → out_of_scope | {a_all['intents'][intent]['support']} | | "
                             f"| {b_all['out_of_scope_share'][intent]:.3f} | | "
                             f"| {a_all['out_of_scope_share'][intent]:.3f} |")
        lines.append(f"| {language} | any → {FALLBACK} | {a_all['n']} | | | {b_all['fallback_share']:.3f} | | "
                     f"| {a_all['fallback_share']:.3f} |")
    return "\n".join(lines)


def _current_model(given: Optional[str]) -> Optional[Path]:
    """``given``, else TAXGUIDE_MODEL, else the current Rasa model if it is trained; None: train an NLU-only one."""
    from knowledge.env import Env
    from scripts.stack import MODELS, training_fingerprint

    env = environment()
    chosen = given or Env(env).text("TAXGUIDE_MODEL")
    if chosen:
        return Path(chosen)
    current = MODELS / f"taxguide-{training_fingerprint(env)}.tar.gz"
    return current if current.exists() else None


def main() -> int:
    """Train, classify, write results/intent-eval.json and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-rev", default="def1e88", help="git revision of the 'before' training data")
    parser.add_argument("--before-model", help="an NLU model already trained on the 'before' data (skips training)")
    parser.add_argument("--model",
                        help="the 'after' Rasa model (default: TAXGUIDE_MODEL, else the current one if trained)")
    parser.add_argument("--train-after", action="store_true",
                        help="train an NLU-only 'after' model on nlu/*.yml instead of using --model")
    args = parser.parse_args()
    from rasa.utils.log_utils import configure_structlog

    from scripts.nlu_eval import OUT, load_examples, predict, train, write_nlu

    configure_structlog(logging.WARNING)  # not a debug line per parsed message
    env = environment()
    data = {"before": examples_at(args.before_rev), "after": load_examples()}
    lines, dropped = drop_seen(eval_lines(), *([t for t, _ in examples] for examples in data.values()))
    dropped_by = Counter((line.language, line.intent) for line in dropped)
    print(f"{len(lines) + len(dropped)} test lines; dropped {len(dropped)} equal to a training example "
          f"(before {len(data['before'])}, after {len(data['after'])} examples): "
          + ", ".join(f"{lang}/{intent} {n}" for (lang, intent), n in sorted(dropped_by.items())), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    models: Dict[str, Path] = {}
    for name in ("before", "after"):
        given = args.before_model if name == "before" else (None if args.train_after else _current_model(args.model))
        if given:
            models[name] = Path(given)
            continue
        path = OUT / f"intent-{name}.yml"
        write_nlu(path, data[name])
        print(f"training the '{name}' NLU model on {len(data[name])} examples ...", flush=True)
        models[name] = train(ROOT / "config.yml", path, f"intent-{name}", env)
    results: Dict[str, Dict[str, Scores]] = {}
    for name, model in models.items():
        print(f"classifying {len(lines)} lines with {model}", flush=True)
        predicted, _ = asyncio.run(predict(model, [line.text for line in lines]))
        results[name] = {}
        for language in LANGUAGES:
            chosen = [(line.intent, guess) for line, guess in zip(lines, predicted) if line.language == language]
            results[name][language] = score([g for g, _ in chosen], [p for _, p in chosen])
    report = {
        "before": {"training_data": f"nlu/*.yml at {args.before_rev}", "examples": len(data["before"]),
                   "model": str(models["before"])},
        "after": {"training_data": "nlu/*.yml now", "examples": len(data["after"]), "model": str(models["after"])},
        "test_lines": len(lines),
        "dropped": {f"{lang}/{intent}": n for (lang, intent), n in sorted(dropped_by.items())},
        "results": results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
