"""Whole calculations asked and answered in Chinese: the questions, the answers and the result.

Each conversation runs the form's validation action, the ask action of every slot still missing and
the result action, as Rasa would; every text the taxpayer sees is in Chinese.
"""

from __future__ import annotations

from typing import Any, Dict, List

from actions.calculators.asking import ASK_ACTIONS
from actions.calculators.catalog import CALCULATORS
from actions.calculators.results import (
    CalculateAnnualBonus,
    CalculateAnnualReconciliation,
    CalculateMonthlyWithholding,
    CalculateSmallScaleVat,
)
from actions.calculators.validation import (
    ValidateAnnualBonusForm,
    ValidateAnnualReconciliationForm,
    ValidateMonthlyWithholdingForm,
    ValidateSmallScaleVatForm,
)
from tests.actions.calculators.support import assert_all_chinese, english_left, make_tracker, run, slot_values


async def chinese_conversation(calculator: str, opening: str, answers: Dict[str, str]):  # type: ignore[no-untyped-def]
    """Starts `calculator` with `opening`, then for each slot the form asks: the question, the answer.

    Returns (every text the bot said, the slots at the end, the result message)."""
    validator = {
        "annual_reconciliation": ValidateAnnualReconciliationForm,
        "monthly_withholding": ValidateMonthlyWithholdingForm,
        "annual_bonus": ValidateAnnualBonusForm,
        "small_scale_vat": ValidateSmallScaleVatForm,
    }[calculator]()
    form = CALCULATORS[calculator].form
    slots: Dict[str, Any] = {"language": "zh"}
    said: List[str] = []
    messages, events = await run(validator, make_tracker(opening, intent="start_calculation", slots=slots))
    said += [m["text"] for m in messages]
    slots.update(slot_values(events))
    last = opening
    for slot in CALCULATORS[calculator].slots:
        if slots.get(slot) is not None:
            continue
        messages, _ = await run(ASK_ACTIONS[slot](), make_tracker(last, slots=slots, form=form))
        said += [m["text"] for m in messages]
        assert messages[0]["custom"]["slot"] == slot
        last = answers[slot]
        intent = "deny" if last.startswith("没有") else "inform"
        tracker = make_tracker(last, intent=intent, slots=slots, form=form, requested=slot)
        messages, events = await run(validator, tracker)
        said += [m["text"] for m in messages]
        slots.update(slot_values(events))
        assert slots.get(slot) is not None, (slot, last, said)
    action = {
        "annual_reconciliation": CalculateAnnualReconciliation,
        "monthly_withholding": CalculateMonthlyWithholding,
        "annual_bonus": CalculateAnnualBonus,
        "small_scale_vat": CalculateSmallScaleVat,
    }[calculator]()
    messages, _ = await run(action, make_tracker(last, slots=slots))
    return said, slots, messages[0]


async def test_annual_reconciliation_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "annual_reconciliation", "帮我估算一下年度汇算能退多少税",
        {"annual_income": "24万", "social_insurance": "每月2000", "special_additional": "两千",
         "tax_withheld": "已经预缴了1.2万"},
    )
    assert said[0].startswith("我们来计算您2026年的综合所得年度汇算估算") and "4项" in said[0]
    assert "全年的税前工资薪金收入" in said[1] and "2026年" in said[1]
    assert "社会保险和住房公积金" in said[2]
    assert "每月 2,000.00 元，折合每年 24,000.00 元" in said[3]  # the note on the conversion
    assert "专项附加扣除" in said[4] and "个人所得税App" in said[5] and len(said) == 6
    assert all(not english_left(text) for text in said), said
    assert slots["annual_income"] == 240000.0 and slots["social_insurance"] == 24000.0
    assert slots["special_additional"] == 2000.0 and slots["tax_withheld"] == 12000.0
    custom = result["custom"]
    assert custom["summary"]["refund"] == "1320.00" and custom["language"] == "zh"
    assert custom["result"]["result"] == "-1320.00"  # the same figures as in English
    text = result["text"]
    for words in ("2026年度综合所得汇算估算：可退税 1,320.00 元", "应纳税所得额 132,000.00 元", "税率 10%",
                  "速算扣除数 2,520.00 元", "计算过程：",
                  "- 专项附加扣除：24,000.00（按您申报的每月 2,000.00 × 12个月）",
                  "依据的规定：", "《中华人民共和国个人所得税法》", "2019-01-01起适用", "估算", "个人所得税App",
                  "自然人电子税务局"):
        assert words in text, words
    assert [s["label"] for s in custom["result"]["steps"]][:2] == ["工资、薪金所得", "综合所得收入额"]
    assert_all_chinese(result)


