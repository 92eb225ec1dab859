"""atari_check statistics: Student t, TOST verdicts, IQM, bootstrap, per-run scores, compare.json.

Tolerances: the t CDF is computed by a continued fraction to ~1e-14 and
compared with 6-significant-digit table values (so 5e-6 absolute on the
quantile); closed forms of the incomplete beta are checked to 1e-12.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from atari_check import compare as cmp
from atari_check import stats
from atari_check.config import Config

# Two-sided 95% / one-sided 95% Student-t quantiles from standard tables (6 significant digits).
T_TABLE = [
    (0.975, 1, 12.7062), (0.975, 2, 4.30265), (0.975, 10, 2.22814), (0.975, 30, 2.04227),
    (0.95, 9, 1.83311), (0.95, 18, 1.73406), (0.95, 30, 1.69726), (0.99, 5, 3.36493),
]


@pytest.mark.parametrize("q,df,t", T_TABLE)
def test_t_quantiles_match_tables(q, df, t):
    assert abs(stats.t_ppf(q, df) - t) < 5e-5 * max(1.0, t)
    assert abs(stats.t_cdf(t, df) - q) < 1e-5


def test_t_cdf_limits_and_symmetry():
    for df in (1.0, 3.7, 25.0):
        assert stats.t_cdf(0.0, df) == pytest.approx(0.5, abs=1e-15)
        for t in (0.3, 1.7, 8.0):
            assert stats.t_cdf(t, df) + stats.t_cdf(-t, df) == pytest.approx(1.0, abs=1e-13)
    # df -> infinity: the standard normal, Phi(1.959964) = 0.975
    assert stats.t_cdf(1.959964, 1e7) == pytest.approx(0.975, abs=1e-6)
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/pi
    for t in (-3.0, 0.5, 2.0):
        assert stats.t_cdf(t, 1.0) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)


def test_betainc_closed_forms():
    for x in (0.01, 0.3, 0.77, 0.999):
        assert stats.betainc(1.0, 1.0, x) == pytest.approx(x, abs=1e-12)
        assert stats.betainc(3.0, 1.0, x) == pytest.approx(x**3, abs=1e-12)
        assert stats.betainc(1.0, 4.0, x) == pytest.approx(1 - (1 - x) ** 4, abs=1e-12)
    with pytest.raises(ValueError, match="x"):
        stats.betainc(1.0, 1.0, 1.5)


def test_tost_equivalent_different_inconclusive():
    rng = np.random.default_rng(0)
    a = 100 + rng.normal(0, 2, size=10)
    b = 100.5 + rng.normal(0, 2, size=10)
    res = stats.tost(a, b, margin=5.0)
    assert res["verdict"] == "equivalent" and res["p_tost"] < 0.05
    assert -5.0 < res["ci"][0] < res["ci"][1] < 5.0
    # Negative control: a shift of 10 margins must be called different.
    res = stats.tost(a, b + 50.0, margin=5.0)
    assert res["verdict"] == "different" and res["ci"][1] < -5.0 and res["p_difference"] < 1e-6
    # Spread far larger than the margin with 3 runs: no verdict either way.
    c = 100 + rng.normal(0, 30, size=3)
    d = 100 + rng.normal(0, 30, size=3)
    assert stats.tost(c, d, margin=5.0)["verdict"] == "inconclusive"


def test_tost_is_the_ci_inclusion_rule():
    """p_TOST < α exactly when the (1 − 2α) CI lies inside (−M, M), on many random cases."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = rng.normal(0, rng.uniform(0.1, 3), size=rng.integers(3, 12))
        b = rng.normal(rng.uniform(-2, 2), rng.uniform(0.1, 3), size=rng.integers(3, 12))
        res = stats.tost(a, b, margin=1.0)
        inside = -1.0 < res["ci"][0] and res["ci"][1] < 1.0
        assert (res["p_tost"] < 0.05) == inside


def test_tost_rejects_bad_margin_and_tiny_groups():
    with pytest.raises(ValueError, match="margin"):
        stats.tost([1, 2, 3], [1, 2, 3], margin=0.0)
    with pytest.raises(ValueError, match="at least 2 runs"):
        stats.tost([1.0], [1.0, 2.0], margin=1.0)


def test_iqm_and_bootstrap():
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # middle of 1..8: 3,4,5,6
    assert stats.iqm([0, 0, 0, 100]) == pytest.approx(0.0)  # one outlier of four is trimmed
    x = np.array([1.0, 2.0, 3.0, 10.0, 4.0])
    assert stats.bootstrap_ci(x, np.mean, seed=3) == stats.bootstrap_ci(x, np.mean, seed=3)
    lo, hi = stats.bootstrap_ci(x, np.mean, seed=3)
    assert x.min() <= lo < x.mean() < hi <= x.max()


