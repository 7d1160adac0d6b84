"""Retention: who stayed, how much revenue stayed, who renewed, how long customers live.

Every rate here is measured on the *opening set* S, the customers paying on the
day before the period (METRICS.md, "Conventions"): customers won and lost inside
the period appear in the counts, never in the denominator. The numbers come from
the MRR movements of :mod:`csm_lib.revenue` (per account: opening vs closing MRR):

- ``logo_churn_rate`` = churned customers of S / S, ``logo_retention`` = the rest;
- ``account_retention`` = E / S and ``crr`` = (E - N) / S;
- ``grr``, ``nrr`` and ``revenue_churn_rate`` on the opening MRR of S;
- ``quarterly_renewed_arr``: ARR at quarter end of the accounts paying at its start;
- ``renewal_rate`` and ``renewal_win_rate`` on contracts whose term ended in the period;
- ``repeat_purchase_rate`` (B2C), ``crc`` (retention cost per customer);
- ``median_lifetime_months``: the Kaplan-Meier median of account lifetimes.

Tables: :func:`cohort_retention` (month-by-month cohorts), :func:`km_curve` and
:func:`account_lifetimes` (survival), :func:`renewals` (contracts up for renewal).

>>> import polars as pl
>>> from datetime import date
>>> from csm_lib.periods import Period
>>> from csm_lib.revenue import movements
>>> subs = pl.DataFrame({
...     "account_id": ["a", "b", "b", "c"],
...     "start_date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 5, 10), date(2024, 5, 2)],
...     "end_date": [date(2024, 5, 15), date(2024, 5, 10), None, None],
...     "mrr": [100.0, 100.0, 150.0, 70.0],
... })
>>> r = retention_rates(movements(subs, Period.parse("2024-05")))
>>> r["logo_churn_rate"].value, r["grr"].value, r["nrr"].value
(0.5, 0.5, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np
import polars as pl

from csm_lib.acquisition import contract_starts, period_cost
from csm_lib.facts import build_subs, in_segment
from csm_lib.periods import Period
from csm_lib.registry import Option, Value, calculator, metric, ratio
from csm_lib.revenue import bridge, movements, total_mrr

DAYS_PER_MONTH = 30.4375  # 365.25 / 12: lifetimes in months = days / 30.4375
RETENTION_COST = ("customer_success", "support", "onboarding", "training")
TERM_DEFAULTS = {"year": 12, "multi_year": 36}  # term when term_months is missing
CHURN_DENOMINATORS = ("opening", "opening_plus_new")
REPEAT_SCOPES = ("b2c", "all")

# ---------------------------------------------------------------- options
CHURN_DENOMINATOR = Option(
    "churn_denominator",
    "opening",
    "'opening' (default; seeds 000, 001): churned customers of S / S. Customers won in "
    "the period are never in the denominator, so strong sales cannot hide churn. "
    "'opening_plus_new': also counts the customers won in the period (new logos, as "
    "seed 002 asks for those who churned again): (churned of S + new logos lost inside "
    "the period) / (S + new logos). It is lower than the default when most new logos "
    "stay, higher when they leave quickly.",
    CHURN_DENOMINATORS,
)
COST_ALLOCATION = Option(
    "cost_allocation",
    None,
    "Costs have no account dimension, so CRC of a segment other than All is null by "
    "default. 'mrr_share' (also accepted: 'new_logo_share', the CAC name; both mean "
    "'allocate by share') charges the segment its share of the closing MRR.",
    (None, "mrr_share", "new_logo_share"),
)
REPEAT_SCOPE = Option(
    "repeat_purchase_scope",
    "b2c",
    "'b2c' (default; the seed names it a B2C metric): only accounts with "
    "business_model = 'B2C'. 'all': every account.",
    REPEAT_SCOPES,
)

# ---------------------------------------------------------------- declarations
_OPEN = (
    "Measured on S, the customers paying on the day before the period; customers won "
    "during the period are left out of the denominator."
)
_COST_NOTE = (
    "Costs have no account dimension: for a segment other than All the value is null "
    "unless the option cost_allocation is set."
)

metric(
    "logo_churn_rate", "Logo churn rate", "retention", "fraction", "lower",
    "The share of the customers you had at the start of the period who pay nothing at its "
    "end. Every customer counts once, whatever they paid. " + _OPEN,
    "churn_count / customers_start",
    benchmark="3-5% a month is typical for SaaS; lower is better",
    benchmark_source="seed 001",
    seeds=("000", "001", "002"),
    example="Seed 001: 1,200 subscribers at the start of June, 24 of them leave in June: "
    "24 / 1,200 = 2%.",
    options=(CHURN_DENOMINATOR,),
    action="Call the churned accounts for exit reasons and check the health of look-alike "
    "accounts still paying before their renewal.",
    good_range=(0.0, 0.05),
)  # fmt: skip
metric(
    "logo_retention", "Logo retention", "retention", "fraction", "higher",
    "The share of the customers you had at the start of the period who still pay at its "
    "end (each customer counts equally). At best 100%; with the default churn "
    "denominator it is 1 - logo churn rate. " + _OPEN,
    "(customers_start - churn_count) / customers_start",
    seeds=("000",),
    example="Seed 000: logo retention = the ending number of active customers (each treated "
    "equally) divided by the starting number; at its best it reaches 100%.",
    action="Find which segment or cohort loses logos and put CSM time on it before renewals.",
    good_range=(0.95, 1.0),
)  # fmt: skip
metric(
    "account_retention", "Account retention rate", "retention", "fraction", "higher",
    "Accounts paying at the end of the period divided by accounts paying at its start (E / S). "
    "New and returning accounts count in E, so it can exceed 100%; read it next to logo "
    "retention, which follows only the accounts of S.",
    "customers_end / customers_start",
    seeds=("004",),
    example="Seed 004: 100 accounts at the start of the year and 90 at the end: 90 / 100 = 90%.",
    action="If it is falling while new logos keep coming, the base is leaking: look at churn "
    "by segment and onboarding of recent cohorts.",
)  # fmt: skip
metric(
    "crr", "Customer retention rate (CRR)", "retention", "fraction", "higher",
    "Customers at the end minus the new customers won in the period, over customers at the "
    "start: (E - N) / S. Customers who came back after leaving earlier (reactivations) count "
    "as retained, so CRR can be above logo retention, and above 100%.",
    "(customers_end - new_count) / customers_start",
    seeds=("000",),
    example="Seed 000: CRR = (customers at the end of period - new customers during period) / "
    "total customers at start of period.",
    action="Compare with logo retention: a gap means win-backs are carrying retention.",
)  # fmt: skip
metric(
    "grr", "Gross revenue retention (GRR)", "retention", "fraction", "higher",
    "The share of opening MRR kept from the customers of S, counting their losses (churn and "
    "downgrades) but none of their growth, so it is never above 100%.",
    "(mrr_start - churn_mrr - contraction_mrr) / mrr_start",
    seeds=("000",),
    example="Seed 000: the percentage of revenue from a pool of customers still present at "
    "the end, excluding expansion and upsell; deduct churned and downgraded revenue.",
    action="Split the lost MRR into churn and downgrades and work the largest accounts first.",
)  # fmt: skip
metric(
    "nrr", "Net revenue retention (NRR, NDR)", "retention", "fraction", "higher",
    "What the customers of S pay at the end of the period as a share of what they paid at its "
    "start: expansion added, downgrades and churn taken off, new customers left out. Above "
    "100% the existing base grows even with no new sales.",
    "(mrr_start + expansion_mrr - contraction_mrr - churn_mrr) / mrr_start",
    benchmark="above 100%: existing customers grow despite churn",
    benchmark_source="seed 001",
    seeds=("000", "001", "004"),
    example="Seed 004: $100,000 of revenue from the existing customers in the first quarter "
    "and $110,000 from the same customers in the second: NRR = 110%.",
    action="Below 100%: protect the base first (GRR); then build expansion plays for healthy "
    "accounts (more seats, add-ons).",
    good_range=(1.0, None),
)  # fmt: skip
metric(
    "revenue_churn_rate", "Revenue churn rate", "retention", "fraction", "lower",
    "The share of opening MRR lost to churned and downgrading customers of S (1 - GRR). "
    "Growth of other customers does not offset it.",
    "(churn_mrr + contraction_mrr) / mrr_start",
    seeds=("000",),
    example="Seed 000: churned and downgraded revenue over starting MRR (the losses in NRR).",
    action="Find the few accounts behind most of the lost MRR and run save plays before "
    "their renewal dates.",
)  # fmt: skip
metric(
    "quarterly_renewed_arr", "Quarterly renewed ARR", "retention", "fraction", "higher",
    "ARR at the end of the quarter from the accounts that were paying at its start, divided "
    "by ARR at its start: the share of last quarter's ARR that rolled over (NRR measured over "
    "a quarter). For a period that is not a quarter it uses the calendar quarter that holds "
    "the period's last day, up to that day.",
    "12 x sum(MRR at quarter end of accounts with MRR > 0 at quarter start) / "
    "(12 x MRR at quarter start)",
    benchmark=">= 97% is a good start; >= 101% is the ideal (expansion beats churn)",
    benchmark_source="seed 001",
    seeds=("001",),
    example="Seed 001: ARR $1.5m at the start of Q2; $1.49m of it is renewed at the start of "
    "Q3: $1.49m / $1.5m = 99.33%.",
    action="Below 97%: review every account up for renewal next quarter and its health.",
    good_range=(0.97, None),
)  # fmt: skip
metric(
    "renewal_rate", "Renewal rate", "retention", "fraction", "higher",
    "Of the contracts whose term ended in the period, the share that was renewed. A contract "
    "is a subscription with a term (term_months, or billed yearly / multi-year); it is "
    "renewed when the account still pays for the same product line on the day after the "
    "term ended. Contracts cancelled before their term ended are churn, not renewals due.",
    "renewed contracts / contracts with a term ending in the period",
    seeds=("000",),
    example="Seed 000: renewal rate = number of renewals / number of customers eligible to "
    "renew.",
    inputs=("subscriptions",),
    action="Start renewal conversations 90-120 days before the term ends, earlier for "
    "accounts with a falling health score.",
)  # fmt: skip
metric(
    "renewal_win_rate", "Renewal win rate", "retention", "fraction", "higher",
    "Renewal opportunities won over renewal opportunities in the period. An opportunity is "
    "an account with at least one contract term ending in the period; it is won when the "
    "account renewed at least one of those contracts (renewal_rate counts contracts).",
    "accounts that renewed / accounts with a term ending in the period",
    seeds=("001",),
    example="Seed 001: 18 renewal opportunities in a quarter, the team wins 16: "
    "16 / 18 = 88.89%.",
    action="Review every lost renewal with its CSM: when did health drop, what was tried.",
)  # fmt: skip
metric(
    "repeat_purchase_rate", "Repeat purchase rate", "retention", "fraction", "higher",
    "For consumer (B2C) customers: the share of the customers who bought in the 12 months "
    "ending at the period's end who bought more than once. A purchase is a day on which a "
    "paid subscription row of the account starts (a new subscription, a plan or quantity "
    "change, a renewal at a new price).",
    "accounts with >= 2 purchase days in the 12 months / accounts with >= 1",
    seeds=("000",),
    example="Seed 000: RPR = number of customers who made a repeat purchase over 1 year / "
    "total number of customers over 1 year.",
    inputs=("accounts", "subscriptions"),
    options=(REPEAT_SCOPE,),
    action="Trigger a second-purchase journey (reminders, bundles) in the first months.",
)  # fmt: skip
metric(
    "crc", "Customer retention cost (CRC)", "retention", "money", "lower",
    "What keeping a customer costs: the period's customer success, support, onboarding and "
    "training spend divided by the customers paying at its end. " + _COST_NOTE,
    "(customer_success + support + onboarding + training cost in period) / customers_end",
    benchmark="about 1/5 of CAC (acquisition costs about 5x retention); must stay below CAC",
    benchmark_source="seed 001",
    seeds=("000", "001", "002"),
    example="Seed 002: $1 million of retention costs in the year and 10,000 customers "
    "retained: $1m / 10,000 = $100 per customer.",
    inputs=("subscriptions", "costs"),
    options=(COST_ALLOCATION,),
    action="If CRC approaches CAC, automate the low-touch work (digital onboarding, "
    "self-serve help) and keep CSM time for large accounts.",
)  # fmt: skip
metric(
    "median_lifetime_months", "Median customer lifetime", "retention", "months", "higher",
    "How long half of the customers keep paying: the Kaplan-Meier median of account "
    "lifetimes, from the first paid day to the first day without MRR, with customers still "
    "paying at the period's end counted as 'still alive' (censored), not as churned. Null "
    "while more than half of the customers are still paying. Months = days / 30.4375.",
    "Kaplan-Meier median of first paid spell lengths, censored at period end; 95% interval "
    "from the exponential Greenwood (log -log) band",
    action="Compare the curve by segment and cohort: where it drops early, fix onboarding; "
    "where it drops at 12 months, fix renewals.",
)  # fmt: skip


# ---------------------------------------------------------------- helpers
def _subs(facts_or_subs) -> pl.DataFrame:
    """Prepared subscription rows (as ``facts.subs``) from facts, raw rows or facts.subs."""
    if hasattr(facts_or_subs, "subs"):
        return facts_or_subs.subs
    frame = facts_or_subs
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if "mrr_cents" in frame.columns:
        return frame
    return build_subs(frame.lazy()).collect()


def _month(x: str | date | Period) -> Period:
    if isinstance(x, date):
        return Period.month(x.year, x.month)
    p = Period.parse(x)
    return Period.month(p.start.year, p.start.month)


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"option {name}={value!r}: expected one of {choices}")


# ---------------------------------------------------------------- rates from movements
def retention_rates(mov: pl.DataFrame, churn_denominator: str = "opening") -> dict[str, Value]:
    """Logo and revenue retention rates of one :func:`csm_lib.revenue.movements` frame.

    Returns ``logo_churn_rate``, ``logo_retention``, ``account_retention``, ``crr``,
    ``grr``, ``nrr`` and ``revenue_churn_rate`` as :class:`Value` (n = customers at
    start; null with a reason when nobody paid at the start).

    >>> import polars as pl
    >>> mov = pl.DataFrame({"start_cents": [100, 100, 0], "end_cents": [0, 120, 50],
    ...     "change_cents": [-100, 20, 50], "category": ["churn", "expansion", "new"],
    ...     "cross_sell_cents": [0, 0, 0], "upsell_cents": [0, 20, 0],
    ...     "new_logo": [False, False, True]})
    >>> r = retention_rates(mov)
    >>> r["logo_churn_rate"].value, r["crr"].value, r["nrr"].value
    (0.5, 0.5, 0.6)
    """
    _choice("churn_denominator", churn_denominator, CHURN_DENOMINATORS)
    b = bridge(mov)
    s, e = int(b["customers_start"]), int(b["customers_end"])
    churned, new = int(b["churn_count"]), int(b["new_count"])
    cents = {
        k: round(b[k] * 100) for k in ("mrr_start", "churn_mrr", "contraction_mrr", "expansion_mrr")
    }
    no_s = "no customers at period start"
    no_mrr = "no MRR at period start"
    if churn_denominator == "opening":
        churn = ratio(churned, s, no_s, n=s)
    else:
        won = mov.filter(pl.col("new_logo"))
        lost = won.filter(pl.col("end_cents") == 0).height
        churn = ratio(
            churned + lost, s + won.height, "no customers at start and none won", n=s + won.height
        )
    kept = cents["mrr_start"] - cents["churn_mrr"] - cents["contraction_mrr"]
    return {
        "logo_churn_rate": churn,
        "logo_retention": ratio(s - churned, s, no_s, n=s),
        "account_retention": ratio(e, s, no_s, n=s),
        "crr": ratio(e - new, s, no_s, n=s),
        "grr": ratio(kept, cents["mrr_start"], no_mrr, n=s),
        "nrr": ratio(kept + cents["expansion_mrr"], cents["mrr_start"], no_mrr, n=s),
        "revenue_churn_rate": ratio(
            cents["churn_mrr"] + cents["contraction_mrr"], cents["mrr_start"], no_mrr, n=s
        ),
    }


def quarter_for(period: Period) -> Period:
    """The quarter quarterly renewed ARR uses: the period itself when it is a quarter,
    else the calendar quarter holding the period's last day, cut at that day.

    >>> quarter_for(Period.parse("2025-05")).label, quarter_for(Period.parse("2025-05")).end
    ('2025-Q2', datetime.date(2025, 5, 31))
    >>> quarter_for(Period.parse("2025")).label
    '2025-Q4'
    """
    if period.kind == "quarter":
        return period
    end = period.end
    q = Period.quarter(end.year, (end.month - 1) // 3 + 1)
    return q.clip(end)


def quarterly_renewed_arr(subs, quarter: Period, ids: pl.Series | None = None) -> Value:
    """ARR at ``quarter``'s end from accounts paying at its start / ARR at its start.

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a", "b", "c"],
    ...     "start_date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 5, 1)],
    ...     "end_date": [None, date(2024, 5, 1), None], "mrr": [100.0, 50.0, 500.0]})
    >>> quarterly_renewed_arr(s, Period.parse("2024-Q2")).value  # 1,200 of 1,800 ARR
    0.6666666666666666
    """
    return renewed_arr_rate(movements(_subs(subs), quarter, ids))


def renewed_arr_rate(mov: pl.DataFrame) -> Value:
    """Closing over opening MRR (= ARR) of the accounts paying at the start of ``mov``'s period.

    >>> import polars as pl
    >>> mov = pl.DataFrame({"start_cents": [100, 50, 0], "end_cents": [120, 0, 500]})
    >>> renewed_arr_rate(mov).value  # 120 of 150; the new account's 500 is left out
    0.8
    """
    opening = mov.filter(pl.col("start_cents") > 0)
    start = int(opening["start_cents"].sum())
    renewed = int(opening["end_cents"].sum())
    return ratio(renewed, start, "no ARR at quarter start", n=opening.height)


# ---------------------------------------------------------------- renewals
def _term_rows(subs: pl.DataFrame) -> pl.DataFrame:
    """Paid rows keyed by subscription, ``term_months`` filled from the billing interval."""
    cols = subs.columns
    term = pl.col("term_months").cast(pl.Int64) if "term_months" in cols else pl.lit(None)
    if "billing_interval" in cols:
        fallback = pl.col("billing_interval").replace_strict(
            TERM_DEFAULTS, default=None, return_dtype=pl.Int64
        )
    else:
        fallback = pl.lit(None, pl.Int64)
    sid = (
        pl.col("subscription_id")
        if "subscription_id" in cols
        else pl.concat_str("account_id", pl.lit("/"), "product_line")
    )
    return subs.filter(pl.col("mrr_cents") > 0).with_columns(
        subscription_id=sid,
        term_months=pl.coalesce(term, fallback).cast(pl.Int64),
    )


def contract_terms(subs, until: date) -> pl.DataFrame:
    """Every contract term that ended on or before ``until`` (one row per term).

    Contracts are anchored as in :func:`csm_lib.acquisition.contract_starts` (a renewal
    or a restart opens a new contract; mid-term changes do not). A contract's terms end
    on its anniversaries ``anchor + k x term_months`` (k >= 1) while the subscription is
    still live on the term's last day. ``term_end`` is exclusive: the first day after
    the term (like ``end_date``). A missing term_months falls back to 12 for yearly
    billing and 36 for multi-year billing; month-to-month rows have no term.

    Columns: account_id, subscription_id, product_line, term_start, term_end, term_months.

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"subscription_id": ["s", "s"], "account_id": ["a", "a"],
    ...     "product_line": ["Core", "Core"], "start_date": [date(2023, 1, 1), date(2023, 6, 1)],
    ...     "end_date": [date(2023, 6, 1), None], "term_months": [12, 12], "mrr": [10.0, 20.0]})
    >>> contract_terms(s, date(2025, 6, 30))["term_end"].to_list()
    [datetime.date(2024, 1, 1), datetime.date(2025, 1, 1)]
    """
    schema = {
        "account_id": pl.String, "subscription_id": pl.String, "product_line": pl.String,
        "term_start": pl.Date, "term_end": pl.Date, "term_months": pl.Int64,
    }  # fmt: skip
    rows = _term_rows(_subs(subs))
    if rows.height == 0:
        return pl.DataFrame(schema=schema)
    flagged = contract_starts(
        rows.select(
            "subscription_id", "account_id", "product_line", "start_date", "end_date",
            "term_months",
        )
    ).sort("subscription_id", "start_date")  # fmt: skip
    contracts = (
        flagged.with_columns(contract=pl.col("new_contract").cum_sum().over("subscription_id"))
        .group_by("subscription_id", "contract")
        .agg(
            account_id=pl.col("account_id").first(),
            product_line=pl.col("product_line").first(),
            anchor=pl.col("start_date").first(),
            term_months=pl.col("term_months").first(),
            span_end=pl.col("end_date").max(),
        )
        .filter(pl.col("term_months").is_not_null() & (pl.col("term_months") > 0))
    )
    horizon = until + timedelta(days=1)
    stop = pl.min_horizontal("span_end", pl.lit(horizon))
    month_gap = (stop.dt.year() * 12 + stop.dt.month()) - (
        pl.col("anchor").dt.year() * 12 + pl.col("anchor").dt.month()
    )
    terms = (
        contracts.with_columns(k=pl.int_ranges(1, month_gap // pl.col("term_months") + 2))
        .explode("k")
        .filter(pl.col("k").is_not_null())
        .with_columns(
            term_end=pl.col("anchor").dt.offset_by(
                pl.concat_str((pl.col("k") * pl.col("term_months")).cast(pl.String), pl.lit("mo"))
            ),
            term_start=pl.col("anchor").dt.offset_by(
                pl.concat_str(
                    ((pl.col("k") - 1) * pl.col("term_months")).cast(pl.String), pl.lit("mo")
                )
            ),
        )
        .filter((pl.col("term_end") <= pl.col("span_end")) & (pl.col("term_end") <= until))
    )
    return terms.select(list(schema)).cast(schema).sort("account_id", "subscription_id", "term_end")


def renewals(
    subs, period: Period, ids: pl.Series | None = None, terms: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Contracts whose term ended in ``period`` (term_end in it), with ``renewed``.

    Renewed = the account has MRR > 0 on the same product line on ``term_end`` (the
    day after the term). Pass ``terms`` (from :func:`contract_terms`) to reuse them.

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a", "b"], "product_line": ["Core", "Core"],
    ...     "start_date": [date(2024, 1, 1), date(2024, 1, 1)],
    ...     "end_date": [None, date(2025, 1, 1)], "term_months": [12, 12], "mrr": [10.0, 9.0]})
    >>> renewals(s, Period.parse("2025-Q1"))[["account_id", "renewed"]].rows()
    [('a', True), ('b', False)]
    """
    s = _subs(subs)
    if terms is None:
        terms = contract_terms(s, period.end)
    due = in_segment(terms, ids).filter(pl.col("term_end").is_between(period.start, period.end))
    due = due.with_row_index("term_id")
    paid = s.filter(pl.col("mrr_cents") > 0).select(
        "account_id", "product_line", "start_date", "end_date"
    )
    renewed = (
        due.join(paid, on=["account_id", "product_line"])
        .filter(
            (pl.col("start_date") <= pl.col("term_end")) & (pl.col("end_date") > pl.col("term_end"))
        )
        .get_column("term_id")
        .unique()
    )
    return due.with_columns(renewed=pl.col("term_id").is_in(renewed.implode())).drop("term_id")


