"""Adapter contracts of the conformance kit, in the paper's terms and equiv's time-major layout.

An *adapter* is any object (a class instance, a module, a ``types.SimpleNamespace``) with some of the
methods below; each check uses only the methods it names and reports "not applicable" for the rest.
A method may raise :class:`Unsupported` for options its implementation does not have (say n ≥ 2, or a
non-uniform reference policy): the check then records "not applicable" with the reason.

Layout (as :mod:`equiv.targets`): row ``t`` of a ``[T, B]`` tensor is the transition
(s_t, a_t, r_t, s_{t+1}) of column ``b``; ``terminated[t]``: s_{t+1} is terminal (no bootstrap, nothing
collected after it); ``truncated[t]``: the episode was cut after step t by a time limit (bootstrap from
``next_q[t]`` / ``next_values[t]``, the *final* observation, but sum nothing of the next episode).  Rows
after an episode end in the same column belong to the next episode.  Values that a correct
implementation must ignore (Q̄ of a terminal state, the next episode's rows) are random, never 0.

Methods (all optional):

``soft_value(q, tau, ref_policy)``
    V_Q = τ log E_{a∼π̄} exp(Q/τ), Eq. (29): ``q`` ``[..., A]`` → ``[...]``; ``ref_policy`` ``None`` = uniform.
``boltzmann_log_policy(q, tau, ref_policy)``
    log π^B_Q, Eq. (30): ``[..., A]`` → ``[..., A]``.
``soft_target(batch: TargetBatch, *, gamma, tau, n)``
    the n-step soft Q-learning target of Eq. (46) (n = 1: Eq. (45)), ``[T, B]``; row t uses
    m = min(n, steps to the episode end, T − t) steps; ``n=None`` means every remaining step.
``lambda_soft_target(batch: TargetBatch, *, gamma, tau, lam)``
    the λ soft target (Eq. (43), corrected), ``[T, B]``; bootstraps the remaining weight at the segment end.
    ``batch.actions`` holds a_t (the kit always fills it) for targets written with Q̄(s_t, a_t), such as
    Retrace / Peng-style recursions y_t = r_t + γ V_Q̄(s_{t+1}) + γλ (y_{t+1} − Q̄(s_{t+1}, a_{t+1})).
``soft_q_loss(batch: SoftQBatch, *, gamma, tau, n)``
    per-step soft Q-learning losses ½(Q_θ(s_t,a_t) − y_t)², Eq. (59), ``[T, B]``, with y_t the n-step
    target built from ``batch.q`` (for KL_t) and ``batch.next_q``.  Both are *in the autograd graph*
    (no target network): a correct loss treats its target as a constant (Eq. (60)).
``a2c_loss(batch: A2CBatch, *, gamma, tau, value_coef, n)``
    per-step L_policy + c · L_value, Eqs. (84)-(86), ``[T, B]``, computing its own returns/advantages from
    ``rewards``, ``values`` and ``next_values`` (in the graph: a correct loss treats the bootstrap as a
    constant).  τ is the KL (entropy) coefficient.  Alternatively ``policy_loss(batch, *, gamma, tau, n)``
    and ``value_loss(batch, *, gamma, tau, n)`` (per step, unweighted), which the kit combines as
    policy + c · value.

Attributes (all optional): ``name`` (str); ``reference_policy`` (bool, default False: only the uniform
π̄, i.e. an entropy bonus, is supported); ``regularizer`` ("kl", default, or "entropy": the targets add
the entropy bonus τH instead of charging −τKL against the uniform π̄, so V(s') = τ log Σ exp(Q̄/τ) =
V_Q̄(s') + τ log A as in SAC-style targets; checked for the 1-step target); ``rtol`` (float, default 1e-9: the relative tolerance of the
comparison, to be raised only for float32 libraries, with the reason in ``rtol_reason``);
``columnwise`` (bool, default False: the loss methods are called with one column (B = 1) at a time and may
return the *sum* over that column's rows as a scalar — for libraries that only return reduced losses);
``weighted`` (bool, default False: ``a2c_loss`` gets ``batch.weight`` and returns the scalar
Σ_b weight_b Σ_t loss[t, b] — for libraries whose parameters must be their own ``nn.Parameter`` objects,
so that the adapter runs the backward pass itself and returns :func:`gradient_surrogate`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["A2CBatch", "SoftQBatch", "TargetBatch", "Unsupported", "gradient_surrogate"]


class Unsupported(Exception):
    """Raised by an adapter for an option its implementation does not have; the check is "n/a"."""


class TargetBatch(NamedTuple):
    """Input of ``soft_target`` / ``lambda_soft_target``.  Q̄ is the target network's action values."""

    rewards: torch.Tensor  # [T, B] r_t
    q: torch.Tensor  # [T, B, A] Q̄(s_t, ·): gives π^B_Q̄(·|s_t) and KL_t
    next_q: torch.Tensor  # [T, B, A] Q̄(s_{t+1}, ·): gives V_Q̄(s_{t+1}); junk where terminated
    terminated: torch.Tensor  # bool [T, B]
    truncated: torch.Tensor  # bool [T, B]
    ref_policy: torch.Tensor | None  # [T, B, A] π̄(·|s_t), or None (uniform)
    next_ref_policy: torch.Tensor | None  # [T, B, A] π̄(·|s_{t+1}), or None (uniform)
    actions: torch.Tensor | None = None  # int64 [T, B] a_t, for targets written with Q̄(s_t, a_t) (Retrace-style λ)


