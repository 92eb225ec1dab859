"""One training run: rollouts, updates, metrics, lockstep diagnostics, checkpoints, provenance.

Run directory layout::

    run.json         provenance + full config + status (rewritten atomically)
    episodes.csv     one row per finished episode: frames, update, env, return (unclipped), length
    updates.csv      one row per ``log_interval`` iterations: losses, entropy, KL, grad norm, fps, …
    lockstep.csv     lockstep gradient diagnostics (two rows per diagnostic, one per pair)
    checkpoint.pt    last good checkpoint (written to a temp file, fsynced, then os.replace'd)

Resume protocol: a checkpoint stores the byte length of every metrics file
at the moment it was taken (after flush + fsync).  ``--resume`` truncates the
files back to those lengths before continuing, so whatever was written after
the checkpoint — including a half-written line from a ``kill -9`` — is
dropped and regenerated: no lost and no duplicated rows.  Environments
cannot be checkpointed; a resumed segment re-creates them with a seed derived
from (seed, segment), so episodes in progress at the checkpoint are not
logged, and a resumed run is not bit-identical to an uninterrupted one
(an uninterrupted run is: same seed, same CPU result).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .envs import (
    EnvSpec,
    EpisodeTracker,
    env_settings,
    make_vec_env,
    resolve_env,
    rollout,
    training_reward_transform,
)
from .learners import NonFiniteLoss, make_learner
from .rundir import (  # noqa: F401  (re-exported: the run directory's API as before the split)
    CHECKPOINT,
    CHECKPOINT_SCHEMA,
    EPISODE_FIELDS,
    METRICS_FILES,
    PREVIOUS_CHECKPOINT,
    RUN_FILES,
    UPDATE_FIELDS,
    MetricsFile,
    RunDirError,
    _fsync_dir,
    atomic_write_bytes,
    atomic_write_json,
    check_out_dir,
    checkpoint_frames,
    load_checkpoint,
    lock,
    read_csv,
    resume_checkpoint,
    write_checkpoint,
)

RUN_SCHEMA = "atari_check.run/1"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 4


# ------------------------------------------------------------------------------------ provenance


def _git(args: list[str]) -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root)] + args, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} logical cores)"
    return f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"


def provenance(device: torch.device) -> dict:
    import ale_py
    import gymnasium

    import equiv

    status = _git(["status", "--porcelain"])
    equiv_dir = Path(equiv.__file__).resolve().parent
    sources = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(equiv_dir.glob("*.py"))}
    here = Path(__file__).resolve().parent
    training_path = ("config.py", "envs.py", "learners.py", "lockstep.py", "losses.py", "minatar_env.py",
                     "networks.py", "run.py", "rundir.py")
    own = {name: hashlib.sha256((here / name).read_bytes()).hexdigest()[:16] for name in training_path}
    return {
        "git_commit": _git(["rev-parse", "HEAD"]),
        "git_dirty": None if status is None else bool(status),
        "host": socket.gethostname(),
        "device": str(device),
        "device_name": device_name(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "ale_py": ale_py.__version__,
        "gymnasium": gymnasium.__version__,
        "equiv": equiv.__version__,
        "torch_threads": torch.get_num_threads(),
        # the code that trained (even if uncommitted): equiv and atari_check's training-path modules
        "source_sha256_16": {"equiv": sources, "atari_check": own},
        "command": " ".join([Path(sys.executable).name, "-m", "atari_check"] + sys.argv[1:])
        if sys.argv and sys.argv[0].endswith("__main__.py") else None,
    }


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def segment_seed(seed: int, segment: int) -> int:
    """Env reset seed of a run segment (segment 0 = the first start, +1 per resume)."""
    return int(np.random.SeedSequence([seed, segment]).generate_state(1)[0] & 0x3FFFFFFF)


# --------------------------------------------------------------------------------------- the run


@dataclass
class RunResult:
    out: Path
    status: str
    frames: int
    updates: int
    episodes: int
    exit_code: int
    message: str = ""


PROGRESS_WIDTH = 80


def _si(n: float) -> str:
    """1234 -> '1,234'; 12_345_678 -> '12.3M' (3 significant digits above 10k)."""
    if abs(n) < 10_000:
        return f"{n:,.0f}"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            x = n / scale
            return f"{x:.3g}{unit}" if abs(x) < 1000 else f"{x:,.0f}{unit}"
    return f"{n:,.0f}"


def hms(seconds: float) -> str:
    """Seconds as h:mm:ss ('-:--:--' when unknown)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_progress(title: str, frames: int, total: int, fps: float, recent: list[float]) -> str:
    """One progress line of at most 80 columns: frames done/total, %, frames/s, the mean return of the last
    ``len(recent)`` episodes (carried across resumes) and the ETA as h:mm:ss; the title is shortened to fit."""
    ret = f"{np.mean(recent):.4g}" if recent else "-"
    eta = hms((total - frames) / fps) if fps > 0 else hms(math.nan)
    pct = 100 * frames / total if total else 0.0
    body = f"{_si(frames)}/{_si(total)} {pct:.1f}% {_si(fps)} fps | ret(last {len(recent)}) {ret} | ETA {eta}"
    room = PROGRESS_WIDTH - len(body) - 3
    if room < 4:
        return body[:PROGRESS_WIDTH]
    if len(title) > room:
        title = title[: room - 1] + "…"
    return f"[{title}] {body}"


