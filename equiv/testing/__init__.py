"""equiv.testing — point the suite's exact checks at anyone's implementation (a conformance kit).

In the spirit of ``numpy.testing`` / ``torch.testing``: wrap your soft Q-learning / A2C / soft-target code
in an *adapter* (see :mod:`equiv.testing.contracts`), then

* call the checks: ``equiv.testing.check_soft_target(my_adapter)`` raises ``ConformanceError`` (an
  ``AssertionError``) naming the equation, the shrunk case, expected vs got and the error vs tolerance;
  ``classify_pg_loss(my_adapter)`` returns whether the policy gradient is the proper (80) or the naive
  (79) estimator and how large the naive one's bias is;
* or use the pytest plugin (installed with equiv): in a test module set ``EQUIV_ADAPTER = my_adapter`` and
  write ``def test_equiv(equiv_check): equiv_check()``;
* or the CLI: ``python -m equiv.testing MODULE:ADAPTER [--json]``.

Checks run derandomized hypothesis examples (the same in every run: a CI gate must be stable); ask for
more with ``examples=N``, ``--examples N`` or ``EQUIV_TESTING_EXAMPLES=N``.  Needs the ``test`` extra
(hypothesis): ``pip install "equiv[test]"``.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "equiv.testing needs hypothesis (the 'test' extra): pip install \"equiv[test]\"; "
        "the rest of equiv works without it"
    ) from err

from .checks import (
    CHECKS,
    Classification,
    ConformanceError,
    NotApplicable,
    check_a2c_proper,
    check_boltzmann,
    check_eq65,
    check_hard_limit,
    check_lambda_target,
    check_reward_scaling,
    check_soft_target,
    check_truncation,
    classify_pg_loss,
    default_examples,
)
from .contracts import A2CBatch, SoftQBatch, TargetBatch, Unsupported, gradient_surrogate
from .reference import EQUIV, EQUIV_ENTROPY, EquivAdapter, EquivEntropyAdapter
from .runner import Verdict, format_table, load_adapter, run_checks

__all__ = [
    "CHECKS",
    "EQUIV",
    "EQUIV_ENTROPY",
    "A2CBatch",
    "Classification",
    "ConformanceError",
    "EquivAdapter",
    "EquivEntropyAdapter",
    "NotApplicable",
    "SoftQBatch",
    "TargetBatch",
    "Unsupported",
    "Verdict",
    "check_a2c_proper",
    "check_boltzmann",
    "check_eq65",
    "check_hard_limit",
    "check_lambda_target",
    "check_reward_scaling",
    "check_soft_target",
    "check_truncation",
    "classify_pg_loss",
    "default_examples",
    "format_table",
    "gradient_surrogate",
    "load_adapter",
    "run_checks",
]
