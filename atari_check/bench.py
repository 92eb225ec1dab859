"""``python -m atari_check bench``: throughput that survives a noisy machine.

Contenders — each built once, then measured for ``seconds`` per *round*, all of them in every round,
in an order rotated from round to round (round r starts with contender r mod k), so slow drifts of a
shared machine's load hit every contender alike:

* ``env-only``: the vector env stepped with uniformly random actions (the env stack's ceiling);
* ``a2c-proper``, ``sql``: full training iterations (act, step, record, update; no lockstep
  diagnostics, no disk I/O), with the time of each phase recorded;
* ``sb3-a2c`` (``--sb3``, Atari only): stable-baselines3 A2C on the same ``AtariVectorEnv``.

Reported: min / median / max over rounds of every contender's steps/s, and of every **ratio taken
within a round** (training / env-only, a2c-proper / sb3-a2c, training / serial limit), never a ratio
of one round, nor a ratio of medians.  The serial limit of a training contender in a round is what its
components allow with nothing else in the loop (issue 12 §1)::

    limit = n_steps·B / (n_steps·(t_env_step + t_act) + t_train)

with ``t_env_step`` the env-only time per vector step of that round, ``t_act`` the contender's acting
forward per vector step and ``t_train`` its update (``learn``) per iteration.  The JSON output
records every round's raw numbers, the orders, and the provenance.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .envs import make_vec_env, resolve_env, rollout, training_reward_transform
from .learners import make_learner
from .run import _setup_torch, device_name, provenance

BENCH_SCHEMA = "atari_check.bench/2"
BENCH_PROCESSES_SCHEMA = "atari_check.bench_processes/1"
MIN_ROUNDS = 3


def _require_rounds(rounds: int) -> None:
    """The project's rule for every ratio bench reports: measured in at least MIN_ROUNDS rounds."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be >= {MIN_ROUNDS} (a ratio from one round is not a result), got {rounds}")
TRAINING_ALGOS = ("a2c-proper", "sql")


@dataclass
class Measurement:
    """One contender in one round: agent steps done in ``seconds``; ``phases`` = seconds per phase."""

    agent_steps: int
    seconds: float
    vector_steps: int = 0
    iterations: int = 0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.agent_steps / self.seconds


# ------------------------------------------------------------------------------ pure statistics


def rotated_orders(names: list[str], rounds: int) -> list[list[str]]:
    """Round r runs the contenders starting from ``names[r % k]``: each leads equally often."""
    k = len(names)
    return [names[r % k:] + names[:r % k] for r in range(rounds)]


def spread(values: list[float]) -> dict:
    """min / median / max (and n) of per-round values."""
    if not values:
        raise ValueError("spread of no values")
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def serial_limit(env_step_s: float, act_s: float, train_s: float, n_steps: int, num_envs: int) -> float:
    """Agent steps/s allowed by the components alone: n·B / (n·(t_env + t_act) + t_train)."""
    for name, v in (("env_step_s", env_step_s), ("act_s", act_s), ("train_s", train_s)):
        if not (v >= 0 and np.isfinite(v)):
            raise ValueError(f"{name} must be a finite time >= 0, got {v!r}")
    return n_steps * num_envs / (n_steps * (env_step_s + act_s) + train_s)


def summarize(rounds: list[dict[str, Measurement]], n_steps: int, num_envs: int) -> dict:
    """Per-contender spreads and per-round ratios (ratios are paired within a round)."""
    _require_rounds(len(rounds))
    names = list(rounds[0])
    for r, res in enumerate(rounds):
        if set(res) != set(names):
            raise ValueError(f"round {r} measured {sorted(res)}, not every contender {sorted(names)}: "
                             f"the contenders must be interleaved in every round")
    out = {"contenders": {n: {"steps_per_s": spread([res[n].steps_per_s for res in rounds])} for n in names},
           "ratios": {}}
    training = [n for n in names if n in TRAINING_ALGOS]
    if "env-only" in names:
        env_step = [res["env-only"].seconds / res["env-only"].vector_steps for res in rounds]
        out["contenders"]["env-only"]["env_step_ms"] = spread([1e3 * t for t in env_step])
        for n in training:
            out["ratios"][f"{n} / env-only"] = spread([res[n].steps_per_s / res["env-only"].steps_per_s
                                                       for res in rounds])
            limits, fractions = [], []
            for res, t_env in zip(rounds, env_step):
                m = res[n]
                limit = serial_limit(t_env, m.phases["act"] / m.vector_steps, m.phases["learn"] / m.iterations,
                                     n_steps, num_envs)
                limits.append(limit)
                fractions.append(m.steps_per_s / limit)
            out["contenders"][n]["serial_limit_steps_per_s"] = spread(limits)
            out["ratios"][f"{n} / serial limit"] = spread(fractions)
    if "sb3-a2c" in names:
        for n in training:
            out["ratios"][f"{n} / sb3-a2c"] = spread([res[n].steps_per_s / res["sb3-a2c"].steps_per_s
                                                      for res in rounds])
    return out


