"""Load a workbook source and validate it against the data contract.

This is the edge of the library ("types at the edge", DESIGN.md): every table
is read, cast to the types of :mod:`csm_lib.contract` and checked against every
rule of DATA_CONTRACT.md once; everything after :func:`load` trusts the types.

Sources
    * a folder of ``<table>.parquet`` or ``<table>.csv`` files (Parquet wins when
      both exist; files that are not contract tables are ignored),
    * a DuckDB database file (``*.duckdb`` / ``*.db``; tables by name),
    * a :class:`Workbook` (returned as is).

Only ``accounts`` and ``subscriptions`` are required. Extra columns are kept
(they can be segment dimensions).

Types
    CSV text is cast strictly: a value that does not parse is a ``type``
    violation (never a silent null). Dates are ISO (``2024-05-31``); datetimes
    are ISO with or without a zone (``Z``, ``+02:00``, ``UTC``; no zone means
    UTC) and are stored in UTC; booleans are ``true/false/1/0/yes/no`` (any
    case); integers may be written ``3`` or ``3.0``; floats must be finite.
    Parquet/DuckDB columns of a compatible type are cast safely (Int64 to
    Int32 with an overflow check, Datetime ns or naive to Datetime UTC, a Date
    stored as a Datetime to its date, Categorical to String, ...).

Rules checked (rule names as they appear in reports)
    ``missing_table``, ``missing_column``, ``type``, ``not_null``, ``unique``
    (table keys), ``fk`` (account ids that are not in accounts, including
    ``accounts.referred_by`` and ``leads.referred_by`` when set), ``allowed``,
    ``min`` / ``max`` / ``gt`` (value ranges), ``score_scale`` (survey score within
    the scale of its survey), ``end_after_start`` (subscriptions), ``after_opened``
    (ticket datetimes), ``first_of_month`` (costs and fx_rates months),
    ``overlap`` (a subscription row that starts before an earlier row of the same
    subscription_id ends: two rows live on the same day; the later row is
    flagged) and ``fx_missing`` (a subscription currency without an fx rate for
    the month of its start_date).

Strict and lenient
    Strict mode (the default) raises :class:`ValidationError` listing every broken
    rule. Lenient mode (``strict=False``) sets bad rows aside in
    ``<quarantine_dir>/<table>.parquet`` (original values, ``source_row`` and a
    ``reason`` column) and continues with every good row; rows whose account was
    quarantined are quarantined too (rule ``account_quarantined``). Missing
    tables and columns, and columns of an unusable type, cannot be quarantined
    and are always errors.

Money
    Subscription rows whose ``currency`` is set and is not the reporting
    currency get ``mrr`` and ``one_time_fees`` multiplied by
    ``fx_rates.rate_to_reporting`` of (the month of the row's ``start_date``,
    ``currency``); ``mrr`` is then rounded to cents. A null currency means the
    reporting currency. The ``currency`` column keeps the original currency.

As-of date
    Given, or the latest date in the data: the max of subscriptions.start_date,
    events.event_at, surveys.responded_at, tickets.opened_at,
    onboarding.reached_at and leads.created_at (end dates are not used:
    contracts run into the future).

>>> import tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> table_frame("accounts", [{"account_id": "A1"}]).write_csv(d / "accounts.csv")
>>> table_frame("subscriptions", [
...     {"subscription_id": "S1", "account_id": "A1", "start_date": "2024-01-01", "mrr": 100},
...     {"subscription_id": "S2", "account_id": "A9", "start_date": "2024-02-01",
...      "end_date": "2024-01-01", "mrr": -5},
... ]).write_csv(d / "subscriptions.csv")
>>> report = validate(d)
>>> report.ok
False
>>> [(i.table, i.column, i.rule, i.count) for i in report.issues]
[('subscriptions', 'mrr', 'min', 1), ('subscriptions', 'end_date', 'end_after_start', 1), ('subscriptions', 'account_id', 'fk', 1)]
>>> load(d)
Traceback (most recent call last):
...
csm_lib.data.ValidationError: ... does not meet the data contract (3 problems):
  subscriptions.mrr [min]: 1 row, expected mrr >= 0; e.g. S2/2024-02-01 (mrr=-5.0); fix: correct mrr so that it is >= 0
  subscriptions.end_date [end_after_start]: 1 row, expected end_date > start_date (end_date is exclusive); e.g. S2/2024-02-01 (start_date=2024-02-01, end_date=2024-01-01); fix: make end_date later than start_date (null for a running row); drop zero-length rows
  subscriptions.account_id [fk]: 1 row, expected account_id to exist in accounts.account_id; e.g. S2/2024-02-01 (account_id=A9); fix: add the missing accounts to accounts, or correct account_id
Fix the source, or use lenient mode to set bad rows aside and continue: load(..., strict=False) / csm validate --lenient
>>> wb = load(d, strict=False, quarantine_dir=d / "quarantine")
>>> wb.table("subscriptions").collect()["subscription_id"].to_list()
['S1']
>>> wb.quarantined
{'subscriptions/min': 1, 'subscriptions/end_after_start': 1, 'subscriptions/fk': 1}
>>> pl.read_parquet(d / "quarantine" / "subscriptions.parquet")["reason"][0]
'mrr [min] expected mrr >= 0; end_date [end_after_start] expected end_date > start_date (end_date is exclusive); account_id [fk] expected account_id to exist in accounts.account_id'
>>> wb.as_of
datetime.date(2024, 1, 1)
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from csm_lib.contract import REPORTING_CURRENCY, SURVEY_SCALES, TABLES, Table

__all__ = [
    "Issue",
    "MissingTableError",
    "ValidationError",
    "ValidationReport",
    "Workbook",
    "load",
    "table_frame",
    "validate",
]

# Columns that must exist in accounts.account_id when set, beyond Column.fk_accounts.
EXTRA_FK_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "accounts": ("referred_by",),
    "leads": ("referred_by",),
}
# Columns that give the as-of date (their max) when it is not given.
AS_OF_COLUMNS: dict[str, str] = {
    "subscriptions": "start_date",
    "events": "event_at",
    "surveys": "responded_at",
    "tickets": "opened_at",
    "onboarding": "reached_at",
    "leads": "created_at",
}
# Tables kept lazy (never materialised while loading); every other table is small
# and is read once into memory.
LAZY_TABLES = frozenset({"events"})
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
MAX_EXAMPLES = 5
LENIENT_HINT = (
    "Fix the source, or use lenient mode to set bad rows aside and continue: "
    "load(..., strict=False) / csm validate --lenient"
)

_RAW = "__csm_raw__"  # prefix of the original (uncast) copy of a column
_ROW = "__csm_row"  # 1-based row number in the source table
_FAR = date(9999, 12, 31)


class MissingTableError(LookupError):
    """A metric needs an optional table the source does not have.

    >>> Workbook({}, date(2024, 1, 1)).table("surveys")
    Traceback (most recent call last):
    ...
    csm_lib.data.MissingTableError: needs table surveys
    """


@dataclass
class Workbook:
    """Validated tables (polars LazyFrames) of one source, plus its as-of date.

    ``quarantined`` maps ``"table/rule"`` to the number of rows set aside in
    lenient mode; ``report`` is the :class:`ValidationReport` of the load.

    >>> wb = Workbook({"accounts": pl.LazyFrame({"account_id": ["A1"]})}, date(2024, 5, 31))
    >>> wb.has("accounts"), wb.has("events")
    (True, False)
    """

    tables: dict[str, pl.LazyFrame]
    as_of: date
    source: str = ""
    quarantined: dict[str, int] = field(default_factory=dict)  # "table/rule" -> rows set aside
    reporting_currency: str = REPORTING_CURRENCY
    report: ValidationReport | None = field(default=None, repr=False, compare=False)

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


# --------------------------------------------------------------------------- report


@dataclass
class Issue:
    """One broken rule: where, what, how many rows, a few example keys, how to fix.

    ``examples`` are key values of offending rows (``a/b`` for a key of several
    columns, ``row N`` - 1-based, header excluded - for tables without a key);
    ``found`` shows the offending values of the same rows. ``quarantined`` is
    true when lenient mode set the rows aside (the issue is then not an error).
    """

    table: str
    column: str
    rule: str
    count: int
    examples: list[str]
    fix: str
    expected: str = ""
    found: list[str] = field(default_factory=list)
    quarantined: bool = False

    def line(self) -> str:
        """One line: ``table.column [rule]: N rows, expected ...; e.g. ...; fix: ...``.

        >>> Issue("subscriptions", "mrr", "min", 2, ["S1/2024-01-01"], "make it >= 0",
        ...       "mrr >= 0", ["mrr=-5.0"]).line()
        'subscriptions.mrr [min]: 2 rows, expected mrr >= 0; e.g. S1/2024-01-01 (mrr=-5.0); fix: make it >= 0'
        """
        where = f"{self.table}.{self.column}" if self.column else self.table
        what = f"{self.count:,} row{'s' if self.count != 1 else ''}"
        if self.rule in ("missing_table", "missing_column"):
            what = "missing"
        elif self.rule == "column_type":
            what = "unusable column type"
        text = f"{where} [{self.rule}]: {what}"
        if self.expected:
            text += f", expected {self.expected}"
        if self.examples:
            shown = [
                f"{ex} ({fd})" if fd else ex
                for ex, fd in zip(
                    self.examples, self.found or [""] * len(self.examples), strict=False
                )
            ]
            text += "; e.g. " + ", ".join(shown)
        if self.quarantined:
            text += "; quarantined"
        return text + f"; fix: {self.fix}"


@dataclass
class ValidationReport:
    """The result of validating one source.

    ``ok`` is true when the source loads: no issues in strict mode; in lenient
    mode only issues whose rows were quarantined. ``row_counts`` holds the rows
    read per table; ``rows_quarantined`` the distinct rows set aside per table.
    """

    source: str
    strict: bool = True
    issues: list[Issue] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    as_of: date | None = None
    reporting_currency: str = REPORTING_CURRENCY
    quarantine_files: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        """Issues that stop the load (everything in strict mode)."""
        return [i for i in self.issues if not i.quarantined]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def quarantined(self) -> dict[str, int]:
        """``"table/rule"`` -> rows set aside (lenient mode)."""
        out: dict[str, int] = {}
        for i in self.issues:
            if i.quarantined:
                out[f"{i.table}/{i.rule}"] = out.get(f"{i.table}/{i.rule}", 0) + i.count
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict.

        >>> ValidationReport("x").to_dict()["ok"]
        True
        """
        return {
            "source": self.source,
            "mode": "strict" if self.strict else "lenient",
            "ok": self.ok,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "reporting_currency": self.reporting_currency,
            "row_counts": dict(self.row_counts),
            "rows_quarantined": dict(self.rows_quarantined),
            "quarantine_files": dict(self.quarantine_files),
            "issues": [dataclasses.asdict(i) for i in self.issues],
        }

    def format(self) -> str:
        """A readable, aligned text report (used by ``csm validate``).

        >>> r = ValidationReport("data/x", row_counts={"accounts": 3, "subscriptions": 5})
        >>> r.issues.append(Issue("subscriptions", "mrr", "min", 1, ["S1/2024-01-01"], "make it >= 0"))
        >>> print(r.format())
        Validation of data/x (strict mode)
        <BLANKLINE>
        table          rows read  status
        accounts               3  OK
        subscriptions          5  1 problem (1 row)
        <BLANKLINE>
        absent optional tables: users, events, onboarding, surveys, tickets, leads, costs, fx_rates
        <BLANKLINE>
        Problems:
          subscriptions.mrr [min]: 1 row; e.g. S1/2024-01-01; fix: make it >= 0
        <BLANKLINE>
        FAILED: 1 problem. Fix the source, or use lenient mode to set bad rows aside and continue: load(..., strict=False) / csm validate --lenient
        """
        mode = "strict" if self.strict else "lenient"
        out = [f"Validation of {self.source} ({mode} mode)"]
        if self.as_of:
            out[0] += f", as of {self.as_of.isoformat()}, money in {self.reporting_currency}"
        names = [t for t in TABLES if t in self.row_counts]
        names += [i.table for i in self.issues if i.table not in names]
        names = list(dict.fromkeys(names))
        width = max([len("table"), *map(len, names)]) + 2
        counts = {t: f"{self.row_counts[t]:,}" if t in self.row_counts else "-" for t in names}
        cw = max([len("rows read"), *map(len, counts.values())])
        out += ["", f"{'table':<{width}}{'rows read':>{cw}}  status"]
        for t in names:
            issues = [i for i in self.issues if i.table == t]
            errors = [i for i in issues if not i.quarantined]
            if not issues:
                status = "OK"
            elif errors:
                n = len(errors)
                rows = sum(i.count for i in errors)
                status = f"{n} problem{'s' if n != 1 else ''}"
                if rows:
                    status += f" ({rows:,} row{'s' if rows != 1 else ''})"
            else:
                q = self.rows_quarantined.get(t, 0)
                status = f"OK, {q:,} row{'s' if q != 1 else ''} quarantined"
            out.append(f"{t:<{width}}{counts[t]:>{cw}}  {status}")
        absent = [t for t in TABLES if t not in names and not TABLES[t].required]
        if absent:
            out += ["", "absent optional tables: " + ", ".join(absent)]
        if self.issues:
            out += ["", "Problems:"] + [f"  {i.line()}" for i in self.issues]
        if self.quarantine_files:
            out += ["", "Quarantine files:"]
            out += [f"  {t}: {p}" for t, p in self.quarantine_files.items()]
        out.append("")
        errors = self.errors
        if not errors:
            q = sum(self.rows_quarantined.values())
            out.append("OK" + (f": {q:,} row{'s' if q != 1 else ''} quarantined" if q else ""))
        else:
            n = len(errors)
            out.append(f"FAILED: {n} problem{'s' if n != 1 else ''}. {_final_hint(errors)}")
        return "\n".join(out)


