"""Dimensional analysis of the paper's equations.

The paper keeps τ "so that our calculations are checkable through dimensional
analysis" (§2).  Here every quantity gets a power of the reward unit U:

* U¹: rewards r, r̄, R; values q, Q, V, v, y, δ, Δ, A, η; the temperature τ.
* U⁰: probabilities π, π̄; KL, entropy S; log-ratios; γ, λ; the damping ε of
  Eq. (74); counts n, t, d, |A|; policy parameters θ, w, ψ.
* U⁻¹: the step size ``epsn`` of the natural-gradient problems (66)-(71)
  (it multiplies an advantage and is compared with a change of log-probability).

An equation is written as a list of *skeletons*, one per side, in a tiny
sympy-parsable language that keeps the printed structure:

* ``E(x)``: an expectation (or sum over actions) of x — same units as x;
* ``grad(x)``: ∇_θ x — same units as x (θ is dimensionless);
* ``MAX(x)``: max over actions; ``log``, ``exp``: arguments must be
  dimensionless; ``V(s)``, ``Q(s, a)``: applied functions take the units
  of their name.

:func:`dimension` returns the unit exponent of a skeleton or raises
:class:`UnitsError` naming the offending sub-expression.  Nothing is
simplified before the analysis (parsing uses ``evaluate=False``), so a
printed ``q - q`` is analysed as written.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

__all__ = ["UNITS", "UnitsError", "dimension", "parse_skeleton", "check_homogeneous"]

# Unit exponents of every name the skeletons may use.
UNITS: dict[str, int] = {
    # reward units
    **{
        name: 1
        for name in (
            "r rbar R q Q Qold Qhat Qeps V v Vold Vhat Vpi Vstar y delta Delta A Aq tau eta g J"
        ).split()
    },
    # dimensionless
    **{
        name: 0
        for name in (
            "pi pibar piB piold pistar KL KLold KLn S gamma lam eps n t d T nA w psi Psi F Z theta "
            "ell ellold x c Ppath"
        ).split()
    },
    # inverse reward units (the natural-gradient step size of Eqs. (66)-(71))
    "epsn": -1,
    # the value-loss weight c of Eq. (86) (it multiplies a U² loss added to a U loss)
    "cval": -1,
    # squared reward units (losses)
    "L": 2,
}

_FUNCTIONS_THROUGH = ("E", "grad", "MAX", "Abs")


class UnitsError(ValueError):
    """A skeleton that is not dimensionally homogeneous."""


def _local_dict() -> dict[str, object]:
    names: dict[str, object] = {name: sp.Symbol(name) for name in UNITS}
    for f in _FUNCTIONS_THROUGH:
        names[f] = sp.Function(f)
    for name in ("V", "Q", "pi", "pibar", "piold", "piB", "KL", "S", "A", "r", "delta", "Vpi", "Aq"):
        names[name + "_"] = sp.Function(name)  # V_(s) parses as the applied function V(s)
    names["s"] = sp.Symbol("s")
    names["a"] = sp.Symbol("a")
    names["s1"] = sp.Symbol("s1")
    names["a1"] = sp.Symbol("a1")
    names["log"] = sp.log
    names["exp"] = sp.exp
    return names


@functools.lru_cache(maxsize=None)
def parse_skeleton(text: str) -> sp.Expr:
    """Parse a skeleton without any automatic simplification."""
    return parse_expr(text, local_dict=_local_dict(), evaluate=False)


def _fmt(exponent: sp.Rational) -> str:
    return "dimensionless" if exponent == 0 else f"U^{exponent}"


def dimension(expr: sp.Expr) -> sp.Rational:
    """Unit exponent of ``expr`` (a parsed skeleton); UnitsError if inhomogeneous."""
    if isinstance(expr, sp.Symbol):
        if expr.name in ("s", "a", "s1", "a1"):
            return sp.Integer(0)  # arguments (states, actions) are labels
        if expr.name not in UNITS:
            raise UnitsError(f"unknown quantity {expr.name!r} (add it to proofs.units.UNITS)")
        return sp.Integer(UNITS[expr.name])
    if isinstance(expr, sp.Number):
        return sp.Integer(0)
    if isinstance(expr, sp.Add):
        dims = [(term, dimension(term)) for term in expr.args]
        nonzero = [(t, d) for t, d in dims if not (t.is_Number and t == 0)]
        first = nonzero[0][1]
        for term, d in nonzero[1:]:
            if d != first:
                raise UnitsError(
                    f"sum `{sp.sstr(expr)}` adds `{sp.sstr(nonzero[0][0])}` ({_fmt(first)}) "
                    f"to `{sp.sstr(term)}` ({_fmt(d)})"
                )
        return first
    if isinstance(expr, sp.Mul):
        return sum((dimension(f) for f in expr.args), sp.Integer(0))
    if isinstance(expr, sp.Pow):
        base, exponent = expr.args
        if exponent.is_Number:
            return dimension(base) * exponent
        if dimension(exponent) != 0 or dimension(base) != 0:
            raise UnitsError(f"power `{sp.sstr(expr)}` needs a dimensionless base and exponent")
        return sp.Integer(0)
    if isinstance(expr, (sp.log, sp.exp)):
        inner = expr.args[0]
        d = dimension(inner)
        if d != 0:
            raise UnitsError(
                f"`{sp.sstr(expr)}`: the argument `{sp.sstr(inner)}` has units {_fmt(d)}; "
                f"{type(expr).__name__} needs a dimensionless argument"
            )
        return sp.Integer(0)
    if isinstance(expr, sp.core.function.AppliedUndef):
        name = type(expr).__name__
        if name in _FUNCTIONS_THROUGH:
            if len(expr.args) != 1:
                raise UnitsError(f"{name}(...) takes one argument, got `{sp.sstr(expr)}`")
            return dimension(expr.args[0])
        for arg in expr.args:
            dimension(arg)
        if name not in UNITS:
            raise UnitsError(f"unknown function {name!r}")
        return sp.Integer(UNITS[name])
    raise UnitsError(f"cannot analyse `{sp.sstr(expr)}` ({type(expr).__name__})")


def check_homogeneous(sides: tuple[str, ...] | list[str]) -> tuple[bool, str]:
    """Whether every side is homogeneous and all sides have the same units.

    Returns ``(ok, message)``; the message names the first inconsistency.
    """
    dims = []
    for text in sides:
        try:
            dims.append(dimension(parse_skeleton(text)))
        except UnitsError as err:
            return False, f"`{text}`: {err}"
    if len(set(dims)) > 1:
        listed = ", ".join(f"`{t}`: {_fmt(d)}" for t, d in zip(sides, dims))
        return False, f"the sides have different units ({listed})"
    if dims[0] == 0:
        return True, "every term is dimensionless"
    return True, f"every term has units {_fmt(dims[0])}"
