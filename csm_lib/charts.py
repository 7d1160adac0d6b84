"""Chart builders on small polars frames, with one theme.

Every builder takes an already aggregated polars frame (a few hundred rows at
most), puts a tooltip on every mark and formats axes by the metric's unit
(:func:`csm_lib.registry.vega_format`). The ``csm`` theme (registered and
enabled on import) uses the Okabe-Ito palette, which stays distinguishable
for the common forms of colour blindness; gains are bluish green, losses
vermillion, totals blue.

>>> import polars as pl
>>> c = trend(pl.DataFrame({"period": ["2025-Q3", "2025-Q4"], "value": [0.98, 1.04]}),
...           "period", "value", "fraction", benchmark=(1.0, None), title="NRR")
>>> c.to_dict()["layer"][1]["encoding"]["y"]["axis"]["format"]
'.1%'
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from csm_lib.registry import vega_format

# Okabe & Ito (2008) colour-blind-safe palette.
BLUE, ORANGE, GREEN, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
PURPLE, SKY, YELLOW, GREY = "#CC79A7", "#56B4E9", "#F0E442", "#7F7F7F"
PALETTE = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, GREY]
GAIN, LOSS, TOTAL = GREEN, VERMILLION, BLUE
BAND_COLOURS = {"red": VERMILLION, "yellow": ORANGE, "green": GREEN}
WIDTH, HEIGHT = 560, 260
THEME = "csm"


@alt.theme.register(THEME, enable=True)
def csm_theme() -> alt.theme.ThemeConfig:
    """The workbook's theme: readable fonts, light grid, colour-blind-safe palette."""
    font = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
    return alt.theme.ThemeConfig(
        {
            "config": {
                "view": {
                    "continuousWidth": WIDTH,
                    "continuousHeight": HEIGHT,
                    "discreteWidth": WIDTH,
                    "discreteHeight": HEIGHT,
                    "stroke": None,
                },
                "axisX": {"labelAngle": 0, "labelOverlap": True},
                "font": font,
                "title": {
                    "fontSize": 15,
                    "fontWeight": 600,
                    "anchor": "start",
                    "subtitleFontSize": 12,
                    "subtitleColor": "#555555",
                    "offset": 10,
                },
                "axis": {
                    "labelFontSize": 12,
                    "titleFontSize": 12,
                    "titleFontWeight": 500,
                    "gridColor": "#e6e6e6",
                    "domainColor": "#888888",
                    "tickColor": "#888888",
                },
                "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom"},
                "range": {"category": PALETTE},
                "line": {"strokeWidth": 2.5, "color": BLUE},
                "point": {"filled": True, "size": 55, "color": BLUE},
                "bar": {"color": BLUE},
                "rect": {"color": BLUE},
                "area": {"color": BLUE},
            }
        }
    )


def _fmt(unit: str | None) -> str:
    return vega_format(unit) if unit else ",.2f"


def _title(title: str | None, subtitle: str | None = None) -> alt.TitleParams | str:
    if subtitle:
        return alt.TitleParams(title or "", subtitle=subtitle)
    return title or ""


def _props(chart, **kw):
    """``chart.properties(**kw)`` without validating each property on its own: the
    whole spec is validated once, when the chart is rendered (``to_dict``)."""
    out = chart.copy(deep=False)
    for key, val in kw.items():
        setattr(out, key, val)
    return out


def _fast(fn):
    """Build a chart without altair's validation of every part at creation
    (``debug_mode(False)``); the full spec is still validated when it is rendered.
    Same chart, a fraction of the time (the live sections re-draw on every change)."""
    import functools

    from altair.utils.schemapi import debug_mode

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with debug_mode(False):
            return fn(*args, **kwargs)

    return wrapper


def _require(df: pl.DataFrame, cols: Sequence[str], who: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"{who}: the frame lacks column(s) {missing}; it has {df.columns}. "
            "Pass the column names as arguments or rename them."
        )


