"""The knowledge base article schema: loading and validating article files."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import yaml

from knowledge.facts import figures, mismatch
from knowledge.text import CJK, LANGUAGES

CATEGORIES: Tuple[str, ...] = ("iit", "vat", "cit", "other", "procedures", "social")
REQUIRED_LANGUAGE = "en"
MIN_QUESTIONS: Dict[str, int] = {"en": 3, "zh": 6}
MAX_ANSWER_CHARS_ZH = 350
MAX_ANSWER_WORDS = 150  # the guideline is 120; the validator leaves a margin
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
URL_PATTERN = re.compile(r"https?://|www\.", re.IGNORECASE)
REQUIRED_FIELDS: Tuple[str, ...] = (
    "id",
    "category",
    "title",
    "questions",
    "answer",
    "source",
    "effective_date",
    "last_reviewed",
    "tags",
    "related",
)
OPTIONAL_FIELDS: Tuple[str, ...] = ("needs_officer", "expires", "notes")


class ArticleError(ValueError):
    """An article file breaks the schema; the message names the file and the field."""

    def __init__(self, path: Path, field_name: str, problem: str) -> None:
        super().__init__(f"{path}: field '{field_name}': {problem}")
        self.path = path
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class Source:
    """Where an article's rule comes from, in English and in Chinese."""

    authority: str
    document: str
    authority_zh: str = ""
    document_zh: str = ""

    def to_dict(self, language: str = REQUIRED_LANGUAGE) -> Dict[str, str]:
        """The citation in `language` (Chinese falls back to English where no Chinese title exists)."""
        if language == "zh" and self.document_zh:
            return {"authority": self.authority_zh or self.authority, "document": self.document_zh}
        return {"authority": self.authority, "document": self.document}


@dataclass(frozen=True)
class Article:
    """One knowledge base article; text fields are keyed by language."""

    id: str
    category: str
    title: Mapping[str, str]
    questions: Mapping[str, Tuple[str, ...]]
    answer: Mapping[str, str]
    source: Source
    effective_date: dt.date
    last_reviewed: dt.date
    tags: Tuple[str, ...]
    related: Tuple[str, ...]
    needs_officer: bool = False
    expires: Optional[dt.date] = None
    path: Optional[Path] = field(default=None, compare=False)

    def text(self, name: str, language: str) -> str:
        """A language-keyed text field in `language`, falling back to English."""
        values: Mapping[str, str] = getattr(self, name)
        return values.get(language) or values[REQUIRED_LANGUAGE]

    def citation(self, language: str = REQUIRED_LANGUAGE) -> Dict[str, Any]:
        """The source as shown to taxpayers: authority, document and effective date."""
        cited: Dict[str, Any] = self.source.to_dict(language)
        cited["effective_date"] = self.effective_date.isoformat()
        if self.expires is not None:
            cited["expires"] = self.expires.isoformat()
        return cited


