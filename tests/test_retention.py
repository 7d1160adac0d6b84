"""Retention pillar: seed examples, definitions, survival against lifelines, invariants."""

from __future__ import annotations

import math
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csm_lib.compute import as_dict, compute
from csm_lib.data import Workbook
from csm_lib.periods import Period
from csm_lib.registry import SPECS
from csm_lib.retention import (
    DAYS_PER_MONTH,
    account_lifetimes,
    cohort_retention,
    contract_terms,
    crc,
    km_curve,
    km_median,
    median_lifetime,
    quarter_for,
    quarterly_renewed_arr,
    renewal_rates,
    renewal_win_rate,
    renewals,
    repeat_purchase_rate,
    retention_cost,
    retention_rates,
)
from csm_lib.revenue import bridge, movements

KM_DIR = Path(__file__).parent / "data" / "km"
DBT_DIR = Path("/work/shared/validation/dbt-mrr-playbook")
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
RETENTION_IDS = [k for k, s in SPECS.items() if s.pillar == "retention"]

SUB_SCHEMA = {
    "subscription_id": pl.String,
    "account_id": pl.String,
    "product_line": pl.String,
    "plan": pl.String,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "billing_interval": pl.String,
    "term_months": pl.Int32,
    "mrr": pl.Float64,
    "quantity": pl.Int32,
    "unit": pl.String,
    "one_time_fees": pl.Float64,
    "is_trial": pl.Boolean,
    "currency": pl.String,
}


def subs_frame(rows: list[dict]) -> pl.DataFrame:
    """Subscription rows in the contract shape; unspecified columns get plain defaults."""
    out = []
    for i, r in enumerate(rows):
        term = r.get("term_months")
        row = {
            "subscription_id": r.get("subscription_id", f"s{i}"),
            "product_line": "Core",
            "plan": "Pro",
            "end_date": None,
            "billing_interval": "year" if term else "month",
            "term_months": term,
            "quantity": 1,
            "unit": "flat",
            "one_time_fees": 0.0,
            "is_trial": False,
            "currency": "USD",
        }
        row.update(r)
        out.append(row)
    return pl.DataFrame(out, schema=SUB_SCHEMA)


def workbook(subs: pl.DataFrame, as_of: date, accounts=None, costs=None) -> Workbook:
    if accounts is None:
        accounts = subs.select("account_id").unique().sort("account_id")
    tables = {"accounts": accounts.lazy(), "subscriptions": subs.lazy()}
    if costs is not None:
        tables["costs"] = costs.lazy()
    return Workbook(tables, as_of=as_of)


def values(wb: Workbook, period: str, metrics: list[str], segment="All", options=None) -> dict:
    return as_dict(compute(wb, period, segment, metrics=metrics, options=options))


def result(wb: Workbook, period: str, metric_id: str, segment="All", options=None) -> dict:
    res = compute(wb, period, segment, metrics=[metric_id], options=options)
    return res.row(0, named=True)


# ------------------------------------------------------------------ seed 001: churn 2%
def june_base(new_staying: int = 5, new_lost: int = 1) -> pl.DataFrame:
    rows = [
        {"account_id": f"c{i:04d}", "start_date": date(2024, 1, 1), "mrr": 50.0}
        | ({"end_date": date(2024, 6, 15)} if i < 24 else {})
        for i in range(1200)
    ]
    rows += [
        {"account_id": f"n{i}", "start_date": date(2024, 6, 10), "mrr": 40.0}
        for i in range(new_staying)
    ]
    rows += [
        {"account_id": f"x{i}", "start_date": date(2024, 6, 3), "end_date": date(2024, 6, 20),
         "mrr": 40.0}
        for i in range(new_lost)
    ]  # fmt: skip
    return subs_frame(rows)


def test_seed_001_logo_churn_24_of_1200_is_2_percent():
    wb = workbook(june_base(), date(2024, 6, 30))
    v = values(
        wb, "2024-06", ["logo_churn_rate", "logo_retention", "churn_count", "customers_start"]
    )
    assert v["customers_start"] == 1200 and v["churn_count"] == 24
    assert v["logo_churn_rate"] == 24 / 1200 == 0.02
    assert v["logo_retention"] == pytest.approx(1 - 0.02, abs=1e-15)


def test_churn_denominator_opening_plus_new_counts_customers_won_in_period():
    wb = workbook(june_base(new_staying=5, new_lost=1), date(2024, 6, 30))
    opt = {"churn_denominator": "opening_plus_new"}
    v = values(wb, "2024-06", ["logo_churn_rate"], options=opt)
    assert v["logo_churn_rate"] == pytest.approx((24 + 1) / (1200 + 6), abs=1e-15)
    with pytest.raises(ValueError, match="churn_denominator"):
        values(wb, "2024-06", ["logo_churn_rate"], options={"churn_denominator": "closing"})


# ------------------------------------------------------------------ seed 004
def test_seed_004_account_retention_90_of_100():
    rows = [
        {"account_id": f"a{i:03d}", "start_date": date(2023, 3, 1), "mrr": 20.0}
        | ({"end_date": date(2024, 2, 1) + timedelta(days=20 * i)} if i < 10 else {})
        for i in range(100)
    ]
    wb = workbook(subs_frame(rows), date(2024, 12, 31))
    v = values(wb, "2024", ["account_retention", "customers_start", "customers_end"])
    assert (v["customers_start"], v["customers_end"]) == (100, 90)
    assert v["account_retention"] == 0.9


