"""Acquisition: what it costs to win a customer, what the customer is worth, the funnel.

New logos and new MRR are revenue metrics (:mod:`csm_lib.revenue_metrics`,
``new_logos`` and ``new_mrr``); this module reuses the same bridge. It declares:

- ``cac`` = (sales + marketing cost in the period) / new logos, and
  ``cac_payback_months`` = CAC / (new MRR per new logo x gross margin).
- ``ltv`` in three variants (option ``ltv_variant``), and ``ltv_to_cac``.
- the funnel from the ``leads`` table: ``trials_started``, ``trial_conversion``,
  ``lead_conversion``; and ``referral_share`` of new logos.
- contract values of the contracts signed in the period: ``acv_total``,
  ``acv_mean`` and ``tcv_total``.

Every formula is a small public function (``cac``, ``payback_months``,
``ltv_arpa_churn``, ``ltv_annual_lifetime``, ``ltv_purchase_frequency``,
``acv``, ``tcv``) so that notebooks and tests can use it on plain numbers;
the tables behind the numbers come from ``period_cost``, ``contracts_signed``
and ``trial_funnel``.

>>> ltv_annual_lifetime(annual_revenue=200, years=5, cac=50)  # seed 004 (it prints $750)
950.0
>>> tcv(mrr=1000, term_months=36, one_time_fees=5000)  # seed 000: 3 years + a fee
41000.0
"""

from __future__ import annotations

from datetime import date  # noqa: F401  (the doctests use it)

import polars as pl

from csm_lib._stats import proportion, wilson
from csm_lib.periods import Period
from csm_lib.registry import Option, Value, calculator, metric, ratio

ACQUISITION_COST = ("sales", "marketing")
AVG_MONTH_DAYS = 365.25 / 12
ALLOCATIONS = ("new_logo_share", "mrr_share")

# ---------------------------------------------------------------- options
COST_ALLOCATION = Option(
    "cost_allocation",
    None,
    "Costs have no account dimension, so CAC of a segment other than All is null by "
    "default. 'new_logo_share' (or 'mrr_share', the name the retention pillar uses for "
    "CRC; both mean 'allocate by share') charges the segment its share of the period's "
    "new logos.",
    (None, "new_logo_share", "mrr_share"),
)
GROSS_MARGIN = Option(
    "gross_margin",
    1.0,
    "Gross margin applied to new MRR when computing CAC payback (1.0 = revenue payback; "
    "0.8 = payback on the 80% of revenue left after cost of service).",
)
LTV_VARIANT = Option(
    "ltv_variant",
    "arpa_churn",
    "'arpa_churn' (default, seed 000): ARPA / monthly revenue churn rate. "
    "'annual_lifetime' (seeds 000, 004): 12 x ARPA x relationship years - CAC, i.e. net "
    "of acquisition cost. 'purchase_frequency' (seeds 000 HubSpot, 002): average purchase "
    "value (ARPA, a monthly charge) x 12 purchases a year x relationship years, i.e. gross.",
    ("arpa_churn", "annual_lifetime", "purchase_frequency"),
)
LTV_YEARS = Option(
    "ltv_years",
    None,
    "Customer relationship in years for the 'annual_lifetime' and 'purchase_frequency' "
    "LTV variants. None (default) estimates it as 1 / annualised logo churn rate "
    "(churned customers / customers at start, scaled to 12 months).",
)
TRIAL_WINDOW = Option(
    "trial_window_days",
    30,
    "A trial counts as converted when the lead converted 0..N days after the trial started.",
)
TCV_TERM = Option(
    "tcv_default_term_months",
    12,
    "Term used for TCV when a contract has no term_months (month-to-month). 12 (default) "
    "values it like a one-year deal, so TCV >= ACV always; 1 counts only the committed month.",
)

# ---------------------------------------------------------------- specs
_SEG_NOTE = (
    "Costs have no account dimension: for a segment other than All the value is null "
    "unless the option cost_allocation is set."
)

