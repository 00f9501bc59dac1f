"""The bot's message payloads: answer text and the `custom` dict every client receives.

Every text comes from the message catalogue (knowledge/messages/) in the reply's language. An
article whose policy has ended (`expires` before today) is never served as current law.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Sequence

from knowledge import catalogue
from knowledge.retriever import CLARIFY_BUTTONS, Candidate, Retrieval
from knowledge.schema import Article


def article_payload(article_id: str) -> str:
    """The button payload that answers one article directly."""
    return '/ask_tax_question{"article_id": "%s"}' % article_id


def is_expired(article: Article, today: dt.date) -> bool:
    """True when the article's policy ended before `today`."""
    return article.expires is not None and article.expires < today


def citation_line(article: Article, language: str = "en") -> str:
    """'Source: <authority>, <document> (effective <date>)' in the reply's language."""
    cited = article.source.to_dict(language)
    until = catalogue.text("answer.until", language, expires=article.expires.isoformat()) if article.expires else ""
    return catalogue.text(
        "answer.source",
        language,
        authority=cited["authority"],
        document=cited["document"],
        effective=article.effective_date.isoformat(),
        until=until,
    )


def custom(
    kind: str, confidence: Optional[float] = None, article: Optional[Article] = None, **extra: Any
) -> Dict[str, Any]:
    """The `custom` payload: kind, article_id, confidence and sources, plus any extra fields."""
    language = extra.get("language", "en")
    payload: Dict[str, Any] = {
        "kind": kind,
        "article_id": article.id if article else None,
        "confidence": None if confidence is None else round(float(confidence), 4),
        "sources": [article.citation(language)] if article else [],
    }
    payload.update(extra)
    return payload


def topic_buttons(articles: Sequence[Article], language: str = "en") -> List[Dict[str, str]]:
    """One button per article, titled in the reply's language, that answers it directly."""
    return [{"title": a.text("title", language), "payload": article_payload(a.id)} for a in articles]


def answer_message(
    article: Article,
    confidence: float,
    language: str = "en",
    today: Optional[dt.date] = None,
    runner_ups: Sequence[Article] = (),
) -> Dict[str, Any]:
    """An answer: the article's text with its citation, and the structured payload.

    `runner_ups` (close second candidates of the search) follow as "Related topics:" buttons. A
    policy that ended before `today` is not stated as current: the reply says when it ended and
    points to 12366 (`kind: expired`).
    """
    today = today or dt.date.today()
    related = [{"article_id": other} for other in article.related]
    buttons = topic_buttons(runner_ups, language)
    more = {"buttons": buttons} if buttons else {}
    tail = f"\n{catalogue.text('answer.related_intro', language)}" if buttons else ""
    if is_expired(article, today):
        assert article.expires is not None
        text = catalogue.text("answer.expired", language, expires=article.expires.isoformat())
        return {
            "text": f"{text}\n{citation_line(article, language)}{tail}",
            **more,
            "custom": custom(
                "expired", confidence, article, language=language, title=article.text("title", language),
                expired_on=article.expires.isoformat(), needs_officer=article.needs_officer, related=related,
            ),
        }
    body = article.text("answer", language)
    return {
        "text": f"{body}\n{citation_line(article, language)}{tail}",
        **more,
        "custom": custom(
            "answer",
            confidence,
            article,
            language=language,
            title=article.text("title", language),
            body=body,
            needs_officer=article.needs_officer,
            related=related,
        ),
    }


def retrieval_answer(result: Retrieval, language: str = "en", today: Optional[dt.date] = None) -> Dict[str, Any]:
    """The answer to a search that decided to answer: its top article, with the related buttons."""
    assert result.best is not None, "an answer needs a top article"
    return answer_message(result.best.article, result.confidence, language, today, [c.article for c in result.related])


def clarify_message(candidates: Sequence[Candidate], confidence: float, language: str = "en") -> Dict[str, Any]:
    """A clarifying question with the best topics as buttons."""
    buttons = topic_buttons([c.article for c in candidates[:CLARIFY_BUTTONS]], language)
    options = [
        {"article_id": c.article.id, "title": b["title"], "score": round(c.score, 4)}
        for c, b in zip(candidates, buttons)
    ]
    return {
        "text": catalogue.text("clarify.ask", language),
        "buttons": buttons,
        "custom": custom("clarify", confidence, None, options=options, language=language),
    }


def out_of_scope_message(confidence: float, language: str = "en") -> Dict[str, Any]:
    """A polite 'not my field', pointing to the 12366 hotline."""
    return {
        "text": catalogue.text("out_of_scope", language),
        "custom": custom("out_of_scope", confidence, language=language),
    }


def fallback_message(failed_turns: int, language: str = "en") -> Dict[str, Any]:
    """'I did not understand'; the second time in a row it offers a person and the hotline."""
    text = catalogue.text("fallback.again" if failed_turns >= 2 else "fallback.first", language)
    return {"text": text, "custom": custom("fallback", None, None, failed_turns=failed_turns, language=language)}