def nrr_book() -> pl.DataFrame:
    """Existing customers pay $100,000 a month at the start of Q2 and $110,000 at its end."""
    return subs_frame(
        [
            {"account_id": "big", "start_date": date(2024, 1, 1), "end_date": date(2024, 5, 1),
             "mrr": 60_000.0},
            {"account_id": "big", "start_date": date(2024, 5, 1), "mrr": 75_000.0},  # +15k
            {"account_id": "mid", "start_date": date(2024, 1, 1), "end_date": date(2024, 6, 1),
             "mrr": 30_000.0},
            {"account_id": "mid", "start_date": date(2024, 6, 1), "mrr": 27_000.0},  # -3k
            {"account_id": "gone", "start_date": date(2024, 1, 1), "end_date": date(2024, 4, 20),
             "mrr": 2_000.0},  # churn
            {"account_id": "flat", "start_date": date(2024, 1, 1), "mrr": 8_000.0},
            {"account_id": "new", "start_date": date(2024, 5, 1), "mrr": 50_000.0},  # excluded
        ]
    )  # fmt: skip


def test_seed_004_nrr_100k_to_110k_is_110_percent():
    wb = workbook(nrr_book(), date(2024, 6, 30))
    v = values(wb, "2024-Q2", ["nrr", "grr", "revenue_churn_rate", "mrr_start"])
    assert v["mrr_start"] == 100_000
    assert v["nrr"] == pytest.approx(1.10, abs=1e-12)  # 110,000 / 100,000
    assert v["grr"] == pytest.approx(0.95, abs=1e-12)  # (100k - 2k churn - 3k downgrade) / 100k
    assert v["revenue_churn_rate"] == pytest.approx(0.05, abs=1e-12)


# ------------------------------------------------------------------ seed 001: renewed ARR
def test_seed_001_quarterly_renewed_arr_149_of_150_is_99_33_percent():
    subs = subs_frame(
        [
            {"account_id": "a", "start_date": date(2024, 1, 1), "mrr": 62_500.0},
            {"account_id": "b", "start_date": date(2024, 1, 1), "end_date": date(2024, 5, 1),
             "mrr": 50_000.0},
            {"account_id": "c", "start_date": date(2024, 1, 1), "end_date": date(2024, 6, 1),
             "mrr": 12_500.0},
            {"account_id": "c", "start_date": date(2024, 6, 1), "mrr": 740_000 / 12},
            {"account_id": "d", "start_date": date(2024, 4, 15), "mrr": 10_000.0},  # new: excluded
        ]
    )  # fmt: skip
    # ARR at the start of Q2: 12 x 125,000 = $1.5m; at the start of Q3 the same accounts
    # pay 12 x (62,500 + 61,666.67) = $1.49m (+ 4 cents of per-account cent rounding).
    v = quarterly_renewed_arr(subs, Period.parse("2024-Q2"))
    assert v.n == 3
    assert v.value == pytest.approx(1.49 / 1.5, abs=1e-6)
    assert round(v.value * 100, 2) == 99.33
    wb = workbook(subs, date(2024, 9, 30))
    assert values(wb, "2024-Q2", ["quarterly_renewed_arr"])["quarterly_renewed_arr"] == v.value
    # a month uses the quarter holding its last day, up to that day, and says so
    row = result(wb, "2024-08", "quarterly_renewed_arr")
    assert row["note"] == "measured over 2024-Q3 to 2024-08-31"
    assert quarter_for(Period.parse("2024")).label == "2024-Q4"


# ------------------------------------------------------------------ seed 001: renewal wins
def test_seed_001_renewal_win_rate_16_of_18():
    v = renewal_win_rate(16, 18)
    assert v.value == 16 / 18 and round(v.value * 100, 2) == 88.89 and v.n == 18
    assert renewal_win_rate(0, 0).value is None
    assert renewal_win_rate(0, 0).note == "no renewal opportunities in period"


def test_seed_001_two_year_contract_ending_october_is_a_q4_opportunity():
    # 18 two-year contracts end in October 2023 (seed 001's example); 16 renew.
    rows = []
    for i in range(18):
        end = date(2023, 10, 1 + i)
        rows.append({"account_id": f"r{i:02d}", "subscription_id": f"r{i:02d}",
                     "start_date": date(2021, 10, 1 + i), "term_months": 24,
                     "billing_interval": "multi_year", "mrr": 1_000.0}
                    | ({"end_date": end} if i >= 16 else {}))  # fmt: skip
    wb = workbook(subs_frame(rows), date(2023, 12, 31))
    v = values(wb, "2023-Q4", ["renewal_win_rate", "renewal_rate"])
    assert v["renewal_win_rate"] == 16 / 18
    assert v["renewal_rate"] == 16 / 18
    assert values(wb, "2023-Q3", ["renewal_rate"])["renewal_rate"] is None


# ------------------------------------------------------------------ seed 002: CRC $100
def crc_book(n: int = 10_000) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    subs = subs_frame(
        [{"account_id": f"k{i:05d}", "start_date": date(2023, 6, 1), "mrr": 10.0 + (i % 2) * 30}
         for i in range(n)]
    )  # fmt: skip
    accounts = subs.select("account_id").with_columns(
        segment=pl.when(pl.col("account_id").str.slice(-1).cast(pl.Int32) % 2 == 1)
        .then(pl.lit("SMB"))
        .otherwise(pl.lit("Enterprise"))
    )
    months = [date(2024, m, 1) for m in range(1, 13)]
    per_month = {"customer_success": 50_000.0, "support": 20_000.0, "onboarding": 10_000.0,
                 "training": 1_000_000 / 12 - 80_000.0, "sales": 90_000.0, "marketing": 7_000.0}  # fmt: skip
    costs = pl.DataFrame(
        [{"month": m, "category": c, "amount": a} for m in months for c, a in per_month.items()],
        schema={"month": pl.Date, "category": pl.String, "amount": pl.Float64},
    )
    return subs, accounts, costs


