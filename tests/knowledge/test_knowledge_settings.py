"""The knowledge settings: per-language decision thresholds from the environment."""

from __future__ import annotations

from knowledge.settings import DEFAULT_DOMAIN_THRESHOLDS, KnowledgeSettings


def test_domain_thresholds_are_per_language_and_overridable() -> None:
    assert KnowledgeSettings.from_env({}).domain_threshold == DEFAULT_DOMAIN_THRESHOLDS
    both = KnowledgeSettings.from_env({"TAXGUIDE_DOMAIN_THRESHOLD": "0.4"})
    assert both.domain_threshold == {"en": 0.4, "zh": 0.4}
    one = KnowledgeSettings.from_env({"TAXGUIDE_DOMAIN_THRESHOLD": "0.4", "TAXGUIDE_DOMAIN_THRESHOLD_EN": "0.2"})
    assert one.domain_threshold == {"en": 0.2, "zh": 0.4}
