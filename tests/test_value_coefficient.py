"""The value coefficient of the equivalent A2C (§4 after Eq. (65), §6.3).

Claims checked exactly (float64 expected gradients on generated MDPs, n = 1..4):

* Soft Q-learning has the expected gradient of τ · L_a2c with value coefficient c = 1/τ
  ("the value function error has a coefficient of τ^{-1}"); c = 2/τ or the usual c = 0.5
  (τ ≠ 2) is not equivalent.
* §6.3: with Q_θ = V_θ + τ log(π_θ/π̄) (Eq. (57), a dueling architecture), scaling the gradient
  into the advantage stream by 1/τ and into the value stream by c gives exactly the expected
  gradient of L_a2c with coefficient c (``mdp_matched_soft_q_loss`` vs ``mdp_a2c_loss``); per
  sample (``matched_soft_q_loss``) it differs from the A2C gradient by a (∗)-type residual with
  zero action-expectation.  The printed advantage scale "1/γ" is not equivalent (γ ≠ τ).

Tolerance: RTOL = 1e-9 relative to the largest gradient term combined (see
test_mdp_equivalence.py for the justification; observed errors ≤ 1e-12 in the thorough
profile).  Negative controls: relative gap > GAP = 1e-4 on instances where the wrong variant is
wrong by construction.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import (
    a2c_loss,
    dueling_q,
    kl_divergence,
    matched_soft_q_loss,
    nstep_soft_target,
    soft_q_gradient_terms,
)
from equiv.expected import mdp_a2c_loss, mdp_expected_advantage, mdp_matched_soft_q_loss, mdp_soft_q_loss
from equiv.mdp import FiniteMDP
from tests.strategies import (
    DuelingParameterization,
    QParameterization,
    assert_close,
    finite_mdps,
    flat_grad,
    generic_mdps,
    log_uniform,
    parameterization_kinds,
    policy_and_value,
    profile_examples,
    relative_gap,
    sample_segment,
    seeds,
    state_weights,
)

RTOL = 1e-9
GAP = 1e-4
steps = st.integers(1, 4)
value_coefs = st.one_of(st.just(0.5), st.floats(0.0, 5.0))
# τ at least a factor 2 away from 2, so that c = 0.5 is at least a factor 2 away from 1/τ.
taus_away_from_two = st.one_of(log_uniform(0.05, 1.0), log_uniform(4.0, 20.0))


def soft_q_and_a2c(
    mdp: FiniteMDP, model: QParameterization, weights: torch.Tensor, n: int, value_coef: float
):
    """(∇ soft-Q loss, τ ∇ L_a2c(c), ∇ of each of τ L_policy and τ c L_value): exact expected gradients."""
    tau = mdp.tau
    soft_q = flat_grad(model, mdp_soft_q_loss(mdp, model.q(), weights, n))
    log_pi, v = policy_and_value(model.q(), mdp)
    a2c = flat_grad(model, tau * mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=value_coef))
    policy = flat_grad(model, tau * mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=0.0))
    return soft_q, a2c, policy, a2c - policy


@given(finite_mdps(), parameterization_kinds, seeds, steps)
def test_value_coefficient_one_over_tau_is_equivalent(mdp, kind, seed, n):
    """§4: ∇ soft-Q loss = τ ∇(L_policy + c L_value) exactly when c = 1/τ."""
    model = QParameterization(kind, mdp.num_states, mdp.num_actions, seed)
    soft_q, a2c, policy, value = soft_q_and_a2c(mdp, model, state_weights(mdp, seed), n, 1.0 / mdp.tau)
    scale = max(float(g.abs().max()) for g in (soft_q, policy, value))
    assert_close(a2c, soft_q, RTOL, f"c = 1/τ, {kind}, n={n}", scale=scale)


@given(
    generic_mdps(tau=taus_away_from_two),
    parameterization_kinds,
    seeds,
    steps,
    st.sampled_from(["2/tau", "0.5"]),
)
def test_value_coefficient_negative_control_other_coefficients(mdp, kind, seed, n, coefficient):
    """c = 2/τ and c = 0.5 (τ ≠ 2) are not equivalent to soft Q-learning: the gradient is off by
    τ (c − 1/τ) ∇L_value, and ∇L_value ≠ 0 off the fixed point (V_θ ≠ E[V̂])."""
    model = QParameterization(kind, mdp.num_states, mdp.num_actions, seed, scale=mdp.tau)
    weights = state_weights(mdp, seed)
    c = 2.0 / mdp.tau if coefficient == "2/tau" else 0.5
    soft_q, a2c, _, _ = soft_q_and_a2c(mdp, model, weights, n, c)
    assert relative_gap(a2c, soft_q) > GAP


# --- §6.3: the dueling parameterisation and the scaled update ------------------------------------------


@given(finite_mdps(), seeds, steps)
def test_eq65_holds_for_the_dueling_parameterisation(mdp, seed, n):
    """Eqs. (57), (65): for Q_θ = V_θ + τ log(π_θ/π̄) with separate value and policy heads, soft Q-learning's
    expected gradient is τ ∇L_a2c(c = 1/τ) evaluated at (π_θ, V_θ) (its Boltzmann policy and soft value)."""
    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    tau = mdp.tau
    soft_q = flat_grad(model, mdp_soft_q_loss(mdp, model.q(tau, mdp.ref_probs), weights, n))
    v, log_pi = model.heads()
    policy = flat_grad(model, tau * mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=0.0))
    a2c = flat_grad(model, tau * mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=1 / tau))
    scale = max(float(g.abs().max()) for g in (soft_q, policy, a2c - policy))
    assert_close(a2c, soft_q, RTOL, "Eq. (65), dueling", scale=scale)


def scaled_update_by_hand(mdp, model, weights, n, value_scale, advantage_scale) -> torch.Tensor:
    """The §6.3 update built without ``scale_gradient``: backpropagate ∂L/∂Q once through the value stream
    (policy head held fixed) and once through the advantage stream (value head held fixed), then scale."""
    tau = mdp.tau
    v, log_pi = model.heads()
    log_ref = torch.log(mdp.ref_probs)
    pd = log_pi.detach().exp()
    kl = torch.where(mdp.terminal_mask, 0.0, kl_divergence(log_pi.detach(), mdp.ref_probs))
    target = tau * kl[:, None] + v.detach()[:, None] + mdp_expected_advantage(mdp, log_pi, v, n)

    def loss(q):
        return weights @ torch.where(mdp.terminal_mask[:, None], 0.0, pd * 0.5 * (q - target) ** 2).sum(-1)

    through_value = flat_grad(model, loss(v[:, None] + tau * (log_pi.detach() - log_ref)))
    through_advantage = flat_grad(model, loss(v.detach()[:, None] + tau * (log_pi - log_ref)))
    return value_scale * through_value + advantage_scale * through_advantage


@given(finite_mdps(), seeds, steps, value_coefs)
def test_scaled_update_equals_a2c_in_expectation(mdp, seed, n, c):
    """§6.3: advantage-stream gradient × 1/τ and value-stream gradient × c give exactly ∇L_a2c with
    coefficient c in expectation (c = 0.5 in the paper's experiments; any c ≥ 0 here)."""
    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    v, log_pi = model.heads()
    matched = flat_grad(model, mdp_matched_soft_q_loss(mdp, log_pi, v, weights, n, value_scale=c))
    a2c = flat_grad(model, mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=c))
    policy = flat_grad(model, mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=0.0))
    by_hand = scaled_update_by_hand(mdp, model, weights, n, c, 1.0 / mdp.tau)
    scale = max(float(g.abs().max()) for g in (matched, policy, a2c - policy))
    assert_close(matched, a2c, RTOL, f"§6.3 scaled update, c={c}", scale=scale)
    assert_close(by_hand, matched, RTOL, "§6.3 update by hand vs mdp_matched_soft_q_loss", scale=scale)


