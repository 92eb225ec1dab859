"""Statistics for ``compare``: the project's decision rules on top of ``scipy.stats``.

Every test here is Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``)
on the difference of means across seeds, d = μ_a − μ_b, one- or two-sided;
this module only states which hypotheses are tested and how the p-values
become verdicts (α = 0.05 unless stated).  ``ci`` is always the (1 − 2α)
two-sided Welch CI of d (90% at α = 0.05): each one-sided test at level α
rejects exactly when that CI clears its bound.

* :func:`tost` — equivalence, two one-sided tests (Schuirmann 1987) with
  margin M > 0: H01 d ≤ −M, H02 d ≥ +M.
  ``equivalent``: both rejected (CI inside (−M, M)); ``different``: CI
  entirely outside [−M, M]; else ``inconclusive``.
* :func:`noninferiority` — "a is the same or better than b" with margin M:
  H0 d ≤ −M.  ``non-inferior``: rejected (CI lower bound > −M);
  ``inferior``: CI upper bound < −M; else ``inconclusive``.
* :func:`directional` — "a is better (worse) than b": H0 d ≤ 0 (d ≥ 0).
  ``better``: lower bound > 0; ``worse``: upper bound < 0; else ``inconclusive``.
* :func:`difference` — two-sided, H0 d = 0.  ``different``: p < α (the
  (1 − α) CI excludes 0); else ``inconclusive`` (never "same").
* :func:`smallest_equivalence_margin`, :func:`smallest_noninferiority_margin`
  — the infimum of the margins at which the verdict would be
  ``equivalent`` / ``non-inferior`` with the same data.

Aggregates: IQM (``scipy.stats.trim_mean``, 25% each side), percentile
bootstrap CIs over runs (``scipy.stats.bootstrap``), and the cross-game
aggregate of Agarwal et al. (2021, rliable): the IQM of min-max normalised
scores pooled over games, with a stratified bootstrap CI (runs resampled
within each game).  rliable itself was tried with the pinned stack and does
not import (arch 7.2.0 against pandas 3.1.1), so the stratified bootstrap is
``scipy.stats.bootstrap`` with one sample per game (scipy resamples each
sample independently, which is exactly the stratification).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _ss():
    """scipy.stats, imported on first use (~1.3 s here): ``compare``, the claims registry and every test
    process import this module whether or not they compute a statistic."""
    from scipy import stats

    return stats


STATS = ("mean", "iqm")


def _group(x, name: str) -> np.ndarray:
    x = np.asarray(x, float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"{name}: each group needs at least 2 runs (a 1-d array), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: scores must be finite, got {x.tolist()}")
    return x


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")


def _check_margin(margin: float) -> None:
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a finite number > 0, got {margin!r}")


def welch(a, b) -> tuple[float, float, float]:
    """(d̂ = mean a − mean b, Welch standard error, Welch–Satterthwaite df); a, b: shape (n,), n ≥ 2."""
    a, b = _group(a, "a"), _group(b, "b")
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))  # the standard error ttest_ind divides by
    diff = float(a.mean() - b.mean())
    if se == 0.0:
        return diff, 0.0, float(len(a) + len(b) - 2)
    return diff, se, float(_ss().ttest_ind(a, b, equal_var=False).df)


class _Welch:
    """One Welch fit (scipy.stats.ttest_ind once); p-values of shifted hypotheses from scipy.stats.t.

    H1 "d + shift > 0" has p = t.sf((d̂ + shift)/se, df): ttest_ind(a + shift, b, alternative='greater')
    is exactly this (a shift changes neither se nor df), without refitting for every margin.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.diff, self.se, self.df = welch(a, b)

    def p(self, shift: float, alternative: str) -> float:
        d = self.diff + shift
        if self.se == 0.0:  # no spread: the difference is known exactly
            return 0.0 if {"greater": d > 0, "less": d < 0, "two-sided": d != 0}[alternative] else 1.0
        z = d / self.se
        if alternative == "greater":
            return float(_ss().t.sf(z, self.df))
        if alternative == "less":
            return float(_ss().t.cdf(z, self.df))
        return float(min(1.0, 2.0 * _ss().t.sf(abs(z), self.df)))

    def ci(self, tail: float) -> tuple[float, float]:
        """The two-sided (1 − 2·tail) CI d̂ ± t_{1−tail}·se; the quantile is t.isf(tail), exact even where
        1 − tail rounds to 1 (tail < 1.1e-16)."""
        h = 0.0 if self.se == 0.0 else float(_ss().t.isf(tail, self.df)) * self.se
        return self.diff - h, self.diff + h


