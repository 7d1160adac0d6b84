"""Common tests over the registry (as scikit-learn checks every estimator)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from csm_lib import catalogue, compute
from csm_lib.compute import PILLAR_MODULES, to_json_obj
from csm_lib.data import Workbook, table_frame
from csm_lib.registry import CALCULATORS, PILLARS, UNITS, fmt_value, vega_format

SPECS = catalogue()
TESTS = Path(__file__).parent
TEST_TEXT = "\n".join(p.read_text() for p in TESTS.glob("test_*.py"))

# The core ids that `csm metrics --json` must carry (METRICS.md, "Exact rules").
CORE_IDS = """mrr_start mrr_end arr_end customers_start customers_end new_mrr new_count
reactivation_mrr reactivation_count expansion_mrr expansion_count contraction_mrr
contraction_count churn_mrr churn_count new_logos cross_sell_mrr upsell_mrr logo_churn_rate
logo_retention grr nrr revenue_churn_rate arpa quick_ratio dau_avg wau_avg mau_avg stickiness
seats_end license_utilisation sessions avg_session_duration_s active_users nps csat fcr cac crc
trials_started trial_conversion""".split()


def test_every_pillar_module_is_importable():
    import importlib

    for mod in PILLAR_MODULES:
        importlib.import_module(mod)


def test_core_ids_are_declared():
    assert [i for i in CORE_IDS if i not in SPECS] == []


@pytest.mark.parametrize("mid", sorted(SPECS))
def test_spec_is_complete(mid):
    s = SPECS[mid]
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", s.id)
    assert s.label and s.definition and s.formula, mid
    assert s.pillar in PILLARS and s.unit in UNITS
    assert s.benchmark == "none" or s.benchmark_source, f"{mid}: benchmark without a source"
    assert s.inputs and all(isinstance(t, str) for t in s.inputs)
    if s.id.endswith("_count"):
        assert s.unit == "count", mid
    for o in s.options:
        assert o.help, f"{mid}: option {o.name} needs a one-line explanation"


@pytest.mark.parametrize("mid", sorted(SPECS))
def test_every_metric_is_named_in_a_test(mid):
    """A metric nobody tests is a metric nobody checked."""
    assert re.search(rf"\b{mid}\b", TEST_TEXT), f"no test mentions {mid}"


def test_every_metric_has_exactly_one_calculator():
    provided: dict[str, int] = {}
    for c in CALCULATORS:
        for m in c.provides:
            provided[m] = provided.get(m, 0) + 1
    assert {m for m in SPECS if provided.get(m, 0) != 1} == set()
    assert set(provided) <= set(SPECS)


def test_option_names_are_consistent_across_metrics():
    seen: dict[str, object] = {}
    for s in SPECS.values():
        for o in s.options:
            if o.name in seen:
                assert seen[o.name] == o.default, f"option {o.name} has two defaults"
            seen[o.name] = o.default


def _tiny_workbook() -> Workbook:
    acc = table_frame(
        "accounts",
        [
            {"account_id": "a", "segment": "SMB", "region": "NA"},
            {"account_id": "b", "segment": "Enterprise", "region": "EMEA"},
        ],
    )
    subs = table_frame(
        "subscriptions",
        [
            {"subscription_id": "s1", "account_id": "a", "product_line": "Core",
             "start_date": "2024-01-01", "mrr": 100.0, "is_trial": False},
            {"subscription_id": "s2", "account_id": "b", "product_line": "Core",
             "start_date": "2024-02-01", "end_date": "2024-05-01", "mrr": 50.0, "is_trial": False},
        ],
    )  # fmt: skip
    return Workbook({"accounts": acc.lazy(), "subscriptions": subs.lazy()}, date(2024, 6, 30))


def test_missing_optional_tables_give_null_with_the_reason_not_a_crash():
    res = compute(_tiny_workbook(), "2024-Q2")
    assert res.height == len(SPECS)
    by_id = {r["id"]: r for r in res.iter_rows(named=True)}
    assert by_id["nps"]["value"] is None and "needs table surveys" in by_id["nps"]["note"]
    assert by_id["dau_avg"]["value"] is None and "needs table events" in by_id["dau_avg"]["note"]
    assert by_id["cac"]["value"] is None and "needs table costs" in by_id["cac"]["note"]
    assert by_id["mrr_end"]["value"] == 100.0 and by_id["churn_count"]["value"] == 1.0
    # every null carries a reason
    assert [r["id"] for r in by_id.values() if r["value"] is None and not r["note"]] == []


def test_result_is_json_ready_without_nan():
    import json

    obj = to_json_obj(compute(_tiny_workbook(), "2024-Q2", "segment=SMB"))
    text = json.dumps(obj, allow_nan=False)
    assert obj["segment"] == "segment=SMB" and "mrr_end" in text


def test_unknown_metric_and_partial_period():
    wb = _tiny_workbook()
    with pytest.raises(KeyError, match="unknown metric"):
        compute(wb, "2024-Q2", metrics=["no_such_metric"])
    res = compute(wb, "2024", metrics=["mrr_end"])  # as of 2024-06-30: partial year
    assert res["partial"].item() is True and res["value"].item() == 100.0


def test_formatting_reads_units():
    assert fmt_value(0.02, "fraction") == "2.0%" and fmt_value(750, "money") == "$750.00"
    assert vega_format("money").startswith("$")
    assert isinstance(pl.DataFrame, type)


def test_calculator_docstrings_read_the_registry():
    for c in CALCULATORS:
        for m in c.provides:
            assert f"``{m}`` ({SPECS[m].label}" in c.fn.__doc__
    import csm_lib.retention as r

    assert any(
        "Net revenue retention" in (c.fn.__doc__ or "")
        for c in CALCULATORS
        if c.fn.__module__ == r.__name__
    )
