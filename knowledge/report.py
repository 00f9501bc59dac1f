"""The knowledge-base review report: what a maintainer must look at next.

- policies that expire within the look-ahead window (180 days by default);
- articles whose policy has already expired (the bot says it ended; the article needs updating): an error;
- articles not reviewed for 12 months;
- articles whose `notes` record an open doubt for a reviewer;
- documents cited by several articles under different titles (the same year and number, told apart
  by issuer, written differently).
The date is a parameter, so the report can be run as of any day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Set, Tuple

import yaml

from knowledge.schema import Article, article_files, load_articles

LOOK_AHEAD_DAYS = 180
REVIEW_EVERY_DAYS = 365
DOUBT = re.compile(
    r"\b(not (?:yet )?confirmed|unconfirmed|to (?:be )?confirm|must confirm|should confirm|reviewer|uncertain|"
    r"not verified|unverified|could not (?:verify|find|confirm)|believed|from memory|to check|check against)\b"
    r"|待确认|未确认",
    re.IGNORECASE,
)
# "2026 No. 10", "[2018] No. 33", "2023年第30号", "〔2018〕33号"
NUMBERED = re.compile(r"(?:(\d{4})\]?\s*No\.\s*(\d+))|(?:〔(\d{4})〕\s*(\d+)\s*号)|(?:(\d{4})年第(\d+)号)")
ISSUERS = (
    ("cai shui", "caishui"), ("财税", "caishui"), ("guo fa", "guofa"), ("国发", "guofa"),
    ("guo ban fa", "guobanfa"), ("国办发", "guobanfa"), ("mof/sta", "mofsta"), ("财政部 税务总局", "mofsta"),
    ("财政部、税务总局", "mofsta"), ("sta ", "sta"), ("国家税务总局", "sta"), ("order", "order"), ("令", "order"),
)


@dataclass
class Report:
    """The findings, by kind; `errors` make the command fail."""

    today: dt.date
    expiring: List[Tuple[str, dt.date]] = field(default_factory=list)
    expired: List[Tuple[str, dt.date]] = field(default_factory=list)
    stale: List[Tuple[str, dt.date]] = field(default_factory=list)
    doubts: List[Tuple[str, str]] = field(default_factory=list)
    inconsistent_citations: List[Tuple[str, List[Tuple[str, str]]]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Findings that must fail CI: an expired policy still served as an article."""
        return len(self.expired)

    def render(self) -> str:
        """The report as plain text."""
        lines = [f"Knowledge-base review report as of {self.today.isoformat()}"]
        sections = [
            (f"Policies expiring within {LOOK_AHEAD_DAYS} days", [f"{a}: expires {d}" for a, d in self.expiring]),
            (
                "EXPIRED policies still in the base (update or retire them)",
                [f"{a}: expired {d}" for a, d in self.expired],
            ),
            (f"Not reviewed for {REVIEW_EVERY_DAYS} days", [f"{a}: last reviewed {d}" for a, d in self.stale]),
            ("Open doubts recorded in notes", [f"{a}: {excerpt}" for a, excerpt in self.doubts]),
            (
                "Documents cited differently by different articles",
                [f"{key}: " + " | ".join(f"{a}: {t}" for a, t in cites) for key, cites in self.inconsistent_citations],
            ),
        ]
        for title, items in sections:
            lines.append(f"\n{title}: {len(items)}")
            lines.extend(f"  - {item}" for item in items)
        lines.append(f"\n{'FAILED' if self.errors else 'OK'}: {self.errors} error(s)")
        return "\n".join(lines)


def _notes(path: Path) -> str:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    notes = data.get("notes")
    return notes if isinstance(notes, str) else ""


def _issuer(text: str) -> str:
    lowered = text.lower()
    for needle, issuer in ISSUERS:
        if needle in lowered:
            return issuer
    return "?"


def citation_keys(document: str) -> Set[Tuple[str, str, str]]:
    """(issuer, year, number) of every numbered document a source string cites."""
    keys: Set[Tuple[str, str, str]] = set()
    for part in re.split(r"[;；]", document):
        for match in NUMBERED.finditer(part):
            year = match.group(1) or match.group(3) or match.group(5)
            number = match.group(2) or match.group(4) or match.group(6)
            keys.add((_issuer(part[: match.start()] or part), year, str(int(number))))
    return keys


def document_title(text: str) -> str:
    """The title part of a Chinese citation, normalised; '' when the citation gives only a number."""
    title = re.split(r"[（(]", text, maxsplit=1)[0]
    title = re.sub(r"[\s《》〈〉“”\"'、,，.。:：;；]", "", title)
    return title if "关于" in title else ""


def build_report(articles: Sequence[Article], notes: Dict[str, str], today: dt.date) -> Report:
    """The report for `articles` as of `today`."""
    report = Report(today)
    horizon = today + dt.timedelta(days=LOOK_AHEAD_DAYS)
    for article in sorted(articles, key=lambda a: a.id):
        if article.expires is not None:
            if article.expires < today:
                report.expired.append((article.id, article.expires))
            elif article.expires <= horizon:
                report.expiring.append((article.id, article.expires))
        if (today - article.last_reviewed).days > REVIEW_EVERY_DAYS:
            report.stale.append((article.id, article.last_reviewed))
        match = DOUBT.search(notes.get(article.id, ""))
        if match:
            text = notes[article.id]
            start = max(0, match.start() - 60)
            report.doubts.append((article.id, " ".join(text[start : match.end() + 60].split())))
    cited: Dict[Tuple[str, str, str], List[Tuple[str, str]]] = defaultdict(list)
    for article in articles:
        for part in re.split(r"[;；]", article.source.document_zh):
            for key in citation_keys(part):
                cited[key].append((article.id, part.strip()))
    for key, cites in sorted(cited.items()):
        titles = {document_title(t) for _, t in cites} - {""}
        if len({a for a, _ in cites}) > 1 and len(titles) > 1 and key[0] != "?":
            report.inconsistent_citations.append(("/".join(key), cites))
    return report


def report_for(articles_dir: Path, today: dt.date) -> Report:
    """Load the articles (validating them) and build the report."""
    articles = load_articles(articles_dir)
    notes = {path.stem: _notes(path) for path in article_files(articles_dir)}
    return build_report(articles, notes, today)
