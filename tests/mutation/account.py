"""Account for every surviving mutant: ``python tests/mutation/account.py [--package P] [--record]``.

Run after the package's mutation job (``python tests/mutation/run.py P``; ``mutmut run`` for equiv).
Reads mutmut's verdicts (``mutants/<P>/*.py.meta``: in the repository root for ``equiv``, under
``mutation-work/<P>/`` for ``atari_check`` and ``proofs``) and the mutant ids of that package listed in
``tests/mutation/equivalent_*.md``, then prints the score and two lists that must both be empty:
survivors listed nowhere, and listed mutants that are no longer survivors (stale entries).
Exits 1 if either list is non-empty.  ``--record`` also writes the package's result file
(``RESULT.json`` for equiv, ``RESULT_<P>.json`` otherwise): the verdict counts per module, the
survivors, and the provenance (commits, versions, machine, date).
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
PACKAGES = ("equiv", "atari_check", "proofs")


def mutants_dir(package: str) -> Path:
    return ROOT / "mutants" if package == "equiv" else ROOT / "mutation-work" / package / "mutants"


def result_file(package: str) -> Path:
    return ROOT / "tests" / "mutation" / ("RESULT.json" if package == "equiv" else f"RESULT_{package}.json")


def verdicts(package: str = "equiv") -> dict[str, str]:
    result = {}
    for meta in sorted((mutants_dir(package) / package).glob("*.py.meta")):
        for mutant, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            result[mutant] = status_by_exit_code[code]
    return result


def listed(package: str = "equiv") -> set[str]:
    ids: set[str] = set()
    for md in sorted((ROOT / "tests" / "mutation").glob("equivalent_*.md")):
        # an entry is a list item that starts with the mutant id in backticks
        pattern = rf"^- `({re.escape(package)}\.[^`]+__mutmut_\d+)`"
        ids |= set(re.findall(pattern, md.read_text(), flags=re.MULTILINE))
    return ids


def _package(argv: list[str]) -> str:
    if "--package" not in argv:
        return "equiv"
    i = argv.index("--package")
    if i + 1 >= len(argv) or argv[i + 1] not in PACKAGES:
        raise SystemExit(f"--package must be one of {PACKAGES}; got {argv[i + 1:i + 2]}")
    return argv[i + 1]


def main() -> int:
    package = _package(sys.argv[1:])
    status = verdicts(package)
    if not status:
        print(f"no mutmut results under {mutants_dir(package) / package}: run the {package} job first "
              f"(tests/mutation/README.md)", file=sys.stderr)
        return 2
    counts = Counter(status.values())
    total = len(status)
    caught = counts["killed"] + counts["timeout"]
    unchecked = counts["not checked"]
    print(f"{total} mutants: {dict(sorted(counts.items()))}")
    if unchecked:
        checked = total - unchecked
        print(f"INCOMPLETE: {unchecked} of {total} mutants not checked yet; on the {checked} checked, "
              f"(killed + timeout) = {caught}/{checked} = {100 * caught / max(checked, 1):.2f}%")
    else:
        print(f"score (killed + timeout) / total = {caught}/{total} = {100 * caught / total:.2f}%")
    survivors = {m for m, s in status.items() if s not in ("killed", "timeout", "not checked")}
    documented = listed(package)
    missing = sorted(survivors - documented)
    stale = sorted(documented - survivors)
    print(f"survivors listed as equivalent: {len(survivors & documented)}/{len(survivors)}")
    for name, items in (("survivors listed nowhere", missing), ("listed but not survivors (stale)", stale)):
        print(f"{name}: {len(items)}")
        for item in items:
            print(f"  {item}: {status.get(item, 'not a mutant')}")
    if "--record" in sys.argv[1:]:
        record(status, package)
    return 1 if missing or stale or unchecked else 0


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()


def record(status: dict[str, str], package: str = "equiv") -> None:
    """Write the package's result file: what the committed score and the README's table are read from."""
    from importlib.metadata import version

    by_module: dict[str, Counter] = {}
    for mutant, verdict in status.items():
        by_module.setdefault(mutant.split(".")[1], Counter())[verdict] += 1
    counts = Counter(status.values())
    result = {
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        **({"package": package} if package != "equiv" else {}),
        f"{package}_last_changed_in": _git("log", "-1", "--format=%H", "--", f"{package}/"),
        "mutmut": version("mutmut"),
        "torch": version("torch"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "total": len(status),
        "counts": dict(sorted(counts.items())),
        "complete": counts["not checked"] == 0,
        "not_checked": counts["not checked"],
        "score_percent": round(100 * (counts["killed"] + counts["timeout"]) / len(status), 2),
        "score_percent_of_checked": round(100 * (counts["killed"] + counts["timeout"])
                                          / max(len(status) - counts["not checked"], 1), 2),
        "by_module": {m: dict(sorted(c.items())) for m, c in sorted(by_module.items())},
        "survivors": sorted(m for m, v in status.items() if v not in ("killed", "timeout", "not checked")),
    }
    result_file(package).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
