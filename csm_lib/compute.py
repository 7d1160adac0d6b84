"""One entry point: :func:`compute` every (or some) metric for a period and segment.

>>> from csm_lib import load, compute                 # doctest: +SKIP
>>> from csm_lib.sample import sample_path            # doctest: +SKIP
>>> res = compute(load(sample_path()), "2025-Q4", "segment=SMB")  # doctest: +SKIP
>>> res.filter(pl.col("id") == "nrr")["value"].item()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import polars as pl

from csm_lib.data import MissingTableError
from csm_lib.periods import Period, Segment
from csm_lib.registry import CALCULATORS, SPECS, Context, Value

PILLAR_MODULES = (
    "csm_lib.revenue_metrics",
    "csm_lib.acquisition",
    "csm_lib.adoption",
    "csm_lib.retention",
    "csm_lib.expansion",
    "csm_lib.advocacy",
    "csm_lib.health",
)

RESULT_SCHEMA = {
    "id": pl.String,
    "label": pl.String,
    "pillar": pl.String,
    "unit": pl.String,
    "value": pl.Float64,
    "n": pl.Int64,
    "low": pl.Float64,
    "high": pl.Float64,
    "note": pl.String,
    "period": pl.String,
    "segment": pl.String,
    "as_of": pl.Date,
    "partial": pl.Boolean,
}


def load_registry() -> dict:
    """Import every pillar module so that :data:`SPECS` is complete."""
    for mod in PILLAR_MODULES:
        importlib.import_module(mod)
    for calc in CALCULATORS:
        _document(calc)
    return SPECS


_DOC_MARK = "\n\n    Metrics (from the registry):\n"


def _document(calc) -> None:
    """Append each provided metric's registry text to the calculator's docstring (once)."""
    doc = calc.fn.__doc__ or ""
    if _DOC_MARK in doc:
        return
    lines = [
        f"    - ``{m}`` ({SPECS[m].label}, {SPECS[m].unit}): {SPECS[m].definition} "
        f"Formula: {SPECS[m].formula}."
        for m in calc.provides
        if m in SPECS
    ]
    calc.fn.__doc__ = doc.rstrip() + _DOC_MARK + "\n".join(lines) + "\n"


def _clean(v: float | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _options_key(options: dict[str, Any]):
    """A hashable form of the options (None when a value cannot be frozen: no caching)."""

    def freeze(v):
        if isinstance(v, dict):
            return tuple(sorted((str(k), freeze(x)) for k, x in v.items()))
        if isinstance(v, list | tuple | set | frozenset):
            items = [freeze(x) for x in v]
            return (
                ("set", tuple(sorted(items, key=repr)))
                if isinstance(v, set | frozenset)
                else (type(v).__name__, tuple(items))
            )
        hash(v)
        return (type(v).__name__, v)  # 1, 1.0 and True stay distinct

    try:
        return freeze(options)
    except TypeError:
        return None


def _threads(tasks: int) -> int:
    """Threads for the calculators: ``CSM_THREADS`` or the number of cores (at most 4)."""
    env = os.environ.get("CSM_THREADS", "").strip()
    n = int(env) if env.isdigit() else min(os.cpu_count() or 1, 4)
    return max(1, min(n, tasks))


def context(workbook, period: str | Period, segment: str | Segment = "All", options=None):
    """Build the :class:`Context` of a period and segment (period clipped to as-of)."""
    seg = Segment.parse(segment)
    facts = workbook.facts
    seg.check(facts.accounts.columns)
    p = Period.parse(period)
    clipped = p.clip(workbook.as_of)
    return Context(facts, clipped, seg, facts.segment_ids(seg), dict(options or {}))


def compute(
    workbook,
    period: str | Period,
    segment: str | Segment = "All",
    metrics: list[str] | None = None,
    options: dict[str, Any] | None = None,
    *,
    cache: dict | None = None,
) -> pl.DataFrame:
    """Compute metrics; one tidy row per metric (id, value, unit, n, interval, note).

    A metric whose optional table is missing is null with the reason
    ("needs table surveys"); an empty denominator is null with its reason.

    ``cache`` (a dict the caller keeps, e.g. a notebook's workbench) holds each
    calculator's output per (calculator, clipped period, segment, options), so
    calls for other metric subsets of the same period and segment never run a
    calculator twice. The values are the same with or without it.
    """
    load_registry()
    ctx = context(workbook, period, segment, options)
    okey = _options_key(ctx.options) if cache is not None else None
    p = Period.parse(period)
    partial = ctx.period.end < p.end
    wanted = set(metrics) if metrics else set(SPECS)
    unknown = wanted - set(SPECS)
    if unknown:
        raise KeyError(f"unknown metric id(s) {sorted(unknown)}; see `csm metrics --list`")
    values: dict[str, Value] = {}
    runs: list[tuple[Any, list[str], Any]] = []  # (calculator, metrics, cache key)
    for i, calc in enumerate(CALCULATORS):
        todo = [m for m in calc.provides if m in wanted]
        if not todo:
            continue
        missing = [t for t in calc.inputs if not workbook.has(t)]
        if missing:
            for m in todo:
                values[m] = Value.null("needs table " + ", ".join(missing))
            continue
        ckey = None
        if okey is not None:
            ckey = (i, ctx.period.start, ctx.period.end, ctx.segment.label, okey)
        runs.append((calc, todo, ckey))

    def run(calc, ckey) -> dict[str, Value]:
        if ckey is not None and ckey in cache:
            return cache[ckey]
        try:
            out = calc.fn(ctx)
        except MissingTableError as exc:
            out = {m: Value.null(str(exc)) for m in calc.provides}
        if ckey is not None:
            cache[ckey] = out
        return out

    workers = _threads(len(runs))
    if workers > 1:  # polars releases the GIL: calculators overlap on the cores
        # the calculators that read the events take longest: started first, the
        # others fill the threads around them (results keep the registry's order)
        order = sorted(range(len(runs)), key=lambda i: "events" not in runs[i][0].inputs)
        with ThreadPoolExecutor(workers, thread_name_prefix="csm-compute") as pool:
            done = dict(
                zip(order, pool.map(lambda i: run(runs[i][0], runs[i][2]), order), strict=True)
            )
        outs = [done[i] for i in range(len(runs))]
    else:
        outs = [run(calc, ckey) for calc, _, ckey in runs]
    for (_, todo, _), out in zip(runs, outs, strict=True):
        for m in todo:
            values[m] = out.get(m, Value.null("not computed"))
    rows = []
    for mid in [m for m in SPECS if m in wanted]:
        spec, v = SPECS[mid], values.get(mid, Value.null("no calculator"))
        rows.append(
            {
                "id": mid,
                "label": spec.label,
                "pillar": spec.pillar,
                "unit": spec.unit,
                "value": _clean(v.value),
                "n": v.n,
                "low": _clean(v.low),
                "high": _clean(v.high),
                "note": v.note or ("partial period" if partial else ""),
                "period": p.label,
                "segment": ctx.segment.label,
                "as_of": workbook.as_of,
                "partial": partial,
            }
        )
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def prefetch(
    workbook,
    periods: list[str | Period],
    segment: str | Segment = "All",
    metrics: list[str] | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Let calculators that can work on several periods at once fill their caches.

    A calculator function with a ``prefetch(contexts)`` attribute (the health
    scores, the renewal litmus) computes what the later :func:`compute` calls of
    these periods will need in one pass (trend charts over eight quarters).
    Values are unchanged; only the time differs.
    """
    load_registry()
    wanted = set(metrics) if metrics else set(SPECS)
    ctxs = [context(workbook, p, segment, options) for p in periods]
    if len(ctxs) < 2:
        return
    for calc in CALCULATORS:
        hook = getattr(calc.fn, "prefetch", None)
        if hook is None or not wanted & set(calc.provides):
            continue
        if all(workbook.has(t) for t in calc.inputs):
            try:
                hook(ctxs)
            except MissingTableError:
                pass


def as_dict(result: pl.DataFrame) -> dict[str, Any]:
    """The result as ``{id: value}`` (for JSON and assertions)."""
    return {r["id"]: r["value"] for r in result.iter_rows(named=True)}


def to_json_obj(result: pl.DataFrame) -> dict[str, Any]:
    """A JSON-ready object: period, segment, as_of and every metric with n/interval/note."""
    first = result.row(0, named=True) if result.height else {}
    as_of: date | None = first.get("as_of")
    return {
        "period": first.get("period"),
        "segment": first.get("segment"),
        "as_of": as_of.isoformat() if as_of else None,
        "partial": first.get("partial"),
        "metrics": {
            r["id"]: {
                "value": r["value"],
                "unit": r["unit"],
                "n": r["n"],
                "interval": [r["low"], r["high"]] if r["low"] is not None else None,
                "note": r["note"] or None,
            }
            for r in result.iter_rows(named=True)
        },
    }
