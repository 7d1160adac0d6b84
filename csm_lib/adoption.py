"""Adoption: are customers onboarded, active and using the product broadly and deeply?

Every number here comes from the compact facts (:mod:`csm_lib.facts`): daily
active users (``user_days``), features used per day (``feature_days``),
sessions, the subscription rows (seats) and the ``onboarding`` milestones.
The public functions take those frames, a :class:`~csm_lib.periods.Period` and
the segment's account ids (``None`` = All), so notebooks and tests can call
them on small hand-built frames.

Exact rules (METRICS.md, "Exact rules where the definitions leave room"):

- **Active user.** A user is active on a day with at least one event that day;
  events without a user never count. ``active_events`` (option) restricts the
  qualifying event names; it applies to every *active-user* metric (DAU, WAU,
  MAU, stickiness, active users, licence utilisation, time on platform, usage
  frequency and breadth), not to sessions nor to feature adoption, which keep
  every event.
- **DAU average** = distinct active users summed over every day of the period /
  days in the period (days without activity count as 0).
- **WAU average** over ISO weeks (Monday..Sunday) entirely inside the period;
  null when the period holds no full ISO week.
- **MAU average** over calendar months overlapping the period, each cut to the
  period. **Stickiness** = DAU average / MAU average. Within one month it is
  at most 1; over several months it can (rarely) exceed 1, because the DAU
  average weighs months by their days while the MAU average weighs them
  equally (all activity in a long month of an otherwise idle quarter).
- **Licence utilisation** = distinct users active in the trailing 30 days ending
  on the period's last day, in accounts with seats at the end / seats (sum of
  ``quantity`` of non-trial ``seat`` rows live on that day); pooled, may exceed 1.
  For a period shorter than 30 days the window starts before the period.
- **Sessions** with their first event inside the period; duration = last − first
  event; a one-event session counts with 0 s.

>>> import polars as pl
>>> from datetime import date
>>> p = Period.parse("2024-05")
>>> ud = pl.DataFrame({"day": [date(2024, 5, 1), date(2024, 5, 1), date(2024, 5, 2)],
...                    "account_id": ["a", "a", "a"], "user_id": ["u1", "u2", "u1"]})
>>> s = active_user_summary(ud, p)
>>> round(s["dau_avg"].value, 4), s["mau_avg"].value, round(s["stickiness"].value, 4)
(0.0968, 2.0, 0.0484)
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from csm_lib.facts import in_segment
from csm_lib.periods import Period
from csm_lib.registry import Option, Value, calculator, metric, ratio
from csm_lib.revenue import mrr_cents_at

MILESTONES = ("kickoff", "provisioned", "trained", "first_value")
SMALL_N = 30

# ---------------------------------------------------------------- helpers


def _in_period(frame: pl.DataFrame, period: Period, col: str = "day") -> pl.DataFrame:
    return frame.filter(pl.col(col).is_between(period.start, period.end))


def _names(value) -> list[str] | None:
    """An option given as a list or a comma-separated string ("login,report_created")."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def iso_weeks_inside(period: Period) -> list[tuple[date, date]]:
    """(Monday, Sunday) of every ISO week lying entirely inside ``period``.

    >>> iso_weeks_inside(Period.parse("2024-05"))[0]
    (datetime.date(2024, 5, 6), datetime.date(2024, 5, 12))
    >>> len(iso_weeks_inside(Period.parse("2024-05"))), iso_weeks_inside(Period.parse("2024-05-01..2024-05-06"))
    (3, [])
    """
    monday = period.start + timedelta(days=(7 - period.start.weekday()) % 7)
    out = []
    while monday + timedelta(days=6) <= period.end:
        out.append((monday, monday + timedelta(days=6)))
        monday += timedelta(days=7)
    return out


def month_slices(period: Period) -> list[tuple[date, date]]:
    """Calendar months overlapping ``period``, each cut to the period.

    >>> month_slices(Period.parse("2024-01-15..2024-02-10"))
    [(datetime.date(2024, 1, 15), datetime.date(2024, 1, 31)), (datetime.date(2024, 2, 1), datetime.date(2024, 2, 10))]
    """
    return [(max(m.start, period.start), min(m.end, period.end)) for m in period.months()]


def closing_customers(
    subs: pl.DataFrame, period: Period, ids: pl.Series | None = None
) -> pl.Series:
    """Account ids with MRR > 0 on the period's last day (E)."""
    m = mrr_cents_at(subs, period.closing_date, ids)
    return m.filter(pl.col("cents") > 0).get_column("account_id")


