"""A catalogue of realistic RL-loss bugs, each caught by named property tests of this suite.

Every entry is a small wrong variant of a real function of ``equiv`` — the way the bug ships in RL
code, or the way the paper prints an equation that the proofs found to be wrong — together with the
property tests of the default suite that must fail on it.  ``tests/test_bug_catalogue.py`` applies
each variant by monkeypatching (never by editing the source), runs the named tests against it and
asserts that every one of them fails, and runs the same tests with the same settings against the
real implementation and asserts that they pass.  The measured outcome (which test, what error) is
kept in ``tests/BUG_CATALOGUE.md``; regenerate it with

    python -m tests.bug_catalogue --write

(which runs ``tests/test_bug_catalogue.py`` under pytest in write mode: the error messages of bare
``assert`` statements are pytest's rewritten ones, so the table is only produced under pytest).

How a variant is applied: test modules import functions by name (``from equiv import soft_value``),
so patching ``equiv.boltzmann.soft_value`` alone would not reach them.  :func:`applied` replaces the
function object in every namespace of the loaded ``equiv``, ``tests``, ``proofs`` and
``atari_check`` modules that holds it (internal callers look their callees up in their module
globals, so they see the variant too), and puts the originals back afterwards.

How a test is run: hypothesis-wrapped tests are called directly with their own strategies, but
derandomized with ``EXAMPLES`` examples whatever the profile, without shrinking, without the example
database and without hypothesis's pool of constants harvested from loaded modules (which would make
the examples depend on what else the process imported): a bug is caught at the first failing
example, the same one in every run, and the error reported is the one that example produced.
Plain tests are called as they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import sympy as sp
import torch

import equiv
from equiv import expected as equiv_expected
from equiv import losses as equiv_losses
from equiv import mdp as equiv_mdp
from equiv import targets as equiv_targets
from equiv._checks import check_float_tensor, check_gamma, check_positive_int, check_tau, check_unit_interval
from equiv.boltzmann import boltzmann_log_policy, kl_divergence, log_reference
from proofs import core as proofs_core
from proofs import exact as proofs_exact
from proofs import induction as proofs_induction
from proofs import registry as proofs_registry  # noqa: F401  (loaded before a variant is applied)
from proofs import symbolic as proofs_symbolic
from proofs import units as proofs_units

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "BUG_CATALOGUE.md"
RATES = ROOT / "tests" / "BUG_CATALOGUE_RATES.md"
WRITE_ENV = "EQUIV_WRITE_BUG_CATALOGUE"
PATCHED_PACKAGES = ("equiv", "tests", "proofs", "atari_check")
EXAMPLES = 20  # hypothesis examples per property test and bug (the ci profile runs 15-60)

# Originals, bound at import: the variants below call these, and this module is never patched.
_windowed_return = equiv_targets._windowed_return
_mdp_expected_advantage = equiv_expected.mdp_expected_advantage
_mdp_matched_soft_q_loss = equiv_expected.mdp_matched_soft_q_loss
_soft_q_gradient_terms = equiv_losses.soft_q_gradient_terms
_soft_value = equiv.soft_value


# ---- harness bug variants (atari_check/) ----
# Wrong variants of the training path's functions (atari_check.losses / lockstep), as they ship in
# A2C / DQN code; the entries are the "harness bugs" block at the end of CATALOGUE.
from atari_check import lockstep as harness_lockstep
from atari_check import losses as harness_losses

_actor_critic_per_sample = harness_losses.actor_critic_per_sample
_dqn_target = harness_losses.dqn_target
_lockstep_row = harness_lockstep._row


def harness_sql_one_over_gamma(algo, log_policy, values, next_values, actions, rewards, terminated, truncated, *,
                               gamma, tau, value_coef):
    """§6.3 as printed, in the harness's sql: the advantage-stream gradient scaled by 1/γ, not 1/τ."""
    if algo != "sql":
        return _actor_critic_per_sample(algo, log_policy, values, next_values, actions, rewards, terminated,
                                        truncated, gamma=gamma, tau=tau, value_coef=value_coef)
    kl = equiv.kl_divergence(log_policy).detach()
    target = equiv.nstep_soft_target(rewards, kl, next_values, terminated, truncated, gamma=gamma, tau=tau)
    return equiv.matched_soft_q_loss(values, log_policy, actions, target, tau=tau, value_scale=value_coef,
                                     advantage_scale=1.0 / gamma)  # BUG (as printed): 1/γ


def harness_a2c_kl_detached(algo, log_policy, values, next_values, actions, rewards, terminated, truncated, *,
                            gamma, tau, value_coef):
    """A2C whose τ KL(s_t) term is detached: the loss value is right, the −τ∇KL(s_t) gradient is gone."""
    if algo not in ("a2c-naive", "a2c-proper"):
        return _actor_critic_per_sample(algo, log_policy, values, next_values, actions, rewards, terminated,
                                        truncated, gamma=gamma, tau=tau, value_coef=value_coef)
    kl = equiv.kl_divergence(log_policy).detach()  # BUG: the KL that carries the gradient is detached too
    if algo == "a2c-proper":
        advantage = equiv.nstep_advantage(rewards, kl, values.detach(), next_values, terminated, truncated,
                                          gamma=gamma, tau=tau)
        value_target = values.detach() + advantage
    else:
        value_target = equiv.nstep_return(rewards, next_values, terminated, truncated, gamma=gamma)
        advantage = value_target - values.detach()
    log_pi_taken = equiv.gather_actions(log_policy, actions)
    return equiv.a2c_loss(log_pi_taken, kl, values, advantage, value_target, tau=tau, value_coef=value_coef)


def harness_plain_mean(x, mask):
    """The loss averaged over every row of the rollout, autoreset steps included (mask ignored)."""
    return x.mean()  # BUG: not (x * mask).sum() / mask.sum()


def harness_nstep_window_not_cut(algo, q_bar, rewards, terminated, truncated, *, gamma, tau, form="corrected"):
    """n-step DQN return that runs through episode ends inside the window (only the last step counts)."""
    if rewards.shape[0] == 1:
        return _dqn_target(algo, q_bar, rewards, terminated, truncated, gamma=gamma, tau=tau, form=form)
    n = rewards.shape[0]
    not_done = torch.zeros_like(terminated)
    not_done[n - 1] = terminated[n - 1]  # BUG: ends before the last step of the window are ignored
    return _dqn_target(algo, q_bar, rewards, not_done, torch.zeros_like(truncated), gamma=gamma, tau=tau, form=form)


def harness_soft_target_printed(algo, q_bar, rewards, terminated, truncated, *, gamma, tau, form="corrected"):
    """The 1-step KL backup as printed in Eq. (82) (no τ before the log) on the corrected path."""
    if algo == "dqn-soft-kl" and rewards.shape[0] == 1:
        form = "printed"  # BUG (as printed)
    return _dqn_target(algo, q_bar, rewards, terminated, truncated, gamma=gamma, tau=tau, form=form)


def harness_lockstep_expected_not_recentred(pair, g_sq, g_pg, g_star, g_estar, consistency):
    """The "expected" soft-Q gradient without the sampled (∗)/(∗∗) taken out: g_sq + E[(∗)], not
    g_sq − (∗) + E[(∗)] — the expected columns then report the sampled difference."""
    return _lockstep_row(pair, g_sq, g_pg, torch.zeros_like(g_star), g_estar, consistency)  # BUG


# --------------------------------------------------------------------------------------------------------
# The catalogue's data model


@dataclasses.dataclass(frozen=True)
class Bug:
    """A wrong variant of ``target`` (``"module.function"``) and the tests that must catch it."""

    name: str  # short id, used as the pytest id
    title: str  # what the variant does, in one line
    origin: str  # the bug class and where it has shipped, or the paper equation printed this way
    target: str  # "equiv.targets.nstep_soft_target": the real function the variant replaces
    wrong: Callable  # the variant, with the real function's signature
    caught_by: tuple[str, ...]  # pytest node ids (tests/test_x.py::test_y[param]) in the default suite
    regime: str = ""  # where the bug shows, if only in a regime (and which test covers that regime)
    crashes: tuple[str, ...] = ()  # tests of caught_by that fail by an exception, not an assertion

    @property
    def original(self) -> Callable:
        module, _, attribute = self.target.rpartition(".")
        return getattr(importlib.import_module(module), attribute)


# --------------------------------------------------------------------------------------------------------
# The wrong variants.  Each docstring says what is wrong, next to the line that is.


