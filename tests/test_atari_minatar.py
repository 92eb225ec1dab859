"""MinAtar in the harness: ids, observation layout, the MinAtar network, episode returns, Freeway's
time limit, run.json records — each with a negative control through the same check.

All expectations come from stepping ``minatar.Environment`` objects by hand (same seeds, same
actions), never from the adapter under test.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

# minatar is imported inside the tests, not here: its import pulls in seaborn, pandas and matplotlib (~3 s), and
# every xdist worker imports every test module at collection.  The harness group (tests/conftest.py) keeps
# these tests on one worker.
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("minatar") is None,
                       reason="the optional extra minatar is not installed (pip install -e .[minatar])"),
]

from atari_check import minatar_env
from atari_check.config import Config
from atari_check.envs import EpisodeTracker, Step, VecEnv, env_settings, resolve_env
from atari_check.networks import ActorCritic, MinAtarTrunk, QNetwork


def Environment(*args, **kwargs):  # noqa: N802  (minatar.Environment, imported on first use)
    from minatar import Environment as MinAtarEnvironment

    return MinAtarEnvironment(*args, **kwargs)


def _hand_games(game: str, n: int, seed: int, sticky: float = 0.1) -> list:
    games = []
    for i in range(n):
        g = Environment(game, sticky_action_prob=sticky)
        g.seed(seed + i)
        g.reset()
        games.append(g)
    return games


def check_channel_first(obs: np.ndarray, states: list[np.ndarray]) -> None:
    """obs[i, c, y, x] must be MinAtar's state[y, x, c] for every sub-env i."""
    for i, s in enumerate(states):
        for c in range(s.shape[2]):
            if not np.array_equal(obs[i, c], s[:, :, c].astype(np.uint8)):
                raise AssertionError(f"sub-env {i}, channel {c}: observation is not MinAtar's channel {c}")


# ------------------------------------------------------------------------------------------- ids


def test_ids_resolve_and_typos_suggest_minatar_ids_only():
    assert resolve_env("MinAtar/Breakout-v1").kind == minatar_env.MINATAR
    assert resolve_env("minatar/spaceinvaders-v0").key == "MinAtar/SpaceInvaders-v0"  # canonical id recorded
    for typo in ("MinAtar/Breakot-v1", "Minatr/Breakout-v1", "Breakout-MinAtar", "MinAtar/Breakout"):
        with pytest.raises(ValueError, match=r"unknown MinAtar id") as err:
            resolve_env(typo)
        msg = str(err.value)
        assert "'MinAtar/Breakout-v1'" in msg
        assert "'breakout'" not in msg and "ALE" not in msg  # not the ALE game with a similar name
    # negative control: ids that do not mention MinAtar still reach the ALE / gymnasium paths
    assert resolve_env("breakout").kind == "atari" and resolve_env("CartPole-v1").kind == "gym"


def test_ids_win_over_minatars_own_gymnasium_registration():
    import minatar.gym

    minatar.gym.register_envs()  # makes 'MinAtar/Breakout-v1' a gymnasium id (bool [10, 10, C] obs)
    assert resolve_env("MinAtar/Breakout-v1").kind == minatar_env.MINATAR


# ----------------------------------------------------------------------------------- observations


def test_observations_are_minatars_channels_channel_first_uint8():
    env = VecEnv(resolve_env("MinAtar/Breakout-v1"), 3)
    hand = _hand_games("breakout", 3, seed=5)
    obs = env.reset(seed=5)
    assert obs.shape == (3, 4, 10, 10) and obs.dtype == np.uint8 and set(np.unique(obs)) <= {0, 1}
    assert env.num_actions == 3 and env.frames_per_step == 1
    rng = np.random.default_rng(0)
    action_set = Environment("breakout").minimal_action_set()
    for _ in range(30):
        check_channel_first(obs, [g.state() for g in hand])
        actions = rng.integers(0, 3, size=3)
        step = env.step(actions)
        for g, a, rs in zip(hand, actions, step.reset_step):
            if rs:
                g.reset()
            else:
                g.act(action_set[a])
        obs = step.obs
    # Breakout's paddle (channel 0) is one cell on the bottom row, in every sub-env
    assert (obs[:, 0].sum(axis=(1, 2)) == 1).all() and (obs[:, 0, 9].sum(axis=1) == 1).all()


def test_channel_order_bug_fails_the_check():
    """Negative control: MinAtar's [10, 10, C] state reshaped (not transposed) to [C, 10, 10]."""
    g = _hand_games("breakout", 1, seed=0)[0]
    s = g.state()
    buggy = s.reshape(1, s.shape[2], 10, 10).astype(np.uint8)
    with pytest.raises(AssertionError, match="not MinAtar's channel"):
        check_channel_first(buggy, [s])
    channel_last = s[None].astype(np.uint8)  # no transposition at all: [1, 10, 10, C]
    with pytest.raises((AssertionError, IndexError)):
        check_channel_first(channel_last, [s])
    trunk = MinAtarTrunk(4)
    with pytest.raises(RuntimeError):  # the MinAtar conv refuses channel-last input
        trunk(torch.from_numpy(channel_last))


