"""Cross-validated intent F1 per language, for the choices behind config.yml.

    python -m scripts.nlu_eval [--folds 3] [--variants bilingual,bilingual-dense,per-language]
    make nlu-eval                        # the same with 3 folds and every variant

Variants, each over the same stratified folds of all NLU examples (nlu/*.yml, both languages):
- `bilingual`: config.yml as it is (one model, sparse features);
- `bilingual-dense`: the same plus the multilingual e5 sentence featurizer before DIET;
- `per-language`: config.yml trained on one language's examples only, tested on that language.
For each variant and language: weighted and macro intent F1, and the NLU's mean parse time.
Reports go to results/nlu-eval.json and are printed as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from nlu.parse import load_agent, parse_texts
from scripts.stack import ROOT, VENV_BIN, environment

OUT = ROOT / "results" / "nlu-eval"
Example = Tuple[str, str]  # (text, intent)


def load_examples() -> List[Example]:
    """Every NLU example of every file in nlu/, one line each."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples: List[Example] = []
    for path in sorted(p for p in (ROOT / "nlu").glob("*.yml") if "nlu:" in p.read_text(encoding="utf-8")):
        data = load_data(str(path))
        for message in data.intent_examples:
            examples.append((" ".join(str(message.get("text")).split()), str(message.get("intent"))))
    return examples


def write_nlu(path: Path, examples: Sequence[Example]) -> None:
    """Write ``examples`` as a Rasa NLU training file, grouped by intent."""
    by_intent: Dict[str, List[str]] = defaultdict(list)
    for text, intent in examples:
        by_intent[intent].append(text)
    document = {"version": "3.1", "nlu": [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]}
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=10_000), encoding="utf-8")


def train(config: Path, data: Path, name: str, env: Dict[str, str]) -> Path:
    """Train an NLU-only model on ``data`` with ``config``; returns its archive in results/nlu-eval."""
    subprocess.run(
        [str(VENV_BIN / "rasa"), "train", "nlu", "--config", str(config), "--nlu", str(data), "--out", str(OUT),
         "--fixed-model-name", name],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    return OUT / f"{name}.tar.gz"


async def predict(model: Path, texts: Sequence[str]) -> Tuple[List[str], float]:
    """The model's intent for each text, and the mean parse time in ms."""
    agent = load_agent(model)
    started = time.perf_counter()
    verdicts = await parse_texts(agent, texts)
    return [v.intent for v in verdicts], (time.perf_counter() - started) * 1000 / max(len(texts), 1)


def scores(gold: Sequence[str], predicted: Sequence[str]) -> Dict[str, float]:
    """Weighted and macro intent F1, and the number of examples."""
    from sklearn.metrics import f1_score

    return {
        "weighted_f1": round(float(f1_score(gold, predicted, average="weighted", zero_division=0)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro", zero_division=0)), 4),
        "n": len(gold),
    }


def main() -> int:
    """Run the evaluation, write results/nlu-eval.json and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds")
    parser.add_argument("--variants", default="bilingual,bilingual-dense,per-language",
                        help="comma-separated variants to evaluate")
    args = parser.parse_args()
    from sklearn.model_selection import StratifiedKFold

    from knowledge.text import language_of

    env = environment()
    OUT.mkdir(parents=True, exist_ok=True)
    examples = load_examples()
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline = [c for c in config["pipeline"] if not c["name"].endswith("SentenceEmbeddingFeaturizer")]
    diet = next(i for i, c in enumerate(pipeline) if c["name"] == "DIETClassifier")
    featurizer = {"name": "nlu.components.sentence_featurizer.SentenceEmbeddingFeaturizer", "encoder": "e5"}
    dense = [*pipeline[:diet], featurizer, *pipeline[diet:]]
    (OUT / "config-dense.yml").write_text(yaml.safe_dump(dict(config, pipeline=dense), sort_keys=False))
    configs = {"bilingual": ROOT / "config.yml", "bilingual-dense": OUT / "config-dense.yml",
               "per-language": ROOT / "config.yml"}
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=42).split(examples, [i for _, i in examples]))
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for variant in args.variants.split(","):
        gold: Dict[str, List[str]] = defaultdict(list)
        got: Dict[str, List[str]] = defaultdict(list)
        timing: List[float] = []
        for fold, (train_ids, test_ids) in enumerate(folds):
            groups: List[Tuple[str, Optional[str]]] = [("all", None)]  # (file tag, language tested)
            if variant == "per-language":
                groups = [("en", "en"), ("zh", "zh")]
            for tag, language in groups:
                train_set = [examples[i] for i in train_ids
                             if language is None or language_of(examples[i][0]) == language]
                test_set = [examples[i] for i in test_ids
                            if language is None or language_of(examples[i][0]) == language]
                data = OUT / f"train-{variant}-{fold}-{tag}.yml"
                write_nlu(data, train_set)
                print(f"{variant} fold {fold + 1}/{args.folds} {tag}: training on {len(train_set)}", flush=True)
                model = train(configs[variant], data, f"{variant}-{fold}-{tag}", env)
                predicted, ms = asyncio.run(predict(model, [t for t, _ in test_set]))
                timing.append(ms)
                for (text, intent), guess in zip(test_set, predicted):
                    gold[language_of(text)].append(intent)
                    got[language_of(text)].append(guess)
        results[variant] = {lang: scores(gold[lang], got[lang]) for lang in sorted(gold)}
        results[variant]["parse_ms"] = {"mean": round(sum(timing) / len(timing), 1)}
        print(variant, json.dumps(results[variant]), flush=True)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "nlu-eval.json").write_text(json.dumps(results, indent=2))
    print("\n| variant | language | examples | weighted F1 | macro F1 |\n| --- | --- | --- | --- | --- |")
    for variant, by_language in results.items():
        for language, figures in by_language.items():
            if language != "parse_ms":
                print(f"| {variant} | {language} | {figures['n']} | {figures['weighted_f1']} | {figures['macro_f1']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
