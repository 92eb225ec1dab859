"""Sharper checks of atari_check/stats.py and atari_check/rundir.py, written to kill the mutants that
survived the atari_check mutation job (issue 10 §4).

Mutants judged behaviour-identical are listed with their reasons in
tests/mutation/equivalent_atari_stats_rundir.md.  Each test pins down a behaviour a user of ``compare``
or of ``--resume`` relies on and that the rest of the suite left loose:

* bad input raises ValueError whose message *starts with the argument's name* and shows the bad value
  (the project rule), for every score argument of every public statistic (``a``, ``b``, ``x``,
  ``games[i]``, ``games_a[i]``, ``games_b[i]``), ``alpha`` and ``level`` at both ends of their open
  intervals, ``stat``, and an empty ``games``;
* groups with no spread (se = 0) are decided exactly, including a CI that *touches* the margin: the
  doc says ``different`` needs the CI entirely outside the closed [−M, M] and ``equivalent`` inside the
  open (−M, M), so touching is ``inconclusive``; a p-value that is not a rejection is 1, never more;
  the reported df is then the pooled n_a + n_b − 2 (the Welch–Satterthwaite formula is 0/0);
* a Welch fit whose standard error is exactly 1 (a = (0, 2), b = (5, 5): se² = 2/2 + 0) is an ordinary
  fit: df = 1 by Welch–Satterthwaite, so every p-value and CI is a closed form of the Cauchy law;
* a hypothesis is rejected iff p < α, strictly: at α equal to the reported p-value the verdict is not
  the rejection, at the next float above it is.  (α does not enter the p-value, which is checked too,
  so the reported p is a legitimate boundary input and not an expected value copied from the code);
* the result dicts report ``alpha`` and ``ci_level``;
* :func:`normalise` with a range that does not start at 0, and :func:`iqm` / :func:`normalise` of
  float32 scores are computed in float64 (as every statistic here: ``np.asarray(x, float)``);
* every bootstrap entry point passes its documented defaults (10 000 resamples, seed 0, level 0.95,
  stat ``'mean'``) and its arguments to ``scipy.stats.bootstrap``: each CI equals the percentile CI of
  ``scipy.stats.bootstrap`` called directly with the same resampling (the reference is scipy's, not
  this module's), and the test data are shown to tell 10 000 from 10 001 resamples and seed 0 from 1;
  and a closed-form level check: x = (0, 1) has resampled means in {0, ½, 1} with probabilities
  (¼, ½, ¼), so the 40% percentile CI is (½, ½) and the 95% one is (0, 1) (with 10 000 resamples the
  empirical ¼ quantile is 25 ± 0.4 %, > 10 σ from 30 % and from 2.5 %);
* rundir: the hint after an unreadable checkpoint names the previous checkpoint, or says that there is
  none; ``--resume`` of a run without ``checkpoint.pt`` starts afresh only when nothing was recorded
  (``frames_done`` 0 *or missing*, no metrics rows), and otherwise refuses with a message that names
  the directory, the frames checkpointed, each metrics file's row count, and ends "Nothing was changed."

Tolerances: 1e-12 absolute for the Welch closed forms (scipy's t CDF/PPF are accurate to ~1e-15
relative on these O(1) values; the rest is a few float64 operations).  Everything else is exact: the
bootstrap CIs are compared bit for bit with scipy's (same resample indices, same statistic values, same
quantile), and the no-spread and float32 cases are exact float arithmetic.
"""

from __future__ import annotations

import io
import json
import math
import os
import re

import numpy as np
import pytest
import torch

from atari_check import rundir, stats
from atari_check.config import RESUMABLE_CHANGES, Config
from tests.strategies import raises_matching

TOL = 1e-12  # see the module docstring
BAD = [1.0, float("nan")]  # a group with a non-finite score: the message must show it
GOOD = [1.0, 2.0, 4.0]


def F1(t: float) -> float:
    """CDF of Student's t with df = 1 (the Cauchy law)."""
    return 0.5 + math.atan(t) / math.pi


def Q1(q: float) -> float:
    """Quantile of Student's t with df = 1."""
    return math.tan(math.pi * (q - 0.5))


# --- Messages name the argument and show the bad value -----------------------------------------------------

GROUP_CASES = {
    "welch a": (lambda bad: stats.welch(bad, GOOD), "a"),
    "welch b": (lambda bad: stats.welch(GOOD, bad), "b"),
    "tost a": (lambda bad: stats.tost(bad, GOOD, 1.0), "a"),
    "tost b": (lambda bad: stats.tost(GOOD, bad, 1.0), "b"),
    "noninferiority b": (lambda bad: stats.noninferiority(GOOD, bad, 1.0), "b"),
    "directional a": (lambda bad: stats.directional(bad, GOOD), "a"),
    "difference b": (lambda bad: stats.difference(GOOD, bad), "b"),
    "bootstrap_ci x": (lambda bad: stats.bootstrap_ci(bad, n_boot=100), "x"),
    "bootstrap_cis x": (lambda bad: stats.bootstrap_cis(bad, n_boot=100), "x"),
    "bootstrap_diff_ci a": (lambda bad: stats.bootstrap_diff_ci(bad, GOOD, n_boot=100), "a"),
    "bootstrap_diff_ci b": (lambda bad: stats.bootstrap_diff_ci(GOOD, bad, n_boot=100), "b"),
    "aggregate_iqm games[1]": (lambda bad: stats.aggregate_iqm([GOOD, bad]), r"games\[1\]"),
    "aggregate_iqm_ci games[1]": (lambda bad: stats.aggregate_iqm_ci([GOOD, bad], n_boot=100), r"games\[1\]"),
    "aggregate_iqm_diff_ci games_a[1]": (
        lambda bad: stats.aggregate_iqm_diff_ci([GOOD, bad], [GOOD, GOOD], n_boot=100), r"games_a\[1\]"),
    "aggregate_iqm_diff_ci games_b[1]": (
        lambda bad: stats.aggregate_iqm_diff_ci([GOOD, GOOD], [GOOD, bad], n_boot=100), r"games_b\[1\]"),
}


