"""Sharper checks of proofs/' verdict machinery, written to kill the mutants that survived the proofs job.

Mutants judged behaviour-identical are listed with their reasons in tests/mutation/equivalent_proofs.md.
The proofs job deselects the ``whole_registry`` tests (tests/mutation/run.py), so every test here calls the
machinery directly on inputs built for it, never through the evaluation of the whole registry.
What is pinned down, by behaviour:

* **empirical reader** (:mod:`proofs.empirical`) — the three verdict rules (equivalence, non-inferiority,
  directional) on hand-written ``equiv.compare/2`` documents:
  - the ``envs`` filter selects a comparison when one of the given names is a *case-insensitive
    substring* of its env id (``"breakout"`` selects ``BreakoutNoFrameskip-v4``), and only then — a
    filter that is ignored, inverted or case-sensitive changes the verdict (pass ↔ fail ↔ pending);
  - each outcome's text: ``pending`` names the claim, the pair *in the order given* and the directory
    that was searched (``<root>/<scale>``, or ``atari_check/results/<scale>`` by default); ``fail``
    names who lost, and its counterexample lists exactly the deciding comparisons (those that went the
    wrong way, not the others); ``pass``/``inconclusive``/post hoc list every comparison.  Lists are
    joined with ``"; "`` (the text that the CLI and WALKTHROUGH.md print), so each expectation is a list
    of :meth:`Comparison.describe` strings, compared after splitting on ``"; "``;
  - :func:`all_of`'s combined detail, written out by hand: ``[name: outcome] detail (counterexample)``
    per half, the parenthesis only for a half that has a counterexample.

No floating point is compared in this file: every expectation is an exact string or outcome.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from proofs.core import failed, inconclusive, passed, pending
from proofs.empirical import (
    all_of,
    directional_verdict,
    equivalence_verdict,
    load_comparisons,
    noninferiority_verdict,
)
from tests.test_empirical_reader import _write  # a compare.json under root/gpu/<name>/, as the reader expects
from tests.test_proofs_registry import _claim as _valid_claim  # a valid claim (eq001), with overrides

# --------------------------------------------------------------------------- empirical reader

A, B = "a2c-proper", "sql"  # distinct names, so "A vs B" and "B vs B" differ
WHAT = "Claim 7"
# One entry per verdict rule: how a comparison of that kind is written, its passing and failing verdicts,
# and the rule called on ``root``.
RULES = {
    "equivalence": dict(
        row=dict(role="equivalence", kind="equivalence", margin=3.0, smallest_margin=1.0),
        good="equivalent", bad="different",
        call=lambda root, envs=None, scale="gpu": equivalence_verdict(scale, (A, B), WHAT, envs=envs, root=root),
    ),
    "noninferiority": dict(
        row=dict(role="noninferiority", kind="noninferiority", margin=3.0, smallest_margin=1.0),
        good="non-inferior", bad="inferior",
        call=lambda root, envs=None, scale="gpu": noninferiority_verdict(scale, (A, B), WHAT, envs=envs, root=root),
    ),
    "directional": dict(
        row=dict(role="directional", kind="directional", margin=None, smallest_margin=None, expected="better"),
        good="better", bad="worse",
        call=lambda root, envs=None, scale="gpu": directional_verdict(scale, (A, B), "better", WHAT, envs=envs,
                                                                     root=root),
    ),
}
LOSER = {"equivalence": None, "noninferiority": f"({A} inferior)", "directional": f"({A} worse than {B})"}


def _row(rule, **kw):
    row = {"env": "PongNoFrameskip-v4", "a": A, "b": B, "metric": "auc", "ci": [-1.0, 2.0], "n_a": 5, "n_b": 5,
           "preregistered": True, "rules_version": 2, **RULES[rule]["row"]}
    row.update(kw)
    return row


def _described(root, keep=lambda c: True):
    """describe() of the comparisons under root/gpu that ``keep`` selects, in file order."""
    return [c.describe() for c in load_comparisons("gpu", root)[1] if keep(c)]


def _listed(text: str, prefix: str) -> list[str]:
    """The '; '-separated list that follows ``prefix`` (up to a closing parenthesis if ``prefix`` opens one)."""
    assert text.startswith(prefix), (text, prefix)
    rest = text[len(prefix):]
    if prefix.endswith("("):
        assert rest.endswith(")"), text
        rest = rest[:-1]
    return rest.split("; ")


@pytest.mark.parametrize("rule", RULES)
def test_pending_names_the_claim_the_pair_in_order_and_the_directory(tmp_path, rule):
    call = RULES[rule]["call"]
    empty = call(tmp_path)
    assert empty.outcome == "pending"
    assert empty.detail.startswith(f"{WHAT}: no ") and f"{A} vs {B} under {tmp_path / 'gpu'} " in empty.detail
    assert "(0 compare.json file(s) found)" in empty.detail
    # A file with only another pair's comparison: still pending, and the file is counted.
    _write(tmp_path, [_row(rule, a="dqn", b="dqn-soft", verdict=RULES[rule]["good"])])
    other = call(tmp_path)
    assert other.outcome == "pending" and "(1 compare.json file(s) found)" in other.detail
    # The default root is shown by its repository-relative name (a scale that has no directory).
    default = call(None, scale="no-such-scale")
    assert default.outcome == "pending" and f"{A} vs {B} under atari_check/results/no-such-scale " in default.detail


@pytest.mark.parametrize("rule", RULES)
def test_envs_selects_by_case_insensitive_substring(tmp_path, rule):
    """Pong went the wrong way, Breakout the right way: the filter decides the verdict."""
    good, bad, call = RULES[rule]["good"], RULES[rule]["bad"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, env="PongNoFrameskip-v4", verdict=bad),
                      _row(rule, env="BreakoutNoFrameskip-v4", verdict=good)])
    assert call(tmp_path).outcome == "fail"  # no filter: both count
    only_breakout = call(tmp_path, envs=("breakout",))  # lower case, a substring of the id
    assert only_breakout.outcome == "pass" and "Pong" not in only_breakout.detail
    assert call(tmp_path, envs=("PONG",)).outcome == "fail"  # upper case
    assert call(tmp_path, envs=("seaquest", "Breakout")).outcome == "pass"  # any of several names
    assert call(tmp_path, envs=("seaquest",)).outcome == "pending"


@pytest.mark.parametrize("rule", RULES)
def test_fail_names_the_loser_and_lists_exactly_the_deciding_comparisons(tmp_path, rule):
    good, bad, call = RULES[rule]["good"], RULES[rule]["bad"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, metric="auc", verdict=bad), _row(rule, metric="final_score", verdict=good),
                      _row(rule, metric="best_score", verdict=bad)])
    result = call(tmp_path)
    assert result.outcome == "fail"
    assert result.detail.startswith(f"{WHAT}: not reproduced")
    if LOSER[rule]:
        assert LOSER[rule] in result.detail
    assert result.counterexample.split("; ") == _described(tmp_path, lambda c: c.verdict == bad)


@pytest.mark.parametrize("rule", RULES)
def test_pass_and_post_hoc_list_every_comparison(tmp_path, rule):
    good, call = RULES[rule]["good"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, metric="auc", verdict=good), _row(rule, metric="final_score", verdict=good)])
    result = call(tmp_path)
    assert result.outcome == "pass"
    every = _described(tmp_path)
    prefix = {"equivalence": f"{WHAT}: equivalent in every comparison (",
              "noninferiority": f"{WHAT}: non-inferior in every comparison (",
              "directional": f"{WHAT}: {A} better than {B} in every comparison ("}[rule]
    if rule == "equivalence":  # followed by the (absent) controls
        assert result.detail.endswith("; no negative control in these files; no sensitivity control in these files")
        assert result.detail.startswith(prefix + "; ".join(every) + ")")
    else:
        assert _listed(result.detail, prefix) == every
    # The same comparisons, two of three registered after the runs: reported, not counted, and both named.
    _write(tmp_path, [_row(rule, metric="auc", verdict=good, preregistered=False),
                      _row(rule, metric="final_score", verdict=good),
                      _row(rule, metric="best_score", verdict=good, preregistered=False)])
    late = call(tmp_path)
    assert late.outcome == "inconclusive"
    assert _listed(late.detail, f"{WHAT}: the result would pass, but its test was registered after the runs "
                                f"(post hoc), so it is reported and not counted: ") == \
        _described(tmp_path, lambda c: c.preregistered is False)


@pytest.mark.parametrize("rule", RULES)
def test_inconclusive_lists_every_comparison(tmp_path, rule):
    good, call = RULES[rule]["good"], RULES[rule]["call"]
    _write(tmp_path, [_row(rule, metric="auc", verdict=good), _row(rule, metric="final_score",
                                                                     verdict="inconclusive")])
    result = call(tmp_path)
    assert result.outcome == "inconclusive"
    assert _listed(result.detail, f"{WHAT}: ") == _described(tmp_path)


def test_equivalence_weak_negative_controls_are_named(tmp_path):
    """'equivalent', but two of three negative controls in the file did not separate: inconclusive, and the
    detail lists those two (not the one that separated)."""
    rows = [_row("equivalence", verdict="equivalent")]
    rows += [_row("equivalence", role="negative_control", a="a2c-naive", b=B, metric=m, verdict=v)
             for m, v in (("auc", "inconclusive"), ("final_score", "different"), ("best_score", "equivalent"))]
    _write(tmp_path, rows)
    result = RULES["equivalence"]["call"](tmp_path)
    assert result.outcome == "inconclusive"
    weak = _described(tmp_path, lambda c: c.role == "negative_control" and c.verdict != "different")
    assert len(weak) == 2
    assert result.detail == (f"{WHAT}: equivalent, but the negative control did not separate ("
                             + "; ".join(weak) + "), so the test may lack power")



def _control(role, env="PongNoFrameskip-v4", metric="auc", verdict="different", n=5, a="a2c-naive", b=B):
    """A negative control (an equivalence test of a pair known to differ) or a sensitivity control (a
    difference test of a pair known to differ slightly)."""
    if role == "negative_control":
        return _row("equivalence", role=role, env=env, metric=metric, verdict=verdict, a=a, b=b, n_a=n, n_b=n)
    return _row("equivalence", role="sensitivity", kind="difference", margin=None, smallest_margin=None, env=env,
                metric=metric, verdict=verdict, a=a, b=b, n_a=n, n_b=n)


def test_equivalence_pass_names_the_controls_of_its_own_files(tmp_path):
    """Controls are read from the files that hold the pair's comparisons, and only from those: a control
    in another file (another study) is neither required nor reported."""
    _write(tmp_path, [_row("equivalence", verdict="equivalent"),
                      _control("negative_control"), _control("negative_control", metric="final_score"),
                      _control("sensitivity"), _control("sensitivity", metric="final_score")], name="study")
    _write(tmp_path, [_row("equivalence", a="dqn", b="dqn-soft", verdict="equivalent"),
                      _control("sensitivity", a="x", b="y"), _control("negative_control", verdict="equivalent")],
           name="other")
    result = RULES["equivalence"]["call"](tmp_path)
    assert result.outcome == "pass"
    mine = lambda role: _described(tmp_path, lambda c: c.role == role and "study" in c.file)  # noqa: E731
    assert result.detail == (
        f"{WHAT}: equivalent in every comparison (" + "; ".join(mine("equivalence")) + ")"
        + "; negative controls separated: " + "; ".join(mine("negative_control"))
        + "; sensitivity controls separated: " + "; ".join(mine("sensitivity"))
    )


def test_equivalence_sensitivity_control_must_separate_on_the_same_env_metric_and_n(tmp_path):
    """'equivalent' on three (env, metric) cells; the sensitivity control separated on Pong auc at the same
    n (5/5), on Pong final_score only at another n (3/3), on Breakout auc not at all, and on Pong
    best_score (no equivalence there; it must not count for another metric).  The last two equivalence
    cells are 'blind': inconclusive, naming the cells, their sensitivity controls and every equivalence."""
    pong, brk = "PongNoFrameskip-v4", "BreakoutNoFrameskip-v4"
    _write(tmp_path, [
        _row("equivalence", env=pong, metric="auc", verdict="equivalent"),
        _row("equivalence", env=pong, metric="final_score", verdict="equivalent"),
        _row("equivalence", env=brk, metric="auc", verdict="equivalent"),
        _control("negative_control"),
        _control("sensitivity", env=pong, metric="auc"),
        _control("sensitivity", env=pong, metric="final_score", verdict="inconclusive"),
        _control("sensitivity", env=pong, metric="final_score", n=3),
        _control("sensitivity", env=brk, metric="auc", verdict="inconclusive"),
        _control("sensitivity", env=pong, metric="best_score"),
    ])
    result = RULES["equivalence"]["call"](tmp_path)
    assert result.outcome == "inconclusive"
    sens = _described(tmp_path, lambda c: c.role == "sensitivity")
    blind_sens = [sens[1], sens[2], sens[3]]  # Pong final_score (both), Breakout auc
    assert result.detail == (
        f"{WHAT}: equivalent, but on {pong} final_score; {brk} auc the sensitivity control (a pair known to "
        "differ slightly) was not called different at the same n, so 'equivalent' there may only mean the test "
        "cannot see a small difference (" + "; ".join(blind_sens) + "); equivalent: "
        + "; ".join(_described(tmp_path, lambda c: c.role == "equivalence"))
    )


def test_describe_states_every_field_that_is_set():
    """One line per comparison, written out by hand: the margin's sign is ∓/± by kind (non-inferiority is
    one-sided: '−M'), optional parts appear only when set, and a post hoc test says so."""
    from proofs.empirical import Comparison

    eq = Comparison("s/compare.json", "Pong", "a2c-proper", "sql", "equivalence", "auc", "equivalent", 3.0,
                    (-1.0, 2.5), 5, 6, "equivalence", 1.25, True, 2)
    assert eq.describe() == ("Pong: a2c-proper vs sql (equivalence, auc): equivalent, CI [-1, 2.5] vs margin ±3 "
                             "(passes for margin > 1.25), n = 5/6, rules v2 [s/compare.json]")
    ni = Comparison("s/compare.json", "Pong", "a2c-proper", "sql", "noninferiority", "auc", "inferior", 3.0,
                    (-4.0, -0.5), 5, 6, "noninferiority", None, False, None)
    assert ni.describe() == ("Pong: a2c-proper vs sql (noninferiority, auc): inferior, CI [-4, -0.5] vs margin −3, "
                             "n = 5/6, post hoc [s/compare.json]")
    di = Comparison("s/compare.json", "Pong", "dqn-soft", "dqn", "directional", "final_score", "better", None,
                    (0.5, 2.0), 7, 7, "directional", None, None, None)
    assert di.describe() == "Pong: dqn-soft vs dqn (directional, final_score): better, CI [0.5, 2], n = 7/7 [s/compare.json]"


def test_parse_reads_every_field(tmp_path):
    """A document's rows become exactly these Comparisons (built by hand); the file is shown as given when it
    lies outside the repository, and a v2 row without 'kind' is an equivalence test."""
    from proofs.empirical import Comparison

    row = _row("equivalence", verdict="equivalent", ci=[-1.5, 2.0], n_a=4, n_b=6, rules_version=3)
    del row["kind"]
    di = _row("directional", verdict="worse", ci=[-3.0, -1.0], n_a=1, n_b=2, preregistered=None, rules_version=None)
    path = _write(tmp_path, [row, di])
    files, comparisons = load_comparisons("gpu", tmp_path)
    assert files == [path]
    assert comparisons == [
        Comparison(str(path), "PongNoFrameskip-v4", A, B, "equivalence", "auc", "equivalent", 3.0, (-1.5, 2.0), 4, 6,
                   "equivalence", 1.0, True, 3),
        Comparison(str(path), "PongNoFrameskip-v4", A, B, "directional", "auc", "worse", None, (-3.0, -1.0), 1, 2,
                   "directional", None, None, None),
    ]


def test_parse_shows_a_committed_file_relative_to_the_repository():
    """The committed CPU evidence is named repository-relative (as WALKTHROUGH.md prints it), not by an
    absolute path that differs between checkouts."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    files, comparisons = load_comparisons("cpu")
    assert files and comparisons
    shown = {f.resolve().relative_to(repo).as_posix() for f in files}
    assert {c.file for c in comparisons} <= shown and all(s.startswith("atari_check/results/cpu/") for s in shown)


