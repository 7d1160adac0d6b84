"""Customer health: components, score, bands, renewal litmus, red flags, fit comparison.

Every expected number below is worked out by hand in the comments from the
documented rules (csm_lib/health.py): component = 1 + number of the nine
fixed thresholds reached; score = (weighted mean - 1) / 9 x 100.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csm_lib.compute import as_dict, compute
from csm_lib.contract import TABLES
from csm_lib.data import Workbook
from csm_lib.health import (
    COMPONENTS,
    DEFAULT_THRESHOLDS,
    THREE_SIGNALS,
    auc_interval,
    band_of,
    fit_comparison,
    health_distribution,
    health_notes,
    health_scores,
    litmus_components,
    litmus_events,
    normalise_weights,
    red_flags,
    renewal_events,
    renewal_litmus,
    roc_auc,
    sentiment_points,
    threshold_scores,
)
from csm_lib.periods import Period
from csm_lib.revenue import bridge, movements

EVENTS_SCHEMA = {c: col.dtype for c, col in TABLES["events"].columns.items()}

HEALTH_IDS = [
    "health_score_avg",
    "health_green_share",
    "health_red_share",
    "at_risk_mrr",
    "renewal_litmus_auc",
    "renewal_rate_green",
    "renewal_rate_red",
]

# ------------------------------------------------------------------ builders
SUB_SCHEMA = {
    "subscription_id": pl.String,
    "account_id": pl.String,
    "product_line": pl.String,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "mrr": pl.Float64,
    "quantity": pl.Int32,
    "unit": pl.String,
    "term_months": pl.Int32,
    "is_trial": pl.Boolean,
}


def sub(sid, acc, start, end, mrr, quantity=1, unit="flat", term=None):
    return (sid, acc, "Core", start, end, mrr, quantity, unit, term, False)


def days(first: date, n: int, step: int = 1) -> list[date]:
    return [first + timedelta(days=i * step) for i in range(n)]


def use(acc: str, user: str, on: list[date], feature: str | None = "f1", seconds: int = 0):
    """One event per day (10:00 UTC); with seconds > 0 a second event that many seconds later."""
    rows = []
    for d in on:
        t = datetime(d.year, d.month, d.day, 10)
        sid = f"{acc}-{user}-{d}"
        rows.append((t, acc, user, sid, "click", feature))
        if seconds:
            rows.append((t + timedelta(seconds=seconds), acc, user, sid, "click", feature))
    return rows


def workbook(subs, events=(), tickets=None, surveys=None, accounts=None, as_of=date(2024, 12, 31)):
    ids = sorted({s[1] for s in subs} | {e[1] for e in events or ()})
    acc = accounts if accounts is not None else pl.DataFrame({"account_id": ids})
    tables = {
        "accounts": acc.lazy(),
        "subscriptions": pl.DataFrame(list(subs), schema=SUB_SCHEMA, orient="row").lazy(),
    }
    if events is not None:
        tables["events"] = pl.DataFrame(
            list(events),
            schema=EVENTS_SCHEMA,
            orient="row",
        ).lazy()
    if tickets is not None:  # (account_id, opened day)
        tables["tickets"] = pl.DataFrame(
            [(f"T{i}", a, datetime(d.year, d.month, d.day, 9)) for i, (a, d) in enumerate(tickets)],
            schema={
                "ticket_id": pl.String,
                "account_id": pl.String,
                "opened_at": pl.Datetime("us", "UTC"),
            },
            orient="row",
        ).lazy()
    if surveys is not None:  # (account_id, survey, score, day)
        tables["surveys"] = pl.DataFrame(
            [(f"R{i}", a, s, sc, d) for i, (a, s, sc, d) in enumerate(surveys)],
            schema={
                "response_id": pl.String,
                "account_id": pl.String,
                "survey": pl.String,
                "score": pl.Int32,
                "responded_at": pl.Date,
            },
            orient="row",
        ).lazy()
    return Workbook(tables, as_of=as_of)


AT = date(2024, 3, 31)  # window of 90 days: 2024-01-02 .. 2024-03-31; last 30: 03-02 .. 03-31


def hand_workbook(with_tickets=True, with_surveys=True):
    """Account a (mature, 10 seats), b (new on 2024-03-02, flat plan), c (gone before AT)."""
    subs = [
        sub("Sa", "a", date(2023, 1, 1), None, 500.0, 10, "seat", 12),
        sub("Sb", "b", date(2024, 3, 2), None, 50.0),
        sub("Sc", "c", date(2023, 1, 1), date(2023, 6, 1), 80.0),
    ]
    ev = []
    # a: 45 active days in the window (every other day from 01-03), user u0 uses f1, f2, f3
    a_days = days(date(2024, 1, 3), 45, 2)
    assert a_days[-1] == date(2024, 3, 31)
    for f in ("f1", "f2", "f3"):
        ev += use("a", "u0", a_days, f)
    # seven more users of a active once in the last 30 days -> 8 active users
    for k in range(1, 8):
        ev += use("a", f"u{k}", [date(2024, 3, 21)], "f1")
    ev += use("a", "u9", [date(2024, 2, 2)], "f1")  # active in the window, not in the last 30 days
    ev += use("a", "u0", [date(2024, 4, 10)], "f6")  # after AT: f6 is not yet available
    ev += use("c", "c0", [date(2023, 3, 1)], "f4")  # f4 seen before AT (c is gone by AT)
    ev += use("b", "b0", [date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)], "f5")
    tickets = [("a", date(2024, 1, 10)), ("a", date(2024, 2, 10)), ("a", date(2024, 3, 10))]
    tickets += [("a", date(2023, 12, 1))]  # before the window
    surveys = [
        ("a", "nps", 0, date(2024, 2, 1)),  # older answer: ignored
        ("a", "nps", 9, date(2024, 3, 1)),
        ("a", "nps", 7, date(2024, 3, 1)),
        ("a", "nps", 10, date(2024, 4, 15)),  # after AT
    ]
    return workbook(
        subs,
        ev,
        tickets if with_tickets else None,
        surveys if with_surveys else None,
    )


# ------------------------------------------------------------------ scoring rules
def test_threshold_scores_count_the_thresholds_reached():
    cuts = DEFAULT_THRESHOLDS["frequency"]  # 1 2 4 6 8 11 14 17 20
    assert threshold_scores([0, 0.99, 1, 3.9, 14, 19.99, 20, 31], cuts).to_list() == [
        1, 1, 2, 3, 8, 9, 10, 10,
    ]  # fmt: skip
    lower = DEFAULT_THRESHOLDS["support_per_month"]  # 0 .5 1 1.5 2 3 4 6 8 (at or below)
    assert threshold_scores([0, 0.4, 1, 2.5, 8, 8.01], lower, False).to_list() == [
        10, 9, 8, 5, 2, 1,
    ]  # fmt: skip


def test_thresholds_must_be_nine_ascending_numbers():
    with pytest.raises(ValueError, match="9 ascending"):
        threshold_scores([1.0], [1, 2, 3])
    with pytest.raises(ValueError, match="9 ascending"):
        threshold_scores([1.0], [9, 8, 7, 6, 5, 4, 3, 2, 1])


def test_sentiment_maps_nps_and_csat_linearly_onto_1_to_10():
    assert sentiment_points("nps", 0) == 1.0
    assert sentiment_points("nps", 10) == 10.0
    assert sentiment_points("nps", 5) == pytest.approx(5.5)
    assert sentiment_points("csat", 1) == 1.0
    assert sentiment_points("csat", 5) == 10.0
    assert sentiment_points("csat", 4) == pytest.approx(7.75)


def test_weights_are_normalised_and_validated():
    w = normalise_weights({"frequency": 3, "support": 1})
    assert w["frequency"] == 0.75 and w["support"] == 0.25 and w["depth"] == 0.0
    assert sum(normalise_weights().values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown component"):
        normalise_weights({"happiness": 1})
    with pytest.raises(ValueError, match=">= 0"):
        normalise_weights({"frequency": -1, "depth": 2})
    with pytest.raises(ValueError, match="> 0"):
        normalise_weights({"frequency": 0})


def test_bands_follow_the_thresholds():
    assert band_of([0, 39.99, 40, 69.99, 70, 100]).to_list() == [
        "red", "red", "yellow", "yellow", "green", "green",
    ]  # fmt: skip
    assert band_of([49, 50, 80], bands=(50, 80)).to_list() == ["red", "yellow", "green"]


# ------------------------------------------------------------------ hand-built scores
def test_hand_built_components_and_score():
    f = hand_workbook().facts
    sc = health_scores(f, AT, detail=True)
    assert sc["account_id"].to_list() == ["a", "b"]  # c is not paying on AT
    a, b = sc.row(0, named=True), sc.row(1, named=True)
    # a: 45 active days / 90 paying days x 30 = 15 per month -> reaches 1..14 -> 8
    assert (a["active_days"], a["exposure"]) == (45, 90.0)
    assert a["frequency"] == 8
    # a: 8 users active in the last 30 days (u0..u7; u9 only earlier) / 10 seats = 0.8 -> 9
    assert (a["active_users"], a["seats"]) == (8, 10)
    assert a["breadth"] == 9
    # a: f1, f2, f3 used; available on AT: f1..f5 (f6 first appears later) -> 0.6 -> 7
    assert (a["features_used"], a["features_available"]) == (3, 5)
    assert a["depth"] == 7
    # a: 3 tickets in the window -> 1 per 30 days -> at or below 1, 1.5, 2, 3, 4, 6, 8 -> 8
    assert a["tickets"] == 3 and a["support"] == 8
    # a: latest answers (2024-03-01) NPS 9 and 7 -> (9.1 + 7.3) / 2 = 8.2
    assert a["sentiment"] == pytest.approx(8.2)
    # a: mean (8 + 9 + 7 + 8 + 8.2) / 5 = 8.04 -> (8.04 - 1) / 9 x 100 = 78.2222 -> green
    assert a["score"] == pytest.approx(78.2222, abs=1e-4)
    assert a["band"] == "green" and a["mrr"] == 500.0
    # b: paying 30 days (03-02 .. 03-31), active 3 -> 3 per month -> 3
    assert (b["exposure"], b["active_days"], b["frequency"]) == (30.0, 3, 3)
    # b: no seats -> 1 active user -> reaches 1 -> 2; depth f5 only: 1/5 = 0.2 -> 3
    assert (b["seats"], b["breadth"], b["depth"]) == (0, 2, 3)
    # b: no tickets -> 10; never answered a survey -> neutral 5.5
    assert (b["support"], b["sentiment"]) == (10, 5.5)
    # b: (3 + 2 + 3 + 10 + 5.5) / 5 = 4.7 -> 3.7 / 9 x 100 = 41.1111 -> yellow
    assert b["score"] == pytest.approx(41.1111, abs=1e-4) and b["band"] == "yellow"


def test_weights_change_the_score_as_expected():
    f = hand_workbook().facts
    only_freq = health_scores(f, AT, weights={"frequency": 1})
    # frequency only: a (8 - 1) / 9 = 77.7778, b (3 - 1) / 9 = 22.2222 -> red
    assert only_freq["score"].to_list() == pytest.approx([77.7778, 22.2222], abs=1e-4)
    assert only_freq["band"].to_list() == ["green", "red"]
    three = health_scores(f, AT, weights=THREE_SIGNALS)
    # seed 001's three signals: a (8 + 9 + 7) / 3 = 8 -> 77.7778; b (3 + 2 + 3) / 3 -> 18.5185
    assert three["score"].to_list() == pytest.approx([77.7778, 18.5185], abs=1e-4)
    # doubling every weight changes nothing (weights are normalised)
    double = health_scores(f, AT, weights=dict.fromkeys(COMPONENTS, 2.0))
    assert double["score"].to_list() == health_scores(f, AT)["score"].to_list()
    # more weight on support (b has none) raises b and lowers a
    sup = health_scores(f, AT, weights={**dict.fromkeys(COMPONENTS, 1.0), "support": 4.0})
    base = health_scores(f, AT)
    assert sup["score"][1] > base["score"][1] and sup["score"][0] < base["score"][0]


def test_support_per_user_basis_and_lookback_and_bands_options():
    f = hand_workbook().facts
    # per user: 1 ticket a month / 8 active users = 0.125 -> at or below 0.15 .. 1.0 (5) -> 6
    sc = health_scores(f, AT, support_basis="per_user")
    assert sc["support"].to_list() == [6, 10]
    with pytest.raises(ValueError, match="health_support_basis"):
        health_scores(f, AT, support_basis="per_seat")
    # 30-day lookback: a has 15 active days in 03-02 .. 03-31 (every other day) -> 15 -> 8
    short = health_scores(f, AT, lookback_days=30, detail=True)
    assert short["active_days"][0] == 15 and short["frequency"][0] == 8
    assert short["tickets"][0] == 1  # only the 03-10 ticket is inside 30 days
    strict = health_scores(f, AT, bands=(50, 80))
    assert strict["band"].to_list() == ["yellow", "red"]


def test_active_events_limit_what_counts_as_active():
    wb = hand_workbook()
    logins = use("a", "u0", [date(2024, 3, 30), date(2024, 3, 31)])
    ev = wb.table("events").collect()
    ev = pl.concat([ev, pl.DataFrame(logins, schema=ev.schema, orient="row")])
    ev = ev.with_columns(
        event=pl.when(pl.col("event_at").dt.date() >= date(2024, 3, 30))
        .then(pl.lit("login"))
        .otherwise("event")
    )
    wb = Workbook({**wb.tables, "events": ev.lazy()}, as_of=wb.as_of)
    sc = health_scores(wb.facts, AT, detail=True, active_events="login").sort("account_id")
    # only u0's two login days count: 2 in 90 days = 0.67 a month -> 1 (8 with every
    # event); 1 active user / 10 seats = 0.1 -> 2 (9 with every event)
    assert sc["active_days"].to_list() == [2, 0] and sc["active_users"].to_list() == [1, 0]
    assert sc["frequency"].to_list() == [1, 1] and sc["breadth"].to_list() == [2, 1]
    v = as_dict(
        compute(wb, "2024-03", metrics=["health_score_avg"], options={"active_events": ["login"]})
    )
    assert v["health_score_avg"] == pytest.approx(sc["score"].mean())


def test_thresholds_option_overrides_one_component():
    f = hand_workbook().facts
    # frequency cut points 10, 20, ... 90 a month: a (15) reaches 1 -> 2, b (3) none -> 1
    cuts = [10, 20, 30, 40, 50, 60, 70, 80, 90]
    sc = health_scores(f, AT, thresholds={"frequency": cuts})
    assert sc["frequency"].to_list() == [2, 1]
    assert sc["breadth"].to_list() == health_scores(f, AT)["breadth"].to_list()
    v = as_dict(
        compute(
            hand_workbook(), "2024-03", metrics=["health_score_avg"],
            options={"health_thresholds": {"frequency": cuts}},
        )
    )  # fmt: skip
    assert v["health_score_avg"] == pytest.approx(sc["score"].mean())
    with pytest.raises(ValueError, match="unknown key"):
        health_scores(f, AT, thresholds={"freq": cuts})


def test_missing_tickets_and_surveys_score_neutral_with_a_note():
    wb = hand_workbook(with_tickets=False, with_surveys=False)
    sc = health_scores(wb.facts, AT)
    assert sc["support"].to_list() == [5.5, 5.5]
    assert sc["sentiment"].to_list() == [5.5, 5.5]
    notes = health_notes(wb.facts)
    assert any("tickets" in n for n in notes) and any("surveys" in n for n in notes)
    res = compute(wb, "2024-03", metrics=["health_score_avg"])
    assert "no tickets table" in res["note"][0]


def test_a_rate_exactly_on_a_threshold_reaches_it():
    """22 active days in 44 paying days is 15 a month: 14 is reached (22 x (30 / 44) would
    give 14.999999999999998 and lose a point to rounding)."""
    start = AT - timedelta(days=43)
    wb = workbook([sub("S", "a", start, None, 10.0)], use("a", "u", days(start, 22, 2)))
    sc = health_scores(wb.facts, AT, detail=True)
    assert (sc["exposure"][0], sc["active_days"][0], sc["frequency"][0]) == (44.0, 22, 8)


def test_no_feature_data_scores_depth_neutral_with_a_note():
    subs = [sub("S", "a", date(2023, 1, 1), None, 10.0)]
    wb = workbook(subs, use("a", "u", [date(2024, 3, 1)], feature=None))
    assert health_scores(wb.facts, AT)["depth"].to_list() == [5.5]
    assert any("depth" in n for n in health_notes(wb.facts))


def test_seed_001_daily_use_scores_10_and_less_than_monthly_scores_1_out_of_30():
    """Seed 001: daily users score 10, those logging in less than once a month score 1;
    three signals scored 1-10 give a health score out of 30."""
    subs = [
        sub("S1", "daily", date(2023, 1, 1), None, 100.0, 2, "seat"),
        sub("S2", "rare", date(2023, 1, 1), None, 100.0, 2, "seat"),
    ]
    window = days(date(2024, 1, 2), 90)
    ev = []
    for user in ("d1", "d2"):  # both seats used every day, every feature
        for feat in ("f1", "f2"):
            ev += use("daily", user, window, feat)
    ev += use("rare", "r1", [date(2024, 1, 20), date(2024, 2, 20)], "f1")  # 2 days in 90
    f = workbook(subs, ev).facts
    sc = health_scores(f, AT, weights=THREE_SIGNALS).sort("account_id")
    daily = sc.filter(pl.col("account_id") == "daily").row(0, named=True)
    rare = sc.filter(pl.col("account_id") == "rare").row(0, named=True)
    assert daily["frequency"] == 10 and rare["frequency"] == 1  # 0.67 active days a month
    out_of_30 = daily["frequency"] + daily["breadth"] + daily["depth"]
    assert out_of_30 == 30 and daily["score"] == 100.0
    # rare: frequency 1, breadth 0 users / 2 seats -> 1, depth 1/2 -> 6: 8 out of 30
    assert rare["frequency"] + rare["breadth"] + rare["depth"] == 8


def test_health_distribution_lists_every_band():
    f = hand_workbook().facts
    dist = health_distribution(f, AT)
    assert dist["band"].to_list() == ["red", "yellow", "green"]
    assert dist["accounts"].to_list() == [0, 1, 1]
    assert dist["mrr"].to_list() == [0.0, 50.0, 500.0]
    assert dist["share"].sum() == pytest.approx(1.0)
    empty = health_distribution(f, date(2022, 6, 30))  # nobody paying yet
    assert empty["accounts"].sum() == 0 and empty["share"].is_null().all()


def test_segment_ids_filter_the_accounts():
    f = hand_workbook().facts
    sc = health_scores(f, AT, ids=pl.Series(["b"]))
    assert sc["account_id"].to_list() == ["b"]
    assert sc["score"][0] == health_scores(f, AT)["score"][1]  # fixed thresholds: no peer effect


# ------------------------------------------------------------------ property tests
@st.composite
def usage_world(draw):
    n = draw(st.integers(1, 4))
    subs, ev, tickets, surveys = [], [], [], []
    for i in range(n):
        acc = f"A{i}"
        start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 80)))
        seats = draw(st.integers(0, 5))
        subs.append(sub(f"S{i}", acc, start, None, 10.0, seats, "seat" if seats else "flat"))
        for u in range(draw(st.integers(0, 3))):
            on = sorted(
                set(draw(st.lists(st.integers(0, 100), max_size=30))),
            )
            feat = draw(st.sampled_from(["f1", "f2", "f3", None]))
            ev += use(acc, f"{acc}u{u}", [start + timedelta(days=d) for d in on], feat)
        for d in draw(st.lists(st.integers(0, 100), max_size=6)):
            tickets.append((acc, start + timedelta(days=d)))
        for d, s in draw(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 10)), max_size=3)):
            surveys.append((acc, "nps", s, start + timedelta(days=d)))
    return workbook(subs, ev, tickets, surveys)


weights_st = st.dictionaries(
    st.sampled_from(COMPONENTS), st.floats(0.01, 10), min_size=1, max_size=5
)
bands_st = st.tuples(st.floats(0, 100), st.floats(0, 100)).map(lambda t: tuple(sorted(t)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(usage_world(), weights_st, bands_st, st.integers(1, 120))
def test_property_scores_in_range_and_bands_consistent(wb, weights, bands, lookback):
    sc = health_scores(
        wb.facts, date(2024, 4, 30), weights=weights, bands=bands, lookback_days=lookback
    )
    for c in COMPONENTS:
        assert sc[c].is_between(1, 10).all()
    assert sc["score"].is_between(0, 100).all()
    lo, hi = bands
    for s, b in zip(sc["score"], sc["band"], strict=True):
        assert b == ("red" if s < lo else "green" if s >= hi else "yellow")
    w = normalise_weights(weights)
    for r in sc.iter_rows(named=True):
        mean = sum(w[c] * r[c] for c in COMPONENTS)
        assert r["score"] == pytest.approx((mean - 1) / 9 * 100, abs=1e-3)
    # segment + complement = total (scores do not depend on the other accounts)
    kw = dict(weights=weights, bands=bands, lookback_days=lookback)
    seg = health_scores(wb.facts, date(2024, 4, 30), ids=pl.Series(["A0"]), **kw)
    rest = health_scores(wb.facts, date(2024, 4, 30), ids=pl.Series(["A1", "A2", "A3"]), **kw)
    assert pl.concat([seg, rest]).sort("account_id").equals(sc)


# ------------------------------------------------------------------ ROC AUC
def test_roc_auc_hand_cases():
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0  # perfect
    assert roc_auc([1, 2, 3, 4], [1, 1, 0, 0]) == 0.0  # reversed
    assert roc_auc([7, 7, 7, 7], [0, 1, 0, 1]) == 0.5  # all tied
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75  # scikit-learn's example
    assert roc_auc([1, 2], [1, 1]) is None and roc_auc([], []) is None


def test_roc_auc_textbook_hanley_mcneil_1982():
    """Hanley & McNeil (1982), Radiology 143:29, table 1: five-point ratings of 58 normal
    and 51 abnormal CT images; the area they report is 0.893."""
    normal, abnormal = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
    scores, outcomes = [], []
    for rating, (n0, n1) in enumerate(zip(normal, abnormal, strict=True), start=1):
        scores += [rating] * (n0 + n1)
        outcomes += [0] * n0 + [1] * n1
    auc = roc_auc(scores, outcomes)
    assert auc == pytest.approx(0.893, abs=5e-4)
    low, high = auc_interval(auc, 51, 58)  # their standard error: 0.032
    assert (high - low) / 2 / 1.96 == pytest.approx(0.032, abs=1e-3)
    assert low < auc < high <= 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=30),
)
def test_property_auc_is_the_pairwise_win_probability(pairs):
    s = [p[0] for p in pairs]
    y = [p[1] for p in pairs]
    auc = roc_auc(s, y)
    pos = [a for a, b in pairs if b]
    neg = [a for a, b in pairs if not b]
    if not pos or not neg:
        assert auc is None
        return
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    assert 0.0 <= auc <= 1.0
    assert auc == pytest.approx(wins / (len(pos) * len(neg)))
    assert roc_auc(s, [not b for b in y]) == pytest.approx(1 - auc)


# ------------------------------------------------------------------ renewal events and litmus
def test_renewal_events_term_ends_and_churns():
    subs = [
        # r: annual contract from 2023-02-15, open-ended -> anniversary 2024-02-15, renewed
        sub("R1", "r", date(2023, 2, 15), date(2023, 8, 1), 100.0, term=12),
        sub("R1", "r", date(2023, 8, 1), None, 120.0, term=12),  # mid-term change: no event
        # n: annual contract ends on its anniversary, continues under a new subscription id
        sub("N1", "n", date(2023, 3, 1), date(2024, 3, 1), 100.0, term=12),
        sub("N2", "n", date(2024, 3, 1), None, 100.0, term=12),
        # x: annual contract ends on its anniversary -> churn (not renewed)
        sub("X1", "x", date(2023, 1, 10), date(2024, 1, 10), 100.0, term=12),
        # m: month-to-month, stops paying on 2024-02-01 -> churn
        sub("M1", "m", date(2023, 6, 1), date(2024, 2, 1), 30.0),
        # z: a zero-MRR annual plan: its anniversary is not a renewal decision
        sub("Z1", "z", date(2023, 1, 5), None, 0.0, term=12),
        # o: anniversary outside the period
        sub("O1", "o", date(2023, 5, 1), None, 100.0, term=12),
    ]
    ev = renewal_events(workbook(subs).facts.subs, Period.parse("2024-Q1"))
    got = {
        (r["account_id"], r["event_date"]): (r["kind"], r["renewed"])
        for r in ev.iter_rows(named=True)
    }
    assert got == {
        ("x", date(2024, 1, 10)): ("churn", False),
        ("m", date(2024, 2, 1)): ("churn", False),
        ("r", date(2024, 2, 15)): ("renewal", True),
        ("n", date(2024, 3, 1)): ("renewal", True),
    }


def litmus_workbook():
    """Planted: two healthy accounts renew on 2024-01-01, two unhealthy ones churn."""
    subs = [
        sub("H1", "h1", date(2023, 1, 1), None, 100.0, 2, "seat", 12),
        sub("H2", "h2", date(2023, 1, 1), None, 100.0, 2, "seat", 12),
        sub("U1", "u1", date(2023, 1, 1), date(2024, 1, 1), 100.0, 2, "seat", 12),
        sub("U2", "u2", date(2023, 1, 1), date(2024, 1, 1), 100.0, 2, "seat", 12),
    ]
    year = days(date(2023, 1, 1), 365)
    ev = []
    for acc in ("h1", "h2"):
        for user in ("a", "b"):
            for feat in ("f1", "f2"):
                ev += use(acc, acc + user, year, feat)
    ev += use("u1", "u1a", [date(2023, 9, 1)], "f1")
    surveys = [("h1", "nps", 10, date(2023, 9, 1)), ("u2", "nps", 2, date(2023, 9, 1))]
    return workbook(subs, ev, tickets=[("u1", date(2023, 9, 5))], surveys=surveys)


def test_litmus_planted_healthy_renew_unhealthy_churn_auc_1():
    f = litmus_workbook().facts
    ev = litmus_events(f, "2024-Q1", days_before=90)
    assert ev["at"].unique().to_list() == [date(2023, 10, 3)]
    assert ev.sort("account_id")["renewed"].to_list() == [True, True, False, False]
    lit = renewal_litmus(f, "2024-Q1", days_before=90)
    by_band, auc = lit  # unpacks as (table, auc)
    assert auc.value == 1.0 and auc.n == 4 and (auc.low, auc.high) == (1.0, 1.0)
    assert "few renewal decisions" in auc.note
    rows = {r["band"]: r for r in by_band.iter_rows(named=True)}
    assert rows["green"]["events"] == 2 and rows["green"]["renewal_rate"] == 1.0
    assert rows["red"]["events"] == 2 and rows["red"]["renewal_rate"] == 0.0
    assert rows["yellow"]["events"] == 0 and rows["yellow"]["renewal_rate"] is None
    comp = dict(litmus_components(ev).select("signal", "auc").iter_rows())
    # healthy accounts use daily, both seats, both features, NPS 10; the others barely
    assert comp["frequency"] == comp["breadth"] == comp["depth"] == comp["score"] == 1.0
    # support: h1, h2 and u2 have no ticket (10), u1 one in 90 days (9): 2 wins, 2 ties of 4
    assert comp["support"] == 0.75
    res = as_dict(compute(litmus_workbook(), "2024-Q1", metrics=HEALTH_IDS[4:]))
    assert res == {"renewal_litmus_auc": 1.0, "renewal_rate_green": 1.0, "renewal_rate_red": 0.0}


def test_litmus_ignores_decisions_after_the_as_of_date():
    wb = litmus_workbook()
    early = Workbook(wb.tables, as_of=date(2023, 12, 31))  # 2024-01-01 not observed yet
    assert litmus_events(early.facts, "2024-Q1").height == 0
    assert litmus_events(wb.facts, "2024-Q1").height == 4


def test_litmus_without_churn_is_null_with_a_reason():
    f = litmus_workbook().facts
    lit = renewal_litmus(f, "2024-Q1", ids=pl.Series(["h1", "h2"]))
    assert lit.auc.value is None and "both" in lit.auc.note and lit.auc.n == 2
    none = renewal_litmus(f, "2024-Q3")
    assert none.auc.value is None and none.auc.n == 0
    res = compute(litmus_workbook(), "2024-Q3", metrics=["renewal_litmus_auc", "renewal_rate_red"])
    assert res["value"].is_null().all() and (res["note"] != "").all()


# ------------------------------------------------------------------ red flags
def test_red_flags_compare_churned_and_retained_before_churn():
    subs = [
        sub("X", "x", date(2023, 6, 1), date(2024, 3, 1), 100.0),  # churns on 2024-03-01
        sub("Y", "y", date(2023, 6, 1), None, 100.0),  # retained
    ]
    # x measured 30 days before its last paid day 02-29: at = 2024-01-30;
    # y measured 30 days before the period's last day 03-31: at = 2024-03-01.
    x_at, y_at = date(2024, 1, 30), date(2024, 3, 1)
    ev = []
    # prior 60 days (at-89 .. at-30): 30 active days each; last 30 days: x 3, y 15
    ev += use("x", "x1", days(x_at - timedelta(days=89), 30, 2), "f1")
    ev += use("x", "x1", days(x_at - timedelta(days=29), 3), "f1")
    ev += use("y", "y1", days(y_at - timedelta(days=89), 30, 2), "f1")
    ev += use("y", "y1", days(y_at - timedelta(days=29), 15, 2), "f1")
    # first sessions: x1's first session lasts 60 s, y1's 600 s (both in 2023)
    ev += use("x", "x1", [date(2023, 6, 2)], "f1", seconds=60)
    ev += use("y", "y1", [date(2023, 6, 2)], "f1", seconds=600)
    tickets = [("x", x_at - timedelta(days=k)) for k in (1, 10, 20, 80)] + [("y", y_at)]
    tickets += [("x", x_at + timedelta(days=5))]  # after the measurement day: not counted
    surveys = [("x", "nps", 3, date(2024, 1, 5)), ("y", "nps", 9, date(2024, 2, 1))]
    f = workbook(subs, ev, tickets, surveys).facts
    rf = red_flags(f, "2024-Q1")
    got = {r["indicator"]: r for r in rf.iter_rows(named=True)}
    # usage trend: x (3/30) / (30/60) = 0.2; y (15/30) / (30/60) = 1.0
    assert got["usage_trend"]["churned_mean"] == pytest.approx(0.2)
    assert got["usage_trend"]["retained_mean"] == pytest.approx(1.0)
    assert got["usage_trend"]["ratio"] == pytest.approx(0.2)
    assert got["tickets_90d"]["churned_mean"] == 4 and got["tickets_90d"]["retained_mean"] == 1
    assert got["first_session_s"]["ratio"] == pytest.approx(0.1)
    assert got["nps_latest"]["churned_mean"] == 3 and got["nps_latest"]["retained_mean"] == 9
    assert (
        got["active_days_90d"]["churned_mean"] == 33
        and got["active_days_90d"]["retained_mean"] == 45
    )
    assert (got["health_score"]["churned_n"], got["health_score"]["retained_n"]) == (1, 1)
    assert got["health_score"]["churned_mean"] < got["health_score"]["retained_mean"]


def test_red_flags_without_churn_gives_null_means_not_errors():
    f = hand_workbook().facts
    rf = red_flags(f, "2024-Q2")
    assert rf["churned_n"].to_list() == [0] * rf.height
    assert rf["churned_mean"].is_null().all() and rf["ratio"].is_null().all()


# ------------------------------------------------------------------ fit comparison
def fit_workbook():
    acc = pl.DataFrame(
        {
            "account_id": ["g1", "g2", "b1", "m1"],
            "fit": ["good", "good", "bad", None],
        }
    )
    subs = [
        sub("G1a", "g1", date(2023, 1, 1), date(2024, 2, 1), 100.0),
        sub("G1b", "g1", date(2024, 2, 1), None, 120.0),  # expansion
        sub("G2", "g2", date(2023, 1, 1), date(2024, 2, 1), 100.0),  # churn
        sub("B1a", "b1", date(2023, 1, 1), date(2024, 2, 1), 50.0),
        sub("B1b", "b1", date(2024, 2, 1), None, 25.0),  # contraction
        sub("M1", "m1", date(2024, 2, 1), None, 10.0),  # new in the period
    ]
    return workbook(subs, events=None, accounts=acc)


def test_fit_comparison_churn_nrr_grr_per_value():
    fc = fit_comparison(fit_workbook().facts, "2024-Q1", "fit")
    rows = {r["value"]: r for r in fc.iter_rows(named=True)}
    good, bad, missing = rows["good"], rows["bad"], rows["(missing)"]
    # good: 2 customers, 1 churned; NRR 120 / 200 = 0.6; GRR (100 + 0) / 200 = 0.5
    assert (good["customers_start"], good["churned"], good["churn_rate"]) == (2, 1, 0.5)
    assert good["nrr"] == pytest.approx(0.6) and good["grr"] == pytest.approx(0.5)
    # bad: 50 -> 25: NRR = GRR = 0.5, no churn
    assert (bad["churn_rate"], bad["nrr"], bad["grr"]) == (0.0, 0.5, 0.5)
    # the new account has no opening MRR: rates are null, not 0
    assert (
        missing["customers_start"] == 0 and missing["churn_rate"] is None and missing["nrr"] is None
    )
    with pytest.raises(ValueError, match="no column"):
        fit_comparison(fit_workbook().facts, "2024-Q1", "colour")


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.integers(0, 300),
            st.integers(1, 300),
            st.integers(1, 500),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_property_fit_rates_bounded_and_groups_add_up(rows):
    subs, tags = [], []
    for i, (tag, start, length, mrr) in enumerate(rows):
        s = date(2023, 10, 1) + timedelta(days=start)
        subs.append(sub(f"S{i}", f"A{i}", s, s + timedelta(days=length), float(mrr)))
        tags.append((f"A{i}", tag))
    acc = pl.DataFrame(tags, schema={"account_id": pl.String, "fit": pl.String}, orient="row")
    f = workbook(subs, events=None, accounts=acc).facts
    fc = fit_comparison(f, "2024-Q1", "fit")
    for r in fc.iter_rows(named=True):
        if r["customers_start"]:
            assert 0 <= r["churn_rate"] <= 1
            assert 0 <= r["grr"] <= 1 and r["grr"] <= r["nrr"] + 1e-12
        else:
            assert r["nrr"] is None
    total = bridge(movements(f.subs, Period.parse("2024-Q1")))
    assert fc["customers_start"].sum() == total["customers_start"]
    assert fc["churned"].sum() == total["churn_count"]


# ------------------------------------------------------------------ registry
def test_compute_health_metrics_on_hand_data():
    res = compute(hand_workbook(), "2024-03", metrics=HEALTH_IDS)
    v = as_dict(res)
    # on 2024-03-31: a scores 78.2222 (green), b 41.1111 (yellow)
    assert v["health_score_avg"] == pytest.approx((78.2222 + 41.1111) / 2, abs=1e-3)
    assert v["health_green_share"] == 0.5 and v["health_red_share"] == 0.0
    assert v["at_risk_mrr"] == 0.0
    n = dict(zip(res["id"], res["n"], strict=True))
    assert n["health_score_avg"] == 2
    w = as_dict(
        compute(hand_workbook(), "2024-03", metrics=["health_red_share", "at_risk_mrr"],
                options={"health_weights": {"frequency": 1}})
    )  # fmt: skip
    assert w == {"health_red_share": 0.5, "at_risk_mrr": 50.0}  # b: frequency 3 -> 22.2 red


def test_compute_without_events_says_which_table_is_missing():
    wb = workbook([sub("S", "a", date(2024, 1, 1), None, 10.0)], events=None)
    res = compute(wb, "2024-03", metrics=HEALTH_IDS)
    assert res["value"].is_null().all()
    assert (res["note"] == "needs table events").all()


def test_specs_are_complete():
    from csm_lib.registry import SPECS

    for mid in HEALTH_IDS:
        s = SPECS[mid]
        assert s.pillar == "health" and s.definition and s.formula and s.action
        assert s.inputs == ("subscriptions", "events")
        assert s.options and s.seeds
    names = {o.name for o in SPECS["health_score_avg"].options}
    assert {"health_weights", "health_bands", "health_lookback_days"} <= names
    assert "litmus_days_before" in {o.name for o in SPECS["renewal_litmus_auc"].options}


# ------------------------------------------------------------------ bundled sample
@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from pathlib import Path

    from csm_lib.data import load

    path = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not (path / "events.parquet").exists():
        pytest.skip("bundled sample absent (generate it with `csm sample`)")
    return load(path, strict=False, quarantine_dir=tmp_path_factory.mktemp("quarantine"))


def test_sample_health_predicts_renewal(sample):
    """Planted story 5: health measured 90 days ahead ranks renewals above churns."""
    lit = renewal_litmus(sample.facts, "2025")
    assert lit.auc.n >= 100
    assert lit.auc.value > 0.65
    rates = dict(zip(lit.by_band["band"], lit.by_band["renewal_rate"], strict=True))
    assert rates["green"] > rates["yellow"] > rates["red"]


def test_sample_health_metrics_2025_q4_are_not_null(sample):
    res = compute(sample, "2025-Q4", metrics=HEALTH_IDS)
    assert res["value"].is_not_null().all(), res.filter(pl.col("value").is_null())
    v = as_dict(res)
    assert 0 <= v["health_score_avg"] <= 100 and 0 < v["renewal_litmus_auc"] <= 1


def test_sample_batched_scores_and_litmus_equal_one_period_at_a_time(sample):
    """The trend charts' batch (several dates / periods in one pass) gives the same frames."""
    from csm_lib.health import health_scores_many, litmus_summary
    from csm_lib.periods import Segment

    ids = sample.facts.segment_ids(Segment.parse("segment=SMB"))
    quarters = [Period.parse(q) for q in ("2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3")]
    dates = [q.closing_date for q in quarters]
    many = health_scores_many(sample.facts, dates, ids, weights={"frequency": 2, "support": 1})
    assert sorted(many) == dates
    for d in dates:
        one = health_scores(sample.facts, d, ids, weights={"frequency": 2, "support": 1})
        assert one.height > 100
        assert many[d].equals(one), d
    span = Period(quarters[0].start, quarters[-1].end, "span", "range")
    ev = litmus_events(sample.facts, span, ids, 90)
    for q in quarters:
        alone = renewal_litmus(sample.facts, q, ids, 90)
        part = litmus_summary(ev.filter(pl.col("event_date").is_between(q.start, q.end)))
        assert part.by_band.equals(alone.by_band) and part.auc == alone.auc, q.label


