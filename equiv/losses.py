"""Losses and surrogates whose autograd gradients are the paper's estimators.

Each function returns **per-sample** losses (shape ``[...]``, no reduction):
average or sum them yourself.  Targets, advantages and value targets are
detached inside, so the gradient is exactly the estimator named in the
docstring (semi-gradient Q-learning, score-function policy gradients).

Sign convention: these are losses to *minimise*; the gradient of
:func:`policy_loss` is minus the policy-gradient estimator of Eqs. (79)/(80).

The central identity (Eq. (65), §4): for Q_θ = V_θ + τ log(π_θ/π̄),

    ∇ soft_q_loss  =  τ · ∇ policy_loss  +  ∇ value_loss  +  (∗) + (∗∗)

per sample, where the (∗)/(∗∗) terms of Eq. (64) have exact action-expectation
0 under π_θ.  In expectation the soft Q-learning gradient is therefore
τ · ∇ a2c_loss(value_coef = 1/τ).  :func:`soft_q_gradient_terms` returns
all four pieces.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._checks import _real, check_float_tensor, check_nonnegative, check_same_dtype, check_same_shape, check_tau
from .boltzmann import kl_divergence, log_reference

__all__ = [
    "gather_actions",
    "soft_q_loss",
    "policy_loss",
    "value_loss",
    "a2c_loss",
    "scale_gradient",
    "matched_soft_q_loss",
    "SoftQGradientTerms",
    "soft_q_gradient_terms",
    "expected_star_terms",
]


def gather_actions(x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """x[..., a] for the taken actions: ``x`` ``[..., A]``, ``actions`` ``[...]`` (int64)."""
    if not isinstance(actions, torch.Tensor) or actions.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"actions must be an int64/int32 tensor, got {getattr(actions, 'dtype', type(actions))}")
    if actions.shape != x.shape[:-1]:
        raise ValueError(
            f"actions has shape {tuple(actions.shape)}; expected {tuple(x.shape[:-1])} (x without its action axis)"
        )
    if actions.numel() and (int(actions.min()) < 0 or int(actions.max()) >= x.shape[-1]):
        raise ValueError(
            f"actions must lie in [0, {x.shape[-1] - 1}], got values in "
            f"[{int(actions.min())}, {int(actions.max())}]"
        )
    return x.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def _pair(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    check_float_tensor(a, a_name)
    check_float_tensor(b, b_name)
    check_same_shape(a_name, a, **{b_name: b})
    check_same_dtype(a_name, a, **{b_name: b})


def soft_q_loss(q_taken: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½ (Q_θ(s_t,a_t) − y_t)² with y_t detached, Eqs. (8), (44), (59).

    Its gradient is ∇Q_θ(s_t,a_t)(Q_θ(s_t,a_t) − y_t), Eqs. (9), (60).
    Shapes: ``q_taken``, ``target`` ``[...]``; returns ``[...]``.
    """
    _pair(q_taken, "q_taken", target, "target")
    return 0.5 * (q_taken - target.detach()) ** 2


def policy_loss(
    log_pi_taken: torch.Tensor, advantage: torch.Tensor, kl: torch.Tensor, *, tau: float
) -> torch.Tensor:
    """L_policy = −log π_θ(a_t|s_t) Δ_t + τ D_KL[π_θ ‖ π̄](s_t), Eq. (84).

    Δ_t is detached.  With Δ_t from :func:`equiv.targets.nstep_advantage`
    this is (minus) the proper estimator (80); with the unregularised
    :func:`equiv.targets.nstep_return` minus V it is the naive one (79).
    Shapes ``[...]``.
    """
    tau = check_tau(tau)
    _pair(log_pi_taken, "log_pi_taken", advantage, "advantage")
    _pair(log_pi_taken, "log_pi_taken", kl, "kl")
    return -log_pi_taken * advantage.detach() + tau * kl


def value_loss(values: torch.Tensor, value_target: torch.Tensor) -> torch.Tensor:
    """L_value = ½ (V_θ(s_t) − V̂_t)² with V̂_t detached, Eqs. (53), (85).  Shapes ``[...]``."""
    _pair(values, "values", value_target, "value_target")
    return 0.5 * (values - value_target.detach()) ** 2


def a2c_loss(
    log_pi_taken: torch.Tensor,
    kl: torch.Tensor,
    values: torch.Tensor,
    advantage: torch.Tensor,
    value_target: torch.Tensor,
    *,
    tau: float,
    value_coef: float,
) -> torch.Tensor:
    """L_a2c = L_policy + c · L_value, Eq. (86).

    Soft Q-learning has the expected gradient of τ · L_a2c with
    c = 1/τ (§4, §6.3); A2C's usual choice is c = 0.5.  Shapes ``[...]``.
    """
    value_coef = check_nonnegative(value_coef, "value_coef")
    return policy_loss(log_pi_taken, advantage, kl, tau=tau) + value_coef * value_loss(values, value_target)


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity in the forward pass (bit for bit); multiplies the gradient by ``scale``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    # A NaN/inf scale would make the forward value NaN (inf·0): reject it instead.
    scale = _real("scale", scale)
    detached = x.detach()
    return detached + scale * (x - detached)


