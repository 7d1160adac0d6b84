"""Controls: parameters validated against the options, sections updated in place."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from csm_lib import Workbook
from csm_lib.controls import (
    ControlBar,
    LiveReport,
    Section,
    Workbench,
    history_periods,
    resolve_period,
    resolve_segment,
    segment_options,
    trailing_year,
)
from csm_lib.periods import Period

ACCOUNTS = pl.DataFrame(
    {"account_id": ["a", "b", "c"], "segment": ["SMB", "Enterprise", "SMB"],
     "region": ["EMEA", "NA", None]}
)  # fmt: skip
SUBS = pl.DataFrame(
    {
        "subscription_id": ["s1", "s2", "s3"],
        "account_id": ["a", "b", "c"],
        "product_line": ["Core"] * 3,
        "start_date": [date(2024, 1, 1), date(2024, 2, 1), date(2024, 8, 1)],
        "end_date": [None, date(2024, 9, 1), None],
        "mrr": [100.0, 300.0, 50.0],
        "is_trial": [False] * 3,
    }
)


def _wb():
    return Workbook(
        {"accounts": ACCOUNTS.lazy(), "subscriptions": SUBS.lazy()}, as_of=date(2024, 12, 31)
    )


def test_invalid_parameters_list_the_options():
    with pytest.raises(ValueError, match="2024-Q4, 2024-Q3"):
        resolve_period("2023-Q9", ["2024-Q4", "2024-Q3"], "2024-Q4")
    with pytest.raises(ValueError, match="All, segment=SMB"):
        resolve_segment("segment=Nope", ["All", "segment=SMB"])


def test_parameters_defaults_and_bare_segment_values():
    opts = segment_options(ACCOUNTS)
    assert opts == ["All", "segment=Enterprise", "segment=SMB", "region=EMEA", "region=NA"]
    assert resolve_segment("SMB", opts) == "segment=SMB"
    assert resolve_segment("", opts) == "All"
    assert resolve_period("", ["2024-Q4"], "2024-Q4") == "2024-Q4"
    assert resolve_period("2024-q3", ["2024-Q4", "2024-Q3"], "2024-Q4") == "2024-Q3"
    assert (
        resolve_period("2024-02-01..2024-03-15", ["2024-Q4"], "2024-Q4") == "2024-02-01..2024-03-15"
    )


def test_control_bar_from_workbook_uses_latest_full_quarter():
    bar = ControlBar.for_workbook(_wb(), "", "segment=SMB")
    assert bar.period == "2024-Q4" and bar.segment == "segment=SMB"
    assert "2024-Q1" in bar.periods and "region=NA" in bar.segments
    w = bar.widget
    assert [c.value for c in w.children] == ["2024-Q4", "segment=SMB"]


def test_a_change_notifies_and_updates_every_handle():
    bar = ControlBar(["2024-Q4", "2024-Q3"], ["All", "segment=SMB"], "2024-Q4", "All")
    live = LiveReport(bar)
    sec = live.add(lambda p, s: [f"A {p} {s}", f"B {p}"], show=False)

    class Handle:
        def __init__(self):
            self.shown = []

        def update(self, obj):
            self.shown.append(str(getattr(obj, "data", obj)))

    sec.handles = [Handle(), Handle()]
    bar.widget.children[0].value = "2024-Q3"  # as a user picking a period
    assert sec.handles[0].shown == ["A 2024-Q3 All"]
    assert sec.handles[1].shown == ["B 2024-Q3"]
    bar.set(segment="SMB")
    assert sec.handles[0].shown[-1] == "A 2024-Q3 segment=SMB"
    assert bar.widget.children[1].value == "segment=SMB"
    assert len(live.timings) == 2 and live.timings[-1]["seconds"] >= 0


def test_section_pads_when_fewer_objects_come_back():
    sec = Section(lambda p, s: ["only one"] if p == "x" else ["one", "two"])

    class Handle:
        shown = None

        def update(self, obj):
            self.shown = getattr(obj, "data", obj)

    sec.handles = [Handle(), Handle()]
    sec.update("x", "All")
    assert sec.handles[0].shown == "only one" and sec.handles[1].shown == ""


def test_workbench_values_match_compute_and_history_is_ordered():
    from csm_lib import as_dict, compute

    wb = _wb()
    bench = Workbench(wb, metrics=["mrr_end", "churn_count"])
    direct = as_dict(compute(wb, "2024-Q3", "segment=Enterprise"))
    assert bench.value("churn_count", "2024-Q3", "segment=Enterprise") == direct["churn_count"]
    h = bench.history("2024-Q4", "All", n=4)
    assert h["period"].unique(maintain_order=True).to_list() == [
        "2024-Q1",
        "2024-Q2",
        "2024-Q3",
        "2024-Q4",
    ]
    assert set(h["id"]) == {"mrr_end", "churn_count"}
    assert (
        h.filter(pl.col("period") == "2024-Q4", pl.col("id") == "mrr_end")["value"].item() == 150.0
    )


def test_period_helpers():
    assert [p.label for p in history_periods(Period.parse("2024-03"), 3)] == [
        "2024-01",
        "2024-02",
        "2024-03",
    ]
    ty = trailing_year(Period.parse("2024-Q4"))
    assert (ty.start, ty.end) == (date(2024, 1, 1), date(2024, 12, 31))


def test_any_filter_on_accounts_columns_is_accepted_and_shown_in_the_menu():
    bar = ControlBar.for_workbook(_wb(), "2024-Q3", "segment=SMB,region=EMEA")
    assert bar.segment == "segment=SMB,region=EMEA"
    labels = [label for label, _ in bar.widget.children[1].options]
    assert "Segment: SMB, Region: EMEA" in labels
    with pytest.raises(ValueError, match="no account has region 'Mars'; values: EMEA, NA"):
        ControlBar.for_workbook(_wb(), "", "region=Mars")
    with pytest.raises(ValueError, match="unknown accounts column"):
        ControlBar.for_workbook(_wb(), "", "colour=red")


def test_calculator_cache_gives_the_same_result_and_runs_each_calculator_once():
    from csm_lib import compute
    from csm_lib.registry import CALCULATORS

    wb = _wb()
    cache: dict = {}
    part = compute(wb, "2024-Q3", "All", metrics=["mrr_end", "nrr"], cache=cache)
    n_part = len(cache)
    assert n_part >= 1
    full = compute(wb, "2024-Q3", "All", cache=cache)
    assert full.equals(compute(wb, "2024-Q3", "All"))
    assert part.equals(full.filter(pl.col("id").is_in(["mrr_end", "nrr"])))
    assert n_part < len(cache) <= len(CALCULATORS)
    calls = []
    calc = next(c for c in CALCULATORS if "mrr_end" in c.provides)
    fn = calc.fn
    calc.fn = lambda ctx: calls.append(1) or fn(ctx)
    try:
        compute(wb, "2024-Q3", "All", metrics=["mrr_end"], cache=cache)
        compute(wb, "2024-Q3", "All", metrics=["mrr_end"], options={"x": 1}, cache=cache)
    finally:
        calc.fn = fn
    assert calls == [1]  # cached for the same options, run again for other options


def test_workbench_subsets_previous_and_history_match_compute():
    from csm_lib import compute

    wb = _wb()
    bench = Workbench(wb, metrics=["mrr_end", "churn_count"])
    bench.trends.append("mrr_end")
    bench.prepare("2024-Q4", "All")
    sub = bench.result("2024-Q4", "All", ["churn_count", "mrr_end"])
    full = compute(wb, "2024-Q4", "All")
    assert bench.result("2024-Q4", "All").equals(full)
    assert sub.equals(full.filter(pl.col("id").is_in(["mrr_end", "churn_count"])))
    prev = bench.previous("2024-Q4", "All", ["mrr_end"])
    assert prev.equals(compute(wb, "2024-Q3", "All", metrics=["mrr_end"]))
    h = bench.history("2024-Q4", "All", n=3, ids=["mrr_end"])
    assert h["period"].to_list() == ["2024-Q2", "2024-Q3", "2024-Q4"]
    assert set(h["id"]) == {"mrr_end"}
