"""Checks of the running text (§1-§7 and figure captions): sentences that are not numbered equations.

Each check decides one sentence registered in :mod:`proofs.claims_text` (the
sentence list with sections and quotes is ``proofs/TEXT_SENTENCES.md``).
Symbolic checks go through :func:`proofs.symbolic.decide`; numeric checks are
exact float64 (linear solves, dynamic programming, enumeration of every path —
never sampling) on fixed-seed instances, tolerance ``REL_TOL`` = 1e-10
relative, and every negative control must be refuted by more than ``GAP`` =
1e-4 relative (see :mod:`proofs.exact`).  The §6 sentences about Atari runs
are empirical and stay ``pending`` until results exist.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
import torch

import equiv
from equiv import expected as eexp
from equiv import mdp as emdp
from equiv.mdp import FiniteMDP

from ..core import CheckResult, check, failed, passed, pending
from ..exact import (
    GAP,
    REL_TOL,
    deterministic_mdp,
    estimator_gradient,
    layered_mdp,
    paths,
    random_mdp,
    rel_gap,
)
from ..models import bandit, generic_policy, merged
from ..symbolic import Witness, decide, decide_all

DT = torch.float64


def _t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _with(mdp: FiniteMDP, **changes) -> FiniteMDP:
    """The same P, R with other γ, τ, π̄ or rewards (FiniteMDP is frozen)."""
    fields = {
        "transitions": mdp.transitions,
        "rewards": mdp.rewards,
        "gamma": mdp.gamma,
        "tau": mdp.tau,
        "ref_policy": mdp.ref_policy,
        "terminal": mdp.terminal,
    }
    fields.update(changes)
    return FiniteMDP(**fields)


def _random_policy(seed: int, S: int, A: int) -> torch.Tensor:
    return _t(np.random.default_rng(seed).dirichlet(np.ones(A), size=S))


def _optimal(mdp: FiniteMDP) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q*, π* = π^B_{Q*}) by soft value iteration (equiv), converged to 1e-13 relative."""
    q_star = emdp.soft_value_iteration(mdp, tol=1e-13)
    return q_star, emdp.boltzmann_policy_of(mdp, q_star)


def _scale(x: torch.Tensor) -> float:
    return max(1.0, float(x.abs().max()))


# --------------------------------------------------------------------------- §1


@check("text1_optimal_policy_form", kind="numeric", equations=(27, 28))
def text1_optimal_policy_form() -> CheckResult:
    """§1: with an entropy cost the optimal policy is π(a|s) ∝ exp(Q(s,a)) (read: τ = 1, π̄ uniform)."""
    base = random_mdp(101, S=3, A=3, gamma=0.8)
    S, A = 3, 3
    worst = {}
    for label, mdp in (
        ("τ = 1, π̄ uniform", _with(base, tau=1.0, ref_policy=None)),
        ("τ = 0.3, π̄ non-uniform", _with(base, tau=0.3)),
    ):
        q_star, _ = _optimal(mdp)
        form = torch.softmax(q_star / mdp.tau + torch.log(mdp.ref_probs), dim=-1)  # π̄ exp(Q*/τ)/Z
        v_form, q_form = emdp.evaluate_policy(mdp, form)
        if rel_gap(q_form, q_star) > REL_TOL:
            return failed(f"{label}: Q of the Boltzmann form is not Q*", f"gap {rel_gap(q_form, q_star):.3g}")
        # optimal: no policy does better at any state (20 random policies and 20 perturbations of it)
        rng = np.random.default_rng(7)
        margin = float("inf")
        for i in range(40):
            if i < 20:
                other = _t(rng.dirichlet(np.ones(A), size=S))
            else:
                other = torch.softmax(torch.log(form) + _t(rng.normal(0, 0.05, (S, A))), dim=-1)
            margin = min(margin, float((v_form - emdp.evaluate_policy(mdp, other)[0]).min()))
        if margin < -REL_TOL * _scale(v_form):
            return failed(f"{label}: the Boltzmann form is beaten", f"a policy has V higher by {-margin:.3g}")
        worst[label] = margin
    mdp = _with(base, tau=0.3)
    q_star, pi_star = _optimal(mdp)
    literal = torch.softmax(q_star, dim=-1)  # exp(Q) without τ and π̄, at τ = 0.3
    loss = float((emdp.evaluate_policy(mdp, pi_star)[0] - emdp.evaluate_policy(mdp, literal)[0]).max())
    if loss < GAP:
        raise ArithmeticError(f"negative control not refuted: exp(Q*) loses only {loss:.3g}")
    return passed(
        "π* = π̄ exp(Q*/τ)/Z (soft value iteration) has Q_{π*} = Q* to 1e-10 and no random or perturbed "
        "policy (40) beats it at any state; with τ = 1 and π̄ uniform this is the printed π ∝ exp(Q)",
        negative_control=f"the printed form read literally at τ = 0.3 (π ∝ exp(Q*), no τ, no π̄) loses "
        f"{loss:.3g} in V at some state",
        negative_control_gap=loss,
        # absolute, in V units (the check compares loss with GAP): |V*| ≈ 2.4 here, so 1e-4 is far above
        # float64 noise (REL_TOL·|V*| ≈ 2e-10) and the measured loss is ~1
        negative_control_threshold=GAP,
    )


@check("text1_q_up_to_constant", kind="numeric", equations=(30, 32, 57))
def text1_q_up_to_constant() -> CheckResult:
    """§1: from π* one recovers Q* 'up to an additive constant' — a constant per state, V*(s)."""
    mdp = random_mdp(102, S=4, A=3, gamma=0.85, tau=0.4)
    q_star, pi_star = _optimal(mdp)
    v_star = equiv.soft_value(q_star, mdp.tau, mdp.ref_probs)
    recovered = mdp.tau * torch.log(pi_star / mdp.ref_probs)
    gap = rel_gap(recovered + v_star[:, None], q_star)
    if gap > REL_TOL:
        return failed("τ log(π*/π̄) + V* ≠ Q*", f"relative gap {gap:.3g}")
    # one global constant does not do: the best c leaves max |Q* − (τ log(π*/π̄) + c)| = spread(V*)/2
    spread = float(v_star.max() - v_star.min()) / 2
    if spread < GAP:
        raise ArithmeticError(
            "witness MDP has nearly equal V*(s); the global-constant control is not refuted"
        )
    return passed(
        "τ log(π*(a|s)/π̄(a|s)) + V*(s) = Q*(s,a) to 1e-10: Q* is determined by π* up to V*(s), a constant "
        "per state (not one global constant)",
        negative_control=f"one constant c for all states misses Q* by ≥ {spread:.3g} (half the spread of V*)",
        negative_control_gap=spread,
        # absolute, in Q units (compared with GAP above): |Q*| ≤ 2.7 here, so 1e-4 ≫ REL_TOL·|Q*|
        negative_control_threshold=GAP,
    )


