"""§2, the bandit: Eqs. (1)-(23) and the rescaling remark.

Every derivation step is decided for k = 2 and k = 3 actions (and for a
symbolic number of actions k where the step is per-action or an expectation
sympy can evaluate by linearity), with symbolic τ, π̄, rewards and q_θ given as
undefined functions of θ, so every ∇_θ below is a real derivative.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

import equiv

from ..core import CheckResult, check, extended, failed, passed
from ..exact import GAP
from ..models import R, bandit, general_bandit, generic_policy, merged, softmax_policy
from ..symbolic import Witness, decide, decide_all, evaluate, fmt

KS = (2, 3)


def _boltzmann_of(values, pbar, tau):
    """(Z, π^B, v) of Eq. (2)/(10)/(11 corrected) for plain value symbols."""
    Z = sp.Add(*[p * sp.exp(x / tau) for p, x in zip(pbar, values)])
    pi = [p * sp.exp(x / tau) / Z for p, x in zip(pbar, values)]
    return Z, pi, tau * sp.log(Z)


def _with_policy(b, k):
    probs, values, label = generic_policy(k)
    return probs, merged(b.witness, values, label)


# --------------------------------------------------------------------------- (1)-(6)


@check("eq002_normalized", kind="symbolic", equations=(2, 10))
def eq002_normalized() -> CheckResult:
    """π^B of Eq. (2)/(10) sums to 1 over actions."""
    results = []
    for k in KS:
        b = bandit(k)
        _, pi, _ = _boltzmann_of(b.rbar, b.pbar, b.tau)
        unnormalized = sp.Add(*[p * sp.exp(r / b.tau) for p, r in zip(b.pbar, b.rbar)])
        results.append(
            decide(
                sp.Add(*pi),
                1,
                b.witness,
                statement=f"Σ_a π^B(a) = 1 (k={k})",
                control=(k == 2),
                wrong=unnormalized,
                wrong_label="without the normalizing constant",
            )
        )
    return decide_all(results)


@check("eq002_maximizer", kind="symbolic", equations=(1, 2))
def eq002_maximizer() -> CheckResult:
    """π^B_r̄ is a stationary point of η on the simplex; η is strictly concave, so it is the maximiser."""
    results = []
    for k in KS:
        b = bandit(k)
        p = sp.symbols(f"p0:{k}", positive=True)
        eta = sp.Add(*[pi * r for pi, r in zip(p, b.rbar)]) - b.tau * sp.Add(
            *[pi * sp.log(pi / pb) for pi, pb in zip(p, b.pbar)]
        )
        grad = [sp.diff(eta, x) for x in p]
        hess_diag = [sp.diff(eta, x, 2) for x in p]
        _, pi_b, _ = _boltzmann_of(b.rbar, b.pbar, b.tau)
        at_boltzmann = {x: y for x, y in zip(p, pi_b)}
        at_reference = {x: y for x, y in zip(p, b.pbar)}
        for i in range(1, k):
            # Lagrange condition on the simplex: all partial derivatives equal.
            lhs = (grad[i] - grad[0]).xreplace(at_boltzmann)
            results.append(
                decide(
                    lhs,
                    0,
                    b.witness,
                    statement=f"∂η/∂π_{i} − ∂η/∂π_0 = 0 at π^B (k={k})",
                    control=(k == 2),
                    wrong=((grad[i] - grad[0]).xreplace(at_reference), 0),
                    wrong_label="the same condition at π = π̄",
                )
            )
        for h, x in zip(hess_diag, p):
            if sp.simplify(h + b.tau / x) != 0:
                raise ArithmeticError(f"unexpected Hessian {h}")
    out = decide_all(results)
    return extended(
        out, "; Hessian of η is diag(−τ/π_a) < 0 (strictly concave)",
    )


@check("eq003_kl_definition", kind="numeric", equations=(3,))
def eq003_kl_definition() -> CheckResult:
    """D_KL of Eq. (3) agrees with equiv.kl_divergence and is ≥ 0 with equality only at π = π^B."""
    rng = np.random.default_rng(3)
    worst, control = 0.0, 0.0
    for _ in range(20):
        k = int(rng.integers(2, 6))
        pi = torch.tensor(rng.dirichlet(np.ones(k)))
        ref = torch.tensor(rng.dirichlet(np.ones(k)))
        direct = float((pi * (pi.log() - ref.log())).sum())
        lib = float(equiv.kl_divergence(pi.log(), ref))
        worst = max(worst, abs(direct - lib) / max(1.0, abs(direct)))
        reverse = float((ref * (ref.log() - pi.log())).sum())  # D_KL[π̄‖π]: the wrong direction
        control = max(control, abs(reverse - lib) / max(1.0, abs(lib)))
        if direct < 0:
            return failed("KL < 0", f"π = {pi.tolist()}, π̄ = {ref.tolist()}: KL = {direct}")
    if worst > 1e-12:
        return failed("equiv.kl_divergence disagrees with Eq. (3)", f"relative difference {worst:.3g}")
    same = float(
        equiv.kl_divergence(
            torch.tensor([0.2, 0.8], dtype=torch.float64).log(), torch.tensor([0.2, 0.8], dtype=torch.float64)
        )
    )
    if abs(same) > 1e-15:
        return failed("KL[π‖π] ≠ 0", f"KL = {same}")
    return passed(
        "Eq. (3) equals equiv.kl_divergence to 1e-12 relative on 20 random pairs (float64), "
        "is ≥ 0, and is 0 at π = π̄",
        worst_relative_difference=worst,
        negative_control=f"the reversed D_KL[π̄‖π]: differs from equiv's by up to {control:.3g} (relative)",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq003_to_eq004", kind="symbolic", equations=(3, 4))
def eq003_to_eq004() -> CheckResult:
    """E_π[log π − log π^B] = E_π[log π − log π̄ − r̄/τ + log E_π̄ exp(r̄/τ)]."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        Z, pib, _ = _boltzmann_of(b.rbar, b.pbar, b.tau)
        lhs = sp.Add(*[p * (sp.log(p) - sp.log(q)) for p, q in zip(pi, pib)])
        rhs = sp.Add(
            *[p * (sp.log(p) - sp.log(pb) - r / b.tau + sp.log(Z)) for p, pb, r in zip(pi, b.pbar, b.rbar)]
        )
        wrong = sp.Add(
            *[p * (sp.log(p) - sp.log(pb) - r + sp.log(Z)) for p, pb, r in zip(pi, b.pbar, b.rbar)]
        )
        results.append(
            decide(
                lhs,
                rhs,
                witness,
                statement=f"(3) = (4) (k={k})",
                control=(k == 2),
                wrong=wrong,
                wrong_label="r̄ in place of r̄/τ",
            )
        )
    return decide_all(results)


