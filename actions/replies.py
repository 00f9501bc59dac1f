"""The bot's message payloads: answer text and the `custom` dict every client receives."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from knowledge.retriever import Candidate
from knowledge.schema import Article

HOTLINE_HINT = "For your personal case, call the 12366 tax service hotline."


def article_payload(article_id: str) -> str:
    """The button payload that answers one article directly."""
    return '/ask_tax_question{"article_id": "%s"}' % article_id


def citation_line(article: Article) -> str:
    """'Source: <authority>, <document> (effective <date>)' for plain-text clients."""
    line = f"Source: {article.source.authority}, {article.source.document} (effective {article.effective_date.isoformat()}"
    if article.expires is not None:
        line += f", applies until {article.expires.isoformat()}"
    return line + ")."


def custom(kind: str, confidence: Optional[float] = None, article: Optional[Article] = None, **extra: Any) -> Dict[str, Any]:
    """The `custom` payload: kind, article_id, confidence and sources, plus any extra fields."""
    payload: Dict[str, Any] = {
        "kind": kind,
        "article_id": article.id if article else None,
        "confidence": None if confidence is None else round(float(confidence), 4),
        "sources": [article.citation()] if article else [],
    }
    payload.update(extra)
    return payload


def answer_message(article: Article, confidence: float, language: str = "en") -> Dict[str, Any]:
    """An answer: the article's text with its citation, and the structured payload."""
    body = article.text("answer", language)
    related = [{"article_id": other} for other in article.related]
    return {
        "text": f"{body}\n\n{citation_line(article)}",
        "custom": custom(
            "answer",
            confidence,
            article,
            title=article.text("title", language),
            body=body,
            needs_officer=article.needs_officer,
            related=related,
        ),
    }


def clarify_message(candidates: Sequence[Candidate], confidence: float, language: str = "en") -> Dict[str, Any]:
    """A clarifying question with the best topics as buttons."""
    buttons: List[Dict[str, str]] = [
        {"title": c.article.text("title", language), "payload": article_payload(c.article.id)} for c in candidates[:3]
    ]
    options = [{"article_id": c.article.id, "title": b["title"], "score": round(c.score, 4)} for c, b in zip(candidates, buttons)]
    return {
        "text": "I want to be sure I answer the right question. Which of these topics do you mean?",
        "buttons": buttons,
        "custom": custom("clarify", confidence, None, options=options),
    }


def out_of_scope_message(confidence: float) -> Dict[str, Any]:
    return {
        "text": "Sorry, that's outside my field: I can only help with tax questions for the Beijing tax "
        "service, and I couldn't find that topic in the tax knowledge base. " + HOTLINE_HINT,
        "custom": custom("out_of_scope", confidence),
    }


def fallback_message(failed_turns: int) -> Dict[str, Any]:
    text = "Sorry, I didn't understand that. Could you ask your tax question in other words?"
    if failed_turns >= 2:
        text = "Sorry, I still couldn't understand. You can ask for a person (say \"talk to an agent\") or call the 12366 hotline."
    return {"text": text, "custom": custom("fallback", None, None, failed_turns=failed_turns)}