def renewal_win_rate(won: int, total: int) -> Value:
    """Renewal opportunities won / renewal opportunities (null when there were none).

    >>> round(renewal_win_rate(16, 18).value, 4)  # seed 001
    0.8889
    """
    return ratio(won, total, "no renewal opportunities in period", n=int(total))


def renewal_rates(due: pl.DataFrame) -> dict[str, Value]:
    """``renewal_rate`` (contracts) and ``renewal_win_rate`` (accounts) of :func:`renewals`.

    >>> import polars as pl
    >>> due = pl.DataFrame({"account_id": ["a", "a", "b"], "renewed": [True, False, False]})
    >>> r = renewal_rates(due)
    >>> round(r["renewal_rate"].value, 4), r["renewal_win_rate"].value
    (0.3333, 0.5)
    """
    per_account = due.group_by("account_id").agg(won=pl.col("renewed").any())
    return {
        "renewal_rate": ratio(
            int(due["renewed"].sum()), due.height, "no contract term ended in period", n=due.height
        ),
        "renewal_win_rate": renewal_win_rate(int(per_account["won"].sum()), per_account.height),
    }


# ---------------------------------------------------------------- repeat purchases
def _year_window(end: date) -> tuple[date, date]:
    try:
        back = end.replace(year=end.year - 1)
    except ValueError:  # 29 February
        back = date(end.year - 1, 2, 28)
    return back + timedelta(days=1), end