@check("eq004_to_eq005", kind="symbolic", equations=(4, 5))
def eq004_to_eq005() -> CheckResult:
    """(4) = D_KL[π‖π̄] − E_π[r̄/τ] + log E_π̄[exp(r̄/τ)] (uses Σ_a π(a) = 1)."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        Z, _, _ = _boltzmann_of(b.rbar, b.pbar, b.tau)
        lhs = sp.Add(
            *[p * (sp.log(p) - sp.log(pb) - r / b.tau + sp.log(Z)) for p, pb, r in zip(pi, b.pbar, b.rbar)]
        )
        kl = sp.Add(*[p * sp.log(p / pb) for p, pb in zip(pi, b.pbar)])
        rhs = kl - sp.Add(*[p * r / b.tau for p, r in zip(pi, b.rbar)]) + sp.log(Z)
        results.append(
            decide(
                lhs,
                rhs,
                witness,
                statement=f"(4) = (5) (k={k})",
                control=(k == 2),
                wrong=rhs - sp.log(Z),
                wrong_label="dropping log E_π̄[exp(r̄/τ)]",
            )
        )
    return decide_all(results)


@check("eq005_to_eq006", kind="symbolic", equations=(5, 6))
def eq005_to_eq006() -> CheckResult:
    """E_π[r̄] − τ D_KL[π‖π̄] = τ log E_π̄[exp(r̄/τ)] − τ D_KL[π‖π^B_r̄] (multiply (5) by −τ, rearrange)."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        Z, pib, _ = _boltzmann_of(b.rbar, b.pbar, b.tau)
        lhs = sp.Add(*[p * r for p, r in zip(pi, b.rbar)]) - b.tau * sp.Add(
            *[p * sp.log(p / pb) for p, pb in zip(pi, b.pbar)]
        )
        kl_to_boltzmann = sp.Add(*[p * sp.log(p / q) for p, q in zip(pi, pib)])
        rhs = b.tau * sp.log(Z) - b.tau * kl_to_boltzmann
        results.append(
            decide(
                lhs,
                rhs,
                witness,
                statement=f"(6) with D_KL[π‖π^B] from (3) (k={k})",
                control=(k == 2),
                wrong=b.tau * sp.log(Z) - b.tau**2 * kl_to_boltzmann,
                wrong_label="τ² in place of τ on D_KL[π‖π^B]",
            )
        )
    return decide_all(results)


