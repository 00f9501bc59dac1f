"""Unit tests of the handoff policy: file and environment, triggers, service hours and reply-by times."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bot.handoff.policy import HandoffPolicy, PolicyError, load_policy


def test_policy_file_and_env_overrides() -> None:
    policy = load_policy(env={})
    assert policy.trigger_failed_turns == 2 and policy.capacity_per_agent == 3 and policy.timezone == "Asia/Shanghai"
    policy = load_policy(env={"HANDOFF_CAPACITY": "5", "HANDOFF_ALWAYS_OPEN": "true", "HANDOFF_FAILED_TURNS": "0",
                              "HANDOFF_SENSITIVE_ARTICLES": "vat-a, vat-b", "HANDOFF_DAYS": "mon,sat"})
    assert policy.capacity_per_agent == 5 and policy.always_open and policy.trigger_failed_turns == 0
    assert policy.sensitive_article_ids == {"vat-a", "vat-b"} and policy.days == ("mon", "sat")
    with pytest.raises(PolicyError):
        load_policy(env={"HANDOFF_CAPACITY": "lots"})
    with pytest.raises(PolicyError):
        load_policy(env={"HANDOFF_DAYS": "someday"})


def test_policy_import_does_not_pull_aiohttp() -> None:
    import subprocess
    import sys

    code = "import sys, bot.handoff.policy, actions.handoff; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_escalation_reasons() -> None:
    policy = HandoffPolicy()
    assert policy.escalation_reason({"kind": "handoff", "reason": "requested"}) == "requested"
    assert policy.escalation_reason({"kind": "fallback", "failed_turns": 1}) is None
    assert policy.escalation_reason({"kind": "fallback", "failed_turns": 2}) == "not_understood"
    assert policy.escalation_reason({"kind": "answer", "needs_officer": True}) == "sensitive_topic"
    assert policy.escalation_reason({"kind": "answer", "needs_officer": False, "article_id": "x"}) is None
    listed = replace(policy, sensitive_article_ids=frozenset({"x"}))
    assert listed.escalation_reason({"kind": "answer", "article_id": "x"}) == "sensitive_topic"
    unlisted = replace(policy, trigger_sensitive_topics=False)
    assert unlisted.escalation_reason({"kind": "answer", "needs_officer": True}) is None
    assert replace(policy, trigger_failed_turns=0).escalation_reason({"kind": "fallback", "failed_turns": 9}) is None
    assert policy.escalation_reason(None) is None and policy.escalation_reason({"kind": "smalltalk"}) is None


def test_service_hours_and_reply_by() -> None:
    policy = HandoffPolicy()  # Mon-Fri 09:00-17:00 Asia/Shanghai
    monday_10 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
    friday_18 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # 18:00 in Beijing
    assert policy.in_service_hours(monday_10) and not policy.in_service_hours(friday_18)
    opening = policy.next_opening(friday_18)
    assert opening.isoformat() == "2026-11-30T09:00:00+08:00"  # the next Monday
    assert policy.reply_by(friday_18).isoformat() == "2026-11-30T17:00:00+08:00"  # 8 service hours later
    assert policy.reply_by(monday_10).isoformat() == "2026-11-24T10:00:00+08:00"  # 7 h Monday + 1 h Tuesday
    holiday = replace(policy, holidays=frozenset({datetime(2026, 11, 30).date()}))
    assert holiday.next_opening(friday_18).isoformat() == "2026-12-01T09:00:00+08:00"
    assert policy.expected_wait_seconds(3, 2) == 600 and policy.expected_wait_seconds(1, 0) == 300
