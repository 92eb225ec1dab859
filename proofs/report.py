"""Rendering verdicts: the table and the JSON document (the walkthrough is proofs/walkthrough.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

from .core import CheckResult, get_check
from .registry import VERDICTS, Verdict

__all__ = ["JSON_FIELDS", "errata", "summary", "table", "to_json"]

JSON_FIELDS = (
    "id",
    "equations",
    "section",
    "kind",
    "statement",
    "verdict",
    "checks",
    "counterexample",
    "correction",
    "correction_checks",
    "evidence",
    "note",
)


def _check_json(cid: str, r: CheckResult) -> dict:
    return {
        "id": cid,
        "kind": get_check(cid).kind,
        "outcome": r.outcome,
        "detail": r.detail,
        "counterexample": r.counterexample,
        "negative_control": r.negative_control,
    }


def to_json(verdicts: Iterable[Verdict]) -> str:
    """The stable JSON document: a list of claim objects (see proofs/README.md)."""
    out = []
    for v in verdicts:
        c = v.claim
        out.append(
            {
                "id": c.id,
                "equations": list(c.equations),
                "section": c.section,
                "kind": c.kind,
                "statement": c.statement,
                "verdict": v.verdict,
                "checks": [_check_json(cid, r) for cid, r in v.results.items()],
                "counterexample": v.counterexample
                if v.verdict == "fails as printed" or v.verdict == "fails"
                else None,
                "correction": c.correction if v.verdict == "fails as printed" else None,
                "correction_checks": [_check_json(cid, r) for cid, r in v.correction_results.items()],
                "evidence": list(c.evidence),
                "note": c.note,
            }
        )
    return json.dumps(out, ensure_ascii=False, indent=2)


def summary(verdicts: list[Verdict]) -> str:
    counts = Counter(v.verdict for v in verdicts)
    covered = sorted({e for v in verdicts for e in v.claim.equations if v.claim.id.startswith("eq")})
    parts = [f"{counts[k]} {k}" for k in VERDICTS if counts[k]]
    missing = sorted(set(range(1, 91)) - set(covered))
    coverage = "equations (1)-(90) all covered" if not missing else f"equations missing: {missing}"
    return f"{len(verdicts)} claims: " + ", ".join(parts) + f"; {coverage}"


def table(verdicts: list[Verdict]) -> str:
    rows = [("claim", "section", "kind", "verdict", "checks")]
    for v in verdicts:
        marks = []
        for cid, r in list(v.results.items()) + list(v.correction_results.items()):
            sign = {"pass": "+", "fail": "-", "pending": "?", "inconclusive": "~", "error": "!"}[r.outcome]
            prefix = "fix:" if cid in v.correction_results and cid not in v.results else ""
            marks.append(f"{prefix}{cid}{sign}")
        rows.append((v.claim.id, v.claim.section, v.claim.kind, v.verdict, " ".join(marks)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(r[j].ljust(widths[j]) for j in range(4)) + "  " + r[4])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    lines.append("")
    lines.append(
        "check marks: + passed, - failed (with a counterexample), ? pending, ~ inconclusive, ! error; "
        "fix: = a check of the corrected statement"
    )
    return "\n".join(lines)


def errata(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        if v.verdict in ("fails as printed", "fails", "error", "not reproduced"):
            lines.append(f"* {v.claim.id} ({v.verdict})")
            for cid, r in v.results.items():
                if r.outcome in ("fail", "error"):
                    lines.append(f"    {cid}: {r.detail}")
                    if r.counterexample:
                        lines.append(f"      counterexample: {r.counterexample}")
            if v.claim.correction and v.verdict == "fails as printed":
                lines.append(f"    correction: {v.claim.correction}")
    return "\n".join(lines)
