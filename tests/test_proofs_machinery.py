"""The verdict machinery of proofs/ against its own failure modes (issue 10 §2).

Every branch — pass, fail, undecided, error — of ``symbolic.decide``, ``decide_all``, the induction
helper, the numeric printed-form helper, the units checker, the empirical reader's verdict helper and
``core.run_check`` is reached with an input built for it: an undecidable identity raises (→ ``error``),
never passes; a statement failing on one instance of several fails; a wrong statement that agrees for
small n is caught at the inductive step with a numeric counterexample; a negative control that is not
refuted cannot be recorded at all.  (``evaluate_claim``'s branches: tests/test_proofs_registry.py.)
"""

from __future__ import annotations

import json

import pytest
import sympy as sp

from proofs import core
from proofs.core import CheckResult, check, extended, failed, passed, run_check
from proofs.empirical import equivalence_verdict
from proofs.exact import GAP, REL_TOL, printed_form_agrees
from proofs.induction import MAX_COUNTEREXAMPLE_N, Seq, by_induction, generic_value
from proofs.symbolic import REFUTE_THRESHOLD, Witness, decide, decide_all
from proofs.units import check_homogeneous

X, Y, T = sp.symbols("x y tau", positive=True)
W = Witness({X: sp.Rational(1, 3), Y: sp.Rational(5, 2), T: sp.Rational(2, 5)}, "x = 1/3, y = 5/2, τ = 2/5")


def _raises(error: type[BaseException], match: str, func, *args, **kwargs) -> bool:
    """Whether func(*args, **kwargs) raises ``error`` with ``match`` in its message (a plain assert, so
    that the bug catalogue sees a failing check, not pytest's DID-NOT-RAISE outcome)."""
    try:
        func(*args, **kwargs)
    except error as err:
        return match in str(err)
    return False


def _ok(lhs, rhs, wrong, **kw):
    return decide(lhs, rhs, W, statement="s", wrong=wrong, wrong_label="wrong", **kw)


# --------------------------------------------------------------------------- CheckResult


def test_a_negative_control_must_be_measured_and_refuted():
    with pytest.raises(ValueError, match="needs its measured negative_control_gap"):
        passed("x", negative_control="wrong variant")
    with pytest.raises(ValueError, match="was not refuted"):
        passed("x", negative_control="wrong", negative_control_gap=1e-7, negative_control_threshold=1e-6)
    with pytest.raises(ValueError, match="without a negative_control"):
        passed("x", negative_control_gap=1.0, negative_control_threshold=1e-6)
    with pytest.raises(ValueError, match="finite"):
        passed("x", negative_control="w", negative_control_gap=float("nan"), negative_control_threshold=1e-6)
    r = passed("x", negative_control="w", negative_control_gap=2e-6, negative_control_threshold=1e-6)
    assert r.control_refuted and not passed("x").control_refuted


def test_extended_never_turns_a_failure_into_a_pass():
    bad = failed("no", "at x = 1: 1 ≠ 2")
    assert extended(bad, "; remark") is bad
    good = passed("yes", negative_control="w", negative_control_gap=1.0, negative_control_threshold=0.5)
    more = extended(good, "; remark")
    assert more.detail == "yes; remark" and more.negative_control_gap == 1.0


def test_run_check_reports_a_raising_check_as_error():
    def undecidable():
        return decide(X + Y, Y + X + sp.Rational(1, 10**40), W, statement="undecidable")

    check("testonly_machinery_raises", kind="symbolic")(undecidable)
    check("testonly_machinery_not_a_result", kind="numeric")(lambda: 1.0)
    try:
        r = run_check("testonly_machinery_raises")
        assert r.outcome == "error" and "undecided" in r.detail
        assert run_check("testonly_machinery_not_a_result").outcome == "error"
    finally:
        for cid in ("testonly_machinery_raises", "testonly_machinery_not_a_result"):
            core._CHECKS.pop(cid, None)
            core._CACHE.pop(cid, None)


# --------------------------------------------------------------------------- decide


def test_decide_pass_records_a_relative_control_gap():
    r = _ok(sp.exp(X) * sp.exp(Y), sp.exp(X + Y), sp.exp(X * Y))
    assert r.outcome == "pass" and r.negative_control_threshold == float(REFUTE_THRESHOLD)
    scale = max(abs(float(sp.exp(X + Y).subs(W.values))), 1.0)
    expected = abs(float((sp.exp(X + Y) - sp.exp(X * Y)).subs(W.values))) / scale
    assert r.negative_control_gap == pytest.approx(expected, rel=1e-12)


