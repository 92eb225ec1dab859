"""MinAtar (Young & Tian 2019, PyPI ``minatar``) as a vector env for the harness.

Ids are the ones MinAtar registers with gymnasium (``minatar.gym.register_envs``):
``MinAtar/<Game>-v0`` uses all 6 actions (what MinAtar's paper and published curves use),
``MinAtar/<Game>-v1`` the game's minimal action set.  Games: Asterix, Breakout, Freeway,
Seaquest, SpaceInvaders.

Why not ``gymnasium.make_vec`` on that registration: its observation is MinAtar's ``[10, 10, C]``
bool state, which the learners would store as float32, and each sub-env goes through gymnasium's
wrapper stack; :class:`MinAtarVecEnv` steps the ``minatar.Environment`` objects in one loop and
writes ``[C, 10, 10]`` uint8 (0/1) straight into one buffer: 1.19–1.44× the steps/s of
``SyncVectorEnv`` on that registration (16 envs, 3 interleaved rounds on the loaded 2-core machine,
``atari_check/scripts/minatar_vec_speed.py``).  Semantics are gymnasium's:
next-step autoreset, the step after an episode end resets and returns reward 0.

Time limits: Freeway ends only after 2500 frames, which MinAtar reports as ``terminal``; it is a
time limit, not an end of the MDP, so it is reported here as ``truncated`` (the learner bootstraps
from the final state).  No other MinAtar game has a time limit.

This module imports nothing from ``atari_check`` (``envs`` and ``networks`` import it).
"""

from __future__ import annotations

import difflib
import re

import numpy as np

MINATAR = "minatar"

# gymnasium id game name -> minatar module name
GAMES = {"Asterix": "asterix", "Breakout": "breakout", "Freeway": "freeway", "Seaquest": "seaquest",
         "SpaceInvaders": "space_invaders"}
VERSIONS = {"v0": "full action set (6 actions; MinAtar's paper)", "v1": "minimal action set"}
IDS = tuple(f"MinAtar/{g}-{v}" for g in GAMES for v in VERSIONS)
TIME_LIMIT_GAMES = {"freeway": 2500}  # frames after which MinAtar reports "terminal"
SEAQUEST_FIX_VERSION = (1, 0, 11)

# Mean return of the uniformly random policy (sticky 0.1, ramping on), 300 episodes per id, seed 0:
# measured by atari_check/scripts/minatar_random_scores.py into atari_check/results/minatar/random_scores.json
# (MinAtar 1.0.15; tests/test_atari_minatar.py checks these against that file).  MinAtar's own
# README reports 0.5 ± 0.023 for random play on Breakout with all 6 actions (our v0: 0.500 ± 0.039).
MINATAR_RANDOM_SCORES: dict[str, float] = {
    "MinAtar/Asterix-v0": 0.407,
    "MinAtar/Asterix-v1": 0.477,
    "MinAtar/Breakout-v0": 0.5,
    "MinAtar/Breakout-v1": 0.453,
    "MinAtar/Freeway-v0": 0.137,
    "MinAtar/Freeway-v1": 0.353,
    "MinAtar/Seaquest-v0": 0.1,
    "MinAtar/Seaquest-v1": 0.1,
    "MinAtar/SpaceInvaders-v0": 2.913,
    "MinAtar/SpaceInvaders-v1": 4.177,
}

# Score ranges for compare's equivalence margin, keyed by id: (lo, hi) with lo the random-policy score
# above.  hi is None: MinAtar has no published "human" reference like the ALE's, and no published
# upper reference was verified in this project, so compare must not use these ranges until hi is
# registered (issue 13 §4 sets the margin from a pilot's seed-to-seed spread instead).
MINATAR_SCORE_RANGES: dict[str, tuple[float, float | None]] = {i: (MINATAR_RANDOM_SCORES[i], None) for i in IDS}


def looks_like_minatar(name: str) -> bool:
    """Ids that mention MinAtar are resolved (and their typos suggested) among MinAtar ids only."""
    if not isinstance(name, str):
        return False
    low = name.strip().lower()
    prefix = low.split("/", 1)[0] if "/" in low else ""
    return "minatar" in low or difflib.SequenceMatcher(None, prefix, "minatar").ratio() >= 0.6


def resolve_minatar(name: str) -> tuple[str, str, str]:
    """``'minatar/breakout-v1'`` → ``('MinAtar/Breakout-v1', 'breakout', 'v1')``; a typo raises with MinAtar ids."""
    by_lower = {i.lower(): i for i in IDS}
    canonical = by_lower.get(name.strip().lower())
    if canonical is None:
        close = difflib.get_close_matches(name.strip().lower(), list(by_lower), n=4, cutoff=0.5)
        game = re.sub(r"[^a-z]", "", name.lower().replace("minatar", "").rsplit("-v", 1)[0])
        close += [by_lower[i] for i in by_lower if game and i.split("/")[1].startswith(game[:4])]
        suggestions = list(dict.fromkeys(by_lower.get(c, c) for c in close))[:4] or list(IDS[:2])
        raise ValueError(
            f"unknown MinAtar id {name!r}; did you mean {', '.join(repr(s) for s in suggestions)}? "
            f"(ids: MinAtar/<{'|'.join(GAMES)}>-<v0|v1>; v0 = all 6 actions, v1 = minimal action set)"
        )
    game, version = canonical.split("/")[1].rsplit("-", 1)
    return canonical, GAMES[game], version


