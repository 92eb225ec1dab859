"""The committed MinAtar evidence (atari_check/results/minatar/, issue 13) is complete and consistent with its data.

Nothing is re-trained.  Skipped until the grid's compare.json is committed; then, behind ``-m slow`` (reading the
40 runs' episodes takes a few seconds): compare.json is exactly what ``atari_check compare --rules 3`` computes from
the committed per-run metrics; the grid is whole (2 games × 4 algorithms × seeds 0–4, every run finished at 2M
frames, no other run); every run ran the registration commit, clean, and started after rules v3 were registered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atari_check.compare import V3_REGISTERED, compare

RESULTS = Path(__file__).resolve().parent.parent / "atari_check" / "results" / "minatar"
GAMES = ("MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1")
ALGOS = ("a2c-proper", "sql", "sql-unscaled", "a2c-naive")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (RESULTS / "compare.json").exists(), reason="no committed MinAtar results")]


def _strip(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for key in ("generated", "git_commit", "dirs"):
        doc["provenance"].pop(key, None)
    for run in doc["runs"]:
        run["dir"] = Path(run["dir"]).relative_to(Path(run["dir"]).parents[2]).as_posix()
    return doc


def test_compare_json_is_reproduced_from_the_committed_runs():
    stored = json.loads((RESULTS / "compare.json").read_text())
    assert _strip(compare([RESULTS / "runs"], rules=3)) == _strip(stored)


def test_the_committed_grid_is_whole_and_ran_the_registered_code_after_the_registration():
    import datetime as dt

    runs = [json.loads(p.read_text()) for p in sorted((RESULTS / "runs").rglob("run.json"))]
    cells = sorted((r["config"]["env"], r["config"]["algo"], r["config"]["seed"]) for r in runs)
    assert cells == sorted((g, a, s) for g in GAMES for a in ALGOS for s in range(5))
    registered = dt.datetime.fromisoformat(V3_REGISTERED)
    for r in runs:
        assert r["status"] == "finished" and r["frames_done"] == 2_000_000, r["label"]
        assert r["provenance"]["git_commit"].startswith("8140643") and r["provenance"]["git_dirty"] is False
        assert dt.datetime.fromisoformat(r["start_time"]) > registered