def repeat_purchase_rate(
    subs, end: date, ids: pl.Series | None = None, accounts: pl.DataFrame | None = None,
    scope: str = "b2c",
) -> Value:  # fmt: skip
    """Customers with >= 2 purchase days in the 12 months ending ``end`` / customers with >= 1.

    A purchase day is a day on which a paid (MRR > 0) subscription row of the account
    starts. ``scope='b2c'`` keeps accounts with ``business_model == 'B2C'`` (needs
    ``accounts``); ``'all'`` keeps every account.

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a", "a", "b"],
    ...     "start_date": [date(2024, 2, 1), date(2024, 7, 1), date(2024, 3, 1)],
    ...     "end_date": [date(2024, 3, 1), None, None], "mrr": [9.0, 12.0, 9.0]})
    >>> repeat_purchase_rate(s, date(2024, 12, 31), scope="all").value
    0.5
    """
    _choice("repeat_purchase_scope", scope, REPEAT_SCOPES)
    lo, hi = _year_window(end)
    s = in_segment(_subs(subs), ids)
    if scope == "b2c":
        if accounts is None or "business_model" not in accounts.columns:
            return Value.null("needs accounts.business_model to find B2C customers")
        b2c = accounts.filter(pl.col("business_model") == "B2C").get_column("account_id")
        s = in_segment(s, b2c)
    days = (
        s.filter((pl.col("mrr_cents") > 0) & pl.col("start_date").is_between(lo, hi))
        .group_by("account_id")
        .agg(days=pl.col("start_date").n_unique())
    )
    who = "B2C customers" if scope == "b2c" else "customers"
    return ratio(
        days.filter(pl.col("days") >= 2).height,
        days.height,
        f"no {who} bought in the 12 months to {hi.isoformat()}",
        n=days.height,
    )