class ValidationError(ValueError):
    """The source breaks the data contract; ``.report`` holds the details.

    The message lists every broken rule, one per line, and ends with a hint.
    """

    def __init__(self, report: ValidationReport):
        self.report = report
        errors = report.errors
        n = len(errors)
        lines = [
            f"{report.source} does not meet the data contract ({n} problem{'s' if n != 1 else ''}):"
        ]
        lines += [f"  {i.line()}" for i in errors]
        lines.append(_final_hint(errors))
        super().__init__("\n".join(lines))


def _final_hint(errors: Iterable[Issue]) -> str:
    if all(i.rule in _STRUCTURAL for i in errors):
        return (
            "Fix the source: missing tables and columns and unusable column types "
            "cannot be quarantined."
        )
    return LENIENT_HINT


_STRUCTURAL = ("missing_table", "missing_column", "column_type")


# --------------------------------------------------------------------------- reading


def _read_source(source: str | Path) -> dict[str, pl.LazyFrame]:
    """Raw (uncast) lazy frames of the contract tables found in ``source``."""
    path = Path(source)
    if path.is_file() and (path.suffix.lower() in DUCKDB_SUFFIXES or _is_duckdb(path)):
        return _read_duckdb(path)
    if not path.exists():
        raise FileNotFoundError(f"workbook source not found: {source}")
    if not path.is_dir():
        raise ValueError(
            f"{source} is not a folder of <table>.parquet/.csv files or a DuckDB file "
            f"({', '.join(DUCKDB_SUFFIXES)})"
        )
    frames: dict[str, pl.LazyFrame] = {}
    for name in TABLES:
        pq, csv = path / f"{name}.parquet", path / f"{name}.csv"
        if pq.is_file():
            frames[name] = pl.scan_parquet(pq)
        elif csv.is_file():
            frames[name] = pl.scan_csv(csv, infer_schema=False)
    return frames


