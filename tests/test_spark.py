"""Spark builds the same event facts as polars, and the same metrics follow from them.

One local Spark session (``local[2]``) serves the whole module; the tests skip
with the reason when Java or PySpark is missing (CI installs Java with
``apt-get install -y default-jre-headless``).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from csm_lib.contract import TABLES
from csm_lib.data import Workbook
from csm_lib.facts import EVENT_BUILDERS, FACT_SCHEMAS, Facts

EVENTS_SCHEMA = {c: col.dtype for c, col in TABLES["events"].columns.items()}

pytestmark = pytest.mark.slow

try:
    import pyspark  # noqa: F401

    HAVE_PYSPARK = True
except ImportError:  # pragma: no cover - pyspark is a dev dependency
    HAVE_PYSPARK = False

needs_spark = pytest.mark.skipif(
    shutil.which("java") is None or not HAVE_PYSPARK,
    reason="Spark needs a Java runtime (apt-get install -y default-jre-headless) and pyspark",
)

SORT = {
    "user_days": ["day", "account_id", "user_id"],
    "feature_days": ["day", "account_id", "user_id", "feature"],
    "sessions": ["session_id"],
}


def tricky_events() -> pl.DataFrame:
    """Small events table with the edge cases of day boundaries and nulls.

    Time-ordered, so polars' "first row of the session" is its earliest event
    (the Spark builder's definition).
    """
    t0 = datetime(2025, 10, 1, tzinfo=UTC)
    rows = []

    def ev(at, acc, user, sess, event="open", feature=None):
        rows.append((at, acc, user, sess, event, feature))

    # a session crossing midnight UTC: two user days, one session dated by its start
    ev(t0 + timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999), "A1", "U1", "S1")
    ev(t0 + timedelta(days=1, microseconds=1), "A1", "U1", "S1", "report", "reports")
    # the last instant of the quarter and the first of the next
    q_end = datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    ev(q_end, "A2", "U2", "S2", "share", "sharing")
    ev(q_end + timedelta(microseconds=1), "A2", "U2", "S3", "share", "sharing")
    # sub-second spans truncate to 0 s; 1.9 s truncates to 1 s
    ev(t0 + timedelta(days=3), "A1", "U3", "S4", "open")
    ev(t0 + timedelta(days=3, milliseconds=400), "A1", "U3", "S4", "export", "exports")
    ev(t0 + timedelta(days=3, milliseconds=1900), "A1", "U3", "S4", "export", "exports")
    # null user (API call): no user day, no feature day, but a session when it has one
    ev(t0 + timedelta(days=4), "A3", None, "S5", "api", "api")
    ev(t0 + timedelta(days=4, hours=1), "A3", None, None, "api", "api")
    # null session and null feature
    ev(t0 + timedelta(days=5), "A3", "U4", None, "open", None)
    ev(t0 + timedelta(days=5, hours=2), "A3", "U4", None, "report", "reports")
    # the same feature twice a day -> one feature day
    ev(t0 + timedelta(days=6, hours=9), "A2", "U2", "S6", "report", "reports")
    ev(t0 + timedelta(days=6, hours=10), "A2", "U2", "S6", "report", "reports")
    # earlier history (a previous quarter) and many sessions of a busy user
    for i in range(40):
        at = datetime(2025, 7, 1, tzinfo=UTC) + timedelta(hours=7 * i, seconds=13 * i)
        ev(at, "A4", f"U{5 + i % 3}", f"S{100 + i // 4}", "open", ["reports", None][i % 2])
    rows.sort(key=lambda r: r[0])
    return pl.DataFrame(
        rows,
        schema=EVENTS_SCHEMA,
        orient="row",
    )


def polars_facts(events: pl.LazyFrame) -> dict[str, pl.DataFrame]:
    return {n: b(events).collect() for n, b in EVENT_BUILDERS.items()}


def assert_same_facts(pol: dict[str, pl.DataFrame], spark: Facts) -> None:
    for name, keys in SORT.items():
        a = pol[name].sort(keys)
        b = spark._event_fact(name).sort(keys)
        assert b.schema == pl.Schema(FACT_SCHEMAS[name]), name
        assert a.schema == b.schema, name
        assert a.height == b.height, name
        assert a.equals(b), f"{name} differs: {a.join(b, on=keys, how='anti').head()}"


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None or not HAVE_PYSPARK:
        pytest.skip("Spark needs a Java runtime (apt-get install -y default-jre-headless)")
    from csm_lib.spark import local_session

    s = local_session(cores=2, partitions=2, quick=True)
    yield s
    s.stop()


@needs_spark
def test_spark_facts_equal_polars_facts_on_edge_cases(spark, tmp_path):
    from csm_lib.spark import build_facts_spark

    ev = tricky_events()
    src = tmp_path / "events.parquet"
    ev.write_parquet(src)
    build_facts_spark(src, tmp_path / "facts", spark)
    pol = polars_facts(ev.lazy())
    got = Facts.from_parquet(_Stub(), tmp_path / "facts")
    assert_same_facts(pol, got)
    # the day boundary: the midnight-crossing session gives two user days, one session day
    ud = got.user_days.filter(pl.col("user_id") == "U1")
    assert ud["day"].to_list() == [date(2025, 10, 1), date(2025, 10, 2)]
    s1 = got.sessions.filter(pl.col("session_id") == "S1").row(0, named=True)
    assert (s1["day"], s1["duration_s"]) == (date(2025, 10, 1), 0)
    s4 = got.sessions.filter(pl.col("session_id") == "S4").row(0, named=True)
    assert s4["duration_s"] == 1  # 1.9 s truncated, as polars' total_seconds
    assert got.sessions.filter(pl.col("session_id") == "S5")["user_id"].to_list() == [None]


class _Stub:
    as_of = date(2025, 12, 31)


SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


def company(tmp_path) -> Workbook:
    """The bundled sample with the events of 150 accounts (fast), else a small generated one."""
    from csm_lib.data import load

    if (SAMPLE_DIR / "events.parquet").exists():
        wb = load(SAMPLE_DIR, strict=False, quarantine_dir=tmp_path / "quarantine")
        ids = wb.facts.accounts.get_column("account_id").sort().gather_every(13).implode()
        ev = wb.table("events").filter(pl.col("account_id").is_in(ids)).collect()
        tables = dict(wb.tables, events=ev.lazy())
        return Workbook(tables, wb.as_of, str(SAMPLE_DIR))
    sample = pytest.importorskip("csm_lib.sample")
    src = tmp_path / "src"
    sample.generate(src, accounts=80, events=20_000, seed=42)
    return load(src, strict=False, quarantine_dir=tmp_path / "quarantine")


@needs_spark
def test_metrics_from_spark_facts_equal_polars_metrics(spark, tmp_path):
    """Sample company events (bundled sample subset, or generated): same facts, same metrics
    of 2025-Q4 for All and SMB, and of a month."""
    from csm_lib.compute import compute
    from csm_lib.spark import build_facts_spark

    wb_pl = company(tmp_path)
    wb_pl.table("events").sink_parquet(tmp_path / "events.parquet")
    build_facts_spark(tmp_path / "events.parquet", tmp_path / "facts", spark)
    wb_sp = Workbook(dict(wb_pl.tables), wb_pl.as_of, wb_pl.source)
    wb_sp.facts = Facts.from_parquet(wb_sp, tmp_path / "facts")
    assert_same_facts({n: getattr(wb_pl.facts, n) for n in SORT}, wb_sp.facts)
    assert wb_sp.facts.user_days.height > 100
    for period, seg in (("2025-Q4", "All"), ("2025-Q4", "segment=SMB"), ("2025-11", "All")):
        a = compute(wb_pl, period, seg)
        b = compute(wb_sp, period, seg)
        assert a.height > 0
        diff = a.join(b, on="id").filter(pl.col("value").ne_missing(pl.col("value_right")))
        assert a.equals(b), diff.select("id", "value", "value_right")


def test_spark_cli_help_needs_no_java(capsys):
    from csm_lib.spark import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "Facts.from_parquet" in capsys.readouterr().out


# ------------------------------------------------- persistent facts cache --
def _source(write_tables, events: pl.DataFrame):
    accounts = [{"account_id": a} for a in ("A1", "A2", "A3", "A4")]
    subs = [
        {"subscription_id": "S-A1", "account_id": "A1", "start_date": date(2025, 1, 1), "mrr": 9.0}
    ]
    return write_tables({"accounts": accounts, "subscriptions": subs, "events": events})


def test_facts_cache_is_reused_by_a_new_workbook_and_follows_the_files(
    write_tables, tmp_path, monkeypatch
):
    """Event facts persist; a new load reads them back; changed events give new facts."""
    from csm_lib import facts as facts_mod
    from csm_lib.data import load

    monkeypatch.setenv("CSM_FACTS_CACHE", str(tmp_path / "cache"))
    ev = tricky_events()
    src = _source(write_tables, ev)
    first = load(src).facts
    built = {n: getattr(first, n) for n in SORT}
    folder = first.cache_dir
    assert folder is not None and folder.is_relative_to(tmp_path / "cache")
    assert sorted(p.name for p in folder.glob("*.parquet")) == sorted(f"{n}.parquet" for n in SORT)

    def boom(*_a, **_k):
        raise AssertionError("events were scanned again")

    with monkeypatch.context() as m:
        for n in SORT:
            m.setitem(facts_mod.EVENT_BUILDERS, n, boom)
        again = load(src).facts
        assert again.cache_dir == folder
        rel = os.path.relpath(src)  # the same folder named relatively: the same facts
        assert load(rel).facts.cache_dir == folder
        for n in SORT:
            assert getattr(again, n).equals(built[n]), n

    # new events (fewer rows): a new key, the facts are rebuilt
    ev.filter(pl.col("account_id") != "A4").write_parquet(src / "events.parquet")
    changed = load(src).facts
    assert changed.cache_dir != folder
    assert changed.user_days.height < built["user_days"].height
    assert "A4" not in changed.user_days["account_id"].to_list()
    assert (changed.cache_dir / "user_days.parquet").exists()
    # only the newest KEEP_KEYS fact sets of a source are kept
    for drop in ("A3", "A2", "A1"):
        ev = ev.filter(pl.col("account_id") != drop)
        ev.write_parquet(src / "events.parquet")
        _ = load(src).facts.user_days  # builds and persists
    kept = [d for d in folder.parent.iterdir() if d.is_dir() and d.name != "validated"]
    assert len(kept) == facts_mod.KEEP_KEYS and not folder.exists()


def test_facts_cache_can_be_switched_off_and_skips_in_memory_workbooks(
    write_tables, monkeypatch, tmp_path
):
    from csm_lib.data import load

    src = _source(write_tables, tricky_events())
    monkeypatch.setenv("CSM_FACTS_CACHE", "off")
    assert load(src).facts.cache_dir is None
    monkeypatch.setenv("CSM_FACTS_CACHE", str(tmp_path / "cache"))  # (on again)
    wb = load(src)
    mem = Workbook(dict(wb.tables), wb.as_of)  # no source folder
    assert mem.facts.cache_dir is None
    assert mem.facts.user_days.height > 0
    # events held in memory have no file fingerprint: never cached, even with a source
    other = Workbook(dict(wb.tables, events=tricky_events().lazy()), wb.as_of, str(src))
    assert wb.facts.cache_dir is not None and other.facts.cache_dir is None