def _not_done(terminated: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return (~terminated).to(like.dtype)


def soft_target_entropy_outside_done_mask(rewards, next_q, terminated, *, gamma, tau, ref_policy=None):
    """y = r + γ(1 − d) E_π[Q̄(s')] − γ τ KL(s'): the KL (entropy) term of V(s') escapes the (1 − done)
    mask, so a transition into a terminal state is still charged the next state's KL."""
    log_pi = boltzmann_log_policy(next_q, tau, ref_policy)
    expected_q = (log_pi.exp() * next_q).sum(-1)
    penalty = tau * kl_divergence(log_pi, ref_policy)
    return rewards + gamma * _not_done(terminated, rewards) * expected_q - gamma * penalty  # BUG


def soft_target_next_state_entropy_dropped(rewards, next_q, terminated, *, gamma, tau, ref_policy=None):
    """y = r + γ(1 − d) E_{π^B_Q̄}[Q̄(s', ·)]: an expected-SARSA target under the Boltzmann policy with
    the −τ KL(s') term of V_Q̄(s') = E_π[Q̄] − τ KL (Eq. (31)) left out."""
    log_pi = boltzmann_log_policy(next_q, tau, ref_policy)
    expected_q = (log_pi.exp() * next_q).sum(-1)  # BUG: no − τ KL
    return rewards + gamma * _not_done(terminated, rewards) * expected_q


def regularized_return_kl_sign_flipped(
    rewards, kl, next_values, terminated, truncated=None, *, gamma, tau, n=None
):
    """V̂ = Σ γ^d (r + τ KL) + γ^m V: the KL penalty added as a bonus (entropy-bonus sign convention
    applied to a KL term)."""
    terminated, truncated = equiv_targets._check_segment(rewards, next_values, terminated, truncated, kl=kl)
    return _windowed_return(rewards + tau * kl, next_values, terminated, truncated, gamma, n)  # BUG: + τ KL


def policy_loss_kl_sign_flipped(log_pi_taken, advantage, kl, *, tau):
    """L_policy = −log π Δ − τ KL: minimising it maximises the KL to π̄ (the entropy-bonus sign error)."""
    return -log_pi_taken * advantage.detach() - tau * kl  # BUG: − τ KL


def kl_divergence_reversed(log_policy, ref_policy=None):
    """KL(π̄ ‖ π) = Σ π̄ (log π̄ − log π) where KL(π ‖ π̄) is meant (arguments swapped)."""
    log_ref = log_reference(ref_policy, log_policy, like_name="log_policy").expand_as(log_policy)
    ref = log_ref.exp()
    zero = torch.zeros((), dtype=log_policy.dtype)
    return torch.where(ref > 0, ref * (log_ref - log_policy), zero).sum(-1)  # BUG: E_π̄, not E_π


def soft_q_loss_target_not_detached(q_taken, target):
    """½ (Q_θ − y)² with y not detached: the gradient also flows into the target (no stop-gradient)."""
    return 0.5 * (q_taken - target) ** 2  # BUG: target, not target.detach()


def value_loss_target_not_detached(values, value_target):
    """½ (V_θ − V̂)² with V̂ built from V_θ and not detached (returns computed from the critic with grad)."""
    return 0.5 * (values - value_target) ** 2  # BUG: value_target, not value_target.detach()


def windowed_return_bootstraps_through_terminal(step_rewards, next_values, terminated, truncated, gamma, n):
    """n-step return that stops summing at a termination but still adds γ^m V(s_{t+m}) there:
    ``bootstrap = gamma * next_values`` without the (1 − terminated) mask."""
    nothing = torch.zeros_like(terminated)
    return _windowed_return(step_rewards, next_values, nothing, terminated | truncated, gamma, n)  # BUG


def windowed_return_truncation_as_termination(step_rewards, next_values, terminated, truncated, gamma, n):
    """n-step return with ``done = terminated or truncated`` used as the bootstrap mask: a time-limit
    truncation is treated as a terminal state and its final observation is not bootstrapped."""
    nothing = torch.zeros_like(truncated)
    return _windowed_return(step_rewards, next_values, terminated | truncated, nothing, gamma, n)  # BUG


def windowed_return_discount_off_by_one(step_rewards, next_values, terminated, truncated, gamma, n):
    """n-step return whose bootstrap is discounted by γ^{m−1} instead of γ^m (``gamma ** (n - 1)``)."""
    T = step_rewards.shape[0]
    m = T if n is None else min(n, T)
    zero = torch.zeros((), dtype=step_rewards.dtype)
    done = terminated | truncated
    bootstrap = torch.where(terminated, zero, next_values)  # BUG: the factor γ is missing
    total = torch.zeros_like(step_rewards)
    alive = torch.ones_like(terminated)
    discount = 1.0
    for d in range(m):  # the loop of equiv.targets._windowed_return, unchanged
        length = T - d
        valid = alive[:length]
        segment_end = torch.zeros_like(valid)
        segment_end[length - 1] = True
        ends = valid & (done[d:] | segment_end | (d == m - 1))
        contribution = torch.where(valid, discount * step_rewards[d:], zero) + torch.where(
            ends, discount * bootstrap[d:], zero
        )
        padding = torch.zeros((d,) + tuple(step_rewards.shape[1:]), dtype=zero.dtype)
        total = total + torch.cat([contribution, padding])
        alive = torch.cat([valid & ~ends, torch.zeros_like(alive[length:])])
        discount *= gamma
    return total


def lambda_target_not_reset_at_episode_end(
    rewards, kl, values, next_values, terminated, truncated=None, *, gamma, tau, lam
):
    """λ-target whose backward accumulator is not reset at episode ends: ``gae = delta + γλ gae`` without
    the (1 − done) factor, so TD errors of the next episode leak into this one."""
    gamma, tau, lam = check_gamma(gamma), check_tau(tau), check_unit_interval(lam, "lam")
    terminated, truncated = equiv_targets._check_segment(
        rewards, next_values, terminated, truncated, kl=kl, values=values
    )
    zero = torch.zeros((), dtype=rewards.dtype)
    delta = rewards - tau * kl + gamma * torch.where(terminated, zero, next_values) - values
    accumulated, running = [], torch.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + gamma * lam * running  # BUG: not masked by (1 − done[t])
        accumulated.append(running)
    return tau * kl + values + torch.stack(accumulated[::-1])


def boltzmann_backup_hard_max(mdp, q):
    """[T Q](s,a) = R + γ E[max_a' Q(s',a')]: the DQN backup where τ log E_π̄ exp(Q/τ) belongs."""
    q = equiv_mdp._check_action_values(mdp, q)
    v_next = equiv_mdp._live(mdp, q.max(-1).values)  # BUG: hard max
    return equiv_mdp._live(mdp, mdp.rewards + mdp.gamma * mdp.continuation @ v_next)


def boltzmann_backup_missing_tau(mdp, q):
    """[T Q](s,a) = R + γ E[log E_π̄ exp(Q(s',·)/τ)]: the factor τ in front of the log is missing, so the
    backup adds reward units to units of 1/τ (correct only at τ = 1)."""
    q = equiv_mdp._check_action_values(mdp, q)
    v_next = torch.logsumexp(q / mdp.tau + torch.log(mdp.ref_probs), -1)  # BUG: no τ ·
    return equiv_mdp._live(mdp, mdp.rewards + mdp.gamma * mdp.continuation @ equiv_mdp._live(mdp, v_next))


def expected_advantage_one_step_entropy_bonus(mdp, log_policy, values, n, regularized=True):
    """E[Δ_t | s, a] from the plain return Σ γ^d r + γ^n V, whatever is asked: the "A3C entropy bonus"
    estimator, with the KL only at s_t in the loss, used where the proper estimator (80) is claimed."""
    return _mdp_expected_advantage(mdp, log_policy, values, n, regularized=False)  # BUG: ignores the flag


def gradient_terms_value_coefficient_half(values, log_policy, actions, target, *, tau, ref_policy=None):
    """The split of the soft-Q gradient (Eqs. (64)-(65)) with the value error weighted τ·c, c = 0.5
    (A2C's usual value coefficient) instead of τ·(1/τ) = 1."""
    terms = _soft_q_gradient_terms(values, log_policy, actions, target, tau=tau, ref_policy=ref_policy)
    return terms._replace(value_error=tau * 0.5 * terms.value_error)  # BUG: c = 0.5 where 1/τ is needed


def soft_value_without_max_shift(q, tau, ref_policy=None):
    """V_Q = τ log Σ π̄ exp(Q/τ) computed as written, without the max shift of logsumexp: exp(Q/τ)
    overflows to inf (or underflows to 0, log 0 = −inf) once |Q|/τ ≳ 709 in float64."""
    q = check_float_tensor(q, "q", min_dim=1)
    tau = check_tau(tau)
    ref = log_reference(ref_policy, q).exp()
    return tau * torch.log((ref * torch.exp(q / tau)).sum(-1))  # BUG: no max shift


def soft_value_uniform_reference(q, tau, ref_policy=None):
    """V_Q = τ log mean_a exp(Q/τ): the reference policy π̄ is ignored (uniform assumed), the Atari
    entropy-bonus form used where a KL penalty against a non-uniform π̄ is meant."""
    q = check_float_tensor(q, "q", min_dim=1)
    tau = check_tau(tau)
    return tau * torch.logsumexp(q / tau - math.log(q.shape[-1]), dim=-1)  # BUG: ref_policy ignored


def boltzmann_log_policy_missing_tau(q, tau, ref_policy=None):
    """log π^B_Q = log_softmax(Q + log π̄): the temperature is left out of the policy (π ∝ π̄ exp(Q)),
    while the soft value and the targets use it."""
    q = check_float_tensor(q, "q", min_dim=1)
    tau = check_tau(tau)
    return torch.log_softmax(q + log_reference(ref_policy, q), dim=-1)  # BUG: Q, not Q/τ


# --- the printed forms of the paper's equations that the proofs found wrong (errata) -------------------


def lambda_backup_as_printed_eq43(mdp, q, lam):
    """Eq. (43) as printed: [T_{π^B_Q,λ} Q](s,a) = Q(s,a) + E[Σ_t (γλ)^t δ_t | s, a] (the corrected form
    has τ KL(s) + V_Q(s) in place of Q(s,a))."""
    q = equiv_mdp._check_action_values(mdp, q)
    lam = check_unit_interval(lam, "lam")
    policy = equiv_mdp._boltzmann(mdp, q)
    v = equiv_mdp._live(mdp, _soft_value(q, mdp.tau, mdp.ref_probs))
    kl = equiv_mdp.policy_kl(mdp, policy)
    delta = equiv_mdp._live(
        mdp, mdp.rewards - mdp.tau * kl[:, None] + mdp.gamma * mdp.continuation @ v - v[:, None]
    )
    p_pi = equiv_mdp.policy_transition_matrix(mdp, policy)
    system = torch.eye(mdp.num_states, dtype=mdp.dtype) - mdp.gamma * lam * p_pi
    future = torch.linalg.solve(system, (policy * delta).sum(-1))
    total = delta + mdp.gamma * lam * mdp.continuation @ future
    return equiv_mdp._live(mdp, q + total)  # BUG (as printed): Q(s,a), not τ KL(s) + V_Q(s)


def nstep_value_backup_as_printed_eq37(mdp, policy, v, n):
    """Eq. (37) as printed: [T_π^n V](s) = E[Σ_{t<n} γ^t δ_t + γ^n V(s_n) | s_0 = s].  Σ γ^t δ_t already
    telescopes to the n-step return minus V(s_0), so this is T_π^n V − V + γ^n E[V(s_n)]."""
    n = check_positive_int(n, "n")
    mean_delta = equiv_mdp.policy_backup_v(mdp, policy, v) - v  # E_{a∼π}[δ_0 | s_0 = s], Eq. (36)
    p_pi = equiv_mdp.policy_transition_matrix(mdp, policy)
    total, reach = torch.zeros_like(v), torch.eye(mdp.num_states, dtype=mdp.dtype)
    for t in range(n):
        total = total + mdp.gamma**t * reach @ mean_delta
        reach = reach @ p_pi
    return total + mdp.gamma**n * reach @ v  # BUG (as printed): + γ^n V(s_n) on top of the telescoped Σ δ


def one_step_target_as_printed_eq82(rewards, next_q, terminated, *, gamma, tau, ref_policy=None):
    """Eq. (82) as printed: y = r + γ (log Σ_a' exp(Q̄(s',a')/τ) − log|A|), i.e. γ V_Q̄(s')/τ (with a
    general π̄: γ log E_π̄ exp(Q̄/τ)) — no τ in front of the log."""
    gamma = check_gamma(gamma)
    next_value = _soft_value(next_q, tau, ref_policy) / tau  # BUG (as printed): V/τ
    return rewards + gamma * _not_done(terminated, rewards) * next_value


def entropy_bonus_target_as_printed_eq83(rewards, next_q, terminated, *, gamma, tau):
    """Eq. (83) as printed: y = r + γ log Σ_a' exp(Q̄(s',a')/τ) — no τ in front of the log."""
    gamma, tau = check_gamma(gamma), check_tau(tau)
    next_value = torch.logsumexp(next_q / tau, dim=-1)  # BUG (as printed): no τ ·
    return rewards + gamma * _not_done(terminated, rewards) * next_value


def matched_loss_as_printed_one_over_gamma(
    mdp, log_policy, values, state_weights, n, *, value_scale=0.5, advantage_scale=None
):
    """§6.3 as printed: the advantage-stream gradient is scaled by 1/γ (the equivalence needs 1/τ)."""
    if advantage_scale is None:
        advantage_scale = 1.0 / mdp.gamma  # BUG (as printed): 1/γ
    return _mdp_matched_soft_q_loss(
        mdp, log_policy, values, state_weights, n, value_scale=value_scale, advantage_scale=advantage_scale
    )


def nstep_advantage_as_printed_eq80(
    rewards, kl, values, next_values, terminated, truncated=None, *, gamma, tau, n=None
):
    """Eq. (80) as printed: Δ_t = Σ_{d<n} γ^d (r_{t+d} − τ KL_{t+d}) − V(s_t), without the bootstrap
    γ^n V(s_{t+n})."""
    terminated, truncated = equiv_targets._check_segment(
        rewards, next_values, terminated, truncated, kl=kl, values=values
    )
    no_bootstrap = torch.zeros_like(next_values)  # BUG (as printed): no γ^n V(s_{t+n})
    return _windowed_return(rewards - tau * kl, no_bootstrap, terminated, truncated, gamma, n) - values


def regularized_return_as_printed_eq54(
    rewards, kl, next_values, terminated, truncated=None, *, gamma, tau, n=None
):
    """Eq. (54) as printed (its most favourable reading): V̂_t = Σ_{d<n} γ^d r_{t+d} + γ^n V(s_{t+n}),
    the value-regression target without the −τ KL_{t+d} terms."""
    terminated, truncated = equiv_targets._check_segment(rewards, next_values, terminated, truncated, kl=kl)
    return _windowed_return(rewards, next_values, terminated, truncated, gamma, n)  # BUG (as printed): no KL


def soft_value_as_printed_eq11(q, tau, ref_policy=None):
    """Eq. (11) as printed: v = τ log E_π̄[exp(q)/τ] — the /τ outside the exp."""
    q = check_float_tensor(q, "q", min_dim=1)
    tau = check_tau(tau)
    log_ref = log_reference(ref_policy, q)
    return tau * (torch.logsumexp(q + log_ref, dim=-1) - math.log(tau))  # BUG (as printed): exp(q)/τ


def finite_horizon_surrogate_as_printed_eq49(mdp, log_policy, initial, horizon, estimator="proper"):
    """Eq. (49) as printed, with r_0 in place of r_t: ∇log π(a_t|s_t) (r_0 + Σ_{d≥1} γ^d (r − τKL)_{t+d}).
    In expectation r_0 only counts at t = 0 (E[∇log π(a_t|s_t) r_0] = 0 for t ≥ 1), so the step-t
    weight loses its own reward R(s_t, a_t) for every t ≥ 1."""
    log_policy = equiv_mdp._check_action_values(mdp, log_policy, "log_policy")
    horizon = check_positive_int(horizon, "horizon")
    pd = log_policy.exp().detach()
    qs = equiv_mdp._finite_horizon_q(mdp, pd, horizon, regularized=(estimator == "proper"))
    rho = equiv_mdp.state_distributions(mdp, pd, initial, horizon)
    kl = equiv_mdp._live(mdp, kl_divergence(log_policy, mdp.ref_probs))
    live = (~mdp.terminal_mask).to(mdp.dtype)
    total = torch.zeros((), dtype=mdp.dtype)
    for t in range(horizon):
        q_to_go = qs[horizon - 1 - t] - (mdp.rewards if t > 0 else 0.0)  # BUG (as printed): r_0, not r_t
        score = (pd * log_policy * q_to_go).sum(-1)
        total = total + (rho[t] * live) @ (score - mdp.tau * kl)
    return total


def a2c_loss_as_printed_eq52(mdp, log_policy, values, state_weights, n, *, value_coef, estimator="proper"):
    """Eq. (52) as printed: the policy term E[∇log π Σ γ^d δ_{t+d}] without the −τ∇KL(s_t) term."""
    value_coef = float(value_coef)
    log_policy = equiv_mdp._check_action_values(mdp, log_policy, "log_policy")
    values = equiv_mdp._check_state_vector(mdp, values, "values")
    w = equiv_expected._weights(mdp, state_weights)
    advantage = _mdp_expected_advantage(mdp, log_policy, values, n, regularized=(estimator == "proper"))
    pd = log_policy.detach().exp()
    policy_term = -(pd * log_policy * advantage).sum(-1)  # BUG (as printed): no + τ KL(s_t)
    value_target = values.detach()[:, None] + advantage
    value_term = (pd * 0.5 * (values[:, None] - value_target) ** 2).sum(-1)
    return w @ (policy_term + value_coef * value_term)


# --------------------------------------------------------------------------------------------------------
# The catalogue


T = "tests/test_targets.py::"
PM = "tests/test_proofs_machinery.py::"
PR = "tests/test_proofs_registry.py::"
OPS = "tests/test_operators.py::"
MDP_EQ = "tests/test_mdp_equivalence.py::"
VC = "tests/test_value_coefficient.py::"
PG = "tests/test_policy_gradient_estimators.py::"
UNB = "tests/test_target_unbiasedness.py::"
BZ = "tests/test_boltzmann.py::"
BANDIT = "tests/test_bandit_equivalence.py::"
STAB = "tests/test_numerical_stability.py::"
SHARP = "tests/test_sharper_properties.py::"
PROOFS = "tests/test_proofs_checks.py::"
SCALE = "tests/test_reward_scaling.py::"
TP = "tests/test_atari_training_path.py::"  # harness bugs

# ---- proofs machinery variants (proofs/): the verdict machinery, wrong the way a reviewer would break it

_decide = proofs_symbolic.decide
_decide_all = proofs_symbolic.decide_all
_by_induction = proofs_induction.by_induction


def decide_all_passes_if_one_instance_passes(results, joiner="; "):
    """decide_all that fails only when every instance fails: a statement that holds for k = 2 but fails
    for k = 3 is reported as holding."""
    if all(r.outcome == "fail" for r in results):
        return _decide_all(results, joiner)
    return _decide_all([r for r in results if r.outcome == "pass"], joiner)  # BUG: failures dropped


def decide_undecided_is_a_pass(lhs, rhs, witness, *, statement, wrong=None, wrong_label="", setting="",
                               control=True):
    """decide that calls an identity it could not reduce, but that agrees at the witness, a pass."""
    try:
        return _decide(lhs, rhs, witness, statement=statement, wrong=wrong, wrong_label=wrong_label,
                       setting=setting, control=control)
    except ArithmeticError:
        return proofs_core.CheckResult("pass", f"{statement}: agrees at the witness")  # BUG: undecided → pass


def decide_control_not_required(lhs, rhs, witness, *, statement, wrong=None, wrong_label="", setting="",
                                control=True):
    """decide that lets an identity pass without a negative control, or with one that was not refuted."""
    try:
        return _decide(lhs, rhs, witness, statement=statement, wrong=wrong, wrong_label=wrong_label,
                       setting=setting, control=control)
    except (ValueError, ArithmeticError) as err:
        if "negative control" not in str(err):
            raise
        return _decide(lhs, rhs, witness, statement=statement, setting=setting, control=False)  # BUG


def by_induction_without_the_inductive_step(statement, lhs_term, lhs_rest, rhs_term, rhs_rest, witness,
                                            wrong=None, wrong_label="", explicit=(2, 3)):
    """by_induction that stops after the base case and the explicit cases n = 2, 3: "holds for every n"
    from three instances."""
    def side(term, rest, n):
        return sp.Add(*[term(t) for t in range(n)]) + rest(n)

    base = _decide(side(lhs_term, lhs_rest, 1), side(rhs_term, rhs_rest, 1), witness,
                   statement=f"{statement}, n = 1", wrong=None if wrong is None else side(*wrong, 1),
                   wrong_label=wrong_label)
    if base.outcome == "fail":
        return base
    for n in explicit:
        case = _decide(side(lhs_term, lhs_rest, n), side(rhs_term, rhs_rest, n), witness,
                       statement=f"{statement}, n = {n}", control=False)
        if case.outcome == "fail":
            return case
    return base  # BUG: the inductive step n → n+1 is never checked


def generic_value_shared_between_sequences(sequence, index):
    """Witness values that depend on the index only: r_t = KL_t = V_t, so a statement that swaps two
    sequences cannot be refuted at the witness (the witness of proofs/induction.py before issue 14)."""
    return sp.Rational(index + 2, index + 3)  # BUG: ignores ``sequence``


def printed_form_agrees_below_gap(statement, gap):
    """A numeric printed form accepted for any gap up to GAP = 1e-4 (10⁶ × the stated 1e-10)."""
    if gap <= proofs_exact.GAP:  # BUG: should be REL_TOL
        return proofs_core.passed(f"{statement} (relative gap {gap:.3g})", gap=gap)
    raise ArithmeticError(f"{statement}: undecided")


def has_evidence_without_a_control(results):
    """'holds' from any passing check, units checks and checks without a negative control included."""
    return any(r.passed for r in results.values())  # BUG: no refuted control required


def extended_keeps_only_the_remark(result, more):
    """extended() that returns a pass whatever the result it extends (the pattern of four checks that
    returned passed(out.detail + …) after a failed decide_all)."""
    return proofs_core.passed(result.detail + more)  # BUG: a failed decision becomes a pass


def run_check_error_is_a_pass(id):
    """run_check that reports a check that raised as passing (an error silently a verdict)."""
    chk = proofs_core.get_check(id)
    try:
        return chk.func()
    except Exception as err:
        return proofs_core.CheckResult("pass", f"check raised {err!r}")  # BUG: should be "error"


def dimension_sums_unchecked(expr):
    """Units: a sum takes the units of its first term without comparing the others (r + log Z passes)."""
    if isinstance(expr, sp.Add):
        return dimension_sums_unchecked(expr.args[0])  # BUG: the other terms are not compared
    if isinstance(expr, (sp.Mul,)):
        return sum((dimension_sums_unchecked(f) for f in expr.args), sp.Integer(0))
    return _dimension(expr)


_dimension = proofs_units.dimension


def numerator_is_zero_without_common_denominator(expr):
    """Zero test: the numerators of a sum's terms added without bringing them to a common denominator."""
    return sp.expand(sp.Add(*(sp.numer(sp.together(t)) for t in sp.Add.make_args(expr)))) == 0  # BUG


CATALOGUE: tuple[Bug, ...] = (
    Bug(
        "entropy_outside_done_mask",
        "soft target r + γ(1−d)E_π[Q̄] − γτKL(s'): the KL/entropy term outside the (1 − done) mask",
        "SAC-style targets with α·log π subtracted after the γ(1−d) factor; reported in "
        "rail-berkeley/serl#93",
        "equiv.targets.one_step_soft_target",
        soft_target_entropy_outside_done_mask,
        (
            T + "test_dqn_targets_by_hand",
            T + "test_nstep_soft_target_with_n1_is_the_one_step_target_eq45",
        ),
        "only on transitions into terminal states",
    ),
    Bug(
        "next_state_entropy_dropped",
        "soft target r + γ(1−d)E_{π^B}[Q̄(s')]: the −τKL(s') of the next state's soft value dropped",
        "soft Q / SAC target written as an expected-SARSA target (entropy term of V(s') left out)",
        "equiv.targets.one_step_soft_target",
        soft_target_next_state_entropy_dropped,
        (
            T + "test_dqn_targets_by_hand",
            T + "test_nstep_soft_target_with_n1_is_the_one_step_target_eq45",
        ),
    ),
    Bug(
        "kl_sign_flipped_in_return",
        "regularised return Σγ^d(r + τKL): the KL penalty added as a bonus",
        "entropy-bonus sign convention (+τH) carried over to a KL penalty (−τKL)",
        "equiv.targets.nstep_regularized_return",
        regularized_return_kl_sign_flipped,
        (
            T + "test_nstep_regularized_return_and_soft_target_eq46",
            T + "test_nstep_targets_match_naive_loop",
            MDP_EQ + "test_eq65_expected_losses_match_trajectory_enumeration",
        ),
    ),
    Bug(
        "kl_sign_flipped_in_policy_loss",
        "policy loss −log π·Δ − τKL: the regulariser with the wrong sign",
        "entropy-bonus sign error in a policy loss; e.g. the fix proposed in nebuly-ai/optimate#250",
        "equiv.losses.policy_loss",
        policy_loss_kl_sign_flipped,
        (VC + "test_scaled_update_per_sample_is_a2c_plus_zero_mean_residual",),
    ),
    Bug(
        "reverse_kl",
        "KL(π̄‖π) computed where KL(π‖π̄) is meant",
        "KL arguments swapped (KL(old‖new) vs KL(new‖old)); e.g. tensorforce/tensorforce#107",
        "equiv.boltzmann.kl_divergence",
        kl_divergence_reversed,
        (
            BZ + "test_eq32_soft_advantage_is_tau_log_ratio",
            BANDIT + "test_eq13_soft_value_is_regularized_expectation_under_boltzmann",
            MDP_EQ + "test_eq65_expected_soft_q_gradient_equals_tau_a2c_gradient",
        ),
    ),
    Bug(
        "target_not_detached",
        "soft-Q loss ½(Q − y)² with y not detached (no stop-gradient on the target)",
        "TD target computed with gradient (no torch.no_grad / detach); e.g. "
        "philtabor/Deep-Q-Learning-Paper-To-Code#16, datawhalechina/easy-rl#117",
        "equiv.losses.soft_q_loss",
        soft_q_loss_target_not_detached,
        (SHARP + "test_eq60_soft_q_loss_is_a_semi_gradient_when_the_target_depends_on_theta",),
        "only when the target depends on θ (no target network); no test before the catalogue had one",
    ),
    Bug(
        "value_target_not_detached",
        "value loss ½(V − V̂)² with V̂ built from V_θ and not detached",
        "returns / value targets computed from the critic with gradient",
        "equiv.losses.value_loss",
        value_loss_target_not_detached,
        (SHARP + "test_eq84_eq86_a2c_losses_are_semi_gradients_when_targets_depend_on_theta",),
        "only when V̂ depends on θ; no test before the catalogue had one",
    ),
    Bug(
        "bootstrap_through_terminal",
        "n-step return bootstraps γ^m V(s_{t+m}) from a terminal state",
        "missing (1 − done) on the bootstrap; e.g. RoboVerseOrg/RoboVerse#814",
        "equiv.targets._windowed_return",
        windowed_return_bootstraps_through_terminal,
        (
            T + "test_nstep_return_termination_mid_segment",
            T + "test_nstep_targets_match_naive_loop",
        ),
        "only where V(s_terminal) ≠ 0 is fed in: the expected-target tests set V = 0 at terminal states "
        "and cannot see it",
    ),
    Bug(
        "truncation_as_termination",
        "n-step return does not bootstrap at a time-limit truncation (done = terminated or truncated)",
        "time limits treated as terminal states; e.g. Toni-SM/skrl#363, #438",
        "equiv.targets._windowed_return",
        windowed_return_truncation_as_termination,
        (
            T + "test_nstep_return_truncation_bootstraps_from_final_observation",
            T + "test_nstep_targets_match_naive_loop",
        ),
        "only at truncated steps",
    ),
    Bug(
        "nstep_discount_off_by_one",
        "n-step bootstrap discounted by γ^(m−1) instead of γ^m",
        "off-by-one in the n-step discount exponent (gamma ** (n - 1) for gamma ** n)",
        "equiv.targets._windowed_return",
        windowed_return_discount_off_by_one,
        (
            T + "test_nstep_return_segment_end_and_window_lengths",
            T + "test_nstep_targets_match_naive_loop",
            MDP_EQ + "test_eq65_expected_losses_match_trajectory_enumeration",
        ),
    ),
    Bug(
        "lambda_accumulator_not_reset",
        "λ-target (GAE-style) accumulator not reset at episode ends",
        "GAE recursion without (1 − done); e.g. vietnh1009/Super-mario-bros-PPO-pytorch#21",
        "equiv.targets.lambda_soft_target",
        lambda_target_not_reset_at_episode_end,
        (T + "test_lambda_soft_target_by_hand", T + "test_lambda_soft_target_matches_naive_loop"),
    ),
    Bug(
        "hard_max_backup",
        "Boltzmann backup computed with max_a' Q(s',a') where τ log E_π̄ exp(Q/τ) belongs",
        "DQN target left in a soft Q-learning implementation",
        "equiv.mdp.boltzmann_backup",
        boltzmann_backup_hard_max,
        (
            OPS + "test_eq38_equals_eq39_and_printed_inner_term_is_a_typo",
            UNB + "test_sec35_one_step_target_is_unbiased_for_any_behaviour",
            OPS + "test_q_of_optimal_policy_is_q_star",
        ),
    ),
    Bug(
        "soft_backup_missing_tau",
        "Boltzmann backup R + γ log E_π̄ exp(Q/τ): τ missing in front of the log (dimension error)",
        "temperature missing from the soft TD update; e.g. haarnoja/softqlearning#5",
        "equiv.mdp.boltzmann_backup",
        boltzmann_backup_missing_tau,
        (
            OPS + "test_eq38_equals_eq39_and_printed_inner_term_is_a_typo",
            UNB + "test_sec35_one_step_target_is_unbiased_for_any_behaviour",
            SCALE + "test_mdp_values_scale_and_policies_are_invariant",
        ),
        "vanishes at τ = 1",
    ),
    Bug(
        "one_step_entropy_bonus_claimed_proper",
        "expected advantage of the naive estimator (79) returned where the proper (80) is asked for",
        "A3C-style loss: entropy bonus at s_t only, plain returns, presented as the entropy-regularised "
        "policy gradient",
        "equiv.expected.mdp_expected_advantage",
        expected_advantage_one_step_entropy_bonus,
        (
            PG + "test_eq80_nstep_estimator_with_bootstrap_is_unbiased",
            MDP_EQ + "test_eq65_expected_losses_match_trajectory_enumeration",
        ),
        "the expected policy gradient differs only for n ≥ 2 (at n = 1 the missing τKL(s_t) does not "
        "depend on a_t); the advantage itself differs for every n",
    ),
    Bug(
        "value_coefficient_half",
        "soft-Q gradient split (64)-(65) with value coefficient 0.5 where the equivalence needs 1/τ",
        "A2C's default vf_coef = 0.5 kept when matching soft Q-learning",
        "equiv.losses.soft_q_gradient_terms",
        gradient_terms_value_coefficient_half,
        (MDP_EQ + "test_eq64_single_sample_gradient_is_pg_plus_value_plus_star_terms",),
        "vanishes at τ = 2",
    ),
    Bug(
        "logsumexp_without_max_shift",
        "soft value τ log Σ π̄ exp(Q/τ) without the max shift",
        "naive log-sum-exp; failure of τ log Σ exp(Q/τ) as τ → 0 discussed in haarnoja/softqlearning#5",
        "equiv.boltzmann.soft_value",
        soft_value_without_max_shift,
        (
            STAB + "test_soft_value_is_finite_and_within_bounds",
            STAB + "test_extreme_corners",
        ),
        "overflow only for |Q|/τ ≳ 709 (small τ or large Q): the stability tests draw τ ∈ [1e-4, 1e4], "
        "|Q| ≤ 1e4",
    ),
    Bug(
        "reference_policy_ignored",
        "soft value τ log mean_a exp(Q/τ): π̄ ignored (uniform assumed)",
        "entropy-bonus (uniform π̄) code used with a KL penalty against a non-uniform π̄",
        "equiv.boltzmann.soft_value",
        soft_value_uniform_reference,
        (
            BZ + "test_eq12_eq30_boltzmann_policy_is_a_distribution_and_matches_definition",
            BANDIT + "test_eq13_soft_value_is_regularized_expectation_under_boltzmann",
            OPS + "test_eq31_soft_value_is_regularized_expectation_under_boltzmann",
        ),
        "vanishes for uniform π̄",
    ),
    Bug(
        "boltzmann_policy_missing_tau",
        "Boltzmann policy softmax(Q + log π̄): the temperature left out of the policy",
        "softmax(Q) where softmax(Q/τ) belongs; e.g. BY571/Munchausen-RL#2",
        "equiv.boltzmann.boltzmann_log_policy",
        boltzmann_log_policy_missing_tau,
        (
            BZ + "test_eq12_eq30_boltzmann_policy_is_a_distribution_and_matches_definition",
            BZ + "test_eq14_eq57_q_round_trip",
            MDP_EQ + "test_eq65_expected_soft_q_gradient_equals_tau_a2c_gradient",
        ),
        "vanishes at τ = 1",
    ),
    # --- the paper's equations as printed (errata found by the proofs) ---------------------------------
    Bug(
        "printed_eq43_lambda_backup",
        "λ-backup as printed in (43): Q(s,a) + E[Σ(γλ)^t δ_t]",
        "paper erratum, Eq. (43) (proofs: eq043_printed_vs_series)",
        "equiv.mdp.lambda_boltzmann_backup",
        lambda_backup_as_printed_eq43,
        (
            OPS + "test_eq43_corrected_form_equals_lambda_backup",
            OPS + "test_eq42_lambda_backup_equals_geometric_series_of_nstep_backups",
            OPS + "test_q_star_is_fixed_point_of_nstep_and_lambda_backups",
        ),
    ),
    Bug(
        "printed_eq37_nstep_value_backup",
        "n-step value backup as printed in (37): E[Σγ^t δ_t + γ^n V(s_n)]",
        "paper erratum, Eq. (37)",
        "equiv.mdp.nstep_policy_backup_v",
        nstep_value_backup_as_printed_eq37,
        (
            OPS + "test_eq34_eq37_nstep_policy_backup_v_equals_enumeration",
            PROOFS + "test_numeric_check[eq054_corrected_expectation]",
        ),
    ),
    Bug(
        "printed_eq82_kl_target",
        "'soft, KL penalty' DQN target as printed in (82): r + γ log E_π̄ exp(Q̄/τ), no τ",
        "paper erratum, Eq. (82) (dimension error; proofs: units_eq082)",
        "equiv.targets.one_step_soft_target",
        one_step_target_as_printed_eq82,
        (
            T + "test_dqn_targets_by_hand",
            T + "test_soft_targets_tend_to_hard_max_as_tau_goes_to_zero",
            T + "test_nstep_soft_target_with_n1_is_the_one_step_target_eq45",
        ),
        "vanishes at τ = 1",
    ),
    Bug(
        "printed_eq83_entropy_target",
        "'soft, entropy bonus' DQN target as printed in (83): r + γ log Σ exp(Q̄/τ), no τ",
        "paper erratum, Eq. (83) (dimension error; proofs: units_eq083)",
        "equiv.targets.entropy_bonus_target",
        entropy_bonus_target_as_printed_eq83,
        (
            T + "test_dqn_targets_by_hand",
            T + "test_soft_targets_tend_to_hard_max_as_tau_goes_to_zero",
            T + "test_entropy_bonus_and_kl_uniform_targets_differ_by_constant",
        ),
        "vanishes at τ = 1",
    ),
    Bug(
        "printed_sec63_one_over_gamma",
        "§6.3 matched update with the advantage-stream gradient scaled by 1/γ (as printed)",
        "paper erratum, §6.3 '1/γ' (proofs: text6_3_scaling_printed)",
        "equiv.expected.mdp_matched_soft_q_loss",
        matched_loss_as_printed_one_over_gamma,
        (
            VC + "test_scaled_update_equals_a2c_in_expectation",
            SHARP + "test_sec63_default_advantage_scale_gives_a2c_on_discounted_mdps",
        ),
        "vanishes at γ = τ; undefined at γ = 0, where the first test's first failing example divides by zero",
        crashes=(VC + "test_scaled_update_equals_a2c_in_expectation",),
    ),
    Bug(
        "printed_eq80_without_bootstrap",
        "n-step advantage as printed in (80): Σ_{d<n} γ^d(r − τKL) − V(s_t), no γ^n V(s_{t+n})",
        "paper erratum, Eq. (80) (proofs: eq080_printed)",
        "equiv.targets.nstep_advantage",
        nstep_advantage_as_printed_eq80,
        (
            T + "test_nstep_advantage_and_td_errors_eq36_eq58",
            T + "test_nstep_targets_match_naive_loop",
            MDP_EQ + "test_eq65_expected_losses_match_trajectory_enumeration",
        ),
    ),
    Bug(
        "printed_eq54_value_target",
        "value target as printed in (54): Σ_{d<n} γ^d r + γ^n V, no −τKL terms",
        "paper erratum, Eq. (54) (proofs: eq054_printed)",
        "equiv.targets.nstep_regularized_return",
        regularized_return_as_printed_eq54,
        (
            T + "test_nstep_regularized_return_and_soft_target_eq46",
            T + "test_nstep_targets_match_naive_loop",
            T + "test_eq47_telescoping_identity",
        ),
    ),
    Bug(
        "printed_eq11_soft_value",
        "soft value as printed in (11): τ log E_π̄[exp(q)/τ]",
        "paper erratum, Eq. (11) (proofs: units_eq011)",
        "equiv.boltzmann.soft_value",
        soft_value_as_printed_eq11,
        (
            BZ + "test_eq12_eq30_boltzmann_policy_is_a_distribution_and_matches_definition",
            BANDIT + "test_eq13_soft_value_is_regularized_expectation_under_boltzmann",
            OPS + "test_eq31_soft_value_is_regularized_expectation_under_boltzmann",
        ),
    ),
    Bug(
        "printed_eq49_r0",
        "finite-horizon estimator as printed in (49), with r_0 where r_t belongs",
        "paper erratum, Eq. (49) (proofs: eq049_printed_vs_eq050)",
        "equiv.mdp.finite_horizon_estimator_surrogate",
        finite_horizon_surrogate_as_printed_eq49,
        (
            PG + "test_eq51_proper_estimator_is_the_gradient_of_the_finite_horizon_objective",
            PG + "test_eq51_estimators_match_trajectory_enumeration",
        ),
        "for horizons T ≥ 2",
    ),
    Bug(
        "printed_eq52_without_kl_gradient",
        "n-step policy gradient as printed in (52): no −τ∇KL(s_t) term",
        "paper erratum, Eq. (52) (proofs: eq052_printed)",
        "equiv.expected.mdp_a2c_loss",
        a2c_loss_as_printed_eq52,
        (
            PG + "test_eq80_nstep_estimator_with_bootstrap_is_unbiased",
            MDP_EQ + "test_eq65_expected_soft_q_gradient_equals_tau_a2c_gradient",
        ),
    ),
    # ---- harness bugs (atari_check/) ----
    Bug(
        "harness_sql_one_over_gamma",
        "the harness's sql scales the advantage-stream gradient by 1/γ (§6.3 as printed), not 1/τ",
        "paper erratum §6.3 '1/γ', reintroduced in the training path (issue 10 §1)",
        "atari_check.losses.actor_critic_per_sample",
        harness_sql_one_over_gamma,
        (TP + "test_learn_applies_the_hand_built_rule_on_cartpole[sql]",),
    ),
    Bug(
        "harness_a2c_kl_detached",
        "A2C's τ KL(s_t) term detached: the −τ∇KL(s_t) of Eqs. (79)/(80) is missing from the update",
        "stop-gradient on the regulariser (entropy bonus computed from detached logits)",
        "atari_check.losses.actor_critic_per_sample",
        harness_a2c_kl_detached,
        (TP + "test_learn_applies_the_hand_built_rule_on_cartpole[a2c-proper]",
         TP + "test_learn_applies_the_hand_built_rule_on_cartpole[a2c-naive]"),
    ),
    Bug(
        "harness_plain_mean",
        "losses averaged over every rollout row, the autoreset steps of the vector env included",
        "mask dropped from the reduction (next-step autoreset steps trained on)",
        "atari_check.losses.masked_mean",
        harness_plain_mean,
        (TP + "test_learn_applies_the_hand_built_rule_on_cartpole[a2c-proper]",
         TP + "test_learn_stats_and_lr_schedule"),
    ),
    Bug(
        "harness_nstep_window_not_cut",
        "n-step DQN return not cut at an episode end inside the window",
        "n-step replay returns summed across episode boundaries",
        "atari_check.losses.dqn_target",
        harness_nstep_window_not_cut,
        (TP + "test_dqn_learn_applies_the_hand_built_target[dqn-n5]",
         TP + "test_dqn_learn_applies_the_hand_built_target[dqn-soft-kl-n5]"),
    ),
    Bug(
        "harness_soft_target_printed",
        "the KL backup of dqn-soft-kl as printed in Eq. (82) (no τ before the log)",
        "paper erratum, Eq. (82), on the harness's corrected path",
        "atari_check.losses.dqn_target",
        harness_soft_target_printed,
        (TP + "test_dqn_learn_applies_the_hand_built_target[dqn-soft-kl-n1]",),
    ),
    Bug(
        "harness_lockstep_expected_not_recentred",
        "lockstep's expected soft-Q gradient keeps the sampled (∗)/(∗∗) terms",
        "diagnostic that compares the wrong quantity (its 'expected' column is the sampled one)",
        "atari_check.lockstep._row",
        harness_lockstep_expected_not_recentred,
        (TP + "test_lockstep_columns_equal_the_hand_built_gradients",
         "tests/test_atari_lockstep.py::test_lockstep_on_a_real_cartpole_batch_and_a_wrong_pg_side_fails"),
    ),
    # ---- proofs machinery bugs (proofs/) ----
    Bug(
        "decide_all_drops_failing_instances",
        "decide_all fails only when every instance fails (k = 2 passes, k = 3 fails → pass)",
        "any() for all() when combining cases; a one-instance-of-several failure reported as holding",
        "proofs.symbolic.decide_all",
        decide_all_passes_if_one_instance_passes,
        (PM + "test_decide_all_fails_when_one_instance_of_several_fails",),
    ),
    Bug(
        "decide_undecided_is_a_pass",
        "decide calls an identity it could not reduce to 0, but that agrees at the witness, a pass",
        "'numerically equal at one point' taken for a proof (issue 10 §2)",
        "proofs.symbolic.decide",
        decide_undecided_is_a_pass,
        (PM + "test_decide_undecidable_identity_raises_never_passes",),
    ),
    Bug(
        "decide_control_not_required",
        "decide passes an identity without a negative control, or with one that was not refuted",
        "a check that cannot fail (issue 14 §2: eq072_printed_arity, text6_3_paper_numbers)",
        "proofs.symbolic.decide",
        decide_control_not_required,
        (PM + "test_decide_rejects_a_weak_or_missing_control",),
    ),
    Bug(
        "induction_step_skipped",
        "by_induction concludes 'for every n' from n = 1, 2, 3 without the inductive step",
        "proof by examples; a statement wrong from n = 4 on passes",
        "proofs.induction.by_induction",
        by_induction_without_the_inductive_step,
        (PM + "test_induction_catches_a_wrong_statement_that_agrees_for_small_n_at_the_inductive_step",),
    ),
    Bug(
        "induction_witness_shared",
        "induction witness with r_t = KL_t = V_t: a swap of two sequences is not refuted",
        "the witness of proofs/induction.py before issue 14 §2",
        "proofs.induction.generic_value",
        generic_value_shared_between_sequences,
        (PM + "test_induction_witness_is_generic_so_a_swap_is_a_counterexample",),
    ),
    Bug(
        "gray_zone_gap_accepted",
        "numeric printed-form checks pass any gap ≤ 1e-4 instead of the stated 1e-10",
        "the thresholds of the printed-form checks before issue 14 §2",
        "proofs.exact.printed_form_agrees",
        printed_form_agrees_below_gap,
        (PM + "test_printed_form_agrees_only_at_the_stated_tolerance",),
    ),
    Bug(
        "holds_without_a_refuted_control",
        "'holds' from passing checks none of which could have failed (units or uncontrolled checks)",
        "verdict without a negative control (issue 10 §2; units as the only evidence, issue 14 §2)",
        "proofs.registry._has_evidence",
        has_evidence_without_a_control,
        (PR + "test_a_pass_no_check_could_have_contradicted_is_an_error",),
    ),
    Bug(
        "extended_masks_a_failed_decision",
        "adding a remark to a decision returns a pass even when the decision failed",
        "return passed(out.detail + …) after decide_all: four checks of proofs/checks did this",
        "proofs.core.extended",
        extended_keeps_only_the_remark,
        (PM + "test_extended_never_turns_a_failure_into_a_pass",),
    ),
    Bug(
        "check_error_reported_as_pass",
        "run_check reports a check that raised as passing",
        "a broad except that turns a checker bug into a verdict",
        "proofs.core.run_check",
        run_check_error_is_a_pass,
        (PM + "test_run_check_reports_a_raising_check_as_error",),
    ),
    Bug(
        "units_sum_terms_not_compared",
        "dimensional analysis: a sum takes its first term's units, the others unchecked",
        "a units checker that never fails on r + γ log Σ exp(Q/τ) (printed (82))",
        "proofs.units.dimension",
        dimension_sums_unchecked,
        ("tests/test_proofs_checks.py::test_units_catch_a_missing_tau_and_unknown_names",),
    ),
    Bug(
        "zero_test_without_common_denominator",
        "exact zero test: a sum's numerators added without the common denominator (1/(x+1) − 1/(x+2) 'is 0')",
        "a fraction-free shortcut in a hand-written zero test: a false proof, the worst failure of proofs/",
        "proofs.symbolic._numerator_is_zero",
        numerator_is_zero_without_common_denominator,
        ("tests/test_proofs_symbolic.py::test_fast_zero_test_scales_denominators_and_refuses_division_by_zero",),
    ),
)


# --------------------------------------------------------------------------------------------------------
# Applying a variant


def _patchable_modules() -> list[object]:
    own = {__name__, "tests.test_bug_catalogue"}
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None and name.split(".")[0] in PATCHED_PACKAGES and name not in own
    ]