# ---------------------------------------------------------------------------------------- returns


def _random_play(env, n, seed, steps, tracker_step=None):
    """Random actions through the adapter; returns the actions and the episodes the tracker logged."""
    tracker = EpisodeTracker(n)
    env.reset(seed=seed)
    rng = np.random.default_rng(1)
    actions, logged = [], []
    for t in range(steps):
        a = rng.integers(0, env.num_actions, size=n)
        step = env.step(a)
        if tracker_step is not None:
            step = tracker_step(step)
        actions.append(a)
        logged += [(e, r, length) for _, e, r, length in tracker.step(step, t + 1)]
    return actions, logged


def test_logged_episode_returns_equal_the_raw_rewards_summed_by_hand():
    n, seed, steps = 4, 11, 400
    env = VecEnv(resolve_env("MinAtar/SpaceInvaders-v0"), n)  # v0: actions are MinAtar's own 0..5
    actions, logged = _random_play(env, n, seed, steps)
    hand = _hand_games("space_invaders", n, seed)
    expected, ret, length = [], np.zeros(n), np.zeros(n, int)
    needs_reset = np.zeros(n, bool)
    for t, a in enumerate(actions, start=1):
        for i, g in enumerate(hand):
            if needs_reset[i]:  # the step after an end resets (next-step autoreset): not a transition
                g.reset()
                needs_reset[i] = False
                expected.append((i, ret[i], length[i]))  # the tracker reports it at this reset step
                ret[i], length[i] = 0.0, 0
                continue
            r, done = g.act(int(a[i]))
            ret[i] += r
            length[i] += 1
            needs_reset[i] = done
    assert len(logged) >= 8 and max(r for _, r, _ in logged) > 0  # real episodes, rewards actually summed
    assert sorted(logged) == sorted(expected)
    # negative controls: an adapter that flags the ending step itself as the reset (off by one) drops each
    # episode's last step; one that never flags it never ends an episode
    _, off_by_one = _random_play(env, n, seed, steps,
                                 lambda s: Step(s.obs, s.reward, s.terminated, s.truncated, s.terminated | s.truncated))
    assert sorted(off_by_one) != sorted(expected)
    _, merged = _random_play(env, n, seed, steps,
                             lambda s: Step(s.obs, s.reward, s.terminated, s.truncated, np.zeros(n, bool)))
    assert merged == []


def test_freeway_time_limit_is_a_truncation_at_minatars_terminal_step():
    env = VecEnv(resolve_env("MinAtar/Freeway-v1"), 1)
    env.reset(seed=3)
    hand = _hand_games("freeway", 1, seed=3)[0]
    action_set = hand.minimal_action_set()
    for t in range(1, 2600):
        a = t % 3
        step = env.step(np.array([a]))
        _, raw_done = hand.act(action_set[a])
        assert bool(step.truncated[0]) == raw_done and not step.terminated[0]
        if raw_done:
            break
    assert raw_done and t == minatar_env.TIME_LIMIT_GAMES["freeway"] + 1
    # negative control: Breakout's end is a real termination, not a truncation
    env = VecEnv(resolve_env("MinAtar/Breakout-v1"), 1)
    env.reset(seed=0)
    ends = [env.step(np.array([0])) for _ in range(200)]
    assert any(s.terminated[0] for s in ends) and not any(s.truncated[0] for s in ends)


