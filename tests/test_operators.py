"""§3 operators of the entropy-regularised MDP, checked exactly in float64.

Claims (paper §3.2-3.4):
  * the Boltzmann backup T of Eqs. (38)-(39) is a γ-contraction in the sup norm, and soft value
    iteration converges to its fixed point Q*;
  * π* = π^B_{Q*} has the highest entropy-regularised value in every state, Q_{π*} = Q*, and π* is a
    fixed point of the policy-gradient flow g_γ (§3.6);
  * Eq. (26) V_π = E_π[Q_π] − τKL and Eq. (31) V_Q = E_{π^B_Q}[Q] − τKL;
  * the n-step policy backups (33)-(35), (37) are the expected n-step returns;
  * the n-step Boltzmann backup (40)-(41) and the note after (41), T_{π^B_Q,n} Q ≠ T^n Q for n ≥ 2;
  * the λ-backup (42), and (43) — whose PRINTED form is wrong (erratum, see
    test_eq43_as_printed_is_wrong_erratum).

Ground truth is built in this file from P, R, π̄ directly (state-action matrices, path enumeration,
soft policy iteration), not from the library function under test.

Tolerances: each check is a float64 identity between quantities computed along different routes; they
agree to ~1e-15 × (size of the summed terms) × (condition number of the linear solves, ≤ 1/(1−γ) = 100
for the drawn γ ≤ 0.99).  We assert 1e-10 relative to the magnitude of the terms (≥ 10× headroom over
the worst case) unless a test says otherwise.  Negative controls assert that the wrong variant misses
by ≥ 10^4 × the tolerance of the check it targets, on the same scale (relative gap > 1e-6); the
instances are drawn so that the wrong variant is generically wrong (γ away from 0, τ away from 1,
rewards of the order of τ where policies must differ).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import boltzmann_log_policy, regularized_expectation, soft_value
from equiv.mdp import (
    FiniteMDP,
    boltzmann_backup,
    evaluate_policy,
    expected_nstep_return,
    expected_nstep_soft_target,
    lambda_boltzmann_backup,
    nstep_boltzmann_backup,
    nstep_policy_backup_q,
    nstep_policy_backup_v,
    policy_backup_q,
    policy_backup_v,
    policy_gradient_surrogate,
    soft_value_iteration,
)
from tests.strategies import (
    DTYPE,
    assert_close,
    finite_mdps,
    log_uniform,
    profile_examples,
    random_policy,
    relative_gap,
    seeds,
    soft_policy_iteration,
    state_weights,
)

RTOL = 1e-10
NEGATIVE_FACTOR = 1e4  # a wrong variant must miss by ≥ 10^4 × the tolerance of the check it targets
NEGATIVE_GAP = NEGATIVE_FACTOR * RTOL  # = 1e-6 relative

# Every example here builds an MDP and solves linear systems, so properties run a third of the
# profile's examples (20 in ci, 333 in thorough), and those that also solve for Q*, enumerate paths or
# sum series a quarter (15 in ci, 250 in thorough), to keep the ci tier within its time budget; the
# thorough profile still runs hundreds of MDPs per property.
THIRD = settings(max_examples=profile_examples(1 / 3, minimum=10))
FEWER = settings(max_examples=profile_examples(1 / 4, minimum=10))

# Parameters where the wrong variants below are generically wrong: γ bounded away from 0 (otherwise
# every backup is just R), τ bounded away from 1 (missing-τ errors vanish at τ = 1).
discounts = st.floats(0.3, 0.95)
temperatures_not_one = st.one_of(log_uniform(1e-1, 0.5), log_uniform(2.0, 1e1))
tiny_mdps = finite_mdps(max_states=3, max_actions=2, gamma=discounts)


# --- Ground truth built in the test from P, R, π̄ -------------------------------------------------------


def sup(x: torch.Tensor) -> float:
    return float(x.abs().max())


def kl_in_log_space(policy: torch.Tensor, log_other: torch.Tensor) -> torch.Tensor:
    """KL[π ‖ ρ](s) = Σ_a π (log π − log ρ), with 0 log 0 = 0 and ρ given by its log.  ``[S]``."""
    terms = torch.where(policy > 0, policy * (torch.log(policy) - log_other), torch.zeros((), dtype=DTYPE))
    return terms.sum(-1)


def kl_to_reference(policy: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """KL(s) = D_KL[π(·|s) ‖ π̄(·|s)].  ``[S]``."""
    return kl_in_log_space(policy, torch.log(ref))


def live(mdp: FiniteMDP) -> torch.Tensor:
    """1 at non-terminal states, 0 at terminal ones (their value is 0 and nothing is collected there)."""
    return (~mdp.terminal_mask).to(DTYPE)


def continuing_transitions(mdp: FiniteMDP) -> torch.Tensor:
    """P(s'|s,a) with rows of terminal s and columns of terminal s' zeroed.  ``[S, A, S]``."""
    alive = live(mdp)
    return mdp.transitions * alive[:, None, None] * alive[None, None, :]


def reference_soft_value(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """V_Q(s) = τ log Σ_a π̄ exp(Q/τ), Eq. (29), by a max-shifted sum; 0 at terminal states.  ``[S]``."""
    shifted = q / mdp.tau + torch.log(mdp.ref_probs)
    top = shifted.max(-1, keepdim=True).values
    return mdp.tau * (top.squeeze(-1) + torch.log(torch.exp(shifted - top).sum(-1))) * live(mdp)


def reference_log_boltzmann(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """log π^B_Q(a|s) = log π̄ + (Q − V_Q)/τ, Eq. (30), by a max-shifted sum.  ``[S, A]``."""
    shifted = q / mdp.tau + torch.log(mdp.ref_probs)
    top = shifted.max(-1, keepdim=True).values
    return shifted - top - torch.log(torch.exp(shifted - top).sum(-1, keepdim=True))


def reference_boltzmann(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """π^B_Q(a|s), Eq. (30).  ``[S, A]``."""
    return reference_log_boltzmann(mdp, q).exp()


def advantage_scale(mdp: FiniteMDP, q: torch.Tensor) -> float:
    """τ·max|log(π^B_Q/π̄)| = max|A_Q| (Eq. (32)): the size of the KL-type terms, computed in log space."""
    return mdp.tau * sup(reference_log_boltzmann(mdp, q) - torch.log(mdp.ref_probs))


def policy_operator(mdp: FiniteMDP, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """T_π as an affine map on flattened Q ∈ R^{S·A}: T_π Q = b + γ M Q, Eq. (33) second line.

    M[(s,a),(s',a')] = P(s'|s,a) π(a'|s') over continuing transitions, and
    b(s,a) = R(s,a) − γ τ Σ_{s'} P(s'|s,a) KL(s').  Rows of terminal states are 0.
    """
    S, A = mdp.num_states, mdp.num_actions
    p = continuing_transitions(mdp)
    kl = kl_to_reference(policy, mdp.ref_probs) * live(mdp)
    m = torch.einsum("sat,tb->satb", p, policy).reshape(S * A, S * A)
    b = (live(mdp)[:, None] * mdp.rewards - mdp.gamma * mdp.tau * p @ kl).reshape(-1)
    return m, b


def paths(mdp: FiniteMDP, policy: torch.Tensor, state: int, action: int, n: int):
    """Every path s_0 a_0 … s_k (k ≤ n) with positive probability given (s_0, a_0), by brute force.

    Yields (probability, states, actions, terminated); a path stops early on entering a terminal state.
    """
    P = mdp.transitions.tolist()
    pi = policy.tolist()
    terminal = mdp.terminal_mask.tolist()

    def extend(prob, states, actions):
        for s_next, p in enumerate(P[states[-1]][actions[-1]]):
            if p == 0.0:
                continue
            if terminal[s_next]:
                yield prob * p, states + [s_next], actions, True
            elif len(actions) == n:
                yield prob * p, states + [s_next], actions, False
            else:
                for a_next, pa in enumerate(pi[s_next]):
                    if pa > 0.0:
                        yield from extend(prob * p * pa, states + [s_next], actions + [a_next])

    yield from extend(1.0, [state], [action])


def enumerate_expectation(mdp: FiniteMDP, policy: torch.Tensor, n: int, path_value) -> torch.Tensor:
    """E[path_value(path) | s_0 = s, a_0 = a] by enumeration; ``[S, A]``, 0 at terminal states."""
    out = torch.zeros(mdp.num_states, mdp.num_actions, dtype=DTYPE)
    for s, a in itertools.product(range(mdp.num_states), range(mdp.num_actions)):
        if not bool(mdp.terminal_mask[s]):
            out[s, a] = sum(prob * path_value(*rest) for prob, *rest in paths(mdp, policy, s, a, n))
    return out


def regularized_path_return(mdp: FiniteMDP, kl: torch.Tensor, bootstrap: torch.Tensor):
    """path ↦ Σ_{t<k} γ^t (r_t − τ KL_t) + [not terminated] γ^k bootstrap(s_k)."""
    R, g, tau = mdp.rewards.tolist(), mdp.gamma, mdp.tau
    kl, bootstrap = kl.tolist(), bootstrap.tolist()

    def value(states, actions, terminated):
        total = sum(g**t * (R[s][a] - tau * kl[s]) for t, (s, a) in enumerate(zip(states, actions)))
        return total + (0.0 if terminated else g ** len(actions) * bootstrap[states[-1]])

    return value


def random_q(mdp: FiniteMDP, seed: int, scale: float = 1.0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(0.0, scale, (mdp.num_states, mdp.num_actions)))


# --- Contraction and the fixed point Q* (Eqs. (38)-(39)) ------------------------------------------------


@THIRD
@given(finite_mdps(gamma=discounts, tau=temperatures_not_one), seeds)
def test_eq38_equals_eq39_and_printed_inner_term_is_a_typo(mdp, seed):
    """(38) → (39): r + γ(E_{a'∼π^B_Q}[Q(s',a')] − τ KL(s')) = r + γ V_Q(s') (by Eq. (31)), computed here
    with the state-action operator of T_{π^B_Q}.  The inner term of (38) is printed Q(s,a) (not
    Q(s',a')); read literally, r + γ(Q(s,a) − τKL(s')) is a different map (negative control / typo)."""
    q = random_q(mdp, seed, mdp.tau)
    pi = reference_boltzmann(mdp, q)
    m, b = policy_operator(mdp, pi)
    eq38 = (b + mdp.gamma * m @ q.reshape(-1)).reshape(q.shape)
    scale = max(sup(q), sup(mdp.rewards), advantage_scale(mdp, q), 1e-3)
    assert_close(boltzmann_backup(mdp, q), eq38, RTOL, "(38) vs (39)", scale=scale)
    # Negative control on the same MDP without terminal states (so that the next state always counts):
    # the printed form differs by γ(Q(s,a) − E_{s'}E_{a'∼π^B_Q}[Q(s',a')]), generically far from 0.
    mdp = mdp.replace(terminal=None)
    m, b = policy_operator(mdp, pi)
    eq38 = (b + mdp.gamma * m @ q.reshape(-1)).reshape(q.shape)
    kl_next = mdp.transitions @ kl_to_reference(pi, mdp.ref_probs)
    printed = mdp.rewards + mdp.gamma * (q - mdp.tau * kl_next)
    assert sup(printed - eq38) > NEGATIVE_FACTOR * RTOL * scale


@THIRD
@given(finite_mdps(), seeds, log_uniform(1e-2, 1e2))
def test_eq39_boltzmann_backup_is_gamma_contraction(mdp, seed, spread):
    """Eqs. (38)-(39): |T Q1 − T Q2|_∞ ≤ γ |Q1 − Q2|_∞ for arbitrary Q1, Q2 (here also far apart)."""
    q1 = random_q(mdp, seed)
    q2 = q1 + random_q(mdp, seed + 1, spread)
    gap = sup(boltzmann_backup(mdp, q1) - boltzmann_backup(mdp, q2))
    # Rounding: each backup is R + γ·(logsumexp of Q) to ~1e-15 of max(|R|, |Q|).
    slack = 1e-13 * max(sup(q1), sup(q2), sup(mdp.rewards))
    assert gap <= mdp.gamma * sup(q1 - q2) + slack


@THIRD
@given(finite_mdps(allow_terminal=False), seeds, st.floats(-10.0, 10.0))
def test_eq39_contraction_modulus_gamma_is_attained(mdp, seed, shift):
    """Eq. (39): V_{Q+c} = V_Q + c, so without terminal states T(Q + c) − T Q = γ c exactly: γ is tight."""
    q = random_q(mdp, seed)
    difference = boltzmann_backup(mdp, q + shift) - boltzmann_backup(mdp, q)
    assert_close(
        difference,
        torch.full_like(q, mdp.gamma * shift),
        1e-12,
        "T(Q+c) − TQ",
        scale=max(sup(q), abs(shift), sup(mdp.rewards)),
    )


@THIRD
@given(finite_mdps(allow_terminal=False, gamma=discounts, tau=log_uniform(2.0, 1e1)), seeds)
def test_eq39_negative_control_printed_eq11_soft_value_is_not_a_gamma_contraction(mdp, seed):
    """Negative control: with the soft value as printed in Eq. (11), τ log E_π̄[exp(Q)/τ], the backup
    has modulus γτ, not γ: for τ > 1 the contraction check fails."""

    def printed_backup(q):
        v_printed = mdp.tau * torch.log((mdp.ref_probs * torch.exp(q) / mdp.tau).sum(-1))
        return mdp.rewards + mdp.gamma * mdp.transitions @ v_printed

    q = random_q(mdp, seed)
    ratio = sup(printed_backup(q + 0.5) - printed_backup(q)) / 0.5
    assert ratio > mdp.gamma * (1.0 + 0.5)  # the check `ratio <= γ` fails by a wide margin
    assert math.isclose(ratio, mdp.gamma * mdp.tau, rel_tol=1e-10)


@THIRD
@given(finite_mdps(allow_terminal=False, gamma=discounts), seeds)
def test_eq81_negative_control_hard_max_backup_with_wrong_discount_is_not_a_gamma_contraction(mdp, seed):
    """Negative control: a hard-max backup R + γ^{1/2} max Q (wrong discount exponent) has modulus
    √γ > γ, so the γ-contraction check fails; the correct hard-max backup passes it."""
    q = random_q(mdp, seed)

    def hard_backup(q, discount):
        return mdp.rewards + discount * mdp.transitions @ q.max(-1).values

    wrong = sup(hard_backup(q + 1.0, mdp.gamma**0.5) - hard_backup(q, mdp.gamma**0.5))
    right = sup(hard_backup(q + 1.0, mdp.gamma) - hard_backup(q, mdp.gamma))
    assert right <= mdp.gamma * (1 + 1e-12)
    assert wrong > mdp.gamma * (1 + NEGATIVE_GAP)


@FEWER
@given(finite_mdps(gamma=st.floats(0.0, 0.9)), seeds)
def test_eq39_soft_value_iteration_converges_to_the_fixed_point(mdp, seed):
    """Soft value iteration (T^k Q → Q*) stops at a fixed point of T, from any start, and agrees with
    soft policy iteration (an independent route that never applies T).

    Tolerance: iteration stops when |Q_{k+1} − Q_k| ≤ 1e-12·max(1, |Q|), so the residual |TQ − Q| is
    ≤ γ·1e-12 and the error |Q − Q*| ≤ γ/(1−γ)·1e-12 ≤ 9e-12 (γ ≤ 0.9); we assert 1e-10.
    """
    q_star = soft_policy_iteration(mdp)
    scale = max(1.0, sup(q_star))
    assert sup(boltzmann_backup(mdp, q_star) - q_star) <= 1e-12 * scale
    for q0 in (None, random_q(mdp, seed, 10.0)):
        q_vi = soft_value_iteration(mdp, q0=q0)
        assert sup(boltzmann_backup(mdp, q_vi) - q_vi) <= 1e-11 * scale
        assert_close(q_vi, q_star, RTOL, "value iteration vs policy iteration", scale=scale)


@FEWER
@given(finite_mdps(gamma=discounts), seeds, st.integers(1, 6))
def test_eq39_backup_error_shrinks_by_gamma_per_step(mdp, seed, k):
    """|T^k Q − Q*|_∞ ≤ γ^k |Q − Q*|_∞ (Banach), and the residual of a non-fixed point is far from 0."""
    q_star = soft_policy_iteration(mdp)
    q = random_q(mdp, seed, 3.0)
    error0 = sup(q - q_star)
    for _ in range(k):
        q = boltzmann_backup(mdp, q)
    assert sup(q - q_star) <= mdp.gamma**k * error0 + 1e-12 * max(1.0, sup(q_star), error0)
    # Negative control for the fixed-point check above: a random Q is not a fixed point.
    q_random = random_q(mdp, seed + 7, 3.0)
    assert sup(boltzmann_backup(mdp, q_random) - q_random) > NEGATIVE_GAP * max(1.0, sup(q_star))


# --- π* = π^B_{Q*} is optimal (§3.3), Q_{π*} = Q*, g_γ(π*) = 0 (§3.6) ---------------------------------


def ranked_rewards(mdp: FiniteMDP, spread: float) -> FiniteMDP:
    """The same transitions with uniform π̄ and R(s,a) = spread·τ·a/(A−1) in every state.

    Then V* is the same in every state and Q*(s,a) = R(s,a) + const, so π* ∝ exp(spread·a/(A−1)) is
    neither ≈ π̄ nor ≈ deterministic for spread ∈ [0.5, 2]: policy-level wrong variants differ from
    it by a margin that no draw can make small (the negative controls below rely on this).
    """
    ranks = torch.arange(mdp.num_actions, dtype=DTYPE) / (mdp.num_actions - 1)
    return mdp.replace(ref_policy=None, rewards=spread * mdp.tau * ranks.expand(mdp.num_states, -1).clone())


def least_likely_action_policy(mdp: FiniteMDP) -> torch.Tensor:
    """The deterministic policy on argmin_a π̄(a|s): KL(s) = −log min_a π̄(a|s) ≥ log|A| ≥ log 2."""
    return torch.nn.functional.one_hot(mdp.ref_probs.argmin(-1), mdp.num_actions).to(DTYPE)


@FEWER
@given(finite_mdps(), seeds, st.floats(1e-3, 1.0))
def test_optimal_policy_has_highest_regularized_value_in_every_state(mdp, seed, perturbation):
    """V_{π*}(s) ≥ V_π(s) for all s and all π, with π* = π^B_{Q*}; exactly (from (6) and (38)):

        V_{π*} − V_π = (I − γ P_π)^{-1} τ KL(π ‖ π*)      (soft performance difference)

    checked for random policies and small perturbations of π*.  Also V_{π*} = V_{Q*} (Eq. (31)).
    """
    q_star = soft_policy_iteration(mdp)
    pi_star = reference_boltzmann(mdp, q_star)
    v_star, _ = evaluate_policy(mdp, pi_star)
    scale = max(1.0, sup(v_star))
    assert_close(v_star, reference_soft_value(mdp, q_star), RTOL, "V_{π*} vs V_{Q*}", scale=scale)
    rng = np.random.default_rng(seed)
    log_pi_star = reference_log_boltzmann(mdp, q_star)
    noise = torch.from_numpy(rng.normal(size=pi_star.shape))
    perturbed = torch.softmax(log_pi_star + perturbation * noise, -1)
    for policy in (random_policy(rng, mdp.num_states, mdp.num_actions), perturbed):
        v_pi, _ = evaluate_policy(mdp, policy)
        assert float((v_star - v_pi).min()) >= -RTOL * scale
        p_pi = torch.einsum("sa,sat->st", policy, continuing_transitions(mdp))
        # KL(π ‖ π*) in log space: π* may underflow to 0 where π does not.
        kl_to_star = kl_in_log_space(policy, log_pi_star) * live(mdp)
        gap = torch.linalg.solve(
            torch.eye(mdp.num_states, dtype=DTYPE) - mdp.gamma * p_pi, mdp.tau * kl_to_star
        )
        assert_close(v_star - v_pi, gap, RTOL, "performance difference", scale=scale)


@FEWER
@given(finite_mdps(allow_terminal=False, tau=temperatures_not_one), st.floats(0.5, 2.0))
def test_optimal_policy_negative_control_wrong_temperature_is_suboptimal(mdp, spread):
    """Negative control: π^B_{Q*} formed with the wrong temperature (2τ or τ/2) loses value at some
    state by far more than the tolerance of the optimality check.

    Instances from `ranked_rewards`, where π* is neither ≈ π̄ nor ≈ deterministic (otherwise every
    temperature gives almost the same policy); the loss is then τ·KL(π_wrong ‖ π*)/(1 − γ) with
    KL ≥ 0.004 for |A| ≤ 4, spread ∈ [0.5, 2], while |V*| ≤ 2τ/(1 − γ): a relative gap ≥ 2e-3.
    """
    mdp = ranked_rewards(mdp, spread)
    q_star = soft_policy_iteration(mdp)
    v_star, _ = evaluate_policy(mdp, reference_boltzmann(mdp, q_star))
    for wrong_tau in (2 * mdp.tau, mdp.tau / 2):
        wrong = boltzmann_log_policy(q_star, wrong_tau, mdp.ref_probs).exp()
        v_wrong, _ = evaluate_policy(mdp, wrong)
        assert float((v_star - v_wrong).max()) > NEGATIVE_GAP * max(1.0, sup(v_star))


@FEWER
@given(finite_mdps())
def test_q_of_optimal_policy_is_q_star(mdp):
    """Q_{π*} = Q* (Eqs. (25), (38)): evaluating π* = π^B_{Q*} by a linear solve returns Q*."""
    q_star = soft_policy_iteration(mdp)
    _, q_pi_star = evaluate_policy(mdp, reference_boltzmann(mdp, q_star))
    assert_close(q_pi_star, q_star, RTOL, "Q_{π*} vs Q*", scale=max(1.0, sup(q_star)))
    assert_close(boltzmann_backup(mdp, q_star), q_star, RTOL, "T Q* vs Q*", scale=max(1.0, sup(q_star)))


def _policy_gradient(mdp: FiniteMDP, logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    logits = logits.clone().requires_grad_()
    surrogate = policy_gradient_surrogate(mdp, torch.log_softmax(logits, -1), weights)
    (grad,) = torch.autograd.grad(surrogate, logits)
    return grad


def _gradient_scale(mdp: FiniteMDP, q_star: torch.Tensor, log_pi_star: torch.Tensor) -> float:
    """Size of the per-state terms π·(Q − V) and τ·π·log(π/π̄) of g_γ: the scale of its rounding."""
    return max(sup(q_star), mdp.tau * sup(log_pi_star - torch.log(mdp.ref_probs)), mdp.tau)


@FEWER
@given(finite_mdps(), seeds)
def test_eq50_optimal_policy_is_a_fixed_point_of_policy_gradient(mdp, seed):
    """§3.6: g_γ(π*) = 0 for arbitrary state weights (each state's term vanishes by Eq. (21), since
    Q_{π*} − V_{π*} = τ log(π*/π̄)); softmax-logit parameterisation, gradient by autograd of
    `policy_gradient_surrogate`.  Tolerance 1e-10 of the size of the per-state terms.
    """
    q_star = soft_policy_iteration(mdp)
    log_pi_star = reference_log_boltzmann(mdp, q_star)
    grad = _policy_gradient(mdp, log_pi_star, state_weights(mdp, seed))
    assert sup(grad) <= RTOL * _gradient_scale(mdp, q_star, log_pi_star)


@FEWER
@given(
    finite_mdps(allow_terminal=False, gamma=st.floats(0.0, 0.9)),
    seeds,
    st.floats(0.5, 2.0),
    st.floats(0.3, 1.0),
)
def test_eq50_negative_control_perturbed_policy_has_nonzero_policy_gradient(mdp, seed, spread, perturbation):
    """Negative control for the fixed-point check: at a perturbed policy softmax(log π* + ε·d), with d
    tilting every state's logits by ±ε across the action ranks, |g_γ| exceeds the tolerance of that
    check by ≥ 10^4 (instances from `ranked_rewards`, where π* is neither ≈ π̄ nor ≈ deterministic)."""
    mdp = ranked_rewards(mdp, spread)
    q_star = soft_policy_iteration(mdp)
    log_pi_star = reference_log_boltzmann(mdp, q_star)
    signs = torch.from_numpy(np.random.default_rng(seed).choice([-1.0, 1.0], size=(mdp.num_states, 1)))
    tilt = signs * (torch.arange(mdp.num_actions, dtype=DTYPE) / (mdp.num_actions - 1) - 0.5)
    grad = _policy_gradient(mdp, log_pi_star + perturbation * tilt, state_weights(mdp, seed))
    if bool(live(mdp).any()):
        assert sup(grad) > NEGATIVE_FACTOR * RTOL * _gradient_scale(mdp, q_star, log_pi_star)


# --- Eqs. (26), (31) -------------------------------------------------------------------------------------


@THIRD
@given(finite_mdps(gamma=discounts, tau=temperatures_not_one), seeds)
def test_eq26_value_is_expected_q_minus_tau_kl(mdp, seed):
    """Eq. (26): V_π(s) = E_{a∼π}[Q_π(s,a)] − τ KL(s) for a random π and for a deterministic π
    (0 at terminal states).

    Negative control: dropping the −τ KL(s) term is off by τ KL(s); for the deterministic policy on the
    least likely action of π̄ that is ≥ τ log 2, far above the tolerance.
    """
    random = random_policy(np.random.default_rng(seed), mdp.num_states, mdp.num_actions)
    for policy in (random, least_likely_action_policy(mdp)):
        v, q = evaluate_policy(mdp, policy)
        kl = kl_to_reference(policy, mdp.ref_probs) * live(mdp)
        scale = max(1.0, sup(q), mdp.tau * sup(kl))
        assert_close(v, (policy * q).sum(-1) - mdp.tau * kl, RTOL, "Eq. (26)", scale=scale)
    if bool(live(mdp).any()):
        assert sup(v - (policy * q).sum(-1)) > NEGATIVE_FACTOR * RTOL * scale  # = τ max_s KL(s)


@THIRD
@given(finite_mdps(tau=temperatures_not_one), seeds, log_uniform(1e-1, 1e2))
def test_eq31_soft_value_is_regularized_expectation_under_boltzmann(mdp, seed, q_scale):
    """Eq. (31): V_Q(s) = E_{a∼π^B_Q}[Q(s,a)] − τ KL[π^B_Q ‖ π̄](s) for arbitrary Q.

    Negative control (Eq. (27): π^B_Q is the maximiser): the same expression under π̄, a random policy
    or the point mass on the least likely action of π^B_Q is smaller by exactly τ KL(π ‖ π^B_Q)
    (Eq. (6)); for the point mass that is ≥ τ log|A| ≥ τ log 2, far from 0.
    """
    q = random_q(mdp, seed, q_scale)
    v_q = soft_value(q, mdp.tau, mdp.ref_probs)
    log_pi = boltzmann_log_policy(q, mdp.tau, mdp.ref_probs)
    scale = max(sup(q), mdp.tau * sup(log_pi - torch.log(mdp.ref_probs)))
    assert_close(
        regularized_expectation(q, log_pi, mdp.tau, mdp.ref_probs), v_q, 1e-12, "Eq. (31)", scale=scale
    )
    by_hand = (log_pi.exp() * q).sum(-1) - mdp.tau * kl_to_reference(log_pi.exp(), mdp.ref_probs)
    assert_close(
        by_hand, reference_soft_value(mdp.replace(terminal=None), q), 1e-12, "Eq. (31) by hand", scale=scale
    )
    other = random_policy(np.random.default_rng(seed + 1), mdp.num_states, mdp.num_actions)
    worst = torch.nn.functional.one_hot(log_pi.argmin(-1), mdp.num_actions).to(DTYPE)
    for policy in (mdp.ref_probs, other, worst):
        value = (policy * q).sum(-1) - mdp.tau * kl_to_reference(policy, mdp.ref_probs)
        assert_close(v_q - value, mdp.tau * kl_in_log_space(policy, log_pi), 1e-10, "Eq. (6)", scale=scale)
    assert sup(v_q - value) > NEGATIVE_FACTOR * 1e-12 * scale  # `value` of `worst` fails the (31) check


# --- n-step policy backups, Eqs. (33)-(35), (37) ---------------------------------------------------------


@THIRD
@given(finite_mdps(gamma=discounts, tau=temperatures_not_one), seeds, st.integers(1, 4))
def test_eq33_eq35_nstep_policy_backup_q_equals_expected_nstep_return(mdp, seed, n):
    """Eq. (35): [T_π^n Q](s,a) − τKL(s) = E[Σ_{t<n} γ^t (r_t − τKL_t) + γ^n (Q(s_n,a_n) − τKL_n)],
    computed three ways: the library backup, the library DP `expected_nstep_return`, and the affine
    state-action form T_π Q = b + γ M Q of Eq. (33) built here.

    Checked for a random π and for the deterministic π on the least likely action of π̄.
    Negative control: the right-hand side without the +τKL(s) differs by τKL(s), which for the
    deterministic π is ≥ τ log 2.
    """
    random = random_policy(np.random.default_rng(seed), mdp.num_states, mdp.num_actions)
    q = random_q(mdp, seed)
    for policy in (random, least_likely_action_policy(mdp)):
        kl = kl_to_reference(policy, mdp.ref_probs) * live(mdp)
        backup = nstep_policy_backup_q(mdp, policy, q, n)
        bootstrap = ((policy * q).sum(-1) - mdp.tau * kl) * live(mdp)
        rhs = expected_nstep_return(mdp, policy, bootstrap, n, kl=kl)
        m, b = policy_operator(mdp, policy)
        affine = q.reshape(-1)
        for _ in range(n):
            affine = b + mdp.gamma * m @ affine
        scale = max(sup(q), sup(mdp.rewards), mdp.tau * sup(kl), 1e-3)
        assert_close(backup, mdp.tau * kl[:, None] + rhs, RTOL, "Eq. (35)", scale=scale)
        assert_close(backup, affine.reshape(q.shape), RTOL, "Eq. (33) affine form", scale=scale)
        if n == 1:
            assert_close(backup, policy_backup_q(mdp, policy, q), 1e-12, "T_π^1 = T_π", scale=scale)
    if bool(live(mdp).any()):
        assert sup(backup - rhs) > NEGATIVE_FACTOR * RTOL * scale  # = τ max_s KL(s) ≥ τ log 2


@FEWER
@given(tiny_mdps, seeds, st.integers(1, 3))
def test_eq35_eq40_eq41_nstep_backups_equal_path_enumeration(mdp, seed, n):
    """Eqs. (35), (40), (41) by brute-force enumeration of every path of ≤ n steps on tiny MDPs:
    T_π^n Q for a random π, and T_{π^B_Q,n} Q with both the printed bootstrap of (40),
    Q(s_n,a_n) − τKL_n with a_n ∼ π^B_Q, and V_Q(s_n) of (41) (equal by Eq. (31)).
    """
    q = random_q(mdp, seed)
    alive = live(mdp)[:, None]

    def eq35_rhs(pi, bootstrap):
        """τKL(s) + E[Σ_{t<n} γ^t (r_t − τKL_t) + γ^n bootstrap(s_n)] by enumeration, a_{t≥1} ∼ pi."""
        kl = kl_to_reference(pi, mdp.ref_probs) * live(mdp)
        enumerated = enumerate_expectation(mdp, pi, n, regularized_path_return(mdp, kl, bootstrap))
        return mdp.tau * kl[:, None] * alive + enumerated

    def q_bootstrap(pi):
        """E_{a_n∼pi}[Q(s_n,a_n)] − τKL_n: the bootstrap of (35) and of (40)."""
        return ((pi * q).sum(-1) - mdp.tau * kl_to_reference(pi, mdp.ref_probs)) * live(mdp)

    policy = random_policy(np.random.default_rng(seed), mdp.num_states, mdp.num_actions)
    pi_b = reference_boltzmann(mdp, q)
    scale = max(sup(q), sup(mdp.rewards), advantage_scale(mdp, q), 1e-3)
    assert_close(
        nstep_policy_backup_q(mdp, policy, q, n),
        eq35_rhs(policy, q_bootstrap(policy)),
        RTOL,
        "Eq. (35)",
        scale=max(scale, mdp.tau * sup(kl_to_reference(policy, mdp.ref_probs))),
    )
    frozen = nstep_boltzmann_backup(mdp, q, n)
    assert_close(frozen, eq35_rhs(pi_b, q_bootstrap(pi_b)), RTOL, "Eq. (40)", scale=scale)
    assert_close(frozen, eq35_rhs(pi_b, reference_soft_value(mdp, q)), RTOL, "Eq. (41)", scale=scale)


def _eq37_parts(mdp: FiniteMDP, v: torch.Tensor, kl: torch.Tensor, kl_weight: float = 1.0):
    """path ↦ (Σ_t γ^t δ_t, γ^k V(s_k) [not terminated], V(s_0)), δ_t from Eq. (36), V(terminal) = 0."""
    R, g, tau, V, KL = mdp.rewards.tolist(), mdp.gamma, mdp.tau, v.tolist(), kl.tolist()

    def parts(states, actions, terminated):
        k = len(actions)
        v_path = [V[s] for s in states[:-1]] + [0.0 if terminated else V[states[-1]]]
        deltas = sum(
            g**t * (R[s][a] - kl_weight * tau * KL[s] + g * v_path[t + 1] - v_path[t])
            for t, (s, a) in enumerate(zip(states, actions))
        )
        return deltas, g**k * v_path[k], v_path[0]

    return parts


@FEWER
@given(tiny_mdps, seeds, st.integers(1, 3))
def test_eq34_eq37_nstep_policy_backup_v_equals_enumeration(mdp, seed, n):
    """Eq. (34) [T_π^n V](s) = E[Σ_{t<n} γ^t (r_t − τKL_t) + γ^n V(s_n)], and Eq. (37) in its corrected
    form [T_π^n V](s) = V(s) + E[Σ_{t<n} γ^t δ_t] (δ from Eq. (36), V(terminal) = 0), by enumerating
    every path with a_0 ∼ π; also the library DP `expected_nstep_return`.

    Checked for a random π and for the deterministic π on the least likely action of π̄.
    Negative control: (37) with δ missing its −τKL_t term is off by E[Σ γ^t τ KL_t] ≥ τ KL(s), which for
    the deterministic π is ≥ τ log 2 at every non-terminal s.
    """
    rng = np.random.default_rng(seed)
    v = torch.from_numpy(rng.normal(size=mdp.num_states)) * live(mdp)
    for policy in (random_policy(rng, mdp.num_states, mdp.num_actions), least_likely_action_policy(mdp)):
        kl = kl_to_reference(policy, mdp.ref_probs) * live(mdp)
        backup = nstep_policy_backup_v(mdp, policy, v, n)
        parts = _eq37_parts(mdp, v, kl)
        no_kl = _eq37_parts(mdp, v, kl, kl_weight=0.0)
        eq34 = enumerate_expectation(mdp, policy, n, regularized_path_return(mdp, kl, v))
        eq37 = enumerate_expectation(mdp, policy, n, lambda *p, f=parts: f(*p)[2] + f(*p)[0])
        dp = (policy * expected_nstep_return(mdp, policy, v, n, kl=kl)).sum(-1)
        scale = max(sup(v), sup(mdp.rewards), mdp.tau * sup(kl), 1e-3)
        assert_close(backup, (policy * eq34).sum(-1), RTOL, "Eq. (34)", scale=scale)
        assert_close(backup, (policy * eq37).sum(-1), RTOL, "Eq. (37) corrected", scale=scale)
        assert_close(backup, dp, RTOL, "Eq. (34) DP", scale=scale)
        if n == 1:
            assert_close(backup, policy_backup_v(mdp, policy, v), 1e-12, "T_π^1 V", scale=scale)
    if bool(live(mdp).any()):  # with the deterministic policy of the last iteration
        eq37_without_kl = enumerate_expectation(mdp, policy, n, lambda *p: no_kl(*p)[2] + no_kl(*p)[0])
        wrong = (policy * eq37_without_kl).sum(-1)
        kl_terms = enumerate_expectation(mdp, policy, n, lambda *p: no_kl(*p)[0] - parts(*p)[0])
        assert_close(wrong - backup, (policy * kl_terms).sum(-1), RTOL, "E[Σ γ^t τ KL_t]", scale=scale)
        assert sup(wrong - backup) > NEGATIVE_FACTOR * RTOL * scale


@FEWER
@given(
    finite_mdps(max_states=3, max_actions=2, gamma=discounts, allow_terminal=False), seeds, st.integers(1, 3)
)
def test_eq37_as_printed_is_wrong_erratum(mdp, seed, n):
    """ERRATUM.  Eq. (37) as printed, [T_π^n V](s) = E[Σ_{t<n} γ^t δ_t + γ^n V(s_n) | s_0 = s], is wrong:
    Σ γ^t δ_t already telescopes to Σ γ^t (r_t − τKL_t) + γ^n V(s_n) − V(s_0), so the printed right-hand
    side equals T_π^n V − V(s) + γ^n E[V(s_n)].  Correct: V(s) + E[Σ_{t<n} γ^t δ_t].
    Checked by enumeration: the printed form misses T_π^n V by exactly γ^n E[V(s_n)] − V(s), whose sup
    norm is ≥ (1 − γ^n)|V|_∞ ≥ 0.05 here (no terminal states, γ ≤ 0.95, 1 ≤ |V(s)| ≤ 2).
    """
    rng = np.random.default_rng(seed)
    policy = random_policy(rng, mdp.num_states, mdp.num_actions)
    v = torch.from_numpy(rng.uniform(1.0, 2.0, mdp.num_states) * rng.choice([-1.0, 1.0], mdp.num_states))
    kl = kl_to_reference(policy, mdp.ref_probs)
    parts = _eq37_parts(mdp, v, kl)
    printed = (policy * enumerate_expectation(mdp, policy, n, lambda *p: parts(*p)[0] + parts(*p)[1])).sum(-1)
    discounted_end = (policy * enumerate_expectation(mdp, policy, n, lambda *p: parts(*p)[1])).sum(-1)
    backup = nstep_policy_backup_v(mdp, policy, v, n)
    scale = max(sup(v), sup(mdp.rewards), mdp.tau * sup(kl), 1e-3)
    assert_close(printed - backup, discounted_end - v, RTOL, "printed (37) − T_π^n V", scale=scale)
    assert sup(printed - backup) > NEGATIVE_FACTOR * RTOL * scale  # the printed form fails the check


# --- n-step Boltzmann backup, Eqs. (40)-(41) and the note after (41) ------------------------------------


@THIRD
@given(finite_mdps(gamma=discounts), seeds, st.integers(1, 5))
def test_eq40_eq41_nstep_boltzmann_backup_is_expected_nstep_soft_target(mdp, seed, n):
    """Eqs. (40)-(41): T_{π^B_Q,n} Q = (T_{π^B_Q})^n Q (policy frozen at π^B_Q) equals
    τKL(s) + E[Σ_{t<n} γ^t (r_t − τKL_t) + γ^n V_Q(s_n)] (the DP of `expected_nstep_soft_target`, and
    the affine state-action form built here); T_{π^B_Q,1} Q = T Q.
    """
    q = random_q(mdp, seed)
    pi = reference_boltzmann(mdp, q)
    backup = nstep_boltzmann_backup(mdp, q, n)
    m, b = policy_operator(mdp, pi)
    affine = q.reshape(-1)
    for _ in range(n):
        affine = b + mdp.gamma * m @ affine
    scale = max(sup(q), sup(mdp.rewards), advantage_scale(mdp, q), 1e-3)
    assert_close(backup, expected_nstep_soft_target(mdp, q, n), RTOL, "Eq. (41)", scale=scale)
    assert_close(backup, affine.reshape(q.shape), RTOL, "Eq. (40) affine form", scale=scale)
    if n == 1:
        assert_close(backup, boltzmann_backup(mdp, q), RTOL, "T_{π^B_Q,1} Q = T Q", scale=scale)


@FEWER
@given(finite_mdps(min_states=1, gamma=discounts, tau=temperatures_not_one), seeds, st.integers(2, 5))
def test_note_after_eq41_nstep_boltzmann_backup_differs_from_iterated_backup(mdp, seed, n):
    """Note after (41): T_{π^B_Q,n} Q ≠ T^n Q for n ≥ 2.  Exactly, T Q' = max_π T_π Q' (Eq. (27)), so
    T_{π^B_Q,n} Q ≤ T^n Q elementwise, and for n = 2

        T² Q − T_{π^B_Q,2} Q = γ τ P · KL(π^B_Q ‖ π^B_{TQ})      (from Eq. (6)),

    which is > 0 wherever a non-terminal successor can be reached: the two operators are different.
    """
    q = random_q(mdp, seed, 3.0)
    frozen = nstep_boltzmann_backup(mdp, q, n)
    iterated = q
    for _ in range(n):
        iterated = boltzmann_backup(mdp, iterated)
    scale = max(sup(q), sup(mdp.rewards), 1e-3)
    assert float((iterated - frozen).min()) >= -RTOL * scale
    if n == 2:
        kl = kl_in_log_space(
            reference_boltzmann(mdp, q), reference_log_boltzmann(mdp, boltzmann_backup(mdp, q))
        )
        expected = mdp.gamma * mdp.tau * continuing_transitions(mdp) @ (kl * live(mdp))
        assert_close(iterated - frozen, expected, RTOL, "T²Q − T_{π,2}Q", scale=scale)


@FEWER
@given(finite_mdps(allow_terminal=False, gamma=discounts, tau=temperatures_not_one), st.integers(2, 5))
def test_note_after_eq41_negative_control_frozen_policy_is_not_iterated_backup(mdp, n):
    """The claim T_{π^B_Q,n} Q = T^n Q fails by far more than the tolerance.  Instances from
    `ranked_rewards` with Q = −R: π^B_Q prefers low-ranked actions while π^B_{TQ} (TQ = R + const)
    prefers high-ranked ones, so T^n Q − T_{π^B_Q,n} Q ≥ γ^{n−1} τ min_s KL(π^B_Q ‖ π^B_{TQ}) ≥ 0.27 γ^{n−1} τ
    (|A| ≤ 4; by monotonicity of T_π and Eq. (6)), against |T^n Q| ≤ τ(1 + n(1 + log|A|))."""
    mdp = ranked_rewards(mdp, 1.0)
    q = -mdp.rewards
    iterated = q
    for _ in range(n):
        iterated = boltzmann_backup(mdp, iterated)
    assert relative_gap(iterated, nstep_boltzmann_backup(mdp, q, n)) > NEGATIVE_GAP


# --- λ-backup, Eqs. (42)-(43) ----------------------------------------------------------------------------


def corrected_eq43(mdp: FiniteMDP, q: torch.Tensor, lam: float, printed: bool = False) -> torch.Tensor:
    """Eq. (43) built here in state-action space:  X(s,a) + E[Σ_{t≥0} (γλ)^t δ_t | s_0 = s, a_0 = a],

    δ_t = (r_t − τKL_t) + γ V_Q(s_{t+1}) − V_Q(s_t), a_{t≥1} ∼ π^B_Q, with X = τKL(s) + V_Q(s) (corrected)
    or X = Q(s,a) (as printed).  E[Σ(γλ)^t δ_t] = (I − γλ M)^{-1} δ̄ with M the state-action transitions.
    """
    pi = reference_boltzmann(mdp, q)
    v = reference_soft_value(mdp, q)
    kl = kl_to_reference(pi, mdp.ref_probs) * live(mdp)
    p = continuing_transitions(mdp)
    delta = (mdp.rewards - mdp.tau * kl[:, None] + mdp.gamma * p @ v - v[:, None]) * live(mdp)[:, None]
    m, _ = policy_operator(mdp, pi)
    eye = torch.eye(m.shape[0], dtype=DTYPE)
    future = torch.linalg.solve(eye - mdp.gamma * lam * m, delta.reshape(-1)).reshape(q.shape)
    front = q if printed else mdp.tau * kl[:, None] + v[:, None]
    return (front + future) * live(mdp)[:, None]


@FEWER
@given(finite_mdps(gamma=discounts), seeds, st.floats(0.0, 0.9))
def test_eq42_lambda_backup_equals_geometric_series_of_nstep_backups(mdp, seed, lam):
    """Eq. (42): T_{π^B_Q,λ} Q = (1 − λ) Σ_{n≥1} λ^{n−1} T_{π^B_Q,n} Q.

    The series is summed to N terms with N chosen so that the remainder λ^N · max_n |T_{π,n} Q|_∞ is
    below 1e-13 × scale (|T_{π,n} Q| ≤ |Q_π| + |Q − Q_π| for all n, a γ-contraction bound); checked
    against `lambda_boltzmann_backup` and against the closed form (I − λγM)^{-1}((1−λ)γ M Q + b) of the
    affine map T_π Q = b + γ M Q (state-action space, built here).
    """
    q = random_q(mdp, seed)
    pi = reference_boltzmann(mdp, q)
    _, q_pi = evaluate_policy(mdp, pi)
    bound = sup(q_pi) + sup(q - q_pi)
    scale = max(sup(q), sup(mdp.rewards), advantage_scale(mdp, q), 1e-3)
    terms = 1 if lam == 0.0 else max(1, math.ceil(math.log(1e-13 * scale / bound) / math.log(lam)))
    series = torch.zeros_like(q)
    t_n = q
    for k in range(1, terms + 1):
        t_n = policy_backup_q(mdp, pi, t_n)
        series = series + (1 - lam) * lam ** (k - 1) * t_n
    m, b = policy_operator(mdp, pi)
    eye = torch.eye(m.shape[0], dtype=DTYPE)
    closed = torch.linalg.solve(eye - lam * mdp.gamma * m, (1 - lam) * mdp.gamma * m @ q.reshape(-1) + b)
    backup = lambda_boltzmann_backup(mdp, q, lam)
    assert_close(backup, series, RTOL, "Eq. (42) series", scale=scale)
    assert_close(backup, closed.reshape(q.shape), RTOL, "Eq. (42) closed form", scale=scale)
    if lam == 0.0:
        assert_close(backup, boltzmann_backup(mdp, q), RTOL, "λ = 0 is T", scale=scale)


@THIRD
@given(finite_mdps(gamma=st.floats(0.0, 0.95), require_termination=True), seeds)
def test_eq42_lambda_one_is_the_policy_evaluation_of_boltzmann_policy(mdp, seed):
    """Eq. (42) at λ = 1: T_{π^B_Q,λ=1} Q = lim_n T_{π^B_Q}^n Q = Q_{π^B_Q} (the Monte-Carlo limit),
    compared with an independent linear solve (`evaluate_policy`); episodes terminate with probability 1."""
    q = random_q(mdp, seed)
    _, q_pi = evaluate_policy(mdp, reference_boltzmann(mdp, q))
    assert_close(
        lambda_boltzmann_backup(mdp, q, 1.0), q_pi, RTOL, "λ = 1", scale=max(sup(q_pi), sup(q), 1e-3)
    )


@THIRD
@given(finite_mdps(gamma=discounts), seeds, st.floats(0.0, 1.0))
def test_eq43_corrected_form_equals_lambda_backup(mdp, seed, lam):
    """Eq. (43) as corrected: [T_{π^B_Q,λ} Q](s,a) = τKL(s) + V_Q(s) + E[Σ_{t≥0} (γλ)^t δ_t | s, a]."""
    q = random_q(mdp, seed)
    scale = max(sup(q), sup(mdp.rewards), advantage_scale(mdp, q), 1e-3)
    assert_close(
        lambda_boltzmann_backup(mdp, q, lam), corrected_eq43(mdp, q, lam), RTOL, "Eq. (43)", scale=scale
    )


@THIRD
@given(finite_mdps(gamma=discounts, tau=temperatures_not_one), seeds, st.floats(0.0, 1.0))
def test_eq43_as_printed_is_wrong_erratum(mdp, seed, lam):
    """ERRATUM.  Eq. (43) as printed, Q(s,a) + E[Σ (γλ)^t δ_t | s, a], is NOT T_{π^B_Q,λ} Q (not even at
    λ = 0, where it should be T Q).  The printed form exceeds the true one by exactly

        Q(s,a) − V_Q(s) − τKL(s) = A_Q(s,a) − τKL(s) = τ [log(π^B_Q/π̄)(a|s) − KL(s)],

    which is generically far from 0 but has zero mean under a ∼ π^B_Q (so the printed form is right
    only on average over the first action).  It would hold if δ_0 were r_0 + γV_Q(s_1) − Q(s_0,a_0).
    """
    q = random_q(mdp, seed, 3.0)
    pi = reference_boltzmann(mdp, q)
    v = reference_soft_value(mdp, q)
    kl = kl_to_reference(pi, mdp.ref_probs) * live(mdp)
    true = lambda_boltzmann_backup(mdp, q, lam)
    printed = corrected_eq43(mdp, q, lam, printed=True)
    scale = max(sup(q), sup(mdp.rewards), advantage_scale(mdp, q), 1e-3)
    excess = (q - v[:, None] - mdp.tau * kl[:, None]) * live(mdp)[:, None]
    assert_close(printed - true, excess, RTOL, "printed (43) − true", scale=scale)
    assert_close(
        (pi * (printed - true)).sum(-1),
        torch.zeros(mdp.num_states, dtype=DTYPE),
        RTOL,
        "E_π[printed − true]",
        scale=scale,
    )
    if bool(live(mdp).any()):
        assert relative_gap(printed, true) > NEGATIVE_GAP  # the printed form fails the check above
    if lam == 0.0:
        assert relative_gap(printed, boltzmann_backup(mdp, q)) > NEGATIVE_GAP or not bool(live(mdp).any())


@FEWER
@given(finite_mdps(gamma=discounts), st.integers(1, 5), st.floats(0.0, 1.0))
def test_q_star_is_fixed_point_of_nstep_and_lambda_backups(mdp, n, lam):
    """Q* is also the fixed point of T_{π*,n} and T_{π*,λ} (π* = π^B_{Q*}, Eqs. (40)-(43))."""
    q_star = soft_policy_iteration(mdp)
    scale = max(1.0, sup(q_star))
    assert_close(nstep_boltzmann_backup(mdp, q_star, n), q_star, RTOL, "T_{π*,n} Q*", scale=scale)
    assert_close(lambda_boltzmann_backup(mdp, q_star, lam), q_star, RTOL, "T_{π*,λ} Q*", scale=scale)
