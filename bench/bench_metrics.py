"""Benchmark: load a workbook and compute every metric, at three sizes of company.

Not a test: run on demand, it prints wall time and peak memory per step::

    uv run python bench/bench_metrics.py --sizes 2k,100k,1m --reuse

Sizes (accounts / expected events): 2k = 2,000 / 2M, 100k = 100,000 / 20M,
1m = 1,000,000 / 100M. Data come from ``csm_lib.sample.generate`` (seed 42) and
are cached under ``bench/data/<size>/`` (git-ignored); ``--reuse`` keeps a
complete cached copy instead of generating it again.

Each size runs in a fresh Python process, so the peak RSS of a size is its own.
Steps, in order, in that process:

- ``load``: ``load(path, strict=False)`` (validation included; rows that break the
  contract are set aside and counted in the output);
- ``all metrics Q4``: the first ``compute(wb, "2025-Q4", "All")`` (builds the facts;
  reads them from the facts cache when a previous run left one);
- ``segment SMB``: ``compute(wb, "2025-Q4", "segment=SMB")``;
- ``period change Q3``: ``compute(wb, "2025-Q3", "All")`` (the notebook widget path);
- ``warm Q4 again``: the first call again, everything cached.

``--runs cold,warm`` (default both): *cold* clears the size's facts cache first, so
the facts are built from the events; *warm* runs again in a new process and finds
the facts written by the cold run (see ``csm_lib.facts``: the persistent facts cache).

CPU s is the process's user + system time over all threads (on an otherwise idle
machine with 2 cores, wall time is about CPU time / 2 for the parallel steps; on a
busy machine it is the steadier measure). Peak RSS is the process's high-water mark after the step (``VmHWM``; the mark is
reset before each step where the kernel allows it, otherwise it is cumulative and
the column says so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
SIZES = {
    "2k": (2_000, 2_000_000),
    "100k": (100_000, 20_000_000),
    "1m": (1_000_000, 100_000_000),
}
SEED = 42
PERIOD_CHANGE_TARGET = {"100k": 0.5}  # size -> seconds for a period change, from the issue
TARGETS = {  # size -> (all metrics of a quarter: seconds, peak GiB), from the issue
    "100k": (3.0, 1.0),
    "1m": (15.0, 4.0),
}


# ----------------------------------------------------------------- data ----
def dataset(size: str, reuse: bool) -> Path:
    """The cached source folder of a size, generated when missing (or not reused)."""
    accounts, events = SIZES[size]
    out = DATA / size
    stamp = out / ".complete"
    want = json.dumps({"accounts": accounts, "events": events, "seed": SEED})
    if reuse and stamp.exists() and stamp.read_text() == want:
        return out
    from csm_lib.sample import generate

    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    print(f"[{size}] generating {accounts:,} accounts / {events:,} events ...", flush=True)
    counts = generate(out, accounts=accounts, events=events, seed=SEED)
    print(
        f"[{size}] generated in {time.perf_counter() - t0:.0f} s: "
        + ", ".join(f"{k}={v:,}" for k, v in counts.items()),
        flush=True,
    )
    stamp.write_text(want)
    return out


# --------------------------------------------------------------- memory ----
def _status(field: str) -> int | None:
    """A ``/proc/self/status`` field in bytes (None where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss() -> int:
    """High-water mark of this process's resident memory, in bytes."""
    hwm = _status("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS (Linux >= 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    cur, hwm = _status("VmRSS"), _status("VmHWM")
    return cur is not None and hwm is not None and hwm <= cur * 1.05 + (1 << 20)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------- worker ----
def worker(source: Path) -> list[dict]:
    """Run the steps in this (fresh) process; one dict per step."""
    from csm_lib import compute, load  # (before polars: csm_lib tunes its allocator)

    rows = []
    resettable = reset_peak()

    def step(name, fn):
        if resettable:
            reset_peak()
        c0, t0 = cpu_seconds(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        rows.append(
            {
                "step": name,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss": peak_rss(),
                "reset": resettable,
            }
        )
        return out

    qdir = DATA / f"quarantine-{source.name}"
    wb = step("load", lambda: load(source, strict=False, quarantine_dir=qdir))
    res = step("all metrics Q4", lambda: compute(wb, "2025-Q4", "All"))
    step("segment SMB", lambda: compute(wb, "2025-Q4", "segment=SMB"))
    step("period change Q3", lambda: compute(wb, "2025-Q3", "All"))
    step("warm Q4 again", lambda: compute(wb, "2025-Q4", "All"))
    nonnull = res.filter(res["value"].is_not_null()).height
    rows.append({"metrics": res.height, "non_null": nonnull, "quarantined": wb.quarantined})
    return rows


def run_size(size: str, source: Path, label: str) -> list[dict]:
    """Run :func:`worker` for one size in a fresh interpreter and read its JSON back."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(source)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=BENCH.parent)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"[{size}] worker failed ({proc.returncode})")
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in rows:
        r.update(size=size, run=label)
    rows[-1]["process_s"] = time.perf_counter() - t0
    return rows


def events_rows(source: Path) -> int:
    import polars as pl

    return pl.scan_parquet(source / "events.parquet").select(pl.len()).collect().item()


def facts_cache_dirs(source: Path) -> list[Path]:
    """Facts cache folders of a source (see csm_lib.facts.facts_cache_dir), if any."""
    try:
        from csm_lib.facts import facts_cache_dir
    except ImportError:
        return []
    root = facts_cache_dir(source)
    return [root] if root is not None and root.exists() else []


def _verdict(run: str, ok: bool) -> str:
    """Targets are judged on the warm runs; a cold run (the first run ever: validation and
    facts built) is shown for information."""
    if run == "cold":
        return "first run ever, for information (targets apply to the warm runs)"
    return "met" if ok else "NOT met"


def table(rows: list[dict]) -> str:
    steps = [r for r in rows if "step" in r]
    head = f"{'size':>5} {'run':>4} {'step':<18} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10}"
    lines = [head, "-" * len(head)]
    for r in steps:
        mark = "" if r["reset"] else "*"
        lines.append(
            f"{r['size']:>5} {r['run']:>4} {r['step']:<18} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} "
            f"{r['peak_rss'] / 2**30:>8.2f}G{mark}"
        )
    if any(not r["reset"] for r in steps):
        lines.append("* peak RSS of the process so far (the high-water mark could not be reset)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2k,100k,1m", help="comma list of " + ",".join(SIZES))
    ap.add_argument("--reuse", action="store_true", help="reuse cached data in bench/data/")
    ap.add_argument("--runs", default="cold,warm", help="cold (build facts), warm (facts cache)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="warm runs per size (each a new process; the "
        "targets are judged on their median, as a shared machine's speed varies)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"unknown size(s) {bad}; choose from {list(SIZES)}")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    runs = [r for lab in runs for r in ([lab] if lab != "warm" else ["warm"] * max(args.repeat, 1))]
    all_rows: list[dict] = []
    for size in sizes:
        source = dataset(size, args.reuse)
        n_events = events_rows(source)
        for label in runs:
            if label == "cold":
                for d in facts_cache_dirs(source):
                    shutil.rmtree(d, ignore_errors=True)
            rows = run_size(size, source, label)
            info = rows.pop()
            print(
                f"[{size}/{label}] {n_events:,} events; {info['metrics']} metrics "
                f"({info['non_null']} non-null); process {info['process_s']:.1f} s; "
                f"quarantined {info['quarantined'] or 'none'}",
                flush=True,
            )
            all_rows += rows
            print(table(rows), flush=True)
    print()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(table(all_rows))
    for size, (secs, gib) in TARGETS.items():
        for run in dict.fromkeys(runs):
            first = [
                r for r in all_rows
                if r["size"] == size and r["run"] == run and r["step"] == "all metrics Q4"
            ]  # fmt: skip
            if not first:
                continue
            wall = statistics.median(r["wall_s"] for r in first)
            peak = statistics.median(r["peak_rss"] for r in first) / 2**30
            ok = wall < secs and peak < gib
            runs_s = " / ".join(f"{r['wall_s']:.2f}" for r in first)
            print(
                f"target {size} all metrics of a quarter < {secs:g} s and < {gib:g} GiB "
                f"({run}, median of {len(first)}: {wall:.2f} s, {peak:.2f} GiB; runs {runs_s} s): "
                + _verdict(run, ok)
            )
    for size, secs in PERIOD_CHANGE_TARGET.items():
        for run in dict.fromkeys(runs):
            rows = [
                r["wall_s"] for r in all_rows
                if r["size"] == size and r["run"] == run and r["step"] == "period change Q3"
            ]  # fmt: skip
            if rows:
                wall = statistics.median(rows)
                runs_s = " / ".join(f"{w:.2f}" for w in rows)
                print(
                    f"target {size} period change (all metrics of another quarter) < {secs:g} s "
                    f"({run}, median of {len(rows)}: {wall:.2f} s; runs {runs_s} s): "
                    + _verdict(run, wall < secs)
                )
    if args.json:
        args.json.write_text(json.dumps(all_rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
