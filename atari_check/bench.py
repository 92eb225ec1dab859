"""``python -m atari_check bench``: env-only vs training throughput, on one machine, in one run.

* env-only: ``AtariVectorEnv`` stepping with uniformly random actions — the
  ceiling for this env stack at this ``num_envs``.
* training: the full a2c-proper and sql iterations (act, step, record,
  update; no lockstep diagnostics, no disk I/O) on the same env settings.
* ratio: training steps/s ÷ env-only steps/s.

Optionally (``--sb3``), stable-baselines3 A2C with the same hyperparameters
on the *same* env stack (``AtariVectorEnv`` behind sb3's VecEnv interface,
so only the learner differs), for a short fixed time, as a side-by-side
ratio.  sb3 is not a dependency; the option says so if it is not installed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .envs import make_vec_env, resolve_env, training_reward_transform
from .learners import make_learner
from .run import _setup_torch, device_name, provenance


def env_only(cfg: Config, seconds: float, warmup_steps: int = 20) -> dict:
    spec = resolve_env(cfg.env)
    env = make_vec_env(spec, cfg)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(warmup_steps):
        env.step(rng.integers(0, env.num_actions, size=cfg.num_envs))
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            env.step(rng.integers(0, env.num_actions, size=cfg.num_envs))
        steps += 10
    dt = time.perf_counter() - t0
    env.close()
    agent_steps = steps * cfg.num_envs
    return {"steps_per_s": agent_steps / dt, "frames_per_s": agent_steps * env.frames_per_step / dt,
            "seconds": dt, "agent_steps": agent_steps}


def training(cfg: Config, seconds: float, warmup_updates: int = 3) -> dict:
    spec = resolve_env(cfg.env)
    device = _setup_torch(cfg)
    torch.manual_seed(cfg.seed)
    env = make_vec_env(spec, cfg)
    learner = make_learner(cfg, env, device, training_reward_transform(spec, cfg))
    obs = env.reset(seed=0)
    updates = 0

    def iteration(obs):
        for t in range(cfg.n_steps):
            actions = learner.act(obs)
            step = env.step(actions)
            learner.record(t, obs, actions, step)
            obs = step.obs
        learner.learn(obs, 0)
        return obs

    for _ in range(warmup_updates):
        obs = iteration(obs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        obs = iteration(obs)
        updates += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    env.close()
    agent_steps = updates * cfg.n_steps * cfg.num_envs
    return {"steps_per_s": agent_steps / dt, "frames_per_s": agent_steps * env.frames_per_step / dt,
            "seconds": dt, "updates": updates, "agent_steps": agent_steps}


def _sb3_vec_env(cfg: Config):
    """The same ``AtariVectorEnv`` (same settings) behind stable-baselines3's VecEnv interface.

    sb3 expects same-step autoreset with the final observation in
    ``infos[i]["terminal_observation"]``; ALE's vector env provides exactly that
    in ``SameStep`` mode.  Rewards are clipped by the env, as sb3's AtariWrapper does.
    """
    from ale_py.vector_env import AtariVectorEnv
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv as SB3VecEnv

    spec = resolve_env(cfg.env)

    class ALEVecEnv(SB3VecEnv):
        def __init__(self):
            self.env = AtariVectorEnv(
                spec.key, cfg.num_envs, num_threads=cfg.env_threads, autoreset_mode="SameStep",
                max_num_frames_per_episode=cfg.max_episode_frames,
                repeat_action_probability=cfg.repeat_action_probability, full_action_space=cfg.full_action_space,
                img_height=cfg.img_size, img_width=cfg.img_size, stack_num=cfg.stack_num, frameskip=cfg.frameskip,
                noop_max=cfg.noop_max, life_loss_info=cfg.life_loss_terminal, reward_clipping=True,
                use_fire_reset=cfg.fire_reset)
            super().__init__(cfg.num_envs, self.env.single_observation_space, self.env.single_action_space)
            self._actions = None

        def reset(self):
            obs, _ = self.env.reset(seed=0)
            return obs

        def step_async(self, actions):
            self._actions = np.asarray(actions, dtype=np.int64)

        def step_wait(self):
            obs, rew, term, trunc, info = self.env.step(self._actions)
            dones = term | trunc
            infos = [{} for _ in range(self.num_envs)]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = info["final_obs"][i]
                infos[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
            return obs, rew.astype(np.float32), dones, infos

        def close(self):
            self.env.close()

        def get_attr(self, attr_name, indices=None):
            return [None] * self.num_envs

        def set_attr(self, attr_name, value, indices=None):
            pass

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [None] * self.num_envs

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * self.num_envs

    return ALEVecEnv()


def sb3_a2c(cfg: Config, seconds: float) -> dict:
    """stable-baselines3 A2C with the paper's A2C settings on the same env stack (optional)."""
    try:
        import stable_baselines3
        from stable_baselines3 import A2C
    except ImportError:
        return {"skipped": "stable-baselines3 is not installed (optional; pip install stable-baselines3)"}
    if resolve_env(cfg.env).kind != "atari":
        return {"skipped": "the sb3 side-by-side is for Atari envs"}
    env = _sb3_vec_env(cfg)
    model = A2C("CnnPolicy", env, n_steps=cfg.n_steps, learning_rate=cfg.lr, gamma=cfg.gamma, ent_coef=cfg.tau,
                vf_coef=cfg.value_coef, max_grad_norm=cfg.max_grad_norm, rms_prop_eps=cfg.rms_eps,
                use_rms_prop=True, gae_lambda=1.0, normalize_advantage=False, device=cfg.device, seed=0,
                verbose=0)
    chunk = cfg.n_steps * cfg.num_envs
    model.learn(total_timesteps=3 * chunk)  # warm-up
    total, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.learn(total_timesteps=10 * chunk, reset_num_timesteps=False)
        total += 10 * chunk
    dt = time.perf_counter() - t0
    env.close()
    return {"steps_per_s": total / dt, "frames_per_s": total * cfg.frameskip / dt, "seconds": dt,
            "version": stable_baselines3.__version__,
            "setup": "sb3 A2C CnnPolicy (NatureCNN, shared trunk), RMSprop, same AtariVectorEnv settings "
                     "(SameStep autoreset, env-side reward clipping)"}