def test_decide_fail_carries_the_counterexample():
    r = decide(sp.log(X + Y), sp.log(X) + sp.log(Y), W, statement="log")
    assert r.outcome == "fail" and "x = 1/3" in r.counterexample and r.measurements["gap"] > 1e-3


def test_decide_undecidable_identity_raises_never_passes():
    # true, but outside the canonical form (sin and cos are independent atoms to it): undecided
    sin_cos = (sp.sin(X) ** 2 + sp.cos(X) ** 2, 1, W)
    assert _raises(ArithmeticError, "undecided", decide, *sin_cos, statement="sin² + cos²", wrong=X + 1)
    # a difference below the refutation threshold is not a counterexample either
    assert _raises(ArithmeticError, "undecided", decide, X, X + sp.Rational(1, 10**9), W, statement="tiny")


def test_decide_rejects_a_weak_or_missing_control():
    assert _raises(ValueError, "negative control", decide, X + Y, Y + X, W, statement="needs a control")
    assert _raises(ArithmeticError, "not refuted", _ok, X + Y, Y + X, X + Y + sp.Rational(1, 10**12))
    # a pair form of the control, refuted
    assert _ok(X + Y, Y + X, (X * Y, X + Y)).passed
    # control=False: the exact reduction alone (for further instances of a decided statement)
    r = decide(X + Y, Y + X, W, statement="again", control=False)
    assert r.passed and not r.control_refuted


def test_decide_refutes_a_wrong_exact_reduction_at_the_witness(monkeypatch):
    # if the canonical form wrongly reduced a false identity to 0, the witness cross-check catches it
    monkeypatch.setattr("proofs.symbolic.is_zero", lambda expr: True)
    with pytest.raises(ArithmeticError, match="reduced to 0 but is"):
        _ok(sp.log(X + Y), sp.log(X) + sp.log(Y), X)


# --------------------------------------------------------------------------- decide_all


def _controlled(gap):
    return passed("p", negative_control=f"w{gap}", negative_control_gap=gap, negative_control_threshold=1e-6)


def test_decide_all_fails_when_one_instance_of_several_fails():
    r = decide_all([_controlled(1.0), failed("k = 3 fails", "at k = 3: 1 ≠ 2"), _controlled(2.0)])
    assert r.outcome == "fail" and "k = 3" in r.counterexample


def test_decide_all_keeps_the_weakest_control():
    r = decide_all([_controlled(1.0), passed("no control"), _controlled(1e-3)])
    assert r.passed and r.negative_control_gap == 1e-3


@pytest.mark.parametrize(
    "results, message",
    [
        ([], "at least one"),
        ([passed("a"), passed("b")], "none of the decisions carries a refuted negative control"),
        ([_controlled(1.0), CheckResult("error", "boom")], "pass/fail decisions only"),
    ],
)
def test_decide_all_rejects_what_is_not_evidence(results, message):
    with pytest.raises(ValueError, match=message):
        decide_all(results)


# --------------------------------------------------------------------------- induction

GAMMA = sp.Symbol("gamma", positive=True)
SEQ = Seq("r V")
SEQ_W = SEQ.witness({GAMMA: sp.Rational(1, 2)}, MAX_COUNTEREXAMPLE_N + 2, "γ = 1/2")


def _telescoping(rhs_rest, rhs_term=lambda t: 0, wrong=None):
    return by_induction(
        "telescoping",
        lambda t: GAMMA**t * (GAMMA * SEQ.V(t + 1) - SEQ.V(t)),
        lambda n: 0,
        rhs_term,
        rhs_rest,
        SEQ_W,
        wrong=wrong or (lambda t: 0, lambda n: GAMMA**n * SEQ.V(n)),
        wrong_label="no −V_0",
    )


def test_induction_proves_a_true_statement_with_its_control():
    r = _telescoping(lambda n: GAMMA**n * SEQ.V(n) - SEQ.V(0))
    assert r.passed and r.control_refuted and "every n ≥ 1" in r.detail


def test_induction_base_case_failure():
    r = _telescoping(lambda n: GAMMA**n * SEQ.V(n))
    assert r.outcome == "fail" and "n = 1" in r.detail and "LHS" in r.counterexample


def test_induction_catches_a_wrong_statement_that_agrees_for_small_n_at_the_inductive_step():
    # right by n = 1, 2, 3 (the base and explicit cases), wrong from n = 4 on
    r = _telescoping(lambda n: GAMMA**n * SEQ.V(n) - SEQ.V(0) + (n - 1) * (n - 2) * (n - 3))
    assert r.outcome == "fail" and "inductive step" in r.detail
    assert r.counterexample.startswith("n = 4 at γ = 1/2") and "LHS" in r.counterexample


