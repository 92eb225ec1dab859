"""Environments: Atari through ale-py's ``AtariVectorEnv``, anything discrete through gymnasium.

Both are used with **next-step autoreset** (gymnasium's default): when a
sub-environment's episode ends at step t, step t returns the *final*
observation (so a truncated episode bootstraps from the state it really
reached), and step t+1 ignores the action, resets, and returns the first
observation of the next episode with reward 0.  That step t+1 is not a
transition of the MDP; :class:`VecEnv` flags it as ``reset_step`` so the
learners mask it out.

Atari with ``life_loss_terminal`` (baselines' EpisodicLifeEnv): a lost life
is reported as ``terminated`` (nothing is bootstrapped across it) but the
game goes on and the next step is a real transition; only a game over (or
the 108k-frame truncation) resets.  The adapter tells the two apart by the
episode frame counter: a step continues the game iff it advances the
counter by exactly ``frameskip``.

Scores are logged **unclipped** per full game by :class:`EpisodeTracker`;
reward clipping for training is done by the learner (``reward_transform``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import minatar_env
from .minatar_env import MINATAR

ATARI = "atari"
GYM = "gym"


@dataclass(frozen=True)
class EnvSpec:
    kind: str  # "atari", "gym" or "minatar"
    key: str  # ALE ROM id ("pong"), gymnasium id ("CartPole-v1") or MinAtar id ("MinAtar/Breakout-v1")
    title: str  # "Pong" / "CartPole-v1" / "MinAtar/Breakout-v1": the name used in tables and plots


def _atari_roms() -> list[str]:
    from ale_py import roms

    return list(roms.get_all_rom_ids())


def atari_title(rom: str) -> str:
    """'space_invaders' -> 'SpaceInvaders' (the naming of the gym ids)."""
    return "".join(part.capitalize() for part in rom.split("_"))


def _normalise_atari(name: str) -> str:
    n = name.strip()
    n = re.sub(r"^ALE/", "", n, flags=re.IGNORECASE)
    n = re.sub(r"-v\d+$", "", n)
    n = re.sub(r"(NoFrameskip|Deterministic)$", "", n)
    return n.replace("_", "").replace("-", "").lower()


def _gym_semantics_differ(name: str) -> bool:
    """A gymnasium Atari id other than ``<Game>NoFrameskip-v4`` (ALE/Pong-v5, Pong-v4, PongDeterministic-v4)."""
    n = name.strip()
    versioned = re.search(r"-v\d+$", n) is not None or n.upper().startswith("ALE/")
    return versioned and re.search(r"NoFrameskip-v4$", n) is None


def _gym_registry() -> dict:
    import gymnasium

    return dict(gymnasium.envs.registry)


def resolve_env(name: str) -> EnvSpec:
    """Map an environment id to an :class:`EnvSpec`.

    Accepts ALE ROM ids (``pong``), ``<Game>NoFrameskip-v4`` ids and gymnasium
    ids (``CartPole-v1``).  Unknown ids raise ``ValueError`` with close matches;
    gymnasium Atari ids with other semantics (``ALE/Pong-v5``: sticky actions
    0.25; ``Pong-v4``) are refused with the accepted forms, never run silently
    with different settings.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"env must be a non-empty string, got {name!r}")
    if minatar_env.looks_like_minatar(name):  # before the registry: minatar.gym may have registered these ids
        key = minatar_env.resolve_minatar(name)[0]
        return EnvSpec(MINATAR, key, key)
    registry = _gym_registry()
    if name in registry and not str(registry[name].entry_point).startswith("ale_py"):
        return EnvSpec(GYM, name, name)  # e.g. CartPole-v1, and the toy-text Blackjack-v1 (not the ROM)
    roms = _atari_roms()
    by_norm = {rom.replace("_", ""): rom for rom in roms}
    norm = _normalise_atari(name)
    if norm in by_norm:
        rom = by_norm[norm]
        if _gym_semantics_differ(name):
            raise ValueError(
                f"env {name!r} means gymnasium's own settings for that id (v5: sticky actions 0.25; "
                f"-v4 / Deterministic-v4: no max-pooling, fixed or random frameskip), which this harness does "
                f"not reproduce. Use {rom!r} or {atari_title(rom) + 'NoFrameskip-v4'!r} (baselines' Atari "
                f"settings, recorded in run.json) and set them explicitly, e.g. --repeat-action-probability 0.25"
            )
        return EnvSpec(ATARI, rom, atari_title(rom))
    candidates = sorted(set(registry) | set(roms))
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=5, cutoff=0.6)
    close += [lowered[c] for c in difflib.get_close_matches(norm, list(lowered), n=3, cutoff=0.6)]
    suggestions = list(dict.fromkeys(lowered.get(c, c) for c in close))[:5]
    hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    raise ValueError(
        f"unknown environment id {name!r}: not an ALE game (ale-py ROM ids such as 'pong', or "
        f"'PongNoFrameskip-v4') and not a registered gymnasium id{hint}"
    )


