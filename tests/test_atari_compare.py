"""``python -m atari_check compare`` / ``plot`` end to end, with negative controls through the CLI.

A synthetic study with known answers (per-run scores constant within a run, so final_score = auc =
the run's level): sql 0.3 above a2c-proper (equivalent), a2c-naive 60 below a2c-proper (non-inferior at the
margin 50, different by the difference test), dqn-soft-ent 5 above dqn, dqn-soft-kl 5 below,
sql-unscaled 300 below.  Seed-to-seed spread ±1 (levels level + (−1, 1, −0.5, 0.5)), so every
verdict is decided by a wide gap (the 90% CI half-widths are ~1.1).  Each decision helper is then
replaced by a deliberately wrong variant (a swapped sign, a margin on the wrong side, the wrong
tail) and the verdict that ``cli.main(["compare", ...])`` writes must flip.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from atari_check import cli, stats
from atari_check import compare as cmp
from proofs.empirical import ResultsFormatError, equivalence_verdict, load_comparisons
from tests.test_atari_stats import _fake_run

SPREAD = (-1.0, 1.0, -0.5, 0.5)
LEVELS = {"a2c-proper": 400.0, "sql": 400.3, "a2c-naive": 340.0, "sql-unscaled": 100.0,
          "dqn": 300.0, "dqn-soft-ent": 305.0, "dqn-soft-kl": 295.0}


@pytest.fixture(autouse=True)
def _few_resamples(monkeypatch):
    monkeypatch.setattr(cmp, "N_BOOT", 200)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The whole synthetic study under results/cpu/runs, compared once with the default --out."""
    root = tmp_path_factory.mktemp("full")
    runs = root / "results" / "cpu" / "runs"
    _study(runs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cmp, "N_BOOT", 200)
        assert cli.main(["compare", str(runs)]) == 0
    return runs


def _study(root, algos=tuple(LEVELS)):
    for algo in algos:
        level = LEVELS[algo]
        for seed, e in enumerate(SPREAD):
            # sql's spread is permuted so that a2c-proper − sql is not identically zero
            e = SPREAD[(seed + 1) % 4] if algo == "sql" else e
            _fake_run(root, algo, seed, [level + e] * 10)
    return root


def _run_compare(tmp_path, *extra, algos=tuple(LEVELS)) -> dict:
    runs = tmp_path / "study" / "runs"
    if not runs.exists():
        _study(runs, algos)
    out = tmp_path / "study" / "cmp"
    assert cli.main(["compare", str(runs), "--out", str(out), *extra]) == 0
    doc = json.loads((out / "compare.json").read_text())
    return {(c["test"], c["metric"]): c for c in doc["comparisons"]}


EXPECTED = {"fig3_equiv": "equivalent", "unscaled_control": "different", "unstable_sql": "worse",
            "fig1_noninf": "non-inferior", "fig2_ent_better": "better", "fig2_kl_worse": "worse",
            "sensitivity": "different", "sensitivity_unscaled": "different"}


def _by_test(path) -> dict:
    return {(c["test"], c["metric"]): c for c in json.loads(path.read_text())["comparisons"]}


def test_registered_tests_give_the_known_answers(full):
    by = _by_test(full.parent / "compare.json")
    assert {t for t, _ in by} == set(EXPECTED)  # unstable_a2c: no a2c-proper-c100 runs, not compared
    for (test, metric), c in by.items():
        assert c["verdict"] == EXPECTED[test] and c["as_expected"], (test, metric, c["verdict"])
        assert c["rules_version"] == cmp.LATEST_RULES and c["preregistered"] is True
    for test in ("fig3_equiv", "fig1_noninf"):
        c = by[(test, "auc")]
        assert c["smallest_margin"] < c["margin"] and c["smallest_margin_fraction"] == pytest.approx(
            c["smallest_margin"] / 500.0)
    # fig1: d = +60 with CI ~[58.9, 61.1], so any margin > 0 passes
    assert by[("fig1_noninf", "auc")]["smallest_margin"] == 0.0


@pytest.mark.slow  # three compare runs; the boundary itself is tested cheaply in test_atari_stats.py
def test_smallest_margin_is_where_the_cli_verdict_changes(tmp_path):
    by = _run_compare(tmp_path, algos=("a2c-proper", "sql"))
    m = by[("fig3_equiv", "auc")]["smallest_margin"]
    for fraction, verdict in ((m / 500 * (1 + 1e-6), "equivalent"), (m / 500 * (1 - 1e-6), "inconclusive")):
        again = _run_compare(tmp_path, "--margin-fraction", repr(fraction), algos=("a2c-proper", "sql"))
        assert again[("fig3_equiv", "auc")]["verdict"] == verdict
        assert again[("fig3_equiv", "auc")]["preregistered"] is False  # an override is never pre-registered


