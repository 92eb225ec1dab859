"""Rendering verdicts: the table and the JSON document (the walkthrough is proofs/walkthrough.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

from .core import CheckResult, get_check
from .registry import VERDICTS, Verdict

__all__ = [
    "JSON_SCHEMA",
    "JSON_FIELDS",
    "CHECK_FIELDS",
    "TABLE_WIDTH",
    "to_json",
    "table",
    "summary",
    "errata",
]

# Version of the --json document; bumped when a field changes meaning or the layout changes
# (2: the claims moved under "claims" beside "schema"; added verdict_detail, about, control gaps).
JSON_SCHEMA = "proofs.verdicts/2"
TABLE_WIDTH = 120  # terminal output fits 120 columns unless --wide

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
    "verdict_detail",
    "about",
)
CHECK_FIELDS = (
    "id",
    "kind",
    "outcome",
    "detail",
    "counterexample",
    "negative_control",
    "negative_control_gap",
    "negative_control_threshold",
)


def _check_json(cid: str, r: CheckResult) -> dict:
    return {
        "id": cid,
        "kind": get_check(cid).kind,
        "outcome": r.outcome,
        "detail": r.detail,
        "counterexample": r.counterexample,
        "negative_control": r.negative_control,
        "negative_control_gap": r.negative_control_gap,
        "negative_control_threshold": r.negative_control_threshold,
    }


def to_json(verdicts: Iterable[Verdict]) -> str:
    """The JSON document ``{"schema": JSON_SCHEMA, "summary": str, "claims": [claim objects]}``
    (see proofs/README.md)."""
    verdicts = list(verdicts)
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
                if v.verdict in ("fails as printed", "uncertain", "fails")
                else None,
                "correction": c.correction if v.verdict in ("fails as printed", "uncertain") else None,
                "correction_checks": [_check_json(cid, r) for cid, r in v.correction_results.items()],
                "evidence": list(c.evidence),
                "note": c.note,
                "verdict_detail": v.detail,
                "about": c.about,
            }
        )
    document = {"schema": JSON_SCHEMA, "summary": summary(verdicts), "claims": out}
    return json.dumps(document, ensure_ascii=False, indent=2)


def summary(verdicts: list[Verdict]) -> str:
    """One line: verdict counts of the paper's claims, the project's own evidence counted apart, and
    the coverage of (1)-(90) — only when every claim was evaluated (not for a ``--claim`` subset)."""
    paper = [v for v in verdicts if v.claim.about == "paper"]
    project = [v for v in verdicts if v.claim.about != "paper"]

    def counts(vs: list[Verdict]) -> str:
        c = Counter(v.verdict for v in vs)
        return ", ".join(f"{c[k]} {k}" for k in VERDICTS if c[k])

    line = f"{len(paper)} claims of the paper: {counts(paper)}"
    if project:
        line += f"; {len(project)} of this project's own evidence: {counts(project)}"
    covered = {e for v in verdicts for e in v.claim.equations if v.claim.id.startswith("eq")}
    if len({v.claim.id for v in verdicts if v.claim.id.startswith("eq")}) >= 90:
        missing = sorted(set(range(1, 91)) - covered)
        line += "; equations (1)-(90) all covered" if not missing else f"; equations missing: {missing}"
    return line


_SIGN = {"pass": "+", "fail": "-", "pending": "?", "inconclusive": "~", "error": "!"}


def table(verdicts: list[Verdict], width: int | None = TABLE_WIDTH) -> str:
    """One row per claim; the checks column wraps so that every line fits ``width`` columns
    (``None``: no wrapping, one line per claim)."""
    rows = [("claim", "section", "kind", "verdict", "checks")]
    marks_of = []
    for v in verdicts:
        marks = []
        for cid, r in list(v.results.items()) + list(v.correction_results.items()):
            prefix = "fix:" if cid in v.correction_results and cid not in v.results else ""
            marks.append(f"{prefix}{cid}{_SIGN[r.outcome]}")
        marks_of.append(marks)
        rows.append((v.claim.id, v.claim.section, v.claim.kind, v.verdict, ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    indent = sum(widths) + 2 * 4
    room = None if width is None else width - indent
    cont = indent  # indent of continuation lines
    longest = max((len(m) for ms in marks_of for m in ms), default=0)
    if room is not None and longest > room:
        # long claim ids leave too little room for a long check id: continue further left instead
        cont = max(4, width - max(longest, 48))
        room = width - cont
    lines = ["  ".join(rows[0][j].ljust(widths[j]) for j in range(4)) + "  " + rows[0][4]]
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    for row, marks in zip(rows[1:], marks_of):
        chunks: list[str] = []
        for mark in marks:
            if chunks and (room is None or len(chunks[-1]) + 1 + len(mark) <= room):
                chunks[-1] += " " + mark
            else:
                chunks.append(mark)
        head = "  ".join(row[j].ljust(widths[j]) for j in range(4)) + "  "
        if chunks and width is not None and len(head) + len(chunks[0]) > width:
            lines.append(head.rstrip())  # the first chunk does not fit beside the claim: it goes below
            lines += [" " * cont + chunk for chunk in chunks]
            continue
        lines.append((head + (chunks[0] if chunks else "")).rstrip())
        lines += [" " * cont + chunk for chunk in chunks[1:]]
    lines.append("")
    lines.append(
        "check marks: + passed, - failed (with a counterexample), ? pending, ~ inconclusive, ! error;"
    )
    lines.append("fix: = a check of the corrected statement; units checks are supplementary (never the only")
    lines.append(
        "evidence of a verdict: each holds/definition rests on a check with a refuted negative control)"
    )
    return "\n".join(lines)


def errata(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        if v.verdict in ("fails as printed", "uncertain", "fails", "error", "not reproduced"):
            lines.append(f"* {v.claim.id} ({v.verdict})")
            if v.detail:
                lines.append(f"    {v.detail}")
            for cid, r in v.results.items():
                if r.outcome in ("fail", "error"):
                    lines.append(f"    {cid}: {r.detail}")
                    if r.counterexample:
                        lines.append(f"      counterexample: {r.counterexample}")
            if v.claim.correction and v.verdict in ("fails as printed", "uncertain"):
                lines.append(f"    correction: {v.claim.correction}")
    return "\n".join(lines)