def test_parse_v1_rows_are_equivalence_tests_whatever_else_they_carry(tmp_path):
    """equiv.compare/1 has no 'kind': its rows are equivalence tests (an extra key is ignored, like any other)."""
    path = tmp_path / "gpu" / "compare.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": "equiv.compare/1", "provenance": {}, "comparisons": [
        {"env": "Pong", "a": A, "b": B, "role": "equivalence", "kind": "noninferiority", "metric": "auc",
         "verdict": "equivalent", "margin": 2.0, "ci": [0.0, 1.0], "n_a": 3, "n_b": 3}]}))
    (c,) = load_comparisons("gpu", tmp_path)[1]
    assert c.kind == "equivalence" and c.role == "equivalence"


@pytest.mark.parametrize("field,value", [("margin", 0.5), ("ci", [1.0, 1.0]), ("n_a", 1), ("n_b", 1),
                                         ("smallest_margin", 0.0)])
def test_parse_accepts_the_boundary_values(tmp_path, field, value):
    """A margin may be any positive number (also < 1), a CI may be a point, one run per side is a sample, and
    a test may pass at every margin (smallest_margin 0)."""
    _write(tmp_path, [_row("equivalence", verdict="equivalent", **{field: value})])
    (c,) = load_comparisons("gpu", tmp_path)[1]
    got = getattr(c, field)
    assert (list(got) if field == "ci" else got) == value


