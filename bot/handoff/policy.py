"""The escalation policy of the live-agent handoff, in one place.

Loaded from ``bot/handoff/policy.yml`` (or the file named by ``TAXGUIDE_HANDOFF_POLICY``) with
``HANDOFF_*`` environment overrides, once, by ``bot.settings.Settings.from_env``. The gateway alone
decides and words a handoff; the action server only announces the request.

    policy = load_policy(env)
    policy.escalation_reason(custom_payload)  -> "requested" | "not_understood" | "sensitive_topic" | None
    policy.in_service_hours(now)              -> bool
    policy.next_opening(now), policy.reply_by(now), policy.expected_wait_seconds(position, online_agents)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo

import yaml

from knowledge.env import Env

POLICY_PATH = Path(__file__).resolve().parent / "policy.yml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REASONS = ("requested", "not_understood", "sensitive_topic")
_ZH_DAYS = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}


class PolicyError(ValueError):
    """The policy file or an override is invalid."""


def _hhmm(value: Any, name: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise PolicyError(f"{name} must be HH:MM, got {value!r}") from None


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise PolicyError(f"{name} must be true or false, got {value!r}")


def _int(value: Any, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise PolicyError(f"{name} must be >= {minimum}, got {number}")
    return number


def _float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise PolicyError(f"{name} must not be negative, got {number}")
    return number


def _list(value: Any) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v).strip() for v in value if str(v).strip())


@dataclass(frozen=True)
class HandoffPolicy:
    """Every knob of the handoff; see policy.yml for the meaning of each."""

    trigger_request_human: bool = True
    trigger_failed_turns: int = 2
    trigger_sensitive_topics: bool = True
    sensitive_article_ids: FrozenSet[str] = frozenset()
    timezone: str = "Asia/Shanghai"
    always_open: bool = False
    days: Tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    open_at: time = time(9, 0)
    close_at: time = time(17, 0)
    holidays: FrozenSet[date] = frozenset()
    capacity_per_agent: int = 3
    max_waiting: int = 50
    average_handle_seconds: float = 300.0
    presence_ttl_seconds: float = 45.0
    heartbeat_seconds: float = 5.0
    disconnect_grace_seconds: float = 10.0
    sweep_seconds: float = 2.0
    reply_within_hours: float = 8.0

    # ------------------------------------------------------------------ triggers
    def is_sensitive(self, custom: Mapping[str, Any]) -> bool:
        """An answer about a topic only an officer should handle."""
        if custom.get("needs_officer") is True:
            return True
        article = custom.get("article_id")
        return article is not None and str(article) in self.sensitive_article_ids

    def escalation_reason(self, custom: Optional[Mapping[str, Any]]) -> Optional[str]:
        """Why a bot message (its ``custom`` payload) should hand the conversation to an agent, or None."""
        if not isinstance(custom, Mapping):
            return None
        kind = custom.get("kind")
        if kind == "handoff" and self.trigger_request_human:
            reason = custom.get("reason")
            return reason if reason in REASONS else "requested"
        if kind == "fallback" and self.trigger_failed_turns > 0:
            turns = custom.get("failed_turns")
            if isinstance(turns, (int, float)) and not isinstance(turns, bool) and turns >= self.trigger_failed_turns:
                return "not_understood"
        if kind == "answer" and self.trigger_sensitive_topics and self.is_sensitive(custom):
            return "sensitive_topic"
        return None

    # ------------------------------------------------------------------ service hours
    @property
    def zone(self) -> ZoneInfo:
        """The service's time zone."""
        return ZoneInfo(self.timezone)

    def _local(self, now: Optional[datetime]) -> datetime:
        now = now or datetime.now(timezone.utc)
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        return now.astimezone(self.zone)

    def _open_day(self, day: date) -> bool:
        return DAYS[day.weekday()] in self.days and day not in self.holidays

    def in_service_hours(self, now: Optional[datetime] = None) -> bool:
        """Whether officers are on duty at ``now`` (the current time when None)."""
        if self.always_open:
            return True
        local = self._local(now)
        return self._open_day(local.date()) and self.open_at <= local.time() < self.close_at

    def next_opening(self, now: Optional[datetime] = None) -> datetime:
        """When the service is next open (``now`` itself while open), timezone-aware."""
        local = self._local(now)
        if self.in_service_hours(local):
            return local
        day = local.date()
        for offset in range(0, 30):
            candidate_day = day + timedelta(days=offset)
            if not self._open_day(candidate_day):
                continue
            opening = datetime.combine(candidate_day, self.open_at, tzinfo=self.zone)
            if opening > local:
                return opening
        return local + timedelta(days=1)

    def reply_by(self, now: Optional[datetime] = None) -> datetime:
        """The promised reply time of an offline message left at ``now``.

        That is ``reply_within_hours`` of service time, counted from the next opening when the service is closed.
        """
        local = self._local(now)
        if self.always_open:
            return local + timedelta(hours=self.reply_within_hours)
        remaining = timedelta(hours=self.reply_within_hours)
        cursor = self.next_opening(local)
        for _ in range(60):
            close = datetime.combine(cursor.date(), self.close_at, tzinfo=self.zone)
            available = close - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= max(available, timedelta(0))
            cursor = self.next_opening(close + timedelta(seconds=1))
        return cursor

    def hours_text(self, language: str = "en") -> str:
        """The service hours in words, in English or Chinese."""
        if language == "zh":
            if self.always_open:
                return "全天"
            days = "、".join(_ZH_DAYS.get(d, d) for d in self.days)
            zone = "北京时间" if self.timezone == "Asia/Shanghai" else self.timezone
            return f"{days} {self.open_at:%H:%M}-{self.close_at:%H:%M}（{zone}）"
        if self.always_open:
            return "around the clock"
        days = ", ".join(d.capitalize() for d in self.days)
        return f"{days} {self.open_at:%H:%M}-{self.close_at:%H:%M} ({self.timezone})"

    # ------------------------------------------------------------------ queue
    def expected_wait_seconds(self, position: int, online_agents: int) -> int:
        """A rough wait: the conversations ahead, shared by the online agents' free capacity."""
        agents = max(1, online_agents)
        rounds = math.ceil(max(1, position) / agents)
        return int(rounds * self.average_handle_seconds)


