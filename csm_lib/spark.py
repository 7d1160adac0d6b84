"""The event facts of :mod:`csm_lib.facts`, built with Spark for event tables past one machine.

Only the fact builders read the large ``events`` table; every metric after them
works on small frames. This module builds the same three facts with PySpark
(same columns, same semantics), writes them as Parquet, and the workbook reads
them back with :meth:`csm_lib.facts.Facts.from_parquet`::

    python -m csm_lib.spark --events data/sample/events.parquet --out facts/

then, in Python::

    wb = load("data/sample")
    wb.facts = Facts.from_parquet(wb, "facts/")   # compute(wb, ...) uses them

On a cluster (Databricks, EMR, Dataproc) run the same module with
``spark-submit`` and ``--master`` from the cluster (see ``bench/README.md``);
``--events`` and ``--out`` may be ``s3://`` / ``abfss://`` / ``gs://`` paths.

Semantics (kept identical to the polars builders; the tests compare them row by row):

- days are UTC calendar days (``spark.sql.session.timeZone=UTC``);
- ``user_days``: events with a user; one row per (day, account_id, user_id) with
  ``events`` (count) and ``active_s`` (whole seconds between first and last event);
- ``feature_days``: distinct (day, account_id, user_id, feature) of events with a
  user and a feature;
- ``sessions``: one row per non-null session_id; account_id / user_id of its
  earliest event, ``start`` (first event), ``duration_s`` (last - first, whole
  seconds, 0 for one event) and the UTC ``day`` of ``start``.

Spark has no unsigned integers: ``events`` is written as a 32-bit int and
:meth:`Facts.from_parquet` casts every fact to the polars schema.

>>> spark_config()["spark.sql.session.timeZone"]
'UTC'
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

FACT_NAMES = ("user_days", "feature_days", "sessions")

_MICROS = 1_000_000


def spark_config(partitions: int = 4) -> dict[str, str]:
    """Spark settings for the fact builders (UTC days, micro-second Parquet timestamps).

    >>> spark_config(8)["spark.sql.shuffle.partitions"]
    '8'
    """
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.adaptive.enabled": "true",
    }


def local_session(cores: int = 2, partitions: int = 4, memory: str = "2g", quick: bool = False):
    """A quiet local SparkSession (no UI, loopback only, UTC) for tests and one machine.

    ``quick`` trades peak speed for start-up time (C1 JIT only, serial GC, no
    whole-stage code generation): right for tests on small tables.
    Needs a Java runtime (17 or 21); raises ``RuntimeError`` with a hint when it is missing.
    """
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise RuntimeError(
            "PySpark needs a Java runtime (17+): apt-get install -y default-jre-headless"
        )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    java_opts = ["-Duser.timezone=UTC"]
    if quick:
        java_opts += ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    b = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("csm-facts")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", memory)
        .config("spark.driver.extraJavaOptions", " ".join(java_opts))
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
    )
    if quick:
        b = b.config("spark.sql.codegen.wholeStage", "false")
    for k, v in spark_config(partitions).items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _seconds_between(first, last):
    """Whole seconds between two timestamps (truncated, as polars ``dt.total_seconds``)."""
    from pyspark.sql import functions as F

    return ((F.unix_micros(last) - F.unix_micros(first)) / F.lit(_MICROS)).cast("long")


def build_user_days(events, qualifying: list[str] | None = None):
    """Spark twin of :func:`csm_lib.facts.build_user_days` (a DataFrame, not yet written)."""
    from pyspark.sql import functions as F

    ev = events.where(F.col("user_id").isNotNull())
    if qualifying:
        ev = ev.where(F.col("event").isin(list(qualifying)))
    return (
        ev.select(F.to_date("event_at").alias("day"), "account_id", "user_id", "event_at")
        .groupBy("day", "account_id", "user_id")
        .agg(
            F.count(F.lit(1)).cast("int").alias("events"),
            _seconds_between(F.min("event_at"), F.max("event_at")).alias("active_s"),
        )
    )


def build_feature_days(events):
    """Spark twin of :func:`csm_lib.facts.build_feature_days`."""
    from pyspark.sql import functions as F

    return (
        events.where(F.col("user_id").isNotNull() & F.col("feature").isNotNull())
        .select(F.to_date("event_at").alias("day"), "account_id", "user_id", "feature")
        .distinct()
    )


def build_sessions(events):
    """Spark twin of :func:`csm_lib.facts.build_sessions` (account/user of the earliest event)."""
    from pyspark.sql import functions as F

    first = F.min_by(F.struct("account_id", "user_id"), "event_at")
    return (
        events.where(F.col("session_id").isNotNull())
        .groupBy("session_id")
        .agg(
            first.alias("_first"),
            F.min("event_at").alias("start"),
            F.max("event_at").alias("_end"),
        )
        .select(
            "session_id",
            F.col("_first.account_id").alias("account_id"),
            F.col("_first.user_id").alias("user_id"),
            "start",
            _seconds_between(F.col("start"), F.col("_end")).alias("duration_s"),
            F.to_date("start").alias("day"),
        )
    )


BUILDERS = {
    "user_days": build_user_days,
    "feature_days": build_feature_days,
    "sessions": build_sessions,
}
SORT_KEYS = {
    "user_days": ("account_id", "day", "user_id"),
    "feature_days": ("account_id", "day", "user_id", "feature"),
    "sessions": ("account_id", "day", "session_id"),
}


def read_events(spark, events_path: str):
    """The events table (Parquet file or folder, or CSV with a header) with contract types."""
    from pyspark.sql import functions as F

    p = str(events_path)
    if p.endswith(".csv"):
        df = spark.read.option("header", "true").csv(p)
        df = df.withColumn("event_at", F.to_timestamp("event_at"))
    else:
        df = spark.read.parquet(p)
    cols = set(df.columns)
    for c in ("user_id", "session_id", "feature"):
        if c not in cols:
            df = df.withColumn(c, F.lit(None).cast("string"))
    return df.select("event_at", "account_id", "user_id", "session_id", "event", "feature")


def build_facts_spark(
    events_path: str | Path,
    out_dir: str | Path,
    spark=None,
    files_per_fact: int | None = 1,
) -> dict[str, str]:
    """Build ``user_days``, ``feature_days`` and ``sessions`` from an events file with Spark.

    Writes ``<out_dir>/<name>.parquet`` for each fact: a Spark output folder of
    Parquet part files sorted by the fact's key (``files_per_fact`` parts; None
    leaves Spark's partitioning, for a cluster), which polars reads as one table
    (``Facts.from_parquet(workbook, out_dir)``). Returns ``{name: path}``.
    Without ``spark`` a quiet local session is started (and left running for reuse).
    """
    spark = spark or local_session()
    events = read_events(spark, str(events_path))
    out = str(out_dir).rstrip("/")
    written = {}
    for name, build in BUILDERS.items():
        df = build(events).orderBy(*SORT_KEYS[name])
        if files_per_fact:
            df = df.coalesce(files_per_fact)
        path = f"{out}/{name}.parquet"
        df.write.mode("overwrite").parquet(path)
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m csm_lib.spark --events EVENTS --out FOLDER [--master URL]``."""
    ap = argparse.ArgumentParser(
        prog="python -m csm_lib.spark",
        description="Build the workbook's event facts (user_days, feature_days, sessions) "
        "with Spark; read them back with Facts.from_parquet(workbook, OUT).",
    )
    ap.add_argument("--events", required=True, help="events Parquet file/folder (or .csv)")
    ap.add_argument("--out", required=True, help="output folder (local path or s3://...)")
    ap.add_argument(
        "--master",
        default=None,
        help="Spark master; default local[2] here, the cluster's under spark-submit",
    )
    ap.add_argument("--partitions", type=int, default=4, help="spark.sql.shuffle.partitions")
    ap.add_argument(
        "--files-per-fact",
        type=int,
        default=1,
        help="Parquet part files per fact (0: keep Spark's partitioning, for big clusters)",
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    on_cluster = "PYSPARK_GATEWAY_PORT" in os.environ or "DATABRICKS_RUNTIME_VERSION" in os.environ
    if on_cluster or (args.master and not args.master.startswith("local")):
        # under spark-submit (or a cluster master): the cluster decides cores and memory
        from pyspark.sql import SparkSession

        b = SparkSession.builder.appName("csm-facts")
        if args.master:
            b = b.master(args.master)
        for k, v in spark_config(args.partitions).items():
            b = b.config(k, v)
        spark = b.getOrCreate()
    else:
        inner = (args.master or "local[2]").removeprefix("local").strip("[]") or "1"
        cores = (os.cpu_count() or 2) if inner == "*" else int(inner)
        spark = local_session(cores=cores, partitions=args.partitions)
    written = build_facts_spark(args.events, args.out, spark, args.files_per_fact or None)
    for name, path in written.items():
        print(f"{name:13s} -> {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    if not on_cluster:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
