"""Statistics for ``compare``: Welch t, TOST equivalence test, IQM, bootstrap CIs (numpy only).

The Student-t CDF is computed from the regularised incomplete beta function
(continued fraction, Numerical Recipes §6.4), accurate to ~1e-12; tests
check it against tabulated quantiles.  scipy is deliberately not a
dependency.

Equivalence test (TOST, Schuirmann 1987) for the difference of means
d = μ_a − μ_b with margin M > 0:

    H01: d ≤ −M   rejected if  p_lower = P(T ≥ (d̂ + M)/se) < α
    H02: d ≥ +M   rejected if  p_upper = P(T ≤ (d̂ − M)/se) < α

with Welch's standard error and Welch–Satterthwaite degrees of freedom.
``p_tost = max(p_lower, p_upper)``; equivalently the (1 − 2α) confidence
interval of d lies inside (−M, M).

Verdicts (α = 0.05 unless stated):

* ``equivalent``   TOST rejects both: the 90% CI of d is inside (−M, M).
* ``different``    the 90% CI of d lies entirely outside [−M, M]: the
  difference exceeds the margin (one-sided test at level α).
* ``inconclusive`` anything else (too few runs or too much spread to say).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0, 0 ≤ x ≤ 1."""
    if not (a > 0 and b > 0):
        raise ValueError(f"betainc needs a, b > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs 0 <= x <= 1, got x={x}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df`` > 0 degrees of freedom (real df allowed, for Welch)."""
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t (bisection on :func:`t_cdf`, to ~1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    lo, hi = -1e7, 1e7
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(d̂ = mean a − mean b, Welch standard error, Welch–Satterthwaite df)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"each group needs at least 2 runs, got {len(a)} and {len(b)}")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    diff = float(a.mean() - b.mean())
    if se == 0.0:
        return diff, 0.0, float(len(a) + len(b) - 2)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return diff, se, float(df)


def tost(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Welch TOST of |μ_a − μ_b| < margin, with the verdict rule of the module docstring."""
    if not (margin > 0 and math.isfinite(margin)):
        raise ValueError(f"margin must be a finite number > 0, got {margin!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
    diff, se, df = welch(a, b)
    if se == 0.0:  # no spread at all: the difference is known exactly
        p_lower = 0.0 if diff > -margin else 1.0
        p_upper = 0.0 if diff < margin else 1.0
        p_diff = 0.0 if diff != 0.0 else 1.0
        ci90 = ci95 = (diff, diff)
    else:
        p_lower = 1.0 - t_cdf((diff + margin) / se, df)
        p_upper = t_cdf((diff - margin) / se, df)
        p_diff = 2.0 * min(t_cdf(diff / se, df), 1.0 - t_cdf(diff / se, df))
        h90 = t_ppf(1.0 - alpha, df) * se
        h95 = t_ppf(1.0 - alpha / 2.0, df) * se
        ci90, ci95 = (diff - h90, diff + h90), (diff - h95, diff + h95)
    p_tost = max(p_lower, p_upper)
    if p_tost < alpha:
        verdict = "equivalent"
    elif ci90[0] > margin or ci90[1] < -margin:
        verdict = "different"
    else:
        verdict = "inconclusive"
    return {
        "verdict": verdict, "margin": float(margin), "alpha": alpha, "diff": diff, "se": se, "df": df,
        "ci": [float(ci90[0]), float(ci90[1])], "ci_level": 1.0 - 2.0 * alpha,
        "ci95": [float(ci95[0]), float(ci95[1])], "p_lower": float(p_lower), "p_upper": float(p_upper),
        "p_tost": float(p_tost), "p_difference": float(p_diff),
    }


def iqm(x) -> float:
    """Interquartile mean: the mean of the middle 50% (25% trimmed each side, as scipy.stats.trim_mean)."""
    x = np.sort(np.asarray(x, float))
    k = int(0.25 * len(x))
    return float(x[k:len(x) - k].mean())


def _rowwise(samples: np.ndarray, stat: Callable[[np.ndarray], float]) -> np.ndarray:
    """stat applied to every row of ``samples`` (vectorised for the mean and the IQM)."""
    if stat is np.mean:
        return samples.mean(axis=1)
    if stat is iqm:
        k = int(0.25 * samples.shape[1])
        return np.sort(samples, axis=1)[:, k:samples.shape[1] - k].mean(axis=1)
    return np.array([stat(row) for row in samples])


def bootstrap_ci(x, stat: Callable[[np.ndarray], float], *, n_boot: int = 10_000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat`` over runs (fixed seed: deterministic)."""
    x = np.asarray(x, float)
    rng = np.random.default_rng(seed)
    values = _rowwise(x[rng.integers(0, len(x), size=(n_boot, len(x)))], stat)
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_diff_ci(a, b, stat: Callable[[np.ndarray], float], *, n_boot: int = 10_000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of stat(a) − stat(b), resampling each group's runs independently."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(n_boot, len(a)))
    ib = rng.integers(0, len(b), size=(n_boot, len(b)))
    values = _rowwise(a[ia], stat) - _rowwise(b[ib], stat)
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
