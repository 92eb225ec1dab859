"""Environment semantics the learners rely on: next-step autoreset, life loss vs game over,
truncation, unclipped full-game scores, replay windows and DQN targets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import equiv
from atari_check.config import Config
from atari_check.envs import EpisodeTracker, VecEnv, resolve_env
from atari_check.learners import ReplayBuffer
from atari_check.losses import dqn_target


def test_cartpole_autoreset_steps_are_flagged_and_scored():
    env = VecEnv(resolve_env("CartPole-v1"), 3)
    tracker = EpisodeTracker(3)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    prev_done = np.zeros(3, bool)
    finished, valid_rewards = [], np.zeros(3)
    for i in range(200):
        step = env.step(rng.integers(0, 2, size=3))
        np.testing.assert_array_equal(step.reset_step, prev_done)  # exactly the step after a done
        assert not step.reward[step.reset_step].any()  # the autoreset step pays nothing
        for ep in tracker.step(step, i + 1):
            finished.append(ep)
            assert ep[2] == valid_rewards[ep[1]] and ep[3] == valid_rewards[ep[1]]  # reward 1 per real step
            valid_rewards[ep[1]] = 0
        valid_rewards[~step.reset_step] += step.reward[~step.reset_step]
        prev_done = step.terminated | step.truncated
    env.close()
    assert len(finished) >= 10


def test_pong_observations_actions_and_truncation():
    env = VecEnv(resolve_env("pong"), 2, max_episode_frames=200)
    obs = env.reset(seed=1)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8 and env.num_actions == 6
    assert env.frames_per_step == 4
    seen_truncation = False
    for _ in range(60):
        step = env.step(np.zeros(2, dtype=np.int64))
        assert step.reward.dtype == np.float64
        if step.truncated.any():
            seen_truncation = True
            assert not step.terminated[step.truncated].any()
            nxt = env.step(np.zeros(2, dtype=np.int64))
            np.testing.assert_array_equal(nxt.reset_step, step.truncated)
            break
    env.close()
    assert seen_truncation, "a 200-frame cap must truncate a Pong episode within 60 steps"


@pytest.mark.parametrize("life_loss_terminal", [True, False])
def test_breakout_life_loss_vs_game_over(life_loss_terminal):
    """With life_loss_terminal, a lost life is `terminated` but the game goes on (no reset step);
    only a game over resets.  The logged score is the full game's, either way."""
    env = VecEnv(resolve_env("breakout"), 1, life_loss_terminal=life_loss_terminal)
    tracker = EpisodeTracker(1)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    terminations, games, score = 0, [], 0.0
    for i in range(3000):
        step = env.step(rng.integers(0, 4, size=1))
        games += tracker.step(step, i + 1)
        if not step.reset_step[0]:
            score += step.reward[0]
        terminations += int(step.terminated[0])
        if games:
            break
    env.close()
    assert len(games) == 1
    # Breakout has 5 lives: 5 terminations per game with life-loss signals, 1 without.
    assert terminations == (5 if life_loss_terminal else 1)
    assert games[0][2] == score


def test_replay_windows_stop_at_episode_ends_and_skip_reset_steps():
    buf = ReplayBuffer(capacity=20, num_envs=1, obs_shape=(1,), obs_dtype=np.float32)
    # steps 0..9; episode ends (terminated) at step 3; step 4 is the autoreset step.
    for i in range(10):
        buf.add(np.array([[float(i)]]), np.array([0]), np.array([1.0]), np.array([i == 3]), np.array([False]),
                np.array([i != 4]))
    rng = np.random.default_rng(0)
    j, _ = buf.sample(200, 3, rng)
    assert 4 not in set(j.tolist()) and j.max() <= 10 - 1 - 3
    obs, _, _, terminated, _ = buf.window(np.array([2]), np.array([0]), 3)
    assert obs[:, 0, 0].tolist() == [2.0, 3.0, 4.0, 5.0] and terminated[:, 0].tolist() == [False, True, False]
    buf.seal()  # after a resume: the last entry has no successor, and windows stop before it
    assert not buf.valid[9, 0] and buf.truncated[8, 0]


