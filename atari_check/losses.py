"""The update rules of §6, assembled from :mod:`equiv` (nothing is re-derived here).

Actor-critic family (one rollout segment, time-major ``[T, B]``):

* ``a2c-naive``   Eq. (79): advantage = unregularised n-step return − V
  (:func:`equiv.nstep_return`), value target = that return, plus the
  one-step bonus −τ∇KL(s_t) (:func:`equiv.a2c_loss`).
* ``a2c-proper``  Eq. (80): advantage Δ_t of Eq. (47)/(58) with the −τ KL
  terms in the return (:func:`equiv.nstep_advantage`), value target V + Δ.
* ``sql``         §6.3: soft Q-learning on Q = V + τ log(π/π̄) with the n-step
  soft target (46) (:func:`equiv.nstep_soft_target`), gradient into the
  advantage stream scaled by 1/τ and into the value stream by c
  (:func:`equiv.matched_soft_q_loss`); in expectation ∇ L_a2c(c).
* ``sql-unscaled``  the same target and Q, plain ½(Q − y)²
  (:func:`equiv.soft_q_loss` on :func:`equiv.dueling_q`); in expectation
  τ ∇ L_a2c(c = 1/τ).

Returns use every remaining step of the segment (A2C style, ``n=None``) and
bootstrap from V(s_T); ``mask`` removes the autoreset steps of the vector env.

DQN family (replay windows, time-major ``[n, batch]``): Eqs. (81)-(83) and
their n-step versions, see :func:`dqn_target`.
"""

from __future__ import annotations

import torch

import equiv


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (the real transitions)."""
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def actor_critic_per_sample(
    algo: str,
    log_policy: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    *,
    gamma: float,
    tau: float,
    value_coef: float,
) -> torch.Tensor:
    """Per-sample loss ``[T, B]`` of an actor-critic-family algorithm.

    Shapes: ``log_policy`` ``[T, B, A]`` (normalised, with grad), ``values``
    ``[T, B]`` (with grad), ``next_values`` ``[T, B]`` = V(s_{t+1}) (detached),
    ``actions`` ``[T, B]`` int64, ``rewards`` ``[T, B]``, flags ``[T, B]`` bool.
    """
    kl = equiv.kl_divergence(log_policy)  # π̄ uniform; carries the gradient of the τ KL(s_t) term
    kl_const = kl.detach()
    if algo == "a2c-proper":
        advantage = equiv.nstep_advantage(
            rewards, kl_const, values.detach(), next_values, terminated, truncated, gamma=gamma, tau=tau
        )
        value_target = values.detach() + advantage
    elif algo == "a2c-naive":
        value_target = equiv.nstep_return(rewards, next_values, terminated, truncated, gamma=gamma)
        advantage = value_target - values.detach()
    elif algo in ("sql", "sql-unscaled"):
        # No target network: Q̄ = Q_θ, whose soft value is V_θ and whose Boltzmann policy is π_θ (Eqs. (55)-(57)).
        target = equiv.nstep_soft_target(
            rewards, kl_const, next_values, terminated, truncated, gamma=gamma, tau=tau
        )
        if algo == "sql":
            return equiv.matched_soft_q_loss(values, log_policy, actions, target, tau=tau, value_scale=value_coef)
        q = equiv.dueling_q(values, log_policy, tau)
        return equiv.soft_q_loss(equiv.gather_actions(q, actions), target)
    else:
        raise ValueError(f"algo must be an actor-critic algorithm, got {algo!r}")
    log_pi_taken = equiv.gather_actions(log_policy, actions)
    return equiv.a2c_loss(log_pi_taken, kl, values, advantage, value_target, tau=tau, value_coef=value_coef)


def dqn_target(
    algo: str,
    q_bar: torch.Tensor,
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    *,
    gamma: float,
    tau: float,
    form: str = "corrected",
) -> torch.Tensor:
    """DQN backup target ``[batch]`` from a replay window.

    ``q_bar``: target-network Q̄ at s_j, …, s_{j+n}, shape ``[n+1, batch, A]``;
    ``rewards``/``terminated``/``truncated``: steps j … j+n−1, ``[n, batch]``.

    n = 1: Eq. (81) (:func:`equiv.hard_max_target`), (82)
    (:func:`equiv.one_step_soft_target`, π̄ uniform) or (83)
    (:func:`equiv.entropy_bonus_target`); ``form="printed"`` uses the forms as
    printed (:func:`equiv.soft_target_as_printed`).  n > 1: the standard
    n-step return with bootstrap max_a Q̄ (:func:`equiv.nstep_return`), and for
    the KL backup the n-step soft target (46) with the KL and soft value of
    the Boltzmann policy of Q̄ (:func:`equiv.nstep_soft_target`).  The return
    stops at episode ends inside the window.
    """
    n = rewards.shape[0]
    if q_bar.shape[0] != n + 1:
        raise ValueError(f"q_bar must cover n + 1 = {n + 1} states, got shape {tuple(q_bar.shape)}")
    if n == 1:
        r, q_next, term = rewards[0], q_bar[1], terminated[0]
        if algo == "dqn":
            return equiv.hard_max_target(r, q_next, term, gamma=gamma)
        if form == "printed":
            regularizer = {"dqn-soft-kl": "kl", "dqn-soft-ent": "entropy"}[algo]
            return equiv.soft_target_as_printed(r, q_next, term, gamma=gamma, tau=tau, regularizer=regularizer)
        if algo == "dqn-soft-kl":
            return equiv.one_step_soft_target(r, q_next, term, gamma=gamma, tau=tau)
        if algo == "dqn-soft-ent":
            return equiv.entropy_bonus_target(r, q_next, term, gamma=gamma, tau=tau)
        raise ValueError(f"algo must be a DQN algorithm, got {algo!r}")
    if algo == "dqn":
        next_values = q_bar[1:].max(dim=-1).values
        return equiv.nstep_return(rewards, next_values, terminated, truncated, gamma=gamma)[0]
    if algo == "dqn-soft-kl" and form == "corrected":
        kl = equiv.kl_divergence(equiv.boltzmann_log_policy(q_bar[:-1], tau))
        next_values = equiv.soft_value(q_bar[1:], tau)
        return equiv.nstep_soft_target(rewards, kl, next_values, terminated, truncated, gamma=gamma, tau=tau)[0]
    raise ValueError(f"no {n}-step backup for algo {algo!r} with form {form!r}")
