"""Small-scale VAT for a month or a quarter.

The exemption threshold, the reduced levy rate and the halved surcharges (urban maintenance tax,
education surcharge, local education surcharge).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Dict, List, Literal, Mapping, Optional, Tuple

from .money import ZERO, format_money, format_rate, non_negative_money, round_money
from .results import CalculationResult, RuleRef, Step, amount_step, rate_step, unique_rules
from .rules import RuleSet, load_rules

VatPeriod = Literal["month", "quarter"]
Location = Literal["urban", "county_town", "other"]

LEVY_RATE = "vat.small_scale.levy_rate"
REDUCED_LEVY_RATE = "vat.small_scale.reduced_levy_rate"
EXEMPTION_THRESHOLD = "vat.small_scale.exemption_threshold"
URBAN_MAINTENANCE = "surcharge.urban_maintenance"
EDUCATION = "surcharge.education"
LOCAL_EDUCATION = "surcharge.local_education"
SMALL_SCALE_REDUCTION = "surcharge.small_scale_reduction"

#: Every rule id this module reads from the data file.
RULE_IDS: Tuple[str, ...] = (
    LEVY_RATE,
    REDUCED_LEVY_RATE,
    EXEMPTION_THRESHOLD,
    URBAN_MAINTENANCE,
    EDUCATION,
    LOCAL_EDUCATION,
    SMALL_SCALE_REDUCTION,
)

_LOCATION_TEXT = {"urban": "urban area of a city", "county_town": "county seat or town", "other": "elsewhere"}


@dataclass(frozen=True)
class SmallScaleVATResult(CalculationResult):
    """VAT and surcharges of a small-scale taxpayer for one tax period."""

    period: VatPeriod
    period_date: date
    sales: Decimal
    threshold: Decimal
    exempt: bool
    levy_rate: Decimal
    vat: Decimal
    surcharges: Mapping[str, Decimal]
    surcharge_total: Decimal
    total: Decimal


def small_scale_vat(
    sales: Decimal,
    period: VatPeriod,
    period_date: date,
    *,
    location: Location = "urban",
    includes_vat: bool = False,
    rules: Optional[RuleSet] = None,
) -> SmallScaleVATResult:
    """VAT and surcharges on a small-scale taxpayer's sales normally levied at 3%.

    `period_date` is any day of the month or quarter (it selects the rules in force);
    `includes_vat` says `sales` is VAT-inclusive and is first converted at the levy rate.
    Sales up to the threshold (100,000 a month / 300,000 a quarter) are exempt; above it all
    sales are taxed at the reduced 1% rate, and the surcharges on the VAT are halved.
    """
    if period not in ("month", "quarter"):
        raise ValueError(f"period must be 'month' or 'quarter', got {period!r}")
    if location not in _LOCATION_TEXT:
        raise ValueError(f"location must be one of {', '.join(_LOCATION_TEXT)}, got {location!r}")
    if not isinstance(period_date, date):
        raise ValueError(f"period_date must be a date, got {period_date!r}")
    ruleset = rules if rules is not None else load_rules()
    statutory = ruleset.on(LEVY_RATE, period_date)
    reduced = ruleset.on(REDUCED_LEVY_RATE, period_date)
    threshold_rule = ruleset.on(EXEMPTION_THRESHOLD, period_date)
    used: List[RuleRef] = [statutory.ref(), reduced.ref(), threshold_rule.ref()]
    steps: List[Step] = []

    gross = non_negative_money(sales, "sales")
    levy_rate = reduced.number()
    if includes_vat:
        net_sales = round_money(gross / (1 + levy_rate))
        steps.append(amount_step("Sales including VAT", gross, "as given"))
        steps.append(
            amount_step(
                "Sales excluding VAT", net_sales, f"{format_money(gross)} / (1 + {format_rate(levy_rate)})"
            )
        )
    else:
        net_sales = gross
        steps.append(amount_step("Sales excluding VAT", net_sales, f"for the {period}"))
    threshold = round_money(threshold_rule.get(period))
    steps.append(
        amount_step(
            "Exemption threshold", threshold, f"sales of at most this much in a {period} are exempt from VAT"
        )
    )
    exempt = net_sales <= threshold

    surcharges: Dict[str, Decimal] = {}
    if exempt:
        vat = ZERO
        steps.append(amount_step("VAT", vat, "sales do not exceed the threshold: exempt"))
        steps.append(amount_step("Surcharges", ZERO, "no VAT, so no surcharges"))
    else:
        steps.append(
            rate_step(
                "Levy rate",
                levy_rate,
                f"statutory {format_rate(statutory.number())} reduced to {format_rate(levy_rate)}",
            )
        )
        vat = round_money(net_sales * levy_rate)
        steps.append(
            amount_step(
                "VAT",
                vat,
                f"{format_money(net_sales)} x {format_rate(levy_rate)} (all sales once over the threshold)",
            )
        )
        urban = ruleset.on(URBAN_MAINTENANCE, period_date)
        education = ruleset.on(EDUCATION, period_date)
        local = ruleset.on(LOCAL_EDUCATION, period_date)
        reduction = ruleset.on(SMALL_SCALE_REDUCTION, period_date)
        used += [urban.ref(), education.ref(), local.ref(), reduction.ref()]
        keep = 1 - reduction.number()
        rates = {
            "urban_maintenance": (
                urban.get(location),
                f"Urban maintenance and construction tax ({_LOCATION_TEXT[location]})",
            ),
            "education": (education.number(), "Education surcharge"),
            "local_education": (local.number(), "Local education surcharge"),
        }
        for key, (rate, label) in rates.items():
            amount = round_money(vat * rate * keep)
            surcharges[key] = amount
            steps.append(
                amount_step(
                    label,
                    amount,
                    f"{format_money(vat)} x {format_rate(rate)} x {format_rate(keep)} "
                    f"(reduced by {format_rate(reduction.number())} for small-scale taxpayers)",
                )
            )
    surcharge_total = round_money(sum(surcharges.values(), ZERO))
    if surcharges:
        steps.append(amount_step("Surcharges, total", surcharge_total, "sum of the surcharges"))
    total = vat + surcharge_total
    steps.append(
        amount_step("VAT and surcharges", total, f"{format_money(vat)} + {format_money(surcharge_total)}")
    )
    return SmallScaleVATResult(
        calculation="vat.small_scale",
        inputs={
            "sales": gross,
            "period": period,
            "period_date": period_date,
            "location": location,
            "includes_vat": includes_vat,
        },
        steps=tuple(steps),
        result=total,
        result_label=f"VAT and surcharges for the {period}",
        rules=unique_rules(used),
        period=period,
        period_date=period_date,
        sales=net_sales,
        threshold=threshold,
        exempt=exempt,
        levy_rate=levy_rate,
        vat=vat,
        surcharges=surcharges,
        surcharge_total=surcharge_total,
        total=total,
    )
