"""``python -m proofs``: the table, the JSON document, --claim / --verdict / --wide, and the exit status.

The formatting is tested in-process on the shared evaluation (tests/proofs_session.py); the module entry
point runs as ``__main__`` in-process, and in a real subprocess in the slow tier.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proofs import cli, report
from proofs.claim import Claim
from proofs.core import _CACHE, _CHECKS, check, failed, passed
from proofs.registry import VERDICTS, evaluate_claim
from proofs.report import CHECK_FIELDS, JSON_FIELDS, JSON_SCHEMA
from tests import proofs_session

# One xdist worker evaluates the registry for all proofs tests (with `--dist loadgroup`).
pytestmark = [pytest.mark.xdist_group("proofs")]  # a list: tests/bug_catalogue.py iterates it


@pytest.fixture(scope="module")
def verdicts():
    return list(proofs_session.verdicts())


@pytest.fixture
def main_on_shared(monkeypatch):
    """cli.main with evaluate_all served from the shared evaluation (same claims, same verdicts)."""
    by_id = proofs_session.by_id()
    monkeypatch.setattr(cli, "evaluate_all", lambda claims: [by_id[c.id] for c in claims])
    return cli.main


def test_table_and_summary(main_on_shared, capsys):
    assert main_on_shared([]) == 0
    out = capsys.readouterr().out
    assert "claim" in out.splitlines()[0] and "verdict" in out.splitlines()[0]
    for n in (1, 43, 65, 90):
        assert f"eq{n:03d}" in out
    summary = out.strip().splitlines()[-1]
    assert "equations (1)-(90) all covered" in summary
    assert "fails as printed" in summary and "holds" in summary
    assert "Errata and problems" in out and "counterexample:" in out and "correction:" in out
    table = out.split("\nErrata and problems")[0]
    assert max(len(line) for line in table.splitlines()) <= 120


def test_table_wraps_to_120_columns_and_wide_does_not(verdicts):
    narrow, wide = report.table(verdicts), report.table(verdicts, width=None)
    assert max(map(len, narrow.splitlines())) <= 120
    assert max(map(len, wide.splitlines())) > 120  # the long check lists really needed wrapping
    rows = [
        line for line in wide.splitlines()[2:] if line and line.split()[0] in {v.claim.id for v in verdicts}
    ]
    assert len(rows) == len(verdicts)  # --wide: one line per claim
    # wrapping loses no check mark
    assert sorted(narrow.split()) == sorted(wide.split())


def test_summary_counts_the_projects_evidence_apart(verdicts):
    line = report.summary(verdicts)
    project = [v for v in verdicts if v.claim.about == "project"]
    assert project and {v.claim.id for v in project} == {
        "emp_6_cpu_pg_vs_ql", "emp_6_cpu_fig1_proper_vs_naive", "emp_6_cpu_unscaled_unstable",
        "emp_6_minatar_pg_vs_ql", "emp_6_minatar_fig1_proper_vs_naive"}
    assert f"{len(verdicts) - len(project)} claims of the paper" in line
    assert f"{len(project)} of this project's own evidence" in line


def test_json_schema(main_on_shared, capsys):
    assert main_on_shared(["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == JSON_SCHEMA == "proofs.verdicts/2"
    data = doc["claims"]
    assert isinstance(data, list) and len(data) >= 100
    ids = [d["id"] for d in data]
    assert len(ids) == len(set(ids))
    covered = {e for d in data if d["id"].startswith("eq") for e in d["equations"]}
    assert covered == set(range(1, 91))
    for d in data:
        assert set(JSON_FIELDS) <= set(d), d["id"]
        assert d["verdict"] in VERDICTS
        assert d["about"] in ("paper", "project")
        assert all(isinstance(e, int) for e in d["equations"])
        assert d["checks"], d["id"]
        for c in d["checks"] + d["correction_checks"]:
            assert set(c) == set(CHECK_FIELDS)
            if c["negative_control"] is not None:
                assert c["negative_control_gap"] > c["negative_control_threshold"] > 0
        if d["verdict"] in ("fails as printed", "uncertain"):
            assert d["counterexample"] and d["correction"] and d["correction_checks"]
            assert all(c["outcome"] == "pass" for c in d["correction_checks"])
        else:
            assert d["correction"] is None


def test_single_claim_details_and_id_forms(main_on_shared, capsys):
    assert main_on_shared(["--claim", "EQ043", "--claim", "61"]) == 0
    out = capsys.readouterr().out
    assert "eq043: fails as printed" in out and "eq061: holds" in out
    assert "counterexample:" in out and "negative control:" in out
    assert "equations missing" not in out and "all covered" not in out  # no coverage line for a subset
    assert out.strip().splitlines()[-1].startswith("2 claims of the paper")


@pytest.mark.parametrize("text", ["eq065", "65", "EQ065", "eq65", "(65)", " Eq065 "])
def test_claim_id_forms(text):
    assert cli.normalize_claim_id(text, {"eq065", "text_5_x"}) == "eq065"


def test_unknown_claim_is_a_usage_error_with_a_suggestion(capsys):
    assert cli.main(["--claim", "eq999"]) == 2
    assert "unknown claim id: 'eq999'" in capsys.readouterr().err
    assert cli.main(["--claim", "eq65x"]) == 2
    assert "did you mean eq065" in capsys.readouterr().err


def test_verdict_filter(main_on_shared, capsys, verdicts):
    assert main_on_shared(["--verdict", "fails as printed", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["claims"]
    expected = [v.claim.id for v in verdicts if v.verdict == "fails as printed"]
    assert [d["id"] for d in data] == expected and expected
    with pytest.raises(SystemExit):
        cli.main(["--verdict", "bogus"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.fixture
def fake_registry(monkeypatch):
    """A registry of throw-away claims, each reaching one verdict; checks removed afterwards."""
    made = []

    def register(cid, result):
        check(cid, kind="numeric")(lambda: result)
        made.append(cid)

    register("testonly_cli_fail", failed("wrong", "at x = 0: 1 ≠ 2"))
    register(
        "testonly_cli_pass",
        passed(
            "ok", negative_control="wrong variant", negative_control_gap=1.0, negative_control_threshold=1e-4
        ),
    )

    def use(*claims):
        monkeypatch.setattr(cli, "load_registry", lambda: tuple(claims))

    yield use
    for cid in made:
        _CHECKS.pop(cid, None)
        _CACHE.pop(cid, None)


def _claim(cid, kind, checks, **kw):
    return Claim(id=cid, equations=(1,), section="2", kind=kind, statement="x", checks=checks, **kw)


def test_exit_status_is_nonzero_on_an_unexplained_failure(fake_registry, capsys):
    fake_registry(_claim("testonly", "identity", ("testonly_cli_fail",)))
    assert cli.main([]) == 1
    captured = capsys.readouterr()
    assert "testonly" in captured.err and "fails" in captured.out
    assert cli.main(["--json"]) == 1
    assert json.loads(capsys.readouterr().out)["claims"][0]["verdict"] == "fails"


def test_exit_status_is_nonzero_when_an_empirical_claim_is_not_reproduced(fake_registry, capsys):
    fake_registry(_claim("testonly_emp", "empirical", ("testonly_cli_fail",)))
    assert cli.main([]) == 1
    captured = capsys.readouterr()
    assert "not reproduced" in captured.out and "testonly_emp" in captured.err
    # negative control: the same registry with a reproduced claim exits 0
    fake_registry(_claim("testonly_emp", "empirical", ("testonly_cli_pass",)))
    assert cli.main([]) == 0
    assert evaluate_claim(_claim("e", "empirical", ("testonly_cli_pass",))).verdict == "holds"


def test_module_entry_point_runs_end_to_end(monkeypatch, capsys):
    """`python -m proofs --claim 1` evaluates and prints a claim: proofs/__main__.py run as __main__ in this
    process (a fresh interpreter costs ~3 s here; test_module_entry_point_in_a_subprocess, -m slow, is one)."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["python -m proofs", "--claim", "1"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("proofs", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "eq001" in out and "1 claims of the paper: 1 definition" in out


@pytest.mark.slow
def test_module_entry_point_in_a_subprocess():
    """The same through a real `python -m proofs` process: the installed package and its entry point."""
    proc = subprocess.run(
        [sys.executable, "-m", "proofs", "--claim", "1"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "eq001" in proc.stdout and "1 claims of the paper: 1 definition" in proc.stdout


