"""Backup targets of soft Q-learning and entropy-regularised policy gradients.

Trajectory functions are **time-major**: every tensor has shape ``[T, ...]``
(T time steps, then any batch axes, e.g. ``[T, num_envs]``) and row ``t``
describes the transition (s_t, a_t, r_t, s_{t+1}):

* ``rewards[t]``     r_t
* ``kl[t]``          KL_t = D_KL[π(·|s_t) ‖ π̄(·|s_t)] (the penalty at s_t)
* ``values[t]``      V(s_t)
* ``next_values[t]`` V(s_{t+1}), where s_{t+1} is the state the transition
  really reached — for a truncated episode, the final observation, not the
  reset observation a vector env returns
* ``terminated[t]``  s_{t+1} is terminal: nothing is bootstrapped from it and
  no reward or KL is collected after it
* ``truncated[t]``   the episode was cut after step t (time limit) without
  reaching a terminal state: bootstrap from ``next_values[t]``, but sum nothing
  from the next episode

Returns are truncated at the end of the segment (row T−1) by bootstrapping
from ``next_values[T−1]``; ``n=None`` means "use every remaining step of the
segment" (A2C-style returns, where row t uses T − t steps).

Target networks and stop-gradients are the caller's business: these functions
are differentiable, and the losses in :mod:`equiv.losses` detach targets.
"""

from __future__ import annotations

import math

import torch

from ._checks import (
    check_bool_tensor,
    check_float_tensor,
    check_gamma,
    check_positive_int,
    check_same_dtype,
    check_same_shape,
    check_tau,
    check_unit_interval,
)
from .boltzmann import soft_value

__all__ = [
    "nstep_return",
    "nstep_regularized_return",
    "nstep_soft_target",
    "nstep_advantage",
    "td_errors",
    "lambda_soft_target",
    "one_step_soft_target",
    "entropy_bonus_target",
    "hard_max_target",
    "soft_target_as_printed",
]