def test_seed_002_crc_1m_over_10000_customers_is_100():
    assert crc(1_000_000, 10_000).value == 100.0
    subs, accounts, costs = crc_book()
    assert retention_cost(costs, Period.parse("2024")) == pytest.approx(1_000_000, abs=0.01)
    wb = workbook(subs, date(2024, 12, 31), accounts, costs)
    v = values(wb, "2024", ["crc", "customers_end"])
    assert v["customers_end"] == 10_000 and v["crc"] == 100.0


def test_crc_segment_needs_an_allocation_then_takes_its_mrr_share():
    subs, accounts, costs = crc_book(n=1_000)
    wb = workbook(subs, date(2024, 12, 31), accounts, costs)
    row = result(wb, "2024", "crc", "segment=SMB")
    assert row["value"] is None and "cost_allocation" in row["note"]
    # SMB: 500 accounts at $40 of $25,000 total MRR -> 80% of $1m over 500 customers
    row = result(wb, "2024", "crc", "segment=SMB", {"cost_allocation": "mrr_share"})
    assert row["value"] == pytest.approx(1_000_000 * 0.8 / 500, abs=0.005)
    ent = result(wb, "2024", "crc", "segment=Enterprise", {"cost_allocation": "mrr_share"})
    assert ent["value"] * 500 + row["value"] * 500 == pytest.approx(1_000_000, abs=1)


# ------------------------------------------------------------------ seed 000 definitions
def q1_book() -> pl.DataFrame:
    """2024-Q1 by hand: S = {A, B, C, D} with $600 MRR; E = {A, C, D, E, F}."""
    return subs_frame(
        [
            {"account_id": "A", "start_date": date(2023, 6, 1), "mrr": 100.0},  # flat
            {"account_id": "B", "start_date": date(2023, 6, 1), "end_date": date(2024, 2, 15),
             "mrr": 200.0},  # churn 200
            {"account_id": "C", "start_date": date(2023, 6, 1), "end_date": date(2024, 3, 1),
             "mrr": 100.0},
            {"account_id": "C", "start_date": date(2024, 3, 1), "mrr": 150.0},  # expansion 50
            {"account_id": "D", "start_date": date(2023, 6, 1), "end_date": date(2024, 2, 1),
             "mrr": 200.0},
            {"account_id": "D", "start_date": date(2024, 2, 1), "mrr": 120.0},  # contraction 80
            {"account_id": "E", "start_date": date(2024, 1, 10), "mrr": 50.0},  # new
            {"account_id": "F", "start_date": date(2023, 1, 1), "end_date": date(2023, 7, 1),
             "mrr": 60.0},
            {"account_id": "F", "start_date": date(2024, 3, 1), "mrr": 80.0},  # reactivation
            {"account_id": "G", "start_date": date(2024, 2, 1), "end_date": date(2024, 3, 1),
             "mrr": 30.0},  # won and lost inside Q1
            {"account_id": "H", "start_date": date(2023, 6, 1), "mrr": 0.0},  # Free plan
            {"account_id": "T", "start_date": date(2023, 6, 1), "mrr": 500.0,
             "is_trial": True},  # trials never count
        ]
    )  # fmt: skip


def test_seed_000_definitions_on_a_hand_counted_quarter():
    wb = workbook(q1_book(), date(2024, 3, 31))
    ids = ["logo_churn_rate", "logo_retention", "account_retention", "crr", "grr", "nrr",
           "revenue_churn_rate"]  # fmt: skip
    v = values(wb, "2024-Q1", ids)
    assert v["logo_churn_rate"] == 1 / 4  # churned customers / customers at the beginning
    assert v["logo_retention"] == 3 / 4  # customers of S still active / S
    assert v["account_retention"] == 5 / 4  # E / S
    assert v["crr"] == (5 - 1) / 4  # (end - new) / start: F came back, counts as retained
    assert v["grr"] == pytest.approx((600 - 200 - 80) / 600, abs=1e-15)
    # net dollar retention = (starting MRR + expansion - downgrades - churn) / starting MRR
    assert v["nrr"] == pytest.approx((600 + 50 - 80 - 200) / 600, abs=1e-15)
    assert v["revenue_churn_rate"] == pytest.approx((200 + 80) / 600, abs=1e-15)
    w = values(
        wb, "2024-Q1", ["logo_churn_rate"], options={"churn_denominator": "opening_plus_new"}
    )
    assert w["logo_churn_rate"] == (1 + 1) / (4 + 2)  # + G won and lost; new logos E and G


