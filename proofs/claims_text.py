"""Claims of the running text (sentences, index ranges, assumptions), one :class:`proofs.claim.Claim`
each; their checks live in ``proofs/checks/text_sentences.py``.

Collected by :func:`proofs.loader.load_claims` after :data:`proofs.claims.CLAIMS`.
"""

from __future__ import annotations

TEXT_CLAIMS: tuple = ()