def _check_segment(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor | None,
    **more: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    rewards = check_float_tensor(rewards, "rewards", min_dim=1)
    if rewards.shape[0] < 1:
        raise ValueError(f"rewards must have at least one time step, got shape {tuple(rewards.shape)}")
    tensors = {"next_values": next_values, **more}
    for name, t in tensors.items():
        check_float_tensor(t, name)
    check_same_shape("rewards", rewards, **tensors)
    check_same_dtype("rewards", rewards, **tensors)
    terminated = check_bool_tensor(terminated, "terminated", rewards.shape)
    if truncated is None:
        truncated = torch.zeros_like(terminated)
    truncated = check_bool_tensor(truncated, "truncated", rewards.shape)
    return terminated, truncated


def _check_n(n: int | None) -> int | None:
    return None if n is None else check_positive_int(n, "n")


def _windowed_return(
    step_rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    n: int | None,
) -> torch.Tensor:
    """Σ_{d<m} γ^d x_{t+d} + γ^m [not terminated] V(s_{t+m}) for every t.

    m = min(n, steps to the episode end, steps to the segment end).
    """
    T = step_rewards.shape[0]
    m = T if n is None else min(n, T)
    zero = torch.zeros((), dtype=step_rewards.dtype, device=step_rewards.device)
    done = terminated | truncated
    bootstrap = gamma * torch.where(terminated, zero, next_values)
    total = torch.zeros_like(step_rewards)
    alive = torch.ones_like(terminated)
    discount = 1.0
    for d in range(m):
        length = T - d
        valid = alive[:length]
        segment_end = torch.zeros_like(valid)
        segment_end[length - 1] = True
        ends = valid & (done[d:] | segment_end | (d == m - 1))
        contribution = torch.where(valid, discount * step_rewards[d:], zero) + torch.where(
            ends, discount * bootstrap[d:], zero
        )
        if d:
            padding = torch.zeros((d,) + tuple(step_rewards.shape[1:]), dtype=zero.dtype, device=zero.device)
            contribution = torch.cat([contribution, padding])
            still = torch.cat([valid & ~ends, torch.zeros_like(alive[length:])])
        else:
            still = valid & ~ends
        total = total + contribution
        alive = still
        discount *= gamma
    return total


def nstep_return(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor | None = None,
    *,
    gamma: float,
    n: int | None = None,
) -> torch.Tensor:
    """Unregularised n-step return Σ_{d<m} γ^d r_{t+d} + γ^m V(s_{t+m}).

    The return of the naive estimator, Eq. (79) (which prints no bootstrap
    term; see the errata), and of n-step DQN with ``next_values`` = max_a Q
    (Eq. (81) for n = 1).  Shape ``[T, ...]``.
    """
    gamma = check_gamma(gamma)
    n = _check_n(n)
    terminated, truncated = _check_segment(rewards, next_values, terminated, truncated)
    return _windowed_return(rewards, next_values, terminated, truncated, gamma, n)


def nstep_regularized_return(
    rewards: torch.Tensor,
    kl: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor | None = None,
    *,
    gamma: float,
    tau: float,
    n: int | None = None,
) -> torch.Tensor:
    """V̂_t = Σ_{d<m} γ^d (r_{t+d} − τ KL_{t+d}) + γ^m V(s_{t+m}).

    The value-regression target of Eqs. (53)-(54) (as corrected: the printed
    (54) drops the KL terms and writes γ^d V(s_{t+d}) for the bootstrap), and
    the entropy-augmented return of the proper estimator, Eq. (80) with its
    bootstrap.  Equals V(s_t) + Δ_t, Eq. (58).  Shape ``[T, ...]``.
    """
    gamma = check_gamma(gamma)
    tau = check_tau(tau)
    n = _check_n(n)
    terminated, truncated = _check_segment(rewards, next_values, terminated, truncated, kl=kl)
    return _windowed_return(rewards - tau * kl, next_values, terminated, truncated, gamma, n)


def nstep_soft_target(
    rewards: torch.Tensor,
    kl: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor | None = None,
    *,
    gamma: float,
    tau: float,
    n: int | None = None,
) -> torch.Tensor:
    """n-step soft Q-learning target, Eq. (46):

        y_t = τ KL_t + Σ_{d<m} γ^d (r_{t+d} − τ KL_{t+d}) + γ^m V_Q̄(s_{t+m})

    The leading τ KL_t cancels the d = 0 penalty: the action a_t is given, so
    no KL is charged at s_t (Eq. (25)).  ``kl`` must be the KL of π^B_Q̄ and
    ``next_values`` its soft values V_Q̄ (Eq. (29)).  For n = 1 this is the
    1-step target of Eq. (45).  Shape ``[T, ...]``.
    """
    tau = check_tau(tau)
    return tau * kl + nstep_regularized_return(
        rewards, kl, next_values, terminated, truncated, gamma=gamma, tau=tau, n=n
    )


def nstep_advantage(
    rewards: torch.Tensor,
    kl: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor | None = None,
    *,
    gamma: float,
    tau: float,
    n: int | None = None,
) -> torch.Tensor:
    """Δ_t = Σ_{d<m} γ^d δ_{t+d} = V̂_t − V(s_t), Eqs. (47), (58).

    δ as in Eq. (36), including the −τ KL terms: the advantage of the proper
    estimator (80).  Shape ``[T, ...]``.
    """
    values = check_float_tensor(values, "values")
    check_same_shape("rewards", rewards, values=values)
    check_same_dtype("rewards", rewards, values=values)
    return (
        nstep_regularized_return(
            rewards, kl, next_values, terminated, truncated, gamma=gamma, tau=tau, n=n
        )
        - values
    )


def td_errors(
    rewards: torch.Tensor,
    kl: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    *,
    gamma: float,
    tau: float,
) -> torch.Tensor:
    """δ_t = (r_t − τ KL_t) + γ V(s_{t+1}) − V(s_t), Eq. (36) (0 bootstrap if terminated)."""
    gamma = check_gamma(gamma)
    tau = check_tau(tau)
    terminated, _ = _check_segment(rewards, next_values, terminated, None, kl=kl, values=values)
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    return rewards - tau * kl + gamma * torch.where(terminated, zero, next_values) - values


def lambda_soft_target(
    rewards: torch.Tensor,
    kl: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor | None = None,
    *,
    gamma: float,
    tau: float,
    lam: float,
) -> torch.Tensor:
    """λ-target for the Boltzmann backup, Eq. (43) as corrected:

        y^λ_t = τ KL_t + V_Q(s_t) + Σ_{k≥0} (γλ)^k δ_{t+k}

    with δ from Eq. (36) computed with V_Q (the printed (43) has Q(s,a) in
    place of V_Q(s) + τ KL(s); see the errata).  Its expectation given
    (s_t, a_t) under π^B_Q is the operator T_{π^B_Q, λ} Q of Eq. (42).  λ = 0
    gives the 1-step target (45); λ = 1 the Monte-Carlo return.  The sum stops
    at episode ends and at the segment end (where the remaining weight
    bootstraps from ``next_values``).  Shape ``[T, ...]``.
    """
    gamma = check_gamma(gamma)
    tau = check_tau(tau)
    lam = check_unit_interval(lam, "lam")
    terminated, truncated = _check_segment(
        rewards, next_values, terminated, truncated, kl=kl, values=values
    )
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    delta = rewards - tau * kl + gamma * torch.where(terminated, zero, next_values) - values
    done = terminated | truncated
    accumulated = []
    running = torch.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + gamma * lam * torch.where(done[t], zero, running)
        accumulated.append(running)
    advantage = torch.stack(accumulated[::-1])
    return tau * kl + values + advantage


def _check_dqn(rewards: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
    rewards = check_float_tensor(rewards, "rewards")
    next_q = check_float_tensor(next_q, "next_q", min_dim=1)
    check_same_dtype("rewards", rewards, next_q=next_q)
    if next_q.shape[:-1] != rewards.shape:
        raise ValueError(
            f"next_q must have shape rewards.shape + (A,) = {tuple(rewards.shape)} + (A,), "
            f"got {tuple(next_q.shape)}"
        )
    return check_bool_tensor(terminated, "terminated", rewards.shape)


def one_step_soft_target(
    rewards: torch.Tensor,
    next_q: torch.Tensor,
    terminated: torch.Tensor,
    *,
    gamma: float,
    tau: float,
    ref_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """y_t = r_t + γ V_Q̄(s_{t+1}) = r_t + γ τ log E_{a'∼π̄}[exp(Q̄(s_{t+1},a')/τ)].

    Eq. (45); with π̄ uniform this is the "soft, KL penalty" DQN target of
    Eq. (82) in its dimensionally consistent form (τ multiplies the log).

    Args:
      rewards: r_t, shape ``[...]``.
      next_q: Q̄(s_{t+1}, ·), shape ``[..., A]``.
      terminated: bool, shape ``[...]``.
    """
    gamma = check_gamma(gamma)
    terminated = _check_dqn(rewards, next_q, terminated)
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    return rewards + gamma * torch.where(terminated, zero, soft_value(next_q, tau, ref_policy))


def entropy_bonus_target(
    rewards: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, *, gamma: float, tau: float
) -> torch.Tensor:
    """y_t = r_t + γ τ log Σ_{a'} exp(Q̄(s_{t+1},a')/τ).

    The "soft, entropy bonus" DQN target, Eq. (83), dimensionally consistent.
    Differs from the KL-penalty target with uniform π̄ by γ τ log A per step
    (the "simply a constant" of §6.2).  Shape ``[...]``.
    """
    gamma = check_gamma(gamma)
    tau = check_tau(tau)
    terminated = _check_dqn(rewards, next_q, terminated)
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    next_value = tau * torch.logsumexp(next_q / tau, dim=-1)
    return rewards + gamma * torch.where(terminated, zero, next_value)


def hard_max_target(
    rewards: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, *, gamma: float
) -> torch.Tensor:
    """Standard DQN target y_t = r_t + γ max_{a'} Q̄(s_{t+1}, a'), Eq. (81).  Shape ``[...]``.

    The τ → 0 limit of :func:`one_step_soft_target` and
    :func:`entropy_bonus_target`.
    """
    gamma = check_gamma(gamma)
    terminated = _check_dqn(rewards, next_q, terminated)
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    return rewards + gamma * torch.where(terminated, zero, next_q.max(dim=-1).values)


def soft_target_as_printed(
    rewards: torch.Tensor,
    next_q: torch.Tensor,
    terminated: torch.Tensor,
    *,
    gamma: float,
    tau: float,
    regularizer: str,
) -> torch.Tensor:
    """Eqs. (82)/(83) **exactly as printed**, kept for the record.

    KL penalty (82): y = r + γ (log Σ_{a'} exp(Q/τ) − log|A|);
    entropy bonus (83): y = r + γ log Σ_{a'} exp(Q/τ).

    The printed forms lack the factor τ in front of the log, so the target
    mixes reward units with 1/reward units and diverges as τ → 0 instead of
    tending to the hard max (81).  They agree with the corrected
    :func:`one_step_soft_target` / :func:`entropy_bonus_target` only at τ = 1.
    Use them only to reproduce the printed behaviour.
    """
    gamma = check_gamma(gamma)
    tau = check_tau(tau)
    if regularizer not in ("kl", "entropy"):
        raise ValueError(f"regularizer must be 'kl' or 'entropy', got {regularizer!r}")
    terminated = _check_dqn(rewards, next_q, terminated)
    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    next_value = torch.logsumexp(next_q / tau, dim=-1)
    if regularizer == "kl":
        next_value = next_value - math.log(next_q.shape[-1])
    return rewards + gamma * torch.where(terminated, zero, next_value)