def test_seed_000_repeat_purchase_rate_b2c_over_twelve_months():
    subs = subs_frame(
        [
            {"account_id": "p", "start_date": date(2024, 2, 1), "end_date": date(2024, 7, 1),
             "mrr": 9.0},
            {"account_id": "p", "start_date": date(2024, 7, 1), "mrr": 12.0},  # repeat
            {"account_id": "q", "start_date": date(2024, 3, 1), "mrr": 9.0},  # once
            {"account_id": "r", "start_date": date(2023, 5, 1), "mrr": 9.0},  # none in window
            {"account_id": "s", "start_date": date(2024, 1, 5), "end_date": date(2024, 4, 1),
             "mrr": 900.0},  # B2B, twice
            {"account_id": "s", "start_date": date(2024, 4, 1), "mrr": 990.0},
            {"account_id": "t", "start_date": date(2024, 6, 1), "mrr": 9.0},
            {"account_id": "t", "product_line": "Storage", "start_date": date(2024, 6, 1),
             "mrr": 3.0},  # two rows on one day = one purchase
            {"account_id": "u", "start_date": date(2023, 12, 31), "end_date": date(2024, 1, 1),
             "mrr": 9.0},  # outside the window (2024-01-01..2024-12-31)
            {"account_id": "u", "start_date": date(2024, 1, 1), "mrr": 0.0},  # free: no purchase
        ]
    )  # fmt: skip
    accounts = pl.DataFrame(
        {"account_id": list("pqrstu"), "business_model": ["B2C"] * 3 + ["B2B"] + ["B2C"] * 2}
    )
    wb = workbook(subs, date(2024, 12, 31), accounts)
    assert values(wb, "2024-Q4", ["repeat_purchase_rate"])["repeat_purchase_rate"] == 1 / 3
    opt = {"repeat_purchase_scope": "all"}
    assert (
        values(wb, "2024-Q4", ["repeat_purchase_rate"], options=opt)["repeat_purchase_rate"]
        == 2 / 4
    )
    assert repeat_purchase_rate(subs, date(2024, 12, 31), scope="b2c").value is None


def renewal_book() -> pl.DataFrame:
    y = "year"
    return subs_frame(
        [
            # a: 12-month term, the same row runs on: renewed on 2024-01-01
            {"account_id": "a", "subscription_id": "a", "start_date": date(2023, 1, 1),
             "term_months": 12, "mrr": 100.0},
            # b: 12-month term, ends with the term: not renewed
            {"account_id": "b", "subscription_id": "b", "start_date": date(2023, 1, 1),
             "end_date": date(2024, 1, 1), "term_months": 12, "mrr": 100.0},
            # c: a mid-term upgrade (no term end), term ends 2024-02-01, renewed at a new price
            {"account_id": "c", "subscription_id": "c", "start_date": date(2023, 2, 1),
             "end_date": date(2023, 6, 1), "term_months": 12, "mrr": 100.0},
            {"account_id": "c", "subscription_id": "c", "start_date": date(2023, 6, 1),
             "end_date": date(2024, 2, 1), "term_months": 12, "mrr": 130.0},
            {"account_id": "c", "subscription_id": "c", "start_date": date(2024, 2, 1),
             "term_months": 12, "mrr": 140.0},
            # d: month-to-month: no contract
            {"account_id": "d", "subscription_id": "d", "start_date": date(2023, 1, 1),
             "end_date": date(2024, 2, 1), "mrr": 50.0},
            # e: cancelled mid-term: churn, not a renewal due
            {"account_id": "e", "subscription_id": "e", "start_date": date(2023, 2, 1),
             "end_date": date(2023, 8, 1), "term_months": 12, "mrr": 70.0},
            # f: yearly billing without term_months (12 assumed), moves to monthly: renewed
            {"account_id": "f", "subscription_id": "f", "start_date": date(2023, 3, 1),
             "end_date": date(2024, 3, 1), "billing_interval": y, "mrr": 80.0},
            {"account_id": "f", "subscription_id": "f2", "start_date": date(2024, 3, 1),
             "billing_interval": "month", "mrr": 90.0},
            # g: two product lines; Core renewed, Storage dropped
            {"account_id": "g", "subscription_id": "g1", "start_date": date(2023, 1, 15),
             "end_date": date(2024, 1, 15), "term_months": 12, "mrr": 100.0},
            {"account_id": "g", "subscription_id": "g1b", "start_date": date(2024, 1, 15),
             "term_months": 12, "mrr": 100.0},
            {"account_id": "g", "subscription_id": "g2", "product_line": "Storage",
             "start_date": date(2023, 1, 15), "end_date": date(2024, 1, 15), "term_months": 12,
             "mrr": 20.0},
            # h: renews one day late: a gap, not renewed
            {"account_id": "h", "subscription_id": "h", "start_date": date(2023, 3, 1),
             "end_date": date(2024, 3, 1), "term_months": 12, "mrr": 60.0},
            {"account_id": "h", "subscription_id": "h2", "start_date": date(2024, 3, 2),
             "term_months": 12, "mrr": 60.0},
        ]
    )  # fmt: skip


def test_seed_000_renewal_rate_renewals_over_contracts_eligible():
    subs = renewal_book()
    due = renewals(subs, Period.parse("2024-Q1"))
    got = {(r["account_id"], r["product_line"]): r["renewed"] for r in due.iter_rows(named=True)}
    assert got == {("a", "Core"): True, ("b", "Core"): False, ("c", "Core"): True,
                   ("f", "Core"): True, ("g", "Core"): True, ("g", "Storage"): False,
                   ("h", "Core"): False}  # fmt: skip
    assert due.filter(pl.col("account_id") == "c")["term_start"].item() == date(2023, 2, 1)
    wb = workbook(subs, date(2024, 12, 31))
    v = values(wb, "2024-Q1", ["renewal_rate", "renewal_win_rate"])
    assert v["renewal_rate"] == 4 / 7
    assert v["renewal_win_rate"] == 4 / 6  # accounts a b c f g h; g won (Core renewed)
    # a's same row keeps running: its next term ends (and is renewed) in 2025-Q1
    assert contract_terms(subs, date(2025, 1, 1)).filter(pl.col("account_id") == "a")[
        "term_end"
    ].to_list() == [date(2024, 1, 1), date(2025, 1, 1)]


