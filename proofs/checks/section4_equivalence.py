"""§4, soft Q-learning gradient = policy gradient + value-error gradient: Eqs. (55)-(65).

Symbolic steps work at one state s_t with k = 2, 3 actions: Q_θ(s_t, a) are
undefined functions of θ, V_θ and π_θ are built from them by (55)-(56), the
sampling distribution π is held fixed while differentiating and set to π_θ
afterwards ("|_{π=π_θ}"), and Δ_t enters through its conditional means
E[Δ_t | a_t = a] (every expression is linear in Δ_t and in y_t).  The whole
chain is also checked numerically on a finite MDP with n-step targets, against
exact expectations.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

import equiv
from equiv import expected as eexp
from equiv import mdp as emdp

from ..core import CheckResult, check, failed, passed
from ..exact import GAP, REL_TOL, random_mdp, rel_gap
from ..models import R, bandit, general_bandit
from ..symbolic import Witness, decide, decide_all

KS = (2, 3)


@check("eq055_eq056_to_eq057", kind="symbolic", equations=(55, 56, 57))
def eq055_eq056_to_eq057() -> CheckResult:
    """Q_θ(s,a) = V_θ(s) + τ log(π_θ(a|s)/π̄(a|s)) with V_θ, π_θ of (55), (56) (k = 2, 3 and any k)."""
    results = []
    for k in KS:
        b = bandit(k)
        V = b.tau * sp.log(sp.Add(*[p * sp.exp(q / b.tau) for p, q in zip(b.pbar, b.q)]))
        for i in range(k):
            pi_i = b.pbar[i] * sp.exp((b.q[i] - V) / b.tau)  # (56)
            results.append(
                decide(
                    b.q[i],
                    V + b.tau * sp.log(pi_i / b.pbar[i]),
                    b.witness,
                    statement=f"(57), action {i} (k={k})",
                    control=(k == 2 and i == 0),
                    wrong=V + sp.log(pi_i / b.pbar[i]),
                    wrong_label="log-ratio without τ",
                )
            )
    g = general_bandit()
    pi_i = g.pbar[g.i] * sp.exp((g.q[g.i] - g.v) / g.tau)
    results.append(
        decide(
            g.plain(g.q[g.i]),
            g.plain(g.v + g.tau * sp.log(pi_i / g.pbar[g.i])),
            g.witness,
            statement="(57) for a generic action of any k",
            wrong=g.plain(g.v + sp.log(pi_i / g.pbar[g.i])),
            wrong_label="log-ratio without τ",
        )
    )
    return decide_all(results)


@check("eq056_normalized", kind="symbolic", equations=(55, 56))
def eq056_normalized() -> CheckResult:
    """π_θ of (56) with V_θ of (55) is a distribution: Σ_a π_θ(a|s) = 1."""
    results = []
    for k in KS:
        b = bandit(k)
        V = b.tau * sp.log(sp.Add(*[p * sp.exp(q / b.tau) for p, q in zip(b.pbar, b.q)]))
        total = sp.Add(*[p * sp.exp((q - V) / b.tau) for p, q in zip(b.pbar, b.q)])
        results.append(
            decide(
                total,
                1,
                b.witness,
                statement=f"Σ_a π_θ(a|s) = 1 (k={k})",
                control=(k == 2),
                wrong=sp.Add(*[p * sp.exp(q - V) for p, q in zip(b.pbar, b.q)]),
                wrong_label="exp(Q − V) without /τ",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- (59)-(63)


def _fixed_weights(b, k):
    """Sampling weights p_a held fixed under ∇_θ (the '|_{π=π_θ}' convention), set to π_θ afterwards."""
    w = sp.symbols(f"w0:{k}", positive=True)
    return w, dict(zip(w, b.pi))


@check("eq059_to_eq060", kind="symbolic", equations=(59, 60))
def eq059_to_eq060() -> CheckResult:
    """∇_θ E_{a∼π}[½(Q_θ(a) − y)²]|_{π=π_θ} = E[∇_θQ_θ(a)(Q_θ(a) − y)] (π and the target y fixed; y =
    ȳ_a ± σ_a)."""
    results = []
    for k in KS:
        b = bandit(k)
        w, at = _fixed_weights(b, k)
        ybar, sig = b.rbar, b.sigma  # targets: two-point around their conditional means
        loss = sp.Add(
            *[wi * (((q - (y + s)) ** 2 + (q - (y - s)) ** 2) / 4) for wi, q, y, s in zip(w, b.qf, ybar, sig)]
        )
        lhs = b.d(loss).xreplace(at)
        rhs = sp.Add(*[p * b.d(q) * (q - y) for p, q, y in zip(b.pi, b.qf, ybar)])
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(59) = (60) (k={k})",
                control=(k == 2),
                wrong=b.stage1(b.d(loss.xreplace(at))),
                wrong_label="differentiating the sampling distribution π_θ too",
            )
        )
    return decide_all(results)


@check("eq060_to_eq061", kind="symbolic", equations=(46, 47, 57, 60, 61))
def eq060_to_eq061() -> CheckResult:
    """With Q̄ = Q_θ, y_t = V_θ(s_t) + τKL_t + Δ_t (Eq. (47)) and Q_θ = V_θ + τℓ (57): (60) = (61)."""
    results = []
    for k in KS:
        b = bandit(k)
        y = [b.v + b.tau * b.kl + dl for dl in b.delta]  # (47) with V_Q̄ = V_θ, KL of π_θ
        lhs = sp.Add(*[p * b.d(q) * (q - yi) for p, q, yi in zip(b.pi, b.qf, y)])
        rhs = sp.Add(
            *[
                p * b.d(q) * (b.tau * lr + b.v - (b.v + b.tau * b.kl + dl))
                for p, q, lr, dl in zip(b.pi, b.qf, b.log_ratio, b.delta)
            ]
        )
        wrong = sp.Add(
            *[
                p * b.d(q) * (b.tau * lr + b.v - (b.v + dl))
                for p, q, lr, dl in zip(b.pi, b.qf, b.log_ratio, b.delta)
            ]
        )
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(60) = (61) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="y_t without the τKL_t term",
            )
        )
    return decide_all(results)


@check("eq061_to_eq062", kind="symbolic", equations=(61, 62))
def eq061_to_eq062() -> CheckResult:
    """Cancelling V_θ(s_t): (61) = (62)."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = sp.Add(
            *[
                p * b.d(q) * (b.tau * lr + b.v - (b.v + b.tau * b.kl + dl))
                for p, q, lr, dl in zip(b.pi, b.qf, b.log_ratio, b.delta)
            ]
        )
        rhs = sp.Add(
            *[
                p * b.d(q) * (b.tau * lr - b.tau * b.kl - dl)
                for p, q, lr, dl in zip(b.pi, b.qf, b.log_ratio, b.delta)
            ]
        )
        wrong = sp.Add(
            *[
                p * b.d(q) * (b.tau * lr + b.v - b.tau * b.kl - dl)
                for p, q, lr, dl in zip(b.pi, b.qf, b.log_ratio, b.delta)
            ]
        )
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(61) = (62) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="keeping one V_θ",
            )
        )
    return decide_all(results)


