"""Section 3.6 and §6.1: which entropy-regularised policy-gradient estimators are unbiased.

Claims checked exactly in float64 (expectations by dynamic programming, linear solves and, on
tiny MDPs, enumeration of every trajectory), for a softmax policy π_θ = softmax(θ):

* Eq. (51): finite horizon, γ = 1: the expectation of the proper estimator (49) is ∇_θ of the
  objective E[Σ_{t<T} (r_t − τ KL_t)]; the naive estimator (48) is biased for τ > 0 (T ≥ 2);
  the printed (49), with r_0 in place of r_t, is biased too (erratum).
* Eqs. (49) = (50) on episodic / discounted MDPs: E[Σ_t ∇log π (r_t + Σ_{d≥1} γ^d (r_{t+d} − τ KL_{t+d}))
  − τ∇KL] = E[Σ_t ∇log π (Q_π − V_π) − τ∇KL] (``policy_gradient_surrogate``), against an
  independent construction (state-action linear system, visitation by a separate solve); with
  γ = 1 this is ∇ of the total regularised reward.
* Eqs. (52)/(80) with V = V_π: the n-step estimator ∇log π Δ_t − τ∇KL (Δ_t = Σ_{d<n} γ^d δ_{t+d},
  bootstrapped with γ^n V(s_{t+n})) has expectation g_γ for every n.  As printed — (52) without
  the −τ∇KL term, (80) without the bootstrap — they are biased (errata), and so is the naive (79)
  for n ≥ 2.

Tolerance: RTOL = 1e-9 relative to the largest gradient term combined.  Sums of ≤ |S||A|·T
products, n-step DPs, and linear solves with condition number ≤ ~1/(1 − γ) ≤ 100 (γ ≤ 0.99, or
termination probability ≥ 0.05 per step when γ = 1: ≤ 20) amplify float64 rounding (1.1e-16) by
≤ ~1e4; observed in the thorough profile: ≤ 1e-12 (≤ 4e-11 in the underflow regression test,
whose gradients come through linear solves with log π ≈ −1000 in the graph), so 1e-9 leaves ≥ 25×.
Negative controls: relative gap > GAP = 1e-4 on generic instances (dense transitions, full-support
π̄, τ and γ away from the degenerate values where the biases vanish).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import kl_divergence
from equiv.expected import mdp_a2c_loss
from equiv.mdp import (
    FiniteMDP,
    evaluate_policy,
    expected_nstep_return,
    finite_horizon_estimator_surrogate,
    finite_horizon_objective,
    policy_gradient_surrogate,
    state_visitation,
)
from tests.strategies import (
    _t,
    assert_close,
    enumerate_all_paths,
    exact_reference,
    finite_mdps,
    generic_mdps,
    log_uniform,
    profile_examples,
    relative_gap,
    seeds,
    state_weights,
)

RTOL = 1e-9
GAP = 1e-4
steps = st.integers(1, 4)
horizons = st.integers(1, 5)


class SoftmaxPolicy:
    """π_θ(a|s) = softmax(θ_s)(a), θ ∈ R^{S×A} (full support)."""

    def __init__(self, mdp: FiniteMDP, seed: int, underflow: bool = False):
        gen = torch.Generator().manual_seed(seed)
        theta = torch.randn(mdp.num_states, mdp.num_actions, generator=gen)
        if underflow:
            # One action per state gets logit −1000: π = exp(log π) == 0 there in float64 (log π < −745),
            # while the other actions keep O(1) logits and non-degenerate gradients.
            worst = torch.randint(mdp.num_actions, (mdp.num_states,), generator=gen)
            theta[torch.arange(mdp.num_states), worst] = -1000.0
        self.theta = theta.requires_grad_()

    def log_policy(self) -> torch.Tensor:
        return torch.log_softmax(self.theta, -1)

    def grad(self, scalar: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(scalar, [self.theta], retain_graph=True)
        return g


def initial_distribution(mdp: FiniteMDP, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return exact_reference(_t(rng.dirichlet(np.ones(mdp.num_states))))


def live_kl(mdp: FiniteMDP, log_policy: torch.Tensor) -> torch.Tensor:
    return torch.where(mdp.terminal_mask, 0.0, kl_divergence(log_policy, mdp.ref_probs))


def scale_of(*grads: torch.Tensor) -> float:
    return max(float(g.abs().max()) for g in grads)


# --- Eq. (51): finite horizon, γ = 1 ------------------------------------------------------------------


undiscounted_mdps = finite_mdps(gamma=st.just(1.0))


@given(undiscounted_mdps, seeds, horizons)
def test_eq51_proper_estimator_is_the_gradient_of_the_finite_horizon_objective(mdp, seed, horizon):
    """Eq. (51): with γ = 1 and horizon T, E[proper estimator (49)] = ∇_θ E[Σ_{t<T} (r_t − τ KL_t)]."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    objective = policy.grad(finite_horizon_objective(mdp, policy.log_policy().exp(), initial, horizon))
    proper = policy.grad(
        finite_horizon_estimator_surrogate(mdp, policy.log_policy(), initial, horizon, "proper")
    )
    assert_close(proper, objective, RTOL, f"Eq. (51), T={horizon}", scale=scale_of(proper, objective))


