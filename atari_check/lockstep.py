"""Lockstep gradient diagnostics: do the two update rules push the network the same way?

On one batch, with the network's own parameters, compute the full parameter
gradient of both rules of a pair and compare them (cosine similarity and
relative norm of the difference):

* ``pg_vs_sql``: soft Q-learning ½(Q − y)² on Q = V + τ log(π/π̄) versus
  τ · L_a2c with c = 1/τ (Eq. (65)).
* ``a2c_vs_sql_matched``: the §6.3 pair, :func:`equiv.matched_soft_q_loss`
  with value scale c versus L_a2c with the same c.

Per sample the soft-Q gradient is the PG gradient plus the (∗)/(∗∗) terms of
Eq. (64) (:func:`equiv.soft_q_gradient_terms`), which vanish only in
expectation over a_t ∼ π_θ.  The "expected" columns replace the sampled
(∗)/(∗∗) gradients by their exact action-expectation
(:func:`equiv.expected_star_terms`, a sum over actions): those must agree
with the PG gradient to float tolerance, on any batch and any network.  The
``decomposition_residual`` column checks the per-sample identity itself.
For the matched pair the same decomposition is taken with the value stream's
gradient scaled by c and the policy stream's by 1/τ
(:func:`equiv.scale_gradient`), which is what the matched loss does.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

import equiv

from .losses import masked_mean

LOCKSTEP_FIELDS = (
    "pair", "cos_sampled", "rel_diff_sampled", "cos_expected", "rel_diff_expected",
    "decomposition_residual", "advantage_consistency", "norm_pg", "norm_sq", "norm_star",
    "norm_expected_star", "batch", "dtype",
)


def flat_grad(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """∇_θ loss flattened over all parameters (zeros where a parameter is unused)."""
    grads = torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)
    return torch.cat([
        (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)
    ])


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = a.norm(), b.norm()
    if float(na) == 0.0 or float(nb) == 0.0:
        return math.nan
    return float(a @ b / (na * nb))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    nb = b.norm()
    return math.nan if float(nb) == 0.0 else float((a - b).norm() / nb)


def lockstep_rows(
    params: Sequence[torch.Tensor],
    values: torch.Tensor,
    log_policy: torch.Tensor,
    actions: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    *,
    tau: float,
    value_coef: float,
    advantage: torch.Tensor | None = None,
    value_target: torch.Tensor | None = None,
) -> list[dict]:
    """Diagnostics rows for both pairs on one batch.

    Shapes ``[N]`` (``log_policy`` ``[N, A]``); ``values`` and ``log_policy``
    carry the graph to ``params``.  ``target`` is the soft-Q target y_t.
    ``advantage``/``value_target`` are the PG side's Δ_t and V̂_t as the
    learner computes them (e.g. :func:`equiv.nstep_advantage`); if omitted they
    are taken from y_t by Eq. (47), Δ_t = y_t − τ KL_t − V(s_t).
    ``advantage_consistency`` is max |Δ_t − (y_t − τ KL_t − V(s_t))| over the
    batch: the two targets describe the same return.
    """
    params = list(params)
    kl = equiv.kl_divergence(log_policy)
    from_target = (target - tau * kl - values).detach()
    if advantage is None:
        advantage = from_target
        value_target = (target - tau * kl).detach()
    consistency = float(((advantage.detach() - from_target).abs() * mask).max())
    log_pi_taken = equiv.gather_actions(log_policy, actions)
    rows = []

    def mean(x: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, mask)

    # pair 1: soft Q-learning vs τ·A2C with c = 1/τ (Eq. (65)).
    q_taken = equiv.gather_actions(equiv.dueling_q(values, log_policy, tau), actions)
    g_sq = flat_grad(mean(equiv.soft_q_loss(q_taken, target)), params)
    g_pg = flat_grad(mean(tau * equiv.a2c_loss(
        log_pi_taken, kl, values, advantage, value_target, tau=tau, value_coef=1.0 / tau)), params)
    terms = equiv.soft_q_gradient_terms(values, log_policy, actions, target, tau=tau)
    g_star = flat_grad(mean(terms.star + terms.star_star), params)
    g_estar = flat_grad(mean(equiv.expected_star_terms(values, log_policy, tau=tau)), params)
    rows.append(_row("pg_vs_sql", g_sq, g_pg, g_star, g_estar, consistency))

    # pair 2: §6.3 matched soft Q-learning vs A2C with the same c.
    c = value_coef
    g_msq = flat_grad(mean(equiv.matched_soft_q_loss(
        values, log_policy, actions, target, tau=tau, value_scale=c)), params)
    g_a2c = flat_grad(mean(equiv.a2c_loss(
        log_pi_taken, kl, values, advantage, value_target, tau=tau, value_coef=c)), params)
    v_s = equiv.scale_gradient(values, c)
    lp_s = equiv.scale_gradient(log_policy, 1.0 / tau)
    terms_s = equiv.soft_q_gradient_terms(v_s, lp_s, actions, target, tau=tau)
    g_mstar = flat_grad(mean(terms_s.star + terms_s.star_star), params)
    g_mestar = flat_grad(mean(equiv.expected_star_terms(v_s, lp_s, tau=tau)), params)
    rows.append(_row("a2c_vs_sql_matched", g_msq, g_a2c, g_mstar, g_mestar, consistency))

    for r in rows:
        r["batch"] = int(mask.sum())
        r["dtype"] = str(values.dtype).replace("torch.", "")
    return rows


def _row(pair: str, g_sq: torch.Tensor, g_pg: torch.Tensor, g_star: torch.Tensor, g_estar: torch.Tensor,
         consistency: float) -> dict:
    g_sq_expected = g_sq - g_star + g_estar  # (∗)/(∗∗) replaced by their exact action-expectation
    return {
        "pair": pair,
        "cos_sampled": _cos(g_sq, g_pg),
        "rel_diff_sampled": _rel(g_sq, g_pg),
        "cos_expected": _cos(g_sq_expected, g_pg),
        "rel_diff_expected": _rel(g_sq_expected, g_pg),
        "decomposition_residual": _rel(g_sq, g_pg + g_star),
        "advantage_consistency": consistency,
        "norm_pg": float(g_pg.norm()),
        "norm_sq": float(g_sq.norm()),
        "norm_star": float(g_star.norm()),
        "norm_expected_star": float(g_estar.norm()),
    }