def _axis_type(df: pl.DataFrame, col: str) -> str:
    dt = df.schema[col]
    if dt.is_temporal():
        return "T"
    if dt.is_numeric():
        return "Q"
    return "O"


# --------------------------------------------------------------------- revenue


MOVEMENTS = (
    ("new_mrr", "New", GAIN, 1),
    ("reactivation_mrr", "Reactivation", SKY, 1),
    ("expansion_mrr", "Expansion", BLUE, 1),
    ("contraction_mrr", "Contraction", ORANGE, -1),
    ("churn_mrr", "Churn", VERMILLION, -1),
)


@_fast
def mrr_waterfall(df: pl.DataFrame, title: str = "MRR movements by month") -> alt.LayerChart:
    """Monthly MRR movements: gains stacked up, losses down, net change as a line.

    ``df`` is :func:`csm_lib.revenue.waterfall` output (month, mrr_start, new_mrr,
    reactivation_mrr, expansion_mrr, contraction_mrr, churn_mrr, mrr_end).

    >>> import polars as pl
    >>> df = pl.DataFrame({"month": ["2025-01"], "mrr_start": [100.0], "new_mrr": [10.0],
    ...     "reactivation_mrr": [0.0], "expansion_mrr": [5.0], "contraction_mrr": [2.0],
    ...     "churn_mrr": [3.0], "mrr_end": [110.0]})
    >>> len(mrr_waterfall(df).to_dict()["layer"])
    2
    """
    _require(df, ["month", "mrr_start", "mrr_end"] + [m[0] for m in MOVEMENTS], "mrr_waterfall")
    long = pl.concat(
        [
            df.select(
                pl.col("month").cast(pl.String),
                pl.lit(label).alias("movement"),
                (pl.col(col).cast(pl.Float64) * sign).alias("amount"),
                pl.lit(i).alias("order"),
            )
            for i, (col, label, _, sign) in enumerate(MOVEMENTS)
        ]
    )
    net = df.select(
        pl.col("month").cast(pl.String),
        "mrr_start",
        "mrr_end",
        net_change=pl.col("mrr_end") - pl.col("mrr_start"),
    )
    money = _fmt("money")
    colour = alt.Color(
        "movement:N",
        title="Movement",
        scale=alt.Scale(domain=[m[1] for m in MOVEMENTS], range=[m[2] for m in MOVEMENTS]),
        sort=[m[1] for m in MOVEMENTS],
    )
    bars = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("month:O", title="Month"),
            y=alt.Y("sum(amount):Q", title="MRR change", axis=alt.Axis(format=money)),
            color=colour,
            order=alt.Order("order:Q"),
            tooltip=[
                alt.Tooltip("month:O", title="Month"),
                alt.Tooltip("movement:N", title="Movement"),
                alt.Tooltip("sum(amount):Q", title="Amount", format=money),
            ],
        )
    )
    line = (
        alt.Chart(net)
        .mark_line(point=True, color="#222222", strokeWidth=2)
        .encode(
            x="month:O",
            y=alt.Y("net_change:Q"),
            tooltip=[
                alt.Tooltip("month:O", title="Month"),
                alt.Tooltip("mrr_start:Q", title="MRR at start", format=money),
                alt.Tooltip("net_change:Q", title="Net change", format=money),
                alt.Tooltip("mrr_end:Q", title="MRR at end", format=money),
            ],
        )
    )
    return _props(
        alt.layer(bars, line),
        title=_title(title, "Bars: movements (losses below zero). Line: net change in MRR."),
    )


BRIDGE_STEPS = (
    ("mrr_start", "Start", 0),
    ("new_mrr", "+ New", 1),
    ("reactivation_mrr", "+ Reactivation", 1),
    ("expansion_mrr", "+ Expansion", 1),
    ("contraction_mrr", "− Contraction", -1),
    ("churn_mrr", "− Churn", -1),
    ("mrr_end", "End", 0),
)


