"""The catalogue of realistic RL-loss bugs (tests/bug_catalogue.py) is caught by the suite.

For every bug: each property test named in ``caught_by`` is run with the wrong variant monkeypatched in
and must fail — by a failing assertion (a check), unless the entry declares that test a crash — and the
row it produces must equal the committed row of tests/BUG_CATALOGUE.md (all but the error column, which
quotes the first failing example and may change with the hypothesis version).  Separately, every named test
is run with the same reduced settings on the real implementation and must pass, so that "caught" is
not an artefact of the settings (a named test without hypothesis runs unchanged, so its own run in the
suite is that control); and the named tests must be in the default suite (no slow / gpu / atari marker).

Write mode (``python -m tests.bug_catalogue --write``, which sets EQUIV_WRITE_BUG_CATALOGUE=1 and runs
this file with -p no:xdist) records the rows instead of comparing them and rewrites the table in the
last test of the file.
"""

from __future__ import annotations

import inspect
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import bug_catalogue as catalogue

WRITE = os.environ.get(catalogue.WRITE_ENV) == "1"
STALE = "tests/BUG_CATALOGUE.md is stale: regenerate it with `python -m tests.bug_catalogue --write`"
NAMED_TESTS = sorted({node_id for bug in catalogue.CATALOGUE for node_id in bug.caught_by})
_rows: dict[str, str] = {}  # write mode: rows measured in this process


def _without_error_column(row: str) -> str:
    """The table row without its last cell (the error of the first failing example)."""
    return row.rstrip().rstrip("|").rsplit("|", 1)[0]


@pytest.mark.parametrize("bug", catalogue.CATALOGUE, ids=[bug.name for bug in catalogue.CATALOGUE])
def test_bug_is_caught_by_every_named_test(bug: catalogue.Bug):
    outcomes = catalogue.evaluate(bug)
    missed = [o.node_id for o in outcomes if o.passed]
    assert not missed, f"{bug.name} ({bug.target}) is NOT caught by {missed}"
    for outcome in outcomes:
        if outcome.node_id in bug.crashes:
            assert outcome.kind != "AssertionError", f"{bug.name}: {outcome.node_id} was declared a crash"
        else:
            assert outcome.kind == "AssertionError", (
                f"{bug.name}: {outcome.node_id} failed by {outcome.kind} ({outcome.message}), not by a check"
            )
    row = catalogue.render_row(catalogue.CATALOGUE.index(bug) + 1, bug, outcomes)
    if WRITE:
        _rows[bug.name] = row
    else:
        # Bug, origin, target and catching tests must match the committed row exactly.  The error
        # column records the first failing example's message: it is documentation, regenerated with
        # --write, and not compared, because the examples a derandomized hypothesis draws (and pytest's
        # assertion messages) may change between library versions without anything being wrong.
        committed = catalogue.committed_rows().get(bug.name)
        assert committed is not None, f"{STALE}\nmissing row for {bug.name}"
        assert _without_error_column(committed) == _without_error_column(row), f"{STALE}\nmeasured row:\n{row}"


def _is_property_test(node_id: str) -> bool:
    return hasattr(catalogue.resolve(node_id)[0], "hypothesis")


# Only the property tests need a control run: the reduced settings change their examples.  A named test
# without hypothesis runs in the catalogue exactly as in the suite (same function, same arguments, no
# fixtures), so the suite's own run of it, which must pass, is its control.
PROPERTY_TESTS = [n for n in NAMED_TESTS if _is_property_test(n)]


@pytest.mark.parametrize("node_id", PROPERTY_TESTS, ids=[n.split("::", 1)[1] for n in PROPERTY_TESTS])
def test_named_test_passes_on_the_real_implementation(node_id: str):
    """The property tests that catch the bugs pass on equiv itself with the same reduced settings."""
    assert not catalogue.default_suite_markers(node_id), f"{node_id} is not in the default suite"
    outcome = catalogue.run_test(node_id)
    assert outcome.passed, f"{node_id} fails on the real implementation: {outcome.kind}: {outcome.message}"


def test_the_other_named_tests_run_unchanged_in_the_default_suite():
    """Every named test without hypothesis is in the default suite (so its own run there is the control) and
    takes no fixture (so the catalogue runs it exactly as pytest does); the split tells the two kinds apart."""
    others = [n for n in NAMED_TESTS if n not in PROPERTY_TESTS]
    assert others and PROPERTY_TESTS
    for node_id in others:
        function, kwargs = catalogue.resolve(node_id)
        assert not catalogue.default_suite_markers(node_id), f"{node_id} is not in the default suite"
        assert set(inspect.signature(function).parameters) == set(kwargs), f"{node_id} takes a fixture"
    assert _is_property_test(PROPERTY_TESTS[0]) and not _is_property_test(others[0])