# ------------------------------------------------------------------ empty denominators
def test_empty_denominators_are_null_with_a_reason():
    subs = subs_frame([{"account_id": "z", "start_date": date(2024, 5, 10), "mrr": 10.0}])
    wb = workbook(subs, date(2024, 5, 31))
    res = compute(wb, "2024-05", metrics=RETENTION_IDS)
    for row in res.iter_rows(named=True):
        if row["value"] is None:
            assert row["note"], row["id"]
    got = {r["id"]: r for r in res.iter_rows(named=True)}
    assert got["logo_churn_rate"]["value"] is None
    assert got["logo_churn_rate"]["note"] == "no customers at period start"
    assert got["nrr"]["note"] == "no MRR at period start"
    assert got["crc"]["note"] == "needs table costs"
    assert got["median_lifetime_months"]["note"].startswith("median not reached")
    r = retention_rates(movements(subs, Period.parse("2024-05")), "opening_plus_new")
    assert r["logo_churn_rate"].value == 0.0  # one new logo won, none lost


# ------------------------------------------------------------------ cohorts
def cohort_book() -> pl.DataFrame:
    return subs_frame(
        [
            {"account_id": "a", "start_date": date(2024, 1, 5), "mrr": 100.0},
            {"account_id": "b", "start_date": date(2024, 1, 20), "end_date": date(2024, 3, 10),
             "mrr": 50.0},
            {"account_id": "b", "start_date": date(2024, 4, 1), "mrr": 50.0},  # comes back
            {"account_id": "c", "start_date": date(2024, 1, 2), "end_date": date(2024, 1, 25),
             "mrr": 30.0},  # gone before its first month end
            {"account_id": "d", "start_date": date(2024, 2, 3), "end_date": date(2024, 3, 1),
             "mrr": 40.0},
            {"account_id": "d", "start_date": date(2024, 3, 1), "mrr": 80.0},  # doubles
            {"account_id": "e", "start_date": date(2023, 12, 1), "mrr": 10.0},  # earlier cohort
            {"account_id": "f", "start_date": date(2024, 1, 1), "mrr": 0.0},  # free: no cohort
            {"account_id": "f", "start_date": date(2024, 3, 1), "mrr": 0.0},
        ]
    )  # fmt: skip


def test_cohort_retention_logo_and_revenue_by_hand():
    subs = cohort_book()
    logo = cohort_retention(subs, "2024-01", "2024-04")
    jan = logo.filter(pl.col("cohort") == "2024-01")
    assert jan["age"].to_list() == [0, 1, 2, 3]
    assert jan["cohort_size"].to_list() == [3, 3, 3, 3]
    assert jan["active"].to_list() == [2, 2, 1, 2]  # c never at a month end; b out in March
    assert jan["retention"].to_list() == [2 / 3, 2 / 3, 1 / 3, 2 / 3]
    feb = logo.filter(pl.col("cohort") == "2024-02")
    assert feb["month_end"].to_list() == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
    assert set(logo["cohort"]) == {"2024-01", "2024-02"}
    rev = cohort_retention(subs, "2024-01", "2024-04", kind="revenue")
    assert rev.filter(pl.col("cohort") == "2024-01")["retention"].to_list() == [
        1.0,
        1.0,
        2 / 3,
        1.0,
    ]
    assert rev.filter(pl.col("cohort") == "2024-02")["retention"].to_list() == [1.0, 2.0, 2.0]
    assert rev.filter(pl.col("cohort") == "2024-01")["base_mrr"][0] == 150.0
    only_b = cohort_retention(subs, "2024-01", "2024-04", ids=pl.Series(["b"]))
    assert only_b["active"].to_list() == [1, 1, 0, 1]
    with pytest.raises(ValueError, match="kind"):
        cohort_retention(subs, "2024-01", "2024-04", kind="seats")


def test_cohort_revenue_retention_null_when_the_first_month_ends_empty():
    subs = subs_frame([{"account_id": "c", "start_date": date(2024, 1, 2),
                        "end_date": date(2024, 1, 25), "mrr": 30.0}])  # fmt: skip
    rev = cohort_retention(subs, "2024-01", "2024-02", kind="revenue")
    assert rev["retention"].to_list() == [None, None]


# ------------------------------------------------------------------ survival
@pytest.fixture(scope="module")
def churn() -> pl.DataFrame:
    return pl.read_csv(KM_DIR / "churn.csv")


def test_km_matches_expected_table_row_by_row(churn):
    exp = pl.read_csv(KM_DIR / "expected_km_all.csv")
    km = km_curve(churn["months_active"], churn["churned"])
    assert km.height == exp.height == 13
    assert km["time"].to_list() == exp["months_active"].to_list()
    assert km["at_risk"].to_list() == exp["at_risk_start"].to_list()
    assert km["observed"].to_list() == exp["churned"].to_list()
    assert km["censored"].to_list() == exp["censored"].to_list()
    for ours, theirs in [("survival", "survival"), ("ci_lower", "ci_lower_loglog_95"),
                         ("ci_upper", "ci_upper_loglog_95")]:  # fmt: skip
        assert km[ours].round(6).to_list() == exp[theirs].to_list(), ours


def _lifelines(durations, observed):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    k = KaplanMeierFitter().fit(np.asarray(durations, float), np.asarray(observed, float))
    ci = k.confidence_interval_
    med_ci = median_survival_times(ci)
    return k, ci, (float(med_ci.iloc[0, 0]), float(med_ci.iloc[0, 1]))


