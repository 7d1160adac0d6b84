"""The ``csm`` command: sample data, validation, metrics and reports.

Run ``csm --help`` or ``csm <command> --help``. Examples::

    csm metrics --period 2025-Q4 --json
    csm metrics --segment segment=SMB --period 2025-Q3
    csm metrics --list
    csm validate data/sample
    csm sample --out /tmp/big --accounts 100000 --events 20000000
    csm report --period 2025-Q4 --segment All --segment segment=SMB
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

EPILOG = "Docs: README.md. Definitions: `csm metrics --list`."


def _default_source(source: str | None) -> str:
    if source:
        return source
    from csm_lib.sample import sample_path

    return str(sample_path())


def _parse_options(pairs: list[str]) -> dict:
    """``key=value`` pairs; values are parsed as JSON when they parse, else kept as text."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(
                f"--option {pair!r}: use key=value, e.g. --option ltv_variant=annual_lifetime"
            )
        k, _, v = pair.partition("=")
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def cmd_sample(args) -> int:
    from csm_lib.sample import generate

    t0 = time.perf_counter()
    counts = generate(args.out, accounts=args.accounts, events=args.events, seed=args.seed)
    dt = time.perf_counter() - t0
    for table, n in counts.items():
        print(f"{table:<14} {n:>12,} rows")
    print(f"wrote {args.out} in {dt:.1f} s")
    return 0


def cmd_validate(args) -> int:
    from csm_lib.data import validate

    source = _default_source(args.source)
    report = validate(source, strict=not args.lenient, quarantine_dir=args.quarantine_dir)
    print(report.format())
    return 0 if report.ok else 1


def _print_list(as_json: bool) -> int:
    from csm_lib import catalogue

    specs = catalogue()
    if as_json:
        print(
            json.dumps(
                {
                    s.id: {
                        "label": s.label,
                        "pillar": s.pillar,
                        "unit": s.unit,
                        "direction": s.direction,
                        "definition": s.definition,
                        "formula": s.formula,
                        "benchmark": s.benchmark,
                        "benchmark_source": s.benchmark_source,
                        "inputs": list(s.inputs),
                        "options": {
                            o.name: {"default": o.default, "help": o.help} for o in s.options
                        },
                    }
                    for s in specs.values()
                },
                indent=2,
                default=str,
            )
        )
        return 0
    pillar = None
    for s in specs.values():
        if s.pillar != pillar:
            pillar = s.pillar
            print(f"\n== {pillar.upper()} ==")
        print(f"{s.id}  ({s.label}; {s.unit}, {s.direction} is better)")
        wrap = textwrap.TextWrapper(width=96, initial_indent="    ", subsequent_indent="    ")
        print(wrap.fill(s.definition))
        print(wrap.fill(f"formula: {s.formula}"))
        if s.benchmark and s.benchmark != "none":
            print(wrap.fill(f"benchmark: {s.benchmark} ({s.benchmark_source})"))
        for o in s.options:
            print(wrap.fill(f"option {o.name} (default {o.default!r}): {o.help}"))
    print(f"\n{len(specs)} metrics")
    return 0


def cmd_metrics(args) -> int:
    if args.list:
        return _print_list(args.json)
    import polars as pl

    from csm_lib import compute, load, to_json_obj
    from csm_lib.periods import latest_full_quarter
    from csm_lib.registry import fmt_value

    wb = load(_default_source(args.source), strict=not args.lenient)
    period = args.period or latest_full_quarter(wb.as_of).label
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    res = compute(wb, period, args.segment, metrics=metrics, options=_parse_options(args.option))
    if args.json:
        print(json.dumps(to_json_obj(res), indent=2))
        return 0
    print(f"period {period}  segment {args.segment}  as of {wb.as_of}")
    pillar = None
    for r in res.iter_rows(named=True):
        if r["pillar"] != pillar:
            pillar = r["pillar"]
            print(f"\n== {pillar} ==")
        val = fmt_value(r["value"], r["unit"])
        extra = ""
        if r["low"] is not None:
            extra = f"  [{fmt_value(r['low'], r['unit'])}, {fmt_value(r['high'], r['unit'])}]"
        if r["n"] is not None and r["unit"] not in ("count",):
            extra += f"  n={r['n']}"
        note = f"  ({r['note']})" if r["note"] else ""
        print(f"{r['id']:<32} {val:>18}{extra}{note}")
    del pl
    return 0


def cmd_report(args) -> int:
    from csm_lib.report import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="csm",
        description="Customer-success workbook: transparent CS metrics, notebooks and reports.",
        epilog=EPILOG,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "sample",
        help="generate a sample subscription company (deterministic)",
        description="Write every contract table of a seeded, realistic sample company as Parquet.",
    )
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--accounts", type=int, default=2000, help="number of accounts (default 2000)")
    s.add_argument(
        "--events", type=int, default=1_500_000, help="number of product events (default 1.5M)"
    )
    s.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    s.set_defaults(func=cmd_sample)

    v = sub.add_parser(
        "validate",
        help="check a source against the data contract",
        description="Validate every table against DATA_CONTRACT.md; exit 1 when a rule is broken.",
    )
    v.add_argument(
        "source",
        nargs="?",
        help="folder of Parquet/CSV files or DuckDB file (default: bundled sample)",
    )
    v.add_argument("--lenient", action="store_true", help="quarantine bad rows instead of failing")
    v.add_argument(
        "--quarantine-dir", default=None, help="where lenient mode writes the rows set aside"
    )
    v.set_defaults(func=cmd_validate)

    m = sub.add_parser(
        "metrics",
        help="compute metrics for a period and segment",
        description="Compute every metric (or --metrics ids) for one period and segment.",
        epilog="Periods: 2025-05, 2025-Q2, 2025, 2025-01-15..2025-03-31. "
        "Segments: All, segment=SMB, segment=SMB,region=EMEA.",
    )
    m.add_argument(
        "--source", help="folder of Parquet/CSV files or DuckDB file (default: bundled sample)"
    )
    m.add_argument("--period", help="period (default: the latest full quarter of the data)")
    m.add_argument("--segment", default="All", help="segment filter (default All)")
    m.add_argument("--metrics", help="comma-separated metric ids (default: all)")
    m.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metric option, repeatable",
    )
    m.add_argument("--json", action="store_true", help="print JSON keyed by metric id")
    m.add_argument(
        "--list", action="store_true", help="list every metric with its definition and options"
    )
    m.add_argument(
        "--lenient", action="store_true", help="quarantine bad input rows instead of failing"
    )
    m.set_defaults(func=cmd_metrics)

    try:
        from csm_lib.report import add_parser as add_report_parser
    except ImportError:  # report module not available
        add_report_parser = None
    if add_report_parser is not None:
        add_report_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from csm_lib.data import ValidationError
    from csm_lib.periods import PeriodError, SegmentError

    try:
        return int(args.func(args) or 0)
    except (PeriodError, SegmentError, KeyError) as exc:
        print(f"csm: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"csm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "Path"]
