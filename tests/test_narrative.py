"""Narrative text: describe, interpret, glossary and KPI tables read the registry."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import csm_lib
from csm_lib import narrative
from csm_lib.compute import RESULT_SCHEMA
from csm_lib.registry import MetricSpec, Option, fmt_value

NRR = MetricSpec(
    "nrr", "NRR", "retention", "fraction", "higher",
    "Revenue kept from the opening customers, expansion included.",
    "(MRR_start + expansion - contraction - churn) / MRR_start",
    "above 100%", "seed 001", ("subscriptions",), seeds=("000", "001"),
    example="$100k -> $110k = 110%", action="Find the accounts that shrank.",
    good_range=(1.0, None),
    options=(Option("churn_denominator", "opening", "which customers count", ("opening", "all")),),
)  # fmt: skip
CHURN = MetricSpec(
    "churn_mrr", "Churned MRR", "revenue", "money", "lower", "d", "f", "none", "", ()
)
NPS = MetricSpec(
    "nps", "NPS", "advocacy", "score", "higher", "d", "f", "30-50 good", "seed 000", (),
    good_range=(30.0, 50.0),
)  # fmt: skip


def test_interpret_nrr_in_points_with_the_benchmark_reading():
    text = narrative.interpret(NRR, 1.042, 1.029, "2025-Q4", "2025-Q3")
    assert text.startswith("NRR was 104.2% in 2025-Q4, up 1.3 points from 2025-Q3")
    assert "(an improvement)" in text
    assert "above the benchmark of at least 100.0%" in text
    assert "expansion outran churn" in text
    low = narrative.interpret(NRR, 0.97, 0.99, "2025-Q4", "2025-Q3")
    assert "down 2.0 points" in low and "(a deterioration)" in low
    assert "below the benchmark" in low and "churn and contraction outran expansion" in low


def test_interpret_money_in_percent_change_and_lower_is_better():
    text = narrative.interpret(CHURN, 90.0, 100.0, "2025-Q4", "2025-Q3")
    assert text == "Churned MRR was $90.00 in 2025-Q4, down 10.0% from 2025-Q3 (an improvement)."


def test_interpret_inside_a_two_sided_band_and_scores_in_points():
    text = narrative.interpret(NPS, 41.0, 35.5, "2025-Q4", "2025-Q3")
    assert "up 5.5 points" in text and "inside the benchmark range of 30.0 to 50.0" in text


def test_interpret_null_explains_its_note_and_accepts_result_rows():
    row = {"value": None, "note": "needs table surveys"}
    assert narrative.interpret(NPS, row, period_label="2025-Q4") == (
        "NPS is not available for 2025-Q4: needs table surveys."
    )
    text = narrative.interpret(NPS, {"value": 12.0, "note": "partial period"}, period_label="x")
    assert "partial" in text and "below the benchmark" in text


def test_describe_has_every_part_of_the_spec():
    md = narrative.describe(NRR)
    for part in (NRR.label, NRR.definition, NRR.formula, NRR.example, NRR.benchmark,
                 NRR.benchmark_source, "churn_denominator", NRR.action, "higher is better"):  # fmt: skip
        assert part in md
    assert md._repr_markdown_() == str(md)
    assert "none quoted" in narrative.describe(CHURN)


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(["fraction", "money", "count", "score", "days"]),
    v=st.floats(-1e6, 1e6, allow_nan=False),
    p=st.floats(-1e6, 1e6, allow_nan=False),
)
def test_change_text_direction_matches_the_difference(unit, v, p):
    text, d = narrative.change_text(unit, v, p)
    if text.startswith("up"):
        assert v > p and d > 0
    elif text.startswith("down"):
        assert v < p and d < 0
    else:
        assert text == "unchanged"


def test_glossary_lists_every_metric_of_the_catalogue():
    specs = csm_lib.catalogue()
    md = narrative.glossary(specs)
    lines = md.splitlines()
    assert len(lines) == 2 + len(specs)
    for spec, line in zip(specs.values(), lines[2:], strict=True):
        assert line.startswith(f"| `{spec.id}` |")
        assert narrative._cell(spec.definition) in line
        assert line.count(" | ") >= 7  # every column present (pipes inside cells are escaped)


def _result(values: dict[str, float | None], period: str) -> pl.DataFrame:
    specs = csm_lib.catalogue()
    rows = [
        {"id": k, "label": specs[k].label, "pillar": specs[k].pillar, "unit": specs[k].unit,
         "value": v, "n": 10, "low": None, "high": None, "note": "" if v is not None else "why",
         "period": period, "segment": "All", "as_of": None, "partial": False}
        for k, v in values.items()
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def test_kpi_table_formats_values_changes_and_benchmarks():
    cur = _result({"mrr_end": 1100.0, "churn_mrr": 50.0, "new_mrr": None}, "2025-Q4")
    prev = _result({"mrr_end": 1000.0, "churn_mrr": 40.0, "new_mrr": 5.0}, "2025-Q3")
    rows = {r["id"]: r for r in narrative.kpi_rows(cur, prev)}
    assert rows["mrr_end"]["value"] == fmt_value(1100.0, "money")
    assert rows["mrr_end"]["change"] == "up 10.0%" and rows["mrr_end"]["judge"] == "good"
    assert rows["churn_mrr"]["judge"] == "bad"  # lower is better and it went up
    assert rows["new_mrr"]["value"] == "n/a" and rows["new_mrr"]["note"] == "why"
    html = narrative.kpi_table(cur, prev)
    assert html.count("<tr data-metric=") == 3 and "2025-Q3" in html
    md = narrative.kpi_table(cur, prev, fmt="markdown")
    assert len(md.splitlines()) == 5 and "up 10.0%" in md
    only = narrative.kpi_table(cur, None, ids=["mrr_end"], fmt="markdown")
    assert len(only.splitlines()) == 3 and "change" not in only


def test_unknown_metric_id_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown metric id"):
        narrative.describe("no_such_metric")
