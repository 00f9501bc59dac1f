"""The message catalogue: every key in both languages; domain responses in both languages."""

from __future__ import annotations

import re
import string
from pathlib import Path

import yaml

from knowledge import catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_exists_in_every_language() -> None:
    assert catalogue.missing() == {}
    assert len(catalogue.catalogue("zh")) == len(catalogue.catalogue("en")) > 300


def test_placeholders_agree_between_languages() -> None:
    fields = lambda text: {name for _, name, _, _ in string.Formatter().parse(text) if name}  # noqa: E731
    en, zh = catalogue.catalogue("en"), catalogue.catalogue("zh")
    differing = [key for key in en if fields(en[key]) != fields(zh[key])]
    assert not differing, differing


def test_chinese_texts_are_chinese() -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    words = lambda text: re.sub(r"\{[^}]*\}", "", text)  # noqa: E731  (placeholders are not words)
    not_chinese = [
        k for k, v in catalogue.catalogue("zh").items() if not cjk.search(v) and re.search(r"[A-Za-z]{4,}", words(v))
    ]
    assert not not_chinese, not_chinese


def test_an_unknown_language_falls_back_to_english() -> None:
    assert catalogue.text("clarify.ask", "fr") == catalogue.text("clarify.ask", "en")
    assert catalogue.text("handoff.queued", "zh", position=2, minutes=3).startswith("正在为您转接")


def test_every_domain_response_has_a_chinese_variation() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name, variations in domain["responses"].items():
        chinese = [v for v in variations if any(c.get("name") == "language" and c.get("value") == "zh"
                                                for c in v.get("condition") or [])]
        assert len(chinese) == 1, f"{name} has no Chinese variation"
        assert re.search(r"[\u4e00-\u9fff]", chinese[0]["text"]), name
        english = [v for v in variations if not v.get("condition")]
        assert len(english) == 1 and english[0].get("custom") == chinese[0].get("custom"), name
