"""The validated-table store: a source folder is validated once per version of its files.

Validating a source reads and checks every row of every table (at a million
accounts, about 25 s and 6 GB). When the source is a folder and the load
succeeds, :func:`csm_lib.data.load` writes what it produced to the store:

- every validated table but the events as Parquet (typed, money converted, bad
  rows of a lenient load removed);
- the events' validated query (a serialised polars plan over the source's own
  events file: the events are never copied);
- the validation report, the data's latest date and, for a lenient load, the
  quarantined rows.

The next load of the same files (same names, sizes and modification times), mode
and reporting currency reads the store instead: the tables come back as lazy
Parquet scans, so loading takes a fraction of a second and holds no table in
memory until a metric asks for it. The report, the quarantine files and the
values are those of the first load. Change a file and the key changes (the
newest :data:`KEEP_STORES` stores of a source are kept, so strict and lenient
loads, or a process still reading the old files, keep theirs); a new version of
the library or of polars changes it too.

The store lives next to the facts cache (``~/.cache/csm/facts/<source>/validated/``)
and follows the same switch: ``CSM_FACTS_CACHE=off`` disables both.

>>> store_dir("") is None
True
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

STORE_VERSION = "1"  # bump when what is stored changes
_HERE = Path(__file__).resolve().parent
_CODE = ("contract.py", "data.py", "store.py")  # the code that decides what is stored
STORE_FOLDER = "validated"
KEEP_STORES = 4  # stores kept per source folder (newest first)


def _code_hash() -> str:
    h = hashlib.sha1()
    for name in _CODE:
        h.update((_HERE / name).read_bytes())
    return h.hexdigest()


def store_dir(
    source: str | Path, strict: bool = True, reporting_currency: str = "USD"
) -> Path | None:
    """The store folder of a load of ``source`` (None: not stored, e.g. not a folder).

    The key covers the files' names, sizes and modification times, the mode
    (strict or lenient), the reporting currency and the versions of polars and
    of the validating code.
    """
    from csm_lib.facts import facts_cache_dir

    base = facts_cache_dir(source)
    if base is None:
        return None
    h = hashlib.sha1(
        f"{STORE_VERSION}|{pl.__version__}|{_code_hash()}|{strict}|{reporting_currency}".encode()
    )
    try:
        for f in sorted(Path(source).iterdir()):
            if f.is_file():
                st = f.stat()
                h.update(f"|{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    except OSError:
        return None
    return base / STORE_FOLDER / h.hexdigest()[:16]


def save(
    folder: Path,
    tables: dict[str, pl.LazyFrame],
    lazy: frozenset[str],
    report: dict[str, Any],
    data_as_of: date | None,
    quarantined: dict[str, pl.DataFrame],
    source: str | Path | None = None,
) -> bool:
    """Write a successful load to ``folder`` (atomically); False when it cannot be stored.

    ``source`` (the folder loaded) is noted in its cache folder, so the caches of
    folders that no longer exist are dropped (see :func:`csm_lib.facts.mark_source`).

    Safe with several processes loading the same files at once (parallel notebook
    kernels): the first complete copy wins and is never removed while its key is
    current; readers of it keep their files.
    """
    if (folder / "meta.json").is_file():
        return True  # another process stored the same load meanwhile
    tmp = folder.parent / f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.mkdir(parents=True)
        order = []
        for name, lf in tables.items():
            if name in lazy:
                (tmp / f"{name}.plan").write_bytes(lf.serialize())
            else:
                lf.collect().write_parquet(tmp / f"{name}.parquet", compression="lz4")
            order.append(name)
        if quarantined:
            (tmp / "quarantine").mkdir()
            for name, df in quarantined.items():
                df.write_parquet(tmp / "quarantine" / f"{name}.parquet")
        meta = {
            "tables": order,
            "data_as_of": data_as_of.isoformat() if data_as_of else None,
            "report": report,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, folder)  # fails when another process got there first: keep its copy
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return (folder / "meta.json").is_file()
        # keep the newest few stores of this source (a strict and a lenient load, other
        # reporting currencies, live readers of the previous files); drop the rest
        others = [
            d for d in folder.parent.iterdir()
            if d.is_dir() and not d.name.startswith(".") and d.name != folder.name
        ]  # fmt: skip
        others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[KEEP_STORES - 1 :]:
            shutil.rmtree(old, ignore_errors=True)
        if source is not None:
            from csm_lib.facts import mark_source

            mark_source(folder.parent.parent, source)  # (drops caches of deleted sources)
        return True
    except (OSError, pl.exceptions.PolarsError, ValueError, TypeError):
        shutil.rmtree(tmp, ignore_errors=True)
        return False


def read(folder: Path) -> tuple[dict[str, pl.LazyFrame], dict[str, Any], date | None, dict] | None:
    """``(tables, report dict, data_as_of, {table: quarantine file})`` or None (no store)."""
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        tables: dict[str, pl.LazyFrame] = {}
        for name in meta["tables"]:
            plan = folder / f"{name}.plan"
            if plan.is_file():
                tables[name] = pl.LazyFrame.deserialize(io.BytesIO(plan.read_bytes()))
            else:
                tables[name] = pl.scan_parquet(folder / f"{name}.parquet")
        q = folder / "quarantine"
        bad = {p.stem: p for p in sorted(q.glob("*.parquet"))} if q.is_dir() else {}
        as_of = date.fromisoformat(meta["data_as_of"]) if meta["data_as_of"] else None
        return tables, meta["report"], as_of, bad
    except (OSError, KeyError, ValueError, pl.exceptions.PolarsError):
        return None
