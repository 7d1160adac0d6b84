"""The sample generator: contract conformance, determinism and the planted stories.

Small generated companies check the contract and determinism (fast); the
planted stories are asserted on the bundled sample (``data/sample``).
"""

from __future__ import annotations

import datetime as dt
import doctest
import hashlib
from pathlib import Path

import polars as pl
import pytest

from csm_lib import sample
from csm_lib.contract import SURVEY_SCALES, TABLES
from csm_lib.sample import generate, sample_path

AS_OF = dt.date(2025, 12, 31)
WINDOW_START = dt.date(2023, 1, 1)


def _sha(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small")
    generate(out, accounts=250, events=30_000, seed=3)
    return out


@pytest.fixture(scope="module")
def bundled() -> dict[str, pl.DataFrame]:
    path = sample_path()
    return {name: pl.read_parquet(path / f"{name}.parquet") for name in TABLES}


def _read(path: Path) -> dict[str, pl.DataFrame]:
    return {name: pl.read_parquet(path / f"{name}.parquet") for name in TABLES}


# ------------------------------------------------------------ conformance --
def check_contract(t: dict[str, pl.DataFrame]) -> None:
    """Every rule of contract.TABLES, plus the sample's own promises."""
    accounts = set(t["accounts"]["account_id"])
    for name, spec in TABLES.items():
        df = t[name]
        assert df.height > 0, name
        assert dict(df.schema) == {c: col.dtype for c, col in spec.columns.items()}, name
        if spec.key:
            assert df.select(spec.key).is_duplicated().sum() == 0, f"{name} key"
            assert df.sort(spec.key).equals(df), f"{name} not sorted by its key"
        for c, col in spec.columns.items():
            s = df[c]
            if not col.nullable:
                assert s.null_count() == 0, f"{name}.{c} null"
            if col.unique:
                assert s.n_unique() == df.height, f"{name}.{c} unique"
            if col.allowed:
                assert set(s.drop_nulls()) <= set(col.allowed), f"{name}.{c} allowed"
            if col.min is not None:
                assert (s.drop_nulls() >= col.min).all(), f"{name}.{c} min"
            if col.gt is not None:
                assert (s.drop_nulls() > col.gt).all(), f"{name}.{c} gt"
            if col.fk_accounts:
                assert set(s.drop_nulls()) <= accounts, f"{name}.{c} fk"
        for c, col in spec.columns.items():  # nothing after the as-of date
            if col.dtype == pl.Date and not (name == "subscriptions" and c == "end_date"):
                assert df[c].max() <= AS_OF, f"{name}.{c} after as-of"
            if col.dtype == pl.Datetime("us", "UTC"):
                assert df[c].max() < dt.datetime(2026, 1, 1, tzinfo=dt.UTC), f"{name}.{c}"

    acc = t["accounts"]
    assert set(acc["segment"]) == {"Enterprise", "Mid-Market", "SMB", "Consumer"}
    assert (acc["business_model"] == "B2C").to_list() == (acc["segment"] == "Consumer").to_list()
    ref = acc.filter(pl.col("referred_by").is_not_null()).join(
        acc.select(pl.col("account_id").alias("referred_by"), pl.col("created_at").alias("rc")),
        on="referred_by",
    )
    assert ref.height == acc["referred_by"].drop_nulls().len()
    assert (ref["rc"] < ref["created_at"]).all(), "referrer is an older account"
    assert set(ref["acquisition_channel"]) == {"referral"}

    subs = t["subscriptions"]
    assert (subs["end_date"].is_null() | (subs["end_date"] > subs["start_date"])).all()
    assert subs["start_date"].max() <= AS_OF
    assert (subs["mrr"] == subs["mrr"].round(2)).all()
    assert (
        subs.filter(pl.col("currency") == "EUR").join(acc, on="account_id")["region"] == "EMEA"
    ).all()
    assert set(subs["currency"]) == {"USD", "EUR"}
    # rows of one subscription do not overlap and share account and line
    s = subs.sort("subscription_id", "start_date").with_columns(
        prev_end=pl.col("end_date").shift(1).over("subscription_id")
    )
    assert (
        s.filter(pl.col("prev_end").is_not_null())["start_date"]
        .ge(s.filter(pl.col("prev_end").is_not_null())["prev_end"])
        .all()
    )
    assert subs.group_by("subscription_id").agg(
        pl.col("account_id").n_unique(), pl.col("product_line").n_unique()
    ).select(pl.col("account_id").max(), pl.col("product_line").max()).row(0) == (1, 1)
    # trials come before the account's first paid row
    first_paid = (
        subs.filter(~pl.col("is_trial")).group_by("account_id").agg(pl.col("start_date").min())
    )
    trials = subs.filter("is_trial").join(first_paid, on="account_id", suffix="_paid")
    assert (trials["end_date"] <= trials["start_date_paid"]).all()
    units = subs.group_by("unit").agg(pl.col("product_line").unique().sort())
    assert dict(units.iter_rows()) == {
        "flat": ["Core"],
        "gb": ["Storage"],
        "seat": ["Analytics add-on", "Core"],
    }
    assert (subs.filter(pl.col("billing_interval") == "month")["term_months"].is_null()).all()
    assert set(subs["term_months"].drop_nulls()) == {12, 24, 36}

    users = t["users"]
    assert (
        users["deactivated_at"].is_null() | (users["deactivated_at"] > users["created_at"])
    ).all()
    ev = t["events"]
    assert set(ev["user_id"].drop_nulls()) <= set(users["user_id"])
    assert (
        ev.join(users, on="user_id", how="left")
        .filter(pl.col("account_id") != pl.col("account_id_right"))
        .height
        == 0
    ), "event users belong to the event's account"
    # events only while the account pays or is on trial
    day = ev.select("account_id", d=pl.col("event_at").dt.date()).unique()
    live = day.join(
        subs.filter(pl.col("mrr") > 0, ~pl.col("is_trial") | True), on="account_id"
    ).filter(
        (pl.col("start_date") <= pl.col("d"))
        & (pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("d")))
    )
    trial_days = day.join(subs.filter("is_trial"), on="account_id").filter(
        (pl.col("start_date") <= pl.col("d")) & (pl.col("end_date") > pl.col("d"))
    )
    covered = pl.concat(
        [live.select("account_id", "d"), trial_days.select("account_id", "d")]
    ).unique()
    assert covered.height == day.height, "events outside paid or trial periods"
    assert ev["event_at"].min() >= dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    sessions = (
        ev.filter(pl.col("session_id").is_not_null())
        .group_by("session_id")
        .agg(
            pl.len(),
            pl.col("user_id").n_unique(),
            pl.col("event_at").dt.date().n_unique().alias("days"),
        )
    )
    assert sessions["len"].mean() > 2 and (sessions["user_id"] == 1).all()
    assert (sessions["days"] == 1).all()

    ob = t["onboarding"]
    assert set(ob["milestone"]) == {"kickoff", "provisioned", "trained", "first_value"}
    sv = t["surveys"]
    for survey, (lo, hi) in SURVEY_SCALES.items():
        sc = sv.filter(pl.col("survey") == survey)["score"]
        assert sc.len() > 0 and sc.min() >= lo and sc.max() <= hi, survey
    tk = t["tickets"]
    assert (tk["first_response_at"].is_null() | (tk["first_response_at"] >= tk["opened_at"])).all()
    assert (tk["resolved_at"].is_null() | (tk["resolved_at"] >= tk["first_response_at"])).all()
    ld = t["leads"]
    conv = ld.filter(pl.col("converted_at").is_not_null())
    assert conv["account_id"].null_count() == 0 and conv["account_id"].is_unique().all()
    assert (conv["converted_at"] >= conv["created_at"]).all()
    assert (
        ld.filter(pl.col("converted_at").is_null())["account_id"].null_count()
        == ld.filter(pl.col("converted_at").is_null()).height
    )
    months = pl.date_range(WINDOW_START, dt.date(2025, 12, 1), "1mo", eager=True)
    assert t["costs"].height == 6 * months.len()
    fx = pl.date_range(dt.date(2021, 1, 1), dt.date(2025, 12, 1), "1mo", eager=True)
    assert t["fx_rates"]["month"].to_list() == fx.to_list()
    assert set(t["fx_rates"]["currency"]) == {"EUR"}
    eur_months = subs.filter(pl.col("currency") == "EUR")["start_date"].dt.truncate("1mo")
    assert set(eur_months) <= set(fx), "every EUR row has a rate for its start month"