def _is_duckdb(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    return head[8:12] == b"DUCK"


def _read_duckdb(path: Path) -> dict[str, pl.LazyFrame]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    names = {
        r[0]
        for r in con.sql(
            "select table_name from information_schema.tables where table_schema = current_schema()"
        ).fetchall()
    }
    frames: dict[str, pl.LazyFrame] = {}
    for name in TABLES:
        if name not in names:
            continue
        if name in LAZY_TABLES:
            frames[name] = _duckdb_scan(con, name)
        else:
            frames[name] = con.sql(f'select * from "{name}"').pl().lazy()
    return frames


def _duckdb_scan(con: Any, name: str) -> pl.LazyFrame:
    """A lazy scan of a DuckDB table: each query reads only the columns it uses.

    (For a very large events table, Parquet is the faster source: it streams.)
    """
    from polars.io.plugins import register_io_source

    schema = con.sql(f'select * from "{name}" limit 0').pl().schema

    def source(with_columns, predicate, n_rows, batch_size):
        cols = with_columns if with_columns is not None else list(schema)
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in cols) or "1 as _"
        sql = f'select {select} from "{name}"' + (f" limit {int(n_rows)}" if n_rows else "")
        df = con.sql(sql).pl()
        if not cols:
            df = df.select([])
        yield df.filter(predicate) if predicate is not None else df

    return register_io_source(source, schema=schema, explain_name=f"duckdb {name}")


# --------------------------------------------------------------------------- casting


_TZ_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
)
_NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_TYPE_HINTS = {
    pl.Date: "an ISO date (2024-05-31)",
    pl.Datetime: "an ISO datetime (2024-05-31T13:45:00Z; no zone = UTC)",
    pl.Int32: "a whole number",
    pl.Float64: "a finite number (1234.5; no currency symbols or thousands separators)",
    pl.Boolean: "a boolean (true/false, 1/0, yes/no)",
    pl.String: "text",
}


def _type_name(dtype: pl.DataType) -> str:
    return {pl.Date: "Date", pl.Datetime: "Datetime UTC", pl.Int32: "Int32"}.get(
        dtype.base_type(), str(dtype)
    )