def test_induction_witness_is_generic_so_a_swap_is_a_counterexample():
    assert all(generic_value(0, i) != generic_value(1, i) for i in range(4)), "sequences share values"
    witness = SEQ.witness({GAMMA: sp.Rational(1, 2)}, 6, "γ = 1/2")
    # r_t and V_t swapped on the right: with equal witness values this was undecidable
    swapped = by_induction(
        "swap",
        lambda t: SEQ.r(t) + GAMMA * SEQ.V(t),
        lambda n: 0,
        lambda t: SEQ.V(t) + GAMMA * SEQ.r(t),
        lambda n: 0,
        witness,
    )
    assert swapped.outcome == "fail" and "LHS" in swapped.counterexample
    values = [v for k, v in witness.values.items() if k != GAMMA]
    assert len(set(values)) == len(values)
    with pytest.raises(ValueError, match="coincide"):
        Seq("r V", {"r": [1, 2], "V": [2, 3]}).witness({}, 2, "equal values")


def test_induction_undecided_step_raises(monkeypatch):
    # the step does not reduce (is_zero says no), yet the sides agree at every n: undecided, not a pass
    import proofs.induction as induction

    monkeypatch.setattr(induction, "is_zero", lambda e: False)  # only the inductive step uses it
    with pytest.raises(ArithmeticError, match="undecided"):
        _telescoping(lambda n: GAMMA**n * SEQ.V(n) - SEQ.V(0))


# --------------------------------------------------------------------------- numeric printed forms


def test_printed_form_agrees_only_at_the_stated_tolerance():
    assert printed_form_agrees("printed", 0.0).passed
    assert printed_form_agrees("printed", REL_TOL).passed
    for gray in (10 * REL_TOL, GAP / 2, GAP):  # neither agreement nor a counterexample
        assert _raises(ArithmeticError, "undecided", printed_form_agrees, "printed", gray), gray


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    "sides, ok, needle",
    [
        (["y", "r + gamma*tau*log(E(exp(Q/tau)))"], True, "U^1"),
        (["KL", "log(pi/pibar)"], True, "dimensionless"),
        (["y", "r + gamma*log(E(exp(Q/tau)))"], False, "adds `r` (U^1)"),  # a missing τ
        (["y", "KL"], False, "different units"),
        (["exp(Q)"], False, "dimensionless argument"),
        (["zzz"], False, "unknown quantity"),
        (["V + tau*KL - Q*Q"], False, "adds"),
    ],
)
def test_units_checker_branches(sides, ok, needle):
    result, message = check_homogeneous(sides)
    assert result is ok and needle in message


# --------------------------------------------------------------------------- empirical reader


def _write(tmp_path, rows):
    path = tmp_path / "cpu" / "s" / "compare.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "equiv.compare/1", "comparisons": rows, "provenance": {}}))


def _row(**kw):
    row = dict(
        env="CartPole-v1",
        a="a2c-proper",
        b="sql",
        role="equivalence",
        metric="auc",
        verdict="equivalent",
        margin=50.0,
        ci=[-1.0, 1.0],
        n_a=5,
        n_b=5,
    )
    row.update(kw)
    return row


def test_empirical_one_different_comparison_of_several_is_not_reproduced(tmp_path):
    _write(tmp_path, [_row(), _row(env="Acrobot-v1", verdict="different", ci=[60.0, 70.0])])
    r = equivalence_verdict("cpu", ("a2c-proper", "sql"), "x", root=tmp_path)
    assert r.outcome == "fail" and "Acrobot-v1" in r.counterexample and "CartPole" not in r.counterexample


def test_empirical_pair_is_unordered_and_other_pairs_are_ignored(tmp_path):
    _write(
        tmp_path, [_row(a="sql", b="a2c-proper"), _row(a="dqn", b="sql", verdict="different", ci=[9.0, 10.0])]
    )
    assert equivalence_verdict("cpu", ("a2c-proper", "sql"), "x", root=tmp_path).outcome == "pass"


def test_empirical_malformed_file_is_an_error_through_run_check(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "compare.json").write_text(json.dumps({"schema": "equiv.compare/1"}))
    check("testonly_empirical_malformed", kind="empirical")(
        lambda: equivalence_verdict("cpu", ("a2c-proper", "sql"), "x", root=tmp_path)
    )
    try:
        r = run_check("testonly_empirical_malformed")
        assert r.outcome == "error" and "comparisons" in r.detail
    finally:
        core._CHECKS.pop("testonly_empirical_malformed", None)
        core._CACHE.pop("testonly_empirical_malformed", None)
