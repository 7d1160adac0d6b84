"""The revenue backbone: MRR at a date, movements, bridge, waterfall.

External case: dbt-labs/mrr-playbook (read from ../shared/validation; it has no
licence, so it is never copied into this repository and the tests skip when the
folder is absent, as in a user's clone).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csm_lib.periods import Period
from csm_lib.revenue import bridge, bridge_closes, movements, mrr_at, total_mrr, waterfall

DBT = Path(__file__).resolve().parents[2] / "shared" / "validation" / "dbt-mrr-playbook"
needs_dbt = pytest.mark.skipif(
    not DBT.exists(),
    reason="../shared/validation/dbt-mrr-playbook is absent (it has no licence, so it is "
    "not bundled; the check runs in the project's own CI)",
)


def subs_frame(rows) -> pl.DataFrame:
    """rows: (account_id, product_line, start, end, mrr[, is_trial])."""
    rows = [r if len(r) == 6 else (*r, False) for r in rows]
    return pl.DataFrame(
        rows,
        schema={
            "account_id": pl.String,
            "product_line": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "mrr": pl.Float64,
            "is_trial": pl.Boolean,
        },
        orient="row",
    )


def dbt_subs() -> pl.DataFrame:
    s = pl.read_csv(
        DBT / "subscription_periods.csv",
        try_parse_dates=True,
        schema_overrides={"customer_id": pl.String, "subscription_id": pl.String},
    )
    return s.rename({"customer_id": "account_id", "monthly_amount": "mrr"}).with_columns(
        pl.col("mrr").cast(pl.Float64), product_line=pl.lit("Core"), is_trial=pl.lit(False)
    )


# ---------------------------------------------------------------- basics
def test_mrr_at_a_date_uses_inclusive_start_exclusive_end_and_ignores_trials():
    s = subs_frame(
        [
            ("a", "Core", date(2024, 1, 1), date(2024, 5, 1), 100.0),
            ("a", "Core", date(2024, 5, 1), None, 150.0),
            ("b", "Core", date(2024, 1, 1), None, 999.0, True),  # trial: ignored
        ]
    )
    assert mrr_at(s, date(2024, 4, 30))["mrr"].to_list() == [100.0]
    assert mrr_at(s, date(2024, 5, 1))["mrr"].to_list() == [150.0]
    assert total_mrr(s, date(2023, 12, 31)) == 0.0


def test_account_mrr_is_rounded_to_the_cent_before_summing():
    s = subs_frame(
        [
            ("a", "Core", date(2024, 1, 1), None, 10.004),
            ("b", "Core", date(2024, 1, 1), None, 10.004),
        ]
    )
    assert total_mrr(s, date(2024, 1, 1)) == 20.0


def test_churn_is_counted_in_the_month_after_the_last_paid_day():
    # exclusive end 2024-05-01: last paid day 30 April -> churn in May (DATA_CONTRACT)
    s = subs_frame([("a", "Core", date(2024, 1, 1), date(2024, 5, 1), 50.0)])
    assert bridge(movements(s, Period.parse("2024-04")))["churn_count"] == 0
    assert bridge(movements(s, Period.parse("2024-05")))["churn_count"] == 1
    assert bridge(movements(s, Period.parse("2024-01")))["new_count"] == 1


def test_new_vs_reactivation_looks_only_before_the_period():
    s = subs_frame(
        [
            ("a", "Core", date(2024, 1, 1), date(2024, 2, 1), 50.0),
            ("a", "Core", date(2024, 4, 1), None, 60.0),
        ]
    )
    april = bridge(movements(s, Period.parse("2024-04")))
    assert (april["reactivation_count"], april["reactivation_mrr"], april["new_count"]) == (
        1,
        60.0,
        0,
    )
    # churn in Feb and return in Apr: within 2024-H1 it is neither churn nor reactivation
    h1 = bridge(movements(s, Period.parse("2024-01-01..2024-06-30")))
    assert (h1["new_count"], h1["churn_count"], h1["reactivation_count"]) == (1, 0, 0)


def test_zero_mrr_rows_neither_activate_nor_count_as_paid():
    s = subs_frame(
        [
            ("a", "Core", date(2024, 1, 1), date(2024, 3, 1), 0.0),  # a Free plan
            ("a", "Core", date(2024, 3, 1), None, 40.0),
        ]
    )
    b = bridge(movements(s, Period.parse("2024-03")))
    assert (b["new_count"], b["customers_start"], b["new_logos"]) == (1, 0, 1)


def test_upsell_and_cross_sell_split():
    s = subs_frame(
        [
            ("a", "Core", date(2024, 1, 1), date(2024, 3, 10), 100.0),
            ("a", "Core", date(2024, 3, 10), None, 130.0),  # upsell +30
            ("a", "Analytics", date(2024, 3, 20), None, 50.0),  # cross-sell +50
            ("b", "Core", date(2024, 1, 1), None, 100.0),
            ("b", "Storage", date(2024, 1, 1), date(2024, 3, 5), 40.0),  # line dropped -40
            ("b", "Analytics", date(2024, 3, 5), None, 60.0),  # new line +60 -> net +20
        ]
    )
    b = bridge(movements(s, Period.parse("2024-03")))
    assert b["expansion_mrr"] == 100.0 and b["expansion_count"] == 2
    # a: cross = min(80, 50) = 50, upsell 30; b: cross = min(20, 60) = 20, upsell 0
    assert (b["cross_sell_mrr"], b["upsell_mrr"]) == (70.0, 30.0)


# ------------------------------------------- the seeds' revenue examples (bridge level)
def _bridge_of(start_mrr: dict, end_mrr: dict, new: dict | None = None) -> dict:
    """Accounts with a given MRR on 2024-03-31 and on 2024-06-30 -> the 2024-Q2 bridge."""
    rows = []
    for acct, m in start_mrr.items():
        e = end_mrr.get(acct, 0.0)
        rows.append((acct, "Core", date(2024, 1, 1), date(2024, 5, 15), m))
        if e:
            rows.append((acct, "Core", date(2024, 5, 15), None, e))
    for acct, m in (new or {}).items():
        rows.append((acct, "Core", date(2024, 5, 1), None, m))
    return bridge(movements(subs_frame(rows), Period.parse("2024-Q2")))


def test_seed_004_nrr_100k_to_110k_is_110_percent():
    b = _bridge_of({"a": 60_000.0, "b": 40_000.0}, {"a": 75_000.0, "b": 35_000.0})
    nrr = (b["mrr_start"] + b["expansion_mrr"] - b["contraction_mrr"] - b["churn_mrr"]) / b[
        "mrr_start"
    ]
    assert nrr == pytest.approx(1.10, abs=1e-12)


def test_seed_001_expansion_1_8m_minus_1_5m_minus_0_2m_is_0_1m():
    b = _bridge_of(
        {"a": 1_000_000.0, "b": 500_000.0},
        {"a": 1_100_000.0, "b": 500_000.0},
        new={"n": 200_000.0},
    )
    assert (b["mrr_start"], b["mrr_end"], b["new_mrr"]) == (1_500_000.0, 1_800_000.0, 200_000.0)
    assert b["mrr_end"] - b["mrr_start"] - b["new_mrr"] == 100_000.0
    assert b["expansion_mrr"] == 100_000.0


def test_seed_001_quarterly_renewed_arr_1_49m_of_1_5m():
    start = {f"c{i}": 1_500_000.0 / 12 / 10 for i in range(10)}  # ARR 1.5m over 10 accounts
    end = dict(start) | {"c0": start["c0"] - 10_000.0 / 12}  # ARR falls by $10k
    b = _bridge_of(start, end)
    assert round(b["mrr_start"] * 12, 2) == 1_500_000.0
    renewed = (b["mrr_start"] - b["churn_mrr"] - b["contraction_mrr"] + b["expansion_mrr"]) * 12
    # ARR is 12 x cent-rounded MRR, so $10k of ARR is $833.33 of MRR: within 12 cents
    assert abs(renewed - 1_490_000.0) <= 0.12
    assert round(renewed / (b["mrr_start"] * 12) * 100, 2) == 99.33


def test_seed_004_account_retention_90_of_100():
    start = {f"c{i}": 100.0 for i in range(100)}
    end = {f"c{i}": 100.0 for i in range(90)}
    b = _bridge_of(start, end)
    assert (b["customers_start"], b["customers_end"], b["churn_count"]) == (100, 90, 10)
    assert b["customers_end"] / b["customers_start"] == 0.9


def test_seed_001_churn_24_of_1200_is_2_percent():
    start = {f"c{i}": 10.0 for i in range(1200)}
    end = {f"c{i}": 10.0 for i in range(24, 1200)}
    b = _bridge_of(start, end, new={"n1": 10.0, "n2": 10.0})  # new customers stay out of S
    assert (b["churn_count"], b["customers_start"]) == (24, 1200)
    assert b["churn_count"] / b["customers_start"] == 0.02


# ------------------------------------------------------- dbt mrr-playbook
@needs_dbt
def test_dbt_playbook_every_month_to_the_cent():
    s = dbt_subs()
    exp = pl.read_csv(DBT / "expected_monthly_movements_all_data.csv")
    cols = {
        "mrr_start": "mrr_start", "new": "new_mrr", "reactivation": "reactivation_mrr",
        "expansion": "expansion_mrr", "contraction": "contraction_mrr", "churn": "churn_mrr",
        "mrr_end": "mrr_end", "customers_start": "customers_start", "customers_end": "customers_end",
        "n_new": "new_count", "n_reactivation": "reactivation_count", "n_expansion": "expansion_count",
        "n_contraction": "contraction_count", "n_churn": "churn_count",
    }  # fmt: skip
    assert exp.height == 30  # 2017-09 .. 2020-02
    wf = waterfall(s, Period.parse("2017-09-01..2020-02-29"))
    assert wf["month"].to_list() == exp["month"].to_list()
    for ours, theirs in zip(wf.iter_rows(named=True), exp.iter_rows(named=True), strict=True):
        for e_col, o_col in cols.items():
            assert round(float(ours[o_col]) * 100) == round(float(theirs[e_col]) * 100), (
                theirs["month"],
                e_col,
            )


@needs_dbt
def test_dbt_playbook_period_bridges():
    s = dbt_subs()
    exp = pl.read_csv(DBT / "expected_period_bridges.csv")
    checked = 0
    for r in exp.iter_rows(named=True):
        label = r["period"].split(" ")[0]
        b = bridge(movements(s, Period.parse(label)))
        assert b["mrr_start"] == r["mrr_start"] and b["mrr_end"] == r["mrr_end"]
        assert (b["new_mrr"], b["reactivation_mrr"], b["expansion_mrr"]) == (
            r["new"],
            r["reactivation"],
            r["expansion"],
        )
        assert (b["contraction_mrr"], b["churn_mrr"]) == (r["contraction"], r["churn"])
        assert (b["customers_start"], b["customers_end"]) == (r["S"], r["E"])
        assert (b["new_count"], b["reactivation_count"], b["churn_count"]) == (
            r["N_new"],
            r["N_react"],
            r["churned_logos"],
        )
        assert bridge_closes(b)
        checked += 1
    assert checked == 6


@needs_dbt
def test_dbt_playbook_churns_after_the_data_ends():
    # the playbook's note: 17 churns in 2019-12, 28 in 2020-01, 4 in 2020-02
    s = dbt_subs()
    got = [
        bridge(movements(s, Period.parse(m)))["churn_count"]
        for m in ("2019-12", "2020-01", "2020-02")
    ]
    assert got == [17, 28, 4]


# ----------------------------------------------------------- properties
@st.composite
def histories(draw):
    """Random subscription histories: a few accounts, rows with gaps and overlaps."""
    n_acc = draw(st.integers(1, 6))
    rows = []
    for a in range(n_acc):
        for _ in range(draw(st.integers(1, 4))):
            start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 300)))
            length = draw(st.one_of(st.none(), st.integers(1, 200)))
            end = None if length is None else start + timedelta(days=length)
            mrr = draw(st.decimals(0, 500, places=2).map(float))
            line = draw(st.sampled_from(["Core", "Analytics", "Storage"]))
            trial = (
                draw(st.booleans().filter(lambda b: True))
                if draw(st.integers(0, 5)) == 0
                else False
            )
            rows.append((f"acc{a}", line, start, end, mrr, trial))
    return subs_frame(rows)


PERIODS = ["2024-02", "2024-Q2", "2024-03-10..2024-08-20", "2024", "2024-Q4"]


@settings(max_examples=60, deadline=None)
@given(histories(), st.sampled_from(PERIODS))
def test_bridge_closes_to_the_cent(s, label):
    b = bridge(movements(s, Period.parse(label)))
    assert bridge_closes(b)
    assert b["cross_sell_mrr"] + b["upsell_mrr"] == pytest.approx(b["expansion_mrr"], abs=1e-9)
    assert b["cross_sell_mrr"] >= 0 and b["upsell_mrr"] >= 0
    if b["mrr_start"] > 0:
        grr = (b["mrr_start"] - b["churn_mrr"] - b["contraction_mrr"]) / b["mrr_start"]
        nrr = grr + b["expansion_mrr"] / b["mrr_start"]
        assert 0 <= grr <= 1 and grr <= nrr
        assert 0 <= b["churn_count"] / b["customers_start"] <= 1


@settings(max_examples=40, deadline=None)
@given(histories(), st.sampled_from(PERIODS))
def test_closing_of_a_period_is_the_opening_of_the_next(s, label):
    p = Period.parse(label)
    assert bridge(movements(s, p))["mrr_end"] == bridge(movements(s, p.next()))["mrr_start"]
    assert bridge(movements(s, p))["mrr_end"] == total_mrr(s, p.end)


@settings(max_examples=40, deadline=None)
@given(histories(), st.sampled_from(PERIODS), st.data())
def test_segment_plus_complement_equals_total(s, label, data):
    ids = sorted(set(s["account_id"]))
    chosen = data.draw(st.lists(st.sampled_from(ids), unique=True))
    rest = [i for i in ids if i not in chosen]
    p = Period.parse(label)
    whole = bridge(movements(s, p))
    part = bridge(movements(s, p, pl.Series(chosen, dtype=pl.String)))
    other = bridge(movements(s, p, pl.Series(rest, dtype=pl.String)))
    for k, v in whole.items():
        assert part[k] + other[k] == pytest.approx(v, abs=1e-6), k


@settings(max_examples=25, deadline=None)
@given(histories())
def test_waterfall_months_chain_and_sum_to_the_year(s):
    wf = waterfall(s, Period.parse("2024"))
    assert wf.height == 12
    assert wf["mrr_start"][1:].to_list() == wf["mrr_end"][:-1].to_list()
    year = bridge(movements(s, Period.parse("2024")))
    assert year["mrr_start"] == wf["mrr_start"][0] and year["mrr_end"] == wf["mrr_end"][-1]


@settings(max_examples=60, deadline=None)
@given(histories(), st.sampled_from(PERIODS))
def test_movements_one_pass_per_line_equals_grouping_by_line(s, label):
    """movements() sums each product line in its own column (few lines); with more
    lines than that it groups by (account, line): both give the same rows."""
    import csm_lib.revenue as rev

    p = Period.parse(label)
    pivoted = movements(s, p)
    saved = rev.MAX_LINES_PIVOTED
    rev.MAX_LINES_PIVOTED = 0  # force the grouped path
    try:
        grouped = movements(s, p)
    finally:
        rev.MAX_LINES_PIVOTED = saved
    assert pivoted.equals(grouped)


@settings(max_examples=40, deadline=None)
@given(histories(), st.sampled_from([32, 4, 1]))
def test_waterfall_in_one_pass_equals_each_months_bridge(s, columns):
    """The waterfall sums every month boundary's MRR in shared passes (at most
    MAX_PIVOT_COLUMNS columns a pass): each month equals its own movements' bridge."""
    import csm_lib.revenue as rev

    p = Period.parse("2024")
    saved = rev.MAX_PIVOT_COLUMNS
    rev.MAX_PIVOT_COLUMNS = columns  # 4 and 1: several passes over the rows
    try:
        wf = waterfall(s, p)
    finally:
        rev.MAX_PIVOT_COLUMNS = saved
    want = [bridge(movements(s, m)) for m in p.months()]
    assert wf.drop("month", "month_start").to_dicts() == want
    assert wf["month"].to_list() == [m.label for m in p.months()]
