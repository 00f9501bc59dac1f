"""Fill the gateway database with realistic synthetic conversations and ratings for the dashboard.

    python -m bot.analytics.demo --conversations 2000 [--days 60] [--seed 7] [--database-url URL]

Uses DATABASE_URL (as the gateway does), runs the migrations first, and writes transcripts
(``conversations``, ``messages``), ``conversation_outcomes``, ``conversation_ratings``,
``answer_feedback``, ``unanswered_questions`` and ``handoff_events``. Questions are the knowledge
base's own question variants; ids start with ``demo-`` so demo rows are easy to find (``--clear``
deletes the previous demo rows first).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, TypedDict

import yaml
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import create_async_engine

from bot.analytics.clock import beijing_day
from bot.analytics.models import answer_feedback, conversation_outcomes, conversation_ratings, unanswered_questions
from bot.db.migrate import upgrade_head
from bot.db.models import Conversation, HandoffEvent, Message
from bot.settings import PROJECT_ROOT, Settings, _resolve_sqlite

OFF_TOPIC = [
    ("What's the weather in Beijing tomorrow?", "en"), ("Can you book me a train ticket to Shanghai?", "en"),
    ("Who won the football match yesterday?", "en"), ("Recommend a good hotpot restaurant", "en"),
    ("明天北京天气怎么样？", "zh"), ("帮我订一张去上海的火车票", "zh"), ("How do I renew my passport?", "en"),
    ("社保卡丢了怎么补办？", "zh"),
]
UNCLEAR = [
    ("blorp tax thing??", "en"), ("the form", "en"), ("税 那个", "zh"), ("help with the thing from last year", "en"),
]
COMMENTS_GOOD = [
    "very clear", "quick and helpful", "exactly what I needed", "很清楚", "谢谢，很有帮助", "saved me a call",
]
COMMENTS_BAD = ["did not answer my question", "too general for my case", "waited too long for an officer",
                "答非所问", "links did not work", "I needed a person"]
TABLES = ("conv", "msg", "outcome", "rating", "feedback", "unanswered", "handoff")

#: Column -> value of one row to insert, by table key of ``TABLES``.
Row = Dict[str, Any]


class DemoArticle(TypedDict):
    """A knowledge-base article as the demo uses it: its question variants and English answer."""

    id: str
    title: str
    questions: List[Tuple[str, str]]  # (question, language)
    answer: str


def load_articles(root: Path) -> List[DemoArticle]:
    """The articles under ``root`` with at least one question (one built-in article when there are none)."""
    articles: List[DemoArticle] = []
    for path in sorted(root.glob("*/*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        questions: List[Tuple[str, str]] = []
        for lang, items in (data.get("questions") or {}).items():
            questions += [(q, lang) for q in items or [] if isinstance(q, str)]
        answer = (data.get("answer") or {}).get("en") or (data.get("answer") or {}).get("zh") or ""
        if data.get("id") and questions:
            title = (data.get("title") or {}).get("en") or data["id"]
            articles.append({"id": data["id"], "title": title, "questions": questions, "answer": answer.strip()})
    if not articles:
        articles = [{"id": "iit-basic-deduction", "title": "Basic deduction", "answer": "5,000 yuan a month.",
                     "questions": [("What is the basic deduction?", "en"), ("个税起征点是多少？", "zh")]}]
    return articles


def generate(n: int, days: int, seed: int, now: datetime) -> Dict[str, List[Row]]:
    """``n`` synthetic conversations over the ``days`` before ``now``: the rows of each table (same seed, same rows)."""
    rng = random.Random(seed)
    articles = load_articles(PROJECT_ROOT / "knowledge" / "articles")
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(articles))]  # a few topics dominate
    quality = {a["id"]: rng.uniform(-0.8, 0.6) for a in articles}  # some articles satisfy less
    out: Dict[str, List[Row]] = {k: [] for k in TABLES}
    for i in range(n):
        # more conversations on weekdays and in office hours, a slow rise over the period
        while True:
            day = rng.random() ** 1.3 * days  # slowly rising use
            start = now - timedelta(days=day)
            local = start + timedelta(hours=8)
            if rng.random() < (0.45 if local.weekday() >= 5 else 1.0) * (1.0 if 8 <= local.hour <= 20 else 0.35):
                break
        cid = f"demo-{seed}-{i:07d}"
        channel = rng.choices(["socketio", "rest"], [0.7, 0.3])[0]
        t = start
        msgs: List[Tuple[str, str, Optional[str], Dict[str, Any]]] = []  # (sender, text, kind, extra)
        answers = unanswered = 0
        topic: Optional[str] = None
        language = "zh" if rng.random() < 0.45 else "en"
        urows: List[Tuple[str, str]] = []  # (kind, question)
        satisfaction = rng.gauss(0.35, 0.9)
        for _ in range(rng.choices([1, 2, 3, 4], [0.45, 0.3, 0.17, 0.08])[0]):
            r = rng.random()
            if r < 0.08:
                q, lang = rng.choice(OFF_TOPIC)
                msgs.append(("taxpayer", q, None, {}))
                msgs.append(("bot", "I can only help with tax questions for Beijing taxpayers.", "out_of_scope", {}))
                unanswered += 1
                urows.append(("out_of_scope", q))
                satisfaction -= 0.3
            elif r < 0.14:
                q, lang = rng.choice(UNCLEAR)
                msgs.append(("taxpayer", q, None, {}))
                msgs.append(("bot", "Sorry, I didn't understand that. Could you say it in other words?", "fallback",
                             {}))
                unanswered += 1
                urows.append(("fallback", q))
                satisfaction -= 0.5
            else:
                a = rng.choices(articles, weights)[0]
                q, lang = rng.choice(a["questions"])
                msgs.append(("taxpayer", q, None, {}))
                if rng.random() < 0.12:
                    msgs.append(("bot", "Did you mean one of these topics?", "clarify", {}))
                    unanswered += 1
                    urows.append(("clarify", q))
                    msgs.append(("taxpayer", a["title"], None, {}))
                fid = f"{i:x}{answers}{rng.randrange(1 << 30):x}"[:16]
                confidence = round(rng.uniform(0.5, 0.98), 2)
                msgs.append(("bot", a["answer"][:600], "answer",
                             {"article_id": a["id"], "confidence": confidence, "feedback_id": fid}))
                answers += 1
                topic = topic or a["id"]
                satisfaction += quality[a["id"]]
                if rng.random() < 0.18:
                    voted = t + timedelta(seconds=40)
                    out["feedback"].append({"conversation_id": cid, "feedback_id": fid, "article_id": a["id"],
                                            "helpful": rng.random() < 0.5 + 0.3 * quality[a["id"]] + 0.1,
                                            "created_at": voted, "updated_at": voted})
            language = lang if msgs and len(msgs) <= 3 else language
        handoff = unanswered >= 2 and rng.random() < 0.5 or rng.random() < 0.07
        agent = False
        if handoff:
            msgs.append(("taxpayer", "talk to an agent" if language == "en" else "我要人工", None, {}))
            msgs.append(("bot", "I'll connect you with a tax officer.", "handoff", {}))
            queued = start + timedelta(seconds=30 * len(msgs))
            for event_type in ("requested", "queued"):
                out["handoff"].append({"conversation_id": cid, "event_type": event_type, "created_at": queued,
                                       "reason": "requested"})
            if rng.random() < 0.8:
                wait = rng.lognormvariate(4.6, 0.7)  # median ~100 s
                agent = True
                out["handoff"].append({"conversation_id": cid, "event_type": "claimed",
                                       "created_at": queued + timedelta(seconds=wait),
                                       "agent": rng.choice(["wang", "li", "zhang"]), "reason": "requested",
                                       "data": {"waited_seconds": round(wait, 1)}})
                msgs.append(("agent", "Hello, I am a tax officer. Let me look at your case.", "agent_message", {}))
                out["handoff"].append({"conversation_id": cid, "event_type": "resolved",
                                       "created_at": queued + timedelta(seconds=wait + 300), "agent": "wang",
                                       "reason": "requested"})
                satisfaction += 0.6 - wait / 600
            else:
                out["handoff"].append({"conversation_id": cid, "event_type": "abandoned",
                                       "created_at": queued + timedelta(seconds=200)})
                satisfaction -= 1.0
        end_reason = "agent_resolved" if agent else rng.choices(["thanks", "goodbye", "idle"], [0.45, 0.15, 0.4])[0]
        for sender, text, kind, extra in msgs:
            t += timedelta(seconds=rng.randint(5, 60))
            payload = {"custom": {"kind": kind, **extra}} if kind else None
            out["msg"].append({"conversation_id": cid, "created_at": t, "sender_type": sender, "channel": channel,
                               "text": text, "kind": kind, "article_id": extra.get("article_id"),
                               "confidence": extra.get("confidence"), "payload": payload})
        ended = t + timedelta(seconds=rng.randint(5, 30) if end_reason != "idle" else 600)
        out["conv"].append({"id": cid, "channel": channel, "route": "bot", "created_at": start})
        out["outcome"].append({"conversation_id": cid, "started_at": start, "day": beijing_day(start), "score": None,
                               "last_activity_at": t, "channel": channel,
                               "language": language, "taxpayer_messages": sum(1 for m in msgs if m[0] == "taxpayer"),
                               "answers": answers, "unanswered": unanswered, "topic_article_id": topic,
                               "handoff_requested": handoff, "agent_joined": agent, "ended_at": ended,
                               "end_reason": end_reason, "survey_requested_at": ended})
        for kind, q in urows:
            out["unanswered"].append({"conversation_id": cid, "created_at": start, "kind": kind, "question": q,
                                      "channel": channel, "language": language})
        respond = rng.random() < (0.55 if end_reason != "idle" else 0.2)
        if respond:
            skipped = rng.random() < 0.12
            score = None if skipped else max(1, min(5, round(3.6 + satisfaction + rng.gauss(0, 0.6))))
            comment = None
            if score is not None and rng.random() < 0.3:
                comment = rng.choice(COMMENTS_GOOD if score >= 4 else COMMENTS_BAD)
            rated = ended + timedelta(seconds=rng.randint(3, 40))
            out["outcome"][-1]["score"] = score
            out["rating"].append({"conversation_id": cid, "score": score, "skipped": skipped, "comment": comment,
                                  "channel": channel, "created_at": rated, "updated_at": rated})
    return out


async def run(url: str, n: int, days: int, seed: int, clear: bool) -> Dict[str, int]:
    """Migrate the database at ``url`` and insert the demo rows; the number of rows per table."""
    engine = create_async_engine(url, future=True)
    try:
        await upgrade_head(engine)
        data = generate(n, days, seed, datetime.now(timezone.utc))
        tables = [("conv", Conversation.__table__), ("msg", Message.__table__), ("outcome", conversation_outcomes),
                  ("rating", conversation_ratings), ("feedback", answer_feedback), ("unanswered", unanswered_questions),
                  ("handoff", HandoffEvent.__table__)]
        async with engine.begin() as conn:
            if clear:
                for key, table in reversed(tables):
                    column = table.c.id if key == "conv" else table.c.conversation_id
                    await conn.execute(delete(table).where(column.like(f"demo-{seed}-%")))
            for key, table in tables:
                columns = sorted({k for row in data[key] for k in row})
                rows = [{c: row.get(c) for c in columns} for row in data[key]]  # one shape for executemany
                for i in range(0, len(rows), 2000):
                    await conn.execute(table.insert(), rows[i:i + 2000])
        return {key: len(rows) for key, rows in data.items()}
    finally:
        await engine.dispose()


def main(argv: Optional[List[str]] = None) -> int:
    """The command line; 0 when the demo data was written."""
    parser = argparse.ArgumentParser(prog="python -m bot.analytics.demo", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60, help="spread over this many days up to now")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL, as the gateway")
    parser.add_argument("--clear", action="store_true", help="delete demo rows of this seed first")
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.days < 1:
        parser.error("--conversations and --days must be positive")
    url = _resolve_sqlite(args.database_url) if args.database_url else Settings.from_env().database_url
    if url.startswith("sqlite"):
        Path(url.partition(":///")[2]).parent.mkdir(parents=True, exist_ok=True)
    try:
        counts = asyncio.run(run(url, args.conversations, args.days, args.seed, args.clear))
    except Exception as exc:  # e.g. the demo rows of this seed exist already
        first = (str(exc).splitlines() or [""])[0][:200]
        print(f"demo data not written: {type(exc).__name__}: {first}. Use --clear or another --seed.", file=sys.stderr)
        return 1
    print(f"wrote {counts['conv']} conversations, {counts['msg']} messages, {counts['rating']} ratings, "
          f"{counts['feedback']} answer votes, {counts['unanswered']} unanswered questions, "
          f"{counts['handoff']} handoff events; open /analytics (role analyst)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