@contextlib.contextmanager
def applied(bug: Bug) -> Iterator[list[str]]:
    """Replace ``bug.original`` by ``bug.wrong`` in every loaded module that holds it; yields the names
    patched (``module.attribute``) and restores every one of them on exit."""
    original = bug.original
    patched: list[tuple[object, str]] = []
    # proofs.core caches check results per process: hide the real results from the variant and drop
    # the variant's results afterwards (a cached failure would otherwise fail the real test later).
    proof_cache = getattr(sys.modules.get("proofs.core"), "_CACHE", {})
    saved_proof_results = dict(proof_cache)
    proof_cache.clear()
    try:
        for module in _patchable_modules():
            for attribute, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attribute, bug.wrong)
                    patched.append((module, attribute))
        yield [f"{m.__name__}.{a}" for m, a in patched]
    finally:
        for module, attribute in patched:
            setattr(module, attribute, original)
        proof_cache.clear()
        proof_cache.update(saved_proof_results)
        # A module first imported while the variant was in place bound the variant itself: fail loudly.
        leaked = [
            f"{m.__name__}.{a}"
            for m in _patchable_modules()
            for a, v in list(vars(m).items())
            if v is bug.wrong
        ]
        if leaked:
            raise RuntimeError(f"{bug.name}: variant left in {leaked}; import those modules before applying")