def bridge_frame(b: dict, floor: float = 0.0) -> pl.DataFrame:
    """The bars of an MRR bridge: step, amount (signed), base and top of each bar.

    Totals (start, end) are drawn from ``floor`` (0 by default).

    >>> f = bridge_frame({"mrr_start": 100, "new_mrr": 10, "reactivation_mrr": 0,
    ...     "expansion_mrr": 5, "contraction_mrr": 2, "churn_mrr": 3, "mrr_end": 110})
    >>> f["top"].to_list()
    [100.0, 110.0, 110.0, 115.0, 113.0, 110.0, 110.0]
    """
    rows, running = [], 0.0
    for i, (key, label, sign) in enumerate(BRIDGE_STEPS):
        v = float(b.get(key) or 0.0)
        if sign == 0:
            base, top, amount, kind = float(floor), v, v, "total"
            running = v
        else:
            amount = sign * v
            base, top = running, running + amount
            running = top
            kind = "gain" if sign > 0 else "loss"
        rows.append(
            {"order": i, "step": label, "kind": kind, "amount": amount, "base": base,
             "top": top, "running": running}
        )  # fmt: skip
    return pl.DataFrame(rows)


def _nice_floor(v: float) -> float:
    if v <= 0:
        return 0.0
    step = 10 ** max(0, len(str(int(v))) - 2)
    return float(int(v // step) * step)


@_fast
def bridge(
    b: dict, title: str = "MRR bridge", subtitle: str | None = None, zero: bool = False
) -> alt.LayerChart:
    """A waterfall of one period's bridge: start, + new, + reactivation, + expansion,
    − contraction, − churn, end. ``b`` is :func:`csm_lib.revenue.bridge` output.

    >>> c = bridge({"mrr_start": 100, "new_mrr": 10, "reactivation_mrr": 0,
    ...     "expansion_mrr": 5, "contraction_mrr": 2, "churn_mrr": 3, "mrr_end": 110})
    >>> c.to_dict()["layer"][0]["mark"]["type"]
    'bar'
    """
    levels = bridge_frame(b)
    lo = float(
        min(levels["top"].min(), levels["base"].filter(levels["kind"] != "total").min() or 0)
    )
    hi = float(levels["top"].max())
    floor = 0.0
    if zero is False and hi > 0 and lo > 0 and (hi - lo) < 0.25 * hi:
        floor = _nice_floor(max(0.0, lo - 1.5 * (hi - lo)))
    f = bridge_frame(b, floor)
    money = _fmt("money")
    if floor > 0:
        subtitle = subtitle or "Start + gains − losses = end (the axis does not start at zero)"
    steps = [s[1] for s in BRIDGE_STEPS]
    base = alt.Chart(f).encode(
        x=alt.X("step:N", sort=steps, title=None, axis=alt.Axis(labelAngle=0)),
        tooltip=[
            alt.Tooltip("step:N", title="Step"),
            alt.Tooltip("amount:Q", title="Amount", format=money),
            alt.Tooltip("running:Q", title="Running MRR", format=money),
        ],
    )
    bars = base.mark_bar(size=42).encode(
        y=alt.Y(
            "base:Q", title="MRR", axis=alt.Axis(format=money), scale=alt.Scale(zero=floor == 0)
        ),
        y2="top:Q",
        color=alt.Color(
            "kind:N",
            title=None,
            scale=alt.Scale(domain=["total", "gain", "loss"], range=[TOTAL, GAIN, LOSS]),
            legend=None,
        ),
    )
    labels = base.mark_text(dy=-7, fontSize=11, color="#333333").encode(
        y=alt.Y("label_y:Q"),
        text=alt.Text("amount:Q", format=money),
    )
    labels = labels.transform_calculate(label_y="max(datum.top, datum.base)")
    return _props(
        alt.layer(bars, labels),
        title=_title(title, subtitle or "Start + gains − losses = end (to the cent)"),
    )


# ----------------------------------------------------------------------- lines


@_fast
def trend(
    df: pl.DataFrame,
    x: str,
    y: str,
    unit: str | None = None,
    benchmark: tuple[float | None, float | None] | None = None,
    title: str | None = None,
    color: str | None = None,
    y_title: str | None = None,
    subtitle: str | None = None,
) -> alt.LayerChart:
    """A line (with points) of ``y`` over ``x`` and a shaded benchmark band.

    ``benchmark=(lo, hi)``: either end may be None (a floor or a ceiling); the
    band is drawn between the given ends (or a rule at the single end).
    """
    _require(df, [x, y] + ([color] if color else []), "trend")
    fmt = _fmt(unit)
    xt = _axis_type(df, x)
    tooltip = [alt.Tooltip(f"{x}:{xt}", title=x.replace("_", " ").capitalize())]
    if color:
        tooltip.append(alt.Tooltip(f"{color}:N"))
    tooltip.append(alt.Tooltip(f"{y}:Q", title=y_title or title or y, format=fmt))
    enc = {
        "x": alt.X(f"{x}:{xt}", title=x.replace("_", " ").capitalize(), sort=None),
        "y": alt.Y(
            f"{y}:Q",
            title=y_title or title or y,
            axis=alt.Axis(format=fmt),
            scale=alt.Scale(zero=False),
        ),  # fmt: skip
        "tooltip": tooltip,
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color.replace("_", " ").capitalize())
    line = alt.Chart(df).mark_line(point=True).encode(**enc)
    layers: list = []
    if benchmark is not None and any(v is not None for v in benchmark):
        lo, hi = benchmark
        label = _band_label(lo, hi, unit)
        if lo is not None and hi is not None:
            band = (
                alt.Chart(pl.DataFrame({"lo": [float(lo)], "hi": [float(hi)], "band": [label]}))
                .mark_rect(opacity=0.15, color=GREEN)
                .encode(y="lo:Q", y2="hi:Q", tooltip=[alt.Tooltip("band:N", title="Benchmark")])
            )
        else:
            v = lo if lo is not None else hi
            band = (
                alt.Chart(pl.DataFrame({"v": [float(v)], "band": [label]}))
                .mark_rule(strokeDash=[6, 4], color=GREEN, strokeWidth=2)
                .encode(y="v:Q", tooltip=[alt.Tooltip("band:N", title="Benchmark")])
            )
        layers.append(band)
    layers.append(line)
    sub = subtitle
    if sub is None and benchmark is not None and any(v is not None for v in benchmark):
        sub = "Shaded / dashed: benchmark " + _band_label(*benchmark, unit)
    return _props(alt.layer(*layers), title=_title(title, sub))


def _num(v: float, unit: str | None) -> str:
    from csm_lib.registry import fmt_value

    return fmt_value(v, unit or "ratio")


def _band_label(lo, hi, unit) -> str:
    if lo is not None and hi is not None:
        return f"{_num(lo, unit)} to {_num(hi, unit)}"
    if lo is not None:
        return f"at least {_num(lo, unit)}"
    return f"at most {_num(hi, unit)}"


@_fast
def survival(
    df: pl.DataFrame,
    time: str = "time",
    group: str | None = None,
    title: str = "Customer survival (Kaplan–Meier)",
    time_title: str = "Months since first payment",
) -> alt.LayerChart:
    """A Kaplan–Meier step curve with its 95% band (columns time, survival, ci_lower, ci_upper).

    >>> import polars as pl
    >>> df = pl.DataFrame({"time": [0, 1, 2], "survival": [1.0, 0.9, 0.8],
    ...     "ci_lower": [1.0, 0.8, 0.7], "ci_upper": [1.0, 0.95, 0.9]})
    >>> survival(df).to_dict()["layer"][1]["mark"]["interpolate"]
    'step-after'
    """
    _require(df, [time, "survival", "ci_lower", "ci_upper"], "survival")
    pct = _fmt("fraction")
    tooltip = [
        alt.Tooltip(f"{time}:Q", title=time_title, format=",.1f"),
        alt.Tooltip("survival:Q", title="Still customers", format=pct),
        alt.Tooltip("ci_lower:Q", title="95% CI low", format=pct),
        alt.Tooltip("ci_upper:Q", title="95% CI high", format=pct),
    ]
    if group:
        tooltip.insert(0, alt.Tooltip(f"{group}:N"))
    base = alt.Chart(df).encode(x=alt.X(f"{time}:Q", title=time_title), tooltip=tooltip)
    colour = {"color": alt.Color(f"{group}:N", title=group)} if group else {}
    band = base.mark_area(interpolate="step-after", opacity=0.2).encode(
        y=alt.Y("ci_lower:Q", title="Share still customers", axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1])),
        y2="ci_upper:Q",
        **colour,
    )  # fmt: skip
    line = base.mark_line(interpolate="step-after").encode(y="survival:Q", **colour)
    return _props(
        alt.layer(band, line),
        title=_title(title, "Line: share of customers still paying. Band: 95% confidence."),
    )


