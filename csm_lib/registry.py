"""The metric registry: every metric declared once, with its metadata.

A metric is declared with :func:`metric` (a :class:`MetricSpec`). The code that
computes it is a *calculator*: a pure function registered with
:func:`calculator` that receives a :class:`Context` (facts, period, segment,
options) and returns a ``dict`` of metric id -> :class:`Value`. One calculator
usually provides several metrics (the MRR movements give twenty numbers).

Docstrings, ``csm metrics --list``, the notebooks' glossary, number formatting
and chart axes all read from :data:`SPECS`.

>>> spec = SPECS["nrr"] if "nrr" in SPECS else None  # filled when pillars import
>>> fmt_value(0.1234, "fraction")
'12.3%'
>>> fmt_value(1234567.891, "money")
'$1,234,567.89'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PILLARS = ("revenue", "acquisition", "adoption", "retention", "expansion", "advocacy", "health")
UNITS = (
    "money",
    "count",
    "fraction",
    "days",
    "hours",
    "score",
    "seconds",
    "months",
    "ratio",
    "users",
)
DIRECTIONS = ("higher", "lower", "neutral")


@dataclass(frozen=True)
class Option:
    """A variant of a metric: its default, the allowed values and what changes."""

    name: str
    default: Any
    help: str
    choices: tuple | None = None


@dataclass(frozen=True)
class MetricSpec:
    """Everything the workbook knows about one metric, in one place."""

    id: str
    label: str
    pillar: str
    unit: str
    direction: str
    definition: str
    formula: str
    benchmark: str  # text, or "none"
    benchmark_source: str  # which seed / reference, or "" when benchmark is "none"
    inputs: tuple[str, ...]  # tables it needs
    seeds: tuple[str, ...] = ()
    example: str = ""  # the seed's worked example, in words
    options: tuple[Option, ...] = ()
    action: str = ""  # what a CS team does about it
    good_range: tuple[float | None, float | None] | None = None  # benchmark band for charts

    def option_defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}


@dataclass(frozen=True)
class Value:
    """One computed number with its sample size, interval and a note (reason when null)."""

    value: float | None
    n: int | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""

    @staticmethod
    def null(reason: str, n: int | None = None) -> Value:
        return Value(None, n=n, note=reason)


def ratio(num: float | None, den: float | None, reason: str, n: int | None = None) -> Value:
    """``num / den`` or a null :class:`Value` with ``reason`` when the denominator is 0.

    >>> ratio(1, 4, "no customers").value
    0.25
    >>> ratio(1, 0, "no customers").note
    'no customers'
    """
    if num is None or den is None or den == 0 or (isinstance(den, float) and math.isnan(den)):
        return Value.null(reason, n=n)
    return Value(float(num) / float(den), n=n)


@dataclass
class Calculator:
    fn: Callable[..., dict[str, Value]]
    provides: tuple[str, ...]
    inputs: tuple[str, ...]
    options: tuple[str, ...] = ()


SPECS: dict[str, MetricSpec] = {}
CALCULATORS: list[Calculator] = []
_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def metric(
    id: str,
    label: str,
    pillar: str,
    unit: str,
    direction: str,
    definition: str,
    formula: str,
    benchmark: str = "none",
    benchmark_source: str = "",
    inputs: tuple[str, ...] = ("subscriptions",),
    seeds: tuple[str, ...] = (),
    example: str = "",
    options: tuple[Option, ...] = (),
    action: str = "",
    good_range: tuple[float | None, float | None] | None = None,
) -> MetricSpec:
    """Declare a metric (once). Raises on a duplicate or malformed id, unit or pillar."""
    if not _ID.match(id):
        raise ValueError(f"metric id {id!r} is not snake_case")
    if id in SPECS:
        raise ValueError(f"metric id {id!r} declared twice")
    if pillar not in PILLARS or unit not in UNITS or direction not in DIRECTIONS:
        raise ValueError(f"metric {id!r}: bad pillar/unit/direction {pillar}/{unit}/{direction}")
    spec = MetricSpec(
        id, label, pillar, unit, direction, definition, formula, benchmark, benchmark_source,
        tuple(inputs), tuple(seeds), example, tuple(options), action, good_range,
    )  # fmt: skip
    SPECS[id] = spec
    return spec


def calculator(provides: tuple[str, ...] | list[str], inputs: tuple[str, ...] = ("subscriptions",)):
    """Register a function ``fn(ctx) -> dict[id, Value]`` that computes ``provides``."""

    def deco(fn):
        CALCULATORS.append(Calculator(fn, tuple(provides), tuple(inputs)))
        return fn

    return deco


def fmt_value(value: float | None, unit: str, digits: int | None = None) -> str:
    """Format a value for display by its unit (fractions as percentages).

    >>> fmt_value(None, "money")
    'n/a'
    >>> fmt_value(42.0, "score")
    '42.0'
    >>> fmt_value(3.5, "months")
    '3.5 months'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "money":
        return f"${value:,.{2 if digits is None else digits}f}"
    if unit == "fraction":
        return f"{value * 100:.{1 if digits is None else digits}f}%"
    if unit in ("count", "users"):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "days":
        return f"{value:,.1f} days"
    if unit == "hours":
        return f"{value:,.1f} h"
    if unit == "months":
        return f"{value:,.1f} months"
    if unit == "seconds":
        return f"{value:,.0f} s"
    if unit == "ratio":
        return f"{value:,.2f}"
    return f"{value:,.{1 if digits is None else digits}f}"


def vega_format(unit: str) -> str:
    """A d3 format string for chart axes and tooltips.

    >>> vega_format("fraction")
    '.1%'
    """
    return {"money": "$,.0f", "fraction": ".1%", "count": ",d", "users": ",.0f"}.get(unit, ",.1f")


@dataclass
class Context:
    """What a calculator sees: facts, the period, the segment's accounts, options."""

    facts: Any  # csm_lib.facts.Facts
    period: Any  # csm_lib.periods.Period (already clipped to as_of)
    segment: Any  # csm_lib.periods.Segment
    account_ids: Any  # pl.Series of account ids in the segment, or None for All
    options: dict[str, Any] = field(default_factory=dict)

    def opt(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def movements(self, period: Any = None):
        """Per-account MRR movements of ``period`` (default: this period), memoised."""
        from csm_lib.revenue import movements

        p = period or self.period
        key = ("movements", p.start, p.end, self.segment.label)
        return self.facts.memo(key, lambda: movements(self.facts.subs, p, self.account_ids))

    def bridge(self, period: Any = None) -> dict:
        """The MRR bridge (amounts and counts) of ``period``, memoised."""
        from csm_lib.revenue import bridge

        p = period or self.period
        key = ("bridge", p.start, p.end, self.segment.label)
        return self.facts.memo(key, lambda: bridge(self.movements(p)))

    def seats(self):
        """Seats per account on the period's closing date (``adoption.seats_at``), memoised."""
        from csm_lib.adoption import seats_at

        d = self.period.closing_date
        key = ("seats", d, self.segment.label)
        return self.facts.memo(key, lambda: seats_at(self.facts.subs, d, self.account_ids))

    def in_segment(self, frame, col: str = "account_id"):
        """Filter a frame with an account column to this segment."""
        from csm_lib.facts import in_segment

        return in_segment(frame, self.account_ids, col)
