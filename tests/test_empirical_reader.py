"""proofs/empirical.py on equiv.compare/2 documents: the decisions for non-inferiority, directional and
two-half claims, validation of the new fields, and the empirical checks that use them.

Each decision is tested on hand-written documents with known answers, and on a deliberately wrong
document (the opposite verdict, a margin where there must be none) that must change the outcome.
"""

from __future__ import annotations

import json
import re

import pytest

from proofs.core import failed, inconclusive, passed, pending
from proofs.empirical import (
    ResultsFormatError,
    all_of,
    directional_verdict,
    equivalence_verdict,
    load_comparisons,
    noninferiority_verdict,
)


def _row(**kw):
    row = {"env": "Pong", "a": "a2c-proper", "b": "a2c-naive", "role": "noninferiority", "kind": "noninferiority",
           "metric": "auc", "verdict": "non-inferior", "expected": "non-inferior", "margin": 3.0,
           "ci": [-1.0, 2.0], "n_a": 5, "n_b": 5, "smallest_margin": 1.0, "preregistered": True,
           "rules_version": 2}
    row.update(kw)
    return row


def _write(root, rows, name="study"):
    path = root / "gpu" / name / "compare.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "equiv.compare/2", "comparisons": rows, "provenance": {},
                                "runs": [{"run_id": name}]}))
    return path


@pytest.mark.parametrize("verdicts,outcome", [
    (["non-inferior", "non-inferior"], "pass"),
    (["non-inferior", "inconclusive"], "inconclusive"),
    (["non-inferior", "inferior"], "fail"),
])
def test_noninferiority_decision(tmp_path, verdicts, outcome):
    _write(tmp_path, [_row(verdict=v, metric=m) for v, m in zip(verdicts, ("auc", "final_score"))])
    result = noninferiority_verdict("gpu", ("a2c-proper", "a2c-naive"), "Fig. 1", root=tmp_path)
    assert result.outcome == outcome
    if outcome == "pass":
        assert "passes for margin > 1" in result.detail and "vs margin −3" in result.detail


PAIR = ("a2c-proper", "a2c-naive")


@pytest.mark.parametrize("role,verdict,check", [
    ("noninferiority", "non-inferior", lambda root: noninferiority_verdict("gpu", PAIR, "x", root=root)),
    ("directional", "better", lambda root: directional_verdict("gpu", PAIR, "better", "x", root=root)),
])
def test_a_post_hoc_test_is_reported_but_never_counted(tmp_path, role, verdict, check):
    """Decision rules are fixed before the runs: the same passing comparison counts when it was registered
    before them and is only 'inconclusive' when it was registered after (the negative control)."""
    extra = {} if role == "noninferiority" else {"margin": None, "smallest_margin": None,
                                                 "expected": "better"}
    _write(tmp_path, [_row(role=role, kind=role, verdict=verdict, preregistered=True, **extra)])
    assert check(tmp_path).outcome == "pass"
    _write(tmp_path, [_row(role=role, kind=role, verdict=verdict, preregistered=False, **extra)])
    late = check(tmp_path)
    assert late.outcome == "inconclusive" and "post hoc" in late.detail


def test_noninferiority_pending_and_pair_order(tmp_path):
    assert noninferiority_verdict("gpu", ("a2c-proper", "a2c-naive"), "x", root=tmp_path).outcome == "pending"
    _write(tmp_path, [_row()])
    # The claim is one-sided: the reversed pair is a different statement, with no comparison.
    assert noninferiority_verdict("gpu", ("a2c-naive", "a2c-proper"), "x", root=tmp_path).outcome == "pending"


@pytest.mark.parametrize("expected,verdict,outcome", [
    ("better", "better", "pass"), ("better", "worse", "fail"), ("better", "inconclusive", "inconclusive"),
    ("worse", "worse", "pass"), ("worse", "better", "fail"),
])
def test_directional_decision(tmp_path, expected, verdict, outcome):
    _write(tmp_path, [_row(a="dqn-soft-ent", b="dqn", role="directional", kind="directional", verdict=verdict,
                           expected=expected, margin=None, smallest_margin=None)])
    result = directional_verdict("gpu", ("dqn-soft-ent", "dqn"), expected, "Fig. 2", root=tmp_path)
    assert result.outcome == outcome
    with pytest.raises(ValueError, match="better' or 'worse"):
        directional_verdict("gpu", ("dqn-soft-ent", "dqn"), "same", "x", root=tmp_path)


