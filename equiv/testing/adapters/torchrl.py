"""TorchRL (``torchrl.objectives.value.functional``) adapters, torchrl==0.14.1 / tensordict==0.14.3.

Conventions mapped:
* layout: TorchRL wants ``[*B, T, F]`` (time on dim −2, a feature dim); the kit's ``[T, B]`` is
  transposed to ``[B, T, 1]`` and back.
* done vs terminated: TorchRL's ``done`` is "end of trajectory" (terminated or truncated) and
  ``terminated`` is "end of episode, do not bootstrap": passed as ``done = terminated | truncated``,
  ``terminated = terminated``.  ``td0_return_estimate`` takes only ``terminated``.
* the soft target: regularised rewards r − τKL_t, next value V_Q̄(s_{t+1}), τKL_t added back
  (see ``_soft``); TorchRL computes the recursion.
* n: td0 is n = 1, td1 is n = None (every remaining step); other n raise Unsupported.
* ``gae`` (``generalized_advantage_estimate`` with λ = 1) gives the advantage and value target of an
  A2C loss whose other terms are equiv's (−log π·Δ + τKL, ½(V − V̂)²): the check decides what GAE
  contributes.  Fed the regularised rewards (the proper estimator (80)); n = None only.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from equiv.boltzmann import kl_divergence
from equiv.losses import a2c_loss, gather_actions

from ..contracts import A2CBatch, TargetBatch, Unsupported
from ._soft import soft_pieces


def _fn():
    from torchrl.objectives.value import functional

    return functional


def _in(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1).unsqueeze(-1)  # [T, B] → [B, T, 1]


def _out(x: torch.Tensor) -> torch.Tensor:
    return x.squeeze(-1).transpose(0, 1)


def _flags(batch) -> tuple[torch.Tensor, torch.Tensor]:
    return _in(batch.terminated | batch.truncated), _in(batch.terminated)


def td0() -> SimpleNamespace:
    f = _fn()

    def soft_target(batch: TargetBatch, *, gamma, tau, n):
        if n != 1:
            raise Unsupported("td0_return_estimate is the 1-step return")
        r, _, next_v, tau_kl = soft_pieces(batch, tau)
        # y = r + γ V(s'): the 1-step target has no KL_t (r − τKL_t + τKL_t).
        return _out(f.td0_return_estimate(gamma, _in(next_v), _in(r), _in(batch.terminated))) + tau_kl

    return SimpleNamespace(name="torchrl td0_return_estimate", soft_target=soft_target, reference_policy=True)


def td1() -> SimpleNamespace:
    f = _fn()

    def soft_target(batch: TargetBatch, *, gamma, tau, n):
        if n is not None:
            raise Unsupported("td1_return_estimate uses every remaining step (n=None)")
        r, _, next_v, tau_kl = soft_pieces(batch, tau)
        done, terminated = _flags(batch)
        return _out(f.td1_return_estimate(gamma, _in(next_v), _in(r), done, terminated)) + tau_kl

    return SimpleNamespace(name="torchrl td1_return_estimate", soft_target=soft_target, reference_policy=True)


def td_lambda() -> SimpleNamespace:
    f = _fn()

    def lambda_soft_target(batch: TargetBatch, *, gamma, tau, lam):
        r, _, next_v, tau_kl = soft_pieces(batch, tau)
        done, terminated = _flags(batch)
        return _out(f.td_lambda_return_estimate(gamma, lam, _in(next_v), _in(r), done, terminated)) + tau_kl

    return SimpleNamespace(name="torchrl td_lambda_return_estimate", lambda_soft_target=lambda_soft_target,
                           reference_policy=True)


def gae() -> SimpleNamespace:
    f = _fn()

    def a2c(batch: A2CBatch, *, gamma, tau, value_coef, n):
        if n is not None:
            raise Unsupported("GAE with λ = 1 uses every remaining step (n=None)")
        kl = kl_divergence(batch.log_pi, batch.ref_policy)
        r = (batch.rewards - tau * kl).detach()
        done, terminated = _flags(batch)
        advantage, value_target = f.generalized_advantage_estimate(
            gamma, 1.0, _in(batch.values.detach()), _in(batch.next_values.detach()), _in(r), done, terminated)
        return a2c_loss(gather_actions(batch.log_pi, batch.actions), kl, batch.values, _out(advantage),
                        _out(value_target), tau=tau, value_coef=value_coef)

    return SimpleNamespace(name="torchrl generalized_advantage_estimate (λ=1)", a2c_loss=a2c, reference_policy=True)
