"""Check functions of the conformance kit: each takes an adapter and raises ``ConformanceError``.

Every expectation is exact: the paths of a small generated MDP are enumerated (``_cases``) and weighted
by their probabilities, and the ground truth comes from :mod:`equiv.mdp` (dynamic programming, linear
solves) or from the explicit loops of ``_truth``.  Hypothesis draws the MDPs derandomized (the same
examples in every run) and shrinks a failure to a small case, which the error message prints.

Tolerances: ``adapter.rtol`` (default 1e-9) relative to the scale of the compared quantity (largest of
|R|, |Q̄|, |V|, τ·KL or the gradient's sup norm).  Exact float64 enumeration and DP agree to ~1e-13 of
that scale, so 1e-9 leaves four orders of headroom; every wrong variant of the bug catalogue misses by
more than 1e-4 (see tests/test_kit.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from equiv.boltzmann import boltzmann_log_policy as _true_log_policy
from equiv.boltzmann import soft_value as _true_soft_value
from equiv.mdp import (
    FiniteMDP,
    boltzmann_backup,
    boltzmann_log_policy_of,
    expected_nstep_soft_target,
    policy_kl,
)

from . import _cases
from ._truth import a2c_reference_losses
from .contracts import A2CBatch, SoftQBatch, TargetBatch, Unsupported

__all__ = [
    "CHECKS",
    "Classification",
    "ConformanceError",
    "NotApplicable",
    "check_a2c_proper",
    "check_boltzmann",
    "check_eq65",
    "check_hard_limit",
    "check_lambda_target",
    "check_reward_scaling",
    "check_soft_target",
    "check_truncation",
    "classify_pg_loss",
    "default_examples",
]

EXAMPLES_ENV = "EQUIV_TESTING_EXAMPLES"
DEFAULT_EXAMPLES = 8


def default_examples() -> int:
    """Examples per check: ``$EQUIV_TESTING_EXAMPLES`` if set (ask for more there), else 8."""
    raw = os.environ.get(EXAMPLES_ENV)
    if raw is None:
        return DEFAULT_EXAMPLES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{EXAMPLES_ENV} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{EXAMPLES_ENV} must be a positive integer, got {raw!r}")
    return value


class NotApplicable(Exception):
    """The adapter has no method (or no supported option) for this check."""


class ConformanceError(AssertionError):
    """A check failed: which equation, the case (shrunk by hypothesis), expected vs got, error vs tol."""

    def __init__(self, check: str, equation: str, what: str, *, error: float, tol: float,
                 expected: object = None, got: object = None, case: str = "", finding: str = ""):
        self.check, self.equation, self.what = check, equation, what
        self.error, self.tol, self.finding = error, tol, finding
        lines = [f"{check}: {equation} does not hold: {what}",
                 f"  relative error {error:.3e} > tolerance {tol:.1e}"]
        if finding:
            lines.append(f"  {finding}")
        if expected is not None:
            lines.append(f"  expected: {_short(expected)}")
            lines.append(f"  got:      {_short(got)}")
        if case:
            lines.append("  case:\n    " + case.replace("\n", "\n    "))
        super().__init__("\n".join(lines))


def _short(x: object) -> str:
    if isinstance(x, torch.Tensor):
        x = x.detach()
        flat = x.flatten()[:12].tolist()
        return f"shape {tuple(x.shape)} {[round(v, 8) if isinstance(v, float) else v for v in flat]}"
    return f"{x!s:.300}"


def _settings(examples: int | None, phases: list[Phase]) -> settings:
    return settings(
        max_examples=examples or default_examples(),
        derandomize=True,
        database=None,
        deadline=None,
        phases=phases,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


def _execute(run: Callable[[], None], examples: int | None, shrink: bool) -> None:
    """Run a ``@given`` check: derandomized examples, then the explicit (hand-picked, generic) ones.

    With ``shrink`` a failure among the generated examples is shrunk to a minimal case before it is
    reported (explicit examples are never shrunk, so they run last, as a backstop); without it the
    explicit examples run first and the first failure is reported as found (faster).
    """
    for phases in ([Phase.generate, Phase.shrink], [Phase.explicit]) if shrink else ([Phase.explicit, Phase.generate],):
        # hypothesis refuses a second @settings on one test; this run is a fresh configuration of it.
        for target in (run, getattr(getattr(run, "hypothesis", None), "inner_test", None)):
            if target is not None and hasattr(target, "_hypothesis_internal_settings_applied"):
                del target._hypothesis_internal_settings_applied
        _settings(examples, phases)(run)()


def _method(adapter: object, name: str) -> Callable:
    fn = getattr(adapter, name, None)
    if fn is None:
        raise NotApplicable(f"the adapter has no {name}()")
    return fn


def _rtol(adapter: object) -> float:
    return float(getattr(adapter, "rtol", 1e-9))


def _ref_ok(adapter: object) -> bool:
    return bool(getattr(adapter, "reference_policy", False))


def _entropy(adapter: object) -> bool:
    """``regularizer = "entropy"``: the adapter's targets use the entropy bonus τH (uniform π̄), i.e.
    V(s') = τ log Σ_a' exp(Q̄/τ) = V_Q̄(s') + τ log A (Eq. (83), corrected), as SAC-style targets do;
    the n-step targets then add τH at every state after s_t (Σ γ^d (r + τH) + γ^m V_ent)."""
    value = getattr(adapter, "regularizer", "kl")
    if value not in ("kl", "entropy"):
        raise ValueError(f"adapter.regularizer must be 'kl' or 'entropy', got {value!r}")
    if value == "entropy" and _ref_ok(adapter):
        raise ValueError("adapter.regularizer='entropy' needs reference_policy = False (uniform π̄)")
    return value == "entropy"


def _entropy_shift(case: _cases.Case, m: int = 1) -> torch.Tensor:
    """E[y_entropy − y_KL | s, a] for the m-step target: τ log A Σ_{d=1..m} γ^d P(s_{t+d} not terminal | s, a).

    With a uniform π̄, τH = τ log A − τKL at every state reached after s_t (the bootstrap's V included),
    under the on-policy π^B_Q̄; by dynamic programming over the survival probabilities.
    """
    mdp = case.mdp
    pi = boltzmann_log_policy_of(mdp, case.q_bar).exp()
    p_d = mdp.continuation.sum(-1)  # d = 1: P(s_{t+1} not terminal | s, a)
    total, discount = torch.zeros_like(p_d), 1.0
    for _ in range(m):
        discount *= mdp.gamma
        total = total + discount * p_d
        # P(s_{t+d+1} alive | s, a) = Σ_{s'} cont(s, a, s') Σ_{a'} π(a'|s') P(s_{t+d} alive | s', a')
        p_d = torch.einsum("sat,t->sa", mdp.continuation, (pi * p_d).sum(-1))
    return mdp.tau * math.log(mdp.num_actions) * total


def _compare(check: str, equation: str, what: str, expected: torch.Tensor, got: object, scale: float,
             tol: float, case: _cases.Case | None, finding: str = "") -> float:
    """Raise ConformanceError unless |got − expected| ≤ tol · scale everywhere; return the relative error."""
    desc = case.describe() if case is not None else ""
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        raise ConformanceError(check, equation, f"{what}: expected shape {tuple(expected.shape)}, got "
                               f"{getattr(got, 'shape', type(got).__name__)}", error=math.inf, tol=tol, case=desc)
    got = got.detach().to(expected.dtype)
    diff = (got - expected.detach()).abs()
    if diff.numel() == 0:
        return 0.0
    error = math.inf if not bool(torch.isfinite(got).all()) else float(diff.max()) / max(scale, 1e-300)
    if not error <= tol:
        raise ConformanceError(check, equation, what, error=error, tol=tol, expected=expected, got=got,
                               case=desc, finding=finding)
    return error


def _probe(fn: Callable[[object], object], options: list) -> list:
    """The options for which ``fn`` does not raise Unsupported (a tiny call per option)."""
    ok = []
    for option in options:
        try:
            fn(option)
        except Unsupported:
            continue
        ok.append(option)
    return ok


def _soft_pieces(mdp: FiniteMDP, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log π^B_Q [S, A], KL(s) [S], V_Q(s) [S]) with equiv.mdp's conventions (0 at terminal states)."""
    log_pi = boltzmann_log_policy_of(mdp, q)
    kl = policy_kl(mdp, log_pi.exp())
    v = torch.where(mdp.terminal_mask, 0.0, _true_soft_value(q, mdp.tau, mdp.ref_probs))
    return log_pi, kl, v


def _target_batch(case: _cases.Case, cols: _cases.Columns, adapter: object, q_bar=None) -> TargetBatch:
    q_bar = case.q_bar if q_bar is None else q_bar
    ref = case.mdp.ref_probs
    use_ref = _ref_ok(adapter)
    return TargetBatch(
        rewards=cols.rewards,
        q=q_bar[cols.states],
        next_q=q_bar[cols.next_states],
        terminated=cols.terminated,
        truncated=cols.truncated,
        ref_policy=ref[cols.states] if use_ref else None,
        next_ref_policy=ref[cols.next_states] if use_ref else None,
        actions=cols.actions,
    )


def _target_scale(case: _cases.Case) -> float:
    _, kl, v = _soft_pieces(case.mdp, case.q_bar)
    return float(max(case.mdp.rewards.abs().max(), case.q_bar.abs().max(), v.abs().max(),
                     case.mdp.tau * kl.max(), 1.0))


def _conditional_means(y: torch.Tensor, cols: _cases.Columns, t: int, S: int, A: int):
    """E[y_t | s_t, a_t] over the columns alive at row t: (means [S, A], mask [S, A] of pairs reached)."""
    alive = cols.alive[t]
    idx = (cols.states[t] * A + cols.actions[t])[alive]
    w = cols.weight[alive]
    num = torch.zeros(S * A, dtype=y.dtype).index_add_(0, idx, w * y[t][alive].detach().to(y.dtype))
    den = torch.zeros(S * A, dtype=y.dtype).index_add_(0, idx, w)
    mask = den > 0
    return (num / torch.where(mask, den, 1.0)).view(S, A), mask.view(S, A)


def _windowed_truth(case: _cases.Case, m: int) -> torch.Tensor:
    """[T_{π^B_Q̄, m} Q̄] as E[y | s, a] of the m-step soft target, Eqs. (40)-(41), (46)."""
    return expected_nstep_soft_target(case.mdp, case.q_bar, m)


# --------------------------------------------------------------------------------------------------
# Soft value and Boltzmann policy


def check_boltzmann(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Eqs. (29)-(30): V_Q = τ log E_π̄ exp(Q/τ) and log π^B_Q, including |Q|/τ up to 1e5 (overflow)."""
    fns = {name: getattr(adapter, name, None) for name in ("soft_value", "boltzmann_log_policy")}
    if not any(fns.values()):
        raise NotApplicable("the adapter has neither soft_value() nor boltzmann_log_policy()")
    tol = _rtol(adapter)

    @example(seed=1, A=3, B=2, q_scale=1e3, tau=0.01)
    @example(seed=2, A=3, B=2, q_scale=1.0, tau=0.3)
    @given(seed=st.integers(0, 2**32 - 1), A=st.integers(2, 5), B=st.integers(1, 4),
           q_scale=st.sampled_from([1.0, 10.0, 1e3]), tau=st.sampled_from([0.01, 0.3, 1.0, 7.0, 100.0]))
    def run(seed, A, B, q_scale, tau):
        rng = np.random.default_rng(seed)
        q = _cases._t(rng.normal(0, q_scale, (B, A)))
        ref = None
        if _ref_ok(adapter):
            ref = _cases._t(rng.dirichlet(np.ones(A), size=B))
            ref = ref / ref.sum(-1, keepdim=True)
        desc = f"q={q.tolist()} tau={tau} ref_policy={'uniform' if ref is None else ref.tolist()}"
        log_ref = torch.log(ref) if ref is not None else torch.full((B, A), -math.log(A), dtype=q.dtype)
        scale = float(q.abs().max()) + tau * float(log_ref.abs().max()) + 1e-300
        if fns["soft_value"] is not None:
            got = fns["soft_value"](q, tau, ref)
            _compare_desc("boltzmann", "Eq. (29) V_Q = τ log E_π̄ exp(Q/τ)", "soft value",
                          _true_soft_value(q, tau, ref), got, scale, tol, desc)
        if fns["boltzmann_log_policy"] is not None:
            got = fns["boltzmann_log_policy"](q, tau, ref)
            _compare_desc("boltzmann", "Eq. (30) log π^B_Q = log π̄ + (Q − V_Q)/τ", "Boltzmann log policy",
                          _true_log_policy(q, tau, ref), got, scale / tau, tol, desc)

    _execute(run, examples, shrink)


def _compare_desc(check, equation, what, expected, got, scale, tol, desc):
    case = _cases.Case.__new__(_cases.Case)
    case.describe = lambda: desc  # type: ignore[method-assign]
    _compare(check, equation, what, expected, got, scale, tol, case)


# --------------------------------------------------------------------------------------------------
# Targets


def _soft_target_fn(adapter: object) -> Callable:
    return _method(adapter, "soft_target")


def _probe_case(adapter: object) -> tuple[_cases.Case, _cases.Columns]:
    case = _fixed_case(adapter)
    cols = _cases.enumerate_columns(case.mdp, boltzmann_log_policy_of(case.mdp, case.q_bar).exp(),
                                    _cases.all_pairs(case.mdp), 3, case.seed)
    return case, cols


def _fixed_case(adapter: object, seed: int = 7, S: int = 2, A: int = 2, gamma: float = 0.9, tau: float = 0.7,
                terminal: bool = True) -> _cases.Case:
    """A deterministic small case (for probing options and for classify_pg_loss)."""
    rng = np.random.default_rng(seed)
    n_states = S + int(terminal)
    P = _cases._t(rng.dirichlet(np.ones(n_states), size=(n_states, A)))
    term = torch.zeros(n_states, dtype=torch.bool)
    term[-1] = terminal
    ref = None
    if _ref_ok(adapter):
        ref = _cases._t(rng.dirichlet(np.ones(A), size=n_states))
        ref = ref / ref.sum(-1, keepdim=True)
    mdp = FiniteMDP(P / P.sum(-1, keepdim=True), _cases._t(rng.normal(0, 1, (n_states, A))), gamma=gamma,
                    tau=tau, ref_policy=ref, terminal=term)
    return _cases.Case(mdp, _cases._t(rng.normal(0, 2, (n_states, A))), seed)


def _rich_case(adapter: object, terminal: bool = True) -> _cases.Case:
    """The explicit first example of the MDP checks: 2 live states (+ a terminal one), 3 actions, generic."""
    return _fixed_case(adapter, seed=3, S=2, A=3, gamma=0.9, tau=0.7, terminal=terminal)


def _soft_target_and_supported_n(adapter: object):
    """The adapter's n-step soft target and the n of 1, 2, 3, None (whole segment) it accepts, probed on
    one small case; NotApplicable if it accepts none."""
    fn = _soft_target_fn(adapter)
    case0, cols0 = _probe_case(adapter)
    batch0 = _target_batch(case0, cols0, adapter)
    ns = _probe(lambda n: fn(batch0, gamma=0.9, tau=0.7, n=n), [1, 2, 3, None])
    if not ns:
        raise NotApplicable("soft_target supports no n among 1, 2, 3, None")
    return fn, ns


def check_soft_target(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Eq. (46) (n = 1: Eq. (45)): E[y_t | s_t, a_t] = [T_{π^B_Q̄, m} Q̄](s_t, a_t), Eqs. (40)-(41).

    Row t of a T = n + 1 row segment uses m = min(n, T − t) steps (``n=None``: m = T − t); paths end
    in terminal states (the next episode's rows follow, random) and Q̄ of terminal states is random.
    For n = 1 the actions after a_t follow a random behaviour policy: the 1-step target is unbiased for
    the soft backup [T Q̄] (Eqs. (38)-(39)) whatever the behaviour (§3.5).
    """
    fn, ns = _soft_target_and_supported_n(adapter)
    tol = _rtol(adapter)

    @example(case=_rich_case(adapter), n=2 if 2 in ns else ns[-1])
    @example(case=_rich_case(adapter), n=ns[0])
    @given(case=_cases.cases(reference_policy=_ref_ok(adapter)), n=st.sampled_from(ns))
    def run(case, n):
        mdp = case.mdp
        T = (n + 1) if n is not None else 3
        pi = boltzmann_log_policy_of(mdp, case.q_bar).exp()
        behaviour = _cases.random_behaviour(mdp, case.seed) if n == 1 else pi
        cols = _cases.enumerate_columns(mdp, behaviour, _cases.all_pairs(mdp), T, case.seed)
        y = fn(_target_batch(case, cols, adapter), gamma=mdp.gamma, tau=mdp.tau, n=n)
        if not isinstance(y, torch.Tensor) or y.shape != cols.rewards.shape:
            _compare("soft_target", "Eq. (46)", "output shape", cols.rewards, y, 1.0, tol, case)
        scale = _target_scale(case)
        for t in range(T):
            m = T - t if n is None else min(n, T - t)
            means, mask = _conditional_means(y, cols, t, mdp.num_states, mdp.num_actions)
            truth = _windowed_truth(case, m) if m > 1 else boltzmann_backup(mdp, case.q_bar)
            if _entropy(adapter):
                truth = truth + _entropy_shift(case, m)
            eq = ("Eq. (45), §3.5: E[y_t|s_t,a_t] = [T Q̄](s_t,a_t) for any behaviour" if m == 1 else
                  f"Eq. (46), (40)-(41): E[y_t|s_t,a_t] = [T_(π^B_Q̄,{m}) Q̄](s_t,a_t)")
            _compare("soft_target", eq, f"n={n}, row t={t} of T={T} (m={m} steps), E[y_t | s_t, a_t]",
                     truth[mask], means[mask], scale, tol, case)

    _execute(run, examples, shrink)


def check_truncation(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Time-limit truncation after row k: bootstrap γ^(k+1−t) V_Q̄ of the final observation, nothing after.

    E[y_t | s_t, a_t] = [T_{π^B_Q̄, min(n, k+1−t)} Q̄] for t ≤ k (Eqs. (40)-(41), (46)): truncation is
    not termination (which would drop the bootstrap), and the next episode's rows never enter.
    """
    fn, ns = _soft_target_and_supported_n(adapter)
    tol = _rtol(adapter)

    @example(case=_rich_case(adapter), n=2 if 2 in ns else ns[-1], k=1)
    @given(case=_cases.cases(reference_policy=_ref_ok(adapter), min_gamma=0.3), n=st.sampled_from(ns),
           k=st.integers(0, 1))
    def run(case, n, k):
        mdp = case.mdp
        T = 3
        pi = boltzmann_log_policy_of(mdp, case.q_bar).exp()
        cols = _cases.enumerate_columns(mdp, pi, _cases.all_pairs(mdp), T, case.seed, truncate_at=k)
        y = fn(_target_batch(case, cols, adapter), gamma=mdp.gamma, tau=mdp.tau, n=n)
        if not isinstance(y, torch.Tensor) or y.shape != cols.rewards.shape:
            _compare("truncation", "Eq. (46)", "output shape", cols.rewards, y, 1.0, tol, case)
        scale = _target_scale(case)
        for t in range(k + 1):
            m = (k + 1 - t) if n is None else min(n, k + 1 - t)
            means, mask = _conditional_means(y, cols, t, mdp.num_states, mdp.num_actions)
            truth = _windowed_truth(case, m) if m > 1 else boltzmann_backup(mdp, case.q_bar)
            if _entropy(adapter):
                truth = truth + _entropy_shift(case, m)
            _compare("truncation", f"Eqs. (40)-(41), (46) with a time limit after row k={k}: "
                     f"E[y_t|s_t,a_t] = [T_(π^B_Q̄,{m}) Q̄]",
                     f"n={n}, row t={t}, truncated after row {k}", truth[mask], means[mask], scale, tol, case)

    _execute(run, examples, shrink)


def check_lambda_target(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Eqs. (42)-(43) (corrected): E[y^λ_t | s_t, a_t] = (1−λ) Σ_{k<m} λ^(k−1) T_k Q̄ + λ^(m−1) T_m Q̄.

    On a segment of T rows, row t has m = T − t steps; the remaining weight λ^(m−1) bootstraps at the
    segment end, and paths that terminate stop there (the next episode's rows are random).
    """
    fn = _method(adapter, "lambda_soft_target")
    if _entropy(adapter):
        raise NotApplicable("the λ target is checked in the KL convention only")
    case0, cols0 = _probe_case(adapter)
    try:
        fn(_target_batch(case0, cols0, adapter), gamma=0.9, tau=0.7, lam=0.5)
    except Unsupported as err:
        raise NotApplicable(f"lambda_soft_target: {err}") from None
    tol = _rtol(adapter)

    @example(case=_rich_case(adapter), lam=0.7, T=3)
    @given(case=_cases.cases(reference_policy=_ref_ok(adapter)),
           lam=st.sampled_from([0.0, 0.5, 0.9, 1.0]) | st.floats(0.0, 1.0), T=st.integers(1, 3))
    def run(case, lam, T):
        mdp = case.mdp
        pi = boltzmann_log_policy_of(mdp, case.q_bar).exp()
        cols = _cases.enumerate_columns(mdp, pi, _cases.all_pairs(mdp), T, case.seed)
        y = fn(_target_batch(case, cols, adapter), gamma=mdp.gamma, tau=mdp.tau, lam=lam)
        scale = _target_scale(case)
        truths = [None] + [_windowed_truth(case, m) for m in range(1, T + 1)]
        for t in range(T):
            m = T - t
            truth = sum((1 - lam) * lam ** (k - 1) * truths[k] for k in range(1, m)) + lam ** (m - 1) * truths[m]
            means, mask = _conditional_means(y, cols, t, mdp.num_states, mdp.num_actions)
            _compare("lambda_target", "Eqs. (42)-(43) corrected: E[y^λ_t|s_t,a_t] = T_(π^B_Q̄,λ) Q̄ "
                     "(truncated at the segment end)", f"λ={lam}, row t={t} of T={T}",
                     truth[mask], means[mask], scale, tol, case)

    _execute(run, examples, shrink)


def _random_target_batch(adapter: object, seed: int, T: int, B: int, A: int, q_scale: float = 2.0) -> TargetBatch:
    rng = np.random.default_rng(seed)
    ref = next_ref = None
    if _ref_ok(adapter):
        ref = _cases._t(rng.dirichlet(np.ones(A), size=(T, B)))
        next_ref = _cases._t(rng.dirichlet(np.ones(A), size=(T, B)))
        ref, next_ref = ref / ref.sum(-1, keepdim=True), next_ref / next_ref.sum(-1, keepdim=True)
    terminated = torch.from_numpy(rng.random((T, B)) < 0.25)
    truncated = torch.from_numpy(rng.random((T, B)) < 0.2) & ~terminated
    rewards, q, next_q = (_cases._t(rng.normal(0, 1, (T, B))), _cases._t(rng.normal(0, q_scale, (T, B, A))),
                          _cases._t(rng.normal(0, q_scale, (T, B, A))))
    actions = torch.from_numpy(rng.integers(A, size=(T, B)))  # drawn last: the draws above are unchanged
    return TargetBatch(rewards, q, next_q, terminated, truncated, ref, next_ref, actions)


def check_hard_limit(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """τ → 0: the 1-step soft target tends to the hard target r + γ max_a' Q̄(s', a') of Eq. (81).

    Bound: 0 ≤ y_hard − y_τ ≤ γ τ max log(1/π̄) (τ log A for uniform π̄), checked at τ = 1e-2, 1e-4, 1e-6.
    """
    fn = _soft_target_fn(adapter)
    b0 = _random_target_batch(adapter, 0, 1, 2, 2)
    if not _probe(lambda n: fn(b0, gamma=0.9, tau=0.5, n=n), [1]):
        raise NotApplicable("soft_target does not support n=1")
    tol = _rtol(adapter)

    @given(seed=st.integers(0, 2**32 - 1), A=st.integers(2, 4), gamma=st.floats(0.0, 1.0))
    def run(seed, A, gamma):
        batch = _random_target_batch(adapter, seed, 1, 4, A)
        alive = (~batch.terminated).to(batch.rewards.dtype)
        hard = batch.rewards + gamma * alive * batch.next_q.max(-1).values
        log_ref = (torch.log(batch.next_ref_policy) if batch.next_ref_policy is not None
                   else torch.full_like(batch.next_q, -math.log(A)))
        scale = float(batch.rewards.abs().max() + batch.next_q.abs().max())
        for tau in (1e-2, 1e-4, 1e-6):
            y = fn(batch, gamma=gamma, tau=tau, n=1)
            bound = gamma * tau * float((-log_ref).max()) + tol * scale
            if not (isinstance(y, torch.Tensor) and y.shape == hard.shape):
                _compare("hard_limit", "Eq. (81)", "output shape", hard, y, 1.0, tol, None)
            gap = (hard - y.detach().to(hard.dtype))
            if _entropy(adapter):  # τ log Σ exp(Q/τ) ≥ max Q: the entropy-bonus target lies above the hard one
                gap = -gap
            err = float(gap.abs().max()) if bool(torch.isfinite(gap).all()) else math.inf
            if not (err <= bound and float(gap.min()) >= -tol * scale):
                raise ConformanceError(
                    "hard_limit", "Eq. (81): soft target → r + γ max Q̄(s') as τ → 0",
                    f"τ={tau}: |y_hard − y_τ| = {err:.3e} exceeds γτ·max log(1/π̄) = {bound:.3e}",
                    error=err / max(bound, 1e-300), tol=1.0, expected=hard, got=y,
                    case=f"batch seed={seed} A={A} gamma={gamma}")

    _execute(run, examples, shrink)


def check_reward_scaling(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Units (§2, §6.2): scaling r, Q̄ and τ by c scales every soft target by c (degree-1 homogeneity)."""
    fn = _soft_target_fn(adapter)
    b0 = _random_target_batch(adapter, 0, 3, 2, 2)
    ns = _probe(lambda n: fn(b0, gamma=0.9, tau=0.5, n=n), [1, 2, 3, None])
    if not ns:
        raise NotApplicable("soft_target supports no n among 1, 2, 3, None")
    tol = _rtol(adapter)

    @given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from(ns), c=st.sampled_from([0.1, 10.0, 1e3]),
           tau=st.sampled_from([0.05, 1.0, 3.0]))
    def run(seed, n, c, tau):
        batch = _random_target_batch(adapter, seed, 3, 3, 3)
        y = fn(batch, gamma=0.9, tau=tau, n=n)
        scaled = batch._replace(rewards=c * batch.rewards, q=c * batch.q, next_q=c * batch.next_q)
        y_c = fn(scaled, gamma=0.9, tau=c * tau, n=n)
        if not isinstance(y, torch.Tensor):
            _compare("reward_scaling", "units", "output", batch.rewards, y, 1.0, tol, None)
        scale = c * float(batch.q.abs().max() + batch.rewards.abs().max() + tau)
        _compare_desc("reward_scaling", "units: y(c·r, c·Q̄, c·τ) = c·y(r, Q̄, τ)", f"n={n}, c={c}, τ={tau}",
                      c * y.detach(), y_c, scale, tol, f"random batch seed={seed}, T=3, B=3, A=3, gamma=0.9")

    _execute(run, examples, shrink)


# --------------------------------------------------------------------------------------------------
# Gradients


def _a2c_fn(adapter: object) -> Callable:
    a2c = getattr(adapter, "a2c_loss", None)
    if a2c is not None:
        return a2c
    pol, val = getattr(adapter, "policy_loss", None), getattr(adapter, "value_loss", None)
    if pol is None or val is None:
        raise NotApplicable("the adapter has neither a2c_loss() nor policy_loss() + value_loss()")

    def combined(batch, *, gamma, tau, value_coef, n):
        return pol(batch, gamma=gamma, tau=tau, n=n) + value_coef * val(batch, gamma=gamma, tau=tau, n=n)

    return combined


def _column(batch, b: int, B: int):
    return batch._replace(**{
        f: v[:, b:b + 1] for f, v in batch._asdict().items()
        if isinstance(v, torch.Tensor) and v.dim() >= 2 and v.shape[1] == B and f not in ("policy_logits",)
    })


def _weighted_total(adapter: object, fn: Callable, batch, weight: torch.Tensor, check: str, **kw) -> torch.Tensor:
    """Σ_b w_b Σ_t loss[t, b]: the exact expectation over the enumerated paths."""
    B = int(weight.shape[0])
    if getattr(adapter, "weighted", False) and isinstance(batch, A2CBatch):
        out = fn(batch._replace(weight=weight), **kw)
        if not isinstance(out, torch.Tensor) or out.dim() != 0:
            raise ConformanceError(check, "contract", "a weighted adapter must return a scalar, got "
                                   f"{getattr(out, 'shape', type(out).__name__)}", error=math.inf, tol=0.0)
        return out
    if getattr(adapter, "columnwise", False):
        total = 0.0
        for b in range(B):
            out = fn(_column(batch, b, B), **kw)
            total = total + weight[b] * out.sum()
        return total
    out = fn(batch, **kw)
    T = batch.rewards.shape[0]
    if not isinstance(out, torch.Tensor) or out.shape != (T, B):
        raise ConformanceError(check, "contract", f"per-step losses must have shape [T, B] = {(T, B)} "
                               f"(or set columnwise = True), got {getattr(out, 'shape', type(out).__name__)}",
                               error=math.inf, tol=0.0)
    return (out * weight).sum()


def _grads(total, leaves):
    gs = torch.autograd.grad(total, leaves, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, gs)]


@dataclasses.dataclass
class _A2CSetup:
    case: _cases.Case
    batch: A2CBatch
    cols: _cases.Columns
    logits: torch.Tensor
    value_table: torch.Tensor
    n: int | None
    value_coef: float


def _a2c_setup(adapter: object, case: _cases.Case, T: int, n: int | None, truncate_at: int | None,
               value_coef: float) -> _A2CSetup:
    mdp = case.mdp
    rng = np.random.default_rng(case.seed ^ 0xC0)
    logits = _cases._t(rng.normal(0, 1.0, (mdp.num_states, mdp.num_actions))).requires_grad_()
    value_table = _cases._t(rng.normal(0, 2.0, mdp.num_states)).requires_grad_()
    log_pi_table = torch.log_softmax(logits, -1)
    cols = _cases.enumerate_columns(mdp, log_pi_table.detach().exp(), _cases.state_starts(mdp, case.seed), T,
                                    case.seed, truncate_at=truncate_at)
    ref = mdp.ref_probs[cols.states] if _ref_ok(adapter) else None
    batch = A2CBatch(log_pi=log_pi_table[cols.states], values=value_table[cols.states],
                     next_values=value_table[cols.next_states], actions=cols.actions, rewards=cols.rewards,
                     terminated=cols.terminated, truncated=cols.truncated, ref_policy=ref, states=cols.states,
                     next_states=cols.next_states, policy_logits=logits, value_table=value_table)
    return _A2CSetup(case, batch, cols, logits, value_table, n, value_coef)


def _a2c_gradients(adapter: object, setup: _A2CSetup) -> dict[str, list[torch.Tensor]]:
    mdp, batch = setup.case.mdp, setup.batch
    kw = {"gamma": mdp.gamma, "tau": mdp.tau, "value_coef": setup.value_coef, "n": setup.n}
    leaves = [setup.logits, setup.value_table]
    out = {"adapter": _grads(_weighted_total(adapter, _a2c_fn(adapter), batch, setup.cols.weight, "a2c", **kw),
                             leaves)}
    ref = mdp.ref_probs[setup.cols.states] if _ref_ok(adapter) else None
    for estimator in ("proper", "naive"):
        losses = a2c_reference_losses(batch._replace(ref_policy=ref), estimator=estimator, **kw)
        out[estimator] = _grads((losses * setup.cols.weight).sum(), leaves)
    return out


@dataclasses.dataclass
class Classification:
    """What ``classify_pg_loss`` found: which estimator the policy gradient is, which value target."""

    estimator: str  # "proper" (Eq. (80)), "naive" (Eq. (79)) or "neither"
    value_target: str  # "regularised" (V̂ with −τKL terms, Eqs. (53)-(54) corrected), "plain" or "neither"
    policy_error_vs_proper: float  # max over cases of ‖g − g_(80)‖∞ / ‖g_(80)‖∞ (policy part)
    policy_error_vs_naive: float
    value_error_vs_regularised: float
    value_error_vs_plain: float
    naive_bias: float  # ‖g_(79) − g_(80)‖∞ / ‖g_(80)‖∞ on the same cases: the size of the naive bias
    tol: float
    cases: int

    def summary(self) -> str:
        return (f"policy gradient: {self.estimator} (error vs (80) {self.policy_error_vs_proper:.2e}, vs (79) "
                f"{self.policy_error_vs_naive:.2e}); value target: {self.value_target} (vs regularised "
                f"{self.value_error_vs_regularised:.2e}, vs plain {self.value_error_vs_plain:.2e}); "
                f"the naive estimator's bias on these cases: {self.naive_bias:.2e} relative")


def _rel(a: torch.Tensor, b: torch.Tensor, scale: float) -> float:
    d = (a - b).abs().max()
    return float(d) / scale if bool(torch.isfinite(a).all()) else math.inf


def _classify(adapter: object, grads: list[dict[str, list[torch.Tensor]]]) -> Classification:
    tol = _rtol(adapter)
    worst = {"pp": 0.0, "pn": 0.0, "vr": 0.0, "vp": 0.0, "bias": 0.0}
    for g in grads:
        (gp, vp), (gpn, vpn), (ga, va) = g["proper"], g["naive"], g["adapter"]
        norm = lambda x: max(float(x.abs().max()), 1e-300)
        worst["pp"] = max(worst["pp"], _rel(ga, gp, norm(gp)))
        worst["pn"] = max(worst["pn"], _rel(ga, gpn, norm(gpn)))
        worst["vr"] = max(worst["vr"], _rel(va, vp, norm(vp)))
        worst["vp"] = max(worst["vp"], _rel(va, vpn, norm(vpn)))
        worst["bias"] = max(worst["bias"], _rel(gpn, gp, norm(gp)))
    est = "proper" if worst["pp"] <= tol else "naive" if worst["pn"] <= tol else "neither"
    val = "regularised" if worst["vr"] <= tol else "plain" if worst["vp"] <= tol else "neither"
    return Classification(est, val, worst["pp"], worst["pn"], worst["vr"], worst["vp"], worst["bias"], tol,
                          len(grads))


def classify_pg_loss(adapter: object, *, n: int | None = None) -> Classification:
    """Classify the adapter's policy-gradient loss as the proper (80) or the naive (79) estimator.

    A finding, not a failure: returns a :class:`Classification`.  Exact expected gradients on three
    fixed MDPs (3-row segments, one with a terminal state and one with a truncation; γ = 0.9, τ = 0.7)
    are compared with those of the proper and the naive estimator built from the same paths; the value
    part is compared with the regularised and the plain value target.
    """
    _a2c_fn(adapter)
    setups = [
        _a2c_setup(adapter, _fixed_case(adapter, seed=11, terminal=False), 3, n, None, 0.5),
        _a2c_setup(adapter, _fixed_case(adapter, seed=12, terminal=True), 3, n, None, 0.5),
        _a2c_setup(adapter, _fixed_case(adapter, seed=13, terminal=False, S=3), 3, n, 1, 0.5),
    ]
    try:
        return _classify(adapter, [_a2c_gradients(adapter, s) for s in setups])
    except Unsupported as err:
        raise NotApplicable(f"a2c: {err}") from None


def check_a2c_proper(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Eqs. (80), (84)-(86): the expected gradient of the A2C loss is that of the proper estimator.

    Policy part: E[∇(−log π(a_t|s_t) Δ_t + τ KL_t)] with Δ_t from the entropy-regularised return (80)
    (bootstrapped); value part: c · E[∇ ½(V(s_t) − V̂_t)²] with V̂_t the regularised return (Eqs. (53)-(54)
    corrected).  Paths with terminal states, truncations and next-episode rows, enumerated exactly.
    """
    fn = _a2c_fn(adapter)
    tol = _rtol(adapter)
    s0 = _a2c_setup(adapter, _fixed_case(adapter), 2, None, None, 0.5)
    ns = [n for n in (None, 1, 2) if _probe(lambda n: _weighted_total(
        adapter, fn, s0.batch, s0.cols.weight, "a2c", gamma=0.9, tau=0.7, value_coef=0.5, n=n), [n])]
    if not ns:
        raise NotApplicable("a2c_loss supports no n among None, 1, 2")

    @example(case=_rich_case(adapter), n=ns[0], T=3, truncate=True, c=0.5)
    @given(case=_cases.cases(reference_policy=_ref_ok(adapter), min_gamma=0.5), n=st.sampled_from(ns),
           T=st.integers(2, 3), truncate=st.booleans(), c=st.sampled_from([0.5, 1.0, 2.0]))
    def run(case, n, T, truncate, c):
        setup = _a2c_setup(adapter, case, T, n, 0 if truncate else None, c)
        g = _a2c_gradients(adapter, setup)
        (gp, vp), (ga, va) = g["proper"], g["adapter"]
        sp = max(float(gp.abs().max()), 1e-300)
        finding = "classified: " + _classify(adapter, [g]).summary()
        _compare("a2c", "Eq. (80): E[∇L_policy] = −(proper n-step regularised policy gradient)",
                 f"policy-part expected gradient (n={n}, T={T}, c={c}, truncated={truncate})", gp, ga, sp, tol,
                 case, finding)
        sv = max(float(vp.abs().max()), 1e-300)
        _compare("a2c", "Eqs. (53)-(54) corrected, (80), (85)-(86): E[∇ c·½(V − V̂)²] with V̂ = V + Δ of (80)",
                 f"value-part expected gradient (n={n}, T={T}, c={c}, truncated={truncate})", vp, va, sv, tol,
                 case, finding)

    try:
        _execute(run, examples, shrink)
    except Unsupported as err:
        raise NotApplicable(f"a2c: {err}") from None


def check_eq65(adapter: object, *, examples: int | None = None, shrink: bool = True) -> None:
    """Eq. (65): E[∇ soft-Q loss] = τ · E[∇ (L_policy + (1/τ) L_value)] for Q_θ, π_θ = π^B_Q_θ, V_θ = V_Q_θ.

    Both sides from the adapter's own losses on the same exactly enumerated on-policy paths (no terminal
    states); the gradient is taken w.r.t. a tabular Q_θ [S, A].
    """
    sq = _method(adapter, "soft_q_loss")
    a2c = _a2c_fn(adapter)
    tol = _rtol(adapter)

    @example(case=_rich_case(adapter, terminal=False), n=None, T=2)
    @given(case=_cases.cases(reference_policy=_ref_ok(adapter), terminal=False),
           n=st.sampled_from([None, 1, 2]), T=st.integers(1, 3))
    def run(case, n, T):
        mdp = case.mdp
        q = case.q_bar.clone().requires_grad_()
        log_pi, _, v = _soft_pieces(mdp, q)
        cols = _cases.enumerate_columns(mdp, log_pi.detach().exp(), _cases.state_starts(mdp, case.seed), T,
                                        case.seed)
        ref = mdp.ref_probs[cols.states] if _ref_ok(adapter) else None
        nref = mdp.ref_probs[cols.next_states] if _ref_ok(adapter) else None
        sq_batch = SoftQBatch(q[cols.states], q[cols.next_states], cols.actions, cols.rewards, cols.terminated,
                              cols.truncated, ref, nref)
        a2c_batch = A2CBatch(log_pi[cols.states], v[cols.states], v[cols.next_states], cols.actions,
                             cols.rewards, cols.terminated, cols.truncated, ref)
        try:
            lhs, = _grads(_weighted_total(adapter, sq, sq_batch, cols.weight, "eq65", gamma=mdp.gamma,
                                          tau=mdp.tau, n=n), [q])
            rhs, = _grads(_weighted_total(adapter, a2c, a2c_batch, cols.weight, "eq65", gamma=mdp.gamma,
                                          tau=mdp.tau, value_coef=1 / mdp.tau, n=n), [q])
        except Unsupported:
            assume(False)
        rhs = mdp.tau * rhs
        scale = max(float(lhs.abs().max()), float(rhs.abs().max()), 1e-300)
        _compare("eq65", "Eq. (65): E[∇ soft-Q loss] = τ·E[∇(L_policy + (1/τ)·L_value)]",
                 f"expected gradients w.r.t. Q_θ (n={n}, T={T})", rhs, lhs, scale, tol, case)

    _execute(run, examples, shrink)


CHECKS: dict[str, tuple[Callable, str]] = {
    "boltzmann": (check_boltzmann, "Eqs. (29)-(30)"),
    "soft_target": (check_soft_target, "Eqs. (45)-(46), (40)-(41), §3.5"),
    "truncation": (check_truncation, "Eq. (46) with time limits"),
    "lambda_target": (check_lambda_target, "Eqs. (42)-(43) corrected"),
    "hard_limit": (check_hard_limit, "Eq. (81), τ → 0"),
    "reward_scaling": (check_reward_scaling, "units, §6.2"),
    "a2c": (check_a2c_proper, "Eqs. (80), (84)-(86)"),
    "eq65": (check_eq65, "Eq. (65)"),
}
"""Every check, by name: (function, the equations it decides)."""
