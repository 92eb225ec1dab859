"""The claims registry: coverage of (1)-(90), load-time validation, verdict logic, evidence node ids."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
from pathlib import Path

import pytest

from proofs import core
from proofs.core import check, failed, passed, pending
from proofs.exact import GAP
from proofs.loader import load_checks
from proofs.registry import Claim, evaluate_claim, load_registry, validate
from tests import proofs_session

# One xdist worker evaluates the registry for all proofs tests (with `--dist loadgroup`).
pytestmark = [pytest.mark.xdist_group("proofs")]  # a list: tests/bug_catalogue.py iterates it

ROOT = Path(__file__).resolve().parents[1]

# The claims whose printed form fails and whose correction is checked (the errata of the paper).
EXPECTED_ERRATA = {
    "eq011",
    "eq037",
    "eq038",
    "eq043",
    "eq049",
    "eq052",
    "eq054",
    "eq071",
    "eq072",
    "eq078",
    "eq079",
    "eq080",
    "eq082",
    "eq083",
    "eq087",
    "text_5_update_eps_w",
    "text_5_regression_target",
    "text_5_damped_is_natural",
    "text_6_3_scaling",
    "text_3_6_scg_terms",  # proofs/claims_text.py
}


@pytest.fixture(scope="module")
def verdicts():
    return proofs_session.by_id()


def test_every_equation_has_its_own_claim():
    claims = {c.id: c for c in load_registry()}
    missing = [
        n for n in range(1, 91) if f"eq{n:03d}" not in claims or n not in claims[f"eq{n:03d}"].equations
    ]
    assert not missing, f"equations without a claim: {missing}"


def test_every_claim_has_checks_and_every_check_is_used():
    claims = load_registry()
    assert all(c.checks for c in claims)
    used = {cid for c in claims for cid in c.checks + c.correction_checks}
    assert used == set(load_checks()), f"unused checks: {sorted(set(load_checks()) - used)}"


def test_text_claims_of_equations_md_are_present():
    ids = {c.id for c in load_registry()}
    for cid in (
        "text_3_5_one_step_unbiased",
        "text_3_5_nstep_unbiased_on_policy",
        "text_3_6_fixed_point",
        "text_4_value_coefficient",
        "text_2_tau_rescaling",
        "text_6_3_scaling",
        "text_5_damped_is_natural",
        "text_6_2_constant",
        "emp_6_cpu_pg_vs_ql",
        "emp_6_fig1_proper_vs_naive",
        "emp_6_fig3_pg_vs_ql",
        "emp_6_unscaled_unstable",
        "emp_6_ql_stable",
    ):
        assert cid in ids


def test_no_claim_is_an_unexplained_failure(verdicts):
    problems = {cid: v.verdict for cid, v in verdicts.items() if v.is_problem}
    assert not problems


def test_errata_are_the_expected_ones(verdicts):
    errata = {cid for cid, v in verdicts.items() if v.verdict == "fails as printed"}
    assert errata == EXPECTED_ERRATA


# Printed lines whose failure the garbled extraction cannot attribute to this label (issue 14 §1).
EXPECTED_UNCERTAIN = {"eq076", "eq077"}


def test_uncertain_are_the_expected_ones_and_say_why(verdicts):
    uncertain = {cid for cid, v in verdicts.items() if v.verdict == "uncertain"}
    assert uncertain == EXPECTED_UNCERTAIN
    for cid in uncertain:
        assert verdicts[cid].detail.startswith("uncertain: ") and "extraction" in verdicts[cid].detail
    # (78), the last printed line, is supported by the printed fragments: a plain erratum
    assert verdicts["eq078"].verdict == "fails as printed" and "raw 2541" in verdicts["eq078"].claim.note


def test_eq079_and_eq080_are_read_the_same_way(verdicts):
    for cid in ("eq079", "eq080"):
        v = verdicts[cid]
        assert v.verdict == "fails as printed" and "n = 1" in v.counterexample
        assert "bootstrap γ^n V(s_{t+n})" in v.claim.correction


def test_every_erratum_has_a_counterexample_and_a_passing_correction(verdicts):
    for cid in EXPECTED_ERRATA | EXPECTED_UNCERTAIN:
        v = verdicts[cid]
        assert v.counterexample, cid
        assert v.claim.correction
        assert v.correction_results and all(r.passed for r in v.correction_results.values()), cid


def test_every_decided_claim_rests_on_a_refuted_negative_control(verdicts):
    """'holds' (and a checked correction) is only reached when some check could have said otherwise:
    for every claim that is not pending, one of its deciding checks — the printed statement's for
    holds/definition, the correction's for an erratum — is a non-units check whose negative control
    was measured above its threshold."""
    kinds = {cid: c.kind for cid, c in load_checks().items()}
    missing = {}
    for cid, v in verdicts.items():
        if v.verdict in ("pending", "inconclusive"):
            continue
        deciding = v.correction_results if v.verdict in ("fails as printed", "uncertain") else v.results
        refuted = [
            c
            for c, r in deciding.items()
            if r.passed
            and r.control_refuted
            and kinds[c] != "units"
            and r.negative_control_gap > r.negative_control_threshold
        ]
        if v.claim.kind == "empirical":
            # the empirical reader (proofs/empirical.py) states its control comparisons in the detail
            if v.verdict == "holds" and not all(
                "negative controls separated" in r.detail for r in v.results.values()
            ):
                missing[cid] = v.verdict
        elif not refuted:
            missing[cid] = v.verdict
    assert not missing, f"claims whose verdict no check could have contradicted: {missing}"


def test_every_numeric_correction_check_has_a_refuted_negative_control(verdicts):
    """A numeric check of a correction must be able to fail, like the symbolic ones: its negative control
    (typically the printed form) is refuted by more than GAP."""
    kinds = {cid: c.kind for cid, c in load_checks().items()}
    weak = {
        cid
        for v in verdicts.values()
        for cid, r in v.correction_results.items()
        if kinds[cid] == "numeric" and not (r.control_refuted and r.negative_control_threshold >= GAP)
    }
    assert not weak, f"numeric correction checks without a refuted negative control: {sorted(weak)}"


def test_units_checks_are_never_the_only_evidence(verdicts):
    kinds = {cid: c.kind for cid, c in load_checks().items()}
    for cid, v in verdicts.items():
        if v.verdict in ("holds", "definition"):
            assert any(kinds[c] != "units" for c in v.results), cid


def test_empirical_claims_are_never_counted_as_holding_without_data(verdicts):
    for cid, v in verdicts.items():
        if v.claim.kind == "empirical":
            assert v.verdict in ("pending", "holds", "inconclusive", "not reproduced")
            if any(r.outcome == "pending" for r in v.results.values()):
                assert v.verdict == "pending"


# --------------------------------------------------------------------------- validation


def _claim(**overrides):
    base = dict(
        id="eq001", equations=(1,), section="2", kind="definition", statement="x", checks=("units_eq001",)
    )
    base.update(overrides)
    return Claim(**base)


@pytest.mark.parametrize(
    "claims, message",
    [
        ([_claim(), _claim()], "duplicate claim id 'eq001'"),
        ([_claim(checks=("no_such_check",))], "unknown check 'no_such_check'"),
        ([_claim(equations=(91,))], "outside 1..90"),
        ([_claim(equations=(0,))], "outside 1..90"),
        ([_claim(checks=())], "has no check"),
        ([_claim(kind="lemma")], "kind must be one of"),
        ([_claim(section="8")], "section must look like"),
        ([_claim(id="Eq 1")], "claim id must match"),
        ([_claim(statement=" ")], "statement is empty"),
        ([_claim(correction="y")], "correction needs correction_checks"),
        ([_claim(evidence=("test_x.py",))], "evidence must be pytest node ids"),
        (["not a claim"], "must be Claim instances"),
    ],
)
def test_malformed_entries_are_rejected(claims, message):
    with pytest.raises(ValueError, match=message):
        validate(claims, load_checks())


def test_registering_a_bad_check_is_rejected():
    with pytest.raises(ValueError, match="duplicate check id"):
        check("eq003_to_eq004", kind="symbolic")(lambda: passed("x"))
    with pytest.raises(ValueError, match="kind must be one of"):
        check("testonly_kind", kind="magic")
    with pytest.raises(ValueError, match="1..90"):
        check("testonly_range", kind="numeric", equations=(95,))


# --------------------------------------------------------------------------- verdict logic


@contextlib.contextmanager
def registered_fake_checks():
    """Register throw-away checks with fixed outcomes; removed afterwards (fixture-free, so that the
    bug catalogue can run the tests that use it directly)."""
    outcomes = {
        "testonly_pass": passed(
            "ok",
            negative_control="a wrong variant",
            negative_control_gap=0.5,
            negative_control_threshold=1e-4,
        ),
        "testonly_pass_uncontrolled": passed("ok, but nothing could have failed"),
        "testonly_fail": failed("printed form wrong", "at x = 1: 2 ≠ 3"),
        "testonly_pending": pending("no data"),
    }

    def boom():
        raise RuntimeError("bug")

    try:
        for cid, result in outcomes.items():
            check(cid, kind="numeric")(lambda result=result: result)
        check("testonly_units", kind="units")(
            lambda: passed(
                "homogeneous",
                negative_control="U^1 + U^0",
                negative_control_gap=1.0,
                negative_control_threshold=0.5,
            )
        )
        check("testonly_error", kind="numeric")(boom)
        yield
    finally:
        for cid in list(outcomes) + ["testonly_error", "testonly_units"]:
            core._CHECKS.pop(cid, None)
            core._CACHE.pop(cid, None)


@pytest.fixture
def fake_checks():
    with registered_fake_checks():
        yield


def _verdict(**kw):
    return evaluate_claim(_claim(id="testonly", kind="identity", **kw)).verdict


def test_verdict_logic(fake_checks):
    assert _verdict(checks=("testonly_pass",)) == "holds"
    assert evaluate_claim(_claim(id="t", checks=("testonly_pass",))).verdict == "definition"
    assert (
        _verdict(
            checks=("testonly_pass", "testonly_fail"),
            correction="fixed",
            correction_checks=("testonly_pass",),
        )
        == "fails as printed"
    )
    # a failing printed form without a checked correction is a problem (exit code 1)
    assert _verdict(checks=("testonly_fail",)) == "fails"
    assert (
        _verdict(checks=("testonly_fail",), correction="fixed", correction_checks=("testonly_fail",))
        == "fails"
    )
    assert _verdict(checks=("testonly_error",)) == "error"
    assert evaluate_claim(_claim(id="e", kind="empirical", checks=("testonly_pending",))).verdict == "pending"
    assert (
        evaluate_claim(_claim(id="e", kind="empirical", checks=("testonly_fail",))).verdict
        == "not reproduced"
    )
    with pytest.raises(ValueError, match="only empirical claims"):
        _verdict(checks=("testonly_pending",))


def test_a_pass_no_check_could_have_contradicted_is_an_error():
    with registered_fake_checks():
        _a_pass_no_check_could_have_contradicted_is_an_error()


def _a_pass_no_check_could_have_contradicted_is_an_error():
    # every check passes, none with a refuted negative control: not evidence
    v = evaluate_claim(_claim(id="testonly", kind="identity", checks=("testonly_pass_uncontrolled",)))
    assert v.verdict == "error" and "negative control" in v.reason and v.is_problem
    # units checks are supplementary: a units pass (even one with a control) is not enough
    assert _verdict(checks=("testonly_units",)) == "error"
    assert _verdict(checks=("testonly_units", "testonly_pass")) == "holds"
    # the same for a correction
    assert (
        _verdict(
            checks=("testonly_fail",), correction="fixed", correction_checks=("testonly_pass_uncontrolled",)
        )
        == "error"
    )
    assert (
        _verdict(checks=("testonly_fail",), correction="fixed", correction_checks=("testonly_error",))
        == "error"
    )


def test_uncertain_and_qualified_verdicts(fake_checks):
    uncertain = evaluate_claim(
        _claim(
            id="testonly",
            kind="identity",
            checks=("testonly_fail",),
            correction="fixed",
            correction_checks=("testonly_pass",),
            uncertain="the slip may belong to the next line",
        )
    )
    assert uncertain.verdict == "uncertain" and not uncertain.is_problem
    assert "the slip may belong to the next line" in uncertain.detail
    # uncertain never hides a failure without a checked correction
    with pytest.raises(ValueError, match="uncertain"):
        validate([_claim(uncertain="why")], load_checks())
    qualified = evaluate_claim(
        _claim(id="testonly", kind="identity", checks=("testonly_pass",), qualification="for ε ≠ 1/τ")
    )
    assert qualified.verdict == "holds" and "holds under the reading: for ε ≠ 1/τ" in qualified.detail
    with pytest.raises(ValueError, match="about must be one of"):
        validate([_claim(about="mine")], load_checks())


def test_a_failing_check_must_carry_a_counterexample():
    with pytest.raises(ValueError, match="counterexample"):
        core.CheckResult("fail", "no counterexample")


# --------------------------------------------------------------------------- evidence


@functools.cache  # the registry cites a few test files hundreds of times
def _test_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(names)


def test_every_evidence_node_id_exists():
    cited = [(c.id, node) for c in load_registry() for node in c.evidence]
    assert cited, "the registry cites no property tests as evidence"
    for claim_id, node in cited:
        file, _, name = node.partition("::")
        path = ROOT / file
        assert path.is_file(), f"{claim_id}: {file} does not exist"
        assert name.split("[")[0] in _test_names(path), f"{claim_id}: {node} is not a test in {file}"


def test_claims_are_frozen_data():
    c = load_registry()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.id = "other"  # type: ignore[misc]