class SoftQBatch(NamedTuple):
    """Input of ``soft_q_loss``: Q_θ at s_t and s_{t+1}, both in the autograd graph."""

    q: torch.Tensor  # [T, B, A] Q_θ(s_t, ·)
    next_q: torch.Tensor  # [T, B, A] Q_θ(s_{t+1}, ·)
    actions: torch.Tensor  # int64 [T, B]
    rewards: torch.Tensor  # [T, B]
    terminated: torch.Tensor  # bool [T, B]
    truncated: torch.Tensor  # bool [T, B]
    ref_policy: torch.Tensor | None  # [T, B, A] or None
    next_ref_policy: torch.Tensor | None  # [T, B, A] or None


class A2CBatch(NamedTuple):
    """Input of ``a2c_loss`` / ``policy_loss`` / ``value_loss``.

    ``log_pi``, ``values`` and ``next_values`` are in the autograd graph.  When the kit's parameters are
    tables, ``states``/``next_states`` index them and ``policy_logits`` [S, A] (log π = log_softmax of it)
    and ``value_table`` [S] are the leaves: an adapter whose library runs its own backward pass on a
    one-hot observation model can hand its gradients back with :func:`gradient_surrogate`.
    """

    log_pi: torch.Tensor  # [T, B, A] log π_θ(·|s_t), normalised
    values: torch.Tensor  # [T, B] V_θ(s_t)
    next_values: torch.Tensor  # [T, B] V_θ(s_{t+1}) (final observation where truncated; junk where terminated)
    actions: torch.Tensor  # int64 [T, B]
    rewards: torch.Tensor  # [T, B]
    terminated: torch.Tensor  # bool [T, B]
    truncated: torch.Tensor  # bool [T, B]
    ref_policy: torch.Tensor | None  # [T, B, A] or None
    states: torch.Tensor | None = None  # int64 [T, B]
    next_states: torch.Tensor | None = None  # int64 [T, B]
    policy_logits: torch.Tensor | None = None  # [S, A] leaf
    value_table: torch.Tensor | None = None  # [S] leaf
    weight: torch.Tensor | None = None  # [B] path probabilities, given only to adapters with weighted = True


def gradient_surrogate(batch: A2CBatch, logits_grad: torch.Tensor, value_grad: torch.Tensor) -> torch.Tensor:
    """A scalar whose gradient w.r.t. ``batch.policy_logits`` / ``batch.value_table`` is the given one.

    For adapters whose library computes and applies its own gradient (e.g. a ``train()`` method): the
    adapter captures it and returns this as the (summed) loss of the batch.
    """
    if batch.policy_logits is None or batch.value_table is None:
        raise Unsupported("this check has no table parameters (gradient-level adapters need them)")
    g_pi = logits_grad.to(batch.policy_logits.dtype).detach()
    g_v = value_grad.to(batch.value_table.dtype).detach()
    return (g_pi * batch.policy_logits).sum() + (g_v * batch.value_table).sum()