@check("eq001_bandit_is_one_step_mdp", kind="numeric", equations=(1, 24))
def eq001_bandit_is_one_step_mdp() -> CheckResult:
    """η(π) of Eq. (1) equals V_π of Eq. (24) for a one-state MDP with γ = 0 (consistent definitions)."""
    rng = np.random.default_rng(1)
    k, tau = 4, 0.37
    rbar = torch.tensor(rng.normal(size=k))
    ref = torch.tensor(rng.dirichlet(np.ones(k)))
    pi = torch.tensor(rng.dirichlet(np.ones(k)))
    eta = float((pi * rbar).sum() - tau * (pi * (pi / ref).log()).sum())
    mdp = equiv.FiniteMDP(
        torch.ones(1, k, 1, dtype=torch.float64), rbar[None], gamma=0.0, tau=tau, ref_policy=ref[None]
    )
    v, _ = equiv.mdp.evaluate_policy(mdp, pi[None])
    gap = abs(eta - float(v[0]))
    if gap > 1e-12:
        return failed("η ≠ V_π(γ = 0)", f"η = {eta}, V = {float(v[0])}")
    control = abs(float((pi * rbar).sum()) - float(v[0]))  # η without its −τ KL term
    return passed(
        "η(π) = V_π(s) of a one-state MDP with γ = 0, to 1e-12 (float64)",
        gap=gap,
        negative_control=f"η without −τ D_KL[π‖π̄]: differs from V_π by {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq002_maximizer_numeric", kind="numeric", equations=(2, 6))
def eq002_maximizer_numeric() -> CheckResult:
    """No sampled policy beats π^B_r̄, and η(π^B) − η(π) = τ D_KL[π‖π^B] (Eq. (6)) in float64."""
    rng = np.random.default_rng(2)
    k, tau = 5, 0.6
    rbar = torch.tensor(rng.normal(size=k))
    ref = torch.tensor(rng.dirichlet(np.ones(k)))
    best = equiv.boltzmann_policy(rbar, tau, ref)

    def eta(p):
        return float((p * rbar).sum() - tau * (p * (p / ref).log()).sum())

    worst = 0.0
    for _ in range(500):
        p = torch.tensor(rng.dirichlet(np.full(k, 0.5)))
        gap = eta(best) - eta(p)
        predicted = tau * float((p * (p / best).log()).sum())
        worst = max(worst, abs(gap - predicted))
        if gap < -1e-12:
            return failed("a policy beats π^B", f"π = {p.tolist()}: η(π) − η(π^B) = {-gap}")
    if worst > 1e-10:
        return failed("η(π^B) − η(π) ≠ τ D_KL[π‖π^B]", f"max deviation {worst:.3g}")
    return passed(
        "η(π^B) ≥ η(π) for 500 random π, and the gap equals τ D_KL[π‖π^B] to 1e-10", max_deviation=worst
    )


@check("definitions_match_equiv", kind="numeric", equations=(10, 11, 12, 29, 55, 56))
def definitions_match_equiv() -> CheckResult:
    """The symbolic Boltzmann policy, soft value and KL equal equiv's at the witness (float64)."""
    b = bandit(3)
    w = b.witness
    q = torch.tensor([float(w.values[s]) for s in b.q], dtype=torch.float64)
    ref = torch.tensor([float(w.values[s]) for s in b.pbar], dtype=torch.float64)
    tau = float(w.values[b.tau])
    pairs = {
        "v": (b.stage1(b.v), equiv.soft_value(q, tau, ref)),
        "KL": (b.stage1(b.kl), equiv.kl_divergence(equiv.boltzmann_log_policy(q, tau, ref), ref)),
    }
    for i in range(3):
        pairs[f"π^B({i})"] = (b.stage1(b.pi[i]), equiv.boltzmann_policy(q, tau, ref)[i])
    worst = 0.0
    for name, (expr, value) in pairs.items():
        gap = abs(float(evaluate(expr, w)) - float(value))
        worst = max(worst, gap)
        if gap > 1e-12:
            return failed(
                f"{name} differs from equiv",
                f"at {w.label}: sympy {fmt(evaluate(expr, w))}, equiv {float(value)}",
            )
    return passed(
        "v_θ, π^B_{q_θ} and D_KL of the symbolic model equal equiv.soft_value / boltzmann_policy / "
        "kl_divergence to 1e-12 at the witness",
        max_gap=worst,
    )


