"""Every regime the functions accept, drawn on purpose (issue 10 §3): a single action (A = 1),
deterministic (one-hot) and other non-Boltzmann policies, π̄ with tiny and zero entries, τ across
1e-4..1e2, γ = 0 and γ = 1 with termination, n longer than the segment, all-terminated and
all-truncated batches, float32 inputs.  The strategies are the ``edge_*`` ones of tests/strategies.py.

Each property is an identity with an independent right-hand side (closed forms, the Gibbs variational
identity, a float64 evaluation of the same float32 inputs).  Tolerances: the float64 ones allow 64
roundings of the size M of the terms involved (as in tests/test_edges_mdp.py); float32 results are
compared with float64 evaluations of the *same* (float32-representable) inputs and allowed 64·eps32·M
(×41 for Boltzmann policies, whose logits carry eps·|Q − max Q|/τ, relevant within ~40τ of the max;
×cond for linear solves).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import (
    boltzmann_log_policy,
    entropy,
    kl_divergence,
    lambda_soft_target,
    nstep_advantage,
    nstep_regularized_return,
    nstep_return,
    nstep_soft_target,
    regularized_expectation,
    soft_advantage,
    soft_value,
)
from equiv.mdp import (
    FiniteMDP,
    boltzmann_backup,
    evaluate_policy,
    expected_nstep_return,
    nstep_boltzmann_backup,
    policy_kl,
)
from tests.strategies import (
    POLICY_KINDS,
    edge_mdps,
    edge_policy,
    edge_q,
    edge_scales,
    edge_segments,
    note_regimes,
    profile_examples,
    seeds,
)

EPS64 = float(torch.finfo(torch.float64).eps)
EPS32 = float(torch.finfo(torch.float32).eps)
ROUNDINGS = 64
FEW = settings(max_examples=profile_examples(1 / 10, minimum=5))  # 6 in ci, 100 in thorough


def size_of(mdp: FiniteMDP, q: torch.Tensor | None = None) -> float:
    """|R|∞ + |Q|∞ + τ (max |log π̄| on its support + log A)."""
    ref = mdp.ref_probs.double()
    log_ref = torch.where(ref > 0, ref.log().abs(), torch.zeros((), dtype=torch.float64))
    size = float(mdp.rewards.abs().max()) + mdp.tau * (float(log_ref.max()) + math.log(mdp.num_actions))
    return size + (0.0 if q is None else float(q.abs().max()))


def as_float64(mdp: FiniteMDP) -> FiniteMDP:
    """The same MDP (float32 entries are exact float64 numbers) in float64, rows renormalised only if the
    float32 rows do not sum to 1 within float64's tolerance: then the float64 MDP is the exact normalisation,
    a change of ≤ 16·A·eps32 per entry, inside the float32 tolerance used below."""
    P = mdp.transitions.double()
    P = P / P.sum(-1, keepdim=True)
    ref = mdp.ref_probs.double()
    return FiniteMDP(P, mdp.rewards.double(), mdp.gamma, mdp.tau, ref / ref.sum(-1, keepdim=True), mdp.terminal)


# --- Per-state functions --------------------------------------------------------------------------------


@FEW
@given(edge_mdps(max_actions=1), seeds, edge_scales)
def test_single_action_is_exactly_degenerate(mdp, seed, scale):
    """A = 1: π^B = π̄ = 1, KL = 0, S = 0 exactly (log 1 = 0, log_softmax of one term is x − x = 0);
    V_Q = Q and A_Q = 0 up to the two roundings of τ·((Q/τ)) (≤ 2 eps·|Q|; measured nonzero at τ = 1e-4);
    the Boltzmann backups reduce to R + γ P Q."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), scale)
    two_roundings = 2 * EPS64 * q.abs()
    assert bool(((soft_value(q, mdp.tau) - q[:, 0]).abs() <= two_roundings[:, 0]).all())
    assert torch.equal(boltzmann_log_policy(q, mdp.tau), torch.zeros_like(q))
    assert bool(((soft_advantage(q, mdp.tau)).abs() <= two_roundings).all())
    assert torch.equal(kl_divergence(torch.zeros_like(q)), torch.zeros(mdp.num_states, dtype=q.dtype))
    assert torch.equal(entropy(torch.zeros_like(q)), torch.zeros(mdp.num_states, dtype=q.dtype))
    live = (~mdp.terminal_mask).double()
    by_hand = (mdp.rewards[:, 0] + mdp.gamma * mdp.transitions[:, 0] @ (live * q[:, 0])) * live
    tol = ROUNDINGS * EPS64 * size_of(mdp, q)
    assert float((boltzmann_backup(mdp, q)[:, 0] - by_hand).abs().max()) <= tol
    assert float((nstep_boltzmann_backup(mdp, q, 1)[:, 0] - by_hand).abs().max()) <= tol