# ---------------------------------------------------------------- retention cost
def crc(cost: float | None, customers: int) -> Value:
    """Customer retention cost per closing customer (null without customers or costs).

    >>> crc(1_000_000, 10_000).value  # seed 002
    100.0
    """
    if cost is None:
        return Value.null("no retention costs recorded in period", n=int(customers))
    v = ratio(cost, customers, "no customers at period end", n=int(customers))
    return v if v.value is None else Value(round(v.value, 2), n=v.n)


def retention_cost(costs: pl.DataFrame, period: Period) -> float | None:
    """Customer success + support + onboarding + training spend in ``period``.

    A month partly inside the period counts by its share of days (the CAC rule, see
    :func:`csm_lib.acquisition.period_cost`); None when no month of these categories
    touches the period (nothing recorded is not the same as zero spend).

    >>> import polars as pl
    >>> c = pl.DataFrame({"month": [date(2025, 1, 1)] * 2, "category": ["support", "sales"],
    ...                   "amount": [500.0, 900.0]})
    >>> retention_cost(c, Period.parse("2025-01")), retention_cost(c, Period.parse("2025-02"))
    (500.0, None)
    """
    touching = costs.filter(
        pl.col("category").is_in(list(RETENTION_COST))
        & (pl.col("month").dt.month_start() <= period.end)
        & (pl.col("month").dt.month_end() >= period.start)
    )
    if touching.height == 0:
        return None
    return period_cost(touching, period, RETENTION_COST)


