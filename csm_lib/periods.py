"""Periods and segments: the two coordinates of every metric.

A :class:`Period` is a month ``2024-05``, a quarter ``2024-Q2``, a year ``2024``
or an inclusive range ``2024-01-15..2024-03-31``. Opening values are measured on
the day *before* its first day; closing values on its last day
(DATA_CONTRACT.md, "Periods and segments").

A :class:`Segment` is ``All`` or a filter on account columns, e.g.
``segment=SMB`` or ``segment=SMB,region=EMEA``; a value may list
alternatives with ``|`` (``segment=SMB|Mid-Market``).

>>> p = Period.parse("2024-Q2")
>>> p.start, p.end, p.opening_date
(datetime.date(2024, 4, 1), datetime.date(2024, 6, 30), datetime.date(2024, 3, 31))
>>> p.previous().label
'2024-Q1'
>>> [m.label for m in p.months()]
['2024-04', '2024-05', '2024-06']
>>> Segment.parse("segment=SMB,region=EMEA").label
'segment=SMB,region=EMEA'
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

PERIOD_FORMS = (
    "a month '2024-05', a quarter '2024-Q2', a year '2024', "
    "or an inclusive date range '2024-01-15..2024-03-31'"
)
SEGMENT_FORMS = (
    "'All', or comma-separated column=value filters on the accounts table, "
    "e.g. 'segment=SMB' or 'segment=SMB,region=EMEA' (alternatives with '|': 'segment=SMB|Mid-Market')"
)


class PeriodError(ValueError):
    """A period string that is not one of the accepted forms."""


class SegmentError(ValueError):
    """A segment string that is malformed or names an unknown accounts column."""


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


@dataclass(frozen=True, order=True)
class Period:
    """An inclusive span of calendar days with a label and a kind.

    >>> Period.parse("2024").days
    366
    >>> Period.parse("2024-01-15..2024-03-31").kind
    'range'
    """

    start: date
    end: date
    label: str = field(compare=False)
    kind: str = field(compare=False)  # month | quarter | year | range

    _MONTH = re.compile(r"^(\d{4})-(\d{2})$")
    _QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
    _YEAR = re.compile(r"^(\d{4})$")
    _RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")

    @classmethod
    def parse(cls, text: str | int | Period) -> Period:
        """Parse a period string; raise :class:`PeriodError` naming the accepted forms."""
        if isinstance(text, Period):
            return text
        s = str(text).strip()
        try:
            if m := cls._MONTH.match(s):
                y, mo = int(m[1]), int(m[2])
                return cls.month(y, mo)
            if m := cls._QUARTER.match(s):
                return cls.quarter(int(m[1]), int(m[2]))
            if m := cls._YEAR.match(s):
                y = int(m[1])
                return cls(date(y, 1, 1), date(y, 12, 31), f"{y}", "year")
            if m := cls._RANGE.match(s):
                a, b = date.fromisoformat(m[1]), date.fromisoformat(m[2])
                if b < a:
                    raise PeriodError(f"period {s!r}: the range ends before it starts")
                return cls(a, b, f"{a.isoformat()}..{b.isoformat()}", "range")
        except ValueError as exc:  # invalid month number or day
            if isinstance(exc, PeriodError):
                raise
            raise PeriodError(
                f"period {s!r} is not a valid date: {exc}. Use {PERIOD_FORMS}."
            ) from None
        raise PeriodError(f"period {s!r} is not understood. Use {PERIOD_FORMS}.")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        if not 1 <= month <= 12:
            raise PeriodError(f"month {month} is out of range 01..12. Use {PERIOD_FORMS}.")
        return cls(date(year, month, 1), _month_end(year, month), f"{year}-{month:02d}", "month")

    @classmethod
    def quarter(cls, year: int, q: int) -> Period:
        first = 3 * (q - 1) + 1
        return cls(date(year, first, 1), _month_end(year, first + 2), f"{year}-Q{q}", "quarter")

    @property
    def opening_date(self) -> date:
        """The day before the period: opening values are measured here."""
        return self.start - timedelta(days=1)

    @property
    def closing_date(self) -> date:
        """The last day of the period: closing values are measured here."""
        return self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same kind and length just before this one."""
        if self.kind == "month":
            d = _add_months(self.start, -1)
            return Period.month(d.year, d.month)
        if self.kind == "quarter":
            d = _add_months(self.start, -3)
            return Period.quarter(d.year, (d.month - 1) // 3 + 1)
        if self.kind == "year":
            return Period.parse(str(self.start.year - 1))
        n = self.days
        end = self.start - timedelta(days=1)
        start = end - timedelta(days=n - 1)
        return Period(start, end, f"{start.isoformat()}..{end.isoformat()}", "range")

    def next(self) -> Period:
        """The period of the same kind just after this one."""
        if self.kind == "month":
            d = _add_months(self.start, 1)
            return Period.month(d.year, d.month)
        if self.kind == "quarter":
            d = _add_months(self.start, 3)
            return Period.quarter(d.year, (d.month - 1) // 3 + 1)
        if self.kind == "year":
            return Period.parse(str(self.start.year + 1))
        start = self.end + timedelta(days=1)
        end = start + timedelta(days=self.days - 1)
        return Period(start, end, f"{start.isoformat()}..{end.isoformat()}", "range")

    def months(self) -> list[Period]:
        """Calendar months overlapping the period (whole months, not cut)."""
        out, d = [], date(self.start.year, self.start.month, 1)
        while d <= self.end:
            out.append(Period.month(d.year, d.month))
            d = _add_months(d, 1)
        return out

    def quarters(self) -> list[Period]:
        """Calendar quarters overlapping the period."""
        seen: dict[str, Period] = {}
        for m in self.months():
            q = Period.quarter(m.start.year, (m.start.month - 1) // 3 + 1)
            seen.setdefault(q.label, q)
        return list(seen.values())

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end

    def clip(self, as_of: date) -> Period:
        """Cut the period at the as-of date (an error if it starts after it)."""
        if self.start > as_of:
            raise PeriodError(
                f"period {self.label} starts after the data's as-of date {as_of.isoformat()}; "
                "choose an earlier period or pass a later as_of."
            )
        if self.end <= as_of:
            return self
        return Period(self.start, as_of, self.label, self.kind)

    def __str__(self) -> str:
        return self.label


def latest_full_quarter(as_of: date) -> Period:
    """The last calendar quarter that ends on or before ``as_of``.

    >>> latest_full_quarter(date(2025, 12, 31)).label
    '2025-Q4'
    >>> latest_full_quarter(date(2026, 2, 10)).label
    '2025-Q4'
    """
    q = Period.quarter(as_of.year, (as_of.month - 1) // 3 + 1)
    return q if q.end <= as_of else q.previous()


def period_options(first: date, as_of: date) -> list[str]:
    """Labels of every full quarter and year between two dates, newest first, plus months.

    >>> period_options(date(2025, 1, 1), date(2025, 6, 30))[:3]
    ['2025-Q2', '2025-Q1', '2025-06']
    """
    quarters, months, years = [], [], []
    q = latest_full_quarter(as_of)
    while q.start >= date(first.year, first.month, 1) - timedelta(days=92) and q.end >= first:
        quarters.append(q.label)
        q = q.previous()
    m = Period.month(as_of.year, as_of.month)
    if m.end > as_of:
        m = m.previous()
    while m.end >= first:
        months.append(m.label)
        m = m.previous()
    for y in range(as_of.year, first.year - 1, -1):
        if date(y, 12, 31) <= as_of:
            years.append(str(y))
    return quarters + months + years


@dataclass(frozen=True)
class Segment:
    """A filter on the accounts table: ``All`` or ``col=value[,col=value...]``.

    >>> s = Segment.parse("segment=SMB|Mid-Market,region=EMEA")
    >>> s.filters
    (('segment', ('SMB', 'Mid-Market')), ('region', ('EMEA',)))
    >>> Segment.parse("All").is_all
    True
    """

    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, text: str | Segment | None) -> Segment:
        if isinstance(text, Segment):
            return text
        s = (text or "All").strip()
        if s.lower() in ("all", "", "*"):
            return cls(())
        filters = []
        for part in s.split(","):
            if "=" not in part:
                raise SegmentError(f"segment {s!r}: {part!r} has no '='. Use {SEGMENT_FORMS}.")
            col, _, val = part.partition("=")
            col, val = col.strip(), val.strip()
            if not col or not val:
                raise SegmentError(f"segment {s!r}: empty column or value. Use {SEGMENT_FORMS}.")
            filters.append((col, tuple(v.strip() for v in val.split("|"))))
        return cls(tuple(filters))

    @property
    def is_all(self) -> bool:
        return not self.filters

    @property
    def label(self) -> str:
        if self.is_all:
            return "All"
        return ",".join(f"{c}={'|'.join(v)}" for c, v in self.filters)

    @property
    def columns(self) -> list[str]:
        return [c for c, _ in self.filters]

    def check(self, columns: list[str]) -> None:
        """Raise :class:`SegmentError` when a filter names a column accounts lacks."""
        unknown = [c for c in self.columns if c not in columns]
        if unknown:
            raise SegmentError(
                f"segment {self.label!r}: unknown accounts column(s) {unknown}. "
                f"Available columns: {sorted(columns)}. Use {SEGMENT_FORMS}."
            )

    def expr(self) -> pl.Expr:
        """A polars predicate on the accounts table (``True`` for All)."""
        e = pl.lit(True)
        for col, vals in self.filters:
            e = e & pl.col(col).cast(pl.String).is_in(list(vals))
        return e

    def apply(self, accounts: pl.LazyFrame | pl.DataFrame):
        """Filter an accounts frame to the segment (after checking its columns)."""
        cols = (
            accounts.collect_schema().names()
            if isinstance(accounts, pl.LazyFrame)
            else accounts.columns
        )
        self.check(cols)
        return accounts.filter(self.expr())

    def __str__(self) -> str:
        return self.label