@given(
    generic_mdps(gamma=st.floats(0.5, 0.99), tau=st.one_of(log_uniform(0.05, 0.25), log_uniform(2.0, 20.0))),
    seeds,
    steps,
    value_coefs,
)
def test_scaled_update_negative_control_printed_one_over_gamma(mdp, seed, n, c):
    """§6.3 as printed, advantage-stream gradient × 1/γ, is not A2C: it is off by (τ/γ − 1) ∇L_policy.

    τ/γ is drawn at least a factor 2 away from 1 (γ ∈ [0.5, 0.99], τ ≤ 0.25 or τ ≥ 2).
    """
    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    v, log_pi = model.heads()
    printed = flat_grad(
        model,
        mdp_matched_soft_q_loss(mdp, log_pi, v, weights, n, value_scale=c, advantage_scale=1 / mdp.gamma),
    )
    a2c = flat_grad(model, mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=c))
    assert relative_gap(printed, a2c) > GAP


def per_sample_gradients(model: DuelingParameterization, mdp: FiniteMDP, states, actions, targets, c: float):
    """Per-sample gradients ``[B, P]`` of the matched loss, the A2C loss (c) and the (∗)-type residual
    τ^{-1}(∗) + c (∗∗), for samples (s_b, a_b, y_b)."""
    tau = mdp.tau
    v, log_pi = model.heads()
    ref = mdp.ref_probs[states]
    vs, lps = v[states], log_pi[states]
    matched = matched_soft_q_loss(vs, lps, actions, targets, tau=tau, value_scale=c, ref_policy=ref)
    kl = kl_divergence(lps, ref)
    advantage = targets - tau * kl.detach() - vs.detach()  # Δ_t with y_t = τ KL_t + V(s_t) + Δ_t, Eq. (47)
    a2c = a2c_loss(
        lps.gather(-1, actions[:, None]).squeeze(-1),
        kl,
        vs,
        advantage,
        vs.detach() + advantage,
        tau=tau,
        value_coef=c,
    )
    terms = soft_q_gradient_terms(vs, lps, actions, targets, tau=tau, ref_policy=ref)
    residual = terms.star / tau + c * terms.star_star
    B = len(states)
    return [
        torch.cat(
            [
                g.reshape(B, -1)
                for g in torch.autograd.grad(
                    x, model.params, torch.eye(B), is_grads_batched=True, retain_graph=True
                )
            ],
            1,
        )
        for x in (matched, a2c, residual)
    ]