def _language_keyed(path: Path, name: str, value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ArticleError(path, name, "must be a mapping of language code to text, e.g. {en: ...}")
    unknown = [key for key in value if key not in LANGUAGES]
    if unknown:
        raise ArticleError(path, name, f"unknown language code(s) {unknown}; allowed {list(LANGUAGES)}")
    for language in LANGUAGES:
        if language not in value:
            raise ArticleError(
                path, f"{name}.{language}", f"the '{language}' text is required (every article is bilingual)"
            )
    return value


def _text(path: Path, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArticleError(path, name, "must be non-empty text")
    if URL_PATTERN.search(value):
        raise ArticleError(path, name, "must not contain a URL")
    return value.strip()


def _date(path: Path, name: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ArticleError(path, name, f"must be an ISO date (YYYY-MM-DD), got {value!r}")


def _string_list(path: Path, name: str, value: Any, minimum: int = 0) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ArticleError(path, name, "must be a list of non-empty strings")
    if len(value) < minimum:
        raise ArticleError(path, name, f"needs at least {minimum} entries, has {len(value)}")
    return tuple(item.strip() for item in value)


def parse_article(path: Path, data: Any) -> Article:
    """Validate one article's parsed YAML and return it; raise ArticleError naming the field."""
    if not isinstance(data, dict):
        raise ArticleError(path, "<file>", "must be a YAML mapping")
    for name in REQUIRED_FIELDS:
        if name not in data:
            raise ArticleError(path, name, "is missing")
    unknown = sorted(set(data) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise ArticleError(path, unknown[0], "is not a field of the schema")

    article_id = data["id"]
    if not isinstance(article_id, str) or not ID_PATTERN.match(article_id):
        raise ArticleError(path, "id", "must be lowercase letters, digits and dashes")
    if path.stem != article_id:
        raise ArticleError(path, "id", f"must equal the file name '{path.stem}'")
    category = data["category"]
    if category not in CATEGORIES:
        raise ArticleError(path, "category", f"must be one of {list(CATEGORIES)}")
    if path.parent.name != category:
        raise ArticleError(path, "category", f"must match the folder '{path.parent.name}'")

    title = {
        lang: _text(path, f"title.{lang}", text) for lang, text in _language_keyed(path, "title", data["title"]).items()
    }
    answer = {
        lang: _text(path, f"answer.{lang}", text)
        for lang, text in _language_keyed(path, "answer", data["answer"]).items()
    }
    words = len(answer[REQUIRED_LANGUAGE].split())
    if words > MAX_ANSWER_WORDS:
        raise ArticleError(path, "answer.en", f"has {words} words; keep it under {MAX_ANSWER_WORDS}")
    if len(answer["zh"]) > MAX_ANSWER_CHARS_ZH:
        raise ArticleError(
            path, "answer.zh", f"has {len(answer['zh'])} characters; keep it under {MAX_ANSWER_CHARS_ZH}"
        )
    if not CJK.search(answer["zh"]) or not CJK.search(title["zh"]):
        raise ArticleError(path, "answer.zh", "must be written in Chinese")
    differs = mismatch(answer["en"], answer["zh"])
    if differs:
        raise ArticleError(path, "answer", f"the en and zh answers state different figures ({differs})")
    questions = {
        lang: _string_list(path, f"questions.{lang}", items, MIN_QUESTIONS[lang])
        for lang, items in _language_keyed(path, "questions", data["questions"]).items()
    }

    source = data["source"]
    if not isinstance(source, dict):
        raise ArticleError(path, "source", "must be a mapping with 'authority' and 'document'")
    for part in ("authority", "document", "authority_zh", "document_zh"):
        if part not in source:
            raise ArticleError(path, f"source.{part}", "is missing")
    unknown_parts = sorted(set(source) - {"authority", "document", "authority_zh", "document_zh"})
    if unknown_parts:
        raise ArticleError(path, f"source.{unknown_parts[0]}", "is not a field of the source")
    cited = Source(
        *(
            _text(path, f"source.{part}", source[part])
            for part in ("authority", "document", "authority_zh", "document_zh")
        )
    )

    effective = _date(path, "effective_date", data["effective_date"])
    reviewed = _date(path, "last_reviewed", data["last_reviewed"])
    if reviewed < effective and reviewed.year < 2000:
        raise ArticleError(path, "last_reviewed", "is implausibly old")
    expires = _date(path, "expires", data["expires"]) if data.get("expires") is not None else None
    if expires is not None and expires < effective:
        raise ArticleError(path, "expires", "is before effective_date")
    if expires is not None:
        end = {str(expires.year), str(expires.month), str(expires.day)}
        for language in LANGUAGES:
            if not end <= figures(answer[language]):
                raise ArticleError(
                    path, f"answer.{language}", f"must say until when the policy applies ({expires.isoformat()})"
                )

    tags = _string_list(path, "tags", data["tags"], 1)
    if any(tag != tag.lower() for tag in tags):
        raise ArticleError(path, "tags", "must be lowercase")
    related = _string_list(path, "related", data["related"]) if data["related"] else ()
    needs_officer = data.get("needs_officer", False)
    if not isinstance(needs_officer, bool):
        raise ArticleError(path, "needs_officer", "must be true or false")

    return Article(
        id=article_id,
        category=category,
        title=title,
        questions=questions,
        answer=answer,
        source=cited,
        effective_date=effective,
        last_reviewed=reviewed,
        tags=tags,
        related=related,
        needs_officer=needs_officer,
        expires=expires,
        path=path,
    )


def article_files(directory: Path) -> List[Path]:
    """Every article file below `directory`, in a stable order."""
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_article(path: Path) -> Article:
    """Read and validate one article file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ArticleError(path, "<file>", f"is not valid UTF-8 YAML: {error}") from error
    return parse_article(path, data)


def load_articles(directory: Path) -> List[Article]:
    """Load and validate every article, including cross-article checks (unique ids, related ids)."""
    articles = [load_article(path) for path in article_files(directory)]
    seen: Dict[str, Path] = {}
    for article in articles:
        assert article.path is not None
        if article.id in seen:
            raise ArticleError(article.path, "id", f"duplicates the id of {seen[article.id]}")
        seen[article.id] = article.path
    for article in articles:
        assert article.path is not None
        for other in article.related:
            if other not in seen:
                raise ArticleError(article.path, "related", f"names unknown article '{other}'")
            if other == article.id:
                raise ArticleError(article.path, "related", "names the article itself")
    return articles


def validate_directory(directory: Path) -> Iterable[str]:
    """Every problem in the knowledge base, one message per broken file (for the CLI)."""
    problems: List[str] = []
    good: List[Path] = []
    for path in article_files(directory):
        try:
            load_article(path)
            good.append(path)
        except ArticleError as error:
            problems.append(str(error))
    if not problems:
        try:
            load_articles(directory)
        except ArticleError as error:
            problems.append(str(error))
    return problems
