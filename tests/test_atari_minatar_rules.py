"""Decision rules v3 (the MinAtar registration, issue 13 §4): margins from the pilot, registered before the runs.

* The derivation (atari_check/scripts/minatar_margins.py) follows the rule written in
  results/minatar/pilot/README.md before the pilot's numbers were read: checked on hand-computed inputs,
  the ≥ 10 % fallback and the rounding edge included, and on synthetic pilots through ``load_runs``.
* The registered numbers (``compare.SCORE_RANGES`` and ``compare.MINATAR_V3_MARGINS``) are what the
  derivation gives on the committed pilot, to the last bit: a changed pilot or a hand-edited margin fails.
* Pre-registration at the second: a run that started before ``V3_REGISTERED`` on the same day is post hoc.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from atari_check import compare as cmp
from tests.test_atari_stats import _fake_run

SCRIPT = Path(cmp.__file__).parent / "scripts" / "minatar_margins.py"


@pytest.fixture(scope="module")
def margins_script():
    spec = importlib.util.spec_from_file_location("minatar_margins", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("margin", "low", "high", "expected"), [
    (0.7, 0.0, 10.0, (0.07, False)),      # 100·0.7/10 = 7.000000000000001 in float64: still 0.07
    (0.71, 0.0, 10.0, (0.08, False)),     # 7.1 → ⌈⌉ = 8
    (0.01, 0.5, 10.5, (0.01, False)),
    (0.99, 0.0, 10.0, (0.1 - 0.01, True)),  # 9.9 → 10 → ≥ 10 %: the fallback 0.09
    (1.0, 0.0, 10.0, (0.09, True)),       # exactly 10 %: the fallback (the rule says ≥)
    (0.9, 0.0, 10.0, (0.09, False)),      # exactly 9 %: kept, not capped
])
def test_margin_fraction_follows_the_written_rule(margins_script, margin, low, high, expected):
    f, capped = margins_script.margin_fraction(margin, low, high)
    assert (f, capped) == (pytest.approx(expected[0], abs=1e-15), expected[1])


@pytest.mark.parametrize(("margin", "low", "high", "message"), [
    (1.0, 5.0, 5.0, "high must exceed low"), (1.0, 5.0, 4.0, "high must exceed low"),
    (0.0, 0.0, 1.0, "margin must be finite and > 0"), (math.nan, 0.0, 1.0, "margin must be finite"),
])
def test_margin_fraction_refuses_a_pilot_that_does_not_learn_or_a_bad_margin(margins_script, margin, low, high,
                                                                           message):
    with pytest.raises(ValueError, match=message):
        margins_script.margin_fraction(margin, low, high)


def _pilot(root: Path, env: str, finals: list[float], control: list[float]) -> Path:
    """Runs whose every episode scores the given level (so final_score = auc = level)."""
    for seed, level in zip((100, 101, 102), finals):
        _fake_run(root, "a2c-proper", seed, [level] * 10, env=env)
    for seed, level in zip((100,), control):
        _fake_run(root, "sql-unscaled", seed, [level] * 10, env=env)
    return root


def test_derive_on_a_synthetic_pilot_by_hand(margins_script, tmp_path):
    env = "MinAtar/Breakout-v1"
    random = tmp_path / "random.json"
    random.write_text(json.dumps({"scores": {env: {"mean": 0.5}}}))
    runs = _pilot(tmp_path / "runs", env, [10.0, 11.0, 12.0], [1.0])
    got = margins_script.derive(runs, random)["games"][env]
    # s = sd(10, 11, 12) = 1, M = 2, range = 11 − 0.5 = 10.5, 100·2/10.5 = 19.05 → 20 % ≥ 10 %: fallback 0.09
    assert got["low"] == 0.5 and got["high"] == 11.0 and got["s"] == 1.0 and got["margin"] == 2.0
    assert (got["fraction"], got["capped"]) == (0.09, True)
    assert got["registered_margin"] == pytest.approx(0.09 * 10.5, rel=1e-15)
    assert got["control_final_scores"] == [1.0] and got["control_within_margin"] == [False]
    tight = margins_script.derive(_pilot(tmp_path / "tight", env, [10.9, 11.0, 11.1], [10.0]), random)["games"][env]
    # s = 0.1, M = 0.2, 100·0.2/10.5 = 1.90 → 0.02; the control at 10.0 is 1.0 away: outside M
    assert (tight["fraction"], tight["capped"]) == (0.02, False)
    assert tight["s"] == pytest.approx(0.1, rel=1e-12)


def test_derive_refuses_a_pilot_with_the_wrong_number_of_seeds(margins_script, tmp_path):
    env = "MinAtar/Breakout-v1"
    random = tmp_path / "random.json"
    random.write_text(json.dumps({"scores": {env: {"mean": 0.5}}}))
    runs = tmp_path / "runs"
    for seed in (100, 101):
        _fake_run(runs, "a2c-proper", seed, [10.0 + seed] * 10, env=env)
    with pytest.raises(ValueError, match="needs 3 a2c-proper pilot runs, found 2"):
        margins_script.derive(runs, random)


def test_the_registered_minatar_numbers_are_what_the_rule_gives_on_the_committed_pilot(margins_script):
    derived = margins_script.derive()
    assert set(derived["games"]) == set(cmp.MINATAR_V3_MARGINS) == {"MinAtar/Breakout-v1",
                                                                      "MinAtar/SpaceInvaders-v1"}
    for env, g in derived["games"].items():
        assert cmp.MINATAR_V3_MARGINS[env] == g["fraction"], env
        assert cmp.SCORE_RANGES[env] == (g["low"], g["high"]), env
        assert cmp.DECISION_RULES[3].margins[env] == g["fraction"]
    committed = json.loads((margins_script.PILOT_DIR.parent / "margins.json").read_text())
    assert committed["games"] == json.loads(json.dumps(derived["games"]))


def test_v3_is_v2_re_dated_plus_the_second_sensitivity_control():
    v2, v3 = cmp.DECISION_RULES[2], cmp.DECISION_RULES[3]
    assert cmp.LATEST_RULES == 3 and (v3.alpha, v3.margin_fraction) == (v2.alpha, v2.margin_fraction)
    assert v3.tests[:-1] == tuple(dataclasses.replace(t, registered=cmp.V3_REGISTERED) for t in v2.tests)
    extra = v3.tests[-1]
    assert (extra.id, extra.a, extra.b, extra.kind, extra.role, extra.expected) == (
        "sensitivity_unscaled", "a2c-proper", "sql-unscaled", "difference", "sensitivity", "different")
    assert cmp.V3_REGISTERED.endswith("+00:00") and "T" in cmp.V3_REGISTERED


def _started(d: Path, when: str) -> None:
    info = json.loads((d / "run.json").read_text())
    info["start_time"] = when
    (d / "run.json").write_text(json.dumps(info))


@pytest.mark.parametrize(("offset_s", "expected"), [(-1, False), (0, True), (1, True)])
def test_v3_preregistration_is_decided_at_the_second(tmp_path, monkeypatch, offset_s, expected):
    """A run started one second before V3_REGISTERED (same day) is post hoc; at or after it, pre-registered.
    Negative control: date granularity, v2's rule, would call all three pre-registered."""
    import datetime as dt

    monkeypatch.setattr(cmp, "N_BOOT", 100)
    when = (dt.datetime.fromisoformat(cmp.V3_REGISTERED) + dt.timedelta(seconds=offset_s)).isoformat()
    rng = np.random.default_rng(0)
    for seed in range(3):
        for algo in ("a2c-proper", "sql"):
            _started(_fake_run(tmp_path, algo, seed, [10 + rng.normal(0, 0.1)] * 5, env="CartPole-v1"), when)
    by = {(c["test"], c["metric"]): c for c in cmp.compare([tmp_path], rules=3)["comparisons"]}
    assert by[("fig3_equiv", "auc")]["preregistered"] is expected
    by_date = {(c["test"], c["metric"]): c for c in cmp.compare([tmp_path], rules=2)["comparisons"]}
    assert by_date[("fig3_equiv", "auc")]["preregistered"] is True


