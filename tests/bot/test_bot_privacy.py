"""Masking of personal data (unit)."""
import logging

import pytest

from bot.privacy import MaskingFilter, mask_pii


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("我的身份证号是110101198903071234", "我的身份证号是110***********1234"),
        ("ID 11010119870307123X ok", "ID 110***********123X ok"),
        ("id:11010119870307123x", "id:110***********123x"),
        ("手机13812345678", "手机138****5678"),
        ("call +86 138 1234 5678 now", "call +86 138****5678 now"),
        ("+86-138-1234-5678", "+86-138****5678"),
        ("8613912345678", "86139****5678"),
        ("138-1234-5678", "138****5678"),
        ("卡号6222021234507890", "卡号************7890"),
        ("卡号 6222 0212 3450 7890", "卡号 **** **** **** 7890"),
        ("6217000010011234567", "***************4567"),
        ("订单号12345，电话010-12345678", "订单号12345，电话010-****5678"),
    ],
)
def test_masks_personal_numbers(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2024年个税起征点是5000元",
        "订单号12345，热线12366",
        "12366 纳税服务热线",
        "金额 1,234,567.89 元",
        "12345678901",  # 11 digits but not a mobile prefix
        "",
    ],
)
def test_leaves_other_numbers(text: str) -> None:
    assert mask_pii(text) == text


def test_masks_several_items_in_one_message() -> None:
    text = "身份证110101198903071234，手机13812345678，卡6222021234507890"
    out = mask_pii(text)
    assert "198903071" not in out and "12345678" not in out and "602123450" not in out
    assert out == "身份证110***********1234，手机138****5678，卡************7890"


def test_logging_filter_masks_records_and_conversation_paths() -> None:
    args = ("GET /conversations/abc123/history", "13812345678")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s said %s", args, None)
    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == "user GET /conversations/<redacted>/history said 138****5678"