@pytest.mark.parametrize("case", list(GROUP_CASES))
def test_group_messages_name_the_argument_and_show_the_value(case):
    call, name = GROUP_CASES[case]
    raises_matching(lambda: call(BAD), rf"{name}: .*\[1\.0, nan\]")          # a non-finite score
    raises_matching(lambda: call([3.0]), rf"{name}: .*shape \(1,\)")          # too few runs


@pytest.mark.parametrize("fn", [lambda alpha: stats.tost(GOOD, GOOD, 1.0, alpha=alpha),
                                lambda alpha: stats.noninferiority(GOOD, GOOD, 1.0, alpha=alpha),
                                lambda alpha: stats.directional(GOOD, GOOD, alpha=alpha),
                                lambda alpha: stats.difference(GOOD, GOOD, alpha=alpha)])
@pytest.mark.parametrize("alpha", [0.0, 0.5, -0.1, 0.7])
def test_alpha_outside_the_open_interval_is_refused(fn, alpha):
    raises_matching(lambda: fn(alpha), rf"alpha .*{re.escape(repr(alpha))}$")


@pytest.mark.parametrize("fn", [lambda level: stats.bootstrap_ci(GOOD, n_boot=100, level=level),
                                lambda level: stats.bootstrap_diff_ci(GOOD, GOOD, n_boot=100, level=level),
                                lambda level: stats.aggregate_iqm_ci([GOOD], n_boot=100, level=level),
                                lambda level: stats.aggregate_iqm_diff_ci([GOOD], [GOOD], n_boot=100, level=level)])
@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.2])
def test_level_outside_the_open_interval_is_refused(fn, level):
    raises_matching(lambda: fn(level), rf"level .*{re.escape(repr(level))}$")


def test_unknown_stat_and_empty_games_are_refused():
    raises_matching(lambda: stats.bootstrap_diff_ci(GOOD, GOOD, "median", n_boot=100), r"stat .*'median'")
    raises_matching(lambda: stats.bootstrap_ci(GOOD, "median", n_boot=100), r"stat .*'median'")
    raises_matching(lambda: stats.aggregate_iqm_ci([], n_boot=100), r"games .*\[\]$")
    # aggregate_iqm said only numpy's "need at least one array to concatenate" before (fixed with this test)
    raises_matching(lambda: stats.aggregate_iqm([]), r"games .*\[\]$")


# --- Welch: exact decisions without spread, and a fit with se = 1 --------------------------------------------


def test_no_spread_ci_touching_the_margin_is_inconclusive():
    """se = 0, d̂ = ∓M exactly: the 90% CI is the point −M (or +M), on the margin, neither inside the open
    (−M, M) nor outside the closed [−M, M]."""
    low = stats.tost([1.0, 1.0], [3.0, 3.0], margin=2.0)   # d̂ = −2 = −M
    assert low["ci"] == [-2.0, -2.0] and low["verdict"] == "inconclusive"
    assert (low["p_lower"], low["p_upper"], low["p_tost"]) == (1.0, 0.0, 1.0)  # H01 d ≤ −M not rejected
    high = stats.tost([3.0, 3.0], [1.0, 1.0], margin=2.0)  # d̂ = +2 = +M
    assert high["ci"] == [2.0, 2.0] and high["verdict"] == "inconclusive"
    assert (high["p_lower"], high["p_upper"], high["p_tost"]) == (0.0, 1.0, 1.0)
    ni = stats.noninferiority([1.0, 1.0], [3.0, 3.0], margin=2.0)  # lower bound = −M: not > −M
    assert ni["verdict"] == "inconclusive" and (ni["p_noninferiority"], ni["p_inferior"]) == (1.0, 1.0)


def test_no_spread_p_values_are_zero_or_one():
    small = stats.directional([3.5, 3.5], [3.0, 3.0])  # d̂ = 0.5 ∈ (0, 1)
    assert small["verdict"] == "better" and (small["p_better"], small["p_worse"]) == (0.0, 1.0)
    assert small["p_difference"] == 0.0
    none = stats.difference([3.0, 3.0], [3.0, 3.0])
    assert none["verdict"] == "inconclusive" and none["p_difference"] == 1.0
    worse = stats.directional([3.0, 3.0], [3.5, 3.5])
    assert worse["verdict"] == "worse" and (worse["p_better"], worse["p_worse"]) == (1.0, 0.0)


