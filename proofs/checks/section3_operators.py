"""§3, entropy-regularised RL: Eqs. (24)-(54) and the text claims of §3.4-§3.6.

Symbolic checks use a 2-state × 2-action MDP whose transition probabilities,
rewards, policy, KL penalties and value functions are all symbols, with
expectations over n-step futures computed by enumerating every path.
Numeric checks use :mod:`equiv`'s exact evaluators on fixed-seed MDPs against
independent path enumerations (:mod:`proofs.exact`), tolerance REL_TOL = 1e-10.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

import equiv
from equiv import mdp as emdp

from ..core import CheckResult, check, extended, failed, passed
from ..exact import (
    GAP,
    printed_form_agrees,
    REL_TOL,
    estimator_gradient,
    layered_mdp,
    paths,
    paths_from_state,
    random_mdp,
    rel_gap,
)
from ..induction import Seq, by_induction
from ..models import R, bandit, general_bandit, generic_policy, mdp2, merged
from ..symbolic import Witness, decide, decide_all

KS = (2, 3)


# --------------------------------------------------------------------------- (24)-(26)


def _policy(seed: int, S: int, A: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.dirichlet(np.ones(A), size=S))


@check("eq024_series", kind="numeric", equations=(24,))
def eq024_series() -> CheckResult:
    """V_π of (24) as the series Σ_t γ^t E[r_t − τKL_t] equals equiv.mdp.evaluate_policy (linear solve)."""
    mdp = random_mdp(24, S=4, A=3, gamma=0.9)
    pi = _policy(24, 4, 3)
    v, _ = emdp.evaluate_policy(mdp, pi)
    p_pi = torch.einsum("sa,sat->st", pi, mdp.transitions)
    step = (pi * mdp.rewards).sum(-1) - mdp.tau * (pi * (pi / mdp.ref_probs).log()).sum(-1)
    total, rho = torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)
    for t in range(400):  # γ^400 < 1e-18: the tail is far below REL_TOL
        total = total + 0.9**t * rho @ step
        rho = rho @ p_pi
    gap = rel_gap(total, v)
    if gap > REL_TOL:
        return failed("series ≠ linear solve", f"relative gap {gap:.3g}")
    unregularised, rho = torch.zeros(4, dtype=torch.float64), torch.eye(4, dtype=torch.float64)
    for t in range(400):
        unregularised = unregularised + 0.9**t * rho @ (pi * mdp.rewards).sum(-1)
        rho = rho @ p_pi
    control = rel_gap(unregularised, v)
    return passed(
        "Σ_{t<400} γ^t E[r_t − τ KL_t | s_0] equals evaluate_policy's V_π to 1e-10 (4 states, γ = 0.9)",
        gap=gap,
        negative_control=f"the series without −τKL_t: relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq025_series", kind="numeric", equations=(25,))
def eq025_series() -> CheckResult:
    """Q_π(s,a) of (25) as r_0 + Σ_{t≥1} γ^t E[r_t − τKL_t] (no KL at t = 0) equals equiv's Q_π."""
    mdp = random_mdp(25, S=4, A=3, gamma=0.9)
    pi = _policy(25, 4, 3)
    _, q = emdp.evaluate_policy(mdp, pi)
    p_pi = torch.einsum("sa,sat->st", pi, mdp.transitions)
    step = (pi * mdp.rewards).sum(-1) - mdp.tau * (pi * (pi / mdp.ref_probs).log()).sum(-1)
    later, rho = torch.zeros(4, 3, dtype=torch.float64), mdp.transitions.clone()  # P(s_1 | s_0, a_0)
    for t in range(1, 400):
        later = later + 0.9**t * torch.einsum("sat,t->sa", rho, step)
        rho = torch.einsum("sat,tu->sau", rho, p_pi)
    series = mdp.rewards + later
    gap = rel_gap(series, q)
    if gap > REL_TOL:
        return failed("series ≠ Q_π", f"relative gap {gap:.3g}")
    kl0 = (pi * (pi / mdp.ref_probs).log()).sum(-1)
    control = rel_gap(series - mdp.tau * kl0[:, None], q)  # charging KL(s_0) at t = 0 as well
    return passed(
        "r_0 + Σ_{1≤t<400} γ^t E[r_t − τ KL_t | s_0, a_0] equals evaluate_policy's Q_π to 1e-10",
        gap=gap,
        negative_control=f"with −τKL(s_0) at t = 0 (the V_π convention): relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq024_eq025_to_eq026", kind="symbolic", equations=(24, 25, 26))
def eq024_eq025_to_eq026() -> CheckResult:
    """Matching terms of (24), (25): V^{(n)}(s) = E_{a∼π}[Q^{(n)}(s,a)] − τKL(s) for the n-step
    truncations."""
    m = mdp2()
    results = []
    for n in (1, 2):
        for s in range(m.S):
            step_v = lambda s_, a_, s2_: m.R[s_][a_] - m.tau * m.K[s_]  # noqa: E731
            v_n = m.path_expectation(s, None, n, step_v, lambda s_: 0, False)
            q_n = []
            for a in range(m.A):
                # Q omits the KL penalty at t = 0 (Eq. (25)): add it back for the first step only.
                q_n.append(m.path_expectation(s, a, n, step_v, lambda s_: 0, False) + m.tau * m.K[s])
            expect_q = sp.Add(*[m.pi[s][a] * q_n[a] for a in range(m.A)])
            results.append(
                decide(
                    v_n,
                    expect_q - m.tau * m.K[s],
                    m.witness,
                    statement=f"(26) for the {n}-step truncation at s = {s}",
                    control=(n == 1 and s == 0),
                    wrong=expect_q,
                    wrong_label="without −τKL(s)",
                )
            )
    return decide_all(results)


