"""The claims registry: one entry per numbered equation (1)-(90) and per claim of the text.

The entries themselves are data (:mod:`proofs.claims`, :mod:`proofs.claims_text`, collected by
:mod:`proofs.loader`; the type is :class:`proofs.claim.Claim`, re-exported here); this module
validates them when they are loaded (unknown check id, duplicate claim id, equation number outside
1..90, missing checks, unknown kind → a ValueError naming the entry), and computes verdicts by
running the checks.

Verdicts (the strings are part of the stable ``--json`` interface):

* ``holds``             every check of the printed statement passes, and at least one of them
                        carries a negative control that was refuted (it could have said otherwise);
* ``fails as printed``  a check of the printed statement fails with a
                        counterexample, and every check of the stated
                        correction passes (one of them with a refuted negative control);
* ``uncertain``         as ``fails as printed``, but the claim records that the printed text
                        (a garbled extraction) does not settle that the slip is on this line;
* ``definition``        a definition: nothing to prove, and every consistency
                        check with the other definitions passes (one with a refuted control);
* ``pending``           empirical, no result files yet (never counted as holding);
* ``inconclusive``      empirical, the results do not decide;
* ``not reproduced``    empirical, the committed results contradict the claim (exit non-zero);
* ``fails``             a check failed and no checked correction explains it —
                        a problem to look at (``python -m proofs`` exits non-zero);
* ``error``             a check raised, or every check passed but none could have failed (no
                        refuted negative control; units checks are supplementary and never the
                        only evidence): a bug in the checker (exit non-zero).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

from .claim import ABOUT, KINDS, Claim
from .core import CheckResult, get_check, run_check
from .loader import load_checks, load_claims

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

VERDICTS = (
    "holds",
    "fails as printed",
    "uncertain",
    "definition",
    "pending",
    "inconclusive",
    "not reproduced",
    "fails",
    "error",
)
PROBLEM_VERDICTS = ("fails", "error", "not reproduced")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SECTION = re.compile(r"^[1-7](\.[1-6])?$")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim with its computed verdict, the results of its checks, and why (``reason``)."""

    claim: Claim
    verdict: str
    results: dict[str, CheckResult]
    correction_results: dict[str, CheckResult]
    reason: str = ""

    @property
    def counterexample(self) -> str | None:
        fails = [f"[{cid}] {r.counterexample}" for cid, r in self.results.items() if r.outcome == "fail"]
        return "; ".join(fails) if fails else None

    @property
    def is_problem(self) -> bool:
        return self.verdict in PROBLEM_VERDICTS

    @property
    def detail(self) -> str:
        """The verdict's qualification: the reading it holds under, why it is uncertain, or the reason
        of an error (empty when there is nothing to add)."""
        parts = [self.reason]
        if self.claim.qualification and self.verdict in ("holds", "definition"):
            parts.append(f"holds under the reading: {self.claim.qualification}")
        if self.claim.uncertain and self.verdict == "uncertain":
            parts.append(f"uncertain: {self.claim.uncertain}")
        return "; ".join(p for p in parts if p)


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
        if c.about not in ABOUT:
            raise ValueError(f"claim {c.id!r}: about must be one of {ABOUT}, got {c.about!r}")
        if c.uncertain is not None and (c.correction is None or not c.uncertain.strip()):
            raise ValueError(f"claim {c.id!r}: 'uncertain' needs a reason and a checked correction")
        if c.qualification is not None and not c.qualification.strip():
            raise ValueError(f"claim {c.id!r}: empty qualification")
        for node in c.evidence:
            if not isinstance(node, str) or not node.startswith("tests/") or "::" not in node:
                raise ValueError(
                    f"claim {c.id!r}: evidence must be pytest node ids 'tests/…py::name', got {node!r}"
                )
        out.append(c)
    return tuple(out)


def load_registry() -> tuple[Claim, ...]:
    """The validated registry (importing the claims and every check)."""
    return validate(load_claims(), load_checks())


def _has_evidence(results: dict[str, CheckResult]) -> bool:
    """Whether some passing non-units check carries a refuted negative control."""
    return any(
        r.passed and r.control_refuted and get_check(cid).kind != "units" for cid, r in results.items()
    )


_NO_CONTROL = (
    "every check passed but none carries a refuted negative control (a units check is supplementary "
    "and never the only evidence), so none could have said otherwise"
)


def evaluate_claim(claim: Claim) -> Verdict:
    """Run the claim's checks and compute its verdict (see module docstring)."""
    results = {cid: run_check(cid) for cid in claim.checks}
    outcomes = [r.outcome for r in results.values()]
    corrections: dict[str, CheckResult] = {}
    if "error" in outcomes:
        return Verdict(claim, "error", results, corrections, "a check raised")
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
        if not _has_evidence(results):
            return Verdict(claim, "error", results, corrections, _NO_CONTROL)
        return Verdict(claim, "definition" if claim.kind == "definition" else "holds", results, corrections)
    corrections = {cid: run_check(cid) for cid in claim.correction_checks}
    if any(r.outcome == "error" for r in corrections.values()):
        return Verdict(claim, "error", results, corrections, "a check of the correction raised")
    if corrections and all(r.outcome == "pass" for r in corrections.values()):
        if not _has_evidence(corrections):
            return Verdict(claim, "error", results, corrections, "correction: " + _NO_CONTROL)
        return Verdict(claim, "uncertain" if claim.uncertain else "fails as printed", results, corrections)
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
