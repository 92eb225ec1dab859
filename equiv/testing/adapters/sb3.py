"""Stable-Baselines3 A2C adapter, stable-baselines3==2.9.2: its real ``A2C.train()`` on a filled buffer.

What runs is SB3's own code: ``RolloutBuffer.compute_returns_and_advantage`` (its GAE) and ``A2C.train()``
(its losses and backward pass); the adapter fills the buffer with the kit's path, captures the gradient
``train()`` produced (the optimizer step is replaced by a no-op) and hands it back with
``gradient_surrogate``.

Conventions mapped, and the options set to make the comparison exact:
* policy: ``MlpPolicy`` with ``net_arch=dict(pi=[], vf=[])`` on one-hot observations of the S states, so
  ``action_net`` is a linear map whose weight is the kit's logits table (transposed; bias 0) and
  ``value_net``'s weight is the value table: gradients w.r.t. those weights are the gradients w.r.t. the
  tables.  ``ortho_init`` is irrelevant (the weights are overwritten).
* ``ent_coef = τ``: SB3 adds −τ·H(π(·|s_t)) = τ·KL(π‖uniform) − τ log A, the KL penalty against the
  uniform π̄ up to a constant (so ``reference_policy = False``).
* ``vf_coef = c / 2``: SB3's value loss is ``F.mse_loss`` = (V − R)², twice the paper's ½(V − V̂)².
* ``gae_lambda = 1``: the advantage is the full-segment bootstrapped return minus V (n = None only).
* ``normalize_advantage = False`` (A2C's default), ``max_grad_norm = inf`` (no clipping).
* means: SB3 averages over the T rows of the buffer; the adapter multiplies its gradient by T (one
  path per call, ``columnwise = True``).
* truncation: SB3's buffer knows only episode starts; its ``collect_rollouts`` folds the time-out
  bootstrap into the reward (``rewards[idx] += gamma * terminal_value`` where ``TimeLimit.truncated``),
  and the adapter does the same with the kit's V(final observation) before calling the buffer.
* float32: SB3 stores rollouts in float32 numpy arrays and runs its policy in float32, so
  ``rtol = 1e-4`` (float32 sums of a few terms are good to ~1e-6; the naive/proper gap is ≥ 1e-3).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..contracts import A2CBatch, Unsupported, gradient_surrogate


class SB3A2C:
    name = "stable-baselines3 A2C.train()"
    reference_policy = False
    columnwise = True
    rtol = 1e-4
    rtol_reason = "SB3 buffers and policy are float32"

    def __init__(self):
        import gymnasium  # noqa: F401  (SB3's dependency)
        import stable_baselines3  # noqa: F401

        self._models: dict[tuple[int, int], object] = {}

    def _model(self, S: int, A: int, gamma: float, tau: float, value_coef: float, T: int):
        from gymnasium import spaces
        from stable_baselines3 import A2C
        from stable_baselines3.common.logger import configure

        key = (S, A, T)
        if key not in self._models:
            import gymnasium as gym

            class OneHot(gym.Env):
                observation_space = spaces.Box(0.0, 1.0, (S,), np.float32)
                action_space = spaces.Discrete(A)

                def reset(self, *, seed=None, options=None):
                    return np.eye(S, dtype=np.float32)[0], {}

                def step(self, action):  # never called: the buffer is filled by the adapter
                    raise RuntimeError("not used")

            old = torch.get_default_dtype()
            torch.set_default_dtype(torch.float32)  # SB3 is float32 (its buffers are float32 numpy arrays)
            try:
                model = A2C("MlpPolicy", OneHot(), n_steps=T, gae_lambda=1.0, normalize_advantage=False,
                            max_grad_norm=math.inf, policy_kwargs={"net_arch": {"pi": [], "vf": []}},
                            device="cpu", seed=0)
            finally:
                torch.set_default_dtype(old)
            model.set_logger(configure(folder=None, format_strings=[]))
            model.policy.optimizer.step = lambda *a, **k: None  # capture the gradient, never apply it
            self._models[key] = model
        model = self._models[key]
        model.gamma = model.rollout_buffer.gamma = gamma
        model.ent_coef, model.vf_coef = tau, value_coef / 2
        return model

    def a2c_loss(self, batch: A2CBatch, *, gamma, tau, value_coef, n):
        if n is not None:
            raise Unsupported("SB3 A2C with gae_lambda=1 uses every remaining step of the rollout (n=None)")
        if batch.policy_logits is None:
            raise Unsupported("needs the kit's table parameters (one-hot observation model)")
        S, A = batch.policy_logits.shape
        T = batch.rewards.shape[0]
        model = self._model(S, A, gamma, tau, value_coef, T)
        policy = model.policy
        with torch.no_grad():
            policy.action_net.weight.copy_(batch.policy_logits.detach().T.float())
            policy.action_net.bias.zero_()
            policy.value_net.weight.copy_(batch.value_table.detach()[None, :].float())
            policy.value_net.bias.zero_()
        buf = model.rollout_buffer
        buf.reset()
        eye = np.eye(S, dtype=np.float32)
        s, a = batch.states[:, 0].tolist(), batch.actions[:, 0].tolist()
        v, nv = batch.values.detach()[:, 0], batch.next_values.detach()[:, 0]
        term, trunc = batch.terminated[:, 0].tolist(), batch.truncated[:, 0].tolist()
        log_pi = batch.log_pi.detach()[:, 0]
        for t in range(T):
            reward = float(batch.rewards[t, 0])
            if trunc[t] and not term[t]:
                reward += gamma * float(nv[t])  # as SB3's collect_rollouts does on TimeLimit.truncated
            episode_start = t == 0 or term[t - 1] or trunc[t - 1]
            buf.add(eye[s[t]][None], np.array([[a[t]]]), np.array([reward], np.float32), np.array([episode_start]),
                    v[t:t + 1].float(), log_pi[t, a[t]:a[t] + 1].float())
        last_done = np.array([term[-1] or trunc[-1]])
        buf.compute_returns_and_advantage(last_values=nv[-1:].float(), dones=last_done)
        policy.optimizer.zero_grad()
        model.train()
        g_logits = policy.action_net.weight.grad.T.double() * T
        g_value = policy.value_net.weight.grad[0].double() * T
        return gradient_surrogate(batch, g_logits, g_value)


def a2c() -> SB3A2C:
    return SB3A2C()
