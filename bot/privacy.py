"""Masking of personal data before it is stored, logged or sent on.

Masked: e-mail addresses, resident identity numbers (18 digits with a valid GB 11643 check digit, or the
old 15 digits), passports (Chinese ``E``/``G`` numbers, other forms after a keyword such as 护照 or
passport), bank cards (16-19 digits passing the Luhn check), mainland mobiles and landlines with an area
code. Full-width digits (``１３８…``) count as digits. Amounts, years, dates, invoice codes, 12366,
percentages and company credit codes are left alone.
"""
from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Callable, Dict, Iterator, List, Tuple, Union

# ---------------------------------------------------------------------------------------------- folding
# One character for one character, so that positions in the folded text are positions in the original.
_FOLD: Dict[int, str] = {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}  # full-width ASCII
_FOLD.update({0x3000: " ", 0x00A0: " ", 0x2007: " ", 0x202F: " ", 0xFFE5: "¥", 0x2212: "-"})
_FOLD.update({cp: "-" for cp in range(0x2010, 0x2016)})  # hyphens and dashes


def _fold(text: str) -> str:
    """``text`` with full-width forms, other decimal digits and dashes as ASCII, same length."""
    folded = text.translate(_FOLD)
    if folded.isascii():
        return folded
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in folded)


# ------------------------------------------------------------------------------------------- validation
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in "Xx").upper()


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _valid_id18(match: re.Match[str]) -> bool:
    """GB 11643: province, birth date and the check character."""
    code = _digits(match.group(0))
    if len(code) != 18 or code[:2] not in _PROVINCES or not code[:17].isdigit():
        return False
    year, month, day = int(code[6:10]), int(code[10:12]), int(code[12:14])
    if not 1900 <= year <= 2099 or not _is_date(year, month, day):
        return False
    return _ID_CHECK[sum(int(d) * w for d, w in zip(code, _ID_WEIGHTS)) % 11] == code[17]


def _plausible_id18(match: re.Match[str]) -> bool:
    """Province and birth date right, whatever the check character: a mistyped ID after its keyword."""
    code = _digits(match.group("num"))
    if len(code) != 18 or code[:2] not in _PROVINCES or not code[:17].isdigit():
        return False
    return 1900 <= int(code[6:10]) <= 2099 and _is_date(int(code[6:10]), int(code[10:12]), int(code[12:14]))


def _valid_id15(match: re.Match[str]) -> bool:
    """The first-generation card: province and a 19YYMMDD birth date."""
    code = _digits(match.group(0))
    return code[:2] in _PROVINCES and _is_date(1900 + int(code[6:8]), int(code[8:10]), int(code[10:12]))


def _valid_card(match: re.Match[str]) -> bool:
    """16-19 digits of a card scheme (3-6, 9) passing the Luhn check.

    18 digits must start like a UnionPay or Visa card: an all-digit company credit code is not a card.
    """
    number = _digits(match.group(0))
    if not 16 <= len(number) <= 19 or number[0] not in "34569":
        return False
    if len(number) == 18 and not number.startswith(("62", "4")):
        return False
    total = 0
    for index, ch in enumerate(reversed(number)):
        value = int(ch) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _valid_passport(match: re.Match[str]) -> bool:
    """A keyword-introduced number has a digit; an all-digit one has 9 (not a date or an amount)."""
    number = match.group("num")
    return any(ch.isdigit() for ch in number) and (not number.isdigit() or len(number) == 9)


def _always(match: re.Match[str]) -> bool:
    return True


# ---------------------------------------------------------------------------------------------- masking
def _hide(original: str, folded: str, keep_first: int, keep_last: int) -> str:
    """Replace letters and digits by ``*`` except the first and last few; separators stay."""
    positions = [i for i, ch in enumerate(folded) if ch.isalnum()]
    hidden = set(positions[keep_first:len(positions) - keep_last])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(original))


def _mask_id(original: str, folded: str) -> str:
    return _hide(original, folded, 3, 4)


def _mask_id15(original: str, folded: str) -> str:
    return _hide(original, folded, 3, 3)


def _mask_card(original: str, folded: str) -> str:
    return _hide(original, folded, 0, 4)


def _mask_passport(original: str, folded: str) -> str:
    return _hide(original, folded, 1, 2)


def _mask_local_number(original: str, folded: str) -> str:
    return _hide(original, folded, 0, 4)


def _mask_mobile(original: str, folded: str) -> str:
    digits = [ch for ch, f in zip(original, folded) if f.isdigit()]
    return "".join(digits[:3]) + "****" + "".join(digits[-4:])


def _mask_email_local(original: str, folded: str) -> str:
    return original[0] + "***"


# -------------------------------------------------------------------------------------------- detectors
# A number run touching ``*`` counts as already masked: masking twice changes nothing.
_NB = r"(?<![0-9*])"  # no digit before
_NA = r"(?![0-9*])"  # no digit after
_AREA = r"(?:10|2[0-9]|[3-9][0-9]{2})"  # mainland area code without its leading 0
_LOCAL = r"(?P<num>[1-9][0-9]{2,3}[ -]?[0-9]{4})"
_CONNECT = r"(?:\s*(?:no\.?|number|num|is|#|号码|号|是|为|[:：=]))*\s*"