@FEW
@given(edge_mdps(references=st.sampled_from(["uniform", "dirichlet", "tiny", "zeros"])), seeds)
def test_one_hot_policy_kl_entropy_and_objective_in_closed_form(mdp, seed):
    """A deterministic π = δ_{a*}: KL = −log π̄(a*), S = 0, E_π[Q] − τ KL = Q(a*) + τ log π̄(a*) (Eq. (27)),
    with log π = −inf off a* handled as 0·log 0 = 0 (no NaN), and π̄ as small as 1e-300."""
    note_regimes(mdp)
    rng = np.random.default_rng(seed)
    pi = edge_policy(mdp, rng, "one_hot")
    q = edge_q(mdp, rng, 1e4)
    log_pi = pi.log()
    a_star = pi.argmax(-1, keepdim=True)
    log_ref_star = mdp.ref_probs.gather(-1, a_star).squeeze(-1).log()
    kl = kl_divergence(log_pi, mdp.ref_probs)
    assert torch.equal(kl, -log_ref_star)
    assert torch.equal(entropy(log_pi), torch.zeros_like(kl))
    expected = q.gather(-1, a_star).squeeze(-1) + mdp.tau * log_ref_star
    tol = ROUNDINGS * EPS64 * (1e4 + mdp.tau * float(log_ref_star.abs().max()))
    assert float((regularized_expectation(q, log_pi, mdp.tau, mdp.ref_probs) - expected).abs().max()) <= tol
    live = ~mdp.terminal_mask
    assert torch.equal(policy_kl(mdp, pi)[live], -log_ref_star[live])


@FEW
@given(edge_mdps(), seeds, st.sampled_from(POLICY_KINDS), edge_scales)
def test_gibbs_gap_of_any_policy_is_tau_kl_to_the_boltzmann_policy(mdp, seed, kind, scale):
    """For every policy π (non-Boltzmann, one-hot, sparse): V_Q − (E_π[Q] − τ KL[π‖π̄]) = τ KL[π ‖ π^B_Q]
    (the variational form behind Eq. (27)/(31); equality, not only ≥).  Tolerance 64·eps·(|Q| + τ L)·41.
    Negative control: the reversed KL[π^B_Q ‖ π] is not the gap (infinite for sparse π, and different
    for full-support non-Boltzmann π)."""
    note_regimes(mdp, kind)
    rng = np.random.default_rng(seed)
    q = edge_q(mdp, rng, scale)
    pi = edge_policy(mdp, rng, kind, q)
    ref = mdp.ref_probs
    log_pi_b = boltzmann_log_policy(q, mdp.tau, ref)
    gap = soft_value(q, mdp.tau, ref) - regularized_expectation(q, pi.log(), mdp.tau, ref)
    # KL[π ‖ π^B] from log π^B directly (π^B itself underflows to 0 where Q is ≫ τ below the max).
    kl_to_b = torch.where(pi > 0, pi * (pi.log() - log_pi_b), torch.zeros((), dtype=pi.dtype)).sum(-1)
    tol = ROUNDINGS * EPS64 * size_of(mdp, q) * 41
    assert float((gap - mdp.tau * kl_to_b).abs().max()) <= tol
    assert float(gap.min()) >= -tol  # V_Q is the maximum (Eq. (27))


