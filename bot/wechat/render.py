"""Bot messages as WeChat text.

WeChat has no buttons: a message's buttons become numbered lines plus "回复 1、2 或 3" / "Reply 1, 2 or
3" (the conversation then remembers the payloads, so a reply of "2" sends the second one); the
survey's 1–5 and Skip buttons become "回复 1–5" (the survey reads plain digits itself). Texts keep
every line (an answer's source and effective-date line included) and are split on line boundaries
into pieces of at most 2048 bytes, WeChat's limit for a text message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from bot.hooks import BotMessage
from knowledge import catalogue
from knowledge.text import LANGUAGES

MAX_BYTES = 2048
SURVEY_KIND = "survey"
OFFLINE_KIND = "handoff_offline"


def _t(key: str, language: str, **values: Any) -> str:
    return catalogue.text(f"wechat.{key}", language, **values)


def numbers_text(count: int, language: str, start: int = 1) -> str:
    """"1、2 或 3" / "1, 2 or 3"."""
    numbers = [str(n) for n in range(start, start + count)]
    if len(numbers) == 1:
        return numbers[0]
    return _t("list_separator", language).join(numbers[:-1]) + _t("list_last", language) + numbers[-1]


@dataclass
class Rendered:
    """The text of a batch of bot messages and what the next taxpayer reply may mean."""

    text: str = ""
    choices: List[str] = field(default_factory=list)  # payload of reply "1", "2", …
    survey: bool = False  # a rating request is open: digits go to the survey
    ticket: bool = False  # an offline message is offered: the next text is the message

    @property
    def parts(self) -> List[str]:
        """The text in pieces WeChat accepts (at most 2048 bytes each)."""
        return split_text(self.text)


def custom_of(item: BotMessage) -> Dict[str, Any]:
    """The message's custom payload (empty when it has none or it is not an object)."""
    custom = item.get("custom")
    return custom if isinstance(custom, dict) else {}


def named_language(item: BotMessage) -> Optional[str]:
    """The language a bot message names in ``custom.language``, when it is one the bot speaks."""
    language = custom_of(item).get("language")
    return language if isinstance(language, str) and language in LANGUAGES else None


def render(items: List[BotMessage], language: str = "zh") -> Rendered:
    """One WeChat text for a batch of bot messages (``language`` when a message names none)."""
    out = Rendered()
    out.survey = any(custom_of(i).get("kind") == SURVEY_KIND for i in items)
    blocks: List[str] = []
    for item in items:
        kind = custom_of(item).get("kind")
        lang = named_language(item) or language
        lines: List[str] = []
        text = item.get("text")
        if isinstance(text, str) and text.strip():
            lines.append(text.strip())
        buttons = [b for b in item.get("buttons") or [] if isinstance(b, dict) and isinstance(b.get("payload"), str)]
        if kind == SURVEY_KIND:
            lines.append(_t("survey_choices", lang))
        elif buttons and not out.survey:
            start = len(out.choices) + 1
            for n, button in enumerate(buttons, start=start):
                lines.append(f"{n}. {str(button.get('title') or button['payload']).strip()}")
                out.choices.append(button["payload"])
            lines.append(_t("choices", lang, numbers=numbers_text(len(buttons), lang, start)))
        elif buttons:  # a survey takes the digits: other buttons are shown, not numbered
            lines.extend(f"· {str(b.get('title') or b['payload']).strip()}" for b in buttons)
        if kind == OFFLINE_KIND:
            out.ticket = True
            lines.append(_t("ticket_prompt", lang))
        if lines:
            blocks.append("\n".join(lines))
    out.text = "\n\n".join(blocks)
    return out


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _hard_split(line: str, limit: int) -> List[str]:
    """A single line longer than the limit, cut at character boundaries."""
    pieces: List[str] = []
    current = ""
    size = 0
    for ch in line:
        width = _utf8_len(ch)
        if size + width > limit:
            pieces.append(current)
            current, size = "", 0
        current += ch
        size += width
    if current:
        pieces.append(current)
    return pieces


def split_text(text: str, limit: int = MAX_BYTES) -> List[str]:
    """Pieces of at most ``limit`` UTF-8 bytes, cut between lines.

    A line is cut only when it alone is too long; blank lines at a cut are dropped.
    """
    text = text.strip("\n")
    if not text.strip():
        return []
    if _utf8_len(text) <= limit:
        return [text]
    pieces: List[str] = []
    current: List[str] = []
    size = 0
    for line in text.split("\n"):
        width = _utf8_len(line)
        if width > limit:
            if current:
                pieces.append("\n".join(current))
                current, size = [], 0
            pieces.extend(_hard_split(line, limit))
            continue
        extra = width + (1 if current else 0)
        if current and size + extra > limit:
            pieces.append("\n".join(current))
            current, size, extra = [], 0, width
        current.append(line)
        size += extra
    if current:
        pieces.append("\n".join(current))
    return [p.strip("\n") for p in pieces if p.strip()]


def first_language(items: List[BotMessage]) -> Optional[str]:
    """The first language the messages name, if any."""
    return next((lang for lang in map(named_language, items) if lang), None)