def test_no_spread_df_is_the_pooled_one_and_the_ci_is_the_point():
    assert stats.welch([3.0, 3.0, 3.0], [1.0, 1.0]) == (2.0, 0.0, 3.0)  # df = 3 + 2 − 2
    assert stats.welch([1.0, 1.0], [3.0, 3.0, 3.0, 3.0]) == (-2.0, 0.0, 4.0)
    # α so small that 1 − 2α rounds to 1: the CI of a difference known exactly is still the point.
    res = stats.tost([3.0, 3.0], [3.0, 3.0], margin=1.0, alpha=1e-20)
    assert res["ci"] == [0.0, 0.0] and res["verdict"] == "equivalent"


@pytest.mark.filterwarnings("ignore:Precision loss occurred in moment calculation:RuntimeWarning")  # b's var 0
def test_welch_fit_with_unit_standard_error():
    """a = (0, 2), b = (5, 5): se² = 2/2 + 0/2 = 1 exactly, df = se⁴ / ((2/2)²/1) = 1 (Cauchy)."""
    a, b = [0.0, 2.0], [5.0, 5.0]
    diff, se, df = stats.welch(a, b)
    assert (diff, se) == (-4.0, 1.0) and df == pytest.approx(1.0, abs=TOL)
    res = stats.tost(a, b, margin=10.0)
    assert res["ci"] == pytest.approx([-4.0 - Q1(0.95), -4.0 + Q1(0.95)], abs=TOL)
    assert res["ci95"] == pytest.approx([-4.0 - Q1(0.975), -4.0 + Q1(0.975)], abs=TOL)
    assert res["p_lower"] == pytest.approx(1.0 - F1(6.0), abs=TOL)   # (d̂ + M)/se = 6
    assert res["p_upper"] == pytest.approx(F1(-14.0), abs=TOL)       # (d̂ − M)/se = −14
    assert res["p_difference"] == pytest.approx(2.0 * (1.0 - F1(4.0)), abs=TOL)


def test_results_report_alpha_and_ci_level():
    for res in (stats.tost(GOOD, [0.0, 1.0], 1.0, alpha=0.1), stats.noninferiority(GOOD, [0.0, 1.0], 1.0, alpha=0.1),
                stats.directional(GOOD, [0.0, 1.0], alpha=0.1), stats.difference(GOOD, [0.0, 1.0], alpha=0.1)):
        assert res["alpha"] == 0.1 and res["ci_level"] == pytest.approx(0.8, abs=TOL)


# --- Rejection is p < α, strictly ---------------------------------------------------------------------------


def _pair(d: float):
    return np.array([100.0 + d - 1.0, 100.0 + d + 1.0]), np.array([99.0, 101.0])  # se = √2, df = 2


BOUNDARY_CASES = {
    # name: (test at α, field holding the p-value, verdict when that p is a rejection)
    "tost equivalent": (lambda a, b, alpha: stats.tost(a, b, 5.0, alpha=alpha), 0.0, "p_tost", "equivalent"),
    "non-inferior": (lambda a, b, alpha: stats.noninferiority(a, b, 5.0, alpha=alpha), 0.0, "p_noninferiority",
                     "non-inferior"),
    "inferior": (lambda a, b, alpha: stats.noninferiority(a, b, 5.0, alpha=alpha), -10.0, "p_inferior", "inferior"),
    "better": (lambda a, b, alpha: stats.directional(a, b, alpha=alpha), 5.0, "p_better", "better"),
    "worse": (lambda a, b, alpha: stats.directional(a, b, alpha=alpha), -5.0, "p_worse", "worse"),
    "different": (lambda a, b, alpha: stats.difference(a, b, alpha=alpha), 7.0, "p_difference", "different"),
}


@pytest.mark.parametrize("case", list(BOUNDARY_CASES))
def test_rejection_is_strict_at_p_equal_to_alpha(case):
    fn, d, field, rejected = BOUNDARY_CASES[case]
    a, b = _pair(d)
    p = fn(a, b, 0.05)[field]
    assert 0.02 < p < 0.05  # ≈ 0.035–0.038 by the df = 2 closed form: a rejection at the default α
    at, above = fn(a, b, p), fn(a, b, math.nextafter(p, 1.0))
    assert at[field] == p and above[field] == p  # α does not enter the p-value
    assert at["verdict"] == "inconclusive" and above["verdict"] == rejected


# --- float64 throughout, and min-max normalisation ----------------------------------------------------------


def test_normalise_with_a_range_not_starting_at_zero():
    out = stats.normalise([-100.0, 100.0, 300.0, 500.0], (-100.0, 300.0))
    assert out.tolist() == [0.0, 0.5, 1.0, 1.5]  # exact: (x + 100) / 400 on these values


def test_float32_scores_are_computed_in_float64():
    x32 = np.array([0.1, 0.2, 0.3, 0.7], dtype=np.float32)
    v = [float(x) for x in x32]  # the float32 values, exactly, as Python floats
    assert stats.iqm(x32) == (v[1] + v[2]) / 2.0  # sum of two float32 values is exact in float64
    out = stats.normalise(x32, (0.0, 3.0))
    assert out.dtype == np.float64 and out.tolist() == [x / 3.0 for x in v]
    assert stats.normalise([0, 250, 500], (0, 500)).tolist() == [0.0, 0.5, 1.0]  # integers too
    # the tests and bootstraps take a float32 group as its exact float64 values (numpy sums n < 8 terms in order)
    y32 = np.array([0.4, 0.9, 1.3], dtype=np.float32)
    w = [float(y) for y in y32]
    diff, se, df = stats.welch(x32, y32)
    assert diff == sum(v) / 4 - sum(w) / 3
    assert (diff, se, df) == stats.welch(np.array(v), np.array(w))
    assert stats.bootstrap_ci(x32, n_boot=200) == stats.bootstrap_ci(v, n_boot=200)


