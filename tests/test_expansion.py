"""Expansion: ARPA/ARPU, seed 001's expansion formula, net new MRR, new contract value,
average spend increase, quick ratio, MRR growth, expansion by product line.

Seed examples are named tests with the seed's numbers; hypothesis checks the
identities to the cent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csm_lib.compute import as_dict, compute
from csm_lib.contract import TABLES
from csm_lib.data import Workbook
from csm_lib.expansion import (
    RELATED_REVENUE_METRICS,
    active_users_at_end,
    arpu,
    expansion_by_product_line,
    expansion_seed,
    growth_rate,
    new_contract_values,
    quick_ratio,
    spend_changes,
)
from csm_lib.periods import Period, Segment
from csm_lib.registry import SPECS
from csm_lib.revenue import bridge, movements

EVENTS_SCHEMA = {c: col.dtype for c, col in TABLES["events"].columns.items()}

Q1 = "2025-Q1"
EXP = [
    "arpa", "arpu", "expansion_seed_mrr", "net_new_mrr", "new_contract_value",
    "avg_spend_increase", "quick_ratio", "mrr_growth_rate",
]  # fmt: skip
BRIDGE_IDS = [
    "mrr_start", "mrr_end", "customers_end", "new_mrr", "reactivation_mrr", "expansion_mrr",
    "contraction_mrr", "churn_mrr", "upsell_mrr", "cross_sell_mrr",
]  # fmt: skip
OPEN, CLOSE = date(2024, 12, 1), date(2025, 3, 1)  # a row change at a date inside Q1


def subs_frame(rows) -> pl.DataFrame:
    """rows: (account_id, product_line, start, end, mrr)."""
    return pl.DataFrame(
        [(f"s{i}", a, line, s, e, m, False) for i, (a, line, s, e, m) in enumerate(rows)],
        schema={
            "subscription_id": pl.String,
            "account_id": pl.String,
            "product_line": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "mrr": pl.Float64,
            "is_trial": pl.Boolean,
        },
        orient="row",
    )


def workbook(subs, segments=None, as_of=date(2025, 12, 31), **tables) -> Workbook:
    ids = sorted(set(subs["account_id"]))
    acc = pl.DataFrame({"account_id": ids, "segment": segments or ["SMB"] * len(ids)})
    t = {"accounts": acc.lazy(), "subscriptions": subs.lazy()}
    t.update({k: v.lazy() for k, v in tables.items()})
    return Workbook(t, as_of=as_of)


def values(wb, period=Q1, segment="All", metrics=None):
    res = compute(wb, period, segment, metrics=metrics or EXP + BRIDGE_IDS)
    return as_dict(res), {r["id"]: r["note"] for r in res.iter_rows(named=True)}


def changed(account, line, before, after, when=date(2025, 2, 1)):
    """An account on ``line`` paying ``before`` until ``when``, then ``after``."""
    return [(account, line, OPEN, when, before), (account, line, when, None, after)]


def seed_001_book(losses: bool = False):
    """Seed 001: $1.5m MRR at the start of the quarter, $1.8m at the end, $0.2m from new.

    Without losses, account a grows by $100k. With losses, a grows by $175k, b
    downgrades by $25k and c ($50k) churns: the same $1.5m -> $1.8m.
    """
    if not losses:
        rows = changed("a", "Core", 1_000_000.0, 1_100_000.0)
        rows += [("b", "Core", OPEN, None, 500_000.0)]
    else:
        rows = changed("a", "Core", 1_000_000.0, 1_175_000.0)
        rows += changed("b", "Core", 450_000.0, 425_000.0)
        rows += [("c", "Core", OPEN, date(2025, 3, 1), 50_000.0)]
    rows += [("n", "Core", date(2025, 2, 10), None, 200_000.0)]  # the new customers
    return subs_frame(rows)


# ------------------------------------------------------------------ seeds
def test_seed_001_expansion_revenue_is_end_minus_start_minus_new():
    assert expansion_seed(mrr_end=1_800_000, mrr_start=1_500_000, new_mrr=200_000) == 100_000
    v, _ = values(workbook(seed_001_book()))
    assert (v["mrr_start"], v["mrr_end"], v["new_mrr"]) == (1_500_000, 1_800_000, 200_000)
    assert v["expansion_seed_mrr"] == 100_000.0
    assert v["expansion_mrr"] == 100_000.0  # no losses: the seed formula and movements agree
    assert v["mrr_growth_rate"] == pytest.approx(0.2)
    assert v["net_new_mrr"] == 300_000.0


def test_seed_001_formula_nets_churn_and_contraction_into_expansion():
    v, _ = values(workbook(seed_001_book(losses=True)))
    assert (v["mrr_start"], v["mrr_end"], v["new_mrr"]) == (1_500_000, 1_800_000, 200_000)
    assert v["expansion_seed_mrr"] == 100_000.0  # the seed's shortcut: unchanged
    assert (v["expansion_mrr"], v["contraction_mrr"], v["churn_mrr"]) == (175_000, 25_000, 50_000)
    assert v["expansion_seed_mrr"] == 175_000 - 25_000 - 50_000


def test_seed_000_new_contract_value_is_original_plus_upsell_and_expansion():
    # Seed 000: original monthly value $1,000 + $200 upsell + $300 add-on = $1,500.
    rows = changed("a", "Core", 1000.0, 1200.0)
    rows += [("a", "Analytics", date(2025, 2, 1), None, 300.0)]
    rows += [("b", "Core", OPEN, None, 500.0)]  # flat: not an expanding account
    s = subs_frame(rows)
    ncv = new_contract_values(movements(s, Period.parse(Q1)))
    assert ncv.rows() == [("a", 1000.0, 200.0, 300.0, 1500.0)]
    v, _ = values(workbook(s))
    assert v["new_contract_value"] == 1500.0


def test_seed_000_mrr_is_customers_times_arpa():
    # Seed 000: MRR = number of monthly active customers x average revenue per user.
    s = subs_frame([(f"c{i}", "Core", OPEN, None, m) for i, m in enumerate([100, 200, 600])])
    v, _ = values(workbook(s))
    assert v["arpa"] == 300.0 and v["customers_end"] * v["arpa"] == v["mrr_end"] == 900.0


def test_quick_ratio_benchmark_4_is_strong():
    assert quick_ratio(new=40, reactivation=0, expansion=40, churn=10, contraction=10) == 4.0
    assert quick_ratio(new=40, reactivation=0, expansion=0, churn=0, contraction=0) is None
    assert SPECS["quick_ratio"].good_range == (4.0, None)
    rows = changed("a", "Core", 100.0, 140.0) + changed("b", "Core", 100.0, 90.0)
    rows += [("c", "Core", OPEN, date(2025, 2, 1), 10.0), ("n", "Core", CLOSE, None, 40.0)]
    v, _ = values(workbook(subs_frame(rows)))
    assert v["quick_ratio"] == pytest.approx((40 + 40) / (10 + 10))


def test_quick_ratio_is_null_without_losses():
    v, notes = values(workbook(subs_frame(changed("a", "Core", 100.0, 140.0))))
    assert v["quick_ratio"] is None and notes["quick_ratio"] == "no churn or contraction in period"


# ------------------------------------------------------------------ other metrics
def test_average_spend_increase_counts_customers_in_s_and_e_only():
    rows = changed("a", "Core", 100.0, 160.0)  # +60
    rows += changed("b", "Core", 100.0, 70.0)  # -30
    rows += [("c", "Core", OPEN, None, 50.0)]  # flat: 0
    rows += [("d", "Core", OPEN, date(2025, 2, 1), 500.0)]  # churned: not in E
    rows += [("n", "Core", CLOSE, None, 900.0)]  # new: not in S
    s = subs_frame(rows)
    assert sorted(spend_changes(movements(s, Period.parse(Q1)))["change_mrr"]) == [-30, 0, 60]
    v, _ = values(workbook(s))
    assert v["avg_spend_increase"] == pytest.approx(10.0)


def test_growth_and_arpa_are_null_without_a_base():
    assert growth_rate(0, 100) is None
    s = subs_frame([("a", "Core", date(2025, 2, 1), date(2025, 3, 1), 10.0)])  # in and out
    v, notes = values(workbook(s))
    assert v["mrr_growth_rate"] is None and notes["mrr_growth_rate"] == "no MRR at period start"
    assert v["arpa"] is None and notes["arpa"] == "no customers at period end"
    assert v["avg_spend_increase"] is None


def events_frame(rows) -> pl.DataFrame:
    """rows: (day, account_id, user_id)."""
    return pl.DataFrame(
        [(datetime(d.year, d.month, d.day, 10), a, u, None, "login", None) for d, a, u in rows],
        schema=EVENTS_SCHEMA,
        orient="row",
    )


def test_arpu_divides_closing_mrr_by_users_active_in_the_last_30_days():
    s = subs_frame([("a", "Core", OPEN, None, 300.0), ("b", "Core", OPEN, None, 100.0),
                    ("free", "Core", OPEN, None, 0.0)])  # fmt: skip
    ev = events_frame(
        [
            (date(2025, 3, 31), "a", "u1"),
            (date(2025, 3, 2), "a", "u2"),  # first day of the 30-day window
            (date(2025, 3, 1), "a", "u3"),  # one day too early
            (date(2025, 3, 20), "b", "u4"),
            (date(2025, 3, 20), "b", "u4"),
            (date(2025, 3, 20), "b", None),  # no user: never counts
            (date(2025, 3, 20), "free", "u5"),  # free plan: not a paying account
        ]
    )
    assert active_users_at_end(
        pl.DataFrame({"day": [date(2025, 3, 2)], "account_id": ["a"], "user_id": ["u"]}),
        Period.parse(Q1),
    ).height == 1  # fmt: skip
    v, _ = values(workbook(s, events=ev))
    assert v["arpu"] == pytest.approx(400.0 / 3)
    assert arpu(100.0, 0) is None


def test_arpu_needs_events_and_arpa_does_not():
    v, notes = values(workbook(subs_frame([("a", "Core", OPEN, None, 300.0)])))
    assert v["arpu"] is None and "needs table events" in notes["arpu"]
    assert v["arpa"] == 300.0


def test_expansion_by_product_line_splits_upsell_cross_sell_and_contraction():
    rows = changed("a", "Core", 100.0, 150.0)  # upsell +50 on Core
    rows += [("a", "Analytics", date(2025, 2, 1), None, 30.0)]  # cross-sell +30
    rows += [("b", "Core", OPEN, None, 200.0)]
    rows += [("b", "Storage", OPEN, date(2025, 2, 1), 40.0)]  # dropped line: -40
    rows += [("c", "Core", OPEN, date(2025, 2, 1), 999.0)]  # churned: not in S and E
    rows += [("n", "Storage", CLOSE, None, 77.0)]  # new: not in S and E
    s = subs_frame(rows)
    t = expansion_by_product_line(s, Period.parse(Q1))
    assert t.rows() == [
        ("Analytics", 0.0, 30.0, 0.0, 30.0, 1),
        ("Core", 50.0, 0.0, 0.0, 50.0, 1),
        ("Storage", 0.0, 0.0, 40.0, -40.0, 1),
    ]
    b = bridge(movements(s, Period.parse(Q1)))
    assert t["net_mrr"].sum() == pytest.approx(b["expansion_mrr"] - b["contraction_mrr"])
    wb = workbook(s)
    assert expansion_by_product_line(wb.facts, Period.parse(Q1)).equals(t)


def test_pillar_specs_teach_and_reuse_the_revenue_movements():
    for mid in EXP:
        spec = SPECS[mid]
        assert spec.pillar == "expansion" and spec.definition and spec.action, mid
    for mid in RELATED_REVENUE_METRICS:
        assert SPECS[mid].pillar == "revenue"  # declared once, in revenue_metrics
    assert "expansion_mrr" in SPECS["expansion_seed_mrr"].definition


# ------------------------------------------------------------------ properties
@st.composite
def histories(draw):
    """A few accounts with rows starting and ending around 2025-Q1, several product lines."""
    rows = []
    for a in range(draw(st.integers(1, 6))):
        for _ in range(draw(st.integers(1, 4))):
            start = date(2024, 10, 1) + timedelta(days=draw(st.integers(0, 250)))
            length = draw(st.one_of(st.none(), st.integers(1, 200)))
            end = None if length is None else start + timedelta(days=length)
            mrr = draw(st.decimals(0, 500, places=2).map(float))
            line = draw(st.sampled_from(["Core", "Analytics", "Storage"]))
            rows.append((f"acc{a}", line, start, end, mrr))
    return subs_frame(rows)


PERIODS = ["2025-01", "2025-Q1", "2025-01-10..2025-04-20", "2025-Q2"]


def cents(x: float) -> int:
    return round(x * 100)


@settings(max_examples=40, deadline=None)
@given(histories(), st.sampled_from(PERIODS))
def test_identities_hold_to_the_cent(s, label):
    v, _ = values(workbook(s), period=label)
    # expansion_seed_mrr == expansion + reactivation - contraction - churn, exactly
    assert cents(v["expansion_seed_mrr"]) == (
        cents(v["expansion_mrr"]) + cents(v["reactivation_mrr"])
        - cents(v["contraction_mrr"]) - cents(v["churn_mrr"])
    )  # fmt: skip
    assert cents(v["net_new_mrr"]) == cents(v["mrr_end"]) - cents(v["mrr_start"])
    assert cents(v["expansion_seed_mrr"]) == cents(v["net_new_mrr"]) - cents(v["new_mrr"])
    if v["customers_end"]:
        assert cents(v["arpa"] * v["customers_end"]) == cents(v["mrr_end"])
    else:
        assert v["arpa"] is None
    assert v["quick_ratio"] is None or v["quick_ratio"] >= 0
    assert v["new_contract_value"] >= 0
    if v["mrr_start"]:
        assert v["mrr_growth_rate"] >= -1


@settings(max_examples=30, deadline=None)
@given(histories(), st.sampled_from(PERIODS))
def test_product_line_movements_reconcile_with_the_bridge(s, label):
    p = Period.parse(label)
    t = expansion_by_product_line(s, p)
    b = bridge(movements(s, p))
    net = sum(cents(x) for x in t["net_mrr"])
    assert net == cents(b["expansion_mrr"]) - cents(b["contraction_mrr"])
    assert (t["upsell_mrr"] >= 0).all() and (t["cross_sell_mrr"] >= 0).all()
    assert (t["contraction_mrr"] >= 0).all()
    # the account-level cross-sell never exceeds the closing MRR of new lines
    assert b["cross_sell_mrr"] <= float(t["cross_sell_mrr"].sum()) + 1e-9


@settings(max_examples=20, deadline=None)
@given(histories(), st.sampled_from(PERIODS), st.data())
def test_segment_plus_complement_adds_up(s, label, data):
    ids = sorted(set(s["account_id"]))
    segs = [data.draw(st.sampled_from(["SMB", "Enterprise"])) for _ in ids]
    wb = workbook(s, segments=segs)
    whole, _ = values(wb, period=label)
    parts = [values(wb, period=label, segment=f"segment={g}")[0] for g in ("SMB", "Enterprise")]
    for k in ("expansion_seed_mrr", "net_new_mrr", "new_contract_value"):
        assert cents(parts[0][k]) + cents(parts[1][k]) == cents(whole[k]), k


# ------------------------------------------------------------------ the bundled sample
def test_sample_2025_q4_expansion_metrics(tmp_path):
    sample = pytest.importorskip("csm_lib.sample", reason="csm_lib.sample not written yet")
    from csm_lib.data import load

    path = sample.sample_path()
    if not path.exists():
        pytest.skip("the bundled sample data/sample is absent")
    wb = load(path, strict=False, quarantine_dir=tmp_path)
    res = compute(wb, "2025-Q4", metrics=EXP)
    assert [r["id"] for r in res.iter_rows(named=True) if r["value"] is None] == []
    v = as_dict(res)
    assert v["quick_ratio"] > 0 and v["arpa"] > 0 and v["arpu"] > 0
    # arpu = closing MRR of paying accounts / their distinct users of the last 30 days
    from csm_lib.revenue import mrr_cents_at

    for seg, ids in (
        ("All", None),
        ("segment=SMB", wb.facts.segment_ids(Segment.parse("segment=SMB"))),
    ):
        p = Period.parse("2025-Q4")
        paying = mrr_cents_at(wb.facts.subs, p.end, ids).filter(pl.col("cents") > 0)
        users = active_users_at_end(wb.facts.user_days, p).filter(
            pl.col("account_id").is_in(paying["account_id"].implode())
        )
        got = as_dict(compute(wb, "2025-Q4", seg, metrics=["arpu"]))["arpu"]
        assert got == pytest.approx(int(paying["cents"].sum()) / 100 / users.height, rel=1e-12)