def _parse_datetime(s: pl.Expr) -> pl.Expr:
    s = s.str.strip_chars().str.replace(r"(?i)\s*(Z|UTC)$", "+00:00")
    parts = [
        s.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in _TZ_FORMATS
    ]
    parts += [
        s.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in _NAIVE_FORMATS
    ]
    parts.append(
        s.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    return pl.coalesce(parts)


def _to_utc(e: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    e = e.dt.replace_time_zone("UTC") if dtype.time_zone is None else e.dt.convert_time_zone("UTC")
    return e.dt.cast_time_unit("us")


def _cast(c: str, src: pl.DataType, target: pl.DataType) -> tuple[pl.Expr | None, bool]:
    """(expression casting column ``c`` from ``src`` to ``target``, can it fail per value).

    ``None`` means the types are incompatible (a column-level error).
    """
    e = pl.col(c)
    if src == target:
        return e, False
    if src == pl.Null:
        return e.cast(target), False
    base = target.base_type()
    is_text = src in (pl.String, pl.Categorical) or isinstance(src, pl.Enum | pl.Categorical)
    if is_text and src != pl.String:
        e, src = e.cast(pl.String), pl.String
    if base == pl.String:
        if src == pl.String or src.is_integer():
            return e.cast(pl.String), False
        return None, False
    if base == pl.Date:
        if src == pl.String:
            s = e.str.strip_chars()
            return pl.coalesce(
                s.str.to_date("%Y-%m-%d", strict=False), _parse_datetime(s).dt.date()
            ), True
        if isinstance(src, pl.Datetime):
            return _to_utc(e, src).dt.date(), False
        return None, False
    if base == pl.Datetime:
        if src == pl.String:
            return _parse_datetime(e), True
        if isinstance(src, pl.Datetime):
            return _to_utc(e, src), False
        if src == pl.Date:
            return e.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"), False
        return None, False
    if base == pl.Float64:
        if src == pl.String:
            return e.str.strip_chars().cast(pl.Float64, strict=False), True
        if src.is_numeric():
            return e.cast(pl.Float64), False
        return None, False
    if base == pl.Int32:
        if src == pl.String:
            s = e.str.strip_chars()
            f = s.cast(pl.Float64, strict=False)
            whole = pl.when(f.is_finite() & (f == f.round(0))).then(f)
            return pl.coalesce(
                s.cast(pl.Int64, strict=False), whole.cast(pl.Int64, strict=False)
            ).cast(pl.Int32, strict=False), True
        if src.is_integer():
            return e.cast(pl.Int32, strict=False), True
        if src.is_float() or src.is_decimal():
            f = e.cast(pl.Float64)
            whole = pl.when(f.is_finite() & (f == f.round(0))).then(f)
            return whole.cast(pl.Int32, strict=False), True
        return None, False
    if base == pl.Boolean:
        if src == pl.String:
            s = e.str.strip_chars().str.to_lowercase()
            return s.replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean), True
        if src.is_integer():
            return pl.when(e == 1).then(True).when(e == 0).then(False), True
        return None, False
    return None, False


# --------------------------------------------------------------------------- checks


@dataclass
class _Check:
    column: str
    rule: str
    bad: pl.Expr  # true for rows breaking the rule (null = fine)
    expected: str
    fix: str
    show: tuple[tuple[str, str], ...] = ()  # (label, column) shown as what was found

    @property
    def reason(self) -> str:
        return f"{self.column} [{self.rule}] expected {self.expected}"


def _column_checks(table: Table, present: set[str], fallible: set[str]) -> list[_Check]:
    checks: list[_Check] = []
    for c, col in table.columns.items():
        if c not in present:
            continue
        e = pl.col(c)
        type_bad = None
        if c in fallible or col.dtype == pl.Float64:
            parts = []
            if c in fallible:
                parts.append(pl.col(_RAW + c).is_not_null() & e.is_null())
            if col.dtype == pl.Float64:
                parts.append(~e.is_finite())
            type_bad = pl.any_horizontal(parts).fill_null(False)
            hint = _TYPE_HINTS[col.dtype.base_type()]
            checks.append(
                _Check(
                    c,
                    "type",
                    type_bad,
                    hint,
                    f"write every {c} as {hint}",
                    ((c, _RAW + c if c in fallible else c),),
                )
            )
        if not col.nullable:
            bad = e.is_null() if type_bad is None else e.is_null() & ~type_bad
            checks.append(_Check(c, "not_null", bad, "a value", f"fill {c} in every row"))
        if col.allowed is not None:
            allowed = ", ".join(col.allowed)
            checks.append(
                _Check(
                    c,
                    "allowed",
                    ~e.is_in(list(col.allowed)),
                    f"one of {allowed}",
                    f"map {c} to one of {allowed} (case-sensitive)",
                    ((c, c),),
                )
            )
        for rule, bound, op in (
            ("min", col.min, ">="),
            ("max", col.max, "<="),
            ("gt", col.gt, ">"),
        ):
            if bound is None:
                continue
            bound_s = f"{bound:g}"
            bad = {"min": e < bound, "max": e > bound, "gt": e <= bound}[rule]
            checks.append(
                _Check(
                    c,
                    rule,
                    bad,
                    f"{c} {op} {bound_s}",
                    f"correct {c} so that it is {op} {bound_s}",
                    ((c, c),),
                )
            )
    return checks


def _key_checks(table: Table, present: set[str]) -> list[_Check]:
    keys = [table.key] if table.key else []
    keys += [(c,) for c, col in table.columns.items() if col.unique and (c,) != table.key]
    checks = []
    for key in keys:
        if not set(key) <= present:
            continue
        label = ",".join(key)
        checks.append(
            _Check(
                label,
                "unique",
                pl.struct(key).is_duplicated()
                & pl.all_horizontal([pl.col(k).is_not_null() for k in key]),
                f"one row per {label}",
                f"keep one row per {label}: remove or merge the duplicates (all copies are flagged)",
                tuple((k, k) for k in key),
            )
        )
    return checks


def _table_checks(name: str, present: set[str]) -> list[_Check]:
    """Rules of one table that involve several columns."""
    has = present.__contains__
    checks: list[_Check] = []
    if name == "subscriptions":
        if has("start_date") and has("end_date"):
            checks.append(
                _Check(
                    "end_date",
                    "end_after_start",
                    pl.col("end_date") <= pl.col("start_date"),
                    "end_date > start_date (end_date is exclusive)",
                    "make end_date later than start_date (null for a running row); drop zero-length rows",
                    (("start_date", "start_date"), ("end_date", "end_date")),
                )
            )
            if has("subscription_id"):
                prev_end = (
                    pl.col("end_date")
                    .fill_null(_FAR)
                    .cum_max()
                    .shift(1)
                    .over("subscription_id", order_by="start_date")
                )
                checks.append(
                    _Check(
                        "start_date",
                        "overlap",
                        pl.col("subscription_id").is_not_null()
                        & (pl.col("start_date") < prev_end)
                        # exact key duplicates are reported once, by the unique rule
                        & ~pl.struct("subscription_id", "start_date").is_duplicated(),
                        "rows of one subscription_id not to overlap (one row live per day)",
                        "close the earlier row at the later row's start_date (end_date is exclusive)",
                        (("start_date", "start_date"), ("end_date", "end_date")),
                    )
                )
    elif name == "tickets" and has("opened_at"):
        for c in ("first_response_at", "resolved_at"):
            if has(c):
                checks.append(
                    _Check(
                        c,
                        "after_opened",
                        pl.col(c) < pl.col("opened_at"),
                        f"{c} >= opened_at",
                        f"correct {c} or opened_at (check the time zones of the export)",
                        (("opened_at", "opened_at"), (c, c)),
                    )
                )
    elif name in ("costs", "fx_rates") and has("month"):
        checks.append(
            _Check(
                "month",
                "first_of_month",
                pl.col("month").dt.day() != 1,
                "the first day of a month",
                "store month as the first day of its month, e.g. 2024-05-01",
                (("month", "month"),),
            )
        )
    elif name == "surveys" and has("survey") and has("score"):
        bad = pl.lit(False)
        for survey, (lo, hi) in SURVEY_SCALES.items():
            bad = (
                pl.when(pl.col("survey") == survey)
                .then((pl.col("score") < lo) | (pl.col("score") > hi))
                .otherwise(bad)
            )
        scales = ", ".join(f"{s} {lo}-{hi}" for s, (lo, hi) in SURVEY_SCALES.items())
        checks.append(
            _Check(
                "score",
                "score_scale",
                bad,
                f"a score on its survey's scale ({scales})",
                f"rescale or drop scores outside their survey's scale ({scales})",
                (("survey", "survey"), ("score", "score")),
            )
        )
    return checks


# --------------------------------------------------------------------------- validation


@dataclass
class _Prepared:
    name: str
    lf: pl.LazyFrame  # typed columns, raw copies of fallible columns, row numbers if eager
    original: list[str]  # original column names in order
    fallible: set[str]
    eager: bool
    checks: list[_Check] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    rows: int = 0


def _prepare(name: str, raw: pl.LazyFrame, issues: list[Issue]) -> _Prepared:
    """Cast a raw table, report missing and unusable columns, and list its row checks.

    Small tables are read into memory once (with 1-based row numbers); events stay lazy.
    """
    spec = TABLES[name]
    try:
        schema = raw.collect_schema()
    except pl.exceptions.PolarsError as e:
        raise ValueError(f"cannot read table {name}: {e}") from e
    exprs: list[pl.Expr] = []
    fallible: set[str] = set()
    for c, col in spec.columns.items():
        if c not in schema:
            if col.required:
                issues.append(
                    Issue(
                        name,
                        c,
                        "missing_column",
                        0,
                        [],
                        f"add column {c} ({_type_name(col.dtype)}) to {name}",
                        f"a column {c} of type {_type_name(col.dtype)}",
                    )
                )
            continue
        expr, can_fail = _cast(c, schema[c], col.dtype)
        if expr is None:
            issues.append(
                Issue(
                    name,
                    c,
                    "column_type",
                    0,
                    [],
                    f"store {c} as {_type_name(col.dtype)} (or as text in a CSV file)",
                    f"{_type_name(col.dtype)}",
                    [f"column of type {schema[c]}"],
                )
            )
            continue
        if can_fail:
            fallible.add(c)
            exprs.append(pl.col(c).alias(_RAW + c))
        exprs.append(expr.alias(c))
    lf = raw.with_columns(exprs) if exprs else raw
    eager = name not in LAZY_TABLES
    if eager:
        try:
            lf = lf.with_row_index(_ROW, offset=1).collect().lazy()
        except pl.exceptions.PolarsError as e:
            raise ValueError(f"cannot read table {name}: {e}") from e
    present = {c for c in spec.columns if c in schema}
    present -= {i.column for i in issues if i.table == name}
    p = _Prepared(name, lf, list(schema.names()), fallible, eager)
    p.checks = _column_checks(spec, present, fallible) + _key_checks(spec, present)
    p.checks += _table_checks(name, present)
    return p


def _fk_checks(p: _Prepared, all_ids: pl.DataFrame, good_ids: pl.DataFrame | None) -> list[_Check]:
    """FK checks of one table: ids not in accounts; ids of quarantined accounts (lenient)."""
    spec = TABLES[p.name]
    schema = p.lf.collect_schema()
    cols = [c for c, col in spec.columns.items() if col.fk_accounts]
    cols += list(EXTRA_FK_ACCOUNTS.get(p.name, ()))
    cols = [c for c in cols if c in schema and schema[c] == pl.String]
    if not cols:
        return []
    queries = [p.lf.select(pl.col(c).alias("account_id")).drop_nulls().unique() for c in cols]
    distinct = pl.collect_all(queries)
    checks = []
    for c, ids in zip(cols, distinct, strict=True):
        missing = ids.join(all_ids, on="account_id", how="anti")["account_id"]
        if len(missing):
            checks.append(
                _Check(
                    c,
                    "fk",
                    pl.col(c).is_in(missing.implode()),
                    f"{c} to exist in accounts.account_id",
                    f"add the missing accounts to accounts, or correct {c}",
                    ((c, c),),
                )
            )
        if good_ids is not None:
            gone = ids.join(good_ids, on="account_id", how="anti")
            gone = gone.join(missing.to_frame(), on="account_id", how="anti")["account_id"]
            if len(gone):
                checks.append(
                    _Check(
                        c,
                        "account_quarantined",
                        pl.col(c).is_in(gone.implode()),
                        f"{c} to be an account that loaded (it was quarantined)",
                        "fix the quarantined accounts rows; these rows load with them",
                        ((c, c),),
                    )
                )
    return checks


def _fx_check(
    subs: _Prepared, fx: pl.DataFrame | None, reporting_currency: str
) -> tuple[_Prepared, list[_Check]]:
    """Join the fx rate of each subscription row; flag rows that need one and have none."""
    schema = subs.lf.collect_schema()
    if "currency" not in schema or "start_date" not in schema or schema["currency"] != pl.String:
        return subs, []
    if fx is None:
        fx = pl.DataFrame(
            schema={"__csm_fx_month": pl.Date, "currency": pl.String, "__csm_fx_rate": pl.Float64}
        )
    lf = subs.lf.with_columns(__csm_fx_month=pl.col("start_date").dt.truncate("1mo")).join(
        fx.lazy(), on=["__csm_fx_month", "currency"], how="left", maintain_order="left"
    )
    if subs.eager:
        lf = lf.collect().lazy()
    subs = dataclasses.replace(subs, lf=lf)
    bad = (
        pl.col("currency").is_not_null()
        & (pl.col("currency") != reporting_currency)
        & pl.col("start_date").is_not_null()
        & pl.col("__csm_fx_rate").is_null()
    )
    check = _Check(
        "currency",
        "fx_missing",
        bad,
        f"an fx_rates row for the currency and the month of start_date (reporting currency {reporting_currency})",
        "add fx_rates rows (month, currency, rate_to_reporting) for every currency and month used",
        (("currency", "currency"), ("start_date", "start_date")),
    )
    return subs, [check]


def _fx_lookup(fx: _Prepared | None, good: pl.LazyFrame | None) -> pl.DataFrame | None:
    if fx is None or good is None:
        return None
    schema = good.collect_schema()
    if not {"month", "currency", "rate_to_reporting"} <= set(schema.names()):
        return None
    return (
        good.select(
            pl.col("month").dt.truncate("1mo").alias("__csm_fx_month"),
            "currency",
            pl.col("rate_to_reporting").alias("__csm_fx_rate"),
        )
        .drop_nulls()
        .unique(["__csm_fx_month", "currency"], keep="first")
        .collect()
    )


def _count(p: _Prepared) -> None:
    aggs = [pl.len().alias("__n")]
    aggs += [ch.bad.fill_null(False).sum().alias(f"c{i}") for i, ch in enumerate(p.checks)]
    row = p.lf.select(aggs).collect().row(0, named=True)
    p.rows = row["__n"]
    p.counts = {i: row[f"c{i}"] for i in range(len(p.checks)) if row[f"c{i}"]}


def _fmt(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return f"{v:.1f}"
    return "null" if v is None else str(v)


def _examples(p: _Prepared, ch: _Check) -> tuple[list[str], list[str]]:
    key = [k for k in TABLES[p.name].key if k in p.lf.collect_schema()]
    lf = p.lf if p.eager else p.lf.with_row_index(_ROW, offset=1)
    cols = list(dict.fromkeys([*key, _ROW, *(src for _, src in ch.show)]))
    rows = lf.filter(ch.bad.fill_null(False)).select(cols).head(MAX_EXAMPLES).collect()
    examples, found = [], []
    for r in rows.iter_rows(named=True):
        if key and not all(r[k] is None for k in key):
            examples.append("/".join(_fmt(r[k]) for k in key))
        else:
            examples.append(f"row {r[_ROW]}")
        found.append(", ".join(f"{label}={_fmt(r[src])}" for label, src in ch.show))
    return examples, found


def _any_bad(checks: list[_Check]) -> pl.Expr:
    return pl.any_horizontal([ch.bad.fill_null(False) for ch in checks])


def _split(
    p: _Prepared, issues: list[Issue], strict: bool
) -> tuple[pl.LazyFrame, pl.DataFrame | None]:
    """Count, describe and (lenient) split a table into good rows and quarantined rows."""
    _count(p)
    failing = [i for i in range(len(p.checks)) if i in p.counts]
    for i in failing:
        ch = p.checks[i]
        examples, found = _examples(p, ch)
        issues.append(
            Issue(
                p.name,
                ch.column,
                ch.rule,
                p.counts[i],
                examples,
                ch.fix,
                ch.expected,
                found,
                quarantined=not strict,
            )
        )
    if strict or not failing:
        return p.lf, None
    checks = [p.checks[i] for i in failing]
    bad_any = _any_bad(checks)
    reason = pl.concat_str(
        [pl.when(ch.bad.fill_null(False)).then(pl.lit(ch.reason)) for ch in checks],
        separator="; ",
        ignore_nulls=True,
    )
    lf = p.lf if p.eager else p.lf.with_row_index(_ROW, offset=1)
    original = [pl.col(_RAW + c).alias(c) if c in p.fallible else pl.col(c) for c in p.original]
    bad = (
        lf.filter(bad_any)
        .select([*original, pl.col(_ROW).alias("source_row"), reason.alias("reason")])
        .collect()
    )
    return p.lf.filter(~bad_any), bad


def _finish(lf: pl.LazyFrame, p: _Prepared, eager: bool) -> pl.LazyFrame:
    drop = [c for c in lf.collect_schema().names() if c.startswith("__csm_")]
    lf = lf.drop(drop)
    return lf.collect().lazy() if eager else lf


def _convert_money(subs: pl.LazyFrame, reporting_currency: str) -> pl.LazyFrame:
    schema = subs.collect_schema()
    if "__csm_fx_rate" not in schema:
        return subs
    conv = pl.col("currency").is_not_null() & (pl.col("currency") != reporting_currency)
    exprs = []
    if "mrr" in schema:
        exprs.append(
            pl.when(conv)
            .then((pl.col("mrr") * pl.col("__csm_fx_rate")).round(2))
            .otherwise("mrr")
            .alias("mrr")
        )
    if "one_time_fees" in schema:
        exprs.append(
            pl.when(conv)
            .then(pl.col("one_time_fees") * pl.col("__csm_fx_rate"))
            .otherwise("one_time_fees")
            .alias("one_time_fees")
        )
    return subs.with_columns(exprs) if exprs else subs


def _latest_date(tables: dict[str, pl.LazyFrame]) -> date | None:
    queries = []
    for name, c in AS_OF_COLUMNS.items():
        lf = tables.get(name)
        if lf is None or c not in lf.collect_schema():
            continue
        e = pl.col(c).max()
        if lf.collect_schema()[c] != pl.Date:
            e = e.dt.date()
        queries.append(lf.select(e.alias("d")))
    found = [df.item() for df in pl.collect_all(queries)] if queries else []
    found = [d for d in found if d is not None]
    return max(found) if found else None


def _run(
    source: str | Path,
    strict: bool,
    as_of: date | None,
    quarantine_dir: str | Path | None,
    reporting_currency: str,
    write: bool,
) -> tuple[ValidationReport, Workbook | None, dict[str, pl.DataFrame]]:
    """Validate every table; in lenient mode split good and quarantined rows.

    Returns the report, the workbook when it loads (``None`` on errors) and the
    quarantined rows per table.
    """
    report = ValidationReport(str(source), strict=strict, reporting_currency=reporting_currency)
    issues = report.issues
    raw = _read_source(source)
    for name, spec in TABLES.items():
        if spec.required and name not in raw:
            issues.append(
                Issue(
                    name,
                    "",
                    "missing_table",
                    0,
                    [],
                    f"add {name}.parquet or {name}.csv (or a DuckDB table {name}) to the source",
                    "a required table",
                )
            )
    prepared = {name: _prepare(name, lf, issues) for name, lf in raw.items()}

    good: dict[str, pl.LazyFrame] = {}
    bad: dict[str, pl.DataFrame] = {}

    def split(p: _Prepared) -> None:
        good[p.name], q = _split(p, issues, strict)
        if q is not None:
            bad[p.name] = q

    # accounts first: every other table's foreign keys point at it.
    accounts = prepared.get("accounts")
    all_ids = good_ids = None
    if accounts is not None and "account_id" in accounts.lf.collect_schema():
        all_ids = accounts.lf.select("account_id").drop_nulls().unique().collect()
        accounts.checks += _fk_checks(accounts, all_ids, None)
        split(accounts)
        if not strict:
            _cascade_referrals(accounts, good, bad, issues)
        good_ids = good["accounts"].select("account_id").unique().collect()
    elif accounts is not None:
        split(accounts)
    if "fx_rates" in prepared:
        split(prepared["fx_rates"])
    fx = _fx_lookup(prepared.get("fx_rates"), good.get("fx_rates"))
    for name, p in prepared.items():
        if name in ("accounts", "fx_rates"):
            continue
        if all_ids is not None:
            p.checks += _fk_checks(p, all_ids, None if strict else good_ids)
        if name == "subscriptions":
            p, fx_checks = _fx_check(p, fx, reporting_currency)
            p.checks += fx_checks
            prepared[name] = p
        split(p)

    report.row_counts = {n: p.rows for n, p in prepared.items()}
    if not strict:
        report.rows_quarantined = {n: df.height for n, df in bad.items()}
    order = {n: i for i, n in enumerate(TABLES)}
    issues.sort(key=lambda i: order.get(i.table, 99))
    if not report.ok:
        return report, None, bad

    if write and bad:
        qdir = Path(quarantine_dir) if quarantine_dir else Path.cwd() / "outputs" / "quarantine"
        qdir.mkdir(parents=True, exist_ok=True)
        for name, df in bad.items():
            path = qdir / f"{name}.parquet"
            df.write_parquet(path)
            report.quarantine_files[name] = str(path)

    tables: dict[str, pl.LazyFrame] = {}
    for name, p in prepared.items():
        lf = good[name]
        if name == "subscriptions":
            lf = _convert_money(lf, reporting_currency)
        tables[name] = _finish(lf, p, eager=p.eager)
    report.as_of = as_of or _latest_date(tables)
    if report.as_of is None:
        report.as_of = date.today()
    wb = Workbook(
        tables,
        report.as_of,
        str(source),
        report.quarantined,
        reporting_currency,
        report,
    )
    return report, wb, bad


def _cascade_referrals(
    accounts: _Prepared,
    good: dict[str, pl.LazyFrame],
    bad: dict[str, pl.DataFrame],
    issues: list[Issue],
) -> None:
    """Lenient: accounts referred by a quarantined account are quarantined too (repeatedly)."""
    if "referred_by" not in accounts.lf.collect_schema():
        return
    df = good["accounts"].collect()
    all_ids = accounts.lf.select("account_id").drop_nulls()
    extra: list[pl.DataFrame] = []
    while True:
        gone = all_ids.join(df.lazy().select("account_id"), on="account_id", how="anti").collect()
        mask = pl.col("referred_by").is_in(gone["account_id"].implode()).fill_null(False)
        step = df.filter(mask)
        if step.height == 0:
            break
        extra.append(step)
        df = df.filter(~mask)
    if not extra:
        return
    rows = pl.concat(extra)
    check = _Check(
        "referred_by",
        "account_quarantined",
        pl.lit(True),
        "referred_by to be an account that loaded (it was quarantined)",
        "fix the quarantined accounts rows; these rows load with them",
        (("referred_by", "referred_by"),),
    )
    examples = [_fmt(v) for v in rows["account_id"].head(MAX_EXAMPLES)]
    found = [f"referred_by={_fmt(v)}" for v in rows["referred_by"].head(MAX_EXAMPLES)]
    issues.append(
        Issue(
            "accounts",
            check.column,
            check.rule,
            rows.height,
            examples,
            check.fix,
            check.expected,
            found,
            quarantined=True,
        )
    )
    original = [
        pl.col(_RAW + c).alias(c) if c in accounts.fallible else pl.col(c)
        for c in accounts.original
    ]
    q = rows.select(
        [*original, pl.col(_ROW).alias("source_row"), pl.lit(check.reason).alias("reason")]
    )
    bad["accounts"] = (
        pl.concat([bad["accounts"], q], how="vertical_relaxed") if "accounts" in bad else q
    )
    good["accounts"] = df.lazy()


# --------------------------------------------------------------------------- public API


def table_frame(name: str, rows: Iterable[dict[str, Any]] = ()) -> pl.DataFrame:
    """A frame of contract table ``name`` from row dicts: missing columns are null,
    values are cast to the contract types (strings parse as in CSV files).

    Handy for tests, examples and small hand-made sources.

    >>> df = table_frame("accounts", [{"account_id": "A1", "created_at": "2024-01-31"}])
    >>> df.columns[:3], df["created_at"].dtype, df["segment"].to_list()
    (['account_id', 'account_name', 'segment'], Date, [None])
    """
    spec = TABLES[name]
    rows = list(rows)
    df = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    exprs = []
    for c, col in spec.columns.items():
        if c not in df.columns:
            exprs.append(pl.lit(None, dtype=col.dtype).alias(c))
            continue
        expr, _ = _cast(c, df.schema[c], col.dtype)
        if expr is None:
            raise TypeError(f"{name}.{c}: cannot use {df.schema[c]} as {_type_name(col.dtype)}")
        exprs.append(expr.alias(c))
    extra = [c for c in df.columns if c not in spec.columns]
    return df.select([*exprs, *extra]) if len(df.columns) else pl.select(exprs).clear(len(rows))


def validate(
    source: str | Path | Workbook,
    *,
    strict: bool = True,
    as_of: date | None = None,
    quarantine_dir: str | Path | None = None,
    reporting_currency: str = REPORTING_CURRENCY,
) -> ValidationReport:
    """Check ``source`` against the contract and return the report (never raises on bad data).

    In lenient mode the report says which rows would be quarantined; quarantine
    files are written only when ``quarantine_dir`` is given.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> table_frame("accounts", [{"account_id": "A1"}, {"account_id": "A1"}]).write_csv(
    ...     d / "accounts.csv")
    >>> r = validate(d)
    >>> r.ok, [(i.table, i.rule, i.count, i.examples) for i in r.issues]
    (False, [('accounts', 'unique', 2, ['A1', 'A1']), ('subscriptions', 'missing_table', 0, [])])
    """
    if isinstance(source, Workbook):
        return source.report or ValidationReport(source.source, strict=strict)
    report, _, _ = _run(
        source, strict, as_of, quarantine_dir, reporting_currency, write=quarantine_dir is not None
    )
    return report


def load(
    source: str | Path | Workbook,
    as_of: date | None = None,
    *,
    strict: bool = True,
    quarantine_dir: str | Path | None = None,
    reporting_currency: str = REPORTING_CURRENCY,
) -> Workbook:
    """Load and validate a workbook source into a :class:`Workbook`.

    Strict mode (default) raises :class:`ValidationError` when any rule is broken.
    Lenient mode (``strict=False``) quarantines bad rows to
    ``<quarantine_dir>/<table>.parquet`` (default ``./outputs/quarantine``) and
    continues; it still raises for missing tables or columns. ``as_of`` defaults
    to the latest date in the data. A :class:`Workbook` is returned as is (with
    ``as_of`` replaced when given).

    A folder source is validated once per version of its files: the validated
    tables are kept in the store (:mod:`csm_lib.store`) and the next load of the
    same files reads them back lazily, with the same report and quarantine files.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> table_frame("accounts", [{"account_id": "A1"}]).write_parquet(d / "accounts.parquet")
    >>> table_frame("subscriptions", [{"subscription_id": "S1", "account_id": "A1",
    ...     "start_date": "2024-03-05", "mrr": 100, "currency": "EUR"}]
    ... ).write_parquet(d / "subscriptions.parquet")
    >>> table_frame("fx_rates", [{"month": "2024-03-01", "currency": "EUR",
    ...     "rate_to_reporting": 1.085}]).write_parquet(d / "fx_rates.parquet")
    >>> wb = load(d)
    >>> wb.table("subscriptions").select("mrr", "currency").collect().row(0)
    (108.5, 'EUR')
    >>> wb.as_of
    datetime.date(2024, 3, 5)
    """
    if isinstance(source, Workbook):
        if as_of is not None and as_of != source.as_of:
            return dataclasses.replace(source, as_of=as_of)
        return source
    from csm_lib import store

    folder = store.store_dir(source, strict, reporting_currency)
    if folder is not None:
        wb = _from_store(folder, source, strict, as_of, quarantine_dir, reporting_currency)
        if wb is not None:
            return wb
    report, wb, bad = _run(source, strict, as_of, quarantine_dir, reporting_currency, write=True)
    if wb is None:
        raise ValidationError(report)
    if folder is not None:
        data_as_of = report.as_of if as_of is None else _latest_date(wb.tables)
        store.save(folder, wb.tables, LAZY_TABLES, report.to_dict(), data_as_of, bad, source)
    return wb


def _from_store(
    folder: Path,
    source: str | Path,
    strict: bool,
    as_of: date | None,
    quarantine_dir: str | Path | None,
    reporting_currency: str,
) -> Workbook | None:
    """The workbook of an earlier load of the same files (None: not stored)."""
    from csm_lib import store

    got = store.read(folder)
    if got is None:
        return None
    tables, saved, data_as_of, bad = got
    fields = {f.name for f in dataclasses.fields(Issue)}
    report = ValidationReport(
        str(source),
        strict=strict,
        issues=[Issue(**{k: v for k, v in i.items() if k in fields}) for i in saved["issues"]],
        row_counts=dict(saved["row_counts"]),
        rows_quarantined=dict(saved["rows_quarantined"]),
        as_of=as_of or data_as_of or date.today(),
        reporting_currency=reporting_currency,
    )
    if bad:
        qdir = Path(quarantine_dir) if quarantine_dir else Path.cwd() / "outputs" / "quarantine"
        qdir.mkdir(parents=True, exist_ok=True)
        for name, path in bad.items():
            shutil.copyfile(path, qdir / f"{name}.parquet")
            report.quarantine_files[name] = str(qdir / f"{name}.parquet")
    return Workbook(
        tables, report.as_of, str(source), report.quarantined, reporting_currency, report
    )
