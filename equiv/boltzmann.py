"""Boltzmann policies, soft values and KL against a reference policy.

The objects of the paper's Sections 2, 3.2 and 4 (Eqs. (10)-(14), (27)-(32),
(55)-(57)).  Every function is batched over leading axes: ``q`` has shape
``[..., A]`` (A actions on the last axis) and per-state results have shape
``[...]``.  Functions are dtype-generic; use float64 for exact checks.

The reference policy π̄ (``ref_policy``) is a probability vector over the last
axis that broadcasts against ``q``; ``None`` means uniform over the A actions
(the paper's Atari setting, where the KL penalty is an entropy bonus up to the
constant τ·log A).  Actions with π̄(a) = 0 get Boltzmann probability 0.

Everything is computed in log space (``logsumexp`` / ``log_softmax``), so the
results stay finite for τ down to 1e-4 and |Q| up to 1e4 in float64.
"""

from __future__ import annotations

import math

import torch

from ._checks import (
    MAX_SHOWN_VALUES,
    _short,
    check_distribution,
    check_float_tensor,
    check_same_dtype,
    check_sums_to_one,
    check_tau,
    validation_enabled,
)

__all__ = [
    "log_reference",
    "soft_value",
    "boltzmann_log_policy",
    "boltzmann_policy",
    "kl_divergence",
    "entropy",
    "soft_advantage",
    "dueling_q",
    "regularized_expectation",
]


def log_reference(ref_policy: torch.Tensor | None, like: torch.Tensor, like_name: str = "q") -> torch.Tensor:
    """log π̄, broadcastable to ``like`` (shape ``[..., A]``).

    ``None`` gives the uniform reference, log π̄(a) = −log A.  Zero
    probabilities give −inf (those actions are outside the support of π̄).
    """
    if ref_policy is None:
        return torch.full((), -math.log(like.shape[-1]), dtype=like.dtype, device=like.device)
    ref_policy = check_distribution(ref_policy, "ref_policy", like=like, like_name=like_name)
    return torch.log(ref_policy)


def _check_q(q: object) -> torch.Tensor:
    q = check_float_tensor(q, "q", min_dim=1)
    if q.shape[-1] < 1:
        raise ValueError(f"q must have at least one action on its last axis, got shape {tuple(q.shape)}")
    return q


def soft_value(q: torch.Tensor, tau: float, ref_policy: torch.Tensor | None = None) -> torch.Tensor:
    """Soft value V_Q(s) = τ log E_{a∼π̄}[exp(Q(s,a)/τ)].

    Eq. (29) and (55); the bandit v_θ of Eq. (11) (which prints the ``/τ``
    outside the exp — see the errata in ``proofs/``).

    Args:
      q: action values, shape ``[..., A]``.
      tau: temperature τ > 0.
      ref_policy: π̄, broadcastable to ``q``; ``None`` = uniform.
    Returns:
      shape ``[...]``.
    """
    q = _check_q(q)
    tau = check_tau(tau)
    log_ref = log_reference(ref_policy, q)
    return tau * torch.logsumexp(q / tau + log_ref, dim=-1)


def boltzmann_log_policy(
    q: torch.Tensor, tau: float, ref_policy: torch.Tensor | None = None
) -> torch.Tensor:
    """log π^B_Q(a|s) = log π̄(a|s) + (Q(s,a) − V_Q(s))/τ.

    Eqs. (10), (12), (28), (30), (56).  Shape ``[..., A]``; entries are −inf
    exactly where π̄(a) = 0.
    """
    q = _check_q(q)
    tau = check_tau(tau)
    log_ref = log_reference(ref_policy, q)
    # Subtract before dividing: (Q − m)/τ keeps the logits of nearly tied actions to ~eps, whereas
    # Q/τ − m/τ (inside log_softmax) cancels ~log10(|Q|/τ) digits (5e-9 in log π at |Q|/τ = 1e8).
    # m = max of Q over π̄'s support, detached: log_softmax is invariant to the shift.
    supported = torch.where(torch.isfinite(log_ref), q.detach(), torch.full((), -math.inf, dtype=q.dtype))
    m = supported.amax(dim=-1, keepdim=True)
    return torch.log_softmax((q - m) / tau + log_ref, dim=-1)


def boltzmann_policy(q: torch.Tensor, tau: float, ref_policy: torch.Tensor | None = None) -> torch.Tensor:
    """π^B_Q(a|s) ∝ π̄(a|s) exp(Q(s,a)/τ), Eqs. (10), (28).  Shape ``[..., A]``."""
    return boltzmann_log_policy(q, tau, ref_policy).exp()


