"""Load a workbook source and validate it against the data contract.

(Skeleton: full validation, lenient quarantine, CSV casts and DuckDB follow.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

import polars as pl

from csm_lib.contract import TABLES


class MissingTableError(LookupError):
    """A metric needs an optional table the source does not have."""


@dataclass
class Workbook:
    """Validated tables (polars LazyFrames) of one source, plus its as-of date."""

    tables: dict[str, pl.LazyFrame]
    as_of: date
    source: str = ""
    quarantined: dict[str, int] = field(default_factory=dict)  # "table/rule" -> rows set aside

    def has(self, name: str) -> bool:
        return name in self.tables

    def table(self, name: str) -> pl.LazyFrame:
        if name not in self.tables:
            raise MissingTableError(f"needs table {name}")
        return self.tables[name]

    @cached_property
    def facts(self):
        """Compact facts built once per workbook (see :mod:`csm_lib.facts`)."""
        from csm_lib.facts import Facts

        return Facts(self)


def load(source: str | Path, as_of: date | None = None) -> Workbook:
    """Read a folder of ``<table>.parquet`` / ``<table>.csv`` files."""
    root = Path(source)
    tables: dict[str, pl.LazyFrame] = {}
    for name, spec in TABLES.items():
        pq, csv = root / f"{name}.parquet", root / f"{name}.csv"
        if pq.exists():
            lf = pl.scan_parquet(pq)
        elif csv.exists():
            lf = pl.scan_csv(csv, infer_schema=False)
        else:
            continue
        cols = lf.collect_schema().names()
        lf = lf.with_columns(
            [pl.col(c).cast(col.dtype) for c, col in spec.columns.items() if c in cols]
        )
        tables[name] = lf
    if as_of is None:
        s = tables["subscriptions"]
        as_of = s.select(pl.max_horizontal(pl.col("start_date").max())).collect().item()
    return Workbook(tables, as_of, str(source))
