"""Chart builders: valid Vega-Lite (compiled by vl-convert), a tooltip on every mark,
axis formats from the registry, the bridge closes, histograms keep every row."""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
from hypothesis import given, settings
from hypothesis import strategies as st

from csm_lib import charts
from csm_lib.periods import Period
from csm_lib.registry import vega_format
from csm_lib.revenue import bridge as revenue_bridge
from csm_lib.revenue import movements, waterfall

SUBS = pl.DataFrame(
    {
        "account_id": ["a", "a", "b", "c", "d"],
        "product_line": ["Core", "Core", "Core", "Core", "Storage"],
        "start_date": [date(2024, 1, 1), date(2024, 5, 1), date(2024, 1, 1), date(2024, 4, 10),
                       date(2024, 2, 1)],
        "end_date": [date(2024, 5, 1), None, date(2024, 5, 1), None, date(2024, 6, 1)],
        "mrr": [100.0, 150.0, 80.0, 40.0, 25.0],
    }
)  # fmt: skip


def _marks(spec: dict):
    """Every unit spec (one mark) of a possibly layered spec."""
    if "layer" in spec:
        for s in spec["layer"]:
            yield from _marks(s)
    else:
        yield spec


def _all_charts():
    b = revenue_bridge(movements(SUBS, Period.parse("2024-05")))
    wf = waterfall(SUBS, Period.parse("2024-Q2"))
    return {
        "mrr_waterfall": charts.mrr_waterfall(wf),
        "bridge": charts.bridge(b),
        "trend": charts.trend(
            pl.DataFrame({"period": ["2025-Q3", "2025-Q4"], "nrr": [0.98, 1.04]}),
            "period", "nrr", "fraction", benchmark=(1.0, None), title="NRR",
        ),
        "trend_band": charts.trend(
            pl.DataFrame({"period": ["2025-Q3", "2025-Q4"], "nps": [20.0, 35.0]}),
            "period", "nps", "score", benchmark=(30, 50),
        ),
        "cohort_heatmap": charts.cohort_heatmap(
            pl.DataFrame({"cohort": ["2025-01", "2025-01", "2025-02"], "age": [0, 1, 0],
                          "retention": [1.0, 0.9, 1.0], "cohort_size": [10, 10, 4]}),
            size="cohort_size",
        ),
        "survival": charts.survival(
            pl.DataFrame({"time": [0.0, 1.0, 2.0], "survival": [1.0, 0.9, 0.8],
                          "ci_lower": [1.0, 0.8, 0.7], "ci_upper": [1.0, 0.95, 0.9]})
        ),
        "funnel": charts.funnel(
            pl.DataFrame({"stage": ["Leads", "Trials", "Customers"], "count": [100, 40, 10]})
        ),
        "distribution": charts.distribution(
            pl.DataFrame({"score": [10.0, 20, 55, 80, 90], "band": ["red", "red", "yellow",
                          "green", "green"]}), "score", band="band", unit="score", domain=(0, 100),
        ),
        "scatter": charts.scatter(
            pl.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "churned": ["yes", "no"],
                          "account_id": ["x", "y"]}), "a", "b", color="churned",
            tooltip=["account_id"],
        ),
        "bar": charts.bar(
            pl.DataFrame({"segment": ["SMB", "Ent"], "nrr": [0.95, 1.1]}), "segment", "nrr",
            unit="fraction", benchmark=(1.0, None),
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_all_charts()))
def test_every_builder_compiles_offline_and_has_tooltips_on_every_mark(name):
    chart = _all_charts()[name]
    spec = chart.to_dict()
    svg = vlc.vegalite_to_svg(spec)  # raises on an invalid spec
    assert svg.startswith("<svg")
    for unit in _marks(spec):
        assert "tooltip" in unit.get("encoding", {}), f"{name}: a mark without tooltip"
    assert spec.get("title"), f"{name}: no title"


def test_axis_formats_come_from_the_registry():
    spec = _all_charts()["trend"].to_dict()
    line = spec["layer"][-1]
    assert line["encoding"]["y"]["axis"]["format"] == vega_format("fraction")
    wf = _all_charts()["mrr_waterfall"].to_dict()
    assert wf["layer"][0]["encoding"]["y"]["axis"]["format"] == vega_format("money")


def test_theme_is_registered_enabled_and_colour_blind_safe():
    assert alt.theme.active == charts.THEME
    cfg = alt.theme.get()()["config"]
    okabe_ito = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442"}
    assert okabe_ito <= set(cfg["range"]["category"])


def test_bridge_chart_closes_on_the_revenue_bridge():
    b = revenue_bridge(movements(SUBS, Period.parse("2024-05")))
    f = charts.bridge_frame(b)
    assert f["step"].to_list() == [s[1] for s in charts.BRIDGE_STEPS]
    churn_top = f.filter(pl.col("step") == "− Churn")["top"].item()
    assert churn_top == pytest.approx(b["mrr_end"], abs=0.005)


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, 10**7),
    gains=st.lists(st.integers(0, 10**6), min_size=3, max_size=3),
    losses=st.lists(st.integers(0, 10**6), min_size=2, max_size=2),
)
def test_bridge_frame_running_total_reaches_the_end(start, gains, losses):
    # cents, as the revenue backbone keeps them
    end = start + sum(gains) - sum(losses)
    b = {"mrr_start": start / 100, "new_mrr": gains[0] / 100, "reactivation_mrr": gains[1] / 100,
         "expansion_mrr": gains[2] / 100, "contraction_mrr": losses[0] / 100,
         "churn_mrr": losses[1] / 100, "mrr_end": end / 100}  # fmt: skip
    f = charts.bridge_frame(b)
    assert f["running"][-2] == pytest.approx(end / 100, abs=1e-6)
    assert (f.filter(pl.col("kind") == "gain")["amount"] >= 0).all()
    assert (f.filter(pl.col("kind") == "loss")["amount"] <= 0).all()


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(0, 100, allow_nan=False), min_size=0, max_size=60),
    bins=st.integers(1, 25),
)
def test_histogram_keeps_every_row(values, bins):
    df = pl.DataFrame({"v": values}, schema={"v": pl.Float64})
    df = df.with_columns(
        band=pl.when(pl.col("v") < 40).then(pl.lit("red")).otherwise(pl.lit("green"))
    )
    h = charts.histogram_frame(df, "v", "band", bins=bins, domain=(0, 100))
    assert int(h["count"].sum() or 0) == len(values)
    assert (h["bin_end"] > h["bin_start"]).all()


def test_missing_column_error_names_what_is_there():
    with pytest.raises(ValueError, match="lacks column"):
        charts.survival(pl.DataFrame({"t": [1]}))


def test_waterfall_chart_uses_the_revenue_waterfall_rows():
    wf = waterfall(SUBS, Period.parse("2024-Q2"))
    spec = charts.mrr_waterfall(wf).to_dict()
    rows = [r for d in spec["datasets"].values() for r in d]
    months = {r["month"] for r in rows}
    assert months == set(wf["month"].to_list())
    churn = sum(-r["amount"] for r in rows if r.get("movement") == "Churn")
    assert churn == pytest.approx(wf["churn_mrr"].sum())