def _doc(**top):
    good = _row("equivalence", verdict="equivalent")
    doc = {"schema": "equiv.compare/2", "comparisons": [good], "provenance": {}, "runs": [{"run_id": "s"}]}
    doc.update(top)
    return doc


def _bad_row(**kw):
    """A document whose second row has ``kw`` (the first row is valid, so the row index is 1)."""
    return _doc(comparisons=[_row("equivalence", verdict="equivalent"), {**_row("equivalence", verdict="equivalent"),
                                                                         **kw}])


# (document, the field the message must start with after the path, the bad value it must end with or None)
BAD_DOCUMENTS = [
    ([1, 2], "top level", "list"),
    (_doc(schema="equiv.compare/9"), "schema", "'equiv.compare/9'"),
    (_doc(comparisons={"a": 1}), "'comparisons'", "dict"),
    ({k: v for k, v in _doc().items() if k != "provenance"}, "'provenance'", "NoneType"),
    (_doc(provenance=[1]), "'provenance'", "list"),  # the type of the value given, not of a missing one
    (_doc(comparisons=[_row("equivalence", verdict="equivalent"), 3]), "comparisons[1]", "int"),
    (_bad_row(env=5), "comparisons[1].env", "5"),
    (_bad_row(role="boss"), "comparisons[1].role", "'boss'"),
    (_bad_row(kind="directional"), "comparisons[1].kind", "'directional'"),
    (_bad_row(verdict="maybe"), "comparisons[1].verdict", "'maybe'"),
    (_bad_row(margin=0), "comparisons[1].margin", "0"),
    (_bad_row(margin=-2.0), "comparisons[1].margin", "-2.0"),
    (_bad_row(role="directional", kind="directional", verdict="better", margin=2.5, smallest_margin=None),
     "comparisons[1].margin", "2.5"),
    (_bad_row(ci=[2.0, 1.0]), "comparisons[1].ci", "[2.0, 1.0]"),
    (_bad_row(n_a=0), "comparisons[1].n_a", "0"),
    (_bad_row(n_b=True), "comparisons[1].n_b", "True"),
    (_bad_row(smallest_margin=-1.0), "comparisons[1].smallest_margin", "-1.0"),
    (_bad_row(preregistered="yes"), "comparisons[1].preregistered", "'yes'"),
    (_doc(runs={"run_id": "s"}), "'runs'", "dict"),
    (_doc(runs=[{"run_id": "s"}, 7]), "runs[1]", "int"),
]


@pytest.mark.parametrize("doc,field,shown", BAD_DOCUMENTS, ids=[f for _, f, _ in BAD_DOCUMENTS])
def test_parse_errors_name_the_file_the_field_and_the_bad_value(tmp_path, doc, field, shown):
    """A malformed compare.json raises ResultsFormatError whose message is '<file>: <field> ...' and shows the
    bad value where one is given (the project rule); the wording in between is not pinned down."""
    from proofs.empirical import ResultsFormatError

    path = tmp_path / "gpu" / "compare.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsFormatError) as info:
        load_comparisons("gpu", tmp_path)
    message = str(info.value)
    prefix = f"{path}: {field} "  # the whole field name ('comparisons[1] must', not 'comparisons[1].env')
    assert message.startswith(prefix), message
    if shown is not None:
        assert message.endswith(f"got {shown}"), message


def test_all_of_detail_is_every_half_with_its_counterexample():
    """The combined text, written out by hand for each combined outcome."""
    halves = [("A2C half", passed("holds")), ("SQL half", failed("broke", "x = 1"))]
    result = all_of("Fig. 2", halves)
    assert result.outcome == "fail" and result.detail == "Fig. 2: a half is not reproduced"
    assert result.counterexample == "[A2C half: pass] holds; [SQL half: fail] broke (x = 1)"
    result = all_of("Fig. 2", [("A2C half", passed("holds")), ("SQL half", pending("no file"))])
    assert result.outcome == "pending" and result.detail == "Fig. 2: [A2C half: pass] holds; [SQL half: pending] no file"
    result = all_of("Fig. 2", [("A2C half", inconclusive("wide CI")), ("SQL half", passed("holds"))])
    assert result.detail == "Fig. 2: [A2C half: inconclusive] wide CI; [SQL half: pass] holds"
    result = all_of("Fig. 2", [("A2C half", passed("holds")), ("SQL half", passed("also"))])
    assert result.outcome == "pass"
    assert result.detail == "Fig. 2: every half holds: [A2C half: pass] holds; [SQL half: pass] also"


# --------------------------------------------------------------------------- core: results and timings


def test_inconclusive_keeps_its_measurements():
    """The numbers behind an undecided result are kept (they are shown by ``--json``), like pass/fail's."""
    assert inconclusive("CI too wide", width=2.5, n=5).measurements == {"width": 2.5, "n": 5}
    assert inconclusive("no numbers").measurements == {}


def test_check_seconds_is_the_cached_wall_time_and_zero_before_a_run():
    """A check that sleeps 20 ms: after run_check its recorded time is at least that (time.sleep never
    returns early); an id that was never run has 0.0, exactly."""
    import time

    from proofs import core

    cid = "testonly_kills_check_seconds"

    def slow():
        time.sleep(0.02)
        return passed("slept")

    core.check(cid, kind="numeric")(slow)
    try:
        assert core.check_seconds(cid) == 0.0
        assert core.run_check(cid).outcome == "pass"
        assert 0.02 <= core.check_seconds(cid) < 60  # elapsed time, not a clock reading
        assert core.check_seconds("testonly_kills_never_registered") == 0.0
    finally:
        core._CHECKS.pop(cid, None)
        core._CACHE.pop(cid, None)


