"""``python -m atari_check sweep``: the (env × algo × seed) grid as Ray tasks, resumable run by run.

Every run of the grid is one Ray task that calls :func:`atari_check.run.run` with ``resume=True``
on its own directory ``OUT/<env>/<algo>/seed<S>`` (``/`` in an env id becomes ``_``), so the run
directory protocol of ``run.py`` is what makes the sweep safe:

* a finished run is skipped (its ``run.json`` says ``finished`` with the frames asked for);
* an interrupted run — driver stopped, worker or node lost, machine rebooted — continues from its
  last checkpoint, and the rows written after that checkpoint are truncated, so nothing is lost or
  counted twice; a run is locked (``flock``) while it runs, so it is never run twice at once;
* Ray retries a task whose worker died (``--max-retries``); a run that fails by itself (bad
  config, non-finite loss) is reported, not retried;
* Ctrl-C, or SIGTERM (``kill PID``, for a sweep started in the background, where SIGINT is
  usually ignored), cancels the tasks and records them (exit code 130 / 143): a run that had started
  (rewritten its ``run.json`` during the invocation, which ``run.py`` does once the env is set up) as
  ``interrupted_runs``, any other as ``cancelled_before_start``.  An invocation recorded without
  ``cancelled_before_start`` predates the split: its ``interrupted_runs`` lists the queued runs too.

Ray: a local instance with the machine's cores by default (``--num-cpus`` to change), or an existing
cluster with ``--address`` (``auto`` or ``HOST:PORT``); there, ``OUT`` must be on storage every node
sees and ``atari_check`` installed on every node.  ``OUT/sweep.json`` records the grid, the shared
config, every invocation and the last known status of every run (rewritten atomically).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .config import RESUMABLE_CHANGES, Config

SWEEP_SCHEMA = "atari_check.sweep/1"
GRID_FIELDS = ("env", "algo", "seed", "frames")


def run_dir_name(env: str, algo: str, seed: int) -> str:
    """Relative directory of one run: ``MinAtar_Breakout-v1/a2c-proper/seed0``."""
    return f"{env.replace('/', '_')}/{algo}/seed{seed}"


def grid(base: Config, envs: list[str], algos: list[str], seeds: list[int], frames: int) -> list[Config]:
    """Every run's config (validated up front: a bad value fails before Ray starts)."""
    from .envs import resolve_env

    for name, values in (("envs", envs), ("algos", algos), ("seeds", seeds)):
        if not values:
            raise ValueError(f"--{name} must name at least one value, got {values!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"--{name} has duplicates: {values!r} (each run is done once)")
    for env in envs:
        resolve_env(env)  # unknown ids fail here, with suggestions
    return [base.replace(env=e, algo=a, seed=s, frames=frames) for e in envs for a in algos for s in seeds]


class Terminated(KeyboardInterrupt):
    """SIGTERM while the sweep's tasks run: handled as Ctrl-C is (tasks stopped, recorded as interrupted)."""

    signum = signal.SIGTERM


@contextlib.contextmanager
def terminate_as_interrupt():
    """While the tasks run, SIGTERM (``kill PID``: how a sweep started in the background is stopped)
    raises :class:`Terminated`, so that the tasks are cancelled, the interrupted runs written to
    ``sweep.json`` and the CLI exits 143 with its resume hint.  (Ray's own handler, installed by
    ``ray.init``, calls ``sys.exit``: the clean-up ran, but the sweep ended as a failure.)  Further
    SIGTERMs are ignored until the clean-up is done.  Only in the main thread, where Python delivers
    signals; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []

    def handler(signum, frame):
        received.append(signum)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second kill must not cut the clean-up short
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except KeyboardInterrupt as stop:
        if received and not isinstance(stop, Terminated):
            # raised inside ray.wait, it comes back as a plain KeyboardInterrupt: keep what stopped the sweep
            raise Terminated(f"signal {received[0]}") from stop
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _shared_config(cfg: Config) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k not in GRID_FIELDS + RESUMABLE_CHANGES}


def run_state(out: Path) -> dict:
    """What is on disk for one run: status and frames done (``new`` if nothing yet)."""
    p = out / "run.json"
    if not p.exists():
        return {"status": "new", "frames_done": 0}
    try:
        info = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return {"status": "unreadable", "frames_done": 0, "message": f"{p}: {err}"}
    return {"status": info.get("status"), "frames_done": int(info.get("frames_done") or 0),
            "message": info.get("message", ""), "stored_config": info.get("config")}


def same_run(stored_config: dict | None, cfg: Config) -> bool:
    """Whether a stored run is ``cfg``'s (fields that may change between segments aside)."""
    if stored_config is None:
        return False
    want = cfg.to_dict()
    return all(stored_config.get(k) == v for k, v in want.items() if k not in RESUMABLE_CHANGES)


def _recorded(state: dict) -> dict:
    """A run's state as sweep.json keeps it (its config is recorded once, as ``config``)."""
    return {k: v for k, v in state.items() if k != "stored_config"}


def is_done(state: dict, frames: int, cfg: Config | None = None) -> bool:
    """Finished with the frames asked for (and, given ``cfg``, the very run asked for)."""
    if cfg is not None and not same_run(state.get("stored_config"), cfg):
        return False
    return state["status"] == "finished" and state["frames_done"] >= frames


def audit_run(out: Path, frames: int) -> list[str]:
    """Problems of a run that should be finished: nothing lost (frames, every episode row) and nothing
    counted twice (no repeated update, frames never going back).  ``[]`` means complete."""
    import csv

    state = run_state(out)
    if not is_done(state, frames):
        return [f"{out}: status {state['status']!r} with {state['frames_done']:,} of {frames:,} frames"]
    info = json.loads((out / "run.json").read_text())
    problems = []
    with open(out / "episodes.csv", newline="") as f:
        episodes = list(csv.DictReader(f))
    if len(episodes) != info["episodes_done"]:
        problems.append(f"{out}: episodes.csv has {len(episodes)} rows, run.json counts {info['episodes_done']}")
    ep_frames = [int(r["frames"]) for r in episodes]
    if any(b < a for a, b in itertools.pairwise(ep_frames)):
        problems.append(f"{out}: episodes.csv frames go back (rows repeated or out of order)")
    with open(out / "updates.csv", newline="") as f:
        updates = [int(r["update"]) for r in csv.DictReader(f)]
    if any(b <= a for a, b in itertools.pairwise(updates)):
        problems.append(f"{out}: updates.csv repeats or reorders updates")
    return problems


def run_one(cfg_dict: dict, out: str) -> dict:
    """The Ray task: train (or continue) one run; never raises for a run-level failure."""
    from .run import run

    cfg = Config.from_dict(cfg_dict)
    try:
        r = run(cfg, out, resume=True, progress=False)
    except ValueError as err:  # RunDirError or a bad config: reported, not retried
        return {"out": out, "status": "error", "frames": 0, "exit_code": 2, "message": str(err)}
    return {"out": out, "status": r.status, "frames": r.frames, "exit_code": r.exit_code, "message": r.message}


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _si(n: float) -> str:
    """12 / 12.3k / 12.35M: compact frame counts for the progress line."""
    if n < 1e3:
        return f"{n:.0f}"
    if n < 1e6:
        return f"{n / 1e3:.1f}k"
    if n < 1e9:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e9:.2f}G"


