"""Account for every surviving mutant: ``python tests/mutation/account.py`` (after ``mutmut run``).

Reads mutmut's verdicts (``mutants/equiv/*.py.meta``) and the mutant ids listed in
``tests/mutation/equivalent_*.md``, then prints the score and two lists that must both be empty:
survivors listed nowhere, and listed mutants that are no longer survivors (stale entries).
Exits 1 if either list is non-empty.  ``--record`` also writes ``tests/mutation/RESULT.json``: the
verdict counts per module, the survivors, and the provenance (commits, versions, machine, date).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code  # the dev extra pins mutmut==3.8.1

ROOT = Path(__file__).resolve().parents[2]


def verdicts() -> dict[str, str]:
    result = {}
    for meta in sorted((ROOT / "mutants" / "equiv").glob("*.py.meta")):
        for mutant, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            result[mutant] = status_by_exit_code[code]
    return result


def listed() -> set[str]:
    ids: set[str] = set()
    for md in sorted((ROOT / "tests" / "mutation").glob("equivalent_*.md")):
        # an entry is a list item that starts with the mutant id in backticks
        ids |= set(re.findall(r"^- `(equiv\.[^`]+__mutmut_\d+)`", md.read_text(), flags=re.MULTILINE))
    return ids


def main() -> int:
    status = verdicts()
    if not status:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 2
    counts = Counter(status.values())
    total = len(status)
    caught = counts["killed"] + counts["timeout"]
    print(f"{total} mutants: {dict(sorted(counts.items()))}")
    print(f"score (killed + timeout) / total = {caught}/{total} = {100 * caught / total:.2f}%")
    survivors = {m for m, s in status.items() if s != "killed" and s != "timeout"}
    documented = listed()
    missing = sorted(survivors - documented)
    stale = sorted(documented - survivors)
    print(f"survivors listed as equivalent: {len(survivors & documented)}/{len(survivors)}")
    for name, items in (("survivors listed nowhere", missing), ("listed but not survivors (stale)", stale)):
        print(f"{name}: {len(items)}")
        for item in items:
            print(f"  {item}: {status.get(item, 'not a mutant')}")
    if "--record" in sys.argv[1:]:
        record(status)
    return 1 if missing or stale else 0


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()


def record(status: dict[str, str]) -> None:
    """Write RESULT.json: what the committed score and the README's table are read from."""
    from importlib.metadata import version

    by_module: dict[str, Counter] = {}
    for mutant, verdict in status.items():
        by_module.setdefault(mutant.split(".")[1], Counter())[verdict] += 1
    counts = Counter(status.values())
    result = {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "equiv_last_changed_in": _git("log", "-1", "--format=%H", "--", "equiv/"),
        "mutmut": version("mutmut"),
        "torch": version("torch"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "total": len(status),
        "counts": dict(sorted(counts.items())),
        "score_percent": round(100 * (counts["killed"] + counts["timeout"]) / len(status), 2),
        "by_module": {m: dict(sorted(c.items())) for m, c in sorted(by_module.items())},
        "survivors": sorted(m for m, v in status.items() if v not in ("killed", "timeout")),
    }
    (ROOT / "tests" / "mutation" / "RESULT.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