# --------------------------------------------------------------------------------------------------------
# Running a named test


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one run of a named test gave: passed, or the failure it raised."""

    node_id: str
    passed: bool
    kind: str = ""  # "AssertionError", or the exception type of a crash
    message: str = ""  # first line of the failure message
    relative_error: float | None = None  # as reported by tests.strategies.assert_close / pytest.approx
    tolerance: float | None = None

    def error_size(self) -> str:
        """The error the failing check reported, for the table."""
        if self.passed:
            return "passed"
        if self.relative_error is not None:
            ratio = self.relative_error / self.tolerance if self.tolerance else math.inf
            return f"rel. error {self.relative_error:.2g} vs tol {self.tolerance:.0e} ({_times(ratio)})"
        text = self.message or "(no message)"
        return text if self.kind == "AssertionError" else f"{self.kind}: {text}"


def _times(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "∞×"
    return f"{ratio:.0e}×".replace("e+0", "e").replace("e+", "e")


_ASSERT_CLOSE = re.compile(r"relative error (?P<err>[-+0-9.eEinfa]+) > (?P<tol>[-+0-9.eE]+)")
# pytest.approx failures (rewritten by pytest): "Max relative difference: 5.0", rows "0 | 2.0 | 7.0 ± 7e-12".
_APPROX = re.compile(r"Max relative difference: (?P<err>[-+0-9.eEinfa]+)")
_APPROX_ROW = re.compile(
    r"^\s*\d+\s*\|[^|]*\|\s*(?P<expected>[-+0-9.eE]+) ± (?P<pm>[-+0-9.eE]+)", re.MULTILINE
)
_NON_FINITE = re.compile(r"tensor\(\[[^\]]*\b(?:inf|nan)\b[^\]]*\]\)")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?")


def _short_floats(text: str) -> str:
    """Round float literals to 3 significant digits: the last digits of libm results vary across CPUs."""
    return _FLOAT.sub(lambda m: f"{float(m.group()):.3g}", text)


def _summarise(node_id: str, error: BaseException) -> Outcome:
    text = _ADDRESS.sub("", str(error).strip())
    first = _short_floats(text.splitlines()[0]) if text else ""
    kind = "AssertionError" if isinstance(error, AssertionError) else type(error).__name__
    if match := _ASSERT_CLOSE.search(text):
        return Outcome(node_id, False, kind, first[:160], float(match["err"]), float(match["tol"]))
    approx, row = _APPROX.search(text), _APPROX_ROW.search(text)
    if approx and row and float(row["expected"]) != 0.0:
        tolerance = float(row["pm"]) / abs(float(row["expected"]))  # pytest.approx(rel=...): ± rel·|expected|
        return Outcome(node_id, False, kind, first[:160], float(approx["err"]), float(f"{tolerance:.0e}"))
    if non_finite := _NON_FINITE.search(text):
        first = f"non-finite result {' '.join(non_finite.group().split())} ({first})"
    return Outcome(node_id, False, kind, first[:160])


def resolve(node_id: str) -> tuple[Callable, dict]:
    """The test function of ``tests/test_x.py::test_y`` (or ``...::test_y[param]``) and its arguments."""
    path, _, name = node_id.partition("::")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    name, _, param = name.partition("[")
    function = getattr(module, name)
    if not param:
        return function, {}
    param = param.removesuffix("]")
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize" and "," not in mark.args[0] and param in map(str, mark.args[1]):
            return function, {mark.args[0].strip(): param}
    raise ValueError(f"{node_id}: no single-argument parametrize value {param!r}")


def default_suite_markers(node_id: str) -> set[str]:
    """Markers of the test that the default ``-m 'not slow and not gpu and not atari'`` deselects."""
    function, _ = resolve(node_id)
    module = sys.modules[function.__module__]
    marks = list(getattr(function, "pytestmark", [])) + list(getattr(module, "pytestmark", []))
    return {mark.name for mark in marks} & {"slow", "gpu", "atari"}


@contextlib.contextmanager
def _reduced_examples(function: Callable, max_examples: int) -> Iterator[None]:
    """Run a hypothesis test derandomized with ``max_examples`` examples, no shrinking, no database,
    and examples that depend neither on the profile nor on which modules happen to be loaded.

    Hypothesis reads the settings of a @given test from its ``_hypothesis_internal_use_settings``
    attribute when the test is called; the override is a child of the test's own settings (deadline,
    health checks) and is removed afterwards.  Hypothesis (≥ 6.1xx) also
    mixes into its draws constants harvested from the source of every loaded non-test local module
    (``providers._get_local_constants``), so even derandomized examples change with the set of
    imported modules (one test file alone vs the whole suite) and with any edit of a constant in
    equiv/, proofs/ or atari_check/; the pool is emptied for the run, and its cache dropped before
    and after, so that the measured rows are the same in every context.
    """
    from hypothesis import Phase, settings
    from hypothesis.internal.conjecture import providers

    if not hasattr(function, "hypothesis"):
        yield
        return
    internals = ("_get_local_constants", "CONSTANTS_CACHE", "Constants")
    if not hasattr(function, "_hypothesis_internal_use_settings") or not all(
        hasattr(providers, name) for name in internals
    ):
        raise RuntimeError("hypothesis internals changed: update tests/bug_catalogue.py::_reduced_examples")
    own = function._hypothesis_internal_use_settings
    local_constants = providers._get_local_constants
    function._hypothesis_internal_use_settings = settings(
        own,
        max_examples=max_examples,
        derandomize=True,  # also under the dev / thorough profiles: the rows must not depend on the profile
        phases=(Phase.explicit, Phase.generate),
        database=None,
        print_blob=False,
        report_multiple_bugs=False,
    )
    providers._get_local_constants = providers.Constants  # an empty pool
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        function._hypothesis_internal_use_settings = own
        providers._get_local_constants = local_constants
        providers.CONSTANTS_CACHE.cache.clear()


def run_test(node_id: str, max_examples: int = EXAMPLES) -> Outcome:
    """Run the named test once (a hypothesis test with reduced examples) and report the outcome."""
    function, kwargs = resolve(node_id)  # imports its module: do this before applying a variant
    with _reduced_examples(function, max_examples):
        try:
            function(**kwargs)
        except Exception as error:  # a failing check: AssertionError, or a crash inside the code under test
            return _summarise(node_id, error)
    return Outcome(node_id, True)


def evaluate(bug: Bug, max_examples: int = EXAMPLES) -> list[Outcome]:
    """Run every test of ``bug.caught_by`` with the variant applied."""
    for node_id in bug.caught_by:
        resolve(node_id)  # import the test modules first, so that the patch reaches their namespaces
    with applied(bug) as names:
        if not names:
            raise RuntimeError(f"{bug.name}: {bug.target} is not referenced by any loaded module")
        return [run_test(node_id, max_examples) for node_id in bug.caught_by]


def detection_rate(bug: Bug, node_id: str, inputs: int = 200, seed: int = 0) -> tuple[int, int, int]:
    """(inputs failing with the variant, inputs failing with the real code, valid inputs) of a named test.

    A robustness measure, not part of the default suite: hypothesis tests are fed ``inputs`` seeded
    random byte strings through ``fuzz_one_input`` (hypothesis's entry point for external fuzzers),
    once with the variant applied and once without (the control: it must be 0), so the count says how
    often a random example exposes the bug — how much luck the ≤ EXAMPLES-example catch needs.  A plain
    test is deterministic and counts as one input.
    """
    import random

    for other in bug.caught_by:
        resolve(other)  # import the test modules before applying the variant
    function, _ = resolve(node_id)
    if not hasattr(function, "hypothesis"):
        with applied(bug):
            caught = not run_test(node_id).passed
        return int(caught), int(not run_test(node_id).passed), 1

    def failures(variant: bool) -> tuple[int, int]:
        rng = random.Random(seed)
        failing = valid = 0
        with _reduced_examples(function, EXAMPLES), applied(bug) if variant else contextlib.nullcontext():
            for _ in range(inputs):
                try:
                    valid += function.hypothesis.fuzz_one_input(rng.randbytes(4096)) is not None
                except Exception:  # the check failed (or crashed) on this input
                    failing += 1
                    valid += 1
        return failing, valid

    with_variant, valid = failures(variant=True)
    real, valid_real = failures(variant=False)
    assert valid == valid_real  # the same seeded inputs, and validity does not depend on the code under test
    return with_variant, real, valid


# --------------------------------------------------------------------------------------------------------
# The table


HEADER = f"""# Catalogue of realistic RL-loss bugs

Generated by `python -m tests.bug_catalogue --write` from `tests/bug_catalogue.py`; kept fresh by
`tests/test_bug_catalogue.py` (default suite), which fails if a row here differs from what it measures.
Do not edit by hand.

Each bug is a small wrong variant of a real function of `equiv/`, applied by monkeypatching every loaded
module namespace that holds the function (the source is never edited).  Every test named in "caught by"
is run against the variant and fails; the same tests, with the same settings, pass on the real
implementation.  Hypothesis tests run derandomized with {EXAMPLES} examples each (whatever the profile),
without shrinking and without hypothesis's pool of constants taken from loaded modules (so the examples
are the same in every run and context): "error" is what the failing check reported on the first
failing example — for `assert_close` and `pytest.approx` checks, the relative error against the
check's relative tolerance (and their ratio); otherwise the first line of the failing assertion.  Bugs
marked † are errata of the paper: the variant implements the equation as printed.  `origin` cites a
public report of the bug class where one is known; the issue numbers are examples of the class, not
claims about current code.  How often random inputs expose each bug: `tests/BUG_CATALOGUE_RATES.md`.
"""

COLUMNS = "| # | bug | origin | replaces | caught by | error (first failing example) |"
RULE = "|---|---|---|---|---|---|"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_row(index: int, bug: Bug, outcomes: list[Outcome]) -> str:
    title = f"**{bug.name}**{' †' if bug.name.startswith('printed_') else ''}: {bug.title}"
    if bug.regime:
        title += f" *(regime: {bug.regime})*"
    caught = "<br>".join(f"`{o.node_id.split('/', 1)[1]}`" for o in outcomes)
    errors = "<br>".join(o.error_size() for o in outcomes)
    target = bug.target.removeprefix("equiv.")
    cells = [str(index), _cell(title), _cell(bug.origin), f"`{target}`", _cell(caught), _cell(errors)]
    return "| " + " | ".join(cells) + " |"


def render(rows: list[str]) -> str:
    pairs = sum(len(bug.caught_by) for bug in CATALOGUE)
    errata = sum(bug.name.startswith("printed_") for bug in CATALOGUE)
    summary = (
        f"\n{len(CATALOGUE)} bugs ({len(CATALOGUE) - errata} implementation bugs, {errata} printed "
        "equations), "
        f"{pairs} (bug, test) pairs: every bug is caught by every test listed.\n\n"
    )
    return HEADER + summary + COLUMNS + "\n" + RULE + "\n" + "\n".join(rows) + "\n"


def committed_rows() -> dict[str, str]:
    """Rows of the committed table, by bug name."""
    rows = {}
    if TABLE.exists():
        for line in TABLE.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\| \d+ \| \*\*(?P<name>\w+)\*\*", line)
            if match:
                rows[match["name"]] = line
    return rows


RATES_HEADER = """# Detection rates of the bug catalogue

