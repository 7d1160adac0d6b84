"""The speed machinery gives the same answers as the plain path.

- the validated-table store (csm_lib.store): a second load reads it back with the
  same tables, report and quarantine files; changed files are validated again;
- Facts.window (spans, account filter) equals a filter of the whole fact and is
  really sorted by account (the flag polars trusts);
- derived facts persist and follow the reporting currency;
- compute on a thread pool equals compute on one thread.
"""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest

from csm_lib import compute, load, store
from csm_lib import data as data_mod
from csm_lib.facts import FACT_SORT, WINDOW_DROPS, Facts
from csm_lib.sample import sample_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CSM_FACTS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def lenient_source(write_tables):
    """Two accounts, one subscription row that breaks a rule (negative MRR)."""
    return write_tables(
        {
            "accounts": [{"account_id": "A1"}, {"account_id": "A2"}],
            "subscriptions": [
                {"subscription_id": "S1", "account_id": "A1", "start_date": "2025-01-01",
                 "mrr": 100},
                {"subscription_id": "S2", "account_id": "A2", "start_date": "2025-02-01",
                 "mrr": -5},
            ],
        }
    )  # fmt: skip


def _no_validation(monkeypatch):
    def boom(*_a, **_k):
        raise AssertionError("the source was validated again")

    monkeypatch.setattr(data_mod, "_run", boom)


def test_a_second_load_reads_the_store_with_the_same_tables_report_and_quarantine(
    cache, lenient_source, tmp_path, monkeypatch
):
    first = load(lenient_source, strict=False, quarantine_dir=tmp_path / "q1")
    folder = store.store_dir(lenient_source, strict=False)
    assert folder is not None and (folder / "meta.json").is_file()
    with monkeypatch.context() as m:
        _no_validation(m)
        again = load(lenient_source, strict=False, quarantine_dir=tmp_path / "q2")
    assert again.quarantined == first.quarantined == {"subscriptions/min": 1}
    assert again.as_of == first.as_of == date(2025, 1, 1)  # (of the rows that loaded)
    assert [i.line() for i in again.report.issues] == [i.line() for i in first.report.issues]
    for name in first.tables:
        assert again.table(name).collect().equals(first.table(name).collect()), name
    q1 = pl.read_parquet(tmp_path / "q1" / "subscriptions.parquet")
    q2 = pl.read_parquet(tmp_path / "q2" / "subscriptions.parquet")
    assert q1.equals(q2) and q2["subscription_id"].to_list() == ["S2"]
    assert again.report.quarantine_files["subscriptions"].endswith("q2/subscriptions.parquet")
    # an as_of given at load time still wins over the stored one
    with monkeypatch.context() as m:
        _no_validation(m)
        assert load(lenient_source, as_of=date(2025, 1, 15), strict=False).as_of == date(
            2025, 1, 15
        )


def test_strict_and_lenient_loads_are_stored_apart_and_failures_never(
    cache, lenient_source, monkeypatch
):
    with pytest.raises(data_mod.ValidationError):
        load(lenient_source)  # strict: the negative MRR stops it
    assert store.store_dir(lenient_source, strict=True) != store.store_dir(
        lenient_source, strict=False
    )
    assert not (store.store_dir(lenient_source, strict=True) / "meta.json").exists()
    with pytest.raises(data_mod.ValidationError):
        load(lenient_source)  # still validated (and still failing) every time


def test_changed_files_are_validated_again(cache, lenient_source, monkeypatch):
    load(lenient_source, strict=False)
    before = store.store_dir(lenient_source, strict=False)
    data_mod.table_frame("accounts", [{"account_id": "A1"}, {"account_id": "A2"},
                                      {"account_id": "A3"}]).write_parquet(
        lenient_source / "accounts.parquet"
    )  # fmt: skip
    after = store.store_dir(lenient_source, strict=False)
    assert after != before
    wb = load(lenient_source, strict=False)
    assert wb.table("accounts").collect().height == 3
    assert before.exists() and after.exists()  # a reader of the old files keeps them
    for n in range(store.KEEP_STORES + 1):  # ... but only the newest few are kept
        data_mod.table_frame("accounts", [{"account_id": f"A{i}"} for i in range(1, n + 4)]
                             ).write_parquet(lenient_source / "accounts.parquet")  # fmt: skip
        load(lenient_source, strict=False)
    kept = [d for d in after.parent.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert len(kept) == store.KEEP_STORES and not before.exists()


def test_the_store_can_be_switched_off(lenient_source, monkeypatch):
    monkeypatch.setenv("CSM_FACTS_CACHE", "off")
    assert store.store_dir(lenient_source) is None
    assert load(lenient_source, strict=False).quarantined == {"subscriptions/min": 1}


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory):
    """The bundled sample in a folder of its own (its own store and facts cache)."""
    dst = tmp_path_factory.mktemp("sample") / "src"
    shutil.copytree(sample_path(), dst)
    return dst


