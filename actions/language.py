"""The language an action answers in: the message's own, else the conversation's preference."""

from __future__ import annotations

from rasa_sdk import Tracker

from knowledge.text import LANGUAGES, detect_language


def reply_language(tracker: Tracker) -> str:
    """'zh' or 'en' for the reply to the latest message.

    The text decides when it has a clear language; otherwise (numbers, "ok", a button) the `language`
    slot, which the NLU sets from the text or the page's 中文/EN preference in the message metadata.
    """
    message = tracker.latest_message or {}
    detected = detect_language(message.get("text") or "")
    if detected:
        return detected
    metadata = message.get("metadata") or {}
    preferred = metadata.get("language") if isinstance(metadata, dict) else None
    if preferred in LANGUAGES:
        return str(preferred)
    slot = tracker.get_slot("language")
    return str(slot) if slot in LANGUAGES else "en"