def _common(a, b, alpha: float) -> tuple[_Welch, dict]:
    _check_alpha(alpha)
    w = _Welch(_group(a, "a"), _group(b, "b"))
    return w, {"alpha": alpha, "diff": w.diff, "se": w.se, "df": w.df, "ci": list(w.ci(alpha)),
               "ci_level": 1.0 - 2.0 * alpha, "ci95": list(w.ci(0.025)), "p_difference": w.p(0.0, "two-sided")}


def tost(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Welch TOST of |μ_a − μ_b| < margin; a, b: per-run scores, shape (n,)."""
    _check_margin(margin)
    w, out = _common(a, b, alpha)
    p_lower = w.p(margin, "greater")   # H01: d ≤ −M
    p_upper = w.p(-margin, "less")     # H02: d ≥ +M
    p_tost = max(p_lower, p_upper)
    lo, hi = out["ci"]
    verdict = "equivalent" if p_tost < alpha else "different" if (lo > margin or hi < -margin) else "inconclusive"
    return {"verdict": verdict, "margin": float(margin), **out, "p_lower": p_lower, "p_upper": p_upper,
            "p_tost": p_tost}


def noninferiority(a, b, margin: float, alpha: float = 0.05) -> dict:
    """One-sided Welch test of H0 μ_a − μ_b ≤ −margin ("a is not worse than b by the margin")."""
    _check_margin(margin)
    w, out = _common(a, b, alpha)
    p = w.p(margin, "greater")
    p_inferior = w.p(margin, "less")  # H1: d < −M
    verdict = "non-inferior" if p < alpha else "inferior" if p_inferior < alpha else "inconclusive"
    return {"verdict": verdict, "margin": float(margin), **out, "p_noninferiority": p, "p_inferior": p_inferior}


def directional(a, b, alpha: float = 0.05) -> dict:
    """One-sided Welch tests of μ_a > μ_b and μ_a < μ_b (margin 0): ``better`` / ``worse`` / ``inconclusive``."""
    w, out = _common(a, b, alpha)
    p_better, p_worse = w.p(0.0, "greater"), w.p(0.0, "less")
    verdict = "better" if p_better < alpha else "worse" if p_worse < alpha else "inconclusive"
    return {"verdict": verdict, "margin": None, **out, "p_better": p_better, "p_worse": p_worse}


def difference(a, b, alpha: float = 0.05) -> dict:
    """Two-sided Welch test of μ_a ≠ μ_b at level α: ``different`` or ``inconclusive``."""
    _, out = _common(a, b, alpha)
    verdict = "different" if out["p_difference"] < alpha else "inconclusive"
    return {"verdict": verdict, "margin": None, **out}


def smallest_equivalence_margin(ci: Sequence[float]) -> float:
    """inf{M : TOST says ``equivalent``} = max(|lo|, |hi|) of the (1 − 2α) CI (it passes for every larger M)."""
    lo, hi = ci
    return float(max(abs(lo), abs(hi)))


def smallest_noninferiority_margin(ci: Sequence[float]) -> float:
    """inf{M > 0 : ``non-inferior``} = max(0, −lo) of the (1 − 2α) CI."""
    return float(max(0.0, -ci[0]))


# --------------------------------------------------------------------------- aggregates


def _stat(name: str):
    if name == "mean":
        return lambda x, axis=-1: np.mean(x, axis=axis)
    if name == "iqm":
        return lambda x, axis=-1: _ss().trim_mean(x, 0.25, axis=axis)
    raise ValueError(f"stat must be one of {STATS}, got {name!r}")


def iqm(x) -> float:
    """Interquartile mean: the mean of the middle 50% (``scipy.stats.trim_mean(x, 0.25)``)."""
    return float(_ss().trim_mean(np.asarray(x, float), 0.25))


def _check_boot(n_boot: int, level: float) -> None:
    if not (isinstance(n_boot, int) and n_boot >= 100):
        raise ValueError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _percentile_ci(samples: tuple[np.ndarray, ...], statistic, n_boot: int, seed: int,
                   level: float, names: str) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) arrays of the percentile CI of a vector-valued vectorised ``statistic``.

    Constant data give the point (every resample's statistic is the same finite number).  A CI that is
    not finite can only come from float64 overflow in the statistic on some resample (|scores| near
    1e308): refused with a ValueError naming ``names``, never reported as a CI.
    """
    res = _ss().bootstrap(samples, statistic, n_resamples=n_boot, method="percentile", vectorized=True,
                          confidence_level=level, rng=np.random.default_rng(seed))
    lo, hi = np.atleast_1d(res.confidence_interval.low), np.atleast_1d(res.confidence_interval.high)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        largest = max(float(np.abs(s).max()) for s in samples)
        raise ValueError(f"{names}: the bootstrap CI is not finite (low {lo.tolist()}, high {hi.tolist()}): the "
                         f"statistic overflows float64 on these scores (largest |score| {largest!r})")
    return lo, hi


def bootstrap_cis(x, stats_: Sequence[str] = STATS, *, n_boot: int = 10_000, seed: int = 0,
                  level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs over runs of each of ``stats_`` ('mean', 'iqm'), from the same resamples.

    x: per-run scores, shape (n,).  One ``scipy.stats.bootstrap`` call; each CI equals the one a
    separate call with the same seed gives (the resample indices depend only on the seed and n).
    """
    _check_boot(n_boot, level)
    fs = [_stat(name) for name in stats_]
    lo, hi = _percentile_ci((_group(x, "x"),), lambda s, axis=-1: np.stack([f(s, axis=axis) for f in fs]),
                            n_boot, seed, level, "x")
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(stats_)}


def bootstrap_diff_cis(a, b, stats_: Sequence[str] = STATS, *, n_boot: int = 10_000, seed: int = 0,
                       level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of stat(a) − stat(b), each group's runs resampled independently."""
    _check_boot(n_boot, level)
    fs = [_stat(name) for name in stats_]
    lo, hi = _percentile_ci((_group(a, "a"), _group(b, "b")), lambda x, y, axis=-1: np.stack(
        [f(x, axis=axis) - f(y, axis=axis) for f in fs]), n_boot, seed, level, "a, b")
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(stats_)}


def bootstrap_ci(x, stat: str = "mean", *, n_boot: int = 10_000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat`` ('mean' or 'iqm') over runs, x: shape (n,); fixed seed."""
    return bootstrap_cis(x, (stat,), n_boot=n_boot, seed=seed, level=level)[stat]


def bootstrap_diff_ci(a, b, stat: str = "mean", *, n_boot: int = 10_000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of stat(a) − stat(b), resampling each group's runs independently."""
    return bootstrap_diff_cis(a, b, (stat,), n_boot=n_boot, seed=seed, level=level)[stat]


def normalise(scores, score_range: tuple[float, float]) -> np.ndarray:
    """Min-max normalised scores (x − lo) / (hi − lo): 0 at the range's low end, 1 at its high end."""
    lo, hi = score_range
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"score_range must be finite (lo, hi) with hi > lo, got {score_range!r}")
    return (np.asarray(scores, float) - lo) / (hi - lo)


def _pooled_iqm(*games, axis=-1):
    return _ss().trim_mean(np.concatenate(games, axis=axis), 0.25, axis=axis)


def aggregate_iqm(games: Sequence) -> float:
    """IQM of normalised scores pooled over games (rliable's ``aggregate_iqm``); games: list of shape-(n_g,)."""
    return float(_pooled_iqm(*_games(games)))


def _games(games: Sequence) -> tuple[np.ndarray, ...]:
    samples = tuple(_group(g, f"games[{i}]") for i, g in enumerate(games))
    if not samples:
        raise ValueError(f"games must hold at least one game's scores, got {games!r}")
    return samples


def aggregate_iqm_ci(games: Sequence, *, n_boot: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """Stratified percentile bootstrap CI of :func:`aggregate_iqm`: runs resampled within each game."""
    _check_boot(n_boot, level)
    samples = _games(games)
    lo, hi = _percentile_ci(samples, _pooled_iqm, n_boot, seed, level, "games")
    return float(lo[0]), float(hi[0])


def aggregate_iqm_diff_ci(games_a: Sequence, games_b: Sequence, *, n_boot: int = 10_000, seed: int = 0,
                          level: float = 0.95) -> tuple[float, float]:
    """Stratified bootstrap CI of aggregate_iqm(a) − aggregate_iqm(b) (each (game, algorithm) resampled alone)."""
    _check_boot(n_boot, level)
    if len(games_a) != len(games_b) or not games_a:
        raise ValueError(f"games_a and games_b must cover the same games, got {len(games_a)} and {len(games_b)}")
    k = len(games_a)
    samples = tuple(_group(g, f"games_a[{i}]") for i, g in enumerate(games_a)) + tuple(
        _group(g, f"games_b[{i}]") for i, g in enumerate(games_b))

    def stat(*xs, axis=-1):
        return _pooled_iqm(*xs[:k], axis=axis) - _pooled_iqm(*xs[k:], axis=axis)

    lo, hi = _percentile_ci(samples, stat, n_boot, seed, level, "games_a, games_b")
    return float(lo[0]), float(hi[0])
