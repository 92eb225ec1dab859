"""The committed CPU-scale evidence (atari_check/results/cpu/) is complete and consistent with its raw data.

These tests do not re-train anything: they check that compare.json is exactly what
``atari_check compare`` computes from the committed per-run metrics, that the switch of the
statistics to scipy left the committed verdicts and numbers as the hand-written implementation
produced them (tests/data/compare_cpu_pre_scipy.json, commit 2519830), that every run finished
with the same code, and that every lockstep diagnostic recorded during training satisfies
the float64 tolerance of tests/test_atari_lockstep.py.  The verdicts themselves are the
measured outcome and are asserted as recorded (a re-run that changes them must update the
README together with the data).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from atari_check.compare import compare, read_metrics

RESULTS = Path(__file__).resolve().parent.parent / "atari_check" / "results" / "cpu"
PRE_SCIPY = Path(__file__).resolve().parent / "data" / "compare_cpu_pre_scipy.json"

pytestmark = pytest.mark.skipif(not (RESULTS / "compare.json").exists(), reason="no committed CPU results")


def _strip(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for key in ("generated", "git_commit", "dirs"):
        doc["provenance"].pop(key, None)
    for run in doc["runs"]:
        run["dir"] = Path(run["dir"]).name + "@" + Path(run["dir"]).parent.name
    return doc


@pytest.fixture(scope="module")
def recomputed() -> dict:
    # The committed file was computed under rules v2 (v3, the MinAtar registration, came later).
    return compare([RESULTS / "runs"], rules=2)


def test_compare_json_is_reproduced_from_the_committed_runs(recomputed):
    stored = json.loads((RESULTS / "compare.json").read_text())
    assert _strip(recomputed) == _strip(stored)


def _close(new: float, old: float, rel: float, abs_: float = 0.0) -> bool:
    return math.isclose(new, old, rel_tol=rel, abs_tol=abs_)


def test_the_scipy_switch_left_the_committed_verdicts_and_numbers_unchanged(recomputed):
    """Same verdicts; tolerances: diff, se, df, group means: 1e-12 relative (the same float64
    sums); Welch CIs 1e-11 relative (the old t quantile was a bisection to 1e-12 relative);
    p-values 1e-12 absolute (the old code formed upper tails as 1 − CDF, so it resolves nothing
    below ~1e-16 and its incomplete beta was accurate to ~1e-12); bootstrap CIs 1e-12 relative
    (scipy.stats.bootstrap draws the same resample indices from default_rng(0) as the old code;
    only the summation order differs)."""
    old = json.loads(PRE_SCIPY.read_text())
    new = {(c["a"], c["b"], c["role"], c["metric"]): c for c in recomputed["comparisons"]}
    assert len(old["comparisons"]) == 4
    for o in old["comparisons"]:
        n = new[(o["a"], o["b"], o["role"], o["metric"])]
        assert n["verdict"] == o["verdict"] and n["as_expected"] == o["as_expected"]
        assert n["margin"] == o["margin"] and n["alpha"] == o["alpha"] and (n["n_a"], n["n_b"]) == (o["n_a"], o["n_b"])
        for key in ("diff", "se", "df", "mean_a", "mean_b", "iqm_a", "iqm_b"):
            assert _close(n[key], o[key], 1e-12), key
        for key in ("ci", "ci95"):
            assert all(_close(x, y, 1e-11) for x, y in zip(n[key], o[key])), key
        for key in ("p_lower", "p_upper", "p_tost", "p_difference"):
            assert _close(n[key], o[key], 0.0, 1e-12), key
        for key in ("iqm_diff_ci95_bootstrap", "mean_diff_ci95_bootstrap"):
            assert all(_close(x, y, 1e-12) for x, y in zip(n[key], o[key])), key
    groups = {(g["env"], g["algo"]): g for g in recomputed["groups"]}
    for g in old["groups"]:
        for metric in ("final_score", "auc"):
            a, b = groups[(g["env"], g["algo"])][metric], g[metric]
            assert a["values"] == b["values"] and _close(a["iqm"], b["iqm"], 1e-12)
            for key in ("mean_ci95", "iqm_ci95"):
                assert all(_close(x, y, 1e-12) for x, y in zip(a[key], b[key])), key


def test_recorded_verdicts_and_design():
    doc = json.loads((RESULTS / "compare.json").read_text())
    assert doc["schema"] == "equiv.compare/2" and doc["provenance"]["rules"]["version"] == 2
    verdicts = {(c["test"], c["metric"]): c for c in doc["comparisons"]}
    tests = ("fig3_equiv", "unscaled_control", "unstable_sql", "fig1_noninf", "sensitivity")
    assert set(verdicts) == {(t, m) for t in tests for m in ("final_score", "auc")}
    for c in doc["comparisons"]:
        assert c["env"] == "CartPole-v1" and c["n_a"] >= 10 and c["n_b"] >= 10 and c["alpha"] == 0.05
        assert c["margin"] is None or c["margin"] == pytest.approx(50.0)
        # v1's tests were registered before the runs; v2's were written after them (post hoc).
        assert c["preregistered"] is (c["test"] in ("fig3_equiv", "unscaled_control"))
    for m in ("final_score", "auc"):
        assert verdicts[("fig3_equiv", m)]["verdict"] == "equivalent"
        assert verdicts[("unscaled_control", m)]["verdict"] == "different"
        assert verdicts[("unstable_sql", m)]["verdict"] == "worse"
        assert verdicts[("fig1_noninf", m)]["verdict"] == "non-inferior"
    # The sensitivity control separates on auc only (one a2c-naive seed ends at 207 on final_score).
    assert verdicts[("sensitivity", "auc")]["verdict"] == "different"
    assert verdicts[("sensitivity", "final_score")]["verdict"] == "inconclusive"
    # The equivalence passes at margins far below the registered 50: smallest passing margins.
    assert verdicts[("fig3_equiv", "final_score")]["smallest_margin"] == pytest.approx(4.728, abs=1e-3)
    assert verdicts[("fig3_equiv", "auc")]["smallest_margin"] == pytest.approx(6.775, abs=1e-3)


def test_every_run_finished_with_one_code_version_and_lockstep_holds():
    runs = sorted((RESULTS / "runs").rglob("run.json"))
    assert len(runs) >= 30
    hashes = set()
    for path in runs:
        info = json.loads(path.read_text())
        assert info["status"] == "finished" and info["frames_done"] >= info["config"]["frames"]
        hashes.add(json.dumps(info["provenance"]["source_sha256_16"], sort_keys=True))
        rows = read_metrics(path.parent / "lockstep.csv")
        assert len(rows) >= 2
        for row in rows:
            assert float(row["rel_diff_expected"]) < 1e-10 and float(row["decomposition_residual"]) < 1e-10
    assert len(hashes) == 1
