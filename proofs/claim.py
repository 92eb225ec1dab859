"""The :class:`Claim` type: one claim of the paper (or of this project) as data.

Kept in a module of its own, importing nothing of :mod:`proofs`, so that the claims data
(:mod:`proofs.claims`, :mod:`proofs.claims_text`) can build entries without importing the
registry that validates and evaluates them (:mod:`proofs.registry` re-exports it).
"""

from __future__ import annotations

import dataclasses

__all__ = ["Claim", "KINDS", "ABOUT"]

KINDS = ("definition", "identity", "derivation step", "theorem", "empirical")
# Whose claim it is: the paper's, or this project's own evidence about a claim of the paper
# (counted separately in the summary line).
ABOUT = ("paper", "project")


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
      about: ``"paper"`` (a claim the paper makes) or ``"project"`` (this project's own evidence
        about a claim of the paper, e.g. the CartPole reproduction; counted apart in the summary).
      uncertain: for a printed form whose failure cannot be attributed to this line from the printed
        text (a garbled extraction): why. A failing printed check then gives ``uncertain``, not
        ``fails as printed``.
      qualification: for a claim that holds only under a reading of the text: that reading (shown
        in the verdict detail).
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
    about: str = "paper"
    uncertain: str | None = None
    qualification: str | None = None