def _eq63_factor(b, i):
    return b.tau * b.d(sp.log(b.pi[i])) + b.d(b.v)


@check("eq062_to_eq063", kind="symbolic", equations=(57, 62, 63))
def eq062_to_eq063() -> CheckResult:
    """∇_θQ_θ = τ∇_θ log π_θ + ∇_θV_θ (differentiating (57)): (62) = (63)."""
    results = []
    for k in KS:
        b = bandit(k)
        resid = [b.tau * lr - b.tau * b.kl - dl for lr, dl in zip(b.log_ratio, b.delta)]
        lhs = sp.Add(*[p * b.d(q) * r for p, q, r in zip(b.pi, b.qf, resid)])
        rhs = sp.Add(*[p * _eq63_factor(b, i) * r for i, (p, r) in enumerate(zip(b.pi, resid))])
        wrong = sp.Add(*[p * b.tau * b.d(sp.log(b.pi[i])) * r for i, (p, r) in enumerate(zip(b.pi, resid))])
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(62) = (63) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="dropping ∇_θV_θ",
            )
        )
    return decide_all(results)


def _eq64_line1(b, i):
    dlog, dv, lr, kl, dl, tau = b.d(sp.log(b.pi[i])), b.d(b.v), b.log_ratio[i], b.kl, b.delta[i], b.tau
    return tau**2 * dlog * lr - tau**2 * dlog * kl - tau * dlog * dl + tau * dv * lr - tau * dv * kl - dv * dl