def run_rounds(contenders: dict[str, Callable[[float], Measurement]], rounds: int, seconds: float,
               progress: Callable[[str], None] | None = None) -> tuple[list[dict[str, Measurement]], list]:
    """Measure every contender for ``seconds`` in each of ``rounds`` rounds, order rotated."""
    _require_rounds(rounds)
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    orders = rotated_orders(list(contenders), rounds)
    results = []
    for r, order in enumerate(orders):
        res = {}
        for name in order:
            res[name] = contenders[name](seconds)
            if progress:
                progress(f"round {r + 1}/{rounds} {name:<11} {res[name].steps_per_s:10,.0f} steps/s")
        results.append(res)
    return results, orders


# ------------------------------------------------------------------------------------ contenders


class EnvOnly:
    """The vector env with random actions."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.perf_counter, warmup_steps: int = 20):
        self.env = make_vec_env(resolve_env(cfg.env), cfg)
        self.num_envs, self.clock = cfg.num_envs, clock
        self.rng = np.random.default_rng(0)
        self.env.reset(seed=0)
        for _ in range(warmup_steps):
            self.env.step(self.rng.integers(0, self.env.num_actions, size=self.num_envs))

    def __call__(self, seconds: float) -> Measurement:
        steps, t0 = 0, self.clock()
        while self.clock() - t0 < seconds:
            for _ in range(10):
                self.env.step(self.rng.integers(0, self.env.num_actions, size=self.num_envs))
            steps += 10
        dt_ = self.clock() - t0
        return Measurement(steps * self.num_envs, dt_, vector_steps=steps, phases={"env": dt_})

    def close(self) -> None:
        self.env.close()


class Training:
    """Full training iterations of one algorithm, each phase timed."""

    def __init__(self, cfg: Config, device: torch.device, clock: Callable[[], float] = time.perf_counter,
                 warmup_updates: int = 3):
        spec = resolve_env(cfg.env)
        torch.manual_seed(cfg.seed)
        self.cfg, self.device, self.clock = cfg, device, clock
        self.env = make_vec_env(spec, cfg)
        self.learner = make_learner(cfg, self.env, device, training_reward_transform(spec, cfg))
        self.obs = self.env.reset(seed=0)
        self.phases = {"act": 0.0, "env": 0.0, "record": 0.0, "learn": 0.0}
        for _ in range(warmup_updates):
            self._iteration()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _act(self, obs):
        t0 = self.clock()
        actions = self.learner.act(obs)
        self.phases["act"] += self.clock() - t0
        return actions

    def _iteration(self) -> None:
        """The rollout of run.py (``envs.rollout``, overlapped if ``env_overlap``), then one update.  Phases:
        act (the policy forwards), record, env (the rest of the rollout: stepping and, overlapped, waiting)."""
        clock, ph = self.clock, self.phases
        t_start, act_before, record = clock(), ph["act"], 0.0
        for t, obs, actions, step in rollout(self.env, self._act, self.obs, self.cfg.n_steps):
            t1 = clock()
            self.learner.record(t, obs, actions, step)
            record += clock() - t1
        obs = step.obs
        ph["record"] += record
        ph["env"] += clock() - t_start - (ph["act"] - act_before) - record
        t0 = clock()
        self.learner.learn(obs, 0)
        self._sync()
        ph["learn"] += clock() - t0
        self.obs = obs

    def __call__(self, seconds: float) -> Measurement:
        self.phases = dict.fromkeys(self.phases, 0.0)
        self._sync()
        iterations, t0 = 0, self.clock()
        while self.clock() - t0 < seconds:
            self._iteration()
            iterations += 1
        dt_ = self.clock() - t0
        n = self.cfg.n_steps
        return Measurement(iterations * n * self.cfg.num_envs, dt_, vector_steps=iterations * n,
                           iterations=iterations, phases=dict(self.phases))

    def close(self) -> None:
        self.env.close()


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


class SB3A2C:
    """stable-baselines3 A2C with the paper's A2C settings on the same env stack (optional, Atari)."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.perf_counter):
        import stable_baselines3
        from stable_baselines3 import A2C

        self.version = stable_baselines3.__version__
        self.cfg, self.clock = cfg, clock
        self.env = _sb3_vec_env(cfg)
        self.model = A2C("CnnPolicy", self.env, n_steps=cfg.n_steps, learning_rate=cfg.lr, gamma=cfg.gamma,
                         ent_coef=cfg.tau, vf_coef=cfg.value_coef, max_grad_norm=cfg.max_grad_norm,
                         rms_prop_eps=cfg.rms_eps, use_rms_prop=True, gae_lambda=1.0, normalize_advantage=False,
                         device=cfg.device, seed=0, verbose=0)
        self.chunk = cfg.n_steps * cfg.num_envs
        self.model.learn(total_timesteps=3 * self.chunk)  # warm-up

    def __call__(self, seconds: float) -> Measurement:
        total, t0 = 0, self.clock()
        while self.clock() - t0 < seconds:
            self.model.learn(total_timesteps=10 * self.chunk, reset_num_timesteps=False)
            total += 10 * self.chunk
        return Measurement(total, self.clock() - t0, vector_steps=total // self.cfg.num_envs)

    def close(self) -> None:
        self.env.close()


def _sb3_skip_reason(cfg: Config) -> str | None:
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return "stable-baselines3 is not installed (optional; pip install stable-baselines3)"
    if resolve_env(cfg.env).kind != "atari":
        return "the sb3 side-by-side is for Atari envs"
    return None


def bench(cfg: Config, rounds: int = 10, seconds: float = 2.0, with_sb3: bool = False,
          progress: Callable[[str], None] | None = None) -> dict:
    """Interleaved, rotated rounds of env-only, a2c-proper, sql (and sb3-a2c); see the module docstring."""
    _require_rounds(rounds)
    device = _setup_torch(cfg)
    spec = resolve_env(cfg.env)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    contenders: dict = {"env-only": EnvOnly(cfg)}
    for algo in TRAINING_ALGOS:
        contenders[algo] = Training(cfg.replace(algo=algo), device)
    skipped = {}
    if with_sb3:
        reason = _sb3_skip_reason(cfg)
        if reason:
            skipped["sb3-a2c"] = reason
        else:
            contenders["sb3-a2c"] = SB3A2C(cfg)
    try:
        results, orders = run_rounds(contenders, rounds, seconds, progress)
    finally:
        for c in contenders.values():
            c.close()
    return {
        "schema": BENCH_SCHEMA,
        "env": cfg.env, "env_kind": spec.kind, "num_envs": cfg.num_envs, "n_steps": cfg.n_steps,
        "device": cfg.device, "device_name": device_name(device), "torch_threads": torch.get_num_threads(),
        "env_threads": cfg.env_threads, "rounds": rounds, "seconds_per_measurement": seconds,
        "started": started, "config": cfg.to_dict(),
        "summary": summarize(results, cfg.n_steps, cfg.num_envs),
        "orders": orders,
        "per_round": [{n: asdict(m) | {"steps_per_s": m.steps_per_s} for n, m in res.items()} for res in results],
        "skipped": skipped,
        "sb3_version": getattr(contenders.get("sb3-a2c"), "version", None),
        "provenance": provenance(device) | {"argv": sys.argv},
    }


# ------------------------------------------------------------------ whole processes (issue 12 §1)

# stable-baselines3's A2C on its own Atari stack, as its documentation runs it: make_atari_env (AtariWrapper:
# noop reset, frame skip 4 with max-pooling, episodic life, fire reset, 84x84 gray, reward clipping) +
# VecFrameStack(4), 16 envs in one process (DummyVecEnv), CnnPolicy, n_steps 5, one torch thread.
SB3_STACK_PROGRAM = """
import sys
import torch
torch.set_num_threads(1)
import ale_py, gymnasium
gymnasium.register_envs(ale_py)
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack
env_id, num_envs, n_steps, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
env = VecFrameStack(make_atari_env(env_id, n_envs=num_envs, seed=0), n_stack=4)
A2C("CnnPolicy", env, n_steps=n_steps, device="cpu", seed=0, verbose=0).learn(total_timesteps=steps)
"""
SB3_STACK = "sb3-a2c-own-stack"


def config_argv(cfg: Config) -> list[str]:
    """``--field value`` for every field of ``cfg`` that differs from the default (what ``run`` parses)."""
    import dataclasses

    default, argv = Config(), []
    for f in dataclasses.fields(Config):
        value = getattr(cfg, f.name)
        if value != getattr(default, f.name):
            argv += ["--" + f.name.replace("_", "-"), str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


def process_commands(cfg: Config, agent_steps: int, algos: tuple[str, ...] = TRAINING_ALGOS) -> dict:
    """name -> (function of a scratch dir -> argv): ``python -m atari_check run`` per algo, and sb3's stack.

    Both sides do ``agent_steps`` agent steps (ours: frames = agent_steps × frameskip), from interpreter
    start to exit.  Ours runs with its defaults except ``lockstep_interval = 0`` (sb3 has no diagnostics);
    it still writes its metrics and checkpoints.
    """
    spec = resolve_env(cfg.env)
    if spec.kind != "atari":
        raise ValueError(f"the whole-process comparison is with sb3's Atari stack; env must be an Atari game, "
                         f"got {cfg.env!r}")
    chunk = cfg.n_steps * cfg.num_envs
    if agent_steps < chunk or agent_steps % chunk:
        raise ValueError(f"agent_steps must be a positive multiple of n_steps × num_envs = {chunk} (both sides "
                         f"then do the same number of updates), got {agent_steps!r}")
    from .envs import atari_title

    gym_id = f"{atari_title(spec.key)}NoFrameskip-v4"
    frames = agent_steps * cfg.frameskip
    out: dict = {}
    for algo in algos:
        run_cfg = cfg.replace(algo=algo, frames=frames, lockstep_interval=0)
        out[algo] = (lambda d, c=run_cfg: [sys.executable, "-m", "atari_check", "run", "--out", f"{d}/run",
                                           "--no-progress", *config_argv(c)])
    out[SB3_STACK] = lambda d: [sys.executable, "-c", SB3_STACK_PROGRAM, gym_id, str(cfg.num_envs),
                                str(cfg.n_steps), str(agent_steps)]
    return out


def time_processes(commands: dict, rounds: int, progress: Callable[[str], None] | None = None,
                   clock: Callable[[], float] = time.perf_counter) -> tuple[list[dict[str, float]], list]:
    """Wall seconds of every command in each round (order rotated), each from spawn to exit, in a fresh
    scratch directory.  A command that fails raises, naming it (a crash must not be timed as fast)."""
    import subprocess
    import tempfile

    _require_rounds(rounds)
    orders = rotated_orders(list(commands), rounds)
    results = []
    for r, order in enumerate(orders):
        res = {}
        for name in order:
            with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                argv = commands[name](tmp)
                t0 = clock()
                done = subprocess.run(argv, check=False, capture_output=True, text=True)  # failure: raised below
                res[name] = clock() - t0
            if done.returncode != 0:
                raise RuntimeError(f"bench: {name} exited with {done.returncode} in round {r + 1}: "
                                   f"{done.stderr.strip()[-800:]}")
            if progress:
                progress(f"round {r + 1}/{rounds} {name:<18} {res[name]:8.1f} s")
        results.append(res)
    return results, orders


def summarize_processes(results: list[dict[str, float]], agent_steps: int, reference: str = SB3_STACK) -> dict:
    """steps/s (agent_steps / wall) per contender, and every other contender / ``reference`` per round."""
    _require_rounds(len(results))
    names = list(results[0])
    if any(set(res) != set(names) for res in results) or reference not in names:
        raise ValueError(f"every round must time every contender, {reference!r} included; got "
                         f"{[sorted(res) for res in results]}")
    return {"contenders": {n: {"steps_per_s": spread([agent_steps / res[n] for res in results]),
                               "wall_s": spread([res[n] for res in results])} for n in names},
            "ratios": {f"{n} / {reference}": spread([res[reference] / res[n] for res in results])
                       for n in names if n != reference}}


def bench_processes(cfg: Config, agent_steps: int, rounds: int = 3,
                    progress: Callable[[str], None] | None = None) -> dict:
    """Whole processes, as a user would run them: ours (``python -m atari_check run``) vs sb3's own stack."""
    if _sb3_skip_reason(cfg):
        raise ValueError(f"bench --processes: {_sb3_skip_reason(cfg)}")
    if cfg.device != "cpu":
        raise ValueError(f"bench --processes runs sb3's stack on the CPU, so ours must run there too; device must "
                         f"be 'cpu', got {cfg.device!r}")
    import stable_baselines3

    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    commands = process_commands(cfg, agent_steps)
    results, orders = time_processes(commands, rounds, progress)
    return {
        "schema": BENCH_PROCESSES_SCHEMA, "env": cfg.env, "num_envs": cfg.num_envs, "n_steps": cfg.n_steps,
        "agent_steps": agent_steps, "rounds": rounds, "started": started, "config": cfg.to_dict(),
        "commands": {n: [a if len(a) < 200 else "<program: atari_check.bench.SB3_STACK_PROGRAM>"
                         for a in c("<scratch>")] for n, c in commands.items()},
        "summary": summarize_processes(results, agent_steps), "orders": orders, "per_round": results,
        "sb3_version": stable_baselines3.__version__,
        "provenance": provenance(torch.device("cpu")) | {"argv": sys.argv},
    }


def format_bench_processes(result: dict) -> str:
    s = result["summary"]
    lines = [(f"bench --processes: {result['env']}, {result['num_envs']} envs x {result['n_steps']} steps, "
              f"{result['agent_steps']:,} agent steps per process, {result['rounds']} rounds, order rotated"), "",
             f"{'agent steps/s (spawn to exit)':<34}{'min':>10} {'median':>10} {'max':>10}"]
    for name, c in s["contenders"].items():
        lines.append(f"{name:<34}{_fmt_spread(c['steps_per_s'], ',.1f')}")
    lines += ["", f"{'speed ratio (paired within a round)':<34}{'min':>10} {'median':>10} {'max':>10}"]
    for name, r in s["ratios"].items():
        lines.append(f"{name:<34}{_fmt_spread(r, '.3f')}")
    return "\n".join(lines) + "\n"


def _fmt_spread(s: dict, fmt: str) -> str:
    return f"{format(s['min'], fmt):>10} {format(s['median'], fmt):>10} {format(s['max'], fmt):>10}"


def format_bench(result: dict) -> str:
    """The tables (fit in 100 columns): min / median / max over rounds, ratios paired within rounds."""
    s = result["summary"]
    lines = [(f"bench: {result['env']}, {result['num_envs']} envs x {result['n_steps']} steps, {result['rounds']} "
              f"rounds x {result['seconds_per_measurement']:g} s, order rotated; device {result['device']}, "
              f"torch threads {result['torch_threads']}"), "",
             f"{'steps/s':<34}{'min':>10} {'median':>10} {'max':>10}"]
    for name, c in s["contenders"].items():
        lines.append(f"{name:<34}{_fmt_spread(c['steps_per_s'], ',.0f')}")
        if "serial_limit_steps_per_s" in c:
            lines.append(f"{'  serial limit (components)':<34}{_fmt_spread(c['serial_limit_steps_per_s'], ',.0f')}")
    lines += ["", f"{'ratio (paired within each round)':<34}{'min':>10} {'median':>10} {'max':>10}"]
    for name, r in s["ratios"].items():
        lines.append(f"{name:<34}{_fmt_spread(r, '.3f')}")
    for name, why in result.get("skipped", {}).items():
        lines.append(f"{name}: skipped ({why})")
    return "\n".join(lines) + "\n"


def write_bench(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path