def test_prefetch_fills_the_memo_with_the_one_period_values():
    from csm_lib.compute import prefetch

    wb = litmus_workbook()
    quarters = ["2023-Q3", "2023-Q4", "2024-Q1"]
    prefetch(wb, quarters, "All", HEALTH_IDS)
    keys = [k for k in wb.facts._cache if k[:2] in (("health", "scores"), ("health", "litmus"))]
    assert len(keys) == 6  # three closing dates, three litmus periods
    batched = [as_dict(compute(wb, q, metrics=HEALTH_IDS)) for q in quarters]
    fresh = [as_dict(compute(litmus_workbook(), q, metrics=HEALTH_IDS)) for q in quarters]
    assert batched == fresh
    assert batched[2]["renewal_litmus_auc"] == 1.0


def test_sample_litmus_reads_the_decisions_of_the_whole_history_cut_to_the_period(sample):
    """litmus_events takes a period's decisions from the history's (a derived fact):
    they equal renewal_events of the period alone, for All and for a segment."""
    from csm_lib.health import _mrr_on, _renewals, _timeline
    from csm_lib.periods import Segment

    f = sample.facts
    history = _renewals(f)
    assert history["event_date"].max() <= f.as_of and history.height > 500
    ids = f.segment_ids(Segment.parse("segment=SMB"))
    for label in ("2024-Q2", "2025-Q3", "2025-07", "2025"):
        q = Period.parse(label)
        for seg in (None, ids):
            alone = renewal_events(f.subs, q, seg).filter(pl.col("event_date") <= f.as_of)
            assert alone.height > 0, label
            alone = alone.with_columns(at=pl.col("event_date") - timedelta(days=90))
            paying = _mrr_on(_timeline(f), alone) > 0  # decisions with something to score
            want = alone.filter(paying).select("account_id", "event_date", "kind", "renewed")
            got = litmus_events(f, q, seg, 90).select("account_id", "event_date", "kind", "renewed")
            assert want.height > 0, label
            assert got.equals(want), label
