"""Run every check on an adapter and collect verdicts (holds / differs / n/a) with their sizes."""

from __future__ import annotations

import dataclasses
import importlib
import math
import types

from .checks import CHECKS, ConformanceError, NotApplicable, classify_pg_loss

__all__ = ["Verdict", "format_table", "load_adapter", "run_checks"]


@dataclasses.dataclass
class Verdict:
    check: str
    equations: str
    status: str  # "holds", "differs", "n/a"
    error: float | None = None  # relative error of the first failing comparison (differs)
    tol: float | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["error"] is not None and not math.isfinite(d["error"]):
            d["error"] = "inf"
        return d


def load_adapter(spec: str) -> object:
    """``"package.module:NAME"`` → the adapter; a class or a plain function is called with no arguments."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"adapter must be given as MODULE:ADAPTER, got {spec!r}")
    module = importlib.import_module(module_name)
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"adapter {spec!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return obj() if isinstance(obj, (type, types.FunctionType)) else obj


def run_checks(adapter: object, *, checks: list[str] | None = None, examples: int | None = None,
               shrink: bool = False, classify: bool = True) -> list[Verdict]:
    """Every check (or those named) as a Verdict; ``classify`` adds the proper/naive classification row."""
    names = list(CHECKS) if checks is None else checks
    unknown = [c for c in names if c not in CHECKS and c != "classify_pg"]
    if unknown:
        raise ValueError(f"checks: unknown names {unknown}; known: {list(CHECKS)} and 'classify_pg'")
    verdicts = []
    for name in names:
        if name == "classify_pg":
            continue
        fn, equations = CHECKS[name]
        try:
            fn(adapter, examples=examples, shrink=shrink)
        except NotApplicable as err:
            verdicts.append(Verdict(name, equations, "n/a", detail=str(err)))
        except ConformanceError as err:
            verdicts.append(Verdict(name, equations, "differs", err.error, err.tol, str(err)))
        else:
            verdicts.append(Verdict(name, equations, "holds", tol=float(getattr(adapter, "rtol", 1e-9))))
    if classify and (checks is None or "classify_pg" in names):
        try:
            c = classify_pg_loss(adapter)
        except NotApplicable as err:
            verdicts.append(Verdict("classify_pg", "Eqs. (79)/(80)", "n/a", detail=str(err)))
        else:
            verdicts.append(Verdict("classify_pg", "Eqs. (79)/(80)", c.estimator,
                                    c.naive_bias if c.estimator == "naive" else None, c.tol, c.summary()))
    return verdicts


def format_table(title: str, verdicts: list[Verdict], width: int = 120) -> str:
    """The verdict table, at most ``width`` columns."""
    lines = [title[:width], f"{'check':<14} {'equations':<32} {'verdict':<9} {'error':>9}  detail"]
    for v in verdicts:
        err = "" if v.error is None else ("inf" if not math.isfinite(v.error) else f"{v.error:.2e}")
        first = v.detail.splitlines()[0] if v.detail else ""
        line = f"{v.check:<14} {v.equations[:32]:<32} {v.status:<9} {err:>9}  {first}"
        lines.append(line[:width])
    return "\n".join(lines)