def progress_line(done: int, running: int, left: int, frames: int, total: int, fps: float) -> str:
    """One line of at most 80 columns for the whole grid."""
    eta = (total - frames) / fps if fps > 0 else float("nan")
    line = (f"sweep {done} done {running} run {left} left | {_si(frames)}/{_si(total)} fr | {_si(fps)} fr/s | "
            f"ETA {_hms(eta)}")
    return line[:80]


def _atomic_json(path: Path, obj: dict) -> None:
    from .run import atomic_write_json

    atomic_write_json(path, obj)


@contextlib.contextmanager
def _sweep_lock(out: Path):
    import fcntl

    with open(out / ".sweep.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another sweep is driving {str(out)!r}") from None
        yield


def _check_sweep_json(path: Path, shared: dict) -> dict | None:
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    if stored.get("schema") != SWEEP_SCHEMA:
        raise ValueError(f"{path} is not an atari_check sweep record ({stored.get('schema')!r})")
    diffs = {k: (stored["shared_config"].get(k), v) for k, v in shared.items() if stored["shared_config"].get(k) != v}
    if diffs:
        detail = ", ".join(f"{k}: stored {a!r} vs given {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(f"--out {str(path.parent)!r} holds a sweep with another shared config ({detail}); "
                         f"use another --out. Nothing was started.")
    return stored