def seats_at(subs: pl.DataFrame, d: date, ids: pl.Series | None = None) -> pl.DataFrame:
    """Seats per account at day ``d``: sum of ``quantity`` of non-trial ``seat`` rows live on d.

    >>> s = pl.DataFrame({"account_id": ["a", "a", "b"], "unit": ["seat", "gb", "seat"],
    ...     "quantity": [10, 500, 3], "start_date": [date(2024, 1, 1)] * 3,
    ...     "end_date": [date(9999, 12, 31), date(9999, 12, 31), date(2024, 2, 1)]})
    >>> seats_at(s, date(2024, 3, 31)).rows()
    [('a', 10)]
    """
    if "unit" not in subs.columns or "quantity" not in subs.columns:
        return pl.DataFrame(schema={"account_id": pl.String, "seats": pl.Int64})
    live = in_segment(subs, ids).filter(
        (pl.col("start_date") <= d) & (pl.col("end_date").fill_null(date(9999, 12, 31)) > d)
    )
    return (
        live.filter(pl.col("unit") == "seat")
        .group_by("account_id")
        .agg(seats=pl.col("quantity").cast(pl.Int64).sum())
        .filter(pl.col("seats") > 0)
        .sort("account_id")
    )


# ---------------------------------------------------------------- active users


