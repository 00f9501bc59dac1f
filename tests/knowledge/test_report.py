"""The knowledge-base review report (`python -m knowledge report`, `make kb-report`) around a validity period."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from knowledge.report import build_report, citation_keys, report_for
from knowledge.schema import Article, load_articles

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "knowledge" / "articles"


def _bonus() -> Article:
    return next(a for a in load_articles(ARTICLES) if a.id == "iit-annual-bonus")


def test_the_real_base_is_clean_today() -> None:
    report = report_for(ARTICLES, dt.date(2026, 12, 1))
    assert report.errors == 0 and not report.expired and not report.stale


def test_a_policy_is_listed_before_it_ends_and_fails_the_report_after() -> None:
    bonus = _bonus()
    assert bonus.expires == dt.date(2027, 12, 31)
    before = build_report([bonus], {}, dt.date(2027, 3, 1))
    assert before.expiring == [] and before.errors == 0
    inside = build_report([bonus], {}, dt.date(2027, 9, 1))
    assert inside.expiring == [("iit-annual-bonus", dt.date(2027, 12, 31))] and inside.errors == 0
    after = build_report([bonus], {}, dt.date(2028, 1, 1))
    assert after.expired == [("iit-annual-bonus", dt.date(2027, 12, 31))] and after.errors == 1
    assert "EXPIRED" in after.render() and "FAILED" in after.render()


def test_stale_reviews_and_open_doubts_are_listed() -> None:
    bonus = replace(_bonus(), last_reviewed=dt.date(2025, 6, 1))
    notes = {"iit-annual-bonus": "The 2027 extension is not confirmed yet."}
    report = build_report([bonus], notes, dt.date(2026, 12, 1))
    assert report.stale == [("iit-annual-bonus", dt.date(2025, 6, 1))]
    assert report.doubts and "not confirmed" in report.doubts[0][1]
    assert build_report([_bonus()], {"iit-annual-bonus": "Figures checked."}, dt.date(2026, 12, 1)).doubts == []


def test_one_document_cited_under_two_titles_is_reported() -> None:
    bonus = _bonus()
    other = replace(
        bonus,
        id="iit-annual-bonus-cliff",
        source=replace(
            bonus.source, document_zh="财政部 税务总局关于年终奖的另一个标题的公告（财政部 税务总局公告2023年第30号）"
        ),
    )
    report = build_report([bonus, other], {}, dt.date(2026, 12, 1))
    assert [key for key, _ in report.inconsistent_citations] == ["mofsta/2023/30"]
    assert citation_keys("Cai Shui [2018] No. 164; MOF/STA Announcement 2023 No. 30") == {
        ("caishui", "2018", "164"), ("mofsta", "2023", "30")
    }


def test_the_command_exits_non_zero_on_an_expired_policy() -> None:
    ok = subprocess.run([sys.executable, "-m", "knowledge", "report", "--today", "2026-12-01"], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    late = subprocess.run([sys.executable, "-m", "knowledge", "report", "--today", "2028-01-01"], cwd=ROOT,
                          capture_output=True, text=True)
    assert late.returncode == 1 and "iit-annual-bonus" in late.stdout
