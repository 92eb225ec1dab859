"""Reading the committed results of :mod:`atari_check` (the §6 empirical claims).

``python -m atari_check compare DIR... --out OUT`` writes ``compare.json`` files under
``atari_check/results/<scale>/`` (``cpu`` for CartPole-scale evidence, ``gpu``
for Atari runs).  Schemas ``equiv.compare/1`` (equivalence and negative
control only) and ``equiv.compare/2`` (every registered test)::

    {"schema": "equiv.compare/2",
     "comparisons": [{"env": str, "a": algo, "b": algo, "role": one of ROLES, "metric": str,
                      "kind": "equivalence" | "noninferiority" | "directional" | "difference",
                      "verdict": one of VERDICTS, "expected": str,
                      "margin": float | null (directional, difference), "ci": [lo, hi],
                      "smallest_margin": float | null, "preregistered": bool | null,
                      "rules_version": int, "n_a": int, "n_b": int, ...}],
     "runs": [{"run_id": str, ...}], "provenance": {...}}

Verdicts are computed from these files, never stored: no file → ``pending``.
A malformed file, or two files that summarise the same run (it would be
counted twice), raises :class:`ResultsFormatError` (reported as a check
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
    "Comparison",
    "ResultsFormatError",
    "all_of",
    "directional_verdict",
    "equivalence_verdict",
    "load_comparisons",
    "noninferiority_verdict",
]

RESULTS_ROOT = Path(__file__).resolve().parents[1] / "atari_check" / "results"
SCHEMA = "equiv.compare/2"
SCHEMAS = ("equiv.compare/1", SCHEMA)
ROLES = ("equivalence", "negative_control", "noninferiority", "directional", "sensitivity")
KIND_VERDICTS = {
    "equivalence": ("equivalent", "different", "inconclusive"),
    "noninferiority": ("non-inferior", "inferior", "inconclusive"),
    "directional": ("better", "worse", "inconclusive"),
    "difference": ("different", "inconclusive"),
}
VERDICTS = tuple(dict.fromkeys(v for vs in KIND_VERDICTS.values() for v in vs))
_ROLE_KIND = {"equivalence": "equivalence", "negative_control": "equivalence", "noninferiority": "noninferiority",
              "directional": "directional", "sensitivity": "difference"}


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
    margin: float | None
    ci: tuple[float, float]
    n_a: int
    n_b: int
    kind: str = "equivalence"
    smallest_margin: float | None = None
    preregistered: bool | None = None
    rules_version: int | None = None

    def describe(self) -> str:
        sign = "−" if self.kind == "noninferiority" else "±"  # non-inferiority: one-sided, below −M fails
        margin = f" vs margin {sign}{self.margin:.4g}" if self.margin is not None else ""
        smallest = f" (passes for margin > {self.smallest_margin:.4g})" if self.smallest_margin is not None else ""
        pre = {True: "", False: ", post hoc", None: ""}[self.preregistered]
        rules = f", rules v{self.rules_version}" if self.rules_version is not None else ""
        return (
            f"{self.env}: {self.a} vs {self.b} ({self.role}, {self.metric}): {self.verdict}, "
            f"CI [{self.ci[0]:.4g}, {self.ci[1]:.4g}]{margin}{smallest}, n = {self.n_a}/{self.n_b}{pre}{rules} "
            f"[{self.file}]"
        )


def _require(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise ResultsFormatError(f"{path}: {message}")


def _real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _parse(path: Path) -> tuple[list[Comparison], set]:
    """The comparisons of one compare.json, and the identities of the runs it summarises."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ResultsFormatError(f"{path}: not valid JSON ({err})") from None
    _require(isinstance(data, dict), path, f"top level must be an object, got {type(data).__name__}")
    _require(data.get("schema") in SCHEMAS, path, f"schema must be one of {SCHEMAS}, got {data.get('schema')!r}")
    v2 = data["schema"] == SCHEMA
    _require(isinstance(data.get("comparisons"), list), path,
             f"'comparisons' must be a list, got {type(data.get('comparisons')).__name__}")
    _require(isinstance(data.get("provenance"), dict), path,
             f"'provenance' must be an object, got {type(data.get('provenance')).__name__}")
    roles = ROLES if v2 else ROLES[:2]
    out = []
    for i, c in enumerate(data["comparisons"]):
        where = f"comparisons[{i}]"
        _require(isinstance(c, dict), path, f"{where} must be an object, got {type(c).__name__}")
        for key in ("env", "a", "b", "metric"):
            _require(
                isinstance(c.get(key), str) and c[key],
                path,
                f"{where}.{key} must be a non-empty string, got {c.get(key)!r}",
            )
        _require(c.get("role") in roles, path, f"{where}.role must be one of {roles}, got {c.get('role')!r}")
        kind = c.get("kind", "equivalence") if v2 else "equivalence"
        _require(
            kind == _ROLE_KIND[c["role"]], path,
            f"{where}.kind must be {_ROLE_KIND[c['role']]!r} for role {c['role']!r}, got {kind!r}",
        )
        allowed = KIND_VERDICTS[kind]
        _require(
            c.get("verdict") in allowed,
            path,
            f"{where}.verdict must be one of {allowed}, got {c.get('verdict')!r}",
        )
        margin = c.get("margin")
        if kind in ("equivalence", "noninferiority"):
            _require(
                _real(margin) and margin > 0,
                path,
                f"{where}.margin must be a finite number > 0, got {margin!r}",
            )
        else:
            _require(margin is None, path, f"{where}.margin must be null for a {kind} test, got {margin!r}")
        ci = c.get("ci")
        _require(
            isinstance(ci, list) and len(ci) == 2 and all(_real(x) for x in ci) and ci[0] <= ci[1],
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
        smallest = c.get("smallest_margin")
        _require(smallest is None or (_real(smallest) and smallest >= 0), path,
                 f"{where}.smallest_margin must be null or a finite number >= 0, got {smallest!r}")
        pre = c.get("preregistered")
        _require(pre in (True, False, None), path, f"{where}.preregistered must be true/false/null, got {pre!r}")
        try:
            shown = str(path.resolve().relative_to(RESULTS_ROOT.parents[1]))
        except ValueError:
            shown = str(path)
        out.append(
            Comparison(
                shown, c["env"], c["a"], c["b"], c["role"], c["metric"], c["verdict"],
                None if margin is None else float(margin), (float(ci[0]), float(ci[1])), c["n_a"], c["n_b"],
                kind, None if smallest is None else float(smallest), pre, c.get("rules_version"),
            )
        )
    runs = data.get("runs", [])
    _require(isinstance(runs, list), path, f"'runs' must be a list, got {type(runs).__name__}")
    ids = set()
    for j, r in enumerate(runs):
        _require(isinstance(r, dict), path, f"runs[{j}] must be an object, got {type(r).__name__}")
        ids.add(r.get("run_id") or (r.get("env"), r.get("algo"), r.get("seed"), r.get("frames"), r.get("elapsed_s")))
    return out, ids


def load_comparisons(scale: str, root: Path | None = None) -> tuple[list[Path], list[Comparison]]:
    """Every compare.json under ``<root>/<scale>/`` (recursively), parsed and validated.

    Two files that summarise a common run are refused: the run's evidence would be counted twice.
    """
    base = (RESULTS_ROOT if root is None else Path(root)) / scale
    files = sorted(base.rglob("compare.json")) if base.is_dir() else []
    comparisons: list[Comparison] = []
    owner: dict = {}
    for f in files:
        parsed, ids = _parse(f)
        for run in ids:
            if run in owner:
                raise ResultsFormatError(
                    f"{f} and {owner[run]} both summarise run {run!r}: its evidence would be counted twice; "
                    f"keep one summary (compare.json belongs next to the runs tree, not inside it)"
                )
            owner[run] = f
        comparisons.extend(parsed)
    return files, comparisons


def _select(comparisons, pair, role, envs):
    return [
        c for c in comparisons
        if (c.a, c.b) == tuple(pair) and c.role == role
        and (envs is None or any(e.lower() in c.env.lower() for e in envs))
    ]


def _require_envs_listed(envs, require_all_envs: bool) -> None:
    if require_all_envs and envs is None:
        raise ValueError("require_all_envs needs the list of games (envs), got envs=None")


def _partial(what: str, mine: list, envs: tuple[str, ...] | None, require_all_envs: bool) -> CheckResult | None:
    """``pending`` when ``require_all_envs`` and some game of ``envs`` has no comparison yet: a partial grid
    is never reported as the whole.  Called after the ``fail`` branch, so a refutation on one game stands."""
    if not require_all_envs:
        return None
    missing = [e for e in envs if not any(e.lower() in c.env.lower() for c in mine)]
    if not missing:
        return None
    return pending(
        f"{what}: not yet compared on {', '.join(missing)} (every listed game is required; a partial grid is "
        f"not reported as the whole); so far: {'; '.join(c.describe() for c in mine)}"
    )


def _post_hoc(what: str, mine: list) -> CheckResult | None:
    """``inconclusive`` when a deciding comparison was registered after its runs (``preregistered`` is
    False): decision rules are fixed before the runs, so a post hoc test is reported, never counted."""
    late = [c for c in mine if c.preregistered is False]
    if not late:
        return None
    return inconclusive(
        f"{what}: the result would pass, but its test was registered after the runs (post hoc), so it is "
        f"reported and not counted: {'; '.join(c.describe() for c in late)}"
    )


def _where(scale: str, root: Path | None) -> str:
    return f"atari_check/results/{scale}" if root is None else f"{Path(root) / scale}"


def equivalence_verdict(
    scale: str,
    pair: tuple[str, str],
    what: str,
    envs: tuple[str, ...] | None = None,
    root: Path | None = None,
    require_all_envs: bool = False,
) -> CheckResult:
    """Decide "``pair`` learn equivalently" from the committed comparisons at ``scale``.

    * no result file or no comparison of the pair → ``pending``;
    * any comparison of the pair "different" → ``fail`` (the claim is not reproduced);
    * all "equivalent", every negative-control comparison in the same files
      "different", and, where a sensitivity control (a pair known to differ
      slightly) was run in the same file, it came out "different" on the same
      env and metric at the same n → ``pass``;
    * otherwise (an inconclusive comparison, a negative control that did not
      separate, or a sensitivity control that did not — the test lacked
      power) → ``inconclusive``.

    With ``require_all_envs``, a game of ``envs`` not compared yet makes any verdict but ``fail``
    ``pending``.  Every equivalence is reported with the smallest margin at which it would pass.
    """
    _require_envs_listed(envs, require_all_envs)
    files, comparisons = load_comparisons(scale, root)
    mine = [
        c
        for c in comparisons
        if {c.a, c.b} == set(pair)
        and c.role == "equivalence"
        and (envs is None or any(e.lower() in c.env.lower() for e in envs))
    ]
    if not mine:
        return pending(
            f"{what}: no equivalence comparison of {pair[0]} vs {pair[1]} under {_where(scale, root)} "
            f"({len(files)} compare.json file(s) found); run atari_check and `python -m atari_check compare`"
        )
    different = [c for c in mine if c.verdict == "different"]
    if different:
        return failed(f"{what}: not reproduced", "; ".join(c.describe() for c in different))
    partial = _partial(what, mine, envs, require_all_envs)
    if partial:
        return partial
    used = {c.file for c in mine}
    controls = [c for c in comparisons if c.role == "negative_control" and c.file in used]
    if all(c.verdict == "equivalent" for c in mine):
        weak = [c for c in controls if c.verdict != "different"]
        if weak:
            return inconclusive(
                f"{what}: equivalent, but the negative control did not separate "
                f"({'; '.join(c.describe() for c in weak)}), so the test may lack power"
            )
        blind = []
        for c in mine:
            sens = [s for s in comparisons if s.role == "sensitivity" and s.file == c.file and s.env == c.env
                    and s.metric == c.metric]
            if sens and not any(s.verdict == "different" and (s.n_a, s.n_b) == (c.n_a, c.n_b) for s in sens):
                blind.append((c, sens))
        if blind:
            return inconclusive(
                f"{what}: equivalent, but on "
                + "; ".join(f"{c.env} {c.metric}" for c, _ in blind)
                + " the sensitivity control (a pair known to differ slightly) was not called different at "
                "the same n, so 'equivalent' there may only mean the test cannot see a small difference ("
                + "; ".join(s.describe() for _, ss in blind for s in ss) + "); equivalent: "
                + "; ".join(c.describe() for c in mine)
            )
        control_text = (
            f"; negative controls separated: {'; '.join(c.describe() for c in controls)}"
            if controls
            else "; no negative control in these files"
        )
        sens = [s for s in comparisons if s.role == "sensitivity" and s.file in used]
        sens_text = (f"; sensitivity controls separated: {'; '.join(s.describe() for s in sens)}" if sens
                     else "; no sensitivity control in these files")
        return _post_hoc(what, mine) or passed(
            f"{what}: equivalent in every comparison ({'; '.join(c.describe() for c in mine)})" + control_text
            + sens_text
        )
    return inconclusive(f"{what}: {'; '.join(c.describe() for c in mine)}")


def noninferiority_verdict(
    scale: str, pair: tuple[str, str], what: str, envs: tuple[str, ...] | None = None, root: Path | None = None,
    require_all_envs: bool = False,
) -> CheckResult:
    """Decide "``pair[0]`` is the same or better than ``pair[1]``" (one-sided, registered margin).

    pending without a comparison; ``fail`` if any is "inferior"; with ``require_all_envs``, pending while a
    game of ``envs`` is not compared; ``pass`` if all are "non-inferior"; else ``inconclusive``.  Each is
    reported with the smallest margin at which it would pass.
    """
    _require_envs_listed(envs, require_all_envs)
    files, comparisons = load_comparisons(scale, root)
    mine = _select(comparisons, pair, "noninferiority", envs)
    if not mine:
        return pending(f"{what}: no non-inferiority comparison of {pair[0]} vs {pair[1]} under "
                       f"{_where(scale, root)} ({len(files)} compare.json file(s) found)")
    text = "; ".join(c.describe() for c in mine)
    if any(c.verdict == "inferior" for c in mine):
        return failed(f"{what}: not reproduced ({pair[0]} inferior)",
                      "; ".join(c.describe() for c in mine if c.verdict == "inferior"))
    partial = _partial(what, mine, envs, require_all_envs)
    if partial:
        return partial
    if all(c.verdict == "non-inferior" for c in mine):
        return _post_hoc(what, mine) or passed(f"{what}: non-inferior in every comparison ({text})")
    return inconclusive(f"{what}: {text}")


def directional_verdict(
    scale: str, pair: tuple[str, str], expected: str, what: str, envs: tuple[str, ...] | None = None,
    root: Path | None = None,
) -> CheckResult:
    """Decide "``pair[0]`` is ``expected`` ('better' or 'worse') than ``pair[1]``" (one-sided, margin 0).

    pending without a comparison; ``fail`` if any comparison went the other way; ``pass`` if all are
    ``expected``; else ``inconclusive``.
    """
    if expected not in ("better", "worse"):
        raise ValueError(f"expected must be 'better' or 'worse', got {expected!r}")
    files, comparisons = load_comparisons(scale, root)
    mine = _select(comparisons, pair, "directional", envs)
    if not mine:
        return pending(f"{what}: no directional comparison of {pair[0]} vs {pair[1]} under "
                       f"{_where(scale, root)} ({len(files)} compare.json file(s) found)")
    text = "; ".join(c.describe() for c in mine)
    opposite = "worse" if expected == "better" else "better"
    if any(c.verdict == opposite for c in mine):
        return failed(f"{what}: not reproduced ({pair[0]} {opposite} than {pair[1]})",
                      "; ".join(c.describe() for c in mine if c.verdict == opposite))
    if all(c.verdict == expected for c in mine):
        return _post_hoc(what, mine) or passed(
            f"{what}: {pair[0]} {expected} than {pair[1]} in every comparison ({text})")
    return inconclusive(f"{what}: {text}")


def all_of(what: str, parts: list[tuple[str, CheckResult]]) -> CheckResult:
    """A claim made of several halves holds only if every half does.

    Any half ``fail`` → ``fail``; else any ``pending`` → ``pending`` (naming the halves that have a
    result); else any ``inconclusive`` → ``inconclusive``; else ``pass``.
    """
    details = "; ".join(
        f"[{name}: {r.outcome}] {r.detail}" + (f" ({r.counterexample})" if r.counterexample else "")
        for name, r in parts
    )
    outcomes = [r.outcome for _, r in parts]
    if "fail" in outcomes:
        return failed(f"{what}: a half is not reproduced", details)
    if "pending" in outcomes:
        return pending(f"{what}: {details}")
    if "inconclusive" in outcomes:
        return inconclusive(f"{what}: {details}")
    return passed(f"{what}: every half holds: {details}")