def test_negative_control_reversed_kl_is_not_the_gibbs_gap():
    """The identity above is sharp: with KL[π^B ‖ π] in place of KL[π ‖ π^B] it misses by O(τ)."""
    q = torch.tensor([[1.0, 0.0, -2.0]], dtype=torch.float64)
    pi = torch.tensor([[0.2, 0.5, 0.3]], dtype=torch.float64)
    tau = 0.7
    log_pi_b = boltzmann_log_policy(q, tau)
    gap = soft_value(q, tau) - regularized_expectation(q, pi.log(), tau)
    right = tau * kl_divergence(pi.log(), log_pi_b.exp())
    wrong = tau * kl_divergence(log_pi_b, pi)
    assert abs(float(gap - right)) <= 1e-14 and abs(float(gap - wrong)) > 0.05


@FEW
@given(edge_mdps(dtypes=st.just(torch.float32), references=st.sampled_from(["uniform", "dirichlet", "zeros"])),
       seeds, edge_scales)
def test_float32_per_state_functions_match_float64_on_the_same_inputs(mdp, seed, scale):
    """float32 in, float32 out (never cast), and within 64·eps32·M (×41 for log π^B) of the float64 value
    of the same inputs, at τ down to 1e-4 and |Q| up to 1e4."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), scale)
    ref = mdp.ref_probs
    ref64 = ref.double() / ref.double().sum(-1, keepdim=True)
    size = size_of(mdp, q)
    v32, v64 = soft_value(q, mdp.tau, ref), soft_value(q.double(), mdp.tau, ref64)
    assert v32.dtype == torch.float32 and float((v32.double() - v64).abs().max()) <= ROUNDINGS * EPS32 * size
    lp32, lp64 = boltzmann_log_policy(q, mdp.tau, ref), boltzmann_log_policy(q.double(), mdp.tau, ref64)
    assert torch.equal(torch.isneginf(lp32), torch.isneginf(lp64))
    p32, p64 = lp32.exp().double(), lp64.exp()
    assert float((p32 - p64).abs().max()) <= ROUNDINGS * EPS32 * 41


# --- MDP functions --------------------------------------------------------------------------------------


@FEW
@given(edge_mdps(gamma=st.just(0.0)), seeds, st.sampled_from(POLICY_KINDS), edge_scales, st.integers(1, 5))
def test_gamma_zero_backups_and_returns_are_the_rewards(mdp, seed, kind, scale, n):
    """γ = 0: T Q = T_{π,n} Q = Q_π = R and E[n-step return] = R − τ KL (nothing after the first step is
    discounted in) at live states, exactly (γ·x = 0 and R + 0 = R), for any n and any policy."""
    note_regimes(mdp, kind)
    rng = np.random.default_rng(seed)
    q = edge_q(mdp, rng, scale)
    pi = edge_policy(mdp, rng, kind, q)
    live = ~mdp.terminal_mask
    R = torch.where(live[:, None], mdp.rewards, torch.zeros((), dtype=mdp.dtype))
    assert torch.equal(boltzmann_backup(mdp, q), R)
    assert torch.equal(nstep_boltzmann_backup(mdp, q, n), R)
    assert torch.equal(evaluate_policy(mdp, pi)[1], R)
    kl = policy_kl(mdp, pi)
    assert torch.equal(expected_nstep_return(mdp, pi, torch.zeros_like(kl), n, kl=kl), R - mdp.tau * kl[:, None] * live[:, None])


@FEW
@given(edge_mdps(dtypes=st.just(torch.float32)), seeds, st.sampled_from(POLICY_KINDS), edge_scales)
def test_float32_mdp_evaluators_match_float64(mdp, seed, kind, scale):
    """A float32 MDP stays float32 through boltzmann_backup and evaluate_policy and matches the float64
    evaluation of the same MDP within 64·eps32·M·41 (backup) and 64·eps32·cond·(M + |V|) (solve, cond ≤
    (1 + γ)/(1 − γ) or, with γ = 1, ≤ 2/0.05 since every step ends the episode with probability ≥ 0.05)."""
    note_regimes(mdp, kind)
    rng = np.random.default_rng(seed)
    q = edge_q(mdp, rng, scale)
    pi = edge_policy(mdp, rng, kind, q)
    m64 = as_float64(mdp)
    size = size_of(m64, q.double())
    b32 = boltzmann_backup(mdp, q)
    assert b32.dtype == torch.float32
    assert float((b32.double() - boltzmann_backup(m64, q.double())).abs().max()) <= ROUNDINGS * EPS32 * size * 41
    pi64 = pi.double() / pi.double().sum(-1, keepdim=True)
    v32, _ = evaluate_policy(mdp, pi)
    v64, _ = evaluate_policy(m64, pi64)
    cond = 40.0 if mdp.gamma == 1.0 else (1 + mdp.gamma) / (1 - mdp.gamma)
    assert v32.dtype == torch.float32
    assert float((v32.double() - v64).abs().max()) <= ROUNDINGS * EPS32 * cond * (size + float(v64.abs().max()))


# --- Targets: all-terminated, all-truncated, n beyond the segment ----------------------------------------


@FEW
@given(edge_segments())
def test_n_beyond_the_segment_is_the_whole_segment(seg):
    """n ≥ T uses every remaining step, exactly as n = None does (bit for bit): returns, soft targets and
    advantages."""
    T = seg.length
    common = dict(gamma=seg.gamma, tau=seg.tau)
    for n in (T, T + 1, 3 * T):
        assert torch.equal(
            nstep_return(seg.rewards, seg.next_values, seg.terminated, seg.truncated, gamma=seg.gamma, n=n),
            nstep_return(seg.rewards, seg.next_values, seg.terminated, seg.truncated, gamma=seg.gamma),
        )
        assert torch.equal(
            nstep_soft_target(seg.rewards, seg.kl, seg.next_values, seg.terminated, seg.truncated, n=n, **common),
            nstep_soft_target(seg.rewards, seg.kl, seg.next_values, seg.terminated, seg.truncated, **common),
        )
        assert torch.equal(
            nstep_advantage(seg.rewards, seg.kl, seg.values, seg.next_values, seg.terminated, seg.truncated, n=n, **common),
            nstep_advantage(seg.rewards, seg.kl, seg.values, seg.next_values, seg.terminated, seg.truncated, **common),
        )


@FEW
@given(edge_segments(flags=st.sampled_from(["all_terminated", "all_truncated"])))
def test_all_terminated_and_all_truncated_batches_are_one_step(seg):
    """Every step ends its episode: every target is its one-step form, for every n.
    All terminated: return r_t, regularised return r_t − τKL_t, soft target τKL_t + r_t − τKL_t, λ-target
    τKL_t + V_t + δ_t with no bootstrap.  All truncated: the same plus γ V(s_{t+1}) (bootstrap, but nothing
    summed from the next episode).  Tolerance 64·eps·(|r| + |V| + τ KL) (a few roundings per entry)."""
    boot = torch.zeros_like(seg.rewards) if bool(seg.terminated.all()) else seg.gamma * seg.next_values
    size = float(seg.rewards.abs().max() + seg.values.abs().max() + seg.next_values.abs().max() + seg.tau * seg.kl.max())
    tol = ROUNDINGS * EPS64 * size
    flags = (seg.terminated, seg.truncated)
    common = dict(gamma=seg.gamma, tau=seg.tau)

    def close(actual, expected):
        assert float((actual - expected).abs().max()) <= tol

    close(nstep_return(seg.rewards, seg.next_values, *flags, gamma=seg.gamma, n=seg.n), seg.rewards + boot)
    close(
        nstep_regularized_return(seg.rewards, seg.kl, seg.next_values, *flags, n=seg.n, **common),
        seg.rewards - seg.tau * seg.kl + boot,
    )
    close(nstep_soft_target(seg.rewards, seg.kl, seg.next_values, *flags, n=seg.n, **common), seg.rewards + boot)
    close(
        lambda_soft_target(seg.rewards, seg.kl, seg.values, seg.next_values, *flags, lam=0.9, **common),
        seg.rewards + boot,
    )


def test_negative_control_bootstrapping_through_a_termination_is_caught():
    """The all-terminated identity can fail: r + γ V(s') (the truncation formula) differs from the
    terminated target by γ|V(s')|, here ≥ 0.9·1e3, far above the tolerance."""
    rewards = torch.tensor([1.0, -2.0])
    next_values = torch.tensor([1e3, -5e3])
    terminated = torch.tensor([True, True])
    y = nstep_return(rewards, next_values, terminated, gamma=0.9, n=3)
    assert torch.equal(y, rewards)
    assert float((y - (rewards + 0.9 * next_values)).abs().min()) >= 900.0
