"""Symbolic and numeric checks of every claim of the paper (see proofs/README.md).

``python -m proofs`` runs every check and prints the verdict of each claim;
:func:`proofs.registry.evaluate_all` does the same from Python.
"""

from .registry import Claim, Verdict, evaluate_all, evaluate_claim, load_registry

__all__ = ["Claim", "Verdict", "evaluate_all", "evaluate_claim", "load_registry"]
