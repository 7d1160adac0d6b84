"""Shared test fixtures (keep them small and generic)."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
from pathlib import Path

import polars as pl
import pytest

from csm_lib.data import table_frame

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "data" / "sample"


def pytest_configure(config):
    """The tests' validated stores and facts caches go to a temporary folder (removed at
    the end), not the user's ``~/.cache/csm``; xdist workers and notebook kernels inherit
    it. A ``CSM_FACTS_CACHE`` set by the caller is kept."""
    if "CSM_FACTS_CACHE" not in os.environ:
        folder = tempfile.mkdtemp(prefix="csm-tests-cache-")
        os.environ["CSM_FACTS_CACHE"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)


@pytest.fixture
def write_tables(tmp_path):
    """Write a workbook source folder and return its path.

    ``write_tables({"accounts": [{"account_id": "A1"}], ...}, fmt="parquet")``:
    each value is a list of row dicts (missing columns are null, values cast
    to the contract types), a polars DataFrame (written as is), or a string
    (written verbatim as ``<table>.csv``). ``fmt`` is ``"parquet"`` or ``"csv"``.
    """
    counter = itertools.count()

    def write(tables: dict, fmt: str = "parquet") -> Path:
        folder = tmp_path / f"source{next(counter)}"
        folder.mkdir()
        for name, value in tables.items():
            if isinstance(value, str):
                (folder / f"{name}.csv").write_text(value)
                continue
            df = value if isinstance(value, pl.DataFrame) else table_frame(name, value)
            if fmt == "csv":
                df.write_csv(folder / f"{name}.csv")
            else:
                df.write_parquet(folder / f"{name}.parquet")
        return folder

    return write
