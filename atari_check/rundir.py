"""The run directory: metrics files, checkpoints and the rules for resuming (nothing lost, nothing twice).

Split out of :mod:`atari_check.run` so that this code, which decides what is kept on disk, can be read,
tested and mutation-tested on its own (tests/mutation/run.py).  Layout and protocol: see
:mod:`atari_check.run`.  Every function here either completes or changes nothing: writes go to a
``.tmp`` file that is fsynced and then renamed, and a directory that cannot be used as asked raises
:class:`RunDirError` naming the file and what was (not) changed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from .config import RESUMABLE_CHANGES, Config
from .lockstep import LOCKSTEP_FIELDS

CHECKPOINT_SCHEMA = "atari_check.checkpoint/1"
EPISODE_FIELDS = ("frames", "update", "env", "return", "length")
UPDATE_FIELDS = ("frames", "update", "time_s", "fps", "loss", "entropy", "kl", "value_mean", "grad_norm", "lr",
                 "epsilon")
METRICS_FILES = {
    "episodes.csv": EPISODE_FIELDS,
    "updates.csv": UPDATE_FIELDS,
    "lockstep.csv": ("frames", "update") + LOCKSTEP_FIELDS,
}
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"  # the last good one, kept until a new one is complete
RUN_FILES = ("run.json", CHECKPOINT, PREVIOUS_CHECKPOINT) + tuple(METRICS_FILES)


class RunDirError(ValueError):
    """The --out directory cannot be used as asked (it holds other results, or nothing to resume)."""


# ----------------------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{float(value):.7g}"
    return str(value)


class MetricsFile:
    """Append-only CSV with a fixed header; ``sync()`` returns the durable byte length."""

    def __init__(self, path: Path, fields: tuple[str, ...], keep_bytes: int | None):
        self.path = path
        self.fields = fields
        if keep_bytes is None or not path.exists():
            keep_bytes = 0
        self._f = open(path, "a+b")
        self._f.truncate(keep_bytes)  # drop rows written after the checkpoint (and any torn line)
        self._f.seek(0, io.SEEK_END)
        if keep_bytes == 0:
            self._f.write((",".join(fields) + "\n").encode())

    def write(self, row: dict) -> None:
        self._f.write((",".join(_fmt(row.get(k)) for k in self.fields) + "\n").encode())

    def sync(self) -> int:
        self._f.flush()
        os.fsync(self._f.fileno())
        return self._f.tell()

    def close(self) -> None:
        self._f.close()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_out_dir(out: Path, cfg: Config, resume: bool) -> dict | None:
    """Validate --out; returns the stored run.json when resuming an existing run."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {str(out)!r} exists and is not a directory")
    run_json = out / "run.json"
    if run_json.exists():
        stored = json.loads(run_json.read_text())
        scfg = stored.get("config", {})
        if not resume:
            raise RunDirError(
                f"--out {str(out)!r} already holds a run ({scfg.get('algo')} on {scfg.get('env')}, seed "
                f"{scfg.get('seed')}, status {stored.get('status')!r}); pass --resume to continue it, or choose "
                f"another --out. Nothing was overwritten."
            )
        stored_cfg = Config.from_dict(scfg)
        diffs = {k: (getattr(stored_cfg, k), getattr(cfg, k)) for k in cfg.to_dict()
                 if k not in RESUMABLE_CHANGES and getattr(stored_cfg, k) != getattr(cfg, k)}
        if diffs:
            detail = ", ".join(f"{k}: stored {a!r} vs given {b!r}" for k, (a, b) in diffs.items())
            raise RunDirError(
                f"--resume: the config differs from the run stored in {str(out)!r} ({detail}); only "
                f"{list(RESUMABLE_CHANGES)} may change between segments. Nothing was overwritten."
            )
        return stored
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name not in RUN_FILES)
        ours = sorted(p.name for p in out.iterdir() if p.name in RUN_FILES)
        if foreign or ours:
            raise RunDirError(
                f"--out {str(out)!r} is not empty and holds no run.json (found {(foreign + ours)[:6]}); "
                f"refusing to write into it. Nothing was overwritten."
            )
    return None


