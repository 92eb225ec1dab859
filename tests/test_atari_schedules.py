"""The learners' schedules and small transforms, each pinned to its definition (found by hand-mutating
learners.py / run.py: these lines survived the training-path tests).

* reward clipping to the sign for training (Atari), identity otherwise — the logged score stays unclipped;
* ε-greedy: linear from eps_start to eps_end over eps_fraction of the run's agent steps, then eps_end;
* the DQN target network is copied every target_update_interval agent steps, and only then;
* the A2C learning rate of update u is lr · (1 − frames before update u / frames).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atari_check.config import Config
from atari_check.envs import Step
from atari_check.learners import ActorCriticLearner, DQNLearner, reward_for_training
from atari_check.run import read_csv, run

CPU = torch.device("cpu")


def _step(rewards, done=False):
    b = len(rewards)
    return Step(np.zeros((b, 4), np.float32), np.asarray(rewards, np.float64), np.full(b, done), np.zeros(b, bool),
                np.zeros(b, bool))


def test_reward_clipping_is_the_sign_for_training_only():
    r = np.array([-3.5, 0.0, 2.0, 7.0])
    np.testing.assert_array_equal(reward_for_training(r, "sign"), [-1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(reward_for_training(r, "none"), r)
    cfg = Config(algo="a2c-proper", env="CartPole-v1", num_envs=4, n_steps=2)
    learner = ActorCriticLearner(cfg, (4,), np.float32, 2, CPU, "sign")
    learner.record(0, np.zeros((4, 4), np.float32), np.zeros(4, np.int64), _step(r))
    assert learner.rewards[0].tolist() == [-1.0, 0.0, 1.0, 1.0]


def test_epsilon_schedule():
    cfg = Config(algo="dqn", env="CartPole-v1", frames=1000, num_envs=4, eps_start=1.0, eps_end=0.1,
                 eps_fraction=0.2, replay_size=400)
    learner = DQNLearner(cfg, (4,), np.float32, 2, CPU, "none")
    horizon = 0.2 * 1000  # agent steps (CartPole: 1 frame per agent step)
    for steps, eps in ((0, 1.0), (horizon / 2, 0.55), (horizon, 0.1), (3 * horizon, 0.1)):
        learner.agent_steps = int(steps)
        assert learner.epsilon() == pytest.approx(eps, abs=1e-12), steps


def test_target_network_is_copied_every_target_update_interval():
    cfg = Config(algo="dqn", env="CartPole-v1", frames=10_000, num_envs=2, n_steps=5, replay_size=400,
                 batch_size=4, learning_starts=0, train_interval=2, target_update_interval=30, dqn_lr=1e-2)
    learner = DQNLearner(cfg, (4,), np.float32, 2, CPU, "none")
    rng = np.random.default_rng(0)

    def same():
        return all(torch.equal(p, q) for p, q in zip(learner.net.parameters(), learner.target.parameters()))

    copies = []
    for _ in range(8):  # 8 iterations of 10 agent steps
        for t in range(cfg.n_steps):
            learner.record(t, rng.normal(size=(2, 4)).astype(np.float32), rng.integers(0, 2, 2),
                           _step(rng.normal(size=2)))
        learner.learn(None, 0)
        copies.append(same())
    # the online net moves every iteration; the target equals it right after a copy (at 30, 60 steps)
    assert copies == [False, False, True, False, False, True, False, False]
    assert learner.target_copies == 2


def test_learning_rate_decays_with_the_frames_before_each_update(tmp_path):
    cfg = Config(algo="a2c-proper", env="CartPole-v1", frames=200, num_envs=2, n_steps=5, lockstep_interval=0,
                 log_interval=1)
    run(cfg, tmp_path / "r", progress=False)
    lrs = [float(r["lr"]) for r in read_csv(tmp_path / "r" / "updates.csv")]
    expected = [cfg.lr * (1 - 10 * u / cfg.frames) for u in range(20)]
    assert lrs == pytest.approx(expected, rel=1e-6)  # updates.csv has 7 significant digits


def test_episode_rows_name_the_update_that_wrote_them(tmp_path):
    """An episode row is written at the autoreset step after its end (one vector step later), during the
    rollout of update u (1-based): u = ceil((end frames + num_envs) / (num_envs · n_steps)) on CartPole."""
    cfg = Config(algo="a2c-proper", env="CartPole-v1", frames=300, num_envs=2, n_steps=5, lockstep_interval=0)
    run(cfg, tmp_path / "r", progress=False)
    rows = read_csv(tmp_path / "r" / "episodes.csv")
    assert len(rows) > 5
    for r in rows:
        assert int(r["update"]) == -(-(int(r["frames"]) + 2) // 10), r
