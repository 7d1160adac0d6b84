"""Compact facts, built once per workbook; every metric is derived from them.

Only this module reads the raw tables (in particular the large ``events``
table). Each builder is a pure function of LazyFrames returning a LazyFrame,
so the same facts can be produced by another engine (see ``csm_lib.spark``)
and read back as Parquet with :meth:`Facts.from_parquet`.

Facts (materialised on first use, then cached on the :class:`Facts` object):

- ``accounts``: the accounts table (small).
- ``subs``: non-trial subscription rows, ``end_date`` null filled with 9999-12-31,
  money already in the reporting currency.
- ``first_paid``: per account, the first day of a paid (mrr > 0) non-trial row.
- ``user_days``: one row per (day, account_id, user_id) with ``events`` (count) and
  ``active_s`` (seconds between the user's first and last event that day).
- ``feature_days``: distinct (day, account_id, user_id, feature) with a non-null feature.
- ``sessions``: one row per session_id: account_id, user_id, day (of its first event),
  ``start`` and ``duration_s``.

Every event fact is stored quarter by quarter, each quarter sorted by account,
then day (:data:`FACT_SORT`); metrics read a period through :meth:`Facts.window`,
cut from quarter spans held in memory, sorted by account and flagged so (polars
then groups by account without hashing).
In a window, ``user_id`` and ``feature`` are integer keys (:data:`KEYS`, the dense
rank of the id within that fact): period metrics count distinct users and
features, and counting integers is several times faster than hashing strings.
Whole-history frames derived from the tables (contract starts, the MRR timeline,
...) come from :meth:`Facts.derived`, built once and persisted like the facts.

Event facts are the only expensive step (a scan and a group-by of every event).
When the workbook comes from a folder, each event fact is also persisted as Parquet
in a cache keyed by the source files' names, sizes and modification times and the
events query (see :func:`facts_cache_dir`), so a new process (a notebook kernel,
``csm report``) reads the facts back in a fraction of a second instead of
rebuilding them. ``CSM_FACTS_CACHE=off`` disables it; ``CSM_FACTS_CACHE=<folder>``
moves it (default ``~/.cache/csm/facts``).

>>> from csm_lib.sample import sample_path  # doctest: +SKIP
>>> f = Facts.of(load(sample_path()))       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import polars as pl

FAR_FUTURE = date(9999, 12, 31)
FACT_NAMES = ("user_days", "feature_days", "sessions")
_TS = pl.Datetime("us", "UTC")
FACT_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "user_days": {"day": pl.Date, "account_id": pl.String, "user_id": pl.String,
                  "events": pl.UInt32, "active_s": pl.Int64},
    "feature_days": {"day": pl.Date, "account_id": pl.String, "user_id": pl.String,
                     "feature": pl.String},
    "sessions": {"session_id": pl.String, "account_id": pl.String, "user_id": pl.String,
                 "start": _TS, "duration_s": pl.Int64, "day": pl.Date},
}  # fmt: skip


def quarter_of(day: pl.Expr) -> pl.Expr:
    """The calendar quarter of a date as one integer (year * 4 + quarter - 1).

    >>> pl.select(quarter_of(pl.lit(date(2025, 8, 1)))).item()
    8102
    """
    return day.dt.year().cast(pl.Int32) * 4 + (day.dt.month().cast(pl.Int32) - 1) // 3


def build_subs(subscriptions: pl.LazyFrame) -> pl.LazyFrame:
    """Non-trial subscription rows with open ends filled and money in cents."""
    cols = subscriptions.collect_schema().names()
    trial = pl.col("is_trial").fill_null(False) if "is_trial" in cols else pl.lit(False)
    keep = [
        c
        for c in (
            "subscription_id", "account_id", "product_line", "plan", "start_date", "end_date",
            "billing_interval", "term_months", "mrr", "quantity", "unit", "one_time_fees",
        )
        if c in cols
    ]  # fmt: skip
    out = subscriptions.filter(~trial).select(keep)
    if "product_line" not in keep:
        out = out.with_columns(product_line=pl.lit("Core"))
    return out.with_columns(
        end_date=pl.col("end_date").fill_null(FAR_FUTURE),
        mrr_cents=(pl.col("mrr") * 100).round(0).cast(pl.Int64),
    )


def build_user_days(events: pl.LazyFrame, qualifying: list[str] | None = None) -> pl.LazyFrame:
    """Distinct active users per day and account, with event counts and active seconds."""
    ev = events.filter(pl.col("user_id").is_not_null())
    if qualifying:
        ev = ev.filter(pl.col("event").is_in(qualifying))
    return (
        ev.with_columns(day=pl.col("event_at").dt.date())
        .group_by("day", "account_id", "user_id")
        .agg(
            events=pl.len().cast(pl.UInt32),
            active_s=(pl.col("event_at").max() - pl.col("event_at").min()).dt.total_seconds(),
        )
        .sort(quarter_of(pl.col("day")), "account_id", "day", "user_id")
    )


def build_feature_days(events: pl.LazyFrame) -> pl.LazyFrame:
    """Distinct (day, account, user, feature) for events with a user and a feature."""
    return (
        events.filter(pl.col("user_id").is_not_null() & pl.col("feature").is_not_null())
        .select(pl.col("event_at").dt.date().alias("day"), "account_id", "user_id", "feature")
        .unique()
        .sort(quarter_of(pl.col("day")), "account_id", "day", "user_id", "feature")
    )


def build_sessions(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: first event's day, start time and duration in seconds."""
    return (
        events.filter(pl.col("session_id").is_not_null())
        .group_by("session_id")
        .agg(
            account_id=pl.col("account_id").first(),
            user_id=pl.col("user_id").first(),
            start=pl.col("event_at").min(),
            duration_s=(pl.col("event_at").max() - pl.col("event_at").min()).dt.total_seconds(),
        )
        .with_columns(day=pl.col("start").dt.date())
        .sort(quarter_of(pl.col("day")), "account_id", "day", "session_id")
    )


