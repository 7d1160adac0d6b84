"""Benchmark: how long a notebook's live sections take to re-render when a dropdown changes.

Not a test: run on demand, it prints per notebook the time of ``live.refresh``::

    uv run python bench/bench_widgets.py                 # every notebook
    uv run python bench/bench_widgets.py 00_overview 06_health --repeat 3

Each notebook runs in a fresh Python process: its code cells are executed in
process on the bundled sample (default parameters: the latest full quarter, All),
then the widget changes are timed, each the first time for its values (nothing
cached for them yet, as a user meets it):

- ``period``: the period dropdown changes (2025-Q3, All);
- ``segment``: the segment dropdown changes (2025-Q3, segment=SMB);
- ``both``: another period and segment (2025-Q2, region=EMEA).

The facts come from the persistent facts cache (run a notebook once first), so the
times are the widget's own work. ``--source FOLDER`` runs the notebooks on another
source (loaded leniently), e.g. the 100,000-account benchmark data::

    uv run python bench/bench_widgets.py --source bench/data/100k 00_overview Wall seconds and CPU seconds (user + system, all
threads) are printed: on a busy machine CPU seconds are the steadier measure.
``--repeat N`` runs each notebook N times in new processes and keeps the fastest.
``--display`` also formats every output as a Jupyter kernel does (an IPython shell
is started, so a refresh includes turning each chart into its HTML output, as in
JupyterLab); without it the outputs are built but not formatted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHANGES = [
    ("period", "2025-Q3", "All"),
    ("segment", "2025-Q3", "segment=SMB"),
    ("both", "2025-Q2", "region=EMEA"),
]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run_one(name: str, display: bool = False, source: str = "") -> dict:
    """Execute a notebook's code cells in this process, then time the widget changes."""
    import csm_lib  # noqa: F401  (before polars: csm_lib tunes its allocator)

    if display:
        from IPython.core.interactiveshell import InteractiveShell

        InteractiveShell.instance()
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    ns: dict = {}
    os.chdir(ROOT)
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] != "code" or src.startswith("%"):
                continue
            exec(compile(src, name, "exec"), ns)
            if source and "parameters" in cell.get("metadata", {}).get("tags", []):
                ns.update(source=source, strict=False)
    live = ns["live"]
    out = {"notebook": name}
    for label, period, segment in CHANGES:
        with contextlib.redirect_stdout(io.StringIO()):
            w, c = time.perf_counter(), _cpu()
            live.refresh(period, segment)
            out[label] = (time.perf_counter() - w, _cpu() - c)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", default=NOTEBOOKS)
    ap.add_argument("--repeat", type=int, default=1, help="runs per notebook (fastest kept)")
    ap.add_argument("--display", action="store_true", help="format outputs as a kernel does")
    ap.add_argument("--source", default="", help="source folder (default: the bundled sample)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child process: one notebook, JSON out
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.display, args.source)))
        return
    head = " | ".join(f"{lab} wall s | {lab} CPU s" for lab, _, _ in CHANGES)
    print(f"| notebook | {head} |")
    print("|---" * (1 + 2 * len(CHANGES)) + "|")
    for name in args.notebooks:
        best: dict | None = None
        for _ in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", name]
                + (["--display"] if args.display else [])
                + (["--source", str(Path(args.source).resolve())] if args.source else []),
                capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if best is None:
                best = r
            else:
                for lab, _, _ in CHANGES:
                    best[lab] = min(best[lab], r[lab])
        cells = " | ".join(f"{best[lab][0]:.3f} | {best[lab][1]:.3f}" for lab, _, _ in CHANGES)
        print(f"| {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
