"""Sharper checks of proofs/' verdict machinery, written to kill the mutants that survived the proofs job.

Mutants judged behaviour-identical are listed with their reasons in tests/mutation/equivalent_proofs.md.
The proofs job deselects the ``whole_registry`` tests (tests/mutation/run.py), so every test here calls the
machinery directly on inputs built for it, never through the evaluation of the whole registry.
What is pinned down, by behaviour:

* **empirical reader** (:mod:`proofs.empirical`) — the three verdict rules (equivalence, non-inferiority,
  directional) on hand-written ``equiv.compare/2`` documents:
  - the ``envs`` filter selects a comparison when one of the given names is a *case-insensitive
    substring* of its env id (``"breakout"`` selects ``BreakoutNoFrameskip-v4``), and only then — a
    filter that is ignored, inverted or case-sensitive changes the verdict (pass ↔ fail ↔ pending);
  - each outcome's text: ``pending`` names the claim, the pair *in the order given* and the directory
    that was searched (``<root>/<scale>``, or ``atari_check/results/<scale>`` by default); ``fail``
    names who lost, and its counterexample lists exactly the deciding comparisons (those that went the
    wrong way, not the others); ``pass``/``inconclusive``/post hoc list every comparison.  Lists are
    joined with ``"; "`` (the text that the CLI and WALKTHROUGH.md print), so each expectation is a list
    of :meth:`Comparison.describe` strings, compared after splitting on ``"; "``;
  - :func:`all_of`'s combined detail, written out by hand: ``[name: outcome] detail (counterexample)``
    per half, the parenthesis only for a half that has a counterexample.

No floating point is compared in this file: every expectation is an exact string or outcome.
"""

from __future__ import annotations

import json

import pytest

from proofs.core import failed, inconclusive, passed, pending
from proofs.empirical import (
    all_of,
    directional_verdict,
    equivalence_verdict,
    load_comparisons,
    noninferiority_verdict,
)

# --------------------------------------------------------------------------- empirical reader

A, B = "a2c-proper", "sql"  # distinct names, so "A vs B" and "B vs B" differ
WHAT = "Claim 7"
# One entry per verdict rule: how a comparison of that kind is written, its passing and failing verdicts,
# and the rule called on ``root``.
RULES = {
    "equivalence": dict(
        row=dict(role="equivalence", kind="equivalence", margin=3.0, smallest_margin=1.0),
        good="equivalent", bad="different",
        call=lambda root, envs=None, scale="gpu": equivalence_verdict(scale, (A, B), WHAT, envs=envs, root=root),
    ),
    "noninferiority": dict(
        row=dict(role="noninferiority", kind="noninferiority", margin=3.0, smallest_margin=1.0),
        good="non-inferior", bad="inferior",
        call=lambda root, envs=None, scale="gpu": noninferiority_verdict(scale, (A, B), WHAT, envs=envs, root=root),
    ),
    "directional": dict(
        row=dict(role="directional", kind="directional", margin=None, smallest_margin=None, expected="better"),
        good="better", bad="worse",
        call=lambda root, envs=None, scale="gpu": directional_verdict(scale, (A, B), "better", WHAT, envs=envs,
                                                                     root=root),
    ),
}
LOSER = {"equivalence": None, "noninferiority": f"({A} inferior)", "directional": f"({A} worse than {B})"}


def _row(rule, **kw):
    row = {"env": "PongNoFrameskip-v4", "a": A, "b": B, "metric": "auc", "ci": [-1.0, 2.0], "n_a": 5, "n_b": 5,
           "preregistered": True, "rules_version": 2, **RULES[rule]["row"]}
    row.update(kw)
    return row


def _write(root, rows, name="study"):
    path = root / "gpu" / name / "compare.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "equiv.compare/2", "comparisons": rows, "provenance": {},
                                "runs": [{"run_id": name}]}))
    return path


def _described(root, keep=lambda c: True):
    """describe() of the comparisons under root/gpu that ``keep`` selects, in file order."""
    return [c.describe() for c in load_comparisons("gpu", root)[1] if keep(c)]


def _listed(text: str, prefix: str) -> list[str]:
    """The '; '-separated list that follows ``prefix`` (up to a closing parenthesis if ``prefix`` opens one)."""
    assert text.startswith(prefix), (text, prefix)
    rest = text[len(prefix):]
    if prefix.endswith("("):
        assert rest.endswith(")"), text
        rest = rest[:-1]
    return rest.split("; ")