_Parse = Callable[[Any, str], Any]
_ENV: Dict[str, Tuple[str, _Parse]] = {
    "HANDOFF_FAILED_TURNS": ("trigger_failed_turns", lambda v, n: _int(v, n)),
    "HANDOFF_REQUEST_HUMAN": ("trigger_request_human", _bool),
    "HANDOFF_SENSITIVE_TOPICS": ("trigger_sensitive_topics", _bool),
    "HANDOFF_SENSITIVE_ARTICLES": ("sensitive_article_ids", lambda v, n: frozenset(_list(v))),
    "HANDOFF_TIMEZONE": ("timezone", lambda v, n: str(v)),
    "HANDOFF_ALWAYS_OPEN": ("always_open", _bool),
    "HANDOFF_DAYS": ("days", lambda v, n: _days(v, n)),
    "HANDOFF_OPEN": ("open_at", _hhmm),
    "HANDOFF_CLOSE": ("close_at", _hhmm),
    "HANDOFF_HOLIDAYS": ("holidays", lambda v, n: _holidays(v, n)),
    "HANDOFF_CAPACITY": ("capacity_per_agent", lambda v, n: _int(v, n, 1)),
    "HANDOFF_MAX_WAITING": ("max_waiting", lambda v, n: _int(v, n, 1)),
    "HANDOFF_AVG_HANDLE_SECONDS": ("average_handle_seconds", _float),
    "HANDOFF_PRESENCE_TTL": ("presence_ttl_seconds", _float),
    "HANDOFF_GRACE_SECONDS": ("disconnect_grace_seconds", _float),
    "HANDOFF_SWEEP_SECONDS": ("sweep_seconds", _float),
    "HANDOFF_REPLY_HOURS": ("reply_within_hours", _float),
}