def sweep(base: Config, envs: list[str], algos: list[str], seeds: list[int], frames: int, out: str | Path, *,
          address: str | None = None, num_cpus: int | None = None, cpus_per_run: float = 1.0,
          max_retries: int = 3, progress_interval_s: float = 10.0, progress: bool = True) -> dict:
    """Run the grid through Ray; returns (and writes to ``OUT/sweep.json``) the status of every run."""
    if not cpus_per_run > 0:
        raise ValueError(f"cpus_per_run must be > 0, got {cpus_per_run!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
        raise ValueError(f"num_cpus must be an integer >= 1, got {num_cpus!r}")
    configs = grid(base, envs, algos, seeds, frames)
    try:
        import ray
    except ImportError:
        raise ValueError("the sweep needs Ray: pip install -e '.[sweep]' (optional extra)") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shared = _shared_config(base)
    with _sweep_lock(out):
        record = _check_sweep_json(out / "sweep.json", shared) or {
            "schema": SWEEP_SCHEMA, "shared_config": shared, "invocations": [], "runs": {}}
        runs = {run_dir_name(c.env, c.algo, c.seed): c for c in configs}
        states = {name: run_state(out / name) for name in runs}
        invocation = {"started": _now(), "argv": sys.argv, "grid": {"envs": envs, "algos": algos, "seeds": seeds,
                      "frames": frames}, "address": address, "num_cpus": num_cpus}
        record["invocations"].append(invocation)
        todo = [n for n in runs if not is_done(states[n], frames, runs[n])]  # another run there: run.py refuses
        for n, c in runs.items():
            record["runs"][n] = {**_recorded(states[n]), "config": c.to_dict()}
        _atomic_json(out / "sweep.json", record)

        t_init = time.monotonic()
        started_here = bool(todo) and not ray.is_initialized()  # nothing left: no Ray at all
        if started_here:
            kwargs = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count()}
            ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
        invocation["ray_start_s"] = round(time.monotonic() - t_init, 3)
        task = ray.remote(run_one).options(num_cpus=cpus_per_run, max_retries=max_retries, retry_exceptions=False)
        total_frames = frames * len(runs)
        frames_at_start = sum(min(s["frames_done"], frames) for s in states.values())
        t0, wall_start = time.monotonic(), time.time()
        pending, results = {}, {}
        last_print = 0.0
        # after ray.init, which installs Ray's own SIGTERM handler (sys.exit), and before the first task
        with terminate_as_interrupt():  # kill PID stops the sweep as Ctrl-C does
            try:
                for n in todo:  # one by one: every task submitted before an interrupt is cancelled
                    pending[task.remote(runs[n].to_dict(), str(out / n))] = n
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=min(progress_interval_s, 1.0))
                    for ref in ready:
                        name = pending.pop(ref)
                        results[name] = ray.get(ref)
                        record["runs"][name].update(_recorded(run_state(out / name)), result=results[name])
                        _atomic_json(out / "sweep.json", record)
                    now = time.monotonic()
                    if progress and (now - last_print >= progress_interval_s or not pending):
                        last_print = now
                        states = {n: run_state(out / n) for n in runs}
                        frames_now = sum(min(s["frames_done"], frames) for s in states.values())
                        done = sum(is_done(s, frames, runs[n]) or n in results for n, s in states.items())
                        # queued tasks have not touched their run.json yet; running ones rewrote it this invocation
                        running = sum(_touched_since(out / n / "run.json", wall_start) for n in pending.values())
                        fps = (frames_now - frames_at_start) / max(now - t0, 1e-9)
                        print(progress_line(done, running, len(runs) - done - running, frames_now, total_frames, fps),
                              file=sys.stderr, flush=True)
            finally:
                for ref in pending:  # interrupted: stop the tasks; each resumes from its checkpoint next time
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)
                if started_here:
                    ray.shutdown()
                invocation["ended"] = _now()
                # a run that started rewrote its run.json during this invocation; a queued one never did
                stopped = sorted(pending.values())
                invocation["interrupted_runs"] = [n for n in stopped if _touched_since(out / n / "run.json",
                                                                                        wall_start)]
                invocation["cancelled_before_start"] = [n for n in stopped if n not in invocation["interrupted_runs"]]
                for n in runs:
                    record["runs"][n].update(_recorded(run_state(out / n)))
                _atomic_json(out / "sweep.json", record)
    # a run refused by run.py (another run in its directory) is an error, whatever is on disk
    status = {n: "error" if results.get(n, {}).get("status") == "error" else record["runs"][n]["status"]
              for n in runs}
    summary = {"out": str(out), "runs": len(runs), "skipped_done": len(runs) - len(todo),
               "ran": len(results), "ray_start_s": invocation["ray_start_s"], "status": status}
    summary["finished"] = sum(s == "finished" for s in summary["status"].values())
    summary["audit"] = [p for n in runs if status[n] == "finished" for p in audit_run(out / n, frames)]
    return summary


def _touched_since(path: Path, wall_time: float) -> bool:
    try:
        return path.stat().st_mtime >= wall_time
    except OSError:
        return False


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def base_config_fields() -> tuple[str, ...]:
    """Config fields the sweep CLI exposes as shared options (the grid fields are its own)."""
    return tuple(f.name for f in dataclasses.fields(Config) if f.name not in GRID_FIELDS)
