"""The forms' questions (actions/calculators/asking.py): "which calculation?" and one ask action per slot."""

from __future__ import annotations

from actions.calculators.asking import ASK_ACTIONS, AskWhichCalculator
from actions.calculators.catalog import ALL_CALCULATOR_SLOTS, CALCULATORS, SLOT_TO_CALCULATOR
from tests.actions.calculators.support import make_tracker, run


async def test_which_calculator_offers_one_button_each() -> None:
    messages, events = await run(AskWhichCalculator(), make_tracker("calculate my tax", "start_calculation"))
    assert events == []
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads == ['/start_calculation{"calculator": "%s"}' % name for name in CALCULATORS]
    assert messages[0]["custom"]["kind"] == "form" and messages[0]["custom"]["slot"] == "calculator"


async def test_the_questions_carry_the_form_payload_and_the_year() -> None:
    tracker = make_tracker("240k", slots={"tax_year": 2025.0}, form="annual_reconciliation_form")
    messages, events = await run(ASK_ACTIONS["social_insurance"](), tracker)
    assert events == []
    assert messages[0]["custom"] == {
        "kind": "form", "calculator": "annual_reconciliation", "slot": "social_insurance", "status": "asking",
        "tax_year": 2025,
    }
    assert "2025" in messages[0]["text"]


async def test_which_calculator_in_chinese() -> None:
    messages, _ = await run(AskWhichCalculator(), make_tracker("帮我算个税", "start_calculation"))
    assert messages[0]["text"] == "我可以为您估算以下四项，您想算哪一项？"
    assert [b["title"] for b in messages[0]["buttons"]] == [
        "综合所得年度汇算（退税/补税）", "本月工资预扣预缴个税", "全年一次性奖金个税", "小规模纳税人增值税"]
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads == ['/start_calculation{"calculator": "%s"}' % name for name in CALCULATORS]


async def test_the_language_slot_decides_when_the_answer_has_no_words() -> None:
    tracker = make_tracker("240000", slots={"language": "zh"}, form="annual_reconciliation_form")
    messages, _ = await run(ASK_ACTIONS["social_insurance"](), tracker)
    assert messages[0]["text"].startswith("您2026年个人缴纳的社会保险和住房公积金")
    tracker = make_tracker("240000", slots={"language": "en"}, form="annual_reconciliation_form")
    messages, _ = await run(ASK_ACTIONS["social_insurance"](), tracker)
    assert messages[0]["text"].startswith("How much did you pay into social insurance")


def test_every_form_slot_has_its_own_ask_action() -> None:
    assert set(ASK_ACTIONS) == set(ALL_CALCULATOR_SLOTS)
    for slot, action in ASK_ACTIONS.items():
        assert action().name() == f"action_ask_{slot}"
        assert SLOT_TO_CALCULATOR[slot].name in CALCULATORS
    assert AskWhichCalculator().name() == "action_ask_calculator"


async def test_a_tax_question_read_as_figures_gets_its_answer_not_the_calculator_menu(
        knowledge_service) -> None:  # type: ignore[no-untyped-def]
    # the NLU reads "1%还是1.5%" as figures (`inform`) outside a calculation; the knowledge base is sure
    action = AskWhichCalculator(knowledge_service)
    messages, events = await run(action, make_tracker("首套房契税1%还是1.5%", "inform", slots={"language": "zh"}))
    assert messages[0]["custom"]["kind"] == "answer" and messages[0]["custom"]["article_id"] == "deed-tax-home-buyers"
    assert "来源" in messages[0]["text"]
    assert {"event": "slot", "name": "last_article_id", "value": "deed-tax-home-buyers", "timestamp": None} in events


async def test_bare_figures_outside_a_calculation_still_ask_which_calculation(
        knowledge_service) -> None:  # type: ignore[no-untyped-def]
    for text in ("30000", "30,000 yuan", "3万"):
        messages, events = await run(AskWhichCalculator(knowledge_service), make_tracker(text, "inform"))
        assert messages[0]["custom"]["kind"] == "form" and messages[0]["custom"]["slot"] == "calculator", text
        assert events == []


async def test_asking_for_a_calculation_always_offers_the_calculators(
        knowledge_service) -> None:  # type: ignore[no-untyped-def]
    messages, _ = await run(AskWhichCalculator(knowledge_service),
                            make_tracker("how is the tax on my year-end bonus calculated", "start_calculation"))
    assert messages[0]["custom"]["kind"] == "form"