# ---------------------------------------------------------------- cohorts
def cohort_retention(
    facts_or_subs,
    first_month: str | date | Period,
    last_month: str | date | Period,
    ids: pl.Series | None = None,
    kind: str = "logo",
) -> pl.DataFrame:
    """Logo or revenue retention of monthly start cohorts, one row per cohort and month.

    Cohort = calendar month of the account's first paid row (cohorts ``first_month`` ..
    ``last_month``); a cell for every month end from the cohort month to ``last_month``.
    Active = MRR > 0 at the month end. Columns: cohort (label), cohort_start, age (months
    since the cohort month), month_end, cohort_size, active, mrr, base_mrr (the cohort's
    MRR at the end of its first month) and retention = active / cohort_size (``kind="logo"``)
    or mrr / base_mrr (``kind="revenue"``; null when base_mrr is 0).

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a", "b"], "start_date": [date(2024, 1, 5)] * 2,
    ...     "end_date": [None, date(2024, 2, 10)], "mrr": [10.0, 30.0]})
    >>> cohort_retention(s, "2024-01", "2024-03")["retention"].to_list()
    [1.0, 0.5, 0.5]
    >>> cohort_retention(s, "2024-01", "2024-03", kind="revenue")["retention"].to_list()
    [1.0, 0.25, 0.25]
    """
    if kind not in ("logo", "revenue"):
        raise ValueError(f"cohort_retention: kind={kind!r}, expected 'logo' or 'revenue'")
    first, last = _month(first_month), _month(last_month)
    s = in_segment(_subs(facts_or_subs), ids)
    paid = s.filter(pl.col("mrr_cents") > 0)
    fp = (
        paid.group_by("account_id")
        .agg(cohort_start=pl.col("start_date").min().dt.month_start())
        .filter(pl.col("cohort_start").is_between(first.start, last.start))
    )
    ends = pl.DataFrame(
        {"month_end": pl.date_range(first.start, last.start, "1mo", eager=True).dt.month_end()}
    )
    cells = fp.join(ends, how="cross").filter(pl.col("month_end") >= pl.col("cohort_start"))
    live = (
        cells.join(paid.select("account_id", "start_date", "end_date", "mrr_cents"), on="account_id")
        .filter((pl.col("start_date") <= pl.col("month_end")) & (pl.col("end_date") > pl.col("month_end")))
        .group_by("account_id", "month_end")
        .agg(cents=pl.col("mrr_cents").sum())
    )  # fmt: skip
    per = cells.join(live, on=["account_id", "month_end"], how="left").with_columns(
        pl.col("cents").fill_null(0)
    )
    out = (
        per.group_by("cohort_start", "month_end")
        .agg(
            cohort_size=pl.len().cast(pl.Int64),
            active=(pl.col("cents") > 0).sum().cast(pl.Int64),
            mrr_cents=pl.col("cents").sum(),
        )
        .sort("cohort_start", "month_end")
        .with_columns(
            age=(
                (pl.col("month_end").dt.year() - pl.col("cohort_start").dt.year()) * 12
                + pl.col("month_end").dt.month()
                - pl.col("cohort_start").dt.month()
            ).cast(pl.Int64),
            base_cents=pl.col("mrr_cents").first().over("cohort_start"),
            cohort=pl.col("cohort_start").dt.strftime("%Y-%m"),
        )
    )
    retention = (
        pl.col("active") / pl.col("cohort_size")
        if kind == "logo"
        else pl.when(pl.col("base_cents") > 0).then(pl.col("mrr_cents") / pl.col("base_cents"))
    )
    return out.select(
        "cohort", "cohort_start", "age", "month_end", "cohort_size", "active",
        mrr=pl.col("mrr_cents") / 100, base_mrr=pl.col("base_cents") / 100,
        retention=retention.cast(pl.Float64),
    )  # fmt: skip


