"""The soft pieces an adapter of a *return* function feeds it: r − τKL_t, V_Q̄(s_{t+1}) and τKL_t.

Libraries' multi-step return functions know nothing of entropy regularisation; to use them for the soft
target (46) one passes the regularised reward r_t − τ KL_t and the soft value V_Q̄(s_{t+1}) as the
next-state value, and adds back τ KL_t (no KL is charged at s_t, whose action is given).  These pieces
come from equiv (checked by the suite); what the check then decides is the library's recursion:
discounting, bootstrapping, and terminated vs truncated.
"""

from __future__ import annotations

import torch

from equiv.boltzmann import boltzmann_log_policy, kl_divergence, soft_value

from ..contracts import TargetBatch


def soft_pieces(batch: TargetBatch, tau: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(regularised rewards r − τKL_t, V_Q̄(s_t), V_Q̄(s_{t+1}), τ KL_t), each ``[T, B]``."""
    kl = kl_divergence(boltzmann_log_policy(batch.q, tau, batch.ref_policy), batch.ref_policy)
    values = soft_value(batch.q, tau, batch.ref_policy)
    next_values = soft_value(batch.next_q, tau, batch.next_ref_policy)
    return batch.rewards - tau * kl, values, next_values, tau * kl