# -------------------------------------------------------------------- heatmaps


@_fast
def cohort_heatmap(
    df: pl.DataFrame,
    cohort: str = "cohort",
    age: str = "age",
    value: str = "retention",
    unit: str = "fraction",
    size: str | None = None,
    title: str = "Cohort retention",
    age_title: str = "Months since start",
) -> alt.LayerChart:
    """A cohort triangle: one row per cohort, one column per age, colour = value.

    >>> import polars as pl
    >>> df = pl.DataFrame({"cohort": ["2025-01", "2025-01"], "age": [0, 1],
    ...                    "retention": [1.0, 0.9]})
    >>> cohort_heatmap(df).to_dict()["layer"][0]["mark"]["type"]
    'rect'
    """
    _require(df, [cohort, age, value] + ([size] if size else []), "cohort_heatmap")
    fmt = _fmt(unit)
    d = df.with_columns(pl.col(cohort).cast(pl.String))
    tooltip = [
        alt.Tooltip(f"{cohort}:O", title="Cohort"),
        alt.Tooltip(f"{age}:O", title=age_title),
        alt.Tooltip(f"{value}:Q", title=value.replace("_", " ").capitalize(), format=fmt),
    ]
    if size:
        tooltip.append(alt.Tooltip(f"{size}:Q", title="Cohort size", format=",d"))
    base = alt.Chart(d).encode(
        x=alt.X(f"{age}:O", title=age_title, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{cohort}:O", title="Cohort"),
        tooltip=tooltip,
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            f"{value}:Q",
            title=value.replace("_", " ").capitalize(),
            scale=alt.Scale(scheme="viridis"),
            legend=alt.Legend(format=fmt, orient="right"),
        )
    )
    n_cols = d[age].n_unique() if d.height else 0
    vals = d[value].drop_nulls()
    mid = (float(vals.min()) + float(vals.max())) / 2 if vals.len() else 0.5
    layers = [rect]
    if n_cols and n_cols <= 15:
        text = base.mark_text(fontSize=9).encode(
            text=alt.Text(f"{value}:Q", format=".0%" if unit == "fraction" else fmt),
            color=alt.condition(f"datum.{value} > {mid}", alt.value("black"), alt.value("white")),
        )
        layers.append(text)
    return _props(
        alt.layer(*layers),
        title=_title(title),
        width=WIDTH,
        height=max(120, 18 * d[cohort].n_unique()),
    )


