"""``sweep``: the grid, its up-front validation, the progress line, the run audit (with negative
controls) — cheap, in the default suite — and, behind ``-m sweep``, a tiny sweep on a local Ray and
one that is interrupted (SIGINT or SIGTERM to the driver, running tasks force-killed) and resumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atari_check.config import Config
from atari_check.sweep import audit_run, grid, is_done, progress_line, run_dir_name, run_state, sweep

ROOT = Path(__file__).resolve().parent.parent
MINATAR = "MinAtar/Breakout-v1"


def test_grid_is_the_product_and_is_validated_before_ray_starts():
    cfgs = grid(Config(), [MINATAR, "CartPole-v1"], ["a2c-proper", "sql"], [0, 1, 2], 1000)
    assert len(cfgs) == 12 and len({(c.env, c.algo, c.seed) for c in cfgs}) == 12
    assert all(c.frames == 1000 for c in cfgs)
    assert run_dir_name(MINATAR, "sql", 3) == "MinAtar_Breakout-v1/sql/seed3"
    with pytest.raises(ValueError, match="unknown MinAtar id"):
        grid(Config(), ["MinAtar/Breakot-v1"], ["sql"], [0], 1000)
    with pytest.raises(ValueError, match="--seeds has duplicates"):
        grid(Config(), [MINATAR], ["sql"], [0, 0], 1000)
    with pytest.raises(ValueError, match="frames must be an integer >= 1"):
        grid(Config(), [MINATAR], ["sql"], [0], 0)


def test_bad_sweep_arguments_fail_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="cpus_per_run must be > 0"):
        sweep(Config(), [MINATAR], ["sql"], [0], 100, tmp_path / "s", cpus_per_run=0)
    with pytest.raises(ValueError, match="--algos must name at least one value"):
        sweep(Config(), [MINATAR], [], [0], 100, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_progress_line_fits_80_columns_with_eta():
    line = progress_line(1200, 120, 1000, 12_345_678, 1_200_000_000, 123_456.0)
    assert len(line) <= 80 and "1200 done 120 run 1000 left" in line and "ETA 2:40:20" in line
    assert "ETA -:--:--" in progress_line(0, 0, 4, 0, 4000, 0.0)


FINISHED_CFG = Config(algo="a2c-proper", env="CartPole-v1", frames=800, num_envs=4, log_interval=2)


def _finished_run(tmp_path) -> Path:
    from atari_check.run import run

    out = tmp_path / "r"
    run(FINISHED_CFG, out, progress=False)
    return out


def test_a_finished_run_is_skipped_only_if_it_is_the_run_asked_for(tmp_path):
    state = run_state(_finished_run(tmp_path))
    assert is_done(state, 800, FINISHED_CFG)
    assert is_done(state, 800, FINISHED_CFG.replace(log_interval=5))  # may change between segments
    # negative controls: another run in that directory, or more frames asked for, is not done
    assert not is_done(state, 800, FINISHED_CFG.replace(lr=1e-3))
    assert not is_done(state, 800, FINISHED_CFG.replace(seed=1))
    assert not is_done(state, 1600, FINISHED_CFG.replace(frames=1600))
    assert not is_done(run_state(tmp_path / "nothing"), 800, FINISHED_CFG)


def test_audit_passes_a_complete_run_and_catches_duplicated_or_lost_rows(tmp_path):
    out = _finished_run(tmp_path)
    assert audit_run(out, 800) == []
    # negative controls: each of these must be reported
    assert "of 1,600 frames" in audit_run(out, 1600)[0]  # fewer frames than the grid asks for
    text = (out / "episodes.csv").read_text().splitlines(keepends=True)
    (out / "episodes.csv").write_text("".join(text + text[-1:]))  # one row counted twice
    problems = audit_run(out, 800)
    assert any("rows, run.json counts" in p for p in problems)
    (out / "episodes.csv").write_text("".join(text[:-1]))  # one row lost
    assert any("rows, run.json counts" in p for p in audit_run(out, 800))
    (out / "episodes.csv").write_text("".join(text))
    up = (out / "updates.csv").read_text().splitlines(keepends=True)
    (out / "updates.csv").write_text("".join(up + up[-1:]))
    assert any("repeats or reorders updates" in p for p in audit_run(out, 800))


def test_missing_ray_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"the sweep needs Ray: pip install -e '.\[sweep\]'"):
        sweep(Config(), [MINATAR], ["sql"], [0], 100, tmp_path / "s")


# ----------------------------------------------------------------------------------- on a real Ray

SWEEP_ARGS = ["--envs", MINATAR, "--algos", "a2c-proper", "sql", "--frames", "1600", "--num-envs", "4",
              "--lockstep-interval", "20", "--log-interval", "2", "--checkpoint-every-updates", "10",
              "--num-cpus", "1", "--progress-interval", "1"]


def _audit_all(out: Path, names: list[str], frames: int) -> None:
    for n in names:
        assert audit_run(out / n, frames) == [], n


@pytest.mark.sweep
def test_tiny_sweep_on_local_ray(tmp_path):
    pytest.importorskip("ray", reason="the optional extra sweep is not installed")
    pytest.importorskip("minatar", reason="the optional extra minatar is not installed")
    base = Config(num_envs=4, log_interval=2, lockstep_interval=20)
    t0 = time.monotonic()
    summary = sweep(base, [MINATAR], ["a2c-proper", "sql"], [0], 800, tmp_path / "s", num_cpus=1,
                    progress_interval_s=1.0)
    wall = time.monotonic() - t0
    print(f"\nray start {summary['ray_start_s']:.1f} s, whole tiny sweep {wall:.1f} s")
    assert summary["finished"] == 2 and summary["audit"] == [] and summary["ran"] == 2
    names = [run_dir_name(MINATAR, a, 0) for a in ("a2c-proper", "sql")]
    record = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert sorted(record["runs"]) == sorted(names) and len(record["invocations"]) == 1
    # a second invocation finds everything done and runs nothing
    again = sweep(base, [MINATAR], ["a2c-proper", "sql"], [0], 800, tmp_path / "s", num_cpus=1)
    assert again["skipped_done"] == 2 and again["ran"] == 0
    # negative control: another shared config on the same directory is refused, nothing started
    with pytest.raises(ValueError, match="another shared config"):
        sweep(base.replace(lr=1e-3), [MINATAR], ["sql"], [0], 800, tmp_path / "s", num_cpus=1)


@pytest.mark.sweep
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_sweep_resumes_with_no_run_lost_or_duplicated(tmp_path, stop):
    pytest.importorskip("ray", reason="the optional extra sweep is not installed")
    pytest.importorskip("minatar", reason="the optional extra minatar is not installed")
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "atari_check", "sweep", *SWEEP_ARGS, "--seeds", "0", "1", "--out", str(out)]
    names = [run_dir_name(MINATAR, a, s) for a in ("a2c-proper", "sql") for s in (0, 1)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    finished_first = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:  # interrupt once one run is done
            done = [n for n in names if (out / n / "run.json").exists()
                    and json.loads((out / n / "run.json").read_text())["status"] == "finished"]
            if done:
                finished_first = done[0]
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be interrupted: " + proc.stdout.read().decode()
        proc.send_signal(stop)
        assert proc.wait(timeout=60) == 128 + stop, proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert finished_first is not None
    states = {n: json.loads((out / n / "run.json").read_text())["status"] if (out / n / "run.json").exists()
              else "new" for n in names}
    assert list(states.values()).count("finished") < len(names), states  # really interrupted mid-grid
    first_json = (out / finished_first / "run.json").read_text()

    summary = sweep(Config(num_envs=4, lockstep_interval=20, log_interval=2, checkpoint_every_updates=10),
                    [MINATAR], ["a2c-proper", "sql"], [0, 1], 1600, out, num_cpus=1)
    assert summary["finished"] == len(names) and summary["audit"] == []
    assert summary["skipped_done"] >= 1 and summary["ran"] == len(names) - summary["skipped_done"]
    assert (out / finished_first / "run.json").read_text() == first_json  # a finished run is not run again
    _audit_all(out, names, 1600)
    assert sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("run.json")) == sorted(names)
    record = json.loads((out / "sweep.json").read_text())
    assert len(record["invocations"]) == 2 and record["invocations"][0]["interrupted_runs"]


@pytest.mark.sweep
def test_address_connects_to_an_existing_ray_and_leaves_it_running(tmp_path):
    """--address: the CLI in another process joins a Ray this test started (and must not stop it)."""
    ray = pytest.importorskip("ray", reason="the optional extra sweep is not installed")
    pytest.importorskip("minatar", reason="the optional extra minatar is not installed")
    ctx = ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        address = ctx.address_info["gcs_address"]
        out = tmp_path / "s"
        cmd = [sys.executable, "-m", "atari_check", "sweep", "--envs", MINATAR, "--algos", "sql", "--seeds", "0",
               "--frames", "320", "--num-envs", "4", "--address", address, "--out", str(out)]
        proc = subprocess.run(cmd, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True,
                              text=True, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "1/1 runs finished" in proc.stdout
        record = json.loads((out / "sweep.json").read_text())
        assert record["invocations"][0]["address"] == address
        assert audit_run(out / run_dir_name(MINATAR, "sql", 0), 320) == []
        assert ray.is_initialized() and ray.get(ray.put(7)) == 7  # the cluster outlived the sweep's driver
    finally:
        ray.shutdown()


def test_ctrl_c_ends_a_sweep_with_the_resume_hint_not_a_traceback(tmp_path, monkeypatch, capsys):
    """Ctrl-C reaches the driver inside ray.wait as KeyboardInterrupt; sweep() records the interrupted runs
    (tested with a real Ray under -m sweep) and the CLI says how to continue, exit code 130 (128 + SIGINT)."""
    import atari_check.sweep as sweep_module
    from atari_check import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_module, "sweep", interrupted)
    code = cli.main(["sweep", "--envs", "CartPole-v1", "--algos", "sql", "--seeds", "0", "--frames", "160",
                     "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 130 and "sweep interrupted" in err and "run the same command again to continue" in err
    assert "Traceback" not in err


def test_sigterm_is_an_interrupt_only_while_the_tasks_run():
    """Inside terminate_as_interrupt a SIGTERM raises Terminated (a KeyboardInterrupt, so sweep()'s clean-up
    runs) instead of ending the driver; a second SIGTERM during the clean-up is ignored; the handler that was
    there before is back afterwards."""
    import atari_check.sweep as sweep_module

    before = signal.getsignal(signal.SIGTERM)
    cleaned_up = False
    with pytest.raises(sweep_module.Terminated) as stopped, sweep_module.terminate_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs at the next bytecode boundary: never reached
        finally:  # sweep()'s clean-up: a second kill must not interrupt it
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            cleaned_up = True
    assert cleaned_up and isinstance(stopped.value, KeyboardInterrupt) and stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    with sweep_module.terminate_as_interrupt():  # and a sweep that ends normally restores it too
        pass
    assert signal.getsignal(signal.SIGTERM) is before
    # ray.wait turns the handler's exception into a plain KeyboardInterrupt: still reported as SIGTERM
    with pytest.raises(sweep_module.Terminated), sweep_module.terminate_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except sweep_module.Terminated:
            raise KeyboardInterrupt from None
    with pytest.raises(KeyboardInterrupt) as ctrl_c, sweep_module.terminate_as_interrupt():  # Ctrl-C stays Ctrl-C
        raise KeyboardInterrupt
    assert not isinstance(ctrl_c.value, sweep_module.Terminated)


def test_sigterm_ends_a_sweep_with_the_resume_hint_and_exit_code_143(tmp_path, monkeypatch, capsys):
    import atari_check.sweep as sweep_module
    from atari_check import cli

    def terminated(*args, **kwargs):
        raise sweep_module.Terminated("signal 15")

    monkeypatch.setattr(sweep_module, "sweep", terminated)
    code = cli.main(["sweep", "--envs", "CartPole-v1", "--algos", "sql", "--seeds", "0", "--frames", "160",
                     "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 143 and "run the same command again to continue" in err and "Traceback" not in err


class _FakeRay:
    """Just enough of Ray's API for sweep(): every task is queued; the first ray.wait lets the first
    submitted run start (it writes its run.json, as run.py does) and is then interrupted, as by Ctrl-C."""

    def __init__(self):
        self.dirs, self.cancelled = {}, []

    def is_initialized(self):
        return False

    def init(self, **kwargs):
        pass

    def shutdown(self):
        pass

    def remote(self, fn):
        fake = self

        class Task:
            def options(self, **kwargs):
                return self

            def remote(self, cfg, out_dir):
                ref = object()
                fake.dirs[ref] = Path(out_dir)
                return ref

        return Task()

    def wait(self, refs, num_returns, timeout):
        time.sleep(0.05)  # past the invocation's start by more than the file system's timestamp granularity
        started = self.dirs[refs[0]]
        started.mkdir(parents=True)
        (started / "run.json").write_text(json.dumps({"status": "running", "frames_done": 0}))
        raise KeyboardInterrupt

    def cancel(self, ref, force):
        self.cancelled.append(ref)


def test_an_interrupted_sweep_records_started_runs_apart_from_queued_ones(tmp_path, monkeypatch):
    """sweep.json names the run that had started as interrupted and the three still queued (each with a run.json
    left by an earlier invocation) as cancelled before they started; every task is cancelled.  Negative controls:
    counting every pending task as interrupted (the old record), or every run with a run.json, fails."""
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    out = tmp_path / "s"
    # a resumed grid: the queued runs have a run.json from an earlier invocation (old mtime)
    for algo, seed in (("a2c-proper", 1), ("sql", 0), ("sql", 1)):
        old = out / run_dir_name("CartPole-v1", algo, seed) / "run.json"
        old.parent.mkdir(parents=True)
        old.write_text(json.dumps({"status": "running", "frames_done": 160}))
        os.utime(old, (time.time() - 3600, time.time() - 3600))
    with pytest.raises(KeyboardInterrupt):
        sweep(Config(num_envs=4), ["CartPole-v1"], ["a2c-proper", "sql"], [0, 1], 800, out, progress=False)
    names = sorted(run_dir_name("CartPole-v1", a, s) for a in ("a2c-proper", "sql") for s in (0, 1))
    first = run_dir_name("CartPole-v1", "a2c-proper", 0)
    invocation = json.loads((out / "sweep.json").read_text())["invocations"][-1]
    assert invocation["interrupted_runs"] == [first]
    assert invocation["cancelled_before_start"] == [n for n in names if n != first]
    assert len(fake.cancelled) == 4 and "ended" in invocation