def test_check_result_refuses_malformed_results_with_exact_messages():
    from proofs.core import OUTCOMES, CheckResult

    def message(**kwargs) -> str:
        with pytest.raises(ValueError) as info:
            CheckResult(**kwargs)
        return str(info.value)

    assert message(outcome="maybe", detail="x") == f"outcome must be one of {OUTCOMES}, got 'maybe'"
    assert message(outcome="fail", detail="x") == "a failing check must carry a counterexample"
    assert message(outcome="pass", detail="x", negative_control_gap=1.0) == (
        "negative_control_gap/threshold given without a negative_control")
    assert message(outcome="pass", detail="x", negative_control="c", negative_control_gap=1.0) == (
        "negative control 'c' needs its measured negative_control_gap and the negative_control_threshold it "
        "must exceed")
    control = {"outcome": "pass", "detail": "x", "negative_control": "c"}
    assert message(**control, negative_control_gap=1.0, negative_control_threshold=0.0) == (
        "negative control gap 1.0 / threshold 0.0 must be finite, threshold > 0")
    assert message(**control, negative_control_gap=0.5, negative_control_threshold=0.5) == (
        "negative control 'c' was not refuted: gap 0.5 ≤ threshold 0.5")  # a tie is not a refutation
    assert CheckResult(**control, negative_control_gap=0.5000001, negative_control_threshold=0.5).control_refuted


def test_get_check_names_the_unknown_id_and_says_when_nothing_is_loaded(monkeypatch):
    from proofs import core

    monkeypatch.setattr(core, "_CHECKS", {"eq001_definition": object()})  # some check is loaded
    with pytest.raises(ValueError) as info:
        core.get_check("testonly_kills_no_such_check")
    assert str(info.value) == "unknown check id 'testonly_kills_no_such_check'"
    monkeypatch.setattr(core, "_CHECKS", {})
    with pytest.raises(ValueError) as info:
        core.get_check("eq001_definition")
    assert str(info.value) == (
        "unknown check id 'eq001_definition' (no check is loaded: call proofs.loader.load_checks() first)")


def test_run_check_reports_what_a_broken_check_did():
    """A check that raises, or returns something other than a CheckResult, is an ``error`` whose detail
    names the exception type and message (the last line of the traceback)."""
    from proofs import core

    def broken():
        raise RuntimeError("bug in a check")

    cases = {
        "testonly_kills_raises": (broken, "check raised RuntimeError: bug in a check"),
        "testonly_kills_returns_int": (lambda: 42, "check raised TypeError: check 'testonly_kills_returns_int' "
                                                   "returned int, not CheckResult"),
    }
    try:
        for cid, (func, detail) in cases.items():
            core.check(cid, kind="numeric")(func)
            result = core.run_check(cid)
            assert (result.outcome, result.detail) == ("error", detail)
    finally:
        for cid in cases:
            core._CHECKS.pop(cid, None)
            core._CACHE.pop(cid, None)


# --------------------------------------------------------------------------- symbolic: symbols and helpers


def test_positive_and_real_make_a_tuple_of_symbols_with_the_assumption():
    """``positive``/``real`` always return a tuple (also for one name: the checks unpack ``x, = ...``), of
    symbols that carry the assumption (positive ⇒ logs of them may be split; real ⇒ not known positive)."""
    import sympy as sp

    from proofs.symbolic import positive, real

    assert positive("tau") == (sp.Symbol("tau", positive=True),)
    x, y = positive("x y")
    assert (x.name, y.name) == ("x", "y") and x.is_positive is True and y.is_positive is True
    assert real("r") == (sp.Symbol("r", real=True),)
    r, s = real("r, s")
    assert (r.name, s.name) == ("r", "s") and r.is_real is True and r.is_positive is None
    assert sp.Symbol("x") not in positive("x")  # the assumption is part of the symbol's identity


def test_normalized_divides_by_the_total():
    import sympy as sp

    from proofs.symbolic import normalized

    w = sp.Symbol("w", positive=True)
    assert normalized([sp.Integer(1), sp.Integer(2), sp.Integer(3)]) == [sp.Rational(1, 6), sp.Rational(1, 3),
                                                                         sp.Rational(1, 2)]
    p = normalized([w, 2 * w])
    assert [sp.simplify(q) for q in p] == [sp.Rational(1, 3), sp.Rational(2, 3)]


@pytest.mark.parametrize("field", ["env", "algo", "seed", "frames", "elapsed_s"])
def test_runs_without_a_run_id_are_identified_by_all_five_fields(tmp_path, field):
    """A run without ``run_id`` is identified by (env, algo, seed, frames, elapsed_s): two files whose runs
    differ in any one of these are two runs; the same five in two files is one run counted twice."""
    from proofs.empirical import ResultsFormatError

    run = {"env": "Pong", "algo": "sql", "seed": 0, "frames": 1000, "elapsed_s": 12.5}
    other = {**run, field: {"env": "Breakout", "algo": "dqn"}.get(field, 7)}

    def write(name, r):
        path = tmp_path / "gpu" / name / "compare.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"schema": "equiv.compare/2", "comparisons": [], "provenance": {}, "runs": [r]}))

    write("a", run)
    write("b", other)
    assert len(load_comparisons("gpu", tmp_path)[0]) == 2
    write("b", run)
    with pytest.raises(ResultsFormatError, match="counted twice"):
        load_comparisons("gpu", tmp_path)


# --------------------------------------------------------------------------- core: registration


def _registered(cid, **kw):
    """Register a trivial check under ``cid`` (removed again by the caller) and return its Check."""
    from proofs import core

    def func():
        return passed("ok")

    doc = kw.pop("doc", None)
    func.__doc__ = doc
    core.check(cid, **kw)(func)
    return core.get_check(cid), func


def test_check_records_id_kind_equations_title_function_and_module():
    from proofs import core
    from proofs.core import Check

    cids = ["testonly_kills_a", "testonly_kills_b", "testonly_kills_c", "testonly_kills_d"]
    try:
        chk, func = _registered(cids[0], kind="units", equations=[1, 90], title="Given title",
                                doc="First line.\n\n    Second line.")
        assert chk == Check(cids[0], "units", (1, 90), "Given title", func, __name__)
        # No title: the docstring's first line; no docstring either: the id.
        assert _registered(cids[1], kind="numeric", doc="  First line.\n    Second line.\n")[0].title == "First line."
        assert _registered(cids[2], kind="numeric", doc=None)[0].title == cids[2]
        assert _registered(cids[3], kind="numeric", doc="   ")[0].title == cids[3]
    finally:
        for cid in cids:
            core._CHECKS.pop(cid, None)


@pytest.mark.parametrize("bad_id", ["", "_", "__", "a b", "eq-61", 5, None])
def test_check_rejects_an_id_that_is_not_identifier_like(bad_id):
    from proofs import core

    with pytest.raises(ValueError) as info:
        core.check(bad_id, kind="numeric")
    assert str(info.value).startswith("check id ") and str(info.value).endswith(repr(bad_id))
    assert bad_id not in core._CHECKS if isinstance(bad_id, str) else True


@pytest.mark.parametrize("bad", [0, 91, -1, 1.0, "5"])
def test_check_equation_numbers_are_integers_in_1_to_90(bad):
    from proofs import core

    with pytest.raises(ValueError) as info:
        core.check("testonly_kills_eq", kind="numeric", equations=(5, bad))
    assert "equation numbers" in str(info.value) and str(info.value).endswith(repr(bad))


# --------------------------------------------------------------------------- units: applied functions

APPLIED = ("V", "Q", "pi", "pibar", "piold", "piB", "KL", "S", "A", "r", "delta", "Vpi", "Aq")


@pytest.mark.parametrize("name", APPLIED)
def test_units_name_underscore_is_the_applied_function_with_the_names_units(name):
    """The skeleton language writes V(s), π(a|s), ... as ``V_(s)``, ``pi_(a, s)``: each parses as the applied
    function of that name and carries the unit of the name (U¹ for values/rewards, U⁰ for probabilities,
    KL, entropy), so a dimension error inside or around it is seen."""
    from proofs.units import UNITS, check_homogeneous, dimension, parse_skeleton

    parse_skeleton.cache_clear()  # parse afresh (the parser's name table is what is tested)
    applied = parse_skeleton(f"{name}_(s, a)")
    assert type(applied).__name__ == name
    assert dimension(applied) == UNITS[name]
    # Added to a quantity of the other unit it is caught, naming the sum.
    other = "tau" if UNITS[name] == 0 else "gamma"
    ok, message = check_homogeneous([f"{name}_(s, a) + {other}"])
    assert ok is False and "adds" in message


