"""atari_check statistics: the decision rules on scipy, IQM, bootstraps, the cross-game aggregate, run scores.

Known answers come from the t distribution with 2 degrees of freedom, whose CDF and quantile have
closed forms: F(t) = 1/2 + t / (2 sqrt(2 + t²)), t_q = (2q − 1) / sqrt(2 q (1 − q)).  Groups
a = μ_a + (−1, 1) and b = μ_b + (−1, 1) have Welch se = √2 and df = 2 exactly, so every p-value and
CI below is a closed form in d = μ_a − μ_b.  Tolerance 1e-12 absolute: scipy's t CDF/PPF are
accurate to ~1e-15 relative on these O(1) values; the rest is a few float64 operations.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from atari_check import compare as cmp
from atari_check import stats
from atari_check.config import Config

TOL = 1e-12
SE = math.sqrt(2.0)


def F2(t: float) -> float:
    """CDF of Student's t with df = 2 (closed form)."""
    return 0.5 + t / (2.0 * math.sqrt(2.0 + t * t))


def Q2(q: float) -> float:
    """Quantile of Student's t with df = 2 (closed form)."""
    return (2.0 * q - 1.0) / math.sqrt(2.0 * q * (1.0 - q))


H90 = Q2(0.95) * SE   # half-width of the 90% CI of d
H95 = Q2(0.975) * SE  # half-width of the 95% CI of d


def pair(d: float, base: float = 100.0):
    return np.array([base + d - 1.0, base + d + 1.0]), np.array([base - 1.0, base + 1.0])


def test_welch_and_ci_known_answers():
    a, b = pair(3.0)
    diff, se, df = stats.welch(a, b)
    assert diff == pytest.approx(3.0, abs=TOL) and se == pytest.approx(SE, abs=TOL) and df == pytest.approx(2.0)
    res = stats.tost(a, b, margin=10.0)
    assert res["ci"] == pytest.approx([3.0 - H90, 3.0 + H90], abs=TOL)
    assert res["ci95"] == pytest.approx([3.0 - H95, 3.0 + H95], abs=TOL)
    assert res["p_difference"] == pytest.approx(2.0 * (1.0 - F2(3.0 / SE)), abs=TOL)


@pytest.mark.parametrize("d,margin,verdict", [(0.0, 5.0, "equivalent"), (0.0, 4.0, "inconclusive"),
                                               (-20.0, 5.0, "different"), (20.0, 5.0, "different"),
                                               (3.0, 8.0, "equivalent"), (3.0, 6.0, "inconclusive")])
def test_tost_known_answers(d, margin, verdict):
    res = stats.tost(*pair(d), margin=margin)
    assert res["verdict"] == verdict  # H90 = 4.129: equivalent iff |d| + 4.129 < M
    assert res["p_lower"] == pytest.approx(1.0 - F2((d + margin) / SE), abs=TOL)
    assert res["p_upper"] == pytest.approx(F2((d - margin) / SE), abs=TOL)


@pytest.mark.parametrize("d,margin,verdict", [(0.0, 5.0, "non-inferior"), (0.0, 4.0, "inconclusive"),
                                               (-10.0, 5.0, "inferior"), (30.0, 1.0, "non-inferior"),
                                               (-3.0, 8.0, "non-inferior"), (-3.0, 6.0, "inconclusive")])
def test_noninferiority_known_answers(d, margin, verdict):
    res = stats.noninferiority(*pair(d), margin=margin)
    assert res["verdict"] == verdict  # non-inferior iff d − 4.129 > −M; inferior iff d + 4.129 < −M
    assert res["p_noninferiority"] == pytest.approx(1.0 - F2((d + margin) / SE), abs=TOL)
    # One-sided: a large *positive* d never makes it fail, unlike two-sided equivalence.
    assert stats.tost(*pair(30.0), margin=1.0)["verdict"] == "different"


@pytest.mark.parametrize("d,verdict", [(5.0, "better"), (-5.0, "worse"), (1.0, "inconclusive"),
                                       (-4.0, "inconclusive")])