@given(generic_mdps(gamma=st.just(1.0), tau=log_uniform(1.0, 10.0)), seeds, st.integers(2, 5))
def test_eq51_negative_control_naive_estimator_is_biased(mdp, seed, horizon):
    """Eq. (48), the usual estimator without the future −τ KL terms in the return, is biased for τ > 0:
    its expectation misses −τ E[∇log π(a_t|s_t) Σ_{d≥1} KL_{t+d}] (T ≥ 2, actions change the future)."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    objective = policy.grad(finite_horizon_objective(mdp, policy.log_policy().exp(), initial, horizon))
    naive = policy.grad(
        finite_horizon_estimator_surrogate(mdp, policy.log_policy(), initial, horizon, "naive")
    )
    assert relative_gap(naive, objective) > GAP


def enumerated_estimators(mdp: FiniteMDP, policy: SoftmaxPolicy, initial: torch.Tensor, horizon: int):
    """Exact expectations of the estimators by enumerating every episode prefix of ``horizon`` steps.

    Returns surrogates (their gradients are the expected estimators) for the proper (49), naive (48)
    and printed-(49) ("r_0" in place of r_t) estimators, with future rewards discounted by γ^d, and
    the objective's value Σ P(path) Σ_t γ^t (r_t − τ KL_t).
    """
    tau = mdp.tau
    log_pi = policy.log_policy()
    pi = log_pi.detach().exp()
    kl_now = live_kl(mdp, log_pi.detach())
    paths = enumerate_all_paths(mdp, pi, horizon)
    s0, a0 = paths.states[0], paths.actions[0]
    weight = paths.probability * initial[s0] * pi[s0, a0]  # P(s_0) π(a_0|s_0) P(rest | s_0, a_0)
    not_ended = torch.ones(paths.terminated.shape, dtype=torch.int64)
    not_ended[1:] = (~paths.terminated[:-1]).long()
    alive = not_ended.cumprod(0).bool()  # step t is taken iff the episode has not ended before it
    s, a = paths.states[:-1], paths.actions
    rewards = torch.where(alive, mdp.rewards[s, a], 0.0)
    penalties = torch.where(alive, tau * kl_now[s], 0.0)
    # Backward recursions: G_t = x_t + γ G_{t+1} for x = r − τ KL (regularised) and x = r (naive).
    regularised, naive_return = torch.zeros_like(rewards), torch.zeros_like(rewards)
    for t in reversed(range(horizon)):
        later = regularised[t + 1] if t + 1 < horizon else 0.0
        later_naive = naive_return[t + 1] if t + 1 < horizon else 0.0
        regularised[t] = rewards[t] - penalties[t] + mdp.gamma * later
        naive_return[t] = rewards[t] + mdp.gamma * later_naive
    future = regularised - (rewards - penalties)  # Σ_{d≥1} γ^d (r − τ KL)_{t+d}
    proper_return = rewards + future
    printed_return = rewards[0:1] + future
    log_pi_taken = torch.where(alive, log_pi[s, a], 0.0)
    kl_theta = torch.where(alive, live_kl(mdp, log_pi)[s], 0.0)

    def surrogate(returns: torch.Tensor) -> torch.Tensor:
        return (weight * (log_pi_taken * returns - tau * kl_theta).sum(0)).sum()

    value = (weight * regularised[0]).sum()  # E[Σ_t γ^t (r_t − τ KL_t)]
    return surrogate(proper_return), surrogate(naive_return), surrogate(printed_return), value


@settings(max_examples=profile_examples(0.5))
@given(finite_mdps(max_states=3, max_actions=3, gamma=st.just(1.0)), seeds, st.integers(1, 3))
def test_eq51_estimators_match_trajectory_enumeration(mdp, seed, horizon):
    """Eqs. (48), (49), (51) by brute force: the objective and the expected proper / naive estimators from
    every enumerated episode equal the dynamic programs, and the proper one is ∇ objective."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    proper_enum, naive_enum, _, value_enum = enumerated_estimators(mdp, policy, initial, horizon)
    objective = finite_horizon_objective(mdp, policy.log_policy().exp(), initial, horizon)
    assert_close(
        objective.detach(),
        value_enum.detach(),
        RTOL,
        "objective by enumeration",
        scale=float(mdp.rewards.abs().max() + mdp.tau) * horizon,
    )
    g_objective = policy.grad(objective)
    g_proper = policy.grad(proper_enum)
    g_naive = policy.grad(naive_enum)
    lib_proper = policy.grad(
        finite_horizon_estimator_surrogate(mdp, policy.log_policy(), initial, horizon, "proper")
    )
    lib_naive = policy.grad(
        finite_horizon_estimator_surrogate(mdp, policy.log_policy(), initial, horizon, "naive")
    )
    scale = scale_of(g_objective, g_proper, g_naive)
    assert_close(g_proper, g_objective, RTOL, "Eq. (51) by enumeration", scale=scale)
    assert_close(lib_proper, g_proper, RTOL, "proper surrogate vs enumeration", scale=scale)
    assert_close(lib_naive, g_naive, RTOL, "naive surrogate vs enumeration", scale=scale)