metric(
    "cac", "Customer acquisition cost (CAC)", "acquisition", "money", "lower",
    "What it costs, on average, to win one new customer: the period's sales and marketing "
    "spend divided by the new logos it produced. " + _SEG_NOTE,
    "(sales + marketing cost in period) / new_logos",
    benchmark="keep it low as you scale; optimally well below LTV (LTV:CAC > 3)",
    benchmark_source="seed 000, seed 003",
    inputs=("subscriptions", "costs"), seeds=("000", "003"),
    example="Seed 000: CAC = total cost of sales and marketing / number of new customers.",
    options=(COST_ALLOCATION,),
    action="Shift spend to the channels whose new logos stay and expand; cut channels whose "
    "logos churn early.",
)  # fmt: skip
metric(
    "cac_payback_months", "CAC payback", "acquisition", "months", "lower",
    "How many months of a new customer's (gross-margin) revenue it takes to earn back what "
    "was spent to win them. New MRR per new logo = new MRR / new logos, so logos that left "
    "within the period count with zero MRR. " + _SEG_NOTE,
    "CAC / ((new_mrr / new_logos) x gross_margin)",
    benchmark="about 18 months on average; shorter is better",
    benchmark_source="seed 000",
    inputs=("subscriptions", "costs"), seeds=("000",),
    example="Seed 000: '18 months on average (18 months of customers to recoup the cost)': "
    "CAC $1,800 and $100 of new MRR per new logo at margin 1.0 -> 18 months.",
    options=(COST_ALLOCATION, GROSS_MARGIN),
    action="Raise starting plans or onboarding-led expansion, or lower acquisition cost, "
    "until payback falls under 18 months.",
    good_range=(0.0, 18.0),
)  # fmt: skip
metric(
    "ltv", "Customer lifetime value (LTV)", "acquisition", "money", "higher",
    "The revenue a customer brings over the whole relationship. Default: ARPA (closing MRR "
    "per customer) divided by the monthly revenue churn rate; for a quarter the monthly rate "
    "is the quarter's revenue churn rate ((churn + contraction) / MRR at start) divided by 3 "
    "(the months in the period). Null with 'no churn observed in period' when nothing "
    "churned. Other variants: option ltv_variant.",
    "arpa_churn: arpa / ((churn_mrr + contraction_mrr) / mrr_start / months); "
    "annual_lifetime: 12 x arpa x years - CAC; purchase_frequency: arpa x 12 x years",
    benchmark="LTV:CAC ideally > 3", benchmark_source="seed 000",
    inputs=("subscriptions",), seeds=("000", "002", "004"),
    example="Seed 004: a 5-year customer lifetime x $200 a year - $50 CAC = $950 (the seed "
    "prints $750, an arithmetic slip: 5 x $200 = $1,000 and $1,000 - $50 = $950).",
    options=(LTV_VARIANT, LTV_YEARS, COST_ALLOCATION),
    action="Lift LTV by cutting early churn (onboarding, time to value) and growing accounts "
    "(expansion), not only by raising prices.",
)  # fmt: skip
metric(
    "ltv_to_cac", "LTV : CAC", "acquisition", "ratio", "higher",
    "How many dollars of lifetime value each dollar of acquisition buys. Below 1 the company "
    "loses money on every customer. With ltv_variant='annual_lifetime' the LTV is already "
    "net of CAC, so the ratio is one lower than the gross ratio.",
    "ltv / cac",
    benchmark="ideally > 3", benchmark_source="seed 000",
    inputs=("subscriptions", "costs"), seeds=("000",),
    example="Seed 000: the CLTV to CAC ratio should ideally be higher than 3.",
    options=(LTV_VARIANT, LTV_YEARS, COST_ALLOCATION),
    action="Below 3: reduce churn of new cohorts or move spend to cheaper channels "
    "(referrals); far above 5: you may be under-investing in growth.",
    good_range=(3.0, None),
)  # fmt: skip
metric(
    "trials_started", "Trials started", "acquisition", "count", "higher",
    "Leads whose free trial started in the period (leads table). Leads belong to no account "
    "segment until they convert, so the value is shown for All only.",
    "count(leads with trial_started_at in period)",
    inputs=("leads",), seeds=("000",),
    example="Seed 000: free trial conversion rate needs the number of trials started.",
    action="Few trials: review the top of the funnel (traffic, sign-up friction).",
)  # fmt: skip
metric(
    "trial_conversion", "Trial conversion rate", "acquisition", "fraction", "higher",
    "Share of the trials started in the period that became paying customers within the "
    "trial window (default 30 days). Trials started in the last days before the as-of date "
    "have had less time to convert. All segment only (leads have no account segment).",
    "count(0 <= converted_at - trial_started_at <= trial_window_days) / trials_started",
    inputs=("leads",), seeds=("000",),
    example="Seed 000: free trial conversion rate = trials converted / trials started.",
    options=(TRIAL_WINDOW,),
    action="Low conversion: guide trial users to the first-value moment in the first days "
    "(onboarding emails, in-app checklists, a CSM touch for large trials).",
)  # fmt: skip
metric(
    "lead_conversion", "Lead conversion rate", "acquisition", "fraction", "higher",
    "Share of the leads created in the period that became customers (by the as-of date). "
    "All segment only (leads have no account segment).",
    "count(leads created in period with converted_at) / count(leads created in period)",
    inputs=("leads",), seeds=("000",),
    example="Seed 000: conversions / total number of visitors or leads.",
    action="Low conversion: qualify leads better and hand warm leads to sales faster.",
)  # fmt: skip
metric(
    "referral_share", "Referral share of new logos", "acquisition", "fraction", "higher",
    "Share of the period's new logos that were referred by an existing customer "
    "(accounts.referred_by is set): the cheapest growth and a sign of happy customers.",
    "count(new logos with referred_by) / new_logos",
    inputs=("accounts", "subscriptions"), seeds=("004",),
    example="Seed 004 #10: measure referrals as a % of total new logos acquired in the period.",
    action="Ask promoters (NPS 9-10) for referrals and reward them; a low share means the "
    "referral programme is not asked for or not working.",
)  # fmt: skip
_ACV_DEF = (
    "Contracts signed in the period: subscription rows starting in it that open a "
    "subscription_id or start a new term (a renewal at the end of term_months, or a "
    "restart after a gap); rows of one account starting on the same day form one contract."
)
metric(
    "acv_total", "ACV signed (total)", "acquisition", "money", "higher",
    "Annual contract value of all contracts signed in the period: their recurring value "
    "for one year (12 x MRR), without one-time implementation, training or configuration "
    "fees. " + _ACV_DEF,
    "sum over signed contracts of 12 x mrr",
    inputs=("subscriptions",), seeds=("000",),
    example="Seed 000: ACV of the subscription agreement, excluding implementation or "
    "training costs and system configuration fees: $1,000 MRR -> $12,000 ACV.",
    action="Track with the number of contracts: falling ACV at steady volume means smaller "
    "deals or heavier discounting.",
)  # fmt: skip
metric(
    "acv_mean", "ACV per contract", "acquisition", "money", "higher",
    "Average annual contract value of a contract signed in the period (12 x MRR, one-time "
    "fees excluded). " + _ACV_DEF,
    "acv_total / contracts signed",
    inputs=("subscriptions",), seeds=("000",),
    example="Seed 000: ACV excludes one-time fees.",
    action="Falling ACV: check discounting and whether new customers start on lower plans.",
)  # fmt: skip
metric(
    "tcv_total", "TCV signed (total)", "acquisition", "money", "higher",
    "Total contract value of the contracts signed in the period: the recurring value over "
    "the whole term (MRR x term_months; a month-to-month contract counts 12 months, option "
    "tcv_default_term_months) plus one-time fees. " + _ACV_DEF,
    "sum over signed contracts of (mrr x (term_months or 12) + one_time_fees)",
    inputs=("subscriptions",), seeds=("000",),
    example="Seed 000: a 3-year deal + a one-time system configuration fee: $1,000 MRR x 36 "
    "months + $5,000 fee = $41,000 TCV.",
    options=(TCV_TERM,),
    action="Use with ACV: TCV much larger than ACV means multi-year commitments (good for "
    "retention forecasts).",
)  # fmt: skip


