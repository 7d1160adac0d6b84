"""csm report: the run folder, manifest, reproducibility, failures, offline HTML.

These tests use two tiny notebooks (tests/data/notebooks) and a tiny source so
they stay fast; the real notebooks are executed in tests/test_notebooks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from csm_lib.data import table_frame
from csm_lib.report import make_offline, network_references, run, slugify

NB = Path(__file__).parent / "data" / "notebooks"


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_source")
    accounts = [
        {"account_id": a, "account_name": a.upper(), "segment": seg, "business_model": "B2B",
         "region": reg, "created_at": "2024-01-01"}
        for a, seg, reg in [("a", "SMB", "NA"), ("b", "SMB", "EMEA"), ("c", "Enterprise", "NA")]
    ]  # fmt: skip
    table_frame("accounts", accounts).write_parquet(root / "accounts.parquet")
    subs = [
        ("s1", "a", "2024-01-01", None, 100.0),
        ("s2", "b", "2024-02-01", "2024-05-01", 50.0),
        ("s3", "c", "2024-01-01", "2024-05-01", 200.0),
        ("s3", "c", "2024-05-01", None, 260.0),
    ]
    rows = [
        {"subscription_id": sid, "account_id": a, "product_line": "Core", "plan": "Pro",
         "start_date": st, "end_date": en, "billing_interval": "month", "mrr": m, "quantity": 1,
         "unit": "flat", "one_time_fees": 0.0, "is_trial": False, "currency": "USD"}
        for sid, a, st, en, m in subs
    ]  # fmt: skip
    table_frame("subscriptions", rows).write_parquet(root / "subscriptions.parquet")
    return root


def _run(src, out, **kw):
    return run(
        source=str(src),
        periods=kw.pop("periods", ["2024-Q2"]),
        segments=kw.pop("segments", ["All", "segment=SMB"]),
        notebooks=kw.pop("notebooks", [str(NB / "tiny_ok.ipynb")]),
        out=out,
        jobs=2,
        progress=False,
        run_id=kw.pop("run_id", "test-run"),
        **kw,
    )


@pytest.fixture(scope="module")
def first_run(tiny_source, tmp_path_factory):
    out = tmp_path_factory.mktemp("first")
    folder, outcomes = _run(tiny_source, out)
    return out, folder, outcomes


def test_report_folder_manifest_and_metrics(first_run):
    tmp_path, folder, outcomes = first_run
    assert folder == tmp_path / "test-run" and all(o.ok for o in outcomes)
    names = {p.name for p in folder.iterdir()}
    assert {"index.html", "metrics.json", "metrics.csv", "manifest.json"} <= names
    for seg in ("All", "segment=SMB"):
        stem = f"2024-Q2__{slugify(seg)}__tiny_ok"
        assert f"{stem}.ipynb" in names and f"{stem}.html" in names
    # no temporary folder left behind
    assert [p.name for p in tmp_path.iterdir()] == ["test-run"]

    metrics = json.loads((folder / "metrics.json").read_text())
    q2 = metrics["metrics"]["2024-Q2"]
    # a: 100 -> 100, b: 50 -> churn (ends 1 May), c: 200 -> 260 (expansion)
    assert q2["All"]["mrr_end"]["value"] == 360.0
    assert q2["All"]["churn_count"]["value"] == 1.0
    assert q2["segment=SMB"]["mrr_end"]["value"] == 100.0
    csv_rows = pl.read_csv(folder / "metrics.csv")
    assert set(csv_rows.columns) >= {"period", "segment", "id", "value", "unit", "low", "high"}
    assert (
        csv_rows.filter((pl.col("id") == "mrr_end") & (pl.col("segment") == "All"))["value"].item()
        == 360.0
    )

    man = json.loads((folder / "manifest.json").read_text())
    assert man["as_of"] == "2024-05-01"
    assert man["parameters"]["periods"] == ["2024-Q2"] and man["parameters"]["segments"] == [
        "All",
        "segment=SMB",
    ]
    files = {f["file"]: f for f in man["inputs"]}
    assert set(files) == {"accounts.parquet", "subscriptions.parquet"}
    assert all(len(f["sha256"]) == 64 for f in files.values())
    assert man["versions"]["polars"] == pl.__version__
    assert man["failures"] == [] and len(man["timings"]["notebooks"]) == 2

    page = (folder / "2024-Q2__All__tiny_ok.html").read_text()
    assert "MRR at the end of 2024-Q2 for All: 360.00" in page
    assert network_references(page) == []
    assert "from csm_lib import" not in page  # code hidden, setup removed
    index = (folder / "index.html").read_text()
    assert "2024-Q2__segment-SMB__tiny_ok.html" in index and network_references(index) == []


def test_metrics_json_is_byte_for_byte_reproducible(tiny_source, first_run, tmp_path):
    a = first_run[1]
    b, _ = _run(tiny_source, tmp_path / "two", run_id="another-run")
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes()


def test_a_failing_notebook_is_reported_and_the_others_go_on(tiny_source, tmp_path):
    folder, outcomes = _run(
        tiny_source,
        tmp_path,
        segments=["All"],
        notebooks=[str(NB / "tiny_fail.ipynb"), str(NB / "tiny_ok.ipynb")],
    )
    by_nb = {o.notebook: o for o in outcomes}
    assert by_nb["tiny_ok"].ok
    bad = by_nb["tiny_fail"]
    assert not bad.ok and "planted failure" in bad.error and bad.extra["cell_index"] == 3
    man = json.loads((folder / "manifest.json").read_text())
    assert [f["notebook"] for f in man["failures"]] == ["tiny_fail"]
    index = (folder / "index.html").read_text()
    assert "failed</span> in cell 3" in index and "planted failure" in index


def test_cli_exit_code_is_non_zero_when_a_notebook_fails(tiny_source, tmp_path):
    from csm_lib.cli import main

    code = main(
        ["report", "--source", str(tiny_source), "--period", "2024-Q2", "--notebooks",
         str(NB / "tiny_fail.ipynb"), "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert code == 1


def test_bad_input_stops_the_run_before_any_notebook(tiny_source, tmp_path):
    from csm_lib.data import ValidationError

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "accounts.parquet").write_bytes((tiny_source / "accounts.parquet").read_bytes())
    subs = pl.read_parquet(tiny_source / "subscriptions.parquet").with_columns(
        mrr=pl.when(pl.col("account_id") == "a").then(-5.0).otherwise(pl.col("mrr"))
    )
    subs.write_parquet(bad / "subscriptions.parquet")
    with pytest.raises(ValidationError, match="mrr"):
        _run(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_make_offline_removes_cdn_scripts_but_keeps_inline_ones():
    page = (
        '<script src="https://cdnjs.cloudflare.com/require.js"></script>'
        '<script type="module">import mermaid from "https://cdn/mermaid.mjs";</script>'
        "<script>var spec = 1;</script>"
    )
    out = make_offline(page)
    assert network_references(out) == [] and "var spec = 1" in out


@pytest.mark.skipif(
    __import__("shutil").which("chromium") is None,
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_pdf_through_headless_chromium(tiny_source, tmp_path):
    folder, outcomes = _run(tiny_source, tmp_path, segments=["All"], formats={"html", "pdf"})
    (o,) = outcomes
    assert o.ok and o.pdf == "2024-Q2__All__tiny_ok.pdf"
    pdf = (folder / o.pdf).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    assert "(<a href='2024-Q2__All__tiny_ok.pdf'>pdf</a>)" in (folder / "index.html").read_text()


def test_pdf_without_chromium_says_so(tmp_path, monkeypatch):
    from csm_lib import report

    monkeypatch.setattr(report.shutil, "which", lambda name: None)
    msg = report.html_to_pdf(tmp_path / "x.html", tmp_path / "x.pdf")
    assert "no `chromium` found" in msg and not (tmp_path / "x.pdf").exists()
