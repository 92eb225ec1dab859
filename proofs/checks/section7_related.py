"""§7, related work: PGQ's decomposition (87), PCL's consistency (88)-(90), and τ-rescaling on MDPs."""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
import torch

import equiv
from equiv import mdp as emdp

from ..core import CheckResult, check, extended, failed, passed
from ..exact import GAP, REL_TOL, deterministic_mdp, random_mdp, rel_gap
from ..induction import Seq, by_induction
from ..models import R, bandit, general_bandit, generic_policy, merged
from ..symbolic import decide, decide_all

KS = (2, 3)


def _entropy(probs):
    return -sp.Add(*[p * sp.log(p) for p in probs])


@check("eq087_printed", kind="symbolic", equations=(87,))
def eq087_printed() -> CheckResult:
    """(87): the term multiplying τ, log π(a|s) + τS[π(·|s)], has expectation zero under π."""
    b = bandit(3)
    probs, values, label = generic_policy(3)
    witness = merged(b.witness, values, label)
    mean = sp.Add(*[p * (sp.log(p) + b.tau * _entropy(probs)) for p in probs])
    return decide(mean, 0, witness, statement="E_π[log π + τS[π]] = 0 (k = 3)", wrong=1)


@check("eq087_corrected", kind="symbolic", equations=(87,))
def eq087_corrected() -> CheckResult:
    """Q = V + τ(log π + S[π]): E_π[log π + S[π]] = 0 (k = 2, 3 and any k), so E_π[Q] = V."""
    results = []
    for k in KS:
        b = bandit(k)
        probs, values, label = generic_policy(k)
        witness = merged(b.witness, values, label)
        mean = sp.Add(*[p * (sp.log(p) + _entropy(probs)) for p in probs])
        wrong = sp.Add(*[p * (sp.log(p) + b.tau * _entropy(probs)) for p in probs])
        results.append(
            decide(
                mean,
                0,
                witness,
                statement=f"E_π[log π + S] = 0 (k={k})",
                control=(k == 2),
                wrong=(wrong, 0),
                wrong_label="the printed τS",
            )
        )
    g = general_bandit()
    p = sp.IndexedBase("p", positive=True)
    S = sp.Symbol("S", real=True)
    # any k: Σ_i p_i = 1 and Σ_i p_i log p_i = −S are the defining sums
    total = sp.expand(sp.Sum(p[g.i] * (sp.log(p[g.i]) + S), (g.i, 1, g.k)))
    known = {sp.Sum(p[g.i], (g.i, 1, g.k)): 1, sp.Sum(p[g.i] * sp.log(p[g.i]), (g.i, 1, g.k)): -S}
    reduced = sp.expand(total.replace(lambda e: isinstance(e, sp.Sum), sp.factor_terms).xreplace(known))
    if reduced.atoms(sp.Sum) or reduced != 0:
        return failed("E_π[log π + S] for any k", f"reduced to {reduced}, not 0")
    out = decide_all(results)
    return extended(
        out, "; for any k: Σ_i p_i(log p_i + S) = −S + S·Σ_i p_i = 0",
    )


@check("eq088_telescoping", kind="symbolic", equations=(88,))
def eq088_telescoping() -> CheckResult:
    """Σ_{t<n} γ^t(r_t + γV_{t+1} − V_t) = Σ_{t<n} γ^t r_t + γ^n V_n − V_0, for every n."""
    seq = Seq("r V")
    gamma = sp.Symbol("gamma", positive=True)
    witness = seq.witness({gamma: R(4, 5)}, 6, "γ = 4/5")
    return by_induction(
        "(88), second equality",
        lambda t: gamma**t * (seq.r(t) + gamma * seq.V(t + 1) - seq.V(t)),
        lambda n: 0,
        lambda t: gamma**t * seq.r(t),
        lambda n: gamma**n * seq.V(n) - seq.V(0),
        witness,
        wrong=(lambda t: gamma**t * seq.r(t), lambda n: gamma**n * seq.V(n)),
        wrong_label="without −V(s_0)",
    )


@check("eq088_deterministic_advantage", kind="numeric", equations=(25, 88))
def eq088_deterministic_advantage() -> CheckResult:
    """Deterministic dynamics: Q_π(s_t,a_t) = r_t + γV_π(s_{t+1}), so A_π = r_t + γV_π(s_{t+1}) − V_π(s_t);
    the whole of (88) holds along every action sequence (off-policy), n = 1..3."""
    mdp = deterministic_mdp(88)
    pol = torch.from_numpy(np.random.default_rng(88).dirichlet(np.ones(2), size=3))
    v, q = emdp.evaluate_policy(mdp, pol)
    nxt = mdp.transitions.argmax(-1)
    gap = rel_gap(q, mdp.rewards + mdp.gamma * v[nxt])
    worst = 0.0
    for n in (1, 2, 3):
        for s0 in range(3):
            for actions in itertools.product(range(2), repeat=n):
                s, lhs, rhs = s0, 0.0, 0.0
                for t, a in enumerate(actions):
                    lhs += mdp.gamma**t * float(q[s, a] - v[s])
                    rhs += mdp.gamma**t * float(mdp.rewards[s, a])
                    s = int(nxt[s, a])
                rhs += mdp.gamma**n * float(v[s]) - float(v[s0])
                worst = max(worst, abs(lhs - rhs))
    if max(gap, worst) > REL_TOL:
        return failed("(88) numeric", f"Q gap {gap:.3g}, path gap {worst:.3g}")
    return passed(
        "Q_π = r + γV_π(s') and Σγ^tA_π = Σγ^tr_t + γ^nV_π(s_n) − V_π(s_0) on every action sequence "
        "(n = 1..3) to 1e-10",
        gap=max(gap, worst),
    )


