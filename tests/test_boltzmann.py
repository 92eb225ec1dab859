"""Boltzmann policy, soft value, advantage and the dueling parameterisation (§2, §3.2, §4, §6.3).

Claims: (12)/(30) π^B = π̄ exp((Q − V_Q)/τ) is a distribution; (14)/(57) Q = V_Q + τ log(π^B/π̄)
(round trip); (32) A_Q = Q − V_Q = τ log(π^B/π̄); the dueling Q_θ = V_θ + τ log(π_θ/π̄) of §6.3 has
Boltzmann policy exactly π_θ and soft value exactly V_θ (Eqs. (55)-(57)); entropy and KL against the
uniform policy differ by log|A| (§6.2); ref_policy=None is the uniform reference.

Built here independently: π^B by a max-shifted exp/sum, V_Q by a max-shifted log-sum.
Tolerances: float64 round trips of log/exp/logsumexp over ≤ 8 actions agree to ~1e-15 of the
magnitude of the terms (|Q|, τ|log π̄|); we assert 1e-12 relative to that magnitude.  Negative
controls (printed Eq. (11), a missing τ, an unnormalised policy head, KL against a non-uniform π̄)
assert a discrepancy ≥ 10^4 × that tolerance on the same scale (relative gap > 1e-8).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import (
    boltzmann_log_policy,
    boltzmann_policy,
    dueling_q,
    entropy,
    kl_divergence,
    soft_advantage,
    soft_value,
)
from tests.strategies import (
    DTYPE,
    assert_close,
    exact_reference,
    log_uniform,
    profile_examples,
    relative_gap,
    seeds,
    taus,
)

RTOL = 1e-12
# A third of the profile's examples per property (20 in ci, 333 in thorough): keeps the ci tier of
# all the operator/target/stability files within their 10 s budget.
THIRD = settings(max_examples=profile_examples(1 / 3, minimum=10))
NEGATIVE_FACTOR = 1e4  # a negative control must miss by ≥ 10^4 × the identity's tolerance
NEGATIVE_GAP = NEGATIVE_FACTOR * RTOL  # = 1e-8 relative
taus_not_one = st.one_of(log_uniform(1e-2, 0.5), log_uniform(2.0, 1e2))


@st.composite
def q_tables(draw, tau=taus):
    """(q [B, A], π̄ [B, A] with full support — possibly near the simplex boundary —, τ)."""
    B, A = draw(st.integers(1, 5)), draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(seeds))
    q = torch.from_numpy(rng.normal(0.0, draw(log_uniform(1e-2, 1e2)), (B, A)))
    p = rng.dirichlet(np.full(A, draw(st.sampled_from([0.3, 1.0, 5.0]))), size=B)
    if draw(st.booleans()):
        p = np.where(rng.random((B, A)) < 0.3, 10.0 ** rng.uniform(-12, -6, (B, A)), p)
    ref = exact_reference(torch.from_numpy(np.maximum(p, 1e-300)))
    return q, ref, draw(tau)


def scale_of(q, ref, tau) -> float:
    """Magnitude of the terms: |Q|_∞ and τ|log π̄|_∞."""
    return max(float(q.abs().max()), tau * float(torch.log(ref).abs().max()), tau)


def by_hand(q, ref, tau):
    """(π^B, V_Q) computed directly from Eqs. (28)-(29) with a max shift."""
    x = q / tau + torch.log(ref)
    top = x.max(-1, keepdim=True).values
    weights = torch.exp(x - top)
    total = weights.sum(-1, keepdim=True)
    return weights / total, tau * (top + torch.log(total)).squeeze(-1)


@THIRD
@given(q_tables())
def test_eq12_eq30_boltzmann_policy_is_a_distribution_and_matches_definition(inputs):
    """(12)/(30): π^B = π̄ exp((Q − V_Q)/τ) sums to 1, and equals π̄ e^{Q/τ} / E_π̄[e^{Q/τ}] (28)."""
    q, ref, tau = inputs
    pi = boltzmann_policy(q, tau, ref)
    v = soft_value(q, tau, ref)
    pi_hand, v_hand = by_hand(q, ref, tau)
    assert bool((pi >= 0).all())
    assert_close(pi.sum(-1), torch.ones(q.shape[0], dtype=DTYPE), RTOL, "Σ π^B", scale=1.0)
    assert_close(pi, pi_hand, RTOL, "π^B vs (28)", scale=1.0)
    assert_close(v, v_hand, RTOL, "V_Q vs (29)", scale=scale_of(q, ref, tau))
    # (30) evaluated in log space: log π̄ + (Q − V)/τ = log π^B.
    assert_close(
        torch.log(ref) + (q - v[:, None]) / tau,
        boltzmann_log_policy(q, tau, ref),
        RTOL,
        "(30)",
        scale=scale_of(q, ref, tau) / tau,
    )


@THIRD
@given(q_tables(tau=taus_not_one))
def test_eq11_as_printed_negative_control(inputs):
    """Negative control / erratum check: the printed (11), v = τ log E_π̄[exp(q)/τ], is not the soft value
    (29) (which (12)-(14) need); with it, π̄ exp((q − v)/τ) does not even sum to 1."""
    q, ref, tau = inputs
    printed = tau * torch.log((ref * torch.exp(q)).sum(-1) / tau)
    v = soft_value(q, tau, ref)
    assert relative_gap(printed, v) > NEGATIVE_GAP
    pi_printed = ref * torch.exp((q - printed[:, None]) / tau)
    assert float((pi_printed.sum(-1) - 1).abs().max()) > NEGATIVE_GAP


@THIRD
@given(q_tables())
def test_eq14_eq57_q_round_trip(inputs):
    """(14)/(57): Q = V_Q + τ log(π^B/π̄) recovers Q, i.e. dueling_q(V_Q, log π^B_Q) = Q."""
    q, ref, tau = inputs
    v = soft_value(q, tau, ref)
    log_pi = boltzmann_log_policy(q, tau, ref)
    assert_close(dueling_q(v, log_pi, tau, ref), q, RTOL, "(14)", scale=scale_of(q, ref, tau))
    assert_close(
        v[:, None] + tau * (log_pi - torch.log(ref)), q, RTOL, "(14) by hand", scale=scale_of(q, ref, tau)
    )


@THIRD
@given(q_tables(tau=taus_not_one))
def test_eq14_negative_control_missing_tau(inputs):
    """Negative control: Q = V_Q + log(π^B/π̄) (τ dropped) misses Q by (τ − 1)·log(π^B/π̄)."""
    q, ref, tau = inputs
    v = soft_value(q, tau, ref)
    log_ratio = boltzmann_log_policy(q, tau, ref) - torch.log(ref)
    wrong = v[:, None] + log_ratio
    assert float((wrong - q).abs().max()) > NEGATIVE_FACTOR * RTOL * scale_of(q, ref, tau)


@THIRD
@given(q_tables())
def test_eq32_soft_advantage_is_tau_log_ratio(inputs):
    """(32): A_Q = Q − V_Q = τ log(π^B/π̄); its π^B-expectation is τ KL[π^B ‖ π̄] (so ≥ 0)."""
    q, ref, tau = inputs
    advantage = soft_advantage(q, tau, ref)
    log_pi = boltzmann_log_policy(q, tau, ref)
    scale = scale_of(q, ref, tau)
    assert_close(advantage, tau * (log_pi - torch.log(ref)), RTOL, "(32)", scale=scale)
    assert_close(advantage, q - by_hand(q, ref, tau)[1][:, None], RTOL, "A = Q − V", scale=scale)
    assert_close(
        (log_pi.exp() * advantage).sum(-1),
        tau * kl_divergence(log_pi, ref),
        RTOL,
        "E_π[A] = τKL",
        scale=scale,
    )


@THIRD
@given(st.integers(1, 5), st.integers(2, 8), seeds, taus, st.booleans())
def test_eq55_eq57_dueling_q_has_the_given_policy_and_value(batch, num_actions, seed, tau, uniform):
    """§6.3 / (55)-(57): for any V and normalised log π, Q = dueling_q(V, log π) has Boltzmann policy
    exactly π and soft value exactly V.  Negative control: with an unnormalised log π (shifted by c),
    the soft value is off by τc — the policy head must be normalised."""
    rng = np.random.default_rng(seed)
    value = torch.from_numpy(rng.normal(0.0, 10.0, batch))
    log_pi = torch.log_softmax(torch.from_numpy(rng.normal(0.0, 3.0, (batch, num_actions))), -1)
    ref = (
        None
        if uniform
        else exact_reference(torch.from_numpy(rng.dirichlet(np.ones(num_actions), size=batch)))
    )
    q = dueling_q(value, log_pi, tau, ref)
    scale = max(float(value.abs().max()), float(q.abs().max()))
    assert_close(
        boltzmann_log_policy(q, tau, ref),
        log_pi,
        RTOL,
        "policy of dueling Q",
        scale=float(log_pi.abs().max()) + scale / tau,
    )
    assert_close(soft_value(q, tau, ref), value, RTOL, "value of dueling Q", scale=scale)
    shifted = dueling_q(value, log_pi + 0.5, tau, ref)
    assert_close(
        soft_value(shifted, tau, ref) - value,
        torch.full_like(value, 0.5 * tau),
        1e-10,
        "unnormalised shift",
        scale=scale,
    )
    miss = float((soft_value(shifted, tau, ref) - value).abs().min())
    assert miss > NEGATIVE_FACTOR * RTOL * scale  # fails the "value of dueling Q" check above


@THIRD
@given(q_tables())
def test_entropy_and_kl_to_uniform_differ_by_log_num_actions(inputs):
    """§6.2: KL[π ‖ uniform] = log|A| − S[π] for any π (here π^B_Q).  Negative control: against a
    non-uniform π̄ the difference log|A| − S − KL is not 0."""
    q, ref, tau = inputs
    log_pi = boltzmann_log_policy(q, tau, ref)
    A = q.shape[-1]
    kl_uniform = kl_divergence(log_pi, None)
    assert_close(
        kl_uniform, math.log(A) - entropy(log_pi), RTOL, "KL_uniform = log A − S", scale=math.log(A) + 1
    )
    pi = log_pi.exp()
    shannon = -(torch.where(pi > 0, pi * log_pi, torch.zeros((), dtype=DTYPE))).sum(-1)
    assert_close(entropy(log_pi), shannon, RTOL, "S[π]", scale=math.log(A) + 1)
    skewed = exact_reference(torch.softmax(torch.arange(A, dtype=DTYPE), -1).expand_as(q))
    gap = math.log(A) - entropy(log_pi) - kl_divergence(log_pi, skewed)
    assert float(gap.abs().max()) > NEGATIVE_GAP * (math.log(A) + 1)


@THIRD
@given(q_tables())
def test_uniform_default_equals_explicit_uniform(inputs):
    """ref_policy=None means the uniform π̄ (the paper's Atari setting) for every function."""
    q, _, tau = inputs
    A = q.shape[-1]
    uniform = torch.full((A,), 1.0 / A, dtype=DTYPE)
    scale = float(q.abs().max()) + tau * math.log(A)
    assert_close(soft_value(q, tau), soft_value(q, tau, uniform), RTOL, "V", scale=scale)
    assert_close(
        boltzmann_log_policy(q, tau), boltzmann_log_policy(q, tau, uniform), RTOL, "log π", scale=scale / tau
    )
    log_pi = boltzmann_log_policy(q, tau)
    assert_close(kl_divergence(log_pi), kl_divergence(log_pi, uniform), RTOL, "KL", scale=math.log(A) + 1)
    assert_close(soft_advantage(q, tau), soft_advantage(q, tau, uniform), RTOL, "A", scale=scale)
