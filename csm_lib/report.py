"""``csm report``: run the notebooks headlessly into dated, offline HTML reports.

For every period x segment the chosen notebooks are executed with papermill
(in parallel up to ``--jobs``), exported to self-contained HTML (code hidden,
charts interactive, no external script or stylesheet), and gathered in
``outputs/<run-id>/`` with an ``index.html``, ``metrics.json``/``metrics.csv``
(computed by :func:`csm_lib.compute`, byte-identical for the same inputs) and a
``manifest.json`` (inputs with checksums, parameters, versions, timings,
failures). Everything is written to a hidden temporary folder first and moved
into place only when complete.

Schedule it from cron (``0 6 1 * * cd /srv/csm && uv run csm report``) or a CI
schedule; ``python -m csm_lib.report`` works too. It never touches the network.

>>> from csm_lib.report import run_id_for
>>> run_id_for(["2025-Q4"], ["All"], stamp="2026-01-05")
'2026-01-05_2025-Q4_All'
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
HEADLINE = (
    "mrr_end",
    "new_mrr",
    "churn_mrr",
    "nrr",
    "grr",
    "logo_churn_rate",
    "nps",
    "quick_ratio",
)
PACKAGES = (
    "csm-workbook",
    "polars",
    "altair",
    "vl-convert-python",
    "papermill",
    "nbconvert",
    "ipywidgets",
)
REMOVE_TAGS = {
    "parameters",
    "injected-parameters",
    "setup",
    "controls",
    "assertions",
    "remove-in-report",
}


@dataclass
class Job:
    notebook: Path
    period: str
    segment: str
    slug: str  # file stem inside the run folder

    @property
    def label(self) -> str:
        return f"{self.notebook.stem} [{self.period}, {self.segment}]"


@dataclass
class Outcome:
    notebook: str
    period: str
    segment: str
    ipynb: str
    html: str | None
    pdf: str | None = None
    seconds: float = 0.0
    ok: bool = True
    error: str | None = None
    failed_cell: int | None = None
    traceback: str | None = None
    extra: dict = field(default_factory=dict)


def slugify(text: str) -> str:
    """A file-name-safe version of a period or segment label.

    >>> slugify("segment=SMB,region=EMEA")
    'segment-SMB_region-EMEA'
    """
    s = text.replace("=", "-").replace(",", "_").replace("|", "+").replace("..", "_to_")
    return re.sub(r"[^A-Za-z0-9._+-]", "-", s)


def run_id_for(periods: list[str], segments: list[str], stamp: str | None = None) -> str:
    """The default run folder name: the run date plus what it covers."""
    stamp = stamp or datetime.now(UTC).strftime("%Y-%m-%d")
    if len(periods) == 1 and len(segments) == 1:
        return f"{stamp}_{slugify(periods[0])}_{slugify(segments[0])}"
    return f"{stamp}_{len(periods)}periods_{len(segments)}segments"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_files(source: str) -> list[dict]:
    """Every input file of a source with its size and sha256 checksum."""
    p = Path(source)
    files = sorted(p.iterdir()) if p.is_dir() else [p]
    return [
        {"file": f.name, "bytes": f.stat().st_size, "sha256": sha256_of(f)}
        for f in files
        if f.is_file()
    ]


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ------------------------------------------------------------------ HTML
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", re.I)
_MODULE_IMPORT = re.compile(
    r"<script\b[^>]*type=[\"']module[\"'][^>]*>(?:(?!</script>).)*?https?://(?:(?!</script>).)*</script>",
    re.I | re.S,
)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>", re.I)


def make_offline(page: str) -> str:
    """Drop every script or stylesheet the page would load from the network.

    >>> make_offline('<script src="https://cdn.x/require.js"></script><p>ok</p>')
    '<p>ok</p>'
    """
    page = _EXTERNAL_SCRIPT.sub("", page)
    page = _MODULE_IMPORT.sub("", page)
    return _EXTERNAL_LINK.sub("", page)


def network_references(page: str) -> list[str]:
    """Scripts, stylesheets or modules the page would fetch (should be empty)."""
    refs = re.findall(r"<script\b[^>]*\bsrc=[\"'](https?://[^\"']+)", page, re.I)
    refs += re.findall(r"<link\b[^>]*\bhref=[\"'](https?://[^\"']+)", page, re.I)
    refs += re.findall(r"\bimport\b[^;]*?from\s+[\"'](https?://[^\"']+)", page)
    return refs


def notebook_to_html(nb_path: Path, title: str) -> str:
    """Export an executed notebook to offline HTML: code hidden, setup cells removed."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:  # widget views cannot render in a static page
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if "application/vnd.jupyter.widget-view+json" not in o.get("data", {})
            ]
    nb.metadata.pop("widgets", None)
    tags = TagRemovePreprocessor(remove_cell_tags=REMOVE_TAGS, enabled=True)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True)
    exporter.exclude_output_prompt = True
    exporter.register_preprocessor(tags, enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return make_offline(body)


def html_to_pdf(html_path: Path, pdf_path: Path) -> str | None:
    """Print the HTML with headless Chromium (Playwright). Returns a message when it cannot."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return "PDF skipped: no `chromium` found (install Debian's chromium to enable --format pdf)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "PDF skipped: the `playwright` package is not installed"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        page.pdf(path=str(pdf_path), format="A4", print_background=True)
        browser.close()
    return None


# ------------------------------------------------------------------ execution
def execute(job: Job, source: str, folder: Path, formats: set[str], cwd: Path) -> Outcome:
    import papermill as pm

    out_nb = folder / f"{job.slug}.ipynb"
    t0 = time.perf_counter()
    outcome = Outcome(job.notebook.stem, job.period, job.segment, out_nb.name, None)
    try:
        pm.execute_notebook(
            str(job.notebook),
            str(out_nb),
            parameters={"source": source, "period": job.period, "segment": job.segment},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(cwd),
            log_output=False,
            # quiet kernels: ipykernel's start-up warnings would clutter the progress bar
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except Exception as exc:  # papermill's PapermillExecutionError and others
        outcome.ok = False
        outcome.error = (
            f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}"
        )
        outcome.failed_cell = getattr(exc, "exec_count", None)
        outcome.traceback = "".join(traceback.format_exception_only(type(exc), exc))[-4000:]
        cell = _failed_cell_index(out_nb)
        if cell is not None:
            outcome.extra["cell_index"] = cell
    if out_nb.exists():
        try:
            page = notebook_to_html(out_nb, f"{job.notebook.stem} {job.period} {job.segment}")
            html_path = folder / f"{job.slug}.html"
            html_path.write_text(page, encoding="utf-8")
            outcome.html = html_path.name
            if "pdf" in formats and outcome.ok:
                msg = html_to_pdf(html_path, folder / f"{job.slug}.pdf")
                if msg:
                    outcome.extra["pdf"] = msg
                else:
                    outcome.pdf = f"{job.slug}.pdf"
        except Exception as exc:  # export problems are failures too, never silent
            outcome.ok = False
            outcome.error = outcome.error or f"HTML export failed: {exc}"
    outcome.seconds = round(time.perf_counter() - t0, 2)
    return outcome


def _failed_cell_index(nb_path: Path) -> int | None:
    """Index, in the source notebook, of the first cell whose outputs hold an error."""
    if not nb_path.exists():
        return None
    try:
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    skip = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [
        c for c in nb.get("cells", []) if not skip & set(c.get("metadata", {}).get("tags", []))
    ]
    for i, cell in enumerate(cells):  # index in the source notebook (papermill's cells left out)
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i
    return None


# ------------------------------------------------------------------ metrics files
def metrics_rows(workbook, periods: list[str], segments: list[str]) -> list[dict]:
    from csm_lib import compute

    rows = []
    for period in periods:
        for segment in segments:
            res = compute(workbook, period, segment)
            for r in res.iter_rows(named=True):
                rows.append(
                    {
                        "period": r["period"],
                        "segment": r["segment"],
                        "id": r["id"],
                        "value": r["value"],
                        "unit": r["unit"],
                        "n": r["n"],
                        "low": r["low"],
                        "high": r["high"],
                        "note": r["note"] or "",
                        "as_of": r["as_of"].isoformat(),
                    }
                )
    return rows


def write_metrics(rows: list[dict], folder: Path) -> None:
    """metrics.json (nested period -> segment -> id) and metrics.csv, deterministic."""
    nested: dict = {}
    for r in rows:
        nested.setdefault(r["period"], {}).setdefault(r["segment"], {})[r["id"]] = {
            "value": r["value"],
            "unit": r["unit"],
            "n": r["n"],
            "interval": [r["low"], r["high"]] if r["low"] is not None else None,
            "note": r["note"] or None,
        }
    doc = {"as_of": rows[0]["as_of"] if rows else None, "metrics": nested}
    (folder / "metrics.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    buf = io.StringIO()
    cols = ["period", "segment", "id", "value", "unit", "n", "low", "high", "note", "as_of"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in cols})
    (folder / "metrics.csv").write_text(buf.getvalue())


def write_index(folder: Path, outcomes: list[Outcome], rows: list[dict], meta: dict) -> None:
    from csm_lib.registry import SPECS, fmt_value

    by_key = {(r["period"], r["segment"], r["id"]): r for r in rows}
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.period, o.segment), []).append(o)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>CS workbook report {html.escape(meta['run_id'])}</title>",
        "<style>body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:4px 8px;"
        "text-align:right}th{background:#f4f6f8}td.l,th.l{text-align:left}.fail{color:#b00020;font-weight:600}"
        ".ok{color:#1b7f3b}</style></head><body>",
        "<h1>Customer-success workbook report</h1>",
        f"<p>Source <code>{html.escape(meta['source'])}</code>, data as of "
        f"<b>{html.escape(str(meta['as_of']))}</b>; run <code>{html.escape(meta['run_id'])}</code>. "
        f"{len(outcomes)} notebooks, {sum(not o.ok for o in outcomes)} failed. "
        "Numbers: <a href='metrics.csv'>metrics.csv</a>, <a href='metrics.json'>metrics.json</a>; "
        "provenance: <a href='manifest.json'>manifest.json</a>.</p>",
    ]
    for (period, segment), outs in groups.items():
        parts.append(f"<h2>{html.escape(period)} &middot; {html.escape(segment)}</h2><table><tr>")
        heads = [h for h in HEADLINE if h in SPECS]
        parts += [f"<th>{html.escape(SPECS[h].label)}</th>" for h in heads]
        parts.append("</tr><tr>")
        for h in heads:
            r = by_key.get((period, segment, h))
            val = fmt_value(r["value"], r["unit"]) if r else "n/a"
            if r and h == "nps" and r["value"] is not None:
                val = f"{r['value']:.1f}"
            parts.append(f"<td>{html.escape(val)}</td>")
        parts.append("</tr></table><table><tr><th class='l'>notebook</th><th class='l'>status</th>"
                     "<th>seconds</th></tr>")  # fmt: skip
        for o in outs:
            link = (
                f"<a href='{html.escape(o.html)}'>{html.escape(o.notebook)}</a>"
                if o.html
                else html.escape(o.notebook)
            )
            if o.pdf:
                link += f" (<a href='{html.escape(o.pdf)}'>pdf</a>)"
            if o.ok:
                status = "<span class='ok'>ok</span>"
            else:
                cell = o.extra.get("cell_index", o.failed_cell)
                status = (
                    f"<span class='fail'>failed</span> in cell {cell}: {html.escape(o.error or '')}"
                )
            parts.append(
                f"<tr><td class='l'>{link}</td><td class='l'>{status}</td><td>{o.seconds:.1f}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    (folder / "index.html").write_text("".join(parts), encoding="utf-8")


# ------------------------------------------------------------------ the command
def list_notebooks(names: list[str] | None) -> list[Path]:
    available = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if not names:
        return available
    chosen = []
    for n in names:
        p = Path(n)
        if p.suffix == ".ipynb" and p.exists():
            chosen.append(p.resolve())
            continue
        match = [
            a for a in available if a.stem == n or a.stem.split("_", 1)[-1] == n or a.name == n
        ]
        if not match:
            names_ok = ", ".join(a.stem for a in available)
            raise SystemExit(f"csm report: unknown notebook {n!r}; choose from {names_ok}")
        chosen += match
    return chosen


def run(
    source: str | None = None,
    periods: list[str] | None = None,
    segments: list[str] | None = None,
    notebooks: list[str] | None = None,
    out: str | Path = "outputs",
    jobs: int = 2,
    formats: set[str] | None = None,
    lenient: bool = False,
    run_id: str | None = None,
    progress: bool = True,
) -> tuple[Path, list[Outcome]]:
    """Run a report; returns the finished run folder and the outcomes."""
    from tqdm import tqdm

    from csm_lib.data import load
    from csm_lib.periods import Period, Segment, latest_full_quarter

    started = time.perf_counter()
    if source:
        source = str(Path(source).resolve())
    else:
        from csm_lib.sample import sample_path

        source = str(sample_path())
    formats = formats or {"html"}
    nbs = list_notebooks(notebooks)
    if not nbs:
        raise SystemExit(f"csm report: no notebooks found in {NOTEBOOK_DIR}")
    out = Path(out)
    tmp = out / f".tmp-report-{os.getpid()}-{int(time.time())}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        # 1. validate first: bad input stops the run before any notebook starts;
        #    lenient mode writes the rows it sets aside beside the report
        wb = load(source, strict=not lenient, quarantine_dir=tmp / "quarantine")
        periods = periods or [latest_full_quarter(wb.as_of).label]
        segments = segments or ["All"]
        for p in periods:
            Period.parse(p).clip(wb.as_of)
        for s in segments:
            Segment.parse(s).check(wb.facts.accounts.columns)
        run_id = run_id or run_id_for(periods, segments)
        final = out / run_id
        t_metrics = time.perf_counter()
        rows = metrics_rows(wb, periods, segments)
        write_metrics(rows, tmp)
        t_metrics = time.perf_counter() - t_metrics
        job_list = [
            Job(nb, p, s, f"{slugify(p)}__{slugify(s)}__{nb.stem}")
            for p in periods
            for s in segments
            for nb in nbs
        ]
        outcomes: list[Outcome] = []
        bar = tqdm(
            total=len(job_list), desc="notebooks", unit="nb", disable=not progress, file=sys.stderr
        )
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(execute, j, source, tmp, formats, REPO): j for j in job_list}
            for fut in as_completed(futures):
                o = fut.result()
                outcomes.append(o)
                bar.set_postfix_str(f"{futures[fut].label} {'ok' if o.ok else 'FAILED'}")
                bar.update(1)
        bar.close()
        order = {j.slug: i for i, j in enumerate(job_list)}
        outcomes.sort(
            key=lambda o: order[f"{slugify(o.period)}__{slugify(o.segment)}__{o.notebook}"]
        )
        meta = {
            "run_id": run_id,
            "source": source,
            "as_of": wb.as_of.isoformat(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "parameters": {
                "periods": periods,
                "segments": segments,
                "notebooks": [n.stem for n in nbs],
                "formats": sorted(formats),
                "jobs": jobs,
                "lenient": lenient,
            },
            "inputs": source_files(source),
            "quarantined": dict(wb.quarantined),
            "versions": versions(),
            "timings": {
                "metrics_s": round(t_metrics, 2),
                "total_s": round(time.perf_counter() - started, 2),
                "notebooks": {o.ipynb: o.seconds for o in outcomes},
            },
            "notebooks": [asdict(o) for o in outcomes],
            "failures": [asdict(o) for o in outcomes if not o.ok],
        }
        write_index(tmp, outcomes, rows, meta)
        (tmp / "manifest.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)  # complete: move into place atomically
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half report posing as a whole
        raise
    return final, outcomes


def add_parser(sub) -> argparse.ArgumentParser:
    r = sub.add_parser(
        "report",
        help="run the notebooks into an offline HTML report",
        description="Execute notebooks with papermill for every period x segment and write "
        "outputs/<run-id>/ with HTML, index.html, metrics.json/.csv and manifest.json.",
        epilog="Example: csm report --period 2025-Q3 --period 2025-Q4 --segment All "
        "--segment segment=SMB --jobs 2",
    )
    r.add_argument(
        "--source", help="folder of Parquet/CSV files or DuckDB file (default: bundled sample)"
    )
    r.add_argument(
        "--period", action="append", help="period, repeatable (default: latest full quarter)"
    )
    r.add_argument("--segment", action="append", help="segment, repeatable (default: All)")
    r.add_argument(
        "--notebooks", nargs="+", help="notebook names, e.g. 00_overview retention (default: all)"
    )
    r.add_argument("--out", default="outputs", help="output folder (default outputs/)")
    r.add_argument("--jobs", type=int, default=2, help="notebooks run in parallel (default 2)")
    r.add_argument(
        "--format", default="html", help="html and/or pdf, comma-separated (default html)"
    )
    r.add_argument(
        "--lenient", action="store_true", help="quarantine bad input rows instead of stopping"
    )
    r.add_argument("--run-id", help="name of the run folder (default: date + period + segment)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=run_from_args)
    return r


def run_from_args(args) -> int:
    formats = {f.strip().lower() for f in args.format.split(",") if f.strip()}
    bad = formats - {"html", "pdf"}
    if bad:
        print(f"csm report: unknown format(s) {sorted(bad)}; use html and/or pdf", file=sys.stderr)
        return 2
    folder, outcomes = run(
        source=args.source,
        periods=args.period,
        segments=args.segment,
        notebooks=args.notebooks,
        out=args.out,
        jobs=args.jobs,
        formats=formats,
        lenient=args.lenient,
        run_id=args.run_id,
        progress=not args.quiet,
    )
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        if "pdf" in o.extra:
            print(o.extra["pdf"], file=sys.stderr)
            break
    print(f"report: {folder / 'index.html'}  ({len(outcomes)} notebooks, {len(failed)} failed)")
    for o in failed:
        cell = o.extra.get("cell_index", o.failed_cell)
        print(
            f"  FAILED {o.notebook} [{o.period}, {o.segment}] in cell {cell}: {o.error}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    from csm_lib.cli import main as cli_main

    return cli_main(["report", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "run",
    "main",
    "add_parser",
    "run_from_args",
    "make_offline",
    "network_references",
    "date",
]