# ---------------------------------------------------------------- pure formulas
def cac(cost: float, new_logos: int) -> float | None:
    """Customer acquisition cost: acquisition spend / new logos (None when no new logos).

    >>> cac(50_000, 25)
    2000.0
    >>> cac(50_000, 0) is None
    True
    """
    return None if not new_logos else float(cost) / new_logos


def payback_months(cac: float, mrr_per_logo: float, gross_margin: float = 1.0) -> float | None:
    """Months of margin-adjusted MRR needed to earn back CAC (None when it never pays back).

    >>> payback_months(1800, 100)  # seed 000: 18 months on average
    18.0
    >>> payback_months(1800, 100, gross_margin=0.75)
    24.0
    """
    den = float(mrr_per_logo) * float(gross_margin)
    return None if den <= 0 else float(cac) / den


def ltv_arpa_churn(arpa: float, monthly_churn: float) -> float | None:
    """LTV = ARPA / monthly revenue churn rate (None when no churn: the lifetime is unbounded).

    >>> ltv_arpa_churn(500, 0.02)
    25000.0
    >>> ltv_arpa_churn(500, 0) is None
    True
    """
    return None if monthly_churn <= 0 else float(arpa) / float(monthly_churn)


def ltv_annual_lifetime(annual_revenue: float, years: float, cac: float) -> float:
    """LTV = annual revenue per customer x relationship years - CAC (seed 004).

    Seed 004 writes "(5 x $200) - $50 = $750"; the formula gives $950 (5 x $200 = $1,000).

    >>> ltv_annual_lifetime(200, 5, 50)
    950.0
    """
    return float(annual_revenue) * float(years) - float(cac)