def test_units_state_and_action_labels_are_dimensionless_arguments():
    """s, a, s1, a1 are labels: dimensionless, accepted as arguments, and printed as written in a message."""
    from proofs.units import check_homogeneous, dimension, parse_skeleton

    parse_skeleton.cache_clear()
    for label in ("s", "a", "s1", "a1"):
        assert dimension(parse_skeleton(label)) == 0
    assert check_homogeneous(["r + gamma*V_(s1)", "Q_(s, a)", "A_(s1, a1) + Vpi_(s1)"]) == (True,
                                                                                          "every term has units U^1")
    ok, message = check_homogeneous(["V_(s) + pi_(a, s)"])
    assert ok is False and "`V(s) + pi(a, s)`" in message  # the sum as written: labels s and a, not S or A


def test_units_unknown_names_are_rejected_including_case_variants():
    """Only the vocabulary of proofs.units parses to a known quantity or function: a case variant or a
    decorated form of a vocabulary word (LOG, S1, XXsXX, ...) is an unknown name, reported as such."""
    from proofs.units import check_homogeneous, parse_skeleton

    parse_skeleton.cache_clear()
    for word in ("s", "a", "s1", "a1"):
        for name in (word.upper(), f"XX{word}XX"):
            if name == "S" or name == "A":  # entropy and advantage are vocabulary words
                continue
            ok, message = check_homogeneous([f"tau + {name}"])
            assert ok is False and f"unknown quantity {name!r}" in message, (name, message)
    for word in ("log", "exp"):
        for name in (word.upper(), f"XX{word}XX"):
            ok, message = check_homogeneous([f"{name}(pi)"])
            assert ok is False and f"unknown function {name!r}" in message, (name, message)
    # The vocabulary's S is entropy (printed S), not the label s.
    ok, message = check_homogeneous(["S + tau"])
    assert ok is False and "`S + tau`" in message and "adds `S` (dimensionless)" in message


def test_units_messages_state_each_sides_units():
    from proofs.units import check_homogeneous, parse_skeleton

    parse_skeleton.cache_clear()
    assert check_homogeneous(["pi*KL", "log(pi)"]) == (True, "every term is dimensionless")
    assert check_homogeneous(["tau*pi", "r"]) == (True, "every term has units U^1")
    assert check_homogeneous(["L/tau"]) == (True, "every term has units U^1")
    ok, message = check_homogeneous(["tau", "pi", "epsn"])
    assert ok is False and "(`tau`: U^1, `pi`: dimensionless, `epsn`: U^-1)" in message
    ok, message = check_homogeneous(["tau + pi"])
    assert ok is False and "sum `pi + tau` adds `tau` (U^1) to `pi` (dimensionless)" in message


@pytest.mark.parametrize("text,pieces", [
    # a power needs a dimensionless base *and* a dimensionless exponent (unless the exponent is a number)
    ("pi**tau", ["power `pi**tau`", "dimensionless base and exponent"]),
    ("tau**gamma", ["power `tau**gamma`", "dimensionless base and exponent"]),
    # log/exp: the expression, its argument and the argument's units, and which function
    ("log(tau)", ["`log(tau)`: the argument", "argument `tau` has units U^1", "log needs a dimensionless argument"]),
    ("exp(r/pi)", ["`exp(r/pi)`: the argument", "argument `r/pi` has units U^1", "exp needs a dimensionless argument"]),
    # a function that passes its argument's units through takes exactly one argument
    ("E(pi, tau)", ["E(...) takes one argument, got `E(pi, tau)`"]),
    # a sum names both terms and their units
    ("Q_(s, a) + pi", ["adds `Q(s, a)` (U^1) to `pi` (dimensionless)"]),
])
def test_units_errors_name_the_offending_expression_and_its_units(text, pieces):
    """UnitsError from :func:`dimension` itself (check_homogeneous adds the side's text in front)."""
    from proofs.units import UnitsError, check_homogeneous, dimension, parse_skeleton

    parse_skeleton.cache_clear()
    with pytest.raises(UnitsError) as info:
        dimension(parse_skeleton(text))
    message = str(info.value)
    for piece in pieces:
        assert piece in message, (piece, message)
    assert check_homogeneous([text]) == (False, f"`{text}`: {message}")


def test_units_an_expression_outside_the_skeleton_language_cannot_be_analysed():
    """A sympy function that is not in the language (sin) or a relation is refused, naming it and its type."""
    from proofs.units import UnitsError, dimension, parse_skeleton

    parse_skeleton.cache_clear()
    for text, kind in (("sin(pi)", "sin"), ("tau < r", "StrictLessThan")):
        with pytest.raises(UnitsError) as info:
            dimension(parse_skeleton(text))
        assert f"cannot analyse `{text}` ({kind})" in str(info.value)
    with pytest.raises(UnitsError) as info:
        dimension(parse_skeleton("F_(s) + tau"))
    assert "unknown function 'F_'" in str(info.value)


# --------------------------------------------------------------------------- induction: witness values


def test_generic_value_is_the_documented_formula_distinct_and_in_0_2():
    """(2i + 3)/(4i + 5 + 2j) + j/3, computed by hand at five points, and the documented properties over
    the first five sequences (j ≤ 4: the first term is < 1/2 for j ≥ 1, ≤ 3/5 for j = 0, so the value is
    < 1/2 + 4/3) and indices 0..2·MAX_COUNTEREXAMPLE_N."""
    import sympy as sp

    from proofs.induction import MAX_COUNTEREXAMPLE_N, generic_value

    R = sp.Rational
    assert generic_value(0, 0) == R(3, 5)
    assert generic_value(0, 1) == R(5, 9)
    assert generic_value(1, 0) == R(16, 21)  # 3/7 + 1/3
    assert generic_value(1, 2) == R(4, 5)  # 7/15 + 1/3
    assert generic_value(2, 3) == R(23, 21)  # 9/21 + 2/3
    values = [generic_value(j, i) for j in range(5) for i in range(2 * MAX_COUNTEREXAMPLE_N + 1)]
    assert all(isinstance(v, sp.Rational) and 0 < v < 2 for v in values)
    assert len(set(values)) == len(values)


def test_seq_witness_label_shows_the_first_three_elements_of_each_sequence():
    """The witness label (printed with every counterexample) is '<label>; r_t = v0, v1, v2, …; V_t = …', the
    values by hand from generic_value (r is sequence 0, V sequence 1), three shown even when more exist."""
    from proofs.induction import Seq

    witness = Seq("r V").witness({}, 5, "γ = 1/2")
    assert witness.label == "γ = 1/2; r_t = 3/5, 5/9, 7/13, …; V_t = 16/21, 26/33, 4/5, …"


# --------------------------------------------------------------------------- induction: the inductive step

def _telescope_with(extra):
    """Σ_{t<n} γ^t (γ V_{t+1} − V_t) = γ^n V_n − V_0 + extra(n), on a witness long enough for n ≤ 9."""
    import sympy as sp

    from proofs.induction import MAX_COUNTEREXAMPLE_N, Seq, by_induction

    gamma = sp.Symbol("gamma", positive=True)
    seq = Seq("r V")
    witness = seq.witness({gamma: sp.Rational(1, 2)}, MAX_COUNTEREXAMPLE_N + 2, "γ = 1/2")
    return by_induction(
        "telescoping", lambda t: gamma**t * (gamma * seq.V(t + 1) - seq.V(t)), lambda n: 0,
        lambda t: 0, lambda n: gamma**n * seq.V(n) - seq.V(0) + extra(n), witness,
        wrong=(lambda t: 0, lambda n: gamma**n * seq.V(n)), wrong_label="no −V_0",
    )


def test_induction_counterexample_search_reaches_exactly_max_counterexample_n():
    """A statement that is right for n = 1..7 and wrong from n = 8 = MAX_COUNTEREXAMPLE_N fails with the
    counterexample n = 8; one right up to n = 8 and wrong from n = 9 is *undecided* (ArithmeticError), not
    a failure found beyond the documented search range."""
    import math

    from proofs.induction import MAX_COUNTEREXAMPLE_N

    assert MAX_COUNTEREXAMPLE_N == 8
    at8 = _telescope_with(lambda n: math.prod(n - k for k in range(1, 8)))  # zero for n = 1..7
    assert at8.outcome == "fail" and at8.counterexample.startswith("n = 8 at γ = 1/2")
    with pytest.raises(ArithmeticError, match="undecided"):
        _telescope_with(lambda n: math.prod(n - k for k in range(1, 9)))  # zero for n = 1..8