@check("eq026_numeric", kind="numeric", equations=(26,))
def eq026_numeric() -> CheckResult:
    """V_π(s) = E_{a∼π}[Q_π(s,a)] − τ KL(s) for the exact values of a 4-state MDP (float64)."""
    mdp = random_mdp(26, S=4, A=3, gamma=0.95)
    pi = _policy(26, 4, 3)
    v, q = emdp.evaluate_policy(mdp, pi)
    rhs = (pi * q).sum(-1) - mdp.tau * emdp.policy_kl(mdp, pi)
    gap = rel_gap(rhs, v)
    control = rel_gap((pi * q).sum(-1), v)
    if gap > REL_TOL or control < GAP:
        return failed("(26) numeric", f"gap {gap:.3g}, control gap {control:.3g}")
    return passed(
        "E_π[Q_π] − τKL = V_π to 1e-10 on a 4-state MDP",
        gap=gap,
        negative_control=f"without −τKL(s): relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


# --------------------------------------------------------------------------- (27)-(32): per-state Boltzmann


@check("eq027_to_eq028", kind="symbolic", equations=(27, 28))
def eq027_to_eq028() -> CheckResult:
    """E_π[Q(s,·)] − τD_KL[π‖π̄](s) = V_Q(s) − τD_KL[π‖π^B_Q](s), so the argmax of (27) is π^B_Q of (28)."""
    results = []
    for k in KS:
        b = bandit(k)
        probs, values, label = generic_policy(k)
        witness = merged(b.witness, values, label)
        Z = sp.Add(*[p * sp.exp(q / b.tau) for p, q in zip(b.pbar, b.q)])
        pib = [p * sp.exp(q / b.tau) / Z for p, q in zip(b.pbar, b.q)]
        objective = sp.Add(*[p * q for p, q in zip(probs, b.q)]) - b.tau * sp.Add(
            *[p * sp.log(p / pb) for p, pb in zip(probs, b.pbar)]
        )
        kl_to_b = sp.Add(*[p * sp.log(p / x) for p, x in zip(probs, pib)])
        rhs = b.tau * sp.log(Z) - b.tau * kl_to_b
        results.append(
            decide(
                objective,
                rhs,
                witness,
                statement=f"objective of (27) = V_Q − τD_KL[π‖π^B_Q] (k={k})",
                control=(k == 2),
                wrong=b.tau * sp.log(Z) + b.tau * kl_to_b,
                wrong_label="+τD_KL[π‖π^B_Q]",
            )
        )
    out = decide_all(results)
    return extended(
        out, "; D_KL ≥ 0 with equality iff π = π^B_Q, hence argmax = π^B_Q",
    )


@check("eq028_eq029_to_eq030", kind="symbolic", equations=(28, 29, 30))
def eq028_eq029_to_eq030() -> CheckResult:
    """π^B_Q(a|s) = π̄(a|s) exp((Q(s,a) − V_Q(s))/τ) with V_Q of (29)."""
    results = []
    for k in KS:
        b = bandit(k)
        Z = sp.Add(*[p * sp.exp(q / b.tau) for p, q in zip(b.pbar, b.q)])
        V = b.tau * sp.log(Z)
        for i in range(k):
            results.append(
                decide(
                    b.pbar[i] * sp.exp(b.q[i] / b.tau) / Z,
                    b.pbar[i] * sp.exp((b.q[i] - V) / b.tau),
                    b.witness,
                    statement=f"(28) = (30), action {i} (k={k})",
                    control=(k == 2 and i == 0),
                    wrong=b.pbar[i] * sp.exp(b.q[i] - V),
                    wrong_label="exp(Q − V_Q) without /τ",
                )
            )
    return decide_all(results)


@check("eq031_identity", kind="symbolic", equations=(31,))
def eq031_identity() -> CheckResult:
    """V_Q(s) = E_{a∼π^B_Q}[Q(s,a)] − τ D_KL[π^B_Q‖π̄](s) (for k = 2, 3 and any k)."""
    results = []
    for k in KS:
        b = bandit(k)
        rhs = b.stage1(b.E(b.qf) - b.tau * b.kl)
        results.append(
            decide(
                b.stage1(b.v),
                rhs,
                b.witness,
                statement=f"(31) (k={k})",
                control=(k == 2),
                wrong=b.stage1(b.E(b.qf)),
                wrong_label="without −τD_KL",
            )
        )
    g = general_bandit()
    mean_q = sp.Symbol("Eq", real=True)
    known = {sp.Sum(g.pbar[g.i] * g.q[g.i] * sp.exp(g.q[g.i] / g.tau), (g.i, 1, g.k)): g.Z * mean_q}
    rhs = g.expectation(g.q[g.i] - g.tau * sp.log(g.pi_i / g.pbar[g.i]), known)
    witness = Witness({**g.witness.values, mean_q: R(3, 7)}, g.witness.label + ", E_π[Q] = 3/7")
    results.append(
        decide(
            g.v,
            rhs,
            witness,
            statement="(31) for any number of actions k",
            wrong=g.expectation(g.q[g.i], known),
            wrong_label="without −τD_KL",
        )
    )
    return decide_all(results)


@check("eq030_to_eq032", kind="symbolic", equations=(30, 32))
def eq030_to_eq032() -> CheckResult:
    """π^B_Q(a|s)/π̄(a|s) = exp(A_Q(s,a)/τ) with A_Q = Q − V_Q (any k)."""
    g = general_bandit()
    lhs = g.plain(g.pi_i / g.pbar[g.i])
    rhs = g.plain(sp.exp((g.q[g.i] - g.v) / g.tau))
    return decide(
        lhs,
        rhs,
        g.witness,
        statement="(32) for a generic action of any k",
        wrong=g.plain(sp.exp(g.q[g.i] - g.v)),
        wrong_label="exp(A_Q) without /τ",
    )


# --------------------------------------------------------------------------- (33)-(37)


@check("eq033_consistent", kind="symbolic", equations=(33,))
def eq033_consistent() -> CheckResult:
    """The two lines of (33) agree: E_{a∼π}[T_πQ](s) − τKL(s) = [T_πV](s) for V(s') = E_π[Q(s',·)] −
    τKL(s')."""
    m = mdp2()
    tq = m.T_Q(m.Q)
    v_of_q = [sp.Add(*[m.pi[s][a] * m.Q[s][a] for a in range(m.A)]) - m.tau * m.K[s] for s in range(m.S)]
    tv = m.T_V(v_of_q)
    results = []
    for s in range(m.S):
        lhs = sp.Add(*[m.pi[s][a] * tq[s][a] for a in range(m.A)]) - m.tau * m.K[s]
        results.append(
            decide(
                lhs,
                tv[s],
                m.witness,
                statement=f"(33) V-line vs Q-line at s = {s}",
                control=(s == 0),
                wrong=tv[s] + m.tau * m.K[s],
                wrong_label="without −τKL(s)",
            )
        )
    return decide_all(results)


@check("eq033_fixed_points", kind="numeric", equations=(24, 25, 33))
def eq033_fixed_points() -> CheckResult:
    """V_π and Q_π (exact, equiv) are fixed points of the printed operators T_π of (33) (own numpy code)."""
    mdp = random_mdp(33, S=4, A=3, gamma=0.9)
    pi = _policy(33, 4, 3)
    v, q = emdp.evaluate_policy(mdp, pi)
    P, R_, tau, g = mdp.transitions, mdp.rewards, mdp.tau, mdp.gamma
    kl = (pi * (pi / mdp.ref_probs).log()).sum(-1)
    tv = (pi * (R_ - tau * kl[:, None] + g * P @ v)).sum(-1)
    tq = R_ + g * P @ ((pi * q).sum(-1) - tau * kl)
    gap = max(rel_gap(tv, v), rel_gap(tq, q))
    if gap > REL_TOL:
        return failed("not a fixed point", f"relative gap {gap:.3g}")
    return passed("T_π V_π = V_π and T_π Q_π = Q_π to 1e-10 (4 states, 3 actions, γ = 0.9)", gap=gap)


def _iterate(f, x, n):
    for _ in range(n):
        x = f(x)
    return x


@check("eq033_to_eq034", kind="symbolic", equations=(33, 34))
def eq033_to_eq034() -> CheckResult:
    """n applications of T_π (33) = E[Σ_{t<n} γ^t(r_t − τKL_t) + γ^n V(s_n)] (n = 1, 2; path enumeration)."""
    m = mdp2()
    results = []
    for n in (1, 2):
        tv = _iterate(m.T_V, list(m.V), n)
        for s in range(m.S):
            rhs = m.path_expectation(
                s, None, n, lambda s_, a_, s2_: m.R[s_][a_] - m.tau * m.K[s_], lambda s_: m.V[s_], False
            )
            wrong = m.path_expectation(
                s,
                None,
                n,
                lambda s_, a_, s2_: m.R[s_][a_] - m.tau * m.K[s_],
                lambda s_: m.V[s_] / m.gamma,
                False,
            )
            results.append(
                decide(
                    tv[s],
                    rhs,
                    m.witness,
                    statement=f"(34), n = {n}, s = {s}",
                    control=(n == 2 and s == 0),
                    wrong=wrong,
                    wrong_label="γ^{n−1} V(s_n) for the bootstrap",
                )
            )
    return decide_all(results)


@check("eq034_numeric", kind="numeric", equations=(34,))
def eq034_numeric() -> CheckResult:
    """equiv.mdp.nstep_policy_backup_v equals an independent path enumeration of (34) for n = 1..4."""
    mdp = random_mdp(34, S=3, A=2, gamma=0.8)
    pi = _policy(34, 3, 2)
    v = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    kl = emdp.policy_kl(mdp, pi).numpy()
    R_, pol = mdp.rewards.numpy(), pi.numpy()
    worst = 0.0
    for n in range(1, 5):
        lib = emdp.nstep_policy_backup_v(mdp, pi, v, n)
        for s in range(3):
            total = 0.0
            for path in paths(mdp, pol, s, None, n):
                ret = sum(
                    0.8**t * (R_[st, at] - mdp.tau * kl[st])
                    for t, (st, at) in enumerate(zip(path.states, path.actions))
                )
                total += path.probability * (ret + 0.8**n * float(v[path.states[-1]]))
            worst = max(worst, abs(total - float(lib[s])) / max(1.0, abs(total)))
    if worst > REL_TOL:
        return failed("nstep_policy_backup_v ≠ enumeration", f"relative gap {worst:.3g}")
    return passed("T_π^n V by equiv equals the path enumeration of (34) to 1e-10 for n = 1..4", gap=worst)


@check("eq033_to_eq035", kind="symbolic", equations=(33, 35))
def eq033_to_eq035() -> CheckResult:
    """[T_π^n Q](s,a) − τKL(s) = E[Σ_{t<n} γ^t(r_t − τKL_t) + γ^n(Q(s_n,a_n) − τKL_n)] (n = 1, 2)."""
    m = mdp2()
    results = []
    for n in (1, 2):
        tq = _iterate(m.T_Q, [list(row) for row in m.Q], n)
        for s in range(m.S):
            for a in range(m.A):
                rhs = m.path_expectation(
                    s,
                    a,
                    n,
                    lambda s_, a_, s2_: m.R[s_][a_] - m.tau * m.K[s_],
                    lambda s_, a_: m.Q[s_][a_] - m.tau * m.K[s_],
                    True,
                )
                results.append(
                    decide(
                        tq[s][a] - m.tau * m.K[s],
                        rhs,
                        m.witness,
                        statement=f"(35), n = {n}, (s, a) = ({s}, {a})",
                        control=(n == 1 and s == 0 and a == 0),
                        wrong=(tq[s][a], rhs),
                        wrong_label="left side without −τKL(s)",
                    )
                )
    return decide_all(results)


def _delta(m, s, a, s2):
    """δ_t of (36) with V = m.V."""
    return m.R[s][a] - m.tau * m.K[s] + m.gamma * m.V[s2] - m.V[s]


@check("eq037_printed", kind="symbolic", equations=(34, 36, 37))
def eq037_printed() -> CheckResult:
    """(37) as printed: [T_π^n V](s) = E[Σ_{t<n} γ^t δ_t + γ^n V(s_n)]."""
    m = mdp2()
    results = []
    for n in (1, 2):
        tv = _iterate(m.T_V, list(m.V), n)
        for s in range(m.S):
            rhs = m.path_expectation(
                s, None, n, lambda s_, a_, s2_: _delta(m, s_, a_, s2_), lambda s_: m.V[s_], False
            )
            results.append(
                decide(
                    tv[s],
                    rhs,
                    m.witness,
                    statement=f"(37) as printed, n = {n}, s = {s}",
                    wrong=0,
                    wrong_label="",
                )
            )
            if results[-1].outcome == "fail":
                return results[-1]
    return decide_all(results)


@check("eq037_corrected", kind="symbolic", equations=(34, 36, 37))
def eq037_corrected() -> CheckResult:
    """Corrected (37): [T_π^n V](s) = V(s) + E[Σ_{t<n} γ^t δ_t | s_0 = s] (n = 1, 2; every n via
    telescoping_lemma)."""
    m = mdp2()
    results = []
    for n in (1, 2):
        tv = _iterate(m.T_V, list(m.V), n)
        for s in range(m.S):
            rhs = m.V[s] + m.path_expectation(
                s, None, n, lambda s_, a_, s2_: _delta(m, s_, a_, s2_), lambda s_: 0, False
            )
            wrong = m.path_expectation(
                s, None, n, lambda s_, a_, s2_: _delta(m, s_, a_, s2_), lambda s_: m.V[s_], False
            )
            results.append(
                decide(
                    tv[s],
                    rhs,
                    m.witness,
                    statement=f"corrected (37), n = {n}, s = {s}",
                    control=(n == 1 and s == 0),
                    wrong=wrong,
                    wrong_label="the printed form E[Σγ^tδ_t + γ^n V(s_n)]",
                )
            )
    return decide_all(results)


def _telescoping_seq():
    seq = Seq("r K V")
    gamma, tau = sp.Symbol("gamma", positive=True), sp.Symbol("tau", positive=True)
    witness = seq.witness(
        {gamma: R(3, 4), tau: R(2, 5)},
        6,
        "γ = 3/4, τ = 2/5",
    )
    return seq, gamma, tau, witness


@check("telescoping_lemma", kind="symbolic", equations=(36, 37, 47, 54, 58, 88))
def telescoping_lemma() -> CheckResult:
    """Σ_{t<n} γ^t δ_t = Σ_{t<n} γ^t (r_t − τKL_t) + γ^n V_n − V_0 for every n (pathwise; δ of (36))."""
    seq, gamma, tau, witness = _telescoping_seq()

    def delta(t):
        return seq.r(t) - tau * seq.K(t) + gamma * seq.V(t + 1) - seq.V(t)

    return by_induction(
        "Σ_{t<n} γ^t δ_t = Σ γ^t(r_t − τKL_t) + γ^n V_n − V_0",
        lambda t: gamma**t * delta(t),
        lambda n: 0,
        lambda t: gamma**t * (seq.r(t) - tau * seq.K(t)),
        lambda n: gamma**n * seq.V(n) - seq.V(0),
        witness,
        wrong=(lambda t: gamma**t * (seq.r(t) - tau * seq.K(t)), lambda n: gamma**n * seq.V(n)),
        wrong_label="without −V_0",
    )


# --------------------------------------------------------------------------- (38)-(41)


def _boltzmann_state(m, Q, s):
    Z = sp.Add(*[m.pbar[s][a] * sp.exp(Q[s][a] / m.tau) for a in range(m.A)])
    pib = [m.pbar[s][a] * sp.exp(Q[s][a] / m.tau) / Z for a in range(m.A)]
    kl = sp.Add(*[p * sp.log(p / m.pbar[s][a]) for a, p in enumerate(pib)])
    return Z, pib, kl


def _eq039(m, s, a):
    return sp.Add(
        *[
            m.P[s][a][s2] * (m.R[s][a] + m.gamma * m.tau * sp.log(_boltzmann_state(m, m.Q, s2)[0]))
            for s2 in range(m.S)
        ]
    )


@check("eq038_printed_to_eq039", kind="symbolic", equations=(38, 39))
def eq038_printed_to_eq039() -> CheckResult:
    """(38) as printed, with E_{a'∼G_Q}[Q(s,a)] (current (s,a)), against (39)."""
    m = mdp2()
    results = []
    for s in range(m.S):
        for a in range(m.A):
            printed = sp.Add(
                *[
                    m.P[s][a][s2]
                    * (
                        m.R[s][a]
                        + m.gamma
                        * (
                            sp.Add(*[p * m.Q[s][a] for p in _boltzmann_state(m, m.Q, s2)[1]])
                            - m.tau * _boltzmann_state(m, m.Q, s2)[2]
                        )
                    )
                    for s2 in range(m.S)
                ]
            )
            results.append(
                decide(
                    printed,
                    _eq039(m, s, a),
                    m.witness,
                    statement=f"(38) printed = (39) at (s, a) = ({s}, {a})",
                    wrong=0,
                    wrong_label="",
                )
            )
            if results[-1].outcome == "fail":
                return results[-1]
    return decide_all(results)


@check("eq038_corrected_to_eq039", kind="symbolic", equations=(31, 38, 39))
def eq038_corrected_to_eq039() -> CheckResult:
    """(38) with E_{a'∼G_Q}[Q(s',a')] equals (39) (by (31) at every next state s')."""
    m = mdp2()
    results = []
    for s in range(m.S):
        for a in range(m.A):
            corrected = sp.Add(
                *[
                    m.P[s][a][s2]
                    * (
                        m.R[s][a]
                        + m.gamma
                        * (
                            sp.Add(*[p * m.Q[s2][b] for b, p in enumerate(_boltzmann_state(m, m.Q, s2)[1])])
                            - m.tau * _boltzmann_state(m, m.Q, s2)[2]
                        )
                    )
                    for s2 in range(m.S)
                ]
            )
            wrong = sp.Add(
                *[
                    m.P[s][a][s2]
                    * (
                        m.R[s][a]
                        + m.gamma
                        * sp.Add(*[p * m.Q[s2][b] for b, p in enumerate(_boltzmann_state(m, m.Q, s2)[1])])
                    )
                    for s2 in range(m.S)
                ]
            )
            results.append(
                decide(
                    corrected,
                    _eq039(m, s, a),
                    m.witness,
                    statement=f"corrected (38) = (39) at (s, a) = ({s}, {a})",
                    control=(s == 0 and a == 0),
                    wrong=wrong,
                    wrong_label="without −τD_KL(s')",
                )
            )
    return decide_all(results)


@check("eq039_matches_equiv", kind="numeric", equations=(39,))
def eq039_matches_equiv() -> CheckResult:
    """(39) computed directly equals equiv.mdp.boltzmann_backup; the backup is a γ-contraction."""
    mdp = random_mdp(39, S=4, A=3)
    rng = np.random.default_rng(39)
    q = torch.from_numpy(rng.normal(size=(4, 3)))
    q2 = torch.from_numpy(rng.normal(size=(4, 3)))
    v_next = mdp.tau * torch.log((mdp.ref_probs * torch.exp(q / mdp.tau)).sum(-1))
    direct = mdp.rewards + mdp.gamma * mdp.transitions @ v_next
    gap = rel_gap(emdp.boltzmann_backup(mdp, q), direct)
    contraction = float(
        (emdp.boltzmann_backup(mdp, q) - emdp.boltzmann_backup(mdp, q2)).abs().max() / (q - q2).abs().max()
    )
    if gap > REL_TOL or contraction > mdp.gamma + 1e-12:
        return failed("(39) vs equiv", f"gap {gap:.3g}, contraction factor {contraction:.3g}")
    return passed(
        f"(39) = equiv boltzmann_backup to 1e-10; sup-norm ratio {contraction:.3f} ≤ γ = {mdp.gamma}",
        gap=gap,
        contraction=contraction,
    )


@check("eq040_numeric", kind="numeric", equations=(40, 41))
def eq040_numeric() -> CheckResult:
    """[(T_{π^B_Q})^n Q](s,a) − τKL(s) (equiv) = the path expectations (40) and (41), n = 1..3."""
    mdp = random_mdp(40, S=3, A=2, gamma=0.85)
    rng = np.random.default_rng(40)
    q = torch.from_numpy(rng.normal(size=(3, 2)))
    pol = emdp.boltzmann_policy_of(mdp, q)
    kl = emdp.policy_kl(mdp, pol).numpy()
    vq = equiv.soft_value(q, mdp.tau, mdp.ref_probs).numpy()
    R_, Qn, p = mdp.rewards.numpy(), q.numpy(), pol.numpy()
    worst = 0.0
    for n in (1, 2, 3):
        lib = emdp.nstep_boltzmann_backup(mdp, q, n).numpy() - mdp.tau * kl[:, None]
        for s in range(3):
            for a in range(2):
                e40 = e41 = 0.0
                for path in paths(mdp, p, s, a, n, last_action=True):
                    ret = sum(
                        mdp.gamma**t * (R_[st, at] - mdp.tau * kl[st])
                        for t, (st, at) in enumerate(zip(path.states[:n], path.actions[:n]))
                    )
                    sn, an = path.states[n], path.actions[n]
                    e40 += path.probability * (ret + mdp.gamma**n * (Qn[sn, an] - mdp.tau * kl[sn]))
                for path in paths(mdp, p, s, a, n):
                    ret = sum(
                        mdp.gamma**t * (R_[st, at] - mdp.tau * kl[st])
                        for t, (st, at) in enumerate(zip(path.states, path.actions))
                    )
                    e41 += path.probability * (ret + mdp.gamma**n * vq[path.states[-1]])
                worst = max(worst, abs(e40 - lib[s, a]), abs(e41 - lib[s, a]))
    if worst > REL_TOL:
        return failed("(40)/(41) vs equiv", f"max gap {worst:.3g}")
    return passed("(T_{π^B_Q})^n Q − τKL = (40) = (41) by path enumeration, to 1e-10, n = 1..3", gap=worst)


@check("eq040_to_eq041", kind="symbolic", equations=(31, 40, 41))
def eq040_to_eq041() -> CheckResult:
    """The last step: E_{a_n∼π^B_Q}[Q(s_n,a_n)] − τKL_n = V_Q(s_n) (Eq. (31) at s_n), k = 2, 3."""
    results = []
    for k in KS:
        b = bandit(k)
        results.append(
            decide(
                b.stage1(b.E(b.qf) - b.tau * b.kl),
                b.stage1(b.v),
                b.witness,
                statement=f"E_{{π^B}}[Q] − τKL = V_Q (k={k})",
                control=(k == 2),
                wrong=b.stage1(b.E(b.qf)),
                wrong_label="without −τKL_n",
            )
        )
    return decide_all(results)


@check("text3_4_nstep_not_power", kind="numeric", equations=(38, 40, 41))
def text3_4_nstep_not_power() -> CheckResult:
    """T_{π^B_Q,1}Q = TQ, while T_{π^B_Q,n}Q ≠ T^n Q for n = 2, 3 (the note after (41))."""
    mdp = random_mdp(41, S=3, A=2, gamma=0.9)
    q = torch.from_numpy(np.random.default_rng(41).normal(size=(3, 2)))
    one = rel_gap(emdp.nstep_boltzmann_backup(mdp, q, 1), emdp.boltzmann_backup(mdp, q))
    gaps = []
    for n in (2, 3):
        power = _iterate(lambda x: emdp.boltzmann_backup(mdp, x), q, n)
        gaps.append(rel_gap(emdp.nstep_boltzmann_backup(mdp, q, n), power))
    if one > REL_TOL:
        return failed("T_{π^B,1} ≠ T", f"gap {one:.3g}")
    if min(gaps) < GAP:
        return failed("T_{π^B,n} = T^n", f"gaps {gaps}")
    return passed(
        f"T_{{π^B,1}}Q = TQ to 1e-10; T_{{π^B,n}}Q differs from T^nQ by {gaps[0]:.2g} (n = 2) and "
        f"{gaps[1]:.2g} (n = 3), relative",
        one=one,
        negative_control=f"the contrary 'T_{{π^B,n}}Q = T^nQ': refuted by a relative gap ≥ {min(gaps):.3g}",
        negative_control_gap=min(gaps),
        negative_control_threshold=GAP,
    )


# --------------------------------------------------------------------------- (42)-(43)


def _frozen_operator(mdp, policy):
    kl = emdp.policy_kl(mdp, policy)

    def apply(x):
        return mdp.rewards + mdp.gamma * mdp.transitions @ ((policy * x).sum(-1) - mdp.tau * kl)

    return apply


def _lambda_series(mdp, q, lam):
    """(1−λ) Σ_{n≥1} λ^{n−1} (T_{π^B_Q})^n Q, truncated when λ^n < 1e-18 (own code, policy frozen)."""
    op = _frozen_operator(mdp, emdp.boltzmann_policy_of(mdp, q))
    total, x, weight = torch.zeros_like(q), q, 1.0 - lam
    for _ in range(2000):
        x = op(x)
        total = total + weight * x
        weight *= lam
        if weight < 1e-18:
            break
    return total if lam > 0 else op(q)


def _td_sum(mdp, q, lam):
    """E[Σ_{t≥0} (γλ)^t δ_t | s_0, a_0] with a_t ∼ π^B_Q, δ from (43) (own linear algebra)."""
    pol = emdp.boltzmann_policy_of(mdp, q)
    kl = emdp.policy_kl(mdp, pol)
    v = equiv.soft_value(q, mdp.tau, mdp.ref_probs)
    delta = mdp.rewards - mdp.tau * kl[:, None] + mdp.gamma * mdp.transitions @ v - v[:, None]
    p_pi = torch.einsum("sa,sat->st", pol, mdp.transitions)
    future = torch.linalg.solve(
        torch.eye(mdp.num_states, dtype=torch.float64) - mdp.gamma * lam * p_pi, (pol * delta).sum(-1)
    )
    return delta + mdp.gamma * lam * mdp.transitions @ future, v, kl


@check("eq042_series_equals_eq043_corrected", kind="numeric", equations=(42, 43))
def eq042_series_equals_eq043_corrected() -> CheckResult:
    """The λ-series (42) (T_{π^B_Q} = fixed-policy operator frozen at π^B_Q) = V_Q + τKL +
    E[Σ(γλ)^tδ_t], and equiv's."""
    mdp = random_mdp(42, S=3, A=2, gamma=0.9)
    q = torch.from_numpy(np.random.default_rng(42).normal(size=(3, 2)))
    worst, control = 0.0, float("inf")
    for lam in (0.0, 0.5, 0.9):
        series = _lambda_series(mdp, q, lam)
        td, v, kl = _td_sum(mdp, q, lam)
        corrected = v[:, None] + mdp.tau * kl[:, None] + td
        worst = max(
            worst, rel_gap(corrected, series), rel_gap(emdp.lambda_boltzmann_backup(mdp, q, lam), series)
        )
        control = min(control, rel_gap(q + td, series))  # the printed (43): Q(s,a) + E[Σ(γλ)^tδ_t]
    if worst > REL_TOL:
        return failed("series ≠ corrected (43)", f"relative gap {worst:.3g}")
    return passed(
        "the series (42) equals τKL(s) + V_Q(s) + E[Σ(γλ)^tδ_t] and equiv.lambda_boltzmann_backup "
        "to 1e-10 for λ = 0, 0.5, 0.9",
        gap=worst,
        negative_control=f"(43) as printed, Q(s,a) + E[Σ(γλ)^tδ_t]: relative gap ≥ {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq043_printed_vs_series", kind="numeric", equations=(42, 43))
def eq043_printed_vs_series() -> CheckResult:
    """(43) as printed, Q(s,a) + E[Σ(γλ)^tδ_t], against the series (42)."""
    mdp = random_mdp(43, S=3, A=2, gamma=0.9)
    q = torch.from_numpy(np.random.default_rng(43).normal(size=(3, 2)))
    worst = 0.0
    for lam in (0.0, 0.5):
        series = _lambda_series(mdp, q, lam)
        td, _, _ = _td_sum(mdp, q, lam)
        gap = rel_gap(q + td, series)
        worst = max(worst, gap)
        if gap > GAP:
            i = int((q + td - series).abs().argmax())
            s, a = divmod(i, 2)
            return failed(
                f"(43) as printed ≠ (42) (λ = {lam})",
                f"random 3-state MDP (seed 43, γ = 0.9, τ = 0.3), λ = {lam}, (s, a) = ({s}, {a}): "
                f"printed (43) = {float((q + td)[s, a]):.6g}, series (42) = {float(series[s, a]):.6g}; "
                "at λ = 0 the printed form is Q + E[δ_0] while (42) gives TQ",
                gap=gap,
            )
    return printed_form_agrees("printed (43) matches the series", worst)


@check("eq043_fixed_point_symbolic", kind="symbolic", equations=(42, 43))
def eq043_fixed_point_symbolic() -> CheckResult:
    """One state, two actions, symbolic γ, λ, τ: X of corrected (43) solves X = (1−λ)T_μQ + λT_μX (the
    series (42))."""
    return _one_state_lambda(corrected=True)


@check("eq043_printed_symbolic", kind="symbolic", equations=(42, 43))
def eq043_printed_symbolic() -> CheckResult:
    """The same fixed-point test for (43) as printed."""
    return _one_state_lambda(corrected=False)


def _one_state_lambda(corrected: bool) -> CheckResult:
    # The series X = (1−λ)Σ_{n≥1} λ^{n−1} T^n Q of an affine T is its unique fixed point of
    # X = (1−λ) T Q + λ T X (γλ < 1), so it suffices to test that equation.
    b = bandit(2)
    gamma, lam = sp.Symbol("gamma", positive=True), sp.Symbol("lambda", positive=True)
    rew = b.rbar
    Z = sp.Add(*[p * sp.exp(q / b.tau) for p, q in zip(b.pbar, b.q)])
    mu = [p * sp.exp(q / b.tau) / Z for p, q in zip(b.pbar, b.q)]
    kl = sp.Add(*[m * sp.log(m / p) for m, p in zip(mu, b.pbar)])
    V = b.tau * sp.log(Z)

    def T(x):  # fixed-policy operator frozen at μ = π^B_Q, single state
        nxt = sp.Add(*[m * xi for m, xi in zip(mu, x)]) - b.tau * kl
        return [r + gamma * nxt for r in rew]

    delta = [r - b.tau * kl + gamma * V - V for r in rew]
    mean_delta = sp.Add(*[m * d for m, d in zip(mu, delta)])
    td = [d + gamma * lam * mean_delta / (1 - gamma * lam) for d in delta]  # E[Σ_t (γλ)^t δ_t | a_0]
    X = [b.tau * kl + V + t for t in td] if corrected else [q + t for q, t in zip(b.q, td)]
    TQ, TX = T(list(b.q)), T(X)
    witness = merged(b.witness, {gamma: R(3, 4), lam: R(1, 2)}, "γ = 3/4, λ = 1/2, one state")
    results = []
    for a in range(2):
        rhs = (1 - lam) * TQ[a] + lam * TX[a]
        label = "corrected" if corrected else "printed"
        results.append(
            decide(
                X[a],
                rhs,
                witness,
                statement=f"{label} (43) is the fixed point, action {a}",
                control=(a == 0),
                wrong=TQ[a],
                wrong_label="TQ (the λ = 0 operator)",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- (45)-(47), §3.5


def _soft_target_expectation(mdp, q_target, behaviour, n):
    """E[y_t | s_t, a_t] for the n-step target (46), by enumeration (own code)."""
    pol = emdp.boltzmann_policy_of(mdp, q_target)
    kl = emdp.policy_kl(mdp, pol).numpy()
    v = equiv.soft_value(q_target, mdp.tau, mdp.ref_probs).numpy()
    R_, g = mdp.rewards.numpy(), mdp.gamma
    out = np.zeros((mdp.num_states, mdp.num_actions))
    for s in range(mdp.num_states):
        for a in range(mdp.num_actions):
            for path in paths(mdp, behaviour.numpy(), s, a, n):
                ret = sum(
                    g**d * (R_[st, at] - mdp.tau * kl[st])
                    for d, (st, at) in enumerate(zip(path.states, path.actions))
                )
                out[s, a] += path.probability * (mdp.tau * kl[s] + ret + g**n * v[path.states[-1]])
    return torch.from_numpy(out)


@check("text3_5_one_step_unbiased", kind="numeric", equations=(45,))
def text3_5_one_step_unbiased() -> CheckResult:
    """E[y_t | s_t, a_t] of the 1-step target (45) = [TQ̄](s_t, a_t) for any behaviour policy."""
    mdp = random_mdp(45, S=3, A=3)
    rng = np.random.default_rng(45)
    q = torch.from_numpy(rng.normal(size=(3, 3)))
    worst, control = 0.0, float("inf")
    for behaviour in (
        _policy(1, 3, 3),
        torch.full((3, 3), 1 / 3, dtype=torch.float64),
        torch.eye(3, dtype=torch.float64),
    ):
        expectation = _soft_target_expectation(mdp, q, behaviour, 1)
        worst = max(worst, rel_gap(expectation, emdp.boltzmann_backup(mdp, q)))
        control = min(control, rel_gap(expectation, q))  # wrong: "y_t is unbiased for Q̄ itself"
    if worst > REL_TOL:
        return failed("1-step target biased", f"relative gap {worst:.3g}")
    return passed(
        "E[r_t + γV_Q̄(s_{t+1}) | s_t, a_t] = [TQ̄](s_t,a_t) to 1e-10 for a random, the uniform and a "
        "deterministic behaviour policy",
        gap=worst,
        negative_control=f"E[y_t] = Q̄(s_t,a_t) (no backup): relative gap ≥ {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("text3_5_nstep_on_policy_only", kind="numeric", equations=(40, 41, 46))
def text3_5_nstep_on_policy_only() -> CheckResult:
    """n-step target (46): unbiased for T_{π^B_Q̄,n}Q̄ when a_{t+1..} ∼ π^B_Q̄; biased otherwise (n = 2, 3)."""
    mdp = random_mdp(46, S=3, A=2, gamma=0.9)
    q = torch.from_numpy(np.random.default_rng(46).normal(size=(3, 2)))
    pol = emdp.boltzmann_policy_of(mdp, q)
    on, off = 0.0, float("inf")
    for n in (2, 3):
        target = emdp.nstep_boltzmann_backup(mdp, q, n)
        on = max(on, rel_gap(_soft_target_expectation(mdp, q, pol, n), target))
        off = min(off, rel_gap(_soft_target_expectation(mdp, q, _policy(7, 3, 2), n), target))
    if on > REL_TOL or off < GAP:
        return failed("n-step unbiasedness", f"on-policy gap {on:.3g}, off-policy gap {off:.3g}")
    return passed(
        f"on-policy (π^B_Q̄) E[y_t|s_t,a_t] = T_{{π^B,n}}Q̄ to 1e-10; with another behaviour the gap is "
        f"≥ {off:.2g} (relative), n = 2, 3",
        on_policy_gap=on,
        negative_control=f"the same target under another behaviour policy: relative gap ≥ {off:.3g}",
        negative_control_gap=off,
        negative_control_threshold=GAP,
    )


@check("eq046_to_eq047", kind="symbolic", equations=(46, 47))
def eq046_to_eq047() -> CheckResult:
    """τKL_t + Σ_{d<n} γ^d(r_{t+d} − τKL_{t+d}) + γ^n V(s_{t+n}) = τKL_t + V(s_t) + Σ_{d<n} γ^d
    δ_{t+d}, every n."""
    seq, gamma, tau, witness = _telescoping_seq()

    def delta(t):
        return seq.r(t) - tau * seq.K(t) + gamma * seq.V(t + 1) - seq.V(t)

    return by_induction(
        "(46) = (47)",
        lambda d: gamma**d * (seq.r(d) - tau * seq.K(d)),
        lambda n: tau * seq.K(0) + gamma**n * seq.V(n),
        lambda d: gamma**d * delta(d),
        lambda n: tau * seq.K(0) + seq.V(0),
        witness,
        wrong=(lambda d: gamma**d * delta(d), lambda n: seq.V(0)),
        wrong_label="without the leading τKL_t",
    )


# --------------------------------------------------------------------------- (48)-(52), §3.6


def _proper_weight(mdp, gamma, first_reward_only=False):
    R_ = mdp.rewards.numpy()

    def weight(path, t, policy):
        kl = (policy * (np.log(policy) - np.log(mdp.ref_probs.numpy()))).sum(-1)
        first = (
            R_[path.states[0], path.actions[0]] if first_reward_only else R_[path.states[t], path.actions[t]]
        )
        later = sum(
            gamma ** (d - t) * (R_[path.states[d], path.actions[d]] - mdp.tau * kl[path.states[d]])
            for d in range(t + 1, len(path.actions))
        )
        return first + later

    return weight


def _g_gamma(mdp, logits, initial, steps):
    """g_γ of (50): Σ_t E[∇log π (Q_π − V_π)(s_t,a_t) − τ∇KL(s_t)], exact values from equiv."""
    pol = torch.softmax(logits.detach(), -1)
    v, q = emdp.evaluate_policy(mdp, pol)
    adv = (q - v[:, None]).numpy()
    return estimator_gradient(
        mdp, logits, initial, steps, lambda path, t, p: adv[path.states[t], path.actions[t]]
    )


def _pg_setup(gamma=0.9, seed=49):
    mdp = layered_mdp(seed, layers=3, width=2, A=2, gamma=gamma, tau=0.3)
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(size=(mdp.num_states, 2))).requires_grad_()
    initial = np.zeros(mdp.num_states)
    initial[:2] = [0.4, 0.6]
    return mdp, logits, initial


@check("eq049_printed_vs_eq050", kind="numeric", equations=(49, 50))
def eq049_printed_vs_eq050() -> CheckResult:
    """(49) as printed, with r_0 multiplying every score ∇log π(a_t|s_t), against (50)."""
    mdp, logits, initial = _pg_setup()
    printed = estimator_gradient(
        mdp, logits, initial, 3, _proper_weight(mdp, mdp.gamma, first_reward_only=True)
    )
    g = _g_gamma(mdp, logits, initial, 3)
    gap = rel_gap(printed, g)
    if gap > GAP:
        return failed(
            "(49) as printed ≠ (50)",
            f"3-step layered MDP (seed 49, γ = 0.9, τ = 0.3), tabular softmax policy: exact E[(49) printed] "
            f"and g_γ of (50) differ by {gap:.3g} (max-norm, relative); with r_0 the scores at t ≥ 1 "
            "multiply a reward earned before a_t, which has zero mean",
            gap=gap,
        )
    return printed_form_agrees("printed (49) = (50)", gap)


@check("eq049_corrected_vs_eq050", kind="numeric", equations=(49, 50))
def eq049_corrected_vs_eq050() -> CheckResult:
    """(49) with r_t (the reward at the scored step) = (50), and = equiv.mdp.policy_gradient_surrogate."""
    mdp, logits, initial = _pg_setup()
    corrected = estimator_gradient(mdp, logits, initial, 3, _proper_weight(mdp, mdp.gamma))
    g = _g_gamma(mdp, logits, initial, 3)
    pol = torch.softmax(logits.detach(), -1)
    visits = emdp.state_visitation(mdp, pol, torch.from_numpy(initial), discount=1.0)
    (lib,) = torch.autograd.grad(
        emdp.policy_gradient_surrogate(mdp, torch.log_softmax(logits, -1), visits), logits
    )
    gap = max(rel_gap(corrected, g), rel_gap(lib, g))
    if gap > REL_TOL:
        return failed("corrected (49) ≠ (50)", f"relative gap {gap:.3g}")
    printed = estimator_gradient(
        mdp, logits, initial, 3, _proper_weight(mdp, mdp.gamma, first_reward_only=True)
    )
    control = rel_gap(printed, g)
    return passed(
        "E[(49) with r_t] = g_γ of (50) = equiv.policy_gradient_surrogate, to 1e-10 (exact, 128 paths)",
        gap=gap,
        negative_control=f"(49) as printed (r_0 in every term): relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq051_finite_horizon", kind="numeric", equations=(49, 51))
def eq051_finite_horizon() -> CheckResult:
    """γ = 1, finite horizon: g_1 (49 corrected) = ∇_θ E[Σ_t (r_t − τKL_t)] by autograd through path
    probabilities."""
    mdp, logits, initial = _pg_setup(gamma=1.0, seed=51)
    g1 = estimator_gradient(mdp, logits, initial, 3, _proper_weight(mdp, 1.0))
    log_pi = torch.log_softmax(logits, -1)
    pol = log_pi.exp()
    kl = equiv.kl_divergence(log_pi, mdp.ref_probs)
    R_ = mdp.rewards
    J = torch.zeros((), dtype=torch.float64)
    for path in paths_from_state(mdp, pol.detach().numpy(), initial, 3):
        prob = torch.tensor(initial[path.states[0]], dtype=torch.float64)
        for t, (s, a) in enumerate(zip(path.states, path.actions)):
            prob = prob * pol[s, a] * mdp.transitions[s, a, path.states[t + 1]]
        ret = sum(R_[s, a] - mdp.tau * kl[s] for s, a in zip(path.states, path.actions))
        J = J + prob * ret
    (grad_J,) = torch.autograd.grad(J, logits)
    J_lib = emdp.finite_horizon_objective(mdp, pol.detach(), torch.from_numpy(initial), 3)
    naive = estimator_gradient(
        mdp,
        logits,
        initial,
        3,
        lambda path, t, p: sum(
            float(R_[path.states[d], path.actions[d]]) for d in range(t, len(path.actions))
        ),
    )
    gap = max(rel_gap(g1, grad_J), abs(float(J.detach()) - float(J_lib)))
    control = rel_gap(naive, grad_J)
    if gap > REL_TOL or control < GAP:
        return failed("(51)", f"gap {gap:.3g}, naive-estimator gap {control:.3g}")
    return passed(
        "g_1 = ∇E[Σ_{t<T}(r_t − τKL_t)] to 1e-10 (autograd through the path probabilities; "
        "J also equals equiv.finite_horizon_objective)",
        gap=gap,
        negative_control=f"the naive estimator (48): relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("eq048_naive_consistent", kind="numeric", equations=(48,))
def eq048_naive_consistent() -> CheckResult:
    """The naive estimator (48), enumerated exactly, equals equiv's 'naive' surrogate (γ = 1)."""
    mdp, logits, initial = _pg_setup(gamma=1.0, seed=48)
    R_ = mdp.rewards.numpy()
    naive = estimator_gradient(
        mdp,
        logits,
        initial,
        3,
        lambda path, t, p: sum(R_[path.states[d], path.actions[d]] for d in range(t, len(path.actions))),
    )
    (lib,) = torch.autograd.grad(
        emdp.finite_horizon_estimator_surrogate(
            mdp, torch.log_softmax(logits, -1), torch.from_numpy(initial), 3, "naive"
        ),
        logits,
    )
    gap = rel_gap(naive, lib)
    if gap > REL_TOL:
        return failed("(48) vs equiv naive", f"gap {gap:.3g}")
    later = estimator_gradient(  # rewards from t + 1 on: r_t left out of the score's weight
        mdp,
        logits,
        initial,
        3,
        lambda path, t, p: sum(R_[path.states[d], path.actions[d]] for d in range(t + 1, len(path.actions))),
    )
    control = rel_gap(later, lib)
    return passed(
        "E[(48)] by enumeration = equiv.finite_horizon_estimator_surrogate('naive') to 1e-10",
        gap=gap,
        negative_control=f"the return from t + 1 (r_t left out): relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("text3_6_naive_improper", kind="numeric", equations=(48, 51))
def text3_6_naive_improper() -> CheckResult:
    """(48) is not an unbiased estimator of ∇ of the entropy-augmented return when τ > 0 (γ = 1,
    finite horizon)."""
    mdp, logits, initial = _pg_setup(gamma=1.0, seed=52)
    R_ = mdp.rewards.numpy()
    naive = estimator_gradient(
        mdp,
        logits,
        initial,
        3,
        lambda path, t, p: sum(R_[path.states[d], path.actions[d]] for d in range(t, len(path.actions))),
    )
    proper = estimator_gradient(mdp, logits, initial, 3, _proper_weight(mdp, 1.0))
    (lib,) = torch.autograd.grad(
        emdp.finite_horizon_objective(mdp, torch.softmax(logits, -1), torch.from_numpy(initial), 3), logits
    )
    bias = rel_gap(naive, lib)
    control = rel_gap(proper, lib)
    if bias < GAP or control > REL_TOL:
        return failed("naive vs proper", f"naive gap {bias:.3g}, proper gap {control:.3g}")
    return passed(
        f"E[(48)] differs from ∇J by {bias:.3g} (relative, τ = 0.3), while the proper estimator matches "
        "∇J to 1e-10",
        proper_gap=control,
        negative_control=f"the contrary '(48) is unbiased': refuted by a relative gap {bias:.3g}",
        negative_control_gap=bias,
        negative_control_threshold=GAP,
    )


@check("text3_6_fixed_point", kind="numeric", equations=(49, 50))
def text3_6_fixed_point() -> CheckResult:
    """π* = π^B_{Q*} (soft value iteration) is a fixed point of g_γ: g_γ(π*) = 0 for any state weighting."""
    mdp = random_mdp(50, S=4, A=3, gamma=0.9)
    q_star = emdp.soft_value_iteration(mdp, tol=1e-14)
    log_star = emdp.boltzmann_log_policy_of(mdp, q_star)
    worst = 0.0
    for seed in (0, 1):
        w = torch.from_numpy(np.random.default_rng(seed).random(4) + 0.1)
        theta = log_star.clone().requires_grad_()
        (g,) = torch.autograd.grad(
            emdp.policy_gradient_surrogate(mdp, torch.log_softmax(theta, -1), w), theta
        )
        worst = max(worst, float(g.abs().max()))
    theta = (log_star + 0.3 * torch.from_numpy(np.random.default_rng(9).normal(size=(4, 3)))).requires_grad_()
    (g_off,) = torch.autograd.grad(
        emdp.policy_gradient_surrogate(mdp, torch.log_softmax(theta, -1), torch.ones(4, dtype=torch.float64)),
        theta,
    )
    control = float(g_off.abs().max())
    if worst > 1e-9 or control < GAP:
        return failed("fixed point", f"|g(π*)| = {worst:.3g}, |g(perturbed)| = {control:.3g}")
    return passed(
        "|g_γ(π*)|_∞ < 1e-9 for two state weightings (soft value iteration to 1e-14)",
        grad_norm=worst,
        negative_control=f"a perturbed policy: |g_γ|_∞ = {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


def _nstep_estimator(mdp, v, n, kl_gradient, bootstrap=True, regularized=True):
    """Weight of ∇log π(a_t|s_t): Σ_{d<n} γ^d(r − τKL)_{t+d} [+ γ^n V(s_{t+n})] − V(s_t)."""
    R_ = mdp.rewards.numpy()
    vn = v.numpy()

    def weight(path, t, policy):
        kl = (policy * (np.log(policy) - np.log(mdp.ref_probs.numpy()))).sum(-1)
        end = min(t + n, len(path.actions))
        total = sum(
            mdp.gamma ** (d - t)
            * (R_[path.states[d], path.actions[d]] - (mdp.tau * kl[path.states[d]] if regularized else 0.0))
            for d in range(t, end)
        )
        if bootstrap and end == t + n:
            total += mdp.gamma**n * vn[path.states[end]]
        return total - vn[path.states[t]]

    return weight


def printed_eq052_gap() -> float:
    """Relative gap between g_γ and E[(52) as printed] (no −τ∇KL term), n = 2, V = V_π (seed 53)."""
    mdp, logits, initial = _pg_setup(seed=53)
    v, _ = emdp.evaluate_policy(mdp, torch.softmax(logits.detach(), -1))
    g = _g_gamma(mdp, logits, initial, 3)
    printed = estimator_gradient(
        mdp, logits, initial, 3, _nstep_estimator(mdp, v, 2, False), kl_gradient=False
    )
    return rel_gap(printed, g)


@check("eq052_printed", kind="numeric", equations=(52,))
def eq052_printed() -> CheckResult:
    """(52) as printed (no −τ∇KL term), V = V_π, against g_γ."""
    gap = printed_eq052_gap()
    if gap > GAP:
        return failed(
            "(52) as printed is biased for g_γ",
            f"3-step layered MDP (seed 53, γ = 0.9, τ = 0.3), n = 2, V = V_π: E[(52)] and g_γ differ by "
            f"{gap:.3g} (relative) — exactly the missing −τ∇KL(s_t) terms",
            gap=gap,
        )
    return printed_form_agrees("(52) printed unbiased", gap)


def proper_nstep_estimator_worst_gap(seed: int) -> float:
    """Largest relative gap, over n = 1, 2, 3, between g_γ and the exact expectation of the proper
    n-step estimator (−τ∇KL(s_t) included, bootstrap γ^n V(s_{t+n}), V = V_π) on the 3-step layered
    MDP of ``_pg_setup(seed)``.  Corrected (52) and corrected (80) are this estimator."""
    mdp, logits, initial = _pg_setup(seed=seed)
    v, _ = emdp.evaluate_policy(mdp, torch.softmax(logits.detach(), -1))
    g = _g_gamma(mdp, logits, initial, 3)
    return max(
        rel_gap(estimator_gradient(mdp, logits, initial, 3, _nstep_estimator(mdp, v, n, True)), g)
        for n in (1, 2, 3)
    )


@check("eq052_corrected", kind="numeric", equations=(52,))
def eq052_corrected() -> CheckResult:
    """(52) with −τ∇_θKL(s_t) added and V = V_π: its expectation is g_γ for n = 1, 2, 3."""
    worst = proper_nstep_estimator_worst_gap(seed=53)
    if worst > REL_TOL:
        return failed("corrected (52)", f"gap {worst:.3g}")
    control = printed_eq052_gap()
    return passed(
        "E[∇log π Σ_{d<n}γ^dδ_{t+d} − τ∇KL(s_t)] = g_γ to 1e-10 for n = 1, 2, 3 (V = V_π)",
        gap=worst,
        negative_control=f"(52) as printed (no −τ∇KL(s_t)), n = 2: relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


# --------------------------------------------------------------------------- (53)-(54)


@check("eq054_printed", kind="symbolic", equations=(36, 54))
def eq054_printed() -> CheckResult:
    """(54) as printed: Σ_{d<n} γ^d r_{t+d} + γ^d V(s_{t+d}) = V(s_t) + Σ_{d<n} γ^d δ_{t+d} (both
    readings, n = 1)."""
    seq, gamma, tau, witness = _telescoping_seq()

    def delta(t):
        return seq.r(t) - tau * seq.K(t) + gamma * seq.V(t + 1) - seq.V(t)

    results = []
    # reading 1: the bootstrap term inside the sum, as typeset (γ^d V(s_{t+d}) for each d)
    lhs1 = sp.Add(*[gamma**d * seq.r(d) + gamma**d * seq.V(d) for d in range(1)])
    # reading 2: the most favourable reading, bootstrap γ^n V(s_{t+n}) after the sum
    lhs2 = sp.Add(*[gamma**d * seq.r(d) for d in range(1)]) + gamma * seq.V(1)
    rhs = seq.V(0) + sp.Add(*[gamma**d * delta(d) for d in range(1)])
    results.append(decide(lhs1, rhs, witness, statement="(54) read literally, n = 1", wrong=0))
    results.append(decide(lhs2, rhs, witness, statement="(54) with γ^n V(s_{t+n}), n = 1", wrong=0))
    return decide_all(results)


@check("eq054_corrected", kind="symbolic", equations=(36, 54))
def eq054_corrected() -> CheckResult:
    """Σ_{d<n} γ^d(r_{t+d} − τKL_{t+d}) + γ^n V(s_{t+n}) = V(s_t) + Σ_{d<n} γ^d δ_{t+d} for every n."""
    seq, gamma, tau, witness = _telescoping_seq()

    def delta(t):
        return seq.r(t) - tau * seq.K(t) + gamma * seq.V(t + 1) - seq.V(t)

    return by_induction(
        "corrected (54)",
        lambda d: gamma**d * (seq.r(d) - tau * seq.K(d)),
        lambda n: gamma**n * seq.V(n),
        lambda d: gamma**d * delta(d),
        lambda n: seq.V(0),
        witness,
        wrong=(lambda d: gamma**d * seq.r(d), lambda n: gamma**n * seq.V(n)),
        wrong_label="the printed left side without the −τKL terms",
    )


@check("eq054_corrected_expectation", kind="numeric", equations=(34, 53, 54))
def eq054_corrected_expectation() -> CheckResult:
    """The corrected target y_t of (54) has E[y_t | s_t] = [T_π^n V](s_t): the regression (53)
    performs V ← T_π^n V."""
    mdp = random_mdp(54, S=3, A=2, gamma=0.8)
    pi = _policy(54, 3, 2)
    v = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    kl = emdp.policy_kl(mdp, pi).numpy()
    R_, pol = mdp.rewards.numpy(), pi.numpy()
    worst, control = 0.0, float("inf")
    for n in (1, 2, 3):
        lib = emdp.nstep_policy_backup_v(mdp, pi, v, n).numpy()
        for s in range(3):
            y = 0.0
            for path in paths(mdp, pol, s, None, n):
                ret = sum(
                    0.8**d * (R_[st, at] - mdp.tau * kl[st])
                    for d, (st, at) in enumerate(zip(path.states, path.actions))
                )
                y += path.probability * (ret + 0.8**n * float(v[path.states[-1]]))
            worst = max(worst, abs(y - lib[s]))
        control = min(control, float(np.abs(no_bootstrap_all(mdp, pi, n, kl) - lib).max()))
    if worst > REL_TOL:
        return failed("E[y_t] ≠ T^n V", f"gap {worst:.3g}")
    return passed(
        "E[y_t | s_t] = [T_π^n V](s_t) to 1e-10 for n = 1, 2, 3",
        gap=worst,
        negative_control=f"y_t without the bootstrap γ^n V(s_{{t+n}}): max gap ≥ {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


def no_bootstrap_all(mdp, pi, n, kl):
    """E[Σ_{d<n} γ^d (r − τKL)_{t+d} | s_t] for every s_t (no bootstrap), by enumeration."""
    R_, pol = mdp.rewards.numpy(), pi.numpy()
    out = np.zeros(mdp.num_states)
    for s in range(mdp.num_states):
        for path in paths(mdp, pol, s, None, n):
            out[s] += path.probability * sum(
                mdp.gamma**d * (R_[st, at] - mdp.tau * kl[st])
                for d, (st, at) in enumerate(zip(path.states, path.actions))
            )
    return out
