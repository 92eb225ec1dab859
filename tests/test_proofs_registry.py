"""The claims registry: coverage of (1)-(90), load-time validation, verdict logic, evidence node ids."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from proofs import core
from proofs.core import check, failed, passed, pending, registered_checks
from proofs.registry import Claim, evaluate_all, evaluate_claim, load_registry, validate

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
    "eq076",
    "eq077",
    "eq078",
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
    return {v.claim.id: v for v in evaluate_all()}


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
    assert used == set(registered_checks()), f"unused checks: {sorted(set(registered_checks()) - used)}"


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


def test_every_erratum_has_a_counterexample_and_a_passing_correction(verdicts):
    for cid in EXPECTED_ERRATA:
        v = verdicts[cid]
        assert v.counterexample, cid
        assert v.claim.correction
        assert v.correction_results and all(r.passed for r in v.correction_results.values()), cid


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
        validate(claims, registered_checks())


def test_registering_a_bad_check_is_rejected():
    with pytest.raises(ValueError, match="duplicate check id"):
        check("eq003_to_eq004", kind="symbolic")(lambda: passed("x"))
    with pytest.raises(ValueError, match="kind must be one of"):
        check("testonly_kind", kind="magic")
    with pytest.raises(ValueError, match="1..90"):
        check("testonly_range", kind="numeric", equations=(95,))


# --------------------------------------------------------------------------- verdict logic


@pytest.fixture
def fake_checks():
    """Register throw-away checks with fixed outcomes; removed afterwards."""
    outcomes = {
        "testonly_pass": passed("ok"),
        "testonly_fail": failed("printed form wrong", "at x = 1: 2 ≠ 3"),
        "testonly_pending": pending("no data"),
    }
    for cid, result in outcomes.items():
        check(cid, kind="numeric")(lambda result=result: result)

    def boom():
        raise RuntimeError("bug")

    check("testonly_error", kind="numeric")(boom)
    yield
    for cid in list(outcomes) + ["testonly_error"]:
        core._CHECKS.pop(cid, None)
        core._CACHE.pop(cid, None)


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


def test_a_failing_check_must_carry_a_counterexample():
    with pytest.raises(ValueError, match="counterexample"):
        core.CheckResult("fail", "no counterexample")


# --------------------------------------------------------------------------- evidence


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.add(f"{node.name}::{item.name}")
    return names


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
