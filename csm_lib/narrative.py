"""Teaching text generated from the registry: what a metric means and what a value says.

Everything here reads the :class:`~csm_lib.registry.MetricSpec` (one source of
truth), so the notebooks, the glossary and the reports never drift from the
code. Results are strings that also display as Markdown / HTML in Jupyter.

>>> from csm_lib.registry import MetricSpec
>>> spec = MetricSpec("nrr", "Net revenue retention", "retention", "fraction", "higher",
...     "Revenue kept from opening customers, with expansion.", "(start + exp - con - churn) / start",
...     "above 100%", "seed 001", ("subscriptions",), good_range=(1.0, None))
>>> print(interpret(spec, 1.042, 1.029, "2025-Q4", "2025-Q3"))
Net revenue retention was 104.2% in 2025-Q4, up 1.3 points from 2025-Q3 (an improvement); above the benchmark of at least 100.0%, so expansion outran churn and contraction.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

from csm_lib.registry import SPECS, MetricSpec, Value, fmt_value

# Units compared in points (absolute difference) rather than in % change.
POINT_UNITS = ("fraction", "score")

# A few metrics whose benchmark line has a plain meaning worth saying aloud.
READINGS: dict[str, tuple[str, str]] = {
    "nrr": (
        "so expansion outran churn and contraction",
        "so churn and contraction outran expansion",
    ),
    "quick_ratio": (
        "so growth is efficient: each lost dollar is replaced several times over",
        "so too much of the new revenue only replaces what leaks out",
    ),
    "ltv_to_cac": (
        "so a customer returns well over what it cost to win",
        "so acquiring customers costs too much for what they return",
    ),
    "grr": ("so the base holds its revenue well", "so the base leaks revenue"),
}


class Markdown(str):
    """A string that Jupyter displays as Markdown."""

    def _repr_markdown_(self) -> str:
        return str(self)


class Html(str):
    """A string that Jupyter displays as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def _spec(spec: MetricSpec | str) -> MetricSpec:
    if isinstance(spec, MetricSpec):
        return spec
    from csm_lib.compute import load_registry

    load_registry()
    if spec not in SPECS:
        raise KeyError(f"unknown metric id {spec!r}; see csm_lib.catalogue()")
    return SPECS[spec]


def _num(v: Any) -> float | None:
    if isinstance(v, Value):
        v = v.value
    if isinstance(v, dict):
        v = v.get("value")
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def describe(spec: MetricSpec | str) -> Markdown:
    """Markdown teaching one metric: what it measures, formula, example, benchmark, options.

    >>> from csm_lib.registry import MetricSpec
    >>> s = MetricSpec("csat", "CSAT", "advocacy", "fraction", "higher", "Share of happy answers.",
    ...     "positive / responses", "none", "", ("surveys",), example="50 of 100 = 50%")
    >>> "**Formula.** `positive / responses`" in describe(s)
    True
    """
    s = _spec(spec)
    better = {"higher": "higher is better", "lower": "lower is better"}.get(
        s.direction, "neither higher nor lower is better by itself"
    )
    lines = [
        f"### {s.label} (`{s.id}`)",
        f"*{s.pillar.capitalize()} · {s.unit} · {better}*",
        "",
        f"**What it measures.** {s.definition}",
        "",
        f"**Formula.** `{s.formula}`",
    ]
    if s.example:
        src = f" (seed {', '.join(s.seeds)})" if s.seeds else ""
        lines += ["", f"**Worked example{src}.** {s.example}"]
    if s.benchmark and s.benchmark != "none":
        src = f" — source: {s.benchmark_source}" if s.benchmark_source else ""
        lines += ["", f"**Benchmark.** {s.benchmark}{src}"]
    else:
        lines += ["", "**Benchmark.** none quoted by the sources; compare with your own history."]
    if s.options:
        lines += ["", "**Options.**"]
        for o in s.options:
            choices = f" (choices: {', '.join(map(str, o.choices))})" if o.choices else ""
            lines.append(f"- `{o.name}` = `{o.default!r}`{choices}: {o.help}")
    if s.action:
        lines += ["", f"**When it looks bad.** {s.action}"]
    return Markdown("\n".join(lines))


