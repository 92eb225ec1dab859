"""The one configuration dataclass of the Section 6 harness.

Defaults follow the A2C that produced the paper's curves (openai baselines
``a2c``): Nature CNN with a shared trunk, 16 envs × 5 steps, RMSprop
(lr 7e-4, alpha 0.99, eps 1e-5, linear decay), grad-norm clip 0.5,
γ = 0.99, τ = 0.01 (the entropy coefficient), value coefficient c = 0.5,
π̄ uniform.  DQN fields follow the usual Atari DQN settings (replay, target
network, ε-greedy); their units are *agent steps* (one env step of one
environment), so they mean the same thing for any ``num_envs``.

Every field is overridable from the CLI (``--field-name value``) and is
validated up front in :meth:`Config.__post_init__`: an invalid value raises a
``ValueError`` naming the field and the value.  Nothing is clipped.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

ACTOR_CRITIC_ALGOS = ("a2c-naive", "a2c-proper", "sql", "sql-unscaled")
DQN_ALGOS = ("dqn", "dqn-soft-kl", "dqn-soft-ent")
ALGOS = ACTOR_CRITIC_ALGOS + DQN_ALGOS

ALGO_DESCRIPTIONS = {
    "a2c-naive": "A2C, naive / 1-step entropy bonus, Eq. (79)",
    "a2c-proper": "A2C, proper entropy-regularised returns, Eq. (80)",
    "sql": "soft Q-learning on Q = V + τ log(π/π̄), gradients scaled to match A2C with c (§6.3)",
    "sql-unscaled": "soft Q-learning on Q = V + τ log(π/π̄), unscaled (= A2C with c = 1/τ in expectation)",
    "dqn": "DQN, standard backup Eq. (81)",
    "dqn-soft-kl": "DQN, soft KL-penalty backup Eq. (82)",
    "dqn-soft-ent": "DQN, soft entropy-bonus backup Eq. (83)",
}


def _field(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class Config:
    """Everything that defines a run.  See the module docstring for sources."""

    # --- what to run -------------------------------------------------------------------------
    algo: str = _field("a2c-proper", "algorithm: " + ", ".join(ALGOS))
    env: str = _field("PongNoFrameskip-v4",
                      "Atari id (pong, PongNoFrameskip-v4), MinAtar id (MinAtar/Breakout-v1) or gymnasium id")
    frames: int = _field(10_000_000, "total frames (Atari: agent steps × frameskip, summed over envs)")
    seed: int = _field(0, "seed for torch, action sampling, replay sampling and env resets")
    device: str = _field("cpu", "cpu, cuda or cuda:N")

    # --- rollout and optimisation (baselines a2c) --------------------------------------------
    num_envs: int = _field(16, "parallel environments")
    n_steps: int = _field(5, "rollout length per update (actor-critic algorithms)")
    lr: float = _field(7e-4, "RMSprop learning rate (actor-critic algorithms)")
    lr_schedule: str = _field("linear", "constant or linear (decay to 0 over the run, as baselines a2c)")
    rms_alpha: float = _field(0.99, "RMSprop smoothing constant")
    rms_eps: float = _field(1e-5, "RMSprop epsilon")
    max_grad_norm: float = _field(0.5, "gradient-norm clip (actor-critic algorithms)")
    gamma: float = _field(0.99, "discount γ")
    tau: float = _field(0.01, "temperature τ (entropy / KL coefficient)")
    value_coef: float = _field(0.5, "value coefficient c of Eq. (86); the value-stream scale of sql")

    # --- environment -------------------------------------------------------------------------
    reward_transform: str = _field("auto", "auto (sign for Atari, none otherwise), sign or none")
    frameskip: int = _field(4, "Atari frameskip (max-pooled over the last two frames)")
    noop_max: int = _field(30, "Atari: up to this many no-ops at reset")
    stack_num: int = _field(4, "Atari: frames stacked in an observation")
    img_size: int = _field(84, "Atari: observation height = width (grayscale)")
    repeat_action_probability: float = _field(0.0, "Atari sticky actions (0 = off)")
    life_loss_terminal: bool = _field(
        True, "Atari: a lost life ends the *training* episode (baselines EpisodicLifeEnv); scores are full games"
    )
    fire_reset: bool = _field(True, "Atari: press FIRE at reset where the game needs it")
    full_action_space: bool = _field(False, "Atari: all 18 actions")
    max_episode_frames: int = _field(108_000, "Atari: episode truncation in frames (30 min of play)")
    env_threads: int = _field(0, "Atari: emulator threads (0 = ale-py's default)")
    env_overlap: str = _field(
        "auto", "two half vector envs, one stepping while the network acts on the other (the same transitions, "
                "and on the CPU the same draws): auto (on for Atari actor-critic CPU runs with an even num_envs), "
                "on, off"
    )
    minatar_sticky_action_prob: float = _field(
        0.1, "MinAtar: probability of repeating the previous action (MinAtar's default and published setting)"
    )
    minatar_difficulty_ramping: bool = _field(True, "MinAtar: games speed up as they go on (MinAtar's default)")

    # --- network -----------------------------------------------------------------------------
    mlp_hidden: int = _field(64, "gymnasium envs: width of the shared MLP trunk")
    mlp_layers: int = _field(2, "gymnasium envs: depth of the shared MLP trunk (tanh)")

    # --- DQN (units: agent steps) ------------------------------------------------------------
    dqn_nstep: int = _field(1, "DQN n-step backup (1 or 5 in Fig. 2)")
    soft_backup_form: str = _field(
        "corrected", "DQN soft backups: corrected (τ multiplies the log) or printed (Eqs. (82)/(83) as printed)"
    )
    replay_size: int = _field(100_000, "replay capacity in agent steps (stored as stacked uint8 frames)")
    batch_size: int = _field(32, "DQN minibatch size")
    learning_starts: int = _field(20_000, "agent steps before the first DQN update")
    train_interval: int = _field(4, "agent steps per DQN gradient step")
    target_update_interval: int = _field(8_000, "agent steps between target-network copies")
    eps_start: float = _field(1.0, "ε-greedy: initial ε")
    eps_end: float = _field(0.01, "ε-greedy: final ε")
    eps_fraction: float = _field(0.1, "ε-greedy: fraction of the run over which ε decays linearly")
    dqn_lr: float = _field(1e-4, "DQN Adam learning rate")
    adam_eps: float = _field(1.5e-4, "DQN Adam epsilon")
    dqn_max_grad_norm: float = _field(10.0, "DQN gradient-norm clip")

    # --- diagnostics and bookkeeping ---------------------------------------------------------
    lockstep_interval: int = _field(500, "updates between lockstep gradient diagnostics (0 = off)")
    lockstep_dtype: str = _field("float64", "dtype of the lockstep diagnostics: float64 or float32")
    log_interval: int = _field(10, "updates per row of updates.csv")
    checkpoint_interval_s: float = _field(120.0, "seconds between checkpoints")
    checkpoint_every_updates: int = _field(0, "also checkpoint every this many updates (0 = off)")
    torch_threads: int = _field(
        1, "torch CPU threads (0 = torch's default); 1: the other core steps the emulators (env_overlap), and 2 "
           "intra-op threads on 2 shared cores ran ×0.34 as fast (the developers' guide's measurement)"
    )

    def __post_init__(self) -> None:
        _validate(self)

    # -- derived ------------------------------------------------------------------------------
    @property
    def is_dqn(self) -> bool:
        return self.algo in DQN_ALGOS

    @property
    def label(self) -> str:
        """Group label for compare/plot: the algorithm plus the variants that change it."""
        label = self.algo
        if self.is_dqn and self.dqn_nstep != 1:
            label += f"-n{self.dqn_nstep}"
        if self.is_dqn and self.algo != "dqn" and self.soft_backup_form == "printed":
            label += "-printed"
        return label

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; known fields: {sorted(names)}")
        if isinstance(d.get("env_overlap"), bool):  # a bool in 9c75d57 (and the runs it wrote): False = off
            d = {**d, "env_overlap": "on" if d["env_overlap"] else "off"}
        return cls(**d)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


# Fields that may differ between the segments of one resumed run.
RESUMABLE_CHANGES = ("frames", "device", "torch_threads", "env_threads", "env_overlap", "checkpoint_interval_s",
                     "checkpoint_every_updates", "log_interval")


def _int(cfg: Config, name: str, minimum: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _float(cfg: Config, name: str, lo: float, hi: float = math.inf, lo_open: bool = False,
           hi_open: bool = False) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    ok = (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{rb}, got {value!r}")


def _choice(cfg: Config, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _validate(cfg: Config) -> None:
    if cfg.algo not in ALGOS:
        import difflib

        close = difflib.get_close_matches(str(cfg.algo), ALGOS, n=3, cutoff=0.4)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(f"algo must be one of {list(ALGOS)}, got {cfg.algo!r}{hint}")
    if not isinstance(cfg.env, str) or not cfg.env:
        raise ValueError(f"env must be a non-empty string, got {cfg.env!r}")
    for name in ("frames", "num_envs", "n_steps", "frameskip", "stack_num", "img_size", "max_episode_frames",
                 "mlp_hidden", "mlp_layers", "dqn_nstep", "replay_size", "batch_size", "train_interval",
                 "target_update_interval", "log_interval"):
        _int(cfg, name, 1)
    for name in ("seed", "noop_max", "learning_starts", "lockstep_interval", "checkpoint_every_updates",
                 "torch_threads", "env_threads"):
        _int(cfg, name, 0)
    for name in ("lr", "rms_eps", "max_grad_norm", "dqn_lr", "adam_eps", "dqn_max_grad_norm",
                 "checkpoint_interval_s"):
        _float(cfg, name, 0.0, lo_open=True)
    _float(cfg, "rms_alpha", 0.0, 1.0, lo_open=True, hi_open=True)
    _float(cfg, "gamma", 0.0, 1.0)
    _float(cfg, "tau", 0.0, lo_open=True)
    _float(cfg, "value_coef", 0.0)
    _float(cfg, "repeat_action_probability", 0.0, 1.0, hi_open=True)
    _float(cfg, "minatar_sticky_action_prob", 0.0, 1.0, hi_open=True)
    for name in ("eps_start", "eps_end", "eps_fraction"):
        _float(cfg, name, 0.0, 1.0)
    for name in ("life_loss_terminal", "fire_reset", "full_action_space", "minatar_difficulty_ramping"):
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"{name} must be a bool, got {getattr(cfg, name)!r}")
    _choice(cfg, "lr_schedule", ("constant", "linear"))
    _choice(cfg, "reward_transform", ("auto", "sign", "none"))
    _choice(cfg, "soft_backup_form", ("corrected", "printed"))
    _choice(cfg, "lockstep_dtype", ("float64", "float32"))
    device = cfg.device
    if not isinstance(device, str) or not (
        device == "cpu" or device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())
    ):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    _choice(cfg, "env_overlap", ("auto", "on", "off"))
    if cfg.env_overlap == "on" and cfg.num_envs % 2:
        raise ValueError(f"env_overlap='on' needs an even num_envs (two equal halves), got num_envs={cfg.num_envs}")
    if cfg.env_overlap == "on" and cfg.is_dqn:
        raise ValueError(f"env_overlap='on' is for the actor-critic algorithms (a DQN learner's ε-greedy draws "
                         f"would change order), got algo={cfg.algo!r}")
    if cfg.is_dqn:
        if cfg.soft_backup_form == "printed" and cfg.dqn_nstep != 1:
            raise ValueError(
                f"dqn_nstep must be 1 with soft_backup_form='printed' (Eqs. (82)/(83) are 1-step), got {cfg.dqn_nstep}"
            )
        if cfg.algo == "dqn-soft-ent" and cfg.dqn_nstep != 1:
            raise ValueError(
                f"dqn_nstep must be 1 for dqn-soft-ent (the paper defines the entropy-bonus backup (83) for "
                f"1 step only; use dqn-soft-kl for the n-step soft target (46)), got {cfg.dqn_nstep}"
            )
        if cfg.batch_size > cfg.replay_size:
            raise ValueError(f"batch_size ({cfg.batch_size}) must not exceed replay_size ({cfg.replay_size})")
        if cfg.replay_size < cfg.num_envs * (cfg.dqn_nstep + 2):
            raise ValueError(
                f"replay_size must hold at least num_envs × (dqn_nstep + 2) = "
                f"{cfg.num_envs * (cfg.dqn_nstep + 2)} agent steps, got {cfg.replay_size}"
            )


def field_help() -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(Config)}
