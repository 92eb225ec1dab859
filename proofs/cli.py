"""``python -m proofs``: run every check and report the verdict of every claim.

python -m proofs                      table + errata + summary (exit 1 on an unexplained failure)
python -m proofs --json               the registry with verdicts as JSON (schema in proofs/README.md)
python -m proofs --walkthrough PATH   write the Markdown walkthrough of §2-§5
python -m proofs --claim eq043        only the named claim(s), with every check's detail
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .registry import evaluate_all, load_registry
from .report import errata, summary, table, to_json
from .walkthrough import walkthrough

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m proofs",
        description="Check every equation (1)-(90) and every claim of "
        "'Equivalence Between Policy Gradients and "
        "Soft Q-Learning' (arXiv:1704.06440v4) and print the verdicts.",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the registry with verdicts as JSON")
    out.add_argument("--walkthrough", metavar="PATH", help="write the Markdown walkthrough of §2-§5 to PATH")
    p.add_argument(
        "--claim", action="append", metavar="ID", help="only these claims (repeatable); prints details"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    claims = load_registry()
    if args.claim:
        known = {c.id for c in claims}
        unknown = [c for c in args.claim if c not in known]
        if unknown:
            print(f"unknown claim id(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        claims = tuple(c for c in claims if c.id in args.claim)
    verdicts = evaluate_all(claims)
    problems = [v for v in verdicts if v.is_problem]
    if args.json:
        print(to_json(verdicts))
    elif args.walkthrough:
        path = Path(args.walkthrough)
        path.write_text(walkthrough(verdicts), encoding="utf-8")
        print(f"wrote {path} ({summary(verdicts)})")
    else:
        print(table(verdicts))
        listed = errata(verdicts)
        if listed:
            print("\nErrata and problems (counterexample → checked correction):")
            print(listed)
        if args.claim:
            for v in verdicts:
                print(f"\n{v.claim.id}: {v.verdict}\n  {v.claim.statement}")
                for cid, r in list(v.results.items()) + list(v.correction_results.items()):
                    print(f"  [{r.outcome}] {cid}: {r.detail}")
                    for label, text in (
                        ("counterexample", r.counterexample),
                        ("negative control", r.negative_control),
                    ):
                        if text:
                            print(f"      {label}: {text}")
        print(f"\n{summary(verdicts)} ({time.perf_counter() - start:.1f} s)")
    if problems:
        print(
            f"{len(problems)} claim(s) with an unexplained failure or checker error: "
            f"{', '.join(v.claim.id for v in problems)}",
            file=sys.stderr,
        )
        return 1
    return 0
