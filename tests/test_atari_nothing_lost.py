"""Nothing lost, nothing counted twice (issue 12 §2): each bad path a new user hit, on tiny CartPole runs.

* ``--resume`` after a kill -9 before the first checkpoint refuses (naming the rows it would overwrite)
  instead of restarting from zero over the metrics on disk;
* an empty / truncated / garbage ``checkpoint.pt`` is a clear error naming the file and the previous good
  checkpoint (``checkpoint.prev.pt``, kept until a new checkpoint is complete), from which the run resumes;
* a failed start leaves no directory (or no orphan ``.lock``), a crash in the first update leaves a
  run.json that says what failed;
* a DQN run that cannot reach ``learning_starts`` is refused before anything is written;
* gymnasium Atari ids with other semantics (``ALE/Pong-v5``: sticky actions 0.25) are refused, not run
  with the harness's settings under their name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest

from atari_check import cli
from atari_check.config import Config
from atari_check.envs import resolve_env
from atari_check.learners import ActorCriticLearner
from atari_check.run import RunDirError, load_checkpoint, read_csv, run


def _tiny(**kw) -> Config:
    base = dict(algo="a2c-proper", env="CartPole-v1", frames=100, num_envs=2, n_steps=5, lockstep_interval=0,
                log_interval=1, checkpoint_every_updates=4)
    return Config(**{**base, **kw})


def _digest(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


def _as_killed_before_first_checkpoint(out):
    """The state a kill -9 before the first checkpoint leaves: run.json from the start (0 frames, status
    running), metrics rows written since, no checkpoint."""
    info = json.loads((out / "run.json").read_text())
    info.update(status="running", frames_done=0, updates_done=0, episodes_done=0, end_time=None)
    (out / "run.json").write_text(json.dumps(info))
    (out / "checkpoint.pt").unlink()
    (out / "checkpoint.prev.pt").unlink(missing_ok=True)


def test_resume_after_kill_before_first_checkpoint_refuses_and_keeps_metrics(tmp_path):
    out = tmp_path / "r"
    run(_tiny(), out, progress=False)
    _as_killed_before_first_checkpoint(out)
    rows = len(read_csv(out / "updates.csv"))
    before = _digest(out)
    with pytest.raises(RunDirError, match=rf"updates\.csv: {rows} rows\) but no checkpoint\.pt.*overwrite"):
        run(_tiny(), out, resume=True, progress=False)
    assert _digest(out) == before
    # killed before any row was written: starting afresh loses nothing, so it is allowed
    for name in ("updates.csv", "episodes.csv", "lockstep.csv"):
        (out / name).write_text((out / name).read_text().splitlines()[0] + "\n")
    assert run(_tiny(), out, resume=True, progress=False).status == "finished"


def test_unreadable_checkpoint_is_a_clear_error_and_the_previous_one_is_kept(tmp_path):
    import shutil

    import torch

    base = tmp_path / "base"
    run(_tiny(frames=180), base, progress=False)  # 18 updates, a checkpoint every 4 and at the end
    assert load_checkpoint(base / "checkpoint.prev.pt")["updates"] == 16
    assert load_checkpoint(base / "checkpoint.pt")["updates"] == 18
    data = (base / "checkpoint.pt").read_bytes()
    for damage, content in (("empty", b""), ("truncated", data[: len(data) // 2]),
                            ("garbage", b"\x00not a pickle" * 9), ("foreign", None)):
        out = tmp_path / damage
        shutil.copytree(base, out)
        ckpt, prev = out / "checkpoint.pt", out / "checkpoint.prev.pt"
        if content is None:
            torch.save({"weights": [1, 2]}, ckpt)
        else:
            ckpt.write_bytes(content)
        before = _digest(out)
        with pytest.raises(RunDirError, match=r"checkpoint '.*checkpoint\.pt' \(.* bytes\) cannot be read") as err:
            run(_tiny(frames=240), out, resume=True, progress=False)
        assert "checkpoint.prev.pt" in str(err.value) and "(160 frames) is intact" in str(err.value), damage
        assert _digest(out) == before, damage
    prev.replace(ckpt)  # what the message says to do
    result = run(_tiny(frames=240), out, resume=True, progress=False)
    assert result.status == "finished"
    updates = [int(r["update"]) for r in read_csv(out / "updates.csv")]
    assert updates == list(range(1, result.updates + 1))  # rows after the previous checkpoint regenerated


def test_failed_start_leaves_nothing_behind(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(ValueError, match="only discrete-action"):
        run(_tiny(env="Pendulum-v1"), out, progress=False)
    assert not out.exists()
    out.mkdir()  # a directory the user made stays, without an orphan .lock
    with pytest.raises(ValueError, match="only discrete-action"):
        run(_tiny(env="Pendulum-v1"), out, progress=False)
    assert list(out.iterdir()) == []


def test_crash_in_the_first_update_is_recorded_in_run_json(tmp_path, monkeypatch):
    def crash(self, last_obs, frames_done):
        raise RuntimeError("boom in the first update")

    monkeypatch.setattr(ActorCriticLearner, "learn", crash)
    out = tmp_path / "r"
    with pytest.raises(RuntimeError, match="boom"):
        run(_tiny(), out, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and "RuntimeError: boom in the first update" in info["message"]


def test_dqn_run_shorter_than_learning_starts_is_refused(tmp_path, capsys):
    cfg = _tiny(algo="dqn", frames=90, learning_starts=100, replay_size=400, train_interval=4)
    with pytest.raises(ValueError, match=r"90 agent steps, fewer than learning_starts = 100"):
        run(cfg, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    # Atari: frames are agent steps × frameskip
    with pytest.raises(ValueError, match="learning_starts"):
        run(cfg.replace(env="pong", frames=360), tmp_path / "p", progress=False)
    assert cli.main(["run", "--algo", "dqn", "--env", "CartPole-v1", "--frames", "100", "--out",
                     str(tmp_path / "c"), "--no-progress"]) == 2
    assert "no gradient step" in capsys.readouterr().err
    # just long enough: the last iteration reaches learning_starts and makes its gradient step
    assert run(cfg.replace(frames=100), tmp_path / "ok", progress=False).status == "finished"
    assert load_checkpoint(tmp_path / "ok" / "checkpoint.pt")["learner"]["grad_steps"] == 1


@pytest.mark.parametrize("name", ["ALE/Pong-v5", "Pong-v5", "Pong-v4", "PongDeterministic-v4"])
def test_gym_atari_ids_with_other_semantics_are_refused(name, tmp_path):
    with pytest.raises(ValueError, match=r"sticky actions 0\.25.*Use 'pong' or 'PongNoFrameskip-v4'"):
        resolve_env(name)
    with pytest.raises(ValueError, match="repeat-action-probability"):
        run(_tiny(env=name), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


class _Killed(BaseException):
    """Stands for a SIGKILL: nothing after the point of interruption runs."""


def _checkpoint_bytes(frames: int) -> bytes:
    import io

    import torch

    from atari_check.run import CHECKPOINT_SCHEMA

    buf = io.BytesIO()
    torch.save({"schema": CHECKPOINT_SCHEMA, "frames": frames}, buf)
    return buf.getvalue()


def _interrupted_write(write, path, monkeypatch, kill_at: int) -> bool:
    """Run ``write(path, new)`` with the kill_at-th link/rename interrupted (as by SIGKILL); return
    whether checkpoint.pt and checkpoint.prev.pt are still good afterwards."""
    import os

    from atari_check import run as run_module

    calls = {"n": 0}

    def interrupting(real):
        def step(*args, **kwargs):
            if calls["n"] == kill_at:
                raise _Killed
            calls["n"] += 1
            return real(*args, **kwargs)
        return step

    with monkeypatch.context() as m:
        m.setattr(run_module.os, "replace", interrupting(os.replace))
        m.setattr(run_module.os, "link", interrupting(os.link))
        with contextlib.suppress(_Killed):
            write(path, _checkpoint_bytes(300))
    try:
        return (load_checkpoint(path)["frames"] in (200, 300)
                and load_checkpoint(path.with_name("checkpoint.prev.pt"))["frames"] in (100, 200))
    except RunDirError:
        return False


@pytest.mark.parametrize("kill_at", range(4))
def test_a_kill_at_any_step_of_a_checkpoint_write_leaves_a_good_checkpoint(tmp_path, monkeypatch, kill_at):
    """checkpoint.pt must exist and load at every instant of write_checkpoint (old or new content): each
    step (the hard link / copy of the old file, the renames) is interrupted in turn."""
    from atari_check import run as run_module

    path = tmp_path / "checkpoint.pt"
    run_module.write_checkpoint(path, _checkpoint_bytes(100))
    run_module.write_checkpoint(path, _checkpoint_bytes(200))  # now there is a previous one too
    assert _interrupted_write(run_module.write_checkpoint, path, monkeypatch, kill_at)


def test_the_old_two_rename_protocol_is_caught_by_the_kill_test(tmp_path, monkeypatch):
    """Negative control: the earlier protocol (old → prev, then tmp → checkpoint.pt) left no checkpoint.pt
    when the kill landed between the two renames (seen in the SIGKILL resume test), and --resume then
    refused the run."""
    import os

    from atari_check import run as run_module

    def two_renames(path, data):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        if path.exists():
            run_module.os.replace(path, path.with_name("checkpoint.prev.pt"))
        run_module.os.replace(tmp, path)

    outcomes = []
    for kill_at in range(3):
        path = tmp_path / f"k{kill_at}" / "checkpoint.pt"
        path.parent.mkdir()
        run_module.write_checkpoint(path, _checkpoint_bytes(100))
        run_module.write_checkpoint(path, _checkpoint_bytes(200))
        outcomes.append(_interrupted_write(two_renames, path, monkeypatch, kill_at))
        assert os.path.exists(path.with_name("checkpoint.prev.pt"))
    assert outcomes == [True, False, True]  # killed between the renames: no good checkpoint.pt
