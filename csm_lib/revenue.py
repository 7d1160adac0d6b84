"""The revenue backbone: MRR at a date, the movements of a period, the bridge.

Definitions (METRICS.md, "MRR movements"; DATA_CONTRACT.md, "Periods"):

- **MRR at a date d** = sum of ``mrr`` of non-trial rows with
  ``start_date <= d < end_date``, per account, rounded to the cent. Internally
  money is held in integer cents, so every sum is exact and the bridge closes
  to the cent.
- A period's movement compares each account's MRR on the day *before* the
  period (opening) with its MRR on the period's last day (closing):
  new (0 -> >0, never paid before the period), reactivation (0 -> >0, paid
  before), expansion (up), contraction (down, still > 0), churn (-> 0).
- Expansion splits into cross-sell = min(expansion, closing MRR of product
  lines with zero opening MRR) and upsell = the rest.

>>> import polars as pl
>>> from datetime import date
>>> from csm_lib.periods import Period
>>> subs = pl.DataFrame({
...     "account_id": ["a", "a", "b"],
...     "product_line": ["Core", "Core", "Core"],
...     "start_date": [date(2024, 1, 1), date(2024, 5, 1), date(2024, 1, 1)],
...     "end_date": [date(2024, 5, 1), None, date(2024, 5, 1)],
...     "mrr": [100.0, 150.0, 80.0],
... })
>>> b = bridge(movements(subs, Period.parse("2024-05")))
>>> b["mrr_start"], b["expansion_mrr"], b["churn_mrr"], b["mrr_end"]
(180.0, 50.0, 80.0, 150.0)
"""

from __future__ import annotations

from datetime import date

import polars as pl

from csm_lib.facts import FAR_FUTURE, build_subs
from csm_lib.periods import Period

CATEGORIES = ("new", "reactivation", "expansion", "contraction", "churn")


def _prepared(subs: pl.DataFrame) -> pl.DataFrame:
    """Accept raw subscription rows or facts.subs (already prepared)."""
    if "mrr_cents" in subs.columns:
        return subs
    return build_subs(subs.lazy()).collect()


def _live(subs: pl.DataFrame, d: date) -> pl.DataFrame:
    return subs.filter((pl.col("start_date") <= d) & (pl.col("end_date") > d))


def _ids_filter(frame: pl.DataFrame, ids: pl.Series | None) -> pl.DataFrame:
    return frame if ids is None else frame.filter(pl.col("account_id").is_in(ids.implode()))


def mrr_cents_at(subs: pl.DataFrame, d: date, ids: pl.Series | None = None) -> pl.DataFrame:
    """Per-account MRR in integer cents at day ``d`` (accounts with a live row only)."""
    s = _ids_filter(_prepared(subs), ids)
    return (
        _live(s, d).group_by("account_id").agg(cents=pl.col("mrr_cents").sum()).sort("account_id")
    )


def mrr_at(subs: pl.DataFrame, d: date, ids: pl.Series | None = None) -> pl.DataFrame:
    """Per-account MRR (cent-rounded, reporting currency) at day ``d``.

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a"], "start_date": [date(2024, 1, 1)],
    ...                   "end_date": [None], "mrr": [99.999]}, schema_overrides={"end_date": pl.Date})
    >>> mrr_at(s, date(2024, 2, 1))["mrr"].to_list()
    [100.0]
    """
    return mrr_cents_at(subs, d, ids).select("account_id", mrr=pl.col("cents") / 100)


def total_mrr(subs: pl.DataFrame, d: date, ids: pl.Series | None = None) -> float:
    """Total MRR at day ``d`` (sum of cent-rounded account MRR)."""
    return int(mrr_cents_at(subs, d, ids)["cents"].sum()) / 100


def movements(subs: pl.DataFrame, period: Period, ids: pl.Series | None = None) -> pl.DataFrame:
    """One row per account with MRR at the period's start or end.

    Columns: account_id, start_cents, end_cents, change_cents, category
    (new | reactivation | expansion | contraction | churn | flat),
    cross_sell_cents, upsell_cents, first_paid, new_logo (first paid row starts
    in the period). Amounts are positive integers of cents.
    """
    s = _ids_filter(_prepared(subs), ids)
    return _movements_from(_per_account(s, [period])[0], period)


def _product_lines(s: pl.DataFrame) -> list:
    return s.get_column("product_line").unique().to_list() if "product_line" in s.columns else []


def _per_account(s: pl.DataFrame, periods: list[Period]) -> list[pl.DataFrame]:
    """Per account: start/end/new-line cents and first paid day, for each period."""
    lines = _product_lines(s)
    if 0 < len(lines) <= MAX_LINES_PIVOTED:
        spans = [(p.opening_date, p.closing_date) for p in periods]
        return _per_account_pivoted_many(s, lines, spans)
    return [_per_account_grouped(s, p.opening_date, p.closing_date) for p in periods]


