"""The conformance kit (equiv.testing): it passes on equiv, and fails — naming the right equation — on
every wrong variant of tests/bug_catalogue.py that maps to one of its contracts (the negative controls),
through the plain functions, the pytest plugin (pytester) and the CLI (subprocess).  The bugs whose function
no adapter reaches (NOT_PATCHABLE) are made by user-level adapters in tests/test_kit_user_bugs.py.

Variants are applied only in the namespaces the reference adapter reaches (equiv.targets, equiv.losses,
equiv.testing.reference): the kit's ground truth (equiv.mdp, equiv.testing._truth) stays unpatched.
Speed: checks run with their explicit first example + 2 generated ones and no shrinking here (each failing check stops at its first failing
example); one test shows the shrinking.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import equiv.losses
import equiv.targets
import equiv.testing.reference
from equiv.testing import CHECKS, EQUIV, EQUIV_ENTROPY, ConformanceError, classify_pg_loss, run_checks
from tests import bug_catalogue
from tests.kit_fixtures import BROKEN_TRUNCATION, NAIVE
from tests.test_kit_user_bugs import USER_LEVEL

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = 2
pytest_plugins = ["pytester"]

# bug → (the check that must fail, a substring of the equation it must name)
MAPPED = {
    "entropy_outside_done_mask": ("soft_target", "Eq. (45)"),
    "next_state_entropy_dropped": ("soft_target", "Eq. (45)"),
    "kl_sign_flipped_in_return": ("soft_target", "Eq. (46)"),
    "kl_sign_flipped_in_policy_loss": ("a2c", "Eq. (80)"),
    "reverse_kl": ("soft_target", "Eq. (46)"),
    "target_not_detached": ("eq65", "Eq. (65)"),
    "value_target_not_detached": ("a2c", "(80)"),  # V̂ carries −τKL: the gradient leaks into π too
    "bootstrap_through_terminal": ("soft_target", "Eq. (46)"),
    "truncation_as_termination": ("truncation", "time limit"),
    "nstep_discount_off_by_one": ("soft_target", "Eq. (46)"),
    "lambda_accumulator_not_reset": ("lambda_target", "Eqs. (42)-(43)"),
    "logsumexp_without_max_shift": ("boltzmann", "Eq. (29)"),
    "reference_policy_ignored": ("boltzmann", "Eq. (29)"),
    "boltzmann_policy_missing_tau": ("boltzmann", "Eq. (30)"),
    "printed_eq82_kl_target": ("soft_target", "Eq. (45)"),
    "printed_eq80_without_bootstrap": ("a2c", "(80)"),
    "printed_eq54_value_target": ("soft_target", "Eq. (46)"),
    "printed_eq11_soft_value": ("boltzmann", "Eq. (29)"),
    "printed_eq83_entropy_target": ("soft_target", "Eq. (45)"),  # through EQUIV_ENTROPY (regularizer="entropy")
}
ENTROPY_CONVENTION = {"printed_eq83_entropy_target"}
# Catalogue bugs that patching cannot apply: their function is the kit's own ground truth or an exact evaluator /
# diagnostic that no adapter calls, so the patched reference adapter would still pass.  A user can make each of these
# mistakes in their own code: tests/test_kit_user_bugs.py writes each into a user-level adapter (USER_LEVEL).
NOT_PATCHABLE = {
    "hard_max_backup": "replaces equiv.mdp.boltzmann_backup, the ground truth of check_soft_target (n = 1)",
    "soft_backup_missing_tau": "replaces equiv.mdp.boltzmann_backup, the ground truth of check_soft_target (n = 1)",
    "one_step_entropy_bonus_claimed_proper": "replaces equiv.expected.mdp_expected_advantage, an exact evaluator "
    "no adapter calls (the A2C truth is equiv.testing._truth)",
    "value_coefficient_half": "replaces equiv.losses.soft_q_gradient_terms, the diagnostic split of Eq. (64): no "
    "adapter calls it",
    "printed_eq43_lambda_backup": "replaces equiv.mdp.lambda_boltzmann_backup, an exact operator no adapter calls "
    "(check_lambda_target sums expected_nstep_soft_target)",
    "printed_eq37_nstep_value_backup": "replaces equiv.mdp.nstep_policy_backup_v, an exact operator no adapter calls",
    "printed_sec63_one_over_gamma": "replaces equiv.expected.mdp_matched_soft_q_loss, an exact expected loss no "
    "adapter calls",
    "printed_eq49_r0": "replaces equiv.mdp.finite_horizon_estimator_surrogate, an exact surrogate no adapter calls",
    "printed_eq52_without_kl_gradient": "replaces equiv.expected.mdp_a2c_loss, an exact expected loss no adapter "
    "calls",
}
# Catalogue bugs of equiv that no contract can express, with the reason: none (every NOT_PATCHABLE bug has a
# user-level form in USER_LEVEL).
NOT_A_CONTRACT: dict[str, str] = {}
# The catalogue also holds bugs of the harness (atari_check/) and of the verdict machinery (proofs/): those are
# not functions a user adapter implements, so only the bugs of equiv itself must map to a contract.
BUGS = {bug.name: bug for bug in bug_catalogue.CATALOGUE if bug.target.startswith("equiv.")}
PATCHED = (equiv.targets, equiv.losses, equiv.testing.reference)


@contextlib.contextmanager
def wrong(name: str):
    """Replace the bug's function by its variant in the namespaces the reference adapter reaches."""
    bug = BUGS[name]
    original, done = bug.original, []
    try:
        for module in PATCHED:
            for attribute, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attribute, bug.wrong)
                    done.append((module, attribute))
        assert done, f"{name}: {bug.target} is not reached by the reference adapter"
        yield
    finally:
        for module, attribute in done:
            setattr(module, attribute, original)