def test_dqn_targets_use_the_equiv_backups():
    torch.manual_seed(0)
    q_bar = torch.randn(6, 4, 3)
    rewards = torch.randn(5, 4)
    terminated = torch.zeros(5, 4, dtype=torch.bool)
    terminated[0, 0] = True  # first sample ends immediately: every n-step target is r_0
    truncated = torch.zeros_like(terminated)
    kw = dict(gamma=0.9, tau=0.3)
    y1 = dqn_target("dqn", q_bar[:2], rewards[:1], terminated[:1], truncated[:1], **kw)
    torch.testing.assert_close(y1, equiv.hard_max_target(rewards[0], q_bar[1], terminated[0], gamma=0.9))
    y5 = dqn_target("dqn", q_bar, rewards, terminated, truncated, **kw)
    assert y5[0] == rewards[0, 0]
    kl5 = dqn_target("dqn-soft-kl", q_bar, rewards, terminated, truncated, **kw)
    kl1 = dqn_target("dqn-soft-kl", q_bar[:2], rewards[:1], terminated[:1], truncated[:1], **kw)
    assert kl5[0] == rewards[0, 0] == kl1[0]
    ent1 = dqn_target("dqn-soft-ent", q_bar[:2], rewards[:1], terminated[:1], truncated[:1], **kw)
    # §6.2: entropy bonus and KL penalty differ by the constant γ τ log|A| (non-terminal samples).
    torch.testing.assert_close(ent1[1:] - kl1[1:], torch.full((3,), 0.9 * 0.3 * np.log(3)))
    printed = dqn_target("dqn-soft-kl", q_bar[:2], rewards[:1], terminated[:1], truncated[:1], form="printed", **kw)
    assert (printed[1:] - kl1[1:]).abs().min() > 1e-3  # the printed (82) is not the corrected one at τ ≠ 1
    with pytest.raises(ValueError, match="dqn-soft-ent"):
        dqn_target("dqn-soft-ent", q_bar, rewards, terminated, truncated, **kw)


def test_config_label_distinguishes_variants():
    assert Config(algo="dqn", dqn_nstep=5).label == "dqn-n5"
    assert Config(algo="sql").label == "sql"


# ------------------------------------------------------------- env_overlap: two halves, the same transitions


def _steps(env: VecEnv, steps: int, seed: int = 5) -> list:
    """The reset observation and the Steps of ``env`` under one fixed random action sequence."""
    rng = np.random.default_rng(0)
    out = [env.reset(seed=seed)]
    for _ in range(steps):
        out.append(env.step(rng.integers(0, env.num_actions, size=env.num_envs)))
    return out


def _assert_same(expected: list, env: VecEnv) -> None:
    got = _steps(env, len(expected) - 1)
    np.testing.assert_array_equal(got[0], expected[0], err_msg="reset")
    for t, (a, b) in enumerate(zip(expected[1:], got[1:])):
        for field in a._fields:
            np.testing.assert_array_equal(getattr(b, field), getattr(a, field), err_msg=f"step {t}: {field}")


def test_overlapped_halves_give_the_transitions_of_one_env_and_a_wrong_seed_is_caught():
    """Breakout with life loss as termination, 2 envs, 150 random vector steps: every field of every Step of
    the split env (sub-env 0 and sub-env 1 in two AtariVectorEnvs) equals the one-env Step, with terminations
    in both halves and autoreset steps.  Negative control: a second half seeded like the first (the seed
    offset a naive split forgets) is caught."""
    spec = resolve_env("breakout")
    full, split = VecEnv(spec, 2), VecEnv(spec, 2, overlap=True)
    assert full.halves is None and split.halves == (slice(0, 1), slice(1, 2))
    expected = _steps(full, 150)
    full.close()
    dones = sum(s.terminated | s.truncated for s in expected[1:])  # (6, 4) with ale-py 0.12.1
    assert dones[0] >= 3 and dones[1] >= 3 and sum(s.reset_step.sum() for s in expected[1:]) >= 1, dones
    _assert_same(expected, split)
    # rollout() reads a half's Step after that half was sent its next actions: ale-py must hand out a fresh
    # buffer per recv (it does in 0.12.1), or the rows recorded would be those of the step in flight
    split.send(0, np.zeros(1, np.int64))
    held = split.recv(0)
    kept = {f: getattr(held, f).copy() for f in held._fields}
    for _ in range(5):
        split.send(0, np.ones(1, np.int64))
        split.recv(0)
    assert all(np.array_equal(getattr(held, f), kept[f]) for f in held._fields)

    def seeded_alike(seed):  # both halves from `seed`: sub-env 1 replays sub-env 0
        return np.concatenate([split._reset_done(half, *part.reset(seed=int(seed)))
                               for part, half in zip(split._parts, split.halves)])

    split.reset = seeded_alike
    with pytest.raises(AssertionError):
        _assert_same(expected, split)
    del split.reset  # break the split -> seeded_alike -> split cycle, so that the emulators are freed now
    split.close()


class _StubHalves:
    """An overlapped env that logs send/recv; half h's obs after k steps are rows filled with 10·k + row."""

    halves = (slice(0, 2), slice(2, 4))

    def __init__(self):
        self.log, self.k = [], [0, 0]

    def send(self, h, actions):
        self.log.append(("send", h, list(actions)))

    def recv(self, h):
        from atari_check.envs import Step

        self.log.append(("recv", h))
        self.k[h] += 1
        rows = np.arange(2) + 2 * h
        obs = (10 * self.k[h] + rows).astype(float)
        zeros = np.zeros(2, bool)
        return Step(obs, np.zeros(2), zeros, zeros, zeros)