def ltv_purchase_frequency(value: float, frequency: float, lifespan: float) -> float:
    """LTV = average purchase value x purchase frequency x customer lifespan (HubSpot, seed 000).

    ``frequency`` is purchases per unit of time and ``lifespan`` is in the same unit.

    >>> ltv_purchase_frequency(50, 4, 3)  # $50 a purchase, 4 a year, 3 years
    600.0
    """
    return float(value) * float(frequency) * float(lifespan)


def acv(mrr: float) -> float:
    """Annual contract value of a recurring amount: 12 x MRR (one-time fees excluded).

    >>> acv(1000)
    12000.0
    """
    return 12.0 * float(mrr)


def tcv(mrr: float, term_months: int | None, one_time_fees: float = 0.0, default_term: int = 12):
    """Total contract value: MRR x term (``default_term`` when None) + one-time fees.

    >>> tcv(1000, 36, 5000)  # seed 000: 3-year term + one-time configuration fee
    41000.0
    >>> tcv(100, None)  # month-to-month counts 12 months by default
    1200.0
    """
    term = default_term if term_months is None else term_months
    return float(mrr) * term + float(one_time_fees)


def months_in(period: Period) -> float:
    """Length of a period in months: whole calendar months count exactly, else days / 30.44.

    >>> months_in(Period.parse("2025-Q4"))
    3.0
    >>> round(months_in(Period.parse("2025-01-01..2025-01-15")), 3)
    0.493
    """
    ms = period.months()
    if ms[0].start == period.start and ms[-1].end == period.end:
        return float(len(ms))
    return period.days / AVG_MONTH_DAYS


def monthly_rate(period_rate: float, months: float) -> float:
    """A period's rate expressed per month by simple division (a quarter: rate / 3).

    Simple division (not compounding) keeps LTV = ARPA / rate readable; for small
    rates the difference to 1 - (1 - r)^(1/m) is negligible.

    >>> monthly_rate(0.06, 3)
    0.02
    """
    return period_rate / months


def _prop(k: int, n: int, reason: str) -> Value:
    return proportion(k, n, reason)