def test_every_catalogue_bug_is_mapped_or_excluded_with_a_reason():
    """Each equiv bug is a negative control of the kit: patched in (MAPPED), written in a user-level adapter
    (USER_LEVEL, for the NOT_PATCHABLE ones), or excluded with its reason (NOT_A_CONTRACT)."""
    assert set(MAPPED) | set(USER_LEVEL) | set(NOT_A_CONTRACT) == set(BUGS)
    assert not (set(MAPPED) | set(USER_LEVEL)) & set(NOT_A_CONTRACT)
    assert set(USER_LEVEL) - set(MAPPED) == set(NOT_PATCHABLE)
    assert all(reason.strip() for reason in NOT_A_CONTRACT.values())
    for name, reason in NOT_PATCHABLE.items():
        bug = BUGS[name]
        assert f"replaces {bug.target}," in reason, (name, reason)
        holders = [m for m in PATCHED if any(v is bug.original for v in vars(m).values())]
        if holders:  # patching reaches a namespace, but not the reference adapter: it still passes
            for _, _, check, _ in USER_LEVEL[name]:
                with wrong(name):
                    CHECKS[check][0](EQUIV, examples=EXAMPLES, shrink=False)


def test_equiv_passes_every_check():
    CHECKS["soft_target"][0](EQUIV, examples=1)  # the plain call's defaults: shrink, then explicit examples
    verdicts = run_checks(EQUIV, examples=1)
    assert [(v.check, v.status) for v in verdicts] == [(c, "holds") for c in CHECKS] + [("classify_pg", "proper")]
    entropy = {v.check: v.status for v in run_checks(EQUIV_ENTROPY, examples=1, classify=False)}
    assert entropy == {**{c: "n/a" for c in CHECKS}, **dict.fromkeys(
        ("soft_target", "truncation", "hard_limit", "reward_scaling"), "holds")}


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_catalogue_bug_fails_its_check_naming_the_equation(name):
    check, equation = MAPPED[name]
    adapter = EQUIV_ENTROPY if name in ENTROPY_CONVENTION else EQUIV
    with wrong(name), pytest.raises(ConformanceError) as info:
        CHECKS[check][0](adapter, examples=EXAMPLES, shrink=False)
    assert info.value.check == check
    assert equation in info.value.equation, info.value.equation
    assert info.value.error > 1e3 * info.value.tol  # misses by a wide margin, not by rounding


def test_failure_is_shrunk_and_printed():
    with pytest.raises(ConformanceError) as info:
        CHECKS["truncation"][0](BROKEN_TRUNCATION, examples=EXAMPLES, shrink=True)
    message = str(info.value)
    assert "time limit after row k=0" in message and "case:" in message and "S=1" in message  # shrunk to S=1


def test_classify_reports_the_naive_estimator_and_its_bias():
    c = classify_pg_loss(NAIVE)
    assert (c.estimator, c.value_target) == ("naive", "plain")
    assert c.policy_error_vs_naive <= c.tol < 1e-3 < c.policy_error_vs_proper
    assert c.naive_bias == pytest.approx(c.policy_error_vs_proper, rel=1e-6)  # g_adapter = g_(79) exactly
    p = classify_pg_loss(EQUIV)
    assert (p.estimator, p.value_target) == ("proper", "regularised")
    with pytest.raises(ConformanceError, match=r"Eq\. \(80\).*\n.*\n.*classified: policy gradient: naive"):
        CHECKS["a2c"][0](NAIVE, examples=EXAMPLES, shrink=False)


