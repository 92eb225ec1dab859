"""Reading the committed results of :mod:`atari_check` (the §6 empirical claims).

``python -m atari_check compare DIR...`` writes ``compare.json`` files under
``atari_check/results/<scale>/`` (``cpu`` for CartPole-scale evidence, ``gpu``
for Atari runs).  Schema ``equiv.compare/1``::

    {"schema": "equiv.compare/1",
     "comparisons": [{"env": str, "a": algo, "b": algo,
                      "role": "equivalence" | "negative_control", "metric": str,
                      "verdict": "equivalent" | "different" | "inconclusive",
                      "margin": float, "ci": [lo, hi], "n_a": int, "n_b": int, ...}],
     "provenance": {...}}

Verdicts are computed from these files, never stored: no file → ``pending``.
A malformed file raises :class:`ResultsFormatError` (reported as a check
error, not silently as pending).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from pathlib import Path

from .core import CheckResult, failed, inconclusive, passed, pending

__all__ = [
    "RESULTS_ROOT",
    "SCHEMA",
    "ResultsFormatError",
    "Comparison",
    "load_comparisons",
    "equivalence_verdict",
]

RESULTS_ROOT = Path(__file__).resolve().parents[1] / "atari_check" / "results"
SCHEMA = "equiv.compare/1"
ROLES = ("equivalence", "negative_control")
VERDICTS = ("equivalent", "different", "inconclusive")


class ResultsFormatError(ValueError):
    """A compare.json that does not follow the equiv.compare/1 schema."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    file: str
    env: str
    a: str
    b: str
    role: str
    metric: str
    verdict: str
    margin: float
    ci: tuple[float, float]
    n_a: int
    n_b: int

    def describe(self) -> str:
        return (
            f"{self.env}: {self.a} vs {self.b} ({self.role}, {self.metric}): {self.verdict}, "
            f"CI [{self.ci[0]:.4g}, {self.ci[1]:.4g}] vs margin ±{self.margin:.4g}, "
            f"n = {self.n_a}/{self.n_b} "
            f"[{self.file}]"
        )


def _require(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise ResultsFormatError(f"{path}: {message}")


def _parse(path: Path) -> list[Comparison]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ResultsFormatError(f"{path}: not valid JSON ({err})") from None
    _require(isinstance(data, dict), path, f"top level must be an object, got {type(data).__name__}")
    _require(data.get("schema") == SCHEMA, path, f"schema must be {SCHEMA!r}, got {data.get('schema')!r}")
    _require(isinstance(data.get("comparisons"), list), path, "'comparisons' must be a list")
    _require(isinstance(data.get("provenance"), dict), path, "'provenance' must be an object")
    out = []
    for i, c in enumerate(data["comparisons"]):
        where = f"comparisons[{i}]"
        _require(isinstance(c, dict), path, f"{where} must be an object")
        for key in ("env", "a", "b", "metric"):
            _require(
                isinstance(c.get(key), str) and c[key],
                path,
                f"{where}.{key} must be a non-empty string, got {c.get(key)!r}",
            )
        _require(c.get("role") in ROLES, path, f"{where}.role must be one of {ROLES}, got {c.get('role')!r}")
        _require(
            c.get("verdict") in VERDICTS,
            path,
            f"{where}.verdict must be one of {VERDICTS}, got {c.get('verdict')!r}",
        )
        margin = c.get("margin")
        _require(
            isinstance(margin, numbers.Real)
            and not isinstance(margin, bool)
            and math.isfinite(margin)
            and margin > 0,
            path,
            f"{where}.margin must be a finite number > 0, got {margin!r}",
        )
        ci = c.get("ci")
        _require(
            isinstance(ci, list)
            and len(ci) == 2
            and all(isinstance(x, numbers.Real) and math.isfinite(x) for x in ci)
            and ci[0] <= ci[1],
            path,
            f"{where}.ci must be [lo, hi] with lo <= hi, got {ci!r}",
        )
        for key in ("n_a", "n_b"):
            n = c.get(key)
            _require(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1,
                path,
                f"{where}.{key} must be an integer >= 1, got {n!r}",
            )
        try:
            shown = str(path.resolve().relative_to(RESULTS_ROOT.parents[1]))
        except ValueError:
            shown = str(path)
        out.append(
            Comparison(
                shown,
                c["env"],
                c["a"],
                c["b"],
                c["role"],
                c["metric"],
                c["verdict"],
                float(margin),
                (float(ci[0]), float(ci[1])),
                c["n_a"],
                c["n_b"],
            )
        )
    return out


def load_comparisons(scale: str, root: Path | None = None) -> tuple[list[Path], list[Comparison]]:
    """Every compare.json under ``<root>/<scale>/`` (recursively), parsed and validated."""
    base = (RESULTS_ROOT if root is None else Path(root)) / scale
    files = sorted(base.rglob("compare.json")) if base.is_dir() else []
    comparisons: list[Comparison] = []
    for f in files:
        comparisons.extend(_parse(f))
    return files, comparisons


def equivalence_verdict(
    scale: str,
    pair: tuple[str, str],
    what: str,
    envs: tuple[str, ...] | None = None,
    root: Path | None = None,
) -> CheckResult:
    """Decide "``pair`` learn equivalently" from the committed comparisons at ``scale``.

    * no result file or no comparison of the pair → ``pending``;
    * any comparison of the pair "different" → ``fail`` (the claim is not reproduced);
    * all "equivalent" and every negative-control comparison in the same files
      "different" → ``pass``;
    * otherwise (an inconclusive comparison, or a negative control that did
      not separate — the test lacked power) → ``inconclusive``.
    """
    files, comparisons = load_comparisons(scale, root)
    mine = [
        c
        for c in comparisons
        if {c.a, c.b} == set(pair)
        and c.role == "equivalence"
        and (envs is None or any(e.lower() in c.env.lower() for e in envs))
    ]
    if not mine:
        where = f"atari_check/results/{scale}" if root is None else f"{Path(root) / scale}"
        return pending(
            f"{what}: no equivalence comparison of {pair[0]} vs {pair[1]} under {where} "
            f"({len(files)} compare.json file(s) found); run atari_check and `python -m atari_check compare`"
        )
    different = [c for c in mine if c.verdict == "different"]
    if different:
        return failed(f"{what}: not reproduced", "; ".join(c.describe() for c in different))
    used = {c.file for c in mine}
    controls = [c for c in comparisons if c.role == "negative_control" and c.file in used]
    if all(c.verdict == "equivalent" for c in mine):
        weak = [c for c in controls if c.verdict != "different"]
        if weak:
            return inconclusive(
                f"{what}: equivalent, but the negative control did not separate "
                f"({'; '.join(c.describe() for c in weak)}), so the test may lack power"
            )
        control_text = (
            f"; negative controls separated: {'; '.join(c.describe() for c in controls)}"
            if controls
            else "; no negative control in these files"
        )
        return passed(
            f"{what}: equivalent in every comparison ({'; '.join(c.describe() for c in mine)})" + control_text
        )
    return inconclusive(f"{what}: {'; '.join(c.describe() for c in mine)}")
