"""Account for every surviving mutant: ``python tests/mutation/account.py`` (after ``mutmut run``).

Reads mutmut's verdicts (``mutants/equiv/*.py.meta``) and the mutant ids listed in
``tests/mutation/equivalent_*.md``, then prints the score and two lists that must both be empty:
survivors listed nowhere, and listed mutants that are no longer survivors (stale entries).
Exits 1 if either list is non-empty.
"""

from __future__ import annotations

import json
import re
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
    return 1 if missing or stale else 0


if __name__ == "__main__":
    sys.exit(main())
