"""Exact expected losses: surrogates whose autograd gradients are expected gradients.

Each function returns a scalar built from exact expectations (enumeration over
actions, dynamic programming over n-step futures) in which the sampling
distribution and the regression targets are detached.  Its gradient is
therefore *exactly* the expectation of the per-sample gradient of the loss it
names, as in the paper's "swap gradient and expectation, treating the
state-action distribution as fixed" (Eq. (60)).

Bandit (§2): ``q`` has shape ``[A]`` (or ``[..., A]`` for a batch of
independent bandits, summed).  MDP (§4): ``q`` has shape ``[S, A]`` over the
states of a :class:`equiv.mdp.FiniteMDP`; ``state_weights`` (``[S]``) is the
distribution of s_t in E_{t, s_t} (any non-negative weights).
"""

from __future__ import annotations

import torch

from ._checks import (
    check_distribution,
    check_float_tensor,
    check_nonnegative,
    check_positive_int,
    check_same_dtype,
    check_tau,
)
from .boltzmann import boltzmann_log_policy, kl_divergence, soft_value
from .losses import scale_gradient
from .mdp import (
    FiniteMDP,
    _check_action_values,
    _check_log_policy,
    _check_state_vector,
    _live,
    _off_support_zero,
    expected_nstep_return,
    policy_kl,
)

__all__ = [
    "bandit_soft_q_loss",
    "bandit_policy_gradient_value_loss",
    "mdp_soft_q_loss",
    "mdp_a2c_loss",
    "mdp_matched_soft_q_loss",
    "mdp_expected_advantage",
]


def _bandit_inputs(q: torch.Tensor, reward_means: torch.Tensor) -> None:
    check_float_tensor(q, "q", min_dim=1)
    check_float_tensor(reward_means, "reward_means", min_dim=1)
    check_same_dtype("q", q, reward_means=reward_means)
    if reward_means.shape != q.shape:
        raise ValueError(f"reward_means has shape {tuple(reward_means.shape)} but q has {tuple(q.shape)}")