@check("text3_kl_entropy_bonus", kind="symbolic", equations=(1, 24))
def text3_kl_entropy_bonus() -> CheckResult:
    """§1/§3: with π̄ uniform, −τ D_KL[π ‖ π̄] = τ H(π) − τ log k: an entropy bonus up to a constant."""
    tau = sp.Symbol("tau", positive=True)
    results = []
    for k in (2, 3):
        probs, values, label = generic_policy(k)
        kl = sp.Add(*[p * sp.log(p / sp.Rational(1, k)) for p in probs])
        entropy = -sp.Add(*[p * sp.log(p) for p in probs])
        witness = Witness({**values, tau: sp.Rational(2, 5)}, f"k = {k}, τ = 2/5, {label}")
        results.append(
            decide(
                -tau * kl,
                tau * entropy - tau * sp.log(k),
                witness,
                statement=f"−τ KL[π ‖ uniform] = τH(π) − τ log k (k = {k})",
                wrong=tau * entropy,
                wrong_label="no constant: −τ KL = τH",
            )
        )
    return decide_all(results)


# --------------------------------------------------------------------------- §2


@check("text2_single_sample_unbiased", kind="numeric", equations=(7,))
def text2_single_sample_unbiased() -> CheckResult:
    """§2: ∇log π_θ(a) r − τ∇D_KL[π_θ ‖ π̄] from one sample (a, r) is unbiased for ∇η (7)."""
    rng = np.random.default_rng(7)
    logits = _t(rng.normal(size=3)).requires_grad_()
    ref = _t([0.2, 0.5, 0.3])
    rbar, sigma, tau = _t([1.0, -0.4, 0.3]), _t([0.5, 1.5, 0.2]), 0.4
    log_pi = torch.log_softmax(logits, -1)
    kl = equiv.kl_divergence(log_pi, ref)
    (exact,) = torch.autograd.grad(log_pi.exp() @ rbar - tau * kl, logits, retain_graph=True)
    pd = log_pi.detach().exp()
    # E over a ∼ π and the two reward outcomes r = r̄ ± σ (probability ½ each) of the single-sample estimator
    outcomes = (rbar + sigma, rbar - sigma)
    surrogate = sum(0.5 * (pd * log_pi * r).sum() for r in outcomes)
    (score,) = torch.autograd.grad(surrogate, logits, retain_graph=True)
    (kl_grad,) = torch.autograd.grad(kl, logits)
    gap = rel_gap(score - tau * kl_grad, exact)
    control = rel_gap(score, exact)
    if gap > REL_TOL:
        return failed("single-sample estimator is biased", f"relative gap {gap:.3g} from ∇η")
    if control < GAP:
        raise ArithmeticError("negative control (no KL gradient) not refuted")
    return passed(
        "E_{a∼π_θ, r}[∇log π_θ(a) r − τ∇KL] = ∇_θ η(π_θ) to 1e-10 (k = 3, two-point rewards, exact "
        "enumeration)",
        negative_control=f"dropping −τ∇KL: gap {control:.3g} (relative)",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("text2_v_estimates_eta", kind="symbolic", equations=(1, 11, 13))
def text2_v_estimates_eta() -> CheckResult:
    """§2: 'v_θ is an estimate of η(π^B_{q_θ})': η(π^B_q) − v_θ = E_{a∼π^B_q}[r̄(a) − q_θ(a)] exactly."""
    b = bandit(3)
    eta = b.E(b.rbar) - b.tau * b.kl  # η(π^B_q), Eq. (1) with the mean rewards
    lhs = b.stage1(eta - b.v)
    rhs = b.stage1(b.E([r - q for r, q in zip(b.rbar, b.qf)]))
    wrong = b.stage1(b.E([r - q for r, q in zip(b.rbar, b.qf)], weights=b.pbar))
    return decide(
        lhs,
        rhs,
        b.witness,
        statement="η(π^B_q) − v_θ = E_{π^B_q}[r̄ − q_θ] (k = 3): v_θ is exact when q_θ = r̄",
        wrong=wrong,
        wrong_label="the error averaged under π̄ instead of π^B_q",
    )


@check("text2_sampling_assumption", kind="symbolic", equations=(15, 17, 22))
def text2_sampling_assumption() -> CheckResult:
    """§2: (22) needs the stated assumption that actions are sampled by π = π^B_{q_θ}."""
    b = bandit(2)
    probs, values, label = generic_policy(2)
    witness = merged(b.witness, values, label)

    def loss_gradient(weights):  # Eq. (15) with E_r[q − r] = q − r̄: E_{a∼π}[∇q (q − r̄)]
        return b.stage1(b.E([b.d(q) * (q - r) for q, r in zip(b.qf, b.rbar)], weights=weights))

    log_pi = [sp.log(p) for p in b.pi]
    rhs22 = b.stage1(
        b.E(
            [
                b.tau * b.d(lp) * (b.v - r) + b.tau**2 * b.d(b.kl) + b.d(b.v) * (b.v + b.tau * b.kl - r)
                for lp, r in zip(log_pi, b.rbar)
            ]
        )
    )
    return decide(
        loss_gradient(b.pi),
        rhs22,
        witness,
        statement="(15) with a ∼ π^B_{q_θ} = (22) (k = 2)",
        wrong=(loss_gradient(probs), rhs22),
        wrong_label="(15) with actions from another policy π ≠ π^B_q",
    )


# --------------------------------------------------------------------------- §3


@check("text3_2_optimal_is_stochastic", kind="numeric", equations=(27, 28))
def text3_2_optimal_is_stochastic() -> CheckResult:
    """§3.2: with entropy regularisation 'the optimal policy is stochastic' (full support where π̄ > 0)."""
    mdp = random_mdp(32, S=4, A=3, gamma=0.9, tau=0.3)
    q_star, pi_star = _optimal(mdp)
    spread = (q_star.max(-1).values - q_star.min(-1).values)[:, None]
    bound = mdp.ref_probs * torch.exp(-spread / mdp.tau)  # π*(a|s) ≥ π̄(a|s) exp(−(max Q* − min Q*)/τ)
    if bool((pi_star < bound * (1 - 1e-12)).any()) or float(pi_star.max()) >= 1.0:
        return failed("π* is not stochastic", f"min π* = {float(pi_star.min()):.3g}")
    greedy = torch.nn.functional.one_hot(q_star.argmax(-1), 3).to(DT)
    v_star = emdp.evaluate_policy(mdp, pi_star)[0]
    loss = v_star - emdp.evaluate_policy(mdp, greedy)[0]
    if float(loss.min()) < -REL_TOL * _scale(v_star) or float(loss.max()) < GAP:
        raise ArithmeticError(f"negative control not refuted: greedy policy loses {loss.tolist()}")
    return passed(
        f"π* = π^B_{{Q*}} has every π*(a|s) ≥ π̄(a|s)·exp(−(max_a Q* − min_a Q*)/τ) > 0 "
        f"(min {float(pi_star.min()):.3g}), max < 1",
        negative_control=f"the deterministic greedy policy argmax_a Q* is worse: V lower by up to "
        f"{float(loss.max()):.3g}",
        negative_control_gap=float(loss.max()),
        # absolute, in V units (compared with GAP above): |V*| ≈ 7.8 here, so 1e-4 ≫ REL_TOL·|V*| ≈ 8e-10
        negative_control_threshold=GAP,
    )


@check("text3_2_vq_estimates_return", kind="numeric", equations=(26, 31))
def text3_2_vq_estimates_return() -> CheckResult:
    """§3.2: V_Q 'estimates the entropy-augmented return under π^B_Q': V_Q − V_{π^B_Q} = E_{π^B_Q}[Q − Q_{π^B_Q}]."""  # noqa: E501 (the docstring's first line is the check's title)
    mdp = random_mdp(31, S=3, A=3, gamma=0.85, tau=0.4)
    q = _t(np.random.default_rng(31).normal(size=(3, 3)))
    pol = emdp.boltzmann_policy_of(mdp, q)
    v_q = equiv.soft_value(q, mdp.tau, mdp.ref_probs)
    v_pi, q_pi = emdp.evaluate_policy(mdp, pol)
    gap = rel_gap(v_q - v_pi, (pol * (q - q_pi)).sum(-1))
    q_star, pi_star = _optimal(mdp)
    at_fixed_point = rel_gap(
        equiv.soft_value(q_star, mdp.tau, mdp.ref_probs), emdp.evaluate_policy(mdp, pi_star)[0]
    )
    control = rel_gap(v_q - v_pi, (mdp.ref_probs * (q - q_pi)).sum(-1))
    if gap > REL_TOL or at_fixed_point > 1e-9:
        return failed("V_Q error identity", f"gap {gap:.3g}; at Q = Q*: {at_fixed_point:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control (π̄-weighted error) not refuted")
    return passed(
        "V_Q(s) − V_{π^B_Q}(s) = E_{a∼π^B_Q}[Q − Q_{π^B_Q}](s) to 1e-10 (from (26), (31)): V_Q is exact when "
        "Q is the Q-function of its own Boltzmann policy (Q = Q*: agreement to 1e-9)",
        negative_control=f"the error weighted by π̄: gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


def _path_return(mdp, kl, path, n, tail):
    """Σ_{d<n} γ^d (r_d − τKL_d) + γ^n tail(path) along one enumerated path (no terminal states here)."""
    R_, g = mdp.rewards.numpy(), mdp.gamma
    total = sum(
        g**d * (R_[s, a] - mdp.tau * kl[s]) for d, (s, a) in enumerate(zip(path.states[:n], path.actions[:n]))
    )
    return total + g**n * tail(path)


@check("text3_3_sanity_check", kind="numeric", equations=(34, 35))
def text3_3_sanity_check() -> CheckResult:
    """§3.3: in (34), (35) both sides are estimates of Σ_t γ^t(r_t − τKL_t): with V = V_π, Q = Q_π every side
    equals the total return."""
    mdp = random_mdp(34, S=3, A=2, gamma=0.8, tau=0.4)
    pol = _random_policy(34, 3, 2)
    v_pi, q_pi = emdp.evaluate_policy(mdp, pol)
    kl = emdp.policy_kl(mdp, pol).numpy()
    vn, qn, pn = v_pi.numpy(), q_pi.numpy(), pol.numpy()
    total_sa = q_pi - mdp.tau * torch.from_numpy(kl)[:, None]  # E[Σ_{t≥0} γ^t(r_t − τKL_t) | s_0, a_0]
    worst, control = 0.0, float("inf")
    for n in (1, 2, 3):
        rhs34 = _t(
            [
                sum(
                    p.probability * _path_return(mdp, kl, p, n, lambda p: vn[p.states[-1]])
                    for p in paths(mdp, pn, s, None, n)
                )
                for s in range(3)
            ]
        )
        rhs35 = _t(
            [
                [
                    sum(
                        p.probability
                        * _path_return(
                            mdp,
                            kl,
                            p,
                            n,
                            lambda p: qn[p.states[-1], p.actions[-1]] - mdp.tau * kl[p.states[-1]],
                        )
                        for p in paths(mdp, pn, s, a, n, last_action=True)
                    )
                    for a in range(2)
                ]
                for s in range(3)
            ]
        )
        lhs34 = emdp.nstep_policy_backup_v(mdp, pol, v_pi, n)
        lhs35 = emdp.nstep_policy_backup_q(mdp, pol, q_pi, n) - mdp.tau * torch.from_numpy(kl)[:, None]
        worst = max(
            worst,
            rel_gap(rhs34, v_pi),
            rel_gap(lhs34, v_pi),
            rel_gap(rhs35, total_sa),
            rel_gap(lhs35, total_sa),
        )
        control = min(control, rel_gap(emdp.nstep_policy_backup_q(mdp, pol, q_pi, n), total_sa))
    if worst > REL_TOL:
        return failed("sanity check of (34)/(35)", f"a side differs from the total return by {worst:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "with V = V_π, Q = Q_π (linear solve) both sides of (34) equal V_π(s) and both sides of (35) equal "
        "Q_π(s,a) − τKL(s) = E[Σ_{t≥0} γ^t(r_t − τKL_t) | s_0, a_0] to 1e-10, n = 1, 2, 3 (paths enumerated)",
        negative_control=f"(35) without the −τKL(s) on the left: gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


def _expected_target_loss(mdp, q, q_bar, behaviour, n, weights):
    """Σ_{s,a} w(s,a) E[½(Q(s,a) − y)² | s, a] for the n-step target (46) of Q̄, all paths enumerated."""
    pol_bar = emdp.boltzmann_policy_of(mdp, q_bar)
    kl = emdp.policy_kl(mdp, pol_bar).numpy()
    v_bar = equiv.soft_value(q_bar, mdp.tau, mdp.ref_probs).numpy()
    loss = torch.zeros((), dtype=DT)
    for s in range(mdp.num_states):
        for a in range(mdp.num_actions):
            for p in paths(mdp, behaviour.numpy(), s, a, n):
                y = mdp.tau * kl[s] + _path_return(mdp, kl, p, n, lambda p: v_bar[p.states[-1]])
                loss = loss + weights[s, a] * p.probability * 0.5 * (q[s, a] - y) ** 2
    return loss


@check("text3_5_loss_performs_backup", kind="numeric", equations=(44, 45, 46))
def text3_5_loss_performs_backup() -> CheckResult:
    """§3.5: minimising (44) performs the backup Q ← TQ̄ (1-step) or Q ← T_{π^B_Q̄,n}Q̄ (n-step, on-policy)."""
    mdp = random_mdp(44, S=3, A=2, gamma=0.9, tau=0.3)
    rng = np.random.default_rng(44)
    q_bar = _t(rng.normal(size=(3, 2)))
    weights = _t(rng.dirichlet(np.ones(6)).reshape(3, 2))
    on = emdp.boltzmann_policy_of(mdp, q_bar)

    def grad_at(target, behaviour, n):
        q = target.clone().requires_grad_()
        (g,) = torch.autograd.grad(_expected_target_loss(mdp, q, q_bar, behaviour, n, weights), q)
        return float(g.abs().max()) / _scale(target)

    one = emdp.boltzmann_backup(mdp, q_bar)
    worst = max(
        grad_at(one, on, 1),
        grad_at(one, _random_policy(3, 3, 2), 1),
        grad_at(emdp.nstep_boltzmann_backup(mdp, q_bar, 2), on, 2),
    )
    control = min(
        grad_at(emdp.boltzmann_backup(mdp, one), on, 1),
        grad_at(emdp.nstep_boltzmann_backup(mdp, q_bar, 2), _random_policy(3, 3, 2), 2),
    )
    if worst > REL_TOL:
        return failed("the minimiser of (44) is not the backup", f"gradient {worst:.3g} at the backup")
    # the gradient at (s, a) carries the weight w(s, a): a relative miss of GAP shows as ≥ GAP·min w
    control_threshold = GAP * float(weights.min())
    if control < control_threshold:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "the expected loss (44) (every path enumerated) has zero gradient in a tabular Q exactly at Q = TQ̄ "
        "(1-step; two behaviour policies) and at Q = T_{π^B_Q̄,2}Q̄ (2-step, a_{t+1} ∼ π^B_Q̄), to 1e-10",
        negative_control=f"at T(TQ̄), or at T_{{π^B,2}}Q̄ with another behaviour: gradient ≥ {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=control_threshold,
    )


@check("text3_6_fit_v_iteratively", kind="numeric", equations=(34, 53))
def text3_6_fit_v_iteratively() -> CheckResult:
    """§3.6: V fitted by iterating V ← T^n_π V approximates the entropy-augmented return V_π."""
    mdp = random_mdp(53, S=4, A=2, gamma=0.7, tau=0.3)
    pol = _random_policy(53, 4, 2)
    v_pi = emdp.evaluate_policy(mdp, pol)[0]
    v = torch.zeros(4, dtype=DT)
    plain = torch.zeros(4, dtype=DT)
    r_pi = (pol * mdp.rewards).sum(-1)
    p_pi = emdp.policy_transition_matrix(mdp, pol)
    for _ in range(40):  # γ^{3·40} = 0.7^120 ≈ 2.5e-19
        v = emdp.nstep_policy_backup_v(mdp, pol, v, 3)
        for _ in range(3):
            plain = r_pi + mdp.gamma * p_pi @ plain  # the backup without the KL terms
    gap = rel_gap(v, v_pi)
    control = rel_gap(plain, v_pi)
    if gap > REL_TOL:
        return failed("V ← T^n_π V does not converge to V_π", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "40 iterations of V ← T^3_π V (γ = 0.7) from V = 0 reach V_π = (I − γP_π)⁻¹(r_π − τKL) to 1e-10",
        negative_control=f"the same iteration without KL terms converges elsewhere: gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


def _g_gamma(gamma: float, logits: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    mdp = layered_mdp(51, layers=3, width=2, A=2, gamma=gamma, tau=0.3)
    log_pi = torch.log_softmax(logits, -1)
    weights = emdp.state_visitation(mdp, log_pi.detach().exp(), initial, discount=1.0)
    (g,) = torch.autograd.grad(emdp.policy_gradient_surrogate(mdp, log_pi, weights), logits)
    return g


@check("text3_6_g_gamma_approximates_g1", kind="numeric", equations=(49, 50, 51))
def text3_6_g_gamma_approximates_g1() -> CheckResult:
    """§3.6: 'g_γ(π_θ) is an approximation of the undiscounted policy gradient g_1(π_θ)' — it tends to g_1 as γ → 1."""  # noqa: E501 (the docstring's first line is the check's title)
    logits = _t(np.random.default_rng(51).normal(size=(7, 2))).requires_grad_()
    initial = _t([0.6, 0.4, 0, 0, 0, 0, 0])
    mdp1 = layered_mdp(51, layers=3, width=2, A=2, gamma=1.0, tau=0.3)
    (g1,) = torch.autograd.grad(
        emdp.finite_horizon_objective(mdp1, torch.softmax(logits, -1), initial, 3), logits
    )
    gaps = {gamma: rel_gap(_g_gamma(gamma, logits, initial), g1) for gamma in (0.5, 0.9, 0.99, 1.0)}
    decreasing = gaps[0.5] > gaps[0.9] > gaps[0.99]
    if gaps[1.0] > REL_TOL or not decreasing:
        return failed("g_γ does not approach g_1", f"gaps {gaps}")
    if gaps[0.5] < GAP:
        raise ArithmeticError("negative control not refuted: g_0.5 already equals g_1")
    return passed(
        f"on a 3-step episodic MDP ‖g_γ − g_1‖ (relative) = {gaps[0.5]:.3g}, {gaps[0.9]:.3g}, "
        f"{gaps[0.99]:.3g} at γ = 0.5, 0.9, 0.99 and < 1e-10 at γ = 1 (the 'lower variance' half is not "
        "quantified in the text: not checked)",
        negative_control=f"g_γ ≠ g_1 at γ = 0.5: gap {gaps[0.5]:.3g}",
        negative_control_gap=gaps[0.5],
        negative_control_threshold=GAP,
    )


def _kl_np(policy: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return (policy * (np.log(policy) - np.log(ref))).sum(-1)


def _scg_gradients(printed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    mdp = layered_mdp(60, layers=3, width=2, A=2, gamma=1.0, tau=0.3)
    logits = _t(np.random.default_rng(60).normal(size=(7, 2))).requires_grad_()
    initial = np.array([0.5, 0.5, 0, 0, 0, 0, 0])
    R_ = mdp.rewards.numpy()
    ref = mdp.ref_probs.numpy()

    def weight(path, t, policy):
        kl = _kl_np(policy, ref)
        steps = [R_[s, a] - mdp.tau * kl[s] for s, a in zip(path.states, path.actions)]
        if printed:  # Σ_{d=t}^{T−1} (r_{t+d} − τKL_{t+d}) read literally; terms past the episode are 0
            return sum(steps[t + d] for d in range(t, len(steps)) if t + d < len(steps))
        return sum(steps[d] for d in range(t, len(steps)))  # Σ_{d=t}^{T−1} (r_d − τKL_d)

    estimate = estimator_gradient(mdp, logits, initial, 3, weight)
    (g1,) = torch.autograd.grad(
        emdp.finite_horizon_objective(mdp, torch.softmax(logits, -1), _t(initial), 3), logits
    )
    return estimate, g1


@check("text3_6_scg_terms_printed", kind="numeric", equations=(51,))
def text3_6_scg_terms_printed() -> CheckResult:
    """§3.6 figure text: the score terms ∇log π_θ(a_t|s_t) Σ_{t=d}^{T−1}(r_{t+d} − τKL_{t+d}), printed indices."""  # noqa: E501 (the docstring's first line is the check's title)
    estimate, g1 = _scg_gradients(printed=True)
    gap = rel_gap(estimate, g1)
    if gap > REL_TOL:
        return failed(
            "the printed index range gives a biased estimator of (51)",
            f"3-step episodic MDP (γ = 1, τ = 0.3): E[Σ_t ∇log π(a_t|s_t) Σ_{{d=t}}^{{T−1}}(r_{{t+d}} − "
            f"τKL_{{t+d}}) − τ∇KL_t] differs from ∇E[Σ_t (r_t − τKL_t)] by {gap:.3g} (relative)",
            gap=gap,
        )
    return passed("printed index range unbiased", gap=gap)


@check("text3_6_scg_terms_corrected", kind="numeric", equations=(51,))
def text3_6_scg_terms_corrected() -> CheckResult:
    """Corrected: ∇log π_θ(a_t|s_t) Σ_{d=t}^{T−1}(r_d − τKL_d) (plus the −τ∇KL_t edges) is unbiased for (51)."""  # noqa: E501 (the docstring's first line is the check's title)
    estimate, g1 = _scg_gradients(printed=False)
    gap = rel_gap(estimate, g1)
    control = rel_gap(_scg_gradients(printed=True)[0], g1)  # the printed indices, as the control
    if gap > REL_TOL:
        return failed("corrected SCG estimator biased", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "E[Σ_t ∇log π(a_t|s_t) Σ_{d=t}^{T−1}(r_d − τKL_d) − τ∇KL_t] = ∇E[Σ_t (r_t − τKL_t)] to 1e-10 (every "
        "path of a 3-step episodic MDP; the d = t term −τKL_t has zero mean against the score)",
        negative_control=f"the printed indices r_{{t+d}}, d ≥ t: gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


# --------------------------------------------------------------------------- §4


class _Mlp(torch.nn.Module):
    """Q_θ(s,a) = MLP(one-hot s ⊕ one-hot a): a shared, non-tabular, nonlinear parameterisation."""

    def __init__(self, S: int, A: int, seed: int):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w1 = torch.nn.Parameter(torch.randn(S + A, 5, generator=gen, dtype=DT))
        self.b1 = torch.nn.Parameter(torch.randn(5, generator=gen, dtype=DT))
        self.w2 = torch.nn.Parameter(torch.randn(5, generator=gen, dtype=DT))
        eye_s, eye_a = torch.eye(S, dtype=DT), torch.eye(A, dtype=DT)
        self.features = torch.cat(
            [eye_s[:, None, :].expand(S, A, S), eye_a[None, :, :].expand(S, A, A)], dim=-1
        )  # [S, A, S+A]

    def forward(self) -> torch.Tensor:
        return torch.tanh(self.features @ self.w1 + self.b1) @ self.w2


def _mlp_gradients(value_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    mdp = random_mdp(57, S=3, A=3, gamma=0.85, tau=0.3)
    net = _Mlp(3, 3, seed=57)
    weights = _t(np.random.default_rng(57).dirichlet(np.ones(3)))
    params = list(net.parameters())
    g_q = torch.autograd.grad(eexp.mdp_soft_q_loss(mdp, net(), weights, 2), params)
    q = net()
    log_pi = equiv.boltzmann_log_policy(q, mdp.tau, mdp.ref_probs)
    values = equiv.soft_value(q, mdp.tau, mdp.ref_probs)
    a2c = eexp.mdp_a2c_loss(mdp, log_pi, values, weights, 2, value_coef=value_coef)
    g_pg = torch.autograd.grad(mdp.tau * a2c, params)
    return torch.cat([g.flatten() for g in g_q]), torch.cat([g.flatten() for g in g_pg])


@check("text4_any_parameterization", kind="numeric", equations=(59, 65))
def text4_any_parameterization() -> CheckResult:
    """§4: 'We will not make any assumption about the parameterization of the Q-function' — (65) for an MLP Q_θ."""  # noqa: E501 (the docstring's first line is the check's title)
    g_q, g_pg = _mlp_gradients(1.0 / 0.3)
    gap = rel_gap(g_q, g_pg)
    control = rel_gap(g_q, _mlp_gradients(0.5)[1])
    if gap > REL_TOL:
        return failed("(65) fails for a nonlinear Q_θ", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "for Q_θ a tanh MLP of (s, a) (45 shared parameters, 3 × 3 MDP, n = 2) E[∇ soft-Q loss] = "
        "τ∇E[L_policy + τ⁻¹L_value] to 1e-10 (exact expectations)",
        negative_control=f"value coefficient 0.5 instead of 1/τ: gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


def _one_step_gradients(through_distribution: bool, through_target: bool):
    """∇ of E_{s∼w, a∼π, s'}[½(Q(s,a) − y)²], y = r + γV(s'), with the chosen dependences on Q kept."""
    mdp = random_mdp(60, S=3, A=2, gamma=0.9, tau=0.3)
    rng = np.random.default_rng(60)
    q = _t(rng.normal(size=(3, 2))).requires_grad_()
    w = _t(rng.dirichlet(np.ones(3)))
    qd = q if through_target else q.detach()
    pol = emdp.boltzmann_policy_of(mdp, q if through_distribution else q.detach())
    y = mdp.rewards[:, :, None] + mdp.gamma * equiv.soft_value(qd, mdp.tau, mdp.ref_probs)[None, None, :]
    loss = (w[:, None, None] * pol[:, :, None] * mdp.transitions * 0.5 * (q[:, :, None] - y) ** 2).sum()
    (g,) = torch.autograd.grad(loss, q)
    # Eq. (60) written out: E[∇Q (Q − y)] with a ∼ π and y fixed (∇ wrt tabular Q(s,a) is an indicator)
    pd = pol.detach()
    target = mdp.rewards + mdp.gamma * mdp.transitions @ equiv.soft_value(q.detach(), mdp.tau, mdp.ref_probs)
    eq60 = w[:, None] * pd * (q.detach() - target)
    return g, eq60


@check("text4_fixed_distribution", kind="numeric", equations=(59, 60))
def text4_fixed_distribution() -> CheckResult:
    """§4 (59)→(60): 'swap gradient and expectation, treating state-action distribution as fixed' is needed."""  # noqa: E501 (the docstring's first line is the check's title)
    g, eq60 = _one_step_gradients(through_distribution=False, through_target=False)
    gap = rel_gap(g, eq60)
    g_full, _ = _one_step_gradients(through_distribution=True, through_target=False)
    control = rel_gap(g_full, eq60)
    if gap > REL_TOL:
        return failed("(59)→(60) with the distribution fixed", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "with a_t ∼ π held fixed, ∇E[½(Q − y)²] = E[∇Q (Q − y)] (60) to 1e-10 (1-step target, 3 × 2 MDP, "
        "enumerated)",
        negative_control=f"differentiating through a_t ∼ π_θ as well: gap {control:.3g} — the swap needs the "
        "distribution fixed, as stated",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("text4_target_held_fixed", kind="numeric", equations=(46, 60, 61))
def text4_target_held_fixed() -> CheckResult:
    """§4 (60)-(61): the gradient does not flow through y_t, although (61) writes y_t with V_θ (silent assumption)."""  # noqa: E501 (the docstring's first line is the check's title)
    g, eq60 = _one_step_gradients(through_distribution=False, through_target=False)
    gap = rel_gap(g, eq60)
    g_through, _ = _one_step_gradients(through_distribution=False, through_target=True)
    control = rel_gap(g_through, eq60)
    if gap > REL_TOL:
        return failed("(60) with a fixed target", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "(60) is the gradient with y_t held fixed (a target, as Q̄ in §3.5) to 1e-10",
        negative_control=f"letting ∇ flow through y_t = r_t + γV_θ(s_{{t+1}}): gap {control:.3g} — (60)-(65) "
        "need the target held fixed (stop-gradient), which the text does not say",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


# --------------------------------------------------------------------------- §5


@check("text5_fisher_least_squares", kind="numeric", equations=(66,))
def text5_fisher_least_squares() -> CheckResult:
    """§5: E[ΨᵀΨ] is F and E[ΨᵀΔ] is g (per timestep; the factor T cancels), so w estimates εF⁻¹g."""
    rng = np.random.default_rng(66)
    S, A, K, eps = 3, 3, 3, 0.1
    phi = _t(rng.normal(size=(S, A, K)))
    theta = _t(rng.normal(size=K))
    d = _t(rng.dirichlet(np.ones(S)))
    adv = _t(rng.normal(size=(S, A)))
    pi = torch.softmax(phi @ theta, -1)
    psi = phi - (pi[:, :, None] * phi).sum(1, keepdim=True)  # ∇_θ log π(a|s) for a linear softmax policy
    joint = (d[:, None] * pi).flatten()  # (s, a) ∼ d × π, one row of Ψ
    rows, deltas = psi.reshape(S * A, K), adv.flatten()
    F = (joint[:, None, None] * rows[:, :, None] * rows[:, None, :]).sum(0)
    g = (joint[:, None] * rows * deltas[:, None]).sum(0)
    T = 2
    EtPsi = torch.zeros(K, K, dtype=DT)
    EtDelta = torch.zeros(K, dtype=DT)
    for i, j in itertools.product(range(S * A), repeat=T):  # every batch of T = 2 rows
        Psi = torch.stack([rows[i], rows[j]])
        p = joint[i] * joint[j]
        EtPsi += p * Psi.T @ Psi
        EtDelta += p * Psi.T @ torch.stack([deltas[i], deltas[j]])
    w_pop = eps * torch.linalg.solve(EtPsi, EtDelta)
    natural = eps * torch.linalg.solve(F, g)
    gap = max(rel_gap(EtPsi, T * F), rel_gap(EtDelta, T * g), rel_gap(w_pop, natural))
    control = rel_gap(natural / natural.norm(), g / g.norm())
    if gap > REL_TOL:
        return failed("E[ΨᵀΨ], E[ΨᵀΔ]", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "with T = 2 rows (s_t, a_t) ∼ d × π (all batches enumerated), E[ΨᵀΨ] = T·F, E[ΨᵀΔ] = T·g and "
        "ε(E[ΨᵀΨ])⁻¹E[ΨᵀΔ] = εF⁻¹g to 1e-10: 'E[ΨᵀΨ] is F' holds per timestep (F the average Fisher matrix)",
        negative_control=f"the natural direction F⁻¹g differs from the plain gradient g: gap {control:.3g}",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )


@check("text5_value_change_breaks", kind="symbolic", equations=(72, 73))
def text5_value_change_breaks() -> CheckResult:
    """§5: 'Otherwise [V_θ ≠ V_θold] the equivalence will not hold': (72) = (73) needs V_θ = V_θold."""
    tau = sp.Symbol("tau", positive=True)
    v_old, log_ratio, kl_old, delta, u = sp.symbols("V_old ell KL_old Delta u", real=True)
    residual = lambda v_theta: (v_theta + tau * log_ratio) - (v_old + tau * kl_old + delta)
    eq73 = sp.Rational(1, 2) * (tau * log_ratio - (delta + tau * kl_old)) ** 2
    witness = Witness(
        {
            tau: sp.Rational(2, 5),
            v_old: sp.Rational(1, 3),
            log_ratio: sp.Rational(-1, 2),
            kl_old: sp.Rational(1, 7),
            delta: sp.Rational(3, 4),
            u: sp.Rational(1, 5),
        },
        "τ = 2/5, V_old = 1/3, log(π_θ/π̄) = −1/2, KL_old = 1/7, Δ = 3/4, V_θ − V_old = 1/5",
    )
    return decide(
        sp.Rational(1, 2) * residual(v_old) ** 2,
        eq73,
        witness,
        statement="(72) with V_θ = V_θold = (73)",
        wrong=(sp.Rational(1, 2) * residual(v_old + u) ** 2, eq73),
        wrong_label="(72) with V_θ = V_θold + u (the value function moved)",
    )


def _lsq(Psi: np.ndarray, target: np.ndarray, intercept: bool) -> np.ndarray:
    X = np.hstack([Psi, np.ones((len(Psi), 1))]) if intercept else Psi
    sol = np.linalg.solve(X.T @ X, X.T @ target)
    return sol[: Psi.shape[1]]


@check("text5_value_absorbs_advantage", kind="numeric", equations=(66, 72))
def text5_value_absorbs_advantage() -> CheckResult:
    """§5: 'the value function will try to explain the measured advantage Δ, shrinking the advantage update'."""  # noqa: E501 (the docstring's first line is the check's title)
    rng = np.random.default_rng(72)
    Psi = rng.normal(size=(6, 2))
    adv = rng.normal(size=6)
    offset = 0.7 * np.ones(6)
    eps = 0.1
    fixed = lambda t: _lsq(Psi, eps * t, intercept=False)
    joint = lambda t: _lsq(Psi, eps * t, intercept=True)
    absorbed = float(np.abs(joint(adv + offset) - joint(adv)).max())
    pure_offset = float(np.abs(joint(offset)).max())
    moved = float(np.abs(fixed(adv + offset) - fixed(adv)).max())
    # the reading's limit: without a common offset the policy part need not shrink (ψ = (1, 0), Δ = (1, −1))
    grow = float(
        abs(_lsq(np.array([[1.0], [0.0]]), np.array([1.0, -1.0]), True)[0])
        / abs(_lsq(np.array([[1.0], [0.0]]), np.array([1.0, -1.0]), False)[0])
    )
    if absorbed > 1e-12 or pure_offset > 1e-12:
        return failed("the value fit does not absorb the common part of Δ", f"change {absorbed:.3g}")
    if moved < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "in the linearised regression with a value offset fitted jointly, the policy step w is unchanged by "
        "a common offset in Δ (and is 0 for a pure offset) to 1e-12 — the value function explains that part "
        "of Δ",
        negative_control=f"with V held fixed (66) the offset moves w by {moved:.3g}; but 'shrinking' is not "
        f"general: for ψ = (1, 0), Δ = (1, −1) the joint fit's |w| is {grow:.3g}× the fixed-V one",
        negative_control_gap=moved,
        # absolute, in units of w (compared with GAP above): w = ε·(lstsq coefficients), ε = 0.1, offset 0.7,
        # so an unmoved w would differ by float noise ~1e-16, not 1e-4
        negative_control_threshold=GAP,
        growth_counterexample=grow,
    )


# --------------------------------------------------------------------------- §6


def _episodic_mdp(shift: float) -> FiniteMDP:
    """3 live states + 1 terminal; each action ends the episode with its own probability; rewards + shift."""
    rng = np.random.default_rng(81)
    S, A = 4, 3
    P = np.zeros((S, A, S))
    stop = rng.uniform(0.1, 0.8, size=(3, A))
    for s in range(3):
        for a in range(A):
            P[s, a, :3] = (1 - stop[s, a]) * rng.dirichlet(np.ones(3))
            P[s, a, 3] = stop[s, a]
    P[3, :, 3] = 1.0
    R = rng.normal(0, 0.3, size=(S, A)) + shift
    R[3] = 0.0
    terminal = torch.tensor([False, False, False, True])
    return FiniteMDP(_t(P), _t(R), gamma=0.95, tau=0.1, terminal=terminal)


@check("text6_2_constant_longer_episodes", kind="numeric", equations=(82, 83))
def text6_2_constant_longer_episodes() -> CheckResult:
    """§6.2: 'a positive constant added to the reward encourages longer episodes' (optimal soft policy)."""
    initial = _t([1 / 3, 1 / 3, 1 / 3, 0])
    lengths = {}
    for shift in (-0.3, 0.0, 0.3):
        mdp = _episodic_mdp(shift)
        _, pi_star = _optimal(mdp)
        lengths[shift] = float(emdp.state_visitation(mdp, pi_star, initial, discount=1.0).sum())
    longer = lengths[0.3] - lengths[0.0]
    shorter = lengths[0.0] - lengths[-0.3]
    if longer < GAP:
        return failed(
            "a positive reward constant does not lengthen episodes",
            f"expected episode length {lengths[0.0]:.6g} → {lengths[0.3]:.6g} with +0.3 per step",
        )
    if shorter < GAP:
        raise ArithmeticError("negative control not refuted: a negative constant does not shorten episodes")
    return passed(
        f"on an episodic MDP (each action ends the episode w.p. 0.1-0.8; γ = 0.95, τ = 0.1) the optimal soft "
        f"policy's expected episode length is {lengths[0.0]:.4g} steps, {lengths[0.3]:.4g} with +0.3 per "
        "step (one instance: an illustration of 'encourages', not a theorem)",
        negative_control=f"a negative constant −0.3 shortens it to {lengths[-0.3]:.4g}",
        negative_control_gap=shorter,
        # absolute, in steps of expected episode length (as for `longer` above): lengths are ~2-3 steps,
        # computed by a linear solve, so 1e-4 steps is far above their float noise
        negative_control_threshold=GAP,
    )


@check("text6_estimators_differ_per_sample", kind="numeric", equations=(64, 65))
def text6_estimators_differ_per_sample() -> CheckResult:
    """§6: the equivalence 'is established in expectation, however, the actual gradient estimators are slightly
    different due to sampling' — per sample the soft-Q and A2C gradients differ, on average over a ∼ π_θ they agree."""  # noqa: E501 (the docstring's first line is the check's title)
    rng = np.random.default_rng(64)
    q = _t(rng.normal(size=3)).requires_grad_()
    ref, tau = _t([0.2, 0.5, 0.3]), 0.4
    delta = _t(rng.normal(size=3))  # one sampled n-step advantage Δ_t per action a_t
    log_pi = equiv.boltzmann_log_policy(q, tau, ref)
    v = equiv.soft_value(q, tau, ref)
    kl = equiv.kl_divergence(log_pi, ref)
    per_sample = []
    for a in range(3):
        y = (v + tau * kl + delta[a]).detach()  # (47) with Q̄ = Q_θ, held fixed
        (g_q,) = torch.autograd.grad(0.5 * (q[a] - y) ** 2, q, retain_graph=True)
        a2c = tau * (-log_pi[a] * delta[a] + tau * kl) + 0.5 * (v - (v.detach() + delta[a])) ** 2
        (g_pg,) = torch.autograd.grad(a2c, q, retain_graph=True)
        per_sample.append(g_q - g_pg)
    diffs = torch.stack(per_sample)
    pi = log_pi.detach().exp()
    mean_gap = float((pi[:, None] * diffs).sum(0).abs().max()) / _scale(diffs)
    sample_gap = float(diffs.abs().max())
    if mean_gap > REL_TOL:
        return failed("the estimators differ in expectation", f"E_π[difference] = {mean_gap:.3g} (relative)")
    if sample_gap < GAP:
        raise ArithmeticError("negative control not refuted: the single-sample gradients coincide")
    return passed(
        "one state, k = 3, τ = 0.4: the single-sample soft-Q gradient ∇½(Q_θ(a) − y)² and τ∇(L_policy + "
        "τ⁻¹L_value) differ by the (∗), (∗∗) terms of (64), whose π_θ-average is 0 to 1e-10",
        negative_control=f"'the same per sample' is refuted: the gradients differ by up to {sample_gap:.3g}",
        negative_control_gap=sample_gap,
        # absolute, in gradient units of Q (compared with GAP above): |q| ~ 1 and _scale(diffs) ≈ 1.2 here,
        # so absolute and relative differ by < 20 % and 1e-4 is far above float64 noise
        negative_control_threshold=GAP,
    )


@check("text6_2_constant_big_difference_pending", kind="empirical", equations=(82, 83))
def text6_2_constant_big_difference_pending() -> CheckResult:
    """§6.2: 'this constant made a big difference in the experiments' (dqn-soft-ent vs dqn-soft-kl)."""
    return pending(
        "needs a difference test of dqn-soft-ent vs dqn-soft-kl on the Fig. 2 games (atari_check GPU scale); "
        "no such comparison is committed, and none is registered in proofs/empirical.py yet"
    )


@check("text6_2_nstep_pattern_pending", kind="empirical", equations=(81,))
def text6_2_nstep_pattern_pending() -> CheckResult:
    """§6.2: 5-step Q-learning 'is better on Pong and Q-bert but worse on other games'."""
    return pending(
        "needs per-game directional comparisons of 5-step (atari_check's dqn with dqn_nstep = 5, label "
        "dqn-n5) vs 1-step DQN on the Fig. 2 games; no such comparison is committed and proofs/empirical.py "
        "has no directional per-game test for it yet"
    )


# --------------------------------------------------------------------------- §7


@check("text7_true_advantage_zero_mean", kind="numeric", equations=(26, 87))
def text7_true_advantage_zero_mean() -> CheckResult:
    """§7: 'the true advantage function satisfies E_π[A_π] = 0' — for the unregularised A_π; with (24)-(26) it is τKL."""  # noqa: E501 (the docstring's first line is the check's title)
    mdp = random_mdp(87, S=3, A=3, gamma=0.9, tau=0.3)
    pol = _random_policy(87, 3, 3)
    p_pi = emdp.policy_transition_matrix(mdp, pol)
    v_plain = torch.linalg.solve(torch.eye(3, dtype=DT) - mdp.gamma * p_pi, (pol * mdp.rewards).sum(-1))
    q_plain = mdp.rewards + mdp.gamma * mdp.transitions @ v_plain
    mean_plain = float((pol * (q_plain - v_plain[:, None])).sum(-1).abs().max()) / _scale(q_plain)
    v_reg, q_reg = emdp.evaluate_policy(mdp, pol)
    kl = emdp.policy_kl(mdp, pol)
    mean_reg = (pol * (q_reg - v_reg[:, None])).sum(-1)
    reg_gap = rel_gap(mean_reg, mdp.tau * kl)
    control = float(mean_reg.abs().max())
    if mean_plain > REL_TOL or reg_gap > REL_TOL:
        return failed(
            "advantage means", f"unregularised mean {mean_plain:.3g}; regularised − τKL {reg_gap:.3g}"
        )
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "E_π[Q_π − V_π] = 0 to 1e-10 for the unregularised values; with this paper's (24)-(26) E_π[A_π](s) = "
        "τKL(s) to 1e-10",
        negative_control=f"the regularised advantage does not have mean 0: up to {control:.3g}",
        negative_control_gap=control,
        # absolute, in V units (= max τKL(s), compared with GAP above): |Q_π| ≤ 2.9 here, so
        # 1e-4 ≫ REL_TOL·|Q_π|
        negative_control_threshold=GAP,
    )


@check("text7_consistency_any_actions", kind="numeric", equations=(88,))
def text7_consistency_any_actions() -> CheckResult:
    """§7: (88) 'holds even if the actions were sampled from a different (suboptimal) policy' (deterministic P)."""  # noqa: E501 (the docstring's first line is the check's title)
    n = 3

    def worst_gap(mdp):
        pol = _random_policy(88, 3, 2)
        v, q = emdp.evaluate_policy(mdp, pol)
        adv = (q - v[:, None]).numpy()
        vn, R_, P = v.numpy(), mdp.rewards.numpy(), mdp.transitions.numpy()
        worst = 0.0
        for s0 in range(3):
            for actions in itertools.product(range(2), repeat=n):
                s, lhs, ret = s0, 0.0, 0.0
                for t, a in enumerate(actions):
                    lhs += mdp.gamma**t * adv[s, a]
                    ret += mdp.gamma**t * R_[s, a]
                    s = int(P[s, a].argmax())  # the successor (the most likely one under stochastic P)
                worst = max(worst, abs(lhs - (ret + mdp.gamma**n * vn[s] - vn[s0])) / max(1.0, abs(lhs)))
        return worst

    gap = worst_gap(deterministic_mdp(88, S=3, A=2))
    control = worst_gap(random_mdp(88, S=3, A=2))
    if gap > REL_TOL:
        return failed("(88) along arbitrary action sequences", f"relative gap {gap:.3g}")
    if control < GAP:
        raise ArithmeticError("negative control not refuted")
    return passed(
        "for V_π, Q_π of a fixed non-optimal π, (88) holds to 1e-10 along every one of the 2³ action "
        "sequences from every state (any behaviour), deterministic dynamics",
        negative_control=f"with stochastic dynamics the pathwise identity fails by {control:.3g}: the "
        "deterministic assumption is needed",
        negative_control_gap=control,
        negative_control_threshold=GAP,
    )