def _assert_same_as_lifelines(durations, observed):
    k, ci, (lo, hi) = _lifelines(durations, observed)
    km = km_curve(durations, observed)
    assert km["time"].to_list() == list(k.survival_function_.index)
    assert km["at_risk"].to_list() == k.event_table["at_risk"].tolist()
    assert km["observed"].to_list() == k.event_table["observed"].tolist()
    assert km["censored"].to_list() == k.event_table["censored"].tolist()
    np.testing.assert_allclose(km["survival"], k.survival_function_.iloc[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(km["ci_lower"], ci.iloc[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(km["ci_upper"], ci.iloc[:, 1], rtol=0, atol=1e-9)
    med = km_median(durations, observed)
    theirs = k.median_survival_time_
    if math.isinf(theirs):
        assert med.value is None
    else:
        assert med.value == theirs
        assert med.low == (None if math.isinf(lo) else lo)
        assert med.high == (None if math.isinf(hi) else hi)


def test_km_matches_lifelines_on_pysurvival_churn(churn):
    _assert_same_as_lifelines(churn["months_active"].to_numpy(), churn["churned"].to_numpy())
    med = km_median(churn["months_active"], churn["churned"])
    assert (med.value, med.n) == (6.0, 2000)
    assert (med.low, med.high) == (5.0, 7.0)


@pytest.mark.parametrize(
    "size, n, churned, median",
    [("1-10", 316, 142, 7), ("10-50", 690, 313, 6), ("50-100", 687, 313, 6),
     ("100-250", 244, 135, 4), ("self-employed", 63, 29, 6)],
)  # fmt: skip
def test_km_median_by_company_size(churn, size, n, churned, median):
    g = churn.filter(pl.col("company_size") == size)
    assert (g.height, int(g["churned"].sum())) == (n, churned)
    assert km_median(g["months_active"], g["churned"]).value == median
    _assert_same_as_lifelines(g["months_active"].to_numpy(), g["churned"].to_numpy())


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 15), st.booleans()).map(lambda t: (t[0] / 2, t[1])),
        min_size=1,
        max_size=40,
    )
)
def test_km_matches_lifelines_on_random_data(pairs):
    d, e = zip(*pairs, strict=True)
    _assert_same_as_lifelines(np.array(d), np.array(e))
    km = km_curve(d, e)
    s = km["survival"].to_numpy()
    assert (np.diff(s) <= 0).all() and ((s >= 0) & (s <= 1)).all()
    assert (km["ci_lower"] <= km["survival"] + 1e-12).all()
    assert (km["survival"] <= km["ci_upper"] + 1e-12).all()


def test_km_edge_cases():
    assert km_curve([], []).height == 0
    assert km_median([], []).note == "no lifetimes to estimate"
    assert km_median([1, 2], [0, 0]).value is None  # nobody churned: median not reached
    assert km_curve([3, 1])["observed"].to_list() == [0, 1, 1]  # default: every one an event
    with pytest.raises(ValueError, match=">= 0"):
        km_curve([-1.0], [1])
    with pytest.raises(ValueError, match="equal length"):
        km_curve([1.0, 2.0], [1])


def test_account_lifetimes_first_paid_spell_censored_at_as_of():
    subs = subs_frame(
        [
            # a: two adjacent rows then a gap: first spell 2024-01-01 .. 2024-04-01 (churn)
            {"account_id": "a", "start_date": date(2024, 1, 1), "end_date": date(2024, 3, 1),
             "mrr": 5.0},
            {"account_id": "a", "start_date": date(2024, 3, 1), "end_date": date(2024, 4, 1),
             "mrr": 6.0},
            {"account_id": "a", "start_date": date(2024, 5, 1), "mrr": 6.0},  # returns later
            # b: overlapping product lines, open: censored at as_of
            {"account_id": "b", "start_date": date(2024, 2, 1), "end_date": date(2024, 5, 1),
             "mrr": 5.0},
            {"account_id": "b", "product_line": "Storage", "start_date": date(2024, 4, 1),
             "mrr": 2.0},
            # c: a free plan first (not paid), then paid from March, ends the day after as_of
            {"account_id": "c", "start_date": date(2024, 1, 1), "end_date": date(2024, 3, 1),
             "mrr": 0.0},
            {"account_id": "c", "start_date": date(2024, 3, 1), "end_date": date(2024, 7, 1),
             "mrr": 9.0},
            # d: starts after as_of: not yet a customer; t: trial only
            {"account_id": "d", "start_date": date(2024, 7, 1), "mrr": 9.0},
            {"account_id": "t", "start_date": date(2024, 1, 1), "mrr": 9.0, "is_trial": True},
        ]
    )  # fmt: skip
    as_of = date(2024, 6, 30)
    life = account_lifetimes(subs, as_of)
    rows = {r["account_id"]: r for r in life.iter_rows(named=True)}
    assert set(rows) == {"a", "b", "c"}
    assert (rows["a"]["start"], rows["a"]["churn_day"], rows["a"]["observed"]) == (
        date(2024, 1, 1), date(2024, 4, 1), True,
    )  # fmt: skip
    assert rows["a"]["days"] == 91 and rows["a"]["months"] == pytest.approx(
        91 / DAYS_PER_MONTH, abs=1e-12
    )
    assert (rows["b"]["observed"], rows["b"]["churn_day"], rows["b"]["days"]) == (False, None, 151)
    assert (rows["c"]["start"], rows["c"]["observed"], rows["c"]["days"]) == (
        date(2024, 3, 1), False, 122,
    )  # fmt: skip
    wb = workbook(subs, as_of)
    row = result(wb, "2024-Q2", "median_lifetime_months")
    want = km_median(life["months"], life["observed"])
    assert row["note"].startswith("median not reached") and want.value is None
    # b churns on 2024-06-01: S drops at a (91 days) to 2/3, at b (121 days) to 1/3,
    # so the median lifetime is b's 121 days
    subs2 = subs.with_columns(
        end_date=pl.when((pl.col("account_id") == "b") & (pl.col("product_line") == "Storage"))
        .then(date(2024, 6, 1))
        .otherwise(pl.col("end_date"))
    )
    row = result(workbook(subs2, as_of), "2024-Q2", "median_lifetime_months")
    assert row["value"] == pytest.approx(121 / DAYS_PER_MONTH, abs=1e-12) and row["n"] == 3


