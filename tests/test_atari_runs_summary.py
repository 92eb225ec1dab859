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
    s = summary_script.summarise(tmp_path)["MinAtar/Breakout-v1 | sql"]
    assert s["runs"] == 3 and s["status"] == {"finished": 2, "running": 1} and s["seeds"] == [0, 1, 2]
    assert s["elapsed_s"] == {"sum": 450.0, "min": 50.0, "max": 300.0}
    assert s["frames_per_s"] == {"min": 1000.0, "median": 2000.0, "max": 3000.0}
    assert s["segments"] == 4 and s["git_commit"] == ["abc", "def"]
    assert s["first_start"].startswith("2026-12-01T20") and s["last_end"].startswith("2026-12-01T23")
    table = summary_script.format_summary(summary_script.summarise(tmp_path))
    row = next(line for line in table.splitlines() if line.startswith("MinAtar/Breakout-v1"))
    assert row.split()[1:6] == ["sql", "3", "2", "0.12", "1000"]  # 3 runs, 2 finished, 450 s, slowest fr/s
    assert row.endswith("12-01 20:00 – 12-01 23:00")
    assert max(len(line) for line in table.splitlines()) <= 120
    with pytest.raises(ValueError, match="no run.json below"):
        summary_script.summarise(tmp_path / "a" / "nothing")
