"""A seeded, deterministic generator of a realistic subscription company.

``generate(out, accounts, events, seed)`` writes one ``<table>.parquet`` per
table of the data contract (:data:`csm_lib.contract.TABLES`) and returns the
row counts. The same arguments always give byte-identical files. The bundled
sample (``data/sample``, the defaults: 2,000 accounts, about 1.5 million
events, seed 42) is returned by :func:`sample_path`.

The company sells a B2B analytics product (segments Enterprise, Mid-Market and
SMB) and a B2C app (segment ``Consumer``, business model ``B2C``) in four
regions (NA, EMEA, APAC, LATAM; EMEA is billed in EUR, everything else in
USD). The data covers 2023-01-01 to 2025-12-31 (the as-of date): about a
quarter of the accounts are customers already at the start (their first
subscription row starts in 2021 or 2022), the others are acquired through the
three years at a growing pace. Subscriptions carry monthly, annual and
multi-year (24/36 months) terms; product lines ``Core`` (plans Starter, Pro,
Enterprise per seat; Free, Plus, Premium flat for consumers), ``Analytics
add-on`` (per seat) and ``Storage`` (per GB); trials (``is_trial``, mostly
``mrr`` 0, paid pilots > 0) before the first paid row, one-time
implementation and training fees, seat upsells, plan upgrades, cross-sells,
contractions, downgrades, churn, reactivations (a new subscription id) and
contracts that will not renew (``end_date`` after the as-of date). Usage
events exist only while an account is paying or on trial.

Planted stories (each is asserted by ``tests/test_sample.py`` on the bundled
sample):

1. **Bad fit.** B2B accounts in the ``Retail`` industry churn at about 2.5x
   the hazard of the other industries (bundled sample: 2.0x the monthly
   B2B logo churn rate of the other industries).
2. **Usage declines before churn.** An account's event rate falls linearly
   to a quarter of its normal level over the 100 days before it churns
   (bundled sample: events in the last 30 days before churn are 0.40x the
   daily rate of days 120-180 before churn; retained accounts stay at 1.0x).
3. **Price change.** The Pro plan's list price rises 20 % on 2024-07-01,
   applied at each account's next renewal (next month for monthly billing,
   the contract anniversary for annual terms): expansion MRR jumps in
   2024-Q3 and rows that only change the price (same plan, same quantity,
   higher MRR) appear from 2024-07-01 on only (bundled sample: 2024-Q3
   expansion MRR is 2.1x 2024-Q2).
4. **Support backlog -> NPS dip.** First-response times of tickets opened in
   2024-Q3 balloon (median about 5x, 4-5 h -> about 23 h), CSAT of slow
   tickets drops, "support took too long to respond" comments pile up and
   NPS falls from about +30 to about -30 in 2024-Q4, recovering in 2025.
5. **Health predicts renewal.** A latent health per account drives usage
   volume, breadth (features used, users), sentiment (NPS, CSAT) and the
   churn hazard: accounts in the bottom third of a simple usage + breadth +
   NPS score (at 2024-12-31) churn about 2.5x as often in 2025 (23 % vs 9 %)
   as accounts in the top third.

Conventions: ids are zero-padded (``A000001``, ``U0000001``, ``SUB000001C0``:
account, line ``C`` ore / ``A`` nalytics / ``G`` storage, generation);
CES is an effort score (1 = very low effort, 7 = very high effort);
``fx_rates`` holds EUR for every month 2021-01..2025-12, so every row's start
month has a rate (USD is the reporting currency and has no row).

>>> import tempfile
>>> from csm_lib.contract import TABLES
>>> with tempfile.TemporaryDirectory() as tmp:
...     counts = generate(tmp, accounts=60, events=5_000, seed=7)
...     files = sorted(p.name for p in Path(tmp).iterdir())
>>> sorted(counts) == sorted(TABLES)
True
>>> counts["accounts"], counts["costs"], counts["fx_rates"]
(60, 216, 60)
>>> files[:2]
['accounts.parquet', 'costs.parquet']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from csm_lib.contract import TABLES

__all__ = ["generate", "sample_path", "DEFAULT_ACCOUNTS", "DEFAULT_EVENTS", "DEFAULT_SEED"]

DEFAULT_ACCOUNTS = 2000
DEFAULT_EVENTS = 1_500_000
DEFAULT_SEED = 42

# --- calendar: days are int64 days since 1970-01-01; months index a grid ----
GRID0 = np.datetime64("2021-01", "M")  # month 0 of the simulation grid
N_MONTHS = 60  # 2021-01 .. 2025-12
WINDOW_M = 24  # 2023-01, first month of the data window
PRICE_CHANGE_M = 42  # 2024-07: Pro list price +20 %
START_DAY = int(np.datetime64("2023-01-01", "D").astype(np.int64))
AS_OF_DAY = int(np.datetime64("2025-12-31", "D").astype(np.int64))
END_DAY = AS_OF_DAY + 1  # exclusive end of the data
US_PER_DAY = 86_400_000_000

# --- the company -------------------------------------------------------------
SEGMENTS = ("Enterprise", "Mid-Market", "SMB", "Consumer")
ENT, MM, SMB, CONS = range(4)
SEG_SHARE = (0.10, 0.25, 0.40, 0.25)
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
REGION_SHARE = (0.45, 0.30, 0.15, 0.10)
REGION_PEAK_UTC_H = (16.0, 10.0, 3.0, 15.0)  # business-hours peak in UTC
INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
)
IND_SHARE = (0.22, 0.15, 0.14, 0.14, 0.13, 0.11, 0.11)
BAD_FIT_INDUSTRY = INDUSTRIES.index("Retail")
BAD_FIT_HAZARD = 2.5
CHANNELS = ("inbound", "outbound", "partner", "referral", "self-serve")
CHANNEL_SHARE = (
    (0.15, 0.45, 0.25, 0.15, 0.00),
    (0.35, 0.30, 0.15, 0.20, 0.00),
    (0.45, 0.00, 0.15, 0.15, 0.25),
    (0.10, 0.00, 0.00, 0.20, 0.70),
)
REFERRAL = CHANNELS.index("referral")
CSMS_ENT = ("Avery Brooks", "Jordan Lee", "Morgan Patel")
CSMS_MM = ("Sam Rivera", "Taylor Chen", "Casey Novak", "Riley Okafor", "Jamie Schulz")
CSMS_POOL = ("Digital CS Team",)

PLANS = ("Starter", "Pro", "Enterprise", "Free", "Plus", "Premium")
STARTER, PRO, ENTERPRISE, FREE, PLUS, PREMIUM = range(6)
PLAN_SHARE = (
    (0.00, 0.40, 0.60, 0, 0, 0),
    (0.25, 0.60, 0.15, 0, 0, 0),
    (0.55, 0.45, 0.00, 0, 0, 0),
    (0, 0, 0, 0.25, 0.55, 0.20),
)
INTERVALS = ("month", "year", "multi_year")
INTERVAL_SHARE = ((0.05, 0.45, 0.50), (0.30, 0.60, 0.10), (0.70, 0.30, 0.0), (0.80, 0.20, 0.0))
# list price in USD cents per unit per month, by plan x interval (annual price / 12)
LIST_CENTS = np.array(
    [
        [2000, 1700, 1600],  # Starter
        [4000, 3400, 3200],  # Pro
        [7000, 5950, 5600],  # Enterprise
        [0, 0, 0],  # Free
        [999, 825, 825],  # Plus
        [1999, 1658, 1658],  # Premium
    ],
    dtype=np.int64,
)
PRO_NEW_CENTS = np.array([4800, 4080, 3840], dtype=np.int64)  # from 2024-07-01
ANALYTICS_CENTS = np.array([1500, 1275, 1200], dtype=np.int64)  # per seat
STORAGE_CENTS = np.array([40, 34, 32], dtype=np.int64)  # per GB
EUR_PER_USD_LIST = 0.92  # EUR list prices = USD list x 0.92
ANNUAL_CHURN = np.array([0.07, 0.12, 0.22, 0.35])  # base yearly churn probability
FEATURES = ("reports", "dashboards", "alerts", "api", "integrations", "exports")
FEATURE_POP = np.array([0.35, 0.30, 0.10, 0.05, 0.08, 0.12])
EVENTS = (
    "login",
    "report_created",
    "report_viewed",
    "dashboard_viewed",
    "dashboard_shared",
    "alert_created",
    "api_call",
    "integration_synced",
    "export",
)
FEATURE_EVENTS = np.array([[2, 2, 1], [3, 3, 4], [5, 5, 5], [6, 6, 6], [7, 7, 7], [8, 8, 8]])
POSITIVE = ("great support", "easy to use", "love the dashboards", "reports save us hours")
NEGATIVE = (
    "too expensive",
    "missing integrations",
    "slow reports",
    "hard to set up",
    "support took too long to respond",
)
SLOW_SUPPORT, TOO_EXPENSIVE = NEGATIVE.index("support took too long to respond"), 0
# 2024-Q3 support backlog (ticket-opened month -> first-response multiplier) and
# the NPS dip that follows (response month -> points off the 0-10 score)
BACKLOG = {42: 3.0, 43: 6.0, 44: 7.0, 45: 2.0}
NPS_DIP = {43: 0.4, 44: 1.0, 45: 1.8, 46: 1.8, 47: 1.4, 48: 0.6}
COST_CATEGORIES = ("sales", "marketing", "customer_success", "support", "onboarding", "training")

PARQUET_OPTIONS = dict(
    compression="zstd",
    compression_level=3,
    use_dictionary=True,
    write_statistics=True,
    version="2.6",
    data_page_version="1.0",
    data_page_size=1 << 20,
    store_schema=True,
)


# ----------------------------------------------------------------- helpers --
def _month_day(m: np.ndarray | int) -> np.ndarray:
    """First day (int days) of grid month(s) ``m``."""
    return (GRID0 + np.asarray(m)).astype("datetime64[D]").astype(np.int64)


def _choice(rng: np.random.Generator, p, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.searchsorted(np.cumsum(p / p.sum()), rng.random(size), side="right").clip(
        0, len(p) - 1
    )


def _choice_rows(rng: np.random.Generator, table, rows: np.ndarray) -> np.ndarray:
    """One draw per element of ``rows`` from the distribution ``table[row]``."""
    cum = np.cumsum(np.asarray(table, dtype=float), axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(rows))
    return (u[:, None] >= cum[rows]).sum(axis=1).clip(0, cum.shape[1] - 1)


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """``prefix`` + zero-padded 1..n, e.g. A000001."""
    digits = pl.Series("id", np.arange(1, n + 1)).cast(pl.String).str.zfill(width)
    return pl.select(pl.concat_str(pl.lit(prefix), digits)).to_series()


def _strs(values, codes: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(codes.astype(np.int64))


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int64)).cast(pl.Int32).cast(pl.Date)


def _datetimes(us: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(us, dtype=np.int64)).cast(pl.Datetime("us", "UTC"))


def _arrow_schema(name: str) -> pa.Schema:
    to_pa = {
        pl.String: pa.string(),
        pl.Date: pa.date32(),
        pl.Float64: pa.float64(),
        pl.Int32: pa.int32(),
        pl.Boolean: pa.bool_(),
    }
    fields = []
    for col, spec in TABLES[name].columns.items():
        t = pa.timestamp("us", tz="UTC") if spec.dtype == pl.Datetime("us", "UTC") else None
        fields.append(pa.field(col, t or to_pa[spec.dtype.base_type()]))
    return pa.schema(fields)


def _to_arrow(name: str, df: pl.DataFrame) -> pa.Table:
    spec = TABLES[name].columns
    expected = {c: s.dtype for c, s in spec.items()}
    got = dict(df.schema)
    if got != expected:
        raise AssertionError(f"{name}: schema {got} != contract {expected}")
    return df.to_arrow().cast(_arrow_schema(name))


def _write(out: Path, name: str, df: pl.DataFrame) -> int:
    pq.write_table(_to_arrow(name, df), out / f"{name}.parquet", **PARQUET_OPTIONS)
    return df.height


# ---------------------------------------------------------------- accounts --
def _accounts(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Static account attributes, ordered by creation date (the id order)."""
    seg = _choice(rng, SEG_SHARE, n)
    region = _choice(rng, REGION_SHARE, n)
    industry = np.where(seg == CONS, -1, _choice(rng, IND_SHARE, n))
    channel = _choice_rows(rng, CHANNEL_SHARE, seg)
    health = rng.standard_normal(n)
    existing = rng.random(n) < 0.25
    growth = 1.0 + 0.04 * np.arange(N_MONTHS - WINDOW_M)
    start_m = np.where(
        existing,
        rng.integers(0, WINDOW_M, n),
        WINDOW_M + _choice(rng, growth, n),
    )
    anchor = rng.integers(1, 29, n)  # billing day of month, 1..28
    paid_start = _month_day(start_m) + anchor - 1
    plan = _choice_rows(rng, PLAN_SHARE, seg)
    interval = _choice_rows(rng, INTERVAL_SHARE, seg)
    interval = np.where(plan == FREE, 0, interval)
    term = np.select([interval == 1, interval == 2], [12, np.where(rng.random(n) < 0.5, 24, 36)], 1)
    med = np.array([80.0, 25.0, 5.0, 1.0])[seg]
    sig = np.array([0.6, 0.5, 0.5, 0.0])[seg]
    lo, hi = np.array([20, 8, 1, 1])[seg], np.array([800, 150, 25, 1])[seg]
    seats = np.clip(np.round(med * np.exp(sig * rng.standard_normal(n))), lo, hi).astype(np.int64)
    # trials: 14 days (SMB, consumers), 30 days (Mid-Market, Enterprise pilots), some 45
    trial_p = np.array([0.10, 0.30, 0.60, 0.50])[seg]
    trial_len = np.where(seg >= SMB, 14, 30)
    trial_len = np.where(rng.random(n) < 0.10, 45, trial_len)
    has_trial = (rng.random(n) < trial_p) & ~existing & (plan != FREE)
    has_trial &= paid_start - trial_len >= START_DAY
    trial_start = np.where(has_trial, paid_start - trial_len, paid_start)
    lag = np.where(seg == CONS, 0, rng.integers(0, 15, n))
    created = np.where(has_trial, trial_start, paid_start - lag)
    created = np.where(
        existing, paid_start - rng.integers(0, 60, n), np.maximum(created, START_DAY)
    )
    created = np.minimum(created, trial_start)
    order = np.lexsort((rng.random(n), created))
    a = dict(
        seg=seg,
        region=region,
        industry=industry,
        channel=channel,
        health=health,
        existing=existing,
        start_m=start_m,
        anchor=anchor,
        paid_start=paid_start,
        plan=plan,
        interval=interval,
        term=term,
        seats=seats,
        has_trial=has_trial,
        trial_start=trial_start,
        created=created,
    )
    a = {k: v[order] for k, v in a.items()}
    # referrals point at an older account (created strictly earlier)
    older = np.searchsorted(a["created"], a["created"], side="left")
    ref = a["channel"] == REFERRAL
    a["channel"] = np.where(ref & (older == 0), 0, a["channel"])
    ref &= older > 0
    a["referred_by"] = np.where(ref, np.floor(rng.random(n) * older).astype(np.int64), -1)
    a["eur"] = a["region"] == REGIONS.index("EMEA")
    a["trial_paid_cents"] = np.where(
        (a["seg"] == ENT) & (rng.random(n) < 0.5), 50_000 + 1000 * rng.integers(0, 50, n), 0
    )
    return a