def test_induction_counterexample_threshold_is_relative_to_the_larger_side_and_at_least_1():
    """The search reports n only when |LHS − RHS| > REFUTE_THRESHOLD · max(|LHS|, |RHS|, 1) (strictly).
    Called on constant sides (no sequence symbols; exact rationals, so every value below is exact in the
    50-digit evaluation) through the private search itself, because by_induction reaches it only with a
    non-reducing step, where such sizes cannot be placed: each pair sits on one side of the threshold by
    a relative margin ≥ 5e-7 (far above the 15-digit threshold's rounding), except the exact tie."""
    import sympy as sp

    from proofs.induction import _first_difference
    from proofs.symbolic import REFUTE_THRESHOLD, Witness

    R = sp.Rational

    def differs(lhs, rhs):
        return _first_difference(lambda t: 0, lambda n: lhs, lambda t: 0, lambda n: rhs, Witness({}, "w"))

    big, d = R(10**6), R(9999995, 10**7)  # d = 0.9999995: ≤ 1e-6·10⁶ = 1, but > 1e-6·(10⁶ − d)
    assert differs(big, big - d) is None and differs(big - d, big) is None  # scale = the larger side
    assert differs(R(5, 10**7), 0) is None  # 5e-7 ≤ 1e-6 · 1: the scale is at least 1 ...
    assert differs(R(15, 10**7), 0) == "n = 1 at w: LHS = 1.5e-06, RHS = 0 (difference 1.5e-06)"  # ... and 1
    tie = R(REFUTE_THRESHOLD)  # the threshold's exact binary value: difference = threshold · 1
    assert differs(tie, 0) is None  # strictly greater is required
    assert differs(R(3), R(1)) == "n = 1 at w: LHS = 3, RHS = 1 (difference 2)"


# --------------------------------------------------------------------------- registry: the Verdict record


def test_evaluate_claim_returns_the_whole_verdict_record():
    """An erroring check makes the verdict 'error' with the reason 'a check raised'; the record carries the
    claim itself and every check's result (the report prints claim.id and the results next to the verdict)."""
    from proofs import core
    from proofs.core import CheckResult
    from proofs.registry import Claim, Verdict, evaluate_claim

    def boom():
        raise RuntimeError("bug in a check")

    ok = passed("ok", negative_control="wrong variant", negative_control_gap=0.5, negative_control_threshold=1e-4)
    core.check("testonly_kills_boom", kind="numeric")(boom)
    core.check("testonly_kills_ok", kind="numeric")(lambda: ok)
    try:
        claim = Claim(id="testonly_kills", equations=(1,), section="2", kind="identity", statement="x",
                      checks=("testonly_kills_ok", "testonly_kills_boom"))
        verdict = evaluate_claim(claim)
        assert verdict == Verdict(claim, "error", {
            "testonly_kills_ok": ok,
            "testonly_kills_boom": CheckResult("error", "check raised RuntimeError: bug in a check"),
        }, {}, "a check raised")
        assert verdict.is_problem
    finally:
        for cid in ("testonly_kills_boom", "testonly_kills_ok"):
            core._CHECKS.pop(cid, None)
            core._CACHE.pop(cid, None)


_CONTROLLED = dict(negative_control="wrong variant", negative_control_gap=0.5, negative_control_threshold=1e-4)


def _branch_results():
    from proofs.core import CheckResult, failed, inconclusive, pending

    return {
        "ok": passed("ok", **_CONTROLLED),  # a pass whose negative control was refuted: evidence
        "bare": passed("bare"),  # a pass without a control: never evidence on its own
        "no": failed("no", "at w"),
        "wait": pending("no data yet"),
        "unsure": inconclusive("data does not decide"),
        "boom": CheckResult("error", "check raised RuntimeError: bug in a check"),
    }


# (kind, checks, correction checks, uncertain) -> (verdict, reason); correction results only where reached.
_BRANCHES = [
    ("empirical", ("ok", "no", "wait"), (), None, "not reproduced", ""),
    ("empirical", ("ok", "wait", "unsure"), (), None, "pending", ""),
    ("empirical", ("ok", "unsure"), (), None, "inconclusive", ""),
    ("empirical", ("ok",), (), None, "holds", ""),
    ("identity", ("ok", "boom"), ("ok",), None, "error", "a check raised"),
    ("identity", ("ok",), (), None, "holds", ""),
    ("definition", ("ok",), (), None, "definition", ""),
    ("identity", ("bare",), (), None, "error", "NO_CONTROL"),
    ("identity", ("no",), ("ok", "boom"), None, "error", "a check of the correction raised"),
    ("identity", ("no",), ("bare",), None, "error", "correction: NO_CONTROL"),
    ("identity", ("no",), ("ok",), None, "fails as printed", ""),
    ("identity", ("no",), ("ok",), "garbled extraction", "uncertain", ""),
    ("identity", ("no",), ("ok", "no"), None, "fails", ""),
    ("identity", ("no",), (), None, "fails", ""),
]


@pytest.mark.parametrize(("kind", "checks", "corrections", "uncertain", "verdict", "reason"), _BRANCHES)
def test_every_branch_of_evaluate_claim_returns_the_whole_record(kind, checks, corrections, uncertain, verdict,
                                                                 reason):
    """Each branch of the verdict rule, compared as a whole Verdict record: the claim itself, the verdict,
    every check's result, the correction results exactly where the rule reads them, and the reason."""
    from proofs import core, registry
    from proofs.registry import Claim, Verdict, evaluate_claim

    results = _branch_results()
    ids = {name: f"testonly_branch_{name}" for name in results}
    for name, result in results.items():
        core.check(ids[name], kind="numeric")(lambda result=result: result)
    try:
        claim = Claim(id="testonly_branch", equations=(1,), section="2", kind=kind, statement="x",
                      checks=tuple(ids[c] for c in checks), correction="y" if corrections else None,
                      correction_checks=tuple(ids[c] for c in corrections), uncertain=uncertain)
        expected_corrections = (
            {ids[c]: results[c] for c in corrections} if kind != "empirical" and "boom" not in checks
            and not all(results[c].outcome == "pass" for c in checks) else {}
        )
        expected = Verdict(claim, verdict, {ids[c]: results[c] for c in checks}, expected_corrections,
                           reason.replace("NO_CONTROL", registry._NO_CONTROL))
        assert evaluate_claim(claim) == expected
    finally:
        for cid in ids.values():
            core._CHECKS.pop(cid, None)
            core._CACHE.pop(cid, None)


@pytest.mark.parametrize("outcome", ["pending", "inconclusive"])
def test_only_an_empirical_claim_may_have_an_empirical_check(outcome):
    from proofs import core
    from proofs.core import CheckResult
    from proofs.registry import Claim, evaluate_claim

    core.check("testonly_branch_empirical", kind="numeric")(lambda: CheckResult(outcome, "no data"))
    try:
        claim = Claim(id="testonly_branch", equations=(1,), section="2", kind="identity", statement="x",
                      checks=("testonly_branch_empirical",))
        with pytest.raises(ValueError, match="claim 'testonly_branch': only empirical claims may use empirical"):
            evaluate_claim(claim)
    finally:
        core._CHECKS.pop("testonly_branch_empirical", None)
        core._CACHE.pop("testonly_branch_empirical", None)


