"""The one owner of loading: the claims data and every check module.

Layers, top to bottom: the data (:mod:`proofs.claims`, :mod:`proofs.claims_text`) and the checks
(every module of :mod:`proofs.checks`, found by :mod:`pkgutil`, so a new module needs no
registration line) → this loader → :mod:`proofs.registry` → :mod:`proofs.report` →
:mod:`proofs.cli`.  Neither the data nor the checks import this module.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import checks as _checks_package
from .claims import CLAIMS
from .claims_text import TEXT_CLAIMS
from .core import Check, registered_checks

__all__ = ["check_modules", "load_checks", "load_claims"]


def check_modules() -> tuple[str, ...]:
    """Names of every module of ``proofs/checks`` (sorted, so the registration order is stable)."""
    return tuple(
        sorted(
            f"{_checks_package.__name__}.{info.name}"
            for info in pkgutil.iter_modules(_checks_package.__path__)
            if not info.name.startswith("_")
        )
    )


def load_checks() -> dict[str, Check]:
    """Import every check module (importing registers its checks) and return all checks by id."""
    for name in check_modules():
        importlib.import_module(name)
    return registered_checks()


def load_claims() -> tuple:
    """Every claim, unvalidated: :data:`proofs.claims.CLAIMS` then :data:`proofs.claims_text.TEXT_CLAIMS`."""
    return tuple(CLAIMS) + tuple(TEXT_CLAIMS)