# --- Bootstrap: defaults and arguments reach scipy.stats.bootstrap --------------------------------------------

X = np.sqrt([2.0, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0])  # irrational: few ties among resample statistics
Y = np.log([2.0, 3.0, 5.0, 7.0, 11.0, 13.0])


def _mean(*s, axis=-1):
    return np.mean(s[0], axis=axis)


def _iqm(*s, axis=-1):
    from scipy import stats as ss  # imported on use: 1.3 s, and every test process collects this module
    return ss.trim_mean(s[0], 0.25, axis=axis)


def _mean_diff(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _iqm_diff(x, y, axis=-1):
    from scipy import stats as ss  # imported on use: 1.3 s, and every test process collects this module
    return ss.trim_mean(x, 0.25, axis=axis) - ss.trim_mean(y, 0.25, axis=axis)


def _pooled(*games, axis=-1):  # rliable's aggregate IQM: the IQM of all runs of all games together
    from scipy import stats as ss  # imported on use: 1.3 s, and every test process collects this module
    return ss.trim_mean(np.concatenate(games, axis=axis), 0.25, axis=axis)


def scipy_ci(samples, statistic, n_boot=10_000, seed=0, level=0.95):
    """The reference: scipy's percentile bootstrap CI, called directly."""
    from scipy import stats as ss  # imported on use: 1.3 s, and every test process collects this module
    ci = ss.bootstrap(samples, statistic, n_resamples=n_boot, method="percentile", confidence_level=level,
                      vectorized=True, rng=np.random.default_rng(seed)).confidence_interval
    return float(ci.low), float(ci.high)


def test_the_test_data_tell_the_defaults_apart():
    """Negative control of the default checks below: a wrong n_boot, seed or level changes the CI."""
    ref = scipy_ci((X,), _mean)
    assert scipy_ci((X,), _mean, n_boot=10_001) != ref and scipy_ci((X,), _mean, seed=1) != ref
    assert scipy_ci((X,), _mean, level=0.9) != ref
    ref2 = scipy_ci((X, Y), _mean_diff)
    assert scipy_ci((X, Y), _mean_diff, n_boot=10_001) != ref2 and scipy_ci((X, Y), _mean_diff, seed=1) != ref2
    games = (X[:4], Y[:4])
    ref3 = scipy_ci(games, _pooled)
    assert scipy_ci(games, _pooled, n_boot=10_001) != ref3 and scipy_ci(games, _pooled, seed=1) != ref3


def test_single_sample_bootstraps_are_scipys():
    assert stats.bootstrap_ci(X) == scipy_ci((X,), _mean)  # defaults: 'mean', 10 000, seed 0, 95%
    assert stats.bootstrap_cis(X) == {"mean": scipy_ci((X,), _mean), "iqm": scipy_ci((X,), _iqm)}
    assert stats.bootstrap_ci(X, "iqm", n_boot=300, seed=5, level=0.8) == scipy_ci((X,), _iqm, 300, 5, 0.8)
    assert stats.bootstrap_cis(X, ("mean",), n_boot=300, seed=5, level=0.8) == {
        "mean": scipy_ci((X,), _mean, 300, 5, 0.8)}


def test_two_sample_bootstraps_are_scipys():
    assert stats.bootstrap_diff_ci(X, Y) == scipy_ci((X, Y), _mean_diff)
    assert stats.bootstrap_diff_cis(X, Y) == {"mean": scipy_ci((X, Y), _mean_diff),
                                              "iqm": scipy_ci((X, Y), _iqm_diff)}
    assert stats.bootstrap_diff_ci(X, Y, "iqm", n_boot=300, seed=5, level=0.8) == scipy_ci(
        (X, Y), _iqm_diff, 300, 5, 0.8)
    assert stats.bootstrap_diff_ci(X, Y, n_boot=300) == scipy_ci((X, Y), _mean_diff, 300)
    assert stats.bootstrap_diff_ci(X, Y, seed=5) == scipy_ci((X, Y), _mean_diff, seed=5)
    assert stats.bootstrap_diff_ci(X, Y, level=0.8) == scipy_ci((X, Y), _mean_diff, level=0.8)
    # a repeated call gives the same CI (the seed is used, not fresh entropy)
    assert stats.bootstrap_diff_ci(X, Y, n_boot=300, seed=5) == stats.bootstrap_diff_ci(X, Y, n_boot=300, seed=5)


def test_stratified_aggregate_bootstraps_are_scipys():
    games_a, games_b = [X[:4], Y[:4]], [X[4:], Y[2:]]
    assert stats.aggregate_iqm_ci(games_a) == scipy_ci(tuple(games_a), _pooled)
    assert stats.aggregate_iqm_ci(games_a, n_boot=300, seed=5, level=0.8) == scipy_ci(
        tuple(games_a), _pooled, 300, 5, 0.8)

    def pooled_diff(*xs, axis=-1):
        return _pooled(*xs[:2], axis=axis) - _pooled(*xs[2:], axis=axis)

    samples = tuple(games_a) + tuple(games_b)
    assert stats.aggregate_iqm_diff_ci(games_a, games_b) == scipy_ci(samples, pooled_diff)
    assert stats.aggregate_iqm_diff_ci(games_a, games_b, n_boot=300, seed=5, level=0.8) == scipy_ci(
        samples, pooled_diff, 300, 5, 0.8)


def test_bootstrap_level_closed_form():
    """x = (0, 1): resampled means ∈ {0, ½, 1} w.p. (¼, ½, ¼); see the module docstring."""
    assert stats.bootstrap_ci([0.0, 1.0], level=0.4) == (0.5, 0.5)
    assert stats.bootstrap_ci([0.0, 1.0], level=0.95) == (0.0, 1.0)
    assert stats.bootstrap_diff_ci([0.0, 1.0], [0.0, 0.0], level=0.4) == (0.5, 0.5)
    assert stats.bootstrap_diff_ci([0.0, 1.0], [0.0, 0.0], level=0.95) == (0.0, 1.0)


# --- rundir: the messages of an unreadable checkpoint and of a resume without one -----------------------------


def _good_checkpoint(path, frames: int) -> None:
    torch.save({"schema": rundir.CHECKPOINT_SCHEMA, "frames": frames}, path)


def _refusal(call) -> str:
    with pytest.raises(rundir.RunDirError) as info:
        call()
    return str(info.value)


def test_unreadable_checkpoint_without_a_previous_one(tmp_path):
    ckpt = tmp_path / rundir.CHECKPOINT
    ckpt.write_bytes(b"torn")
    msg = _refusal(lambda: rundir.load_checkpoint(ckpt))
    assert repr(str(ckpt)) in msg
    assert msg.endswith(". There is no previous checkpoint to fall back on; choose another --out. Nothing was changed.")
    assert ckpt.read_bytes() == b"torn"  # nothing modified


def test_unreadable_previous_checkpoint_is_named(tmp_path):
    ckpt, prev = tmp_path / rundir.CHECKPOINT, tmp_path / rundir.PREVIOUS_CHECKPOINT
    ckpt.write_bytes(b"torn")
    prev.write_bytes(b"also torn")
    msg = _refusal(lambda: rundir.load_checkpoint(ckpt))
    assert f"previous checkpoint {str(prev)!r} is unreadable too" in msg
    # the previous checkpoint itself, unreadable: there is nothing before it
    msg = _refusal(lambda: rundir.load_checkpoint(prev))
    assert repr(str(prev)) in msg and "There is no previous checkpoint to fall back on" in msg
    _good_checkpoint(prev, 1_234_567)
    msg = _refusal(lambda: rundir.load_checkpoint(ckpt))
    assert f"previous checkpoint {str(prev)!r} (1,234,567 frames) is intact" in msg


@pytest.mark.parametrize("stored", [{"frames_done": 0}, {}, {"config": {}, "status": "running"}])
def test_resume_without_checkpoint_starts_afresh_only_when_nothing_was_recorded(tmp_path, stored):
    (tmp_path / "episodes.csv").write_text(",".join(rundir.EPISODE_FIELDS) + "\n")  # a header, no rows
    assert rundir.resume_checkpoint(tmp_path, stored) is None


def test_resume_without_checkpoint_refuses_after_frames_were_recorded(tmp_path):
    msg = _refusal(lambda: rundir.resume_checkpoint(tmp_path, {"frames_done": 1_000}))
    assert msg.startswith(repr(str(tmp_path)))
    assert "1,000 frames checkpointed" in msg and "(no metrics rows)" in msg and f"no {rundir.CHECKPOINT}" in msg
    assert ". There is no previous checkpoint to fall back on; choose another --out. Or move" in msg
    assert msg.endswith(" Or move the directory away and start again. Nothing was changed.")


def test_resume_without_checkpoint_refuses_when_metrics_rows_exist(tmp_path):
    (tmp_path / "episodes.csv").write_text("frames,update,env,return,length\n1,1,0,2.0,3\n2,1,0,2.0,3\n3,1,0,1,1\n")
    (tmp_path / "updates.csv").write_text(",".join(rundir.UPDATE_FIELDS) + "\n" + "1,\n" * 2)
    msg = _refusal(lambda: rundir.resume_checkpoint(tmp_path, {}))  # no frames_done recorded: 0
    assert " 0 frames checkpointed" in msg
    assert "(episodes.csv: 3 rows, updates.csv: 2 rows)" in msg
    assert msg.endswith("Nothing was changed.")


# --- A bootstrap CI that overflows is refused (a defect found while reading these mutants) -----------------
# Before the fix, a CI that was not finite was replaced by the point estimate: bootstrap_ci of
# (1e308, −1e308, 1e308) returned the zero-width CI (3.3e307, 3.3e307) although the runs differ by 2e308.

HUGE = [1e308, -1e308, 1e308]  # finite scores whose resampled means overflow (and give inf − inf = nan)

OVERFLOW_CASES = {
    "bootstrap_ci": (lambda: stats.bootstrap_ci(HUGE, n_boot=100), "x"),
    # only the upper end overflows: low 0.0, high inf (two of ten runs at 1.7e308: 62% of resamples overflow)
    "bootstrap_ci high end": (lambda: stats.bootstrap_ci([1.7e308, 1.7e308] + [0.0] * 8, n_boot=100), "x"),
    "bootstrap_cis iqm": (lambda: stats.bootstrap_cis([1e308, 1e308, 1e308, 1e308], ("iqm",), n_boot=100), "x"),
    "bootstrap_diff_ci": (lambda: stats.bootstrap_diff_ci([1e308, 1e308], [-1e308, -1e308], n_boot=100), "a, b"),
    "aggregate_iqm_ci": (lambda: stats.aggregate_iqm_ci([GOOD, HUGE], n_boot=100), "games"),
    "aggregate_iqm_diff_ci": (lambda: stats.aggregate_iqm_diff_ci([HUGE], [GOOD], n_boot=100), "games_a, games_b"),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::scipy.stats.DegenerateDataWarning")
@pytest.mark.parametrize("case", list(OVERFLOW_CASES))
def test_a_bootstrap_ci_that_overflows_is_refused(case):
    call, names = OVERFLOW_CASES[case]
    raises_matching(call, rf"{re.escape(names)}: the bootstrap CI is not finite .*\|score\| 1(\.7)?e\+308\)$")


def test_large_finite_scores_still_have_a_ci():
    """Control: no overflow, no refusal; and constant data still give the point."""
    lo, hi = stats.bootstrap_ci([1e150, 3e150, 2e150], n_boot=100)  # 1e150: scipy's standard error squares it
    assert 1e150 <= lo < hi <= 3e150
    assert stats.bootstrap_cis([7.5, 7.5, 7.5], n_boot=100) == {"mean": (7.5, 7.5), "iqm": (7.5, 7.5)}
    assert stats.aggregate_iqm_ci([[7.5, 7.5], [7.5, 7.5, 7.5]], n_boot=100) == (7.5, 7.5)


# --- The (1 − 2α) CI for a tiny α (a defect found while reading these mutants) ---------------------------------
# Before the fix the CI's quantile was t.ppf(0.5 + level/2) with level = 1 − 2α, which rounds to 1 for
# α < 1.1e-16: the CI was (−inf, inf) and TOST could never say "different".


def test_ci_for_a_tiny_alpha_is_finite_and_exact():
    """df = 2 closed form in the tail: t_{1−α} = (1 − 2α) / sqrt(2α(1 − α)); α = 1e-20 gives 7.07e9.
    Tolerance 1e-12 relative: scipy's t quantile on this df is accurate to ~1e-15 relative."""
    alpha, d = 1e-20, 1e12
    a, b = np.array([1e12 + 99.0, 1e12 + 101.0]), np.array([99.0, 101.0])  # d̂ = 1e12, se = √2, df = 2 exactly
    h = (1.0 - 2.0 * alpha) / math.sqrt(2.0 * alpha * (1.0 - alpha)) * math.sqrt(2.0)
    res = stats.tost(a, b, margin=1.0, alpha=alpha)
    assert res["ci"] == pytest.approx([d - h, d + h], rel=TOL)
    assert res["verdict"] == "different"  # the CI lies entirely above the margin


# --- rundir: --out validation, checkpoints, metrics files (what is kept on disk) --------------------------------
# Written ahead of the mutation job's verdicts for these functions: each pins down a rule of the module
# docstring ("every function here either completes or changes nothing"; a refusal names the file).



def _cfg(**kw) -> Config:
    return Config(**{"algo": "a2c-proper", "env": "CartPole-v1", "frames": 160, "seed": 3, **kw})


def _stored_run(out, cfg: Config, status: str = "running") -> dict:
    out.mkdir(exist_ok=True)
    stored = {"status": status, "config": cfg.to_dict(), "frames_done": 0}
    (out / "run.json").write_text(json.dumps(stored))
    return stored


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "out"
    out.write_text("x")
    msg = _refusal(lambda: rundir.check_out_dir(out, _cfg(), False))
    assert msg.startswith(f"--out {str(out)!r} exists and is not a directory")


def test_fresh_and_empty_out_dirs_are_accepted(tmp_path):
    assert rundir.check_out_dir(tmp_path / "missing", _cfg(), False) is None
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / ".lock").write_text("")  # dot files are not results
    assert rundir.check_out_dir(tmp_path / "hidden", _cfg(), True) is None


def test_out_with_another_run_is_refused_naming_it(tmp_path):
    _stored_run(tmp_path, _cfg(algo="sql", seed=7), status="finished")
    msg = _refusal(lambda: rundir.check_out_dir(tmp_path, _cfg(), False))
    assert msg.startswith(f"--out {str(tmp_path)!r} already holds a run (sql on CartPole-v1, seed 7, status "
                          f"'finished'); pass --resume")
    assert msg.endswith("Nothing was overwritten.")


def test_resume_with_a_different_config_is_refused_naming_each_difference(tmp_path):
    stored = _stored_run(tmp_path, _cfg())
    msg = _refusal(lambda: rundir.check_out_dir(tmp_path, _cfg(algo="sql", seed=4), True))
    assert f"stored in {str(tmp_path)!r} (algo: stored 'a2c-proper' vs given 'sql', seed: stored 3 vs given 4)" in msg
    assert f"only {list(RESUMABLE_CHANGES)} may change" in msg and msg.endswith("Nothing was overwritten.")
    # the resumable fields may change: the stored run.json is returned
    assert rundir.check_out_dir(tmp_path, _cfg(frames=320, log_interval=7), True) == stored


def test_out_with_files_but_no_run_json_is_refused_listing_them(tmp_path):
    for name in ("z.txt", "a.txt", ".hidden", "episodes.csv", "b", "c", "d", "e"):
        (tmp_path / name).write_text("")
    msg = _refusal(lambda: rundir.check_out_dir(tmp_path, _cfg(), False))
    # foreign files first (sorted, dot files left out), then this module's own files; at most 6 shown
    assert msg.startswith(f"--out {str(tmp_path)!r} is not empty and holds no run.json (found "
                          f"{['a.txt', 'b', 'c', 'd', 'e', 'z.txt']})")
    only_ours = tmp_path / "ours"
    only_ours.mkdir()
    (only_ours / "updates.csv").write_text("")  # a metrics file without run.json is not a run to resume
    msg = _refusal(lambda: rundir.check_out_dir(only_ours, _cfg(), True))
    assert "(found ['updates.csv'])" in msg and msg.endswith("Nothing was overwritten.")


def test_a_second_lock_on_the_same_dir_is_refused(tmp_path):
    with rundir.lock(tmp_path):
        msg = _refusal(lambda: rundir.lock(tmp_path).__enter__())
        assert msg == f"another process is running in {str(tmp_path)!r}"
    with rundir.lock(tmp_path):  # released on exit
        pass


def test_checkpoint_schema_and_size_are_named(tmp_path):
    path = tmp_path / rundir.CHECKPOINT
    torch.save({"schema": "other/2", "frames": 1}, path)
    size = path.stat().st_size
    msg = _refusal(lambda: rundir.load_checkpoint(path))
    assert msg.startswith(f"checkpoint {str(path)!r} ({size:,} bytes) cannot be read: ValueError: not an "
                          f"atari_check checkpoint (schema 'other/2', expected {rundir.CHECKPOINT_SCHEMA!r})")
    torch.save([1, 2], path)
    assert "(schema 'list', expected" in _refusal(lambda: rundir.load_checkpoint(path))
    missing = tmp_path / "missing.pt"
    msg = _refusal(lambda: rundir.load_checkpoint(missing))
    assert msg.startswith(f"checkpoint {str(missing)!r} (0 bytes) cannot be read: FileNotFoundError")
    assert not missing.exists()
    _good_checkpoint(path, 4_321)
    assert rundir.load_checkpoint(path)["frames"] == 4_321 and rundir.checkpoint_frames(path) == 4_321
    assert rundir.resume_checkpoint(tmp_path, {"frames_done": 4_321})["frames"] == 4_321
    assert rundir.resume_checkpoint(tmp_path, None) is None  # a fresh start reads nothing


def _bytes_of(frames: int) -> bytes:
    buf = io.BytesIO()
    torch.save({"schema": rundir.CHECKPOINT_SCHEMA, "frames": frames}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("links", [True, False])
def test_write_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, links):
    if not links:  # a file system without hard links: the previous checkpoint is a copy
        def no_link(*args):
            raise OSError("no hard links here")
        monkeypatch.setattr(rundir.os, "link", no_link)
    path = tmp_path / rundir.CHECKPOINT
    prev = tmp_path / rundir.PREVIOUS_CHECKPOINT
    rundir.write_checkpoint(path, _bytes_of(100))
    assert path.read_bytes() == _bytes_of(100) and not prev.exists()
    (tmp_path / (rundir.PREVIOUS_CHECKPOINT + ".tmp")).write_bytes(b"stale")  # left by an earlier kill
    rundir.write_checkpoint(path, _bytes_of(200))
    assert path.read_bytes() == _bytes_of(200) and prev.read_bytes() == _bytes_of(100)
    rundir.write_checkpoint(path, _bytes_of(300))
    assert path.read_bytes() == _bytes_of(300) and prev.read_bytes() == _bytes_of(200)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([rundir.CHECKPOINT, rundir.PREVIOUS_CHECKPOINT])
    assert os.stat(path).st_ino != os.stat(prev).st_ino


def test_atomic_writes_leave_exactly_the_data(tmp_path):
    path = tmp_path / "run.json"
    rundir.atomic_write_json(path, {"b": 1, "a": [1.5, None], "p": tmp_path})
    assert path.read_text() == json.dumps({"b": 1, "a": [1.5, None], "p": str(tmp_path)}, indent=2) + "\n"
    rundir.atomic_write_bytes(path, b"\x00raw")
    assert path.read_bytes() == b"\x00raw" and [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_metrics_rows_are_formatted_and_resumed_at_the_durable_length(tmp_path):
    path = tmp_path / "m.csv"
    fields = ("n", "b", "i", "f", "s")
    m = rundir.MetricsFile(path, fields, keep_bytes=None)
    m.write({"n": None, "b": True, "i": np.int64(-3), "f": 0.1 + 0.2, "s": "x"})
    m.write({"b": np.bool_(False), "i": 7, "f": np.float32(1234567.89), "s": 2})
    m.write({"f": float("nan")})
    m.write({"f": float("-inf"), "i": True})
    kept = m.sync()
    assert kept == path.stat().st_size
    m.write({"n": "dropped on resume"})
    m.close()
    text = path.read_text()
    assert text.splitlines()[:5] == ["n,b,i,f,s", ",True,-3,0.3,x", ",False,7,1234568,2", ",,,nan,", ",,True,-inf,"]
    # reopened at the checkpoint's byte length: the rows after it are dropped, the header is not rewritten
    m = rundir.MetricsFile(path, fields, keep_bytes=kept)
    m.write({"n": 1})
    m.close()
    assert path.read_text() == text[:kept] + "1,,,,\n"
    assert rundir.read_csv(path)[-1] == {"n": "1", "b": "", "i": "", "f": "", "s": ""}
    # keep_bytes None (a fresh start) or a file that does not exist: only the header
    rundir.MetricsFile(path, fields, keep_bytes=None).close()
    assert path.read_text() == "n,b,i,f,s\n"
    other = tmp_path / "new.csv"
    rundir.MetricsFile(other, fields, keep_bytes=123).close()
    assert other.read_text() == "n,b,i,f,s\n"


def test_a_directory_that_cannot_be_fsynced_does_not_fail_a_write(tmp_path, monkeypatch):
    """The directory fsync after a rename is best effort: some file systems refuse to open or fsync a
    directory (OSError), and the write, already complete and renamed, must not be reported as failed."""
    def refuse(*args, **kwargs):
        raise OSError(22, "directories cannot be opened here")
    monkeypatch.setattr(rundir.os, "open", refuse)  # os.open is used only for the directory fsync
    rundir.atomic_write_bytes(tmp_path / "a.bin", b"data")
    rundir.write_checkpoint(tmp_path / rundir.CHECKPOINT, _bytes_of(5))
    assert (tmp_path / "a.bin").read_bytes() == b"data"
    assert (tmp_path / rundir.CHECKPOINT).read_bytes() == _bytes_of(5)


def test_an_interrupted_atomic_write_leaves_the_old_file_and_a_tmp_file(tmp_path, monkeypatch):
    """The protocol of the module docstring: the data go to ``<name>.tmp`` (fsynced), then one rename.  A
    failure before the rename leaves the old file untouched and the complete new data in ``<name>.tmp``."""
    path = tmp_path / "run.json"
    path.write_text("old")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rundir.atomic_write_json(path, {"new": 1})
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.json.tmp"]
    assert (tmp_path / "run.json.tmp").read_text() == '{\n  "new": 1\n}\n'


def test_a_run_json_without_config_is_still_refused_without_resume(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"status": "finished"}))  # e.g. written by another tool
    msg = _refusal(lambda: rundir.check_out_dir(tmp_path, _cfg(), False))
    assert "already holds a run (None on None, seed None, status 'finished')" in msg