def test_evaluate_all_runs_single_threaded_and_evaluates_what_it_is_given(monkeypatch):
    """The given claims in order (never the whole registry instead); the registry when given nothing;
    torch single-threaded while the checks run and its thread count restored afterwards."""
    import torch

    from proofs import core, registry
    from proofs.registry import Claim, evaluate_all

    seen = []
    core.check("testonly_threads", kind="numeric")(
        lambda: seen.append(torch.get_num_threads()) or passed("ok", **_CONTROLLED))
    claims = tuple(Claim(id=f"testonly_all_{i}", equations=(1,), section="2", kind="identity", statement="x",
                         checks=("testonly_threads",)) for i in range(2))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert [v.claim for v in evaluate_all(claims[::-1])] == list(claims[::-1])
        assert seen == [1] and torch.get_num_threads() == 2
        monkeypatch.setattr(registry, "load_registry", lambda: claims)
        assert [v.claim for v in evaluate_all()] == list(claims)
    finally:
        torch.set_num_threads(before)
        core._CHECKS.pop("testonly_threads", None)
        core._CACHE.pop("testonly_threads", None)


# --------------------------------------------------------------------------- induction: the whole result


def _telescoping_parts():
    import sympy as sp

    from proofs.induction import Seq

    seq, gamma = Seq("V"), sp.Symbol("gamma", positive=True)
    witness = seq.witness({gamma: sp.Rational(1, 2)}, 9, "γ = 1/2")
    lhs_term = lambda t: gamma**t * (gamma * seq.V(t + 1) - seq.V(t))  # noqa: E731
    rhs_rest = lambda n: gamma**n * seq.V(n) - seq.V(0)  # noqa: E731
    return seq, gamma, witness, lhs_term, rhs_rest


@pytest.mark.parametrize("label", [None, "no −V_0"])
def test_by_induction_pass_carries_the_base_cases_control_and_measurements(label):
    """A pass reports exactly the negative control of the base case n = 1 (wrong side built at n = 1, label as
    given, "" by default) and the base case's measurements."""
    from proofs.induction import _side, by_induction
    from proofs.symbolic import decide

    seq, gamma, witness, lhs_term, rhs_rest = _telescoping_parts()
    zero = lambda t: 0  # noqa: E731
    wrong = (lambda t: 0, lambda n: gamma**n * seq.V(n))
    kw = {} if label is None else {"wrong_label": label}
    result = by_induction("telescoping", lhs_term, zero, zero, rhs_rest, witness, wrong=wrong, **kw)
    base = decide(_side(lhs_term, zero, 1), _side(zero, rhs_rest, 1), witness, statement="telescoping, n = 1",
                  wrong=_side(*wrong, 1), wrong_label=label or "")
    assert result == dataclasses.replace(
        base, detail="telescoping: base case n = 1 and the inductive step n → n+1 reduce to 0 exactly "
                     "(so it holds for every n ≥ 1)")
    assert result.negative_control.startswith(f"{label or ''}: differs by ")


def test_by_induction_returns_the_failing_explicit_case():
    """Right at n = 1, wrong at n = 2 (n² against 2n − 1): the n = 2 decision itself is the result."""
    from proofs.induction import by_induction

    _, _, witness, _, _ = _telescoping_parts()
    zero = lambda t: 0  # noqa: E731
    result = by_induction("squares", zero, lambda n: n**2, zero, lambda n: 2 * n - 1, witness,
                          wrong=(zero, lambda n: n + 5), wrong_label="off by 5")
    assert result.outcome == "fail"
    assert result.detail == "squares, n = 2: does not hold"
    assert result.counterexample.startswith("at γ = 1/2") and "LHS = 4, RHS = 3" in result.counterexample


def test_by_induction_failing_step_names_the_symbolic_increment():
    """A statement right for n = 1, 2, 3 and wrong from n = 4 on fails at the inductive step; the detail shows
    the increment difference, the counterexample the first n whose sides differ."""
    import sympy as sp

    from proofs.induction import N_SYMBOL, by_induction

    _, _, witness, _, _ = _telescoping_parts()
    zero = lambda t: 0  # noqa: E731
    cubic = lambda n: (n - 1) * (n - 2) * (n - 3)  # noqa: E731  (0 at n = 1, 2, 3)
    result = by_induction("cubic", zero, cubic, zero, lambda n: 0, witness, wrong=(zero, lambda n: n + 5),
                          wrong_label="off")
    n = N_SYMBOL
    step = (0 + cubic(n + 1) - cubic(n)) - (0 + 0 - 0)  # the increment as by_induction builds it
    assert result.outcome == "fail"
    assert result.detail == (f"cubic: the inductive step does not hold (increment difference {sp.sstr(step)} ≠ 0 "
                             "for symbolic n)")
    assert result.counterexample == "n = 4 at " + witness.label + ": LHS = 6, RHS = 0 (difference 6)"


def test_by_induction_undecided_message(monkeypatch):
    import proofs.induction as induction

    seq, gamma, witness, lhs_term, rhs_rest = _telescoping_parts()
    zero = lambda t: 0  # noqa: E731
    monkeypatch.setattr(induction, "is_zero", lambda e: False)
    with pytest.raises(ArithmeticError) as info:
        induction.by_induction("telescoping", lhs_term, zero, zero, rhs_rest, witness,
                               wrong=(zero, lambda n: gamma**n * seq.V(n)), wrong_label="w")
    assert str(info.value) == (
        "telescoping: the inductive step does not reduce to 0, yet the sides agree at the witness for n ≤ 8 — "
        "undecided; strengthen the canonical form or lengthen the witness")


# --------------------------------------------------------------------------- registry.validate and Seq


@pytest.mark.parametrize(("claims", "message"), [
    ([5], "registry entries must be Claim instances, got int: 5"),
    ([_valid_claim(equations=[1])], "claim 'eq001': equations must be a tuple of ints, got [1]"),
    ([_valid_claim(equations=(True,))], "claim 'eq001': equation number True is outside 1..90"),
    ([_valid_claim(equations=("5",))], "claim 'eq001': equation number '5' is outside 1..90"),
    ([_valid_claim(correction=" ", correction_checks=("units_eq001",))], "claim 'eq001': empty correction"),
    ([_valid_claim(qualification=" ")], "claim 'eq001': empty qualification"),
    ([_valid_claim(evidence=("tests/test_x.py",))], "claim 'eq001': evidence must be pytest node ids"),
    ([_valid_claim(evidence=("other/test_x.py::test_y",))], "claim 'eq001': evidence must be pytest node ids"),
])
def test_validate_rejects_with_the_exact_message(claims, message):
    from proofs.loader import load_checks
    from proofs.registry import validate

    with pytest.raises(ValueError) as info:
        validate(claims, load_checks())
    assert str(info.value).startswith(message), str(info.value)


def test_seq_elements_and_attribute_rules():
    """Seq("V").V(3) is the real symbol V_3, V(n) a real function value; an unknown or private name is an
    AttributeError naming it; copies work (no lookup of private names through the sequences)."""
    import copy

    import sympy as sp

    from proofs.induction import Seq

    seq = Seq("r V")
    assert seq.V(3) == sp.Symbol("V_3", real=True)
    assert seq.V(sp.Symbol("n")).is_real is True
    for name in ("W", "_r"):
        with pytest.raises(AttributeError) as info:
            getattr(seq, name)
        assert str(info.value) == name
    assert copy.deepcopy(seq).r(1) == seq.r(1)


def test_decide_all_messages_and_combined_failure():
    from proofs.core import CheckResult, failed
    from proofs.symbolic import decide_all

    with pytest.raises(ValueError) as info:
        decide_all([])
    assert str(info.value) == "decide_all needs at least one decision"
    with pytest.raises(ValueError) as info:
        decide_all([passed("a", **_CONTROLLED), CheckResult("pending", "b")])
    assert str(info.value) == "decide_all combines pass/fail decisions only, got ['pending']"
    combined = decide_all([failed("k = 2 fails", "at w"), passed("k = 3", **_CONTROLLED), failed("k = 4 fails", "at v")])
    assert combined == failed("k = 2 fails; k = 4 fails", "at w; at v")


# --------------------------------------------------------------------------- symbolic.decide: labels, scale, ties


def _witness_x():
    import sympy as sp

    from proofs.symbolic import Witness

    x = sp.Symbol("x", positive=True)
    return x, Witness({x: sp.Rational(1, 3)}, "x = 1/3")


