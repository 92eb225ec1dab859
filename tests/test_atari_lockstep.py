"""Lockstep gradient diagnostics on real batches (Pong through ALE, CartPole through gymnasium).

Claim (Eqs. (64)-(65), §6.3): per sample, the soft-Q gradient equals the PG
gradient plus the (∗)/(∗∗) terms, whose exact action-expectation is zero.  So
on ANY batch and network, replacing the sampled (∗)/(∗∗) gradients by their
expectation must make the soft-Q and PG updates identical, for both the
unscaled pair (PG with c = 1/τ) and the §6.3 matched pair (c = 0.5).

Tolerance: float64 gradients of a ≤ 1.7M-parameter network averaged over
≤ 20 samples agree to ~1e-15 relative (rounding only); we require < 1e-10,
five orders above rounding, and show that (a) the sampled gradients differ
by far more than that, and (b) a deliberately wrong PG side (the naive
advantage without the −τ KL terms) fails the same check by orders of
magnitude.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atari_check.config import Config
from atari_check.envs import make_vec_env, resolve_env
from atari_check.learners import ActorCriticLearner, DQNLearner
from atari_check.lockstep import lockstep_rows

TOL = 1e-10


def _rollout(cfg: Config, sharpen: float):
    spec = resolve_env(cfg.env)
    env = make_vec_env(spec, cfg)
    torch.manual_seed(cfg.seed)
    learner = ActorCriticLearner(cfg, env.obs_shape, env.obs_dtype, env.num_actions, torch.device("cpu"),
                                 "sign" if spec.kind == "atari" else "none")
    with torch.no_grad():  # a non-uniform policy, so that the (∗)/(∗∗) terms are not ~0 from the start
        learner.net.policy.weight.mul_(sharpen)
        learner.net.value.bias.fill_(1.0)
    obs = env.reset(seed=cfg.seed)
    for _ in range(3):  # a few segments, so that the batch is not the reset state only
        for t in range(cfg.n_steps):
            actions = learner.act(obs)
            step = env.step(actions)
            learner.record(t, obs, actions, step)
            obs = step.obs
    env.close()
    return learner, obs


def _check_rows(rows):
    assert {r["pair"] for r in rows} == {"pg_vs_sql", "a2c_vs_sql_matched"}
    for r in rows:
        assert r["dtype"] == "float64"
        assert r["rel_diff_expected"] < TOL, r
        assert r["cos_expected"] == pytest.approx(1.0, abs=TOL)
        assert r["decomposition_residual"] < TOL, r
        assert r["advantage_consistency"] < 1e-12, r
        # Negative control: without the expectation, the sampled rules really differ.
        assert r["rel_diff_sampled"] > 1e4 * max(r["rel_diff_expected"], 1e-16), r
        assert r["norm_star"] > 0 and r["norm_pg"] > 0


def test_lockstep_on_a_real_pong_batch():
    cfg = Config(algo="sql", env="pong", num_envs=2, n_steps=5, seed=3, lockstep_dtype="float64")
    learner, obs = _rollout(cfg, sharpen=300.0)
    rows = learner.lockstep(obs)
    _check_rows(rows)


def test_lockstep_on_a_real_cartpole_batch_and_a_wrong_pg_side_fails():
    # τ = 0.5: the −τ KL terms that separate the naive from the proper return are then not tiny
    # (at τ = 0.01 and a near-uniform initial policy they are ~1e-5, still far above TOL).
    cfg = Config(algo="a2c-proper", env="CartPole-v1", num_envs=8, n_steps=5, seed=1, tau=0.5,
                 lockstep_dtype="float64")
    learner, obs = _rollout(cfg, sharpen=100.0)
    _check_rows(learner.lockstep(obs))

    # Negative control: pair soft-Q with the NAIVE advantage (no −τ KL in the return, Eq. (79)).
    import equiv

    net = learner.net.to(torch.float64)
    learner.obs[cfg.n_steps] = torch.from_numpy(obs)
    log_policy, values = net(learner.obs.flatten(0, 1))
    T, B = cfg.n_steps, cfg.num_envs
    log_policy, values = log_policy.view(T + 1, B, -1), values.view(T + 1, B)
    lp, v, nv = log_policy[:T], values[:T], values[1:].detach()
    rewards = learner.rewards.double()
    kl = equiv.kl_divergence(lp).detach()
    flags = (learner.terminated, learner.truncated)
    target = equiv.nstep_soft_target(rewards, kl, nv, *flags, gamma=cfg.gamma, tau=cfg.tau)
    naive_return = equiv.nstep_return(rewards, nv, *flags, gamma=cfg.gamma)
    rows = lockstep_rows(list(net.parameters()), v.reshape(-1), lp.reshape(T * B, -1), learner.actions.reshape(-1),
                         target.reshape(-1), learner.mask.double().reshape(-1), tau=cfg.tau, value_coef=0.5,
                         advantage=(naive_return - v.detach()).reshape(-1), value_target=naive_return.reshape(-1))
    for r in rows:
        assert r["advantage_consistency"] > 1e-3
        assert r["rel_diff_expected"] > 1e4 * TOL, r


def test_lockstep_float32_agrees_to_float32_rounding():
    cfg = Config(algo="a2c-proper", env="CartPole-v1", num_envs=8, n_steps=5, seed=2, lockstep_dtype="float32")
    learner, obs = _rollout(cfg, sharpen=100.0)
    for r in learner.lockstep(obs):
        assert r["dtype"] == "float32"
        # eps32 = 1.2e-7; sums over ~5k parameters and 40 samples stay well inside 1e-4.
        assert r["rel_diff_expected"] < 1e-4, r


def test_lockstep_on_a_dqn_replay_batch():
    """Any Q network reads as V_Q + τ log(π^B_Q/π̄), so the identity holds on off-policy replay data too."""
    cfg = Config(algo="dqn", env="CartPole-v1", num_envs=4, n_steps=5, seed=0, replay_size=400, batch_size=16,
                 learning_starts=0, tau=0.5)
    env = make_vec_env(resolve_env(cfg.env), cfg)
    learner = DQNLearner(cfg, env.obs_shape, env.obs_dtype, env.num_actions, torch.device("cpu"), "none")
    obs = env.reset(seed=0)
    for _ in range(4):
        for t in range(cfg.n_steps):
            actions = learner.act(obs)
            step = env.step(actions)
            learner.record(t, obs, actions, step)
            obs = step.obs
    env.close()
    state = learner.rng.bit_generator.state
    rows = learner.lockstep()
    assert learner.rng.bit_generator.state == state  # diagnostics do not perturb training randomness
    for r in rows:
        assert r["rel_diff_expected"] < TOL and r["decomposition_residual"] < TOL, r
        assert r["rel_diff_sampled"] > 1e4 * TOL
    assert np.isfinite([r["cos_sampled"] for r in rows]).all()