def test_same_seed_same_observations_other_seed_differs():
    def trace(seed):
        env = VecEnv(resolve_env("MinAtar/Asterix-v1"), 2)
        out = [env.reset(seed=seed)]
        rng = np.random.default_rng(0)
        out += [env.step(rng.integers(0, env.num_actions, size=2)).obs for _ in range(50)]
        return np.stack(out)

    a, b, c = trace(7), trace(7), trace(8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_actions_and_settings_are_refused():
    env = VecEnv(resolve_env("MinAtar/Breakout-v1"), 2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be in \[0, 3\)"):
        env.step(np.array([0, 3]))
    with pytest.raises(ValueError, match="actions must have shape"):
        env.step(np.array([0]))
    with pytest.raises(ValueError, match="minatar_sticky_action_prob"):
        Config(env="MinAtar/Breakout-v1", minatar_sticky_action_prob=1.5)


# ---------------------------------------------------------------------------------------- network


def test_minatar_network_is_the_papers_one_conv_16x3x3_then_128():
    cfg = Config(env="MinAtar/Seaquest-v1")
    net = ActorCritic((10, 10, 10), 5, cfg)
    assert isinstance(net.trunk, MinAtarTrunk)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [(10, 16, (3, 3), (1, 1))]
    assert [(m.in_features, m.out_features) for m in linears] == [(16 * 8 * 8, 128), (128, 5), (128, 1)]
    log_pi, v = net(torch.zeros(7, 10, 10, 10, dtype=torch.uint8))
    assert log_pi.shape == (7, 5) and v.shape == (7,)
    q = QNetwork((4, 10, 10), 3, Config(env="MinAtar/Breakout-v1", algo="dqn"))
    assert isinstance(q.trunk, MinAtarTrunk) and q(torch.zeros(2, 4, 10, 10, dtype=torch.uint8)).shape == (2, 3)
    # negative control: the same [C, 10, 10] shape on a non-MinAtar env is not given the MinAtar trunk
    with pytest.raises(RuntimeError):
        ActorCritic((4, 10, 10), 3, Config(env="pong"))  # Nature CNN: 10x10 is too small for its convs


def test_inputs_are_not_divided_by_255():
    trunk = MinAtarTrunk(2)
    x = torch.zeros(1, 2, 10, 10, dtype=torch.uint8)
    x[0, 1, 4, 4] = 1
    conv = trunk.conv[0]
    pre = conv(x.to(conv.weight.dtype))[0, :, 3, 3]  # the 3x3 window centred on (4, 4)
    np.testing.assert_allclose(pre.detach().numpy(), (conv.weight[:, 1, 1, 1] + conv.bias).detach().numpy(),
                               rtol=1e-6)  # float32 conv: one multiply-add per output, ~1e-7 relative


# ------------------------------------------------------------------------------------------ run.json


def test_env_settings_record_version_quirks_and_time_limit():
    sea = env_settings(resolve_env("MinAtar/Seaquest-v1"), Config(env="MinAtar/Seaquest-v1"))
    from importlib.metadata import version

    assert sea["minatar_version"] == version("minatar") and sea["kind"] == "minatar"
    assert sea["frame_stack"] is None and sea["frames_per_step"] == 1 and sea["reward_transform"] == "none"
    assert any("1.0.11" in q for q in sea["quirks"]) and sea["time_limit"] is None
    assert sea["channels"][0] == "sub_front" and len(sea["channels"]) == 10
    assert any("BUG PRESENT" in q for q in minatar_env.game_quirks("seaquest", "1.0.10"))  # old version flagged
    fw = env_settings(resolve_env("MinAtar/Freeway-v0"), Config(env="MinAtar/Freeway-v0"))
    assert fw["time_limit"] == {"frames": 2500, "reported_as": "truncated"} and fw["action_set"] == list(range(6))
    assert not any("1.0.11" in q for q in fw["quirks"])


def test_run_end_to_end_logs_episodes_and_records_minatar(tmp_path):
    from atari_check.run import run

    cfg = Config(algo="sql", env="MinAtar/Breakout-v1", frames=480, num_envs=8, lockstep_interval=5, log_interval=2)
    result = run(cfg, tmp_path / "r", progress=False)
    assert result.status == "finished" and result.episodes > 0
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["env"]["id"] == "MinAtar/Breakout-v1" and info["env"]["obs_shape"] == [4, 10, 10]
    assert info["env"]["minatar_version"] and info["config"]["minatar_sticky_action_prob"] == 0.1
    rows = (tmp_path / "r" / "lockstep.csv").read_text().splitlines()
    assert len(rows) > 2  # the lockstep diagnostics ran on MinAtar batches


def test_random_scores_constant_matches_the_committed_measurement():
    from pathlib import Path

    data = json.loads((Path(minatar_env.__file__).parent / "results" / "minatar" / "random_scores.json").read_text())
    assert set(data["scores"]) == set(minatar_env.IDS) == set(minatar_env.MINATAR_RANDOM_SCORES)
    for env_id, s in data["scores"].items():
        assert minatar_env.MINATAR_RANDOM_SCORES[env_id] == round(s["mean"], 3)  # rounded to 3 places, exactly
        assert minatar_env.MINATAR_SCORE_RANGES[env_id] == (minatar_env.MINATAR_RANDOM_SCORES[env_id], None)
    # the measurement reproduces exactly (same seed, same episodes) on the cheapest id: Breakout's are short
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "minatar_random_scores", Path(minatar_env.__file__).parent / "scripts" / "minatar_random_scores.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    returns = script.random_returns("MinAtar/Breakout-v1", data["episodes"], seed=data["seed"])
    assert float(np.mean(returns)) == data["scores"]["MinAtar/Breakout-v1"]["mean"]
    assert max(returns) == data["scores"]["MinAtar/Breakout-v1"]["max"]