@pytest.mark.parametrize("rule", RULES)
def test_pending_names_the_claim_the_pair_in_order_and_the_directory(tmp_path, rule):
    call = RULES[rule]["call"]
    empty = call(tmp_path)
    assert empty.outcome == "pending"
    assert empty.detail.startswith(f"{WHAT}: no ") and f"{A} vs {B} under {tmp_path / 'gpu'} " in empty.detail
    assert "(0 compare.json file(s) found)" in empty.detail
    # A file with only another pair's comparison: still pending, and the file is counted.
    _write(tmp_path, [_row(rule, a="dqn", b="dqn-soft", verdict=RULES[rule]["good"])])
    other = call(tmp_path)
    assert other.outcome == "pending" and "(1 compare.json file(s) found)" in other.detail
    # The default root is shown by its repository-relative name (a scale that has no directory).
    default = call(None, scale="no-such-scale")
    assert default.outcome == "pending" and f"{A} vs {B} under atari_check/results/no-such-scale " in default.detail


@pytest.mark.parametrize("rule", RULES)
def test_envs_selects_by_case_insensitive_substring(tmp_path, rule):
    """Pong went the wrong way, Breakout the right way: the filter decides the verdict."""
    good, bad, call = RULES[rule]["good"], RULES[rule]["bad"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, env="PongNoFrameskip-v4", verdict=bad),
                      _row(rule, env="BreakoutNoFrameskip-v4", verdict=good)])
    assert call(tmp_path).outcome == "fail"  # no filter: both count
    only_breakout = call(tmp_path, envs=("breakout",))  # lower case, a substring of the id
    assert only_breakout.outcome == "pass" and "Pong" not in only_breakout.detail
    assert call(tmp_path, envs=("PONG",)).outcome == "fail"  # upper case
    assert call(tmp_path, envs=("seaquest", "Breakout")).outcome == "pass"  # any of several names
    assert call(tmp_path, envs=("seaquest",)).outcome == "pending"


@pytest.mark.parametrize("rule", RULES)
def test_fail_names_the_loser_and_lists_exactly_the_deciding_comparisons(tmp_path, rule):
    good, bad, call = RULES[rule]["good"], RULES[rule]["bad"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, metric="auc", verdict=bad), _row(rule, metric="final_score", verdict=good),
                      _row(rule, metric="best_score", verdict=bad)])
    result = call(tmp_path)
    assert result.outcome == "fail"
    assert result.detail.startswith(f"{WHAT}: not reproduced")
    if LOSER[rule]:
        assert LOSER[rule] in result.detail
    assert result.counterexample.split("; ") == _described(tmp_path, lambda c: c.verdict == bad)


@pytest.mark.parametrize("rule", RULES)
def test_pass_and_post_hoc_list_every_comparison(tmp_path, rule):
    good, call = RULES[rule]["good"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, metric="auc", verdict=good), _row(rule, metric="final_score", verdict=good)])
    result = call(tmp_path)
    assert result.outcome == "pass"
    every = _described(tmp_path)
    prefix = {"equivalence": f"{WHAT}: equivalent in every comparison (",
              "noninferiority": f"{WHAT}: non-inferior in every comparison (",
              "directional": f"{WHAT}: {A} better than {B} in every comparison ("}[rule]
    if rule == "equivalence":  # followed by the (absent) controls
        assert result.detail.endswith("; no negative control in these files; no sensitivity control in these files")
        assert result.detail.startswith(prefix + "; ".join(every) + ")")
    else:
        assert _listed(result.detail, prefix) == every
    # The same comparisons, one registered after the runs: reported, not counted, and named.
    _write(tmp_path, [_row(rule, metric="auc", verdict=good),
                      _row(rule, metric="final_score", verdict=good, preregistered=False)])
    late = call(tmp_path)
    assert late.outcome == "inconclusive"
    assert _listed(late.detail, f"{WHAT}: the result would pass, but its test was registered after the runs "
                                f"(post hoc), so it is reported and not counted: ") == \
        _described(tmp_path, lambda c: c.preregistered is False)


@pytest.mark.parametrize("rule", RULES)
def test_inconclusive_lists_every_comparison(tmp_path, rule):
    good, call = RULES[rule]["good"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, metric="auc", verdict=good), _row(rule, metric="final_score",
                                                                     verdict="inconclusive")])
    result = call(tmp_path)
    assert result.outcome == "inconclusive"
    assert _listed(result.detail, f"{WHAT}: ") == _described(tmp_path)