def _optimal(mdp):
    q_star = emdp.soft_value_iteration(mdp, tol=1e-14)
    pol = emdp.boltzmann_policy_of(mdp, q_star)
    return pol


@check("eq089_optimal", kind="numeric", equations=(32, 89))
def eq089_optimal() -> CheckResult:
    """At the optimum π = π*: τ(log π − log π̄)(a|s) = A_{Q_π}(s,a) = Q_π(s,a) − V_{Q_π}(s)."""
    mdp = random_mdp(89, S=4, A=3, gamma=0.9, tau=0.5)

    def residual(pol):
        _, q = emdp.evaluate_policy(mdp, pol)
        adv = q - equiv.soft_value(q, mdp.tau, mdp.ref_probs)[:, None]
        return rel_gap(mdp.tau * (pol.log() - mdp.ref_probs.log()), adv)

    star = residual(_optimal(mdp))
    other = residual(torch.from_numpy(np.random.default_rng(1).dirichlet(np.ones(3), size=4)))
    if star > 1e-9 or other < GAP:
        return failed("(89)", f"optimal residual {star:.3g}, non-optimal {other:.3g}")
    return passed(
        "τ log(π*/π̄) = Q_{π*} − V_{Q_{π*}} to 1e-9 (soft value iteration to 1e-14)",
        gap=star,
        negative_control=f"a non-optimal policy: relative gap {other:.3g}",
        negative_control_gap=other,
        negative_control_threshold=GAP,
    )


@check("eq090_pcl", kind="numeric", equations=(88, 89, 90))
def eq090_pcl() -> CheckResult:
    """(90) at the optimum, deterministic dynamics, along every action sequence (the actions need not
    follow π)."""
    mdp = deterministic_mdp(90, S=3, A=2, gamma=0.8, tau=0.5)
    nxt = mdp.transitions.argmax(-1)

    def worst_path_gap(pol):
        v, _ = emdp.evaluate_policy(mdp, pol)
        worst = 0.0
        for n in (1, 2, 3):
            for s0 in range(3):
                for actions in itertools.product(range(2), repeat=n):
                    s, lhs, rhs = s0, 0.0, 0.0
                    for t, a in enumerate(actions):
                        lhs += mdp.gamma**t * mdp.tau * float(pol[s, a].log() - mdp.ref_probs[s, a].log())
                        rhs += mdp.gamma**t * float(mdp.rewards[s, a])
                        s = int(nxt[s, a])
                    rhs += mdp.gamma**n * float(v[s]) - float(v[s0])
                    worst = max(worst, abs(lhs - rhs))
        return worst

    star = worst_path_gap(_optimal(mdp))
    other = worst_path_gap(torch.from_numpy(np.random.default_rng(2).dirichlet(np.ones(2), size=3)))
    if star > 1e-9 or other < GAP:
        return failed("(90)", f"optimal gap {star:.3g}, non-optimal {other:.3g}")
    return passed(
        "Σγ^tτ log(π*/π̄) = Σγ^tr_t + γ^nV*(s_n) − V*(s_0) on all 42 action sequences of length 1-3, to 1e-9",
        gap=star,
        negative_control=f"a non-optimal policy: max gap {other:.3g}",
        negative_control_gap=other,
        negative_control_threshold=GAP,
    )


@check("text2_tau_rescaling_mdp", kind="numeric", equations=(24, 28, 38))
def text2_tau_rescaling_mdp() -> CheckResult:
    """τ can be eliminated by rescaling rewards: Q*(R, τ) = τ·Q*(R/τ, 1) and the optimal policies coincide."""
    mdp = random_mdp(2, S=4, A=3, gamma=0.9, tau=0.37)
    unit = mdp.replace(rewards=mdp.rewards / mdp.tau, tau=1.0)
    q_tau = emdp.soft_value_iteration(mdp, tol=1e-14)
    q_one = emdp.soft_value_iteration(unit, tol=1e-14)
    gap_q = rel_gap(q_tau, mdp.tau * q_one)
    gap_pi = rel_gap(emdp.boltzmann_policy_of(mdp, q_tau), emdp.boltzmann_policy_of(unit, q_one))
    control = rel_gap(q_tau, emdp.soft_value_iteration(mdp.replace(tau=1.0), tol=1e-14))
    if max(gap_q, gap_pi) > 1e-9 or control < GAP:
        return failed("rescaling", f"gaps {gap_q:.3g}, {gap_pi:.3g}; control {control:.3g}")
    return passed(
        "Q*(R, τ) = τ·Q*(R/τ, 1) and π* identical, to 1e-9 (4-state MDP, τ = 0.37)",
        gap=max(gap_q, gap_pi),
        negative_control=f"τ set to 1 without rescaling R: relative gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )
