"""The exact evaluators at the edges: τ from 1e-4, |Q| and |R| up to 1e4, π̄ with tiny or zero entries,
non-Boltzmann and deterministic policies, γ = 0 and γ = 1, absorbing states, a single action (issue 10 §3).

Reference: every quantity is recomputed here at 40 significant digits with mpmath, straight from the
definitions (P, R, π̄, γ, τ; no equiv code), on the very float64 inputs the library gets (a float64 is
an exact mpf), so the reference is the exact value of the function at those inputs.  Where τ → 0 the
hard-max limit is a second, independent reference with a proven gap (τ·log(1/π̄(a*)) per soft value).

Tolerances.  eps = 2.2e-16.  M is the size of what a function adds up (|R|∞ + |Q|∞ + τ·(max |log π̄| on
π̄'s support + log A), times the number of backups it chains).  A float64 evaluation of S, A ≤ 4 terms
per sum and one logsumexp of ≤ 4 terms per soft value commits ≤ ~10 roundings of size eps·M per output;
we allow 64·eps·M (≥ 6× headroom; the measured worst case is quoted per test).  Linear solves multiply
this by the ∞-norm condition number of the system, computed exactly here.  A Boltzmann policy at
temperature τ is itself ill-conditioned: its logits (Q − m)/τ carry an absolute error of eps·|Q − m|/τ,
which matters only for actions within ~40τ of the max (the others have probability < e^-40), so its
relative error is ≤ 64·eps·(1 + 40) — the library subtracts before it divides (see the regression
test below; dividing first allowed errors up to eps·|Q|/τ ≈ 2e-8, measured 5.1e-9).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mpmath import mp, mpf

from equiv import boltzmann_log_policy
from equiv.expected import (
    bandit_soft_q_loss,
    mdp_a2c_loss,
    mdp_expected_advantage,
    mdp_matched_soft_q_loss,
    mdp_soft_q_loss,
)
from equiv.mdp import (
    FiniteMDP,
    boltzmann_backup,
    evaluate_policy,
    expected_nstep_return,
    lambda_boltzmann_backup,
    nstep_boltzmann_backup,
    policy_kl,
    soft_value_iteration,
    state_visitation,
)
from tests.strategies import (
    POLICY_KINDS,
    edge_mdps,
    edge_policy,
    edge_q,
    edge_scales,
    note_regimes,
    profile_examples,
    raises_matching,
    seeds,
    small_terminal_mdp,
)

EPS = float(torch.finfo(torch.float64).eps)
ROUNDINGS = 64  # allowed roundings of size eps·M per output (see the module docstring)
# A linear solve by LU with partial pivoting of an S×S system (S ≤ 4) has a backward error ≤ γ_{3S}·ρ·|A|
# (Higham, Thm 9.4; γ_12 ≈ 12 eps, growth factor ρ ≤ 2^{S−1} = 8), so ≤ ~96 eps before the right-hand
# side's own rounding: allow 256 eps·cond·size (measured worst over 60 ci-style draws: 24 eps·cond·size).
SOLVE_ROUNDINGS = 256
DIGITS = 40
FEW = settings(max_examples=profile_examples(1 / 10, minimum=5))  # 6 in ci, 100 in thorough

# The corner τ = 1e-4, |Q| = |R| = 1e4, with near ties (seed 5 of edge_q): drawn explicitly into the n-step,
# λ and loss properties, where dividing Q by τ before subtracting (the old boltzmann_log_policy) erred by
# 1.2e-5 against a tolerance of 6e-8 (measured, n = 3).
CORNER = small_terminal_mdp(tau=1e-4, scale=1e4)
CORNER_SEED = 5

# --- The reference, in mpmath (no equiv code) -----------------------------------------------------------


def mp_list(x: torch.Tensor):
    """A float tensor as nested lists of exact mpf."""
    return [mp_list(row) for row in x] if x.dim() else mpf(float(x))


class Exact:
    """The MDP as exact mpf lists: P[s][a][s'], R[s][a], π̄[s][a], terminal[s], γ, τ."""

    def __init__(self, mdp: FiniteMDP):
        self.P = mp_list(mdp.transitions.double())
        self.R = mp_list(mdp.rewards.double())
        self.ref = mp_list(mdp.ref_probs.double())
        self.terminal = mdp.terminal_mask.tolist()
        self.gamma, self.tau = mpf(mdp.gamma), mpf(mdp.tau)
        self.S, self.A = mdp.num_states, mdp.num_actions

    def soft_value(self, q_row, s):
        """τ log Σ_a π̄(a|s) exp(Q(s,a)/τ), Eq. (29)."""
        terms = [(q / self.tau) + mp.log(p) for q, p in zip(q_row, self.ref[s]) if p > 0]
        m = max(terms)
        return self.tau * (m + mp.log(sum(mp.exp(t - m) for t in terms)))

    def boltzmann(self, Q):
        """π^B_Q(a|s) = π̄(a|s) exp((Q(s,a) − V_Q(s))/τ), Eq. (28)."""
        out = []
        for s in range(self.S):
            v = self.soft_value(Q[s], s)
            out.append([p * mp.exp((q - v) / self.tau) if p > 0 else mpf(0) for q, p in zip(Q[s], self.ref[s])])
        return out

    def kl(self, pi):
        """KL(s) = Σ_a π log(π/π̄) with 0 log 0 = 0; 0 at terminal states."""
        return [
            mpf(0) if self.terminal[s] else sum(p * mp.log(p / r) for p, r in zip(pi[s], self.ref[s]) if p > 0)
            for s in range(self.S)
        ]

    def expect_next(self, s, a, v):
        """E[v(s') · 1{s' non-terminal} | s, a]."""
        return sum(self.P[s][a][t] * v[t] for t in range(self.S) if not self.terminal[t])

    def backup_q(self, next_value):
        """R(s,a) + γ E[next_value(s')], 0 at terminal states."""
        return [
            [mpf(0) if self.terminal[s] else self.R[s][a] + self.gamma * self.expect_next(s, a, next_value)
             for a in range(self.A)]
            for s in range(self.S)
        ]

    def boltzmann_backup(self, Q):
        """[T Q](s,a) = R + γ E[V_Q(s')], Eqs. (38)-(39)."""
        return self.backup_q([self.soft_value(Q[s], s) for s in range(self.S)])

    def policy_backup_q(self, pi, Q):
        """[T_π Q](s,a) = R + γ E[E_{a'∼π} Q(s',a') − τ KL(s')], Eq. (33)."""
        kl = self.kl(pi)
        nxt = [sum(p * q for p, q in zip(pi[s], Q[s]) if p > 0) - self.tau * kl[s] for s in range(self.S)]
        return self.backup_q(nxt)

    def evaluate(self, pi):
        """V_π, Q_π by an exact solve of (I − γ P_π) V = r_π − τ KL, Eqs. (24)-(26); and cond_∞."""
        kl = self.kl(pi)
        system = mp.zeros(self.S, self.S)
        rhs = mp.zeros(self.S, 1)
        for s in range(self.S):
            system[s, s] = 1
            if self.terminal[s]:
                continue
            rhs[s] = sum(pi[s][a] * self.R[s][a] for a in range(self.A)) - self.tau * kl[s]
            for t in range(self.S):
                if not self.terminal[t]:
                    system[s, t] -= self.gamma * sum(pi[s][a] * self.P[s][a][t] for a in range(self.A))
        v = mp.lu_solve(system, rhs)
        v = [v[s] for s in range(self.S)]
        cond = mp.norm(system, p=mp.inf) * mp.norm(mp.inverse(system), p=mp.inf)
        return v, self.backup_q(v), float(cond)

    def nstep_return(self, mu, values, n, kl):
        """E[Σ_{d<n} γ^d (r − τ KL) + γ^n V(s_n) | s, a], actions after a_0 ∼ μ, stopping at terminal states."""
        w = list(values)
        for _ in range(n - 1):
            w = [
                mpf(0) if self.terminal[s] else sum(
                    mu[s][a] * (self.R[s][a] - self.tau * kl[s] + self.gamma * self.expect_next(s, a, w))
                    for a in range(self.A)
                )
                for s in range(self.S)
            ]
        return [
            [mpf(0) if self.terminal[s] else self.R[s][a] - self.tau * kl[s] + self.gamma * self.expect_next(s, a, w)
             for a in range(self.A)]
            for s in range(self.S)
        ]


def err_inf(actual: torch.Tensor, exact) -> float:
    """max |actual − exact| (in mpf, then float); equal infinities count as 0."""
    worst = 0.0
    for x, y in zip(actual.detach().double().flatten().tolist(), np.array(exact, dtype=object).flatten()):
        if math.isinf(x) and mp.isinf(y) and (x > 0) == (y > 0):
            continue
        worst = max(worst, float(abs(mpf(x) - y)))
    return worst


def magnitude(mdp: FiniteMDP, q: torch.Tensor | None = None) -> float:
    """|R|∞ + |Q|∞ + τ·(max |log π̄| on π̄'s support + log A): the size of the terms of one backup."""
    ref = mdp.ref_probs.double()
    log_ref = torch.where(ref > 0, ref.log().abs(), torch.zeros((), dtype=torch.float64))
    size = float(mdp.rewards.abs().max()) + mdp.tau * (float(log_ref.max()) + math.log(mdp.num_actions))
    return size + (0.0 if q is None else float(q.detach().abs().max()))


def hard_backup(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """R + γ E[max_{a ∈ supp π̄} Q(s',a)]: the τ → 0 limit of the Boltzmann backup, in numpy."""
    P, R = mdp.transitions.numpy(), mdp.rewards.numpy()
    live = ~mdp.terminal_mask.numpy()
    v = np.where(mdp.ref_probs.numpy() > 0, q.numpy(), -np.inf).max(-1) * live
    return torch.from_numpy((R + mdp.gamma * P @ v) * live[:, None])


def soft_gap_bound(mdp: FiniteMDP, q: torch.Tensor) -> float:
    """max_s τ log(1/π̄(a*_s|s)), a*_s = argmax of Q over π̄'s support: 0 ≤ max Q − V_Q ≤ this, by
    V_Q ≥ τ log(π̄(a*) exp(Q(a*)/τ)) and V_Q ≤ max_{supp} Q."""
    ref = mdp.ref_probs.double()
    a_star = torch.where(ref > 0, q, torch.full_like(q, -math.inf)).argmax(-1)
    return mdp.tau * float((-ref.gather(-1, a_star[:, None]).log()).max())


# --- The soft-value cancellation the library had (regression test for the fix) --------------------------


def test_boltzmann_log_policy_of_nearly_tied_actions_is_exact_to_rounding():
    """Q = (1e4, 1e4 − 1e-4, 1e4 − 3e-4) at τ = 1e-4: the logits differ by O(1), but Q/τ ≈ 1e8 carries an
    absolute rounding of ~7e-9, so dividing before subtracting (the old code) gave log π^B wrong by
    5.1e-9 (measured).  Subtracting the max first gives 1.7e-16; we allow 64·eps·(1 + 40) = 5.8e-13."""
    q = torch.tensor([1e4, 1e4 - 1e-4, 1e4 - 3e-4], dtype=torch.float64)
    tau = 1e-4
    with mp.workdps(DIGITS):
        qs = mp_list(q)
        m = max(qs)
        z = [mp.exp((x - m) / tau) for x in qs]
        exact = [mp.log(zi / sum(z)) for zi in z]
        err = err_inf(boltzmann_log_policy(q, tau), exact)
        naive = err_inf(torch.log_softmax(q / tau, -1), exact)  # negative control: the old formula
    bound = ROUNDINGS * EPS * 41
    assert err <= bound, err
    assert naive > 1e3 * bound, naive


# --- Backups ------------------------------------------------------------------------------------------


@FEW
@given(edge_mdps(), seeds, edge_scales)
def test_boltzmann_backup_matches_exact_evaluation(mdp, seed, q_scale):
    """T Q (Eqs. (38)-(39)) at τ ∈ [1e-4, 1e2], |Q|, |R| ≤ 1e4, π̄ uniform / tiny / with zeros, A ≥ 1:
    within 64·eps·M of the 40-digit value."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), q_scale)
    with mp.workdps(DIGITS):
        exact = Exact(mdp).boltzmann_backup(mp_list(q))
        err = err_inf(boltzmann_backup(mdp, q), exact)
    assert err <= ROUNDINGS * EPS * magnitude(mdp, q), (err, magnitude(mdp, q))


@FEW
@given(edge_mdps(tau=st.sampled_from([1e-4, 1e-3])), seeds, edge_scales)
def test_boltzmann_backup_tends_to_the_hard_backup_within_the_proven_gap(mdp, seed, q_scale):
    """τ → 0: 0 ≤ [T_hard Q − T Q](s,a) ≤ γ·max_s τ log(1/π̄(a*_s|s)) (τ log A for uniform π̄), up to
    64·eps·M of rounding.  The hard backup R + γ E[max Q] is computed in numpy, not by equiv."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), q_scale)
    gap = hard_backup(mdp, q) - boltzmann_backup(mdp, q)
    slack = ROUNDINGS * EPS * magnitude(mdp, q)
    assert float(gap.min()) >= -slack
    assert float(gap.max()) <= mdp.gamma * soft_gap_bound(mdp, q) + slack


def test_negative_control_hard_backup_is_not_the_soft_backup_at_moderate_tau():
    """The comparison with the exact value can fail: the hard backup in place of the soft one misses the
    40-digit T Q by ≥ 1e6 × the tolerance at τ = 1e-2, |Q| = 1e4 (the gap is ~γ τ log A)."""
    mdp = small_terminal_mdp(tau=1e-2, scale=1e4)
    q = edge_q(mdp, np.random.default_rng(3), 1e4)
    with mp.workdps(DIGITS):
        exact = Exact(mdp).boltzmann_backup(mp_list(q))
        wrong = err_inf(hard_backup(mdp, q), exact)
        right = err_inf(boltzmann_backup(mdp, q), exact)
    tol = ROUNDINGS * EPS * magnitude(mdp, q)
    assert right <= tol and wrong >= 1e6 * tol, (right, wrong, tol)


@FEW
@example(CORNER, CORNER_SEED, 1e4, 3)
@given(edge_mdps(), seeds, edge_scales, st.integers(1, 4))
def test_nstep_boltzmann_backup_matches_exact_evaluation(mdp, seed, q_scale, n):
    """T_{π^B_Q, n} Q (Eqs. (40)-(41)), the policy frozen at π^B_Q: within 64·eps·n·M·(1 + 40) of the
    40-digit value (the factor 41 is the conditioning of π^B_Q at temperature τ, module docstring)."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), q_scale)
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        Q = mp_list(q)
        pi = ex.boltzmann(Q)
        exact = Q
        for _ in range(n):
            exact = ex.policy_backup_q(pi, exact)
        err = err_inf(nstep_boltzmann_backup(mdp, q, n), exact)
    assert err <= ROUNDINGS * EPS * n * magnitude(mdp, q) * 41, (err, magnitude(mdp, q))


@FEW
@example(CORNER, CORNER_SEED, 1e4, 0.5)
@given(edge_mdps(gamma=st.sampled_from([0.0, 0.5, 0.9, 0.99])), seeds, edge_scales, st.floats(0.0, 0.8))
def test_lambda_boltzmann_backup_matches_the_exact_geometric_series(mdp, seed, q_scale, lam):
    """T_{π^B_Q, λ} Q (Eq. (42)) vs its definition (1 − λ) Σ_{n≥1} λ^{n−1} T_{π^B_Q, n} Q summed exactly
    (truncated where λ^N ≤ 1e-30, far below the tolerance) — a different route from the library's linear
    solve (43).  Tolerance 256·eps·cond·M·41/(1 − γλ): the solve's condition number (≤ (1+γλ)/(1−γλ); LU bound),
    the size of the λ-weighted sum, and π^B_Q's conditioning."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), q_scale)
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        Q = mp_list(q)
        pi = ex.boltzmann(Q)
        lam_mp = mpf(lam)
        total = [[mpf(0)] * mdp.num_actions for _ in range(mdp.num_states)]
        tq, weight = Q, 1 - lam_mp
        steps = 1 if lam == 0 else math.ceil(-30 / math.log10(lam)) + 1
        for _ in range(steps):
            tq = ex.policy_backup_q(pi, tq)
            total = [[t + weight * x for t, x in zip(rt, rx)] for rt, rx in zip(total, tq)]
            weight *= lam_mp
        err = err_inf(lambda_boltzmann_backup(mdp, q, lam), total)
    g_lam = mdp.gamma * lam
    cond = (1 + g_lam) / (1 - g_lam)
    assert err <= SOLVE_ROUNDINGS * EPS * cond * magnitude(mdp, q) * 41 / (1 - g_lam), (err, magnitude(mdp, q))


@FEW
@given(edge_mdps(gamma=st.just(1.0)), seeds, edge_scales)
def test_lambda_one_backup_at_gamma_one_is_exact_policy_evaluation(mdp, seed, q_scale):
    """λ = 1, γ = 1 (episodes end with probability ≥ 0.05 per step): T_{π^B_Q, 1} Q = Q_{π^B_Q}, checked
    against the exact solve; tolerance 256·eps·cond·(M + |Q_π|)·41 with cond computed exactly (LU bound)."""
    note_regimes(mdp)
    q = edge_q(mdp, np.random.default_rng(seed), q_scale)
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        _, q_pi, cond = ex.evaluate(ex.boltzmann(mp_list(q)))
        err = err_inf(lambda_boltzmann_backup(mdp, q, 1.0), q_pi)
        size = magnitude(mdp, q) + max(float(abs(x)) for row in q_pi for x in row)
    assert err <= SOLVE_ROUNDINGS * EPS * cond * size * 41, (err, cond, size)


# --- Policy evaluation and soft value iteration --------------------------------------------------------


@FEW
@given(edge_mdps(), seeds, st.sampled_from(POLICY_KINDS), edge_scales)
def test_policy_evaluation_matches_exact_solve_for_every_kind_of_policy(mdp, seed, kind, q_scale):
    """V_π, Q_π (Eqs. (24)-(26)) for Boltzmann, non-Boltzmann, one-hot and sparse policies, γ ∈ [0, 1],
    |R| ≤ 1e4, τ from 1e-4: within 256·eps·cond·(M + |V_π|∞) of the exact solve (cond exact; the LU bound
    of SOLVE_ROUNDINGS)."""
    note_regimes(mdp, kind)
    rng = np.random.default_rng(seed)
    policy = edge_policy(mdp, rng, kind, edge_q(mdp, rng, q_scale))
    v, q = evaluate_policy(mdp, policy)
    with mp.workdps(DIGITS):
        v_exact, q_exact, cond = Exact(mdp).evaluate(mp_list(policy))
        size = magnitude(mdp) + max(float(abs(x)) for x in v_exact)
        assert err_inf(v, v_exact) <= SOLVE_ROUNDINGS * EPS * cond * size
        assert err_inf(q, q_exact) <= SOLVE_ROUNDINGS * EPS * cond * size


@FEW
@given(edge_mdps(gamma=st.sampled_from([0.0, 0.5, 0.8])))
def test_soft_value_iteration_has_an_exact_bellman_residual_within_its_stopping_rule(mdp):
    """Q̂ = soft_value_iteration: the exact residual |T Q̂ − Q̂|∞ ≤ γ·tol·max(1, |Q̂|∞) + 64·eps·M (the
    stopping rule bounds the last change; one float64 backup adds ≤ 64·eps·M), and, as τ → 0 is
    approached, Q*_hard − Q̂ ∈ [−s, γ τ L/(1 − γ) + s], s = that residual bound/(1 − γ), L = the
    soft-gap constant of :func:`soft_gap_bound` (Q*_hard by hard value iteration in numpy)."""
    note_regimes(mdp)
    tol = 1e-12
    q_hat = soft_value_iteration(mdp, tol=tol)
    with mp.workdps(DIGITS):
        residual = err_inf(q_hat, Exact(mdp).boltzmann_backup(mp_list(q_hat)))
    bound = mdp.gamma * tol * max(1.0, float(q_hat.abs().max())) + ROUNDINGS * EPS * magnitude(mdp, q_hat)
    assert residual <= bound, (residual, bound)
    q_hard = torch.zeros_like(q_hat)
    for _ in range(250):  # γ ≤ 0.8: 0.8^250 < 1e-24, far below the slack
        q_hard = hard_backup(mdp, q_hard)
    slack = bound / (1 - mdp.gamma)
    gap = q_hard - q_hat
    assert float(gap.min()) >= -slack
    gap_constant = max(soft_gap_bound(mdp, q_hard), soft_gap_bound(mdp, q_hat))
    assert float(gap.max()) <= mdp.gamma * gap_constant / (1 - mdp.gamma) + slack


@pytest.mark.parametrize("gamma", [0.99, 1.0])
def test_soft_value_iteration_at_the_corner(gamma):
    """The corner τ = 1e-4, |R| = 1e4 with γ = 0.99 (Q* ~ 1e6) and γ = 1 (terminal state): exact residual
    within the stopping rule, as above."""
    mdp = small_terminal_mdp(gamma=gamma, tau=1e-4, scale=1e4)
    q_hat = soft_value_iteration(mdp)
    with mp.workdps(DIGITS):
        residual = err_inf(q_hat, Exact(mdp).boltzmann_backup(mp_list(q_hat)))
    assert residual <= mdp.gamma * 1e-12 * float(q_hat.abs().max()) + ROUNDINGS * EPS * magnitude(mdp, q_hat)


# --- Expected n-step returns and the expected losses ---------------------------------------------------


def _loss_inputs(mdp: FiniteMDP, seed: int, kind: str, q_scale: float):
    rng = np.random.default_rng(seed)
    q = edge_q(mdp, rng, q_scale)
    policy = edge_policy(mdp, rng, kind, q)
    values = torch.from_numpy(rng.uniform(-q_scale, q_scale, mdp.num_states))
    weights = torch.from_numpy(rng.random(mdp.num_states) + 0.05)
    return q, policy, values, weights


@FEW
@given(edge_mdps(), seeds, st.sampled_from(POLICY_KINDS), edge_scales, st.integers(1, 4))
def test_expected_nstep_return_and_advantage_match_exact_evaluation(mdp, seed, kind, q_scale, n):
    """expected_nstep_return (the expectation of (80)) and mdp_expected_advantage for every kind of
    behaviour, with the KL of that behaviour: within 64·eps·n·(M + |V|∞) of the exact DP."""
    note_regimes(mdp, kind)
    _, policy, values, _ = _loss_inputs(mdp, seed, kind, q_scale)
    kl = policy_kl(mdp, policy)
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        mu, V = mp_list(policy), mp_list(values)
        exact = ex.nstep_return(mu, V, n, ex.kl(mu))
        size = n * (magnitude(mdp) + q_scale)
        assert err_inf(expected_nstep_return(mdp, policy, values, n, kl=kl), exact) <= ROUNDINGS * EPS * size
        log_policy = policy.log()
        advantage = mdp_expected_advantage(mdp, log_policy, values, n)
        live = [not t for t in ex.terminal]
        exact_adv = [[x - V[s] if live[s] else -V[s] for x in row] for s, row in enumerate(exact)]
        assert err_inf(advantage, exact_adv) <= ROUNDINGS * EPS * size


@FEW
@example(CORNER, CORNER_SEED, 1e4, 3)
@given(edge_mdps(), seeds, edge_scales, st.integers(1, 3))
def test_mdp_soft_q_loss_value_and_gradient_match_exact_evaluation(mdp, seed, q_scale, n):
    """mdp_soft_q_loss (Eq. (59)) and its gradient (60) for tabular Q: loss = Σ_s w Σ_a π ½ (Q − y)²,
    ∇_Q = w π (Q − y), with π = π^B_Q and y = T_{π,n} Q computed exactly.  Errors: y carries
    e ≤ 64·eps·n·M·41 (the n-step backup test); the loss then ≤ e·Σ w π |Q − y| + e² + 64·eps·loss,
    the gradient ≤ w·(e + 41·64·eps·|Q − y|∞)."""
    note_regimes(mdp)
    q, _, _, weights = _loss_inputs(mdp, seed, "boltzmann", q_scale)
    q = q.clone().requires_grad_()
    loss = mdp_soft_q_loss(mdp, q, weights, n)
    (grad,) = torch.autograd.grad(loss, q)
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        Q = mp_list(q.detach())
        pi = ex.boltzmann(Q)
        y = Q
        for _ in range(n):
            y = ex.policy_backup_q(pi, y)
        w = mp_list(weights)
        live = [not t for t in ex.terminal]
        diff = [[Q[s][a] - y[s][a] for a in range(ex.A)] for s in range(ex.S)]
        exact_grad = [[w[s] * pi[s][a] * diff[s][a] if live[s] else mpf(0) for a in range(ex.A)] for s in range(ex.S)]
        exact_loss = sum(w[s] * pi[s][a] * diff[s][a] ** 2 / 2 for s in range(ex.S) for a in range(ex.A) if live[s])
        e = ROUNDINGS * EPS * n * magnitude(mdp, q) * 41
        d_max = max(float(abs(diff[s][a])) for s in range(ex.S) for a in range(ex.A))
        w_sum = float(sum(w))
        assert err_inf(loss, exact_loss) <= w_sum * (e * d_max + e * e) + ROUNDINGS * EPS * float(exact_loss)
        assert err_inf(grad, exact_grad) <= float(max(w)) * (e + 41 * ROUNDINGS * EPS * d_max)


@FEW
@given(edge_mdps(), seeds, st.sampled_from(POLICY_KINDS), edge_scales, st.integers(1, 3), st.booleans())
def test_mdp_a2c_loss_value_and_gradient_match_exact_evaluation(mdp, seed, kind, q_scale, n, proper):
    """mdp_a2c_loss (Eqs. (84)-(86)) for every kind of policy, one-hot and sparse included (log π = −inf
    off the support; these raised or gave NaN before the fix): with Δ = E[n-step return] − V exact,
    loss = Σ_s w [−Σ_a π log π Δ + τ KL + c Σ_a π ½ Δ²];  ∂/∂log π(s,a) = w [−π Δ + τ π (log π − log π̄ + 1)]
    (autograd of KL = Σ exp(l)(l − log π̄) in the free leaf l = log π);  ∂/∂V(s) = −c w Σ_a π Δ.
    Tolerance: Δ carries e ≤ 64·eps·n·(M + |V|∞); each output adds it times its multiplier
    (|log π| on the support, c·|Δ|) plus 64·eps of its own size."""
    note_regimes(mdp, kind)
    _, policy, values, weights = _loss_inputs(mdp, seed, kind, q_scale)
    log_policy = policy.log().requires_grad_()
    values = values.clone().requires_grad_()
    c = 0.5
    loss = mdp_a2c_loss(
        mdp, log_policy, values, weights, n, value_coef=c, estimator="proper" if proper else "naive"
    )
    g_log_policy, g_values = torch.autograd.grad(loss, (log_policy, values))
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        pi, V, w = mp_list(policy), mp_list(values.detach()), mp_list(weights)
        kl = ex.kl(pi)
        ret = ex.nstep_return(pi, V, n, kl if proper else [mpf(0)] * ex.S)
        live = [not t for t in ex.terminal]
        delta = [[ret[s][a] - V[s] for a in range(ex.A)] for s in range(ex.S)]
        exact_loss, exact_gl, exact_gv = mpf(0), [], []
        for s in range(ex.S):
            row = [mpf(0)] * ex.A
            if live[s]:
                for a in range(ex.A):
                    if pi[s][a] > 0:
                        log_p = mp.log(pi[s][a])
                        exact_loss += w[s] * (-pi[s][a] * log_p * delta[s][a] + c * pi[s][a] * delta[s][a] ** 2 / 2)
                        row[a] = w[s] * (-pi[s][a] * delta[s][a] + ex.tau * pi[s][a] * (log_p - mp.log(ex.ref[s][a]) + 1))
                exact_loss += w[s] * ex.tau * kl[s]
            exact_gl.append(row)
            exact_gv.append(-c * w[s] * sum(p * d for p, d in zip(pi[s], delta[s])) if live[s] else mpf(0))
        e = ROUNDINGS * EPS * n * (magnitude(mdp) + q_scale)
        log_max = max(float(-mp.log(p)) for row in pi for p in row if p > 0) + magnitude(mdp) / max(mdp.tau, 1e-300)
        d_max = max(float(abs(d)) for row in delta for d in row)
        w_sum = float(sum(w))
        size = w_sum * (d_max * (1 + log_max) + c * d_max**2 + magnitude(mdp) * (1 + log_max))
        assert err_inf(loss, exact_loss) <= w_sum * e * (1 + log_max + c * d_max) + ROUNDINGS * EPS * size
        assert err_inf(g_log_policy, exact_gl) <= w_sum * (e + ROUNDINGS * EPS * (d_max + size))
        assert err_inf(g_values, exact_gv) <= w_sum * c * (e + ROUNDINGS * EPS * d_max)


@FEW
@given(edge_mdps(references=st.sampled_from(["uniform", "dirichlet", "tiny"])), seeds, st.sampled_from(POLICY_KINDS),
       edge_scales, st.integers(1, 3))
def test_mdp_matched_soft_q_loss_value_matches_exact_evaluation(mdp, seed, kind, q_scale, n):
    """mdp_matched_soft_q_loss (§6.3): Σ_s w Σ_{a: π>0} π ½ (V + τ log(π/π̄) − y)², y = τ KL + V + Δ
    (proper), for every kind of policy (actions with π = 0 have weight 0; they gave NaN before the fix).
    Tolerance as for the a2c loss."""
    note_regimes(mdp, kind)
    _, policy, values, weights = _loss_inputs(mdp, seed, kind, q_scale)
    loss = mdp_matched_soft_q_loss(mdp, policy.log(), values, weights, n)
    with mp.workdps(DIGITS):
        ex = Exact(mdp)
        pi, V, w = mp_list(policy), mp_list(values), mp_list(weights)
        kl = ex.kl(pi)
        ret = ex.nstep_return(pi, V, n, kl)
        exact = mpf(0)
        d_max = mpf(0)
        for s in range(ex.S):
            if ex.terminal[s]:
                continue
            for a in range(ex.A):
                if pi[s][a] > 0:
                    d = V[s] + ex.tau * mp.log(pi[s][a] / ex.ref[s][a]) - (ex.tau * kl[s] + ret[s][a])
                    d_max = max(d_max, abs(d))
                    exact += w[s] * pi[s][a] * d**2 / 2
        e = ROUNDINGS * EPS * n * (magnitude(mdp) + q_scale)
        w_sum = float(sum(w))
        assert err_inf(loss, exact) <= w_sum * (e * float(d_max) + e * e) + ROUNDINGS * EPS * float(exact)


def test_expected_losses_accept_deterministic_policies_and_zero_reference_entries():
    """Regression for the fix: a one-hot policy (log π = −inf off its action) and the Boltzmann policy of
    an MDP whose π̄ has zeros were rejected ("log_policy must be finite") by mdp_a2c_loss,
    mdp_matched_soft_q_loss and the policy-gradient surrogates, although FiniteMDP accepts such π̄ and
    mdp_soft_q_loss handles it; their losses and gradients are now finite (values checked against the
    exact evaluation in the property tests above)."""
    from equiv.mdp import (
        boltzmann_log_policy_of,
        finite_horizon_estimator_surrogate,
        policy_gradient_surrogate,
    )

    mdp = small_terminal_mdp()
    with_zeros = mdp.replace(ref_policy=torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]]))
    one_hot = torch.log(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    cases = [(mdp, one_hot), (with_zeros, boltzmann_log_policy_of(with_zeros, torch.randn(3, 2, generator=torch.Generator().manual_seed(1))))]
    weights, initial = torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.5, 0.5, 0.0])
    for m, log_policy in cases:
        log_policy = log_policy.detach().requires_grad_()
        values = torch.zeros(3, requires_grad=True)
        for loss in (
            mdp_a2c_loss(m, log_policy, values, weights, 2, value_coef=0.5),
            mdp_matched_soft_q_loss(m, log_policy, values, weights, 2),
            finite_horizon_estimator_surrogate(m, log_policy, initial, 3),
            policy_gradient_surrogate(m, log_policy, weights),
        ):
            grads = torch.autograd.grad(loss, (log_policy, values), allow_unused=True)
            assert math.isfinite(loss.item())
            assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


@pytest.mark.parametrize("tau", [1e-4, 1e-2, 1e2])
def test_bandit_losses_at_the_edges_match_exact_evaluation(tau):
    """The bandit loss (8), its gradient (9) and the policy-gradient + value-error loss of Eq. (23) (same
    gradient) at |q| = 1e4 with a near tie, π̄ with a 1e-300 entry: both gradients are π^B (q − r̄) within
    64·eps·41·|q − r̄|∞ of the exact value (π^B's conditioning, module docstring)."""
    from equiv.expected import bandit_policy_gradient_value_loss

    q = torch.tensor([1e4, 1e4 - 1e-4, -1e4, 0.5], requires_grad=True)
    r = torch.tensor([3.0, -1e4, 2.0, 1e4])
    ref = torch.tensor([1e-300, 0.5, 0.25, 0.25])
    ref = ref / ref.sum()
    (grad,) = torch.autograd.grad(bandit_soft_q_loss(q, r, tau, ref), q)
    (grad_pg,) = torch.autograd.grad(bandit_policy_gradient_value_loss(q, r, tau, ref), q)
    with mp.workdps(DIGITS):
        qs, rs, ps = mp_list(q.detach()), mp_list(r), mp_list(ref)
        terms = [x / tau + mp.log(p) for x, p in zip(qs, ps)]
        m = max(terms)
        z = [mp.exp(t - m) for t in terms]
        exact = [zi / sum(z) * (x - y) for zi, x, y in zip(z, qs, rs)]
        tol = ROUNDINGS * EPS * 41 * float(max(abs(x - y) for x, y in zip(qs, rs)))
        assert err_inf(grad, exact) <= tol
        assert err_inf(grad_pg, exact) <= tol