def test_small_company_conforms_to_the_contract(small):
    check_contract(_read(small))


def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path):
    generate(tmp_path / "again", accounts=250, events=30_000, seed=3)
    assert _sha(tmp_path / "again") == _sha(small)
    generate(tmp_path / "other", accounts=250, events=30_000, seed=4)
    assert _sha(tmp_path / "other")["subscriptions.parquet"] != _sha(small)["subscriptions.parquet"]


def test_generate_returns_row_counts_and_hits_the_event_budget(tmp_path):
    counts = generate(tmp_path, accounts=120, events=30_000, seed=5)
    assert list(counts) == list(TABLES)
    for name, n in counts.items():
        assert pl.scan_parquet(tmp_path / f"{name}.parquet").select(pl.len()).collect().item() == n
    assert counts["accounts"] == 120
    assert abs(counts["events"] - 30_000) < 0.05 * 30_000


def test_zero_events_writes_an_empty_events_table(tmp_path):
    counts = generate(tmp_path, accounts=30, events=0, seed=1)
    assert counts["events"] == 0
    assert pl.read_parquet(tmp_path / "events.parquet").schema == pl.Schema(
        {c: col.dtype for c, col in TABLES["events"].columns.items()}
    )


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="accounts must be >= 1"):
        generate(tmp_path, accounts=0)