# ---------------------------------------------------------------- survival
KM_SCHEMA = {
    "time": pl.Float64,
    "at_risk": pl.Int64,
    "observed": pl.Int64,
    "censored": pl.Int64,
    "survival": pl.Float64,
    "ci_lower": pl.Float64,
    "ci_upper": pl.Float64,
}


def km_curve(
    durations: Sequence[float] | np.ndarray | pl.Series,
    observed: Sequence[bool] | np.ndarray | pl.Series | None = None,
    alpha: float = 0.05,
) -> pl.DataFrame:
    """The Kaplan-Meier survival curve with lifelines' default 95% interval.

    One row per distinct duration, plus time 0 (as lifelines' event table): at_risk
    (still under observation just before), observed (events, e.g. churns), censored
    (still alive when last seen), survival S(t) and the exponential Greenwood
    ("log(-log)") interval. ``observed`` defaults to every duration being an event.

    >>> km_curve([1, 2, 2, 3], [1, 1, 0, 1])["survival"].round(6).to_list()
    [1.0, 0.75, 0.5, 0.0]
    """
    t = np.asarray(durations, dtype=float)
    e = np.ones(t.shape, dtype=bool) if observed is None else np.asarray(observed).astype(bool)
    if t.ndim != 1 or e.shape != t.shape:
        raise ValueError("km_curve: durations and observed must be 1-d and of equal length")
    if t.size and (not np.isfinite(t).all() or (t < 0).any()):
        raise ValueError("km_curve: durations must be finite and >= 0")
    if t.size == 0:
        return pl.DataFrame(schema=KM_SCHEMA)
    times = np.unique(np.concatenate([[0.0], t]))
    idx = np.searchsorted(times, t)
    removed = np.bincount(idx, minlength=times.size)
    deaths = np.bincount(idx, weights=e.astype(float), minlength=times.size)
    at_risk = t.size - np.concatenate([[0], np.cumsum(removed)[:-1]])
    n, d = at_risk.astype(float), deaths
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.cumsum(np.log(n - d) - np.log(n))
        step = d / (n * (n - d))
        step[np.isinf(step)] = 0.0  # the last customer churns: S = 0, variance unchanged
        var = np.cumsum(step)
        s = np.exp(log_s)
        v = np.log(s)
        z = NormalDist().inv_cdf(1 - alpha / 2)
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(var) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(var) / v))
    lower = np.where(np.isnan(lower), 1.0, lower)  # S = 1: no uncertainty yet
    upper = np.where(np.isnan(upper), 1.0, upper)
    return pl.DataFrame(
        {
            "time": times,
            "at_risk": at_risk.astype(np.int64),
            "observed": deaths.astype(np.int64),
            "censored": (removed - deaths).astype(np.int64),
            "survival": s,
            "ci_lower": lower,
            "ci_upper": upper,
        },
        schema=KM_SCHEMA,
    )