# ----------------------------------------------------------------------- bars


@_fast
def funnel(
    df: pl.DataFrame, stage: str = "stage", count: str = "count", title: str = "Funnel"
) -> alt.LayerChart:
    """Horizontal bars, one per stage in the frame's order, with conversion shares.

    >>> import polars as pl
    >>> f = funnel(pl.DataFrame({"stage": ["Leads", "Trials", "Customers"],
    ...                          "count": [100, 40, 10]}))
    >>> f.to_dict()["layer"][0]["mark"]["type"]
    'bar'
    """
    _require(df, [stage, count], "funnel")
    first = df[count][0] if df.height else 0
    d = df.select(
        pl.col(stage).cast(pl.String).alias("stage"),
        pl.col(count).cast(pl.Float64).alias("count"),
    ).with_columns(
        of_first=(pl.col("count") / first) if first else pl.lit(None, pl.Float64),
        of_previous=pl.col("count") / pl.col("count").shift(1),
    )
    order = d["stage"].to_list()
    base = alt.Chart(d).encode(
        y=alt.Y("stage:N", sort=order, title=None),
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("count:Q", title="Count", format=",.0f"),
            alt.Tooltip("of_first:Q", title="Share of first stage", format=".1%"),
            alt.Tooltip("of_previous:Q", title="Share of previous stage", format=".1%"),
        ],
    )
    bars = base.mark_bar().encode(
        x=alt.X("count:Q", title=count.replace("_", " ").capitalize(), axis=alt.Axis(format=",.0f"))
    )
    text = base.mark_text(align="left", dx=4, fontSize=11).encode(
        x="count:Q", text=alt.Text("of_first:Q", format=".1%")
    )
    return _props(
        alt.layer(bars, text),
        title=_title(title, "Labels: share of the first stage"),
        height=max(80, 40 * d.height),
    )


