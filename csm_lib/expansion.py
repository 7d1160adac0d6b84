"""Expansion: how much more existing customers pay, and how efficiently MRR grows.

The movement amounts (``expansion_mrr``, ``upsell_mrr``, ``cross_sell_mrr``,
``contraction_mrr``, ``mrr_end``, ``arr_end``) are revenue metrics declared in
:mod:`csm_lib.revenue_metrics`; :data:`RELATED_REVENUE_METRICS` holds the
teaching text the expansion notebook shows beside them. This module declares:

- ``arpa`` (closing MRR / closing customers) and ``arpu`` (closing MRR / active
  users, the B2C view);
- ``expansion_seed_mrr``: seed 001's formula MRR_end - MRR_start - new MRR, shown
  side by side with the movement-based ``expansion_mrr``;
- ``net_new_mrr``, ``mrr_growth_rate``, ``quick_ratio``;
- ``new_contract_value`` (seed 000: original MRR + upsell/expansion = the new value)
  and ``avg_spend_increase``.

All amounts are summed in integer cents (from :func:`csm_lib.revenue.movements`), so
``expansion_seed_mrr == expansion + reactivation - contraction - churn`` holds exactly.

>>> expansion_seed(mrr_end=1_800_000, mrr_start=1_500_000, new_mrr=200_000)  # seed 001
100000.0
>>> quick_ratio(new=40, reactivation=0, expansion=40, churn=10, contraction=10)
4.0
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from csm_lib.periods import Period
from csm_lib.registry import Value, calculator, metric, ratio

ARPU_WINDOW_DAYS = 30

# Teaching text for the movement metrics declared in revenue_metrics (not redeclared here).
RELATED_REVENUE_METRICS: dict[str, str] = {
    "mrr_end": "MRR on the period's last day; MRR = active customers x ARPA (seed 000).",
    "arr_end": "12 x closing MRR: the yearly run rate of the subscriptions live today.",
    "expansion_mrr": "What existing customers added, account by account: the rise of every "
    "account whose MRR went up (net of its own line changes). Churn, contraction and "
    "returning customers are kept apart, unlike seed 001's shortcut (expansion_seed_mrr).",
    "upsell_mrr": "Expansion on product lines the customer already had: more seats, more "
    "storage, a higher plan (seed 000: extra licences, upgrade the level of product).",
    "cross_sell_mrr": "Expansion from product lines the customer did not have at the start "
    "(seed 001: selling new product add-ons).",
    "contraction_mrr": "Downgrades: MRR lost from customers who still pay, but less.",
}

# ---------------------------------------------------------------- specs
_CENTS = "Summed in integer cents, so the identities hold to the cent."

metric(
    "arpa", "ARPA (average revenue per account)", "expansion", "money", "higher",
    "What the average paying customer pays per month: closing MRR divided by the customers "
    "paying at the end of the period. MRR = customers x ARPA.",
    "mrr_end / customers_end",
    inputs=("subscriptions",), seeds=("000", "001", "003"),
    example="Seed 000: MRR = number of monthly active customers x average revenue per user; "
    "seed 001: ARPU = total revenue / total number of customers.",
    action="Flat or falling ARPA: move customers to higher tiers and grow seats where usage "
    "is high (seed 001).",
)  # fmt: skip
metric(
    "arpu", "ARPU (average revenue per active user)", "expansion", "money", "higher",
    f"The B2C view of ARPA: closing MRR divided by the users of paying accounts with at "
    f"least one event in the last {ARPU_WINDOW_DAYS} days of the period.",
    f"mrr_end / distinct users with an event in the last {ARPU_WINDOW_DAYS} days "
    "(accounts with closing MRR > 0)",
    inputs=("subscriptions", "events"), seeds=("000", "001"),
    example="Seed 000: in B2C, revenue per user, e.g. 10K per user.",
    action="Rising active users with flat MRR means usage outgrows price: time to package "
    "or upsell.",
)  # fmt: skip
metric(
    "expansion_seed_mrr", "Expansion revenue (seed formula)", "expansion", "money", "higher",
    "Seed 001's shortcut: whatever MRR grew beyond what new customers brought. It nets "
    "churn, contraction and returning customers into 'expansion', so it is lower than "
    "expansion_mrr whenever anyone churned or downgraded; read the two side by side. "
    + _CENTS,
    "mrr_end - mrr_start - new_mrr  (= expansion + reactivation - contraction - churn)",
    inputs=("subscriptions",), seeds=("001",),
    example="Seed 001: $1.8m MRR at the end - $1.5m at the start - $0.2m from new "
    "customers = $0.1m of expansion.",
    action="Use expansion_mrr and the churn metrics to see whether growth of existing "
    "accounts or losses drive this number.",
)  # fmt: skip
metric(
    "net_new_mrr", "Net new MRR", "expansion", "money", "higher",
    "The net change of MRR in the period: everything gained (new, returning, expanding "
    "customers) minus everything lost (downgrades and churn). " + _CENTS,
    "new + reactivation + expansion - contraction - churn  (= mrr_end - mrr_start)",
    inputs=("subscriptions",), seeds=("000", "001"),
    example="Seed 001: from $1.5m to $1.8m MRR, net new MRR is $0.3m.",
    action="Negative: losses outrun wins; look at churn and contraction first.",
)  # fmt: skip
metric(
    "new_contract_value", "New contract value of expanding accounts", "expansion", "money",
    "higher",
    "For every customer who expanded: their original monthly contract value plus the upsell "
    "and cross-sell added = their new monthly value; the metric is the total over expanding "
    "customers (per-account table: new_contract_values).",
    "sum over expanding accounts of (MRR_start + upsell + cross_sell) = sum of their MRR_end",
    inputs=("subscriptions",), seeds=("000",),
    example="Seed 000: original monthly contract value + upsell and/or expansion contract "
    "value = the new value (e.g. $1,000 + $200 upsell + $300 add-on = $1,500).",
    action="Compare with the same accounts' original value: which plays (seats, tiers, "
    "add-ons) grew the book most.",
)  # fmt: skip
metric(
    "avg_spend_increase", "Average spend increase", "expansion", "money", "higher",
    "How much more, on average, a customer who stayed all period pays per month at its end "
    "than at its start (customers in S and E; contractions count negative, flat ones zero).",
    "mean(MRR_end - MRR_start) over accounts with MRR_start > 0 and MRR_end > 0",
    inputs=("subscriptions",), seeds=("000",),
    example="Seed 000: expansion through extra licences, higher order value, upgrades: "
    "average spend increase.",
    action="Near zero or negative: build expansion plays (QBRs on usage, seat true-ups, "
    "add-on trials) for healthy accounts.",
)  # fmt: skip
metric(
    "quick_ratio", "SaaS quick ratio", "expansion", "ratio", "higher",
    "Growth efficiency: MRR gained (new, returning, expanding customers) for every dollar "
    "of MRR lost (churn and downgrades). Null when nothing was lost.",
    "(new + reactivation + expansion) / (churn + contraction)",
    benchmark="> 4 is strong", benchmark_source="industry standard (METRICS.md)",
    inputs=("subscriptions",), seeds=(),
    example="$40k new + $40k expansion against $10k churn + $10k contraction: 80 / 20 = 4.",
    action="Below 4: growth leaks; cut churn and contraction before buying more new logos.",
    good_range=(4.0, None),
)  # fmt: skip
metric(
    "mrr_growth_rate", "MRR growth rate", "expansion", "fraction", "higher",
    "How much MRR grew over the period, as a share of MRR at its start.",
    "(mrr_end - mrr_start) / mrr_start",
    inputs=("subscriptions",), seeds=("001",),
    example="Seed 001: $1.5m -> $1.8m = 20% growth in the quarter.",
    action="Break the growth down with the MRR bridge to see which movement drives it.",
)  # fmt: skip


# ---------------------------------------------------------------- pure formulas
def expansion_seed(mrr_end: float, mrr_start: float, new_mrr: float) -> float:
    """Seed 001's expansion revenue: MRR_end - MRR_start - new MRR (computed in cents).

    >>> expansion_seed(1_800_000, 1_500_000, 200_000)
    100000.0
    """
    cents = round(mrr_end * 100) - round(mrr_start * 100) - round(new_mrr * 100)
    return cents / 100


def quick_ratio(
    new: float, reactivation: float, expansion: float, churn: float, contraction: float
) -> float | None:
    """(new + reactivation + expansion) / (churn + contraction); None when nothing was lost.

    >>> quick_ratio(10, 0, 0, 0, 0) is None
    True
    """
    lost = churn + contraction
    return None if lost == 0 else (new + reactivation + expansion) / lost


def growth_rate(mrr_start: float, mrr_end: float) -> float | None:
    """(MRR_end - MRR_start) / MRR_start; None when there was no MRR at the start.

    >>> growth_rate(1_500_000, 1_800_000)
    0.2
    """
    return None if mrr_start == 0 else (mrr_end - mrr_start) / mrr_start


def new_contract_values(mov: pl.DataFrame) -> pl.DataFrame:
    """Per expanding account: original MRR + upsell + cross-sell = the new value (seed 000).

    ``mov`` is a :func:`csm_lib.revenue.movements` frame. Columns (dollars): account_id,
    original_mrr, upsell_mrr, cross_sell_mrr, new_value_mrr.

    >>> from datetime import date
    >>> from csm_lib.revenue import movements
    >>> s = pl.DataFrame({"account_id": ["a", "a", "a"],
    ...     "product_line": ["Core", "Core", "Analytics"],
    ...     "start_date": [date(2024, 1, 1), date(2025, 1, 1), date(2025, 1, 1)],
    ...     "end_date": [date(2025, 1, 1), None, None], "mrr": [1000.0, 1200.0, 300.0]})
    >>> new_contract_values(movements(s, Period.parse("2025-01"))).row(0)
    ('a', 1000.0, 200.0, 300.0, 1500.0)
    """
    return (
        mov.filter(pl.col("category") == "expansion")
        .select(
            "account_id",
            original_mrr=pl.col("start_cents") / 100,
            upsell_mrr=pl.col("upsell_cents") / 100,
            cross_sell_mrr=pl.col("cross_sell_cents") / 100,
            new_value_mrr=pl.col("end_cents") / 100,
        )
        .sort("account_id")
    )


def spend_changes(mov: pl.DataFrame) -> pl.DataFrame:
    """MRR change of every customer paying at both ends of the period (S and E).

    Columns: account_id, start_mrr, end_mrr, change_mrr (dollars).
    """
    return mov.filter((pl.col("start_cents") > 0) & (pl.col("end_cents") > 0)).select(
        "account_id",
        start_mrr=pl.col("start_cents") / 100,
        end_mrr=pl.col("end_cents") / 100,
        change_mrr=pl.col("change_cents") / 100,
    )


def expansion_by_product_line(facts, period: Period, ids: pl.Series | None = None):
    """Upsell, cross-sell and contraction per product line, for customers in S and E.

    ``facts`` is a :class:`csm_lib.facts.Facts` or a subscriptions frame. For each
    account paying at both ends of the period and each product line, the line's MRR
    change is *upsell* when the line had MRR at the start and grew, *cross-sell* when it
    had none at the start, *contraction* when it shrank or was dropped. These are gross
    line movements: an account that adds one line and drops another shows both, while the
    account-level ``expansion_mrr`` nets them. Identity: the sum over lines of
    upsell + cross_sell - contraction equals expansion_mrr - contraction_mrr of the bridge.

    Columns: product_line, upsell_mrr, cross_sell_mrr, contraction_mrr, net_mrr, accounts.

    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a", "a", "a"],
    ...     "product_line": ["Core", "Core", "Storage"],
    ...     "start_date": [date(2024, 1, 1), date(2025, 1, 1), date(2025, 1, 1)],
    ...     "end_date": [date(2025, 1, 1), None, None], "mrr": [100.0, 80.0, 50.0]})
    >>> expansion_by_product_line(s, Period.parse("2025-01")).rows()
    [('Core', 0.0, 0.0, 20.0, -20.0, 1), ('Storage', 0.0, 50.0, 0.0, 50.0, 1)]
    """
    from csm_lib.revenue import _ids_filter, _live, _prepared

    subs = facts.subs if hasattr(facts, "subs") else _prepared(facts)
    s = _ids_filter(subs, ids)
    o = _live(s, period.opening_date).group_by("account_id", "product_line")
    c = _live(s, period.closing_date).group_by("account_id", "product_line")
    lines = (
        o.agg(o=pl.col("mrr_cents").sum())
        .join(
            c.agg(c=pl.col("mrr_cents").sum()),
            on=["account_id", "product_line"],
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("o").fill_null(0), pl.col("c").fill_null(0))
    )
    stayed = lines.group_by("account_id").agg(
        keep=(pl.col("o").sum() > 0) & (pl.col("c").sum() > 0)
    )
    lines = lines.join(stayed.filter("keep"), on="account_id").with_columns(
        d=pl.col("c") - pl.col("o")
    )
    up = pl.when((pl.col("o") > 0) & (pl.col("d") > 0)).then(pl.col("d")).otherwise(0)
    cross = pl.when(pl.col("o") == 0).then(pl.col("c")).otherwise(0)
    down = pl.when(pl.col("d") < 0).then(-pl.col("d")).otherwise(0)
    out = (
        lines.group_by("product_line")
        .agg(
            upsell=up.sum(),
            cross=cross.sum(),
            down=down.sum(),
            net=pl.col("d").sum(),
            accounts=pl.col("account_id").filter(pl.col("d") != 0).n_unique(),
        )
        .sort("product_line")
    )
    return out.select(
        "product_line",
        upsell_mrr=pl.col("upsell") / 100,
        cross_sell_mrr=pl.col("cross") / 100,
        contraction_mrr=pl.col("down") / 100,
        net_mrr=pl.col("net") / 100,
        accounts=pl.col("accounts").cast(pl.Int64),
    )


def active_users_at_end(user_days: pl.DataFrame, period: Period, days: int = ARPU_WINDOW_DAYS):
    """Distinct (account_id, user_id) with an event in the last ``days`` days of the period.

    The window is cut to the period when the period is shorter.
    """
    first = max(period.start, period.end - timedelta(days=days - 1))
    return (
        user_days.filter(pl.col("day").is_between(first, period.end))
        .select("account_id", "user_id")
        .unique()
    )


def arpu(mrr_end: float, active_users: int) -> float | None:
    """Closing MRR per active user (None without active users).

    >>> arpu(10_000, 400)
    25.0
    """
    return None if not active_users else mrr_end / active_users


# ---------------------------------------------------------------- calculators
def _cents(mov: pl.DataFrame) -> dict[str, int]:
    cat = pl.col("category")
    row = mov.select(
        start=pl.col("start_cents").sum(),
        end=pl.col("end_cents").sum(),
        new=pl.col("end_cents").filter(cat == "new").sum(),
        reactivation=pl.col("end_cents").filter(cat == "reactivation").sum(),
        expansion=pl.col("change_cents").filter(cat == "expansion").sum(),
        contraction=(-pl.col("change_cents")).filter(cat == "contraction").sum(),
        churn=pl.col("start_cents").filter(cat == "churn").sum(),
        customers_end=(pl.col("end_cents") > 0).sum(),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def _stayed_change_cents(mov: pl.DataFrame) -> int:
    both = (pl.col("start_cents") > 0) & (pl.col("end_cents") > 0)
    return int(mov.select(pl.col("change_cents").filter(both).sum()).item() or 0)


EXPANSION_IDS = (
    "arpa",
    "expansion_seed_mrr",
    "net_new_mrr",
    "new_contract_value",
    "avg_spend_increase",
    "quick_ratio",
    "mrr_growth_rate",
)


@calculator(list(EXPANSION_IDS), inputs=("subscriptions",))
def expansion_metrics(ctx) -> dict[str, Value]:
    """Every expansion metric that needs only the MRR movements."""
    mov = ctx.movements()
    c = _cents(mov)
    n_end = c["customers_end"]
    gained = c["new"] + c["reactivation"] + c["expansion"]
    lost = c["churn"] + c["contraction"]
    ncv = new_contract_values(mov)
    spend = spend_changes(mov)
    qr = quick_ratio(gained, 0, 0, lost, 0)
    return {
        "arpa": ratio(c["end"] / 100, n_end, "no customers at period end", n=n_end),
        "expansion_seed_mrr": Value((c["end"] - c["start"] - c["new"]) / 100, n=mov.height),
        "net_new_mrr": Value((gained - lost) / 100, n=mov.height),
        "new_contract_value": Value(
            int(mov.filter(pl.col("category") == "expansion")["end_cents"].sum()) / 100,
            n=ncv.height,
        ),
        "avg_spend_increase": (
            Value(_stayed_change_cents(mov) / 100 / spend.height, n=spend.height)
            if spend.height
            else Value.null("no customers paying at both ends of the period", n=0)
        ),  # fmt: skip
        "quick_ratio": Value(qr, n=mov.height)
        if qr is not None
        else Value.null("no churn or contraction in period"),
        "mrr_growth_rate": ratio(
            (c["end"] - c["start"]) / 100, c["start"] / 100, "no MRR at period start"
        ),
    }


@calculator(["arpu"], inputs=("subscriptions", "events"))
def arpu_metric(ctx) -> dict[str, Value]:
    """Closing MRR per user active in the last 30 days, users of paying accounts only."""
    mov = ctx.movements()
    paying = mov.filter(pl.col("end_cents") > 0)
    p = ctx.period
    first = max(p.start, p.end - timedelta(days=ARPU_WINDOW_DAYS - 1))
    recent = ctx.facts.window("user_days", first, p.end)  # (sorted by account)
    # distinct (account, user) pairs of paying accounts: each account's users, summed
    n = int(
        recent.filter(pl.col("account_id").is_in(paying["account_id"].implode()))
        .group_by("account_id")
        .agg(pl.col("user_id").n_unique())["user_id"]
        .sum()
    )
    value = arpu(int(paying["end_cents"].sum()) / 100, n)
    if value is None:
        return {"arpu": Value.null("no active users in paying accounts", n=0)}
    return {"arpu": Value(value, n=n)}


__all__ = [
    "ARPU_WINDOW_DAYS",
    "EXPANSION_IDS",
    "RELATED_REVENUE_METRICS",
    "active_users_at_end",
    "arpu",
    "expansion_by_product_line",
    "expansion_seed",
    "growth_rate",
    "new_contract_values",
    "quick_ratio",
    "spend_changes",
]