# ---------------------------------------------------------------- tables
def period_cost(costs: pl.DataFrame, period: Period, categories=ACQUISITION_COST) -> float:
    """Spend of ``categories`` in ``period``; a month partly inside is prorated by its days.

    >>> c = pl.DataFrame({"month": [date(2025, 1, 1), date(2025, 2, 1)],
    ...                   "category": ["sales", "marketing"], "amount": [3100.0, 2800.0]})
    >>> period_cost(c, Period.parse("2025-01"))
    3100.0
    >>> period_cost(c, Period.parse("2025-01-22..2025-02-14"))
    2400.0
    """
    m0 = pl.col("month").dt.month_start()
    m1 = pl.col("month").dt.month_end()
    lo = pl.max_horizontal(m0, pl.lit(period.start))
    hi = pl.min_horizontal(m1, pl.lit(period.end))
    overlap = ((hi - lo).dt.total_days() + 1).clip(lower_bound=0)
    month_days = (m1 - m0).dt.total_days() + 1
    out = costs.filter(pl.col("category").is_in(list(categories))).select(
        (pl.col("amount") * overlap / month_days).sum()
    )
    return round(float(out.item() or 0.0), 2)


def contract_starts(subs: pl.DataFrame) -> pl.DataFrame:
    """Flag subscription rows that start a new contract (column ``new_contract``).

    A row starts a contract when it is the first row of its ``subscription_id``, when it
    starts at or after the end of the current term (``term_start + term_months``: a
    renewal), when a term starts on a month-to-month subscription, or when it follows a
    gap. Other rows are mid-term changes (upgrades, seat changes) of the same contract.

    >>> s = pl.DataFrame({"subscription_id": ["s"] * 3, "account_id": ["a"] * 3,
    ...     "start_date": [date(2024, 1, 1), date(2024, 6, 1), date(2025, 1, 1)],
    ...     "end_date": [date(2024, 6, 1), date(2025, 1, 1), date(2026, 1, 1)],
    ...     "term_months": [12, 12, 12], "mrr": [100.0, 150.0, 150.0]})
    >>> contract_starts(s)["new_contract"].to_list()  # start, upgrade, renewal
    [True, False, True]
    """
    cols = subs.columns
    s = subs.with_columns(
        term_months=pl.col("term_months") if "term_months" in cols else pl.lit(None, pl.Int32)
    ).sort("subscription_id", "start_date")
    multi = s.group_by("subscription_id").len().filter(pl.col("len") > 1)["subscription_id"]
    single = s.filter(~pl.col("subscription_id").is_in(multi.implode()))
    several = s.filter(pl.col("subscription_id").is_in(multi.implode()))
    # the walk below needs the previous contract's anchor, so it is a loop, over plain
    # ints: days since 1970 and, per row, the day its term would end if it anchored one
    cols = several.select(
        first=(pl.col("subscription_id") != pl.col("subscription_id").shift(1)).fill_null(True),
        start=pl.col("start_date").cast(pl.Int32),
        end=pl.col("end_date").cast(pl.Int32),
        tm=pl.col("term_months"),
        term_end=pl.col("start_date")
        .dt.offset_by(pl.format("{}mo", pl.col("term_months")))
        .cast(pl.Int32),
    )
    first, start, end, tm, term_end = (cols[c].to_list() for c in cols.columns)
    flags: list[bool] = []
    anchor, term, prev_end = 0, None, None
    for i in range(cols.height):
        if first[i]:
            new = True
        elif prev_end is not None and start[i] > prev_end:
            new = True  # a gap: the subscription restarted
        elif term is None:
            new = tm[i] is not None  # a month-to-month subscription commits to a term
        else:
            new = start[i] >= term_end[anchor]  # at or after the end of the term: a renewal
        if new:
            anchor, term = i, tm[i]
        flags.append(new)
        prev_end = end[i]
    return pl.concat(
        [
            single.with_columns(new_contract=pl.lit(True)),
            several.with_columns(new_contract=pl.Series(flags, dtype=pl.Boolean)),
        ]
    ).sort("subscription_id", "start_date")