def _days(value: Any, name: str) -> Tuple[str, ...]:
    days = tuple(d.lower()[:3] for d in _list(value))
    unknown = [d for d in days if d not in DAYS]
    if unknown:
        raise PolicyError(f"{name}: unknown day(s) {unknown}; use {list(DAYS)}")
    return days


def _holidays(value: Any, name: str) -> FrozenSet[date]:
    try:
        items = value if isinstance(value, (list, tuple)) else _list(value)
        return frozenset(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in items)
    except ValueError:
        raise PolicyError(f"{name} must be ISO dates (YYYY-MM-DD)") from None


def _from_mapping(data: Mapping[str, Any]) -> HandoffPolicy:
    def section(name: str) -> Mapping[str, Any]:
        value = data.get(name) or {}
        if not isinstance(value, Mapping):
            raise PolicyError(f"{name} must be a mapping")
        return value

    triggers, sensitive, hours = section("triggers"), section("sensitive_topics"), section("service_hours")
    capacity, queue, presence, offline = section("capacity"), section("queue"), section("presence"), section("offline")
    base = HandoffPolicy()
    return HandoffPolicy(
        trigger_request_human=_bool(triggers.get("request_human", base.trigger_request_human),
                                    "triggers.request_human"),
        trigger_failed_turns=_int(triggers.get("failed_turns", base.trigger_failed_turns), "triggers.failed_turns"),
        trigger_sensitive_topics=_bool(triggers.get("sensitive_topics", base.trigger_sensitive_topics),
                                       "triggers.sensitive_topics"),
        sensitive_article_ids=frozenset(_list(sensitive.get("article_ids"))),
        timezone=str(hours.get("timezone", base.timezone)),
        always_open=_bool(hours.get("always_open", False), "service_hours.always_open"),
        days=_days(hours.get("days", list(base.days)), "service_hours.days"),
        open_at=_hhmm(hours.get("open", "09:00"), "service_hours.open"),
        close_at=_hhmm(hours.get("close", "17:00"), "service_hours.close"),
        holidays=_holidays(hours.get("holidays") or [], "service_hours.holidays"),
        capacity_per_agent=_int(capacity.get("per_agent", base.capacity_per_agent), "capacity.per_agent", 1),
        max_waiting=_int(capacity.get("max_waiting", base.max_waiting), "capacity.max_waiting", 1),
        average_handle_seconds=_float(queue.get("average_handle_seconds", base.average_handle_seconds),
                                      "queue.average_handle_seconds"),
        presence_ttl_seconds=_float(presence.get("ttl_seconds", base.presence_ttl_seconds), "presence.ttl_seconds"),
        heartbeat_seconds=_float(presence.get("heartbeat_seconds", base.heartbeat_seconds),
                                 "presence.heartbeat_seconds"),
        disconnect_grace_seconds=_float(presence.get("disconnect_grace_seconds", base.disconnect_grace_seconds),
                                        "presence.disconnect_grace_seconds"),
        sweep_seconds=_float(presence.get("sweep_seconds", base.sweep_seconds), "presence.sweep_seconds"),
        reply_within_hours=_float(offline.get("reply_within_hours", base.reply_within_hours),
                                  "offline.reply_within_hours"),
    )


def load_policy(env: Optional[Mapping[str, str]] = None, path: Optional[Path] = None) -> HandoffPolicy:
    """The policy from its YAML file with ``HANDOFF_*`` environment overrides applied."""
    read = Env(env)
    path = path or Path(read.text("TAXGUIDE_HANDOFF_POLICY") or POLICY_PATH)
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    except OSError as exc:
        raise PolicyError(f"cannot read the handoff policy {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise PolicyError(f"{path} must hold a mapping")
    policy = _from_mapping(data)
    overrides: Dict[str, Any] = {}
    for name, (attr, parse) in _ENV.items():
        raw = read.text(name)
        if raw is not None:
            overrides[attr] = parse(raw, name)
    policy = replace(policy, **overrides)
    try:
        policy.zone
    except Exception:
        raise PolicyError(f"unknown timezone {policy.timezone!r}") from None
    if policy.open_at >= policy.close_at and not policy.always_open:
        raise PolicyError("service_hours.open must be before service_hours.close")
    return policy