# ------------------------------------------------------------------ dbt period bridges
@pytest.mark.skipif(not DBT_DIR.exists(), reason="shared/validation/dbt-mrr-playbook absent")
def test_dbt_period_bridges_grr_nrr_logo_churn_quick_ratio():
    sp = pl.read_csv(DBT_DIR / "subscription_periods.csv", try_parse_dates=True)
    subs = subs_frame(
        [
            {"subscription_id": str(r["subscription_id"]), "account_id": str(r["customer_id"]),
             "product_line": "Core", "start_date": r["start_date"], "end_date": r["end_date"],
             "mrr": float(r["monthly_amount"])}
            for r in sp.iter_rows(named=True)
        ]
    )  # fmt: skip
    wb = workbook(subs, date(2020, 2, 29))
    exp = pl.read_csv(DBT_DIR / "expected_period_bridges.csv")
    assert exp.height == 6
    for r in exp.iter_rows(named=True):
        period = r["period"].split(" ")[0]  # "2019 (year)" -> "2019"
        got = values(wb, period, ["grr", "nrr", "logo_churn_rate", "customers_start"])
        assert got["customers_start"] == r["S"], period
        for ours, theirs in [("grr", "grr"), ("nrr", "nrr"), ("logo_churn_rate", "logo_churn")]:
            mine = None if got[ours] is None else round(got[ours], 6)
            assert mine == r[theirs], (period, ours)
        b = bridge(movements(subs, Period.parse(period)))
        lost = b["churn_mrr"] + b["contraction_mrr"]
        qr = (b["new_mrr"] + b["reactivation_mrr"] + b["expansion_mrr"]) / lost if lost else None
        assert (None if qr is None else round(qr, 6)) == r["quick_ratio"], period


# ------------------------------------------------------------------ invariants
DAY0 = date(2023, 1, 1)


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, d.day)


row_st = st.fixed_dictionaries(
    {
        "account": st.integers(0, 5),
        "line": st.sampled_from(["Core", "Storage"]),
        "month": st.integers(0, 23),
        "day": st.sampled_from([1, 15]),
        "length": st.one_of(st.none(), st.integers(1, 14)),
        "mrr": st.sampled_from([0.0, 10.0, 25.5, 40.0, 99.99]),
        "term": st.sampled_from([None, None, 12]),
    }
)


def random_subs(rows: list[dict]) -> pl.DataFrame:
    out = []
    for r in rows:
        start = _add_months(date(2023, 1, r["day"]), r["month"])
        end = None if r["length"] is None else _add_months(start, r["length"])
        acct = f"a{r['account']}"
        out.append({"account_id": acct, "subscription_id": f"{acct}-{r['line']}",
                    "product_line": r["line"], "start_date": start, "end_date": end,
                    "mrr": r["mrr"], "term_months": r["term"]})  # fmt: skip
    return subs_frame(out)


period_st = st.builds(
    lambda kind, k: (
        Period.quarter(2023 + k // 4, k % 4 + 1)
        if kind == "q"
        else Period.month(2023 + k // 12, k % 12 + 1)
    ),
    st.sampled_from(["q", "m"]),
    st.integers(0, 7),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_st, min_size=1, max_size=12), period_st)
def test_retention_invariants_on_random_histories(rows, period):
    subs = random_subs(rows)
    mov = movements(subs, period)
    r = retention_rates(mov)
    w = retention_rates(mov, "opening_plus_new")
    for v in [r["logo_churn_rate"], r["logo_retention"], r["grr"], r["revenue_churn_rate"],
              w["logo_churn_rate"]]:  # fmt: skip
        assert v.value is None or 0.0 <= v.value <= 1.0
    if r["grr"].value is not None:
        assert r["grr"].value <= 1.0
        assert r["grr"].value <= r["nrr"].value + 1e-15
        assert r["grr"].value + r["revenue_churn_rate"].value == pytest.approx(1.0, abs=1e-12)
    if r["logo_churn_rate"].value is not None:
        assert r["logo_retention"].value + r["logo_churn_rate"].value == pytest.approx(1.0)
        assert r["crr"].value >= r["logo_retention"].value - 1e-15  # reactivations only add
    else:
        assert r["logo_churn_rate"].note == "no customers at period start"
    # closing of one period == opening of the next (MRR and customers)
    b, nxt = bridge(mov), bridge(movements(subs, period.next()))
    assert b["mrr_end"] == nxt["mrr_start"] and b["customers_end"] == nxt["customers_start"]
    q = quarterly_renewed_arr(subs, quarter_for(period))
    assert q.value is None or q.value >= 0
    due = renewals(subs, period)
    for v in renewal_rates(due).values():
        assert v.value is None or 0.0 <= v.value <= 1.0
    rp = repeat_purchase_rate(subs, period.end, scope="all")
    assert rp.value is None or 0.0 <= rp.value <= 1.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_st, min_size=1, max_size=12), period_st, st.sets(st.integers(0, 5)))