_TOST, _DIRECTIONAL, _DIFFERENCE = stats.tost, stats.directional, stats.difference  # the correct ones


def _wrong_side_noninferiority(a, b, margin, alpha=0.05):
    """Bug: the margin on the wrong side (tests H0 d ≥ +M, i.e. 'a is not better by M')."""
    from scipy import stats as ss  # imported on use: 1.3 s, and every test process collects this module
    res = _TOST(a, b, margin, alpha)
    p = ss.ttest_ind(np.asarray(a) - margin, b, equal_var=False, alternative="less").pvalue
    return {**res, "verdict": "non-inferior" if p < alpha else "inconclusive", "p_noninferiority": float(p)}


def _swapped_directional(a, b, alpha=0.05):
    """Bug: b − a instead of a − b."""
    return _DIRECTIONAL(b, a, alpha)


def _wrong_tail_difference(a, b, alpha=0.05):
    """Bug: a one-sided test in the wrong direction called the difference test."""
    from scipy import stats as ss  # imported on use: 1.3 s, and every test process collects this module
    res = _DIFFERENCE(a, b, alpha)
    p = ss.ttest_ind(a, b, equal_var=False, alternative="less").pvalue
    return {**res, "verdict": "different" if p < alpha else "inconclusive", "p_difference": float(p)}


def _tost_margin_on_one_side(a, b, margin, alpha=0.05):
    """Bug: both one-sided tests shifted by +M (H02 tests d ≥ −M)."""
    res = _TOST(a, b, margin, alpha)
    w = stats._Welch(np.asarray(a, float), np.asarray(b, float))
    p_tost = max(w.p(margin, "greater"), w.p(margin, "less"))
    return {**res, "verdict": "equivalent" if p_tost < alpha else "inconclusive", "p_tost": p_tost}


# Two compare runs each; the tost one stays in the default suite, the others run with -m slow
# (their helpers' known answers are in test_atari_stats.py).
@pytest.mark.parametrize("name,mutant,tests,algos", [
    pytest.param("noninferiority", _wrong_side_noninferiority, ("fig1_noninf",), ("a2c-proper", "a2c-naive"),
                 marks=pytest.mark.slow),
    pytest.param("directional", _swapped_directional, ("fig2_ent_better", "fig2_kl_worse", "unstable_sql"),
                 ("dqn", "dqn-soft-ent", "dqn-soft-kl", "sql", "sql-unscaled"), marks=pytest.mark.slow),
    pytest.param("difference", _wrong_tail_difference, ("sensitivity",), ("a2c-proper", "a2c-naive"),
                 marks=pytest.mark.slow),
    ("tost", _tost_margin_on_one_side, ("fig3_equiv",), ("a2c-proper", "sql")),
])
def test_a_wrong_decision_helper_flips_the_cli_verdict(tmp_path, monkeypatch, name, mutant, tests, algos):
    # The same pairs on the same data come out as expected with the right helper (test above).
    monkeypatch.setattr(stats, name, mutant)
    by = _run_compare(tmp_path, algos=algos)
    for test in tests:
        for metric in cmp.METRICS:
            assert by[(test, metric)]["verdict"] != EXPECTED[test], (name, test, metric)
            assert not by[(test, metric)]["as_expected"]


def test_a_wrong_smallest_margin_is_caught(full, tmp_path, monkeypatch):
    """Bug: min(|lo|, |hi|).  The reported margin then does not pass the TOST the CLI ran."""
    def passes(by):
        c = by[("fig3_equiv", "auc")]
        return stats.tost(c["values_a"], c["values_b"], c["smallest_margin"] * (1 + 1e-9))["verdict"] == "equivalent"

    def with_values(by, tmp):
        path = tmp / "study" / "cmp" / "compare.json"
        doc = json.loads((path if path.exists() else full.parent / "compare.json").read_text())
        groups = {(g["algo"]): g for g in doc["groups"]}
        for (test, metric), c in by.items():
            c["values_a"], c["values_b"] = groups[c["a"]][metric]["values"], groups[c["b"]][metric]["values"]
        return by

    right = with_values(_by_test(full.parent / "compare.json"), full.parent.parent.parent)
    assert passes(right)
    monkeypatch.setattr(stats, "smallest_equivalence_margin", lambda ci: float(min(abs(ci[0]), abs(ci[1]))))
    assert not passes(with_values(_run_compare(tmp_path, algos=("a2c-proper", "sql")), tmp_path))


