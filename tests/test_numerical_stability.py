"""Numerical stability for τ ∈ [1e-4, 1e4] and |Q| up to 1e4, float64 and float32.

No inf/NaN in soft values, Boltzmann log-policies (except −inf exactly where π̄ = 0), KL, their
gradients, the targets and the losses; V_Q and KL stay inside their mathematical bounds

    max_a (Q(a) + τ log π̄(a))  ≤  V_Q  ≤  max_{a: π̄(a)>0} Q(a),
    0  ≤  KL[π^B_Q ‖ π̄]  ≤  max_{a: π̄(a)>0} log(1/π̄(a)),

(the lower bound of V is ≥ max Q + τ log min π̄), up to rounding: V_Q = τ·logsumexp(x) with
x = Q/τ + log π̄ carries an absolute error of a few eps·(|Q|_∞ + τ|log π̄|_∞); we allow 16·eps(dtype)
times that magnitude.  π̄ with zero entries gets Boltzmann probability exactly 0 there, finite KL and
finite gradients.

Negative controls: the naive τ log Σ π̄ exp(Q/τ) overflows to inf at τ = 1e-4, |Q| = 1e4, and the naive
KL Σ π log(π/π̄) is NaN where π = π̄ = 0 — so the finiteness checks here can fail.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import (
    a2c_loss,
    boltzmann_log_policy,
    entropy_bonus_target,
    gather_actions,
    hard_max_target,
    kl_divergence,
    lambda_soft_target,
    matched_soft_q_loss,
    nstep_soft_target,
    one_step_soft_target,
    policy_loss,
    soft_q_loss,
    soft_value,
)
from tests.strategies import log_uniform, profile_examples, seeds

REFERENCES = ["uniform", "random", "with_zeros", "near_boundary"]
# A third of the profile's examples per property (20 in ci, 333 in thorough): keeps the ci tier of
# all the operator/target/stability files within their 10 s budget.
THIRD = settings(max_examples=profile_examples(1 / 3, minimum=10))


DTYPES = st.sampled_from([torch.float64, torch.float32])


@st.composite
def extreme_inputs(draw, dtypes=DTYPES):
    """(q [B, A], π̄ [B, A] or None, τ, dtype) with τ ∈ [1e-4, 1e4] and |Q| ≤ 1e4."""
    dtype = draw(dtypes)
    kind = draw(st.sampled_from(REFERENCES if dtype == torch.float64 else REFERENCES[:3]))
    tau = draw(st.one_of(st.sampled_from([1e-4, 1e4]), log_uniform(1e-4, 1e4)))
    q_max = draw(st.one_of(st.just(1e4), log_uniform(1e-3, 1e4)))
    B, A = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(seeds))
    q = rng.uniform(-q_max, q_max, (B, A))
    q[0, 0] = q_max * draw(st.sampled_from([1.0, -1.0]))  # hit |Q| = q_max exactly
    if kind == "uniform":
        ref = None
    else:
        p = rng.dirichlet(np.ones(A), size=B)
        if kind == "with_zeros":
            zero = rng.random((B, A)) < 0.4
            zero[:, 0] = False  # keep at least one supported action
            p = np.where(zero, 0.0, p)
        elif kind == "near_boundary":
            p = np.where(rng.random((B, A)) < 0.4, 10.0 ** rng.uniform(-300, -6, (B, A)), p)
        p = torch.from_numpy(p / p.sum(-1, keepdims=True)).to(dtype)
        ref = p / p.sum(-1, keepdim=True)  # renormalise in the target dtype
    return torch.from_numpy(q).to(dtype), ref, tau, dtype


def log_ref_of(ref, q):
    return torch.full_like(q, -math.log(q.shape[-1])) if ref is None else torch.log(ref)


def normalisation_slack(q, ref, tau) -> torch.Tensor:
    """How far Σ_a π^B(a) may be from 1: π^B = exp(x − logsumexp(x)) with x = Q/τ + log π̄, and x − lse
    carries an absolute error of a few eps·|x|, i.e. a relative error of that size in each π^B(a)."""
    eps = torch.finfo(q.dtype).eps
    return 8 * q.shape[-1] * eps * (1 + magnitude(q, ref, tau) / tau)


def magnitude(q, ref, tau) -> torch.Tensor:
    """|Q|_∞ + τ max_{π̄>0} |log π̄| + τ log A per row: the size of what logsumexp adds up."""
    log_ref = log_ref_of(ref, q)
    finite = torch.where(torch.isfinite(log_ref), log_ref.abs(), torch.zeros((), dtype=q.dtype))
    return q.abs().max(-1).values + tau * finite.max(-1).values + tau * math.log(q.shape[-1])


@THIRD
@given(extreme_inputs())
def test_soft_value_is_finite_and_within_bounds(inputs):
    check_soft_value_is_finite_and_within_bounds(inputs)


def check_soft_value_is_finite_and_within_bounds(inputs):
    """V_Q(s) = τ log E_π̄[exp(Q/τ)] (Eq. (29)) is finite and lies in [max_a(Q + τ log π̄), max_{supp} Q]."""
    q, ref, tau, dtype = inputs
    v = soft_value(q, tau, ref)
    assert v.dtype == dtype and torch.isfinite(v).all()
    log_ref = log_ref_of(ref, q)
    slack = 16 * torch.finfo(dtype).eps * magnitude(q, ref, tau)
    lower = (q + tau * log_ref).max(-1).values
    upper = torch.where(torch.isfinite(log_ref), q, torch.full_like(q, -math.inf)).max(-1).values
    assert bool((v >= lower - slack).all()) and bool((v <= upper + slack).all())
    min_ref = torch.where(torch.isfinite(log_ref), log_ref, torch.full_like(q, math.inf)).min(-1).values
    assert bool((v >= upper + tau * min_ref - slack).all())  # the looser max Q + τ log min π̄


@THIRD
@given(extreme_inputs())
def test_boltzmann_log_policy_is_normalised_and_minus_inf_exactly_off_support(inputs):
    check_boltzmann_log_policy_is_normalised_and_minus_inf_exactly_off_support(inputs)


def check_boltzmann_log_policy_is_normalised_and_minus_inf_exactly_off_support(inputs):
    """log π^B_Q (Eq. (30)): −inf exactly where π̄ = 0, finite elsewhere, ≤ 0, and Σ π^B = 1."""
    q, ref, tau, _ = inputs
    log_pi = boltzmann_log_policy(q, tau, ref)
    off_support = torch.zeros_like(q, dtype=torch.bool) if ref is None else (ref == 0).expand_as(q)
    assert torch.equal(torch.isneginf(log_pi), off_support)
    assert not torch.isnan(log_pi).any() and bool((log_pi[~off_support] <= 0).all())
    assert bool(((log_pi.exp().sum(-1) - 1).abs() <= normalisation_slack(q, ref, tau)).all())


@THIRD
@given(extreme_inputs())
def test_kl_is_finite_and_within_bounds(inputs):
    check_kl_is_finite_and_within_bounds(inputs)


def check_kl_is_finite_and_within_bounds(inputs):
    """0 ≤ KL[π^B_Q ‖ π̄] ≤ max_{π̄(a)>0} log(1/π̄(a)), finite also when π̄ has zeros."""
    q, ref, tau, dtype = inputs
    kl = kl_divergence(boltzmann_log_policy(q, tau, ref), ref)
    assert torch.isfinite(kl).all()
    log_ref = log_ref_of(ref, q)
    bound = torch.where(torch.isfinite(log_ref), -log_ref, torch.zeros((), dtype=dtype)).max(-1).values
    # KL = Σ π (log π − log π̄): rounding of a few eps per term of size |log π̄|, |log π| ≤ bound + |log π|.
    slack = 16 * torch.finfo(dtype).eps * (bound + 1 + q.abs().max(-1).values / tau)
    assert bool((kl >= -slack).all()) and bool((kl <= bound + slack).all())


@THIRD
@given(extreme_inputs())
def test_gradients_are_finite(inputs):
    check_gradients_are_finite(inputs)


def check_gradients_are_finite(inputs):
    """∇_Q V_Q = π^B_Q (finite, rows sum to 1, 0 where π̄ = 0) and ∇_Q KL[π^B_Q ‖ π̄] is finite."""
    q, ref, tau, _ = inputs
    q = q.clone().requires_grad_()
    (grad_v,) = torch.autograd.grad(soft_value(q, tau, ref).sum(), q)
    assert torch.isfinite(grad_v).all()
    assert bool(((grad_v.sum(-1) - 1).abs() <= normalisation_slack(q.detach(), ref, tau)).all())
    if ref is not None:
        assert bool((grad_v[(ref == 0).expand_as(q)] == 0).all())
    (grad_kl,) = torch.autograd.grad(kl_divergence(boltzmann_log_policy(q, tau, ref), ref).sum(), q)
    assert torch.isfinite(grad_kl).all()


@THIRD
@given(extreme_inputs(), st.floats(0.0, 1.0))
def test_targets_and_losses_are_finite(inputs, lam):
    check_targets_and_losses_are_finite(inputs, lam)


def check_targets_and_losses_are_finite(inputs, lam):
    """Targets (45), (46), λ-(43), (81), (83) and the losses (44), (84)-(86), §6.3 stay finite with their
    gradients, with rewards and values as large as Q (the B rows of q act as time steps)."""
    q, ref, tau, _ = inputs
    q = q.clone().requires_grad_()
    B = q.shape[0]
    log_pi = boltzmann_log_policy(q, tau, ref)
    kl = kl_divergence(log_pi, ref)
    v = soft_value(q, tau, ref)
    rewards = q.detach()[:, -1]
    terminated = torch.arange(B) % 3 == 2
    next_v = torch.roll(v.detach(), -1)
    targets = [
        nstep_soft_target(rewards, kl.detach(), next_v, terminated, gamma=0.99, tau=tau, n=3),
        lambda_soft_target(
            rewards, kl.detach(), v.detach(), next_v, terminated, gamma=0.99, tau=tau, lam=lam
        ),
        one_step_soft_target(rewards, q.detach(), terminated, gamma=0.99, tau=tau, ref_policy=ref),
        entropy_bonus_target(rewards, q.detach(), terminated, gamma=0.99, tau=tau),
        hard_max_target(rewards, q.detach(), terminated, gamma=0.99),
    ]
    for y in targets:
        assert torch.isfinite(y).all()
    actions = log_pi.detach().argmax(-1)  # a supported action
    log_pi_taken = gather_actions(log_pi, actions)
    advantage = targets[0] - v.detach()
    losses = [
        soft_q_loss(gather_actions(q, actions), targets[0]),
        policy_loss(log_pi_taken, advantage, kl, tau=tau),
        a2c_loss(log_pi_taken, kl, v, advantage, targets[0], tau=tau, value_coef=0.5),
    ]
    if ref is None or bool((ref > 0).all()):  # the dueling form needs π̄ > 0 (Eq. (57))
        losses.append(matched_soft_q_loss(v, log_pi, actions, targets[0], tau=tau, ref_policy=ref))
    for loss in losses:
        assert torch.isfinite(loss).all()
        (grad,) = torch.autograd.grad(loss.sum(), q, retain_graph=True)
        assert torch.isfinite(grad).all()


def corner(tau: float, q_max: float, kind: str, dtype: torch.dtype):
    """A fixed extreme case: Q spans [−q_max, q_max] across 5 actions, in 3 states."""
    q = torch.tensor(
        [
            [q_max, -q_max, 0.5 * q_max, -0.25 * q_max, 0.0],
            [-q_max, -q_max, -q_max, -q_max, -q_max],
            [q_max, q_max, q_max - 1e-3, -q_max, 1.0],
        ],
        dtype=dtype,
    )
    ref = {
        "uniform": None,
        "random": torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25], dtype=dtype),
        "with_zeros": torch.tensor([0.0, 0.4, 0.0, 0.6, 0.0], dtype=dtype),
        "near_boundary": torch.tensor([1e-300, 0.5 - 1e-300, 1e-12, 0.5 - 1e-12, 0.0], dtype=dtype),
    }[kind]
    return q, ref, tau, dtype


CORNERS = [
    (tau, q_max, kind, dtype)
    for tau in (1e-4, 1.0, 1e4)
    for q_max in (1e-3, 1e4)
    for kind in REFERENCES
    for dtype in (torch.float64, torch.float32)
    if not (kind == "near_boundary" and dtype == torch.float32)
]


def test_extreme_corners():
    """Every check above on the corners of the range: τ ∈ {1e-4, 1, 1e4} × |Q| ∈ {1e-3, 1e4} × the four
    kinds of π̄ × float64/float32 (hypothesis explores the interior)."""
    for case in CORNERS:
        inputs = corner(*case)
        check_soft_value_is_finite_and_within_bounds(inputs)
        check_boltzmann_log_policy_is_normalised_and_minus_inf_exactly_off_support(inputs)
        check_kl_is_finite_and_within_bounds(inputs)
        check_gradients_are_finite(inputs)
        for lam in (0.0, 0.95, 1.0):
            check_targets_and_losses_are_finite(inputs, lam)


def test_zero_reference_entries_get_zero_probability_and_finite_kl():
    """π̄ = (0.5, 0, 0.5): π^B is exactly 0 at the middle action whatever Q says there, and the KL and
    its gradient are finite (no 0·log 0 = NaN)."""
    ref = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    q = torch.tensor([0.0, 1e4, 1.0], dtype=torch.float64, requires_grad=True)
    log_pi = boltzmann_log_policy(q, 1e-4, ref)
    assert log_pi[1].item() == -math.inf and log_pi.exp()[1].item() == 0.0
    kl = kl_divergence(log_pi, ref)
    (grad,) = torch.autograd.grad(kl, q)
    assert math.isfinite(kl.item()) and torch.isfinite(grad).all()
    assert 0.0 <= kl.item() <= math.log(2.0) + 1e-15  # π^B ≈ δ_{a=2}: KL → log 2


def test_negative_control_naive_soft_value_overflows():
    """The naive τ log Σ π̄ exp(Q/τ) overflows (exp(1e8) = inf) at τ = 1e-4, Q = 1e4 in float64 — and
    underflows to −inf at Q = −1e4 — while the library's log-space value is finite and ≈ max Q."""
    q = torch.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype=torch.float64)
    tau = 1e-4
    naive = tau * torch.log((torch.exp(q / tau) / 3).sum(-1))
    assert naive[0].item() == math.inf and naive[1].item() == -math.inf  # the finiteness check fails
    v = soft_value(q, tau)
    assert torch.isfinite(v).all()
    assert abs(v[0].item() - (1e4 - tau * math.log(3))) <= 1e-12 * 1e4
    assert abs(v[1].item() - (-1e4)) <= 1e-12 * 1e4


def test_negative_control_naive_kl_is_nan_off_support():
    """The naive Σ π log(π/π̄) is NaN where π = π̄ = 0 (0·log(0/0)); the library's KL is finite."""
    ref = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    pi = boltzmann_log_policy(torch.tensor([0.0, 3.0, 1.0], dtype=torch.float64), 1.0, ref).exp()
    naive = (pi * torch.log(pi / ref)).sum()
    assert math.isnan(naive.item())
    assert math.isfinite(kl_divergence(torch.log(pi), ref).item())
