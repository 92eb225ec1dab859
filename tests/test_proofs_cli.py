"""``python -m proofs``: the table, the JSON document, --claim, and the exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from proofs import cli, registry
from proofs.core import _CACHE, _CHECKS, check, failed
from proofs.registry import VERDICTS, Claim
from proofs.report import JSON_FIELDS


def test_table_and_summary(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "claim" in out.splitlines()[0] and "verdict" in out.splitlines()[0]
    for n in (1, 43, 65, 90):
        assert f"eq{n:03d}" in out
    summary = out.strip().splitlines()[-1]
    assert "equations (1)-(90) all covered" in summary
    assert "fails as printed" in summary and "holds" in summary
    assert "Errata and problems" in out and "counterexample:" in out and "correction:" in out


def test_json_schema(capsys):
    assert cli.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) >= 100
    ids = [d["id"] for d in data]
    assert len(ids) == len(set(ids))
    covered = {e for d in data if d["id"].startswith("eq") for e in d["equations"]}
    assert covered == set(range(1, 91))
    for d in data:
        assert set(JSON_FIELDS) <= set(d), d["id"]
        assert d["verdict"] in VERDICTS
        assert all(isinstance(e, int) for e in d["equations"])
        assert d["checks"], d["id"]
        for c in d["checks"] + d["correction_checks"]:
            assert set(c) == {"id", "kind", "outcome", "detail", "counterexample", "negative_control"}
        if d["verdict"] == "fails as printed":
            assert d["counterexample"] and d["correction"] and d["correction_checks"]
            assert all(c["outcome"] == "pass" for c in d["correction_checks"])
        else:
            assert d["correction"] is None


def test_single_claim_details(capsys):
    assert cli.main(["--claim", "eq043", "--claim", "eq061"]) == 0
    out = capsys.readouterr().out
    assert "eq043: fails as printed" in out and "eq061: holds" in out
    assert "counterexample:" in out and "negative control:" in out


def test_unknown_claim_is_a_usage_error(capsys):
    assert cli.main(["--claim", "eq999"]) == 2
    assert "unknown claim id" in capsys.readouterr().err


@pytest.fixture
def broken_registry(monkeypatch):
    """A registry with one claim whose printed form fails and has no checked correction."""
    check("testonly_cli_fail", kind="numeric")(lambda: failed("wrong", "at x = 0: 1 ≠ 2"))
    claim = Claim(
        id="testonly",
        equations=(1,),
        section="2",
        kind="identity",
        statement="x",
        checks=("testonly_cli_fail",),
    )
    monkeypatch.setattr(cli, "load_registry", lambda: (claim,))
    yield
    _CHECKS.pop("testonly_cli_fail", None)
    _CACHE.pop("testonly_cli_fail", None)


def test_exit_status_is_nonzero_on_an_unexplained_failure(broken_registry, capsys):
    assert cli.main([]) == 1
    captured = capsys.readouterr()
    assert "testonly" in captured.err and "fails" in captured.out
    assert cli.main(["--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["verdict"] == "fails"


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "proofs", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "--walkthrough" in proc.stdout and "--json" in proc.stdout


def test_registry_module_is_importable_without_running_checks():
    assert registry.VERDICTS[0] == "holds"