def test_module_doctest():
    assert doctest.testmod(sample).failed == 0


# ------------------------------------------------------------- bundled --
def test_bundled_sample_is_complete_small_and_conforms(bundled):
    path = sample_path()
    assert path == Path(sample.__file__).resolve().parents[1] / "data" / "sample"
    assert sum(p.stat().st_size for p in path.iterdir()) <= 25 * 2**20
    assert bundled["accounts"].height == 2000
    assert 1_400_000 < bundled["events"].height < 1_600_000
    check_contract(bundled)


def _mrr_panel(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Closing MRR per account and month end (contract currency), with the previous one."""
    ends = pl.date_range(dt.date(2022, 12, 1), AS_OF, "1mo", eager=True).dt.month_end()
    grid = t["accounts"].select("account_id").join(pl.DataFrame({"d": ends}), how="cross")
    live = (
        t["subscriptions"]
        .filter(~pl.col("is_trial"))
        .join(pl.DataFrame({"d": ends}), how="cross")
        .filter(
            (pl.col("start_date") <= pl.col("d"))
            & (pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("d")))
        )
        .group_by("account_id", "d")
        .agg(pl.col("mrr").sum().round(2))
    )
    return (
        grid.join(live, on=["account_id", "d"], how="left")
        .with_columns(pl.col("mrr").fill_null(0.0))
        .sort("account_id", "d")
        .with_columns(prev=pl.col("mrr").shift(1).over("account_id"))
        .filter(pl.col("d") >= dt.date(2023, 1, 31))
        .with_columns(
            churn=(pl.col("prev") > 0) & (pl.col("mrr") == 0),
            at_risk=pl.col("prev") > 0,
            expansion=pl.when((pl.col("prev") > 0) & (pl.col("mrr") > pl.col("prev")))
            .then(pl.col("mrr") - pl.col("prev"))
            .otherwise(0.0),
        )
    )


@pytest.fixture(scope="module")
def panel(bundled) -> pl.DataFrame:
    return _mrr_panel(bundled)


def test_story_1_retail_is_a_bad_fit_and_churns_about_twice_as_fast(bundled, panel):
    rates = dict(
        panel.join(bundled["accounts"], on="account_id")
        .filter(pl.col("business_model") == "B2B")
        .group_by(retail=pl.col("industry") == "Retail")
        .agg(pl.col("churn").sum() / pl.col("at_risk").sum())
        .iter_rows()
    )
    assert rates[True] / rates[False] > 1.6  # planted 2.5x hazard


def test_story_2_usage_declines_in_the_months_before_churn(bundled):
    subs = bundled["subscriptions"].filter(~pl.col("is_trial"), pl.col("mrr") > 0)
    spans = subs.group_by("account_id").agg(
        first=pl.col("start_date").min(),
        last=pl.col("end_date").max(),
        running=pl.col("end_date").is_null().any(),
    )
    churned = spans.filter(
        ~pl.col("running"),
        pl.col("last") <= AS_OF,
        pl.col("last") - pl.col("first") >= pl.duration(days=240),
    )
    ev = bundled["events"].select("account_id", d=pl.col("event_at").dt.date())
    days_before = ev.join(churned, on="account_id").select(
        (pl.col("last") - pl.col("d")).dt.total_days().alias("k")
    )
    late = days_before.filter(pl.col("k").is_between(1, 30)).height / 30
    before = days_before.filter(pl.col("k").is_between(121, 180)).height / 60
    assert churned.height > 100
    assert late / before < 0.6  # planted: falls to a quarter over 100 days
    # retained accounts keep their level over the same kind of window
    kept = spans.filter(pl.col("running"), pl.col("first") <= dt.date(2025, 1, 1))
    ev_kept = ev.join(kept, on="account_id")
    dec = ev_kept.filter(pl.col("d") >= dt.date(2025, 12, 2)).height / 30
    summer = ev_kept.filter(pl.col("d").is_between(dt.date(2025, 7, 4), dt.date(2025, 9, 1))).height
    assert dec / (summer / 60) > 0.85


def test_story_3_pro_price_increase_moves_expansion_mrr(bundled, panel):
    s = (
        bundled["subscriptions"]
        .filter(~pl.col("is_trial"))
        .sort("subscription_id", "start_date")
        .with_columns(
            pl.col("plan", "quantity", "mrr", "end_date")
            .shift(1)
            .over("subscription_id")
            .name.prefix("p_")
        )
    )
    price_only = s.filter(
        pl.col("p_end_date") == pl.col("start_date"),
        pl.col("plan") == pl.col("p_plan"),
        pl.col("quantity") == pl.col("p_quantity"),
        pl.col("mrr") > pl.col("p_mrr"),
    )
    assert price_only.height > 100
    assert price_only["start_date"].min() >= dt.date(2024, 7, 1)
    assert set(price_only["plan"]) == {"Pro"}
    assert (price_only["mrr"] / price_only["p_mrr"]).is_between(1.19, 1.21).all()
    q = dict(
        panel.group_by(pl.col("d").dt.strftime("%Y-Q%q").alias("q"))
        .agg(pl.col("expansion").sum())
        .iter_rows()
    )
    assert q["2024-Q3"] > 1.5 * q["2024-Q2"]


def _nps(scores: pl.Series) -> float:
    return 100 * ((scores >= 9).mean() - (scores <= 6).mean())


def test_story_4_support_backlog_in_2024q3_then_an_nps_dip(bundled):
    tk = bundled["tickets"].with_columns(
        q=pl.col("opened_at").dt.strftime("%Y-Q%q"),
        frt_h=(pl.col("first_response_at") - pl.col("opened_at")).dt.total_minutes() / 60,
    )
    frt = dict(tk.group_by("q").agg(pl.col("frt_h").median()).iter_rows())
    assert frt["2024-Q3"] > 3 * frt["2024-Q2"]
    assert frt["2025-Q1"] < 1.5 * frt["2024-Q2"]  # the backlog is cleared
    nps = bundled["surveys"].filter(pl.col("survey") == "nps")
    by_q = {
        q: _nps(g["score"])
        for (q,), g in nps.group_by(pl.col("responded_at").dt.strftime("%Y-Q%q")).__iter__()
    }
    assert by_q["2024-Q4"] < by_q["2024-Q2"] - 25
    assert by_q["2025-Q2"] > by_q["2024-Q4"] + 25  # recovery
    comments = bundled["surveys"].filter(pl.col("comment").str.contains("too long to respond"))
    in_dip = comments.filter(
        pl.col("responded_at").is_between(dt.date(2024, 8, 1), dt.date(2025, 1, 31))
    )
    assert in_dip.height / 6 > 2 * (comments.height - in_dip.height) / 30


def test_story_5_health_predicts_renewal(bundled, panel):
    at = dt.date(2024, 12, 31)
    live = panel.filter(pl.col("d") == at, pl.col("mrr") > 0).select("account_id")
    churned = panel.filter(pl.col("d") == AS_OF).select("account_id", churned=pl.col("mrr") == 0)
    ev = bundled["events"].filter(pl.col("event_at").dt.date().is_between(dt.date(2024, 10, 1), at))
    users = bundled["users"].group_by("account_id").agg(n_users=pl.len())
    usage = ev.group_by("account_id").agg(n=pl.len(), breadth=pl.col("feature").n_unique())
    nps = (
        bundled["surveys"]
        .filter(pl.col("survey") == "nps", pl.col("responded_at") <= at)
        .group_by("account_id")
        .agg(nps=pl.col("score").mean())
    )
    h = (
        live.join(users, on="account_id", how="left")
        .join(usage, on="account_id", how="left")
        .join(nps, on="account_id", how="left")
        .join(churned, on="account_id")
        .with_columns(
            per_user=pl.col("n").fill_null(0) / pl.col("n_users"),
            breadth=pl.col("breadth").fill_null(0),
            nps=pl.col("nps").fill_null(pl.col("nps").median()),
        )
        .with_columns(
            score=pl.col("per_user").rank() + pl.col("breadth").rank() + pl.col("nps").rank()
        )
        .with_columns(band=(pl.col("score").rank("ordinal") * 3 / pl.len()).ceil().clip(1, 3))
    )
    churn = dict(h.group_by("band").agg(pl.col("churned").mean()).iter_rows())
    assert churn[1] > 2 * churn[3]  # bundled sample: 23 % vs 9 % churned in 2025
    assert churn[1] > churn[2] > churn[3]
