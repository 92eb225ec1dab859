"""Tianshou DiscreteSAC target adapter, tianshou==2.0.1: its real ``compute_nstep_return`` pipeline.

What runs is Tianshou's: a ``VectorReplayBuffer`` filled with the kit's columns (one sub-buffer per
column, so episodes and segment ends are Tianshou's own ``done``/``unfinished_index`` logic), and
``DiscreteSAC._preprocess_batch`` → ``compute_nstep_return(target_q_fn=DiscreteSAC._target_q)``, whose
bootstrap is ``Σ_a' π(a'|s_{t+n}) min(Q1_old, Q2_old)(s_{t+n}, a') + α H(π(·|s_{t+n}))``.

Conventions mapped / options set: the observation *is* the row Q̄(s, ·); both critics (and their lagged
copies) are the identity map and the actor's logits are Q̄/τ, so π = π^B_Q̄; ``alpha = τ`` (fixed);
``gamma``; ``n_step_return_horizon = n``.  Tianshou's target is the entropy-bonus form
(``regularizer = "entropy"``, uniform π̄).  ``terminated``/``truncated`` are passed as such (Tianshou
masks the bootstrap with ``terminated`` and stops summing at ``done``).  float64 throughout.
"""

from __future__ import annotations

import numpy as np
import torch

from ..contracts import TargetBatch


class _Scaled(torch.nn.Module):
    def __init__(self, A: int, scale: float, actor: bool):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.eye(A, dtype=torch.float64) * scale)
        self.actor = actor

    def forward(self, obs, state=None, info=None):
        out = torch.as_tensor(obs, dtype=torch.float64) @ self.weight
        return (out, state) if self.actor else out


class TianshouDiscreteSAC:
    name = "tianshou DiscreteSAC (compute_nstep_return)"
    regularizer = "entropy"
    reference_policy = False

    def __init__(self):
        import tianshou  # noqa: F401

    def _algorithm(self, A: int, gamma: float, tau: float, n: int):
        import gymnasium as gym
        from tianshou.algorithm import DiscreteSAC
        from tianshou.algorithm.modelfree.discrete_sac import DiscreteSACPolicy
        from tianshou.algorithm.optim import AdamOptimizerFactory

        policy = DiscreteSACPolicy(actor=_Scaled(A, 1.0 / tau, actor=True), action_space=gym.spaces.Discrete(A))
        return DiscreteSAC(policy=policy, policy_optim=AdamOptimizerFactory(), critic=_Scaled(A, 1.0, actor=False),
                           critic_optim=AdamOptimizerFactory(), gamma=gamma, alpha=tau, n_step_return_horizon=n)

    def soft_target(self, batch: TargetBatch, *, gamma, tau, n):
        from tianshou.data import Batch, VectorReplayBuffer

        if n is None:
            n = batch.rewards.shape[0]  # every remaining step of the segment
        T, B, A = batch.q.shape
        algorithm = self._algorithm(A, gamma, tau, n)
        buffer = VectorReplayBuffer(total_size=T * B, buffer_num=B)
        q, next_q = batch.q.detach().numpy(), batch.next_q.detach().numpy()
        for t in range(T):
            buffer.add(Batch(obs=q[t], act=np.zeros(B, dtype=np.int64), rew=batch.rewards[t].detach().numpy(),
                             terminated=batch.terminated[t].numpy(), truncated=batch.truncated[t].numpy(),
                             obs_next=next_q[t], info=[{} for _ in range(B)]), buffer_ids=np.arange(B))
        indices = np.array([b * T + t for t in range(T) for b in range(B)])  # row-major over [T, B]
        with torch.no_grad():
            out = algorithm._preprocess_batch(buffer[indices], buffer, indices)
        return torch.as_tensor(np.asarray(out.returns), dtype=torch.float64).reshape(T, B)


def discrete_sac() -> TianshouDiscreteSAC:
    return TianshouDiscreteSAC()


class _OneStep(TianshouDiscreteSAC):
    name = "tianshou DiscreteSAC, n_step_return_horizon=1"

    def soft_target(self, batch: TargetBatch, *, gamma, tau, n):
        from ..contracts import Unsupported

        if n != 1:
            raise Unsupported("this adapter fixes n_step_return_horizon=1")
        return super().soft_target(batch, gamma=gamma, tau=tau, n=1)


def discrete_sac_1step() -> TianshouDiscreteSAC:
    return _OneStep()
