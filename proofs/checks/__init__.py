"""Every check of the registry, grouped by section of the paper.

Importing this package registers all checks (see :func:`proofs.core.check`).
"""

from . import (  # noqa: F401
    section2_bandit,
    section3_operators,
    section4_equivalence,
    section5_natural,
    section6_experiments,
    section7_related,
    text_sentences,
    units_table,
)