def test_a_checkpoint_saved_on_a_gpu_with_python_objects_loads_on_the_cpu(tmp_path, monkeypatch):
    """``device`` may change between segments (RESUMABLE_CHANGES), so a checkpoint written by a GPU run
    must load on a CPU-only machine, onto the CPU; and it holds Python objects besides tensors (here a
    numpy array and a deque), which ``torch.load(weights_only=True)`` refuses.  The GPU save is simulated by
    tagging every storage 'cuda:0' (what torch.save records for a CUDA tensor)."""
    import collections

    import torch.serialization as ts

    state = {"schema": rundir.CHECKPOINT_SCHEMA, "frames": 9, "net": {"w": torch.arange(3.0)},
             "obs": np.zeros(2), "recent": collections.deque([1.0, 2.0], maxlen=5)}
    buf = io.BytesIO()
    with monkeypatch.context() as m:
        m.setattr(ts, "location_tag", lambda storage: "cuda:0")
        torch.save(state, buf)
    path = tmp_path / rundir.CHECKPOINT
    path.write_bytes(buf.getvalue())
    if not torch.cuda.is_available():  # control: without a map_location the file does not load here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=False)
    loaded = rundir.load_checkpoint(path)
    assert loaded["net"]["w"].device == torch.device("cpu") and loaded["net"]["w"].tolist() == [0.0, 1.0, 2.0]
    assert loaded["obs"].tolist() == [0.0, 0.0] and list(loaded["recent"]) == [1.0, 2.0]


