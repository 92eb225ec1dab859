"""The claims registry: one entry per numbered equation (1)-(90) and per claim of the text.

The entries themselves are data in :mod:`proofs.claims`; this module defines
their type, validates them when they are loaded (unknown check id, duplicate
claim id, equation number outside 1..90, missing checks, unknown kind → a
ValueError naming the entry), and computes verdicts by running the checks.

Verdicts (the strings are part of the stable ``--json`` interface):

* ``holds``             every check of the printed statement passes;
* ``fails as printed``  a check of the printed statement fails with a
                        counterexample, and every check of the stated
                        correction passes;
* ``definition``        a definition: nothing to prove, and every consistency
                        check with the other definitions passes;
* ``pending``           empirical, no result files yet (never counted as holding);
* ``inconclusive``      empirical, the results do not decide;
* ``not reproduced``    empirical, the committed results contradict the claim;
* ``fails``             a check failed and no checked correction explains it —
                        a problem to look at (``python -m proofs`` exits non-zero);
* ``error``             a check raised: a bug in the checker (exit non-zero).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

from .core import CheckResult, registered_checks, run_check

__all__ = [
    "KINDS",
    "VERDICTS",
    "PROBLEM_VERDICTS",
    "Claim",
    "Verdict",
    "validate",
    "load_registry",
    "evaluate_claim",
    "evaluate_all",
]

KINDS = ("definition", "identity", "derivation step", "theorem", "empirical")
VERDICTS = (
    "holds",
    "fails as printed",
    "definition",
    "pending",
    "inconclusive",
    "not reproduced",
    "fails",
    "error",
)
PROBLEM_VERDICTS = ("fails", "error")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SECTION = re.compile(r"^[1-7](\.[1-6])?$")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes:
      id: stable identifier (``eq061`` for Eq. (61), ``text_…`` / ``emp_…`` for text claims).
      equations: the numbered equations the claim is about (may be empty for pure text claims).
      section: section of the paper, e.g. ``"3.5"``.
      kind: one of KINDS.
      statement: the claim as printed (Unicode, as in the paper; transcription notes in parentheses).
      checks: ids of the checks that decide the printed statement.
      latex: the printed statement in LaTeX (for the walkthrough of §2-§5).
      correction: for an erratum, the corrected statement (Unicode), else None.
      correction_latex: the corrected statement in LaTeX.
      correction_checks: ids of the checks that decide the correction (required with a correction).
      evidence: pytest node ids in tests/ whose property tests support the claim.
      note: how the statement is read / what the check assumes.
    """

    id: str
    equations: tuple[int, ...]
    section: str
    kind: str
    statement: str
    checks: tuple[str, ...]
    latex: str = ""
    correction: str | None = None
    correction_latex: str | None = None
    correction_checks: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim with its computed verdict and the results of its checks."""

    claim: Claim
    verdict: str
    results: dict[str, CheckResult]
    correction_results: dict[str, CheckResult]

    @property
    def counterexample(self) -> str | None:
        fails = [f"[{cid}] {r.counterexample}" for cid, r in self.results.items() if r.outcome == "fail"]
        return "; ".join(fails) if fails else None

    @property
    def is_problem(self) -> bool:
        return self.verdict in PROBLEM_VERDICTS


def validate(claims: Iterable[Claim], check_ids: Iterable[str]) -> tuple[Claim, ...]:
    """Reject malformed entries with a ValueError that names the claim."""
    known = set(check_ids)
    seen: set[str] = set()
    out = []
    for c in claims:
        if not isinstance(c, Claim):
            raise ValueError(f"registry entries must be Claim instances, got {type(c).__name__}: {c!r:.80}")
        if not isinstance(c.id, str) or not _ID.match(c.id):
            raise ValueError(f"claim id must match {_ID.pattern}, got {c.id!r}")
        if c.id in seen:
            raise ValueError(f"duplicate claim id {c.id!r}")
        seen.add(c.id)
        if not isinstance(c.equations, tuple):
            raise ValueError(f"claim {c.id!r}: equations must be a tuple of ints, got {c.equations!r}")
        for e in c.equations:
            if isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= 90:
                raise ValueError(f"claim {c.id!r}: equation number {e!r} is outside 1..90")
        if c.kind not in KINDS:
            raise ValueError(f"claim {c.id!r}: kind must be one of {KINDS}, got {c.kind!r}")
        if not isinstance(c.section, str) or not _SECTION.match(c.section):
            raise ValueError(f"claim {c.id!r}: section must look like '3' or '3.5', got {c.section!r}")
        if not isinstance(c.statement, str) or not c.statement.strip():
            raise ValueError(f"claim {c.id!r}: the printed statement is empty")
        if not isinstance(c.checks, tuple) or not c.checks:
            raise ValueError(f"claim {c.id!r} has no check (every claim needs at least one)")
        for cid in c.checks + c.correction_checks:
            if cid not in known:
                raise ValueError(f"claim {c.id!r} refers to unknown check {cid!r}")
        if (c.correction is None) != (not c.correction_checks):
            raise ValueError(f"claim {c.id!r}: a correction needs correction_checks and vice versa")
        if c.correction is not None and not c.correction.strip():
            raise ValueError(f"claim {c.id!r}: empty correction")
        for node in c.evidence:
            if not isinstance(node, str) or not node.startswith("tests/") or "::" not in node:
                raise ValueError(
                    f"claim {c.id!r}: evidence must be pytest node ids 'tests/…py::name', got {node!r}"
                )
        out.append(c)
    return tuple(out)


def load_registry() -> tuple[Claim, ...]:
    """The validated registry (importing the claims and every check)."""
    from .claims import CLAIMS
    from .claims_text import TEXT_CLAIMS  # TEMP until loader

    return validate(list(CLAIMS) + list(TEXT_CLAIMS), registered_checks())  # TEMP until loader: + TEXT_CLAIMS


def evaluate_claim(claim: Claim) -> Verdict:
    """Run the claim's checks and compute its verdict (see module docstring)."""
    results = {cid: run_check(cid) for cid in claim.checks}
    outcomes = [r.outcome for r in results.values()]
    corrections: dict[str, CheckResult] = {}
    if "error" in outcomes:
        return Verdict(claim, "error", results, corrections)
    if claim.kind == "empirical":
        if "fail" in outcomes:
            verdict = "not reproduced"
        elif "pending" in outcomes:
            verdict = "pending"
        elif "inconclusive" in outcomes:
            verdict = "inconclusive"
        else:
            verdict = "holds"
        return Verdict(claim, verdict, results, corrections)
    if any(o in ("pending", "inconclusive") for o in outcomes):
        raise ValueError(f"claim {claim.id!r}: only empirical claims may use empirical checks")
    if all(o == "pass" for o in outcomes):
        return Verdict(claim, "definition" if claim.kind == "definition" else "holds", results, corrections)
    corrections = {cid: run_check(cid) for cid in claim.correction_checks}
    if corrections and all(r.outcome == "pass" for r in corrections.values()):
        return Verdict(claim, "fails as printed", results, corrections)
    if any(r.outcome == "error" for r in corrections.values()):
        return Verdict(claim, "error", results, corrections)
    return Verdict(claim, "fails", results, corrections)


def evaluate_all(claims: Iterable[Claim] | None = None) -> list[Verdict]:
    """Verdicts of ``claims`` (default: the whole registry), in order.

    Torch runs single-threaded meanwhile: the numeric checks use tiny tensors,
    for which thread hand-offs cost far more than the arithmetic.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [evaluate_claim(c) for c in (load_registry() if claims is None else claims)]
    finally:
        torch.set_num_threads(threads)
