"""Customer health: a configurable score, the renewal litmus test, churn red flags, fit.

**The score** (METRICS.md "Health"; seed 001 "three signals", seed 004 #6).
Each account active (MRR > 0) on a date ``at`` gets five components, each
scored 1..10 over a lookback window of ``lookback_days`` (default 90) ending on
``at`` (both ends inclusive):

=========  ==============================================================  ===========
component  raw signal                                                      better when
=========  ==============================================================  ===========
frequency  active days (any user with an event) per 30 days the account    higher
           was paying inside the window (at least 30 days are counted)
breadth    licence utilisation: users active in the last 30 days of the    higher
           window / seats live on ``at``; accounts without seats: number
           of active users
depth      distinct features used in the window / features available       higher
           (features seen by any account up to ``at``)
support    tickets opened in the window per 30 paying days                 lower
           (option: per active user)
sentiment  the account's latest NPS / CSAT answers (up to 365 days old),   higher
           mapped linearly to 1..10 (NPS 0 -> 1, 10 -> 10; CSAT 1 -> 1,
           5 -> 10); neutral 5.5 when the account never answered
=========  ==============================================================  ===========

**Fixed thresholds, not percentiles.** A raw signal becomes a 1..10 score by
counting how many of nine ascending thresholds it reaches:
``score = 1 + #{t : raw >= t}`` (for support, where less is better,
``score = 1 + #{t : raw <= t}``). So "frequency 10" always means "active on
20 or more days a month" — a score means the same thing in every period and
segment, and moving from one score to the next has a plain reason. The
defaults are in :data:`DEFAULT_THRESHOLDS` (option ``health_thresholds``).
Seed 001's example holds: daily use scores 10, less than one active day a
month scores 1.

**Score 0..100.** The weighted mean of the components (weights normalised to
sum 1; default equal, option ``health_weights``) is mapped linearly from
1..10 onto 0..100: ``score = (mean - 1) / 9 * 100``. Bands: red below 40,
yellow from 40 to below 70, green from 70 (option ``health_bands``).
Seed 001's "three signals out of 30" is ``weights={"frequency": 1,
"breadth": 1, "depth": 1}``: the out-of-30 total is ``3 * mean``.

When the ``tickets`` or ``surveys`` table is missing, support or sentiment is
the neutral 5.5 for every account (see :func:`health_notes`).

**Renewal litmus test** (seed 004 #6): for every renewal decision in a period
— a contract term ending (an anniversary of a subscription with
``term_months``; renewed when the account still pays on that day) or a churn
(the account's MRR falls to 0) — the health score ``days_before`` days earlier
is set against the outcome: renewal rate per band and ROC AUC (:func:`roc_auc`).

All per-account aggregates are computed for many (account, date) pairs at once
with joins on the compact facts, so scoring all accounts at one date, or every
renewal date of a year, costs one pass.

**Stored signals.** When the facts persist (a folder source), the raw signals
of every account paying on each of the last 24 month ends and on the as-of
date (:func:`signal_dates`), and of every renewal decision of the history 90
days before it, are computed once per version of the data and stored with the
facts. Scores on those dates and the litmus of any period and segment are read
from them and scored with the options given (weights, bands, thresholds,
support basis); other dates, a lookback other than 90 days, another sentiment
horizon or ``active_events`` are computed as above. Both ways give equal frames.

>>> import polars as pl
>>> threshold_scores(pl.Series([0.5, 1, 19.9, 20, 30]), DEFAULT_THRESHOLDS["frequency"]).to_list()
[1, 2, 9, 10, 10]
>>> score_100(pl.Series([1.0, 5.5, 10.0])).to_list()
[0.0, 50.0, 100.0]
>>> roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
0.75
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, NamedTuple

import polars as pl

from csm_lib.facts import FAR_FUTURE, _month_end, build_subs, in_segment
from csm_lib.periods import Period
from csm_lib.registry import Option, Value, calculator, metric, ratio
from csm_lib.revenue import movements, mrr_cents_at

COMPONENTS = ("frequency", "breadth", "depth", "support", "sentiment")
BANDS = ("red", "yellow", "green")
NEUTRAL = 5.5
DEFAULT_WEIGHTS: dict[str, float] = dict.fromkeys(COMPONENTS, 1.0)
DEFAULT_BANDS: tuple[float, float] = (40.0, 70.0)
THREE_SIGNALS: dict[str, float] = {"frequency": 1.0, "breadth": 1.0, "depth": 1.0}
DEFAULT_THRESHOLDS: dict[str, tuple[float, ...]] = {
    # active days per 30 paying days: <1 -> 1 (seed 001), >= 20 (every working day) -> 10
    "frequency": (1, 2, 4, 6, 8, 11, 14, 17, 20),
    # active users / seats: 80% of seats used -> 9, 90% or more -> 10
    "breadth_seats": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    # active users, for accounts without seats
    "breadth_users": (1, 2, 3, 4, 6, 8, 12, 16, 25),
    # features used / features available
    "depth": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    # tickets per 30 paying days (lower is better): none -> 10, one a month -> 8, > 8 -> 1
    "support_per_month": (0, 0.5, 1, 1.5, 2, 3, 4, 6, 8),
    # tickets per active user per 30 paying days (lower is better)
    "support_per_user": (0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
}
SUPPORT_BASES = ("per_month", "per_user")
SENTIMENT_SURVEYS = ("nps", "csat")
_MAX_FLOAT_DIGITS = 4  # scores are rounded so that bands follow the displayed number


# ------------------------------------------------------------------ scoring rules
def _check_cuts(cuts: Sequence[float]) -> tuple[float, ...]:
    cuts = tuple(float(c) for c in cuts)
    if len(cuts) != 9 or any(b < a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise ValueError(f"thresholds must be 9 ascending numbers (scores 1..10), got {cuts}")
    return cuts


def _threshold_expr(x: pl.Expr, cuts: Sequence[float], higher_is_better: bool = True) -> pl.Expr:
    cuts = _check_cuts(cuts)
    hits = [(x >= c) if higher_is_better else (x <= c) for c in cuts]
    return 1 + pl.sum_horizontal([h.cast(pl.Int32) for h in hits])


def threshold_scores(
    values: pl.Series | Sequence[float], cuts: Sequence[float], higher_is_better: bool = True
) -> pl.Series:
    """Score raw values 1..10: ``1 + number of the 9 thresholds reached``.

    With ``higher_is_better=False`` a threshold is reached when the value is at
    or below it (support: fewer tickets score higher).

    >>> threshold_scores([0, 0.5, 1, 9], DEFAULT_THRESHOLDS["support_per_month"], False).to_list()
    [10, 9, 8, 1]
    """
    s = pl.Series("x", values, dtype=pl.Float64)
    return pl.select(_threshold_expr(pl.lit(s), cuts, higher_is_better)).to_series().rename("score")


def sentiment_points(survey: str, score: float) -> float:
    """Map one survey answer to 1..10 (NPS 0..10 and CSAT 1..5, linearly).

    >>> sentiment_points("nps", 0), sentiment_points("nps", 10), sentiment_points("csat", 3)
    (1.0, 10.0, 5.5)
    """
    return float(pl.select(_sentiment_expr(pl.lit(survey), pl.lit(float(score)))).item())


def _sentiment_expr(survey: pl.Expr, score: pl.Expr) -> pl.Expr:
    return (
        pl.when(survey == "nps")
        .then(1 + 0.9 * score.cast(pl.Float64))
        .otherwise(1 + 9 * (score.cast(pl.Float64) - 1) / 4)
        .clip(1.0, 10.0)
    )


def normalise_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Weights per component, summing to 1 (missing components weigh 0).

    >>> normalise_weights({"frequency": 2, "breadth": 1, "depth": 1})["frequency"]
    0.5
    >>> normalise_weights()["support"]
    0.2
    """
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = set(w) - set(COMPONENTS)
    if unknown:
        raise ValueError(
            f"health_weights: unknown component(s) {sorted(unknown)}; use {COMPONENTS}"
        )
    if any(float(v) < 0 for v in w.values()):
        raise ValueError("health_weights: weights must be >= 0")
    total = sum(float(v) for v in w.values())
    if total <= 0:
        raise ValueError("health_weights: at least one weight must be > 0")
    return {c: float(w.get(c, 0.0)) / total for c in COMPONENTS}


def _check_bands(bands: Sequence[float] | None) -> tuple[float, float]:
    lo, hi = DEFAULT_BANDS if bands is None else tuple(float(b) for b in bands)
    if not 0 <= lo <= hi <= 100:
        raise ValueError(
            f"health_bands must be (red_below, green_from) with 0 <= lo <= hi <= 100, got {bands}"
        )
    return lo, hi


def score_100(mean_1_10: pl.Series) -> pl.Series:
    """Map a weighted mean on 1..10 linearly to 0..100 (rounded to 4 decimals)."""
    return ((mean_1_10 - 1) / 9 * 100).round(_MAX_FLOAT_DIGITS)