@_fast
def bar(
    df: pl.DataFrame,
    x: str,
    y: str,
    unit: str | None = None,
    color: str | None = None,
    title: str | None = None,
    horizontal: bool = False,
    sort: Sequence[str] | str | None = None,
    tooltip: Sequence[str] | None = None,
    benchmark: tuple[float | None, float | None] | None = None,
    colors: dict[str, str] | None = None,
    grouped: bool = False,
    y_title: str | None = None,
) -> alt.Chart | alt.LayerChart:
    """Bars of ``y`` (a value, formatted by ``unit``) per category ``x``.

    ``color`` splits the bars (stacked, or side by side with ``grouped=True``);
    ``colors`` maps its values to colours (red / yellow / green bands get the
    band colours automatically).

    >>> import polars as pl
    >>> bar(pl.DataFrame({"segment": ["SMB", "Ent"], "nrr": [0.95, 1.1]}), "segment", "nrr",
    ...     unit="fraction").to_dict()["encoding"]["y"]["axis"]["format"]
    '.1%'
    """
    _require(df, [x, y] + ([color] if color else []) + list(tooltip or []), "bar")
    fmt = _fmt(unit)
    tips = [alt.Tooltip(f"{x}:N"), alt.Tooltip(f"{y}:Q", format=fmt)]
    if color and color not in (x,):
        tips.append(alt.Tooltip(f"{color}:N"))
    for t in tooltip or []:
        if t not in (x, y, color):
            kind = _axis_type(df, t).replace("O", "N")
            fmt_t = ".1%" if t.endswith("share") or t.endswith("rate") else None
            tips.append(alt.Tooltip(f"{t}:{kind}", **({"format": fmt_t} if fmt_t else {})))
    x_title = x.replace("_", " ").capitalize()
    y_title = y_title or y.replace("_", " ").capitalize()
    title = title or f"{y_title} by {x_title.lower()}"
    value_axis = alt.Axis(format=fmt)
    enc: dict = {"tooltip": tips}
    if horizontal:
        enc["y"] = alt.Y(f"{x}:N", sort=sort, title=None)
        enc["x"] = alt.X(f"{y}:Q", title=y_title, axis=value_axis)
    else:
        enc["x"] = alt.X(f"{x}:N", sort=sort, title=x_title, axis=alt.Axis(labelAngle=0))
        enc["y"] = alt.Y(f"{y}:Q", title=y_title, axis=value_axis)
    if color:
        values = [v for v in df[color].cast(pl.String).unique(maintain_order=True).to_list() if v]
        if colors is None and values and set(values) <= set(BAND_COLOURS):
            colors = {b: BAND_COLOURS[b] for b in ("red", "yellow", "green") if b in values}
        scale = (
            alt.Scale(domain=list(colors), range=list(colors.values())) if colors else alt.Scale()
        )
        enc["color"] = alt.Color(
            f"{color}:N", title=color.replace("_", " ").capitalize(), scale=scale,
            sort=list(colors) if colors else None,
        )  # fmt: skip
        if grouped:
            if horizontal:
                enc["yOffset"] = alt.YOffset(f"{color}:N")
            else:
                enc["xOffset"] = alt.XOffset(f"{color}:N")
    chart = alt.Chart(df).mark_bar().encode(**enc)
    if benchmark is not None and any(v is not None for v in benchmark):
        axis = "x" if horizontal else "y"
        rules = [
            {"v": float(v), "band": f"benchmark {_band_label(*benchmark, unit)}"}
            for v in benchmark if v is not None
        ]  # fmt: skip
        rule = (
            alt.Chart(pl.DataFrame(rules))
            .mark_rule(strokeDash=[6, 4], color=GREEN, strokeWidth=2)
            .encode(**{axis: "v:Q"}, tooltip=[alt.Tooltip("band:N", title="Benchmark")])
        )
        return _props(alt.layer(chart, rule), title=_title(title))
    return _props(chart, title=_title(title))


