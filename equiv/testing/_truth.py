"""Independent reference losses for the A2C checks: explicit loops, no call into equiv.targets/losses.

The kit compares an adapter against these on the same enumerated paths, so the ground truth must not
share code with what the negative controls patch (equiv.targets, equiv.losses).
"""

from __future__ import annotations

import torch

from equiv.mdp import FiniteMDP  # noqa: F401  (documentation: the conventions are equiv.mdp's)

from .contracts import A2CBatch


def _kl(log_pi: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
    A = log_pi.shape[-1]
    log_ref = torch.log(ref) if ref is not None else torch.full_like(log_pi, -torch.log(torch.tensor(float(A))).item())
    return (log_pi.exp() * (log_pi - log_ref)).sum(-1)


def segment_returns(rewards, penalty, next_values, terminated, truncated, gamma: float, n: int | None):
    """G_t = Σ_{d<m} γ^d (r − penalty)_{t+d} + γ^m [not terminated] V(s_{t+m}), by a plain double loop.

    m = min(n, steps to the episode end, T − t).  ``penalty`` is τ KL (proper) or 0 (naive).
    """
    T = rewards.shape[0]
    out = []
    zero = torch.zeros((), dtype=rewards.dtype)
    for t in range(T):
        total = torch.zeros_like(rewards[0])
        alive = torch.ones_like(terminated[0])
        discount = 1.0
        for d in range(T - t):
            if n is not None and d >= n:
                break
            i = t + d
            total = total + torch.where(alive, discount * (rewards[i] - penalty[i]), zero)
            end = terminated[i] | truncated[i] | (i == T - 1) | (n is not None and d == n - 1)
            boot = torch.where(terminated[i], zero, next_values[i])
            total = total + torch.where(alive & end, discount * gamma * boot, zero)
            alive = alive & ~end
            discount *= gamma
        out.append(total)
    return torch.stack(out)


def a2c_reference_losses(batch: A2CBatch, *, gamma: float, tau: float, value_coef: float, n: int | None,
                         estimator: str) -> torch.Tensor:
    """Per-step L_policy + c·L_value, Eqs. (84)-(86), with the proper (80) or the naive (79) estimator.

    proper: Δ_t = G^reg_t − V(s_t) with the KL in the return, value target G^reg_t;
    naive:  Δ_t = G_t − V(s_t) from rewards alone (entropy bonus at s_t only), value target G_t.
    Both keep τ KL(s_t) in the policy loss.  Returns and targets are constants (detached).
    """
    kl = _kl(batch.log_pi, batch.ref_policy)
    penalty = tau * kl.detach() if estimator == "proper" else torch.zeros_like(batch.rewards)
    G = segment_returns(batch.rewards, penalty, batch.next_values.detach(), batch.terminated, batch.truncated,
                        gamma, n)
    advantage = G - batch.values.detach()
    log_pi_taken = batch.log_pi.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
    policy = -log_pi_taken * advantage + tau * kl
    value = 0.5 * (batch.values - G) ** 2
    return policy + value_coef * value
