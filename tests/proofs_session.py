"""One evaluation of the whole proofs registry per test process, shared by the tests/test_proofs_*.py
modules (the checks are deterministic and cached by proofs.core; this caches the verdicts too)."""

from __future__ import annotations

import functools

from proofs.registry import Verdict, evaluate_all


@functools.cache
def verdicts() -> tuple[Verdict, ...]:
    """Every claim's verdict, in registry order."""
    return tuple(evaluate_all())


def by_id() -> dict[str, Verdict]:
    return {v.claim.id: v for v in verdicts()}