@settings(max_examples=profile_examples(0.25))  # enumerates ~5e3 paths per example
@given(
    generic_mdps(max_states=4, max_actions=3, gamma=st.just(1.0), tau=log_uniform(0.05, 2.0)),
    seeds,
    st.integers(2, 3),
)
def test_eq49_printed_r0_is_biased(mdp, seed, horizon):
    """Erratum: (49) prints r_0 where r_t belongs.  E[∇log π(a_t|s_t) r_0] = 0 for t ≥ 1, so the printed form
    misses E[∇log π(a_t|s_t) r_t] for t ≥ 1 and is not ∇ objective (T ≥ 2); with r_t it is (checked above).
    τ ≤ 2: the bias is reward-driven, and at large τ the τ∇KL part of ∇ objective would dwarf it."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    proper_enum, _, printed_enum, _ = enumerated_estimators(mdp, policy, initial, horizon)
    g_objective = policy.grad(finite_horizon_objective(mdp, policy.log_policy().exp(), initial, horizon))
    assert_close(
        policy.grad(proper_enum), g_objective, RTOL, "Eq. (49) with r_t", scale=float(g_objective.abs().max())
    )
    assert relative_gap(policy.grad(printed_enum), g_objective) > GAP


# --- Eqs. (49) = (50): infinite horizon / episodic -----------------------------------------------------


def independent_q(mdp: FiniteMDP, pi: np.ndarray, tau: float | None = None) -> np.ndarray:
    """Q_π of Eq. (25) from the state-action system Q = R + γ P_c (Σ_a' π Q − τ KL), solved in numpy.

    ``tau`` overrides the MDP's τ in the returns (τ = 0: the unregularised Q_π of the naive estimator).
    """
    tau = mdp.tau if tau is None else tau
    S, A = mdp.num_states, mdp.num_actions
    live = ~mdp.terminal_mask.numpy()
    P = mdp.transitions.numpy() * live[None, None, :]  # continue only into non-terminal states
    ref = mdp.ref_probs.numpy()
    kl = np.where(live, (pi * (np.log(pi) - np.log(ref))).sum(-1), 0.0)
    # next-state operator on Q: (M Q)(s,a) = Σ_s' P(s'|s,a) Σ_a' π(a'|s') Q(s',a')
    M = np.einsum("sat,tb->satb", P, pi).reshape(S * A, S * A)
    rhs = mdp.rewards.numpy().reshape(-1) - mdp.gamma * tau * (P @ kl).reshape(-1)
    q = np.linalg.solve(np.eye(S * A) - mdp.gamma * M, rhs).reshape(S, A)
    return np.where(live[:, None], q, 0.0)


def independent_visitation(
    mdp: FiniteMDP, pi: np.ndarray, initial: np.ndarray, discount: float
) -> np.ndarray:
    """Σ_t discount^t P(s_t = s, episode alive), by solving d = ρ0 + discount · d P_π in numpy."""
    live = ~mdp.terminal_mask.numpy()
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions.numpy()) * live[:, None] * live[None, :]
    d = np.linalg.solve((np.eye(mdp.num_states) - discount * P_pi).T, initial * live)
    return d


def eq49_by_hand(mdp: FiniteMDP, policy: SoftmaxPolicy, weights: np.ndarray) -> torch.Tensor:
    """Σ_s w(s) [Σ_a π ∇log π Q_π(s,a) − τ ∇KL(s)]: E[(49)] (no baseline; E[∇log π · V] = 0)."""
    log_pi = policy.log_policy()
    pi = log_pi.detach().exp()
    q = torch.from_numpy(independent_q(mdp, pi.numpy()))
    per_state = (pi * log_pi * q).sum(-1) - mdp.tau * live_kl(mdp, log_pi)
    return torch.from_numpy(weights) @ torch.where(mdp.terminal_mask, 0.0, per_state)


episodic_mdps = finite_mdps(require_termination=True, gamma=st.one_of(st.just(1.0), st.floats(0.0, 1.0)))


@given(episodic_mdps, seeds)
def test_eq49_equals_eq50_policy_gradient(mdp, seed):
    """Eqs. (49)-(50): with the undiscounted visitation E_t (episodic MDPs), the score-function form with
    regularised returns equals Σ_t ∇log π (Q_π − V_π) − τ∇KL (``policy_gradient_surrogate``)."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    pi = policy.log_policy().detach().exp()
    visits = independent_visitation(mdp, pi.numpy(), initial.numpy(), 1.0)
    library_visits = state_visitation(mdp, pi, initial)
    assert_close(library_visits, torch.from_numpy(visits), RTOL, "state_visitation")
    g49 = policy.grad(eq49_by_hand(mdp, policy, visits))
    g50 = policy.grad(policy_gradient_surrogate(mdp, policy.log_policy(), torch.from_numpy(visits)))
    assert_close(g50, g49, RTOL, "Eq. (49) = Eq. (50)", scale=scale_of(g49, g50))


def regularized_value(mdp: FiniteMDP, log_pi: torch.Tensor) -> torch.Tensor:
    """V_π(θ) = (I − γ P_π)^{-1} (r_π − τ KL), Eq. (24), differentiable in θ (built here, not by equiv)."""
    pi = log_pi.exp()
    live = (~mdp.terminal_mask).to(pi.dtype)
    P_pi = torch.einsum("sa,sat->st", pi, mdp.transitions) * live[:, None] * live[None, :]
    reward = live * ((pi * mdp.rewards).sum(-1) - mdp.tau * live_kl(mdp, log_pi))
    return torch.linalg.solve(torch.eye(mdp.num_states) - mdp.gamma * P_pi, reward)


@given(episodic_mdps, seeds)
def test_eq50_is_the_gradient_of_the_regularised_return(mdp, seed):
    """(50) is a true gradient: with the γ^t-discounted visitation it is ∇_θ E_{s_0}[V_π(s_0)] (the policy
    gradient theorem with the −τ KL penalty); for γ = 1 this is g_1 = (49) with the plain E_t."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    pi = policy.log_policy().detach().exp()
    discounted = torch.from_numpy(independent_visitation(mdp, pi.numpy(), initial.numpy(), mdp.gamma))
    g_value = policy.grad(initial @ regularized_value(mdp, policy.log_policy()))
    g50 = policy.grad(policy_gradient_surrogate(mdp, policy.log_policy(), discounted))
    assert_close(
        g50, g_value, RTOL, "∇ E[V_π(s_0)] = (50) with discounted visitation", scale=scale_of(g50, g_value)
    )


@given(generic_mdps(gamma=st.floats(0.5, 1.0), tau=log_uniform(1.0, 10.0), terminal=st.just(True)), seeds)
def test_eq49_negative_control_unregularised_returns(mdp, seed):
    """(49) needs −τ KL in the future returns: with plain returns (the infinite-horizon naive (48)) the
    expectation is not (50)."""
    policy = SoftmaxPolicy(mdp, seed)
    initial = initial_distribution(mdp, seed)
    pi = policy.log_policy().detach().exp()
    visits = independent_visitation(mdp, pi.numpy(), initial.numpy(), 1.0)
    g50 = policy.grad(policy_gradient_surrogate(mdp, policy.log_policy(), torch.from_numpy(visits)))
    q_plain = torch.from_numpy(independent_q(mdp, pi.numpy(), tau=0.0))  # same π, returns without KL
    log_pi = policy.log_policy()
    naive = torch.from_numpy(visits) @ torch.where(
        mdp.terminal_mask, 0.0, (pi * log_pi * q_plain).sum(-1) - mdp.tau * live_kl(mdp, log_pi)
    )
    assert relative_gap(policy.grad(naive), g50) > GAP


@settings(max_examples=profile_examples(0.25))
@given(
    finite_mdps(max_states=3, min_actions=3, max_actions=3, gamma=st.floats(0.0, 0.99)),
    seeds,
    st.integers(1, 3),
)
def test_estimator_surrogates_stay_exact_when_probabilities_underflow(mdp, seed, horizon):
    """Eqs. (50), (51) with one logit per state at −1000, so that π(a|s) = exp(log π) == 0 in float64.

    Regression test: ``policy_gradient_surrogate`` and ``finite_horizon_estimator_surrogate`` used to
    form KL from log(exp(log π)), whose gradient is 0·∞ = NaN where exp underflows.  References:
    the policy-gradient theorem (∇ E[V_π(s_0)], built here) and the enumerated proper estimator.
    """
    policy = SoftmaxPolicy(mdp, seed, underflow=True)
    log_pi = policy.log_policy()
    pi = log_pi.detach().exp()
    assert bool((pi == 0).any())  # the regime is really exercised
    initial = initial_distribution(mdp, seed)
    discounted = torch.from_numpy(independent_visitation(mdp, pi.numpy(), initial.numpy(), mdp.gamma))
    g_value = policy.grad(initial @ regularized_value(mdp, log_pi))
    g50 = policy.grad(policy_gradient_surrogate(mdp, log_pi, discounted))
    assert bool(torch.isfinite(g50).all()), "NaN/inf in policy_gradient_surrogate's gradient"
    assert_close(g50, g_value, RTOL, "(50) with underflow", scale=scale_of(g50, g_value))
    proper_enum, _, _, _ = enumerated_estimators(mdp, policy, initial, horizon)
    g_enum = policy.grad(proper_enum)
    g_fh = policy.grad(finite_horizon_estimator_surrogate(mdp, log_pi, initial, horizon, "proper"))
    assert bool(torch.isfinite(g_fh).all()), "NaN/inf in finite_horizon_estimator_surrogate's gradient"
    assert_close(g_fh, g_enum, RTOL, "proper estimator with underflow", scale=scale_of(g_fh, g_enum))


# --- Eqs. (52), (79), (80): n-step estimators with a learned V = V_π -------------------------------------


def nstep_estimators(
    mdp: FiniteMDP, policy: SoftmaxPolicy, weights: torch.Tensor, n: int
) -> dict[str, torch.Tensor]:
    """Expected gradients (ascent direction) of the n-step estimators with V = V_π, and g_γ."""
    tau = mdp.tau
    log_pi = policy.log_policy()
    pi = log_pi.detach().exp()
    v_pi, _ = evaluate_policy(mdp, pi)
    w = torch.where(mdp.terminal_mask, 0.0, weights)
    kl_term = policy.grad(tau * (w @ live_kl(mdp, log_pi)))  # τ ∇ E[KL(s_t)]
    proper = -policy.grad(
        mdp_a2c_loss(mdp, log_pi, v_pi, weights, n, value_coef=0.0)
    )  # (80) = (52) + (−τ∇KL)
    naive = -policy.grad(
        mdp_a2c_loss(mdp, log_pi, v_pi, weights, n, value_coef=0.0, estimator="naive")
    )  # (79)
    # (80) as printed: no bootstrap γ^n V(s_{t+n}).
    kl_pi = live_kl(mdp, log_pi.detach())
    no_bootstrap = expected_nstep_return(mdp, pi, torch.zeros_like(v_pi), n, kl=kl_pi) - v_pi[:, None]
    printed80 = policy.grad(w @ (pi * log_pi * no_bootstrap).sum(-1)) - kl_term
    g_gamma = policy.grad(policy_gradient_surrogate(mdp, log_pi, weights))
    return dict(
        proper=proper,
        printed52=proper + kl_term,
        naive=naive,
        printed80=printed80,
        g_gamma=g_gamma,
        kl=kl_term,
    )


@given(finite_mdps(), seeds, steps)
def test_eq80_nstep_estimator_with_bootstrap_is_unbiased(mdp, seed, n):
    """Eqs. (52)+(−τ∇KL), (80) with the bootstrap γ^n V(s_{t+n}) and V = V_π: E[∇log π Δ_t − τ∇KL] = g_γ
    for every n and every state weighting.  (For n = 1 the naive (79) agrees: its Δ differs by τ KL(s_t),
    which does not depend on a_t.)"""
    policy = SoftmaxPolicy(mdp, seed)
    g = nstep_estimators(mdp, policy, state_weights(mdp, seed), n)
    scale = scale_of(g["proper"], g["g_gamma"], g["kl"])
    assert_close(g["proper"], g["g_gamma"], RTOL, f"Eq. (80), n={n}", scale=scale)
    if n == 1:
        assert_close(g["naive"], g["g_gamma"], RTOL, "Eq. (79), n = 1", scale=scale)


generic_discounted = generic_mdps(
    gamma=st.floats(0.8, 0.99), tau=log_uniform(0.3, 10.0), terminal=st.just(True)
)


@given(generic_discounted, seeds, steps)
def test_eq52_negative_control_printed_without_kl_gradient(mdp, seed, n):
    """Erratum: (52) as printed, E[∇log π Σ_d γ^d δ_{t+d}] with no −τ∇KL term, is biased by τ ∇E[KL]."""
    g = nstep_estimators(mdp, SoftmaxPolicy(mdp, seed), state_weights(mdp, seed), n)
    assert relative_gap(g["printed52"], g["g_gamma"]) > GAP


@given(generic_discounted, seeds)
def test_eq80_negative_control_printed_without_bootstrap(mdp, seed):
    """Erratum: (79)/(80) as printed stop the return after n steps with no γ^n V(s_{t+n}); that is biased
    for γ > 0 by γ^n E[∇log π(a_t|s_t) V_π(s_{t+n})].

    Checked at n = 1 (smallest relative gap in 2000 random draws: 6e-3).  The bias shrinks as n grows
    (the chain forgets a_t): at n = 2 gaps down to 9e-4 turned up, too close to GAP for a robust check."""
    g = nstep_estimators(mdp, SoftmaxPolicy(mdp, seed), state_weights(mdp, seed), 1)
    assert relative_gap(g["printed80"], g["g_gamma"]) > GAP


@given(generic_discounted, seeds, st.integers(2, 4))
def test_eq79_negative_control_naive_nstep_is_biased(mdp, seed, n):
    """The naive n-step estimator (79) (bootstrapped, no −τ KL_{t+d} in the return) is biased for n ≥ 2."""
    g = nstep_estimators(mdp, SoftmaxPolicy(mdp, seed), state_weights(mdp, seed), n)
    assert relative_gap(g["naive"], g["g_gamma"]) > GAP