def test_directional_known_answers(d, verdict):
    res = stats.directional(*pair(d))
    assert res["verdict"] == verdict  # better iff d > 4.129, worse iff d < −4.129
    assert res["p_better"] == pytest.approx(1.0 - F2(d / SE), abs=TOL)
    assert res["p_worse"] == pytest.approx(F2(d / SE), abs=TOL)
    assert res["margin"] is None


@pytest.mark.parametrize("d,verdict", [(7.0, "different"), (-7.0, "different"), (5.0, "inconclusive")])
def test_difference_known_answers(d, verdict):
    res = stats.difference(*pair(d))  # two-sided at 5%: different iff |d| > H95 = 6.085
    assert res["verdict"] == verdict
    assert res["p_difference"] == pytest.approx(2.0 * (1.0 - F2(abs(d) / SE)), abs=TOL)


@pytest.mark.parametrize("d", [0.0, 2.5, -7.0])
def test_smallest_margins_are_the_pass_fail_boundary(d):
    a, b = pair(d)
    m_eq = stats.smallest_equivalence_margin(stats.tost(a, b, 1.0)["ci"])
    assert m_eq == pytest.approx(abs(d) + H90, abs=TOL)
    assert stats.tost(a, b, m_eq * (1 + 1e-9))["verdict"] == "equivalent"
    assert stats.tost(a, b, m_eq * (1 - 1e-9))["verdict"] != "equivalent"
    m_ni = stats.smallest_noninferiority_margin(stats.noninferiority(a, b, 1.0)["ci"])
    assert m_ni == pytest.approx(max(0.0, H90 - d), abs=TOL)
    if m_ni > 0:
        assert stats.noninferiority(a, b, m_ni * (1 + 1e-9))["verdict"] == "non-inferior"
        assert stats.noninferiority(a, b, m_ni * (1 - 1e-9))["verdict"] != "non-inferior"
    assert stats.smallest_noninferiority_margin([0.5, 3.0]) == 0.0  # any M > 0 passes


def test_tost_is_the_ci_inclusion_rule():
    """p_TOST < α exactly when the (1 − 2α) CI lies inside (−M, M), on many random cases."""
    rng = np.random.default_rng(1)
    for _ in range(40):
        a = rng.normal(0, rng.uniform(0.1, 3), size=rng.integers(3, 12))
        b = rng.normal(rng.uniform(-2, 2), rng.uniform(0.1, 3), size=rng.integers(3, 12))
        res = stats.tost(a, b, margin=1.0)
        inside = -1.0 < res["ci"][0] and res["ci"][1] < 1.0
        assert (res["p_tost"] < 0.05) == inside


def test_no_spread_is_decided_exactly():
    same = np.array([3.0, 3.0])
    assert stats.tost(same, same, 1.0)["verdict"] == "equivalent"
    assert stats.tost(same + 2.0, same, 1.0)["verdict"] == "different"
    assert stats.directional(same + 0.5, same)["verdict"] == "better"
    assert stats.difference(same, same)["verdict"] == "inconclusive"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="margin"):
        stats.tost([1, 2, 3], [1, 2, 3], margin=0.0)
    with pytest.raises(ValueError, match="margin"):
        stats.noninferiority([1, 2, 3], [1, 2, 3], margin=float("nan"))
    with pytest.raises(ValueError, match="at least 2 runs"):
        stats.tost([1.0], [1.0, 2.0], margin=1.0)
    with pytest.raises(ValueError, match="finite"):
        stats.directional([1.0, float("inf")], [1.0, 2.0])
    with pytest.raises(ValueError, match="alpha"):
        stats.difference([1, 2], [1, 2], alpha=0.7)
    with pytest.raises(ValueError, match="stat must be one of"):
        stats.bootstrap_ci([1, 2, 3], "median", n_boot=100)
    with pytest.raises(ValueError, match="n_boot"):
        stats.bootstrap_ci([1, 2, 3], "mean", n_boot=5)
    with pytest.raises(ValueError, match="score_range"):
        stats.normalise([1.0], (5.0, 5.0))