class Step(NamedTuple):
    obs: np.ndarray  # [B, ...] observation after the step (the final one if the episode ended)
    reward: np.ndarray  # [B] float64, unclipped
    terminated: np.ndarray  # [B] bool
    truncated: np.ndarray  # [B] bool
    reset_step: np.ndarray  # [B] bool: this step was an autoreset, not a transition


class VecEnv:
    """A vector env with the uniform interface the learners use."""

    def __init__(self, spec: EnvSpec, num_envs: int, *, frameskip: int = 4, noop_max: int = 30,
                 stack_num: int = 4, img_size: int = 84, repeat_action_probability: float = 0.0,
                 life_loss_terminal: bool = True, fire_reset: bool = True, full_action_space: bool = False,
                 max_episode_frames: int = 108_000, threads: int = 0, minatar_sticky_action_prob: float = 0.1,
                 minatar_difficulty_ramping: bool = True, overlap: bool = False):
        self.spec = spec
        self.num_envs = num_envs
        # overlap: two AtariVectorEnvs of num_envs/2 (sub-envs 0..h-1 and h..B-1, seeded as one env of B would
        # be), so that one half steps in ale-py's threads while the caller's network acts on the other
        self.halves: tuple[slice, slice] | None = None
        self._parts: list = []
        if overlap and (spec.kind != ATARI or num_envs % 2):
            raise ValueError(f"env_overlap needs an Atari env and an even num_envs, got {spec.key!r} with "
                             f"num_envs={num_envs}")
        if spec.kind == ATARI:
            from ale_py.vector_env import AtariVectorEnv

            sizes = (num_envs // 2, num_envs // 2) if overlap else (num_envs,)
            self._parts = [AtariVectorEnv(
                spec.key, size,
                num_threads=threads,
                max_num_frames_per_episode=max_episode_frames,
                repeat_action_probability=repeat_action_probability,
                full_action_space=full_action_space,
                autoreset_mode="NextStep",
                img_height=img_size, img_width=img_size, grayscale=True,
                stack_num=stack_num, frameskip=frameskip, maxpool=True, noop_max=noop_max,
                episodic_life=False, life_loss_info=life_loss_terminal,
                reward_clipping=False,  # we log unclipped scores and clip for training ourselves
                use_fire_reset=fire_reset,
            ) for size in sizes]
            self._env = self._parts[0]
            if overlap:
                self.halves = (slice(0, num_envs // 2), slice(num_envs // 2, num_envs))
            self.frames_per_step = frameskip
        elif spec.kind == MINATAR:
            _, game, version = minatar_env.resolve_minatar(spec.key)
            self._env = minatar_env.MinAtarVecEnv(
                game, num_envs, minimal_action_set=version == "v1", sticky_action_prob=minatar_sticky_action_prob,
                difficulty_ramping=minatar_difficulty_ramping)
            self.frames_per_step = 1
        else:
            import gymnasium
            from gymnasium.spaces import Discrete

            self._env = gymnasium.make_vec(
                spec.key, num_envs=num_envs, vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP},
            )
            if not isinstance(self._env.single_action_space, Discrete):
                space = self._env.single_action_space
                self._env.close()
                raise ValueError(
                    f"env {spec.key!r} has action space {space}; only discrete-action environments are supported"
                )
            self.frames_per_step = 1
        self.num_actions = int(self._env.single_action_space.n)
        self.obs_shape = tuple(self._env.single_observation_space.shape)
        self.obs_dtype = self._env.single_observation_space.dtype
        self._frameskip = frameskip
        self._prev_done = np.zeros(num_envs, dtype=bool)
        self._prev_episode_frame = np.zeros(num_envs, dtype=np.int64)

    def _order(self, info: dict) -> np.ndarray | None:
        ids = info.get("env_id") if isinstance(info, dict) else None
        if ids is None:
            return None
        ids = np.asarray(ids)
        if np.array_equal(ids, np.arange(len(ids))):  # a half's ids count from 0 too
            return None
        return np.argsort(ids)

    def reset(self, seed: int) -> np.ndarray:
        """Reset every sub-environment; sub-env i gets seed ``seed + i``."""
        if self.halves is not None:
            parts = []
            for part, half in zip(self._parts, self.halves):
                obs, info = part.reset(seed=int(seed) + half.start)
                parts.append(self._reset_done(half, obs, info))
            return np.concatenate(parts)
        obs, info = self._env.reset(seed=int(seed))
        return self._reset_done(slice(0, self.num_envs), obs, info)

    def _reset_done(self, rows: slice, obs, info) -> np.ndarray:
        order = self._order(info)
        if order is not None:
            obs = obs[order]
            info = {k: np.asarray(v)[order] for k, v in info.items()}
        self._prev_done[rows] = False
        if self.spec.kind == ATARI:
            self._prev_episode_frame[rows] = np.asarray(info["episode_frame_number"], dtype=np.int64)
        return obs

    def step(self, actions: np.ndarray) -> Step:
        if self.halves is not None:
            for h, half in enumerate(self.halves):
                self.send(h, actions[half])
            return concatenate_steps([self.recv(h) for h in range(len(self.halves))])
        out = self._env.step(np.asarray(actions, dtype=np.int64))
        return self._finish(slice(0, self.num_envs), *out)

    def send(self, half: int, actions: np.ndarray) -> None:
        """Start stepping ``halves[half]`` with ``actions`` (its rows); returns at once (overlap only)."""
        self._parts[half].send(np.asarray(actions, dtype=np.int64))

    def recv(self, half: int) -> Step:
        """Wait for the step started by ``send(half, ...)``; the Step of that half's rows."""
        return self._finish(self.halves[half], *self._parts[half].recv())

    def _finish(self, rows: slice, obs, reward, terminated, truncated, info) -> Step:
        order = self._order(info)
        if order is not None:
            obs, reward, terminated, truncated = obs[order], reward[order], terminated[order], truncated[order]
            info = {k: np.asarray(v)[order] for k, v in info.items()}
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        prev_done = self._prev_done[rows]
        if self.spec.kind == ATARI:
            episode_frame = np.asarray(info["episode_frame_number"], dtype=np.int64)
            continued = episode_frame == self._prev_episode_frame[rows] + self._frameskip
            reset_step = prev_done & ~continued
            self._prev_episode_frame[rows] = episode_frame
        else:
            reset_step = prev_done.copy()
        self._prev_done[rows] = terminated | truncated
        return Step(obs, np.asarray(reward, dtype=np.float64), terminated, truncated, reset_step)

    def close(self) -> None:
        for part in self._parts or [self._env]:
            part.close()


def rollout(env: VecEnv, act, obs: np.ndarray, n_steps: int):
    """The ``n_steps`` vector steps of one rollout from ``obs``: yields ``(t, obs_t, actions_t, step_t)``.

    ``act(obs_rows) -> actions_rows`` is the policy.  On an overlapped env (``env.halves``) each half is
    sent to ale-py's threads as soon as its actions are known, so the network acts on one half while the
    other steps; the actions are the same draws in the same row order as one ``act`` on all rows (each half
    is acted on in row order), and the transitions are those of one env of all rows (tests/test_atari_envs.py).
    The next rollout's first half-step is not started here: its actions need the updated policy.
    """
    if env.halves is None:
        for t in range(n_steps):
            actions = act(obs)
            step = env.step(actions)
            yield t, obs, actions, step
            obs = step.obs
        return
    first, second = env.halves
    actions_first = act(obs[first])
    env.send(0, actions_first)
    for t in range(n_steps):
        actions_second = act(obs[second])
        env.send(1, actions_second)  # half 1 steps while half 0's result is read and acted on
        step_first = env.recv(0)
        if t + 1 < n_steps:
            next_first = act(step_first.obs)
            env.send(0, next_first)  # half 0 steps while half 1's result is read and the rows recorded
        step = concatenate_steps([step_first, env.recv(1)])
        yield t, obs, np.concatenate([actions_first, actions_second]), step
        obs = step.obs
        if t + 1 < n_steps:
            actions_first = next_first


def concatenate_steps(steps: list[Step]) -> Step:
    """The Step of all rows from the Steps of consecutive row blocks (the halves of an overlapped env)."""
    return Step(*(np.concatenate([getattr(s, f) for s in steps]) for f in Step._fields))


def overlap_enabled(spec: EnvSpec, cfg) -> bool:
    """Whether ``cfg.env_overlap`` splits the env: ``auto`` = an Atari actor-critic run on the CPU with an
    even num_envs (measured faster there, results bit-identical: atari_check/README.md ``bench``, and
    tests/test_atari_envs.py).  Not on CUDA: there two half-batch draws advance the generator differently
    from one full draw, and kernels may differ by batch size, which no test here has checked.  ``on`` is
    refused where it cannot hold (config validation, and VecEnv for a non-Atari env)."""
    if cfg.env_overlap == "auto":
        return spec.kind == ATARI and not cfg.is_dqn and cfg.num_envs % 2 == 0 and cfg.device == "cpu"
    return cfg.env_overlap == "on"


def make_vec_env(spec: EnvSpec, cfg) -> VecEnv:
    """Build the vector env of a :class:`~atari_check.config.Config`."""
    return VecEnv(
        spec, cfg.num_envs, frameskip=cfg.frameskip, noop_max=cfg.noop_max, stack_num=cfg.stack_num,
        img_size=cfg.img_size, repeat_action_probability=cfg.repeat_action_probability,
        life_loss_terminal=cfg.life_loss_terminal, fire_reset=cfg.fire_reset,
        full_action_space=cfg.full_action_space, max_episode_frames=cfg.max_episode_frames,
        threads=cfg.env_threads, minatar_sticky_action_prob=cfg.minatar_sticky_action_prob,
        minatar_difficulty_ramping=cfg.minatar_difficulty_ramping, overlap=overlap_enabled(spec, cfg),
    )


def env_settings(spec: EnvSpec, cfg) -> dict:
    """The settings that define the environment, recorded in every run.json."""
    if spec.kind == MINATAR:
        return {**minatar_env.minatar_settings(spec.key, cfg), "reward_transform": training_reward_transform(spec, cfg)}
    if spec.kind == GYM:
        return {"kind": GYM, "id": spec.key, "autoreset": "next_step", "frames_per_step": 1,
                "reward_transform": training_reward_transform(spec, cfg)}
    return {
        "kind": ATARI, "rom": spec.key, "autoreset": "next_step",
        "backend": ("two ale_py.vector_env.AtariVectorEnv of num_envs/2 (env_overlap)" if overlap_enabled(spec, cfg)
                    else "ale_py.vector_env.AtariVectorEnv"),
        "frameskip": cfg.frameskip, "maxpool": True, "noop_max": cfg.noop_max, "grayscale": True,
        "img_size": cfg.img_size, "stack_num": cfg.stack_num,
        "repeat_action_probability": cfg.repeat_action_probability,
        "life_loss_terminal": cfg.life_loss_terminal, "fire_reset": cfg.fire_reset,
        "full_action_space": cfg.full_action_space, "max_episode_frames": cfg.max_episode_frames,
        "reward_transform": training_reward_transform(spec, cfg), "logged_score": "unclipped, per full game",
        "frames_per_step": cfg.frameskip,
    }


def training_reward_transform(spec: EnvSpec, cfg) -> str:
    if cfg.reward_transform == "auto":
        return "sign" if spec.kind == ATARI else "none"
    return cfg.reward_transform


class EpisodeTracker:
    """Unclipped return and length of every finished episode (full games on Atari).

    An episode is reported when the sub-environment's autoreset step arrives
    (one step after it ended), with the frame count of the step that ended it.
    """

    def __init__(self, num_envs: int):
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.end_frames = np.zeros(num_envs, dtype=np.int64)

    def step(self, step: Step, frames_after_step: int) -> list[tuple[int, int, float, int]]:
        """Feed one vector step; returns ``(end_frames, env, return, length)`` of finished episodes."""
        finished = []
        for i in np.flatnonzero(step.reset_step):
            finished.append((int(self.end_frames[i]), int(i), float(self.returns[i]), int(self.lengths[i])))
            self.returns[i] = 0.0
            self.lengths[i] = 0
        live = ~step.reset_step
        self.returns[live] += step.reward[live]
        self.lengths[live] += 1
        self.end_frames[live] = frames_after_step
        return finished