How often a random input exposes each bug of `tests/BUG_CATALOGUE.md` in each test that catches it:
the failing / valid counts of N random inputs (hypothesis's `fuzz_one_input`, seeded byte strings;
a plain test counts as one input), and, as a control, how many of the same inputs fail on the real
implementation (must be 0).  A robustness measure for the catalogue's claims, which rest on
{examples} derandomized examples: a pair caught on a fraction p of inputs is missed by 20 fresh
examples with probability (1 − p)^20.  Not re-measured by the default suite (it takes ~45 s):
`tests/test_bug_catalogue.py` checks that the pairs listed here are the catalogue's and that the
recorded counts meet its policy (0 failures on the real code, ≥ 1 in 4 inputs expose the bug).

Measured with `{command}` on {date} (hypothesis {hypothesis}, torch {torch}).
"""


def write_rates(inputs: int) -> None:
    """Measure the detection rate of every (bug, test) pair and write tests/BUG_CATALOGUE_RATES.md."""
    import datetime

    import hypothesis

    importlib.import_module("tests.conftest")  # the hypothesis profiles and float64, as under pytest
    lines = [
        f"| bug | test | failing with the bug / valid inputs (N = {inputs}) | failing on the real code |",
        "|---|---|---|---|",
    ]
    for bug in CATALOGUE:
        for node_id in bug.caught_by:
            failing, real, valid = detection_rate(bug, node_id, inputs)
            lines.append(f"| {bug.name} | `{node_id.split('/', 1)[1]}` | {failing} / {valid} | {real} |")
            print(lines[-1], flush=True)
    header = RATES_HEADER.format(
        examples=EXAMPLES,
        command=f"python -m tests.bug_catalogue --rates {inputs}",
        date=datetime.date.today().isoformat(),
        hypothesis=hypothesis.__version__,
        torch=torch.__version__,
    )
    RATES.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def recorded_rates() -> list[tuple[str, str, int, int, int]]:
    """(bug, test, failing with the bug, failing on the real code, valid) rows of BUG_CATALOGUE_RATES.md."""
    rows = []
    pattern = r"\| (?P<bug>\w+) \| `(?P<test>[^`]+)` \| (?P<failing>\d+) / (?P<valid>\d+) \| (?P<real>\d+) \|"
    for line in RATES.read_text(encoding="utf-8").splitlines() if RATES.exists() else []:
        if match := re.fullmatch(pattern, line):
            counts = int(match["failing"]), int(match["real"]), int(match["valid"])
            rows.append((match["bug"], match["test"], *counts))
    return rows


def main(argv: list[str] | None = None) -> int:
    """``--write``: rerun the catalogue under pytest and rewrite tests/BUG_CATALOGUE.md."""
    import argparse
    import os
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="regenerate tests/BUG_CATALOGUE.md")
    parser.add_argument(
        "--rates", type=int, metavar="N", help=f"how often N random inputs expose each bug (-> {RATES.name})"
    )
    args = parser.parse_args(argv)
    if args.rates:
        write_rates(args.rates)
        return 0
    if not args.write:
        parser.print_help()
        return 0
    command = [sys.executable, "-m", "pytest", "tests/test_bug_catalogue.py", "-p", "no:xdist", "-q"]
    return subprocess.call(command, cwd=ROOT, env={**os.environ, WRITE_ENV: "1"})


if __name__ == "__main__":
    raise SystemExit(main())