def contracts_signed(
    subs: pl.DataFrame,
    period: Period,
    ids: pl.Series | None = None,
    default_term_months: int = 12,
    starts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Contracts signed in ``period``: one row per (account_id, start_date) with ACV and TCV.

    ``subs`` are prepared subscription rows (``facts.subs``: trials removed; raw rows are
    accepted too). Rows with zero MRR and no fee (a free plan) sign nothing. Columns:
    account_id, start_date, rows, mrr, acv, tcv, one_time_fees (dollars, summed in cents).
    ``starts`` may pass a precomputed :func:`contract_starts` frame.

    >>> s = pl.DataFrame({"subscription_id": ["s1", "s2"], "account_id": ["a", "a"],
    ...     "start_date": [date(2025, 10, 1)] * 2, "end_date": [None, None],
    ...     "term_months": [36, None], "mrr": [1000.0, 50.0], "one_time_fees": [5000.0, 0.0]})
    >>> contracts_signed(s, Period.parse("2025-Q4")).select("acv", "tcv").row(0)
    (12600.0, 41600.0)
    """
    from csm_lib.revenue import _prepared

    prepared = _prepared(subs)
    st = contract_starts(prepared) if starts is None else starts
    if ids is not None:
        st = st.filter(pl.col("account_id").is_in(ids.implode()))
    fees = (
        (pl.col("one_time_fees").fill_null(0) * 100).round(0).cast(pl.Int64)
        if "one_time_fees" in st.columns
        else pl.lit(0, pl.Int64)
    )
    term = pl.col("term_months").fill_null(default_term_months).cast(pl.Int64)
    rows = (
        st.filter(
            pl.col("new_contract") & pl.col("start_date").is_between(period.start, period.end)
        )
        .with_columns(fee_cents=fees)
        .filter((pl.col("mrr_cents") > 0) | (pl.col("fee_cents") > 0))
        .with_columns(tcv_cents=pl.col("mrr_cents") * term + pl.col("fee_cents"))
    )
    return (
        rows.group_by("account_id", "start_date")
        .agg(
            rows=pl.len(),
            mrr=pl.col("mrr_cents").sum() / 100,
            acv=pl.col("mrr_cents").sum() * 12 / 100,
            tcv=pl.col("tcv_cents").sum() / 100,
            one_time_fees=pl.col("fee_cents").sum() / 100,
        )
        .sort("start_date", "account_id")
    )


def trial_funnel(leads: pl.DataFrame, period: Period, window_days: int = 30) -> dict[str, int]:
    """Counts of the lead funnel of ``period``.

    trials_started (trial_started_at in period), trials_converted (converted 0..window
    days after the trial started), leads_created (created_at in period) and
    leads_converted (of those, converted_at set).

    >>> l = pl.DataFrame({"created_at": [date(2025, 1, 2)] * 3,
    ...     "trial_started_at": [date(2025, 1, 3), date(2025, 1, 3), None],
    ...     "converted_at": [date(2025, 2, 2), date(2025, 2, 3), None]})
    >>> trial_funnel(l, Period.parse("2025-01"))
    {'trials_started': 2, 'trials_converted': 1, 'leads_created': 3, 'leads_converted': 2}
    """
    in_p = pl.col("trial_started_at").is_between(period.start, period.end)
    lag = (pl.col("converted_at") - pl.col("trial_started_at")).dt.total_days()
    created = pl.col("created_at").is_between(period.start, period.end)
    row = leads.select(
        trials_started=in_p.fill_null(False).sum(),
        trials_converted=(in_p & lag.is_between(0, window_days)).fill_null(False).sum(),
        leads_created=created.fill_null(False).sum(),
        leads_converted=(created & pl.col("converted_at").is_not_null()).fill_null(False).sum(),
    ).row(0, named=True)
    return {k: int(v) for k, v in row.items()}


def referrals_of_new_logos(mov: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """The period's new logos (from :func:`csm_lib.revenue.movements`) with ``referred``.

    >>> from csm_lib.revenue import movements
    >>> s = pl.DataFrame({"account_id": ["a", "b"], "start_date": [date(2025, 1, 5)] * 2,
    ...                   "end_date": [None, None], "mrr": [10.0, 20.0]})
    >>> acc = pl.DataFrame({"account_id": ["a", "b"], "referred_by": [None, "a"]})
    >>> referrals_of_new_logos(movements(s, Period.parse("2025-01")), acc)["referred"].to_list()
    [False, True]
    """
    new = mov.filter(pl.col("new_logo")).select("account_id")
    ref = accounts.select("account_id", "referred_by")
    return (
        new.join(ref, on="account_id", how="left")
        .with_columns(referred=pl.col("referred_by").is_not_null())
        .sort("account_id")
    )


# ---------------------------------------------------------------- calculators
def _all_bridge(ctx, period: Period | None = None) -> dict:
    """The bridge of the whole company (key shared with Context.bridge for All)."""
    from csm_lib.revenue import bridge, movements

    p = period or ctx.period
    facts = ctx.facts
    return facts.memo(
        ("bridge", p.start, p.end, "All"),
        lambda: bridge(facts.memo(("movements", p.start, p.end, "All"),
                                  lambda: movements(facts.subs, p, None))),
    )  # fmt: skip


def segment_cost(ctx, categories=ACQUISITION_COST) -> tuple[float | None, str]:
    """Cost of ``categories`` in the period for ctx's segment, or (None, reason).

    For a segment other than All the cost is allocated by the segment's share of new
    logos when option ``cost_allocation`` is 'new_logo_share' or 'mrr_share'.
    """
    if not ctx.facts.has("costs"):
        return None, "needs table costs"
    total = period_cost(ctx.facts.table("costs").collect(), ctx.period, categories)
    if ctx.account_ids is None:
        return total, ""
    how = ctx.opt("cost_allocation", None)
    if how is None:
        return None, (
            "costs have no account dimension; set option cost_allocation='new_logo_share' "
            "to allocate them to a segment"
        )
    if how not in ALLOCATIONS:
        raise ValueError(f"option cost_allocation={how!r}: expected one of {ALLOCATIONS} or None")
    all_logos = _all_bridge(ctx)["new_logos"]
    if all_logos == 0:
        return None, "no new logos in period"
    return round(total * ctx.bridge()["new_logos"] / all_logos, 2), "allocated by new-logo share"


def lifetime_years(b: dict, months: float) -> float | None:
    """Expected relationship in years = 1 / annualised logo churn rate (None without churn).

    >>> lifetime_years({"churn_count": 6, "customers_start": 100}, 3.0)  # 2% a month
    4.166666666666667
    """
    if not b["customers_start"] or not b["churn_count"]:
        return None
    annual = b["churn_count"] / b["customers_start"] * 12 / months
    return 1 / annual


@calculator(["cac", "cac_payback_months", "ltv", "ltv_to_cac"], inputs=("subscriptions",))
def unit_economics(ctx) -> dict[str, Value]:
    """CAC, payback, LTV (variant by option) and LTV:CAC of the period and segment."""
    b = ctx.bridge()
    logos = int(b["new_logos"])
    out: dict[str, Value] = {}
    cost, why = segment_cost(ctx)
    c_value = cac(cost, logos) if cost is not None else None
    if cost is None:
        out["cac"] = Value.null(why, n=logos)
    elif c_value is None:
        out["cac"] = Value.null("no new logos in period", n=0)
    else:
        out["cac"] = Value(round(c_value, 2), n=logos, note=why)
    margin = float(ctx.opt("gross_margin", 1.0))
    if c_value is None:
        out["cac_payback_months"] = Value.null(out["cac"].note, n=logos)
    else:
        pb = payback_months(c_value, b["new_mrr"] / logos, margin)
        out["cac_payback_months"] = (
            Value(pb, n=logos) if pb is not None else Value.null("no new MRR in period", n=logos)
        )

    variant = ctx.opt("ltv_variant", "arpa_churn")
    months = months_in(ctx.period)
    n = int(b["customers_end"])
    if not b["customers_end"]:
        out["ltv"] = Value.null("no customers at period end", n=0)
    elif variant == "arpa_churn":
        arpa = b["mrr_end"] / b["customers_end"]
        lost = b["churn_mrr"] + b["contraction_mrr"]
        if not b["mrr_start"]:
            out["ltv"] = Value.null("no MRR at period start", n=n)
        elif lost == 0:
            out["ltv"] = Value.null("no churn observed in period", n=n)
        else:
            rate = monthly_rate(lost / b["mrr_start"], months)
            out["ltv"] = Value(
                ltv_arpa_churn(arpa, rate),
                n=n,
                note=f"monthly revenue churn {rate:.2%} = period rate / {months:g} months",
            )
    elif variant in ("annual_lifetime", "purchase_frequency"):
        arpa = b["mrr_end"] / b["customers_end"]
        years = ctx.opt("ltv_years", None)
        years = lifetime_years(b, months) if years is None else float(years)
        if years is None:
            out["ltv"] = Value.null("no churn observed in period", n=n)
        elif variant == "purchase_frequency":
            out["ltv"] = Value(ltv_purchase_frequency(arpa, 12, years), n=n)
        elif c_value is None:
            out["ltv"] = Value.null("annual_lifetime LTV needs CAC: " + out["cac"].note, n=n)
        else:
            out["ltv"] = Value(ltv_annual_lifetime(12 * arpa, years, c_value), n=n)
    else:
        raise ValueError(f"option ltv_variant={variant!r}: expected one of {LTV_VARIANT.choices}")
    if out["ltv"].value is None:
        out["ltv_to_cac"] = Value.null(out["ltv"].note)
    elif c_value is None or c_value == 0:
        out["ltv_to_cac"] = Value.null(out["cac"].note or "CAC is zero")
    else:
        out["ltv_to_cac"] = Value(out["ltv"].value / c_value, n=logos)
    return out


_LEADS_SEGMENT = "leads belong to no account segment until they convert; shown for All only"


@calculator(["trials_started", "trial_conversion", "lead_conversion"], inputs=("leads",))
def funnel(ctx) -> dict[str, Value]:
    """The lead funnel of the period (All segment only)."""
    ids = ("trials_started", "trial_conversion", "lead_conversion")
    if ctx.account_ids is not None:
        return {m: Value.null(_LEADS_SEGMENT) for m in ids}
    window = int(ctx.opt("trial_window_days", 30))
    f = trial_funnel(ctx.facts.table("leads").collect(), ctx.period, window)
    return {
        "trials_started": Value(float(f["trials_started"]), n=f["trials_started"]),
        "trial_conversion": _prop(
            f["trials_converted"], f["trials_started"], "no trials started in period"
        ),
        "lead_conversion": _prop(
            f["leads_converted"], f["leads_created"], "no leads created in period"
        ),
    }


@calculator(["referral_share"], inputs=("accounts", "subscriptions"))
def referrals(ctx) -> dict[str, Value]:
    """Referred new logos / new logos."""
    if "referred_by" not in ctx.facts.accounts.columns:
        return {"referral_share": Value.null("accounts has no referred_by column")}
    r = referrals_of_new_logos(ctx.movements(), ctx.facts.accounts)
    return {"referral_share": _prop(int(r["referred"].sum()), r.height, "no new logos in period")}


@calculator(["acv_total", "acv_mean", "tcv_total"], inputs=("subscriptions",))
def contract_values(ctx) -> dict[str, Value]:
    """ACV (total, mean) and TCV of the contracts signed in the period."""
    subs = ctx.facts.subs
    if "subscription_id" not in subs.columns:
        reason = "subscriptions has no subscription_id column"
        return {m: Value.null(reason) for m in ("acv_total", "acv_mean", "tcv_total")}
    starts = ctx.facts.derived("contract_starts", lambda: contract_starts(subs))
    term = int(ctx.opt("tcv_default_term_months", 12))
    c = contracts_signed(subs, ctx.period, ctx.account_ids, term, starts=starts)
    n = c.height
    acv_sum = round(float(c["acv"].sum()), 2) if n else 0.0
    return {
        "acv_total": Value(acv_sum, n=n),
        "acv_mean": ratio(acv_sum, n, "no contracts signed in period", n=n),
        "tcv_total": Value(round(float(c["tcv"].sum()), 2) if n else 0.0, n=n),
    }


__all__ = [
    "acv",
    "cac",
    "contract_starts",
    "contracts_signed",
    "lifetime_years",
    "ltv_annual_lifetime",
    "ltv_arpa_churn",
    "ltv_purchase_frequency",
    "monthly_rate",
    "months_in",
    "payback_months",
    "period_cost",
    "referrals_of_new_logos",
    "segment_cost",
    "tcv",
    "trial_funnel",
    "wilson",
]