def test_expected_tost_power_known_answers(margins_script):
    """At M = (t₀.₉₅,₈ + z₀.₉₀) · √(2/5) · sd the power is 2Φ(z₀.₉₀) − 1 = 0.8 (the rule's "about 80 %" for
    M = 2 s: 1.987 s); a margin inside the CI half-width has power 0, never a negative number."""
    from scipy import stats

    se = math.sqrt(2 / 5)
    m80 = (stats.t.ppf(0.95, 8) + stats.norm.ppf(0.9)) * se
    assert m80 == pytest.approx(1.987, abs=1e-3)
    assert margins_script.expected_tost_power(m80, 1.0) == pytest.approx(0.8, abs=1e-12)
    assert margins_script.expected_tost_power(2.0, 1.0) == pytest.approx(0.8, abs=0.01)
    assert margins_script.expected_tost_power(1.0, 1.0) == 0.0  # 1.0 < 1.860 · 0.632 = 1.176
    assert margins_script.expected_tost_power(1.0, 0.0) == 1.0  # no spread: the CI is the point 0


def test_store_runs_keeps_finished_runs_whole_skips_the_rest_and_never_overwrites(tmp_path):
    """The helper that moves sweep results into the repo: finished runs only, metrics byte-identical once
    unzipped (and read back by compare.read_metrics), checkpoints left behind, an existing target refused
    before anything is written."""
    import gzip

    spec = importlib.util.spec_from_file_location("store_runs", SCRIPT.parent / "store_runs.py")
    store = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(store)
    src = tmp_path / "sweep"
    done = _fake_run(src / "MinAtar_Breakout-v1", "a2c-proper", 0, [1.0, 2.0], env="MinAtar/Breakout-v1")
    _fake_run(src / "MinAtar_Breakout-v1", "sql", 0, [1.0], env="MinAtar/Breakout-v1", status="running")
    for name in ("updates.csv", "lockstep.csv"):
        (done / name).write_text(f"frames,{name}\n1,2\n")
    (done / "checkpoint.pt").write_bytes(b"x")
    stored, skipped = store.store_runs(src, tmp_path / "repo")
    assert [p.relative_to(tmp_path / "repo").as_posix() for p in stored] == ["MinAtar_Breakout-v1/a2c-proper/seed0"]
    assert [p.name for p in skipped] == ["seed0"] and skipped[0].parent.name == "sql"
    out = stored[0]
    assert sorted(p.name for p in out.iterdir()) == ["episodes.csv.gz", "lockstep.csv.gz", "run.json",
                                                      "updates.csv.gz"]
    for name in ("episodes.csv", "updates.csv", "lockstep.csv"):
        assert gzip.decompress((out / f"{name}.gz").read_bytes()) == (done / name).read_bytes()
    assert cmp.read_metrics(out / "episodes.csv") == cmp.read_metrics(done / "episodes.csv")
    before = (out / "run.json").read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite 1 stored run"):
        store.store_runs(src, tmp_path / "repo")
    assert (out / "run.json").read_bytes() == before
    (done / "lockstep.csv").unlink()  # a finished run with a metrics file missing: nothing is written
    with pytest.raises(FileNotFoundError, match="1 file"):
        store.store_runs(src, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_a_start_time_without_utc_offset_is_refused_not_guessed():
    test = cmp.DECISION_RULES[3].tests[0]
    assert cmp._preregistered(test, "2026-12-01T21:00:00+00:00", override=False) is True
    with pytest.raises(ValueError, match="has no UTC offset"):
        cmp._preregistered(test, "2026-12-01T21:00:00", override=False)


def test_the_evidence_script_refuses_to_store_a_partial_grid(tmp_path):
    """`minatar_evidence.sh store` on a sweep with 1 of 40 runs finished stores nothing and says why."""
    import subprocess

    _fake_run(tmp_path / "sweep" / "MinAtar_Breakout-v1", "a2c-proper", 0, [1.0], env="MinAtar/Breakout-v1")
    import os

    script = SCRIPT.parent / "minatar_evidence.sh"
    env = {**os.environ, "RESULTS": str(tmp_path / "results")}  # never the repository's results tree
    done = subprocess.run(["bash", str(script), "store", str(tmp_path / "sweep")], capture_output=True, text=True,
                          check=False, env=env)
    assert done.returncode == 3 and "1 of 40 runs finished: a partial grid is not stored" in done.stderr
    assert not (tmp_path / "results").exists()
    bad = subprocess.run(["bash", str(script), "nonsense", "x"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "step must be grid or store" in bad.stderr
    one = subprocess.run(["bash", str(script), "store", str(tmp_path / "sweep"), "MinAtar/Breakout-v1"],
                         capture_output=True, text=True, check=False, env=env)
    assert one.returncode == 3 and "1 of 20 runs of MinAtar/Breakout-v1 finished: a partial game" in one.stderr
    assert not (tmp_path / "results").exists()
    typo = subprocess.run(["bash", str(script), "store", str(tmp_path / "sweep"), "MinAtar/Breakout"],
                          capture_output=True, text=True, check=False, env=env)
    assert typo.returncode == 2 and "game must be one of" in typo.stderr and "got MinAtar/Breakout" in typo.stderr


def _finished_game(sweep, env, rng):
    """A fake finished game of the grid: 4 algorithms × seeds 0–4 with every metrics file store_runs copies."""
    for algo, level in (("a2c-proper", 5.0), ("sql", 5.0), ("sql-unscaled", 1.0), ("a2c-naive", 5.0)):
        for seed in range(5):
            d = _fake_run(sweep / env.replace("/", "_"), algo, seed, list(level + rng.normal(0, 0.1, 20)), env=env)
            (d / "updates.csv").write_text("frames,update\n1000,1\n")
            (d / "lockstep.csv").write_text("frames,update,pair,cos_sampled,rel_diff_sampled\n")  # no rows


@pytest.mark.slow
def test_the_evidence_script_stores_one_finished_game_and_never_over_a_stored_one(tmp_path):
    """`store DIR GAME` with Breakout's 20 runs finished (SpaceInvaders not): the 20 runs are stored and compared.
    Storing it again is refused and leaves the stored bytes as they were; the full form still refuses the partial
    grid.  Once SpaceInvaders is finished too, the full form refuses (storing nothing) while the sweep's record is
    missing or differs from a stored one, and while a stored game is incomplete (a store stopped midway); then
    it keeps Breakout as stored and adds the rest."""
    import os
    import shutil
    import subprocess

    rng = np.random.default_rng(0)
    sweep, results = tmp_path / "sweep", tmp_path / "results"
    _finished_game(sweep, "MinAtar/Breakout-v1", rng)
    _fake_run(sweep / "MinAtar_SpaceInvaders-v1", "a2c-proper", 0, [1.0], env="MinAtar/SpaceInvaders-v1",
              status="running")
    script = SCRIPT.parent / "minatar_evidence.sh"
    env = {**os.environ, "RESULTS": str(results)}

    def store(*game):
        return subprocess.run(["bash", str(script), "store", str(sweep), *game], capture_output=True, text=True,
                              check=False, env=env)

    def stored_bytes(pattern="runs/**/*"):
        return {p: p.read_bytes() for p in results.glob(pattern) if p.is_file()}

    first = store("MinAtar/Breakout-v1")
    assert first.returncode == 0, first.stderr
    stored = sorted(results.glob("runs/MinAtar_Breakout-v1/*/seed*/run.json"))
    assert len(stored) == 20 and not list(results.glob("runs/MinAtar_SpaceInvaders-v1"))
    envs = {c["env"] for c in json.loads((results / "compare.json").read_text())["comparisons"]}
    assert envs == {"MinAtar/Breakout-v1"}
    before = stored_bytes()
    again = store("MinAtar/Breakout-v1")
    assert again.returncode == 3 and "MinAtar/Breakout-v1 is stored already" in again.stderr
    assert stored_bytes() == before
    both = store("MinAtar/Breakout-v1 MinAtar/SpaceInvaders-v1")
    assert both.returncode == 2 and "one game at a time" in both.stderr
    whole = store()
    assert whole.returncode == 3 and "20 of 40 runs finished: a partial grid is not stored" in whole.stderr

    shutil.rmtree(sweep / "MinAtar_SpaceInvaders-v1")
    _finished_game(sweep, "MinAtar/SpaceInvaders-v1", rng)
    missing = store()
    assert missing.returncode == 3 and "sweep.json is missing" in missing.stderr and stored_bytes() == before
    (sweep / "sweep.json").write_text("{}")
    (results / "sweep.json").write_text('{"another": "sweep"}')
    differs = store()
    assert differs.returncode == 3 and "differs from" in differs.stderr and stored_bytes() == before
    (results / "sweep.json").unlink()
    half = results / "runs" / "MinAtar_Breakout-v1" / "sql"
    shutil.move(half, tmp_path / "moved-sql")  # as if the first store had stopped before its sql runs
    killed = store()
    assert killed.returncode == 3 and "holds 15 of 20 stored runs of MinAtar/Breakout-v1" in killed.stderr
    assert not list(results.glob("runs/MinAtar_SpaceInvaders-v1"))
    shutil.move(tmp_path / "moved-sql", half)
    done = store()
    assert done.returncode == 0, done.stderr
    assert "MinAtar/Breakout-v1: stored before, kept" in done.stderr
    assert len(list(results.glob("runs/*/*/seed*/run.json"))) == 40 and (results / "sweep.json").read_text() == "{}"
    assert stored_bytes("runs/MinAtar_Breakout-v1/**/*") == before
    envs = {c["env"] for c in json.loads((results / "compare.json").read_text())["comparisons"]}
    assert envs == {"MinAtar/Breakout-v1", "MinAtar/SpaceInvaders-v1"}


def test_the_spread_is_the_larger_of_the_two_metrics_sds(margins_script, tmp_path):
    """Runs whose last episodes all score 10 (final_score SD 0) but whose early episodes differ by seed
    (auc SD 0.9): s must be the auc SD, not the final_score one.  Episode i of 20 ends in frame bin i."""
    env = "MinAtar/Breakout-v1"
    random = tmp_path / "random.json"
    random.write_text(json.dumps({"scores": {env: {"mean": 0.5}}}))
    for seed, early in zip((100, 101, 102), (8.0, 9.0, 10.0)):
        _fake_run(tmp_path / "runs", "a2c-proper", seed, [early] * 18 + [10.0] * 2, env=env)
    got = margins_script.derive(tmp_path / "runs", random)["games"][env]
    assert got["sd"]["final_score"] == 0.0 and got["high"] == 10.0
    assert got["sd"]["auc"] == pytest.approx(0.9, rel=1e-12)  # auc = (18·early + 20) / 20
    assert got["s"] == got["sd"]["auc"] and got["margin"] == pytest.approx(1.8, rel=1e-12)


def test_a_pilot_summary_is_never_written_into_the_results_tree(tmp_path):
    """compare's default --out for the pilot runs would be results/minatar/pilot/, where the claims registry
    collects compare.json files: refused, naming the reason; an --out outside the results tree is accepted."""
    pilot = Path(cmp.__file__).parent / "results" / "minatar" / "pilot" / "v3"
    with pytest.raises(ValueError, match="inside a pilot folder"):
        cmp.check_out_dir(pilot.parent, [pilot])
    assert cmp.check_out_dir(tmp_path / "pilot-summary", [pilot]) == tmp_path / "pilot-summary"
