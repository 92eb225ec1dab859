"""Measure the test tiers and write tests/TIMINGS.json with provenance: ``python tests/record_timings.py``.

Runs each tier's command as the README gives it, on this machine, one after the other, and records
the wall time, pytest's own summary line, the exit code, and the git commit, versions and CPU.
The README's "measured" column is copied from this file.

``--tiers default,slow`` measures only those tiers.  ``--baseline REF`` also runs the default command
of the commit REF (checked out into a temporary git worktree, same interpreter) right after the
default tier: machines of the same kind differ in speed by ×2–3 from day to day, so a wall time
means something only next to a reference measured on the same machine in the same hour.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {
    "default": (["-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q"], {}),
    "math_and_proofs_only": (["-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q",
                              "--ignore-glob=tests/test_atari_*"], {}),
    "slow": (["-m", "pytest", "-m", "slow", "-n", "2", "-q"], {}),
    "thorough": (["-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q"],
                 {"EQUIV_HYPOTHESIS_PROFILE": "thorough"}),
}


def _ci_pytest_args(tree: Path) -> list[str]:
    """The test command of ``tree``'s own ``.ci/run`` (what CI ran at that commit), plus -q."""
    for line in (tree / ".ci" / "run").read_text().splitlines():
        words = line.split()
        if words[:3] == ["python", "-m", "pytest"]:
            return words[1:] + ([] if "-q" in words else ["-q"])
    raise SystemExit(f"{tree / '.ci' / 'run'}: no `python -m pytest` line to time as the baseline")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _measure(args: list[str], env: dict, cwd: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], check=False, cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    return {
        "command": " ".join(f"{k}={v}" for k, v in env.items()) + ("" if not env else " ")
        + "python " + " ".join(args),
        "exit_code": done.returncode,
        "wall_s": round(wall, 1),
        "pytest_summary": summary[-1].strip("= ") if summary else None,
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default=",".join(TIERS), help=f"comma-separated, of {list(TIERS)}")
    parser.add_argument("--baseline", metavar="REF", help="also time the default command of this commit")
    opts = parser.parse_args(argv)
    tiers = opts.tiers.split(",")
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        parser.error(f"--tiers: unknown tier(s) {unknown}; known: {list(TIERS)}")

    record = {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "tiers": {},
    }
    for name in tiers:
        args, env = TIERS[name]
        record["tiers"][name] = _measure(args, env, ROOT)
        print(name, record["tiers"][name], flush=True)
        if name == "default" and opts.baseline:
            commit = _git("rev-parse", opts.baseline)
            with tempfile.TemporaryDirectory() as tmp:
                tree = Path(tmp) / "baseline"
                _git("worktree", "add", "--detach", str(tree), commit)
                try:
                    entry = _measure(_ci_pytest_args(tree), {}, tree)
                finally:
                    _git("worktree", "remove", "--force", str(tree))
            entry["git_commit"] = commit
            record["tiers"]["default@baseline"] = entry
            print("default@baseline", entry, flush=True)
    (ROOT / "tests" / "TIMINGS.json").write_text(json.dumps(record, indent=2) + "\n")
    return max(t["exit_code"] for t in record["tiers"].values())


if __name__ == "__main__":
    sys.exit(main())