# --------------------------------------------------------------------------- (7)-(9)


@check("eq007_policy_gradient", kind="symbolic", equations=(1, 7))
def eq007_policy_gradient() -> CheckResult:
    """∇_θ η(π_θ) = E_{a∼π_θ}[∇_θ log π_θ(a) r̄(a)] − τ ∇_θ D_KL[π_θ‖π̄] for a softmax policy."""
    results = []
    for k in KS:
        m = softmax_policy(k)
        eta = m.E(m.rbar) - m.tau * m.kl
        lhs = m.stage1(m.d(eta))
        rhs = m.stage1(m.E([m.d(sp.log(p)) * r for p, r in zip(m.pi, m.rbar)]) - m.tau * m.d(m.kl))
        wrong = m.stage1(m.E([m.d(sp.log(p)) * r for p, r in zip(m.pi, m.rbar)]))
        results.append(
            decide(
                lhs,
                rhs,
                m.witness,
                statement=f"(7) (k={k})",
                control=(k == 2),
                wrong=wrong,
                wrong_label="without −τ∇D_KL",
            )
        )
    return decide_all(results)


@check("eq008_loss_decomposition", kind="symbolic", equations=(8,))
def eq008_loss_decomposition() -> CheckResult:
    """L_π = ½E_π[(q − r̄)²] + ½E_π[Var r]: only the mean reward matters for ∇L (r = r̄ ± σ)."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        per_action = [
            (((q - (rb + s)) ** 2 + (q - (rb - s)) ** 2) / 4) for q, rb, s in zip(b.q, b.rbar, b.sigma)
        ]
        lhs = sp.Add(*[p * x for p, x in zip(pi, per_action)])
        rhs = sp.Add(*[p * ((q - rb) ** 2 + s**2) / 2 for p, q, rb, s in zip(pi, b.q, b.rbar, b.sigma)])
        wrong = sp.Add(*[p * (q - rb) ** 2 / 2 for p, q, rb in zip(pi, b.q, b.rbar)])
        results.append(
            decide(
                lhs,
                rhs,
                witness,
                statement=f"(8) = ½E(q − r̄)² + ½E σ² (k={k})",
                control=(k == 2),
                wrong=wrong,
                wrong_label="dropping the reward variance",
            )
        )
    return decide_all(results)


@check("eq008_to_eq009", kind="symbolic", equations=(8, 9, 15))
def eq008_to_eq009() -> CheckResult:
    """∇_θ ½E_{a∼π,r}[(q_θ(a) − r)²] = E_{a∼π,r}[∇_θ q_θ(a)(q_θ(a) − r)] for a fixed sampling π."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        loss = sp.Add(
            *[
                p * ((q - (rb + s)) ** 2 + (q - (rb - s)) ** 2) / 4
                for p, q, rb, s in zip(pi, b.qf, b.rbar, b.sigma)
            ]
        )
        lhs = b.stage1(b.d(loss))
        rhs = b.stage1(
            sp.Add(
                *[
                    p * (b.d(q) * ((q - (rb + s)) + (q - (rb - s))) / 2)
                    for p, q, rb, s in zip(pi, b.qf, b.rbar, b.sigma)
                ]
            )
        )
        results.append(
            decide(
                lhs,
                rhs,
                witness,
                statement=f"(9) (k={k})",
                control=(k == 2),
                wrong=2 * rhs,
                wrong_label="a factor 2 (forgetting the ½)",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- (10)-(14)


def _printed_v(b):
    """Eq. (11) as printed: v_θ = τ log E_{a∼π̄}[exp(q_θ(a))/τ]."""
    return b.tau * sp.log(sp.Add(*[p * sp.exp(q) / b.tau for p, q in zip(b.pbar, b.q)]))


@check("eq011_printed_normalizes", kind="symbolic", equations=(11, 12))
def eq011_printed_normalizes() -> CheckResult:
    """With v_θ as printed in (11), π̄ exp((q − v_θ)/τ) of (12) must sum to 1."""
    b = bandit(2)
    v = _printed_v(b)
    total = sp.Add(*[p * sp.exp((q - v) / b.tau) for p, q in zip(b.pbar, b.q)])
    return decide(
        total,
        1,
        b.witness,
        statement="Σ_a π̄(a) exp((q(a) − v_θ)/τ) = 1 with the printed v_θ",
        wrong=2,
        wrong_label="",
    )


@check("eq010_eq011_to_eq012", kind="symbolic", equations=(10, 11, 12))
def eq010_eq011_to_eq012() -> CheckResult:
    """With v_θ = τ log E_π̄[exp(q_θ/τ)] (corrected (11)): π^B_{q_θ}(a) = π̄(a) exp((q_θ(a) − v_θ)/τ)."""
    results = []
    for k in KS:
        b = bandit(k)
        v = b.stage1(b.v)
        for i in range(k):
            rhs = b.pbar[i] * sp.exp((b.q[i] - v) / b.tau)
            wrong = b.pbar[i] * sp.exp(b.q[i] - v)
            results.append(
                decide(
                    b.stage1(b.pi[i]),
                    rhs,
                    b.witness,
                    statement=f"(10) = (12), action {i} (k={k})",
                    control=(k == 2 and i == 0),
                    wrong=wrong,
                    wrong_label="exp(q − v) without /τ",
                )
            )
    g = general_bandit()
    lhs = g.plain(g.pi_i)
    rhs = g.plain(g.pbar[g.i] * sp.exp((g.q[g.i] - g.v) / g.tau))
    results.append(
        decide(
            lhs,
            rhs,
            g.witness,
            statement="(10) = (12) for a generic action of any k",
            wrong=g.plain(g.pbar[g.i] * sp.exp(g.q[g.i] - g.v)),
            wrong_label="exp(q − v) without /τ",
        )
    )
    return decide_all(results)


@check("eq013_identity", kind="symbolic", equations=(13,))
def eq013_identity() -> CheckResult:
    """v_θ = E_{a∼π^B}[q_θ(a)] − τ D_KL[π^B‖π̄] (so v_θ = η(π^B_{q_θ}) with r̄ := q_θ)."""
    results = []
    for k in KS:
        b = bandit(k)
        rhs = b.stage1(b.E(b.qf) - b.tau * b.kl)
        results.append(
            decide(
                b.stage1(b.v),
                rhs,
                b.witness,
                statement=f"(13) (k={k})",
                control=(k == 2),
                wrong=b.stage1(b.E(b.qf) + b.tau * b.kl),
                wrong_label="+τ D_KL",
            )
        )
    g = general_bandit()
    lr = sp.log(g.pi_i / g.pbar[g.i])
    mean_q = sp.Symbol("Eq", real=True)  # E_{π^B}[q], a defining sum for the negative control
    known = {sp.Sum(g.pbar[g.i] * g.q[g.i] * sp.exp(g.q[g.i] / g.tau), (g.i, 1, g.k)): g.Z * mean_q}
    rhs = g.expectation(g.q[g.i] - g.tau * lr, known)
    wrong = g.expectation(g.q[g.i] + g.tau * lr, known)
    witness = Witness({**g.witness.values, mean_q: R(3, 7)}, g.witness.label + ", E_π[q] = 3/7")
    results.append(
        decide(
            g.v,
            rhs,
            witness,
            statement="(13) for any number of actions k (Σ by linearity)",
            wrong=wrong,
            wrong_label="+τ D_KL",
        )
    )
    return decide_all(results)


@check("eq012_to_eq014", kind="symbolic", equations=(12, 14))
def eq012_to_eq014() -> CheckResult:
    """q_θ(a) = v_θ + τ log(π^B_{q_θ}(a)/π̄(a))."""
    results = []
    for k in KS:
        b = bandit(k)
        for i in range(k):
            rhs = b.stage1(b.v + b.tau * b.log_ratio[i])
            wrong = b.stage1(b.v + b.log_ratio[i])
            results.append(
                decide(
                    b.q[i],
                    rhs,
                    b.witness,
                    statement=f"(14), action {i} (k={k})",
                    control=(k == 2 and i == 0),
                    wrong=wrong,
                    wrong_label="log-ratio without τ",
                )
            )
    g = general_bandit()
    rhs = g.plain(g.v + g.tau * sp.log(g.pi_i / g.pbar[g.i]))
    results.append(
        decide(
            g.plain(g.q[g.i]),
            rhs,
            g.witness,
            statement="(14) for a generic action of any k",
            wrong=g.plain(g.v + sp.log(g.pi_i / g.pbar[g.i])),
            wrong_label="log-ratio without τ",
        )
    )
    return decide_all(results)


# --------------------------------------------------------------------------- (15)-(17)


def _two_point(b, f):
    """Per action i: E_r[f(i, r)] with r = r̄_i ± σ_i."""
    return [(f(i, rb + s) + f(i, rb - s)) / 2 for i, (rb, s) in enumerate(zip(b.rbar, b.sigma))]


@check("eq015_to_eq016", kind="symbolic", equations=(14, 15, 16))
def eq015_to_eq016() -> CheckResult:
    """Substituting q_θ = v_θ + τ log(π^B/π̄) (14) into E[∇q_θ (q_θ − r)] gives (16)."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        lhs = sp.Add(*[p * t for p, t in zip(pi, _two_point(b, lambda i, r: b.d(b.qf[i]) * (b.qf[i] - r)))])
        sub = [b.v + b.tau * lr for lr in b.log_ratio]
        rhs = sp.Add(*[p * t for p, t in zip(pi, _two_point(b, lambda i, r: b.d(sub[i]) * (sub[i] - r)))])
        wrong_sub = [b.v + lr for lr in b.log_ratio]
        wrong = sp.Add(
            *[p * t for p, t in zip(pi, _two_point(b, lambda i, r: b.d(sub[i]) * (wrong_sub[i] - r)))]
        )
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                witness,
                statement=f"(15) = (16) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="log-ratio without τ in the residual",
            )
        )
    return decide_all(results)


@check("eq016_to_eq017", kind="symbolic", equations=(16, 17))
def eq016_to_eq017() -> CheckResult:
    """∇_θ(v_θ + τ log(π^B/π̄)) = τ∇_θ log π^B + ∇_θ v_θ inside (16) gives (17)."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)
        sub = [b.v + b.tau * lr for lr in b.log_ratio]
        lhs = sp.Add(*[p * t for p, t in zip(pi, _two_point(b, lambda i, r: b.d(sub[i]) * (sub[i] - r)))])
        rhs = sp.Add(
            *[
                p * t
                for p, t in zip(
                    pi,
                    _two_point(
                        b, lambda i, r: b.tau * b.d(sp.log(b.pi[i])) * (sub[i] - r) + b.d(b.v) * (sub[i] - r)
                    ),
                )
            ]
        )
        wrong = sp.Add(
            *[
                p * t
                for p, t in zip(pi, _two_point(b, lambda i, r: b.tau * b.d(sp.log(b.pi[i])) * (sub[i] - r)))
            ]
        )
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                witness,
                statement=f"(16) = (17) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="dropping the ∇v_θ term",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- (18)-(21)


@check("eq018_matches_autograd", kind="numeric", equations=(3, 18))
def eq018_matches_autograd() -> CheckResult:
    """∇_θ D_KL[π^B_{q_θ}‖π̄] of (18), differentiated symbolically, equals torch autograd through
    equiv (float64)."""
    b = bandit(3)
    w = b.witness
    symbolic = float(evaluate(b.stage1(b.d(b.kl)), w))
    q0 = torch.tensor([float(w.values[s]) for s in b.q], dtype=torch.float64)
    dq = torch.tensor([float(w.values[s]) for s in b.dq], dtype=torch.float64)
    theta = torch.zeros((), dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([float(w.values[s]) for s in b.pbar], dtype=torch.float64)
    tau = float(w.values[b.tau])
    kl = equiv.kl_divergence(equiv.boltzmann_log_policy(q0 + theta * dq, tau, ref), ref)
    (grad,) = torch.autograd.grad(kl, theta)
    gap = abs(symbolic - float(grad))
    log_pi = equiv.boltzmann_log_policy(q0 + theta * dq, tau, ref)
    (reverse,) = torch.autograd.grad((ref * (ref.log() - log_pi)).sum(), theta)  # ∇ D_KL[π̄‖π^B]
    control = abs(symbolic - float(reverse))
    if gap > 1e-12:
        return failed("symbolic ∇KL ≠ autograd", f"at {w.label}: {symbolic} vs {float(grad)}")
    return passed(
        "∇_θ D_KL[π^B‖π̄] (sympy) = autograd of equiv.kl_divergence along q_θ = q + θ∇q, to 1e-12",
        gap=gap,
        negative_control=f"autograd of the reversed D_KL[π̄‖π^B]: differs by {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq018_to_eq019", kind="symbolic", equations=(18, 19))
def eq018_to_eq019() -> CheckResult:
    """∇_θ Σ π^B log(π^B/π̄) = Σ ∇_θπ^B (log(π^B/π̄) + π^B · 1/π^B) (product rule)."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = b.d(b.kl)
        rhs = sp.Add(*[b.d(p) * (lr + p * (1 / p)) for p, lr in zip(b.pi, b.log_ratio)])
        wrong = sp.Add(*[p * b.d(lr) for p, lr in zip(b.pi, b.log_ratio)])
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(18) = (19) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="only the Σπ∇log-ratio half of the product rule",
            )
        )
    return decide_all(results)


@check("eq019_gradient_sum_zero", kind="symbolic", equations=(19,))
def eq019_gradient_sum_zero() -> CheckResult:
    """The identity used in (19): Σ_a ∇_θ π^B_{q_θ}(a) = 0."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = sp.Add(*[b.d(p) for p in b.pi])
        wrong = sp.Add(*[b.d(sp.log(p)) for p in b.pi])
        results.append(
            decide(
                b.stage1(lhs),
                0,
                b.witness,
                statement=f"Σ∇π^B = 0 (k={k})",
                control=(k == 2),
                wrong=(b.stage1(wrong), 0),
                wrong_label="Σ∇log π^B (not zero)",
            )
        )
    g = general_bandit()
    # ∇ log π_i = (∇q_i − E_{π}[∇q])/τ; the mean M = Σ_j π_j ∇q_j is a defining sum.
    M = sp.Symbol("M", real=True)
    known = {sp.Sum(g.pbar[g.i] * g.dq[g.i] * sp.exp(g.q[g.i] / g.tau), (g.i, 1, g.k)): M * g.Z}
    total = g.expectation((g.dq[g.i] - M) / g.tau, known)
    wrong = g.expectation(g.dq[g.i] / g.tau, known)
    witness = Witness({**g.witness.values, M: R(2, 9)}, g.witness.label + ", E_π[∇q] = 2/9")
    results.append(
        decide(
            total,
            0,
            witness,
            statement="Σ_i π_i ∇log π_i = 0 for any k",
            wrong=(wrong, 0),
            wrong_label="without centring ∇q",
        )
    )
    return decide_all(results)


@check("eq019_to_eq020", kind="symbolic", equations=(19, 20))
def eq019_to_eq020() -> CheckResult:
    """Σ ∇π^B (log(π^B/π̄) + 1) = Σ π^B ∇log π^B log(π^B/π̄)."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = sp.Add(*[b.d(p) * (lr + 1) for p, lr in zip(b.pi, b.log_ratio)])
        rhs = sp.Add(*[p * b.d(sp.log(p)) * lr for p, lr in zip(b.pi, b.log_ratio)])
        wrong = sp.Add(*[p * b.d(sp.log(p)) * sp.log(p) for p in b.pi])
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(rhs),
                b.witness,
                statement=f"(19) = (20) (k={k})",
                control=(k == 2),
                wrong=b.stage1(wrong),
                wrong_label="log π^B in place of log(π^B/π̄)",
            )
        )
    return decide_all(results)


@check("eq020_to_eq021", kind="symbolic", equations=(18, 20, 21))
def eq020_to_eq021() -> CheckResult:
    """E_{a∼π^B}[∇log π^B(a) log(π^B(a)/π̄(a))] = ∇_θ D_KL[π^B‖π̄] (the chain (18)-(21) end to end)."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = b.E([b.d(sp.log(p)) * lr for p, lr in zip(b.pi, b.log_ratio)])
        wrong = b.E([b.d(sp.log(p)) for p in b.pi]) * b.kl + b.E([b.d(lr) for lr in b.log_ratio])
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(b.d(b.kl)),
                b.witness,
                statement=f"(21) = (18) (k={k})",
                wrong=(b.stage1(wrong), b.stage1(b.d(b.kl))),
                wrong_label="E[∇log π]·KL + E[∇ log-ratio] (mis-applied product rule)",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- (22)-(23)


def _eq17(b, weights):
    """(17) with sampling weights ``weights`` (not differentiated) and two-point rewards."""
    sub = [b.v + b.tau * lr for lr in b.log_ratio]
    return sp.Add(
        *[
            w * t
            for w, t in zip(
                weights,
                _two_point(
                    b, lambda i, r: b.tau * b.d(sp.log(b.pi[i])) * (sub[i] - r) + b.d(b.v) * (sub[i] - r)
                ),
            )
        ]
    )


def _eq22(b, kl_factor=None):
    tau2 = b.tau**2 if kl_factor is None else kl_factor
    return sp.Add(
        *[
            p * t
            for p, t in zip(
                b.pi,
                _two_point(
                    b,
                    lambda i, r: (
                        b.tau * b.d(sp.log(b.pi[i])) * (b.v - r)
                        + tau2 * b.d(b.kl)
                        + b.d(b.v) * (b.v + b.tau * b.kl - r)
                    ),
                ),
            )
        ]
    )


@check("eq017_to_eq022", kind="symbolic", equations=(17, 21, 22))
def eq017_to_eq022() -> CheckResult:
    """(17) with π = π^B_{q_θ} (set after differentiating) equals (22), via (21)."""
    results = []
    for k in KS:
        b = bandit(k)
        lhs = _eq17(b, b.pi)
        results.append(
            decide(
                b.stage1(lhs),
                b.stage1(_eq22(b)),
                b.witness,
                statement=f"(17)|π=π^B = (22) (k={k})",
                control=(k == 2),
                wrong=b.stage1(_eq22(b, kl_factor=b.tau)),
                wrong_label="τ in place of τ² on ∇D_KL",
            )
        )
    return decide_all(results)


@check("eq022_to_eq023", kind="symbolic", equations=(22, 23))
def eq022_to_eq023() -> CheckResult:
    """(22) = −τ∇E_{π^B}[r − τD_KL] + ∇E_π[½(v_θ − (r − τD_KL[π‖π̄]))²]|_{π=π^B} (π fixed in the
    second term)."""
    results = []
    for k in KS:
        b = bandit(k)
        policy_gradient = -b.tau * b.d(b.E(b.rbar) - b.tau * b.kl)
        frozen = sp.symbols(f"frozen0:{k}", positive=True)  # π held fixed while differentiating
        frozen_kl = sp.Add(*[f * sp.log(f / pb) for f, pb in zip(frozen, b.pbar)])
        value_error = sp.Add(
            *[
                f * t
                for f, t in zip(frozen, _two_point(b, lambda i, r: (b.v - (r - b.tau * frozen_kl)) ** 2 / 2))
            ]
        )
        at_boltzmann = dict(zip(frozen, b.pi))
        rhs = policy_gradient + b.d(value_error).subs(at_boltzmann)
        wrong = None
        if k == 2:
            moving = sp.Add(
                *[
                    p * t
                    for p, t in zip(b.pi, _two_point(b, lambda i, r: (b.v - (r - b.tau * b.kl)) ** 2 / 2))
                ]
            )
            wrong = b.stage1(policy_gradient + b.d(moving))
        results.append(
            decide(
                b.stage1(_eq22(b)),
                b.stage1(rhs),
                b.witness,
                statement=f"(22) = (23) (k={k})",
                control=(k == 2),
                wrong=wrong,
                wrong_label="differentiating π = π^B inside the value-error term too",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- rescaling


@check("text2_tau_rescaling_bandit", kind="symbolic", equations=(1, 2))
def text2_tau_rescaling_bandit() -> CheckResult:
    """τ can be eliminated by rescaling rewards: η_τ(π; r̄) = τ η_1(π; r̄/τ), π^B_{r̄,τ} = π^B_{r̄/τ,1}."""
    results = []
    for k in KS:
        b = bandit(k)
        pi, witness = _with_policy(b, k)

        def eta(rewards, tau):
            return sp.Add(*[p * r for p, r in zip(pi, rewards)]) - tau * sp.Add(
                *[p * sp.log(p / pb) for p, pb in zip(pi, b.pbar)]
            )

        scaled = [r / b.tau for r in b.rbar]
        results.append(
            decide(
                eta(b.rbar, b.tau),
                b.tau * eta(scaled, 1),
                witness,
                statement=f"η_τ(π; r̄) = τ·η_1(π; r̄/τ) (k={k})",
                control=(k == 2),
                wrong=b.tau * eta(b.rbar, 1),
                wrong_label="τ·η_1 with unscaled rewards",
            )
        )
        _, pib, _ = _boltzmann_of(b.rbar, b.pbar, b.tau)
        _, pib1, _ = _boltzmann_of(scaled, b.pbar, 1)
        _, pib_wrong, _ = _boltzmann_of(b.rbar, b.pbar, 1)
        results.append(
            decide(
                pib[0],
                pib1[0],
                witness,
                statement=f"π^B_{{r̄,τ}} = π^B_{{r̄/τ,1}} (k={k})",
                control=(k == 2),
                wrong=pib_wrong[0],
                wrong_label="π^B at τ = 1 with unscaled rewards",
            )
        )
    return decide_all(results)
