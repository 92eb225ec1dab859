"""Sample-path targets of `equiv.targets`: n-step / λ soft targets (§3.5, §3.6) and DQN targets (§6.2).

Three kinds of checks:
  * unit tests on a 4-step segment whose expected values are written out by hand from the
    definitions (termination mid-segment, truncation, segment end, n = None, n > T, batch axes);
  * property tests (hypothesis) against a naive per-t Python loop written here, and the identities
    (47) (telescoping), λ-target = geometric mixture of n-step targets (the sample form of (42)),
    λ = 0 → 1-step, λ = 1 → full-segment return;
  * DQN targets (81)-(83): the entropy-bonus and KL-uniform targets differ by the constant γτ log|A|,
    both tend to the hard max (81) as τ → 0, and the printed (82)/(83) lack a factor τ (erratum).

Tolerances: the library and the reference sum the same few (≤ 10) float64 terms in different orders;
they agree to ~T·eps ≈ 2e-15 of the magnitude of the terms.  We assert 1e-12 relative to that
magnitude.  Negative controls assert that the wrong variant misses by ≥ 10^4 × the tolerance of the
check it targets, on the same scale (relative gap > 1e-8); in the hand-computed cases the misses are
O(1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import (
    boltzmann_log_policy,
    entropy_bonus_target,
    hard_max_target,
    kl_divergence,
    lambda_soft_target,
    nstep_advantage,
    nstep_regularized_return,
    nstep_return,
    nstep_soft_target,
    one_step_soft_target,
    soft_target_as_printed,
    soft_value,
    td_errors,
)
from tests.strategies import (
    DTYPE,
    Segment,
    assert_close,
    exact_reference,
    log_uniform,
    profile_examples,
    relative_gap,
    seeds,
    segments,
)

RTOL = 1e-12
# A third of the profile's examples per property (20 in ci, 333 in thorough): keeps the ci tier of
# all the operator/target/stability files within their 10 s budget.
THIRD = settings(max_examples=profile_examples(1 / 3, minimum=10))
NEGATIVE_FACTOR = 1e4  # a wrong variant must miss by ≥ 10^4 × the tolerance of the check it targets
NEGATIVE_GAP = NEGATIVE_FACTOR * RTOL  # = 1e-8 relative


def tensor(values) -> torch.Tensor:
    return torch.tensor(values, dtype=DTYPE)


def flags(*steps: int, length: int = 4) -> torch.Tensor:
    mask = torch.zeros(length, dtype=torch.bool)
    mask[list(steps)] = True
    return mask


# A 4-step segment: r_t, KL_t, V(s_t), V(s_{t+1}); γ = 0.5, τ = 2.
G, TAU = 0.5, 2.0
R = tensor([1.0, 2.0, 3.0, 4.0])
KL = tensor([0.1, 0.2, 0.3, 0.4])
V = tensor([5.0, 6.0, 7.0, 8.0])
NEXT_V = tensor([10.0, 20.0, 30.0, 40.0])
NONE = flags()


# --- Unit tests with expectations written out from the definitions ---------------------------------------


def test_nstep_return_termination_mid_segment():
    """Episode ends on entering s_2 (terminated[1]): no bootstrap from it and no reward after it."""
    out = nstep_return(R, NEXT_V, flags(1), gamma=G, n=2)
    expected = [1 + G * 2, 2, 3 + G * 4 + G**2 * 40, 4 + G * 40]
    assert out.tolist() == pytest.approx(expected, rel=RTOL)


def test_nstep_return_truncation_bootstraps_from_final_observation():
    """Truncated after step 1: bootstrap from next_values[1] (the final observation), and nothing
    from the next episode (r_2 is not summed into row 0)."""
    out = nstep_return(R, NEXT_V, NONE, flags(1), gamma=G, n=2)
    expected = [1 + G * 2 + G**2 * 20, 2 + G * 20, 3 + G * 4 + G**2 * 40, 4 + G * 40]
    assert out.tolist() == pytest.approx(expected, rel=RTOL)
    terminated = nstep_return(R, NEXT_V, flags(1), gamma=G, n=2)
    assert relative_gap(out, terminated) > NEGATIVE_GAP  # truncation is not termination


def test_nstep_return_terminated_and_truncated_at_once_is_terminal():
    """Both flags at the same step (gymnasium allows it): the state is terminal, nothing is bootstrapped."""
    both = nstep_return(R, NEXT_V, flags(1), flags(1), gamma=G, n=2)
    assert torch.equal(both, nstep_return(R, NEXT_V, flags(1), gamma=G, n=2))


def test_nstep_return_segment_end_and_window_lengths():
    """n = 1, n = 3, n = None (A2C: row t uses T − t steps) and n > T; the segment end bootstraps from
    next_values[T−1]."""
    one = nstep_return(R, NEXT_V, NONE, gamma=G, n=1)
    assert one.tolist() == pytest.approx([1 + G * 10, 2 + G * 20, 3 + G * 30, 4 + G * 40], rel=RTOL)
    three = nstep_return(R, NEXT_V, NONE, gamma=G, n=3)
    expected_three = [
        1 + G * 2 + G**2 * 3 + G**3 * 30,
        2 + G * 3 + G**2 * 4 + G**3 * 40,
        3 + G * 4 + G**2 * 40,
        4 + G * 40,
    ]
    assert three.tolist() == pytest.approx(expected_three, rel=RTOL)
    full = nstep_return(R, NEXT_V, NONE, gamma=G)
    expected_full = [
        1 + G * 2 + G**2 * 3 + G**3 * 4 + G**4 * 40,
        2 + G * 3 + G**2 * 4 + G**3 * 40,
        3 + G * 4 + G**2 * 40,
        4 + G * 40,
    ]
    assert full.tolist() == pytest.approx(expected_full, rel=RTOL)
    assert torch.equal(nstep_return(R, NEXT_V, NONE, gamma=G, n=10), full)


def test_nstep_regularized_return_and_soft_target_eq46():
    """Eq. (46) with termination at step 1: y_t = τKL_t + Σ_{d<m} γ^d (r − τKL)_{t+d} + γ^m V(s_{t+m}).
    The leading τKL_t cancels the penalty at s_t: a 1-step target into a terminal state is just r_t."""
    x = [r - TAU * k for r, k in zip(R.tolist(), KL.tolist())]  # r_t − τ KL_t
    expected_return = [x[0] + G * x[1], x[1], x[2] + G * x[3] + G**2 * 40, x[3] + G * 40]
    out = nstep_regularized_return(R, KL, NEXT_V, flags(1), gamma=G, tau=TAU, n=2)
    assert out.tolist() == pytest.approx(expected_return, rel=RTOL)
    target = nstep_soft_target(R, KL, NEXT_V, flags(1), gamma=G, tau=TAU, n=2)
    expected_target = [TAU * k + y for k, y in zip(KL.tolist(), expected_return)]
    assert target.tolist() == pytest.approx(expected_target, rel=RTOL)
    assert target[1].item() == pytest.approx(2.0, rel=RTOL)  # = r_1
    # Negative control: dropping the leading τKL_t (i.e. the regularised return) misses by τKL_t.
    assert relative_gap(target, out) > NEGATIVE_GAP


def test_nstep_advantage_and_td_errors_eq36_eq58():
    """Eq. (36) δ_t = (r_t − τKL_t) + γV(s_{t+1}) − V(s_t) (0 bootstrap when terminated) and
    Eq. (58) Δ_t = V̂_t − V(s_t)."""
    x = [r - TAU * k for r, k in zip(R.tolist(), KL.tolist())]
    delta = td_errors(R, KL, V, NEXT_V, flags(1), gamma=G, tau=TAU)
    assert delta.tolist() == pytest.approx(
        [x[0] + G * 10 - 5, x[1] - 6, x[2] + G * 30 - 7, x[3] + G * 40 - 8], rel=RTOL
    )
    advantage = nstep_advantage(R, KL, V, NEXT_V, flags(1), gamma=G, tau=TAU, n=2)
    assert advantage.tolist() == pytest.approx(
        [x[0] + G * x[1] - 5, x[1] - 6, x[2] + G * x[3] + G**2 * 40 - 7, x[3] + G * 40 - 8], rel=RTOL
    )
    # td_errors has no truncated flag: at a truncation it bootstraps from next_values (the final
    # observation), exactly as for any non-terminal step.
    assert td_errors(R, KL, V, NEXT_V, NONE, gamma=G, tau=TAU)[1].item() == pytest.approx(x[1] + G * 20 - 6)


def test_lambda_soft_target_by_hand():
    """Corrected Eq. (43), sample form: y^λ_t = τKL_t + V(s_t) + Σ_k (γλ)^k δ_{t+k}, stopping at the
    episode end (terminated[1]) and at the segment end."""
    lam = 0.5
    x = [r - TAU * k for r, k in zip(R.tolist(), KL.tolist())]
    d = [x[0] + G * 10 - 5, x[1] - 6, x[2] + G * 30 - 7, x[3] + G * 40 - 8]
    gl = G * lam
    expected = [
        TAU * 0.1 + 5 + d[0] + gl * d[1],
        TAU * 0.2 + 6 + d[1],
        TAU * 0.3 + 7 + d[2] + gl * d[3],
        TAU * 0.4 + 8 + d[3],
    ]
    out = lambda_soft_target(R, KL, V, NEXT_V, flags(1), gamma=G, tau=TAU, lam=lam)
    assert out.tolist() == pytest.approx(expected, rel=RTOL)
    truncated = lambda_soft_target(R, KL, V, NEXT_V, NONE, flags(1), gamma=G, tau=TAU, lam=lam)
    d_trunc = d[:1] + [x[1] + G * 20 - 6] + d[2:]
    assert truncated[0].item() == pytest.approx(TAU * 0.1 + 5 + d_trunc[0] + gl * d_trunc[1], rel=RTOL)


@pytest.mark.parametrize("batch", [(2,), (2, 3)])
def test_batch_axes_are_independent_columns(batch):
    """[T, *batch] inputs give, column by column, bit-identical results to [T] inputs."""
    rng = np.random.default_rng(0)
    shape = (5, *batch)
    r, kl, v, nv = (torch.from_numpy(rng.normal(size=shape)) for _ in range(4))
    kl = kl.abs()
    term = torch.from_numpy(rng.random(shape) < 0.3)
    trunc = torch.from_numpy(rng.random(shape) < 0.3)
    calls = {
        "nstep_return": lambda *a: nstep_return(a[0], a[3], a[4], a[5], gamma=0.9, n=2),
        "nstep_soft_target": lambda *a: nstep_soft_target(
            a[0], a[1], a[3], a[4], a[5], gamma=0.9, tau=0.3, n=3
        ),
        "nstep_advantage": lambda *a: nstep_advantage(*a, gamma=0.9, tau=0.3),
        "td_errors": lambda *a: td_errors(*a[:5], gamma=0.9, tau=0.3),
        "lambda_soft_target": lambda *a: lambda_soft_target(*a, gamma=0.9, tau=0.3, lam=0.7),
    }
    for name, call in calls.items():
        full = call(r, kl, v, nv, term, trunc)
        for index in np.ndindex(*batch):
            column = call(*(x[(slice(None), *index)] for x in (r, kl, v, nv, term, trunc)))
            assert torch.equal(full[(slice(None), *index)], column), name


# --- Property tests against a naive per-t loop -----------------------------------------------------------


def columns(x: torch.Tensor) -> list[list]:
    """[T, *batch] → one Python list per batch column."""
    return x.reshape(x.shape[0], -1).T.tolist()


def naive_windowed(x, next_values, terminated, truncated, gamma, n):
    """Σ_{d<m} γ^d x_{t+d} + γ^m [not terminated] V(s_{t+m}) for one column, by a per-t loop."""
    T, out = len(x), []
    for t in range(T):
        total, discount, k = 0.0, 1.0, t
        while True:
            total += discount * x[k]
            if terminated[k]:
                break
            if truncated[k] or k == T - 1 or (n is not None and k - t + 1 == n):
                total += discount * gamma * next_values[k]
                break
            discount *= gamma
            k += 1
        out.append(total)
    return out


def naive_lambda(seg: Segment, lam: float, column: int):
    """y^λ_t = τKL_t + V_t + Σ_k (γλ)^k δ_{t+k}, stopping at episode and segment ends, for one column."""
    r, kl, v, nv = (columns(x)[column] for x in (seg.rewards, seg.kl, seg.values, seg.next_values))
    term, trunc = columns(seg.terminated)[column], columns(seg.truncated)[column]
    g, tau, T = seg.gamma, seg.tau, seg.length
    delta = [r[t] - tau * kl[t] + (0.0 if term[t] else g * nv[t]) - v[t] for t in range(T)]
    out = []
    for t in range(T):
        total, weight, k = 0.0, 1.0, t
        while k < T:
            total += weight * delta[k]
            if term[k] or trunc[k]:
                break
            weight *= g * lam
            k += 1
        out.append(tau * kl[t] + v[t] + total)
    return out


def reference(seg: Segment, x: torch.Tensor) -> torch.Tensor:
    """Apply `naive_windowed` to every column of x and reassemble [T, *batch]."""
    cols = [
        naive_windowed(xc, nvc, tc, uc, seg.gamma, seg.n)
        for xc, nvc, tc, uc in zip(
            columns(x), columns(seg.next_values), columns(seg.terminated), columns(seg.truncated)
        )
    ]
    return torch.tensor(cols, dtype=DTYPE).T.reshape(x.shape)


def segment_scale(seg: Segment) -> float:
    """Magnitude of the summed terms: rewards, τ·KL, values."""
    return max(
        float(seg.rewards.abs().max()),
        seg.tau * float(seg.kl.max()),
        float(seg.values.abs().max()),
        float(seg.next_values.abs().max()),
    )


@THIRD
@given(segments())
def test_nstep_targets_match_naive_loop(seg):
    """nstep_return, nstep_regularized_return, nstep_soft_target (46), nstep_advantage (58) against the
    per-t loop, for random terminations / truncations (possibly both), batch axes, n ∈ {None, 1..T+2}."""
    scale = segment_scale(seg)
    kw = {"gamma": seg.gamma, "n": seg.n}
    args = (seg.next_values, seg.terminated, seg.truncated)
    plain = nstep_return(seg.rewards, *args, **kw)
    assert_close(plain, reference(seg, seg.rewards), RTOL, "nstep_return", scale=scale)
    regularized = reference(seg, seg.rewards - seg.tau * seg.kl)
    assert_close(
        nstep_regularized_return(seg.rewards, seg.kl, *args, tau=seg.tau, **kw),
        regularized,
        RTOL,
        "nstep_regularized_return",
        scale=scale,
    )
    assert_close(
        nstep_soft_target(seg.rewards, seg.kl, *args, tau=seg.tau, **kw),
        seg.tau * seg.kl + regularized,
        RTOL,
        "nstep_soft_target",
        scale=scale,
    )
    assert_close(
        nstep_advantage(seg.rewards, seg.kl, seg.values, *args, tau=seg.tau, **kw),
        regularized - seg.values,
        RTOL,
        "nstep_advantage",
        scale=scale,
    )


@THIRD
@given(segments(), st.floats(0.0, 1.0))
def test_lambda_soft_target_matches_naive_loop(seg, lam):
    """lambda_soft_target and td_errors against per-t loops (any values: no consistency needed)."""
    scale = segment_scale(seg)
    out = lambda_soft_target(
        seg.rewards,
        seg.kl,
        seg.values,
        seg.next_values,
        seg.terminated,
        seg.truncated,
        gamma=seg.gamma,
        tau=seg.tau,
        lam=lam,
    )
    cols = [naive_lambda(seg, lam, c) for c in range(len(columns(seg.rewards)))]
    expected = torch.tensor(cols, dtype=DTYPE).T.reshape(out.shape)
    assert_close(out, expected, RTOL, "lambda_soft_target", scale=scale)
    zero = torch.zeros((), dtype=DTYPE)
    delta = (
        seg.rewards
        - seg.tau * seg.kl
        + seg.gamma * torch.where(seg.terminated, zero, seg.next_values)
        - seg.values
    )
    assert_close(
        td_errors(
            seg.rewards, seg.kl, seg.values, seg.next_values, seg.terminated, gamma=seg.gamma, tau=seg.tau
        ),
        delta,
        RTOL,
        "td_errors",
        scale=scale,
    )


@THIRD
@given(segments(consistent=True), st.floats(0.0, 1.0))
def test_lambda_target_is_geometric_mixture_of_nstep_targets(seg, lam):
    """Sample form of Eq. (42): y^λ_t = Σ_{n=1}^{T} (1−λ)λ^{n−1} y^{(n)}_t + λ^T y^{(T)}_t with y^{(n)}
    the n-step soft targets (46) (y^{(n)} = y^{(T)} for n ≥ T).  λ = 0 gives the 1-step target and
    λ = 1 the full-segment (Monte-Carlo, bootstrapped at the segment end) target.

    Needs values consistent along episodes (V(s_{t+1}) is one number): the telescoping of (47).
    """
    args = (seg.rewards, seg.kl, seg.next_values, seg.terminated, seg.truncated)
    kw = {"gamma": seg.gamma, "tau": seg.tau}
    T = seg.length
    targets = [nstep_soft_target(*args, n=n, **kw) for n in range(1, T + 1)]
    mixture = (
        sum((1 - lam) * lam ** (n - 1) * y for n, y in enumerate(targets, start=1)) + lam**T * targets[-1]
    )
    out = lambda_soft_target(seg.rewards, seg.kl, seg.values, *args[2:], lam=lam, **kw)
    scale = segment_scale(seg)
    assert_close(out, mixture, RTOL, "λ-target vs mixture", scale=scale)
    lambda_args = (seg.rewards, seg.kl, seg.values, *args[2:])
    assert_close(lambda_soft_target(*lambda_args, lam=0.0, **kw), targets[0], RTOL, "λ = 0", scale=scale)
    assert_close(
        lambda_soft_target(*lambda_args, lam=1.0, **kw),
        nstep_soft_target(*args, **kw),
        RTOL,
        "λ = 1",
        scale=scale,
    )


@THIRD
@given(segments(consistent=True))
def test_eq47_telescoping_identity(seg):
    """Eq. (47): y_t (46) = τKL_t + V(s_t) + Σ_{d<m} γ^d δ_{t+d}, δ from Eq. (36), when the values are
    consistent along the episode; the window m stops at n, the episode end and the segment end."""
    delta = td_errors(
        seg.rewards, seg.kl, seg.values, seg.next_values, seg.terminated, gamma=seg.gamma, tau=seg.tau
    )
    summed = reference_delta_sum(seg, delta)
    target = nstep_soft_target(
        seg.rewards,
        seg.kl,
        seg.next_values,
        seg.terminated,
        seg.truncated,
        gamma=seg.gamma,
        tau=seg.tau,
        n=seg.n,
    )
    assert_close(target, seg.tau * seg.kl + seg.values + summed, RTOL, "Eq. (47)", scale=segment_scale(seg))


def reference_delta_sum(seg: Segment, delta: torch.Tensor) -> torch.Tensor:
    """Σ_{d<m} γ^d δ_{t+d} per column: the windowed sum with no bootstrap (next_values = 0)."""
    no_bootstrap = Segment(**{**seg.__dict__, "next_values": torch.zeros_like(seg.next_values)})
    return reference(no_bootstrap, delta)


@THIRD
@given(segments(consistent=True, tau=log_uniform(0.5, 10.0), batch_shapes=st.just((4,))))
def test_eq47_negative_control_delta_without_kl(seg):
    """Negative control for (47): with δ missing its −τKL term the identity fails by Σγ^d τKL_{t+d}."""
    delta = td_errors(
        seg.rewards,
        torch.zeros_like(seg.kl),
        seg.values,
        seg.next_values,
        seg.terminated,
        gamma=seg.gamma,
        tau=seg.tau,
    )
    target = nstep_soft_target(
        seg.rewards,
        seg.kl,
        seg.next_values,
        seg.terminated,
        seg.truncated,
        gamma=seg.gamma,
        tau=seg.tau,
        n=seg.n,
    )
    wrong = seg.tau * seg.kl + seg.values + reference_delta_sum(seg, delta)
    assert float((wrong - target).abs().max()) > NEGATIVE_GAP * segment_scale(seg)


# --- DQN targets, Eqs. (45), (81)-(83) ---------------------------------------------------------------------


def test_dqn_targets_by_hand():
    """(81) y = r + γ max Q̄; (45)/(82) y = r + γ τ log E_{π̄}[exp(Q̄/τ)]; (83) y = r + γ τ log Σ exp(Q̄/τ);
    terminal transitions give y = r."""
    g, tau = 0.9, 0.7
    rewards = tensor([1.0, 2.0])
    next_q = tensor([[0.0, tau * math.log(3.0)], [5.0, -1.0]])  # exp(Q/τ) = (1, 3) in row 0
    terminated = torch.tensor([False, True])
    assert hard_max_target(rewards, next_q, terminated, gamma=g).tolist() == pytest.approx(
        [1 + g * tau * math.log(3.0), 2.0], rel=RTOL
    )
    assert one_step_soft_target(rewards, next_q, terminated, gamma=g, tau=tau).tolist() == pytest.approx(
        [1 + g * tau * math.log((1 + 3) / 2), 2.0], rel=RTOL
    )
    ref = tensor([0.25, 0.75])
    assert one_step_soft_target(rewards, next_q, terminated, gamma=g, tau=tau, ref_policy=ref).tolist() == (
        pytest.approx([1 + g * tau * math.log(0.25 + 0.75 * 3), 2.0], rel=RTOL)
    )
    assert entropy_bonus_target(rewards, next_q, terminated, gamma=g, tau=tau).tolist() == pytest.approx(
        [1 + g * tau * math.log(1 + 3), 2.0], rel=RTOL
    )


DQN_TAUS = log_uniform(1e-2, 1e2)
DQN_GAMMAS = st.floats(0.3, 0.99)  # γ away from 0, where every target is just r


@st.composite
def dqn_batches(draw, tau=DQN_TAUS, gamma=DQN_GAMMAS):
    """(rewards [B], next_q [B, A], terminated [B], γ, τ) with some terminal transitions."""
    B, A = draw(st.integers(2, 16)), draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(seeds))
    q_scale = draw(log_uniform(1e-1, 1e2))
    rewards = torch.from_numpy(rng.normal(size=B))
    next_q = torch.from_numpy(rng.normal(0.0, q_scale, (B, A)))
    terminated = torch.from_numpy(rng.random(B) < 0.25)
    return rewards, next_q, terminated, draw(gamma), draw(tau)


@THIRD
@given(dqn_batches(), seeds)
def test_entropy_bonus_and_kl_uniform_targets_differ_by_constant(batch, seed):
    """§6.2 "simply a constant": (83) − (82) = γ τ log|A| for every non-terminal transition, 0 otherwise.
    Negative control: against a non-uniform, state-dependent π̄ the difference,
    −γτ log E_{a∼π̄}[exp((Q − max Q)/τ)] + ..., varies across transitions."""
    rewards, next_q, terminated, g, tau = batch
    A = next_q.shape[-1]
    kl_target = one_step_soft_target(rewards, next_q, terminated, gamma=g, tau=tau)
    bonus_target = entropy_bonus_target(rewards, next_q, terminated, gamma=g, tau=tau)
    constant = torch.where(terminated, 0.0, g * tau * math.log(A))
    scale = float(next_q.abs().max()) + float(rewards.abs().max()) + tau * math.log(A)
    assert_close(bonus_target - kl_target, constant, RTOL, "(83) − (82)", scale=scale)
    ref = exact_reference(
        torch.from_numpy(np.random.default_rng(seed).dirichlet(np.ones(A), size=len(rewards)))
    )
    non_uniform = bonus_target - one_step_soft_target(
        rewards, next_q, terminated, gamma=g, tau=tau, ref_policy=ref
    )
    alive = non_uniform[~terminated]
    if alive.numel() >= 2:  # not a constant: its spread is far above the tolerance of the check above
        assert float(alive.max() - alive.min()) > NEGATIVE_FACTOR * RTOL * scale


@THIRD
@given(dqn_batches(tau=st.just(1e-4)))
def test_soft_targets_tend_to_hard_max_as_tau_goes_to_zero(batch):
    """(82), (83) → (81) as τ → 0: at τ = 1e-4, |soft − hard| ≤ γ τ log|A| (V ∈ [max − τ log A, max] for
    uniform π̄; τ log Σ exp(Q/τ) ∈ [max, max + τ log A]).  Negative control: the printed (82)/(83),
    without the factor τ, are off from the hard max by ~γ max Q/τ."""
    rewards, next_q, terminated, g, tau = batch
    A = next_q.shape[-1]
    hard = hard_max_target(rewards, next_q, terminated, gamma=g)
    slack = 1e-12 * (float(next_q.abs().max()) + float(rewards.abs().max()))  # rounding of the logsumexp
    for soft in (
        one_step_soft_target(rewards, next_q, terminated, gamma=g, tau=tau),
        entropy_bonus_target(rewards, next_q, terminated, gamma=g, tau=tau),
    ):
        assert float((soft - hard).abs().max()) <= g * tau * math.log(A) + slack
    for regularizer in ("kl", "entropy"):
        printed = soft_target_as_printed(
            rewards, next_q, terminated, gamma=g, tau=tau, regularizer=regularizer
        )
        if bool((~terminated).any()):
            assert float((printed - hard).abs().max()) > 1e3 * g * tau * math.log(A)


@THIRD
@given(dqn_batches(tau=st.one_of(log_uniform(1e-2, 0.8), log_uniform(1.25, 1e2))))
def test_printed_eq82_eq83_lack_a_factor_tau_erratum(batch):
    """ERRATUM: the printed (82)/(83), r + γ(log Σ exp(Q/τ) [− log|A|]), agree with the dimensionally
    consistent (45)-form targets only at τ = 1 and differ otherwise (draws keep τ away from 1)."""
    rewards, next_q, terminated, g, tau = batch
    for regularizer, corrected in (("kl", one_step_soft_target), ("entropy", entropy_bonus_target)):
        right = corrected(rewards, next_q, terminated, gamma=g, tau=tau)
        at_one = corrected(rewards, next_q, terminated, gamma=g, tau=1.0)
        printed_at_one = soft_target_as_printed(
            rewards, next_q, terminated, gamma=g, tau=1.0, regularizer=regularizer
        )
        assert_close(printed_at_one, at_one, RTOL, f"printed {regularizer} at τ = 1")
        printed = soft_target_as_printed(
            rewards, next_q, terminated, gamma=g, tau=tau, regularizer=regularizer
        )
        # printed − right = γ(1 − τ)·(log Σ exp(Q/τ) [− log A]) ≠ 0 for generic Q.
        next_value = torch.logsumexp(next_q / tau, -1) - (
            math.log(next_q.shape[-1]) if regularizer == "kl" else 0.0
        )
        expected_gap = torch.where(terminated, 0.0, g * (1 - tau) * next_value)
        assert_close(
            printed - right,
            expected_gap,
            1e-11,
            f"printed − corrected ({regularizer})",
            scale=float(next_value.abs().max()) * max(1.0, tau) + float(rewards.abs().max()),
        )
        if bool((~terminated).any()):
            assert relative_gap(printed, right) > NEGATIVE_GAP


@THIRD
@given(dqn_batches(), seeds)
def test_nstep_soft_target_with_n1_is_the_one_step_target_eq45(batch, seed):
    """Eq. (46) with n = 1 and KL, V from π^B_Q̄ equals Eq. (45): the τKL_t terms cancel."""
    rewards, next_q, terminated, g, tau = batch
    rng = np.random.default_rng(seed)
    q_now = torch.from_numpy(rng.normal(size=next_q.shape))
    ref = torch.from_numpy(rng.dirichlet(np.ones(next_q.shape[-1]), size=next_q.shape[0]))
    ref = ref / ref.sum(-1, keepdim=True)
    kl = kl_divergence(boltzmann_log_policy(q_now, tau, ref), ref)
    next_values = soft_value(next_q, tau, ref)
    y46 = nstep_soft_target(
        rewards[None], kl[None], next_values[None], terminated[None], gamma=g, tau=tau, n=1
    )[0]
    y45 = one_step_soft_target(rewards, next_q, terminated, gamma=g, tau=tau, ref_policy=ref)
    scale = float(rewards.abs().max()) + float(next_values.abs().max()) + tau * float(kl.max())
    assert_close(y46, y45, RTOL, "(46) n = 1 vs (45)", scale=scale)
