"""Every symbolic check of proofs/ as its own test (ids name the equations, e.g. ``eq061_to_eq062``),
plus negative controls of the symbolic machinery itself.

A symbolic identity passes only if sympy reduces LHS − RHS to exactly 0 *and* its deliberately wrong
variant is refuted at a rational witness by far more than the tolerance (> 1e-6 against a 50-digit
evaluation whose round-off is ~1e-45).  Printed forms that the paper gets wrong must fail with a
counterexample; the list below is the expected set — a change in it is a change in the findings.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs import symbolic
from proofs.core import run_check
from proofs.induction import Seq, by_induction
from proofs.loader import load_checks
from proofs.symbolic import REFUTE_THRESHOLD, Witness, canonical, decide, evaluate, is_zero
from tests.strategies import profile_examples

# One xdist worker evaluates the registry for all proofs tests (with `--dist loadgroup`).
pytestmark = [pytest.mark.xdist_group("proofs")]  # a list: tests/bug_catalogue.py iterates it

SYMBOLIC = sorted(cid for cid, c in load_checks().items() if c.kind == "symbolic")

# Printed forms that do not hold (each has a checked correction in the registry).
EXPECTED_PRINTED_FAILURES = {
    "eq011_printed_normalizes",
    "eq037_printed",
    "eq038_printed_to_eq039",
    "eq043_printed_symbolic",
    "eq054_printed",
    "eq070_to_eq071_printed",
    "eq072_printed_arity",
    "eq074_eq078_rebuilt_brace_line",
    "eq076_printed",
    "eq077_printed",
    "eq078_printed",
    "eq083_printed",
    "eq087_printed",
    "text5_damped_natural_printed",
    "text5_regression_target_printed",
    "text5_update_is_eps_w",
}


def test_symbolic_checks_are_registered():
    assert len(SYMBOLIC) >= 60
    assert EXPECTED_PRINTED_FAILURES <= set(SYMBOLIC)


@pytest.mark.parametrize("check_id", SYMBOLIC)
def test_symbolic_step(check_id):
    result = run_check(check_id)
    assert result.outcome != "error", result.detail
    if check_id in EXPECTED_PRINTED_FAILURES:
        assert result.outcome == "fail", (
            f"{check_id} was expected to refute the printed form: {result.detail}"
        )
        assert result.counterexample
        if "gap" in result.measurements:  # a numeric discrepancy far above round-off
            assert result.measurements["gap"] > float(REFUTE_THRESHOLD)
    else:
        assert result.outcome == "pass", f"{result.detail}\ncounterexample: {result.counterexample}"
        assert result.negative_control, "every passing identity must show its negative control"
        assert result.negative_control_gap > result.negative_control_threshold >= float(REFUTE_THRESHOLD)


# --------------------------------------------------------------------------- the machinery


X, Y, T = sp.symbols("x y tau", positive=True)
W = Witness({X: sp.Rational(1, 3), Y: sp.Rational(5, 2), T: sp.Rational(2, 5)}, "x = 1/3, y = 5/2, τ = 2/5")


def test_is_zero_proves_exp_log_identities():
    assert is_zero(sp.log(X * sp.exp(Y / T)) - sp.log(X) - Y / T)
    assert is_zero(T * sp.log(sp.exp(X / T) + sp.exp(Y / T)) - T * sp.log(sp.exp((X - Y) / T) + 1) - Y)
    assert canonical((X**2 - 1) / (X - 1) - X - 1) == 0


def test_is_zero_does_not_prove_a_wrong_identity():
    # log(x + y) ≠ log x + log y: the canonical form must not reduce to 0
    assert not is_zero(sp.log(X + Y) - sp.log(X) - sp.log(Y))
    assert not is_zero(T * sp.log(sp.exp(X) / T) - T * sp.log(sp.exp(X / T)))  # the printed Eq. (11)


# Random rational functions of symbols, exp and log atoms, every denominator and log argument positive.
_LEAVES = st.sampled_from(
    [X, Y, T, sp.exp(X), sp.exp(X / T), sp.log(1 + Y), sp.Rational(-3, 2), sp.Integer(2), sp.Rational(1, 7)]
)
_POSITIVE = lambda e: 1 + e**2


def _combine(children):
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda ab: ab[0] + ab[1]),
        pair.map(lambda ab: ab[0] - 2 * ab[1]),
        pair.map(lambda ab: ab[0] * ab[1]),
        pair.map(lambda ab: ab[0] / _POSITIVE(ab[1])),
        st.tuples(children, st.integers(-2, 2)).map(lambda ek: _POSITIVE(ek[0]) ** ek[1]),
        children.map(lambda e: sp.log(_POSITIVE(e))),
    )


RATIONAL_EXPRESSIONS = st.recursive(_LEAVES, _combine, max_leaves=4)


def _together_is_zero(expr):  # the general route the fast zero test replaced
    return sp.expand(sp.numer(sp.together(symbolic._prepare(expr)))) == 0


@settings(max_examples=profile_examples(1 / 6, minimum=10))  # sympy's together is the slow side
@given(RATIONAL_EXPRESSIONS, RATIONAL_EXPRESSIONS)
def test_fast_zero_test_agrees_with_together_and_proves_rewritten_identities(a, b):
    for expr in (a - b, a / _POSITIVE(b) - sp.together(a / _POSITIVE(b))):
        assert is_zero(expr) == _together_is_zero(expr), expr
    rewritten = sp.expand(sp.together(a * _POSITIVE(b)), log=False)  # the same function, other form
    assert is_zero(a * _POSITIVE(b) - rewritten)
    if not _together_is_zero(a - b):
        assert not is_zero(a - b)


def test_fast_zero_test_matches_multiplicities_in_either_order_and_powers_of_fractions():
    assert is_zero(1 / (X + 1) ** 2 + 1 / (X + 1) - (X + 2) / (X + 1) ** 2)
    assert is_zero(1 / (X + 1) + 1 / (X + 1) ** 2 - (X + 2) / (X + 1) ** 2)
    assert is_zero((X + 1 / Y) ** 2 - X**2 - 2 * X / Y - 1 / Y**2)
    assert is_zero((1 + 1 / (Y + 2)) ** -2 - (Y + 2) ** 2 / (Y + 3) ** 2)
    assert not is_zero(1 / (X + 1) ** 2 + 1 / (X + 1) - (X + 3) / (X + 1) ** 2)  # negative control


def test_fast_zero_test_scales_denominators_and_refuses_division_by_zero():
    assert is_zero(1 / (2 * X + 4) - sp.Rational(1, 2) / (X + 2))  # factors matched up to their scale
    assert is_zero((X**2 - 1) / (X - 1) - X - 1)
    assert is_zero(1 / ((2 * X + 4) * (X + 2)) - sp.Rational(1, 2) / (X + 2) ** 2)  # multiplicities add
    assert not is_zero(1 / (2 * X + 4) - 1 / (X + 2))  # negative control: the scale matters
    assert not is_zero(sp.sqrt(X) ** 3 - X * sp.sqrt(X) + 1)
    with pytest.raises(ZeroDivisionError, match="identically 0"):
        symbolic._numerator_is_zero(sp.Pow(sp.Add(X, -X, evaluate=False), -1, evaluate=False))


@settings(max_examples=profile_examples(1 / 6, minimum=10))  # lambdify compiles each example
@given(st.lists(RATIONAL_EXPRESSIONS, min_size=1, max_size=3))
def test_tree_evaluation_agrees_with_lambdify(exprs):
    with mpmath.workdps(symbolic.WITNESS_DIGITS):
        values = {X: mpmath.mpf(1) / 3, Y: mpmath.mpf(5) / 2, T: mpmath.mpf(2) / 5}
        walked = symbolic._mp_values(exprs, values)
        printed = sp.lambdify([X, Y, T], exprs, modules="mpmath")(*values.values())
        for w, p in zip(walked, printed):
            assert abs(w - p) <= mpmath.mpf(10) ** -40 * max(1, abs(p)), (w, p)


def test_tree_evaluation_of_each_node_kind():
    with mpmath.workdps(symbolic.WITNESS_DIGITS):
        values = {X: mpmath.mpf(1) / 3, Y: mpmath.mpf(5) / 2}
        third, five_halves = values[X], values[Y]
        got = symbolic._mp_values([X + Y, 3 * X * Y, X**-2, sp.exp(X), sp.log(Y), sp.Rational(-7, 4)], values)
        want = [third + five_halves, 3 * third * five_halves, 9, mpmath.exp(third), mpmath.log(five_halves),
                mpmath.mpf(-7) / 4]
        assert all(abs(g - w) <= mpmath.mpf(10) ** -45 * max(1, abs(w)) for g, w in zip(got, want, strict=True))


def test_tree_evaluation_hands_unknown_nodes_to_lambdify():
    with pytest.raises(symbolic._Unsupported, match="Abs"):
        symbolic._mp_values([sp.Abs(X - 1)], {X: mpmath.mpf(1) / 3})
    assert abs(evaluate(sp.Abs(X - 1) + sp.pi - sp.Rational(2, 3) - sp.pi, W)) < 1e-40


def test_decide_pass_fail_and_undecided():
    ok = decide(
        sp.exp(X) * sp.exp(Y), sp.exp(X + Y), W, statement="exp", wrong=sp.exp(X * Y), wrong_label="wrong"
    )
    assert ok.outcome == "pass" and ok.negative_control_gap > 1e-6
    bad = decide(sp.log(X + Y), sp.log(X) + sp.log(Y), W, statement="log")
    assert bad.outcome == "fail" and "LHS" in bad.counterexample and bad.measurements["gap"] > 1e-3
    with pytest.raises(ValueError, match="negative control"):
        decide(X + Y, Y + X, W, statement="needs a control")
    with pytest.raises(ArithmeticError, match="not refuted"):
        decide(X + Y, Y + X, W, statement="weak control", wrong=X + Y + sp.Rational(1, 10**12))


def test_evaluate_is_exact_enough_and_names_missing_symbols():
    value = evaluate(sp.exp(X) - sp.exp(sp.Rational(1, 3)), W)
    assert abs(value) < 1e-40
    with pytest.raises(ValueError, match="leaves symbols"):
        evaluate(X + sp.Symbol("z"), W)


def test_induction_proves_telescoping_and_rejects_a_wrong_step():
    seq = Seq("V")
    gamma = sp.Symbol("gamma", positive=True)
    witness = seq.witness({gamma: sp.Rational(1, 2)}, 5, "γ = 1/2")
    good = by_induction(
        "telescoping",
        lambda t: gamma**t * (gamma * seq.V(t + 1) - seq.V(t)),
        lambda n: 0,
        lambda t: 0,
        lambda n: gamma**n * seq.V(n) - seq.V(0),
        witness,
        wrong=(lambda t: 0, lambda n: gamma**n * seq.V(n)),
        wrong_label="no −V_0",
    )
    assert good.outcome == "pass"
    # the base case n = 1 holds, but the right side γ^n V_n − V_0 + (n − 1) is wrong from n = 2 on
    bad = by_induction(
        "wrong",
        lambda t: gamma**t * (gamma * seq.V(t + 1) - seq.V(t)),
        lambda n: 0,
        lambda t: 0,
        lambda n: gamma**n * seq.V(n) - seq.V(0) + (n - 1),
        witness,
        wrong=(lambda t: 1, lambda n: 0),
    )
    assert bad.outcome == "fail"


def test_exp_and_log_atoms_become_symbols_with_their_assumptions():
    """exp(z) → a positive symbol (the module docstring's E_z), log(p) → a real symbol, each named after its
    argument (a fresh argument, so that the module's caches do not answer)."""
    z = sp.Symbol("z_fresh_for_atoms", real=True)
    e, lg = symbolic._exp_symbol(z), symbolic._log_symbol(z + 2)
    assert e.name == "exp[z_fresh_for_atoms]" and e.is_positive is True
    assert lg.name == "log[z_fresh_for_atoms + 2]" and lg.is_real is True