def change_text(unit: str, value: float, previous: float) -> tuple[str, float]:
    """How a value moved: ``("up 1.3 points", +1.3)``; fractions/scores in points, others in %.

    >>> change_text("fraction", 1.042, 1.029)
    ('up 1.3 points', 1.3)
    >>> change_text("money", 110.0, 100.0)
    ('up 10.0%', 10.0)
    >>> change_text("money", 5.0, 0.0)
    ('up from $0.00', 5.0)
    """
    if unit in POINT_UNITS:
        d = (value - previous) * (100 if unit == "fraction" else 1)
        d = round(d, 1)
        if d == 0:
            return "unchanged", 0.0
        return f"{'up' if d > 0 else 'down'} {abs(d):.1f} points", d
    if previous == 0:
        if value == 0:
            return "unchanged", 0.0
        return f"{'up' if value > 0 else 'down'} from {fmt_value(0.0, unit)}", value
    pct = round((value - previous) / abs(previous) * 100, 1)
    if pct == 0:
        return "unchanged", 0.0
    return f"{'up' if pct > 0 else 'down'} {abs(pct):.1f}%", pct


def _range_text(lo, hi, unit) -> str:
    if lo is not None and hi is not None:
        return f"{fmt_value(lo, unit)} to {fmt_value(hi, unit)}"
    if lo is not None:
        return f"at least {fmt_value(lo, unit)}"
    return f"at most {fmt_value(hi, unit)}"


def position(spec: MetricSpec, value: float) -> str:
    """Where a value sits against the spec's benchmark band: above, below or inside (or '')."""
    if not spec.good_range:
        return ""
    lo, hi = spec.good_range
    if lo is not None and value < lo:
        return "below"
    if hi is not None and value > hi:
        return "above"
    if lo is not None and hi is not None:
        return "inside"
    return "above" if lo is not None else "below"