def kl_divergence(log_policy: torch.Tensor, ref_policy: torch.Tensor | None = None) -> torch.Tensor:
    """KL(s) = D_KL[π(·|s) ‖ π̄(·|s)] = Σ_a π(a|s) (log π(a|s) − log π̄(a|s)).

    The per-state penalty of Eq. (1), (24) and (33) (``KL_t`` in the paper).

    Args:
      log_policy: log π, shape ``[..., A]``, normalised (exp sums to 1 within
        16·A·eps, checked while validation is on); −inf allowed for zero
        probability, those terms contribute 0 by 0·log 0 = 0.
      ref_policy: π̄, broadcastable to ``log_policy``; ``None`` = uniform.
    Returns:
      shape ``[...]``; +inf if π puts mass where π̄ has none.
    """
    if not isinstance(log_policy, torch.Tensor) or not log_policy.dtype.is_floating_point:
        raise ValueError(
            f"log_policy must be a floating-point torch.Tensor, got {log_policy!r:.80}"
        )
    if log_policy.dim() < 1:
        raise ValueError(f"log_policy must have an action axis, got shape {tuple(log_policy.shape)}")
    lp = log_policy.detach()
    bad = torch.isnan(lp) | (lp == float("inf"))
    if validation_enabled() and bool(bad.any()):
        raise ValueError(f"log_policy must not contain NaN or +inf; found values such as {lp[bad][:MAX_SHOWN_VALUES].tolist()}")
    if validation_enabled():
        # KL is defined for a distribution π: an unnormalised log π would give a number, silently.
        check_sums_to_one(lp.exp(), "log_policy must be normalised: exp(log_policy)")
    log_ref = log_reference(ref_policy, log_policy, like_name="log_policy")
    support = torch.isfinite(log_policy)
    # Differences taken only on π's support so that no NaN appears in the
    # forward pass or in gradients (0·(−inf) never gets evaluated).
    zero = torch.zeros((), dtype=log_policy.dtype, device=log_policy.device)
    diff = torch.where(support, log_policy - log_ref, zero)
    policy = torch.where(support, torch.where(support, log_policy, zero).exp(), zero)
    return (policy * diff).sum(-1)


def entropy(log_policy: torch.Tensor) -> torch.Tensor:
    """Shannon entropy S[π(·|s)] = −Σ_a π log π, shape ``[...]``.

    With π̄ uniform over A actions, KL(s) = log A − S[π(·|s)]: the entropy
    bonus and the KL penalty differ by the constant τ log A (§6.2).
    """
    if not isinstance(log_policy, torch.Tensor) or log_policy.dim() < 1:
        raise ValueError(f"log_policy must be a torch.Tensor with an action axis, got {log_policy!r:.80}")
    # ref_policy=None is the uniform π̄ with log π̄ = −log A exactly; an explicit tensor of 1/A would
    # underflow in float16 for A >= 2**25 and give S = −inf.
    return math.log(log_policy.shape[-1]) - kl_divergence(log_policy, None)


def soft_advantage(q: torch.Tensor, tau: float, ref_policy: torch.Tensor | None = None) -> torch.Tensor:
    """A_Q(s,a) = Q(s,a) − V_Q(s) = τ log(π^B_Q(a|s)/π̄(a|s)), Eq. (32).  Shape ``[..., A]``."""
    return q - soft_value(q, tau, ref_policy).unsqueeze(-1)


def dueling_q(
    value: torch.Tensor,
    log_policy: torch.Tensor,
    tau: float,
    ref_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """Q_θ(s,a) = V_θ(s) + τ log(π_θ(a|s)/π̄(a|s)), Eq. (57).

    The §6.3 "dueling" parametrisation: a value stream ``value`` and an
    advantage stream ``τ·log(π/π̄)`` built from the policy head.  When
    ``log_policy`` is normalised, the Boltzmann policy and soft value of the
    returned Q are exactly ``log_policy`` and ``value`` (Eqs. (55)-(57)).

    Args:
      value: V_θ(s), shape ``[...]``.
      log_policy: log π_θ(·|s), shape ``[..., A]``, finite.
      tau: τ > 0.
      ref_policy: π̄ with full support, broadcastable; ``None`` = uniform.
    Returns:
      Q_θ, shape ``[..., A]``.
    """
    tau = check_tau(tau)
    value = check_float_tensor(value, "value")
    log_policy = check_float_tensor(log_policy, "log_policy", min_dim=1)
    check_same_dtype("value", value, log_policy=log_policy)
    if log_policy.shape[:-1] != value.shape:
        raise ValueError(
            f"log_policy has shape {tuple(log_policy.shape)}; expected value.shape + (A,) = "
            f"{tuple(value.shape)} + (A,)"
        )
    log_ref = log_reference(ref_policy, log_policy, like_name="log_policy")
    if ref_policy is not None and bool((ref_policy.detach() == 0).any()):
        raise ValueError(
            f"ref_policy has zero entries, got {_short(ref_policy)}; Q = V + τ log(π/π̄) is "
            "undefined there. Use a reference policy with full support for the dueling parametrisation."
        )
    return value.unsqueeze(-1) + tau * (log_policy - log_ref)


def regularized_expectation(
    q: torch.Tensor,
    log_policy: torch.Tensor,
    tau: float,
    ref_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """E_{a∼π}[Q(s,a)] − τ D_KL[π ‖ π̄](s): the objective maximised in Eq. (27).

    Also the left-hand side of Eq. (6) (with Q = r̄) and the right-hand side of
    Eqs. (13) and (31) (with π = π^B_Q).  Shape ``[...]``.
    """
    q = _check_q(q)
    tau = check_tau(tau)
    if not isinstance(log_policy, torch.Tensor):
        raise ValueError(f"log_policy must be a torch.Tensor, got {type(log_policy).__name__}: {log_policy!r:.80}")
    check_same_dtype("q", q, log_policy=log_policy)
    if log_policy.shape != q.shape:
        raise ValueError(
            f"log_policy has shape {tuple(log_policy.shape)} but q has shape {tuple(q.shape)}"
        )
    support = torch.isfinite(log_policy)
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    policy = torch.where(support, torch.where(support, log_policy, zero).exp(), zero)
    return (policy * q).sum(-1) - tau * kl_divergence(log_policy, ref_policy)
