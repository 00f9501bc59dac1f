"""The article schema validator: the real knowledge base passes; broken articles fail by file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict

import pytest
import yaml

from knowledge.schema import CATEGORIES, ArticleError, load_article, load_articles

ARTICLES = Path(__file__).resolve().parents[2] / "knowledge" / "articles"


def test_the_knowledge_base_is_valid_and_covers_every_category() -> None:
    articles = load_articles(ARTICLES)
    assert len(articles) >= 140
    by_category: Dict[str, int] = {}
    for article in articles:
        by_category[article.category] = by_category.get(article.category, 0) + 1
        assert len(article.questions["en"]) >= 3
        assert article.source.authority and article.source.document
    assert set(by_category) == set(CATEGORIES)


@pytest.mark.parametrize(
    "topic",
    [
        "iit-basic-deduction", "iit-rate-table", "iit-annual-reconciliation", "iit-reconciliation-exemption",
        "iit-sad-children-education", "iit-sad-infant-care", "iit-sad-continuing-education",
        "iit-sad-serious-illness", "iit-sad-housing-loan-interest", "iit-sad-housing-rent",
        "iit-sad-elderly-support", "iit-residency-183-day", "iit-foreign-allowances", "iit-annual-bonus",
        "iit-labour-remuneration", "iit-dividends", "iit-interest-income", "iit-rental-income",
        "iit-personal-pension", "vat-rates", "vat-small-scale-exemption", "vat-small-scale-levy-rate",
        "vat-general-taxpayer-threshold", "fapiao-fully-digital", "fapiao-red-letter", "cit-rate",
        "cit-small-low-profit", "cit-high-tech", "cit-rd-super-deduction", "cit-quarterly-prepayment",
        "cit-annual-filing", "stamp-duty-rates", "vehicle-purchase-tax", "urban-maintenance-tax",
        "education-surcharges", "property-tax-business", "deed-tax", "proc-tax-registration",
        "proc-etax-bureau-login", "proc-iit-app", "proc-paying-tax", "proc-tax-refund", "proc-late-filing",
        "proc-late-payment-surcharge", "proc-12366-hotline",
        # issue 12: the questions Beijing taxpayers ask the 12366 hotline that the base could not answer
        "social-flexible-pension", "social-resident-medical", "social-contribution-base", "vat-individual-home-sale",
        "home-gift-taxes", "home-inheritance-taxes", "iit-childcare-subsidy-exempt", "iit-reconciliation-correction",
        "iit-platform-income-reporting", "getihu-fixed-quota", "vat-credit-refund", "iit-home-swap-refund",
    ],
)
def test_every_topic_the_issue_names_has_an_article(topic: str) -> None:
    assert any(ARTICLES.rglob(f"{topic}.yml")), f"missing article {topic}"


@pytest.fixture
def article_copy(tmp_path: Path) -> Callable[[Callable[[dict], None]], Path]:
    """Copy one real article into a temporary knowledge base after applying `mutate` to its YAML."""

    def make(mutate: Callable[[dict], None]) -> Path:
        source = ARTICLES / "iit" / "iit-basic-deduction.yml"
        data = yaml.safe_load(source.read_text())
        mutate(data)
        target = tmp_path / "articles" / "iit" / "iit-basic-deduction.yml"
        target.parent.mkdir(parents=True)
        target.write_text(yaml.safe_dump(data, allow_unicode=True))
        return target

    return make


@pytest.mark.parametrize(
    "field, mutate",
    [
        ("source", lambda d: d.pop("source")),
        ("source.document", lambda d: d["source"].pop("document")),
        ("effective_date", lambda d: d.update(effective_date="next spring")),
        ("questions.en", lambda d: d["questions"].update(en=d["questions"]["en"][:2])),
        ("title", lambda d: d.update(title={"fr": "Déduction"})),
        ("title.zh", lambda d: d["title"].pop("zh")),
        ("questions.zh", lambda d: d["questions"].update(zh=d["questions"]["zh"][:5])),
        ("answer.zh", lambda d: d["answer"].pop("zh")),
        ("answer.zh", lambda d: d["answer"].update(zh="Residents deduct 60,000 yuan a year.")),
        ("source.document_zh", lambda d: d["source"].pop("document_zh")),
        # the figures of the two answers must agree
        ("answer", lambda d: d["answer"].update(zh=d["answer"]["zh"].replace("6万", "5万").replace("60000", "50000"))),
        ("answer.en", lambda d: d["answer"].update(en="See https://example.com for the rule.")),
        ("tags", lambda d: d.update(tags=[2026])),
        ("id", lambda d: d.update(id="another-name")),
        ("category", lambda d: d.update(category="vat")),
        ("needs_officer", lambda d: d.update(needs_officer="maybe")),
        ("colour", lambda d: d.update(colour="red")),
    ],
)
def test_a_broken_article_fails_naming_the_file_and_the_field(article_copy, field: str, mutate) -> None:  # type: ignore[no-untyped-def]
    path = article_copy(mutate)
    with pytest.raises(ArticleError) as failure:
        load_article(path)
    assert failure.value.field == field
    assert str(path) in str(failure.value) and f"'{field}'" in str(failure.value)


def test_related_ids_must_exist(article_copy) -> None:  # type: ignore[no-untyped-def]
    path = article_copy(lambda d: d.update(related=["no-such-article"]))
    with pytest.raises(ArticleError) as failure:
        load_articles(path.parent.parent)
    assert failure.value.field == "related" and "no-such-article" in str(failure.value)


def test_every_article_is_bilingual_with_the_same_figures_in_both_answers() -> None:
    from knowledge.facts import figures

    for article in load_articles(ARTICLES):
        assert len(article.questions["zh"]) >= 6 and len(article.questions["en"]) >= 3, article.id
        assert figures(article.answer["en"]) == figures(article.answer["zh"]), article.id
        assert article.source.document_zh and article.source.authority_zh, article.id
        assert article.citation("zh")["document"] == article.source.document_zh


def test_a_temporary_policy_states_its_end_in_both_languages(article_copy) -> None:  # type: ignore[no-untyped-def]
    def temporary(d: dict) -> None:
        d["expires"] = "2027-12-31"

    with pytest.raises(ArticleError) as failure:
        load_article(article_copy(temporary))
    assert failure.value.field == "answer.en" and "2027-12-31" in str(failure.value)
    for article in load_articles(ARTICLES):
        if article.expires is not None:
            end = {str(article.expires.year), str(article.expires.month), str(article.expires.day)}
            assert end <= figures_of(article.answer["en"]) and end <= figures_of(article.answer["zh"]), article.id


def figures_of(text: str) -> set:
    from knowledge.facts import figures

    return set(figures(text))


@pytest.mark.parametrize(
    "english, chinese",
    [
        ("60,000 yuan a year (5,000 a month)", "每年6万元（每月5000元）"),
        ("until 31 December 2027", "执行至2027年12月31日"),
        ("between 1 March and 30 June", "3月1日至6月30日"),
        ("3% of 1.5 million", "150万元的3%"),
        ("you may claim 12 months", "可以申报12个月"),
    ],
)
def test_figures_compare_across_languages(english: str, chinese: str) -> None:
    from knowledge.facts import mismatch

    assert mismatch(english, chinese) == ""
    assert mismatch(english, chinese + "，另加99天") != ""


def test_a_question_variant_belongs_to_one_article_only() -> None:
    owners: Dict[str, str] = {}
    shared = []
    for article in load_articles(ARTICLES):
        for language, variants in article.questions.items():
            for variant in variants:
                key = f"{language}:{' '.join(variant.lower().split())}"
                if key in owners and owners[key] != article.id:
                    shared.append((variant, owners[key], article.id))
                owners[key] = article.id
    assert not shared, shared