def is_minatar_id(name: str) -> bool:
    try:
        resolve_minatar(name)
    except (ValueError, AttributeError):
        return False
    return True


def minatar_version() -> str:
    from importlib.metadata import version

    return version("minatar")


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3])


def game_quirks(game: str, version: str | None = None) -> list[str]:
    """Version-dependent behaviour of ``game`` worth recording with a run."""
    version = version or minatar_version()
    notes = []
    if game == "seaquest":
        fixed = _version_tuple(version) >= SEAQUEST_FIX_VERSION
        notes.append(
            "seaquest: MinAtar <= 1.0.10 flashed the oxygen bar to full one step before an out-of-oxygen "
            "termination (fixed in 1.0.11); results across that boundary, including MinAtar's published "
            f"Seaquest curves (<= 1.0.10), are not comparable. This run: {version}, "
            + ("fixed." if fixed else "BUG PRESENT.")
        )
    if game in TIME_LIMIT_GAMES:
        notes.append(
            f"{game}: MinAtar reports the end of its {TIME_LIMIT_GAMES[game]}-frame time limit as terminal; "
            "the harness reports it as truncated (bootstrap from the final state), as it is a time limit."
        )
    return notes


class MinAtarVecEnv:
    """``num_envs`` MinAtar games in one loop, with a gymnasium-vector-like interface.

    ``reset(seed)`` → ``(obs, {})``; ``step(actions)`` → ``(obs, reward, terminated, truncated, {})``
    with obs ``[B, C, 10, 10]`` uint8 in {0, 1} (channel ``c`` of MinAtar's ``[10, 10, C]`` state at
    ``obs[:, c]``), rewards float64 [B].  Next-step autoreset: after a step that ended an episode the
    next ``step`` ignores the action, resets and returns reward 0 and the first state.
    """

    def __init__(self, game: str, num_envs: int, *, minimal_action_set: bool, sticky_action_prob: float,
                 difficulty_ramping: bool):
        from gymnasium.spaces import Box, Discrete
        from minatar import Environment

        if game not in GAMES.values():
            raise ValueError(f"game must be one of {sorted(GAMES.values())}, got {game!r}")
        self.game = game
        self.num_envs = num_envs
        self.games = [Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=difficulty_ramping)
                      for _ in range(num_envs)]
        g0 = self.games[0]
        self.action_set = np.asarray(g0.minimal_action_set() if minimal_action_set else range(g0.num_actions()),
                                     dtype=np.int64)
        self.channels = [name for name, _ in sorted(g0.env.channels.items(), key=lambda kv: kv[1])]
        c = len(self.channels)
        self.single_observation_space = Box(0, 1, shape=(c, 10, 10), dtype=np.uint8)
        self.single_action_space = Discrete(len(self.action_set))
        self._time_limit = game in TIME_LIMIT_GAMES
        self._obs = np.zeros((num_envs, c, 10, 10), dtype=np.uint8)
        self._obs_hwc = self._obs.transpose(0, 2, 3, 1)  # a view: writing [10, 10, C] here fills [C, 10, 10]
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def reset(self, seed: int):
        for i, g in enumerate(self.games):
            g.seed(int(seed) + i)  # seeds the game dynamics and the sticky-action draw
            g.reset()
            self._obs_hwc[i] = g.state()
        self._needs_reset[:] = False
        return self._obs.copy(), {}

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        if actions.min() < 0 or actions.max() >= len(self.action_set):
            raise ValueError(f"actions must be in [0, {len(self.action_set)}), got {actions.tolist()}")
        reward = np.zeros(self.num_envs, dtype=np.float64)
        done = np.zeros(self.num_envs, dtype=bool)
        for i, g in enumerate(self.games):
            if self._needs_reset[i]:
                g.reset()
            else:
                reward[i], done[i] = g.act(int(self.action_set[actions[i]]))
            self._obs_hwc[i] = g.state()
        self._needs_reset = done
        truncated = done if self._time_limit else np.zeros_like(done)
        terminated = np.zeros_like(done) if self._time_limit else done
        return self._obs.copy(), reward, terminated, truncated.copy(), {}

    def close(self) -> None:
        pass


def minatar_settings(key: str, cfg) -> dict:
    """What defines a MinAtar env, recorded in run.json (``env``)."""
    _, game, version = resolve_minatar(key)
    mv = minatar_version()
    from minatar import Environment

    g = Environment(game)
    channels = [name for name, _ in sorted(g.env.channels.items(), key=lambda kv: kv[1])]
    action_set = g.minimal_action_set() if version == "v1" else list(range(g.num_actions()))
    return {
        "kind": MINATAR, "id": key, "game": game, "minatar_version": mv,
        "backend": "atari_check.minatar_env.MinAtarVecEnv (minatar.Environment objects stepped in one loop)",
        "autoreset": "next_step", "frames_per_step": 1, "frame_stack": None,
        "obs": f"[C, 10, 10] uint8 in {{0, 1}} (MinAtar's [10, 10, C] bool state, channel-first); C = {len(channels)}",
        "channels": channels,
        "action_set": [int(a) for a in action_set], "action_set_kind": VERSIONS[version],
        "sticky_action_prob": cfg.minatar_sticky_action_prob,
        "difficulty_ramping": cfg.minatar_difficulty_ramping,
        "time_limit": ({"frames": TIME_LIMIT_GAMES[game], "reported_as": "truncated"}
                       if game in TIME_LIMIT_GAMES else None),
        "quirks": game_quirks(game, mv),
        "logged_score": "sum of MinAtar rewards per episode (unclipped)",
    }