@pytest.mark.parametrize("outcomes,combined", [
    (("pass", "pass"), "pass"), (("pass", "pending"), "pending"), (("fail", "pending"), "fail"),
    (("pass", "inconclusive"), "inconclusive"), (("inconclusive", "pending"), "pending"),
])
def test_all_of_needs_every_half(outcomes, combined):
    make = {"pass": lambda: passed("ok"), "fail": lambda: failed("no", "counter"), "pending": lambda: pending("-"),
            "inconclusive": lambda: inconclusive("?")}
    result = all_of("claim", [(f"half {i}", make[o]()) for i, o in enumerate(outcomes)])
    assert result.outcome == combined and "half 0" in (result.detail + (result.counterexample or ""))


@pytest.mark.parametrize("field,value,message", [
    ("kind", "equivalence", "kind must be 'noninferiority'"),
    ("verdict", "equivalent", "verdict must be one of"),
    ("margin", None, "margin must be a finite number"),
    ("smallest_margin", -1.0, "smallest_margin must be"),
    ("preregistered", "yes", "preregistered must be"),
])
def test_v2_fields_are_validated(tmp_path, field, value, message):
    _write(tmp_path, [_row(**{field: value})])
    with pytest.raises(ResultsFormatError, match=message):
        load_comparisons("gpu", tmp_path)


def test_directional_and_difference_tests_carry_no_margin(tmp_path):
    _write(tmp_path, [_row(role="directional", kind="directional", verdict="better", margin=2.0)])
    with pytest.raises(ResultsFormatError, match="margin must be null"):
        load_comparisons("gpu", tmp_path)


def test_v1_documents_cannot_use_v2_roles(tmp_path):
    path = tmp_path / "gpu" / "compare.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": "equiv.compare/1", "comparisons": [_row()], "provenance": {}}))
    with pytest.raises(ResultsFormatError, match="role must be one of"):
        load_comparisons("gpu", tmp_path)


def test_distinct_runs_in_two_files_are_fine(tmp_path):
    _write(tmp_path, [_row()], name="a")
    _write(tmp_path, [_row(env="Breakout")], name="b")
    files, comparisons = load_comparisons("gpu", tmp_path)
    assert len(files) == 2 and len(comparisons) == 2


def test_the_empirical_checks_read_the_committed_cpu_evidence():
    """The committed CartPole file (rules v2): Fig. 1 non-inferior but post hoc (so not counted), the A2C
    half of 'c = 1/τ is unstable' not run (pending), and the equivalence inconclusive because the sensitivity
    control separates on auc but not on final_score."""
    from proofs.core import run_check
    from proofs.loader import load_checks

    load_checks()
    fig1 = run_check("empirical_cpu_fig1_noninferiority")
    assert fig1.outcome == "inconclusive" and "post hoc" in fig1.detail
    unstable = run_check("empirical_cpu_unscaled_unstable")
    assert unstable.outcome == "pending" and "[soft Q-learning half: inconclusive]" in unstable.detail
    assert "post hoc" in unstable.detail  # the sql half passes its test, but the test came after the runs
    equiv = run_check("empirical_cpu_pg_vs_ql")
    assert equiv.outcome == "inconclusive" and "CartPole-v1 final_score the sensitivity control" in equiv.detail


def test_the_minatar_checks_read_their_own_scale_and_are_pending_until_the_grid_is_compared(tmp_path,
                                                                                           monkeypatch):
    """No compare.json under <results>/minatar/: both MinAtar checks are pending.  The same checks on a MinAtar document under a temporary root decide from it (a "different"
    equivalence fails; an "inferior" Fig. 1 fails), and a Pong document there is not theirs (pending)."""
    import proofs.empirical as emp
    from proofs.checks.section6_experiments import empirical_minatar_fig1_noninferiority as fig1
    from proofs.checks.section6_experiments import empirical_minatar_pg_vs_ql as equivalence

    def run_check(name):  # the check functions themselves: core.run_check caches its first answer
        return {"empirical_minatar_pg_vs_ql": equivalence, "empirical_minatar_fig1_noninferiority": fig1}[name]()

    monkeypatch.setattr(emp, "RESULTS_ROOT", tmp_path)  # a results tree without MinAtar summaries
    (tmp_path / "minatar").mkdir()
    assert run_check("empirical_minatar_pg_vs_ql").outcome == "pending"
    assert run_check("empirical_minatar_fig1_noninferiority").outcome == "pending"
    path = tmp_path / "minatar" / "compare.json"

    def write(rows):
        path.write_text(json.dumps({"schema": "equiv.compare/2", "comparisons": rows, "provenance": {},
                                    "runs": [{"run_id": "r"}]}))

    write([_row(env="MinAtar/Breakout-v1", a="a2c-proper", b="sql", role="equivalence", kind="equivalence",
                verdict="different", expected="equivalent"),
           _row(env="MinAtar/Breakout-v1", verdict="inferior")])
    assert run_check("empirical_minatar_pg_vs_ql").outcome == "fail"
    assert run_check("empirical_minatar_fig1_noninferiority").outcome == "fail"
    write([_row(env="Pong", verdict="inferior")])
    assert run_check("empirical_minatar_fig1_noninferiority").outcome == "pending"
    write(_game_rows("MinAtar/Breakout-v1"))  # one game, every row passing: still pending (both are listed)
    for name in ("empirical_minatar_pg_vs_ql", "empirical_minatar_fig1_noninferiority"):
        got = run_check(name)
        assert got.outcome == "pending" and "not yet compared on MinAtar/SpaceInvaders" in got.detail, got.detail


