"""Adoption: onboarding, time to value, DAU/WAU/MAU, licences, features, sessions.

Seed examples (exact numbers on hand-built frames):
- 001: licence utilisation, 80 users active in the last month of 100 seats = 80%.
- 000: average session duration = total seconds of all sessions / number of sessions.
The DAU / WAU / MAU rules of METRICS.md ("Exact rules") on a tiny events table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csm_lib.adoption import (
    active_user_summary,
    avg_session_duration,
    days_quantile,
    feature_adoption,
    feature_adoption_from,
    iso_weeks_inside,
    month_slices,
    onboarding_completion,
    onboarding_status,
    period_sessions,
    time_to_value,
    usage_by_account,
    usage_trend,
)
from csm_lib.compute import as_dict, compute
from csm_lib.data import Workbook, table_frame
from csm_lib.facts import build_sessions, build_user_days
from csm_lib.periods import Period

MAY = Period.parse("2024-05")
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


def at(day: date | str, hh: int = 10, mm: int = 0, ss: int = 0) -> datetime:
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(d.year, d.month, d.day, hh, mm, ss)


def events(rows) -> pl.DataFrame:
    """rows: (event_at, account_id, user_id, session_id, event, feature)."""
    keys = ("event_at", "account_id", "user_id", "session_id", "event", "feature")
    return table_frame("events", [dict(zip(keys, r, strict=True)) for r in rows])


def subs(rows) -> pl.DataFrame:
    """rows: (account_id, start, end, mrr, quantity, unit, is_trial)."""
    keys = ("account_id", "start_date", "end_date", "mrr", "quantity", "unit", "is_trial")
    out = []
    for i, r in enumerate(rows):
        d = dict(zip(keys, r, strict=True))
        out.append({"subscription_id": f"S{i}", "product_line": "Core", **d})
    return table_frame("subscriptions", out)


def accounts(ids, segment=None) -> pl.DataFrame:
    seg = segment or {}
    return table_frame("accounts", [{"account_id": a, "segment": seg.get(a, "SMB")} for a in ids])


def workbook(acc, sub, ev=None, as_of=date(2024, 6, 30), **more) -> Workbook:
    tables = {"accounts": acc.lazy(), "subscriptions": sub.lazy()}
    if ev is not None:
        tables["events"] = ev.lazy()
    tables.update({k: v.lazy() for k, v in more.items()})
    return Workbook(tables, as_of=as_of)


# The tiny events table of the DAU / WAU / MAU rules (May 2024 starts on a Wednesday).
TINY = events(
    [
        (at("2024-04-30"), "A", "u4", None, "login", None),  # before May
        (at("2024-05-01"), "A", "u1", None, "login", None),
        (at("2024-05-02"), "A", "u1", None, "login", None),
        (at("2024-05-06"), "A", "u1", None, "login", None),
        (at("2024-05-06"), "A", "u2", None, "report_created", None),
        (at("2024-05-07", 10), "A", "u1", None, "login", None),
        (at("2024-05-07", 10, 30), "A", "u1", None, "report_created", None),
        (at("2024-05-10"), "A", None, None, "login", None),  # no user: never counts
        (at("2024-05-20"), "A", "u2", None, "report_created", None),
        (at("2024-05-31"), "A", "u3", None, "login", None),
    ]
)


def tiny_user_days() -> pl.DataFrame:
    return build_user_days(TINY.lazy()).collect()


# ---------------------------------------------------------------- DAU / WAU / MAU rules


def test_dau_wau_mau_rules_on_a_tiny_events_table():
    s = active_user_summary(tiny_user_days(), MAY)
    # daily distinct users: May 1: 1, 2: 1, 6: 2, 7: 1, 20: 1, 31: 1 -> 7 over 31 days
    assert s["dau_avg"].value == pytest.approx(7 / 31)
    # full ISO weeks inside May: 6-12 {u1, u2}, 13-19 {}, 20-26 {u2}; 27 May-2 Jun is cut
    assert iso_weeks_inside(MAY) == [
        (date(2024, 5, 6), date(2024, 5, 12)),
        (date(2024, 5, 13), date(2024, 5, 19)),
        (date(2024, 5, 20), date(2024, 5, 26)),
    ]
    assert s["wau_avg"].value == pytest.approx(3 / 3) and s["wau_avg"].n == 3
    assert s["mau_avg"].value == 3.0  # u1, u2, u3; u4 was active in April only
    assert s["stickiness"].value == pytest.approx((7 / 31) / 3)
    assert s["active_users"].value == 3.0


def test_wau_is_null_when_the_period_holds_no_full_iso_week():
    p = Period.parse("2024-05-01..2024-05-05")  # Wednesday to Sunday
    s = active_user_summary(tiny_user_days(), p)
    assert s["wau_avg"].value is None
    assert "no full ISO week" in s["wau_avg"].note
    assert s["dau_avg"].value == pytest.approx(2 / 5)
    assert s["mau_avg"].value == 1.0


def test_mau_averages_calendar_months_cut_to_the_period():
    p = Period.parse("2024-04-29..2024-05-06")  # Monday 29 April .. Monday 6 May
    s = active_user_summary(tiny_user_days(), p)
    assert s["mau_avg"].value == pytest.approx((1 + 2) / 2)  # April slice {u4}, May slice {u1, u2}
    assert s["wau_avg"].value == 2.0  # the one full week 29 Apr-5 May: {u4, u1}
    assert s["dau_avg"].value == pytest.approx(5 / 8)


def test_stickiness_over_several_months_can_exceed_one_as_documented():
    # 100 users active every day of January, nobody in February or March:
    # DAU average = 100 x 31 / 91 days, MAU average = (100 + 0 + 0) / 3 months
    jan = [date(2024, 1, 1) + timedelta(days=i) for i in range(31)]
    ud = pl.DataFrame(
        [(d, "A", f"u{u}") for d in jan for u in range(100)],
        schema={"day": pl.Date, "account_id": pl.String, "user_id": pl.String},
        orient="row",
    )
    s = active_user_summary(ud, Period.parse("2024-Q1"))
    assert s["stickiness"].value == pytest.approx((3100 / 91) / (100 / 3))
    assert s["stickiness"].value > 1


def test_active_events_option_restricts_the_qualifying_events():
    wb = workbook(
        accounts(["A"]), subs([("A", date(2024, 1, 1), None, 100.0, 5, "seat", False)]), TINY
    )
    every = as_dict(compute(wb, "2024-05", metrics=["active_users", "dau_avg"]))
    logins = as_dict(
        compute(
            wb, "2024-05", metrics=["active_users", "dau_avg"], options={"active_events": "login"}
        )
    )
    assert every["active_users"] == 3.0
    assert logins["active_users"] == 2.0  # u2 only created reports
    assert logins["dau_avg"] == pytest.approx(5 / 31)  # May 1, 2, 6, 7 (u1) and 31 (u3)


def test_usage_metrics_through_compute_match_the_pure_functions():
    wb = workbook(
        accounts(["A"]), subs([("A", date(2024, 1, 1), None, 100.0, 5, "seat", False)]), TINY
    )
    got = as_dict(compute(wb, "2024-05", metrics=["dau_avg", "wau_avg", "mau_avg", "stickiness"]))
    assert got == pytest.approx(
        {"dau_avg": 7 / 31, "wau_avg": 1.0, "mau_avg": 3.0, "stickiness": 7 / 93}
    )


def test_time_on_platform_is_mean_active_seconds_per_user_day():
    wb = workbook(
        accounts(["A"]), subs([("A", date(2024, 1, 1), None, 100.0, 5, "seat", False)]), TINY
    )
    got = as_dict(compute(wb, "2024-05", metrics=["time_on_platform_s"]))
    # seven active user-days in May; only u1 on 7 May spans 10:00-10:30
    assert got["time_on_platform_s"] == pytest.approx(1800 / 7)


# ---------------------------------------------------------------- licences (seed 001)


def test_seed_001_licence_utilisation_80_active_of_100_seats():
    q2 = Period.parse("2024-Q2")
    sub = subs(
        [
            ("A", date(2024, 1, 1), None, 1000.0, 100, "seat", False),
            ("A", date(2024, 1, 1), None, 50.0, 500, "gb", False),  # storage, not seats
            ("A", date(2024, 6, 1), None, 0.0, 50, "seat", True),  # trial seats never count
            ("B", date(2024, 1, 1), date(2024, 6, 15), 200.0, 40, "seat", False),  # gone by 30 June
        ]
    )
    rows = [
        (at(q2.end - timedelta(days=i % 30)), "A", f"u{i}", None, "login", None) for i in range(80)
    ]
    rows += [
        (at("2024-05-15"), "A", f"old{i}", None, "login", None) for i in range(10)
    ]  # > 30 days
    rows += [(at("2024-06-10"), "B", "b1", None, "login", None)]  # B has no seats at the end
    wb = workbook(accounts(["A", "B"]), sub, events(rows))
    got = as_dict(compute(wb, "2024-Q2", metrics=["seats_end", "license_utilisation"]))
    assert got["seats_end"] == 100.0
    assert got["license_utilisation"] == pytest.approx(0.80)


def test_licence_utilisation_is_null_without_seats():
    sub = subs([("A", date(2024, 1, 1), None, 100.0, 1, "flat", False)])
    wb = workbook(accounts(["A"]), sub, TINY)
    res = compute(wb, "2024-05", metrics=["license_utilisation"])
    assert res["value"].item() is None and "no seats" in res["note"].item()


# ---------------------------------------------------------------- sessions (seed 000)


def test_seed_000_average_session_duration_is_total_seconds_over_sessions():
    ev = events(
        [
            (at("2024-05-03", 10, 0, 0), "A", "u1", "s1", "login", None),
            (at("2024-05-03", 10, 1, 0), "A", "u1", "s1", "view", None),
            (at("2024-05-03", 10, 5, 0), "A", "u1", "s1", "view", None),  # 300 s
            (at("2024-05-04", 9, 0, 0), "A", "u2", "s2", "login", None),  # one event: 0 s
            (at("2024-05-05", 11, 0, 0), "A", "u1", "s3", "login", None),
            (at("2024-05-05", 11, 2, 0), "A", "u1", "s3", "view", None),  # 120 s
            (at("2024-04-30", 8, 0, 0), "A", "u1", "s0", "login", None),  # April: outside
            (at("2024-04-30", 9, 0, 0), "A", "u1", "s0", "view", None),
        ]
    )
    ss = period_sessions(build_sessions(ev.lazy()).collect(), MAY)
    assert ss.height == 3
    assert avg_session_duration(ss["duration_s"]).value == pytest.approx((300 + 0 + 120) / 3)
    wb = workbook(
        accounts(["A"]), subs([("A", date(2024, 1, 1), None, 10.0, 1, "seat", False)]), ev
    )
    got = as_dict(compute(wb, "2024-05", metrics=["sessions", "avg_session_duration_s"]))
    assert got == {"sessions": 3.0, "avg_session_duration_s": 140.0}


def test_average_session_duration_is_null_without_sessions():
    v = avg_session_duration(pl.Series([], dtype=pl.Int64))
    assert v.value is None and v.note == "no sessions in the period"


# ---------------------------------------------------------------- onboarding and time to value


def onboarding(rows) -> pl.DataFrame:
    return table_frame(
        "onboarding", [{"account_id": a, "milestone": m, "reached_at": d} for a, m, d in rows]
    )


FIRST_PAID = pl.DataFrame(
    {
        "account_id": ["A", "B", "C", "D"],
        "first_paid": [date(2024, 1, 10), date(2024, 2, 1), date(2024, 1, 5), date(2023, 6, 1)],
    }
)
ALL4 = ("kickoff", "provisioned", "trained", "first_value")
OB = onboarding(
    [("A", m, date(2024, 1, 3 + i)) for i, m in enumerate(ALL4)]  # kickoff before paying counts
    + [("A", "trained", date(2024, 3, 1))]  # a later repeat: the first time counts
    + [("B", m, date(2024, 2, 10)) for m in ("kickoff", "provisioned")]
    + [("C", m, date(2024, 1, 20)) for m in ("kickoff", "provisioned", "trained")]
    + [("C", "first_value", date(2024, 5, 1))]  # 117 days after paying: too late
    + [("D", m, date(2023, 7, 1)) for m in ALL4]  # paid before the period: not in the cohort
)


def test_onboarding_completion_counts_new_accounts_complete_within_the_window():
    q1 = Period.parse("2024-Q1")
    st_ = onboarding_status(OB, FIRST_PAID, q1, as_of=date(2024, 9, 30))
    assert st_["account_id"].to_list() == ["A", "B", "C"]
    assert st_["completed"].to_list() == [True, False, False]
    v = onboarding_completion(st_)
    assert v.value == pytest.approx(1 / 3) and v.n == 3 and v.note == ""
    two = onboarding_status(OB, FIRST_PAID, q1, required=("kickoff", "provisioned"))
    assert onboarding_completion(two).value == 1.0


def test_onboarding_completion_notes_accounts_still_inside_their_window():
    q1 = Period.parse("2024-Q1")
    st_ = onboarding_status(OB, FIRST_PAID, q1, as_of=date(2024, 3, 31))
    assert st_.filter(pl.col("pending"))["account_id"].to_list() == ["B", "C"]
    assert onboarding_completion(st_).note == "2 of 3 accounts are still inside their 90-day window"


def test_onboarding_completion_through_compute_with_options():
    sub = subs(
        [(a, d, None, 100.0, 1, "seat", False) for a, d in FIRST_PAID.iter_rows()]
        + [("D", date(2023, 1, 1), None, 0.0, 1, "seat", True)]
    )
    wb = workbook(accounts(["A", "B", "C", "D"]), sub, onboarding=OB, as_of=date(2024, 9, 30))
    got = as_dict(compute(wb, "2024-Q1", metrics=["onboarding_completion"]))
    assert got["onboarding_completion"] == pytest.approx(1 / 3)
    got = as_dict(
        compute(
            wb,
            "2024-Q1",
            metrics=["onboarding_completion"],
            options={"onboarding_window_days": 120},
        )
    )
    assert got["onboarding_completion"] == pytest.approx(2 / 3)  # C's value at day 117 now counts


def test_time_to_value_median_and_p75():
    fp = pl.DataFrame(
        {
            "account_id": ["a", "b", "c", "d", "e", "f"],
            "first_paid": [date(2024, 5, 1)] * 5 + [date(2024, 1, 1)],
        }
    )
    ob = onboarding(
        [("a", "first_value", date(2024, 4, 20))]  # value before paying: 0 days
        + [
            (x, "first_value", date(2024, 5, 1) + timedelta(days=k))
            for x, k in zip("bcde", (10, 20, 30, 40), strict=True)
        ]
        + [("f", "first_value", date(2024, 2, 1))]  # reached value before June
    )
    june_q = Period.parse("2024-04-01..2024-06-30")
    t = time_to_value(ob, fp, june_q)
    assert sorted(t["days"].to_list()) == [0, 10, 20, 30, 40]
    assert days_quantile(t["days"], 0.5).value == 20.0
    assert days_quantile(t["days"], 0.75).value == 30.0
    paid = time_to_value(ob, fp, Period.parse("2024-01"), cohort="paid_in_period")
    assert paid["days"].to_list() == [31]
    assert days_quantile(pl.Series([], dtype=pl.Int64), 0.5).value is None


def test_time_to_value_metrics_through_compute():
    starts = {
        "a": date(2024, 4, 1),
        "b": date(2024, 4, 1),
        "c": date(2024, 4, 1),
        "d": date(2024, 4, 1),
    }
    sub = subs([(a, d, None, 100.0, 1, "seat", False) for a, d in starts.items()])
    ob = onboarding(
        [
            (a, "first_value", date(2024, 4, 1) + timedelta(days=k))
            for a, k in zip("abcd", (10, 20, 30, 40), strict=True)
        ]
    )
    wb = workbook(accounts(list(starts)), sub, onboarding=ob)
    got = as_dict(
        compute(wb, "2024-Q2", metrics=["time_to_value_median_days", "time_to_value_p75_days"])
    )
    assert got == {"time_to_value_median_days": 25.0, "time_to_value_p75_days": 32.5}
    seg = as_dict(
        compute(wb, "2024-Q2", "segment=Enterprise", metrics=["time_to_value_median_days"])
    )
    assert seg["time_to_value_median_days"] is None  # nobody in that segment


# ---------------------------------------------------------------- features and per-account usage

FEAT = events(
    [
        (at("2024-05-02"), "A", "a1", "s1", "view", "dashboards"),
        (at("2024-05-02"), "A", "a2", "s2", "view", "dashboards"),
        (at("2024-05-03"), "A", "a1", "s3", "export", "reports"),
        (at("2024-05-04"), "B", "b1", "s4", "view", "dashboards"),
        (at("2024-05-05"), "C", "c1", "s5", "view", "alerts"),  # C is not a customer at the end
        (
            at("2024-04-05"),
            "B",
            "b1",
            "s6",
            "view",
            "api",
        ),  # April: api is available, unused in May
    ]
)
FEAT_SUBS = subs(
    [
        ("A", date(2024, 1, 1), None, 100.0, 5, "seat", False),
        ("B", date(2024, 1, 1), None, 100.0, 2, "seat", False),
        ("C", date(2024, 1, 1), date(2024, 5, 10), 100.0, 2, "seat", False),
        ("D", date(2024, 1, 1), None, 100.0, 2, "seat", False),  # customer with no activity
    ]
)


def test_feature_adoption_table_shares_of_customers_and_active_users():
    wb = workbook(accounts("ABCD"), FEAT_SUBS, FEAT)
    t = feature_adoption(wb.facts, MAY)
    rows = {r["feature"]: r for r in t.iter_rows(named=True)}
    assert set(rows) == {"dashboards", "reports", "alerts"}
    assert (rows["dashboards"]["accounts"], rows["dashboards"]["account_share"]) == (2, 2 / 3)
    assert (rows["dashboards"]["users"], rows["dashboards"]["user_share"]) == (3, 3 / 4)
    assert rows["alerts"]["accounts"] == 0 and rows["alerts"]["user_share"] == 1 / 4
    assert t["feature"][0] == "dashboards"


def test_usage_by_account_lists_active_accounts_and_idle_customers():
    wb = workbook(accounts("ABCD"), FEAT_SUBS, FEAT)
    u = usage_by_account(wb.facts, MAY)
    assert u["account_id"].to_list() == ["A", "B", "C", "D"]
    a = u.row(0, named=True)
    assert (
        a["active_days"],
        a["active_users"],
        a["features_used"],
        a["events"],
        a["sessions"],
    ) == (2, 2, 2, 3, 3)
    assert a["seats"] == 5 and a["license_utilisation"] == pytest.approx(2 / 5)
    d = u.row(3, named=True)
    assert d["customer"] and d["active_days"] == 0 and d["sessions"] == 0
    assert not u.row(2, named=True)["customer"]  # C churned on 10 May


def test_frequency_breadth_depth_average_over_active_closing_customers():
    wb = workbook(accounts("ABCD"), FEAT_SUBS, FEAT)
    res = compute(
        wb,
        "2024-05",
        metrics=[
            "features_per_account",
            "feature_breadth",
            "usage_frequency_days",
            "breadth_users",
        ],
    )
    got = as_dict(res)
    # active closing customers: A (2 days, 2 users, 2 features) and B (1, 1, 1); D idle
    assert got["usage_frequency_days"] == 1.5
    assert got["breadth_users"] == 1.5
    assert got["features_per_account"] == 1.5
    assert got["feature_breadth"] == pytest.approx(1.5 / 4)  # 4 features seen up to 31 May
    assert set(res["note"]) == {"1 of 3 closing customers had no activity"}


def test_usage_trend_weekly_buckets_cut_to_the_period():
    wb = workbook(
        accounts(["A"]), subs([("A", date(2024, 1, 1), None, 100.0, 5, "seat", False)]), TINY
    )
    t = usage_trend(wb.facts, MAY, grain="week")
    assert t["start"].to_list() == [date(2024, 5, d) for d in (1, 6, 13, 20, 27)]
    assert t["days"].to_list() == [5, 7, 7, 7, 5]
    assert t["complete"].to_list() == [False, True, True, True, False]
    assert t["active_users"].to_list() == [1, 2, 0, 1, 1]
    assert t["dau_avg"][1] == pytest.approx(3 / 7)
    m = usage_trend(wb.facts, MAY, grain="month")
    assert m.height == 1 and m["active_users"].item() == 3 and m["complete"].item()


# ---------------------------------------------------------------- properties

DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(31)]
user_days_strategy = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.sampled_from("ABC"),
        st.sampled_from(["u1", "u2", "u3", "u4", "u5"]),
    ),
    max_size=40,
)


def _ud(rows) -> pl.DataFrame:
    acct = {"u1": "A", "u2": "A", "u3": "B", "u4": "B", "u5": "C"}  # a user belongs to one account
    return pl.DataFrame(
        [(d, acct[u], u) for d, _, u in rows],
        schema={"day": pl.Date, "account_id": pl.String, "user_id": pl.String},
        orient="row",
    ).unique()


@settings(max_examples=40, deadline=None)
@given(user_days_strategy)
def test_property_active_user_averages_are_ordered_within_a_month(rows):
    ud = _ud(rows)
    s = active_user_summary(ud, MAY)
    dau, wau, mau = s["dau_avg"].value, s["wau_avg"].value, s["mau_avg"].value
    assert 0 <= dau <= mau <= s["active_users"].value
    assert 0 <= wau <= mau
    if mau:
        assert 0 <= s["stickiness"].value <= 1
    else:
        assert s["stickiness"].value is None


@settings(max_examples=40, deadline=None)
@given(user_days_strategy, st.sets(st.sampled_from("ABC")))
def test_property_segment_and_complement_add_up(rows, seg):
    ud = _ud(rows)
    ids = pl.Series(sorted(seg), dtype=pl.String)
    rest = pl.Series(sorted(set("ABC") - seg), dtype=pl.String)
    total = active_user_summary(ud, MAY)
    a, b = active_user_summary(ud, MAY, ids), active_user_summary(ud, MAY, rest)
    for k in ("dau_avg", "mau_avg", "active_users"):
        assert a[k].value + b[k].value == pytest.approx(total[k].value)


@settings(max_examples=30, deadline=None)
@given(user_days_strategy, st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=40))
def test_property_feature_shares_are_fractions(rows, feats):
    ud = _ud(rows)
    fd = ud.with_columns(feature=pl.Series(feats * (ud.height // len(feats) + 1))[: ud.height])
    t = feature_adoption_from(fd, ud, pl.Series(["A", "B"]), MAY)
    for col in ("account_share", "user_share"):
        assert t[col].drop_nulls().is_between(0, 1).all()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(ALL4), st.integers(-10, 200)), max_size=12),
    st.integers(1, 120),
)
def test_property_onboarding_completion_is_a_fraction(reached, window):
    fp = pl.DataFrame(
        {"account_id": ["a", "b"], "first_paid": [date(2024, 5, 1), date(2024, 5, 20)]}
    )
    ob = onboarding(
        [("ab"[i % 2], m, date(2024, 5, 1) + timedelta(days=k)) for i, (m, k) in enumerate(reached)]
    )
    v = onboarding_completion(onboarding_status(ob, fp, MAY, window_days=window), window)
    assert 0 <= v.value <= 1 and v.n == 2


# ---------------------------------------------------------------- the bundled sample

needs_sample = pytest.mark.skipif(
    not (SAMPLE_DIR / "events.parquet").exists(),
    reason="the bundled sample data/sample is absent (generate it with `csm sample`)",
)


@needs_sample
def test_sample_adoption_metrics_on_2025_q4_are_all_present():
    from csm_lib.compute import load_registry
    from csm_lib.data import load

    specs = load_registry()
    ids = [k for k, s in specs.items() if s.pillar == "adoption"]
    # lenient: this smoke test checks the adoption formulas, not the sample's validity
    res = compute(load(SAMPLE_DIR, strict=False), "2025-Q4", metrics=ids)
    missing = res.filter(pl.col("value").is_null())
    assert missing.height == 0, missing.select("id", "note").rows()
    got = as_dict(res)
    assert 0 < got["stickiness"] <= 1 and 0 < got["onboarding_completion"] <= 1
    assert got["dau_avg"] <= got["wau_avg"] <= got["mau_avg"] <= got["active_users"]


def test_usage_by_account_trailing_window_reaches_before_a_short_period():
    """February 2024 has 29 days: its 30-day window starts on 31 January. Activity on that
    day counts in users_30d only; an account active only then is listed only as a customer."""
    from csm_lib.adoption import usage_by_account_from

    feb = Period.parse("2024-02")
    ud = pl.DataFrame(
        {"day": [date(2024, 1, 31), date(2024, 1, 31), date(2024, 2, 10)],
         "account_id": ["X", "Y", "Y"], "user_id": ["x1", "y1", "y2"], "events": [4, 1, 2]},
        schema_overrides={"events": pl.UInt32},
    )  # fmt: skip
    fd = ud.select("day", "account_id", "user_id", feature=pl.lit("reports"))
    ss = pl.DataFrame(schema={"account_id": pl.String, "day": pl.Date, "duration_s": pl.Int64})
    subs = pl.DataFrame(
        {"account_id": ["Y", "Z"], "start_date": [date(2024, 1, 1)] * 2,
         "end_date": [date(9999, 12, 31)] * 2, "mrr_cents": [100, 100],
         "unit": ["seat", "seat"], "quantity": [4, 2]},
    )  # fmt: skip
    u = usage_by_account_from(ud, fd, ss, subs, feb)
    assert u["account_id"].to_list() == ["Y", "Z"]  # X: active only before Feb, no customer
    y = u.row(0, named=True)
    assert (y["active_days"], y["active_users"], y["events"], y["users_30d"]) == (1, 1, 2, 2)
    assert y["license_utilisation"] == 0.5 and y["customer"]
    z = u.row(1, named=True)
    assert (z["active_days"], z["users_30d"], z["seats"]) == (0, 0, 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 75), st.sampled_from(["A", "B"]), st.integers(0, 6)),
        max_size=60,
    ),
    st.sampled_from(["2024-05", "2024-Q2", "2024-05-03..2024-06-12"]),
)
def test_active_user_summary_equals_per_bucket_counts_for_ids_and_integer_keys(rows, label):
    """DAU/WAU/MAU are sums over days / full ISO weeks / months of each bucket's distinct
    users, whether users are string ids or the facts' integer keys."""
    p = Period.parse(label)
    start = date(2024, 4, 20)
    ud = pl.DataFrame(
        {"day": [start + timedelta(days=d) for d, _, _ in rows],
         "account_id": [a for _, a, _ in rows], "user_id": [f"u{u}" for _, _, u in rows]},
        schema={"day": pl.Date, "account_id": pl.String, "user_id": pl.String},
    ).unique()  # fmt: skip
    keyed = ud.with_columns(pl.col("user_id").rank("dense").cast(pl.UInt32))
    got, got_keyed = active_user_summary(ud, p), active_user_summary(keyed, p)
    inside = [
        (d, u) for d, u in zip(ud["day"], ud["user_id"], strict=True) if p.start <= d <= p.end
    ]

    def per_bucket(key) -> int:
        return sum(len({u for d, u in inside if key(d) == k}) for k in {key(d) for d, _ in inside})

    weeks = iso_weeks_inside(p)
    in_weeks = [(d, u) for d, u in inside if weeks and weeks[0][0] <= d <= weeks[-1][1]]
    assert got["dau_avg"].value == per_bucket(lambda d: d) / p.days
    assert got["mau_avg"].value == per_bucket(lambda d: (d.year, d.month)) / len(month_slices(p))
    if weeks:
        wau = sum(len({u for d, u in in_weeks if d.isocalendar()[:2] == w})
                  for w in {d.isocalendar()[:2] for d, _ in in_weeks})  # fmt: skip
        assert got["wau_avg"].value == wau / len(weeks)
    assert got["active_users"].value == len({u for _, u in inside})
    assert {k: (v.value, v.n) for k, v in got.items()} == {
        k: (v.value, v.n) for k, v in got_keyed.items()
    }