def _movements_from(acc: pl.DataFrame, period: Period) -> pl.DataFrame:
    acc = acc.with_columns(
        new_logo=pl.col("first_paid").is_between(period.start, period.end).fill_null(False),
        change_cents=pl.col("end_cents") - pl.col("start_cents"),
    ).filter((pl.col("start_cents") > 0) | (pl.col("end_cents") > 0) | pl.col("new_logo"))
    return _categorised(acc, period)


MAX_LINES_PIVOTED = 16  # product lines summed side by side in one pass (more: grouped)


MAX_PIVOT_COLUMNS = 32  # (line, date) MRR columns summed side by side in one pass


def _per_account_pivoted_many(
    s: pl.DataFrame, lines: list, spans: list[tuple[date, date]]
) -> list[pl.DataFrame]:
    """start/end/new-line cents and first paid day per account, for each (open, close)
    date pair: each product line's MRR on every distinct date becomes a column (few
    lines), so the rows are grouped by account alone (the sorted fast path on
    ``facts.subs``), up to :data:`MAX_PIVOT_COLUMNS` columns a pass; consecutive months
    share their boundary dates."""
    mrr = pl.col("mrr_cents")
    dates = sorted({d for span in spans for d in span})
    per_pass = max(1, MAX_PIVOT_COLUMNS // len(lines))
    # each row's line as flags, compared once (not once per date)
    s = s.with_columns(
        pl.col("product_line").eq_missing(pl.lit(line, pl.String)).alias(f"_line{k}")
        for k, line in enumerate(lines)
    )
    sums: dict[date, list[str]] = {}  # date -> its per-line column names
    frames = []
    for i in range(0, len(dates), per_pass):
        cols, names = [], []
        for d in dates[i : i + per_pass]:
            live = (pl.col("start_date") <= d) & (pl.col("end_date") > d)
            sums[d] = [f"_{d.isoformat()}_{k}" for k in range(len(lines))]
            for k in range(len(lines)):
                on = live & pl.col(f"_line{k}")
                cols.append(pl.when(on).then(mrr).otherwise(0).alias(sums[d][k]))
            names += sums[d]
        aggs = [pl.col(n).sum() for n in names]
        if not frames:  # (the first pass also finds each account's first paid day)
            cols.append(pl.when(mrr > 0).then(pl.col("start_date")).alias("_paid"))
            aggs.append(pl.col("_paid").min().alias("first_paid"))
        several = len(dates) > per_pass  # (passes set side by side: same account order)
        part = s.with_columns(*cols).group_by("account_id", maintain_order=several).agg(*aggs)
        frames.append(part.drop("account_id") if frames else part)
    wide = pl.concat(frames, how="horizontal")
    out = []
    for open_d, close_d in spans:
        o, c = sums[open_d], sums[close_d]
        out.append(
            wide.select(
                "account_id",
                start_cents=pl.sum_horizontal(o),
                end_cents=pl.sum_horizontal(c),
                new_line_cents=pl.sum_horizontal(
                    [
                        pl.when(pl.col(a) == 0).then(pl.col(b)).otherwise(0)
                        for a, b in zip(o, c, strict=True)
                    ]
                ),
                first_paid="first_paid",
            )
        )
    return out


def _per_account_grouped(s: pl.DataFrame, open_d: date, close_d: date) -> pl.DataFrame:
    """As :func:`_per_account_pivoted_many` for one date pair, grouping by (account,
    product line) first (many product lines)."""
    lines_open = (
        _live(s, open_d).group_by("account_id", "product_line").agg(o=pl.col("mrr_cents").sum())
    )
    lines_close = (
        _live(s, close_d).group_by("account_id", "product_line").agg(c=pl.col("mrr_cents").sum())
    )
    lines = lines_open.join(
        lines_close, on=["account_id", "product_line"], how="full", coalesce=True
    )
    lines = lines.with_columns(pl.col("o").fill_null(0), pl.col("c").fill_null(0))
    per_acct = lines.group_by("account_id").agg(
        start_cents=pl.col("o").sum(),
        end_cents=pl.col("c").sum(),
        new_line_cents=pl.when(pl.col("o") == 0).then(pl.col("c")).otherwise(0).sum(),
    )
    first_paid = (
        s.filter(pl.col("mrr_cents") > 0)
        .group_by("account_id")
        .agg(first_paid=pl.col("start_date").min())
    )
    return per_acct.join(first_paid, on="account_id", how="full", coalesce=True).with_columns(
        pl.col("start_cents").fill_null(0),
        pl.col("end_cents").fill_null(0),
        pl.col("new_line_cents").fill_null(0),
    )


def _categorised(acc: pl.DataFrame, period: Period) -> pl.DataFrame:
    st, en = pl.col("start_cents"), pl.col("end_cents")
    category = (
        pl.when((st == 0) & (en > 0) & (pl.col("first_paid") >= period.start))
        .then(pl.lit("new"))
        .when((st == 0) & (en > 0))
        .then(pl.lit("reactivation"))
        .when((st > 0) & (en == 0))
        .then(pl.lit("churn"))
        .when((st > 0) & (en > st))
        .then(pl.lit("expansion"))
        .when((st > 0) & (en < st))
        .then(pl.lit("contraction"))
        .otherwise(pl.lit("flat"))
    )
    acc = acc.with_columns(category=category)
    expansion = pl.col("category") == "expansion"
    cross = (
        pl.when(expansion).then(pl.min_horizontal("change_cents", "new_line_cents")).otherwise(0)
    )
    acc = acc.with_columns(cross_sell_cents=cross).with_columns(
        upsell_cents=pl.when(expansion)
        .then(pl.col("change_cents") - pl.col("cross_sell_cents"))
        .otherwise(0)
    )
    return acc.select(
        "account_id", "start_cents", "end_cents", "change_cents", "category",
        "cross_sell_cents", "upsell_cents", "first_paid", "new_logo",
    ).sort("account_id")  # fmt: skip


def bridge(mov: pl.DataFrame) -> dict[str, float | int]:
    """Sum a :func:`movements` frame into the bridge: amounts (dollars) and counts.

    ``mrr_start + new + reactivation + expansion - contraction - churn == mrr_end``
    holds exactly (integer cents).
    """
    cat = pl.col("category")
    ch = pl.col("change_cents")
    row = mov.select(
        mrr_start=pl.col("start_cents").sum(),
        mrr_end=pl.col("end_cents").sum(),
        customers_start=(pl.col("start_cents") > 0).sum(),
        customers_end=(pl.col("end_cents") > 0).sum(),
        new_mrr=pl.col("end_cents").filter(cat == "new").sum(),
        reactivation_mrr=pl.col("end_cents").filter(cat == "reactivation").sum(),
        expansion_mrr=ch.filter(cat == "expansion").sum(),
        contraction_mrr=(-ch).filter(cat == "contraction").sum(),
        churn_mrr=pl.col("start_cents").filter(cat == "churn").sum(),
        cross_sell_mrr=pl.col("cross_sell_cents").sum(),
        upsell_mrr=pl.col("upsell_cents").sum(),
        new_count=(cat == "new").sum(),
        reactivation_count=(cat == "reactivation").sum(),
        expansion_count=(cat == "expansion").sum(),
        contraction_count=(cat == "contraction").sum(),
        churn_count=(cat == "churn").sum(),
        new_logos=pl.col("new_logo").sum(),
    ).row(0, named=True)
    out: dict[str, float | int] = {}
    for k, v in row.items():
        v = int(v or 0)
        out[k] = v / 100 if k.endswith("_mrr") or k.startswith("mrr_") else v
    out["arr_end"] = round(out["mrr_end"] * 12, 2)
    return out


def bridge_closes(b: dict) -> bool:
    """True when the bridge identity holds to the cent."""
    lhs = (
        round(b["mrr_start"] * 100)
        + round(b["new_mrr"] * 100)
        + round(b["reactivation_mrr"] * 100)
        + round(b["expansion_mrr"] * 100)
        - round(b["contraction_mrr"] * 100)
        - round(b["churn_mrr"] * 100)
    )
    return lhs == round(b["mrr_end"] * 100)


def waterfall(subs: pl.DataFrame, period: Period, ids: pl.Series | None = None) -> pl.DataFrame:
    """The monthly MRR bridge for every calendar month overlapping ``period``.

    One row per month (label, start, end and every bridge column); each
    month's ``mrr_start`` equals the previous month's ``mrr_end``.
    """
    s = _ids_filter(_prepared(subs), ids)
    months = period.months()  # (their boundaries' MRR summed in one pass, see _per_account)
    rows = []
    for m, acc in zip(months, _per_account(s, months), strict=True):
        b = bridge(_movements_from(acc, m))
        rows.append({"month": m.label, "month_start": m.start, **b})
    return pl.DataFrame(rows)


def as_period(p: Period | str) -> Period:
    return Period.parse(p)


__all__ = [
    "CATEGORIES",
    "FAR_FUTURE",
    "mrr_at",
    "mrr_cents_at",
    "total_mrr",
    "movements",
    "bridge",
    "bridge_closes",
    "waterfall",
]
