"""Section 3.5: which soft Q-learning targets are unbiased, and for which backup.

Claims checked exactly in float64 on generated MDPs (terminal states included):

* The 1-step target y_t = r_t + γ V_Q̄(s_{t+1}) (Eq. (45)) is an unbiased estimator of
  [T Q̄](s_t, a_t) (Eqs. (38)-(39)) whatever the behaviour policy.
* The n-step target (46) is unbiased for [T_{π^B_Q̄, n} Q̄](s_t, a_t) (Eqs. (40)-(41)) when
  a_{t+1}, …, a_{t+n−1} are drawn from π^B_Q̄ — and not for a generic other behaviour policy
  (negative control, n ≥ 2, γ > 0).

E[y_t | s_t, a_t] comes from ``equiv.mdp.expected_nstep_soft_target`` (dynamic programming) and,
on tiny MDPs, from enumerating every n-step path and applying the sampled-path targets of
``equiv.targets`` (``nstep_soft_target``; ``one_step_soft_target`` for n = 1) path by path.

Tolerance: RTOL = 1e-9 relative to the largest of |y|, |R|, |V_Q̄|, τ KL (the terms summed).
Sums of ≤ (|S||A|)^n products and n-step DPs in float64 stay within ~1e-14 of that scale
(observed ≤ 1e-14), so 1e-9 leaves ample headroom; the off-policy bias is O(1) relative.
Negative controls: relative gap > GAP = 1e-4.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from equiv import boltzmann_policy, kl_divergence, nstep_soft_target, one_step_soft_target, soft_value
from equiv.mdp import FiniteMDP, boltzmann_backup, expected_nstep_soft_target, nstep_boltzmann_backup
from tests.strategies import (
    _t,
    assert_close,
    enumerate_all_paths,
    exact_reference,
    finite_mdps,
    generic_mdps,
    log_uniform,
    profile_examples,
    relative_gap,
    seeds,
)

RTOL = 1e-9
GAP = 1e-4


def target_q(mdp: FiniteMDP, seed: int, scale: float) -> torch.Tensor:
    """A target network Q̄ ``[S, A]``."""
    return _t(np.random.default_rng(seed).normal(0, scale, (mdp.num_states, mdp.num_actions)))


def behaviour_policy(mdp: FiniteMDP, seed: int) -> torch.Tensor:
    """A random behaviour policy μ, from near-uniform to near-deterministic (all entries > 0)."""
    rng = np.random.default_rng(seed + 1)
    concentration = 10.0 ** rng.uniform(-1, 1)
    mu = np.maximum(rng.dirichlet(np.full(mdp.num_actions, concentration), size=mdp.num_states), 1e-12)
    return exact_reference(_t(mu))


def soft_pieces(mdp: FiniteMDP, q_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(π^B_Q̄, KL(s) of π^B_Q̄, V_Q̄(s)), the last two 0 at terminal states."""
    pi = boltzmann_policy(q_bar, mdp.tau, mdp.ref_probs)
    kl = torch.where(mdp.terminal_mask, 0.0, kl_divergence(torch.log(pi), mdp.ref_probs))
    v = torch.where(mdp.terminal_mask, 0.0, soft_value(q_bar, mdp.tau, mdp.ref_probs))
    return pi, kl, v


def target_scale(mdp: FiniteMDP, q_bar: torch.Tensor, *ys: torch.Tensor) -> float:
    _, kl, v = soft_pieces(mdp, q_bar)
    parts = [mdp.rewards.abs().max(), v.abs().max(), mdp.tau * kl.max(), *(y.abs().max() for y in ys)]
    return float(max(parts))


def live(mdp: FiniteMDP, x: torch.Tensor) -> torch.Tensor:
    return torch.where(mdp.terminal_mask[:, None], 0.0, x)


q_scales = log_uniform(0.1, 10.0)


@given(finite_mdps(), seeds, q_scales)
def test_sec35_one_step_target_is_unbiased_for_any_behaviour(mdp, seed, scale):
    """§3.5, Eqs. (38)-(39), (45): E[r_t + γ V_Q̄(s_{t+1}) | s_t, a_t] = [T Q̄](s_t, a_t) for any behaviour."""
    q_bar = target_q(mdp, seed, scale)
    _, _, v = soft_pieces(mdp, q_bar)
    by_hand = live(mdp, mdp.rewards + mdp.gamma * mdp.transitions @ v)  # R + γ E_{s'}[V_Q̄(s')], Eq. (39)
    backup = boltzmann_backup(mdp, q_bar)
    sc = target_scale(mdp, q_bar, backup)
    assert_close(backup, by_hand, RTOL, "boltzmann_backup vs Eq. (39)", scale=sc)
    for mu in (behaviour_policy(mdp, seed), mdp.ref_probs, boltzmann_policy(q_bar, mdp.tau, mdp.ref_probs)):
        assert_close(
            expected_nstep_soft_target(mdp, q_bar, 1, behaviour=mu), backup, RTOL, "1-step target", scale=sc
        )