def _first_below(times: np.ndarray, curve: np.ndarray, q: float) -> float | None:
    hit = np.nonzero(curve <= q)[0]
    return float(times[hit[0]]) if hit.size else None


def km_median(
    durations: Sequence[float] | np.ndarray | pl.Series,
    observed: Sequence[bool] | np.ndarray | pl.Series | None = None,
    alpha: float = 0.05,
    curve: pl.DataFrame | None = None,
) -> Value:
    """The Kaplan-Meier median (first time S(t) <= 0.5) with its 95% interval.

    As lifelines' ``median_survival_time_`` and ``median_survival_times`` of its
    confidence band: low = first time the lower band is <= 0.5, high = first time
    the upper band is. Null while S(t) stays above 0.5 (median not reached); high is
    None when the upper band never falls to 0.5.

    >>> v = km_median([2, 3, 3, 5, 8, 8, 9], [1, 1, 0, 1, 0, 1, 1])
    >>> v.value, v.low, v.high
    (8.0, 2.0, 9.0)
    """
    km = curve if curve is not None else km_curve(durations, observed, alpha)
    n = int(km["at_risk"][0]) if km.height else 0
    if n == 0:
        return Value.null("no lifetimes to estimate", n=0)
    times = km["time"].to_numpy()
    med = _first_below(times, km["survival"].to_numpy(), 0.5)
    if med is None:
        return Value.null("median not reached: more than half are still customers", n=n)
    low = _first_below(times, km["ci_lower"].to_numpy(), 0.5)
    high = _first_below(times, km["ci_upper"].to_numpy(), 0.5)
    note = "" if high is not None else "upper bound not reached yet"
    return Value(med, n=n, low=low, high=high, note=note)