def bench(cfg: Config, seconds: float = 20.0, with_sb3: bool = False) -> dict:
    device = _setup_torch(cfg)
    result = {
        "schema": "atari_check.bench/1",
        "env": cfg.env, "num_envs": cfg.num_envs, "n_steps": cfg.n_steps, "device": cfg.device,
        "device_name": device_name(device), "torch_threads": torch.get_num_threads(),
        "env_threads": cfg.env_threads, "seconds_per_measurement": seconds,
        "provenance": provenance(device),
    }
    result["env_only"] = env_only(cfg, seconds)
    for algo in ("a2c-proper", "sql"):
        result[algo] = training(cfg.replace(algo=algo), seconds)
        result[algo]["ratio_to_env_only"] = result[algo]["steps_per_s"] / result["env_only"]["steps_per_s"]
    if with_sb3:
        sb3 = sb3_a2c(cfg, seconds)
        if "steps_per_s" in sb3:
            sb3["ratio_to_env_only"] = sb3["steps_per_s"] / result["env_only"]["steps_per_s"]
            sb3["ratio_atari_check_a2c_to_sb3"] = result["a2c-proper"]["steps_per_s"] / sb3["steps_per_s"]
        result["sb3_a2c"] = sb3
    return result


def format_bench(result: dict) -> str:
    lines = [f"bench: {result['env']}, {result['num_envs']} envs × {result['n_steps']} steps, device "
             f"{result['device']} ({result['device_name']}), torch threads {result['torch_threads']}, "
             f"env threads {result['env_threads'] or 'auto'}", ""]
    lines.append(f"{'measurement':<28}{'steps/s':>12}{'frames/s':>12}{'ratio to env-only':>20}")
    env = result["env_only"]
    lines.append(f"{'env only (random actions)':<28}{env['steps_per_s']:12,.0f}{env['frames_per_s']:12,.0f}"
                 f"{1.0:20.2f}")
    for key in ("a2c-proper", "sql", "sb3_a2c"):
        if key not in result:
            continue
        r = result[key]
        if "steps_per_s" not in r:
            lines.append(f"{key:<28}{r.get('skipped', '')}")
            continue
        lines.append(f"{'training ' + key:<28}{r['steps_per_s']:12,.0f}{r['frames_per_s']:12,.0f}"
                     f"{r['ratio_to_env_only']:20.2f}")
    if "sb3_a2c" in result and "ratio_atari_check_a2c_to_sb3" in result["sb3_a2c"]:
        lines.append(f"\natari_check a2c-proper / sb3 A2C throughput: "
                     f"{result['sb3_a2c']['ratio_atari_check_a2c_to_sb3']:.2f}")
    return "\n".join(lines) + "\n"


def write_bench(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path