def active_user_summary(
    user_days: pl.DataFrame, period: Period, ids: pl.Series | None = None
) -> dict[str, Value]:
    """DAU / WAU / MAU averages, stickiness and active users of a period.

    ``user_days`` needs ``day`` and ``user_id`` (and ``account_id`` when ``ids``
    is given). Returns Values for ``dau_avg``, ``wau_avg``, ``mau_avg``,
    ``stickiness`` and ``active_users``; ``n`` is the number of days / full ISO
    weeks / months averaged over.
    """
    ud = _in_period(in_segment(user_days, ids), period)
    days = period.days
    weeks = iso_weeks_inside(period)
    months = month_slices(period)
    # sum over buckets of each bucket's distinct users = distinct (bucket, user) pairs
    user, day = pl.col("user_id"), pl.col("day")
    packed = ud.schema["user_id"].is_integer()  # (windows of the facts: integer user keys)

    def pairs(bucket: pl.Expr) -> pl.Expr:
        if packed:
            return bucket.cast(pl.Int64) * (1 << 32) + user.cast(pl.Int64)
        return pl.struct(bucket.alias("_b"), user)

    since_1970 = day.cast(pl.Int32)  # 1970-01-01 was a Thursday: +3 makes weeks start Monday
    exprs = {
        "dau": pairs(since_1970).n_unique(),
        "mau": pairs(day.dt.year().cast(pl.Int32) * 12 + day.dt.month()).n_unique(),
        "active": user.n_unique(),
    }
    if weeks:
        in_weeks = day.is_between(weeks[0][0], weeks[-1][1])
        exprs["wau"] = pairs((since_1970 + 3) // 7).filter(in_weeks).n_unique()
    got = ud.select(**exprs).row(0, named=True) if ud.height else dict.fromkeys(exprs, 0)
    dau = float(got["dau"]) / days
    if weeks:
        wau = Value(float(got["wau"]) / len(weeks), n=len(weeks))
    else:
        wau = Value.null("no full ISO week (Monday to Sunday) inside the period", n=0)
    mau = float(got["mau"]) / len(months)
    active = int(got["active"])
    return {
        "dau_avg": Value(dau, n=days),
        "wau_avg": wau,
        "mau_avg": Value(mau, n=len(months)),
        "stickiness": ratio(dau, mau, "no active users in the period", n=active),
        "active_users": Value(float(active), n=active),
    }


def license_utilisation(
    user_days: pl.DataFrame,
    subs: pl.DataFrame,
    period: Period,
    ids: pl.Series | None = None,
    window_days: int = 30,
    seats: pl.DataFrame | None = None,
) -> Value:
    """Users active in the trailing ``window_days`` (in accounts with seats) / seats at the end.

    Pooled over accounts, so one account's spare seats offset another's overuse;
    may exceed 1. ``n`` = seats. ``seats`` (:func:`seats_at` on the closing date) may
    be passed when the caller has it.
    """
    seats = seats_at(subs, period.closing_date, ids) if seats is None else seats
    total = int(seats["seats"].sum() or 0)
    if total == 0:
        return Value.null("no seats on the period's last day (no seat-based subscriptions)")
    lo = period.end - timedelta(days=window_days - 1)
    users = (
        user_days.filter(pl.col("day").is_between(lo, period.end))
        .filter(pl.col("account_id").is_in(seats["account_id"].implode()))
        .get_column("user_id")
        .n_unique()
    )
    return Value(users / total, n=total)


def time_on_platform(
    user_days: pl.DataFrame, period: Period, ids: pl.Series | None = None
) -> Value:
    """Average active seconds per active user per day (mean of ``active_s`` over user-days).

    A user's active seconds on a day run from their first to their last event;
    a day with one event counts 0 s.
    """
    ud = _in_period(in_segment(user_days, ids), period)
    if ud.height == 0:
        return Value.null("no active users in the period", n=0)
    return Value(float(ud["active_s"].mean()), n=ud.height)


def avg_session_duration(durations_s) -> Value:
    """Seed 000: total seconds of all sessions / number of sessions.

    >>> avg_session_duration([300, 0, 120]).value
    140.0
    >>> avg_session_duration([]).note
    'no sessions in the period'
    """
    s = pl.Series("d", list(durations_s) if not isinstance(durations_s, pl.Series) else durations_s)
    if s.len() == 0:
        return Value.null("no sessions in the period", n=0)
    return Value(float(s.sum()) / s.len(), n=s.len())


def period_sessions(sessions: pl.DataFrame, period: Period, ids: pl.Series | None = None):
    """Sessions whose first event falls inside the period (segment by the session's account)."""
    return _in_period(in_segment(sessions, ids), period)


# ---------------------------------------------------------------- onboarding


def onboarding_status(
    onboarding: pl.DataFrame,
    first_paid: pl.DataFrame,
    period: Period,
    ids: pl.Series | None = None,
    window_days: int = 90,
    required: tuple[str, ...] | list[str] = MILESTONES,
    as_of: date | None = None,
) -> pl.DataFrame:
    """Per new account (first paid row starting in the period): its onboarding progress.

    Columns: account_id, first_paid, reached (required milestones reached, at any
    time), completed_at (day the last required milestone was first reached,
    null until all are), days_to_complete, completed (all required milestones
    within ``window_days`` of first_paid), pending (not complete yet but its
    window is still open at ``as_of``). Milestones reached before the first
    paid day count (kickoff often precedes billing); milestones dated after
    ``as_of`` are not known yet and are ignored.
    """
    req = list(dict.fromkeys(required))
    cohort = in_segment(first_paid, ids).filter(
        pl.col("first_paid").is_between(period.start, period.end)
    )
    known = onboarding if as_of is None else onboarding.filter(pl.col("reached_at") <= as_of)
    ms = (
        known.filter(pl.col("account_id").is_in(cohort["account_id"].implode()))  # (the few)
        .filter(pl.col("milestone").is_in(req))
        .group_by("account_id", "milestone")
        .agg(at=pl.col("reached_at").min())
        .group_by("account_id")
        .agg(reached=pl.len().cast(pl.Int64), last_at=pl.col("at").max())
    )
    out = cohort.join(ms, on="account_id", how="left").with_columns(
        reached=pl.col("reached").fill_null(0)
    )
    done = pl.col("reached") == len(req)
    deadline = pl.col("first_paid") + pl.duration(days=window_days)
    out = out.with_columns(
        completed_at=pl.when(done).then(pl.col("last_at")),
    ).with_columns(
        days_to_complete=(pl.col("completed_at") - pl.col("first_paid")).dt.total_days(),
        completed=(done & (pl.col("last_at") <= deadline)).fill_null(False),
    )
    open_window = (deadline >= as_of) if as_of else pl.lit(False)
    out = out.with_columns(pending=(~pl.col("completed") & open_window & ~done).fill_null(False))
    return out.select(
        "account_id", "first_paid", "reached", "completed_at", "days_to_complete",
        "completed", "pending",
    ).sort("account_id")  # fmt: skip


def onboarding_completion(status: pl.DataFrame, window_days: int = 90) -> Value:
    """Share of the cohort in :func:`onboarding_status` that completed within the window."""
    n = status.height
    if n == 0:
        return Value.null("no new accounts (first paid row) in the period", n=0)
    done = int(status["completed"].sum())
    pending = int(status["pending"].sum())
    note = (
        f"{pending} of {n} accounts are still inside their {window_days}-day window"
        if pending
        else ""
    )
    return Value(done / n, n=n, note=note)


def time_to_value(
    onboarding: pl.DataFrame,
    first_paid: pl.DataFrame,
    period: Period,
    ids: pl.Series | None = None,
    cohort: str = "value_in_period",
) -> pl.DataFrame:
    """Days from first paid MRR to the ``first_value`` milestone, per account.

    ``cohort="value_in_period"`` (default): accounts whose first ``first_value``
    milestone falls in the period (every value is observed, no censoring).
    ``cohort="paid_in_period"``: accounts whose first paid row starts in the
    period and that reached first value by now (those still waiting are left
    out, so recent cohorts look faster). Value reached before the first paid
    day counts as 0 days. Columns: account_id, first_paid, first_value, days.
    """
    fv = onboarding.filter(pl.col("milestone") == "first_value")
    if cohort == "paid_in_period":  # only the period's new accounts can qualify
        new = first_paid.filter(pl.col("first_paid").is_between(period.start, period.end))
        fv = fv.filter(pl.col("account_id").is_in(new["account_id"].implode()))
    elif cohort == "value_in_period":  # accounts with a first_value row in the period
        seen = fv.filter(pl.col("reached_at").is_between(period.start, period.end))
        fv = fv.filter(pl.col("account_id").is_in(seen["account_id"].unique().implode()))
    fv = fv.group_by("account_id").agg(first_value=pl.col("reached_at").min())
    t = in_segment(first_paid, ids).join(fv, on="account_id", how="inner")
    if cohort == "paid_in_period":
        t = t.filter(pl.col("first_paid").is_between(period.start, period.end))
    elif cohort == "value_in_period":
        t = t.filter(pl.col("first_value").is_between(period.start, period.end))
    else:
        raise ValueError(f"ttv_cohort {cohort!r}: use 'value_in_period' or 'paid_in_period'")
    days = (pl.col("first_value") - pl.col("first_paid")).dt.total_days().clip(lower_bound=0)
    return t.with_columns(days=days).select("account_id", "first_paid", "first_value", "days")


def days_quantile(days: pl.Series, q: float) -> Value:
    """The ``q`` quantile (linear interpolation, as numpy's default) of a series of days.

    >>> days_quantile(pl.Series([10, 20, 30, 40]), 0.5).value, days_quantile(pl.Series([10, 20, 30, 40]), 0.75).value
    (25.0, 32.5)
    """
    s = days.drop_nulls()
    if s.len() == 0:
        return Value.null("no account reached first value", n=0)
    return Value(float(s.cast(pl.Float64).quantile(q, interpolation="linear")), n=s.len())


# ---------------------------------------------------------------- features and accounts


def features_available(feature_days: pl.DataFrame, until: date) -> int:
    """Distinct features with any event (any account) up to ``until``: the menu of features."""
    return int(feature_days.filter(pl.col("day") <= until)["feature"].n_unique())


def feature_adoption_from(
    feature_days: pl.DataFrame,
    user_days: pl.DataFrame,
    customers: pl.Series,
    period: Period,
    ids: pl.Series | None = None,
) -> pl.DataFrame:
    """Feature adoption table from frames (see :func:`feature_adoption`).

    >>> fd = pl.DataFrame({"day": [date(2024, 5, 2)] * 3, "account_id": ["a", "a", "b"],
    ...                    "user_id": ["u1", "u2", "u3"], "feature": ["x", "x", "y"]})
    >>> ud = fd.select("day", "account_id", "user_id")
    >>> t = feature_adoption_from(fd, ud, pl.Series(["a", "b"]), Period.parse("2024-05"))
    >>> t.rows()
    [('x', 1, 0.5, 2, 0.6666666666666666), ('y', 1, 0.5, 1, 0.3333333333333333)]
    """
    fd = _in_period(in_segment(feature_days, ids), period)
    n_cust = customers.len()
    active = int(_in_period(in_segment(user_days, ids), period)["user_id"].n_unique())
    cust = pl.col("account_id").is_in(customers.implode())
    t = fd.group_by("feature").agg(
        accounts=pl.col("account_id").filter(cust).n_unique().cast(pl.Int64),
        users=pl.col("user_id").n_unique().cast(pl.Int64),
    )
    return (
        t.with_columns(
            account_share=(pl.col("accounts") / n_cust) if n_cust else pl.lit(None, pl.Float64),
            user_share=(pl.col("users") / active) if active else pl.lit(None, pl.Float64),
        )
        .select("feature", "accounts", "account_share", "users", "user_share")
        .sort(["accounts", "users", "feature"], descending=[True, True, False])
    )


def feature_adoption(facts, period: Period, ids: pl.Series | None = None, active_events=None):
    """Per feature used in the period: closing customers that used it and their share,
    users that used it and their share of active users.

    Columns: feature, accounts, account_share (of closing customers), users,
    user_share (of active users). Sorted by accounts, most adopted first.
    """
    t = feature_adoption_from(
        facts.window("feature_days", period.start, period.end),
        facts.window("user_days", period.start, period.end, _names(active_events)),
        closing_customers(facts.subs, period, ids),
        period,
        ids,
    )
    if t["feature"].dtype.is_integer():  # a window's feature keys (in the names' order)
        t = t.with_columns(feature=facts.feature_names.gather(t["feature"].cast(pl.Int64) - 1))
    return t


def _union_sorted(*ids: pl.Series) -> pl.DataFrame:
    """The distinct account ids of several series, sorted (a merge when they are sorted).

    >>> _union_sorted(pl.Series(["a", "c"]), pl.Series(["b", "c"]))["account_id"].to_list()
    ['a', 'b', 'c']
    """
    runs = [(s if s.flags["SORTED_ASC"] else s.sort()).rename("account_id").to_frame() for s in ids]
    out = runs[0]
    for run in runs[1:]:
        out = out.merge_sorted(run, "account_id")
    first = pl.col("account_id").ne_missing(pl.col("account_id").shift(1))
    return out.filter(first.fill_null(True)).with_columns(pl.col("account_id").set_sorted())


def usage_by_account_from(
    user_days: pl.DataFrame,
    feature_days: pl.DataFrame,
    sessions: pl.DataFrame,
    subs: pl.DataFrame,
    period: Period,
    ids: pl.Series | None = None,
    window_days: int = 30,
    customers: pl.Series | None = None,
    seats: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per-account usage of a period (see :func:`usage_by_account`), from frames.

    ``customers`` (:func:`closing_customers`) and ``seats`` (:func:`seats_at` on the
    closing date) may be passed when the caller has them.
    """
    customers = closing_customers(subs, period, ids) if customers is None else customers
    lo = period.end - timedelta(days=window_days - 1)
    inside = pl.col("day").is_between(period.start, period.end)
    # one pass over the user-days of the period and the trailing window (sorted by account)
    a = (
        in_segment(user_days, ids)
        .filter(pl.col("day").is_between(min(lo, period.start), period.end))
        .group_by("account_id")
        .agg(
            active_days=pl.col("day").filter(inside).n_unique().cast(pl.Int64),
            active_users=pl.col("user_id").filter(inside).n_unique().cast(pl.Int64),
            events=(
                pl.col("events").filter(inside).sum()
                if "events" in user_days.columns
                else pl.col("day").filter(inside).len()
            ).cast(pl.Int64),
            users_30d=pl.col("user_id")
            .filter(pl.col("day").is_between(lo, period.end))
            .n_unique()
            .cast(pl.Int64),
        )
    )
    f = (
        _in_period(in_segment(feature_days, ids), period)
        .group_by("account_id")
        .agg(features_used=pl.col("feature").n_unique().cast(pl.Int64))
    )
    s = (
        period_sessions(sessions, period, ids)
        .group_by("account_id")
        .agg(sessions=pl.len().cast(pl.Int64))
    )
    seats = seats_at(subs, period.closing_date, ids) if seats is None else seats
    base = _union_sorted(a.filter(pl.col("active_days") > 0)["account_id"], customers)
    out = base  # (the joins keep base's order: the result is sorted by account)
    for part in (a, f, s, seats):
        out = out.join(part, on="account_id", how="left", maintain_order="left")
    zero = ["active_days", "active_users", "events", "features_used", "sessions", "users_30d"]
    out = out.with_columns([pl.col(c).fill_null(0) for c in zero]).with_columns(
        customer=pl.col("account_id").is_in(customers.implode()),
        license_utilisation=pl.when(pl.col("seats") > 0).then(
            pl.col("users_30d") / pl.col("seats")
        ),
    )
    return out.select(
        "account_id", "customer", "active_days", "active_users", "features_used", "events",
        "sessions", "users_30d", "seats", "license_utilisation",
    )  # fmt: skip


def usage_by_account(
    facts, period: Period, ids: pl.Series | None = None, active_events=None, window_days: int = 30
) -> pl.DataFrame:
    """One row per account that was active in the period or is a closing customer.

    Columns: account_id, customer (MRR > 0 on the last day), active_days (days
    with an active user), active_users (distinct), features_used (distinct),
    events, sessions, users_30d (distinct users in the trailing ``window_days``),
    seats (at the end, null without seat rows), license_utilisation (users_30d /
    seats). Closing customers without any activity appear with zeros. The
    health score reads its frequency, breadth and depth signals from here.
    """
    lo = min(period.start, period.end - timedelta(days=window_days - 1))
    return usage_by_account_from(
        facts.window("user_days", lo, period.end, _names(active_events)),
        facts.window("feature_days", period.start, period.end),
        facts.window("sessions", period.start, period.end),
        facts.subs,
        period,
        ids,
        window_days,
    )


def usage_trend_from(
    user_days: pl.DataFrame, period: Period, ids: pl.Series | None = None, grain: str = "week"
) -> pl.DataFrame:
    """Active-user series for charts, one row per day / ISO week / month overlapping the period.

    Columns: start, end (the bucket cut to the period), days, complete (the
    bucket lies entirely inside the period), dau_avg (mean daily active users
    over the bucket's days), active_users (distinct users in the bucket: DAU for
    days, WAU for weeks, MAU for months), mau_30d (distinct users in the 30 days
    ending on the bucket's last day) and stickiness = dau_avg / mau_30d.
    """
    if grain not in ("day", "week", "month"):
        raise ValueError(f"grain {grain!r}: use 'day', 'week' or 'month'")
    seg = in_segment(user_days, ids)
    ud = _in_period(seg, period)
    every = {"day": "1d", "week": "1w", "month": "1mo"}[grain]
    per_day = ud.group_by("day").agg(n=pl.col("user_id").n_unique())
    days = pl.DataFrame({"day": pl.date_range(period.start, period.end, "1d", eager=True)})
    daily = days.join(per_day, on="day", how="left").with_columns(pl.col("n").fill_null(0))
    buckets = (
        daily.with_columns(bucket=pl.col("day").dt.truncate(every))
        .group_by("bucket")
        .agg(
            start=pl.col("day").min(),
            end=pl.col("day").max(),
            days=pl.len().cast(pl.Int64),
            dau_avg=pl.col("n").mean(),
        )
    )
    distinct = (
        ud.with_columns(bucket=pl.col("day").dt.truncate(every))
        .group_by("bucket")
        .agg(active_users=pl.col("user_id").n_unique().cast(pl.Int64))
    )
    out = buckets.join(distinct, on="bucket", how="left").with_columns(
        pl.col("active_users").fill_null(0)
    )
    span = {"day": 1, "week": 7}.get(grain)
    if span:
        complete = pl.col("days") == span
    else:
        complete = (pl.col("start") == pl.col("bucket")) & (
            pl.col("end") == pl.col("bucket").dt.month_end()
        )
    out = out.with_columns(complete=complete).sort("start")
    m30 = []
    for end in out["end"]:
        lo = end - timedelta(days=29)
        m30.append(int(seg.filter(pl.col("day").is_between(lo, end))["user_id"].n_unique()))
    out = out.with_columns(mau_30d=pl.Series(m30, dtype=pl.Int64)).with_columns(
        stickiness=pl.when(pl.col("mau_30d") > 0).then(pl.col("dau_avg") / pl.col("mau_30d"))
    )
    return out.select(
        "start", "end", "days", "complete", "dau_avg", "active_users", "mau_30d", "stickiness"
    )


def usage_trend(
    facts, period: Period, ids: pl.Series | None = None, grain: str = "week", active_events=None
) -> pl.DataFrame:
    """DAU / WAU / MAU series of the period for charts (see :func:`usage_trend_from`)."""
    ud = facts.window(  # the 30 days before the period feed the first bucket's MAU
        "user_days", period.start - timedelta(days=29), period.end, _names(active_events)
    )
    return usage_trend_from(ud, period, ids, grain)


# ---------------------------------------------------------------- registry

_ACTIVE = Option(
    "active_events",
    None,
    "Event names that make a user active (list or comma-separated); default every event. "
    "Applies to DAU/WAU/MAU, stickiness, active users, licence utilisation, time on "
    "platform, usage frequency and breadth; not to sessions or feature adoption.",
)
_WINDOW = Option(
    "onboarding_window_days", 90, "Days after the first paid day to reach every milestone."
)
_REQUIRED = Option(
    "required_milestones",
    MILESTONES,
    "Milestones that make onboarding complete (list or comma-separated).",
)
_TTV = Option(
    "ttv_cohort",
    "value_in_period",
    "value_in_period: accounts reaching first value in the period (no censoring); "
    "paid_in_period: accounts first paid in the period that reached value so far "
    "(excludes those still waiting, so it flatters recent cohorts).",
    ("value_in_period", "paid_in_period"),
)
_UTIL = Option(
    "utilisation_window_days",
    30,
    "Trailing days (ending on the period's last day) in which a user must be active.",
)
_EV = ("subscriptions", "events")
_ON = ("subscriptions", "onboarding")

_SPECS = [
    dict(
        id="onboarding_completion", label="Onboarding completion", unit="fraction",
        direction="higher",
        definition="Of the accounts that started paying in the period, the share that reached "
        "every onboarding milestone (kickoff, provisioned, trained, first value) within 90 days "
        "of their first paid day. Accounts whose window is still open are counted as not (yet) "
        "complete and reported in the note.",
        formula="count(all required milestones reached <= first_paid + window) / new_logos",
        inputs=_ON, seeds=("000", "001"),
        example="001: measure the share of customers who complete the onboarding sequence.",
        options=(_WINDOW, _REQUIRED),
        action="Review where accounts stall (which milestone) and add hands-on help there.",
    ),
    dict(
        id="time_to_value_median_days", label="Time to value (median)", unit="days",
        direction="lower",
        definition="How long a new customer waits for the first real outcome: the median number "
        "of days from the first paid day to the first_value milestone, over accounts that "
        "reached first value in the period.",
        formula="median(first_value - first_paid), clipped at 0 days",
        inputs=_ON, seeds=("004",),
        example="004 #4: TTV = time it takes a customer to realise the value of the product.",
        options=(_TTV,),
        action="Shorten the path to the first outcome: pre-built templates, a guided setup, an "
        "early success plan.",
    ),
    dict(
        id="time_to_value_p75_days", label="Time to value (75th percentile)", unit="days",
        direction="lower",
        definition="The slow quarter of customers: 75% of accounts reached first value within "
        "this many days of their first paid day.",
        formula="p75(first_value - first_paid), linear interpolation",
        inputs=_ON, seeds=("004",), options=(_TTV,),
        action="Look at the slowest accounts one by one: a long tail often means blocked "
        "integrations or missing training.",
    ),
    dict(
        id="dau_avg", label="Daily active users (average)", unit="users", direction="higher",
        definition="On an average day of the period, how many distinct users did something in "
        "the product. Days with no activity count as zero.",
        formula="sum over days of distinct active users / days in period",
        inputs=_EV, seeds=("000", "001"), options=(_ACTIVE,),
        action="Find what daily work the product should support and prompt users toward it.",
    ),
    dict(
        id="wau_avg", label="Weekly active users (average)", unit="users", direction="higher",
        definition="Distinct users active in a week (Monday to Sunday), averaged over the ISO "
        "weeks that lie entirely inside the period; empty when the period has no full week.",
        formula="mean over full ISO weeks of distinct active users",
        inputs=_EV, seeds=("000", "001"), options=(_ACTIVE,),
        action="Check which accounts' users stop coming back week to week and reach out.",
    ),
    dict(
        id="mau_avg", label="Monthly active users (average)", unit="users", direction="higher",
        definition="Distinct users active in a calendar month, averaged over the months of the "
        "period (each month cut to the period). It tells how many paying users really use the "
        "product each month.",
        formula="mean over calendar months (cut to period) of distinct active users",
        inputs=_EV, seeds=("000", "001"), options=(_ACTIVE,),
        example="001: low MAU means the product is not engaging, hard to learn, or onboarding "
        "needs work.",
        action="Low MAU: revisit onboarding and training for the accounts whose users are idle.",
    ),
    dict(
        id="stickiness", label="Stickiness (DAU/MAU)", unit="fraction", direction="higher",
        definition="How much of the monthly audience comes back every day: average daily active "
        "users divided by average monthly active users.",
        formula="dau_avg / mau_avg",
        inputs=_EV, seeds=("004",), options=(_ACTIVE,),
        example="004 #5: stickiness is how much customers use and rely on the product.",
        action="Build habits: daily digests, alerts and workflows that bring users back.",
    ),
    dict(
        id="active_users", label="Active users", unit="users", direction="higher",
        definition="Distinct users with at least one event at any time in the period.",
        formula="count distinct user_id with an event in period",
        inputs=_EV, seeds=("000",), options=(_ACTIVE,),
        action="Compare with seats bought; idle licences are a renewal risk.",
    ),
    dict(
        id="seats_end", label="Seats at period end", unit="count", direction="higher",
        definition="Licensed seats customers pay for on the period's last day: the quantity of "
        "non-trial seat subscription rows live that day.",
        formula="sum(quantity) of non-trial rows with unit = seat live on the closing date",
        inputs=("subscriptions",), seeds=("001",),
        action="Track against active users: seats far above usage tend to shrink at renewal.",
    ),
    dict(
        id="license_utilisation", label="Licence utilisation", unit="fraction",
        direction="higher",
        definition="Of the seats customers bought, the share actually used: distinct users "
        "active in the last 30 days of the period (in accounts with seats) divided by seats. "
        "Pooled over accounts, so it can exceed 100%.",
        formula="distinct active users in last 30 days (seat accounts) / seats_end",
        benchmark="as close to 100% as possible", benchmark_source="001",
        inputs=_EV, seeds=("001",), options=(_ACTIVE, _UTIL),
        example="001: a plan with 100 users of which 80 logged on in the last month = 80%.",
        action="Run enablement for accounts with idle seats before their renewal.",
    ),
    dict(
        id="features_per_account", label="Features used per account", unit="count",
        direction="higher",
        definition="Depth of usage: the average number of distinct features used in the "
        "period by closing customers that had any activity.",
        formula="mean over active closing customers of distinct features used",
        inputs=_EV, seeds=("001",),
        action="Show accounts the features their peers use that they have not tried.",
    ),
    dict(
        id="feature_breadth", label="Feature breadth", unit="fraction", direction="higher",
        definition="Depth as a share: distinct features an active closing customer used, "
        "divided by the features available (every feature seen in the data up to the period "
        "end), averaged over those customers.",
        formula="mean(features used / features available) over active closing customers",
        inputs=_EV, seeds=("001",),
        example="001: depth of usage = the number of features a given customer uses.",
        action="Plan feature walk-throughs for accounts that use only a narrow slice.",
    ),
    dict(
        id="usage_frequency_days", label="Usage frequency (active days)", unit="days",
        direction="higher",
        definition="How often customers use the product: days in the period on which at least "
        "one of the account's users was active, averaged over closing customers with any "
        "activity (the note says how many had none).",
        formula="mean over active closing customers of distinct active days",
        inputs=_EV, seeds=("001",), options=(_ACTIVE,),
        example="001: frequency of usage = how often a customer logs in.",
        action="Contact accounts whose active days drop: a falling frequency often precedes "
        "churn.",
    ),
    dict(
        id="breadth_users", label="Active users per account", unit="users", direction="higher",
        definition="Breadth of usage: distinct active users in the period per closing customer "
        "with any activity.",
        formula="mean over active closing customers of distinct active users",
        inputs=_EV, seeds=("001",), options=(_ACTIVE,),
        example="001: breadth of usage = the number of users a customer has.",
        action="Help champions roll the product out to more teams.",
    ),
    dict(
        id="sessions", label="Sessions", unit="count", direction="higher",
        definition="Number of sessions (events sharing a session id) that started in the period.",
        formula="count(session_id with first event in period)",
        inputs=_EV, seeds=("000",),
        action="Read with session duration: many short sessions can mean friction.",
    ),
    dict(
        id="avg_session_duration_s", label="Average session duration", unit="seconds",
        direction="neutral",
        definition="Total seconds of all sessions divided by the number of sessions; a session "
        "lasts from its first to its last event, and a one-event session counts as 0 seconds.",
        formula="sum(duration_s) / count(sessions)",
        inputs=_EV, seeds=("000",),
        example="000: average session duration = total seconds of all sessions / total number "
        "of sessions.",
        action="Very long sessions on simple tasks point to friction (003: time on task is a "
        "churn red flag); very short ones to shallow use.",
    ),
    dict(
        id="time_on_platform_s", label="Time on platform per user-day", unit="seconds",
        direction="higher",
        definition="On a day a user is active, how long they spend in the product on average "
        "(seconds from their first to their last event that day).",
        formula="mean(active_s) over active user-days",
        inputs=_EV, seeds=("000",), options=(_ACTIVE,),
        example="000: average time on platform / application.",
        action="Compare by segment; a drop for an account is an early disengagement signal.",
    ),
]  # fmt: skip

for _s in _SPECS:
    metric(pillar="adoption", **_s)


# ---------------------------------------------------------------- calculators


def _int_opt(ctx, name: str, default: int) -> int:
    v = ctx.opt(name, default)
    return default if v is None else int(v)


@calculator(["onboarding_completion"], inputs=_ON)
def _onboarding(ctx) -> dict[str, Value]:
    f = ctx.facts
    window = _int_opt(ctx, "onboarding_window_days", 90)
    req = _names(ctx.opt("required_milestones")) or list(MILESTONES)
    ob = f.memo(("table", "onboarding"), lambda: f.table("onboarding").collect())
    st = onboarding_status(ob, f.first_paid, ctx.period, ctx.account_ids, window, req, f.as_of)
    return {"onboarding_completion": onboarding_completion(st, window)}


@calculator(["time_to_value_median_days", "time_to_value_p75_days"], inputs=_ON)
def _ttv(ctx) -> dict[str, Value]:
    f = ctx.facts
    ob = f.memo(("table", "onboarding"), lambda: f.table("onboarding").collect())
    cohort = ctx.opt("ttv_cohort", "value_in_period") or "value_in_period"
    t = time_to_value(ob, f.first_paid, ctx.period, ctx.account_ids, cohort)
    return {
        "time_to_value_median_days": days_quantile(t["days"], 0.5),
        "time_to_value_p75_days": days_quantile(t["days"], 0.75),
    }


@calculator(["seats_end"], inputs=("subscriptions",))
def _seats(ctx) -> dict[str, Value]:
    s = ctx.seats()
    return {"seats_end": Value(float(s["seats"].sum() or 0), n=s.height)}


def _user_days(ctx) -> pl.DataFrame:
    """The period's user-days (from the utilisation window's start when that is earlier),
    in the segment (the helpers below then get ids=None)."""
    p, window = ctx.period, _int_opt(ctx, "utilisation_window_days", 30)
    lo = min(p.start, p.end - timedelta(days=window - 1))
    names = _names(ctx.opt("active_events"))
    return in_segment(ctx.facts.window("user_days", lo, p.end, names), ctx.account_ids)


# The usage metrics come from two calculators that run side by side (one read of the
# facts' quarter, see Facts.window): per-account usage first (it takes longest), then
# the active-user counts.
@calculator(
    ["license_utilisation", "sessions", "avg_session_duration_s", "features_per_account",
     "feature_breadth", "usage_frequency_days", "breadth_users"],
    inputs=_EV,
)  # fmt: skip
def _usage(ctx) -> dict[str, Value]:
    f, p, ids = ctx.facts, ctx.period, ctx.account_ids
    window = _int_opt(ctx, "utilisation_window_days", 30)
    ud = _user_days(ctx)
    fd = in_segment(f.window("feature_days", p.start, p.end), ids)
    ss = in_segment(f.window("sessions", p.start, p.end), ids)
    subs = in_segment(f.subs, ids)
    seats = ctx.seats()
    out = {"license_utilisation": license_utilisation(ud, subs, p, None, window, seats)}
    out["sessions"] = Value(float(ss.height), n=ss.height)
    out["avg_session_duration_s"] = avg_session_duration(ss["duration_s"])
    customers = ctx.movements().filter(pl.col("end_cents") > 0)["account_id"]  # (memoised)
    acc = usage_by_account_from(ud, fd, ss, subs, p, None, window, customers, seats)
    cust = acc.filter(pl.col("customer"))
    act = cust.filter(pl.col("active_days") > 0)
    idle = cust.height - act.height
    note = f"{idle} of {cust.height} closing customers had no activity" if idle else ""
    if act.height == 0:
        why = "no closing customer was active in the period"
        for k in ("features_per_account", "feature_breadth", "usage_frequency_days"):
            out[k] = Value.null(why, n=cust.height)
        out["breadth_users"] = Value.null(why, n=cust.height)
        return out
    n = act.height
    avail = int(f.feature_first["day"].search_sorted(p.end, side="right"))  # features by p.end
    fpa = float(act["features_used"].mean())
    out["features_per_account"] = Value(fpa, n=n, note=note)
    out["feature_breadth"] = (
        Value(fpa / avail, n=n, note=note) if avail else Value.null("no features in the data")
    )
    out["usage_frequency_days"] = Value(float(act["active_days"].mean()), n=n, note=note)
    out["breadth_users"] = Value(float(act["active_users"].mean()), n=n, note=note)
    return out


@calculator(
    ["dau_avg", "wau_avg", "mau_avg", "stickiness", "active_users", "time_on_platform_s"],
    inputs=_EV,
)  # fmt: skip
def _active_users(ctx) -> dict[str, Value]:
    ud = _user_days(ctx)
    out = active_user_summary(ud, ctx.period)
    out["time_on_platform_s"] = time_on_platform(ud, ctx.period)
    return out


__all__ = [
    "MILESTONES",
    "active_user_summary",
    "avg_session_duration",
    "closing_customers",
    "days_quantile",
    "feature_adoption",
    "feature_adoption_from",
    "features_available",
    "iso_weeks_inside",
    "license_utilisation",
    "month_slices",
    "onboarding_completion",
    "onboarding_status",
    "period_sessions",
    "seats_at",
    "time_on_platform",
    "time_to_value",
    "usage_by_account",
    "usage_by_account_from",
    "usage_trend",
    "usage_trend_from",
]
