"""The bench's statistics on fake timers (known answers), its round structure, and a tiny real run.

Known answers are computed by hand in the tests; the fake contenders advance a fake clock by a
scripted cost per vector step, so every rate is exact up to float summation (~1e-12 relative over
the few thousand additions here; the tolerance 1e-9 leaves room for that, nothing else).
"""

from __future__ import annotations

import json

import pytest

from atari_check import bench as B
from atari_check.cli import main


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Scripted:
    """A contender whose cost per vector step in round r is ``costs[r]`` seconds (fake clock)."""

    def __init__(self, name, clock, costs, log, num_envs=16, phases=None):
        self.name, self.clock, self.costs, self.log, self.num_envs = name, clock, costs, log, num_envs
        self.phases = phases or {}
        self.calls = 0

    def __call__(self, seconds):
        cost = self.costs[self.calls]
        self.calls += 1
        self.log.append(self.name)
        steps, t0 = 0, self.clock()
        while self.clock() - t0 < seconds:
            self.clock.t += cost
            steps += 1
        dt = self.clock() - t0
        phases = {k: f * dt for k, f in self.phases.items()}  # fractions of the measured time
        return B.Measurement(steps * self.num_envs, dt, vector_steps=steps, iterations=steps // 5, phases=phases)


def test_orders_rotate_so_every_contender_leads_equally_often():
    orders = B.rotated_orders(["a", "b", "c"], 6)
    assert orders[:3] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert all(sorted(o) == ["a", "b", "c"] for o in orders)
    assert [o[0] for o in orders].count("a") == 2 and [o[-1] for o in orders].count("a") == 2


def test_rounds_interleave_contenders_in_the_rotated_order():
    clock, log = FakeClock(), []
    contenders = {n: Scripted(n, clock, [1e-3] * 4, log) for n in ("env-only", "a2c-proper", "sql")}
    results, orders = B.run_rounds(contenders, rounds=4, seconds=0.1)
    assert log == [n for o in orders for n in o]  # measured exactly in the recorded order
    assert log[:3] == ["env-only", "a2c-proper", "sql"] and log[3:6] == ["a2c-proper", "sql", "env-only"]
    assert all(r["sql"].steps_per_s == pytest.approx(16_000, rel=1e-9) for r in results)


def test_ratios_are_paired_within_rounds_not_a_ratio_of_medians():
    clock, log = FakeClock(), []
    # steps/s per round: env-only 16k, 32k, 48k ; sb3 16k/2, 16k/... scripted via cost = 1 / (rate / 16)
    rates = {"a2c-proper": [10_000, 20_000, 30_000], "sb3-a2c": [5_000, 5_000, 10_000]}
    contenders = {n: Scripted(n, clock, [16 / r for r in rs], log) for n, rs in rates.items()}
    results, _ = B.run_rounds(contenders, rounds=3, seconds=1.0)
    s = B.summarize(results, n_steps=5, num_envs=16)
    r = s["ratios"]["a2c-proper / sb3-a2c"]
    assert (r["min"], r["median"], r["max"]) == pytest.approx((2.0, 3.0, 4.0), rel=1e-9)  # 2, 4, 3 by round
    assert s["contenders"]["a2c-proper"]["steps_per_s"]["median"] == pytest.approx(20_000, rel=1e-9)
    # negative control: the ratio of the medians (20000 / 5000 = 4) is what a wrong bench would report
    wrong = s["contenders"]["a2c-proper"]["steps_per_s"]["median"] / s["contenders"]["sb3-a2c"]["steps_per_s"]["median"]
    assert wrong == pytest.approx(4.0, rel=1e-9) and r["median"] != pytest.approx(wrong)


def test_serial_limit_from_components_known_answer():
    # n = 5, B = 16: 80 agent steps per iteration; t_env 1 ms, t_act 0.5 ms per vector step, t_train 10 ms
    assert B.serial_limit(1e-3, 0.5e-3, 10e-3, 5, 16) == pytest.approx(80 / 0.0175, rel=1e-12)
    with pytest.raises(ValueError, match="train_s must be a finite time"):
        B.serial_limit(1e-3, 0.5e-3, float("nan"), 5, 16)


def test_summary_limit_and_fraction_known_answer():
    clock, log = FakeClock(), []
    # env-only: 1 ms per vector step.  a2c-proper: 2 ms per vector step, of which 25% acting and 50% learning
    # -> t_act = 0.5 ms per vector step, t_train = 0.5 · 2 ms · 5 = 5 ms per iteration (5 vector steps).
    contenders = {"env-only": Scripted("env-only", clock, [1e-3] * 3, log),
                  "a2c-proper": Scripted("a2c-proper", clock, [2e-3] * 3, log, phases={"act": 0.25, "learn": 0.5})}
    results, _ = B.run_rounds(contenders, rounds=3, seconds=0.1)  # 50 vector steps = 10 iterations, exactly
    s = B.summarize(results, n_steps=5, num_envs=16)
    limit = 80 / (5 * (1e-3 + 0.5e-3) + 5e-3)
    assert s["contenders"]["a2c-proper"]["serial_limit_steps_per_s"]["median"] == pytest.approx(limit, rel=1e-9)
    assert s["ratios"]["a2c-proper / serial limit"]["median"] == pytest.approx(8000 / limit, rel=1e-9)
    assert s["ratios"]["a2c-proper / env-only"]["median"] == pytest.approx(0.5, rel=1e-9)
    assert s["contenders"]["env-only"]["env_step_ms"]["median"] == pytest.approx(1.0, rel=1e-9)


def test_one_round_is_never_a_result():
    """Negative controls: fewer than 3 rounds, or a round that skipped a contender, is refused."""
    clock, log = FakeClock(), []
    contenders = {n: Scripted(n, clock, [1e-3] * 3, log) for n in ("env-only", "sql")}
    with pytest.raises(ValueError, match="rounds must be >= 3"):
        B.run_rounds(contenders, rounds=1, seconds=0.1)
    results, _ = B.run_rounds(contenders, rounds=3, seconds=0.1)
    with pytest.raises(ValueError, match="rounds must be >= 3"):
        B.summarize(results[:1], 5, 16)
    del results[1]["sql"]
    with pytest.raises(ValueError, match="round 1 measured .* interleaved"):
        B.summarize(results, 5, 16)


def test_cli_refuses_a_single_round(capsys):
    assert main(["bench", "--env", "MinAtar/Breakout-v1", "--rounds", "1"]) == 2
    assert "rounds must be >= 3" in capsys.readouterr().err


def test_tiny_real_bench_on_minatar_writes_provenance(tmp_path, capsys):
    pytest.importorskip("minatar", reason="the optional extra minatar is not installed")
    out = tmp_path / "bench.json"
    assert main(["bench", "--env", "MinAtar/Breakout-v1", "--num-envs", "2", "--rounds", "3", "--seconds", "0.02",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "a2c-proper / serial limit" in text and all(len(line) <= 120 for line in text.splitlines())
    result = json.loads(out.read_text())
    assert result["schema"] == B.BENCH_SCHEMA and len(result["per_round"]) == 3 and len(result["orders"]) == 3
    assert result["provenance"]["git_commit"] and result["config"]["env"] == "MinAtar/Breakout-v1"
    for name in ("env-only", "a2c-proper", "sql"):
        assert result["summary"]["contenders"][name]["steps_per_s"]["n"] == 3


# ---------------------------------------------------------------- whole processes vs sb3's own stack


def test_process_ratios_are_paired_within_rounds_known_answer():
    # sb3 takes 10, 12, 30 s; ours 8, 10, 12 s: per-round speed ratios 1.25, 1.2, 2.5 -> median 1.25.
    # The ratio of median walls would be 12/10 = 1.2, and of mean speeds 1.34: neither is reported.
    results = [{"a2c-proper": 8.0, B.SB3_STACK: 10.0}, {"a2c-proper": 10.0, B.SB3_STACK: 12.0},
               {"a2c-proper": 12.0, B.SB3_STACK: 30.0}]
    s = B.summarize_processes(results, agent_steps=800)
    r = s["ratios"][f"a2c-proper / {B.SB3_STACK}"]
    assert (r["min"], r["median"], r["max"]) == (1.2, 1.25, 2.5)
    assert s["contenders"]["a2c-proper"]["steps_per_s"]["median"] == 80.0  # 800 / 10 s
    with pytest.raises(ValueError, match="rounds must be >= 3"):
        B.summarize_processes(results[:2], agent_steps=800)
    with pytest.raises(ValueError, match="every round must time every contender"):
        B.summarize_processes(results[:2] + [{"a2c-proper": 1.0}], agent_steps=800)


def test_time_processes_rotates_times_each_process_and_names_a_failure(tmp_path):
    import sys

    log = tmp_path / "log"

    def cmd(name, code=0):
        return lambda d: [sys.executable, "-c", (f"open({str(log)!r}, 'a').write({name!r} + ' ');"
                                                 f"import os; assert os.path.isdir({d!r}); raise SystemExit({code})")]

    clock_calls = iter(range(100))
    results, orders = B.time_processes({"a": cmd("a"), "b": cmd("b")}, rounds=3,
                                       clock=lambda: float(next(clock_calls)))
    assert orders == [["a", "b"], ["b", "a"], ["a", "b"]]
    assert log.read_text().split() == ["a", "b", "b", "a", "a", "b"]
    assert results == [{"a": 1.0, "b": 1.0}] * 3  # each timed between its own two clock readings
    with pytest.raises(RuntimeError, match=r"bench: b exited with 3 in round 1"):
        B.time_processes({"a": cmd("a"), "b": cmd("b", code=3)}, rounds=3)


def test_process_commands_do_the_same_agent_steps_on_both_sides():
    from atari_check.config import Config

    cfg = Config(env="pong", num_envs=16, n_steps=5, lr_schedule="constant")
    cmds = B.process_commands(cfg, agent_steps=1600)
    ours = cmds["a2c-proper"]("/scratch")
    assert ours[1:7] == ["-m", "atari_check", "run", "--out", "/scratch/run", "--no-progress"]
    opts = dict(zip(ours[7::2], ours[8::2]))
    assert opts["--frames"] == "6400" and opts["--lockstep-interval"] == "0"
    assert "--algo" not in opts and Config().algo == "a2c-proper"  # the default algo is not repeated
    assert opts["--lr-schedule"] == "constant" and "--num-envs" not in opts  # defaults are not repeated
    assert cmds["sql"]("/s")[cmds["sql"]("/s").index("--algo") + 1] == "sql"
    sb3 = cmds[B.SB3_STACK]("/scratch")
    assert sb3[1] == "-c" and sb3[3:] == ["PongNoFrameskip-v4", "16", "5", "1600"]
    for bad in (0, 79, 1601):
        with pytest.raises(ValueError, match="agent_steps must be a positive multiple of n_steps × num_envs = 80"):
            B.process_commands(cfg, agent_steps=bad)
    with pytest.raises(ValueError, match="env must be an Atari game, got 'CartPole-v1'"):
        B.process_commands(cfg.replace(env="CartPole-v1"), agent_steps=1600)


def test_config_argv_round_trips_through_the_run_parser():
    from atari_check.cli import _config_from, build_parser
    from atari_check.config import Config

    cfg = Config(env="pong", algo="sql", frames=3200, num_envs=8, life_loss_terminal=False, tau=0.02, seed=3)
    args = build_parser().parse_args(["run", "--out", "x", *B.config_argv(cfg)])
    assert _config_from(args) == cfg


def test_bench_processes_refuses_a_non_cpu_device():
    pytest.importorskip("stable_baselines3")
    from atari_check.config import Config

    with pytest.raises(ValueError, match="device must be 'cpu', got 'cuda'"):
        B.bench_processes(Config(env="pong", device="cuda"), agent_steps=80)
