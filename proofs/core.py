"""Checks: registration by id, structured results, cached execution.

A *check* is a small function that decides one mathematical statement and
returns a :class:`CheckResult`.  Checks are registered by string id with the
:func:`check` decorator (ids name the equations, e.g. ``eq061_to_eq062``), so
that the claims registry (:mod:`proofs.registry`) can refer to them as data.

Kinds of checks:

* ``symbolic``  sympy: the difference of the two sides is reduced to 0
  exactly (and cross-checked at a witness point in 50-digit arithmetic).
* ``units``     dimensional analysis: τ, rewards and values carry the reward
  unit U; probabilities, KL and log-ratios are dimensionless.
* ``numeric``   exact float64 computations with :mod:`equiv` on fixed-seed
  instances (linear algebra / dynamic programming / enumeration, no sampling).
* ``empirical`` reads committed result files of :mod:`atari_check`.

A check *fails* by returning ``outcome="fail"`` together with a concrete
counterexample; an exception inside a check is an ``error`` (a bug of the
checker, never a verdict about the paper).
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from typing import Callable

__all__ = [
    "CheckResult",
    "Check",
    "CHECK_KINDS",
    "OUTCOMES",
    "check",
    "registered_checks",
    "get_check",
    "run_check",
    "clear_cache",
    "passed",
    "failed",
    "extended",
    "pending",
    "inconclusive",
]

CHECK_KINDS = ("symbolic", "units", "numeric", "empirical")
OUTCOMES = ("pass", "fail", "pending", "inconclusive", "error")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
      outcome: ``pass`` | ``fail`` | ``pending`` (empirical, no data yet) |
        ``inconclusive`` (empirical, data does not decide) | ``error``.
      detail: one deterministic sentence saying what was computed (no
        timings, no platform-dependent round-off: it goes into WALKTHROUGH.md).
      counterexample: for ``fail``: the concrete instance and the two values.
      negative_control: for ``pass`` of an identity: the deliberately wrong
        variant and its (large) discrepancy, showing the check can fail.
      negative_control_gap: the measured discrepancy of that wrong variant (relative), and
      negative_control_threshold: the least discrepancy that counts as refuted.  Both are
        required with ``negative_control`` and the gap must exceed the threshold, so a result can
        only claim a negative control that was actually refuted (see :attr:`control_refuted`).
      measurements: numbers behind the detail (may vary in the last digits
        between platforms; shown in ``--json`` only).
    """

    outcome: str
    detail: str
    counterexample: str | None = None
    negative_control: str | None = None
    measurements: dict = dataclasses.field(default_factory=dict)
    negative_control_gap: float | None = None
    negative_control_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.outcome == "fail" and not self.counterexample:
            raise ValueError("a failing check must carry a counterexample")
        given = (self.negative_control_gap is not None, self.negative_control_threshold is not None)
        if self.negative_control is None:
            if any(given):
                raise ValueError("negative_control_gap/threshold given without a negative_control")
            return
        if not all(given):
            raise ValueError(
                f"negative control {self.negative_control!r} needs its measured negative_control_gap "
                "and the negative_control_threshold it must exceed"
            )
        gap, threshold = float(self.negative_control_gap), float(self.negative_control_threshold)
        if not (math.isfinite(gap) and math.isfinite(threshold) and threshold > 0):
            raise ValueError(
                f"negative control gap {gap!r} / threshold {threshold!r} must be finite, threshold > 0"
            )
        if not gap > threshold:
            raise ValueError(
                f"negative control {self.negative_control!r} was not refuted: "
                f"gap {gap:.3g} ≤ threshold {threshold:.3g}"
            )

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    @property
    def control_refuted(self) -> bool:
        """True when this result carries a negative control measured above its threshold."""
        return self.negative_control is not None  # construction guarantees gap > threshold

    def control(self) -> dict:
        """The negative-control fields, to pass on to a result built from this one."""
        return {
            "negative_control": self.negative_control,
            "negative_control_gap": self.negative_control_gap,
            "negative_control_threshold": self.negative_control_threshold,
        }