def interpret(
    spec: MetricSpec | str,
    value: Any,
    previous: Any = None,
    period_label: str = "this period",
    previous_label: str = "the previous period",
    note: str | None = None,
) -> Markdown:
    """One or two sentences reading a value aloud, with its change and its benchmark.

    ``value``/``previous`` may be numbers, :class:`Value` objects or result rows
    (dicts with ``value`` and ``note``). A null value explains its note.

    >>> from csm_lib.registry import MetricSpec
    >>> s = MetricSpec("churn_mrr", "Churned MRR", "revenue", "money", "lower", "d", "f",
    ...     "none", "", ("subscriptions",))
    >>> print(interpret(s, 90.0, 100.0, "2025-Q4", "2025-Q3"))
    Churned MRR was $90.00 in 2025-Q4, down 10.0% from 2025-Q3 (an improvement).
    >>> print(interpret(s, None, note="needs table surveys", period_label="2025-Q4"))
    Churned MRR is not available for 2025-Q4: needs table surveys.
    """
    s = _spec(spec)
    if note is None:
        if isinstance(value, Value):
            note = value.note
        elif isinstance(value, dict):
            note = value.get("note")
    v, p = _num(value), _num(previous)
    if v is None:
        why = note or "no value"
        return Markdown(f"{s.label} is not available for {period_label}: {why}.")
    shown = fmt_value(v, s.unit)
    pos = position(s, v)
    if pos in ("above", "below") and s.unit in ("fraction", "score", "ratio"):
        bound = s.good_range[1] if pos == "above" else s.good_range[0]
        if bound is None:
            bound = s.good_range[0] if pos == "above" else s.good_range[1]
        if bound is not None and fmt_value(bound, s.unit) == shown:  # 5.0% "above" 5.0%
            shown = fmt_value(v, s.unit, digits=2 if s.unit != "ratio" else 3)
    text = f"{s.label} was {shown} in {period_label}"
    if p is not None:
        moved, d = change_text(s.unit, v, p)
        if moved == "unchanged":
            text += f", unchanged from {previous_label}"
        else:
            text += f", {moved} from {previous_label}"
            if s.direction != "neutral" and d != 0:
                good = (d > 0) == (s.direction == "higher")
                text += " (an improvement)" if good else " (a deterioration)"
    if pos:
        lo, hi = s.good_range
        rng = _range_text(lo, hi, s.unit)
        if pos == "inside":
            text += f"; inside the benchmark range of {rng}"
        else:
            text += f"; {pos} the benchmark of {rng}"
        if s.id in READINGS and pos != "inside":
            good_side = "above" if s.direction == "higher" else "below"
            text += ", " + READINGS[s.id][0 if pos == good_side else 1]
    text += "."
    if note and note != "partial period":
        text += f" Note: {note}."
    elif note == "partial period":
        text += " The period is not over yet (partial)."
    return Markdown(text)


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def glossary(
    specs: Iterable[MetricSpec] | dict[str, MetricSpec] | None = None, pillar: str | None = None
) -> Markdown:
    """A Markdown table of every metric: id, label, pillar, unit, definition, formula,
    benchmark (with its source) and options; ``pillar`` keeps one pillar.

    >>> from csm_lib.registry import MetricSpec
    >>> s = MetricSpec("a_b", "A|B", "revenue", "money", "higher", "def", "x", "none", "", ())
    >>> print(glossary([s]).splitlines()[2])
    | `a_b` | A\\|B | revenue | money | def | `x` | none |  |
    """
    if specs is None:
        from csm_lib.compute import load_registry

        specs = load_registry()
    items = list(specs.values()) if isinstance(specs, dict) else list(specs)
    if pillar:
        items = [s for s in items if s.pillar == pillar]
    rows = [
        "| id | metric | pillar | unit | definition | formula | benchmark | options |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in items:
        bench = s.benchmark if s.benchmark else "none"
        if s.benchmark_source and bench != "none":
            bench += f" ({s.benchmark_source})"
        opts = "; ".join(f"`{o.name}`={o.default!r}" for o in s.options)
        rows.append(
            f"| `{s.id}` | {_cell(s.label)} | {s.pillar} | {s.unit} | {_cell(s.definition)} | "
            f"`{_cell(s.formula)}` | {_cell(bench)} | {_cell(opts)} |"
        )
    return Markdown("\n".join(rows))


def _rows(df) -> dict[str, dict]:
    if df is None:
        return {}
    return {r["id"]: r for r in df.iter_rows(named=True)}


def kpi_rows(result_df, previous_df=None, ids: Iterable[str] | None = None) -> list[dict]:
    """The KPI table as a list of dicts (metric, value, previous, change, benchmark, n, note)."""
    cur, prev = _rows(result_df), _rows(previous_df)
    out = []
    for mid in ids or list(cur):
        if mid not in cur:
            continue
        r = cur[mid]
        s = _spec(mid) if mid in SPECS else None
        unit = r["unit"]
        v, p = _num(r["value"]), _num(prev.get(mid, {}).get("value")) if prev else None
        change, judge = "", ""
        if v is not None and p is not None:
            change, d = change_text(unit, v, p)
            if s is not None and s.direction != "neutral" and d != 0:
                judge = "good" if (d > 0) == (s.direction == "higher") else "bad"
        bench = ""
        if s is not None and s.good_range:
            bench = _range_text(*s.good_range, unit)
        out.append(
            {
                "id": mid,
                "metric": r["label"],
                "value": fmt_value(v, unit),
                "previous": fmt_value(p, unit) if prev else "",
                "change": change,
                "judge": judge,
                "benchmark": bench,
                "position": position(s, v) if (s is not None and v is not None) else "",
                "n": "" if r.get("n") is None else f"{r['n']:,}",
                "note": r.get("note") or "",
            }
        )
    return out


def kpi_table(
    result_df, previous_df=None, ids: Iterable[str] | None = None, fmt: str = "html"
) -> Html | Markdown:
    """A KPI table of a :func:`csm_lib.compute` result (and its previous period).

    ``fmt="html"`` (default; arrows coloured blue/vermillion for good/bad) or
    ``"markdown"``.
    """
    rows = kpi_rows(result_df, previous_df, ids)
    has_prev = previous_df is not None
    period = prev_period = ""
    if result_df is not None and result_df.height:
        period = result_df["period"][0]
    if has_prev and previous_df.height:
        prev_period = previous_df["period"][0]
    if fmt == "markdown":
        head = ["metric", f"value {period}".strip()]
        if has_prev:
            head += [f"{prev_period}".strip() or "previous", "change"]
        head += ["benchmark", "n", "note"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["metric"], r["value"]]
            if has_prev:
                cells += [r["previous"], r["change"]]
            cells += [r["benchmark"], r["n"], r["note"]]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return Markdown("\n".join(lines))
    colours = {"good": "#0072B2", "bad": "#D55E00", "": "#555555"}
    th = "padding:4px 10px;text-align:left;border-bottom:1px solid #999"
    td = "padding:3px 10px;border-bottom:1px solid #e6e6e6"
    head = ["Metric", f"Value {period}".strip()]
    if has_prev:
        head += [prev_period or "Previous", "Change"]
    head += ["Benchmark", "n", "Note"]
    out = ['<table class="csm-kpi" style="border-collapse:collapse;font-size:13px">', "<tr>"]
    out += [f'<th style="{th}">{html.escape(h)}</th>' for h in head]
    out.append("</tr>")
    for r in rows:
        out.append(f'<tr data-metric="{html.escape(r["id"])}">')
        out.append(f'<td style="{td}">{html.escape(r["metric"])}</td>')
        out.append(
            f'<td style="{td};text-align:right;font-weight:600">{html.escape(r["value"])}</td>'
        )
        if has_prev:
            arrow = (
                "▲ "
                if r["change"].startswith("up")
                else "▼ "
                if r["change"].startswith("down")
                else ""
            )
            out.append(f'<td style="{td};text-align:right">{html.escape(r["previous"])}</td>')
            out.append(
                f'<td style="{td};color:{colours[r["judge"]]}">{arrow}{html.escape(r["change"])}</td>'
            )
        bench = r["benchmark"]
        if bench and r["position"]:
            bench = f"{bench} ({r['position']})"
        out.append(f'<td style="{td}">{html.escape(bench)}</td>')
        out.append(f'<td style="{td};text-align:right">{html.escape(r["n"])}</td>')
        out.append(f'<td style="{td};color:#555">{html.escape(r["note"])}</td>')
        out.append("</tr>")
    out.append("</table>")
    return Html("".join(out))


def next_steps(
    result_df,
    previous_df=None,
    ids: Iterable[str] | None = None,
    min_points: float = 1.0,
    min_pct: float = 5.0,
    limit: int = 8,
) -> Markdown:
    """What to do next: the metrics on the wrong side of their benchmark, then those
    that moved the wrong way by at least ``min_points`` points (fractions, scores) or
    ``min_pct`` percent (others), each with its spec's ``action``; at most ``limit``.

    >>> print(next_steps(None))
    Nothing is outside its benchmark or moving the wrong way this period: keep the current plays running.
    """
    bullets: list[tuple[int, str]] = []
    for r in kpi_rows(result_df, previous_df, ids) if result_df is not None else []:
        s = SPECS.get(r["id"])
        if s is None or not s.action or s.direction == "neutral":
            continue
        bad_side = "below" if s.direction == "higher" else "above"
        reasons = []
        if r["position"] == bad_side:
            reasons.append(f"{r['position']} the benchmark ({r['benchmark']})")
        material = False
        if r["judge"] == "bad":
            cur, prev = _rows(result_df)[r["id"]], _rows(previous_df).get(r["id"], {})
            _, d = change_text(s.unit, _num(cur["value"]), _num(prev.get("value")))
            material = abs(d) >= (min_points if s.unit in POINT_UNITS else min_pct)
        if material:
            reasons.append(f"{r['change']} on the previous period")
        if reasons:
            rank = 0 if r["position"] == bad_side else 1
            bullets.append(
                (rank, f"- **{s.label}** is {r['value']}, {' and '.join(reasons)}: {s.action}")
            )
    if not bullets:
        return Markdown(
            "Nothing is outside its benchmark or moving the wrong way this period: "
            "keep the current plays running."
        )
    ranked = [b for _, b in sorted(bullets, key=lambda x: x[0])]
    more = len(ranked) - limit
    text = "\n".join(ranked[:limit])
    if more > 0:
        text += f"\n- ... and {more} more (see the KPI table)."
    return Markdown(text)


def read_result(result_df, previous_df=None, ids: Iterable[str] | None = None) -> Markdown:
    """:func:`interpret` every metric of a result (one bullet per metric)."""
    cur, prev = _rows(result_df), _rows(previous_df)
    lines = []
    for mid in ids or list(cur):
        if mid not in cur:
            continue
        r = cur[mid]
        pr = prev.get(mid)
        lines.append(
            "- "
            + interpret(
                mid,
                r,
                pr,
                period_label=r["period"],
                previous_label=pr["period"] if pr else "the previous period",
            )
        )
    return Markdown("\n".join(lines))


__all__ = [
    "Html",
    "Markdown",
    "change_text",
    "describe",
    "glossary",
    "interpret",
    "kpi_rows",
    "kpi_table",
    "next_steps",
    "position",
    "read_result",
]