@_fast
def distribution(
    df: pl.DataFrame,
    value: str,
    band: str | None = None,
    unit: str | None = None,
    bins: int = 20,
    title: str | None = None,
    domain: tuple[float, float] | None = None,
) -> alt.Chart:
    """A histogram of ``value`` (binned in polars first), coloured by ``band``.

    Red / yellow / green bands get the colour-blind-safe vermillion / orange /
    green; other bands the categorical palette.

    >>> import polars as pl
    >>> d = histogram_frame(pl.DataFrame({"s": [1.0, 2.0, 9.0]}), "s", bins=2, domain=(0, 10))
    >>> d["count"].to_list()
    [2, 1]
    """
    _require(df, [value] + ([band] if band else []), "distribution")
    h = histogram_frame(df, value, band, bins, domain)
    fmt = _fmt(unit)
    enc = {
        "x": alt.X("bin_start:Q", bin="binned", title=title or value.replace("_", " ").capitalize(),
                   axis=alt.Axis(format=fmt)),
        "x2": "bin_end:Q",
        "y": alt.Y("sum(count):Q", title="Accounts", stack=True),
        "tooltip": [
            alt.Tooltip("bin_start:Q", title="From", format=fmt),
            alt.Tooltip("bin_end:Q", title="To", format=fmt),
            alt.Tooltip("sum(count):Q", title="Count", format=",d"),
        ],
    }  # fmt: skip
    if band:
        values = [v for v in h["band"].unique(maintain_order=True).to_list() if v is not None]
        if set(values) <= set(BAND_COLOURS):
            dom = [b for b in ("red", "yellow", "green") if b in values]
            scale = alt.Scale(domain=dom, range=[BAND_COLOURS[b] for b in dom])
        else:
            scale = alt.Scale(range=PALETTE)
        enc["color"] = alt.Color("band:N", title=band.replace("_", " ").capitalize(), scale=scale)
        enc["tooltip"].insert(0, alt.Tooltip("band:N", title=band.replace("_", " ").capitalize()))
    return _props(
        alt.Chart(h).mark_bar(binSpacing=1).encode(**enc),
        title=_title(f"Distribution of {(title or value.replace('_', ' ')).lower()}"),
    )


