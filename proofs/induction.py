"""Proofs for every n by induction, for identities between n-step sums.

A side of such an identity has the form ``Σ_{t=0}^{n−1} term(t) + rest(n)``
over sequences r_t, KL_t, V_t, … .  :func:`by_induction` proves
``lhs(n) = rhs(n)`` for all n ≥ 1 by checking the base case n = 1 with plain
symbols and the inductive step ``lhs(n+1) − lhs(n) = rhs(n+1) − rhs(n)``
with a symbolic n (the sums change by their n-th term).

Every failure comes with a numeric counterexample: a failing base case or
explicit case at the rational witness, and a failing inductive step by the
first n whose two sides differ at the witness.  The witness is *generic*:
every sequence gets its own values, all distinct, so a statement that swaps
two sequences (r_t for V_t, say) is refuted, not left undecided.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp

from .core import CheckResult, failed, passed
from .symbolic import REFUTE_THRESHOLD, Witness, decide, evaluate_many, fmt, is_zero

__all__ = ["Seq", "by_induction", "N_SYMBOL", "MAX_COUNTEREXAMPLE_N", "generic_value"]

N_SYMBOL = sp.Symbol("n", integer=True, positive=True)
# How far a failing inductive step is searched for the first n whose sides differ at the witness.
MAX_COUNTEREXAMPLE_N = 8


def generic_value(sequence: int, index: int) -> sp.Rational:
    """The witness value of element ``index`` of the ``sequence``-th sequence: a rational that differs
    between sequences and between indices (no accidental coincidences), in (0, 2) for the first five
    sequences (j ≤ 4) at every index; the checks use at most three.  Exactly
    (2i + 3)/(4i + 5 + 2j) + j/3 for sequence j, index i: fixed, as the values appear in counterexamples."""
    return sp.Rational(2 * index + 3, 4 * index + 5 + 2 * sequence) + sp.Rational(sequence, 3)


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
        """Scalars plus elements 0..length−1 of every sequence (:func:`generic_value` unless given);
        ValueError if two sequence elements coincide (the witness would not be generic)."""
        values = dict(scalars)
        shown = []
        for j, name in enumerate(self._names):
            seq = self._witness_values.get(name)
            elements = [sp.Rational(seq[i]) if seq else generic_value(j, i) for i in range(length)]
            for i, v in enumerate(elements):
                values[sp.Symbol(f"{name}_{i}", real=True)] = v
            shown.append(f"{name}_t = {', '.join(str(v) for v in elements[:3])}, …")
        seq_values = [v for k, v in values.items() if k not in scalars]
        if len(set(seq_values)) != len(seq_values):
            raise ValueError(f"witness {label!r}: two sequence elements coincide; give distinct values")
        return Witness(values, f"{label}; {'; '.join(shown)}")


def _side(term, rest, n):
    return sp.Add(*[term(t) for t in range(n)]) + rest(n)


def _first_difference(lhs_term, lhs_rest, rhs_term, rhs_rest, witness) -> str | None:
    """The first n ≤ MAX_COUNTEREXAMPLE_N at which the two sides differ at the witness, described."""
    for n in range(1, MAX_COUNTEREXAMPLE_N + 1):
        lhs, rhs = _side(lhs_term, lhs_rest, n), _side(rhs_term, rhs_rest, n)
        try:
            lhs_value, rhs_value = evaluate_many([lhs, rhs], witness)
        except ValueError:  # the witness does not reach this n (its sequences are too short)
            return None
        scale = max(abs(lhs_value), abs(rhs_value), sp.Integer(1))
        if abs(lhs_value - rhs_value) > REFUTE_THRESHOLD * scale:
            return (
                f"n = {n} at {witness.label}: LHS = {fmt(lhs_value)}, RHS = {fmt(rhs_value)} "
                f"(difference {fmt(lhs_value - rhs_value)})"
            )
    return None


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

    * base case (n = 1, with the control) and explicit cases ``explicit`` are decided by
      :func:`proofs.symbolic.decide` (a failure carries its counterexample);
    * the inductive step reduced to 0 exactly → ``pass``;
    * a step that does not reduce → ``fail`` with the first n ≤ MAX_COUNTEREXAMPLE_N whose sides
      differ at the witness; if none differs, the statement is undecided: ArithmeticError.
    """
    wrong_base = None if wrong is None else _side(wrong[0], wrong[1], 1)
    base = decide(
        _side(lhs_term, lhs_rest, 1),
        _side(rhs_term, rhs_rest, 1),
        witness,
        statement=f"{statement}, n = 1",
        wrong=wrong_base,
        wrong_label=wrong_label,
    )
    if base.outcome == "fail":
        return base
    for n in explicit:
        explicit_case = decide(
            _side(lhs_term, lhs_rest, n),
            _side(rhs_term, rhs_rest, n),
            witness,
            statement=f"{statement}, n = {n}",
            control=False,
        )
        if explicit_case.outcome == "fail":
            return explicit_case
    n = N_SYMBOL
    step = (lhs_term(n) + lhs_rest(n + 1) - lhs_rest(n)) - (rhs_term(n) + rhs_rest(n + 1) - rhs_rest(n))
    if not is_zero(sp.expand(step)):
        where = _first_difference(lhs_term, lhs_rest, rhs_term, rhs_rest, witness)
        if where is None:
            raise ArithmeticError(
                f"{statement}: the inductive step does not reduce to 0, yet the sides agree at the witness "
                f"for n ≤ {MAX_COUNTEREXAMPLE_N} — undecided; strengthen the canonical form or lengthen "
                "the witness"
            )
        return failed(
            f"{statement}: the inductive step does not hold (increment difference "
            f"{sp.sstr(step)} ≠ 0 for symbolic n)",
            where,
        )
    return passed(
        f"{statement}: base case n = 1 and the inductive step n → n+1 reduce to 0 exactly "
        f"(so it holds for every n ≥ 1)",
        **base.control(),
        **base.measurements,
    )