def test_windows_equal_a_filter_of_the_whole_fact_and_are_sorted(sample_copy, tmp_path):
    wb = load(sample_copy)
    f = wb.facts
    cases = [("user_days", date(2025, 10, 1), date(2025, 12, 31)),
             ("feature_days", date(2025, 10, 3), date(2025, 12, 31)),
             ("sessions", date(2025, 7, 15), date(2025, 8, 2)),
             ("user_days", None, date(2024, 3, 31)),
             ("feature_days", date(2024, 11, 20), date(2025, 2, 3))]  # fmt: skip
    for name, lo, hi in cases:
        named = getattr(f, name).sort(FACT_SORT[name]).drop(WINDOW_DROPS.get(name, ()))
        # in a window, user_id and feature are keys: the id's dense rank in the whole fact
        whole = named
        for c in ("user_id", "feature"):
            if c in whole.columns:
                whole = whole.with_columns(pl.col(c).rank("dense").cast(pl.UInt32))
                assert whole[c].n_unique() == getattr(f, name)[c].n_unique()
        inside = (pl.col("day") >= (lo or date.min)) & (pl.col("day") <= (hi or date.max))
        want = whole.filter(inside)
        if name == "feature_days":  # ... and the feature keys map back to the names
            keys = f.window(name, lo, hi)["feature"].cast(pl.Int64)
            assert f.feature_names.gather(keys - 1).equals(named.filter(inside)["feature"])
        got = f.window(name, lo, hi)
        assert got.equals(want), (name, lo, hi)
        assert got["account_id"].is_sorted(), name  # the flag polars relies on is true
        assert got["account_id"].flags["SORTED_ASC"]
        ids = got["account_id"].unique().sort().head(5)
        few = f.window(name, lo, hi, accounts=ids)
        assert few.equals(want.filter(pl.col("account_id").is_in(ids.implode()))), name
    # the same windows from facts held in memory (no cache) are equal too
    mem = Facts(data_mod.Workbook(dict(wb.tables), wb.as_of))
    assert mem.cache_dir is None
    for name, lo, hi in cases:
        assert mem.window(name, lo, hi).equals(f.window(name, lo, hi)), name


def test_spans_are_kept_within_their_memory_budget(sample_copy, monkeypatch):
    f = load(sample_copy).facts
    monkeypatch.setenv("CSM_SPAN_MEMORY_MB", "0")  # keep only the newest span
    f.window("user_days", date(2025, 10, 1), date(2025, 12, 31))
    f.window("user_days", date(2025, 7, 1), date(2025, 9, 30))
    assert len(f._spans) == 1
    monkeypatch.setenv("CSM_SPAN_MEMORY_MB", "10000")
    f.window("user_days", date(2025, 4, 1), date(2025, 6, 30))
    f.window("feature_days", date(2025, 4, 1), date(2025, 6, 30))
    assert len(f._spans) == 3


def test_derived_facts_persist_and_follow_the_reporting_currency(sample_copy):
    from csm_lib.health import _timeline, mrr_timeline

    wb = load(sample_copy)
    tl = _timeline(wb.facts)
    assert tl.equals(mrr_timeline(wb.facts.subs))
    files = sorted(p.name for p in wb.facts.cache_dir.glob("derived__mrr_timeline__USD_*"))
    assert len(files) == 1
    again = load(sample_copy)  # a new process would read the file back
    assert _timeline(again.facts).equals(tl)
    eur = load(sample_copy, reporting_currency="EUR", strict=False)  # (USD rows lack a rate)
    assert not _timeline(eur.facts).equals(tl)  # amounts in another currency
    assert list(eur.facts.cache_dir.glob("derived__mrr_timeline__EUR_*"))
    # a copy written by another version of the code is removed when the new one is written
    for old in wb.facts.cache_dir.glob("derived__ticket_days__*"):
        old.unlink()  # (so that the next load writes it)
    stale = wb.facts.cache_dir / "derived__ticket_days__USD_0123456789.parquet"
    stale.write_bytes(b"")
    from csm_lib.health import _tickets

    _tickets(load(sample_copy).facts)
    assert not stale.exists()
    assert len(list(wb.facts.cache_dir.glob("derived__ticket_days__USD_*"))) == 1
    assert list(eur.facts.cache_dir.glob("derived__mrr_timeline__EUR_*"))  # (other currency)


