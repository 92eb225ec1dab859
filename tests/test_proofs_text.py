"""The claims of the running text (proofs/claims_text.py) and their checks (proofs/checks/text_sentences.py).

Each check must pass with a refuted negative control (gap > 1e-4) or, for the one printed form expected to
fail, fail with a counterexample. The verdicts are also reached through the CLI, and the deliberately
broken variants below must change them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from proofs import cli, core
from proofs.checks import text_sentences
from proofs.claims import CLAIMS
from proofs.claims_text import TEXT_CLAIMS
from proofs.core import run_check
from proofs.exact import GAP
from proofs.loader import load_checks
from proofs.registry import evaluate_claim, load_registry

ROOT = Path(__file__).resolve().parents[1]
# On the worker that holds the proofs evaluation (with `--dist loadgroup`): the checks are cached there.
pytestmark = [pytest.mark.xdist_group("proofs")]  # a list: tests/bug_catalogue.py iterates it
MODULE_CHECKS = sorted(cid for cid, c in load_checks().items() if c.module.endswith("text_sentences"))
EXPECTED_FAILING = {"text3_6_scg_terms_printed"}
EXPECTED_VERDICTS = {c.id: "holds" for c in TEXT_CLAIMS if c.kind != "empirical"}
EXPECTED_VERDICTS.update({"text_3_6_scg_terms": "fails as printed"})
EXPECTED_VERDICTS.update({c.id: "pending" for c in TEXT_CLAIMS if c.kind == "empirical"})


def test_text_claims_are_in_the_registry_and_repeat_no_claim():
    ids = [c.id for c in load_registry()]
    assert len(ids) == len(set(ids))
    assert {c.id for c in TEXT_CLAIMS} <= set(ids)
    assert not {c.id for c in TEXT_CLAIMS} & {c.id for c in CLAIMS}
    assert not {c.statement for c in TEXT_CLAIMS} & {c.statement for c in CLAIMS}


def test_the_sentence_list_names_every_text_claim_and_only_existing_ids():
    text = (ROOT / "proofs" / "TEXT_SENTENCES.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:text|eq|emp)_[a-z0-9_]+)`", text))
    known = {c.id for c in load_registry()}
    assert {c.id for c in TEXT_CLAIMS} <= named
    assert named <= known, f"unknown ids in TEXT_SENTENCES.md: {sorted(named - known)}"
    new_rows = set(re.findall(r"\*\*new\*\* `([a-z0-9_]+)`", text))
    assert new_rows == {c.id for c in TEXT_CLAIMS}, (
        "rows marked **new** must be exactly the claims of claims_text.py"
    )


@pytest.mark.parametrize("check_id", MODULE_CHECKS)
def test_text_check(check_id):
    result = run_check(check_id)
    assert result.outcome != "error", result.detail
    if load_checks()[check_id].kind == "empirical":
        assert result.outcome == "pending"
    elif check_id in EXPECTED_FAILING:
        assert result.outcome == "fail" and result.counterexample
        assert result.measurements["gap"] > GAP
    else:
        assert result.outcome == "pass", f"{result.detail}: {result.counterexample}"
        assert result.negative_control, "a passing check must show its negative control"
        assert result.control_refuted and result.negative_control_gap > GAP


def test_text_claim_verdicts():
    got = {c.id: evaluate_claim(c).verdict for c in TEXT_CLAIMS}
    assert got == EXPECTED_VERDICTS


def test_cli_reports_the_new_erratum_with_counterexample_and_correction(capsys):
    assert cli.main(["--json", "--claim", "text_3_6_scg_terms"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)["claims"]
    assert doc["verdict"] == "fails as printed"
    assert "r_{t+d}" in doc["counterexample"] and doc["correction"]
    assert all(c["outcome"] == "pass" for c in doc["correction_checks"])


@pytest.fixture
def fresh_cache():
    """Run the mutated checks afresh, then restore the cached results of the real ones (so the other proofs
    tests in this process do not have to recompute the whole registry)."""
    saved = dict(core._CACHE)
    core.clear_cache()
    yield
    core.clear_cache()
    core._CACHE.update(saved)


def test_negative_control_a_wrong_correction_makes_the_verdict_a_failure(monkeypatch, fresh_cache, capsys):
    # The corrected SCG estimator replaced by the printed one: its correction check must fail → verdict
    # "fails", exit status 1, through the same CLI a user runs.
    real = text_sentences._scg_gradients
    monkeypatch.setattr(text_sentences, "_scg_gradients", lambda printed: real(True))
    assert cli.main(["--claim", "text_3_6_scg_terms"]) == 1
    assert "text_3_6_scg_terms" in capsys.readouterr().err


def test_negative_control_a_wrong_optimum_is_caught(monkeypatch, fresh_cache):
    # soft value iteration returning a perturbed Q*: every check built on π* must stop passing.
    real = text_sentences.emdp.soft_value_iteration
    monkeypatch.setattr(
        text_sentences.emdp,
        "soft_value_iteration",
        lambda mdp, **kw: real(mdp, **kw) + 0.05 * torch.arange(mdp.num_actions, dtype=torch.float64),
    )
    for claim_id in ("text_1_optimal_policy_form", "text_3_2_vq_estimates_return"):
        claim = next(c for c in TEXT_CLAIMS if c.id == claim_id)
        assert evaluate_claim(claim).verdict in ("fails", "error"), claim_id


def test_negative_control_a_wrong_value_coefficient_is_caught(monkeypatch, fresh_cache):
    # a2c loss with the value coefficient halved inside the library: the any-parameterisation claim fails.
    real = text_sentences.eexp.mdp_a2c_loss
    monkeypatch.setattr(
        text_sentences.eexp,
        "mdp_a2c_loss",
        lambda *a, value_coef, **kw: real(*a, value_coef=value_coef / 2, **kw),
    )
    claim = next(c for c in TEXT_CLAIMS if c.id == "text_4_any_parameterization")
    assert evaluate_claim(claim).verdict == "fails"
