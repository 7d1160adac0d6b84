"""Period and segment controls, and live sections that re-render in place.

The pattern (TOOLING_NOTES.md) works live in JupyterLab and headless under
papermill:

1. a ``parameters`` cell sets ``period`` and ``segment`` (strings);
2. :class:`ControlBar` builds two ``Dropdown`` widgets initialised from those
   values (an invalid value raises a clear error listing the options);
3. :class:`LiveReport` shows each registered section with
   ``display(obj, display_id=True)``; when a dropdown changes, every section's
   render function runs again and its handles are updated in place.

Under papermill no callback fires: the sections are ordinary outputs of the
parameter values, so HTML exports and nbval see real content.

>>> bar = ControlBar(["2025-Q4", "2025-Q3"], ["All", "segment=SMB"], "", "SMB")
>>> bar.period, bar.segment
('2025-Q4', 'segment=SMB')
>>> ControlBar(["2025-Q4"], ["All"], "1999-Q1", "All")
Traceback (most recent call last):
...
ValueError: period '1999-Q1' is not one of the available periods: 2025-Q4
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from csm_lib.periods import Period, PeriodError, Segment, latest_full_quarter, period_options

SEGMENT_COLUMNS = ("segment", "region")


# ------------------------------------------------------------------ options


def segment_options(accounts: pl.DataFrame, columns: Sequence[str] = SEGMENT_COLUMNS) -> list[str]:
    """``All`` plus ``col=value`` for every value of the given accounts columns.

    >>> acc = pl.DataFrame({"segment": ["SMB", "Enterprise", "SMB"], "region": ["EMEA", None, "NA"]})
    >>> segment_options(acc)
    ['All', 'segment=Enterprise', 'segment=SMB', 'region=EMEA', 'region=NA']
    """
    out = ["All"]
    for col in columns:
        if col in accounts.columns:
            vals = accounts.get_column(col).drop_nulls().cast(pl.String).unique().sort()
            out += [f"{col}={v}" for v in vals.to_list()]
    return out


def workbook_periods(wb) -> list[str]:
    """Period choices of a workbook: full quarters, months, years from the first paid day."""
    subs = wb.facts.subs
    first = subs["start_date"].min() if subs.height else wb.as_of
    return period_options(first, wb.as_of)


def default_period(wb_or_as_of) -> str:
    """The latest full quarter of a workbook (or an as-of date)."""
    as_of = getattr(wb_or_as_of, "as_of", wb_or_as_of)
    return latest_full_quarter(as_of).label


def resolve_period(value: str | None, options: Sequence[str], default: str) -> str:
    """Validate a period parameter ('' means ``default``); a parseable period
    that is not listed (e.g. an explicit date range) is accepted as is."""
    v = (value or "").strip()
    if not v:
        return default
    if v in options:
        return v
    try:
        p = Period.parse(v)
    except PeriodError as exc:
        raise ValueError(
            f"period {v!r} is not one of the available periods: {', '.join(options)} ({exc})"
        ) from None
    if p.label in options:
        return p.label
    if p.kind == "range" and options:
        return p.label
    raise ValueError(f"period {v!r} is not one of the available periods: {', '.join(options)}")


def resolve_segment(
    value: str | None, options: Sequence[str], accounts: pl.DataFrame | None = None
) -> str:
    """Validate a segment parameter; a bare value (``SMB``) maps to ``segment=SMB``.

    With ``accounts``, any filter on its columns is accepted too (``segment=SMB,region=EMEA``,
    ``segment=SMB|Mid-Market``, ``industry=Retail``) when every value exists.

    >>> acc = pl.DataFrame({"segment": ["SMB", "Enterprise"], "region": ["EMEA", "NA"]})
    >>> resolve_segment("segment=SMB,region=EMEA", ["All"], acc)
    'segment=SMB,region=EMEA'
    >>> resolve_segment("region=Mars", ["All"], acc)
    Traceback (most recent call last):
    ...
    ValueError: segment 'region=Mars': no account has region 'Mars'; values: EMEA, NA
    """
    v = (value or "All").strip()
    if v.lower() in ("all", "", "*"):
        return "All"
    if v in options:
        return v
    bare = [o for o in options if "=" in o and o.split("=", 1)[1] == v]
    if len(bare) == 1:
        return bare[0]
    try:
        seg = Segment.parse(v)
    except ValueError:
        seg = None
    if seg is not None and seg.label in options:
        return seg.label
    if seg is not None and accounts is not None and "=" in v:
        seg.check(accounts.columns)  # unknown column: SegmentError naming the columns
        for col, vals in seg.filters:
            have = accounts.get_column(col).drop_nulls().cast(pl.String).unique().sort()
            missing = [x for x in vals if x not in set(have.to_list())]
            if missing:
                shown = ", ".join(have.head(30).to_list())
                raise ValueError(
                    f"segment {v!r}: no account has {col} {missing[0]!r}; values: {shown}"
                )
        return seg.label
    raise ValueError(
        f"segment {v!r} is not one of the available segments: {', '.join(options)}. "
        "Use one of them (a bare value such as 'SMB' also works), or a filter such as "
        "'segment=SMB,region=EMEA'."
    )


# ------------------------------------------------------------------ widgets


class ControlBar:
    """Two dropdowns (period, segment) initialised from notebook parameters.

    ``on_change(period, segment)`` is called after either value changes.
    """

    def __init__(
        self,
        periods: Sequence[str],
        segments: Sequence[str],
        period: str = "",
        segment: str = "All",
        on_change: Callable[[str, str], Any] | None = None,
        default_period: str | None = None,
        accounts: pl.DataFrame | None = None,
    ):
        self.periods = list(periods)
        self.segments = list(segments)
        default = default_period or (self.periods[0] if self.periods else "")
        self._period = resolve_period(period, self.periods, default)
        if self._period not in self.periods:
            self.periods = [self._period, *self.periods]
        self._accounts = accounts
        self._segment = resolve_segment(segment, self.segments, accounts)
        if self._segment not in self.segments:
            self.segments = [*self.segments, self._segment]
        self._callbacks: list[Callable[[str, str], Any]] = [on_change] if on_change else []
        self._widget = None

    @classmethod
    def for_workbook(cls, wb, period: str = "", segment: str = "All", **kw) -> ControlBar:
        """Options from a workbook: its periods and ``All`` + segments + regions."""
        return cls(
            workbook_periods(wb),
            segment_options(wb.facts.accounts),
            period,
            segment,
            default_period=default_period(wb),
            accounts=wb.facts.accounts,
            **kw,
        )

    @property
    def period(self) -> str:
        return self._period

    @property
    def segment(self) -> str:
        return self._segment

    def observe(self, fn: Callable[[str, str], Any]) -> None:
        """Call ``fn(period, segment)`` whenever a value changes."""
        self._callbacks.append(fn)

    def set(self, period: str | None = None, segment: str | None = None) -> None:
        """Change the values (as a user would) and notify the observers."""
        if period is not None:
            self._period = resolve_period(period, self.periods, self._period)
        if segment is not None:
            self._segment = resolve_segment(segment, self.segments, self._accounts)
        if self._widget is not None:
            pw, sw = self._widget.children
            if pw.value != self._period or sw.value != self._segment:
                self._quiet = True
                try:
                    pw.value, sw.value = self._period, self._segment
                finally:
                    self._quiet = False
        for fn in self._callbacks:
            fn(self._period, self._segment)

    _quiet = False

    def _on_widget(self, change) -> None:
        if self._quiet:
            return
        pw, sw = self._widget.children
        self.set(pw.value, sw.value)

    @property
    def widget(self):
        """The ipywidgets HBox (built on first use)."""
        if self._widget is None:
            import ipywidgets as w

            pw = w.Dropdown(options=self.periods, value=self._period, description="Period")
            sw = w.Dropdown(
                options=[(_seg_label(s), s) for s in self.segments],
                value=self._segment,
                description="Segment",
            )
            for d in (pw, sw):
                d.observe(self._on_widget, names="value")
            self._widget = w.HBox([pw, sw])
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return f"ControlBar(period={self._period!r}, segment={self._segment!r})"


def _where(period: str, segment: str) -> str:
    return period if segment == "All" else f"{period} ({_seg_label(segment)})"


def _seg_label(s: str) -> str:
    """Dropdown text of a segment: 'Segment: SMB', 'Segment: SMB, Region: EMEA'."""
    if s == "All":
        return "All"
    seg = Segment.parse(s)
    return ", ".join(
        f"{col.replace('_', ' ').capitalize()}: {' or '.join(v)}" for col, v in seg.filters
    )


# ------------------------------------------------------------------ sections


def _as_displayable(obj: Any) -> Any:
    if isinstance(obj, str) and not hasattr(obj, "_repr_markdown_"):
        from IPython.display import Markdown

        return Markdown(obj)
    return obj


class _Chart:
    """A chart as a live update shows it: the same output as displaying the chart,
    without validating its spec against the Vega-Lite schema again (the chart was
    validated when the section was first shown; only the data differ)."""

    def __init__(self, chart: Any):
        self.chart = chart

    def _repr_mimebundle_(self, include=None, exclude=None):
        import altair as alt

        spec = self.chart.to_dict(validate=False, context={"pre_transform": False})
        renderer = alt.renderers.get()
        return renderer(spec) if renderer else {}

    def __repr__(self) -> str:
        return repr(self.chart)


def _live(obj: Any) -> Any:
    import altair as alt

    return _Chart(obj) if isinstance(obj, alt.TopLevelMixin) else _as_displayable(obj)


class Section:
    """One render function ``fn(period, segment) -> object | list of objects``,
    shown with display handles and updated in place."""

    def __init__(self, fn: Callable[[str, str], Any], title: str | None = None):
        self.fn = fn
        self.title = title
        self.handles: list = []
        self.seconds: float = 0.0
        self.last: list = []

    def _ipython_display_(self) -> None:
        """Nothing: a section shows its outputs itself (keeps cells free of a repr line)."""

    def __repr__(self) -> str:
        return f"<Section {self.title or self.fn.__name__}: {len(self.handles)} outputs>"

    def render(self, period: str, segment: str) -> list:
        t = time.perf_counter()
        out = self.fn(period, segment)
        objs = list(out) if isinstance(out, list | tuple) else [out]
        self.seconds = time.perf_counter() - t
        self.last = objs
        return objs

    def show(self, period: str, segment: str) -> None:
        from IPython.display import display

        self.handles = []
        for obj in self.render(period, segment):
            self.handles.append(display(_as_displayable(obj), display_id=True))

    def update(self, period: str, segment: str) -> None:
        from IPython.display import Markdown

        objs = self.render(period, segment)
        if len(objs) > len(self.handles) and self.handles:
            extra = len(objs) - len(self.handles) + 1
            objs = objs[: len(self.handles) - 1] + [
                Markdown(f"*({extra} outputs changed in number: re-run the cell to see all)*")
            ]
        from csm_lib.render import without_static

        with without_static():  # a live update happens in a browser: scripts run there
            for i, h in enumerate(self.handles):
                if h is None:
                    continue
                h.update(_live(objs[i]) if i < len(objs) else Markdown(""))


class LiveReport:
    """Sections that follow a :class:`ControlBar`.

    >>> bar = ControlBar(["2025-Q4", "2025-Q3"], ["All"], "2025-Q4", "All")
    >>> live = LiveReport(bar)
    >>> s = live.add(lambda p, s: f"**{p}**, {s}", show=False)
    >>> s.render(bar.period, bar.segment)
    ['**2025-Q4**, All']
    """

    def __init__(self, controls: ControlBar, bench: Workbench | None = None):
        self.controls = controls
        self.bench = bench
        self.sections: list[Section] = []
        self.timings: list[dict] = []
        self.data: dict[str, Any] = {}  # frames behind the last rendered views
        controls.observe(self.refresh)

    @classmethod
    def for_workbook(
        cls,
        wb,
        period: str = "",
        segment: str = "All",
        options: dict | None = None,
        metrics: Sequence[str] | None = None,
    ) -> LiveReport:
        """Controls from the workbook (validating the parameters) and a memoised workbench."""
        bar = ControlBar.for_workbook(wb, period, segment)
        return cls(bar, Workbench(wb, options, metrics))

    # ---- values (for assertions and the record cell) -------------------
    def result(self) -> pl.DataFrame:
        """Every metric for the current period and segment."""
        return self._bench.result(self.period, self.segment)

    def value(self, metric_id: str) -> float | None:
        return self._bench.value(metric_id, self.period, self.segment)

    def context(self):
        return self._bench.context(self.period, self.segment)

    @property
    def _bench(self) -> Workbench:
        if self.bench is None:
            raise RuntimeError("this LiveReport has no workbook: use LiveReport.for_workbook")
        return self.bench

    # ---- ready-made sections ------------------------------------------
    def kpis(self, ids: Sequence[str] | None = None, show: bool = True) -> Section:
        """A KPI table (value, previous period, change, benchmark) of ``ids``."""
        from csm_lib.narrative import kpi_table

        b = self._bench

        def render(period: str, segment: str):
            b.prepare(period, segment)
            return kpi_table(b.result(period, segment, ids), b.previous(period, segment, ids), ids)

        return self.add(render, title="kpis", show=show)

    def metric(
        self, metric_id: str, chart: bool = True, show: bool = True, describe: bool = True
    ) -> Section:
        """Describe a metric (static text), then live: its trend chart and a reading."""
        from csm_lib import narrative
        from csm_lib.charts import metric_trend
        from csm_lib.compute import load_registry

        spec = load_registry()[metric_id]
        b = self._bench
        if b.metrics is not None and metric_id not in b.metrics:
            b.metrics.append(metric_id)
        if chart and metric_id not in b.trends:
            b.trends.append(metric_id)
        if show and describe:
            from IPython.display import display

            display(narrative.describe(spec))

        def render(period: str, segment: str):
            b.prepare(period, segment)
            one = [metric_id]
            cur = b.result(period, segment, one).row(0, named=True)
            prev_df = b.previous(period, segment, one)
            prev = None
            if prev_df is not None:
                prev = prev_df.filter(pl.col("id") == metric_id).row(0, named=True)
            text = narrative.interpret(
                spec, cur, prev, period_label=_where(period, segment),
                previous_label=prev["period"] if prev else "the previous period",
            )  # fmt: skip
            out: list = []
            if chart:
                h = b.history(period, segment, ids=one)
                self.data[f"history:{metric_id}"] = h
                if h["value"].is_not_null().any():
                    out.append(metric_trend(h, spec))
                else:
                    why = cur["note"] or "no value in these periods"
                    out.append(narrative.Markdown(f"*No trend to chart: {why}.*"))
            out.append(text)
            return out

        return self.add(render, title=metric_id, show=show)

    def next_steps(self, ids: Sequence[str] | None = None, show: bool = True) -> Section:
        """What to do next (metrics outside their benchmark or getting worse, with actions)."""
        from csm_lib.narrative import next_steps

        b = self._bench

        def render(period: str, segment: str):
            b.prepare(period, segment)
            return next_steps(b.result(period, segment, ids), b.previous(period, segment, ids), ids)

        return self.add(render, title="next_steps", show=show)

    def reading(self, ids: Sequence[str] | None = None, show: bool = True) -> Section:
        """Every metric of ``ids`` read aloud (one bullet each)."""
        from csm_lib.narrative import read_result

        b = self._bench

        def render(period: str, segment: str):
            b.prepare(period, segment)
            return read_result(
                b.result(period, segment, ids), b.previous(period, segment, ids), ids
            )

        return self.add(render, title="reading", show=show)

    def view(self, name: str, show: bool = True, **kwargs: Any) -> Section:
        """A named view of :data:`VIEWS` (bridge, cohorts, survival, health, ...)."""
        if name not in VIEWS:
            raise KeyError(f"unknown view {name!r}; choose from {sorted(VIEWS)}")
        fn, b = VIEWS[name], self._bench

        def render(period: str, segment: str):
            from csm_lib.data import MissingTableError
            from csm_lib.narrative import Markdown

            try:
                objs, data = fn(b, period, segment, **kwargs)
            except MissingTableError as exc:  # an optional table the source does not have
                return [Markdown(f"*{(fn.__doc__ or name).splitlines()[0]} Not shown: {exc}.*")]
            self.data.update(data)
            return objs

        return self.add(render, title=name, show=show)

    def record(self, ids: Sequence[str] | None = None):
        """A JSON output of the current values (read back by tests from executed notebooks)."""
        from IPython.display import JSON

        r = self.result()
        if ids:
            r = r.filter(pl.col("id").is_in(list(ids)))
        return JSON(
            {
                "period": self.period,
                "segment": self.segment,
                "values": {row["id"]: row["value"] for row in r.iter_rows(named=True)},
            }
        )

    @property
    def period(self) -> str:
        return self.controls.period

    @property
    def segment(self) -> str:
        return self.controls.segment

    def add(
        self, fn: Callable[[str, str], Any], title: str | None = None, show: bool = True
    ) -> Section:
        """Register ``fn(period, segment)`` and display its output now."""
        sec = Section(fn, title)
        self.sections.append(sec)
        if show:
            sec.show(self.period, self.segment)
        return sec

    def refresh(self, period: str | None = None, segment: str | None = None) -> float:
        """Re-render every section for the current values; returns the wall time (s)."""
        p, s = period or self.period, segment or self.segment
        t = time.perf_counter()
        if self.bench is not None:
            self.bench.prepare(p, s)
        for sec in self.sections:
            if sec.handles:
                sec.update(p, s)
            else:
                sec.render(p, s)
        total = time.perf_counter() - t
        self.timings.append(
            {"period": p, "segment": s, "seconds": total,
             "sections": [round(x.seconds, 4) for x in self.sections]}
        )  # fmt: skip
        return total


# ------------------------------------------------------------- workbook views


def pillar_metrics(pillar: str) -> list[str]:
    """Ids of every metric of a pillar, in registry order.

    >>> "nrr" in pillar_metrics("retention")
    True
    """
    from csm_lib.compute import load_registry

    return [m for m, s in load_registry().items() if s.pillar == pillar]


def history_periods(period: Period, n: int | None = None) -> list[Period]:
    """``period`` and the ``n - 1`` periods of the same kind before it, oldest first
    (default n: 8 quarters, 12 months, 3 years, 6 ranges).

    >>> [p.label for p in history_periods(Period.parse("2025-Q2"), 3)]
    ['2024-Q4', '2025-Q1', '2025-Q2']
    """
    n = n or {"quarter": 8, "month": 12, "year": 3}.get(period.kind, 6)
    out = [period]
    while len(out) < n:
        out.append(out[-1].previous())
    return out[::-1]


def trailing_year(period: Period) -> Period:
    """The twelve calendar months ending with the period's last month (for monthly charts)."""
    last = Period.month(period.end.year, period.end.month)
    first = last
    for _ in range(11):
        first = first.previous()
    return Period(first.start, last.end, f"{first.label}..{last.label}", "range")