def matched_soft_q_loss(
    values: torch.Tensor,
    log_policy: torch.Tensor,
    actions: torch.Tensor,
    target: torch.Tensor,
    *,
    tau: float,
    value_scale: float = 0.5,
    advantage_scale: float | None = None,
    ref_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """Soft Q-learning made to match A2C, §6.3.

    Q_θ(s,a) = V_θ(s) + τ log(π_θ(a|s)/π̄(a|s)) (Eq. (57)) with the gradient
    flowing into the advantage stream τ log(π/π̄) scaled by ``advantage_scale``
    (default 1/τ — the paper prints "1/γ", an erratum) and the gradient into
    the value stream V_θ scaled by ``value_scale`` = c.  The forward value is
    the plain soft Q loss ½(Q − y)²; in expectation over a_t ∼ π_θ its
    gradient is ∇ L_a2c with value coefficient c.

    Shapes: ``values`` ``[...]``, ``log_policy`` ``[..., A]``, ``actions``
    ``[...]``, ``target`` ``[...]``.
    """
    tau = check_tau(tau)
    if advantage_scale is None:
        advantage_scale = 1.0 / tau
    check_nonnegative(value_scale, "value_scale")
    check_nonnegative(advantage_scale, "advantage_scale")
    _pair(values, "values", target, "target")
    check_same_dtype("values", values, log_policy=log_policy)
    log_ref = log_reference(ref_policy, log_policy, like_name="log_policy")
    advantage_stream = tau * gather_actions(log_policy - log_ref, actions)
    q_taken = scale_gradient(values, value_scale) + scale_gradient(advantage_stream, advantage_scale)
    return soft_q_loss(q_taken, target)


class SoftQGradientTerms(NamedTuple):
    """Per-sample surrogates whose gradients are the four parts of Eq. (64).

    ``policy_gradient + value_error + star + star_star`` has, sample by
    sample, the gradient of ``soft_q_loss(Q_θ(s_t,a_t), y_t)``.
    """

    policy_gradient: torch.Tensor  # −τ log π(a_t) Δ_t + τ² KL(s_t): τ · L_policy, "policy grad" of (65)
    value_error: torch.Tensor  # ½ (V(s_t) − V̂_t)², V̂_t = V(s_t) + Δ_t: "value function grad" of (65)
    star: torch.Tensor  # (∗): τ² [log π(a_t) (ℓ_t − KL_t) − KL(s_t)], zero mean over a_t ∼ π
    star_star: torch.Tensor  # (∗∗): τ V(s_t) (ℓ_t − KL_t), zero mean over a_t ∼ π


def soft_q_gradient_terms(
    values: torch.Tensor,
    log_policy: torch.Tensor,
    actions: torch.Tensor,
    target: torch.Tensor,
    *,
    tau: float,
    ref_policy: torch.Tensor | None = None,
) -> SoftQGradientTerms:
    """Split the soft Q-learning gradient into the terms of Eqs. (64)-(65).

    With ℓ_t = log(π(a_t|s_t)/π̄(a_t|s_t)), Q = V + τℓ and
    Δ_t := y_t − τ KL_t − V(s_t) (so that y_t is Eq. (47)), the gradient of
    ½(Q − y)² is (τ∇log π + ∇V)(τℓ − τKL − Δ), which regroups exactly as
    policy-gradient + value-error + (∗) + (∗∗).  The paper's "(∗) vanishes"
    is the statement E_{a∼π}[∇(star)] = 0; here (∗) is written with the
    τ²∇KL it contributes moved into ``policy_gradient``.

    Shapes: ``values`` ``[...]``, ``log_policy`` ``[..., A]`` (normalised),
    ``actions`` ``[...]``, ``target`` ``[...]``.
    """
    tau = check_tau(tau)
    _pair(values, "values", target, "target")
    check_same_dtype("values", values, log_policy=log_policy)
    log_ref = log_reference(ref_policy, log_policy, like_name="log_policy")
    kl = kl_divergence(log_policy, ref_policy)
    log_pi_taken = gather_actions(log_policy, actions)
    log_ratio = gather_actions(log_policy - log_ref, actions).detach()
    kl_const = kl.detach()
    advantage = (target - tau * kl - values).detach()
    value_target = (target - tau * kl).detach()
    centred = log_ratio - kl_const
    return SoftQGradientTerms(
        policy_gradient=-tau * log_pi_taken * advantage + tau**2 * kl,
        value_error=0.5 * (values - value_target) ** 2,
        star=tau**2 * (log_pi_taken * centred - kl),
        star_star=tau * values * centred,
    )


def expected_star_terms(
    values: torch.Tensor,
    log_policy: torch.Tensor,
    *,
    tau: float,
    ref_policy: torch.Tensor | None = None,
) -> torch.Tensor:
    """E_{a∼π(·|s)}[(∗) + (∗∗)] as a per-state surrogate, summed over actions.

    The gradient of this surrogate is exactly the action-expectation of the
    gradients of ``star + star_star`` from :func:`soft_q_gradient_terms`;
    Eq. (64) says it is zero (by Eq. (21) and E_π[∇ log π] = 0).  Shapes:
    ``values`` ``[...]``, ``log_policy`` ``[..., A]``; returns ``[...]``.
    """
    tau = check_tau(tau)
    check_same_dtype("values", values, log_policy=log_policy)
    log_ref = log_reference(ref_policy, log_policy, like_name="log_policy")
    kl = kl_divergence(log_policy, ref_policy)
    weights = log_policy.detach().exp()
    # Actions outside π's support (log π = −inf, where π̄ = 0) carry weight 0; mask them
    # before multiplying so that 0·(−inf) never produces NaN values or gradients.
    support = torch.isfinite(log_policy)
    zero = torch.zeros((), dtype=log_policy.dtype, device=log_policy.device)
    safe_log_policy = torch.where(support, log_policy, zero)
    centred = torch.where(support, (log_policy - log_ref).detach(), zero) - kl.detach().unsqueeze(-1)
    star = tau**2 * ((weights * safe_log_policy * centred).sum(-1) - kl)
    star_star = tau * values * (weights * centred).sum(-1)
    return star + star_star