EVENT_BUILDERS = {
    "user_days": build_user_days,
    "feature_days": build_feature_days,
    "sessions": build_sessions,
}
# Every event fact is sorted by calendar quarter, then by account (FACT_SORT): the rows
# of a quarter are contiguous (a period's read skips the other row groups by their
# statistics) and sorted by account_id, and polars groups a sorted key without hashing
# it (about ten times faster than a hash group-by of string ids at a million accounts).
# A window over several quarters is sorted by account (stable: earlier quarters first).
FACT_SORT = {
    "user_days": ("account_id", "day", "user_id"),
    "feature_days": ("account_id", "day", "user_id", "feature"),
    "sessions": ("account_id", "day", "session_id"),
}
ROW_GROUP_ROWS = 128 * 1024  # Parquet row groups of the cached facts
# quarter spans of the event facts kept in memory (least recently used dropped first, see
# Facts.window): at most this many MB of them (CSM_SPAN_MEMORY_MB), and always the newest
SPAN_MEMORY_MB = 768


# each event fact also keeps integer keys (stored with the facts, not part of them): the
# dense rank of user_id (and of feature) within the fact, UInt32 (null stays null);
# windows carry them in place of the ids (see Facts.window)
USER_KEY = "user_key"
FEATURE_KEY = "feature_key"
KEYS = {"user_id": USER_KEY, "feature": FEATURE_KEY}


def with_keys(fact: pl.DataFrame) -> pl.DataFrame:
    """The fact with :data:`USER_KEY` (and :data:`FEATURE_KEY` when it has features): each
    id's dense rank in the fact (1, 2, ...; the order of the ids).

    >>> with_keys(pl.DataFrame({"user_id": ["u9", None, "u1", "u9"]}))["user_key"].to_list()
    [2, None, 1, 2]
    """
    return fact.with_columns(
        pl.col(c).rank("dense").cast(pl.UInt32).alias(k) for c, k in KEYS.items() if c in fact
    )