class _Progress:
    def __init__(self, enabled: bool, title: str, total: int):
        self.enabled = enabled
        self.title = title
        self.total = total
        self.tty = enabled and sys.stderr.isatty()
        self.last = 0.0

    def show(self, frames: int, fps: float, recent: list[float], force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 60.0):
            return
        self.last = now
        line = format_progress(self.title, frames, self.total, fps, recent)
        sys.stderr.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def use_deterministic_algorithms(warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=...)`` without its import of
    ``torch._inductor.config``, which loads torch._dynamo: 3–10 s of start-up on the 2-core machine, in every
    run and every test process.  The harness never compiles, so inductor's copy of the flag is only set when
    inductor is already loaded; the flag eager kernels read is set exactly as the public function sets it."""
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = True
    torch._C._set_deterministic_algorithms(True, warn_only=warn_only)


def _setup_torch(cfg: Config) -> torch.device:
    if cfg.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {cfg.device!r} requested but torch.cuda.is_available() is False "
                             f"(torch {torch.__version__})")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        use_deterministic_algorithms(warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        use_deterministic_algorithms()
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    return torch.device(cfg.device)


def run(cfg: Config, out: str | Path, *, resume: bool = False, progress: bool = True,
        time_limit_s: float | None = None) -> RunResult:
    """Train ``cfg`` into ``out``; see the module docstring for the protocol."""
    out = Path(out)
    spec: EnvSpec = resolve_env(cfg.env)  # fails early, with suggestions
    _check_dqn_reaches_learning_starts(cfg, spec)
    stored = check_out_dir(out, cfg, resume)
    if stored is not None and stored.get("status") == "finished" and stored.get("frames_done", 0) >= cfg.frames:
        return RunResult(out, "finished", stored["frames_done"], stored.get("updates_done", 0),
                         stored.get("episodes_done", 0), EXIT_OK, "already finished; nothing to do")
    device = _setup_torch(cfg)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    new_lock = not (out / ".lock").exists()
    wrote_run_json = []  # set once this process has written run.json
    try:
        with lock(out):
            return _run_locked(cfg, spec, out, stored, device, progress, time_limit_s, wrote_run_json)
    except BaseException as err:
        _record_failed_start(out, created, new_lock, wrote_run_json, err)
        raise


def _check_dqn_reaches_learning_starts(cfg: Config, spec: EnvSpec) -> None:
    """A DQN run that ends before ``learning_starts`` agent steps would make no gradient step: refuse it."""
    if not cfg.is_dqn:
        return
    frames_per_step = cfg.frameskip if spec.kind == "atari" else 1
    per_iteration = cfg.n_steps * cfg.num_envs
    iterations = -(-cfg.frames // (per_iteration * frames_per_step))
    agent_steps = iterations * per_iteration
    if agent_steps < cfg.learning_starts:
        raise ValueError(
            f"frames = {cfg.frames:,} gives {agent_steps:,} agent steps, fewer than learning_starts = "
            f"{cfg.learning_starts:,}: this {cfg.algo} run would make no gradient step. Raise --frames to at "
            f"least {cfg.learning_starts * frames_per_step:,} or lower --learning-starts."
        )


def _record_failed_start(out: Path, created: bool, new_lock: bool, wrote_run_json: list,
                         err: BaseException) -> None:
    """After a crash: leave no orphan directory, or one whose run.json says what failed."""
    if not wrote_run_json:  # nothing of this attempt is on disk but (perhaps) its lock file
        if new_lock and not isinstance(err, RunDirError):  # RunDirError "another process": its lock
            with contextlib.suppress(OSError):
                (out / ".lock").unlink()
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty
        return
    with contextlib.suppress(OSError, ValueError):
        info = json.loads((out / "run.json").read_text())
        if info.get("status") == "running":
            info.update(status="failed", message=f"crashed: {type(err).__name__}: {err}",
                        end_time=_now())
            atomic_write_json(out / "run.json", info)


def _run_locked(cfg, spec, out, stored, device, progress, time_limit_s, wrote_run_json) -> RunResult:
    checkpoint = resume_checkpoint(out, stored)
    segment = _Segment(cfg, spec, out, stored, device, checkpoint)
    segment.write_run_json()
    wrote_run_json.append(True)
    status, message, exit_code = segment.train(progress, time_limit_s)
    return segment.finish(status, message, exit_code)


class _Segment:
    """One segment of a run (the first start or a resume), in the phases a reader expects:

    set-up / resume (``__init__``), ``write_run_json``, the rollout-update loop (``train`` →
    ``iteration``), checkpointing (``save_checkpoint``) and finishing (``finish``).
    """

    def __init__(self, cfg: Config, spec: EnvSpec, out: Path, stored: dict | None, device: torch.device,
                 checkpoint: dict | None):
        self.cfg, self.spec, self.out, self.device = cfg, spec, out, device
        self.ckpt_path = out / CHECKPOINT
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        self.env = make_vec_env(spec, cfg)
        self.learner = make_learner(cfg, self.env, device, training_reward_transform(spec, cfg))
        self.frames, self.updates, self.episodes, self.elapsed_before = 0, 0, 0, 0.0
        self.recent: list[float] = []  # returns of the last 20 episodes (the progress line)
        self.segments: list[dict] = []
        offsets: dict = {}
        if checkpoint is not None:
            self.learner.load_state_dict(checkpoint["learner"])
            torch.set_rng_state(checkpoint["torch_rng"])
            self.frames, self.updates = checkpoint["frames"], checkpoint["updates"]
            self.episodes, self.elapsed_before = checkpoint["episodes"], checkpoint["elapsed_s"]
            offsets = checkpoint["offsets"]
            self.segments = list(checkpoint["segments"])
            self.recent = list(checkpoint.get("recent_returns", []))
        self.index = (len(self.segments) if stored is None
                      else max(len(self.segments), len(stored.get("segments", []))))
        started = _now()
        self.segments.append({"segment": self.index, "started": started, "ended": None,
                              "frames_start": self.frames, "frames_end": self.frames, "device": str(device),
                              "device_name": device_name(device)})
        self.files = {name: MetricsFile(out / name, fields, offsets.get(name))
                      for name, fields in METRICS_FILES.items()}
        self.run_info = {
            "schema": RUN_SCHEMA,
            "status": "running",
            "message": "",
            "label": cfg.label,
            "config": cfg.to_dict(),
            "env": {"title": spec.title, **env_settings(spec, cfg), "num_actions": self.env.num_actions,
                    "obs_shape": list(self.env.obs_shape)},
            "seeds": {"torch": cfg.seed, "action_sampling": cfg.seed, "replay_and_epsilon": cfg.seed,
                      "env_reset_per_segment": "segment_seed(seed, segment) + i for sub-env i"},
            "provenance": provenance(device),
            "start_time": stored.get("start_time") if stored else started,
            "end_time": None,
            "frames_done": self.frames,
            "updates_done": self.updates,
            "episodes_done": self.episodes,
            "elapsed_s": self.elapsed_before,
            "frames_per_s": None,
            "segments": self.segments,
        }
        self.t0 = time.monotonic()

    def write_run_json(self) -> None:
        atomic_write_json(self.out / "run.json", self.run_info)

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    # ------------------------------------------------------------------------- the rollout-update loop

    def train(self, progress: bool, time_limit_s: float | None) -> tuple[str, str, int]:
        """Iterate until the frame budget, a signal or the time limit; returns (status, message, exit code)."""
        cfg = self.cfg
        stop = {"signal": None}

        def _on_signal(signum, frame):  # finish the iteration, checkpoint, exit
            stop["signal"] = signum

        old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        self.tracker = EpisodeTracker(cfg.num_envs)
        self.obs = self.env.reset(seed=segment_seed(cfg.seed, self.index))
        self.t0 = time.monotonic()
        last_ckpt = self.t0
        self.fps_frames, self.fps_t = self.frames, self.t0
        fps_start = self.frames
        self.acc: dict[str, list[float]] = {}
        self.bar = _Progress(progress, f"{cfg.label} {self.spec.title} s{cfg.seed}", cfg.frames)
        status, message, exit_code = "finished", "", EXIT_OK
        try:
            while self.frames < cfg.frames:
                self.iteration()
                if (time.monotonic() - last_ckpt >= cfg.checkpoint_interval_s
                        or (cfg.checkpoint_every_updates and self.updates % cfg.checkpoint_every_updates == 0)):
                    self.save_checkpoint()
                    last_ckpt = time.monotonic()
                if stop["signal"] is not None:
                    status, exit_code = "interrupted", EXIT_INTERRUPTED
                    message = (f"stopped by signal {stop['signal']} at {self.frames:,} frames; "
                               f"continue with --resume")
                    break
                if time_limit_s is not None and time.monotonic() - self.t0 >= time_limit_s:
                    status, exit_code = "interrupted", EXIT_OK
                    message = (f"time limit of {time_limit_s:.0f}s reached at {self.frames:,} frames; "
                               f"continue with --resume")
                    break
            self.save_checkpoint()
        except NonFiniteLoss as err:
            status, exit_code = "failed", EXIT_NONFINITE
            kept = f"{checkpoint_frames(self.ckpt_path):,} frames" if self.ckpt_path.exists() else "none written yet"
            message = (f"non-finite loss: {err} (frames {self.frames:,}). Training stopped; the last good "
                       f"checkpoint ({kept}) is kept in {self.ckpt_path}; rows written after it are dropped on "
                       f"--resume.")
            for f in self.files.values():
                f.sync()
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            fps = (self.frames - fps_start) / max(time.monotonic() - self.t0, 1e-9)
            self.bar.show(self.frames, fps, self.recent, force=True)
            self.bar.close()
            for f in self.files.values():
                f.close()
            self.env.close()
        return status, message, exit_code

    def iteration(self) -> None:
        """One rollout of n_steps vector steps (episode rows), the diagnostics that are due, one update."""
        cfg, learner, files = self.cfg, self.learner, self.files
        frames_at_start = self.frames
        frames_per_vector_step = cfg.num_envs * self.env.frames_per_step
        for t, obs, actions, step in rollout(self.env, learner.act, self.obs, cfg.n_steps):
            self.frames += frames_per_vector_step
            for end_frames, env_index, ret, length in self.tracker.step(step, self.frames):
                files["episodes.csv"].write({"frames": end_frames, "update": self.updates + 1, "env": env_index,
                                             "return": ret, "length": length})
                self.episodes += 1
                self.recent = (self.recent + [ret])[-20:]
            learner.record(t, obs, actions, step)
        self.obs = obs = step.obs
        if cfg.lockstep_interval and (self.updates == 0 or (self.updates + 1) % cfg.lockstep_interval == 0):
            for row in learner.lockstep(obs):
                files["lockstep.csv"].write({"frames": self.frames, "update": self.updates + 1, **row})
        stats = learner.learn(obs, frames_at_start)
        self.updates += 1
        for k, v in stats.items():
            self.acc.setdefault(k, []).append(v)
        if self.updates % cfg.log_interval == 0:
            now = time.monotonic()
            fps = (self.frames - self.fps_frames) / max(now - self.fps_t, 1e-9)
            self.fps_frames, self.fps_t = self.frames, now
            row = {"frames": self.frames, "update": self.updates, "time_s": round(self.elapsed(), 3),
                   "fps": round(fps, 1)}
            row.update({k: float(np.mean(v)) for k, v in self.acc.items()})
            files["updates.csv"].write(row)
            self.acc = {}
            self.bar.show(self.frames, fps, self.recent)

    # -------------------------------------------------------------------------------- checkpointing

    def save_checkpoint(self) -> None:
        """Metrics flushed + fsynced first (their byte lengths go into the checkpoint), then the checkpoint
        (atomic, previous one kept), then run.json."""
        offsets = {name: f.sync() for name, f in self.files.items()}
        self.segments[-1].update(ended=_now(), frames_end=self.frames)
        state = {"schema": CHECKPOINT_SCHEMA, "config": self.cfg.to_dict(), "learner": self.learner.state_dict(),
                 "torch_rng": torch.get_rng_state(), "frames": self.frames, "updates": self.updates,
                 "episodes": self.episodes, "elapsed_s": self.elapsed(), "offsets": offsets,
                 "segments": self.segments, "recent_returns": self.recent}
        buf = io.BytesIO()
        torch.save(state, buf)
        write_checkpoint(self.ckpt_path, buf.getvalue())
        elapsed = self.elapsed()
        self.run_info.update(frames_done=self.frames, updates_done=self.updates, episodes_done=self.episodes,
                             elapsed_s=elapsed, frames_per_s=self.frames / elapsed if elapsed > 0 else None,
                             segments=self.segments)
        self.write_run_json()

    # ------------------------------------------------------------------------------------ finishing

    def finish(self, status: str, message: str, exit_code: int) -> RunResult:
        self.run_info.update(status=status, message=message)
        if status == "finished":
            elapsed = self.elapsed()
            self.run_info["end_time"] = _now()
            self.run_info["frames_per_s"] = self.frames / elapsed if elapsed > 0 else None
        self.write_run_json()
        return RunResult(self.out, status, self.frames, self.updates, self.episodes, exit_code, message)