def bandit_soft_q_loss(
    q: torch.Tensor,
    reward_means: torch.Tensor,
    tau: float,
    ref_policy: torch.Tensor | None = None,
    sampling_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """E_{a∼π, r}[½ (q_θ(a) − r)²] with π detached, Eq. (8); gradient Eq. (9).

    ``sampling_policy`` defaults to π^B_{q_θ} (detached), the choice made after
    Eq. (17).  Only the reward means matter for the gradient (it is linear in r);
    the loss value omits the reward variance, a constant.
    """
    tau = check_tau(tau)
    _bandit_inputs(q, reward_means)
    if sampling_policy is None:
        sampling_policy = boltzmann_log_policy(q, tau, ref_policy).exp()
    else:
        check_distribution(sampling_policy, "sampling_policy", like=q)
    weights = sampling_policy.detach()
    return (weights * 0.5 * (q - reward_means) ** 2).sum()


def bandit_policy_gradient_value_loss(
    q: torch.Tensor,
    reward_means: torch.Tensor,
    tau: float,
    ref_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """The right-hand side of Eq. (23) as a loss:

        −τ E_{a∼π^B_{q_θ}}[r − τ D_KL[π^B_{q_θ} ‖ π̄]]   ("policy gradient", π differentiated)
        + E_{a∼π, r}[½ (v_θ − (r − τ D_KL[π ‖ π̄]))²] |_{π = π^B_{q_θ}}   ("value error", π fixed)

    Its gradient equals that of :func:`bandit_soft_q_loss` (Eq. (23)).
    """
    tau = check_tau(tau)
    _bandit_inputs(q, reward_means)
    log_pi = boltzmann_log_policy(q, tau, ref_policy)
    pi = log_pi.exp()
    kl = kl_divergence(log_pi, ref_policy)
    objective = (pi * reward_means).sum(-1) - tau * kl
    v = soft_value(q, tau, ref_policy)
    value_target = reward_means - tau * kl.detach().unsqueeze(-1)
    value_error = (pi.detach() * 0.5 * (v.unsqueeze(-1) - value_target) ** 2).sum(-1)
    return (-tau * objective + value_error).sum()


def _weights(mdp: FiniteMDP, state_weights: torch.Tensor) -> torch.Tensor:
    w = _check_state_vector(mdp, state_weights, "state_weights")
    if bool((w.detach() < 0).any()):
        raise ValueError(f"state_weights must be non-negative, got {w.detach().tolist()}")
    return _live(mdp, w.detach())


def mdp_expected_advantage(
    mdp: FiniteMDP, log_policy: torch.Tensor, values: torch.Tensor, n: int, regularized: bool = True
) -> torch.Tensor:
    """E[Δ_t | s_t = s, a_t = a] with a_{t+1..} ∼ π, Eqs. (36), (58): ``[S, A]``, detached.

    Δ_t = Σ_{d<n} γ^d δ_{t+d} with δ from Eq. (36) built with ``values``; with
    ``regularized=False`` the KL terms are dropped (the naive return of (79)).
    """
    n = check_positive_int(n, "n")
    pd = _check_log_policy(mdp, log_policy).detach().exp()
    vd = _check_state_vector(mdp, values, "values").detach()
    kl = policy_kl(mdp, pd) if regularized else None
    return (expected_nstep_return(mdp, pd, vd, n, kl=kl) - vd[:, None]).detach()


def mdp_soft_q_loss(mdp: FiniteMDP, q: torch.Tensor, state_weights: torch.Tensor, n: int) -> torch.Tensor:
    """E_{t, s_t, a_t∼π_θ}[½ (Q_θ(s_t,a_t) − y_t)²] for the n-step target (46), Eq. (59).

    Q̄ = Q_θ (detached; no target network), actions a_t, a_{t+1}, … ∼ π^B_{Q_θ},
    s_t ∼ ``state_weights``.  The gradient of the result is the exact expected
    soft Q-learning gradient, Eq. (60).  (The loss value omits the target's
    conditional variance, which has no gradient.)
    """
    q = _check_action_values(mdp, q)
    n = check_positive_int(n, "n")
    w = _weights(mdp, state_weights)
    qd = q.detach()
    log_pi = boltzmann_log_policy(qd, mdp.tau, mdp.ref_probs)
    v = _live(mdp, soft_value(qd, mdp.tau, mdp.ref_probs))
    kl = policy_kl(mdp, log_pi.exp())
    target = mdp.tau * kl[:, None] + v[:, None] + mdp_expected_advantage(mdp, log_pi, v, n)
    per_state = (log_pi.exp() * 0.5 * (q - target) ** 2).sum(-1)
    return w @ per_state


def mdp_a2c_loss(
    mdp: FiniteMDP,
    log_policy: torch.Tensor,
    values: torch.Tensor,
    state_weights: torch.Tensor,
    n: int,
    *,
    value_coef: float,
    estimator: str = "proper",
) -> torch.Tensor:
    """E_{t, s_t, a_t∼π_θ}[L_policy + c L_value], Eqs. (84)-(86), with exact n-step Δ.

    L_policy = −log π_θ(a_t|s_t) Δ_t + τ KL(s_t) and L_value = ½ (V_θ(s_t) − V̂_t)²,
    V̂_t = V_θ(s_t) + Δ_t, Δ_t bootstrapped from V_θ after n steps under π_θ.
    ``estimator="naive"`` drops the KL terms from Δ (Eq. (79), with bootstrap).

    For Q_θ with π_θ = π^B_{Q_θ} and V_θ = V_{Q_θ}, Eq. (65) says
    ∇ :func:`mdp_soft_q_loss` = τ ∇ mdp_a2c_loss(value_coef = 1/τ).
    """
    if estimator not in ("proper", "naive"):
        raise ValueError(f"estimator must be 'proper' or 'naive', got {estimator!r}")
    value_coef = check_nonnegative(value_coef, "value_coef")
    log_policy = _check_log_policy(mdp, log_policy)
    values = _check_state_vector(mdp, values, "values")
    w = _weights(mdp, state_weights)
    advantage = mdp_expected_advantage(mdp, log_policy, values, n, regularized=(estimator == "proper"))
    pd = log_policy.detach().exp()
    # KL from log π, not log(exp(log π)): exp may underflow to 0 and log 0 back-propagates NaN.
    kl = _live(mdp, kl_divergence(log_policy, mdp.ref_probs))
    policy_term = -(pd * _off_support_zero(log_policy) * advantage).sum(-1) + mdp.tau * kl
    value_target = values.detach()[:, None] + advantage
    value_term = (pd * 0.5 * (values[:, None] - value_target) ** 2).sum(-1)
    return w @ (policy_term + value_coef * value_term)


def mdp_matched_soft_q_loss(
    mdp: FiniteMDP,
    log_policy: torch.Tensor,
    values: torch.Tensor,
    state_weights: torch.Tensor,
    n: int,
    *,
    value_scale: float = 0.5,
    advantage_scale: float | None = None,
) -> torch.Tensor:
    """Expected §6.3 loss: soft Q-learning on Q = V + τ log(π/π̄) with scaled stream gradients.

    Gradients into the advantage stream are scaled by ``advantage_scale``
    (default 1/τ) and into the value stream by ``value_scale`` = c.  Its
    gradient equals ∇ :func:`mdp_a2c_loss` with ``value_coef`` = c.
    """
    tau = check_tau(mdp.tau)
    if advantage_scale is None:
        advantage_scale = 1.0 / tau
    log_policy = _check_log_policy(mdp, log_policy)
    values = _check_state_vector(mdp, values, "values")
    w = _weights(mdp, state_weights)
    log_ref = torch.log(mdp.ref_probs)
    # Where π = 0 (log π = −inf) the weight is 0: take the stream as 0 there, so that 0·(−inf)² is not NaN.
    support = torch.isfinite(log_policy)
    log_ratio = _off_support_zero(log_policy) - torch.where(support, log_ref, torch.zeros((), dtype=log_ref.dtype))
    q = scale_gradient(values, value_scale)[:, None] + scale_gradient(tau * log_ratio, advantage_scale)
    pd = log_policy.detach().exp()
    kl = policy_kl(mdp, pd)
    target = (
        tau * kl[:, None] + values.detach()[:, None] + mdp_expected_advantage(mdp, log_policy, values, n)
    )
    return w @ (pd * 0.5 * (q - target) ** 2).sum(-1)