def test_read_csv_keeps_newlines_inside_quoted_fields(tmp_path):
    """read_csv opens with newline='' as the csv module requires: a quoted field's embedded CRLF is data."""
    path = tmp_path / "m.csv"
    path.write_bytes(b'frames,note\r\n1,"two\r\nlines"\r\n2,plain\r\n')
    assert rundir.read_csv(path) == [{"frames": "1", "note": "two\r\nlines"}, {"frames": "2", "note": "plain"}]


def test_an_interrupted_first_checkpoint_write_leaves_only_a_tmp_file(tmp_path, monkeypatch):
    """write_checkpoint's new data go to ``checkpoint.pt.tmp`` first (fsynced), then one rename."""
    path = tmp_path / rundir.CHECKPOINT

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rundir.write_checkpoint(path, _bytes_of(1))
    assert [p.name for p in tmp_path.iterdir()] == [rundir.CHECKPOINT + ".tmp"]
    assert (tmp_path / (rundir.CHECKPOINT + ".tmp")).read_bytes() == _bytes_of(1)


def test_a_reopened_metrics_file_reports_its_kept_length_before_any_new_row(tmp_path):
    """A resumed run may checkpoint before it writes a row: sync() must then give the kept length, not
    the file position of a fresh open (a wrong offset in the checkpoint would truncate rows on resume)."""
    path = tmp_path / "m.csv"
    m = rundir.MetricsFile(path, ("a",), keep_bytes=None)
    assert m.path == path and m.fields == ("a",)
    m.write({"a": 1})
    m.write({"a": 2})
    kept = m.sync()
    m.close()
    m = rundir.MetricsFile(path, ("a",), keep_bytes=kept)
    assert m.sync() == kept == len(b"a\n1\n2\n")
    m.write({"a": 3})
    assert m.sync() == kept + 2
    m.close()