def histogram_frame(
    df: pl.DataFrame,
    value: str,
    band: str | None = None,
    bins: int = 20,
    domain: tuple[float, float] | None = None,
) -> pl.DataFrame:
    """Counts per equal-width bin (and band): bin_start, bin_end, band, count."""
    v = df.filter(pl.col(value).is_not_null() & pl.col(value).is_finite())
    if domain is None:
        if v.height == 0:
            domain = (0.0, 1.0)
        else:
            lo, hi = float(v[value].min()), float(v[value].max())
            domain = (lo, hi if hi > lo else lo + 1.0)
    lo, hi = float(domain[0]), float(domain[1])
    width = (hi - lo) / bins
    idx = ((pl.col(value) - lo) / width).floor().clip(0, bins - 1).cast(pl.Int64)
    keys = ["i"] + (["band"] if band else [])
    out = (
        v.with_columns(i=idx, **({"band": pl.col(band).cast(pl.String)} if band else {}))
        .group_by(keys)
        .agg(count=pl.len().cast(pl.Int64))
        .with_columns(bin_start=lo + pl.col("i") * width, bin_end=lo + (pl.col("i") + 1) * width)
        .sort(keys)
    )
    cols = ["bin_start", "bin_end"] + (["band"] if band else []) + ["count"]
    return out.select(cols)


@_fast
def scatter(
    df: pl.DataFrame,
    x: str,
    y: str,
    color: str | None = None,
    tooltip: Sequence[str] | None = None,
    x_unit: str | None = None,
    y_unit: str | None = None,
    title: str | None = None,
) -> alt.Chart:
    """Points of ``y`` against ``x`` (e.g. red flags: churned vs retained accounts).

    >>> import polars as pl
    >>> s = scatter(pl.DataFrame({"a": [1, 2], "b": [3, 4], "churned": ["yes", "no"]}),
    ...             "a", "b", color="churned")
    >>> s.to_dict()["mark"]["type"]
    'point'
    """
    extra = list(tooltip or [])
    _require(df, [x, y] + ([color] if color else []) + extra, "scatter")
    tips = [
        alt.Tooltip(f"{c}:{_axis_type(df, c).replace('O', 'N')}")
        for c in extra
        if c not in (x, y, color)
    ]
    if color:
        tips.insert(0, alt.Tooltip(f"{color}:N"))
    tips += [alt.Tooltip(f"{x}:Q", format=_fmt(x_unit)), alt.Tooltip(f"{y}:Q", format=_fmt(y_unit))]
    enc = {
        "x": alt.X(f"{x}:Q", title=x.replace("_", " ").capitalize(), axis=alt.Axis(format=_fmt(x_unit))),
        "y": alt.Y(f"{y}:Q", title=y.replace("_", " ").capitalize(), axis=alt.Axis(format=_fmt(y_unit))),
        "tooltip": tips,
    }  # fmt: skip
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color.replace("_", " ").capitalize())
        enc["shape"] = alt.Shape(f"{color}:N", title=color.replace("_", " ").capitalize())
    return _props(
        alt.Chart(df).mark_point(filled=True, opacity=0.7, size=50).encode(**enc),
        title=_title(title or f"{y.replace('_', ' ')} vs {x.replace('_', ' ')}".capitalize()),
    )  # fmt: skip


@_fast
def metric_trend(history: pl.DataFrame, spec, x: str = "period") -> alt.LayerChart:
    """:func:`trend` of one metric from a history frame (period, value), labelled from its spec."""
    return trend(
        history.filter(pl.col("value").is_not_null()),
        x,
        "value",
        unit=spec.unit,
        benchmark=spec.good_range,
        title=spec.label,
        y_title=spec.label,
    )


__all__ = [
    "PALETTE",
    "THEME",
    "bar",
    "bridge",
    "bridge_frame",
    "cohort_heatmap",
    "distribution",
    "funnel",
    "histogram_frame",
    "metric_trend",
    "mrr_waterfall",
    "scatter",
    "survival",
    "trend",
]