def _month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


# columns a day window leaves out (no period metric reads them; the whole fact has them)
WINDOW_DROPS = {"sessions": ("session_id", "user_id", "start")}


class _Span(NamedTuple):
    """Rows of an event fact with ``lo <= day <= hi`` (None: unbounded)."""

    lo: date | None
    hi: date | None
    frame: pl.DataFrame

    def covers(self, lo: date | None, hi: date | None) -> bool:
        low_ok = self.lo is None or (lo is not None and lo >= self.lo)
        high_ok = self.hi is None or (hi is not None and hi <= self.hi)
        return low_ok and high_ok


def build_feature_first(feature_days: pl.LazyFrame) -> pl.LazyFrame:
    """First day each feature was used by anyone: feature, day (sorted by day, feature)."""
    return feature_days.group_by("feature").agg(pl.col("day").min()).sort("day", "feature")


FACTS_CACHE_VERSION = "6"  # bump when a builder's output changes
KEEP_KEYS = 3  # fact sets kept per source (e.g. a strict and a lenient load of it)


def _cache_home() -> Path | None:
    env = os.environ.get("CSM_FACTS_CACHE", "").strip()
    if env.lower() in ("0", "off", "false", "no"):
        return None
    if env and env.lower() not in ("1", "on", "true", "yes"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "csm" / "facts"


def facts_cache_dir(source: str | Path | None) -> Path | None:
    """The persistent facts cache folder of a source folder (None: no cache for it).

    Only folder sources are cached; one sub-folder per source path, holding the
    facts of its current files only.

    >>> facts_cache_dir("") is None
    True
    """
    home = _cache_home()
    if home is None or not source or not Path(source).is_dir():
        return None
    src = str(Path(source).resolve())
    return home / hashlib.sha1(src.encode()).hexdigest()[:16]


def _source_key(workbook) -> str | None:
    """Fingerprint of a workbook's inputs: file names, sizes, mtimes and the events query.

    None (do not cache) unless the events are read from the source folder's own
    ``events`` file: an in-memory frame or a file elsewhere has no fingerprint here.
    """
    root = Path(workbook.source)
    plan = workbook.table("events").explain(optimized=False)
    # the plan names the folder as given, or resolved (a load read back from the store)
    forms = sorted({str(root), str(root.resolve())}, key=len, reverse=True)
    own = any(str(Path(r) / f"events.{ext}") in plan for r in forms for ext in ("parquet", "csv"))
    if not own or "DF [" in plan:
        return None
    h = hashlib.sha1(f"{FACTS_CACHE_VERSION}|{pl.__version__}".encode())
    for f in sorted(root.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"|{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for r in forms:
        plan = plan.replace(r, "<source>")
    h.update(plan.encode())  # same key for ./x and /abs/x
    return h.hexdigest()[:16]


def _code_fingerprint() -> str:
    """Short hash of the library's source files (derived facts follow the code)."""
    global _CODE_FP
    if _CODE_FP is None:
        h = hashlib.sha1()
        for p in sorted(Path(__file__).resolve().parent.glob("*.py")):
            h.update(p.read_bytes())
        _CODE_FP = h.hexdigest()[:10]
    return _CODE_FP


_CODE_FP: str | None = None


def mark_source(base: Path, source: str | Path) -> None:
    """Note in a source's cache folder which folder it caches (``source.txt``), and drop
    the cache folders of sources that no longer exist (temporary folders)."""
    (base / "source.txt").write_text(str(Path(source).resolve()))
    _prune(base.parent)


def _prune(home: Path) -> None:
    """Drop cache folders of sources that no longer exist (temporary test folders)."""
    for d in home.iterdir():
        try:
            src = (d / "source.txt").read_text().strip()
        except OSError:
            continue
        if not Path(src).exists():
            shutil.rmtree(d, ignore_errors=True)


def _sorted_by_account(df: pl.DataFrame) -> pl.DataFrame:
    """One chunk, account_id flagged as sorted (the caller sorted it)."""
    return df.rechunk().with_columns(pl.col("account_id").set_sorted())


def _account_major(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows of an event fact (quarter by quarter, each sorted by :data:`FACT_SORT`) as one
    chunk sorted by account, then day, with account_id flagged sorted: rows of several
    quarters are sorted by account with a stable sort (an account's earlier quarter first;
    faster than merging the quarters' runs)."""
    if rows.height:
        days = rows["day"]
        first, last = (pl.select(quarter_of(pl.lit(d))).item() for d in (days[0], days[-1]))
        if first != last:
            rows = rows.sort("account_id", maintain_order=True)
    return _sorted_by_account(rows)


class Facts:
    """Facts of one workbook, each built once on first use and cached."""

    def __init__(self, workbook, prebuilt: dict[str, pl.DataFrame] | None = None):
        self.wb = workbook
        self.as_of: date = workbook.as_of
        self._prebuilt = prebuilt or {}
        self._cache: OrderedDict = OrderedDict()
        self._spans: OrderedDict = OrderedDict()
        # compute() runs calculators in threads: one lock guards the dicts, and one
        # lock per key makes a second thread wait for a value being built
        self._lock = threading.RLock()
        self._key_locks: dict = {}

    @classmethod
    def of(cls, workbook) -> Facts:
        return workbook.facts

    @classmethod
    def from_parquet(cls, workbook, folder: str | Path) -> Facts:
        """Facts whose event facts were written elsewhere (e.g. by Spark) as Parquet.

        ``<folder>/<name>.parquet`` may be one file or a folder of part files (Spark's
        output); columns are selected and cast to :data:`FACT_SCHEMAS` and the rows
        sorted by quarter, then :data:`FACT_SORT` (as the builders sort them).
        """
        folder = Path(folder)
        pre = {}
        for n, schema in FACT_SCHEMAS.items():
            path = folder / f"{n}.parquet"
            src = str(path / "*.parquet") if path.is_dir() else path
            pre[n] = (
                pl.scan_parquet(src)
                .select([pl.col(c).cast(t) for c, t in schema.items()])
                .sort(quarter_of(pl.col("day")), *FACT_SORT[n])
                .collect()
                .pipe(with_keys)
            )
        return cls(workbook, pre)

    def has(self, table: str) -> bool:
        return self.wb.has(table)

    def table(self, name: str) -> pl.LazyFrame:
        return self.wb.table(name)

    # ---- small tables -------------------------------------------------
    @cached_property
    def accounts(self) -> pl.DataFrame:
        """The accounts, sorted by account_id (flagged, for polars' sorted group-by)."""
        return _sorted_by_account(self.wb.table("accounts").sort("account_id").collect())

    @cached_property
    def subs(self) -> pl.DataFrame:
        """:func:`build_subs` rows sorted by account_id, start_date (account_id flagged sorted)."""
        subs = build_subs(self.wb.table("subscriptions"))
        return _sorted_by_account(subs.sort("account_id", "start_date").collect())

    @cached_property
    def first_paid(self) -> pl.DataFrame:
        return (
            self.subs.filter(pl.col("mrr_cents") > 0)
            .group_by("account_id")
            .agg(first_paid=pl.col("start_date").min())
        )

    # ---- event facts (the only readers of events) ----------------------
    @cached_property
    def cache_dir(self) -> Path | None:
        """Where this workbook's event facts persist (None: not cached)."""
        base = facts_cache_dir(getattr(self.wb, "source", ""))
        if base is None or not self.wb.has("events"):
            return None
        try:
            key = _source_key(self.wb)
        except (OSError, pl.exceptions.PolarsError):
            return None
        return None if key is None else base / key

    def _persisted(self, name: str, build) -> pl.DataFrame | Path:
        """Where fact ``name`` lives: its Parquet file in the facts cache (written by an
        earlier process for the same inputs, or now from ``build()``), or the frame
        ``build()`` returns when there is no usable cache.

        Large facts are not kept whole in memory when cached: :meth:`window` reads the
        row groups of the days it needs (the files are sorted by day, with statistics).
        """
        folder = self.cache_dir
        path = folder / f"{name}.parquet" if folder is not None else None
        if path is not None and path.exists():
            return path
        df = build()
        if path is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                others = [
                    d
                    for d in folder.parent.iterdir()
                    if d.is_dir() and d != folder and d.name != "validated"  # csm_lib.store
                ]
                others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
                for old in others[KEEP_KEYS - 1 :]:  # facts of older inputs
                    shutil.rmtree(old, ignore_errors=True)
                tmp = folder / f".{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
                df.write_parquet(
                    tmp, compression="lz4", statistics=True, row_group_size=ROW_GROUP_ROWS
                )
                os.replace(tmp, path)
                if name.startswith("derived__"):  # copies made by other versions of the code
                    stem = name.rsplit("_", 1)[0]  # (derived__<name>__<currency>)
                    for old in folder.glob(f"{stem}_*.parquet"):
                        if old != path:
                            old.unlink(missing_ok=True)
                mark_source(folder.parent, self.wb.source)
                return path
            except OSError:
                pass  # read-only or full cache: facts stay in memory only
        return df

    def _source(self, name: str, qualifying: tuple[str, ...] = ()) -> pl.DataFrame | Path:
        """Event fact ``name`` (``user_days`` restricted to ``qualifying`` event names)."""
        if name in self._prebuilt and not qualifying:
            return self._prebuilt[name]
        events = self.wb.table("events")
        if qualifying:
            tag = hashlib.sha1("|".join(qualifying).encode()).hexdigest()[:10]
            file, build = f"{name}__{tag}", lambda: build_user_days(events, list(qualifying))
        else:
            file, build = name, lambda: EVENT_BUILDERS[name](events)
        return self.memo(
            ("fact", name, qualifying),
            lambda: self._persisted(file, lambda: with_keys(build().collect(engine="streaming"))),
        )

    def derived(self, name: str, build) -> pl.DataFrame:
        """A whole-history frame derived from the tables by ``build()`` (contract starts,
        the MRR timeline, ...), built once and persisted next to the event facts.

        The file name carries the reporting currency and a fingerprint of the library's
        code, so a change of either rebuilds it; without a facts cache it stays in memory.
        """
        return self.memo(
            ("fact", "derived", name), lambda: self.derived_scan(name, build).collect()
        )

    def _scan_keyed(self, name: str, qualifying: tuple[str, ...] = ()) -> pl.LazyFrame:
        src = self._source(name, qualifying)
        return pl.scan_parquet(src, parallel="prefiltered") if isinstance(src, Path) else src.lazy()

    def derived_scan(self, name: str, build) -> pl.LazyFrame:
        """As :meth:`derived`, as a LazyFrame: a scan of the persisted file, so a large
        derived frame (e.g. health signals on every month end) is read in the parts a
        query filters (sort it by the column queries filter on: Parquet statistics)."""
        tag = f"{self.wb.reporting_currency}_{_code_fingerprint()}"
        out = self.memo(
            ("fact", "derived_scan", name),
            lambda: self._persisted(f"derived__{name}__{tag}", build),
        )
        return pl.scan_parquet(out) if isinstance(out, Path) else out.lazy()

    @property
    def persistent(self) -> bool:
        """Whether facts and derived frames persist for later processes (a facts cache)."""
        return self.cache_dir is not None

    def scan(self, name: str, qualifying: tuple[str, ...] = ()) -> pl.LazyFrame:
        """Event fact ``name`` as a LazyFrame (a Parquet scan when cached): for whole-history
        queries that reduce it, so the fact need not be held in memory."""
        return self._scan_keyed(name, qualifying).drop(KEYS.values(), strict=False)

    def _read_days(
        self, name: str, names: tuple[str, ...], lo: date | None, hi: date | None, *where
    ) -> pl.DataFrame:
        """Rows of a fact with ``lo <= day <= hi`` (and ``where``), without the
        :data:`WINDOW_DROPS` columns and with the integer :data:`KEYS` in place of the ids,
        as one chunk flagged sorted by account_id."""
        lf = self._scan_keyed(name, names)
        cols = lf.collect_schema().names()
        drop = (*KEYS.values(), *WINDOW_DROPS.get(name, ()))
        lf = lf.select(
            pl.col(KEYS[c]).alias(c) if c in KEYS and KEYS[c] in cols else pl.col(c)
            for c in cols
            if c not in drop
        )
        if lo is not None:
            lf = lf.filter(pl.col("day") >= lo)
        if hi is not None:
            lf = lf.filter(pl.col("day") <= hi)
        if where:
            lf = lf.filter(*where)
        return _account_major(lf.collect())

    def _event_fact(self, name: str, qualifying: tuple[str, ...] = ()) -> pl.DataFrame:
        return self.scan(name, qualifying).collect()

    @staticmethod
    def _names(qualifying) -> tuple[str, ...]:
        return tuple(sorted(set(qualifying))) if qualifying else ()

    def window(
        self,
        name: str,
        lo: date | None = None,
        hi: date | None = None,
        qualifying=None,
        accounts: pl.Series | None = None,
    ) -> pl.DataFrame:
        """Rows of event fact ``name`` with ``lo <= day <= hi`` (open ends: no bound).

        The window is one chunk, sorted by account_id and flagged so (see
        :data:`FACT_SORT`): group-bys by account take polars' sorted fast path. It is
        cut from a *span* held in memory: the whole calendar quarters around the window,
        read once from the cached Parquet file (or cut from the in-memory fact), so the
        windows of one period (the period, its trailing 90 days, the last 30 days) cost
        one read. Spans are kept up to :data:`SPAN_MEMORY_MB` (the trend charts' quarters
        then cost no read when the segment changes). ``qualifying`` (event
        names) applies to ``user_days`` only, as :meth:`user_days_for`.

        Windows of ``sessions`` leave out ``session_id``, ``user_id`` and ``start``
        (:data:`WINDOW_DROPS`: the period metrics count sessions and durations), and in
        every window ``user_id`` and ``feature`` are integer keys (:data:`KEYS`: the dense
        rank of the id in the whole fact, so distinct counts are unchanged;
        :meth:`feature_names` maps feature keys back).
        With ``accounts`` (a few of them, e.g. the accounts renewing in a period) the
        rows of those accounts are read directly instead, and no span is kept.
        """
        names = self._names(qualifying) if name == "user_days" else ()
        if accounts is not None:
            return self._read_days(
                name, names, lo, hi, pl.col("account_id").is_in(accounts.implode())
            )
        with self._lock:
            span = next(
                (sp for k, sp in reversed(self._spans.items())
                 if k[:2] == (name, names) and sp.covers(lo, hi)),
                None,
            )  # fmt: skip
        if span is None:
            span = self._span(name, names, lo, hi)
        cut = []
        if lo is not None and (span.lo is None or span.lo < lo):
            cut.append(pl.col("day") >= lo)
        if hi is not None and (span.hi is None or span.hi > hi):
            cut.append(pl.col("day") <= hi)
        return span.frame.filter(*cut) if cut else span.frame

    def _span(self, name: str, names: tuple[str, ...], lo: date | None, hi: date | None):
        # whole calendar quarters: the windows of one period (the quarter, its last 30
        # days, the 90 days before its end) share one span, read once
        slo = None if lo is None else date(lo.year, (lo.month - 1) // 3 * 3 + 1, 1)
        shi = None if hi is None else _month_end(date(hi.year, (hi.month - 1) // 3 * 3 + 3, 1))
        key = (name, names, slo, shi)

        sp = self._once(
            self._spans, key, lambda: _Span(slo, shi, self._read_days(name, names, slo, shi))
        )
        env = os.environ.get("CSM_SPAN_MEMORY_MB", "").strip()
        budget = (int(env) if env.isdigit() else SPAN_MEMORY_MB) * 1_000_000
        with self._lock:
            sizes = {k: s.frame.estimated_size() for k, s in self._spans.items()}
            total = sum(sizes.values())
            for k in list(self._spans):
                if total <= budget or len(self._spans) <= 1:
                    break
                if k != key:
                    del self._spans[k]
                    total -= sizes[k]
        return sp

    def _once(self, store: OrderedDict, key, fn, limit: int | None = None, keep=()):
        """``store[key]``, built by ``fn()`` once even when threads ask at the same time;
        beyond ``limit`` entries the oldest whose key[0] is not in ``keep`` is dropped."""
        with self._lock:
            if key in store:
                store.move_to_end(key)
                return store[key]
            lock = self._key_locks.setdefault(key, threading.Lock())
        got = lock.acquire(timeout=120)  # (never a deadlock: at worst it is built twice)
        try:
            with self._lock:
                if key in store:
                    return store[key]
            val = fn()
            with self._lock:
                store[key] = val
                if limit is not None and len(store) > limit:
                    for k in list(store):
                        if not (isinstance(k, tuple) and k and k[0] in keep):
                            del store[k]
                            break
            return val
        finally:
            if got:
                lock.release()

    @property
    def user_days(self) -> pl.DataFrame:
        """The whole ``user_days`` fact, quarter by quarter (prefer :meth:`window`)."""
        return self._event_fact("user_days")

    def user_days_for(self, qualifying: list[str] | tuple[str, ...] | None = None) -> pl.DataFrame:
        """``user_days`` counting only the ``qualifying`` event names (None: every event).

        Built once per set of event names (the ``active_events`` option of adoption metrics);
        needs the raw events table, so prebuilt facts without events raise MissingTableError.
        """
        return self._event_fact("user_days", self._names(qualifying))

    @property
    def feature_days(self) -> pl.DataFrame:
        """The whole ``feature_days`` fact, quarter by quarter (prefer :meth:`window`)."""
        return self._event_fact("feature_days")

    @property
    def sessions(self) -> pl.DataFrame:
        """The whole ``sessions`` fact, quarter by quarter (prefer :meth:`window`)."""
        return self._event_fact("sessions")

    @property
    def feature_first(self) -> pl.DataFrame:
        """First day each feature was used by anyone: feature, day (sorted by day)."""

        def get() -> pl.DataFrame:
            def build() -> pl.DataFrame:
                fd = self.scan("feature_days").select("feature", "day")
                return build_feature_first(fd).collect()

            if "feature_days" in self._prebuilt:
                out = build()
            else:
                out = self._persisted("feature_first", build)
            return pl.read_parquet(out) if isinstance(out, Path) else out

        return self.memo(("fact", "feature_first", ()), get)

    @property
    def feature_names(self) -> pl.Series:
        """Every feature name in key order: a window's feature key k is ``[k - 1]``."""
        return self.memo(
            ("fact", "feature_names", ()), lambda: self.feature_first["feature"].sort()
        )

    # ---- helpers -------------------------------------------------------
    def segment_ids(self, segment) -> pl.Series | None:
        """Account ids of a segment (None for All)."""
        if segment.is_all:
            return None
        key = ("segment", segment.label)
        return self.memo(key, lambda: segment.apply(self.accounts).get_column("account_id"))

    def memo(self, key, fn):
        """Cache a small derived result (bounded LRU) under ``key``; thread-safe (a value
        is built once when several calculators ask for it at the same time)."""
        return self._once(self._cache, key, fn, 256, keep=("fact", "segment"))


def in_segment(frame: pl.DataFrame, ids: pl.Series | None, col: str = "account_id") -> pl.DataFrame:
    """Filter a frame to the segment's accounts (no-op for All)."""
    return frame if ids is None else frame.filter(pl.col(col).is_in(ids.implode()))
