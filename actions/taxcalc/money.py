"""Money arithmetic: Decimal amounts in yuan, rounded half up to the cent as tax rules do."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Union

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

#: What the calculators accept as an amount; floats are converted through their shortest repr.
MoneyInput = Union[Decimal, int, str, float]


def to_decimal(value: MoneyInput, field: str = "amount") -> Decimal:
    """`value` as a finite Decimal; ValueError (naming `field`) for NaN, infinity, bools or junk."""
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a number, not a boolean")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation as error:
            raise ValueError(f"{field} is not a number: {value!r}") from error
    else:
        raise ValueError(f"{field} must be a number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"{field} must be a finite number, got {value!r}")
    return number


def round_money(value: Decimal) -> Decimal:
    """`value` rounded half up to the cent (0.005 -> 0.01)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def ceil_money(value: Decimal) -> Decimal:
    """`value` rounded up to the next cent."""
    return value.quantize(CENT, rounding=ROUND_CEILING)


def money(value: MoneyInput, field: str = "amount") -> Decimal:
    """`value` as an amount rounded to the cent."""
    return round_money(to_decimal(value, field))


def non_negative_money(value: MoneyInput, field: str = "amount") -> Decimal:
    """`value` as an amount rounded to the cent; ValueError when it is negative."""
    amount = money(value, field)
    if amount < ZERO:
        raise ValueError(f"{field} cannot be negative, got {amount}")
    return amount


def format_plain(value: Decimal) -> str:
    """`value` as a plain string without exponent ('1080.00', '0.03')."""
    return format(value, "f")


def format_money(value: Decimal) -> str:
    """`value` with thousands separators and two decimals ('1,080.00')."""
    return f"{round_money(value):,.2f}"


def format_rate(rate: Decimal) -> str:
    """A fraction as a percentage without needless zeros (0.03 -> '3%', 0.035 -> '3.5%')."""
    percent = (rate * 100).normalize()
    text = format(percent, "f")
    return f"{text}%"
