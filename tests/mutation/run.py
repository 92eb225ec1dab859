"""Run the mutation job of one package: ``python tests/mutation/run.py PACKAGE [mutmut run args...]``.

``equiv`` is mutated in the repository root with the ``[tool.mutmut]`` section of ``pyproject.toml``
(the job of tests/mutation/README.md).  ``atari_check`` and ``proofs`` are mutated in their own
directory, ``mutation-work/<package>/`` (git-ignored), so that each package keeps its own ``mutants/``
and mutmut's incremental verdicts survive between runs (and sessions).  The directory holds a copy of
the working tree's files that git tracks or would track, refreshed on every call (only changed files
are rewritten, so mutmut re-tests only the functions that changed), and a ``pyproject.toml`` whose
``[tool.mutmut]`` section is the package's profile below.

Examples::

    python tests/mutation/run.py atari_check --max-children 2
    python tests/mutation/run.py proofs --max-children 1 "proofs.core.x_decide*"
    python tests/mutation/account.py --package proofs --record
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "mutation-work"

# pyproject's addopts marker expression (a later -m replaces it, so a profile that adds one repeats it).
DEFAULT_MARKERS = "not slow and not gpu and not atari and not sweep and not conformance_heavy"
_COMMON = {
    "pytest_add_cli_args": ["-p", "no:xdist", "-p", "no:cacheprovider"],
    # See pyproject.toml: fork from a server that has only collected the tests, so no worker
    # inherits proofs.core's per-process cache of check results.
    "process_isolation": "forkserver",
}

# What each package's job mutates and which tests it runs against the mutants.  The tests are every
# test module that imports (or runs, through the bug catalogue) code of the package, with the default
# markers; mutmut then runs, for each mutant, only the tests that reach the mutated function.
PROFILES: dict[str, dict] = {
    "atari_check": {
        "source_paths": ["atari_check/"],
        # The harness's verdict-producing code (issue 10 §4): the loss the harness optimises, the
        # learners that build it from rollouts, the lockstep diagnostics, the statistics, and the run
        # directory's metrics/checkpoint/resume code.  Not the CLI, plots, bench or env wrappers.
        "only_mutate": [
            "atari_check/losses.py",
            "atari_check/learners.py",
            "atari_check/lockstep.py",
            "atari_check/stats.py",
            "atari_check/rundir.py",
        ],
        "also_copy": ["equiv/", "proofs/"],
        "pytest_add_cli_args_test_selection": [
            "tests/test_atari_bench.py", "tests/test_atari_compare.py", "tests/test_atari_envs.py",
            "tests/test_atari_inputs.py", "tests/test_atari_lockstep.py", "tests/test_atari_minatar.py",
            "tests/test_atari_nothing_lost.py", "tests/test_atari_progress.py", "tests/test_atari_results.py",
            "tests/test_atari_resume.py", "tests/test_atari_schedules.py", "tests/test_atari_smoke.py",
            "tests/test_atari_stats.py", "tests/test_atari_sweep.py", "tests/test_atari_training_path.py",
            "tests/test_bug_catalogue.py", "tests/test_kit.py", "tests/test_kit_user_bugs.py",
            "tests/test_mutation_kills_atari*.py",
        ],
    },
    "proofs": {
        "source_paths": ["proofs/"],
        # The verdict machinery (issue 10 §4), not the claims data (claims.py, claims_text.py, checks/).
        "only_mutate": [
            "proofs/core.py",
            "proofs/symbolic.py",
            "proofs/induction.py",
            "proofs/units.py",
            "proofs/empirical.py",
            "proofs/registry.py",
        ],
        "also_copy": ["equiv/", "atari_check/"],
        "pytest_add_cli_args_test_selection": [
            "tests/test_proofs_checks.py", "tests/test_proofs_cli.py", "tests/test_proofs_imports.py",
            "tests/test_proofs_machinery.py", "tests/test_proofs_registry.py", "tests/test_proofs_symbolic.py",
            "tests/test_proofs_text.py", "tests/test_proofs_walkthrough.py", "tests/test_empirical_reader.py",
            "tests/test_atari_compare.py", "tests/test_bug_catalogue.py", "tests/test_mutation_kills_proofs*.py",
        ],
        # The tests that read the whole registry's evaluation cost ~30 s per mutant (sympy): they are left
        # out, so a mutant counts as killed only if the targeted tests of the machinery see it.
        "pytest_add_cli_args": ["-m", DEFAULT_MARKERS + " and not whole_registry"],
    },
}


def _toml_value(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unsupported TOML value {value!r}")


def _expand(patterns: list[str]) -> list[str]:
    """Test files of a selection, with globs expanded (pytest does not expand them); a pattern that matches
    nothing is an error, so a renamed test file cannot silently drop out of the job."""
    files = []
    for pattern in patterns:
        found = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)) if "*" in pattern else (
            [pattern] if (ROOT / pattern).is_file() else [])
        if not found:
            raise SystemExit(f"tests/mutation/run.py: test selection {pattern!r} matches no file")
        files += [f for f in found if f not in files]
    return files


def mutmut_section(package: str) -> str:
    lines = ["[tool.mutmut]", f"# written by tests/mutation/run.py for the {package} job"]
    profile = dict(PROFILES[package])
    profile["pytest_add_cli_args_test_selection"] = _expand(profile["pytest_add_cli_args_test_selection"])
    settings = {**profile, **_COMMON, "pytest_add_cli_args": _COMMON["pytest_add_cli_args"]
                + profile.get("pytest_add_cli_args", [])}
    for key, value in settings.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _pyproject_for(package: str) -> str:
    text = (ROOT / "pyproject.toml").read_text()
    if DEFAULT_MARKERS not in text:
        raise SystemExit(f"pyproject.toml's addopts no longer selects {DEFAULT_MARKERS!r}: update DEFAULT_MARKERS")
    # Replace the repository's [tool.mutmut] table (up to the next table) with the package's.
    new, n = re.subn(r"^\[tool\.mutmut\]\n.*?(?=^\[)", mutmut_section(package) + "\n", text,
                     flags=re.MULTILINE | re.DOTALL)
    if n != 1:
        raise SystemExit("pyproject.toml: expected exactly one [tool.mutmut] table followed by another table")
    return new


def sync(package: str) -> Path:
    """Refresh mutation-work/<package>/ from the working tree; returns the directory."""
    dest = WORK / package
    dest.mkdir(parents=True, exist_ok=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    wanted = {f for f in files if f and (ROOT / f).is_file()}
    for rel in sorted(wanted):
        src, dst = ROOT / rel, dest / rel
        if rel == "pyproject.toml":
            continue
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    # Files deleted from the tree are deleted here too (never under mutants/, mutmut's own state).
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest).as_posix()
        if rel.startswith(("mutants/", ".", "mutation-work/")) or "__pycache__" in rel or not path.is_file():
            continue
        if rel not in wanted and rel != "pyproject.toml":
            path.unlink()
    # mutmut regenerates mutants/<package>/*.py from changed sources but never refreshes the package's other
    # files there (committed results, data): copy those that changed, or tests would read stale data.
    for source in PROFILES[package]["source_paths"]:
        if not (dest / "mutants" / source).is_dir():
            continue  # no mutants yet: mutmut copies everything when it generates them
        for path in sorted((dest / source).rglob("*")):
            copy = dest / "mutants" / path.relative_to(dest)
            if (path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
                    and not (copy.is_file() and filecmp.cmp(path, copy, shallow=False))):
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
    pyproject = _pyproject_for(package)
    target = dest / "pyproject.toml"
    if not target.is_file() or target.read_text() != pyproject:
        target.write_text(pyproject)
    return dest


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("equiv", *PROFILES):
        print(__doc__, file=sys.stderr)
        print(f"package must be one of: equiv, {', '.join(PROFILES)}; got {argv[:1]}", file=sys.stderr)
        return 2
    package, rest = argv[0], argv[1:]
    cwd = ROOT if package == "equiv" else sync(package)
    mutmut = shutil.which("mutmut") or str(Path(sys.executable).with_name("mutmut"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([mutmut, "run", *rest], cwd=cwd, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
