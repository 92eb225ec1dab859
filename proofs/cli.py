"""``python -m proofs``: run every check and report the verdict of every claim.

python -m proofs                      table + errata + summary (exit 1 on an unexplained failure)
python -m proofs --json               the registry with verdicts as JSON (schema in proofs/README.md)
python -m proofs --walkthrough PATH   write the Markdown walkthrough of §2-§5
python -m proofs --claim eq043        only the named claim(s), with every check's detail (also 43, EQ043)
python -m proofs --verdict "fails as printed"   only claims with this verdict (repeatable)
python -m proofs --wide               the table without wrapping (default: fits 120 columns)
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from pathlib import Path

from .registry import VERDICTS, evaluate_all, load_registry
from .report import errata, summary, table, to_json
from .walkthrough import walkthrough

__all__ = ["main", "normalize_claim_id"]

_EQ = re.compile(r"^(?:eq\.?\s*)?\(?0*(\d{1,3})\)?$")


def normalize_claim_id(text: str, known: set[str]) -> str | None:
    """The claim id meant by ``text``: itself if known, ``eqNNN`` for ``65``, ``eq65``, ``EQ065``,
    ``(65)``; None if there is no such claim."""
    t = text.strip().lower()
    if t in known:
        return t
    m = _EQ.match(t)
    if m and f"eq{int(m.group(1)):03d}" in known:
        return f"eq{int(m.group(1)):03d}"
    return None


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
        "--claim",
        action="append",
        metavar="ID",
        help="only these claims (repeatable; eq065, 65, EQ065 alike); prints details",
    )
    p.add_argument(
        "--verdict",
        action="append",
        choices=VERDICTS,
        metavar="VERDICT",
        help=f"only claims with this verdict (repeatable; one of: {', '.join(VERDICTS)})",
    )
    p.add_argument("--wide", action="store_true", help="do not wrap the table to 120 columns")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    claims = load_registry()
    if args.claim:
        known = {c.id for c in claims}
        wanted, unknown = [], []
        for text in args.claim:
            cid = normalize_claim_id(text, known)
            (wanted if cid else unknown).append(cid or text)
        if unknown:
            for text in unknown:
                close = difflib.get_close_matches(text.strip().lower(), sorted(known), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                print(f"unknown claim id: {text!r}{hint}", file=sys.stderr)
            return 2
        claims = tuple(c for c in claims if c.id in wanted)
    verdicts = evaluate_all(claims)
    problems = [v for v in verdicts if v.is_problem]
    everything = verdicts
    if args.verdict:
        verdicts = [v for v in verdicts if v.verdict in args.verdict]
    if args.json:
        print(to_json(verdicts))
    elif args.walkthrough:
        path = Path(args.walkthrough)
        path.write_text(walkthrough(everything), encoding="utf-8")
        print(f"wrote {path} ({summary(everything)})")
    else:
        print(table(verdicts, width=None if args.wide else 120))
        listed = errata(verdicts)
        if listed:
            print("\nErrata and problems (counterexample → checked correction):")
            print(listed)
        if args.claim:
            for v in verdicts:
                print(f"\n{v.claim.id}: {v.verdict}\n  {v.claim.statement}")
                if v.detail:
                    print(f"  ({v.detail})")
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
            f"{len(problems)} claim(s) that fail, are not reproduced, or hit a checker error: "
            f"{', '.join(v.claim.id for v in problems)}",
            file=sys.stderr,
        )
        return 1
    return 0