def _first_spells(s: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Per account paying on or before ``as_of``: start and (exclusive) end of the first
    unbroken run of paid rows (see :func:`account_lifetimes`), sorted by account."""
    paid = (
        s.filter((pl.col("mrr_cents") > 0) & (pl.col("start_date") <= as_of))
        .select("account_id", "start_date", "end_date")
        .sort("account_id", "start_date", "end_date")
    )
    # reach: the latest end among the account's earlier rows (null on its first row), a
    # running max restarted per account without a window function: each account's
    # days are lifted by (account number x 2^22 days), above every earlier account's
    first = (pl.col("account_id") != pl.col("account_id").shift(1)).fill_null(True)
    lift = first.cum_sum().cast(pl.Int64) * (1 << 22)
    running = (lift + pl.col("end_date").cast(pl.Int64)).cum_max()
    reach = pl.when(first).then(None).otherwise(running.shift(1) - lift)
    paid = paid.with_columns(reach=reach.cast(pl.Int32).cast(pl.Date)).with_columns(
        pl.col("account_id").set_sorted()
    )
    gaps = (
        paid.filter(pl.col("reach").is_not_null() & (pl.col("start_date") > pl.col("reach")))
        .group_by("account_id")
        .agg(first_gap=pl.col("reach").min())
    )
    spells = (
        paid.group_by("account_id")
        .agg(start=pl.col("start_date").min(), last_end=pl.col("end_date").max())
        .join(gaps, on="account_id", how="left")
        .with_columns(end=pl.coalesce("first_gap", "last_end"))
        .select("account_id", "start", "end")
        .sort("account_id")
    )
    return spells


def account_lifetimes(facts_or_subs, as_of: date, ids: pl.Series | None = None) -> pl.DataFrame:
    """The first paid spell of every account that paid on or before ``as_of``.

    start = first day with a paid (MRR > 0) row; churn_day = the first day after it
    without paid MRR (the exclusive end of the first unbroken run of paid rows). The
    lifetime is observed (churned) when churn_day <= as_of, else censored at as_of
    (the account paid through as_of). days = min(churn_day, as_of + 1) - start;
    months = days / 30.4375 (an average month). A later return is not part of the
    first spell.

    Columns: account_id, start, churn_day (null when censored), observed, days, months.

    >>> import polars as pl
    >>> s = pl.DataFrame({"account_id": ["a", "a", "b"],
    ...     "start_date": [date(2024, 1, 1), date(2024, 3, 1), date(2024, 1, 1)],
    ...     "end_date": [date(2024, 3, 1), date(2024, 4, 1), None], "mrr": [5.0, 5.0, 5.0]})
    >>> account_lifetimes(s, date(2024, 6, 30))[["account_id", "observed", "days"]].rows()
    [('a', True, 91), ('b', False, 182)]
    """
    f = facts_or_subs
    if hasattr(f, "derived") and as_of <= f.as_of:
        # an account's first spell up to as_of is its first spell of the whole history cut
        # at as_of (a spell running past as_of is censored either way): built once
        spells = f.derived(f"first_spells_{f.as_of}", lambda: _first_spells(f.subs, f.as_of))
        spells = in_segment(spells, ids).filter(pl.col("start") <= as_of)
    else:
        spells = _first_spells(in_segment(_subs(f), ids), as_of)
    cutoff = as_of + timedelta(days=1)
    observed = pl.col("end") <= as_of
    return (
        spells.with_columns(
            observed=observed,
            churn_day=pl.when(observed).then(pl.col("end")),
            days=(pl.min_horizontal("end", pl.lit(cutoff)) - pl.col("start")).dt.total_days(),
        )
        .with_columns(months=pl.col("days") / DAYS_PER_MONTH)
        .select("account_id", "start", "churn_day", "observed", "days", "months")
        .sort("account_id")
    )


def median_lifetime(facts_or_subs, as_of: date, ids: pl.Series | None = None) -> Value:
    """Kaplan-Meier median of :func:`account_lifetimes` in months, with its 95% interval.

    >>> import polars as pl
    >>> s = pl.DataFrame({"account_id": ["a", "b"], "start_date": [date(2024, 1, 1)] * 2,
    ...     "end_date": [date(2024, 3, 1), None], "mrr": [5.0, 5.0]})
    >>> round(median_lifetime(s, date(2024, 12, 31)).value, 3)  # a's 60 days
    1.971
    """
    life = account_lifetimes(facts_or_subs, as_of, ids)
    if life.height == 0:
        return Value.null("no paying accounts by period end", n=0)
    return km_median(life["months"], life["observed"])


# ---------------------------------------------------------------- calculators
_RATES = ("logo_churn_rate", "logo_retention", "account_retention", "crr", "grr", "nrr",
          "revenue_churn_rate")  # fmt: skip


@calculator(list(_RATES), inputs=("subscriptions",))
def calc_rates(ctx) -> dict[str, Value]:
    """Logo and revenue retention of the period (from the memoised movements)."""
    return retention_rates(ctx.movements(), ctx.opt("churn_denominator", "opening"))


@calculator(["quarterly_renewed_arr"], inputs=("subscriptions",))
def calc_renewed_arr(ctx) -> dict[str, Value]:
    q = quarter_for(ctx.period)
    v = renewed_arr_rate(ctx.movements(q))
    if v.value is not None and q.label != ctx.period.label:
        v = Value(v.value, n=v.n, note=f"measured over {q.label} to {q.end.isoformat()}")
    return {"quarterly_renewed_arr": v}


@calculator(["renewal_rate", "renewal_win_rate"], inputs=("subscriptions",))
def calc_renewals(ctx) -> dict[str, Value]:
    facts = ctx.facts
    terms = facts.derived(
        f"contract_terms_{facts.as_of}", lambda: contract_terms(facts.subs, facts.as_of)
    )
    return renewal_rates(renewals(facts.subs, ctx.period, ctx.account_ids, terms))


@calculator(["repeat_purchase_rate"], inputs=("accounts", "subscriptions"))
def calc_repeat_purchases(ctx) -> dict[str, Value]:
    return {
        "repeat_purchase_rate": repeat_purchase_rate(
            ctx.facts.subs, ctx.period.end, ctx.account_ids, ctx.facts.accounts,
            ctx.opt("repeat_purchase_scope", "b2c"),
        )
    }  # fmt: skip


@calculator(["crc"], inputs=("subscriptions", "costs"))
def calc_crc(ctx) -> dict[str, Value]:
    b = ctx.bridge()
    customers = int(b["customers_end"])
    cost = retention_cost(ctx.facts.table("costs").collect(), ctx.period)
    if ctx.account_ids is None or cost is None:
        return {"crc": crc(cost, customers)}
    how = ctx.opt("cost_allocation", None)
    if how is None:
        return {
            "crc": Value.null(
                "costs have no account dimension; set option cost_allocation='mrr_share' "
                "to allocate them to a segment",
                n=customers,
            )
        }
    _choice("cost_allocation", how, COST_ALLOCATION.choices)
    all_mrr = total_mrr(ctx.facts.subs, ctx.period.closing_date)
    if all_mrr == 0:
        return {"crc": Value.null("no MRR at period end to allocate costs by", n=customers)}
    v = crc(cost * b["mrr_end"] / all_mrr, customers)
    return {"crc": Value(v.value, n=v.n, note="allocated by closing-MRR share")
            if v.value is not None else v}  # fmt: skip


@calculator(["median_lifetime_months"], inputs=("subscriptions",))
def calc_lifetime(ctx) -> dict[str, Value]:
    return {"median_lifetime_months": median_lifetime(ctx.facts, ctx.period.end, ctx.account_ids)}


__all__ = [
    "DAYS_PER_MONTH",
    "account_lifetimes",
    "cohort_retention",
    "contract_terms",
    "crc",
    "km_curve",
    "km_median",
    "median_lifetime",
    "quarter_for",
    "quarterly_renewed_arr",
    "renewal_rates",
    "renewal_win_rate",
    "renewals",
    "renewed_arr_rate",
    "repeat_purchase_rate",
    "retention_cost",
    "retention_rates",
]