@contextlib.contextmanager
def lock(out: Path):
    import fcntl

    f = open(out / ".lock", "w")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"another process is running in {str(out)!r}") from None
        yield
    finally:
        f.close()


def resume_checkpoint(out: Path, stored: dict | None) -> dict | None:
    """The checkpoint to continue from (None for a fresh start); refuses what would overwrite data."""
    if stored is None:
        return None
    ckpt_path = out / CHECKPOINT
    if not ckpt_path.exists():
        _refuse_resume_without_checkpoint(out, stored)
        return None
    return load_checkpoint(ckpt_path)


def checkpoint_frames(path: Path) -> int:
    return int(load_checkpoint(path)["frames"])


def write_checkpoint(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, keeping the previous checkpoint as ``checkpoint.prev.pt``.

    The new file is complete and fsynced (as ``.tmp``) before anything is renamed.  The old one gets a
    second name (a hard link, or a copy where links are not supported) that then becomes
    ``checkpoint.prev.pt``, and only then does the new one replace ``checkpoint.pt`` in one atomic
    rename: ``checkpoint.pt`` exists at every instant, so a kill at any point leaves it good (old or new).
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        prev = path.with_name(PREVIOUS_CHECKPOINT)
        prev_tmp = prev.with_name(prev.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            prev_tmp.unlink()
        try:
            os.link(path, prev_tmp)
        except OSError:  # no hard links on this file system: copy (and fsync) instead
            shutil.copyfile(path, prev_tmp)
            with open(prev_tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(prev_tmp, prev)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint; an unreadable one raises :class:`RunDirError` naming the file (and the previous
    good checkpoint, if there is one).  Nothing is modified."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or state.get("schema") != CHECKPOINT_SCHEMA:
            found = state.get("schema") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"not an atari_check checkpoint (schema {found!r}, expected {CHECKPOINT_SCHEMA!r})")
    except Exception as err:  # noqa: BLE001  (torch raises OSError, EOFError, UnpicklingError, RuntimeError, …)
        size = path.stat().st_size if path.exists() else 0
        raise RunDirError(
            f"checkpoint {str(path)!r} ({size:,} bytes) cannot be read: {type(err).__name__}: {err}. "
            + _previous_checkpoint_hint(path) + " Nothing was changed."
        ) from None
    return state


def _previous_checkpoint_hint(path: Path) -> str:
    prev = path.with_name(PREVIOUS_CHECKPOINT)
    if path.name == PREVIOUS_CHECKPOINT or not prev.exists():
        return "There is no previous checkpoint to fall back on; choose another --out."
    try:
        frames = f"{checkpoint_frames(prev):,} frames"
    except RunDirError:
        return f"The previous checkpoint {str(prev)!r} is unreadable too; choose another --out."
    return (f"The previous checkpoint {str(prev)!r} ({frames}) is intact: to resume from it, replace "
            f"{path.name} with it (rows written after it are dropped and regenerated on --resume).")


def _refuse_resume_without_checkpoint(out: Path, stored: dict) -> None:
    """--resume on a run that has no checkpoint.pt: restarting it would overwrite what is on disk."""
    rows = {}
    for name in METRICS_FILES:
        path = out / name
        if path.exists():
            n = max(0, len(path.read_bytes().splitlines()) - 1)
            if n:
                rows[name] = n
    if stored.get("frames_done", 0) == 0 and not rows:
        return  # killed before anything was recorded: starting afresh loses nothing
    detail = ", ".join(f"{name}: {n:,} rows" for name, n in rows.items()) or "no metrics rows"
    raise RunDirError(
        f"{str(out)!r} holds a run with {stored.get('frames_done', 0):,} frames checkpointed and metrics on disk "
        f"({detail}) but no {CHECKPOINT} (it was stopped before its first checkpoint, or the file was removed); "
        f"resuming would restart it from zero and overwrite those metrics. "
        + _previous_checkpoint_hint(out / CHECKPOINT)
        + " Or move the directory away and start again. Nothing was changed."
    )
