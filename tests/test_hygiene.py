"""House rules that are easy to break silently (DESIGN.md, DEVELOPERS.md)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_overview",
    "01_acquisition",
    "02_adoption",
    "03_retention",
    "04_expansion",
    "05_advocacy",
    "06_health",
]
# sha256 of the dbt mrr-playbook seed (no licence: must never be copied into this repository)
DBT_SEED_SHA = "eba22dd5a2e2fcdb797d626672612288d058cf1fd6b6fdc65976dea44ea552ea"


def test_every_notebook_is_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_holds_no_logic(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code), (
        "commit notebooks without outputs"
    )
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    src = "".join(params[0]["source"])
    for name in ("source", "period", "segment"):
        assert re.search(rf"^{name}\s*(:\s*str\s*)?=\s*['\"]", src, re.M), (
            f"{name} must be a str parameter"
        )
    for c in code:
        text = "".join(c["source"])
        assert not re.search(r"^\s*(def|class|lambda)\b", text, re.M), (
            "no function definitions in notebooks"
        )


def test_no_unlicensed_validation_data_in_the_repository():
    for p in REPO.rglob("*.csv"):
        if ".venv" in p.parts or "outputs" in p.parts:
            continue
        assert hashlib.sha256(p.read_bytes()).hexdigest() != DBT_SEED_SHA, p


def test_bundled_sample_is_small_enough_for_git():
    sample = REPO / "data" / "sample"
    size = sum(p.stat().st_size for p in sample.glob("*") if p.is_file())
    assert 0 < size <= 25 * 1024 * 1024
