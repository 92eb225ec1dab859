"""Resume after kill -9 (and after SIGTERM) gives metrics with no lost and no duplicated rows.

A real ``python -m atari_check run`` subprocess is killed with SIGKILL while it
is writing rows past its last checkpoint; a torn half line is appended on top;
then the run is resumed to completion.  Every ``updates.csv`` row (one per
update) must appear exactly once, lockstep rows exactly at their schedule,
episode rows in frame order, and the run segments must tile the frames.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from atari_check.config import Config
from atari_check.run import EXIT_INTERRUPTED, read_csv, run

ROOT = Path(__file__).resolve().parent.parent
# The subprocess gets a budget it cannot finish before it is stopped; the final, in-process segment then
# resumes with a budget just past the last checkpoint (frames may change between segments).
ARGS = dict(algo="a2c-proper", env="CartPole-v1", frames=10_000_000, num_envs=4, seed=5,
            checkpoint_every_updates=25, log_interval=1, lockstep_interval=50, checkpoint_interval_s=1e9)


def _cli_args(out: Path) -> list[str]:
    # --time-limit: if pytest itself is killed mid-test, the orphaned run stops on its own (it was found still
    # training its 10M frames an hour later); the test stops it within 60 s, far inside the limit.
    args = [sys.executable, "-m", "atari_check", "run", "--out", str(out), "--resume", "--no-progress",
            "--time-limit", "300"]
    for k, v in ARGS.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return args


def _rows(path: Path) -> int:
    return max(0, len(path.read_bytes().splitlines()) - 1) if path.exists() else 0


class _ForkedRun:
    """``atari_check.cli.main`` in a forked copy of this process: a real process to kill, without the
    fresh interpreter's start-up (torch, torch._dynamo through torch.optim: ~4 s here).  The slow test
    below keeps the real ``python -m atari_check`` subprocess."""

    def __init__(self, argv: list[str]):
        import torch._dynamo  # noqa: F401  torch.optim's first use imports it (~3 s); _finish needs it here anyway

        from atari_check import cli

        self.pid = os.fork()
        if self.pid == 0:  # the child: run the CLI, never return into pytest
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                code = cli.main(argv)
            finally:
                os._exit(code)
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        self.communicate(timeout=60)

    def communicate(self, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise AssertionError(f"forked run {self.pid} did not stop within {timeout} s")
            time.sleep(0.02)
        return "(output of the forked run is discarded)", ""


def _start_and_stop(out: Path, sig: int, extra_rows: int = 10, fork: bool = False) -> int:
    """Start (or resume) the run, wait for a checkpoint plus ``extra_rows`` rows after it, send ``sig``.

    ``fork``: the run is a forked copy of this process instead of a fresh ``python -m atari_check``."""
    if fork:
        proc = _ForkedRun(_cli_args(out)[3:])  # the arguments after `python -m atari_check`
    else:
        proc = subprocess.Popen(_cli_args(out), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    start_updates = torch.load(ckpt, weights_only=False)["updates"] if ckpt.exists() else 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run ended before it could be killed: {proc.communicate()}")
        if ckpt.exists():
            try:
                ck_updates = torch.load(ckpt, weights_only=False)["updates"]
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # being replaced right now
                ck_updates = 0
            if ck_updates > start_updates and _rows(out / "updates.csv") >= ck_updates + extra_rows:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("no checkpoint within 60 s")
    os.kill(proc.pid, sig)
    proc.communicate(timeout=60)
    return proc.returncode


def _check_complete(out: Path, result, n_segments: int) -> None:
    updates = [int(r["update"]) for r in read_csv(out / "updates.csv")]
    assert updates == list(range(1, result.updates + 1))
    frames = [int(r["frames"]) for r in read_csv(out / "updates.csv")]
    assert frames == [u * 4 * 5 for u in updates]
    lock = read_csv(out / "lockstep.csv")
    expected = [1] + list(range(50, result.updates + 1, 50))
    assert [int(r["update"]) for r in lock[::2]] == expected and [int(r["update"]) for r in lock[1::2]] == expected
    episodes = read_csv(out / "episodes.csv")
    ep_frames = [int(e["frames"]) for e in episodes]
    assert ep_frames == sorted(ep_frames) and len(episodes) == result.episodes
    info = json.loads((out / "run.json").read_text())
    segments = info["segments"]
    assert len(segments) == n_segments and segments[0]["frames_start"] == 0
    for a, b in itertools.pairwise(segments):
        assert b["frames_start"] == a["frames_end"]  # the segments tile the frames
    assert segments[-1]["frames_end"] == info["frames_done"] >= info["config"]["frames"]


def _kill_and_tear(out: Path, fork: bool = False) -> None:
    assert _start_and_stop(out, signal.SIGKILL, fork=fork) == -signal.SIGKILL
    checkpoint_updates = torch.load(out / "checkpoint.pt", weights_only=False)["updates"]
    assert _rows(out / "updates.csv") >= checkpoint_updates
    with open(out / "updates.csv", "ab") as f:  # whatever the kill left, add a complete row past the
        f.write(b"999980,99999,1,1,1,1,1,1,1,1,\n999999,12")  # checkpoint and a torn half line on top


def _finish(out: Path):
    """Resume in-process to a budget 100 updates past the last checkpoint."""
    done = torch.load(out / "checkpoint.pt", weights_only=False)["frames"]
    return run(Config(**{**ARGS, "frames": done + 100 * 4 * 5}), out, resume=True, progress=False)


def test_resume_after_sigkill_has_no_lost_or_duplicated_rows(tmp_path):
    out = tmp_path / "run"
    _kill_and_tear(out, fork=True)
    result = _finish(out)
    assert result.status == "finished"
    _check_complete(out, result, n_segments=2)


@pytest.mark.slow
def test_resume_after_sigkill_then_sigterm(tmp_path):
    out = tmp_path / "run"
    _kill_and_tear(out)
    # Second segment: graceful stop by SIGTERM (checkpoint, status "interrupted", exit code 4).
    assert _start_and_stop(out, signal.SIGTERM) == EXIT_INTERRUPTED
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    result = _finish(out)
    assert result.status == "finished"
    _check_complete(out, result, n_segments=3)