def _band_expr(score: pl.Expr, bands: tuple[float, float]) -> pl.Expr:
    lo, hi = bands
    return (
        pl.when(score < lo)
        .then(pl.lit("red"))
        .when(score >= hi)
        .then(pl.lit("green"))
        .otherwise(pl.lit("yellow"))
    )


def band_of(scores: pl.Series | Sequence[float], bands: Sequence[float] | None = None) -> pl.Series:
    """Red below ``bands[0]``, green from ``bands[1]``, yellow in between.

    >>> band_of([39.9, 40, 69.99, 70]).to_list()
    ['red', 'yellow', 'yellow', 'green']
    """
    s = pl.Series("score", scores, dtype=pl.Float64)
    return pl.select(_band_expr(pl.lit(s), _check_bands(bands))).to_series().rename("band")


def _thresholds(overrides: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    out = dict(DEFAULT_THRESHOLDS)
    for k, v in (overrides or {}).items():
        if k not in out:
            raise ValueError(f"health_thresholds: unknown key {k!r}; use {sorted(out)}")
        out[k] = _check_cuts(v)
    return out


# ------------------------------------------------------------------ cached inputs
def _memo(facts, key: tuple, fn):
    return facts.memo(("health",) + key, fn) if hasattr(facts, "memo") else fn()


def _feature_first_seen(facts) -> pl.Series:
    """Sorted first day each feature was used by anyone (the catalogue over time)."""
    return facts.feature_first["day"]


def _event_names(value: Sequence[str] | str | None) -> list[str] | None:
    """The ``active_events`` option: a list or a comma-separated string; None = every event."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _by_account(facts, name: str, build) -> pl.DataFrame:
    """A derived frame sorted by account_id (flagged: polars groups it without hashing),
    persisted with the facts when they are cached."""
    frame = facts.derived(name, build) if hasattr(facts, "derived") else build()
    return frame.with_columns(pl.col("account_id").set_sorted())


def _tickets(facts) -> pl.DataFrame | None:
    """Tickets as (account_id, day opened), sorted by account."""
    if not facts.has("tickets"):
        return None
    return _by_account(
        facts,
        "ticket_days",
        lambda: (
            facts.table("tickets")
            .select("account_id", day=pl.col("opened_at").dt.date())
            .sort("account_id", "day")
            .collect()
        ),
    )


def _answers(facts) -> pl.DataFrame | None:
    """Sentiment answers: account_id, day, survey, score (raw) and points (1..10)."""
    if not facts.has("surveys"):
        return None
    return _by_account(
        facts,
        "answers",
        lambda: (
            facts.table("surveys")
            .filter(pl.col("survey").is_in(SENTIMENT_SURVEYS) & pl.col("score").is_not_null())
            .select(
                "account_id",
                "survey",
                day=pl.col("responded_at"),
                score=pl.col("score").cast(pl.Float64),
                points=_sentiment_expr(pl.col("survey"), pl.col("score")),
            )
            .sort("account_id", "day", "survey", "score")
            .collect()
        ),
    )


def mrr_timeline(subs: pl.DataFrame) -> pl.DataFrame:
    """Each account's MRR (cents) after every day it changes: account_id, date, before, after.

    >>> import polars as pl
    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a", "a"], "start_date": [date(2024, 1, 1), date(2024, 3, 1)],
    ...     "end_date": [date(2024, 3, 1), date(2024, 6, 1)], "mrr_cents": [100, 150]})
    >>> mrr_timeline(s).select("date", "before", "after").rows()
    [(datetime.date(2024, 1, 1), 0, 100), (datetime.date(2024, 3, 1), 100, 150), (datetime.date(2024, 6, 1), 150, 0)]
    """
    starts = subs.select("account_id", date=pl.col("start_date"), d=pl.col("mrr_cents"))
    ends = subs.filter(pl.col("end_date") < FAR_FUTURE).select(
        "account_id", date=pl.col("end_date"), d=-pl.col("mrr_cents")
    )
    return (
        pl.concat([starts, ends])
        .group_by("account_id", "date")
        .agg(pl.col("d").sum())
        .sort("account_id", "date")
        .with_columns(after=pl.col("d").cum_sum().over("account_id"))
        .with_columns(before=pl.col("after") - pl.col("d"))
        .select("account_id", "date", "before", "after")
    )


def _timeline(facts) -> pl.DataFrame:
    """:func:`mrr_timeline` of all subscriptions (sorted by account_id, date)."""
    return _by_account(facts, "mrr_timeline", lambda: mrr_timeline(facts.subs))


def _mrr_on(timeline: pl.DataFrame, pairs: pl.DataFrame, col: str = "at") -> pl.Series:
    """Account MRR in cents on the date in ``col`` for every (account_id, col) row of pairs.

    (A join on the account and the latest change on or before the date: an account
    has a handful of changes, so this is cheaper than an as-of join, which would sort
    the whole timeline by date on every call.)
    """
    left = pairs.select("account_id", pl.col(col).alias("_d")).with_row_index("_i")
    last = (
        left.join(timeline.select("account_id", "date", "after"), on="account_id")
        .filter(pl.col("date") <= pl.col("_d"))
        .group_by("_i")
        .agg(pl.col("after").sort_by("date").last())
    )
    j = left.select("_i").join(last, on="_i", how="left").sort("_i")
    return j["after"].fill_null(0).rename("mrr_cents")


def _n_accounts(facts) -> int:
    return facts.accounts.height if hasattr(facts, "accounts") else 0


# ------------------------------------------------------------------ the engine
def _raw_signals(
    facts,
    pairs: pl.DataFrame,
    lookback_days: int,
    sentiment_days: int,
    active_events: Sequence[str] | str | None = None,
    distinct: bool = False,
) -> pl.DataFrame:
    """Raw signals for every (account_id, at) pair, in one parallel pass over the facts.

    Each fact is sliced to the dates the pairs need (the facts are sorted by
    day), joined to the pairs by account and filtered to each pair's window,
    then aggregated per pair; the lazy queries run together (``collect_all``).
    Other columns of ``pairs`` are carried along; ``distinct`` says the pairs are
    already distinct (they are made so otherwise). Rows keep the pairs' order.
    """
    if lookback_days < 1:
        raise ValueError("lookback_days must be >= 1")
    L = int(lookback_days)
    B = min(30, L)
    keys = ["account_id", "at"]
    carry = [c for c in pairs.columns if c not in ("account_id", "at")]
    p = pairs.select("account_id", pl.col("at").cast(pl.Date), *carry)
    if not distinct:
        p = p.unique(["account_id", "at"], maintain_order=True)
    p = p.with_columns(
        win_start=pl.col("at") - timedelta(days=L - 1),
        b_start=pl.col("at") - timedelta(days=B - 1),
    )
    if p.height == 0:
        return p
    lo, hi = p["win_start"].min(), p["at"].max()
    ids = p["account_id"].unique().implode()
    win = p.select("account_id", "at", "win_start", "b_start").lazy()
    in_window = pl.col("day").is_between(pl.col("win_start"), pl.col("at"))
    # One date for every pair (a score table, not a back-test): every pair's window is
    # [lo, hi], so no join with the pairs is needed and the account-sorted facts are
    # grouped by account_id alone (polars' sorted group-by, no hashing).
    one = p["at"].n_unique() == 1
    at_one = pl.lit(hi, pl.Date)
    # a back-test (several dates: renewals, red flags) that scores a few accounts over a
    # long range reads just their rows instead of holding every account's quarters; when
    # they are a large share of the accounts, the quarters' spans are cheaper (and shared)
    few = None if one else p["account_id"].unique()
    if few is not None and few.len() * 4 > _n_accounts(facts):
        few = None

    def joined(lf: pl.LazyFrame) -> pl.LazyFrame:
        if one:
            return lf.with_columns(
                at=at_one, win_start=pl.lit(lo, pl.Date), b_start=p["b_start"][0]
            )
        return lf.join(win, on="account_id")

    def mine(lf: pl.LazyFrame) -> pl.LazyFrame:
        # the pairs' accounts only; one date: the results are left-joined to the pairs,
        # which drops other accounts, so the (string hashing) filter is skipped
        return lf if one else lf.filter(pl.col("account_id").is_in(ids))

    def sliced(frame: pl.DataFrame, *cols: str) -> pl.LazyFrame:
        lf = mine(
            frame.lazy().filter(pl.col("day").is_between(lo, hi))  # (a no-op on a window)
        ).select("account_id", "day", *cols)
        return joined(lf) if one else joined(lf).filter(in_window)

    jkeys = ["account_id"] if one else keys  # what the per-pair results are keyed by

    def per_pair(lf: pl.LazyFrame, **aggs: pl.Expr) -> pl.LazyFrame:
        return lf.group_by(jkeys).agg(**aggs)

    queries: dict[str, pl.LazyFrame] = {}
    # usage: active days in the window, active users in its last B days
    queries["use"] = per_pair(
        sliced(
            facts.window("user_days", lo, hi, _event_names(active_events), accounts=few),
            "user_id",
        ),
        active_days=pl.col("day").n_unique().cast(pl.Int64),
        active_users=pl.col("user_id")
        .filter(pl.col("day") >= pl.col("b_start"))
        .n_unique()
        .cast(pl.Int64),
    )
    # depth: distinct features used in the window
    queries["feats"] = per_pair(
        sliced(facts.window("feature_days", lo, hi, accounts=few), "feature"),
        features_used=pl.col("feature").n_unique().cast(pl.Int64),
    )
    # seats live on `at`
    subs = facts.subs
    if {"unit", "quantity"} <= set(subs.columns):
        queries["seats"] = per_pair(
            joined(
                mine(subs.lazy().filter(pl.col("unit") == "seat")).select(
                    "account_id", "start_date", "end_date", "quantity"
                )
            ).filter((pl.col("start_date") <= pl.col("at")) & (pl.col("end_date") > pl.col("at"))),
            seats=pl.col("quantity").cast(pl.Int64).sum(),
        )
    # support: tickets opened in the window
    tk = _tickets(facts)
    if tk is not None:
        queries["tickets"] = per_pair(sliced(tk), tickets=pl.len().cast(pl.Int64))
    # sentiment: the answers of the latest day with answers, within sentiment_days
    ans = _answers(facts)
    if ans is not None:
        S = timedelta(days=int(sentiment_days))
        first = p["at"].min() - S
        recent = joined(
            mine(ans.lazy().filter((pl.col("day") > first) & (pl.col("day") <= hi)))
        ).filter((pl.col("day") <= pl.col("at")) & (pl.col("day") > pl.col("at") - S))
        queries["sentiment"] = per_pair(  # the answers of each pair's latest day with answers
            recent.filter(pl.col("day") == pl.col("day").max().over(jkeys)),
            sentiment_points=pl.col("points").mean(),
            sentiment_day=pl.col("day").first(),
            nps_latest=pl.col("score").filter(pl.col("survey") == "nps").mean(),
        )
    names = list(queries)
    done = dict(zip(names, pl.collect_all([queries[n] for n in names]), strict=True))

    # exposure: paying days inside the window (at least B, at most L)
    fp = facts.first_paid.select("account_id", "first_paid")
    since = pl.max_horizontal("win_start", pl.col("first_paid").fill_null(pl.col("win_start")))
    out = p.join(fp, on="account_id", how="left", maintain_order="left").with_columns(
        exposure=((pl.col("at") - since).dt.total_days() + 1).clip(B, L).cast(pl.Float64),
        features_available=pl.Series(
            _feature_first_seen(facts).search_sorted(p["at"], side="right"), dtype=pl.Int64
        ),
    )
    for name in ("use", "feats", "seats"):
        if name in done:
            out = out.join(done[name], on=jkeys, how="left", maintain_order="left")
    out = out.with_columns(
        [
            (pl.col(c).fill_null(0) if c in out.columns else pl.lit(0, pl.Int64)).alias(c)
            for c in ("active_days", "active_users", "seats", "features_used")
        ]
    )
    if "tickets" in done:
        out = out.join(done["tickets"], on=jkeys, how="left", maintain_order="left").with_columns(
            pl.col("tickets").fill_null(0)
        )
    else:
        out = out.with_columns(tickets=pl.lit(None, pl.Int64))
    if "sentiment" in done:
        out = out.join(done["sentiment"], on=jkeys, how="left", maintain_order="left")
    else:
        out = out.with_columns(
            sentiment_points=pl.lit(None, pl.Float64),
            sentiment_day=pl.lit(None, pl.Date),
            nps_latest=pl.lit(None, pl.Float64),
        )
    return out.drop("win_start", "b_start")


def _score_signals(
    raw: pl.DataFrame,
    weights: Mapping[str, float] | None,
    bands: Sequence[float] | None,
    thresholds: Mapping[str, Sequence[float]] | None,
    support_basis: str,
) -> pl.DataFrame:
    if support_basis not in SUPPORT_BASES:
        raise ValueError(
            f"health_support_basis must be one of {SUPPORT_BASES}, got {support_basis!r}"
        )
    th = _thresholds(thresholds)
    w = normalise_weights(weights)
    bd = _check_bands(bands)
    # one division per rate (integer numerators and denominators), so a value that
    # sits exactly on a threshold (20 active days in 30) is not lost to rounding
    exposure = pl.col("exposure")
    freq_raw = pl.col("active_days") * 30 / exposure
    util = pl.col("active_users") / pl.col("seats")
    support_raw = (
        pl.col("tickets") * 30 / exposure
        if support_basis == "per_month"
        else pl.col("tickets") * 30 / (exposure * pl.max_horizontal(pl.col("active_users"), 1))
    )
    out = raw.with_columns(
        frequency=_threshold_expr(freq_raw, th["frequency"]).cast(pl.Float64),
        breadth=pl.when(pl.col("seats") > 0)
        .then(_threshold_expr(util, th["breadth_seats"]))
        .otherwise(_threshold_expr(pl.col("active_users"), th["breadth_users"]))
        .cast(pl.Float64),
        depth=pl.when(pl.col("features_available") > 0)
        .then(
            _threshold_expr(
                pl.col("features_used") / pl.col("features_available"), th["depth"]
            ).cast(pl.Float64)
        )
        .otherwise(NEUTRAL),
        support=pl.when(pl.col("tickets").is_not_null())
        .then(_threshold_expr(support_raw, th[f"support_{support_basis}"], False).cast(pl.Float64))
        .otherwise(NEUTRAL),
        sentiment=pl.col("sentiment_points").fill_null(NEUTRAL).round(_MAX_FLOAT_DIGITS),
    )
    mean = pl.sum_horizontal([pl.col(c) * w[c] for c in COMPONENTS])
    out = out.with_columns(score=((mean - 1) / 9 * 100).round(_MAX_FLOAT_DIGITS).clip(0, 100))
    return out.with_columns(band=_band_expr(pl.col("score"), bd))


def _score_pairs(
    facts, pairs: pl.DataFrame, opts: dict[str, Any], distinct: bool = False
) -> pl.DataFrame:
    raw = _raw_signals(
        facts,
        pairs,
        opts.get("lookback_days", 90),
        opts.get("sentiment_days", 365),
        opts.get("active_events"),
        distinct,
    )
    if raw.height == 0:
        return _empty_scores(detail=True).with_columns(at=pl.lit(None, pl.Date))
    return _score_signals(
        raw,
        opts.get("weights"),
        opts.get("bands"),
        opts.get("thresholds"),
        opts.get("support_basis", "per_month"),
    )


_OUT = ["account_id", "mrr", *COMPONENTS, "score", "band"]
_DETAIL = [
    "exposure", "active_days", "active_users", "seats", "features_used",
    "features_available", "tickets", "sentiment_points", "sentiment_day",
]  # fmt: skip


def _empty_scores(detail: bool = False) -> pl.DataFrame:
    schema = {"account_id": pl.String, "mrr": pl.Float64}
    schema.update(dict.fromkeys(COMPONENTS, pl.Float64))
    schema.update(score=pl.Float64, band=pl.String)
    if detail:
        schema.update(
            exposure=pl.Float64, active_days=pl.Int64, active_users=pl.Int64, seats=pl.Int64,
            features_used=pl.Int64, features_available=pl.Int64, tickets=pl.Int64,
            sentiment_points=pl.Float64, sentiment_day=pl.Date,
        )  # fmt: skip
    return pl.DataFrame(schema=schema)


# ------------------------------------------------------------------ stored signals
SIGNAL_MONTHS = 24  # month ends whose raw signals persist with the facts (eight quarters)


def signal_dates(as_of: date, months: int = SIGNAL_MONTHS) -> list[date]:
    """The dates whose health signals persist: the last ``months`` month ends up to
    ``as_of``, and ``as_of`` (the closing date of every month, quarter and year, and of
    the current partial period).

    >>> [d.isoformat() for d in signal_dates(date(2025, 2, 14), 2)]
    ['2024-12-31', '2025-01-31', '2025-02-14']
    """
    d = _month_end(as_of)
    if d > as_of:
        d = as_of.replace(day=1) - timedelta(days=1)
    ends = []
    while len(ends) < months:
        ends.append(d)
        d = d.replace(day=1) - timedelta(days=1)
    return sorted({as_of, *ends})


def _default_signals(lookback_days: int, sentiment_days: int, active_events) -> bool:
    """Whether the options are the defaults the stored signals were computed with."""
    return (
        int(lookback_days) == 90 and int(sentiment_days) == 365 and not _event_names(active_events)
    )


def _build_signals(facts) -> pl.DataFrame:
    """Raw signals of the accounts paying on each :func:`signal_dates` date (by date)."""
    parts = []
    for d in signal_dates(facts.as_of):
        active = mrr_cents_at(facts.subs, d).filter(pl.col("cents") > 0)
        if active.height:
            pairs = active.select("account_id", at=pl.lit(d, pl.Date), mrr=pl.col("cents") / 100)
            parts.append(_raw_signals(facts, pairs, 90, 365, None, distinct=True))
    if not parts:
        return pl.DataFrame(schema={"account_id": pl.String, "at": pl.Date})
    return pl.concat(parts, how="vertical_relaxed")


def _stored_signals(
    facts, at: date, lookback_days: int, sentiment_days: int, active_events
) -> pl.DataFrame | None:
    """The raw signals of every account paying on ``at`` from the stored table (None when
    the facts do not persist, the options are not the defaults or ``at`` is not a stored
    date: the caller computes them). The first call builds the table, once per version
    of the data: a period or segment change, and the trend charts, then only read it."""
    if not getattr(facts, "persistent", False):
        return None
    if not _default_signals(lookback_days, sentiment_days, active_events):
        return None
    if at not in signal_dates(facts.as_of):
        return None
    lf = facts.derived_scan(f"health_signals_{facts.as_of}", lambda: _build_signals(facts))
    return lf.filter(pl.col("at") == at).collect()


def health_scores(
    facts,
    at: date,
    ids: pl.Series | None = None,
    weights: Mapping[str, float] | None = None,
    lookback_days: int = 90,
    bands: Sequence[float] | None = None,
    thresholds: Mapping[str, Sequence[float]] | None = None,
    support_basis: str = "per_month",
    sentiment_days: int = 365,
    detail: bool = False,
    active_events: Sequence[str] | str | None = None,
) -> pl.DataFrame:
    """Health of every account active (MRR > 0) on ``at``, one row per account.

    Columns: account_id, mrr, frequency, breadth, depth, support, sentiment
    (each 1..10), score (0..100), band (red | yellow | green). ``active_events``
    (event names, as the adoption option) limits what makes a user active for
    frequency and breadth. With ``detail=True`` also the raw signals
    (active_days, active_users, seats, features_used, features_available,
    tickets, sentiment_points, exposure).

    >>> from datetime import datetime
    >>> from csm_lib.data import Workbook
    >>> subs = pl.DataFrame({"account_id": ["a"], "start_date": [date(2024, 1, 1)],
    ...     "end_date": [None], "mrr": [100.0]}, schema_overrides={"end_date": pl.Date})
    >>> ev = pl.DataFrame({"event_at": [datetime(2024, 3, d, 9) for d in range(1, 31)],
    ...     "account_id": "a", "user_id": "u1", "event": "login", "feature": "reports"})
    >>> wb = Workbook({"accounts": pl.LazyFrame({"account_id": ["a"]}),
    ...     "subscriptions": subs.lazy(), "events": ev.lazy()}, date(2024, 3, 31))
    >>> health_scores(wb.facts, date(2024, 3, 31)).select(*COMPONENTS, "score", "band").row(0)
    (6.0, 2.0, 10.0, 5.5, 5.5, 53.3333, 'yellow')

    (30 active days in 90 = 10 a month -> 6; one user, no seats -> 2; the only
    feature used -> 10; no tickets or surveys -> neutral 5.5.)
    """
    raw = _stored_signals(facts, at, lookback_days, sentiment_days, active_events)
    if raw is not None:
        raw = in_segment(raw, ids)
        if raw.height == 0:
            return _empty_scores(detail)
        sc = _score_signals(raw, weights, bands, thresholds, support_basis)
        return sc.select(_OUT + (_DETAIL if detail else []))
    active = mrr_cents_at(facts.subs, at, ids).filter(pl.col("cents") > 0)
    if active.height == 0:
        return _empty_scores(detail)
    # one row per account (a group-by), sorted by account: the scores keep that order
    pairs = active.select("account_id", at=pl.lit(at, pl.Date), mrr=pl.col("cents") / 100)
    opts = dict(
        weights=weights, lookback_days=lookback_days, bands=bands, thresholds=thresholds,
        support_basis=support_basis, sentiment_days=sentiment_days, active_events=active_events,
    )  # fmt: skip
    sc = _score_pairs(facts, pairs, opts, distinct=True)
    return sc.select(_OUT + (_DETAIL if detail else []))


def health_scores_many(
    facts,
    dates: Sequence[date],
    ids: pl.Series | None = None,
    detail: bool = False,
    **opts: Any,
) -> dict[date, pl.DataFrame]:
    """:func:`health_scores` on several dates in one pass over the facts.

    Returns ``{date: frame}``, each frame equal to ``health_scores(facts, date, ids,
    detail=detail, **opts)`` (the signals of every (account, date) pair are
    gathered together, then split by date). Trend charts use it.

    >>> from datetime import datetime
    >>> from csm_lib.data import Workbook
    >>> subs = pl.DataFrame({"account_id": ["a"], "start_date": [date(2024, 1, 1)],
    ...     "end_date": [None], "mrr": [100.0]}, schema_overrides={"end_date": pl.Date})
    >>> ev = pl.DataFrame({"event_at": [datetime(2024, 3, d, 9) for d in range(1, 31)],
    ...     "account_id": "a", "user_id": "u1", "event": "login", "feature": "reports"})
    >>> wb = Workbook({"accounts": pl.LazyFrame({"account_id": ["a"]}),
    ...     "subscriptions": subs.lazy(), "events": ev.lazy()}, date(2024, 3, 31))
    >>> many = health_scores_many(wb.facts, [date(2023, 12, 31), date(2024, 3, 31)])
    >>> [many[d].height for d in sorted(many)]
    [0, 1]
    >>> many[date(2024, 3, 31)].equals(health_scores(wb.facts, date(2024, 3, 31)))
    True
    """
    dates = sorted(set(dates))
    o = {"lookback_days": 90, "sentiment_days": 365, "active_events": None} | opts
    if getattr(facts, "persistent", False) and _default_signals(
        o["lookback_days"], o["sentiment_days"], o["active_events"]
    ):
        stored = set(signal_dates(facts.as_of))
        if all(d in stored for d in dates):  # each date read from the stored signals
            return {d: health_scores(facts, d, ids, detail=detail, **opts) for d in dates}
    actives = {d: mrr_cents_at(facts.subs, d, ids).filter(pl.col("cents") > 0) for d in dates}
    out = {d: _empty_scores(detail) for d, a in actives.items() if a.height == 0}
    live = [d for d in dates if d not in out]
    if not live:
        return out
    pairs = pl.concat(
        [
            actives[d].select("account_id", at=pl.lit(d, pl.Date), mrr=pl.col("cents") / 100)
            for d in live
        ]
    )
    full = dict(
        weights=None, lookback_days=90, bands=None, thresholds=None,
        support_basis="per_month", sentiment_days=365, active_events=None,
    )  # fmt: skip
    full.update(opts)
    sc = _score_pairs(facts, pairs.select("account_id", "at"), full).join(
        pairs, on=["account_id", "at"]
    )
    cols = _OUT + (_DETAIL if detail else [])
    for (d,), part in sc.partition_by("at", as_dict=True, maintain_order=False).items():
        out[d] = part.select(cols).sort("account_id")
    for d in live:  # a date whose accounts all dropped out of the join (cannot happen)
        out.setdefault(d, _empty_scores(detail))
    return out


def _full_opts(**kw: Any) -> dict[str, Any]:
    """Score options with every default filled in the form the calculators use."""
    o: dict[str, Any] = dict(
        weights=None, lookback_days=90, bands=DEFAULT_BANDS, thresholds=None,
        support_basis="per_month", sentiment_days=365, active_events=None,
    )  # fmt: skip
    o.update({k: v for k, v in kw.items() if v is not None})
    o["weights"] = dict(o["weights"]) if o["weights"] else None
    o["lookback_days"] = int(o["lookback_days"])
    o["bands"] = tuple(o["bands"])
    o["thresholds"] = {k: tuple(v) for k, v in o["thresholds"].items()} if o["thresholds"] else None
    o["sentiment_days"] = int(o["sentiment_days"])
    o["active_events"] = _event_names(o["active_events"])
    return o


def _scores_key(at: date, segment_label: str, opts: dict[str, Any]) -> tuple:
    return ("health", "scores", at, segment_label, _key(opts))


def _litmus_key(period: Period, segment_label: str, days: int, opts: dict[str, Any]) -> tuple:
    return ("health", "litmus", period.start, period.end, segment_label, days, _key(opts))


def _cached(facts, key: tuple) -> bool:
    return key in getattr(facts, "_cache", {})


def memo_health_scores(
    facts, at: date, segment_label: str, ids: pl.Series | None, **opts: Any
) -> pl.DataFrame:
    """:func:`health_scores` memoised on the facts per (date, segment, options).

    The calculators and the notebooks' views share it, so a score table is
    computed once per widget change.
    """
    o = _full_opts(**opts)
    return _memo_any(
        facts, _scores_key(at, segment_label, o), lambda: health_scores(facts, at, ids, **o)
    )


def memo_renewal_litmus(
    facts, period: Period, segment_label: str, ids: pl.Series | None, days_before: int = 90,
    **opts: Any,
) -> Litmus:  # fmt: skip
    """:func:`renewal_litmus` memoised on the facts per (period, segment, days, options)."""
    o = _full_opts(**opts)
    days = int(days_before)
    return _memo_any(
        facts,
        _litmus_key(period, segment_label, days, o),
        lambda: renewal_litmus(facts, period, ids, days, **o),
    )


def _memo_any(facts, key: tuple, fn):
    return facts.memo(key, fn) if hasattr(facts, "memo") else fn()


def prefetch_health(
    facts,
    periods: Sequence[Period],
    segment_label: str,
    ids: pl.Series | None,
    scores: bool = True,
    litmus_days: int | None = None,
    **opts: Any,
) -> None:
    """Fill the memo of :func:`memo_health_scores` (closing dates) and, with
    ``litmus_days``, of :func:`memo_renewal_litmus` for several periods at once.

    One pass over the facts for all periods instead of one per period (trend
    charts); the memoised values equal the one-period ones.
    """
    if not hasattr(facts, "memo"):
        return
    o = _full_opts(**opts)
    if scores:
        dates = [p.closing_date for p in periods]
        todo = [
            d for d in dict.fromkeys(dates) if not _cached(facts, _scores_key(d, segment_label, o))
        ]
        if len(todo) > 1:
            for d, sc in health_scores_many(facts, todo, ids, **o).items():
                facts.memo(_scores_key(d, segment_label, o), lambda sc=sc: sc)
    if litmus_days is not None:
        days = int(litmus_days)
        todo_p = [
            p for p in dict.fromkeys(periods)
            if not _cached(facts, _litmus_key(p, segment_label, days, o))
        ]  # fmt: skip
        if len(todo_p) > 1:
            span = Period(min(p.start for p in todo_p), max(p.end for p in todo_p), "span", "range")
            ev = litmus_events(facts, span, ids, days, **o)
            for p in todo_p:
                part = ev.filter(pl.col("event_date").is_between(p.start, p.end))
                lit = litmus_summary(part)
                facts.memo(_litmus_key(p, segment_label, days, o), lambda lit=lit: lit)


def health_notes(facts) -> list[str]:
    """Why some components are neutral (missing optional tables)."""
    notes = []
    if not facts.has("tickets"):
        notes.append("support scored neutral 5.5: no tickets table")
    if not facts.has("surveys"):
        notes.append("sentiment scored neutral 5.5: no surveys table")
    if facts.has("events") and _feature_first_seen(facts).len() == 0:
        notes.append("depth scored neutral 5.5: no event has a feature")
    return notes


def health_distribution(
    facts,
    at: date,
    ids: pl.Series | None = None,
    weights: Mapping[str, float] | None = None,
    lookback_days: int = 90,
    bands: Sequence[float] | None = None,
    **kwargs: Any,
) -> pl.DataFrame:
    """Accounts and MRR per band on ``at`` (every band listed, red first).

    Columns: band, accounts, share (of accounts), mrr, mrr_share, score_mean.
    Shares are null when no account is active.
    """
    sc = health_scores(facts, at, ids, weights, lookback_days, bands, **kwargs)
    return summarise_bands(sc)


def summarise_bands(scores: pl.DataFrame) -> pl.DataFrame:
    """Band summary of a :func:`health_scores` frame.

    >>> import polars as pl
    >>> sc = pl.DataFrame({"band": ["red", "green", "green"], "mrr": [10.0, 20.0, 70.0],
    ...                    "score": [20.0, 80.0, 90.0]})
    >>> summarise_bands(sc).select("band", "accounts", "mrr_share").rows()
    [('red', 1, 0.1), ('yellow', 0, 0.0), ('green', 2, 0.9)]
    """
    n, total = scores.height, float(scores["mrr"].sum()) if scores.height else 0.0
    agg = scores.group_by("band").agg(
        accounts=pl.len().cast(pl.Int64),
        mrr=pl.col("mrr").sum(),
        score_mean=pl.col("score").mean(),
    )
    base = pl.DataFrame({"band": list(BANDS)})
    out = base.join(agg, on="band", how="left").with_columns(
        pl.col("accounts").fill_null(0), pl.col("mrr").fill_null(0.0).round(2)
    )
    return out.with_columns(
        share=(pl.col("accounts") / n) if n else pl.lit(None, pl.Float64),
        mrr_share=(pl.col("mrr") / total) if total else pl.lit(None, pl.Float64),
    ).select("band", "accounts", "share", "mrr", "mrr_share", "score_mean")


# ------------------------------------------------------------------ renewal litmus
def roc_auc(
    scores: Sequence[float] | pl.Series, outcomes: Sequence[int] | pl.Series
) -> float | None:
    """ROC AUC from ranks (Mann–Whitney U / (n_pos * n_neg)); ties count 1/2.

    The chance that a randomly chosen positive (renewed) outcome has a higher
    score than a randomly chosen negative one. None when either class is empty.

    >>> roc_auc([1, 2, 3], [0, 1, 1])
    1.0
    >>> roc_auc([5, 5], [0, 1])
    0.5
    >>> roc_auc([1, 2], [1, 1]) is None
    True
    """
    df = pl.DataFrame(
        {"s": pl.Series(scores, dtype=pl.Float64), "y": pl.Series(outcomes).cast(pl.Boolean)}
    ).drop_nulls()
    n_pos = int(df["y"].sum())
    n_neg = df.height - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = df["s"].rank(method="average")
    r_pos = float(ranks.filter(df["y"]).sum())
    u = r_pos - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def auc_interval(auc: float, n_pos: int, n_neg: int, z: float = 1.96) -> tuple[float, float]:
    """Approximate 95% interval of an AUC (Hanley & McNeil 1982 standard error), clipped to [0, 1].

    >>> lo, hi = auc_interval(0.893, 51, 58)
    >>> round((hi - lo) / 2 / 1.96, 4)  # standard error; the paper reports 0.032
    0.0325
    """
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (
        n_pos * n_neg
    )
    se = max(var, 0.0) ** 0.5
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


def renewal_events(
    subs: pl.DataFrame,
    period: Period | str,
    ids: pl.Series | None = None,
    timeline: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Renewal decisions falling in ``period``: one row per (account, date).

    - a **term end**: an anniversary (first start + k x term_months) of a
      subscription with a term, on or before its last row's end, while the
      account was paying the day before; renewed when the account still pays
      on that day (under any subscription);
    - a **churn**: a day on which the account's MRR falls from > 0 to 0
      (month-to-month accounts included); never renewed.

    Columns: account_id, event_date, kind (renewal | churn), renewed.
    Takes raw subscription rows or ``facts.subs``; ``timeline`` may pass their
    :func:`mrr_timeline` (of all of ``subs``; used when ``ids`` is None).

    >>> import polars as pl
    >>> subs = pl.DataFrame({"subscription_id": ["S1", "S2"], "account_id": ["a", "b"],
    ...     "start_date": [date(2023, 1, 1), date(2023, 2, 1)], "end_date": [None, date(2024, 2, 1)],
    ...     "term_months": [12, 12], "mrr": [100.0, 50.0]}, schema_overrides={"end_date": pl.Date})
    >>> renewal_events(subs, "2024-Q1").rows()
    [('a', datetime.date(2024, 1, 1), 'renewal', True), ('b', datetime.date(2024, 2, 1), 'churn', False)]
    """
    period = Period.parse(period)
    if "mrr_cents" not in subs.columns:
        subs = build_subs(subs.lazy()).collect()
    s = subs if ids is None else in_segment(subs, ids)
    tl = timeline if timeline is not None and ids is None else mrr_timeline(s)
    churn = tl.filter(
        (pl.col("before") > 0)
        & (pl.col("after") == 0)
        & pl.col("date").is_between(period.start, period.end)
    ).select("account_id", event_date=pl.col("date"), kind=pl.lit("churn"))
    parts = [churn]
    if "term_months" in s.columns and "subscription_id" in s.columns:
        sub = (
            s.sort("start_date")
            .group_by("subscription_id")
            .agg(
                account_id=pl.col("account_id").first(),
                first_start=pl.col("start_date").first(),
                last_end=pl.col("end_date").max(),
                term=pl.col("term_months").drop_nulls().last(),
            )
            .filter(pl.col("term") > 0)
        )
        if sub.height:
            horizon = pl.min_horizontal(pl.col("last_end"), pl.lit(period.end))
            months = (horizon.dt.year() - pl.col("first_start").dt.year()) * 12 + (
                horizon.dt.month() - pl.col("first_start").dt.month()
            )
            ann = (
                sub.with_columns(k=pl.int_ranges(1, (months // pl.col("term")).clip(0) + 2))
                .explode("k")
                .drop_nulls("k")
                .with_columns(
                    event_date=pl.col("first_start").dt.offset_by(
                        pl.format("{}mo", pl.col("k") * pl.col("term"))
                    )
                )
                .filter(
                    pl.col("event_date").is_between(period.start, period.end)
                    & (pl.col("event_date") <= pl.col("last_end"))
                )
                .select("account_id", "event_date", kind=pl.lit("renewal"))
            )
            parts.append(ann)
    ev = (
        pl.concat(parts)
        .group_by("account_id", "event_date")
        .agg(
            kind=pl.when((pl.col("kind") == "churn").any())
            .then(pl.lit("churn"))
            .otherwise(pl.lit("renewal"))
        )
    )
    if ev.height == 0:
        return pl.DataFrame(
            schema={
                "account_id": pl.String,
                "event_date": pl.Date,
                "kind": pl.String,
                "renewed": pl.Boolean,
            }
        )
    ev = ev.with_columns(
        paid_before=_mrr_on(tl, ev.with_columns(d=pl.col("event_date") - timedelta(days=1)), "d"),
        paid_on=_mrr_on(tl, ev, "event_date"),
    )
    return (
        ev.filter(pl.col("paid_before") > 0)
        .with_columns(renewed=(pl.col("kind") == "renewal") & (pl.col("paid_on") > 0))
        .select("account_id", "event_date", "kind", "renewed")
        .sort("event_date", "account_id")
    )


def _renewals(facts) -> pl.DataFrame:
    """:func:`renewal_events` of the whole history up to the as-of date (a derived fact):
    a period's decisions are its rows (each decision depends only on its account's rows)."""

    def build() -> pl.DataFrame:
        subs = facts.subs
        if subs.height == 0:
            return renewal_events(subs, Period(facts.as_of, facts.as_of, "none", "range"))
        first = subs["start_date"].min()
        whole = Period(min(first, facts.as_of), facts.as_of, "history", "range")
        return renewal_events(subs, whole, None, _timeline(facts))

    if not hasattr(facts, "derived"):
        return build()
    return facts.derived(f"renewal_events_{facts.as_of}", build)


def _decisions(facts, days_before: int, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Renewal decisions (``rows``, default the history's) scored ``days_before`` days
    earlier (``at``): those whose account was paying on ``at`` (the others have nothing
    to score)."""
    ev = (_renewals(facts) if rows is None else rows).with_columns(
        at=pl.col("event_date") - timedelta(days=int(days_before))
    )
    return ev.filter(_mrr_on(_timeline(facts), ev) > 0) if ev.height else ev


def _build_litmus(facts, days_before: int) -> pl.DataFrame:
    """:func:`_decisions` with the raw signals on ``at`` (default options), computed a
    quarter of decisions at a time (the pairs of one quarter share their fact months)."""
    ev = _decisions(facts, days_before)
    if ev.height == 0:
        return ev
    q = pl.col("event_date").dt.truncate("1q")
    parts = []
    for part in ev.with_columns(_q=q).partition_by("_q", maintain_order=True, include_key=False):
        raw = _raw_signals(facts, part.select("account_id", "at"), 90, 365, None)
        parts.append(part.join(raw, on=["account_id", "at"], how="left", maintain_order="left"))
    return pl.concat(parts, how="vertical_relaxed")


def _stored_litmus(
    facts, days_before: int, lookback_days: int, sentiment_days: int, active_events
) -> pl.DataFrame | None:
    """Every renewal decision of the history with its raw signals, stored with the facts
    (None unless the facts persist and the options are the defaults, 90 days before)."""
    if not getattr(facts, "persistent", False) or int(days_before) != 90:
        return None
    if not _default_signals(lookback_days, sentiment_days, active_events):
        return None
    return facts.derived(f"litmus_signals_{facts.as_of}", lambda: _build_litmus(facts, 90))


def litmus_events(
    facts,
    period: Period | str,
    ids: pl.Series | None = None,
    days_before: int = 90,
    weights: Mapping[str, float] | None = None,
    **kwargs: Any,
) -> pl.DataFrame:
    """Every renewal decision of ``period`` with the account's health ``days_before`` earlier.

    Decisions after the data's as-of date are not observed yet and decisions
    whose account was not paying on that earlier day have nothing to score:
    both are left out. Columns: account_id, event_date, kind, renewed, at,
    frequency .. sentiment, score, band.
    """
    period = Period.parse(period)
    in_period = pl.col("event_date").is_between(period.start, min(period.end, facts.as_of))
    cols = ["account_id", "event_date", "kind", "renewed", "at", *COMPONENTS, "score", "band"]
    o = {"lookback_days": 90, "sentiment_days": 365, "active_events": None} | kwargs
    stored = _stored_litmus(
        facts, days_before, o["lookback_days"], o["sentiment_days"], o["active_events"]
    )
    if stored is None:
        ev = _decisions(facts, days_before, in_segment(_renewals(facts), ids).filter(in_period))
    else:
        ev = in_segment(stored, ids).filter(in_period)
    if ev.height == 0:
        return ev.with_columns(
            [pl.lit(None, pl.Float64).alias(c) for c in (*COMPONENTS, "score")],
            band=pl.lit(None, pl.String),
        ).select(cols)
    if stored is not None:  # the raw signals are stored: score them
        sc = _score_signals(
            ev, weights, o.get("bands"), o.get("thresholds"), o.get("support_basis", "per_month")
        )
        return sc.select(cols)
    opts = dict(kwargs, weights=weights)
    sc = _score_pairs(facts, ev.select("account_id", "at"), opts)
    return ev.join(sc, on=["account_id", "at"], how="left").select(cols)


class Litmus(NamedTuple):
    """Result of :func:`renewal_litmus`: renewal rate per band and the AUC (a Value with n)."""

    by_band: pl.DataFrame
    auc: Value


def litmus_summary(events: pl.DataFrame) -> Litmus:
    """Summarise :func:`litmus_events`: per band (events, accounts, renewed, rate) and AUC."""
    agg = events.group_by("band").agg(
        accounts=pl.col("account_id").n_unique().cast(pl.Int64),
        events=pl.len().cast(pl.Int64),
        renewed=pl.col("renewed").sum().cast(pl.Int64),
    )
    by_band = (
        pl.DataFrame({"band": list(BANDS)})
        .join(agg, on="band", how="left")
        .with_columns(pl.col("accounts", "events", "renewed").fill_null(0))
        .with_columns(
            renewal_rate=pl.when(pl.col("events") > 0).then(pl.col("renewed") / pl.col("events"))
        )
    )
    n = events.height
    auc = roc_auc(events["score"], events["renewed"]) if n else None
    if auc is None:
        why = "no renewal decisions in the period" if n == 0 else "needs both renewals and churns"
        return Litmus(by_band, Value.null(why, n=n))
    n_pos = int(events["renewed"].sum())
    low, high = auc_interval(auc, n_pos, n - n_pos)
    note = f"few renewal decisions (n = {n} < 30)" if n < 30 else ""
    return Litmus(by_band, Value(auc, n=n, low=low, high=high, note=note))


def litmus_components(events: pl.DataFrame) -> pl.DataFrame:
    """ROC AUC of each component and of the score on :func:`litmus_events` output.

    Shows which signals actually predict renewal (the health lab's first
    question before changing weights). Columns: signal, auc (null without
    both outcomes), n.
    """
    rows = [
        {"signal": c, "auc": roc_auc(events[c], events["renewed"]) if events.height else None}
        for c in (*COMPONENTS, "score")
    ]
    return pl.DataFrame(rows, schema={"signal": pl.String, "auc": pl.Float64}).with_columns(
        n=pl.lit(events.height, pl.Int64)
    )


def renewal_litmus(
    facts,
    period: Period | str,
    ids: pl.Series | None = None,
    days_before: int = 90,
    weights: Mapping[str, float] | None = None,
    **kwargs: Any,
) -> Litmus:
    """The renewal litmus test (seed 004 #6): does health predict renewal?

    Returns ``(by_band, auc)``: by_band has band, accounts, events, renewed,
    renewal_rate (renewed / events, null when a band has none); auc is a
    :class:`~csm_lib.registry.Value` (n = decisions scored; null when the
    period has no renewal or no churn). An AUC of 0.5 is a coin toss; 0.7 or
    more means the score ranks future renewals above future churns well.
    """
    return litmus_summary(litmus_events(facts, period, ids, days_before, weights, **kwargs))


# ------------------------------------------------------------------ red flags and fit
RED_FLAG_INDICATORS = (
    "first_session_s",
    "usage_trend",
    "active_days_90d",
    "tickets_90d",
    "nps_latest",
    "health_score",
)


def _first_sessions(facts) -> pl.DataFrame:
    """Per (account, user): day and duration of the user's first session."""

    def build():
        return (
            facts.scan("sessions")
            .filter(pl.col("user_id").is_not_null())
            .group_by("account_id", "user_id")
            .agg(
                day=pl.col("day").sort_by("start").first(),
                duration_s=pl.col("duration_s").sort_by("start").first(),
            )
            .collect()
        )

    return _memo(facts, ("first_sessions",), build)


def red_flags(
    facts,
    period: Period | str,
    ids: pl.Series | None = None,
    lead_days: int = 30,
    weights: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Leading indicators of churn: churned vs retained customers of the period (seed 003 #5).

    Churned = customers at the period start with no MRR at its end, measured
    ``lead_days`` before their (last) churn day; retained = customers at the
    start still paying at the end, measured ``lead_days`` before the period's
    last day. Indicators (per account, then averaged over accounts):

    - first_session_s: mean length of its users' first sessions (seconds);
    - usage_trend: active days per day in the last 30 days / in the 60 before
      (below 1 = declining usage; accounts idle in the earlier 60 days are left out);
    - active_days_90d: days with any active user in the last 90 days;
    - tickets_90d: tickets opened in the last 90 days (needs tickets);
    - nps_latest: the account's latest NPS answer, 0..10 (needs surveys);
    - health_score: the default health score on the measurement day.

    Columns: indicator, churned_mean, retained_mean, ratio (churned / retained),
    churned_n, retained_n (accounts with a value).
    """
    period = Period.parse(period)
    mov = movements(facts.subs, period, ids)
    churned = mov.filter(pl.col("category") == "churn")["account_id"]
    retained = mov.filter((pl.col("start_cents") > 0) & (pl.col("end_cents") > 0))["account_id"]
    tl = _timeline(facts)
    churn_day = (
        tl.filter(
            (pl.col("before") > 0)
            & (pl.col("after") == 0)
            & pl.col("date").is_between(period.start, period.end)
            & pl.col("account_id").is_in(churned.implode())
        )
        .group_by("account_id")
        .agg(ref=pl.col("date").max())
    )
    pairs = pl.concat(
        [
            churn_day.select("account_id", group=pl.lit("churned"), ref=pl.col("ref")),
            pl.DataFrame({"account_id": retained}).select(
                "account_id", group=pl.lit("retained"), ref=pl.lit(period.end + timedelta(days=1))
            ),
        ]
    ).with_columns(at=pl.col("ref") - timedelta(days=int(lead_days) + 1))
    keys = ["account_id", "at"]
    rows: list[dict] = []
    if pairs.height == 0:
        vals = pairs.select("account_id", "group")
    else:
        sc = _score_pairs(facts, pairs.select(keys), {"weights": weights, "lookback_days": 90})
        vals = pairs.join(sc, on=keys, how="left").with_columns(
            health_score=pl.col("score"),
            active_days_90d=pl.col("active_days").cast(pl.Float64),
            tickets_90d=pl.col("tickets").cast(pl.Float64),
        )
        # usage trend: last 30 vs prior 60 days
        lo, hi = pairs["at"].min() - timedelta(days=89), pairs["at"].max()  # ages 0..89 only
        ud = facts.window("user_days", lo, hi).filter(
            pl.col("account_id").is_in(pairs["account_id"].implode())
        )
        trend = (
            ud.select("account_id", "day")
            .unique()
            .join(pairs.select(keys), on="account_id")
            .with_columns(age=(pl.col("at") - pl.col("day")).dt.total_days())
            .filter(pl.col("age").is_between(0, 89))
            .group_by(keys)
            .agg(
                last30=(pl.col("age") < 30).sum(),
                prior60=(pl.col("age") >= 30).sum(),
            )
            .filter(pl.col("prior60") > 0)
            .select(*keys, usage_trend=(pl.col("last30") / 30) / (pl.col("prior60") / 60))
        )
        firsts = (
            _first_sessions(facts)
            .join(pairs.select(keys), on="account_id")
            .filter(pl.col("day") <= pl.col("at"))
            .group_by(keys)
            .agg(first_session_s=pl.col("duration_s").cast(pl.Float64).mean())
        )
        vals = vals.join(trend, on=keys, how="left").join(firsts, on=keys, how="left")
    for ind in RED_FLAG_INDICATORS:
        col = pl.col(ind) if ind in vals.columns else pl.lit(None, pl.Float64)
        g = {}
        for grp in ("churned", "retained"):
            x = vals.filter(pl.col("group") == grp).select(col.cast(pl.Float64).alias("x"))["x"]
            x = x.drop_nulls()
            g[grp] = (float(x.mean()) if x.len() else None, int(x.len()))
        (cm, cn), (rm, rn) = g["churned"], g["retained"]
        rows.append(
            {
                "indicator": ind,
                "churned_mean": cm,
                "retained_mean": rm,
                "ratio": cm / rm if cm is not None and rm not in (None, 0) else None,
                "churned_n": cn,
                "retained_n": rn,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "indicator": pl.String, "churned_mean": pl.Float64, "retained_mean": pl.Float64,
            "ratio": pl.Float64, "churned_n": pl.Int64, "retained_n": pl.Int64,
        },
    )  # fmt: skip


def fit_comparison(
    facts, period: Period | str, by: str, ids: pl.Series | None = None
) -> pl.DataFrame:
    """Churn, NRR and GRR of the period per value of an account attribute (seed 003 #6, #7).

    ``by`` is any accounts column (a fit tag, segment, channel, industry...);
    missing values form the group "(missing)". Per group, over the customers
    at the period start (S): churn_rate = churned / S, NRR = closing MRR of S
    / opening MRR, GRR = sum(min(opening, closing)) / opening MRR (null when
    the group has no customers at the start).

    Columns: value, customers_start, churned, mrr_start, churn_rate, nrr, grr.
    """
    period = Period.parse(period)
    acc = facts.accounts
    if by not in acc.columns:
        raise ValueError(f"fit_comparison: accounts has no column {by!r}; columns: {acc.columns}")
    mov = movements(facts.subs, period, ids).filter(pl.col("start_cents") > 0)
    tags = acc.select("account_id", value=pl.col(by).cast(pl.String).fill_null("(missing)"))
    if ids is not None:
        tags = in_segment(tags, ids)
    g = (
        tags.join(mov, on="account_id", how="left")
        .group_by("value")
        .agg(
            customers_start=pl.col("start_cents").is_not_null().sum().cast(pl.Int64),
            churned=(pl.col("category") == "churn").sum().cast(pl.Int64),
            start=pl.col("start_cents").sum(),
            end=pl.col("end_cents").sum(),
            kept=pl.min_horizontal("start_cents", "end_cents").sum(),
        )
    )
    has = pl.col("customers_start") > 0
    return (
        g.with_columns(
            mrr_start=pl.col("start") / 100,
            churn_rate=pl.when(has).then(pl.col("churned") / pl.col("customers_start")),
            nrr=pl.when(has).then(pl.col("end") / pl.col("start")),
            grr=pl.when(has).then(pl.col("kept") / pl.col("start")),
        )
        .select("value", "customers_start", "churned", "mrr_start", "churn_rate", "nrr", "grr")
        .sort("customers_start", "value", descending=[True, False])
    )


# ------------------------------------------------------------------ registry
_OPTIONS = (
    Option(
        "health_weights",
        None,
        "weight per component {frequency, breadth, depth, support, sentiment}; normalised to sum 1; "
        "missing components weigh 0. Default (null): equal weights. Seed 001's three signals: "
        '{"frequency": 1, "breadth": 1, "depth": 1}',
    ),
    Option("health_bands", list(DEFAULT_BANDS), "[red below, green from] on the 0..100 score"),
    Option("health_lookback_days", 90, "days of usage and tickets behind each score"),
    Option(
        "health_thresholds",
        None,
        "override the 9 ascending cut points of a component: keys "
        + ", ".join(sorted(DEFAULT_THRESHOLDS)),
    ),
    Option(
        "health_support_basis",
        "per_month",
        "support load as tickets per 30 days (per_month) or per active user (per_user; fairer to large accounts)",
        SUPPORT_BASES,
    ),
    Option("health_sentiment_days", 365, "how old the latest NPS/CSAT answer may be"),
    Option(
        "active_events",
        None,
        "Event names that make a user active (list or comma-separated); default every event. "
        "In health: the active days and active users behind frequency and breadth.",
    ),
)
_LITMUS_OPTIONS = _OPTIONS + (
    Option("litmus_days_before", 90, "how many days before the renewal date health is measured"),
)
_HEALTH_DEF = (
    "Five components scored 1-10 over the last 90 days: frequency (active days), breadth "
    "(licence utilisation), depth (share of features used), support (tickets, fewer is "
    "better) and sentiment (latest NPS/CSAT); their weighted mean is mapped onto 0-100."
)
_HEALTH_FORMULA = (
    "component = 1 + number of 9 fixed thresholds reached; score = (sum w_i c_i / sum w_i - 1) / 9 x 100; "
    "red < 40 <= yellow < 70 <= green"
)
_INPUTS = ("subscriptions", "events")
_S001 = (
    "Seed 001: daily users score 10 on frequency, those active less than once a month score 1; "
    "with three signals (frequency, breadth, depth) the score is out of 30."
)

metric(
    "health_score_avg", "Average health score", "health", "score", "higher",
    "The mean health score (0-100) of customers paying at the period end. " + _HEALTH_DEF,
    "mean(score) over accounts with MRR > 0 on the closing date; " + _HEALTH_FORMULA,
    benchmark="none", inputs=_INPUTS, seeds=("001", "004"), example=_S001, options=_OPTIONS,
    action="Open the per-account table, sort by score and review the weakest component of the lowest accounts with their CSMs.",
    good_range=(70.0, 100.0),
)  # fmt: skip
metric(
    "health_green_share", "Green (healthy) customers", "health", "fraction", "higher",
    "Share of customers paying at the period end whose health score is green (70 or more).",
    "count(score >= green_from) / count(active accounts)",
    benchmark="none", inputs=_INPUTS, seeds=("001", "004"), example=_S001, options=_OPTIONS,
    action="Ask green accounts for references, reviews and expansion conversations.",
)  # fmt: skip
metric(
    "health_red_share", "Red (at-risk) customers", "health", "fraction", "lower",
    "Share of customers paying at the period end whose health score is red (below 40).",
    "count(score < red_below) / count(active accounts)",
    benchmark="none", inputs=_INPUTS, seeds=("001", "004"), example=_S001, options=_OPTIONS,
    action="Give every red account an owner and a recovery plan (re-onboarding, training, exec call) this month.",
)  # fmt: skip
metric(
    "at_risk_mrr", "MRR at risk (red accounts)", "health", "money", "lower",
    "Monthly recurring revenue of the customers whose health is red at the period end: the revenue most likely to churn.",
    "sum(MRR on closing date) over red accounts",
    benchmark="none", inputs=_INPUTS, seeds=("004",), options=_OPTIONS,
    action="Prioritise save plays by MRR at risk and review them weekly with the account owners.",
)  # fmt: skip
metric(
    "renewal_litmus_auc", "Renewal litmus test (AUC)", "health", "ratio", "higher",
    "How well the health score measured 90 days before a renewal date ranks the customers "
    "who renewed above those who churned: 0.5 is a coin toss, 1 is perfect (seed 004: "
    "'the real value of this is in predicting renewals').",
    "ROC AUC = Mann-Whitney U / (renewed x churned), ties count 1/2, over term ends and churns in the period; "
    "95% interval from the Hanley-McNeil standard error",
    benchmark="above 0.5 (chance); 0.7 or more is useful", benchmark_source="statistical convention",
    inputs=_INPUTS, seeds=("004",),
    example="Seed 004 #6: assess whether health scores work by taking the renewal litmus test.",
    options=_LITMUS_OPTIONS,
    action="If the AUC is near 0.5, re-weight or re-threshold the components (health lab notebook) until the score predicts renewals.",
    good_range=(0.7, 1.0),
)  # fmt: skip
metric(
    "renewal_rate_green", "Renewal rate of green accounts", "health", "fraction", "higher",
    "Of the renewal decisions in the period whose account was green 90 days before, the share that renewed.",
    "renewed / decisions, accounts green at decision date - 90 days",
    benchmark="none", inputs=_INPUTS, seeds=("004",), options=_LITMUS_OPTIONS,
    action="If green accounts still churn, the score misses a signal: interview the lost green accounts.",
)  # fmt: skip
metric(
    "renewal_rate_red", "Renewal rate of red accounts", "health", "fraction", "higher",
    "Of the renewal decisions in the period whose account was red 90 days before, the share that renewed.",
    "renewed / decisions, accounts red at decision date - 90 days",
    benchmark="well below the green rate", benchmark_source="seed 004 #6 (renewal litmus test)",
    inputs=_INPUTS, seeds=("004",), options=_LITMUS_OPTIONS,
    action="Start save plays for red accounts at least one quarter before their renewal date.",
)  # fmt: skip


def _opts(ctx) -> dict[str, Any]:
    w = ctx.opt("health_weights")
    th = ctx.opt("health_thresholds")
    return dict(
        weights=dict(w) if w else None,
        lookback_days=int(ctx.opt("health_lookback_days", 90)),
        bands=tuple(ctx.opt("health_bands") or DEFAULT_BANDS),
        thresholds={k: tuple(v) for k, v in th.items()} if th else None,
        support_basis=ctx.opt("health_support_basis", "per_month"),
        sentiment_days=int(ctx.opt("health_sentiment_days", 365)),
        active_events=_event_names(ctx.opt("active_events")),
    )


def _key(opts: dict[str, Any]) -> tuple:
    def freeze(v):
        if isinstance(v, dict):
            return tuple(sorted((k, freeze(x)) for k, x in v.items()))
        if isinstance(v, list | tuple):
            return tuple(freeze(x) for x in v)
        return v

    return freeze(opts)


@calculator(
    ["health_score_avg", "health_green_share", "health_red_share", "at_risk_mrr"], inputs=_INPUTS
)
def health_now(ctx) -> dict[str, Value]:
    """Health of the customers paying on the period's closing date."""
    at = ctx.period.closing_date
    sc = memo_health_scores(ctx.facts, at, ctx.segment.label, ctx.account_ids, **_opts(ctx))
    note = "; ".join(health_notes(ctx.facts))
    n = sc.height
    if n == 0:
        null = Value.null("no customers paying at period end", n=0)
        return dict.fromkeys(
            ("health_score_avg", "health_green_share", "health_red_share"), null
        ) | {"at_risk_mrr": Value(0.0, n=0)}
    green = int((sc["band"] == "green").sum())
    red = sc.filter(pl.col("band") == "red")
    return {
        "health_score_avg": Value(float(sc["score"].mean()), n=n, note=note),
        "health_green_share": Value(green / n, n=n, note=note),
        "health_red_share": Value(red.height / n, n=n, note=note),
        "at_risk_mrr": Value(round(float(red["mrr"].sum()), 2), n=red.height, note=note),
    }


@calculator(["renewal_litmus_auc", "renewal_rate_green", "renewal_rate_red"], inputs=_INPUTS)
def health_litmus(ctx) -> dict[str, Value]:
    """The renewal litmus test over the renewal decisions of the period."""
    days = int(ctx.opt("litmus_days_before", 90))
    lit = memo_renewal_litmus(
        ctx.facts, ctx.period, ctx.segment.label, ctx.account_ids, days, **_opts(ctx)
    )
    note = "; ".join(health_notes(ctx.facts))
    rows = {r["band"]: r for r in lit.by_band.iter_rows(named=True)}
    auc = lit.auc
    out = {"renewal_litmus_auc": Value(auc.value, auc.n, auc.low, auc.high, auc.note or note)}
    for band in ("green", "red"):
        r = rows[band]
        out[f"renewal_rate_{band}"] = ratio(
            r["renewed"], r["events"], f"no renewal decisions by {band} accounts", n=r["events"]
        )
    return out


def _prefetch_now(ctxs: list) -> None:
    c = ctxs[0]
    periods = [x.period for x in ctxs]
    prefetch_health(c.facts, periods, c.segment.label, c.account_ids, **_opts(c))


def _prefetch_litmus(ctxs: list) -> None:
    c = ctxs[0]
    periods = [x.period for x in ctxs]
    days = int(c.opt("litmus_days_before", 90))
    prefetch_health(
        c.facts, periods, c.segment.label, c.account_ids, scores=False, litmus_days=days,
        **_opts(c),
    )  # fmt: skip


health_now.prefetch = _prefetch_now
health_litmus.prefetch = _prefetch_litmus


__all__ = [
    "COMPONENTS",
    "DEFAULT_BANDS",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_WEIGHTS",
    "THREE_SIGNALS",
    "Litmus",
    "auc_interval",
    "band_of",
    "fit_comparison",
    "health_distribution",
    "health_notes",
    "health_scores",
    "health_scores_many",
    "memo_health_scores",
    "memo_renewal_litmus",
    "prefetch_health",
    "litmus_components",
    "litmus_events",
    "litmus_summary",
    "mrr_timeline",
    "normalise_weights",
    "red_flags",
    "renewal_events",
    "renewal_litmus",
    "roc_auc",
    "score_100",
    "sentiment_points",
    "summarise_bands",
    "threshold_scores",
]
