"""What the console shows next to a waiting conversation: the bot's last answers and the topic."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from bot.handoff.model import SummaryItem
from bot.hooks import BotMessage

#: Answer kinds that say nothing about the question (the handoff itself, small talk, untyped messages).
_NOT_ANSWERS = ("handoff", None, "smalltalk")
MAX_ANSWERS = 3
MAX_ANSWER_CHARS = 300
MAX_TOPIC_CHARS = 80


def _custom(message: BotMessage) -> Dict[str, Any]:
    custom = message.get("custom")
    return custom if isinstance(custom, dict) else {}


def summarize(
    history: Sequence[Dict[str, Any]], text: Optional[str], replies: Sequence[BotMessage]
) -> Tuple[List[SummaryItem], Optional[str]]:
    """The bot's last answers (with confidence) and the topic, from the stored history and this turn.

    ``history`` are transcript rows (oldest first); ``text`` and ``replies`` are this turn's message
    and answers, not stored yet. The topic is the last answer's article title or id, else the last question.
    """
    items: List[SummaryItem] = []
    for row in history:
        if row["sender_type"] in ("bot", "taxpayer"):
            items.append(SummaryItem(sender=row["sender_type"], text=row["text"], kind=row["kind"],
                                     confidence=row["confidence"], article_id=row["article_id"],
                                     title=(row.get("custom") or {}).get("title")))
    if text:
        items.append(SummaryItem(sender="taxpayer", text=text, kind=None, confidence=None, article_id=None, title=None))
    for reply in replies:
        custom = _custom(reply)
        items.append(SummaryItem(sender="bot", text=reply.get("text"), kind=custom.get("kind"),
                                 confidence=custom.get("confidence"), article_id=custom.get("article_id"),
                                 title=custom.get("title")))
    answers = [i for i in items if i["sender"] == "bot" and i["kind"] not in _NOT_ANSWERS][-MAX_ANSWERS:]
    for answer in answers:
        answer["text"] = (answer["text"] or "")[:MAX_ANSWER_CHARS]
    topic: Optional[str] = None
    for item in reversed(items):
        if item["sender"] == "bot" and (item["title"] or item["article_id"]):
            topic = item["title"] or item["article_id"]
            break
    if topic is None:
        asked = [i["text"] for i in items if i["sender"] == "taxpayer" and i["text"]]
        topic = asked[-1][:MAX_TOPIC_CHARS] if asked else None
    return answers, topic