# --------------------------------------------------------------------------- issue 12 §2/§3


def test_a_run_without_episodes_is_named_and_skipped_or_refused(tmp_path, capsys):
    runs = _study(tmp_path / "study" / "runs", ("a2c-proper", "sql"))
    empty = _fake_run(runs / "short", "sql", 7, [])
    (empty / "episodes.csv").write_text("frames,update,env,return,length\n")
    assert cli.main(["compare", str(runs), "--out", str(tmp_path / "cmp")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and str(empty) in err and "no finished episode" in err
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert any(str(empty) in n for n in doc["notes"]) and str(empty) not in {r["dir"] for r in doc["runs"]}
    assert cli.main(["compare", str(runs), "--out", str(tmp_path / "cmp2"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and str(empty) in err and not (tmp_path / "cmp2").exists()


@pytest.mark.slow  # matplotlib renders two PNGs
def test_plot_names_and_skips_a_run_without_episodes_or_refuses(tmp_path, capsys):
    runs = _study(tmp_path / "study" / "runs", ("a2c-proper", "sql"))
    empty = _fake_run(runs / "short", "sql", 7, [])
    (empty / "episodes.csv").write_text("frames,update,env,return,length\n")
    png = tmp_path / "fig" / "c.png"
    assert cli.main(["plot", str(runs), "--out", str(png)]) == 0
    assert str(empty) in capsys.readouterr().err and png.exists()
    assert cli.main(["plot", str(runs), "--out", str(tmp_path / "fig" / "d.png"), "--strict"]) == 2
    assert str(empty) in capsys.readouterr().err


def test_default_out_is_outside_the_runs_tree_and_inside_is_refused(full, capsys):
    assert (full.parent / "compare.json").exists() and not list(full.rglob("compare.json"))
    for bad in (full, full / "sub"):
        assert cli.main(["compare", str(full), "--out", str(bad)]) == 2
        assert "inside the input folder" in capsys.readouterr().err
    assert not list(full.rglob("compare.json"))


def test_the_reader_refuses_two_summaries_of_the_same_runs(full, tmp_path):
    doc = (full.parent / "compare.json").read_text()
    for sub in ("study", "again"):
        (tmp_path / "cpu" / sub).mkdir(parents=True)
        (tmp_path / "cpu" / sub / "compare.json").write_text(doc)
        if sub == "study":
            assert len(load_comparisons("cpu", tmp_path)[1]) > 0
    with pytest.raises(ResultsFormatError, match="counted twice") as err:
        load_comparisons("cpu", tmp_path)
    assert "again" in str(err.value) and "study" in str(err.value)


def test_compare_report_fits_120_columns(full):
    txt = (full.parent / "compare.txt").read_text()
    assert max(len(line) for line in txt.splitlines()) <= 120  # every registered test, every table
    result = json.loads((full.parent / "compare.json").read_text())
    long_env = "AVeryLongEnvironmentName-v1" * 3
    for part in ("groups", "comparisons"):
        for row in result[part]:
            row["env"] = long_env
    result["notes"].append("x" * 130 + " " + "a very long note " * 12)
    lines = cmp.format_report(result).splitlines()
    assert max(len(line) for line in lines) <= 120, max(lines, key=len)


def test_plots_are_readable(tmp_path):
    import matplotlib.pyplot as plt

    from atari_check import plot

    runs, _ = cmp.load_runs([_study(tmp_path / "runs", ("a2c-proper", "sql", "sql-unscaled", "a2c-naive"))])
    fig = plot.learning_curves_figure(runs)
    try:
        w, h = fig.get_size_inches() * plot.DPI
        assert w >= 800 and h >= 600  # pixels per panel at the saved DPI
        for ax in fig.axes:
            assert ax.get_xlabel() == "frames (millions)" and ax.get_ylabel()
            ticks = [ax.xaxis.get_major_formatter()(v) for v in (500.0, 1000.0)]
            assert ticks == ["0.0005", "0.001"]  # frames shown in millions
            markers = [line.get_marker() for line in ax.get_lines()]
            assert len(set(markers)) == len(markers) == 4 and "None" not in markers
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- the reader's use of the controls


def test_sensitivity_control_that_does_not_separate_makes_equivalence_inconclusive(full, tmp_path):
    doc = json.loads((full.parent / "compare.json").read_text())
    path = tmp_path / "cpu" / "compare.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    assert equivalence_verdict("cpu", ("a2c-proper", "sql"), "x", root=tmp_path).outcome == "pass"
    for c in doc["comparisons"]:
        if c["role"] == "sensitivity" and c["metric"] == "auc":
            c["verdict"] = "inconclusive"
    path.write_text(json.dumps(doc))
    result = equivalence_verdict("cpu", ("a2c-proper", "sql"), "x", root=tmp_path)
    assert result.outcome == "inconclusive" and "sensitivity control" in result.detail and " auc" in result.detail


# --------------------------------------------------------------------------- the registered rules


def test_registered_rule_sets_are_frozen():
    """A registered rule set must never change after its runs: v1 is the CartPole registration
    (results/cpu/README.md), v2 adds the issue-14 tests and keeps v1's unchanged, v3 is the MinAtar
    registration (results/minatar/README.md).  Changing any fails here; new evidence adds a new version."""
    import dataclasses
    import hashlib

    v1, v2 = cmp.DECISION_RULES[1], cmp.DECISION_RULES[2]
    assert (v1.alpha, v1.margin_fraction, v1.margins) == (0.05, 0.10, {})
    assert [(t.id, t.a, t.b, t.kind, t.expected) for t in v1.tests] == [
        ("fig3_equiv", "a2c-proper", "sql", "equivalence", "equivalent"),
        ("unscaled_control", "a2c-proper", "sql-unscaled", "equivalence", "different")]
    assert v2.tests[:2] == v1.tests and (v2.alpha, v2.margin_fraction) == (v1.alpha, v1.margin_fraction)
    for t in v2.tests:
        assert t.kind in cmp.KINDS and t.role in cmp.ROLES and t.registered <= "2026-12-01"
    digest = {v: hashlib.sha256(json.dumps(dataclasses.asdict(r), sort_keys=True).encode()).hexdigest()[:16]
              for v, r in cmp.DECISION_RULES.items()}
    assert digest == FROZEN_RULES, digest


FROZEN_RULES = {1: "07e595f7fb50bdf0", 2: "d2be3ce15b8dc308", 3: "c17479ea935c1028"}  # v3: the MinAtar registration


def test_a_new_rule_set_with_a_tighter_registered_margin_is_applied_and_cited(tmp_path, monkeypatch):
    runs = _study(tmp_path / "runs", ("a2c-proper", "sql"))
    v3 = cmp.RuleSet(3, "2026-12-01", 0.05, 0.10, {"CartPole-v1": 0.002}, cmp.DECISION_RULES[2].tests, "test")
    monkeypatch.setitem(cmp.DECISION_RULES, 3, v3)
    by = {(c["test"], c["metric"]): c for c in cmp.compare([runs], rules=3)["comparisons"]}
    c = by[("fig3_equiv", "auc")]
    assert c["margin"] == pytest.approx(1.0) and c["margin_fraction"] == 0.002 and c["rules_version"] == 3
    # d = −0.3 with a 90% CI of about [−1.55, 0.95]: equivalent at v2's margin 50, not at v3's 1.0
    assert c["verdict"] == "inconclusive" and 1.0 < c["smallest_margin"] < 2.0  # v2 (margin 50): equivalent
    v1_only = cmp.compare([runs], rules=1)["comparisons"]
    assert {c["test"] for c in v1_only} == {"fig3_equiv"}  # v1 has no sql-unscaled here, and no v2 tests


def test_compare_table_shows_every_minatar_id_whole_and_cuts_longer_ones_visibly(full):
    """The env column holds the longest MinAtar id (it used to cut ids at 15 characters, so
    "MinAtar/Breakout-v1" read "MinAtar/Breakou"); a longer id is cut with a visible "…", rows stay aligned."""
    result = json.loads((full.parent / "compare.json").read_text())
    longest_minatar = max(("MinAtar/" + g + "-v1" for g in ("Asterix", "Breakout", "Freeway", "Seaquest",
                                                            "SpaceInvaders")), key=len)
    for env in (longest_minatar, "SpaceInvadersNoFrameskip-v4"):
        for row in result["groups"]:
            row["env"] = env
        rows = [line for line in cmp.format_report(result).splitlines() if line.startswith(env[:20])]
        assert rows and len({line.index(" final_score") if " final_score" in line else line.index(" auc")
                             for line in rows}) == 1  # one column position for every row
        if len(env) < 26:
            assert all(line.startswith(env + " ") for line in rows)
        else:
            assert all(line.startswith(env[:24] + "… ") for line in rows)
