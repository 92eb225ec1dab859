"""Proofs for every n by induction, for identities between n-step sums.

A side of such an identity has the form ``Σ_{t=0}^{n−1} term(t) + rest(n)``
over sequences r_t, KL_t, V_t, … .  :func:`by_induction` proves
``lhs(n) = rhs(n)`` for all n ≥ 1 by checking the base case n = 1 with plain
symbols and the inductive step ``lhs(n+1) − lhs(n) = rhs(n+1) − rhs(n)``
with a symbolic n (the sums change by their n-th term).  A failing base case
gives a concrete counterexample at a rational witness.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp

from .core import CheckResult, failed, passed
from .symbolic import Witness, decide, is_zero

__all__ = ["Seq", "by_induction", "N_SYMBOL"]

N_SYMBOL = sp.Symbol("n", integer=True, positive=True)


class Seq:
    """Sequence accessor: ``seq.r(0)`` is the plain symbol r_0; ``seq.r(n + 1)`` an applied function."""

    def __init__(self, names: str, witness_values: dict[str, list] | None = None):
        self._names = names.split()
        self._witness_values = witness_values or {}

    def __getattr__(self, name: str) -> Callable[[object], sp.Expr]:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)

        def get(index: object) -> sp.Expr:
            if isinstance(index, int):
                return sp.Symbol(f"{name}_{index}", real=True)
            return sp.Function(name, real=True)(index)

        return get

    def witness(self, scalars: dict[sp.Symbol, sp.Expr], length: int, label: str) -> Witness:
        values = dict(scalars)
        for name in self._names:
            seq = self._witness_values.get(name)
            for i in range(length):
                values[sp.Symbol(f"{name}_{i}", real=True)] = seq[i] if seq else sp.Rational(i + 2, 3 + i)
        return Witness(values, label)


def by_induction(
    statement: str,
    lhs_term: Callable[[object], sp.Expr],
    lhs_rest: Callable[[object], sp.Expr],
    rhs_term: Callable[[object], sp.Expr],
    rhs_rest: Callable[[object], sp.Expr],
    witness: Witness,
    wrong: tuple[Callable, Callable] | None = None,
    wrong_label: str = "",
    explicit: tuple[int, ...] = (2, 3),
) -> CheckResult:
    """Prove Σ_{t<n} lhs_term(t) + lhs_rest(n) = Σ_{t<n} rhs_term(t) + rhs_rest(n) for all n ≥ 1.

    ``wrong`` = (term, rest) of a deliberately wrong right-hand side; its
    base case must be refuted at the witness (negative control).
    """

    def side(term, rest, n):
        return sp.Add(*[term(t) for t in range(n)]) + rest(n)

    wrong_base = None if wrong is None else side(wrong[0], wrong[1], 1)
    base = decide(
        side(lhs_term, lhs_rest, 1),
        side(rhs_term, rhs_rest, 1),
        witness,
        statement=f"{statement}, n = 1",
        wrong=wrong_base,
        wrong_label=wrong_label,
    )
    if base.outcome == "fail":
        return base
    for n in explicit:
        explicit_case = decide(
            side(lhs_term, lhs_rest, n),
            side(rhs_term, rhs_rest, n),
            witness,
            statement=f"{statement}, n = {n}",
            control=False,
        )
        if explicit_case.outcome == "fail":
            return explicit_case
    n = N_SYMBOL
    step = (lhs_term(n) + lhs_rest(n + 1) - lhs_rest(n)) - (rhs_term(n) + rhs_rest(n + 1) - rhs_rest(n))
    if not is_zero(sp.expand(step)):
        return failed(
            f"{statement}: the inductive step does not hold",
            f"increment difference {sp.sstr(sp.simplify(step))} ≠ 0 for symbolic n",
        )
    return passed(
        f"{statement}: base case n = 1 and the inductive step n → n+1 reduce to 0 exactly "
        f"(so it holds for every n ≥ 1)",
        negative_control=base.negative_control,
        **base.measurements,
    )