def test_iqm_and_bootstrap():
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # middle of 1..8: 3,4,5,6
    assert stats.iqm([0, 0, 0, 100]) == pytest.approx(0.0)  # one outlier of four is trimmed
    x = np.array([1.0, 2.0, 3.0, 10.0, 4.0])
    assert stats.bootstrap_ci(x, "mean", n_boot=500, seed=3) == stats.bootstrap_ci(x, "mean", n_boot=500, seed=3)
    lo, hi = stats.bootstrap_ci(x, "mean", n_boot=500, seed=3)
    assert x.min() <= lo < x.mean() < hi <= x.max()
    assert stats.bootstrap_ci([2.0, 2.0, 2.0], "iqm", n_boot=200) == (2.0, 2.0)  # no spread: the point
    # a − b with b a constant shift of a by −1 resampled the same way is not guaranteed; constants are:
    assert stats.bootstrap_diff_ci([5.0, 5.0], [2.0, 2.0], "mean", n_boot=200) == (3.0, 3.0)


def test_cross_game_aggregate_known_answers():
    """Stratified bootstrap: with game A all 0 and game B all 1 (4 runs each) every stratified resample
    holds four 0s and four 1s, so the pooled IQM is exactly 0.5 and its CI is the point."""
    zeros, ones = np.zeros(4), np.ones(4)
    assert stats.aggregate_iqm([zeros, ones]) == 0.5
    assert stats.aggregate_iqm_ci([zeros, ones], n_boot=300) == (0.5, 0.5)
    # Negative control: resampling the pooled runs (not stratified) mixes the games and widens the CI.
    lo, hi = stats.bootstrap_ci(np.concatenate([zeros, ones]), "iqm", n_boot=300)
    assert lo < 0.5 < hi
    # Pooling, not averaging per game: games of different sizes.
    assert stats.aggregate_iqm([np.arange(4.0), np.arange(4.0, 12.0)]) == pytest.approx(5.5)  # 3..8
    # Difference of two algorithms, each (game, algorithm) resampled alone: constant shift −0.1.
    assert stats.aggregate_iqm_diff_ci([zeros, ones], [zeros + 0.1, ones + 0.1], n_boot=300) == pytest.approx(
        (-0.1, -0.1), abs=TOL)
    assert stats.normalise([0.0, 250.0, 500.0], (0.0, 500.0)).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="same games"):
        stats.aggregate_iqm_diff_ci([zeros], [zeros, ones], n_boot=300)


def test_production_bootstrap_count_is_the_documented_one():
    from pathlib import Path

    readme = (Path(cmp.__file__).parent / "README.md").read_text()
    assert cmp.N_BOOT == 10_000 and f"{cmp.N_BOOT:,} resamples" in readme


def test_run_scores_final_and_auc():
    # 10 frame bins' worth of episodes: returns 0 in the first half, 100 in the second half.
    episodes = [{"frames": f, "return": 0.0 if f <= 500 else 100.0} for f in range(10, 1001, 10)]
    s = cmp.run_scores(episodes, 1000, bins=10)
    assert s["final_score"] == pytest.approx(100.0)
    assert s["auc"] == pytest.approx(50.0)
    # Empty bins repeat the previous bin.
    s = cmp.run_scores([{"frames": 50, "return": 1.0}, {"frames": 950, "return": 3.0}], 1000, bins=10)
    assert s["curve"] == [1.0] * 9 + [3.0]


def _fake_run(root, algo, seed, returns, env="CartPole-v1", frames=1000, status="finished", **cfg_kw):
    cfg = Config(algo=algo, env=env, frames=frames, seed=seed, **cfg_kw)
    d = root / cmp.group_label(cfg) / f"seed{seed}"
    d.mkdir(parents=True)
    info = {"schema": "atari_check.run/1", "status": status, "label": cfg.label, "config": cfg.to_dict(),
            "env": {"title": env, "id": env}, "frames_done": frames, "elapsed_s": 1.0, "frames_per_s": 1000.0,
            "start_time": "2026-12-02T00:00:00+00:00"}
    (d / "run.json").write_text(json.dumps(info))
    lines = ["frames,update,env,return,length"]
    for i, r in enumerate(returns):
        lines.append(f"{(i + 1) * frames // len(returns)},1,0,{r},10")
    (d / "episodes.csv").write_text("\n".join(lines) + "\n")
    return d


