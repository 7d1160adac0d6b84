"""The `csm` command, called as a user would (in-process for speed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import polars as pl
import pytest

from csm_lib import catalogue, compute, load
from csm_lib.cli import main
from csm_lib.sample import sample_path


@pytest.fixture(scope="module")
def sample():
    return sample_path()


def test_help_of_every_command(capsys):
    for cmd in ([], ["sample"], ["validate"], ["metrics"], ["report"]):
        with pytest.raises(SystemExit) as e:
            main([*cmd, "--help"])
        assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--period" in out and "--accounts" in out and "--lenient" in out and "--jobs" in out


def test_metrics_json_on_the_sample_equals_compute(capsys, sample):
    assert main(["metrics", "--period", "2025-Q4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["period"] == "2025-Q4" and doc["segment"] == "All" and doc["as_of"] == "2025-12-31"
    expected = compute(load(sample), "2025-Q4")
    assert set(doc["metrics"]) == set(expected["id"])
    for r in expected.iter_rows(named=True):
        assert doc["metrics"][r["id"]]["value"] == r["value"], r["id"]
    m = doc["metrics"]
    closes = m["mrr_start"]["value"] + m["new_mrr"]["value"] + m["reactivation_mrr"]["value"]
    closes += m["expansion_mrr"]["value"] - m["contraction_mrr"]["value"] - m["churn_mrr"]["value"]
    assert round(closes, 2) == m["mrr_end"]["value"]


def test_metrics_default_period_is_the_latest_full_quarter(capsys):
    assert main(["metrics", "--segment", "segment=SMB", "--metrics", "mrr_end,nrr"]) == 0
    out = capsys.readouterr().out
    assert "period 2025-Q4" in out and "segment segment=SMB" in out and "nrr" in out


def test_metrics_list_shows_every_metric_with_its_definition(capsys):
    assert main(["metrics", "--list"]) == 0
    out = capsys.readouterr().out
    for spec in catalogue().values():
        assert spec.id in out
    assert f"{len(catalogue())} metrics" in out


def test_bad_period_and_segment_exit_2_with_the_accepted_forms(capsys):
    assert main(["metrics", "--period", "2025-Q5"]) == 2
    assert "2024-Q2" in capsys.readouterr().err
    assert main(["metrics", "--segment", "tier=gold"]) == 2
    assert "unknown accounts column" in capsys.readouterr().err


def test_validate_passes_on_the_sample_and_names_every_problem_on_a_corrupt_copy(
    capsys, sample, tmp_path
):
    assert main(["validate", str(sample)]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    shutil.copytree(sample, bad)
    acc = pl.read_parquet(bad / "accounts.parquet")
    acc = pl.concat([acc, acc.head(2)])  # duplicate keys
    acc.write_parquet(bad / "accounts.parquet")
    subs = pl.read_parquet(bad / "subscriptions.parquet")
    subs = subs.with_columns(
        mrr=pl.when(pl.int_range(pl.len()) < 3).then(-1.0).otherwise(pl.col("mrr")),
        account_id=pl.when(pl.int_range(pl.len()) == 10)
        .then(pl.lit("NO_SUCH"))
        .otherwise(pl.col("account_id")),
    )
    subs.write_parquet(bad / "subscriptions.parquet")
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "accounts" in out and "unique" in out.lower()
    assert "mrr" in out and "3 rows" in out
    assert "NO_SUCH" in out


def test_console_script_is_installed():
    exe = shutil.which("csm")
    assert exe, "the csm console script should be on PATH inside `uv run`"
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "metrics" in done.stdout
    assert sys.executable
