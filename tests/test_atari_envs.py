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