def test_segment_plus_complement_equals_total(rows, period, chosen):
    subs = random_subs(rows)
    seg = pl.Series([f"a{i}" for i in sorted(chosen)], dtype=pl.String)
    rest = pl.Series([f"a{i}" for i in range(6) if i not in chosen], dtype=pl.String)
    total = bridge(movements(subs, period))
    parts = [bridge(movements(subs, period, ids)) for ids in (seg, rest)]
    for key, val in total.items():
        assert round(parts[0][key] + parts[1][key], 2) == round(val, 2), key
    # the retention tables split the same way
    life = [account_lifetimes(subs, period.end, ids).height for ids in (seg, rest)]
    assert sum(life) == account_lifetimes(subs, period.end).height
    due = [renewals(subs, period, ids).height for ids in (seg, rest)]
    assert sum(due) == renewals(subs, period).height
    coh = cohort_retention(subs, "2023-01", "2024-12")
    parts_c = [cohort_retention(subs, "2023-01", "2024-12", ids) for ids in (seg, rest)]
    assert sum(int(p["active"].sum()) for p in parts_c) == int(coh["active"].sum())
    assert ((coh["active"] <= coh["cohort_size"]) & (coh["retention"] <= 1)).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_st, min_size=1, max_size=12), st.integers(0, 23))
def test_lifetimes_are_consistent_with_mrr(rows, month):
    subs = random_subs(rows)
    as_of = _add_months(DAY0, month) + timedelta(days=14)
    life = account_lifetimes(subs, as_of)
    from csm_lib.revenue import mrr_cents_at

    for r in life.iter_rows(named=True):
        assert r["days"] >= 1
        ids = pl.Series([r["account_id"]])
        paying = mrr_cents_at(subs, r["start"], ids)
        assert paying.height == 1 and paying["cents"][0] > 0
        if r["observed"]:
            assert mrr_cents_at(subs, r["churn_day"], ids).filter(pl.col("cents") > 0).height == 0
            last = r["churn_day"] - timedelta(days=1)
            assert mrr_cents_at(subs, last, ids)["cents"][0] > 0
        else:
            assert mrr_cents_at(subs, as_of, ids)["cents"][0] > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_st, min_size=1, max_size=12), st.integers(0, 23), st.integers(0, 20))
def test_lifetimes_from_the_history_cut_equal_those_computed_at_the_date(rows, month, back):
    """Facts cut the whole history's first spells at a date (a derived fact): the same
    lifetimes as computing them from the rows up to that date."""
    subs = random_subs(rows)
    as_of = _add_months(DAY0, month + back) + timedelta(days=14)
    cut = _add_months(DAY0, month) + timedelta(days=14)
    facts = workbook(subs, as_of).facts
    for ids in (None, pl.Series(["a0", "a2"])):
        got, want = account_lifetimes(facts, cut, ids), account_lifetimes(subs, cut, ids)
        # (months = days / 30.4375 may differ in the last bit: polars divides some frame
        # layouts by multiplying with the reciprocal)
        assert got.drop("months").equals(want.drop("months")), (cut, as_of)
        assert got["months"].to_list() == pytest.approx(want["months"].to_list(), rel=1e-15)
        a, b = median_lifetime(facts, cut, ids), median_lifetime(subs, cut, ids)
        assert (a.n, a.note) == (b.n, b.note)
        for x, y in ((a.value, b.value), (a.low, b.low), (a.high, b.high)):
            assert x == y if x is None or y is None else x == pytest.approx(y, rel=1e-15)


# ------------------------------------------------------------------ registry and sample
def test_every_retention_metric_is_fully_declared():
    for mid in ["logo_churn_rate", "logo_retention", "account_retention", "crr", "grr", "nrr",
                "revenue_churn_rate", "quarterly_renewed_arr", "renewal_rate",
                "renewal_win_rate", "repeat_purchase_rate", "crc", "median_lifetime_months"]:  # fmt: skip
        spec = SPECS[mid]
        assert spec.pillar == "retention" and spec.definition and spec.formula and spec.action
        assert spec.benchmark == "none" or spec.benchmark_source, mid
        assert spec.seeds == () or spec.example, mid
    assert {o.name for o in SPECS["logo_churn_rate"].options} == {"churn_denominator"}
    assert {o.name for o in SPECS["crc"].options} == {"cost_allocation"}
    assert SPECS["quarterly_renewed_arr"].good_range == (0.97, None)


@pytest.mark.skipif(not SAMPLE_DIR.exists(), reason="bundled sample data/sample not generated yet")
def test_sample_2025_q4_retention_metrics_are_filled(tmp_path):
    from csm_lib.data import load

    # lenient: this test is about the retention metrics, not the sample's validation
    wb = load(SAMPLE_DIR, strict=False, quarantine_dir=tmp_path)
    compute(wb, "2025-Q4", metrics=["nrr"])  # warm the facts
    t0 = time.perf_counter()
    res = compute(wb, "2025-Q4", metrics=RETENTION_IDS)
    elapsed = time.perf_counter() - t0
    for row in res.iter_rows(named=True):
        assert row["value"] is not None or row["note"], row["id"]
    got = as_dict(res)
    for mid in ["logo_churn_rate", "grr", "nrr", "crr", "quarterly_renewed_arr", "renewal_rate",
                "renewal_win_rate", "crc", "median_lifetime_months"]:  # fmt: skip
        assert got[mid] is not None, mid
    assert got["grr"] <= 1 and got["grr"] <= got["nrr"]
    assert elapsed < 5, elapsed