class Workbench:
    """Memoised results of one workbook for the live sections of a notebook.

    ``result(period, segment)`` is :func:`csm_lib.compute` (all metrics, or the
    given ids), ``history(period, segment)`` the tracked metrics over the
    previous periods. Every calculator runs at most once per (period, segment,
    options): results for different metric subsets share the calculators'
    outputs (``compute(..., cache=)``), and :meth:`prepare` lets the calculators
    that can do several periods in one pass (health scores, renewal litmus)
    fill their caches for the trend charts first.
    """

    def __init__(self, wb, options: dict | None = None, metrics: Sequence[str] | None = None):
        self.wb = wb
        self.options = dict(options or {})
        self.metrics = list(metrics) if metrics else None
        self.trends: list[str] = []  # metrics shown as trend charts (history needed)
        self._memo: dict = {}
        self._calc: dict = {}  # calculator outputs, see csm_lib.compute.compute(cache=)

    def _get(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def _compute(self, period: str, segment: str, ids: Sequence[str] | None = None):
        from csm_lib.compute import compute

        return compute(
            self.wb, period, segment, metrics=list(ids) if ids else None, options=self.options,
            cache=self._calc,
        )  # fmt: skip

    def context(self, period: str, segment: str):
        from csm_lib.compute import context

        return context(self.wb, period, segment, self.options)

    def result(self, period: str, segment: str, ids: Sequence[str] | None = None) -> pl.DataFrame:
        """Every metric (or those of ``ids``) of the period and segment, one row per metric."""
        key = tuple(ids) if ids else None
        return self._get(
            ("result", period, segment, key), lambda: self._compute(period, segment, ids)
        )

    def previous(
        self, period: str, segment: str, ids: Sequence[str] | None = None
    ) -> pl.DataFrame | None:
        """The result of the period before (None when it starts before the data)."""
        prev = Period.parse(period).previous()
        if prev.end < self.first_day:
            return None
        return self.result(prev.label, segment, ids)

    @property
    def first_day(self):
        subs = self.wb.facts.subs
        return subs["start_date"].min() if subs.height else self.wb.as_of

    def value(self, metric_id: str, period: str, segment: str) -> float | None:
        """One metric's value (None when null)."""
        from csm_lib.compute import load_registry

        if metric_id not in load_registry():
            raise KeyError(f"unknown metric id {metric_id!r}")
        return self.result(period, segment, [metric_id])["value"][0]

    def _periods(self, period: str, n: int | None = None) -> list[Period]:
        return [p for p in history_periods(Period.parse(period), n) if p.end >= self.first_day]

    def prepare(self, period: str, segment: str) -> None:
        """Before the sections render: the calculators that can compute several
        periods in one pass do so for the trend charts' periods (once per values)."""
        from csm_lib.compute import prefetch

        def run() -> bool:
            hist = [p.label for p in self._periods(period)]
            if self.trends and hist:
                prefetch(self.wb, hist, segment, self.trends, self.options)
            now = [period] + [p.label for p in self._periods(period, 2)[:-1]]
            prefetch(self.wb, now, segment, self.metrics, self.options)
            return True

        self._get(("prepared", period, segment), run)

    def history(
        self,
        period: str,
        segment: str,
        n: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Tracked metrics (or ``ids``) over ``n`` periods ending with ``period``
        (long: period, id, value...)."""
        from csm_lib.compute import prefetch

        ids = list(ids) if ids else self.metrics

        def build() -> pl.DataFrame:
            labels = [p.label for p in self._periods(period, n)]
            prefetch(self.wb, labels, segment, ids, self.options)  # one pass where possible
            frames = [self.result(lab, segment, ids) for lab in labels]
            return pl.concat(frames) if frames else pl.DataFrame()

        return self._get(("history", period, segment, n, tuple(ids or ())), build)


def _charts():
    from csm_lib import charts

    return charts


def _nar():
    from csm_lib import narrative

    return narrative


def view_bridge(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """The MRR bridge of the period (waterfall chart)."""
    ctx = bench.context(period, segment)
    b = ctx.bridge()
    return [_charts().bridge(b, title=f"MRR bridge, {period}, {ctx.segment.label}")], {"bridge": b}


def view_waterfall(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Monthly MRR movements over the twelve months ending with the period."""
    from csm_lib.revenue import waterfall

    ctx = bench.context(period, segment)
    span = trailing_year(ctx.period)
    span = Period(span.start, min(span.end, bench.wb.as_of), span.label, span.kind)
    wf = waterfall(ctx.facts.subs, span, ctx.account_ids)
    return [_charts().mrr_waterfall(wf, title="MRR movements, last 12 months")], {"waterfall": wf}


def view_funnel(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Leads created, trials started and trials converted in the period."""
    from csm_lib.acquisition import trial_funnel

    ctx = bench.context(period, segment)
    leads = bench.wb.table("leads").collect()
    f = trial_funnel(leads, ctx.period, int(ctx.opt("trial_window_days", 30)))
    df = pl.DataFrame(
        {
            "stage": ["Leads created", "Trials started", "Trials converted"],
            "count": [f["leads_created"], f["trials_started"], f["trials_converted"]],
        }
    )
    note = _nar().Markdown(
        "*Leads and trials are not segmented (leads have no account until they convert).*"
        if not ctx.segment.is_all
        else ""
    )
    return [_charts().funnel(df, title=f"Lead and trial funnel, {period}"), note], {"funnel": df}


def view_usage(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Weekly active users and stickiness over the period."""
    from csm_lib.adoption import usage_trend

    ctx = bench.context(period, segment)
    grain = "day" if ctx.period.days <= 31 else "week" if ctx.period.days <= 190 else "month"
    u = usage_trend(ctx.facts, ctx.period, ctx.account_ids, grain, ctx.opt("active_events"))
    whole = u.filter(pl.col("complete")) if u["complete"].any() else u  # no cut weeks
    long = whole.select(
        "start",
        pl.col("dau_avg").alias("Average DAU"),
        pl.col("active_users").alias(
            {"day": "DAU", "week": "WAU", "month": "MAU"}[grain] + " (distinct)"
        ),
        pl.col("mau_30d").alias("Users active in 30 days"),
    ).unpivot(index="start", variable_name="series", value_name="users")
    cut = whole.height < u.height
    c = _charts().trend(
        long, "start", "users", "users", title=f"Active users by {grain}", color="series",
        subtitle=f"Whole {grain}s inside the period only" if cut else None,
    )  # fmt: skip
    return [c], {"usage": u}


def view_features(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Share of closing customers that used each feature in the period."""
    from csm_lib.adoption import feature_adoption

    ctx = bench.context(period, segment)
    fa = feature_adoption(ctx.facts, ctx.period, ctx.account_ids, ctx.opt("active_events"))
    c = _charts().bar(
        fa, "feature", "account_share", unit="fraction", horizontal=True,
        title="Accounts using the feature", sort="-x", tooltip=["accounts", "users", "user_share"],
    )  # fmt: skip
    return [c], {"features": fa}


def view_cohorts(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Logo retention of the monthly start cohorts of the last twelve months."""
    from csm_lib.retention import cohort_retention

    ctx = bench.context(period, segment)
    span = trailing_year(ctx.period)
    last = Period.month(ctx.period.end.year, ctx.period.end.month)
    first = Period.month(span.start.year, span.start.month)
    co = cohort_retention(ctx.facts, first, last, ctx.account_ids, kind="logo")
    c = _charts().cohort_heatmap(
        co, "cohort", "age", "retention", size="cohort_size",
        title="Logo retention by start cohort",
    )  # fmt: skip
    return [c], {"cohorts": co}


def view_survival(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Kaplan–Meier survival of account lifetimes (first paid day to churn), as of period end."""
    from csm_lib.retention import account_lifetimes, km_curve

    ctx = bench.context(period, segment)
    life = account_lifetimes(ctx.facts, ctx.period.end, ctx.account_ids)
    km = km_curve(life["months"], life["observed"])
    return [_charts().survival(km)], {"survival": km, "lifetimes": life}


def view_product_lines(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Upsell, cross-sell and contraction MRR per product line."""
    from csm_lib.expansion import expansion_by_product_line

    ctx = bench.context(period, segment)
    pl_df = expansion_by_product_line(ctx.facts, ctx.period, ctx.account_ids)
    long = pl_df.select(
        "product_line",
        pl.col("upsell_mrr").alias("Upsell"),
        pl.col("cross_sell_mrr").alias("Cross-sell"),
        (-pl.col("contraction_mrr")).alias("Contraction"),
    ).unpivot(index="product_line", variable_name="movement", value_name="mrr")
    ch = _charts()
    c = ch.bar(
        long, "product_line", "mrr", unit="money", color="movement", y_title="MRR change",
        title="Expansion and contraction by product line",
        colors={"Upsell": ch.BLUE, "Cross-sell": ch.SKY, "Contraction": ch.ORANGE},
    )  # fmt: skip
    return [c], {"product_lines": pl_df}


def view_voice(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """The most frequent comment themes by promoter / passive / detractor."""
    from csm_lib.advocacy import voice_of_customer

    ctx = bench.context(period, segment)
    v = voice_of_customer(bench.wb.table("surveys").collect(), ctx.period, ctx.account_ids)
    ch = _charts()
    c = ch.bar(
        v, "theme", "share", unit="fraction", color="group", horizontal=True, grouped=True,
        title="Comment themes (share of the group's comments)", tooltip=["count"],
        colors={"promoter": ch.GREEN, "passive": ch.GREY, "detractor": ch.VERMILLION},
    )  # fmt: skip
    return [c], {"voice": v}


def _health_kw(ctx) -> dict:
    w = ctx.opt("health_weights")
    kw: dict[str, Any] = {"weights": dict(w) if w else None}
    if ctx.opt("health_lookback_days") is not None:
        kw["lookback_days"] = int(ctx.opt("health_lookback_days"))
    if ctx.opt("health_bands") is not None:
        kw["bands"] = tuple(ctx.opt("health_bands"))
    return kw


def view_health(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """The health score of every paying account at period end, coloured by band."""
    from csm_lib.health import memo_health_scores, summarise_bands

    ctx = bench.context(period, segment)
    sc = memo_health_scores(
        ctx.facts, ctx.period.end, ctx.segment.label, ctx.account_ids, **_health_kw(ctx)
    )
    c = _charts().distribution(
        sc, "score", band="band", unit="score", bins=20, domain=(0, 100), title="Health score"
    )
    bands = summarise_bands(sc)
    return [c, bands], {"scores": sc, "bands": bands}


def view_litmus(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Renewal rate by health band, measured some days before each renewal date."""
    from csm_lib.health import memo_renewal_litmus

    ctx = bench.context(period, segment)
    days = int(ctx.opt("litmus_days_before", 90))
    lit = memo_renewal_litmus(
        ctx.facts, ctx.period, ctx.segment.label, ctx.account_ids, days, **_health_kw(ctx)
    )
    c = _charts().bar(
        lit.by_band, "band", "renewal_rate", unit="fraction", color="band",
        sort=["red", "yellow", "green"], title=f"Renewal rate by health {days} days before",
        tooltip=["events", "renewed"],
    )  # fmt: skip
    return [c], {"litmus": lit.by_band, "auc": lit.auc}


def view_red_flags(bench: Workbench, period: str, segment: str) -> tuple[list, dict]:
    """Leading indicators: churned vs retained customers (ratio below 1 = lower for churned)."""
    from csm_lib.health import red_flags

    ctx = bench.context(period, segment)
    rf = red_flags(ctx.facts, ctx.period, ctx.account_ids)
    c = _charts().bar(
        rf.filter(pl.col("ratio").is_not_null()), "indicator", "ratio", unit="ratio",
        horizontal=True, title="Churned / retained (1 = no difference)", benchmark=(1.0, None),
        tooltip=["churned_mean", "retained_mean"],
    )  # fmt: skip
    return [c, rf], {"red_flags": rf}


def view_at_risk(bench: Workbench, period: str, segment: str, top: int = 15) -> tuple[list, dict]:
    """The red accounts with the most MRR at period end (the save list)."""
    from csm_lib.health import memo_health_scores

    ctx = bench.context(period, segment)
    sc = memo_health_scores(
        ctx.facts, ctx.period.end, ctx.segment.label, ctx.account_ids, **_health_kw(ctx)
    )
    acc = ctx.facts.accounts.select(
        [
            c
            for c in ("account_id", "account_name", "segment", "region", "csm")
            if c in ctx.facts.accounts.columns
        ]
    )
    risk = (
        sc.filter(pl.col("band") == "red")
        .join(acc, on="account_id", how="left")
        .sort(["mrr", "account_id"], descending=[True, False])
        .head(top)
    )
    return [risk], {"at_risk": risk}


def view_fit(
    bench: Workbench, period: str, segment: str, by: str = "industry"
) -> tuple[list, dict]:
    """Churn rate and NRR per value of an account attribute (good fit vs bad fit)."""
    from csm_lib.health import fit_comparison

    ctx = bench.context(period, segment)
    fit = fit_comparison(ctx.facts, ctx.period, by, ctx.account_ids)
    c = _charts().bar(
        fit.rename({"value": by}), by, "churn_rate", unit="fraction", horizontal=True,
        sort="-x", title=f"Logo churn by {by}", tooltip=["customers_start", "churned", "nrr"],
    )  # fmt: skip
    return [c], {"fit": fit}


VIEWS: dict[str, Callable] = {
    "bridge": view_bridge,
    "waterfall": view_waterfall,
    "funnel": view_funnel,
    "usage": view_usage,
    "features": view_features,
    "cohorts": view_cohorts,
    "survival": view_survival,
    "product_lines": view_product_lines,
    "voice": view_voice,
    "health": view_health,
    "litmus": view_litmus,
    "red_flags": view_red_flags,
    "at_risk": view_at_risk,
    "fit": view_fit,
}

__all__ = [
    "VIEWS",
    "ControlBar",
    "LiveReport",
    "Section",
    "Workbench",
    "history_periods",
    "pillar_metrics",
    "trailing_year",
    "default_period",
    "resolve_period",
    "resolve_segment",
    "segment_options",
    "workbook_periods",
]
