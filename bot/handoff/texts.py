"""What the handoff says and how it writes times (texts in ``knowledge/messages/handoff_gateway.*.yml``)."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Optional

from bot.handoff.policy import HandoffPolicy
from knowledge import catalogue


def text(language: Optional[str], key: str, **values: Any) -> str:
    """The catalogue text ``handoff.<key>`` in ``language`` (English when unknown)."""
    return catalogue.text(f"handoff.{key}", language or "en", **values)


def minutes(seconds: float) -> int:
    """Whole minutes for a wait, rounded up, at least one."""
    return max(1, int(math.ceil(seconds / 60.0)))


def iso(ts: Optional[float]) -> Optional[str]:
    """A UNIX time as an ISO 8601 UTC string (None stays None, as does 0)."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


def local_time(policy: HandoffPolicy, moment: datetime, language: Optional[str] = None) -> str:
    """A moment in the service's time zone, named for the taxpayer (北京时间 in Chinese)."""
    local = moment.astimezone(policy.zone)
    if language == "zh" and policy.timezone == "Asia/Shanghai":
        return f"{local:%Y-%m-%d %H:%M}（北京时间）"
    return f"{local:%Y-%m-%d %H:%M} ({policy.timezone})"
