"""Time in satisfaction logging: instants are stored in UTC, figures are reported per Beijing day.

Beijing is UTC+8 all year (no daylight saving), so a fixed offset is exact.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Union

BEIJING = timezone(timedelta(hours=8))


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is taken to be UTC already (as SQLite returns it)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso(value: datetime) -> str:
    """ISO 8601 text of the instant in UTC (``...+00:00``)."""
    return as_utc(value).isoformat()


def parse_time(value: Union[str, datetime]) -> datetime:
    """An instant from ISO 8601 text or a datetime; naive values are UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def beijing_day(value: datetime) -> date:
    """The Beijing (UTC+8, no daylight saving) calendar day of a moment."""
    return value.astimezone(BEIJING).date()
