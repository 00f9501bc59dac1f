"""Masking of personal data: what is masked, what is left alone (table-driven, plus properties)."""
import io
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.privacy import MaskingFilter, mask_pii

# (what the taxpayer typed, what is stored, logged and sent to Rasa)
MASKED = [
    # 18-digit resident IDs (GB 11643 check digit valid), also grouped and full-width
    ("我的身份证号是110101198903071234", "我的身份证号是110***********1234"),
    ("身份证：440305199912315672，请帮我查", "身份证：440***********5672，请帮我查"),
    ("My ID number is 310104200002290022.", "My ID number is 310***********0022."),
    ("ID 11010119870307123X ok", "ID 110***********123X ok"),
    ("id:11010119870307123x", "id:110***********123x"),
    ("身份证 110101 19890307 1234", "身份证 110*** ******** 1234"),
    ("ID 110101-19890307-1234", "ID 110***-********-1234"),
    ("510107 1975 0615 8887 is my ID", "510*** **** **** 8887 is my ID"),
    ("身份证１１０１０１１９８９０３０７１２３４", "身份证１１０***********１２３４"),
    ("１１０１０１１９８７０３０７１２３Ｘ", "１１０***********１２３Ｘ"),
    ("港澳居民居住证810000198008081237", "港澳居民居住证810***********1237"),
    ("my son's ID is 110105200501010039, can I claim?", "my son's ID is 110***********0039, can I claim?"),
    ("身份证号码320502196811110118。", "身份证号码320***********0118。"),
    ("身份证 110101\u300019890307\u30001234", "身份证 110***\u3000********\u30001234"),
    # a mistyped check digit still masks after its keyword
    ("身份证号110101199003071234写错了吗", "身份证号110***********1234写错了吗"),
    ("my ID number: 110101199003071235", "my ID number: 110***********1235"),
    # 15-digit resident IDs
    ("老身份证110101890307123", "老身份证110*********123"),
    ("old ID 440305991231567 please", "old ID 440*********567 please"),
    ("身份证 110101 890307 123", "身份证 110*** ****** 123"),
    # passports: Chinese E/G numbers anywhere, other forms after a keyword
    ("护照号码：E12345678", "护照号码：E******78"),
    ("我的护照是G87654321", "我的护照是G******21"),
    ("passport EA1234567", "passport E******67"),
    ("Passport No. K12345678", "Passport No. K******78"),
    ("my passport number is 123456789", "my passport number is 1******89"),
    ("passport: AB1234567, expires 2030", "passport: A******67, expires 2030"),
    ("护照号 X1234567", "护照号 X*****67"),
    ("my passport is TK1234567", "my passport is T******67"),
    ("E12345678 is my passport", "E******78 is my passport"),
    ("港澳通行证C12345678", "港澳通行证C******78"),
    ("护照Ｅ１２３４５６７８", "护照Ｅ******７８"),
    # bank cards (Luhn valid), grouped or not
    ("卡号6222021234507890", "卡号************7890"),
    ("卡号 6222 0212 3450 7890", "卡号 **** **** **** 7890"),
    ("6217000010011234567", "***************4567"),
    ("refund to card 4367-4200-3012-3458 please", "refund to card ****-****-****-3458 please"),
    ("建行卡 6228 4800 1234 5678 903", "建行卡 **** **** **** ***8 903"),
    ("card 5201081234567895", "card ************7895"),
    ("工资卡９５５８８０００１２３４５６７８９０３", "工资卡***************８９０３"),
    ("621226 120201158422", "****** ********8422"),
    ("银行卡号是6228480012345678903，开户行北京", "银行卡号是***************8903，开户行北京"),
    # mobiles
    ("手机13812345678", "手机138****5678"),
    ("call +86 138 1234 5678 now", "call +86 138****5678 now"),
    ("+86-138-1234-5678", "+86-138****5678"),
    ("0086 15912345678", "0086 159****5678"),
    ("138-1234-5678", "138****5678"),
    ("电话：１３８１２３４５６７８", "电话：１３８****５６７８"),
    ("my number is 186 1111 2222.", "my number is 186****2222."),
    ("联系我19912345678谢谢", "联系我199****5678谢谢"),
    ("text me at 17700001111, thanks", "text me at 177****1111, thanks"),
    ("8613912345678", "86139****5678"),
    ("手机号１３８\u3000１２３４\u3000５６７８", "手机号１３８****５６７８"),
    # landlines with an area code
    ("电话010-12345678", "电话010-****5678"),
    ("座机(010)87654321", "座机(010)****4321"),
    ("office 021-87654321 ext 8", "office 021-****4321 ext 8"),
    ("杭州0571-88886666", "杭州0571-****6666"),
    ("深圳 0755 2345 6789", "深圳 0755 **** 6789"),
    ("+86 10 6512 3456", "+86 10 **** 3456"),
    ("座机01087654321", "座机010****4321"),
    ("（０１０）１２３４５６７８", "（０１０）****５６７８"),
    ("tel: 02587654321", "tel: 025****4321"),
    ("传真 0571-8888-6666", "传真 0571-****-6666"),
    # e-mail addresses
    ("邮箱zhangsan@163.com", "邮箱z***@163.com"),
    ("mail me at li.si+tax@example.com.cn.", "mail me at l***@example.com.cn."),
    ("QQ邮箱123456789@qq.com，谢谢", "QQ邮箱1***@qq.com，谢谢"),
    ("Email: John.Doe@Company.org", "Email: J***@Company.org"),
    ("ＡＢＣ＠ｑｑ．ｃｏｍ", "Ａ***＠ｑｑ．ｃｏｍ"),
    ("write to tax_help-1@bj.gov.cn or call", "write to t***@bj.gov.cn or call"),
    # several in one message, next to numbers that must stay
    (
        "身份证110101198903071234，手机13812345678，卡6222021234507890",
        "身份证110***********1234，手机138****5678，卡************7890",
    ),
    (
        "I earned 1500000 in 2026, my phone is 13812345678 and email a@b.cn",
        "I earned 1500000 in 2026, my phone is 138****5678 and email a***@b.cn",
    ),
    ("2026年收入1500000元，身份证440305199912315672", "2026年收入1500000元，身份证440***********5672"),
    ("发票代码144031900111，手机15912345678", "发票代码144031900111，手机159****5678"),
]