def test_decide_pass_reports_default_labels_and_the_witness_residual():
    from proofs.symbolic import decide

    x, w = _witness_x()
    ok = decide(x * (x + 1), x**2 + x, w, statement="expand", wrong=x**2)
    assert ok.detail == "expand: LHS − RHS reduces to 0 exactly"
    assert ok.negative_control.startswith(": differs by ") and ok.negative_control.endswith(" at x = 1/3")
    assert ok.measurements == {"witness_residual": 0.0}
    ok = decide(x * (x + 1), x**2 + x, w, statement="expand", wrong=x**2, setting="τ > 0")
    assert ok.detail == "expand: LHS − RHS reduces to 0 exactly (τ > 0)"


def test_decide_scale_is_the_larger_side_at_least_one():
    """Not reducible, sides 10⁶ and 10⁶ − 0.9999995: the difference is ≤ 1e-6 · 10⁶ (the larger side), so the
    decision is undecided (raises), whichever side is the larger one; 1.5e-6 against 0 is refuted (scale 1)."""
    import sympy as sp

    from proofs.symbolic import decide

    _, w = _witness_x()
    big, d = sp.Integer(10**6), sp.Rational(9999995, 10**7)
    for lhs, rhs in ((big, big - d), (big - d, big)):
        with pytest.raises(ArithmeticError) as info:
            decide(lhs, rhs, w, statement="close")
        assert str(info.value).startswith("close: not reduced to 0 exactly, yet ")
        assert str(info.value).endswith(" at the witness — undecided; strengthen the canonical form or pick "
                                        "another witness")
    assert decide(sp.Rational(15, 10**7), sp.Integer(0), w, statement="small").outcome == "fail"


def test_decide_negative_control_scale_and_tie():
    """The control must differ by more than 1e-6 · scale: 1.5e-6 at scale 1 is refuted (not with a floor of 2),
    0.1 at scale 10⁶/3 is not (threshold 1/3)."""
    import sympy as sp

    from proofs.symbolic import decide

    x, w = _witness_x()
    small = decide(x / 1000, x / 1000, w, statement="s", wrong=x / 1000 + sp.Rational(15, 10**7))
    assert small.outcome == "pass"
    with pytest.raises(ArithmeticError, match="is not refuted"):
        decide(10**6 * x, 10**6 * x, w, statement="b", wrong=10**6 * x + sp.Rational(1, 10))


def test_decide_thresholds_are_inclusive_where_stated():
    """Exact ties with the thresholds (the thresholds' own binary values, so the tie is exact at 50 digits):
    a non-reduced difference of exactly 1e-6 · scale is undecided, not refuted; a negative control that
    differs by exactly 1e-6 · scale is not refuted."""
    import sympy as sp

    from proofs import symbolic
    from proofs.symbolic import decide

    x, w = _witness_x()
    tie = sp.Rational(symbolic.REFUTE_THRESHOLD)  # exactly the Float's binary value
    with pytest.raises(ArithmeticError, match="undecided"):
        decide(tie, sp.Integer(0), w, statement="tie")
    with pytest.raises(ArithmeticError, match="is not refuted"):
        decide(x, x, w, statement="control tie", wrong=(tie, sp.Integer(0)))


def test_decide_zero_tolerance_is_inclusive_and_relative_to_the_scale(monkeypatch):
    """After an exact reduction the witness residual may be up to 1e-30 · scale, inclusive.  The reduction is
    faked (is_zero → True) so that the residual can be put on the boundary."""
    import sympy as sp

    from proofs import symbolic
    from proofs.symbolic import decide

    x, w = _witness_x()
    monkeypatch.setattr(symbolic, "is_zero", lambda diff: True)
    at_tolerance = sp.Rational(symbolic.ZERO_TOLERANCE)  # scale 1
    ok = decide(at_tolerance, sp.Integer(0), w, statement="tie", wrong=x)
    assert ok.outcome == "pass" and ok.measurements["witness_residual"] == float(symbolic.ZERO_TOLERANCE)
    big = sp.Integer(10**6)  # scale 10⁶: 1e-27 is within 1e-30 · 10⁶, not within 1e-30 / 10⁶
    assert decide(big + sp.Rational(1, 10**27), big, w, statement="scaled", wrong=x).outcome == "pass"
    with pytest.raises(ArithmeticError, match="reduced to 0 but is"):
        decide(big + sp.Rational(1, 10**23), big, w, statement="too far", wrong=x)


# --------------------------------------------------------------------------- symbolic: evaluate_many, fmt, exp atoms


def test_evaluate_many_keeps_50_digits_and_accepts_only_rounding_size_imaginary_parts(monkeypatch):
    import mpmath
    import sympy as sp

    from proofs import symbolic
    from proofs.symbolic import evaluate, evaluate_many

    x, w = _witness_x()
    ninth = evaluate(x / 3, w)
    assert abs(ninth - sp.Rational(1, 9)) < sp.Float("1e-45")  # 50 digits, not a 15-digit Float
    with pytest.raises(ValueError) as info:  # log(-1/3) = log(1/3) + iπ
        evaluate(sp.log(-x), w)
    assert str(info.value).startswith("expression is not real at the witness: ")
    # imaginary parts up to 1e-40 (inclusive) are rounding: the real part is returned
    monkeypatch.setattr(symbolic, "_mp_values", lambda exprs, values: [mpmath.mpc(0.5, 1e-40)])
    assert evaluate_many([x], w) == [sp.Float(0.5, symbolic.WITNESS_DIGITS)]
    monkeypatch.setattr(symbolic, "_mp_values", lambda exprs, values: [mpmath.mpc(0.5, 2e-40)])
    with pytest.raises(ValueError, match="not real"):
        evaluate_many([x], w)
    monkeypatch.setattr(symbolic, "_mp_values", lambda exprs, values: [mpmath.mpc(0.5, 0.5)])
    with pytest.raises(ValueError, match="not real"):  # an imaginary part below 1 is not rounding either
        evaluate_many([x], w)


def test_fmt_six_significant_digits_and_zero_below_1e_12():
    import sympy as sp

    from proofs.symbolic import fmt

    assert fmt(sp.Rational(1, 3)) == "0.333333"
    assert fmt(sp.Rational(1, 3), digits=3) == "0.333"
    assert fmt(sp.Float("1e-12")) == "1e-12"  # the boundary itself is shown
    assert fmt(sp.Rational(1, 10**13)) == "0"
    # 3e-16 below the tie 0.3333335 (its printed 15-digit decimal is the tie itself): still rounded down
    assert fmt(sp.Rational(3333335, 10**7) - sp.Rational(3, 10**16)) == "0.333333"


def test_exp_of_a_sum_with_a_constant_term_keeps_the_constant_as_a_number():
    """exp(x + 2) → E_x · e²: the constant term is a number, not a new exponential symbol."""
    import sympy as sp

    from proofs import symbolic

    x = sp.Symbol("x", positive=True)
    out = symbolic._exp_to_symbols(sp.exp(x + 2))
    e_x = symbolic._exp_symbol(x)
    assert out.free_symbols == {e_x}
    assert sp.simplify(out / e_x - sp.exp(2)) == 0


def test_decide_all_keeps_the_weakest_control_relative_to_its_own_threshold():
    """The combined result carries the control with the smallest gap / threshold: a gap of 10 over a threshold
    of 1 (×10) is weaker than 1e-3 over 1e-6 (×1000), although its gap is larger.  Without any control it
    refuses to pass."""
    from proofs.core import passed
    from proofs.symbolic import decide_all

    loose = passed("k = 2", negative_control="loose", negative_control_gap=10.0, negative_control_threshold=1.0)
    tight = passed("k = 3", negative_control="tight", negative_control_gap=1e-3, negative_control_threshold=1e-6)
    for order in ((loose, tight), (tight, loose)):
        combined = decide_all(list(order))
        assert combined.outcome == "pass" and combined.control() == loose.control()
    with pytest.raises(ValueError) as info:
        decide_all([passed("k = 2"), passed("k = 3")])
    assert str(info.value) == "decide_all: none of the decisions carries a refuted negative control"