def test_compute_on_threads_equals_compute_on_one_thread(sample_copy, monkeypatch):
    results = []
    for threads in ("1", "4"):
        monkeypatch.setenv("CSM_THREADS", threads)
        wb = load(sample_copy)
        results.append(
            [compute(wb, p, s) for p, s in (("2025-Q4", "All"), ("2025-Q3", "segment=SMB"))]
        )
    for one, many in zip(*results, strict=True):
        assert one.equals(many)
        assert one["value"].null_count() < one.height


def test_a_second_writer_of_the_same_load_keeps_the_first_copy(cache, lenient_source):
    """Parallel kernels load the same files at once: whoever stores second must not
    remove the copy the first one's lazy tables read from."""
    wb = load(lenient_source, strict=False)
    folder = store.store_dir(lenient_source, strict=False)
    meta = (folder / "meta.json").stat().st_mtime_ns
    tables = {n: wb.table(n) for n in wb.tables}
    assert store.save(folder, tables, frozenset(), wb.report.to_dict(), wb.as_of, {})
    assert (folder / "meta.json").stat().st_mtime_ns == meta
    # a writer that got past the check races os.replace: it loses and cleans up
    tmp_left = [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert tmp_left == []
    assert load(lenient_source, strict=False).table("subscriptions").collect().height == 1


def test_stored_health_signals_and_litmus_equal_the_computed_ones(sample_copy):
    """Persisted facts score month ends and renewal decisions from stored raw signals;
    facts held in memory compute them: same frames, for All, a segment and options."""
    from csm_lib.health import health_scores, health_scores_many, litmus_events, signal_dates
    from csm_lib.periods import Period, Segment

    wb = load(sample_copy)
    f = wb.facts
    mem = Facts(data_mod.Workbook(dict(wb.tables), wb.as_of))
    assert f.persistent and not mem.persistent
    ids = f.segment_ids(Segment.parse("segment=SMB"))
    dates = signal_dates(f.as_of)
    assert len(dates) == 24 and dates[-1] == f.as_of
    picks = [dates[0], dates[11], f.as_of, date(2025, 6, 15)]  # (the last is not stored)
    for at in picks:
        for seg in (None, ids):
            for kw in ({}, {"weights": {"frequency": 3, "support": 1}, "detail": True}):
                got, want = health_scores(f, at, seg, **kw), health_scores(mem, at, seg, **kw)
                assert got.height > 50 and got.equals(want), (at, kw)
    many = health_scores_many(f, dates[-4:], ids)
    assert all(many[d].equals(health_scores(mem, d, ids)) for d in dates[-4:])
    names = [p.name for p in f.cache_dir.iterdir()]
    assert any(n.startswith("derived__health_signals_") for n in names)
    for label in ("2024-Q3", "2025-Q4", "2025-05", "2025"):
        q = Period.parse(label)
        for seg in (None, ids):
            for kw in ({}, {"bands": (30, 60), "support_basis": "per_user"}, {"lookback_days": 60}):
                got, want = litmus_events(f, q, seg, 90, **kw), litmus_events(mem, q, seg, 90, **kw)
                assert got.height > 5 and got.equals(want), (label, kw)
    assert litmus_events(f, "2025", None, 60).equals(litmus_events(mem, "2025", None, 60))
    assert any(n.startswith("derived__litmus_signals_") for n in names + [
        p.name for p in f.cache_dir.iterdir()])  # fmt: skip


def test_the_caches_of_deleted_source_folders_are_dropped(cache, write_tables):
    """Each stored load notes its source folder; the next store or facts write drops the
    cache folders of sources that no longer exist (temporary folders)."""
    rows = {"accounts": [{"account_id": "A1"}],
            "subscriptions": [{"subscription_id": "S1", "account_id": "A1",
                               "start_date": date(2025, 1, 1), "mrr": 10.0}]}  # fmt: skip
    gone, kept = write_tables(rows), write_tables(rows)
    load(gone, strict=False)
    gone_dir = store.store_dir(gone, strict=False).parent.parent
    assert (gone_dir / "source.txt").read_text() == str(gone.resolve())
    shutil.rmtree(gone)
    load(kept, strict=False)
    assert not gone_dir.exists()
    assert store.store_dir(kept, strict=False).exists()