def _game_rows(env, equivalence="equivalent", noninferiority="non-inferior"):
    """One game's deciding rows: a2c-proper vs sql equivalent, the negative control separated, a sensitivity
    control called different at the same n, and a Fig. 1 non-inferiority row."""
    return [_row(env=env, b="sql", role="equivalence", kind="equivalence", verdict=equivalence,
                 expected="equivalent"),
            _row(env=env, b="sql-unscaled", role="negative_control", kind="equivalence", verdict="different",
                 expected="different"),
            _row(env=env, b="sql-unscaled", role="sensitivity", kind="difference", verdict="different",
                 expected="different", margin=None, smallest_margin=None),
            _row(env=env, verdict=noninferiority)]


@pytest.mark.parametrize("verdict", ["equivalence", "noninferiority"])
def test_a_verdict_over_listed_games_is_pending_until_every_game_is_compared(tmp_path, verdict):
    """require_all_envs: Breakout alone, all passing, is pending and names SpaceInvaders; both games pass.
    Negative control: the same Breakout-only document passes without require_all_envs.  A refutation on the
    one compared game still fails."""
    games = ("MinAtar/Breakout", "MinAtar/SpaceInvaders")

    def decide(rows, require=True):
        _write(tmp_path, rows)
        if verdict == "equivalence":
            return equivalence_verdict("gpu", ("a2c-proper", "sql"), "eq", envs=games, root=tmp_path,
                                       require_all_envs=require)
        return noninferiority_verdict("gpu", PAIR, "fig1", envs=games, root=tmp_path, require_all_envs=require)

    breakout = _game_rows("MinAtar/Breakout-v1") + [  # and the deciding rows on the second metric
        _row(env="MinAtar/Breakout-v1", b="sql", role="equivalence", kind="equivalence", verdict="equivalent",
             expected="equivalent", metric="final_score"),
        _row(env="MinAtar/Breakout-v1", metric="final_score")]
    partial = decide(breakout)
    assert partial.outcome == "pending", partial.detail
    what = "eq" if verdict == "equivalence" else "fig1"
    assert partial.detail.startswith(f"{what}: not yet compared on MinAtar/SpaceInvaders (every listed game is "
                                     f"required; a partial grid is not reported as the whole); so far: ")
    so_far = partial.detail.split("so far: ", 1)[1].split("; ")
    assert len(so_far) == 2 and all(x.startswith("MinAtar/Breakout-v1: a2c-proper vs ") for x in so_far)
    three = ("MinAtar/Breakout", "MinAtar/SpaceInvaders", "MinAtar/Asterix")
    two_missing = (equivalence_verdict("gpu", ("a2c-proper", "sql"), "eq", envs=three, root=tmp_path,
                                       require_all_envs=True) if verdict == "equivalence" else
                   noninferiority_verdict("gpu", PAIR, "fig1", envs=three, root=tmp_path, require_all_envs=True))
    assert "not yet compared on MinAtar/SpaceInvaders, MinAtar/Asterix (every" in two_missing.detail
    assert decide(breakout, require=False).outcome == "pass"  # the negative control of the rule
    both = decide(breakout + _game_rows("MinAtar/SpaceInvaders-v1"))
    assert both.outcome == "pass", both.detail
    wrong = decide(_game_rows("MinAtar/Breakout-v1", equivalence="different", noninferiority="inferior"))
    assert wrong.outcome == "fail"
    message = "^" + re.escape("require_all_envs needs the list of games (envs), got envs=None") + "$"
    with pytest.raises(ValueError, match=message):
        equivalence_verdict("gpu", ("a2c-proper", "sql"), "eq", root=tmp_path, require_all_envs=True)
    with pytest.raises(ValueError, match=message):
        noninferiority_verdict("gpu", PAIR, "fig1", root=tmp_path, require_all_envs=True)