def test_examples_env_var_is_validated(monkeypatch):
    from equiv.testing import default_examples

    monkeypatch.setenv("EQUIV_TESTING_EXAMPLES", "0")
    with pytest.raises(ValueError, match="EQUIV_TESTING_EXAMPLES must be a positive integer, got '0'"):
        default_examples()
    monkeypatch.setenv("EQUIV_TESTING_EXAMPLES", "25")
    assert default_examples() == 25


def test_equiv_core_does_not_import_hypothesis_and_the_kit_says_what_it_needs(monkeypatch):
    for path in (ROOT / "equiv").glob("*.py"):  # the core modules (not equiv/testing/)
        assert "hypothesis" not in path.read_text(encoding="utf-8"), path
    for name in [m for m in sys.modules if m == "equiv.testing" or m.startswith("equiv.testing.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # as if hypothesis were not installed
    with pytest.raises(ImportError, match=r"equiv.testing needs hypothesis \(the 'test' extra\)"):
        importlib.import_module("equiv.testing")


def test_pytest_plugin_three_line_file(pytester):
    pytester.makepyfile(test_user=textwrap.dedent("""
        from tests.kit_fixtures import BROKEN_TRUNCATION as EQUIV_ADAPTER
        def test_equiv(equiv_check):
            equiv_check(examples=2, shrink=False)
    """))
    pytester.syspathinsert(ROOT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist", "-q")
    result.assert_outcomes(passed=len(CHECKS) - 2, failed=2)  # truncation, and hard_limit (truncated rows)
    result.stdout.fnmatch_lines(["*test_equiv?truncation?*", "*(46) with a time limit*"])
    result.stdout.fnmatch_lines(["*test_equiv?hard_limit?*", "*Eq. (81)*"])


def test_pytest_plugin_reports_a_check_the_adapter_cannot_run_as_skipped_with_its_reason(pytester):
    """EQUIV_ENTROPY has no A2C/eq65 methods (the entropy convention): the plugin must report eq65 as a skip that
    names the check and says why, never as a pass; soft_target, which it does implement, runs and passes."""
    pytester.makepyfile(test_user=textwrap.dedent("""
        from equiv.testing import EQUIV_ENTROPY as EQUIV_ADAPTER
        EQUIV_CHECKS = ("soft_target", "eq65")
        def test_equiv(equiv_check):
            equiv_check(examples=1, shrink=False)
    """))
    pytester.syspathinsert(ROOT)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*eq65: *"])


def test_cli_table(capsys):
    from equiv.testing.__main__ import main

    code = main(["tests.kit_fixtures:BROKEN_TRUNCATION", "--examples", "1", "--checks", "truncation,soft_target"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1 and max(map(len, lines)) <= 120
    assert lines[2].startswith("truncation") and "differs" in lines[2] and "time limit" in lines[2]
    assert lines[3].startswith("soft_target") and "holds" in lines[3]
    assert main(["tests.kit_fixtures", "--examples", "1"]) == 2
    assert "MODULE:ADAPTER" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter imports torch (~5 s here): the in-process test_cli_table covers main()
def test_cli_json_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "equiv.testing", "tests.kit_fixtures:NAIVE", "--json", "--examples",
                          "1", "--checks", "a2c,classify_pg"], check=False, capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 1, out.stderr
    verdicts = {v["check"]: v for v in json.loads(out.stdout)["verdicts"]}
    assert verdicts["a2c"]["status"] == "differs" and "Eq. (80)" in verdicts["a2c"]["detail"]
    assert verdicts["classify_pg"]["status"] == "naive" and verdicts["classify_pg"]["error"] > 0.1


def test_report_render_keeps_the_sections_it_does_not_recompute_byte_for_byte():
    """`report` rewrites only the libraries it runs: re-rendering the committed REPORT.md with none of them
    gives it back unchanged (it used to add a blank line to every kept section, so the heavy-marker sync test
    failed for libraries not installed where it ran)."""
    from equiv.testing.report import render

    committed = (Path(equiv.testing.__file__).parent / "REPORT.md").read_text(encoding="utf-8")
    assert render([], committed) == committed