def _list_cents(plan, interval, eur, m) -> np.ndarray:
    base = LIST_CENTS[plan, interval]
    base = np.where((plan == PRO) & (m >= PRICE_CHANGE_M), PRO_NEW_CENTS[interval], base)
    return np.where(eur, np.round(base * EUR_PER_USD_LIST), base).astype(np.int64)


def _addon_cents(table, interval, eur) -> np.ndarray:
    base = table[interval]
    return np.where(eur, np.round(base * EUR_PER_USD_LIST), base).astype(np.int64)


# --------------------------------------------------------------- lifecycle --
def _simulate(a: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Month-by-month state of every account (vectorised over accounts).

    Returns n x N_MONTHS panels: the state in force from the account's billing
    day of that month to the billing day of the next one.
    """
    n = len(a["seg"])
    seg, h, eur = a["seg"], a["health"], a["eur"]
    b2b = seg != CONS
    hazard = -np.log1p(-ANNUAL_CHURN[seg]) * np.exp(-0.8 * h - 0.32)
    hazard *= np.where(a["industry"] == BAD_FIT_INDUSTRY, BAD_FIT_HAZARD, 1.0)
    status = np.zeros(n, np.int8)  # 0 not started, 1 live, 2 churned (may return), 3 gone
    plan, seats = a["plan"].copy(), a["seats"].copy()
    interval, term = a["interval"].copy(), a["term"].copy()
    price = np.zeros(n, np.int64)
    an_q, an_p, st_q, st_p = (np.zeros(n, np.int64) for _ in range(4))
    gen = np.zeros(n, np.int8)
    term_start = np.zeros(n, np.int64)
    react_m = np.full(n, 10**6)
    shape = (n, N_MONTHS)
    P = {
        "plan": np.full(shape, -1, np.int8),
        "q": np.zeros(shape, np.int32),
        "p": np.zeros(shape, np.int32),
        "aq": np.zeros(shape, np.int32),
        "ap": np.zeros(shape, np.int32),
        "sq": np.zeros(shape, np.int32),
        "sp": np.zeros(shape, np.int32),
        "gen": np.zeros(shape, np.int8),
        "int": np.zeros(shape, np.int8),
        "term": np.zeros(shape, np.int8),
    }
    for m in range(N_MONTHS):
        U = rng.random((n, 16))
        back = (status == 2) & (react_m == m)
        gen[back] += 1
        seats = np.where(back & b2b, np.maximum(1, np.round(seats * (0.5 + 0.5 * U[:, 0]))), seats)
        interval[back], term[back] = 0, 1
        an_q[back], st_q[back] = 0, 0
        new = a["start_m"] == m
        fresh = back | new
        status[fresh], term_start[fresh] = 1, m
        price = np.where(fresh, _list_cents(plan, interval, eur, m), price)

        live = (status == 1) & ~fresh & (m >= WINDOW_M)
        renew = live & ((m - term_start) % term == 0)
        paid = plan != FREE
        years = term / 12.0
        p_churn = np.where(renew & paid, -np.expm1(-hazard * years), 0.0)
        repriced = renew & (plan == PRO) & (price < _list_cents(plan, interval, eur, m))
        p_churn = np.where(repriced, p_churn * 1.3, p_churn)
        p_churn = np.where(live & ~paid, 0.04, p_churn)
        churn = U[:, 1] < p_churn
        returns = churn & paid & (U[:, 2] < 0.15)
        react_m = np.where(returns, m + 2 + (U[:, 3] * 11).astype(np.int64), react_m)
        status[churn] = np.where(returns[churn], 2, 3)
        stay = live & ~churn
        rs = stay & renew
        price = np.where(rs & paid, _list_cents(plan, interval, eur, m), price)
        # plan moves at renewal (B2B), Free -> Plus any month, Plus <-> Premium at renewal
        up = rs & b2b & (plan < ENTERPRISE) & (U[:, 4] < -np.expm1(-0.10 * np.exp(0.4 * h) * years))
        down = (
            rs
            & b2b
            & ~up
            & np.isin(plan, (PRO, ENTERPRISE))
            & (U[:, 5] < -np.expm1(-0.05 * np.exp(-0.4 * h) * years))
        )
        c_up = (stay & (plan == FREE) & (U[:, 4] < 0.05)) | (
            rs & (plan == PLUS) & (U[:, 4] < -np.expm1(-0.10 * years))
        )
        c_down = rs & (plan == PREMIUM) & (U[:, 5] < -np.expm1(-0.08 * years))
        plan = plan + up + c_up - down - c_down
        price = np.where(up | down | c_up | c_down, _list_cents(plan, interval, eur, m), price)
        # seats: upsell any month (co-termed, price kept), contraction at renewal
        more = stay & b2b & (U[:, 6] < 0.02 * np.exp(0.5 * h))
        seats = np.where(more, seats + np.ceil(seats * (0.1 + 0.3 * U[:, 7])), seats)
        fewer = (
            rs & b2b & ~more & (seats > 1) & (U[:, 8] < -np.expm1(-0.12 * np.exp(-0.5 * h) * years))
        )
        seats = np.where(
            fewer, np.maximum(1, seats - np.maximum(1, seats * (0.1 + 0.25 * U[:, 7]))), seats
        )
        seats = seats.astype(np.int64)
        # cross-sell: Analytics add-on (per seat) and Storage (per GB)
        tenure = m - a["start_m"]
        p_an = 0.012 * np.exp(0.6 * h) * np.where(seg <= MM, 1.5, 1.0)
        add_an = stay & b2b & (an_q == 0) & (tenure >= 3) & (U[:, 9] < p_an)
        an_q = np.where(add_an, np.ceil(seats * (0.2 + 0.4 * U[:, 10])), an_q).astype(np.int64)
        an_p = np.where(add_an, _addon_cents(ANALYTICS_CENTS, interval, eur), an_p)
        grow_an = stay & ~add_an & (an_q > 0) & (U[:, 11] < 0.015)
        an_q = np.where(grow_an, np.minimum(seats, an_q + np.ceil(an_q * 0.2)), an_q)
        drop_an = rs & (an_q > 0) & ~add_an & (U[:, 12] < -np.expm1(-0.10 * years))
        an_q = np.where(drop_an, 0, an_q).astype(np.int64)
        add_st = stay & b2b & (st_q == 0) & (tenure >= 2) & (U[:, 13] < 0.008)
        st_q = np.where(add_st, 100 * (1 + (U[:, 14] * 5).astype(np.int64)), st_q)
        st_p = np.where(add_st, _addon_cents(STORAGE_CENTS, interval, eur), st_p)
        grow_st = stay & ~add_st & (st_q > 0) & (U[:, 15] < 0.03)
        st_q = np.where(grow_st, st_q + 100 * (1 + (U[:, 14] * 3).astype(np.int64)), st_q)

        on = status == 1
        P["plan"][on, m] = plan[on]
        P["q"][on, m] = seats[on]
        P["p"][on, m] = price[on]
        P["aq"][on, m] = an_q[on]
        P["ap"][on, m] = an_p[on]
        P["sq"][on, m] = st_q[on]
        P["sp"][on, m] = st_p[on]
        P["gen"][on, m] = gen[on]
        P["int"][on, m] = interval[on]
        P["term"][on, m] = term[on]
    P["term_start"] = term_start
    return P


def _runs(active: np.ndarray, *keys: np.ndarray):
    """Runs of constant ``keys`` where ``active``: (row, first month, end month).

    ``end month`` is exclusive; N_MONTHS means the run is still going.
    """
    n, M = active.shape
    prev = np.zeros_like(active)
    prev[:, 1:] = active[:, :-1]
    changed = np.zeros(active.shape, bool)
    for k in keys:
        changed[:, 1:] |= k[:, 1:] != k[:, :-1]
    start = active & (~prev | changed)
    boundary = np.concatenate([start | ~active, np.ones((n, 1), bool)], axis=1).ravel()
    pos = np.where(boundary, np.arange(boundary.size), boundary.size)
    nxt = np.minimum.accumulate(pos[::-1])[::-1]
    row, m = np.nonzero(start)
    end = nxt[row * (M + 1) + m + 1] - row * (M + 1)
    return row, m, end


# ----------------------------------------------------------- subscriptions --
def _subscriptions(a, P, rng) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    n = len(a["seg"])
    anchor = a["anchor"]
    lines = (
        ("Core", "C", P["plan"] >= 0, P["q"], P["p"], (P["plan"], P["q"], P["p"])),
        ("Analytics add-on", "A", P["aq"] > 0, P["aq"], P["ap"], (P["aq"], P["ap"])),
        ("Storage", "G", P["sq"] > 0, P["sq"], P["sp"], (P["sq"], P["sp"])),
    )
    parts = []
    for li, (_line, code, active, q, p, keys) in enumerate(lines):
        row, m, end = _runs(active, P["gen"], P["int"], *keys)
        qty = q[row, m].astype(np.int64)
        cents = qty * p[row, m].astype(np.int64)
        plan = P["plan"][row, m] if li == 0 else np.full(len(row), -1)
        parts.append(
            dict(
                acc=row,
                line=np.full(len(row), li),
                code=np.full(len(row), code),
                gen=P["gen"][row, m].astype(np.int64),
                plan=plan,
                start=_month_day(m) + anchor[row] - 1,
                end_m=end,
                end=np.where(end < N_MONTHS, _month_day(np.minimum(end, N_MONTHS)), 0)
                + anchor[row]
                - 1,
                interval=P["int"][row, m].astype(np.int64),
                term=P["term"][row, m].astype(np.int64),
                cents=cents,
                qty=qty,
                trial=np.zeros(len(row), bool),
            )
        )
    s = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    running = s["end_m"] >= N_MONTHS
    # contracts that will not renew: their live rows end at the next renewal
    acc_live = np.zeros(n, bool)
    acc_live[s["acc"][running]] = True
    ts = P["term_start"]
    term_now = np.maximum(1, P["term"][:, -1].astype(np.int64))
    notice = acc_live & (term_now > 1) & (rng.random(n) < 0.06 * np.exp(-0.5 * a["health"]))
    next_renew = ts + ((N_MONTHS - ts) // term_now + 1) * term_now
    next_renew_day = _month_day(next_renew) + anchor - 1
    fixed_end = running & notice[s["acc"]]
    s["end"] = np.where(fixed_end, next_renew_day[s["acc"]], s["end"])
    end_null = running & ~fixed_end
    # one-time fees on the first Core row of new B2B accounts
    first_core = (s["line"] == 0) & (s["gen"] == 0) & (s["start"] == a["paid_start"][s["acc"]])
    seg = a["seg"][s["acc"]]
    fee_p = np.array([0.8, 0.5, 0.15, 0.0])[seg]
    fee_lo, fee_hi = np.array([50, 10, 2, 0])[seg], np.array([250, 50, 8, 0])[seg]
    u = rng.random(len(seg))
    fee = np.where(
        first_core & (rng.random(len(seg)) < fee_p),
        100.0 * np.round(fee_lo + u * (fee_hi - fee_lo)),
        0.0,
    )
    # trial rows before the first paid row, on the Core subscription
    t = np.nonzero(a["has_trial"])[0]
    tcents = np.where(a["trial_paid_cents"][t] > 0, a["trial_paid_cents"][t], 0)
    acc = np.concatenate([s["acc"], t])
    k = len(t)
    df = pl.DataFrame(
        {
            "acc": acc,
            "code": np.concatenate([s["code"], np.full(k, "C")]),
            "gen": np.concatenate([s["gen"], np.zeros(k, np.int64)]),
            "line": np.concatenate([s["line"], np.zeros(k, np.int64)]),
            "plan": np.concatenate([s["plan"], a["plan"][t]]),
            "start": np.concatenate([s["start"], a["trial_start"][t]]),
            "end": np.concatenate([s["end"], a["paid_start"][t]]),
            "end_null": np.concatenate([end_null, np.zeros(k, bool)]),
            "interval": np.concatenate([s["interval"], np.zeros(k, np.int64)]),
            "term": np.concatenate([s["term"], np.ones(k, np.int64)]),
            "cents": np.concatenate([s["cents"], tcents]),
            "qty": np.concatenate([s["qty"], a["seats"][t]]),
            "fee": np.concatenate([fee, np.zeros(k)]),
            "trial": np.concatenate([s["trial"], np.ones(k, bool)]),
        }
    )
    acc_ids = _ids("A", n, 6)
    unit = np.array(["seat", "seat", "gb"])
    df = df.with_columns(
        subscription_id=pl.concat_str(
            pl.lit("SUB"),
            acc_ids.gather(df["acc"]).str.slice(1),
            pl.col("code"),
            pl.col("gen"),
        ),
        account_id=acc_ids.gather(df["acc"]),
        product_line=_strs(("Core", "Analytics add-on", "Storage"), df["line"].to_numpy()),
        plan=_strs(PLANS + ("Analytics", "Storage"), _plan_code(df)),
        start_date=_dates(df["start"].to_numpy()),
        end_date=pl.when(pl.col("end_null")).then(None).otherwise(_dates(df["end"].to_numpy())),
        billing_interval=_strs(INTERVALS, df["interval"].to_numpy()),
        term_months=pl.when(pl.col("interval") == 0)
        .then(None)
        .otherwise(pl.col("term"))
        .cast(pl.Int32),
        mrr=(pl.col("cents") / 100.0).round(2),
        quantity=pl.col("qty").cast(pl.Int32),
        unit=pl.when((pl.col("line") == 0) & (pl.col("plan") >= FREE))
        .then(pl.lit("flat"))
        .otherwise(_strs(unit, df["line"].to_numpy())),
        one_time_fees=pl.col("fee"),
        is_trial=pl.col("trial"),
        currency=pl.when(pl.Series(a["eur"][df["acc"].to_numpy()]))
        .then(pl.lit("EUR"))
        .otherwise(pl.lit("USD")),
    )
    out = df.select(list(TABLES["subscriptions"].columns)).sort("subscription_id", "start_date")
    return out, {
        "acc": df["acc"].to_numpy(),
        "start": df["start"].to_numpy(),
        "end": np.where(df["end_null"].to_numpy(), END_DAY, df["end"].to_numpy()),
        "trial": df["trial"].to_numpy(),
    }


def _plan_code(df: pl.DataFrame) -> np.ndarray:
    line, plan = df["line"].to_numpy(), df["plan"].to_numpy()
    return np.select([line == 1, line == 2], [len(PLANS), len(PLANS) + 1], plan)


def _spans(a, P) -> dict[str, np.ndarray]:
    """Periods of paid use (Core line on a paid plan) and trials, in days."""
    paid = (P["plan"] >= 0) & (P["plan"] != FREE)
    row, m, end = _runs(paid, P["gen"])
    anchor = a["anchor"]
    start = _month_day(m) + anchor[row] - 1
    stop = np.where(end < N_MONTHS, _month_day(np.minimum(end, N_MONTHS - 1)) + anchor[row] - 1, 0)
    churned = end < N_MONTHS
    stop = np.where(churned, stop, END_DAY)
    t = np.nonzero(a["has_trial"])[0]
    acc = np.concatenate([row, t])
    order = np.lexsort((np.concatenate([start, a["trial_start"][t]]), acc))
    sp = dict(
        acc=acc,
        start=np.concatenate([start, a["trial_start"][t]]),
        end=np.concatenate([stop, a["paid_start"][t]]),
        trial=np.concatenate([np.zeros(len(row), bool), np.ones(len(t), bool)]),
        churn_day=np.concatenate([np.where(churned, stop, 10**7), np.full(len(t), 10**7)]),
    )
    sp = {k: v[order] for k, v in sp.items()}
    # first paid day of the account (for the usage ramp-up)
    sp["first_paid"] = a["paid_start"][sp["acc"]]
    return sp


def _first_and_last_day(a, sub_days) -> tuple[np.ndarray, np.ndarray]:
    n = len(a["seg"])
    first = np.full(n, 10**7)
    last = np.zeros(n, np.int64)
    np.minimum.at(first, sub_days["acc"], sub_days["start"])
    nt = ~sub_days["trial"]
    np.maximum.at(last, sub_days["acc"][nt], sub_days["end"][nt])
    return first, np.minimum(last, END_DAY)


# ------------------------------------------------------------------- users --
def _users(a, P, first, last, rng) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    n = len(a["seg"])
    max_seats = np.maximum(1, P["q"].max(axis=1)).astype(np.int64)
    b2b = a["seg"] != CONS
    nu = np.where(b2b, np.maximum(1, np.round(max_seats * (0.5 + 0.4 * rng.random(n)))), 1)
    nu = np.where(~b2b & (rng.random(n) < 0.15), 2, nu).astype(np.int64)
    off = np.concatenate([[0], np.cumsum(nu)[:-1]])
    acc = np.repeat(np.arange(n), nu)
    j = np.arange(nu.sum()) - off[acc]
    f, la = first[acc], last[acc]
    life = np.maximum(1, la - f)
    early = rng.random(len(acc)) < 0.75
    created = np.where(
        early,
        f + np.floor(rng.exponential(15.0, len(acc))),
        f + np.floor(rng.random(len(acc)) * life),
    )
    created = np.where(j == 0, f, np.minimum(created, la - 1)).astype(np.int64)
    ended = la <= AS_OF_DAY
    room = la - created
    rand_off = (j > 0) & (rng.random(len(acc)) < 0.08) & (room >= 2)
    deact = np.where(
        rand_off,
        created + 1 + np.floor(rng.random(len(acc)) * (room - 1)).astype(np.int64),
        np.where(ended, la, -1),
    )
    r = rng.random(len(acc))
    role = np.select([j == 0, ~b2b[acc], r < 0.1, r < 0.7], [0, 4, 0, 1], 2)
    acc_ids = _ids("A", n, 6)
    df = pl.DataFrame(
        {
            "user_id": _ids("U", len(acc), 7),
            "account_id": acc_ids.gather(acc),
            "created_at": _dates(created),
            "deactivated_at": _dates(np.maximum(deact, 0)),
            "role": _strs(("admin", "member", "viewer", "owner", "owner"), role),
        }
    ).with_columns(
        deactivated_at=pl.when(pl.Series(deact < 0)).then(None).otherwise(pl.col("deactivated_at")),
    )
    info = dict(nu=nu, off=off, created=created, deact=np.where(deact < 0, 10**7, deact))
    return df, info


def _pick_users(rng, accs, days, gamma, U) -> np.ndarray:
    """A user of each account valid on that day (skewed to power users)."""
    nu = U["nu"][accs]
    r = np.floor(rng.random(len(accs)) ** gamma[accs] * nu).astype(np.int64)
    u = U["off"][accs] + np.minimum(r, nu - 1)
    ok = (U["created"][u] <= days) & (U["deact"][u] > days)
    return np.where(ok, u, U["off"][accs])


# ------------------------------------------------------------------ events --
def _month_days(sp, m: int, prof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Account-days of grid month m inside spans, with their session weight."""
    ms, me = int(_month_day(m)), int(_month_day(m + 1))
    s = np.maximum(sp["start"], max(ms, START_DAY))
    e = np.minimum(sp["end"], min(me, END_DAY))
    L = np.maximum(e - s, 0)
    idx = np.nonzero(L)[0]
    L = L[idx]
    span = np.repeat(idx, L)
    day = s[span] + np.arange(L.sum()) - np.repeat(np.cumsum(L) - L, L)
    acc = sp["acc"][span]
    dow = (day + 3) % 7  # 0 = Monday
    weekend = dow >= 5
    w = prof["w"][acc] * np.where(weekend, prof["weekend"][acc], 1.0)
    w *= 0.25 + 0.75 * np.clip((sp["churn_day"][span] - day) / 100.0, 0.0, 1.0)
    w *= 0.5 + 0.5 * np.clip((day - sp["first_paid"][span]) / 60.0, 0.0, 1.0)
    w *= np.where(sp["trial"][span], 0.6, 1.0)
    return acc, day, w


def _usage_profile(a, U, rng) -> dict[str, np.ndarray]:
    n = len(a["seg"])
    h = a["health"]
    b2b = a["seg"] != CONS
    base = np.array([1.0, 1.0, 1.2, 1.5])[a["seg"]]
    w = base * U["nu"] ** 0.7 * np.exp(0.6 * h)
    mu = 2.5 * np.exp(0.25 * h)  # extra events per session
    # features: breadth grows with health; consumers never use api/integrations
    breadth = np.clip(np.round(3 + 1.3 * h + 0.7 * rng.standard_normal(n)), 1, 6).astype(np.int64)
    breadth = np.where(b2b, breadth, np.minimum(breadth, 4))
    logp = np.log(FEATURE_POP)[None, :] + rng.gumbel(size=(n, len(FEATURES)))
    logp[~b2b, 3:5] = -np.inf
    order = np.argsort(-logp, axis=1, kind="stable")
    wts = FEATURE_POP[order] * (np.arange(len(FEATURES))[None, :] < breadth[:, None])
    cum = np.cumsum(wts, axis=1)
    cum /= cum[:, -1:]
    return dict(
        w=w,
        mu=mu,
        weekend=np.where(b2b, 0.15, 1.3),
        order=order,
        cum=cum,
        has_api=_has(order, breadth, FEATURES.index("api")),
        gamma=1.6 * np.exp(-0.3 * h),
        peak=np.where(b2b, np.array(REGION_PEAK_UTC_H)[a["region"]], 20.0),
    )


def _has(order: np.ndarray, breadth: np.ndarray, feature: int) -> np.ndarray:
    rank = np.argmax(order == feature, axis=1)
    return rank < breadth


def _write_events(path: Path, a, sp, U, prof, events: int, seed: int) -> int:
    scale_den = 0.0
    for m in range(WINDOW_M, N_MONTHS):
        acc, _, w = _month_days(sp, m, prof)
        scale_den += float((w * (1.0 + prof["mu"][acc])).sum())
    scale = events / scale_den if scale_den > 0 else 0.0
    acc_ids = _ids("A", len(a["seg"]), 6)
    user_ids = _ids("U", len(U["created"]), 7)
    ev_names, feat_names = pl.Series(EVENTS), pl.Series(FEATURES)
    schema = _arrow_schema("events")
    total, next_session = 0, 0
    with pq.ParquetWriter(path, schema, **PARQUET_OPTIONS) as writer:
        for m in range(WINDOW_M, N_MONTHS):
            rng = np.random.default_rng([seed, 101, m])
            acc_d, day_d, w = _month_days(sp, m, prof)
            ns = rng.poisson(w * scale)
            sd = np.repeat(np.arange(len(ns)), ns)
            acc_s, day_s = acc_d[sd], day_d[sd]
            S = len(sd)
            api = prof["has_api"][acc_s] & (rng.random(S) < 0.05)
            user_s = _pick_users(rng, acc_s, day_s, prof["gamma"], U)
            hour = (prof["peak"][acc_s] + 2.5 * rng.standard_normal(S)) % 24.0
            start_s = hour * 3600.0
            order = np.lexsort((start_s, day_s, acc_s))  # number sessions in time order
            acc_s, day_s, api, user_s, start_s = (
                x[order] for x in (acc_s, day_s, api, user_s, start_s)
            )
            sess_no = next_session + np.arange(S)
            next_session += S
            ne = 1 + rng.poisson(prof["mu"][acc_s])
            es = np.repeat(np.arange(S), ne)
            E = len(es)
            first = np.repeat(np.cumsum(ne) - ne, ne)
            k = np.arange(E) - first
            gaps = np.where(k == 0, 0.0, 1.0 + rng.exponential(45.0, E))
            cum = np.cumsum(gaps)
            cum -= cum[first]
            t = np.minimum(start_s[es] + cum, 86_399.999_999)
            at = day_s[es] * US_PER_DAY + np.round(t * 1e6).astype(np.int64)
            acc_e = acc_s[es]
            api_e = api[es]
            fi = (rng.random(E)[:, None] >= prof["cum"][acc_e]).sum(axis=1).clip(0, 5)
            feat = prof["order"][acc_e, fi]
            feat = np.where(api_e, 3, feat)
            ev = FEATURE_EVENTS[feat, (rng.random(E) * 3).astype(np.int64)]
            login = (k == 0) & ~api_e
            ev = np.where(login, 0, ev)
            o = np.lexsort((at, acc_e))
            df = pl.DataFrame(
                {
                    "event_at": _datetimes(at[o]),
                    "account_id": acc_ids.gather(acc_e[o]),
                    "user_id": user_ids.gather(user_s[es][o]),
                    "session_id": pl.Series(sess_no[es][o] + 1).cast(pl.String).str.zfill(9),
                    "event": ev_names.gather(ev[o]),
                    "feature": feat_names.gather(feat[o]),
                    "no_user": api_e[o],
                    "login": login[o],
                }
            ).with_columns(
                user_id=pl.when("no_user").then(None).otherwise("user_id"),
                session_id=pl.when("no_user")
                .then(None)
                .otherwise(pl.lit("S") + pl.col("session_id")),
                feature=pl.when("login").then(None).otherwise("feature"),
            )
            writer.write_table(_to_arrow("events", df.drop("no_user", "login")))
            total += E
    return total


# -------------------------------------------------- tickets, surveys, etc. --
def _span_months(sp, paid_only=True):
    """(span, month, first day, length) of every span x month overlap in the window."""
    keep = ~sp["trial"] if paid_only else np.ones(len(sp["acc"]), bool)
    idx = np.nonzero(keep)[0]
    ms = _month_day(np.arange(WINDOW_M, N_MONTHS + 1))
    s = np.maximum(sp["start"][idx, None], ms[None, :-1])
    e = np.minimum(sp["end"][idx, None], np.minimum(ms[None, 1:], END_DAY))
    L = e - s
    r, c = np.nonzero(L > 0)
    return idx[r], WINDOW_M + c, s[r, c], L[r, c]


def _tickets(a, sp, rng) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    span, m, s, L = _span_months(sp)
    acc = sp["acc"][span]
    seg, h = a["seg"][acc], a["health"][acc]
    rate = np.array([2.0, 0.8, 0.25, 0.05])[seg] * np.exp(-0.3 * h) * L / 30.0
    nt = rng.poisson(rate)
    r = np.repeat(np.arange(len(nt)), nt)
    acc, m, h = acc[r], m[r], h[r]
    T = len(r)
    day = s[r] + np.floor(rng.random(T) * L[r]).astype(np.int64)
    opened = day * US_PER_DAY + (np.clip(rng.normal(14.0, 3.5, T), 0.0, 23.99) * 3600e6).astype(
        np.int64
    )
    pri = _choice(rng, (0.25, 0.50, 0.20, 0.05), T)  # low, normal, high, urgent
    backlog = np.ones(T)
    for mm, f in BACKLOG.items():
        backlog[m == mm] = f
    frt_h = np.array([10.0, 5.0, 2.0, 0.5])[pri] * np.exp(0.8 * rng.standard_normal(T)) * backlog
    res_h = (
        np.array([48.0, 24.0, 12.0, 4.0])[pri]
        * np.exp(1.0 * rng.standard_normal(T))
        * np.where(backlog > 1, 1.5, 1.0)
    )
    first_resp = opened + (frt_h * 3600e6).astype(np.int64)
    resolved = first_resp + (res_h * 3600e6).astype(np.int64)
    cat = _choice(rng, (0.18, 0.24, 0.28, 0.12, 0.10, 0.08), T)
    slow = frt_h > 24
    contacts = 1 + rng.poisson(0.45 + 0.6 * slow + 0.4 * (cat == 1))
    chan = np.where(
        a["seg"][acc] == CONS,
        _choice(rng, (0.5, 0.5, 0, 0), T),
        _choice(rng, (0.45, 0.3, 0.15, 0.1), T),
    )
    cutoff = END_DAY * US_PER_DAY
    order = np.lexsort((rng.random(T), acc, opened))
    acc, opened, first_resp, resolved, contacts, pri, chan, cat, slow, h, m = (
        x[order] for x in (acc, opened, first_resp, resolved, contacts, pri, chan, cat, slow, h, m)
    )
    cat_null = rng.random(T) < 0.03
    acc_ids = _ids("A", len(a["seg"]), 6)
    df = pl.DataFrame(
        {
            "ticket_id": _ids("T", T, 7),
            "account_id": acc_ids.gather(acc),
            "opened_at": _datetimes(opened),
            "first_response_at": _datetimes(first_resp),
            "resolved_at": _datetimes(resolved),
            "contacts": pl.Series(contacts).cast(pl.Int32),
            "priority": _strs(("low", "normal", "high", "urgent"), pri),
            "channel": _strs(("email", "chat", "phone", "portal"), chan),
            "category": _strs(
                ("billing", "bug", "how-to", "integration", "performance", "account"), cat
            ),
            "fr_late": first_resp >= cutoff,
            "res_late": resolved >= cutoff,
            "cat_null": cat_null,
        }
    ).with_columns(
        first_response_at=pl.when("fr_late").then(None).otherwise("first_response_at"),
        resolved_at=pl.when("res_late").then(None).otherwise("resolved_at"),
        category=pl.when("cat_null").then(None).otherwise("category"),
    )
    info = dict(
        acc=acc,
        resolved_day=np.where(resolved < cutoff, resolved // US_PER_DAY, -1),
        slow=slow,
        contacts=contacts,
        health=h,
        month=m,
    )
    return df.select(list(TABLES["tickets"].columns)), info


def _month_of_day(day: np.ndarray) -> np.ndarray:
    d = np.asarray(day).astype("datetime64[D]").astype("datetime64[M]")
    return (d - GRID0).astype(np.int64)


def _comments(rng, polarity: np.ndarray, slow_ctx: np.ndarray, price_ctx: np.ndarray):
    """Theme phrases consistent with polarity (1 positive, 0 mixed, -1 negative)."""
    N = len(polarity)
    pos = (rng.random(N) * len(POSITIVE)).astype(np.int64)
    neg = (rng.random(N) * len(NEGATIVE)).astype(np.int64)
    u = rng.random(N)
    neg = np.where(slow_ctx & (u < 0.5), SLOW_SUPPORT, neg)
    neg = np.where(price_ctx & (u >= 0.5) & (u < 0.8), TOO_EXPENSIVE, neg)
    p = _strs(POSITIVE, pos)
    n_ = _strs(NEGATIVE, neg)
    text = (
        pl.DataFrame({"pol": polarity, "p": p, "n": n_})
        .select(
            pl.when(pl.col("pol") > 0)
            .then("p")
            .when(pl.col("pol") < 0)
            .then("n")
            .otherwise(pl.concat_str("p", pl.lit(", but "), "n"))
        )
        .to_series()
    )
    return text


def _surveys(a, sp, pro, U, tickets, onboard, rng) -> pl.DataFrame:
    # NPS: relationship survey (in-app, QBR), while paying
    span, m, s, L = _span_months(sp)
    acc = sp["acc"][span]
    seg = a["seg"][acc]
    rate = np.array([0.5, 0.25, 0.12, 0.06])[seg] * L / 30.0
    k = rng.poisson(rate)
    r = np.repeat(np.arange(len(k)), k)
    n_acc, n_day, n_span = (
        acc[r],
        s[r] + np.floor(rng.random(len(r)) * L[r]).astype(np.int64),
        span[r],
    )
    n_m = _month_of_day(n_day)
    dip = np.zeros(len(r))
    for mm, f in NPS_DIP.items():
        dip[n_m == mm] = f
    near_churn = (sp["churn_day"][n_span] - n_day) < 120
    z = 0.8 * a["health"][n_acc] + rng.standard_normal(len(r))
    nps = np.clip(np.round(8.2 + 1.5 * z - dip - 1.2 * near_churn), 0, 10).astype(np.int64)
    touch_nps = np.where(
        a["seg"][n_acc] <= MM,
        _choice(rng, (0.4, 0.5, 0.1), len(r)),
        _choice(rng, (0, 0.85, 0.15), len(r)),
    )
    touch_nps = np.array([2, 3, -1])[touch_nps]  # qbr, product, none
    pol_nps = np.select([nps >= 9, nps <= 6], [1, -1], 0)
    # CSAT and CES after resolved support tickets
    res = tickets["resolved_day"] >= 0
    ti = np.nonzero(res)[0]
    csat_sel = ti[rng.random(len(ti)) < 0.4]
    ces_sel = ti[rng.random(len(ti)) < 0.2]
    zc = 0.5 * tickets["health"][csat_sel] + rng.standard_normal(len(csat_sel))
    csat = np.clip(np.round(4.2 + 0.7 * zc - 1.0 * tickets["slow"][csat_sel]), 1, 5).astype(
        np.int64
    )
    ze = 0.5 * tickets["health"][ces_sel] + rng.standard_normal(len(ces_sel))
    ces = np.clip(
        np.round(2.6 - 1.0 * ze + 0.8 * (np.minimum(tickets["contacts"][ces_sel], 4) - 1)), 1, 7
    ).astype(np.int64)

    def after(days):
        return np.minimum(days + rng.integers(0, 3, len(days)), AS_OF_DAY)

    # CES after onboarding training
    ob_acc, ob_day = onboard
    ob_sel = rng.random(len(ob_acc)) < 0.5
    zo = 0.5 * a["health"][ob_acc[ob_sel]] + rng.standard_normal(ob_sel.sum())
    ces_ob = np.clip(np.round(3.0 - 1.0 * zo), 1, 7).astype(np.int64)
    survey = np.concatenate(
        [np.zeros(len(r)), np.ones(len(csat_sel)), np.full(len(ces_sel) + ob_sel.sum(), 2)]
    ).astype(np.int64)
    acc_all = np.concatenate(
        [n_acc, tickets["acc"][csat_sel], tickets["acc"][ces_sel], ob_acc[ob_sel]]
    )
    day_all = np.concatenate(
        [
            n_day,
            after(tickets["resolved_day"][csat_sel]),
            after(tickets["resolved_day"][ces_sel]),
            after(ob_day[ob_sel]),
        ]
    )
    score = np.concatenate([nps, csat, ces, ces_ob])
    touch = np.concatenate(
        [
            touch_nps,
            np.ones(len(csat_sel) + len(ces_sel), np.int64),
            np.zeros(ob_sel.sum(), np.int64),
        ]
    )
    pol = np.concatenate(
        [
            pol_nps,
            np.select([csat >= 4, csat <= 2], [1, -1], 0),
            np.select([ces <= 2, ces >= 5], [1, -1], 0),
            np.select([ces_ob <= 2, ces_ob >= 5], [1, -1], 0),
        ]
    )
    N = len(score)
    mon = _month_of_day(day_all)
    slow_ctx = ((mon >= 42) & (mon <= 47)) | (touch == 1)
    price_ctx = pro[acc_all] & (mon >= PRICE_CHANGE_M)
    comment = _comments(rng, pol, slow_ctx, price_ctx)
    has_comment = rng.random(N) < 0.35
    user = _pick_users(rng, acc_all, day_all, np.ones(len(a["seg"])), U)
    no_user = rng.random(N) < 0.1
    order = np.lexsort((rng.random(N), acc_all, day_all))
    acc_ids = _ids("A", len(a["seg"]), 6)
    user_ids = _ids("U", len(U["created"]), 7)
    df = pl.DataFrame(
        {
            "response_id": _ids("R", N, 8),
            "account_id": (acc_ids.gather(acc_all))[order],
            "user_id": (user_ids.gather(user))[order],
            "survey": _strs(("nps", "csat", "ces"), survey)[order],
            "score": pl.Series(score).cast(pl.Int32)[order],
            "responded_at": _dates(day_all)[order],
            "touchpoint": _strs(("onboarding", "support", "qbr", "product"), np.maximum(touch, 0))[
                order
            ],
            "comment": comment[order],
            "no_user": no_user[order],
            "no_touch": (touch < 0)[order],
            "no_comment": ~has_comment[order],
        }
    ).with_columns(
        user_id=pl.when("no_user").then(None).otherwise("user_id"),
        touchpoint=pl.when("no_touch").then(None).otherwise("touchpoint"),
        comment=pl.when("no_comment").then(None).otherwise("comment"),
    )
    return df.select(list(TABLES["surveys"].columns))


def _onboarding(a, first, last, rng) -> tuple[pl.DataFrame, tuple[np.ndarray, np.ndarray]]:
    n = len(a["seg"])
    new = ~a["existing"]
    h = a["health"]
    f = np.exp(-0.35 * h)
    base = a["paid_start"]
    b2b = a["seg"] != CONS
    kickoff = base + rng.integers(0, 8, n)
    prov = kickoff + 1 + np.floor(rng.exponential(5.0 * f))
    trained = prov + 3 + np.floor(rng.exponential(12.0 * f))
    value = trained + 5 + np.floor(rng.exponential(25.0 * f))
    c_value = base + np.floor(rng.exponential(7.0 * f))
    p_value = np.clip(0.72 + 0.12 * h, 0.2, 0.97)
    r_k = new & b2b
    r_p = r_k & (rng.random(n) < 0.95)
    r_t = r_p & (rng.random(n) < np.clip(0.85 + 0.05 * h, 0, 1))
    r_v = r_t & (rng.random(n) < p_value)
    c_p = new & ~b2b
    c_v = c_p & (rng.random(n) < np.clip(0.7 + 0.1 * h, 0.2, 0.97))
    accs, ms, days = [], [], []
    for ms_code, reached, day in (
        (0, r_k, kickoff),
        (1, r_p, prov),
        (2, r_t, trained),
        (3, r_v, value),
        (1, c_p, base),
        (3, c_v, c_value),
    ):
        day = day.astype(np.int64)
        ok = reached & (day <= AS_OF_DAY) & (day < last)
        accs.append(np.nonzero(ok)[0])
        ms.append(np.full(ok.sum(), ms_code))
        days.append(day[ok])
    acc, mcode, day = (np.concatenate(x) for x in (accs, ms, days))
    # a milestone is only reached when the previous one was (dates drop in order)
    order = np.lexsort((mcode, acc))
    acc, mcode, day = acc[order], mcode[order], day[order]
    acc_ids = _ids("A", n, 6)
    df = pl.DataFrame(
        {
            "account_id": acc_ids.gather(acc),
            "milestone": _strs(("kickoff", "provisioned", "trained", "first_value"), mcode),
            "reached_at": _dates(day),
        }
    ).sort("account_id", "milestone")
    tr = mcode == 2
    return df, (acc[tr], day[tr])


def _leads(a, rng) -> pl.DataFrame:
    n = len(a["seg"])
    new = np.nonzero(~a["existing"])[0]
    ch = a["channel"][new]
    lag = np.select(
        [ch == 1, ch == 2, ch == 0, ch == 3],
        [
            rng.integers(20, 121, len(new)),
            rng.integers(20, 121, len(new)),
            rng.integers(5, 61, len(new)),
            rng.integers(5, 46, len(new)),
        ],
        rng.integers(0, 4, len(new)),
    )
    first = np.minimum(a["trial_start"][new], a["created"][new])
    c_created = np.maximum(first - lag, START_DAY)
    c_created = np.minimum(c_created, first)
    c_trial = np.where(a["has_trial"][new], a["trial_start"][new], -1)
    # leads that did not convert (some started a trial)
    k = int(round(2.5 * len(new)))
    span = AS_OF_DAY - START_DAY + 1
    u = rng.random(k)
    created = START_DAY + np.floor(span * (np.sqrt(1 + 3 * u) - 1)).astype(np.int64)  # growing
    created = np.minimum(created, AS_OF_DAY)
    chan = _choice(rng, (0.35, 0.25, 0.10, 0.08, 0.22), k)
    trial = np.where(
        (rng.random(k) < np.where(chan == 4, 0.6, 0.25)),
        np.minimum(created + rng.integers(0, 8, k), AS_OF_DAY),
        -1,
    )
    n_older = np.searchsorted(a["created"], created, side="left")
    chan = np.where((chan == REFERRAL) & (n_older == 0), 0, chan)
    ref = np.where(chan == REFERRAL, np.floor(rng.random(k) * n_older).astype(np.int64), -1)
    L = dict(
        created=np.concatenate([c_created, created]),
        channel=np.concatenate([ch, chan]),
        trial=np.concatenate([c_trial, trial]),
        converted=np.concatenate([a["paid_start"][new], np.full(k, -1)]),
        acc=np.concatenate([new, np.full(k, -1)]),
        ref=np.concatenate([a["referred_by"][new], ref]),
    )
    order = np.lexsort((rng.random(len(L["acc"])), L["created"]))
    L = {key: v[order] for key, v in L.items()}
    N = len(order)
    acc_ids = _ids("A", n, 6)
    df = pl.DataFrame(
        {
            "lead_id": _ids("L", N, 7),
            "created_at": _dates(L["created"]),
            "channel": _strs(CHANNELS, L["channel"]),
            "trial_started_at": _dates(np.maximum(L["trial"], 0)),
            "converted_at": _dates(np.maximum(L["converted"], 0)),
            "account_id": acc_ids.gather(np.maximum(L["acc"], 0)),
            "referred_by": acc_ids.gather(np.maximum(L["ref"], 0)),
            "t": L["trial"] < 0,
            "c": L["converted"] < 0,
            "r": L["ref"] < 0,
        }
    ).with_columns(
        trial_started_at=pl.when("t").then(None).otherwise("trial_started_at"),
        converted_at=pl.when("c").then(None).otherwise("converted_at"),
        account_id=pl.when("c").then(None).otherwise("account_id"),
        referred_by=pl.when("r").then(None).otherwise("referred_by"),
    )
    return df.select(list(TABLES["leads"].columns))


def _costs(a, sp, tickets, rng) -> pl.DataFrame:
    months = np.arange(WINDOW_M, N_MONTHS)
    seg = a["seg"]
    new_m = np.where(a["existing"], -1, a["start_m"])
    new = np.zeros((len(months), 4))
    np.add.at(new, (new_m[new_m >= WINDOW_M] - WINDOW_M, seg[new_m >= WINDOW_M]), 1)
    span, m, _, _ = _span_months(sp)
    act = np.zeros((len(months), 4))
    np.add.at(act, (m - WINDOW_M, seg[sp["acc"][span]]), 1)  # (account, month) ~ once
    nt = np.bincount(tickets["month"] - WINDOW_M, minlength=len(months))
    cost = np.stack(
        [
            new @ np.array([24000.0, 6000.0, 900.0, 0.0]),
            new @ np.array([6000.0, 2500.0, 600.0, 35.0]) + 20.0 * len(seg),
            act @ np.array([450.0, 140.0, 20.0, 0.5]),
            45.0 * nt,
            new @ np.array([3000.0, 800.0, 100.0, 0.0]),
            act @ np.array([8.0, 8.0, 8.0, 0.0]) + new[:, 0] * 1500.0,
        ],
        axis=1,
    )
    cost = np.round(cost * np.exp(0.08 * rng.standard_normal(cost.shape)), 2)
    return pl.DataFrame(
        {
            "month": _dates(np.repeat(_month_day(months), 6)),
            "category": pl.Series(list(COST_CATEGORIES) * len(months)),
            "amount": cost.ravel(),
        }
    ).sort("month", "category")


def _fx(rng) -> pl.DataFrame:
    """EUR -> USD for every month of the grid (rows of carried-in accounts start in 2021)."""
    months = np.arange(N_MONTHS)
    t = np.arange(len(months))
    rate = (
        1.10 + 0.04 * np.sin(2 * np.pi * t / 30.0) + np.cumsum(0.006 * rng.standard_normal(len(t)))
    )
    return pl.DataFrame(
        {
            "month": _dates(_month_day(months)),
            "currency": pl.Series(["EUR"] * len(months)),
            "rate_to_reporting": np.round(rate, 4),
        }
    )


def _accounts_frame(a, rng) -> pl.DataFrame:
    n = len(a["seg"])
    seg = a["seg"]
    adj = ("Blue", "Bright", "North", "Silver", "Summit", "Apex", "Nova", "Green", "Iron", "Clear")
    noun = ("River", "Peak", "Harbor", "Field", "Stone", "Bridge", "Forge", "Wave", "Oak", "Point")
    suf = ("Labs", "Systems", "Group", "Health", "Retail", "Partners", "Works", "Inc", "GmbH", "Co")
    first = ("Alex", "Maria", "Chen", "Priya", "Lucas", "Emma", "Omar", "Sofia", "Kenji", "Ana")
    last = ("Smith", "Garcia", "Wang", "Kumar", "Silva", "Müller", "Haddad", "Rossi", "Sato", "Kim")

    def pick(words):
        return _strs(words, rng.integers(0, len(words), n))

    b2b_name = pick(adj) + " " + pick(noun) + " " + pick(suf)
    b2c_name = pick(first) + " " + pick(last)
    csm_code = np.select(
        [seg == ENT, seg == MM, (seg == SMB) & (rng.random(n) < 0.4)],
        [
            rng.integers(0, len(CSMS_ENT), n),
            len(CSMS_ENT) + rng.integers(0, len(CSMS_MM), n),
            np.full(n, len(CSMS_ENT) + len(CSMS_MM)),
        ],
        -1,
    )
    acc_ids = _ids("A", n, 6)
    df = pl.DataFrame(
        {
            "account_id": acc_ids,
            "account_name": pl.select(
                pl.when(pl.Series(seg == CONS)).then(b2c_name).otherwise(b2b_name)
            ).to_series(),
            "segment": _strs(SEGMENTS, seg),
            "business_model": pl.Series(np.where(seg == CONS, "B2C", "B2B")),
            "region": _strs(REGIONS, a["region"]),
            "industry": _strs(INDUSTRIES, np.maximum(a["industry"], 0)),
            "acquisition_channel": _strs(CHANNELS, a["channel"]),
            "referred_by": acc_ids.gather(np.maximum(a["referred_by"], 0)),
            "created_at": _dates(a["created"]),
            "csm": _strs(CSMS_ENT + CSMS_MM + CSMS_POOL, np.maximum(csm_code, 0)),
            "no_ind": a["industry"] < 0,
            "no_ref": a["referred_by"] < 0,
            "no_csm": csm_code < 0,
        }
    ).with_columns(
        industry=pl.when("no_ind").then(None).otherwise("industry"),
        referred_by=pl.when("no_ref").then(None).otherwise("referred_by"),
        csm=pl.when("no_csm").then(None).otherwise("csm"),
    )
    return df.select(list(TABLES["accounts"].columns))


# --------------------------------------------------------------------- API --
def generate(
    out: str | Path,
    accounts: int = DEFAULT_ACCOUNTS,
    events: int = DEFAULT_EVENTS,
    seed: int = DEFAULT_SEED,
) -> dict[str, int]:
    """Write every contract table as ``<out>/<table>.parquet``; return row counts.

    Deterministic: the same arguments give byte-identical files. ``events`` is
    the expected number of usage events (the realised count varies by a
    fraction of a percent). Memory stays bounded: events are generated and
    written month by month.
    """
    if accounts < 1:
        raise ValueError(f"accounts must be >= 1, got {accounts}")
    if events < 0:
        raise ValueError(f"events must be >= 0, got {events}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    a = _accounts(accounts, stream(1))
    P = _simulate(a, stream(2))
    counts = {"accounts": _write(out, "accounts", _accounts_frame(a, stream(7)))}
    subs, sub_days = _subscriptions(a, P, stream(3))
    counts["subscriptions"] = _write(out, "subscriptions", subs)
    del subs
    first, last = _first_and_last_day(a, sub_days)
    sp = _spans(a, P)
    users, U = _users(a, P, first, last, stream(4))
    counts["users"] = _write(out, "users", users)
    pro = (P["plan"][:, -1] == PRO) | (P["plan"][:, PRICE_CHANGE_M] == PRO)
    del users, P  # the month x account panels are the largest arrays
    tickets, T = _tickets(a, sp, stream(5))
    counts["tickets"] = _write(out, "tickets", tickets)
    del tickets
    onboarding, trained = _onboarding(a, first, last, stream(6))
    counts["onboarding"] = _write(out, "onboarding", onboarding)
    counts["surveys"] = _write(out, "surveys", _surveys(a, sp, pro, U, T, trained, stream(8)))
    counts["leads"] = _write(out, "leads", _leads(a, stream(9)))
    counts["costs"] = _write(out, "costs", _costs(a, sp, T, stream(10)))
    counts["fx_rates"] = _write(out, "fx_rates", _fx(stream(11)))
    prof = _usage_profile(a, U, stream(12))
    counts["events"] = _write_events(out / "events.parquet", a, sp, U, prof, events, seed)
    return {name: counts[name] for name in TABLES}


def sample_path() -> Path:
    """The bundled sample folder ``<repo>/data/sample`` (regenerated if incomplete)."""
    path = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not all((path / f"{name}.parquet").exists() for name in TABLES):
        generate(path, DEFAULT_ACCOUNTS, DEFAULT_EVENTS, DEFAULT_SEED)
    return path