# Taxpayers type these all the time: masking them would break calculators and answers.
KEPT = [
    "2026年个税起征点是5000元",
    "年收入1500000元",
    "I earned 1500000 in 2026",
    "金额 1,234,567.89 元",
    "¥15000000000",
    "金额15000000000元",
    "13800000000 yuan of revenue",
    "总额15912345678.50",
    "发票代码144031900111",
    "发票代码044031900111",
    "invoice code 3100231130 number 12345678",
    "数电发票号码24312000000012345678",
    "12366 纳税服务热线",
    "call 12366 for help, 电话 12366",
    "税率13%",
    "征收率3%，减按1%",
    "VAT rate 6.5%",
    "2024-05-31",
    "2024/05/31 and 20240531",
    "2024年5月31日前申报",
    "2024年度汇算 2025-03-01 至 2025-06-30",
    "统一社会信用代码91110108MA01ABCDE1",
    "USCC 91310000MA1FL4XY2N",
    "统一社会信用代码911101081100000005",  # all digits and Luhn-valid, still not a card
    "social organisation code 521100005100000002",
    "税号110108123456789",
    "12345678901",
    "号码110101199003071234写错了吗",  # fails the GB 11643 check digit, and no ID keyword
    "card 6222021234567890",  # fails the Luhn check
    "2023 2024 2025 2026",
    "收入 8000 12000 15000 20000",
    "orders 1000000000000000 pieces",
    "护照办理需要5个工作日",
    "护照有效期20260101",
    "passport renewal costs 200 yuan",
    "G1234 次列车",
    "专项附加扣除每月2000元，全年24000元",
    "版本 3.6.0, timestamp 1717171717",
    "ticket #20240531001",
    "本月工资15000元，社保1234.56元",
    "a @ b, email me",
    "",
]


@pytest.mark.parametrize("raw, masked", MASKED)
def test_personal_data_is_masked(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize("text", KEPT)
def test_amounts_dates_and_codes_are_kept(text: str) -> None:
    assert mask_pii(text) == text


def test_tables_are_large_and_bilingual() -> None:
    han = re.compile(r"[\u4e00-\u9fff]")
    assert len(MASKED) >= 60 and len(KEPT) >= 30
    assert sum(bool(han.search(raw)) for raw, _ in MASKED) >= 20
    assert sum(not han.search(raw) for raw, _ in MASKED) >= 20
    assert sum(bool(han.search(text)) for text in KEPT) >= 10 and sum(not han.search(text) for text in KEPT) >= 10


@pytest.mark.parametrize(
    "spaced",
    ["110101 19890307 1234", "110 101 1989 0307 1234", "1101 0119 8903 0712 34", "110101-1989-0307-1234"],
)
def test_a_grouped_resident_id_keeps_at_most_seven_digits(spaced: str) -> None:
    out = mask_pii(f"我的身份证是 {spaced}")
    assert sum(ch.isdigit() for ch in out) == 7
    assert "19890307" not in re.sub(r"\D", "", out)


def test_the_logging_filter_masks_email_and_full_width_numbers() -> None:
    args = ("zhangsan@163.com", "１３８１２３４５６７８")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "from %s tel %s", args, None)
    assert MaskingFilter().filter(record) is True
    assert record.getMessage() == "from z***@163.com tel １３８****５６７８"


# ------------------------------------------------------------------------------------------ properties
_PIECES = [raw for raw, _ in MASKED] + KEPT + [" ", "-", "*", "@", "，", "元", "护照", "passport", "电话", "0", "1"]
_MIXED = st.lists(
    st.one_of(st.sampled_from(_PIECES), st.text(alphabet="0123456789１３８ -*@.xXEa护照元", max_size=12)), max_size=8
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MIXED)
def test_masking_twice_changes_nothing(text: str) -> None:
    once = mask_pii(text)
    assert mask_pii(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80).filter(lambda s: not any(ch.isdigit() or ch in "@＠" for ch in s)))
def test_text_without_digits_or_at_sign_is_unchanged(text: str) -> None:
    assert mask_pii(text) == text


def test_the_logging_filter_masks_tracebacks() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("test.privacy.traceback")
    log.addHandler(handler)
    try:
        try:
            raise ValueError("bad input 13812345678 from zhangsan@163.com")
        except ValueError:
            log.exception("turn failed")
    finally:
        log.removeHandler(handler)
    assert isinstance(handler.stream, io.StringIO)
    written = handler.stream.getvalue()
    assert "turn failed" in written and "ValueError: bad input 138****5678 from z***@163.com" in written
    assert "13812345678" not in written and "zhangsan" not in written