def passed(
    detail: str,
    *,
    negative_control: str | None = None,
    negative_control_gap: float | None = None,
    negative_control_threshold: float | None = None,
    **measurements: float,
) -> CheckResult:
    """A passing result; a ``negative_control`` needs its measured gap and the threshold it exceeds."""
    return CheckResult(
        "pass",
        detail,
        negative_control=negative_control,
        measurements=measurements,
        negative_control_gap=negative_control_gap,
        negative_control_threshold=negative_control_threshold,
    )


def extended(result: CheckResult, more: str) -> CheckResult:
    """``result`` with ``more`` appended to its detail when it passed; any other outcome unchanged
    (so a failed decision is never turned into a pass by adding a remark to it)."""
    if not result.passed:
        return result
    return dataclasses.replace(result, detail=result.detail + more)


def failed(detail: str, counterexample: str, **measurements: float) -> CheckResult:
    return CheckResult("fail", detail, counterexample=counterexample, measurements=measurements)


def pending(detail: str) -> CheckResult:
    return CheckResult("pending", detail)


def inconclusive(detail: str, **measurements: float) -> CheckResult:
    return CheckResult("inconclusive", detail, measurements=measurements)


@dataclasses.dataclass(frozen=True)
class Check:
    """A registered check: id, kind, the equations it concerns, and its function."""

    id: str
    kind: str
    equations: tuple[int, ...]
    title: str
    func: Callable[[], CheckResult]
    module: str


_CHECKS: dict[str, Check] = {}
_CACHE: dict[str, tuple[CheckResult, float]] = {}


def check(
    id: str, *, kind: str, equations: tuple[int, ...] | list[int] = (), title: str = ""
) -> Callable[[Callable[[], CheckResult]], Callable[[], CheckResult]]:
    """Register ``func`` as the check ``id``.

    Raises ValueError on a duplicate id, an unknown kind or an equation
    number outside 1..90.
    """
    if not isinstance(id, str) or not id or not id.replace("_", "").isalnum():
        raise ValueError(f"check id must be a non-empty identifier-like string, got {id!r}")
    if kind not in CHECK_KINDS:
        raise ValueError(f"check {id!r}: kind must be one of {CHECK_KINDS}, got {kind!r}")
    eqs = tuple(equations)
    for e in eqs:
        if not isinstance(e, int) or not 1 <= e <= 90:
            raise ValueError(f"check {id!r}: equation numbers must be integers in 1..90, got {e!r}")

    def register(func: Callable[[], CheckResult]) -> Callable[[], CheckResult]:
        if id in _CHECKS:
            raise ValueError(f"duplicate check id {id!r} ({_CHECKS[id].module} and {func.__module__})")
        doc = (func.__doc__ or "").strip().splitlines()
        _CHECKS[id] = Check(id, kind, eqs, title or (doc[0] if doc else id), func, func.__module__)
        return func

    return register


def registered_checks() -> dict[str, Check]:
    """The checks registered so far, by id (:func:`proofs.loader.load_checks` imports them all)."""
    return dict(_CHECKS)


def get_check(id: str) -> Check:
    try:
        return _CHECKS[id]
    except KeyError:
        hint = "" if _CHECKS else " (no check is loaded: call proofs.loader.load_checks() first)"
        raise ValueError(f"unknown check id {id!r}{hint}") from None


def run_check(id: str) -> CheckResult:
    """Run a check once per process (results are cached: checks are deterministic)."""
    if id in _CACHE:
        return _CACHE[id][0]
    chk = get_check(id)
    start = time.perf_counter()
    try:
        result = chk.func()
        if not isinstance(result, CheckResult):
            raise TypeError(f"check {id!r} returned {type(result).__name__}, not CheckResult")
    except Exception as err:  # a bug in a check is reported, never silently a verdict
        tb = traceback.format_exception_only(type(err), err)[-1].strip()
        result = CheckResult("error", f"check raised {tb}")
    _CACHE[id] = (result, time.perf_counter() - start)
    return result


def check_seconds(id: str) -> float:
    """Wall time of the cached run of ``id`` (0 if not run)."""
    return _CACHE.get(id, (None, 0.0))[1]


def clear_cache() -> None:
    _CACHE.clear()