def test_equivalence_weak_negative_controls_are_named(tmp_path):
    """'equivalent', but two of three negative controls in the file did not separate: inconclusive, and the
    detail lists those two (not the one that separated)."""
    rows = [_row("equivalence", verdict="equivalent")]
    rows += [_row("equivalence", role="negative_control", a="a2c-naive", b=B, metric=m, verdict=v)
             for m, v in (("auc", "inconclusive"), ("final_score", "different"), ("best_score", "equivalent"))]
    _write(tmp_path, rows)
    result = RULES["equivalence"]["call"](tmp_path)
    assert result.outcome == "inconclusive"
    weak = _described(tmp_path, lambda c: c.role == "negative_control" and c.verdict != "different")
    assert len(weak) == 2
    assert result.detail == (f"{WHAT}: equivalent, but the negative control did not separate ("
                             + "; ".join(weak) + "), so the test may lack power")


def test_all_of_detail_is_every_half_with_its_counterexample():
    """The combined text, written out by hand for each combined outcome."""
    halves = [("A2C half", passed("holds")), ("SQL half", failed("broke", "x = 1"))]
    result = all_of("Fig. 2", halves)
    assert result.outcome == "fail" and result.detail == "Fig. 2: a half is not reproduced"
    assert result.counterexample == "[A2C half: pass] holds; [SQL half: fail] broke (x = 1)"
    result = all_of("Fig. 2", [("A2C half", passed("holds")), ("SQL half", pending("no file"))])
    assert result.outcome == "pending" and result.detail == "Fig. 2: [A2C half: pass] holds; [SQL half: pending] no file"
    result = all_of("Fig. 2", [("A2C half", inconclusive("wide CI")), ("SQL half", passed("holds"))])
    assert result.detail == "Fig. 2: [A2C half: inconclusive] wide CI; [SQL half: pass] holds"
    result = all_of("Fig. 2", [("A2C half", passed("holds")), ("SQL half", passed("also"))])
    assert result.outcome == "pass"
    assert result.detail == "Fig. 2: every half holds: [A2C half: pass] holds; [SQL half: pass] also"


# --------------------------------------------------------------------------- core: results and timings


def test_inconclusive_keeps_its_measurements():
    """The numbers behind an undecided result are kept (they are shown by ``--json``), like pass/fail's."""
    assert inconclusive("CI too wide", width=2.5, n=5).measurements == {"width": 2.5, "n": 5}
    assert inconclusive("no numbers").measurements == {}


def test_check_seconds_is_the_cached_wall_time_and_zero_before_a_run():
    """A check that sleeps 20 ms: after run_check its recorded time is at least that (time.sleep never
    returns early); an id that was never run has 0.0, exactly."""
    import time

    from proofs import core

    cid = "testonly_kills_check_seconds"

    def slow():
        time.sleep(0.02)
        return passed("slept")

    core.check(cid, kind="numeric")(slow)
    try:
        assert core.check_seconds(cid) == 0.0
        assert core.run_check(cid).outcome == "pass"
        assert core.check_seconds(cid) >= 0.02
        assert core.check_seconds("testonly_kills_never_registered") == 0.0
    finally:
        core._CHECKS.pop(cid, None)
        core._CACHE.pop(cid, None)


# --------------------------------------------------------------------------- symbolic: symbols and helpers


def test_positive_and_real_make_a_tuple_of_symbols_with_the_assumption():
    """``positive``/``real`` always return a tuple (also for one name: the checks unpack ``x, = ...``), of
    symbols that carry the assumption (positive ⇒ logs of them may be split; real ⇒ not known positive)."""
    import sympy as sp

    from proofs.symbolic import positive, real

    assert positive("tau") == (sp.Symbol("tau", positive=True),)
    x, y = positive("x y")
    assert (x.name, y.name) == ("x", "y") and x.is_positive is True and y.is_positive is True
    assert real("r") == (sp.Symbol("r", real=True),)
    r, s = real("r, s")
    assert (r.name, s.name) == ("r", "s") and r.is_real is True and r.is_positive is None
    assert sp.Symbol("x") not in positive("x")  # the assumption is part of the symbol's identity


def test_normalized_divides_by_the_total():
    import sympy as sp

    from proofs.symbolic import normalized

    w = sp.Symbol("w", positive=True)
    assert normalized([sp.Integer(1), sp.Integer(2), sp.Integer(3)]) == [sp.Rational(1, 6), sp.Rational(1, 3),
                                                                         sp.Rational(1, 2)]
    p = normalized([w, 2 * w])
    assert [sp.simplify(q) for q in p] == [sp.Rational(1, 3), sp.Rational(2, 3)]