def test_rollout_sends_each_half_as_soon_as_its_actions_are_known():
    """The order that makes the overlap: act on half 1 while half 0 steps, and the reverse; each act sees
    exactly its half's rows; the actions of a step come back in row order; the next rollout's first
    half-step is not started (its actions need the updated policy)."""
    from atari_check.envs import rollout

    env, seen = _StubHalves(), []

    def act(obs_rows):
        seen.append(list(obs_rows))
        return -np.asarray(obs_rows)  # the "action" names the obs it was chosen for

    out = list(rollout(env, act, np.array([0.0, 1.0, 2.0, 3.0]), n_steps=2))
    assert seen == [[0, 1], [2, 3], [10, 11], [12, 13]]
    assert env.log == [("send", 0, [0, -1]), ("send", 1, [-2, -3]), ("recv", 0), ("send", 0, [-10, -11]),
                       ("recv", 1), ("send", 1, [-12, -13]), ("recv", 0), ("recv", 1)]
    assert [(t, list(obs), list(a), list(s.obs)) for t, obs, a, s in out] == [
        (0, [0, 1, 2, 3], [0, -1, -2, -3], [10, 11, 12, 13]),
        (1, [10, 11, 12, 13], [-10, -11, -12, -13], [20, 21, 22, 23])]


def test_overlapped_rollouts_train_bit_identically_to_plain_ones():
    """envs.rollout (the loop of run.py and bench) on an overlapped env: the same draws in the same row
    order, so 4 updates of a2c-proper on Breakout leave the same network to the bit and the same losses.
    (The comparison is not vacuous: the rollout order itself is pinned by the stub test above, and
    test_atari_smoke's Pong run goes through run() with env_overlap = auto, i.e. split.)"""
    from atari_check.envs import make_vec_env, rollout, training_reward_transform
    from atari_check.learners import make_learner

    nets, losses = [], []
    for overlap in ("off", "on"):
        torch.manual_seed(3)
        cfg = Config(env="breakout", num_envs=2, n_steps=5, frames=4 * 2 * 5 * 4, seed=3, env_overlap=overlap)
        spec = resolve_env(cfg.env)
        env = make_vec_env(spec, cfg)
        assert (env.halves is not None) is (overlap == "on")
        learner = make_learner(cfg, env, torch.device("cpu"), training_reward_transform(spec, cfg))
        obs, got = env.reset(seed=3), []
        for update in range(4):
            for t, o, actions, step in rollout(env, learner.act, obs, cfg.n_steps):
                learner.record(t, o, actions, step)
            obs = step.obs
            got.append(learner.learn(obs, update * cfg.n_steps * cfg.num_envs * 4)["loss"])
        env.close()
        nets.append(learner.net.state_dict())
        losses.append(got)
    assert losses[0] == losses[1] and len(set(losses[0])) == 4
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])


@pytest.mark.parametrize(("changes", "message"), [
    ({"num_envs": 3}, "env_overlap='on' needs an even num_envs"),
    ({"algo": "dqn"}, "env_overlap='on' is for the actor-critic algorithms"),
    ({"env_overlap": True}, "env_overlap must be one of"),
])
def test_env_overlap_on_is_refused_where_it_cannot_keep_the_transitions(changes, message):
    with pytest.raises(ValueError, match=message):
        Config(env="pong", **{"env_overlap": "on", **changes})


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, True), ({"algo": "sql"}, True), ({"num_envs": 3}, False), ({"algo": "dqn"}, False),
    ({"env": "CartPole-v1"}, False), ({"env": "MinAtar/Breakout-v1"}, False), ({"env_overlap": "off"}, False),
    ({"device": "cuda"}, False), ({"device": "cuda", "env_overlap": "on"}, True),
])
def test_env_overlap_auto_splits_exactly_the_atari_actor_critic_runs(changes, expected):
    from atari_check.envs import overlap_enabled

    cfg = Config(**{"env": "pong", **changes})
    assert overlap_enabled(resolve_env(cfg.env), cfg) is expected


def test_a_stored_config_from_9c75d57_reads_its_bool_env_overlap():
    """env_overlap was a bool in 9c75d57; runs it wrote (two committed MinAtar pilot runs) still load."""
    stored = Config(env="pong").to_dict()
    assert Config.from_dict({**stored, "env_overlap": False}).env_overlap == "off"
    assert Config.from_dict({**stored, "env_overlap": True}).env_overlap == "on"
    with pytest.raises(ValueError, match="env_overlap must be one of"):
        Config.from_dict({**stored, "env_overlap": "yes"})


def test_env_overlap_needs_an_atari_env():
    with pytest.raises(ValueError, match="env_overlap needs an Atari env and an even num_envs, got 'CartPole-v1'"):
        VecEnv(resolve_env("CartPole-v1"), 4, overlap=True)
