"""Advocacy: how customers feel about us, how well support serves them, who refers us.

Surveys (NPS, CSAT, CES) count by ``responded_at`` in the period; tickets by
``resolved_at`` (``tickets_opened_count`` by ``opened_at``); referrals are
leads created in the period with ``referred_by`` set. A segment filters the
responding / ticket account, and for referrals the *referring* account.

Uncertainty (METRICS.md, "Uncertainty"): NPS carries the adjusted-Wald 95%
interval (add 3/4 promoter, 3/4 detractor, 3/2 passive, so n + 3; Rocks 2016,
as popularised by MeasuringU); proportions (CSAT, promoter share, FCR, ...)
carry Wilson 95% intervals. A survey metric on fewer than 30 responses says so
in its note.

>>> v = nps([10, 9, 8, 7, 6, 0])
>>> round(v.value, 2), v.n, v.note
(0.0, 6, 'fewer than 30 responses (n=6): read with care')
>>> round(csat([5, 4, 3, 1]).value, 2)
0.5
>>> [round(x, 4) for x in wilson(50, 100)]
[0.4038, 0.5962]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import polars as pl

from csm_lib._stats import proportion as _proportion
from csm_lib._stats import wilson
from csm_lib.facts import in_segment
from csm_lib.periods import Period
from csm_lib.registry import UNITS, Option, Value, calculator, metric

Z95 = 1.96
SMALL_N = 30
GROUPS = ("promoter", "passive", "detractor")

# ---------------------------------------------------------------- statistics


def _scores(scores) -> pl.Series:
    """Answers as an Int64 series without nulls (accepts a list or a Series)."""
    s = scores if isinstance(scores, pl.Series) else pl.Series("s", list(scores))
    return s.cast(pl.Int64).drop_nulls()


def small_sample_note(n: int) -> str:
    """The flag METRICS.md asks for on survey metrics with fewer than 30 responses."""
    return f"fewer than {SMALL_N} responses (n={n}): read with care" if 0 < n < SMALL_N else ""


def proportion(k: int, n: int, reason: str) -> Value:
    """k / n with its Wilson interval and the small-sample flag; null when n = 0."""
    return _proportion(k, n, reason, small_note=small_sample_note(n))


def nps_groups(scores: Iterable[int]) -> tuple[int, int, int]:
    """(promoters 9–10, passives 7–8, detractors 0–6) of 0–10 answers.

    >>> nps_groups([10, 9, 8, 7, 6, 0])
    (2, 2, 2)
    """
    s = _scores(scores)
    pro = int((s >= 9).sum())
    det = int((s <= 6).sum())
    return pro, s.len() - pro - det, det


def nps_interval(
    promoters: int, passives: int, detractors: int, z: float = Z95
) -> tuple[float | None, float | None]:
    """Adjusted-Wald 95% interval of the NPS, on −100..100.

    Add 3/4 to promoters and to detractors and 3/2 to passives (n + 3), then
    NPS_adj = p_pro − p_det and Var = p_pro + p_det − NPS_adj²;
    interval = NPS_adj ± z·sqrt(Var / (n + 3)), clipped to [−100, 100].
    The interval is centred on the adjusted NPS, not on the raw score; from
    two answers on, the raw score always lies inside it (with a single answer
    it may not, e.g. one promoter: 100 vs [−48.5, 98.5]).

    >>> [round(x, 2) for x in nps_interval(291, 476, 395)]  # 1,162 answers, NPS -8.95
    [-13.31, -4.55]
    """
    n = promoters + passives + detractors
    if n <= 0:
        return None, None
    na = n + 3
    pp, pd = (promoters + 0.75) / na, (detractors + 0.75) / na
    adj = pp - pd
    se = math.sqrt(max(pp + pd - adj * adj, 0.0) / na)
    return max(-100.0, 100 * (adj - z * se)), min(100.0, 100 * (adj + z * se))


def nps(scores: Iterable[int]) -> Value:
    """Net Promoter Score of 0–10 answers: % promoters (9–10) − % detractors (0–6).

    On −100..100 with the adjusted-Wald interval; null without answers.

    >>> nps([]).note
    'no NPS responses in the period'
    """
    pro, pas, det = nps_groups(scores)
    n = pro + pas + det
    if n == 0:
        return Value.null("no NPS responses in the period", n=0)
    lo, hi = nps_interval(pro, pas, det)
    return Value(100 * (pro - det) / n, n=n, low=lo, high=hi, note=small_sample_note(n))


def csat(scores: Iterable[int], positive_min: int = 4) -> Value:
    """Share of positive answers (score >= ``positive_min``), with its Wilson interval.

    >>> csat([5, 5, 2], positive_min=5).value
    0.6666666666666666
    """
    s = _scores(scores)
    return proportion(int((s >= positive_min).sum()), s.len(), "no CSAT responses in the period")


def ces(scores: Iterable[int]) -> Value:
    """Mean customer effort score, with a normal-approximation 95% interval (n >= 2).

    >>> ces([7, 5, 6]).value
    6.0
    """
    s = _scores(scores)
    n = s.len()
    if n == 0:
        return Value.null("no CES responses in the period", n=0)
    mean = float(s.mean())
    if n < 2:
        return Value(mean, n=n, note=small_sample_note(n))
    half = Z95 * float(s.std()) / math.sqrt(n)
    return Value(mean, n=n, low=mean - half, high=mean + half, note=small_sample_note(n))


def ces_low_effort(scores: Iterable[int], scale: str = "effort") -> Value:
    """Share of low-effort answers on the 1–7 CES scale.

    ``scale="effort"`` (default; "how much effort did you have to put in?",
    1 = very low, 7 = very high effort, as the contract's sample data):
    low effort = 1, 2 or 3. ``scale="ease"`` (CES 2.0 wording, "the company
    made it easy", 7 = strongly agree): low effort = 5, 6 or 7.

    >>> ces_low_effort([7, 5, 4, 1]).value, ces_low_effort([7, 5, 4, 1], "ease").value
    (0.25, 0.5)
    """
    s = _scores(scores)
    if scale == "ease":
        k = int((s >= 5).sum())
    elif scale == "effort":
        k = int((s <= 3).sum())
    else:
        raise ValueError(f"ces_scale {scale!r}: use 'ease' or 'effort'")
    return proportion(k, s.len(), "no CES responses in the period")


def median_hours(hours: pl.Series, reason: str) -> Value:
    """Median of a series of durations in hours (nulls dropped); null when empty."""
    s = hours.drop_nulls()
    if s.len() == 0:
        return Value.null(reason, n=0)
    return Value(float(s.median()), n=s.len())


# ---------------------------------------------------------------- frames


def survey_responses(
    surveys: pl.DataFrame, period: Period, ids: pl.Series | None = None, survey: str | None = None
) -> pl.DataFrame:
    """Responses answered in the period (by ``responded_at``), optionally of one survey."""
    s = in_segment(surveys, ids).filter(pl.col("responded_at").is_between(period.start, period.end))
    return s if survey is None else s.filter(pl.col("survey") == survey)


def resolved_tickets(
    tickets: pl.DataFrame, period: Period, ids: pl.Series | None = None
) -> pl.DataFrame:
    """Tickets resolved in the period (by the date of ``resolved_at``), with hour durations."""
    t = in_segment(tickets, ids).filter(
        pl.col("resolved_at").is_not_null()
        & pl.col("resolved_at").dt.date().is_between(period.start, period.end)
    )
    hours = 3600.0
    return t.with_columns(
        first_response_h=(pl.col("first_response_at") - pl.col("opened_at")).dt.total_seconds()
        / hours,
        resolution_h=(pl.col("resolved_at") - pl.col("opened_at")).dt.total_seconds() / hours,
    )


def fcr(tickets: pl.DataFrame) -> Value:
    """First contact resolution: resolved tickets with contacts == 1 / resolved tickets.

    Expects resolved tickets (see :func:`resolved_tickets`); tickets without a
    ``contacts`` count are left out of both sides.

    >>> fcr(pl.DataFrame({"contacts": [1, 1, 2, None]})).value
    0.6666666666666666
    """
    c = tickets["contacts"].drop_nulls()
    n, k = c.len(), int((c == 1).sum())
    if n == 0:
        return Value.null("no resolved tickets in the period", n=0)
    lo, hi = wilson(k, n)
    return Value(k / n, n=n, low=lo, high=hi)


def referrals(leads: pl.DataFrame, period: Period, ids: pl.Series | None = None) -> pl.DataFrame:
    """Leads created in the period with ``referred_by`` set (segment = the referring account)."""
    r = leads.filter(
        pl.col("referred_by").is_not_null()
        & pl.col("created_at").is_between(period.start, period.end)
    )
    return in_segment(r, ids, col="referred_by")


# ---------------------------------------------------------------- voice of customer

DEFAULT_THEMES: dict[str, str] = {
    "price and value": r"\b(price|pricing|expensive|cost|costly|cheap|value for money|budget)",
    "support": r"\b(support|help ?desk|response time|responsive|agent|ticket)",
    "ease of use": r"\b(easy|ease|intuitive|simple|user friendly|usability|confusing|complicated|hard to use|clunky)",
    "performance": r"\b(slow|fast|speed|performance|lag|load|loading|timeout)",
    "reliability": r"\b(bug|bugs|crash|error|errors|outage|downtime|broken|reliable|unstable)",
    "features": r"\b(feature|features|missing|integration|integrations|api|report|reports|dashboard|export)",
    "onboarding and training": r"\b(onboard|onboarding|training|documentation|docs|tutorial|setup|set up)",
    "account team": r"\b(csm|account manager|success manager|team|relationship)",
}


def normalise_comment(text: pl.Expr) -> pl.Expr:
    """Lower-case, punctuation to spaces, single spaces, trimmed."""
    return (
        text.str.to_lowercase()
        .str.replace_all(r"[^a-z0-9 ]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def nps_group(score: pl.Expr) -> pl.Expr:
    """promoter (9–10) / passive (7–8) / detractor (0–6)."""
    return (
        pl.when(score >= 9)
        .then(pl.lit("promoter"))
        .when(score >= 7)
        .then(pl.lit("passive"))
        .otherwise(pl.lit("detractor"))
    )


def voice_of_customer(
    surveys,
    period: Period,
    ids: pl.Series | None = None,
    top: int = 5,
    themes: dict[str, str] | None = None,
    fallback: str = "phrase",
) -> pl.DataFrame:
    """Most frequent comment themes of NPS answers, by promoter / passive / detractor.

    ``surveys`` is the surveys frame (or a Facts object with a surveys table).
    A comment is normalised (lower case, no punctuation) and matched against
    keyword ``themes`` (regex per theme, :data:`DEFAULT_THEMES`); one comment
    can carry several themes. A comment matching none becomes its own theme:
    the normalised phrase (``fallback="phrase"``, so canned answers group
    together) or ``"other"``. ``share`` = comments with the theme / comments
    of the group. Columns: group, theme, count, share; ``top`` rows per group.

    >>> from datetime import date
    >>> s = pl.DataFrame({"account_id": ["a"] * 3, "survey": ["nps"] * 3, "score": [10, 3, 2],
    ...     "responded_at": [date(2024, 5, 1)] * 3,
    ...     "comment": ["So easy to use!", "Too expensive", "too EXPENSIVE, and slow"]})
    >>> voice_of_customer(s, Period.parse("2024-05")).rows()
    [('promoter', 'ease of use', 1, 1.0), ('detractor', 'price and value', 2, 1.0), ('detractor', 'performance', 1, 0.5)]
    """
    if not isinstance(surveys, pl.DataFrame):
        surveys = surveys.table("surveys").collect()
    themes = DEFAULT_THEMES if themes is None else themes
    c = (
        survey_responses(surveys, period, ids, "nps")
        .filter(pl.col("comment").is_not_null())
        .with_columns(text=normalise_comment(pl.col("comment")), group=nps_group(pl.col("score")))
        .filter(pl.col("text") != "")
        .with_row_index("rid")
    )
    schema = {"group": pl.String, "theme": pl.String, "count": pl.Int64, "share": pl.Float64}
    if c.height == 0:
        return pl.DataFrame(schema=schema)
    hits = [
        c.filter(pl.col("text").str.contains(pat)).select("rid", "group", theme=pl.lit(name))
        for name, pat in themes.items()
    ]
    matched = pl.concat(hits) if hits else c.select("rid", "group", theme=pl.lit(None, pl.String))
    matched = matched.drop_nulls("theme")
    rest = c.filter(~pl.col("rid").is_in(matched["rid"].implode()))
    other = pl.col("text").str.slice(0, 60) if fallback == "phrase" else pl.lit("other")
    rows = pl.concat([matched, rest.select("rid", "group", theme=other)])
    totals = c.group_by("group").agg(total=pl.len())
    order = {g: i for i, g in enumerate(GROUPS)}
    out = (
        rows.group_by("group", "theme")
        .agg(count=pl.len().cast(pl.Int64))
        .join(totals, on="group")
        .with_columns(
            share=pl.col("count") / pl.col("total"),
            o=pl.col("group").replace_strict(order, return_dtype=pl.Int32),
        )
        .sort(["o", "count", "theme"], descending=[False, True, False])
    )
    out = out.group_by("o", maintain_order=True).head(top)
    return out.select("group", "theme", "count", "share").cast(schema)


# ---------------------------------------------------------------- registry

_HOURS = "hours" if "hours" in UNITS else "score"  # registry has no "hours" unit yet
_SUR = ("surveys",)
_TIX = ("tickets",)
_CSAT_MIN = Option(
    "csat_positive_min",
    4,
    "Lowest score that counts as satisfied: 4 on a 1–5 scale (4–5 positive); "
    "for a 1–10 CSAT use 9 (seed 001 counts 9–10).",
)
_CES_SCALE = Option(
    "ces_scale",
    "effort",
    "effort: 1–7 effort the customer had to put in (1 best; low effort = 1–3); "
    "ease: CES 2.0 agreement that the company made it easy (7 best; low effort = 5–7).",
    ("effort", "ease"),
)
_NPS_BENCH = "30–50 good (000); 30–70 desirable (001)"

_SPECS = [
    dict(
        id="nps", label="Net Promoter Score", unit="score", direction="higher",
        definition="Would customers recommend us? Respondents scoring 9–10 are promoters, 0–6 "
        "detractors; NPS is the percentage of promoters minus the percentage of detractors, "
        "from −100 to 100, shown with its 95% margin of error.",
        formula="100 x (promoters − detractors) / responses; adjusted-Wald 95% interval",
        benchmark=_NPS_BENCH, benchmark_source="000, 001",
        seeds=("000", "001", "003", "004"),
        example="MeasuringU: 1,162 answers (291 promoters, 395 detractors) give NPS −8.95, "
        "95% interval −13.31 to −4.55.",
        action="Call detractors back, ask what went wrong, act on it group by group, and tell "
        "customers what changed.",
        good_range=(30.0, 70.0),
    ),
    dict(
        id="nps_n", label="NPS responses", unit="count", direction="higher",
        definition="Number of NPS answers received in the period; below 30 the score is too "
        "noisy to compare.",
        formula="count(nps responses with responded_at in period)", seeds=("000",),
        action="Below 30 answers, widen the survey audience before reading the score.",
    ),
    dict(
        id="promoter_share", label="Promoters", unit="fraction", direction="higher",
        definition="Share of NPS respondents who scored 9 or 10: the customers likely to "
        "recommend us.",
        formula="promoters / responses", seeds=("000", "001"),
        action="Ask promoters for referrals, reviews and case studies.",
    ),
    dict(
        id="detractor_share", label="Detractors", unit="fraction", direction="lower",
        definition="Share of NPS respondents who scored 0 to 6: unhappy customers who may churn "
        "or warn others.",
        formula="detractors / responses", seeds=("000", "001"),
        action="Follow up with every detractor within days.",
    ),
    dict(
        id="csat", label="Customer satisfaction (CSAT)", unit="fraction", direction="higher",
        definition="Share of satisfaction answers that are positive (4 or 5 on a 1–5 scale by "
        "default), with a 95% interval.",
        formula="responses with score >= csat_positive_min / responses",
        seeds=("001", "004"), options=(_CSAT_MIN,),
        example="004: 50 positive of 100 responses = 50%.",
        action="Read the comments of unsatisfied answers by touchpoint and fix the worst one "
        "first.",
    ),
    dict(
        id="ces", label="Customer effort score", unit="score", direction="lower",
        definition="Average answer to 'how much effort did you have to put in?' on 1–7 "
        "(1 = very little): lower is better. With the 'ease' wording (7 = it was very easy) "
        "read it the other way round.",
        formula="mean(score) of ces responses", seeds=("000",), options=(_CES_SCALE,),
        action="Remove the steps customers find hardest (often hand-offs and repeated "
        "explanations).",
    ),
    dict(
        id="ces_low_effort_share", label="Low-effort answers", unit="fraction",
        direction="higher",
        definition="Share of effort answers saying the task took little effort: 1–3 on the "
        "1–7 effort scale (5–7 with the 'ease' wording).",
        formula="low-effort responses / ces responses", seeds=("000",), options=(_CES_SCALE,),
        action="Look at the high-effort answers' touchpoint and simplify that journey.",
    ),
    dict(
        id="fcr", label="First contact resolution", unit="fraction", direction="higher",
        definition="Of the support tickets resolved in the period, the share solved in a "
        "single customer contact.",
        formula="resolved tickets with contacts = 1 / resolved tickets", inputs=_TIX,
        seeds=("000",),
        action="Give first-line agents the knowledge and authority to solve common issues "
        "themselves.",
    ),
    dict(
        id="first_response_median_h", label="Median first response time", unit=_HOURS,
        direction="lower",
        definition="Typical wait, in hours, between a customer opening a ticket and the first "
        "reply (tickets resolved in the period).",
        formula="median(first_response_at − opened_at) in hours", inputs=_TIX, seeds=("000",),
        action="Staff the queue for peak hours and set an auto-triage for urgent tickets.",
    ),
    dict(
        id="resolution_median_h", label="Median resolution time", unit=_HOURS,
        direction="lower",
        definition="Typical time, in hours, from opening a ticket to resolving it (tickets "
        "resolved in the period).",
        formula="median(resolved_at − opened_at) in hours", inputs=_TIX, seeds=("000",),
        action="Find the ticket categories that take longest and fix their root cause.",
    ),
    dict(
        id="tickets_count", label="Tickets resolved", unit="count", direction="neutral",
        definition="Support tickets resolved in the period (the base of FCR and response "
        "times).",
        formula="count(resolved_at in period)", inputs=_TIX, seeds=("000",),
        action="A jump in tickets per customer is a red flag (003): look for a product issue.",
    ),
    dict(
        id="tickets_opened_count", label="Tickets opened", unit="count", direction="neutral",
        definition="Support tickets customers opened in the period (ticket load).",
        formula="count(opened_at in period)", inputs=_TIX, seeds=("003",),
        action="Rising ticket load per account is a churn red flag: check the account's health.",
    ),
    dict(
        id="referrals_count", label="Referrals made", unit="count", direction="higher",
        definition="Leads created in the period that a customer referred (referred_by set). "
        "For a segment, counts referrals made by the segment's customers.",
        formula="count(leads with referred_by, created_at in period)",
        inputs=("leads",), seeds=("000", "004"),
        example="004 #10: referrals are the most cost-effective way to grow; see also "
        "referral_share (acquisition).",
        action="Ask promoters for referrals and make referring easy (a programme, a link, "
        "a reward).",
    ),
    dict(
        id="referring_customers_count", label="Referring customers", unit="count",
        direction="higher",
        definition="Distinct customers who referred at least one lead in the period.",
        formula="count distinct referred_by of leads created in period",
        inputs=("leads",), seeds=("000", "004"),
        action="Thank referrers and invite them to advisory boards or case studies.",
    ),
]  # fmt: skip

for _s in _SPECS:
    _s.setdefault("inputs", _SUR)
    metric(pillar="advocacy", **_s)


# ---------------------------------------------------------------- calculators


def _surveys(ctx) -> pl.DataFrame:
    """The period's answers (read from the source's store, the period only)."""
    f, p = ctx.facts, ctx.period
    return f.memo(
        ("table", "surveys", p.start, p.end),
        lambda: (
            f.table("surveys").filter(pl.col("responded_at").is_between(p.start, p.end)).collect()
        ),
    )


@calculator(
    ["nps", "nps_n", "promoter_share", "detractor_share", "csat", "ces", "ces_low_effort_share"],
    inputs=_SUR,
)
def _survey_metrics(ctx) -> dict[str, Value]:
    s = survey_responses(_surveys(ctx), ctx.period, ctx.account_ids)
    npss = s.filter(pl.col("survey") == "nps")["score"]
    pro, pas, det = nps_groups(npss)
    n = pro + pas + det
    why = "no NPS responses in the period"
    csat_min = int(ctx.opt("csat_positive_min", 4) or 4)
    scale = ctx.opt("ces_scale", "effort") or "effort"
    cess = s.filter(pl.col("survey") == "ces")["score"]
    return {
        "nps": nps(npss),
        "nps_n": Value(float(n), n=n, note=small_sample_note(n)),
        "promoter_share": proportion(pro, n, why),
        "detractor_share": proportion(det, n, why),
        "csat": csat(s.filter(pl.col("survey") == "csat")["score"], csat_min),
        "ces": ces(cess),
        "ces_low_effort_share": ces_low_effort(cess, scale),
    }


@calculator(
    ["fcr", "first_response_median_h", "resolution_median_h", "tickets_count",
     "tickets_opened_count"],
    inputs=_TIX,
)  # fmt: skip
def _ticket_metrics(ctx) -> dict[str, Value]:
    f, p = ctx.facts, ctx.period
    t = f.memo(  # the tickets opened or resolved in the period
        ("table", "tickets", p.start, p.end),
        lambda: (
            f.table("tickets")
            .filter(
                pl.col("opened_at").dt.date().is_between(p.start, p.end)
                | pl.col("resolved_at").dt.date().is_between(p.start, p.end)
            )
            .collect()
        ),
    )
    r = resolved_tickets(t, p, ctx.account_ids)
    opened = ctx.in_segment(t).filter(pl.col("opened_at").dt.date().is_between(p.start, p.end))
    why = "no resolved tickets in the period"
    return {
        "fcr": fcr(r),
        "first_response_median_h": median_hours(r["first_response_h"], why),
        "resolution_median_h": median_hours(r["resolution_h"], why),
        "tickets_count": Value(float(r.height), n=r.height),
        "tickets_opened_count": Value(float(opened.height), n=opened.height),
    }


@calculator(["referrals_count", "referring_customers_count"], inputs=("leads",))
def _referral_metrics(ctx) -> dict[str, Value]:
    f = ctx.facts
    leads = f.memo(  # the leads created in the period
        ("table", "leads", ctx.period.start, ctx.period.end),
        lambda: (
            f.table("leads")
            .filter(pl.col("created_at").is_between(ctx.period.start, ctx.period.end))
            .collect()
        ),
    )
    r = referrals(leads, ctx.period, ctx.account_ids)
    k = int(r["referred_by"].n_unique()) if r.height else 0
    return {
        "referrals_count": Value(float(r.height), n=r.height),
        "referring_customers_count": Value(float(k), n=k),
    }


__all__ = [
    "DEFAULT_THEMES",
    "ces",
    "ces_low_effort",
    "csat",
    "fcr",
    "median_hours",
    "normalise_comment",
    "nps",
    "nps_group",
    "nps_groups",
    "nps_interval",
    "proportion",
    "referrals",
    "resolved_tickets",
    "small_sample_note",
    "survey_responses",
    "voice_of_customer",
    "wilson",
]