def test_compare_known_answers(tmp_path, monkeypatch):
    """Synthetic runs: the equivalence pair is equal by construction, the negative control is not."""
    monkeypatch.setattr(cmp, "N_BOOT", 200)
    rng = np.random.default_rng(0)
    for seed in range(10):
        _fake_run(tmp_path, "a2c-proper", seed, [400 + rng.normal(0, 5)] * 20)
        _fake_run(tmp_path, "sql", seed, [400 + rng.normal(0, 5)] * 20)
        _fake_run(tmp_path, "sql-unscaled", seed, [100 + rng.normal(0, 5)] * 20)
    _fake_run(tmp_path, "sql", 99, [0.0] * 20, status="running")  # unfinished: must be skipped
    result = cmp.compare([tmp_path])
    assert result["schema"] == "equiv.compare/2"
    by = {(c["test"], c["metric"]): c for c in result["comparisons"]}
    for metric in ("final_score", "auc"):
        eq, neg = by[("fig3_equiv", metric)], by[("unscaled_control", metric)]
        assert eq["verdict"] == "equivalent" and eq["as_expected"] and eq["role"] == "equivalence"
        assert neg["verdict"] == "different" and neg["as_expected"] and neg["role"] == "negative_control"
        assert by[("unstable_sql", metric)]["verdict"] == "worse"
        for c in (eq, neg):
            assert c["margin"] == pytest.approx(50.0)  # 0.1 × (500 − 0) for CartPole-v1
            assert c["n_a"] == 10 and c["n_b"] == 10 and len(c["ci"]) == 2
            assert c["preregistered"] is True and c["rules_version"] == cmp.LATEST_RULES
        assert eq["smallest_margin"] == pytest.approx(max(abs(x) for x in eq["ci"]))
    assert any("status 'running'" in n for n in result["notes"])
    json.dumps(result)  # serialisable
    report = cmp.format_report(result)
    assert "equivalent   equivalent" in report and "different    different" in report


def test_compare_refuses_mixed_configs_and_unknown_margin(tmp_path):
    _fake_run(tmp_path / "x", "sql", 0, [1.0] * 5)
    _fake_run(tmp_path / "y", "sql", 1, [1.0] * 5, frames=2000)
    with pytest.raises(ValueError, match="differ in"):
        cmp.compare([tmp_path])
    with pytest.raises(ValueError, match="no score range"):
        cmp.margin_for("Taxi-v4", 0.1)
    with pytest.raises(ValueError, match="registered version"):
        cmp.compare([tmp_path / "x"], rules=99)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no run.json"):
        cmp.compare([tmp_path / "empty"])
    with pytest.raises(ValueError, match="no such directory"):
        cmp.compare([tmp_path / "missing"])


def test_value_coefficient_makes_its_own_group(tmp_path):
    """A2C with c = 100 is the A2C half of §6.3's 'c = 1/τ is unstable': its own group, not a config clash."""
    _fake_run(tmp_path, "a2c-proper", 0, [1.0] * 5)
    _fake_run(tmp_path, "a2c-proper", 0, [1.0] * 5, value_coef=100.0)
    runs, _ = cmp.load_runs([tmp_path])
    assert sorted(r["algo"] for r in runs) == ["a2c-proper", "a2c-proper-c100"]


def test_shifted_p_values_are_scipys_ttest_ind():
    """The one-fit shortcut equals refitting scipy.stats.ttest_ind on shifted data (to 1e-12)."""
    from scipy import stats as ss

    rng = np.random.default_rng(7)
    a, b = rng.normal(1.0, 2.0, size=7), rng.normal(0.0, 1.0, size=5)
    m = 1.5
    res = stats.tost(a, b, m)
    ref = lambda x, alt: ss.ttest_ind(x, b, equal_var=False, alternative=alt).pvalue
    assert res["p_lower"] == pytest.approx(ref(a + m, "greater"), abs=TOL)
    assert res["p_upper"] == pytest.approx(ref(a - m, "less"), abs=TOL)
    assert res["p_difference"] == pytest.approx(ref(a, "two-sided"), abs=TOL)
    lo, hi = ss.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=0.9)
    assert res["ci"] == pytest.approx([lo, hi], abs=TOL)
    assert stats.noninferiority(a, b, m)["p_noninferiority"] == pytest.approx(ref(a + m, "greater"), abs=TOL)
    assert stats.directional(a, b)["p_worse"] == pytest.approx(ref(a, "less"), abs=TOL)