@check("eq063_to_eq064", kind="symbolic", equations=(63, 64))
def eq063_to_eq064() -> CheckResult:
    """Expanding the product of (63) gives the first line of (64), sample by sample (every action)."""
    results = []
    for k in KS:
        b = bandit(k)
        for i in range(k):
            resid = b.tau * b.log_ratio[i] - b.tau * b.kl - b.delta[i]
            lhs = _eq63_factor(b, i) * resid
            dlog = b.d(sp.log(b.pi[i]))
            wrong = _eq64_line1(b, i) + 2 * b.tau * dlog * b.delta[i]
            results.append(
                decide(
                    b.stage1(lhs),
                    b.stage1(_eq64_line1(b, i)),
                    b.witness,
                    statement=f"(63) expanded = (64) line 1, action {i} (k={k})",
                    control=(k == 2 and i == 0),
                    wrong=b.stage1(wrong),
                    wrong_label="+τ∇log π Δ_t (sign error)",
                )
            )
    return decide_all(results)


@check("eq064_expectation", kind="symbolic", equations=(21, 64))
def eq064_expectation() -> CheckResult:
    """E_{a∼π_θ}[(64) line 1] = E[τ²∇D_KL + 0 − τ∇log π Δ_t + 0 − ∇V_θ Δ_t] (the second line of (64))."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = sp.Add(*[p * _eq64_line1(b, i) for i, p in enumerate(b.pi)])
        rhs = sp.Add(
            *[
                p * (b.tau**2 * b.d(b.kl) - b.tau * b.d(sp.log(p)) * dl - b.d(b.v) * dl)
                for p, dl in zip(b.pi, b.delta)
            ]
        )
        wrong = sp.Add(
            *[
                p * (b.tau * b.d(b.kl) - b.tau * b.d(sp.log(p)) * dl - b.d(b.v) * dl)
                for p, dl in zip(b.pi, b.delta)
            ]
        )
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(64) line 1 = line 2 in E_π_θ (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="τ in place of τ² on ∇D_KL",
            )
        )
    return decide_all(results)


@check("eq064_star_terms_vanish", kind="symbolic", equations=(64,))
def eq064_star_terms_vanish() -> CheckResult:
    """E_{a∼π_θ}[(∗)] = E[−τ²∇log π·KL] = 0 and E[(∗∗)] = E[τ∇V(log(π/π̄) − KL)] = 0 (k = 2, 3 and any k)."""
    results = []
    for k in KS:
        b = bandit(k)
        star = sp.Add(*[p * (-(b.tau**2) * b.d(sp.log(p)) * b.kl) for p in b.pi])
        star2 = sp.Add(
            *[p * (b.tau * b.d(b.v) * lr - b.tau * b.d(b.v) * b.kl) for p, lr in zip(b.pi, b.log_ratio)]
        )
        results.append(
            decide(
                b.stage1(star),
                0,
                b.witness,
                statement=f"E[(∗)] = 0 (k={k})",
                control=(k == 2),
                wrong=(
                    b.stage1(
                        sp.Add(*[p * (-(b.tau**2) * b.d(sp.log(p)) * lr) for p, lr in zip(b.pi, b.log_ratio)])
                    ),
                    0,
                ),
                wrong_label="with log(π/π̄) in place of the constant KL",
            )
        )
        results.append(
            decide(
                b.stage1(star2),
                0,
                b.witness,
                statement=f"E[(∗∗)] = 0 (k={k})",
                control=(k == 2),
                wrong=(b.stage1(sp.Add(*[p * b.tau * b.d(b.v) * lr for p, lr in zip(b.pi, b.log_ratio)])), 0),
                wrong_label="without −KL",
            )
        )
    # any k: E_π[log(π/π̄)] = KL and E_π[∇log π] = 0 are the defining sums; (∗) and (∗∗) are linear in them.
    g = general_bandit()
    kl, dv, M = sp.Symbol("KL", real=True), sp.Symbol("dV", real=True), sp.Symbol("M", real=True)
    lr = sp.log(g.pi_i / g.pbar[g.i])
    dlog = (g.dq[g.i] - M) / g.tau
    known = {
        sp.Sum(g.pbar[g.i] * g.dq[g.i] * sp.exp(g.q[g.i] / g.tau), (g.i, 1, g.k)): M * g.Z,
        sp.Sum(g.pbar[g.i] * g.q[g.i] * sp.exp(g.q[g.i] / g.tau), (g.i, 1, g.k)): g.Z
        * (g.tau * kl + g.tau * sp.log(g.Z)),
    }
    witness = Witness(
        {**g.witness.values, kl: R(1, 3), dv: R(2, 5), M: R(1, 7)}, g.witness.label + ", KL = 1/3"
    )
    results.append(
        decide(
            g.expectation(-(g.tau**2) * dlog * kl, known),
            0,
            witness,
            statement="E[(∗)] = 0 for any k",
            wrong=(g.expectation(-(g.tau**2) * g.dq[g.i] / g.tau * kl, known), 0),
            wrong_label="without centring ∇q",
        )
    )
    results.append(
        decide(
            g.expectation(g.tau * dv * (lr - kl), known),
            0,
            witness,
            statement="E[(∗∗)] = 0 for any k (E_π[q] = τKL + V by (13))",
            wrong=(g.expectation(g.tau * dv * lr, known), 0),
            wrong_label="without −KL",
        )
    )
    return decide_all(results)


@check("eq064_to_eq065", kind="symbolic", equations=(64, 65))
def eq064_to_eq065() -> CheckResult:
    """−∇V_θ Δ_t = ∇_θ ½(V_θ(s_t) − V̂_t)² with V̂_t := V_θ(s_t) + Δ_t held fixed: (64) = (65)."""
    results = []
    for k in KS:
        b = bandit(k)
        vhat = sp.symbols(f"Vhat0:{k}", real=True)
        lhs = sp.Add(
            *[
                p * (b.tau**2 * b.d(b.kl) - b.tau * b.d(sp.log(p)) * dl - b.d(b.v) * dl)
                for p, dl in zip(b.pi, b.delta)
            ]
        )
        value = [b.d((b.v - vh) ** 2 / 2).subs(vh, b.v + dl) for vh, dl in zip(vhat, b.delta)]
        rhs = sp.Add(
            *[
                p * (-b.tau * b.d(sp.log(p)) * dl + b.tau**2 * b.d(b.kl) + val)
                for p, dl, val in zip(b.pi, b.delta, value)
            ]
        )
        moving = [b.d((b.v - (b.v + dl)) ** 2 / 2) for dl in b.delta]
        wrong = sp.Add(
            *[
                p * (-b.tau * b.d(sp.log(p)) * dl + b.tau**2 * b.d(b.kl) + val)
                for p, dl, val in zip(b.pi, b.delta, moving)
            ]
        )
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(64) = (65) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="differentiating through the target V̂_t",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- numeric, on an MDP


def _expected_gradients(mdp, q_param, weights, n, value_coef):
    """(∇ soft-Q loss (59), ∇ of τ·(L_policy + c·L_value)) w.r.t. tabular Q, both as exact expectations."""
    q = q_param.clone().requires_grad_()
    (g_q,) = torch.autograd.grad(eexp.mdp_soft_q_loss(mdp, q, weights, n), q)
    q2 = q_param.clone().requires_grad_()
    log_pi = equiv.boltzmann_log_policy(q2, mdp.tau, mdp.ref_probs)
    values = equiv.soft_value(q2, mdp.tau, mdp.ref_probs)
    a2c = eexp.mdp_a2c_loss(mdp, log_pi, values, weights, n, value_coef=value_coef)
    (g_pg,) = torch.autograd.grad(mdp.tau * a2c, q2)
    return g_q, g_pg


def _own_soft_q_gradient(mdp, q_param, weights, n):
    """The expected soft-Q gradient by independent enumeration: Σ_s w Σ_a π ∇Q (Q − E[y|s,a])."""
    from .section3_operators import _soft_target_expectation

    pol = emdp.boltzmann_policy_of(mdp, q_param)
    target = _soft_target_expectation(mdp, q_param, pol, n)
    return weights[:, None] * pol * (q_param - target)  # ∇ wrt tabular Q(s,a) is the indicator


@check("eq059_to_eq065_numeric", kind="numeric", equations=(59, 65))
def eq059_to_eq065_numeric() -> CheckResult:
    """On a 4-state MDP with n-step targets (n = 1, 2, 3): E[∇ soft-Q loss] = τ·∇E[L_policy +
    τ⁻¹L_value] exactly."""
    mdp = random_mdp(59, S=4, A=3, gamma=0.9, tau=0.3)
    rng = np.random.default_rng(59)
    q = torch.from_numpy(rng.normal(size=(4, 3)))
    w = torch.from_numpy(rng.dirichlet(np.ones(4)))
    worst, own, control = 0.0, 0.0, float("inf")
    for n in (1, 2, 3):
        g_q, g_pg = _expected_gradients(mdp, q, w, n, 1.0 / mdp.tau)
        worst = max(worst, rel_gap(g_q, g_pg))
        control = min(control, rel_gap(g_q, _expected_gradients(mdp, q, w, n, 1.0)[1]))
        own = max(own, rel_gap(_own_soft_q_gradient(mdp, q, w, n), g_q))
    if worst > REL_TOL or own > REL_TOL:
        return failed("(59) ≠ (65) on the MDP", f"relative gap {worst:.3g} (own enumeration {own:.3g})")
    return passed(
        "∇ E[½(Q_θ − y_t)²] = τ∇E[L_policy + τ⁻¹ L_value] to 1e-10 for n = 1, 2, 3 (tabular Q, τ = 0.3); "
        "the soft-Q side also matches an independent path enumeration",
        gap=worst,
        own=own,
        negative_control=f"value weight 1 instead of τ⁻¹: relative gap ≥ {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("text4_value_coefficient", kind="numeric", equations=(65, 86))
def text4_value_coefficient() -> CheckResult:
    """Relative to the policy gradient, the value error has coefficient τ⁻¹ (not 0.5, not 1)."""
    mdp = random_mdp(65, S=3, A=3, gamma=0.8, tau=0.3)
    rng = np.random.default_rng(65)
    q = torch.from_numpy(rng.normal(size=(3, 3)))
    w = torch.from_numpy(rng.dirichlet(np.ones(3)))
    g_q, g_pg = _expected_gradients(mdp, q, w, 2, 1.0 / mdp.tau)
    gap = rel_gap(g_q, g_pg)
    others = {c: rel_gap(g_q, _expected_gradients(mdp, q, w, 2, c)[1]) for c in (0.5, 1.0)}
    if gap > REL_TOL or min(others.values()) < GAP:
        return failed("value coefficient", f"gap at 1/τ {gap:.3g}; at 0.5, 1: {others}")
    return passed(
        f"c = 1/τ = {1 / mdp.tau:.4g} matches to 1e-10",
        gap=gap,
        negative_control=f"c = 0.5: gap {others[0.5]:.3g}; c = 1: gap {others[1.0]:.3g} (relative)",
        negative_control_gap=min(others.values()),
        negative_control_threshold=GAP,
    )
