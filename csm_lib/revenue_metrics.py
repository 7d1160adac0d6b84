"""Registry entries of the revenue backbone: MRR, customers and the movements.

The formulas live in :mod:`csm_lib.revenue`; this module declares the metrics
(label, unit, definition, benchmark) and the calculator that fills them.

>>> from csm_lib.registry import SPECS
>>> SPECS["new_mrr"].unit
'money'
"""

from __future__ import annotations

from csm_lib.registry import Value, calculator, metric

_SRC = "METRICS.md (MRR movements); seed 000, 001"
_MOVE = "Per account, MRR on the day before the period vs MRR on its last day."

_REVENUE = [
    ("mrr_start", "MRR at period start", "money", "higher",
     "Monthly recurring revenue on the day before the period (the previous period's close).",
     "sum of account MRR at opening date"),
    ("mrr_end", "MRR at period end", "money", "higher",
     "Monthly recurring revenue on the period's last day.",
     "sum of non-trial mrr with start_date <= d < end_date, cent-rounded per account"),
    ("arr_end", "ARR at period end", "money", "higher",
     "Annual recurring revenue: 12 x MRR at period end.", "12 x mrr_end"),
    ("customers_start", "Customers at period start", "count", "higher",
     "Accounts with MRR > 0 on the day before the period (S).", "count(MRR_start > 0)"),
    ("customers_end", "Customers at period end", "count", "higher",
     "Accounts with MRR > 0 on the period's last day (E).", "count(MRR_end > 0)"),
    ("new_mrr", "New MRR", "money", "higher",
     "Closing MRR of accounts with no MRR at the start that never paid before the period.",
     "sum(MRR_end) over new accounts"),
    ("new_count", "New customers", "count", "higher",
     "Accounts that are new in the period and still paying at its end.", "count(new)"),
    ("reactivation_mrr", "Reactivation MRR", "money", "higher",
     "Closing MRR of returning accounts: no MRR at the start, paid at some earlier time.",
     "sum(MRR_end) over reactivated accounts"),
    ("reactivation_count", "Reactivated customers", "count", "higher",
     "Accounts that came back in the period.", "count(reactivation)"),
    ("expansion_mrr", "Expansion MRR", "money", "higher",
     "Net MRR gained from accounts that paid more at the end than at the start.",
     "sum(MRR_end - MRR_start) over accounts with MRR_end > MRR_start > 0"),
    ("expansion_count", "Expanding customers", "count", "higher",
     "Accounts whose MRR rose.", "count(expansion)"),
    ("upsell_mrr", "Upsell MRR", "money", "higher",
     "Expansion on product lines the account already had (more seats, higher plan).",
     "expansion - cross_sell per account"),
    ("cross_sell_mrr", "Cross-sell MRR", "money", "higher",
     "Expansion from product lines the account did not have at the start.",
     "per account min(expansion, closing MRR of lines with zero opening MRR)"),
    ("contraction_mrr", "Contraction MRR", "money", "lower",
     "MRR lost from accounts that still pay but pay less (downgrades).",
     "sum(MRR_start - MRR_end) over accounts with 0 < MRR_end < MRR_start"),
    ("contraction_count", "Contracting customers", "count", "lower",
     "Accounts whose MRR fell but stayed above zero.", "count(contraction)"),
    ("churn_mrr", "Churned MRR", "money", "lower",
     "Opening MRR of accounts that pay nothing at the end.",
     "sum(MRR_start) over accounts with MRR_start > 0 and MRR_end = 0"),
    ("churn_count", "Churned customers", "count", "lower",
     "Accounts of S with no MRR at the end.", "count(churn)"),
    ("new_logos", "New logos", "count", "higher",
     "Accounts whose first paid subscription row starts in the period (used for CAC); "
     "can exceed new customers because some new logos leave within the period.",
     "count(first paid start_date in period)"),
]  # fmt: skip

for _id, _label, _unit, _dir, _def, _formula in _REVENUE:
    metric(
        _id, _label, "revenue", _unit, _dir, _def + " " + (_MOVE if "_mrr" in _id else ""),
        _formula, inputs=("subscriptions",), seeds=("000", "001"),
        benchmark="none", benchmark_source="",
    )  # fmt: skip


@calculator([r[0] for r in _REVENUE])
def revenue_backbone(ctx) -> dict[str, Value]:
    """The bridge of the period as metric values (counts carry n = customers_start)."""
    b = ctx.bridge()
    return {k: Value(float(v), n=int(b["customers_start"])) for k, v in b.items()}
