"""TaxGuide tax calculations: pure functions over the rules in knowledge/rules/tax_rules.yml.

No Rasa imports and no side effects at import time; the rules file is read on first use.
"""

from .iit import (
    AnnualIITResult,
    AnnualIncome,
    BonusCliff,
    BonusCliffResult,
    BonusComparisonResult,
    BonusTaxResult,
    LabourPrepaymentResult,
    MonthlyPayroll,
    MonthWithholding,
    SpecialAdditionalDeductionsResult,
    SpecialAdditionalFacts,
    WithholdingResult,
    annual_bonus_tax,
    annual_iit,
    bonus_cliff_check,
    bonus_cliffs,
    compare_bonus_treatment,
    comprehensive_table_tax,
    cumulative_withholding,
    labour_remuneration_prepayment,
    special_additional_deductions,
)
from .results import CalculationResult, RuleRef, Step
from .rules import RuleNotInForceError, RulesDataError, RuleSet, load_rules
from .vat import SmallScaleVATResult, small_scale_vat

__all__ = [
    "AnnualIITResult",
    "AnnualIncome",
    "BonusCliff",
    "BonusCliffResult",
    "BonusComparisonResult",
    "BonusTaxResult",
    "CalculationResult",
    "LabourPrepaymentResult",
    "MonthWithholding",
    "MonthlyPayroll",
    "RuleNotInForceError",
    "RuleRef",
    "RuleSet",
    "RulesDataError",
    "SmallScaleVATResult",
    "SpecialAdditionalDeductionsResult",
    "SpecialAdditionalFacts",
    "Step",
    "WithholdingResult",
    "annual_bonus_tax",
    "annual_iit",
    "bonus_cliff_check",
    "bonus_cliffs",
    "compare_bonus_treatment",
    "comprehensive_table_tax",
    "cumulative_withholding",
    "labour_remuneration_prepayment",
    "load_rules",
    "small_scale_vat",
    "special_additional_deductions",
]