def test_run_scores_final_and_auc():
    # 10 frame bins' worth of episodes: returns 0 in the first half, 100 in the second half.
    episodes = [{"frames": f, "return": 0.0 if f <= 500 else 100.0} for f in range(10, 1001, 10)]
    s = cmp.run_scores(episodes, 1000, bins=10)
    assert s["final_score"] == pytest.approx(100.0)
    assert s["auc"] == pytest.approx(50.0)
    # Empty bins repeat the previous bin.
    s = cmp.run_scores([{"frames": 50, "return": 1.0}, {"frames": 950, "return": 3.0}], 1000, bins=10)
    assert s["curve"] == [1.0] * 9 + [3.0]


def _fake_run(root, algo, seed, returns, env="CartPole-v1", frames=1000, status="finished"):
    cfg = Config(algo=algo, env=env, frames=frames, seed=seed)
    d = root / algo / f"seed{seed}"
    d.mkdir(parents=True)
    info = {"schema": "atari_check.run/1", "status": status, "label": cfg.label, "config": cfg.to_dict(),
            "env": {"title": env, "id": env}, "frames_done": frames, "elapsed_s": 1.0, "frames_per_s": 1000.0}
    (d / "run.json").write_text(json.dumps(info))
    lines = ["frames,update,env,return,length"]
    for i, r in enumerate(returns):
        lines.append(f"{(i + 1) * frames // len(returns)},1,0,{r},10")
    (d / "episodes.csv").write_text("\n".join(lines) + "\n")
    return d


def test_compare_known_answers(tmp_path):
    """Synthetic runs: the equivalence pair is equal by construction, the negative control is not."""
    rng = np.random.default_rng(0)
    for seed in range(10):
        level = 400 + rng.normal(0, 5)
        _fake_run(tmp_path, "a2c-proper", seed, [level] * 20)
        _fake_run(tmp_path, "sql", seed, [400 + rng.normal(0, 5)] * 20)
        _fake_run(tmp_path, "sql-unscaled", seed, [100 + rng.normal(0, 5)] * 20)
    _fake_run(tmp_path, "sql", 99, [0.0] * 20, status="running")  # unfinished: must be skipped
    result = cmp.compare([tmp_path])
    assert result["schema"] == "equiv.compare/1"
    by = {(c["role"], c["metric"]): c for c in result["comparisons"]}
    for metric in ("final_score", "auc"):
        eq, neg = by[("equivalence", metric)], by[("negative_control", metric)]
        assert eq["verdict"] == "equivalent" and eq["as_expected"]
        assert neg["verdict"] == "different" and neg["as_expected"]
        for c in (eq, neg):
            assert c["margin"] == pytest.approx(50.0)  # 0.1 × (500 − 0) for CartPole-v1
            assert c["n_a"] == 10 and c["n_b"] == 10 and len(c["ci"]) == 2
    assert any("status 'running'" in n for n in result["notes"])
    json.dumps(result)  # serialisable
    report = cmp.format_report(result)
    assert "equivalent (equivalent)" in report and "different (different)" in report


def test_compare_refuses_mixed_configs_and_unknown_margin(tmp_path):
    _fake_run(tmp_path / "x", "sql", 0, [1.0] * 5)
    _fake_run(tmp_path / "y", "sql", 1, [1.0] * 5, frames=2000)
    with pytest.raises(ValueError, match="differ in"):
        cmp.compare([tmp_path])
    with pytest.raises(ValueError, match="no score range"):
        cmp.margin_for("Taxi-v4", 0.1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no run.json"):
        cmp.compare([tmp_path / "empty"])
    with pytest.raises(ValueError, match="no such directory"):
        cmp.compare([tmp_path / "missing"])


def test_compare_and_plot_cli_write_their_outputs(tmp_path, capsys):
    from atari_check import cli

    rng = np.random.default_rng(2)
    for seed in range(3):
        _fake_run(tmp_path / "runs", "a2c-proper", seed, list(rng.normal(200, 10, size=30)))
        d = _fake_run(tmp_path / "runs", "sql", seed, list(rng.normal(200, 10, size=30)))
    (d / "lockstep.csv").write_text(
        "frames,update,pair,cos_sampled,rel_diff_sampled,cos_expected,rel_diff_expected\n"
        "100,1,pg_vs_sql,0.99,0.01,1,1e-15\n100,1,a2c_vs_sql_matched,0.98,0.02,1,2e-15\n")
    assert cli.main(["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "margin" in printed and "a2c-proper" in printed
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert result["schema"] == "equiv.compare/1" and len(result["comparisons"]) == 2  # final_score, auc
    assert (tmp_path / "cmp" / "compare.txt").read_text() == cmp.format_report(result)
    png = tmp_path / "fig" / "curves.png"
    assert cli.main(["plot", str(tmp_path / "runs"), "--out", str(png)]) == 0
    for path in (png, png.with_name("curves_lockstep.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vectorised_bootstrap_matches_the_definition():
    rng = np.random.default_rng(5)
    x = rng.normal(size=7)
    for stat in (np.mean, stats.iqm):
        fast = stats.bootstrap_ci(x, stat, n_boot=500, seed=1)
        slow = stats.bootstrap_ci(x, lambda v, f=stat: float(f(v)), n_boot=500, seed=1)  # generic path
        assert fast == pytest.approx(slow, abs=1e-12)
