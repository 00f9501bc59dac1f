"""Command line: `python -m knowledge validate | build | ask TEXT | evaluate [FILE] | bench | report`."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from knowledge.schema import validate_directory
from knowledge.settings import PROJECT_ROOT, KnowledgeSettings

BENCH_QUERIES = (
    "how much can I earn before income tax kicks in",
    "vat rate for consulting services",
    "I just moved to Beijing for my first job and rent a flat near the office, what can I deduct?",
)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is 0 when it succeeded."""
    parser = argparse.ArgumentParser(prog="python -m knowledge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate", help="check every article against the schema")
    sub.add_parser("build", help="build (or load) the cached retrieval index")
    ask = sub.add_parser("ask", help="show what the retriever does with a question")
    ask.add_argument("text")
    ev = sub.add_parser("evaluate", help="retrieval figures per language and part on the dev sets")
    ev.add_argument("file", nargs="?", default=None, help="one labelled file instead of the dev sets")
    ev.add_argument("--misses", default=str(PROJECT_ROOT / "var" / "eval" / "misses.tsv"))
    ev.add_argument("--model", default=None,
                    help="a trained Rasa model archive: adds the assistant rows (the NLU routes first)")
    sub.add_parser("bench", help="time query embedding and whole searches")
    rp = sub.add_parser("report", help="review report: expiring and expired policies, stale reviews, open doubts")
    rp.add_argument("--today", default=None, help="the report's date (YYYY-MM-DD); today by default")
    args = parser.parse_args(argv)

    settings = KnowledgeSettings.from_env()
    if args.command == "report":
        import datetime as dt

        from knowledge.report import report_for

        today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
        review = report_for(settings.articles_dir, today)
        print(review.render())
        return 1 if review.errors else 0
    if args.command == "validate":
        problems = list(validate_directory(settings.articles_dir))
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{'FAILED' if problems else 'OK'}: {len(problems)} problem(s)")
        return 1 if problems else 0

    from knowledge.service import KnowledgeService

    service = KnowledgeService(settings)
    started = time.perf_counter()
    retriever = service.start()
    print(f"index {retriever.key}: {len(retriever.articles)} articles ready in {time.perf_counter() - started:.1f}s")
    if args.command == "ask":
        result = retriever.search(args.text)
        print(f"decision={result.decision} confidence={result.confidence} in_domain={result.in_domain}")
        if result.related:
            print("related buttons: " + ", ".join(c.article.id for c in result.related))
        for candidate in result.candidates:
            print(
                f"  {candidate.article.id:34s} fused={candidate.score:.3f} dense={candidate.dense:.3f} "
                f"lexical={candidate.lexical:.3f}"
            )
    elif args.command == "evaluate":
        from knowledge.evaluation import (
            EvalSet,
            assistant_routes,
            evaluate,
            evaluate_all,
            report_dict,
            table,
            target_lines,
            write_misses,
        )

        if args.file:
            report = evaluate(retriever, EvalSet.load(Path(args.file)))
            print(report.summary())
            print(json.dumps(report_dict(report)))
        else:
            routes, excluded = None, frozenset[str]()
            if args.model:
                routes, excluded = assistant_routes(Path(args.model))
                print(f"assistant rows: NLU of {args.model}; {len(excluded)} dev items the NLU was trained on left out")
            reports = evaluate_all(retriever, routes=routes, excluded=excluded)
            print(table(reports))
            print("\nissue 10 targets (the held-out rows report; tune rows are for choosing):")
            print(target_lines(reports))
            count = write_misses(reports, Path(args.misses))
            print(f"{count} misses and false answers written to {args.misses}")
    elif args.command == "bench":
        steps: tuple[tuple[str, Callable[[str], object]], ...] = (
            ("embed one query", lambda q: retriever.encoder.encode_queries([q])),
            ("whole search", retriever.search),
        )
        for label, step in steps:
            for q in BENCH_QUERIES:
                step(q)  # warm up
            timings = []
            for _ in range(30):
                for q in BENCH_QUERIES:
                    t = time.perf_counter()
                    step(q)
                    timings.append((time.perf_counter() - t) * 1000)
            p95 = statistics.quantiles(timings, n=20, method="inclusive")[18]
            print(f"{label}: p50={statistics.median(timings):.1f} ms p95={p95:.1f} ms n={len(timings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