@dataclass(frozen=True)
class _Detector:
    name: str
    pattern: re.Pattern[str]
    valid: Callable[[re.Match[str]], bool]
    mask: Callable[[str, str], str]
    group: Union[str, int] = 0


_DETECTORS: Tuple[_Detector, ...] = (
    _Detector(
        "email",
        re.compile(
            r"(?P<num>[A-Za-z0-9._%+\-]{1,64})@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
            r"\.[A-Za-z]{2,}(?![A-Za-z\-@]|\.[A-Za-z])"
        ),
        _always, _mask_email_local, "num",
    ),
    _Detector("resident_id_18", re.compile(_NB + r"[0-9](?:[ -]?[0-9]){16}[ -]?[0-9Xx]" + _NA), _valid_id18, _mask_id),
    _Detector(
        "resident_id_keyword",
        re.compile(
            r"(?:身份证|证件|id\s*(?:card|number|no\.?))" + _CONNECT
            + r"(?P<num>(?<![0-9*])[0-9](?:[ -]?[0-9]){16}[ -]?[0-9Xx])" + _NA, re.I
        ),
        _plausible_id18, _mask_id, "num",
    ),
    _Detector(
        "bank_card",
        re.compile(
            _NB + r"(?:[0-9]{16,19}|[0-9]{4}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}"
            r"(?:(?P=sep)[0-9]{1,3})?|[0-9]{6}[ -][0-9]{10,13})" + _NA
        ),
        _valid_card, _mask_card,
    ),
    _Detector("resident_id_15", re.compile(_NB + r"[0-9]{6}[ -]?[0-9]{6}[ -]?[0-9]{3}" + _NA), _valid_id15, _mask_id15),
    _Detector(
        "passport_keyword",
        re.compile(r"(?:护照|通行证|passport)" + _CONNECT + r"(?P<num>[A-Za-z0-9]{6,9})(?![A-Za-z0-9*])", re.I),
        _valid_passport, _mask_passport, "num",
    ),
    _Detector(
        "passport_cn",
        re.compile(r"(?<![A-Za-z0-9*])(?:[EeGg][0-9]{8}|E[A-HJ-NP-Z][0-9]{7})(?![A-Za-z0-9*])"),
        _always, _mask_passport,
    ),
    _Detector(
        "mobile",
        re.compile(
            r"(?<![0-9*+¥$])(?:(?:\+|00)?86[ -]?)?(?P<num>1[3-9][0-9](?:[ -]?[0-9]){8})" + _NA
            + r"(?!\.[0-9*]|\s?(?:元|块|万|亿|千|百|%|‰|yuan|rmb|cny))",
            re.I,
        ),
        _always, _mask_mobile, "num",
    ),
    _Detector(
        "landline_keyword",
        re.compile(
            r"(?:电话|座机|固话|传真|tel|phone|fax)" + _CONNECT + r"0" + _AREA + r"(?P<num>[1-9][0-9]{6,7})" + _NA, re.I
        ),
        _always, _mask_local_number, "num",
    ),
    _Detector(
        "landline",
        re.compile(
            r"(?<![0-9*+])(?:(?:\+|00)86[ -]?\(?0?" + _AREA + r"\)?[ -]?|\(0" + _AREA + r"\)[ -]?|0" + _AREA + r"[ -])"
            + _LOCAL + _NA
        ),
        _always, _mask_local_number, "num",
    ),
)


def _spans(folded: str) -> Iterator[Tuple[int, int, _Detector]]:
    """Non-overlapping findings, earlier detectors first; a rejected candidate does not hide a later one."""
    starts: List[int] = []  # accepted spans, sorted and disjoint
    ends: List[int] = []
    for detector in _DETECTORS:
        pos = 0
        while (match := detector.pattern.search(folded, pos)) is not None:
            start, end = match.span(detector.group)
            at = bisect.bisect_right(starts, start)
            free = (at == 0 or ends[at - 1] <= start) and (at == len(starts) or starts[at] >= end)
            if free and detector.valid(match):
                starts.insert(at, start)
                ends.insert(at, end)
                yield start, end, detector
                pos = match.end()
            else:
                pos = match.start() + 1


def mask_pii(text: str) -> str:
    """Return ``text`` with personal data masked; a few characters stay for context.

    E.g. ``110***********1234``, ``138****5678``, ``**** **** **** 7890``, ``z***@163.com``,
    ``010-****5678``, ``E******78``. The taxpayer's other characters are kept as typed.
    """
    if not text:
        return text
    folded = _fold(text)
    found = sorted(_spans(folded), key=lambda item: item[0])
    if not found:
        return text
    out: List[str] = []
    last = 0
    for start, end, detector in found:
        out.append(text[last:start])
        out.append(detector.mask(text[start:end], folded[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


_CONVERSATION_PATH = re.compile(r"(/conversations/)[^/\s?\"]+")


def _mask_log_text(text: str) -> str:
    return _CONVERSATION_PATH.sub(r"\1<redacted>", mask_pii(text))


class MaskingFilter(logging.Filter):
    """Logging filter that masks personal data in every record it sees, tracebacks included.

    Conversation ids in URLs are masked too: they are bearer credentials.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; always keep it."""
        if record.exc_info and not record.exc_text:  # formatters print this cached text
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _mask_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = _mask_log_text(record.stack_info)
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - broken format args
            return True
        masked = _mask_log_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True