async def test_annual_reconciliation_amount_due_in_chinese() -> None:
    said, _, result = await chinese_conversation(
        "annual_reconciliation", "我要算个税汇算，年薪40万",
        {"social_insurance": "没有", "special_additional": "没有专项附加", "tax_withheld": "一万"},
    )
    assert "需补税 43,080.00 元" in result["text"] and "需要补税" in result["text"]
    assert result["custom"]["summary"]["amount_due"] == "43080.00"
    assert_all_chinese(result)


async def test_monthly_withholding_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "monthly_withholding", "我想算本月工资预扣的个税，月薪2万",
        {"monthly_social_insurance": "2200", "monthly_special_additional": "三千", "withholding_month": "三月"},
    )
    assert slots["monthly_salary"] == 20000.0
    assert slots["withholding_month"] == 11.0  # "本月" in the first message: November (today is fixed)
    assert said[0].startswith("我们来计算您2026年的工资薪金每月预扣预缴估算") and "2项" in said[0]
    assert "每月从您工资中扣缴的社会保险和住房公积金" in said[1]
    assert all(not english_left(text) for text in said), said
    assert "2026年11月预扣预缴税额估算" in result["text"]
    assert_all_chinese(result)


async def test_annual_bonus_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "annual_bonus", "帮我算一下年终奖要交多少税", {"bonus_amount": "3.7万"},
    )
    assert said[1] == "全年一次性奖金（税前）是多少？例如“50000”或“5万”。"
    assert slots["bonus_amount"] == 37000.0
    text = result["text"]
    assert "2026年全年一次性奖金 37,000.00 元 单独计税，应纳税额 3,490.00 元" in text
    assert "税后到手 33,510.00 元" in text
    assert "提示：这笔奖金刚好超过 36,000.00 元 的临界点" in text and "多得 1,410.00 元" in text
    assert result["custom"]["result"]["tax"] == "3490.00" and result["custom"]["cliff"]["in_dead_zone"] is True
    assert not english_left(" ".join(s["label"] + s["explanation"] for s in result["custom"]["cliff"]["steps"]))
    assert_all_chinese(result)


async def test_small_scale_vat_asked_and_answered_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "small_scale_vat", "小规模纳税人增值税怎么算，这个季度卖了35万", {"vat_period": "按季"},
    )
    assert slots["sales_amount"] == 350000.0 and slots["vat_period"] == "quarter"
    text = result["text"]
    assert "本季度应纳增值税 3,500.00 元（350,000.00 元 × 征收率 1%）" in text
    assert "附加税费（小规模纳税人减半征收）210.00 元，合计 3,710.00 元" in text
    assert "城市维护建设税（市区）" in text and "电子税务局" in text
    assert result["custom"]["result"]["total"] == "3710.00"
    assert_all_chinese(result)


async def test_small_scale_vat_asked_step_by_step_in_chinese() -> None:
    said, slots, result = await chinese_conversation(
        "small_scale_vat", "帮我算增值税", {"sales_amount": "12万", "vat_period": "按月"},
    )
    assert "本期不含增值税的销售额是多少" in said[1] and "按月还是按季度" in said[2]
    assert "本月销售额 120,000.00 元 未超过 100,000.00 元" not in result["text"]  # 120,000 > 100,000: taxed
    assert "本月应纳增值税 1,200.00 元" in result["text"]
    assert_all_chinese(result)
