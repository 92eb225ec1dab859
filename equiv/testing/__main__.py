"""``python -m equiv.testing MODULE:ADAPTER [--json]`` and ``python -m equiv.testing report --out PATH``."""

from __future__ import annotations

import argparse
import json
import sys


def _check_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m equiv.testing",
                                     description="Run the conformance checks on an adapter and print verdicts.")
    parser.add_argument("adapter", help="MODULE:ADAPTER (an object, or a class / function called with no arguments)")
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    parser.add_argument("--examples", type=int, default=None, help="hypothesis examples per check (default 8)")
    parser.add_argument("--checks", default=None, help="comma-separated check names (default: all)")
    parser.add_argument("--shrink", action="store_true", help="shrink failing cases (slower, smaller examples)")
    args = parser.parse_args(argv)
    if args.examples is not None and args.examples < 1:
        parser.error(f"--examples must be a positive integer, got {args.examples}")
    from .runner import format_table, load_adapter, run_checks

    try:
        adapter = load_adapter(args.adapter)
    except (ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    checks = args.checks.split(",") if args.checks else None
    try:
        verdicts = run_checks(adapter, checks=checks, examples=args.examples, shrink=args.shrink)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"adapter": args.adapter, "verdicts": [v.as_dict() for v in verdicts]}, indent=2))
    else:
        name = getattr(adapter, "name", args.adapter)
        print(format_table(f"equiv.testing: {name} ({args.adapter})", verdicts))
    return 1 if any(v.status == "differs" for v in verdicts) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "report":
        from .report import main as report_main

        return report_main(argv[1:])
    return _check_command(argv)


if __name__ == "__main__":
    raise SystemExit(main())
