"""Sharper properties: the stop-gradients of the losses (Eqs. (8)-(9), (53), (59)-(60), (84)-(86)).

The paper differentiates every regression loss with its target held fixed: Eq. (60) swaps gradient
and expectation "treating the state-action distribution as fixed" and regresses Q_θ(s_t, a_t) on
y_t; Eqs. (53)/(85) regress V_θ(s_t) on V̂_t; Eq. (84) weights ∇log π_θ by a fixed Δ_t.  Every other
test of the suite builds its targets from detached inputs, so it cannot tell a loss that detaches its
target from one that does not (the bug catalogue, tests/bug_catalogue.py, found this gap: the
"target not detached" bugs passed every existing test).  Here the targets are built from the same
parameters θ that are being trained (no target network), as in a real update, and the per-sample
library losses are checked against the exact expected gradients of ``equiv.expected`` (which detach
by construction):

* Eq. (60): Σ_{s,a} w(s) π_θ(a|s) ∇ soft_q_loss(Q_θ(s,a), E[y_t | s, a]) = ∇ mdp_soft_q_loss — the
  per-sample gradient (Q − y)∇Q is linear in y, so plugging in the exact E[y | s, a] (a function of
  θ, from ``expected_nstep_soft_target``) gives the expected gradient exactly.
* Eqs. (84)-(86): the same with a2c_loss (policy_loss + c · value_loss), Δ(s,a) = E[Δ_t | s, a] and
  V̂ = V_θ(s) + Δ(s,a) built from V_θ, against ∇ mdp_a2c_loss.

Tolerance: RTOL = 1e-9 relative to the largest gradient compared (sums of ≤ |S||A|·n float64
products and n-step dynamic programs; see tests/test_mdp_equivalence.py).  Observed with the thorough
profile (500 examples per property): errors ≤ 4e-15.  Negative controls: the same losses written
without the stop-gradient miss by a relative gap > GAP = 1e-4 on generic instances (γ ≥ 0.5: with
γ = 0 the targets do not depend on θ beyond terms that cancel, and both forms agree); smallest gap
observed in 500 examples: 6e-3 (soft-Q loss), 6e-2 (A2C losses).
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import a2c_loss, boltzmann_policy, kl_divergence, soft_q_loss
from equiv.expected import mdp_a2c_loss, mdp_soft_q_loss
from equiv.mdp import FiniteMDP, expected_nstep_return, expected_nstep_soft_target
from tests.strategies import (
    DuelingParameterization,
    QParameterization,
    assert_close,
    finite_mdps,
    flat_grad,
    generic_mdps,
    log_uniform,
    parameterization_kinds,
    profile_examples,
    relative_gap,
    seeds,
    state_weights,
)

RTOL = 1e-9
GAP = 1e-4
HALF = settings(max_examples=profile_examples(0.5))
steps = st.integers(1, 4)
# c = 0 would switch the value loss off (and hide a value-loss bug): draw c > 0, including A2C's 0.5.
value_coefs = st.one_of(st.just(0.5), st.floats(0.1, 5.0))
generic_discounted = generic_mdps(gamma=st.floats(0.5, 0.99), tau=log_uniform(0.1, 10.0))


def live_states(mdp: FiniteMDP) -> torch.Tensor:
    return (~mdp.terminal_mask).to(mdp.dtype)


def soft_q_surrogates(mdp: FiniteMDP, model: QParameterization, weights: torch.Tensor, n: int):
    """(Σ w π^B soft_q_loss(Q_θ, E[y|s,a]), the same without the stop-gradient), E[y|s,a] built from Q_θ."""
    q = model.q()
    target = expected_nstep_soft_target(mdp, q, n)  # differentiable in θ: no target network
    pi = boltzmann_policy(q, mdp.tau, mdp.ref_probs).detach()  # the sampling distribution is fixed (Eq. (60))
    w = weights * live_states(mdp)
    library = w @ (pi * soft_q_loss(q, target)).sum(-1)
    no_stop_gradient = w @ (pi * 0.5 * (q - target) ** 2).sum(-1)
    return library, no_stop_gradient


@HALF
@given(finite_mdps(), parameterization_kinds, seeds, steps)
def test_eq60_soft_q_loss_is_a_semi_gradient_when_the_target_depends_on_theta(mdp, kind, seed, n):
    """Eq. (60): with y built from Q_θ itself, ∇ E[soft_q_loss(Q_θ(s_t,a_t), y_t)] is the expected
    semi-gradient E[(Q_θ − y_t)∇Q_θ] = ∇ mdp_soft_q_loss (which holds π and y fixed)."""
    model = QParameterization(kind, mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    library, _ = soft_q_surrogates(mdp, model, weights, n)
    g_library = flat_grad(model, library)
    g_expected = flat_grad(model, mdp_soft_q_loss(mdp, model.q(), weights, n))
    scale = max(float(g_library.abs().max()), float(g_expected.abs().max()))
    assert_close(g_library, g_expected, RTOL, f"∇ soft_q_loss with a θ-dependent target, n={n}", scale=scale)


@HALF
@given(generic_discounted, parameterization_kinds, seeds, steps)
def test_eq60_negative_control_target_not_detached(mdp, kind, seed, n):
    """½(Q_θ − y)² differentiated through y (the DQN "forgot no_grad on the target" bug) is not the
    soft Q-learning gradient: it adds −(Q − y)∇y."""
    model = QParameterization(kind, mdp.num_states, mdp.num_actions, seed, scale=mdp.tau)
    weights = state_weights(mdp, seed)
    _, no_stop_gradient = soft_q_surrogates(mdp, model, weights, n)
    g_expected = flat_grad(model, mdp_soft_q_loss(mdp, model.q(), weights, n))
    assert relative_gap(flat_grad(model, no_stop_gradient), g_expected) > GAP


def a2c_surrogates(mdp: FiniteMDP, model: DuelingParameterization, weights: torch.Tensor, n: int, c: float):
    """(Σ w π a2c_loss(...), the same without stop-gradients) with Δ(s,a) = E[Δ_t | s, a] and
    V̂ = V_θ(s) + Δ(s,a) built from the value head V_θ (bootstrap γ^n V_θ(s_{t+n}), Eq. (58))."""
    S, A = mdp.num_states, mdp.num_actions
    live = live_states(mdp)
    v, log_pi = model.heads()
    pd = log_pi.detach().exp()
    kl_fixed = kl_divergence(log_pi.detach(), mdp.ref_probs) * live  # KL_{t+d} of the sampled path: data
    advantage = expected_nstep_return(mdp, pd, v * live, n, kl=kl_fixed) - v[:, None]  # depends on θ
    value_target = v[:, None] + advantage  # V̂_t = V_θ(s_t) + Δ_t, Eq. (58)
    kl_theta = kl_divergence(log_pi, mdp.ref_probs)  # the τ KL(s_t) term of L_policy, differentiated
    states, actions = torch.arange(S).repeat_interleave(A), torch.arange(A).repeat(S)
    per_sample = a2c_loss(
        log_pi[states, actions],
        kl_theta[states],
        v[states],
        advantage.flatten(),
        value_target.flatten(),
        tau=mdp.tau,
        value_coef=c,
    )
    no_stop_gradient = (
        -log_pi[states, actions] * advantage.flatten()
        + mdp.tau * kl_theta[states]
        + c * 0.5 * (v[states] - value_target.flatten()) ** 2
    )
    weight = (weights * live)[states] * pd.flatten()  # s_t ∼ w, a_t ∼ π_θ (fixed, Eq. (60))
    return (weight * per_sample).sum(), (weight * no_stop_gradient).sum()


@HALF
@given(finite_mdps(), seeds, steps, value_coefs)
def test_eq84_eq86_a2c_losses_are_semi_gradients_when_targets_depend_on_theta(mdp, seed, n, c):
    """Eqs. (84)-(86): with Δ_t and V̂_t built from the same value head V_θ, the per-sample a2c_loss
    (policy_loss + c · value_loss) has the expected gradient of mdp_a2c_loss, which holds Δ and V̂ fixed:
    E[−∇log π_θ Δ_t + τ∇KL(s_t) + c (V_θ − V̂_t)∇V_θ]."""
    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    library, _ = a2c_surrogates(mdp, model, weights, n, c)
    g_library = flat_grad(model, library)
    v, log_pi = model.heads()
    g_expected = flat_grad(model, mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=c))
    scale = max(float(g_library.abs().max()), float(g_expected.abs().max()))
    what = f"∇ a2c_loss with θ-dependent Δ, V̂ (c={c:.3g}, n={n})"
    assert_close(g_library, g_expected, RTOL, what, scale=scale)


@HALF
@given(generic_discounted, seeds, steps, value_coefs)
def test_eq84_eq86_negative_control_targets_not_detached(mdp, seed, n, c):
    """The A2C losses written without stop-gradients on Δ_t and V̂_t (advantage and returns computed
    from the critic without detach) do not have the A2C gradient."""
    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    _, no_stop_gradient = a2c_surrogates(mdp, model, weights, n, c)
    v, log_pi = model.heads()
    g_expected = flat_grad(model, mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=c))
    assert relative_gap(flat_grad(model, no_stop_gradient), g_expected) > GAP


# --- §6.3: the default advantage-stream scale, on discounted MDPs --------------------------------------

# τ at least a factor 2 away from every γ ∈ [0.5, 0.99]: the printed scale 1/γ is then off by τ/γ ∉ [½, 2].
taus_away_from_gamma = st.one_of(log_uniform(0.05, 0.25), log_uniform(2.0, 20.0))


@HALF
@given(generic_mdps(gamma=st.floats(0.5, 0.99), tau=taus_away_from_gamma), seeds, steps, value_coefs)
def test_sec63_default_advantage_scale_gives_a2c_on_discounted_mdps(mdp, seed, n, c):
    """§6.3 with the library's default advantage-stream scale (1/τ; the paper prints 1/γ) gives exactly
    ∇L_a2c(c) in expectation, on discounted MDPs with τ far from γ.  test_value_coefficient.py checks the
    same identity over all γ, including γ = 0, where a 1/γ scale is not even defined: this version
    measures how far a wrong default is, instead of stopping at the division by zero."""
    from equiv.expected import mdp_matched_soft_q_loss

    model = DuelingParameterization(mdp.num_states, mdp.num_actions, seed)
    weights = state_weights(mdp, seed)
    v, log_pi = model.heads()
    matched = flat_grad(model, mdp_matched_soft_q_loss(mdp, log_pi, v, weights, n, value_scale=c))
    a2c = flat_grad(model, mdp_a2c_loss(mdp, log_pi, v, weights, n, value_coef=c))
    scale = max(float(matched.abs().max()), float(a2c.abs().max()))
    assert_close(matched, a2c, RTOL, f"§6.3 default scaling, γ={mdp.gamma:.3g}, τ={mdp.tau:.3g}", scale=scale)
