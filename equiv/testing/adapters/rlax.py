"""rlax adapters (JAX, float64 enabled), rlax==0.1.9 / jax==0.10.2: multistep returns as soft targets.

Conventions mapped:
* rlax works on one trajectory ``[T]``; the kit's ``[T, B]`` columns go through ``jax.vmap`` over axis 1.
* termination: ``discount_t = γ (1 − terminated_t)``; ``v_t`` = V_Q̄(s_{t+1}) (rlax's ``v_t`` is the
  value of the state *after* step t).
* truncation: rlax has no flag for it.  The adapter sets ``lambda_t = 0`` at every episode end (and
  keeps ``discount_t = γ`` at a truncation), so the return bootstraps from V(final observation) and
  stops there: the documented meaning of a per-step λ in both functions.
* the soft target: regularised rewards r − τKL_t, τKL_t added back (see ``_soft``).
* ``n_step``: ``n_step_bootstrapped_returns(r_t, discount_t, v_t, n, lambda_t)``, n ∈ {1, 2, 3}.
* ``lambda_returns``: ``lambda_returns(r_t, discount_t, v_t, lambda_)`` with λ on continuing steps.
* JAX is put in float64 mode (``jax_enable_x64``) when an adapter is built.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from ..contracts import TargetBatch, Unsupported
from ._soft import soft_pieces


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import rlax

    return jax, jnp, rlax


def _inputs(batch: TargetBatch, gamma: float, tau: float, jnp):
    r, _, next_v, tau_kl = soft_pieces(batch, tau)
    done = (batch.terminated | batch.truncated).numpy()
    discount = gamma * (1.0 - batch.terminated.numpy().astype(np.float64))
    arr = lambda x: jnp.asarray(x.detach().numpy() if isinstance(x, torch.Tensor) else x, dtype=jnp.float64)
    return arr(r), arr(discount), arr(next_v), done, tau_kl


def n_step() -> SimpleNamespace:
    jax, jnp, rlax = _jax()

    def soft_target(batch: TargetBatch, *, gamma, tau, n):
        if n is None:
            raise Unsupported("n_step_bootstrapped_returns needs an integer n")
        r, discount, v, done, tau_kl = _inputs(batch, gamma, tau, jnp)
        lam = jnp.asarray(np.where(done, 0.0, 1.0))
        fn = jax.vmap(lambda r, d, v, lam: rlax.n_step_bootstrapped_returns(r, d, v, n, lam), in_axes=1, out_axes=1)
        return torch.from_numpy(np.array(fn(r, discount, v, lam))) + tau_kl.detach()

    return SimpleNamespace(name="rlax n_step_bootstrapped_returns", soft_target=soft_target, reference_policy=True)


def lambda_returns() -> SimpleNamespace:
    jax, jnp, rlax = _jax()

    def lambda_soft_target(batch: TargetBatch, *, gamma, tau, lam):
        r, discount, v, done, tau_kl = _inputs(batch, gamma, tau, jnp)
        lam_t = jnp.asarray(np.where(done, 0.0, lam))
        fn = jax.vmap(rlax.lambda_returns, in_axes=(1, 1, 1, 1), out_axes=1)
        return torch.from_numpy(np.array(fn(r, discount, v, lam_t))) + tau_kl.detach()

    def soft_target(batch: TargetBatch, *, gamma, tau, n):  # λ = 1: every remaining step
        if n is not None:
            raise Unsupported("lambda_returns with λ = 1 is the n=None return")
        return lambda_soft_target(batch, gamma=gamma, tau=tau, lam=1.0)

    return SimpleNamespace(name="rlax lambda_returns", soft_target=soft_target,
                           lambda_soft_target=lambda_soft_target, reference_policy=True)