# --- Ill-posed linear solves are reported, not returned ---------------------------------------------------


def test_state_visitation_and_lambda_backup_raise_when_the_solve_is_ill_posed():
    """discount = 1 (γλ = 1) with no terminal state: I − P_π is singular in exact arithmetic.  The old code
    returned its float64 'solution', values ~5e15 (measured); evaluate_policy already raised.  Now both
    raise a ValueError naming the discount; with termination they still solve (checked exactly above)."""
    mdp = small_terminal_mdp().replace(terminal=None, gamma=1.0)
    policy = torch.full((3, 2), 0.5)
    raises_matching(
        lambda: state_visitation(mdp, policy, torch.tensor([1.0, 0.0, 0.0]), discount=1.0),
        r"state visitation is ill-posed: I - discount\*P_pi \(discount=1\.0\) (is singular|has condition number)",
    )
    raises_matching(
        lambda: lambda_boltzmann_backup(mdp, torch.zeros(3, 2), 1.0),
        r"the lambda backup is ill-posed: I - gamma\*lam\*P_pi \(gamma=1\.0, lam=1\.0\) "
        r"(is singular|has condition number)",
    )
    ok = state_visitation(small_terminal_mdp(), policy, torch.tensor([1.0, 0.0, 0.0]))
    assert bool(torch.isfinite(ok).all()) and float(ok[0]) >= 1.0  # s_0 is visited at least once
