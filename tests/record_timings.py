"""Measure the test tiers and write tests/TIMINGS.json with provenance: ``python tests/record_timings.py``.

Runs each tier's command as the README gives it, on this machine, one after the other, and records
the wall time, pytest's own summary line, the exit code, and the git commit, versions and CPU.
The README's "measured" column is copied from this file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {
    "default": (["-m", "pytest", "-n", "2", "-q"], {}),
    "math_and_proofs_only": (["-m", "pytest", "-n", "2", "-q", "--ignore-glob=tests/test_atari_*"], {}),
    "slow": (["-m", "pytest", "-m", "slow", "-n", "2", "-q"], {}),
    "thorough": (["-m", "pytest", "-n", "2", "-q"], {"EQUIV_HYPOTHESIS_PROFILE": "thorough"}),
}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()


def main() -> int:
    import torch

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
    for name, (args, env) in TIERS.items():
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], check=False, cwd=ROOT, env={**os.environ, **env},
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
        record["tiers"][name] = {
            "command": " ".join(f"{k}={v}" for k, v in env.items()) + ("" if not env else " ")
            + "python " + " ".join(args),
            "exit_code": done.returncode,
            "wall_s": round(wall, 1),
            "pytest_summary": summary[-1].strip("= ") if summary else None,
        }
        print(name, record["tiers"][name], flush=True)
    (ROOT / "tests" / "TIMINGS.json").write_text(json.dumps(record, indent=2) + "\n")
    return max(t["exit_code"] for t in record["tiers"].values())


if __name__ == "__main__":
    sys.exit(main())