def test_catalogue_entries_are_well_formed():
    """Unique names; each variant replaces an existing function and keeps its signature; every named
    test resolves to a test function; every issue-listed class of bug is present."""
    names = [bug.name for bug in catalogue.CATALOGUE]
    assert len(set(names)) == len(names)
    for bug in catalogue.CATALOGUE:
        original = bug.original
        assert callable(original) and original is not bug.wrong
        parameters = list(inspect.signature(original).parameters)
        assert list(inspect.signature(bug.wrong).parameters) == parameters, (
            f"{bug.name}: the variant must be a drop-in replacement of {bug.target}"
        )
        assert bug.caught_by, f"{bug.name} names no test"
        assert set(bug.crashes) <= set(bug.caught_by)
        for node_id in bug.caught_by:
            function, _ = catalogue.resolve(node_id)
            assert function.__name__.startswith("test_")
    printed = {bug.name for bug in catalogue.CATALOGUE if bug.name.startswith("printed_")}
    assert {"printed_eq43_lambda_backup", "printed_eq37_nstep_value_backup", "printed_eq82_kl_target",
            "printed_eq83_entropy_target", "printed_sec63_one_over_gamma", "printed_eq80_without_bootstrap",
            "printed_eq54_value_target"} <= printed


def test_applied_reaches_every_namespace_and_restores_it():
    """A variant replaces the function where modules imported it by name (equiv, equiv.targets, the
    test modules) and the originals come back afterwards, also when the body raises."""
    import equiv
    import equiv.losses
    import tests.test_boltzmann

    bug = next(b for b in catalogue.CATALOGUE if b.name == "reverse_kl")
    original = bug.original
    holders = [equiv, equiv.boltzmann, equiv.losses, tests.test_boltzmann]
    with pytest.raises(KeyboardInterrupt), catalogue.applied(bug) as names:
        assert all(module.kl_divergence is bug.wrong for module in holders)
        assert "equiv.kl_divergence" in names and "tests.test_boltzmann.kl_divergence" in names
        raise KeyboardInterrupt  # also an exception that run_test would not catch
    assert all(module.kl_divergence is original for module in holders)


_calls: list[int] = []


@given(st.integers(0, 10**9))
def _counting_property(x: int) -> None:
    _calls.append(x)


def test_reduced_examples_bound_the_number_of_examples():
    """The example budget really applies to hypothesis tests (it goes through a hypothesis internal)."""
    _calls.clear()
    with catalogue._reduced_examples(_counting_property, 7):
        _counting_property()
    assert len(_calls) == 7
    _calls.clear()
    _counting_property()  # the test's own settings are back
    assert len(_calls) > 7


def test_detection_rates_cover_the_catalogue_and_need_no_luck():
    """tests/BUG_CATALOGUE_RATES.md (measured separately, ~45 s) lists exactly the catalogue's pairs; in
    the recorded measurement no input fails on the real code, and every pair exposes its bug on at
    least a quarter of the random inputs, so that 20 fresh examples would miss it with probability
    < 0.75^20 ≈ 0.3%: a catch here does not rest on a lucky example."""
    rows = catalogue.recorded_rates()
    expected = [(bug.name, test.split("/", 1)[1]) for bug in catalogue.CATALOGUE for test in bug.caught_by]
    stale = "tests/BUG_CATALOGUE_RATES.md is stale: run `python -m tests.bug_catalogue --rates 200`"
    assert [(bug, test) for bug, test, *_ in rows] == expected, stale
    for bug, test, failing, real, valid in rows:
        assert real == 0, f"{test} failed on the real implementation for {real} random inputs"
        assert failing >= valid / 4, f"{bug} is exposed by {test} on only {failing} / {valid} random inputs"


def test_table_is_complete_and_in_catalogue_order():
    """The committed table is exactly the rendering of its rows, one per bug, in catalogue order (the
    rows themselves are compared with measurements above).  In write mode: rewrite it."""
    if WRITE:
        assert set(_rows) == {bug.name for bug in catalogue.CATALOGUE}, "run the whole file to write it"
        catalogue.TABLE.write_text(
            catalogue.render([_rows[bug.name] for bug in catalogue.CATALOGUE]), encoding="utf-8"
        )
        return
    committed = catalogue.committed_rows()
    assert set(committed) == {bug.name for bug in catalogue.CATALOGUE}, STALE
    expected = catalogue.render([committed[bug.name] for bug in catalogue.CATALOGUE])
    assert catalogue.TABLE.read_text(encoding="utf-8") == expected, STALE