@given(finite_mdps(), seeds, q_scales, st.integers(2, 4))
def test_sec35_nstep_target_is_unbiased_under_boltzmann_behaviour(mdp, seed, scale, n):
    """§3.5, Eqs. (40)-(41), (46): a_{t+1..t+n−1} ∼ π^B_Q̄ ⇒ E[y_t | s_t, a_t] = [T_{π^B_Q̄, n} Q̄](s_t, a_t)."""
    q_bar = target_q(mdp, seed, scale)
    pi, _, _ = soft_pieces(mdp, q_bar)
    backup = nstep_boltzmann_backup(mdp, q_bar, n)
    expected = expected_nstep_soft_target(mdp, q_bar, n, behaviour=pi)
    assert_close(expected, backup, RTOL, f"n-step target, n={n}", scale=target_scale(mdp, q_bar, backup))
    assert torch.equal(expected_nstep_soft_target(mdp, q_bar, n), expected)  # the default behaviour is π^B_Q̄


@given(generic_mdps(gamma=st.floats(0.5, 0.99), tau=log_uniform(0.1, 10.0)), seeds, st.integers(2, 4))
def test_sec35_negative_control_nstep_target_is_biased_off_policy(mdp, seed, n):
    """§3.5: for n ≥ 2 and a behaviour μ ≠ π^B_Q̄ the n-step target is biased for T_{π^B_Q̄, n} Q̄: the
    expectation averages [T Q̄](s', ·) with μ instead of π^B_Q̄ at s_{t+1}, ….  (Q̄ of scale τ keeps π^B
    far from deterministic; μ is a random full-support policy.)"""
    q_bar = target_q(mdp, seed, mdp.tau)
    mu = exact_reference(
        _t(np.random.default_rng(seed + 1).dirichlet(np.ones(mdp.num_actions), size=mdp.num_states))
    )
    backup = nstep_boltzmann_backup(mdp, q_bar, n)
    off_policy = expected_nstep_soft_target(mdp, q_bar, n, behaviour=mu)
    assert relative_gap(off_policy, backup) > GAP


tiny_mdps = finite_mdps(min_states=2, max_states=3, max_actions=3)


@settings(max_examples=profile_examples(0.5))
@given(tiny_mdps, seeds, q_scales, st.integers(1, 3), st.sampled_from(["boltzmann", "random"]))
def test_sec35_expected_targets_match_trajectory_enumeration(mdp, seed, scale, n, behaviour):
    """The dynamic program for E[y_t | s_t, a_t] equals brute force: every n-step path under the behaviour,
    its target from ``nstep_soft_target`` (and ``one_step_soft_target`` for n = 1), weighted by its
    probability.  Under π^B_Q̄ the enumerated mean is T_{π^B_Q̄, n} Q̄; for n = 1 it is T Q̄ under any μ."""
    tau, gamma = mdp.tau, mdp.gamma
    q_bar = target_q(mdp, seed, scale)
    pi, kl, v = soft_pieces(mdp, q_bar)
    mu = pi if behaviour == "boltzmann" else behaviour_policy(mdp, seed)
    paths = enumerate_all_paths(mdp, mu, n)
    seg = paths.segment(mdp, kl, v)
    y = nstep_soft_target(
        seg["rewards"], seg["kl"], seg["next_values"], seg["terminated"], gamma=gamma, tau=tau, n=n
    )[0]
    enumerated = paths.expectation(mdp, y)
    sc = target_scale(mdp, q_bar, enumerated)
    assert_close(
        expected_nstep_soft_target(mdp, q_bar, n, behaviour=mu),
        enumerated,
        RTOL,
        "DP vs enumeration",
        scale=sc,
    )
    if behaviour == "boltzmann":
        assert_close(
            nstep_boltzmann_backup(mdp, q_bar, n), enumerated, RTOL, "T_{π^B,n} Q̄ vs enumeration", scale=sc
        )
    if n == 1:
        s, a, s_next = paths.states[0], paths.actions[0], paths.states[1]
        dqn = one_step_soft_target(
            mdp.rewards[s, a],
            q_bar[s_next],
            paths.terminated[0],
            gamma=gamma,
            tau=tau,
            ref_policy=mdp.ref_probs[s_next],
        )
        assert_close(
            paths.expectation(mdp, dqn),
            enumerated,
            RTOL,
            "one_step_soft_target vs nstep_soft_target",
            scale=sc,
        )
        assert_close(boltzmann_backup(mdp, q_bar), enumerated, RTOL, "T Q̄ vs enumeration", scale=sc)