@settings(max_examples=profile_examples(0.5))
@given(finite_mdps(), seeds, steps, value_coefs)
def test_scaled_update_per_sample_is_a2c_plus_zero_mean_residual(mdp, seed, n, c):
    """§6.3 per sample: ∇ matched_soft_q_loss = ∇ a2c_loss(c) + ∇[(∗)/τ + c (∗∗)] for sampled (s_t, a_t, y_t)
    (y_t from ``nstep_soft_target``), and the residual's exact expectation over a ∼ π_θ(·|s) is 0."""
    tau, gamma = mdp.tau, mdp.gamma
    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    v, log_pi = (x.detach() for x in model.heads())
    kl = torch.where(mdp.terminal_mask, 0.0, kl_divergence(log_pi, mdp.ref_probs))
    v_live = torch.where(mdp.terminal_mask, 0.0, v)
    seg = sample_segment(mdp, log_pi.exp(), 6, torch.Generator().manual_seed(seed))
    s, a = seg.states, seg.actions
    y = nstep_soft_target(
        mdp.rewards[s, a], kl[s], v_live[seg.next_states], seg.terminated, gamma=gamma, tau=tau, n=n
    )
    matched, a2c, residual = per_sample_gradients(model, mdp, s, a, y, c)
    scale = max(float(g.abs().max()) for g in (matched, a2c, residual))
    assert_close(a2c + residual, matched, RTOL, "per-sample §6.3 decomposition", scale=scale)
    # Forward values agree bit for bit with the plain soft-Q loss (scale_gradient is the identity forward).
    q = dueling_q(v[s], log_pi[s], tau, mdp.ref_probs[s]).gather(-1, a[:, None]).squeeze(-1)
    assert torch.equal(
        matched_soft_q_loss(v[s], log_pi[s], a, y, tau=tau, value_scale=c, ref_policy=mdp.ref_probs[s]),
        0.5 * (q - y) ** 2,
    )

    # Zero action-expectation of the residual: all (s, a) pairs, weighted by π_θ(a|s).
    S, A = mdp.num_states, mdp.num_actions
    states, actions = torch.arange(S).repeat_interleave(A), torch.arange(A).repeat(S)
    any_targets = torch.from_numpy(np.random.default_rng(seed).normal(0, 1, S * A))  # the residual ignores y
    _, _, residual_all = per_sample_gradients(model, mdp, states, actions, any_targets, c)
    pi = log_pi.exp()
    res_scale = float(residual_all.abs().max())
    for state in range(S):
        expected = pi[state] @ residual_all[state * A : (state + 1) * A]
        assert_close(
            expected, torch.zeros_like(expected), RTOL, f"E_π[residual] at s={state}", scale=res_scale
        )
