"""atari_check/scripts/runs_summary.py: known answers on hand-made run.json files (plain and gzipped)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "atari_check" / "scripts" / "runs_summary.py"


@pytest.fixture(scope="module")
def summary_script():
    spec = importlib.util.spec_from_file_location("runs_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_json(path, seed, status, elapsed, fps, segments, commit="abc", gz=False, start="2026-12-01T21:00:00+00:00",
              end="2026-12-01T22:00:00+00:00"):
    info = {"status": status, "label": "sql", "config": {"env": "MinAtar/Breakout-v1", "seed": seed},
            "frames_done": 100, "elapsed_s": elapsed, "frames_per_s": fps, "segments": [{}] * segments,
            "start_time": start, "end_time": end,
            "provenance": {"git_commit": commit, "git_dirty": False, "torch": "2.13.0+cpu", "device_name": "CPU"}}
    path.mkdir(parents=True)
    if gz:
        with gzip.open(path / "run.json.gz", "wt") as f:
            json.dump(info, f)
    else:
        (path / "run.json").write_text(json.dumps(info))


def test_summary_known_answers(summary_script, tmp_path):
    _run_json(tmp_path / "a" / "seed0", 0, "finished", 100.0, 3000.0, 1)
    _run_json(tmp_path / "a" / "seed1", 1, "finished", 300.0, 1000.0, 2, gz=True, end="2026-12-01T23:00:00+00:00")
    _run_json(tmp_path / "a" / "seed2", 2, "running", 50.0, 2000.0, 1, commit="def",
              start="2026-12-01T20:00:00+00:00")
    first = summary_script.summarise(tmp_path)["MinAtar/Breakout-v1 | sql"]
    assert first["status"] == {"finished": 2, "running": 1} and first["last_end"] == ""  # seed 2 still runs
    info = json.loads((tmp_path / "a" / "seed2" / "run.json").read_text())
    (tmp_path / "a" / "seed2" / "run.json").write_text(json.dumps({**info, "status": "finished"}))
    s = summary_script.summarise(tmp_path)["MinAtar/Breakout-v1 | sql"]
    assert s["runs"] == 3 and s["status"] == {"finished": 3} and s["seeds"] == [0, 1, 2]
    assert s["elapsed_s"] == {"sum": 450.0, "min": 50.0, "max": 300.0}
    assert s["frames_per_s"] == {"min": 1000.0, "median": 2000.0, "max": 3000.0}
    assert s["segments"] == 4 and s["git_commit"] == ["abc", "def"]
    assert s["first_start"].startswith("2026-12-01T20") and s["last_end"].startswith("2026-12-01T23")
    table = summary_script.format_summary(summary_script.summarise(tmp_path))
    row = next(line for line in table.splitlines() if line.startswith("MinAtar/Breakout-v1"))
    assert row.split()[1:6] == ["sql", "3", "3", "0.12", "1000"]  # 3 runs, 3 finished, 450 s, slowest fr/s
    assert row.endswith("12-01 20:00 – 12-01 23:00")
    assert max(len(line) for line in table.splitlines()) <= 120
    with pytest.raises(ValueError, match="no run.json below"):
        summary_script.summarise(tmp_path / "a" / "nothing")


def test_lockstep_summary_known_answers_and_the_committed_cartpole_numbers(summary_script, tmp_path):
    """Hand-made lockstep rows: the max, median and min are the ones written.  On the committed CartPole runs it
    gives the numbers atari_check/results/cpu/README.md states (2,040 per pair; max 5.2e-12 and 2.6e-12)."""
    header = "frames,update,pair,cos_sampled,rel_diff_sampled,cos_expected,rel_diff_expected,decomposition_residual\n"
    # NaN first and in the middle: a plain max/sorted would report nan, or 0.5 as the minimum
    for seed, (cos, rel) in enumerate([(float("nan"), float("nan")), (0.5, 1e-12), (float("nan"), 3e-12),
                                       (0.9, 1e-13), (-0.2, 2e-13)]):
        _run_json(tmp_path / f"seed{seed}", seed, "finished", 1.0, 1.0, 1)
        (tmp_path / f"seed{seed}" / "lockstep.csv").write_text(header + f"80,1,pg_vs_sql,{cos},0,1,{rel},{rel / 2}\n")
    got = summary_script.summarise_lockstep(tmp_path)["MinAtar/Breakout-v1 | pg_vs_sql"]
    assert got == {"diagnostics": 5, "max_rel_diff_expected": 3e-12, "max_decomposition_residual": 1.5e-12,
                   "median_cos_sampled": 0.5, "min_cos_sampled": -0.2,
                   "nan": {"cos_sampled": 2, "rel_diff_expected": 1, "decomposition_residual": 1}}
    assert max(len(line) for line in summary_script.format_lockstep({"a | b": got}).splitlines()) <= 120
    cpu = summary_script.summarise_lockstep(SCRIPT.parents[1] / "results" / "cpu" / "runs")
    pg, a2c = cpu["CartPole-v1 | pg_vs_sql"], cpu["CartPole-v1 | a2c_vs_sql_matched"]
    assert pg["diagnostics"] == a2c["diagnostics"] == 2040  # the README: 2,040 diagnostics per pair
    # the README's numbers, to the digits it prints (rel 0.05 on 2 significant digits; abs 5e-7 / 5e-3 on 6 / 2 dp)
    assert pg["max_rel_diff_expected"] == pytest.approx(5.2e-12, rel=0.05)
    assert a2c["max_rel_diff_expected"] == pytest.approx(2.6e-12, rel=0.05)
    assert pg["median_cos_sampled"] == pytest.approx(0.999998, abs=5e-7)
    assert a2c["median_cos_sampled"] == pytest.approx(0.999996, abs=5e-7)
    assert pg["min_cos_sampled"] == pytest.approx(-0.92, abs=5e-3)
    assert a2c["min_cos_sampled"] == pytest.approx(-0.27, abs=5e-3)
