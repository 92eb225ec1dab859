"""Sharper checks of equiv/boltzmann.py and equiv/_checks.py, written to kill surviving mutants.

Companion of tests/test_mutation_kills.py (same conventions); the mutants judged equivalent are
listed with reasons in tests/mutation/equivalent_boltzmann_checks.md.  Each test pins down a
documented behaviour:

* bad input raises ValueError whose message starts with the argument's name and shows the bad
  value (the project rule; ``_checks`` module docstring), on paths the rest of the suite misses;
* the distribution check accepts a sum off by at most 16·|A|·eps(dtype) and rejects anything
  further off (``distribution_tolerance``), probed at the exact float64 boundary;
* valid edge inputs: one action (A = 1), τ given as a one-element float tensor, unbatched ``[A]``
  log-policies in ``dueling_q``;
* every tensor a function creates lives on its inputs' device — also when a different default
  device is set (``with torch.device(...)``, as with ``torch.set_default_device("cuda")``); the
  ``meta`` device stands in for the accelerator, CPU-only.

Exact values come from plain-Python formulas of the cited equations.  Float64 identities hold to
~1e-12 relative (a handful of operations on O(1) numbers, eps = 2.2e-16), hence RTOL = 1e-12.
"""

from __future__ import annotations

import math

import pytest
import torch

import equiv
from tests.strategies import raises_matching

F64 = torch.float64
F32 = torch.float32
RTOL = 1e-12  # float64 identities (see the module docstring)
EPS64 = torch.finfo(F64).eps  # 2**-52


def soft_value_by_hand(q_row: list[float], tau: float, ref: list[float] | None = None) -> float:
    """Eq. (29)/(55): V = τ log Σ_a π̄(a) exp(Q(a)/τ), in Python floats."""
    ref = ref or [1.0 / len(q_row)] * len(q_row)
    return tau * math.log(sum(p * math.exp(x / tau) for p, x in zip(ref, q_row)))


Q_2x3 = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, -3.0]], dtype=F64)
LOGP_2x3 = torch.log_softmax(Q_2x3, -1)
REF3 = torch.tensor([0.2, 0.3, 0.5], dtype=F64)


# --- Messages name the argument and show the bad value -----------------------------------------------------

MESSAGE_CASES = {
    # _checks.check_float_tensor: a non-tensor is named and shown
    "q not a tensor": (
        lambda: equiv.soft_value([1.0, 2.0], 0.5),
        r"q must be a torch\.Tensor, got list: \[1\.0, 2\.0\]$",
    ),
    # _checks.check_float_tensor: a single non-finite entry is caught (not only in tensors of > 1 entry)
    "q with one entry, NaN": (
        lambda: equiv.soft_value(torch.tensor([float("nan")]), 0.5),
        r"q must be finite\b.*\[nan\]$",
    ),
    # _checks.check_distribution: a π̄ of larger shape than q does not broadcast *to* q
    "ref_policy broadcasts beyond q": (
        lambda: equiv.soft_value(Q_2x3[0], 0.5, ref_policy=REF3.expand(2, 3)),
        r"ref_policy has shape \(2, 3\),.* q, \(3,\)$",
    ),
    # _checks.check_distribution: the message shows the offending (negative) entries, not the zeros
    "ref_policy negative entry": (
        lambda: equiv.soft_value(Q_2x3, 0.5, ref_policy=torch.tensor([0.0, 1.5, -0.5])),
        r"ref_policy must be non-negative\b.*\[-0\.5\]$",
    ),
    # boltzmann._check_q: zero actions
    "q without actions": (
        lambda: equiv.soft_value(torch.zeros(2, 0), 0.5),
        r"q must have at least one action on its last axis, got shape \(2, 0\)$",
    ),
    # boltzmann.kl_divergence
    "kl log_policy 0-dim": (
        lambda: equiv.kl_divergence(torch.tensor(0.0)),
        r"log_policy must have an action axis, got shape \(\)$",
    ),
    "kl ref_policy dtype": (
        lambda: equiv.kl_divergence(LOGP_2x3, REF3.to(F32)),
        r"ref_policy has dtype torch\.float32 but log_policy has dtype torch\.float64",
    ),
    "kl ref_policy shape": (
        lambda: equiv.kl_divergence(LOGP_2x3[0], REF3.expand(2, 3)),
        r"ref_policy has shape \(2, 3\),.* log_policy, \(3,\)$",
    ),
    # boltzmann.dueling_q (Eq. (57))
    "dueling value not a tensor": (
        lambda: equiv.dueling_q([0.5], LOGP_2x3[:1], 0.5),
        r"value must be a torch\.Tensor, got list: \[0\.5\]$",
    ),
    "dueling value 0-dim NaN": (
        lambda: equiv.dueling_q(torch.tensor(float("nan")), LOGP_2x3[0], 0.5),
        r"value must be finite\b.*\[nan\]$",
    ),
    "dueling log_policy not a tensor": (
        lambda: equiv.dueling_q(Q_2x3[:, 0], [[0.0, 0.0, 0.0]], 0.5),
        r"log_policy must be a torch\.Tensor, got list: \[\[0\.0, 0\.0, 0\.0\]\]$",
    ),
    "dueling log_policy 0-dim": (
        lambda: equiv.dueling_q(torch.tensor(0.5), torch.tensor(0.0), 0.5),
        r"log_policy must have at least 1 dimension\(s\), got shape \(\)$",
    ),
    "dueling log_policy dtype": (
        lambda: equiv.dueling_q(Q_2x3[:, 0], LOGP_2x3.to(F32), 0.5),
        r"log_policy has dtype torch\.float32 but value has dtype torch\.float64",
    ),
    "dueling ref_policy dtype": (
        lambda: equiv.dueling_q(Q_2x3[:, 0], LOGP_2x3, 0.5, ref_policy=REF3.to(F32)),
        r"ref_policy has dtype torch\.float32 but log_policy has dtype torch\.float64",
    ),
    "dueling ref_policy shape": (
        lambda: equiv.dueling_q(torch.tensor(0.5), LOGP_2x3[0], 0.5, ref_policy=REF3.expand(2, 3)),
        r"ref_policy has shape \(2, 3\),.* log_policy, \(3,\)$",
    ),
    # Eq. (57) needs log π̄ finite: a π̄ with a zero entry is rejected, not turned into Q = +inf
    "dueling ref_policy zero entry": (
        lambda: equiv.dueling_q(Q_2x3[:, 0], LOGP_2x3, 0.5, ref_policy=torch.tensor([0.5, 0.5, 0.0])),
        r"ref_policy has zero entries, got tensor\(\[0\.5, 0\.5, 0\.0\], dtype=torch\.float64\)",
    ),
}


@pytest.mark.parametrize("call, pattern", MESSAGE_CASES.values(), ids=MESSAGE_CASES.keys())
def test_bad_input_message_names_the_argument(call, pattern):
    """Bad input raises ValueError whose message begins with the argument's name and shows the value."""
    raises_matching(call, pattern)


# --- The distribution tolerance 16·|A|·eps(dtype), at its exact boundary ------------------------------------


@pytest.mark.parametrize("excess_eps, accepted", [(32, True), (33, False)], ids=["sum = 1 + tol", "sum = 1 + tol + eps"])
def test_reference_policy_sum_tolerance_is_16_A_eps_inclusive(excess_eps, accepted):
    """``distribution_tolerance``: a probability vector's sum may be off from 1 by *at most*
    16·|A|·eps(dtype).  With A = 2 in float64 that is 32·eps = 32·2⁻⁵².  π̄ = [0.5, 0.5 + k·eps] is
    exact in float64 (the spacing near 0.5 is eps/2) and so is its sum 1 + k·eps (spacing eps near
    1): k = 32 sits exactly on the allowance and is accepted, k = 33 is one eps beyond and rejected."""
    ref = torch.tensor([0.5, 0.5 + excess_eps * EPS64], dtype=F64)
    assert float(ref.sum()) - 1.0 == excess_eps * EPS64  # the arithmetic above is exact
    q = torch.tensor([0.3, -0.2], dtype=F64)
    if accepted:
        value = equiv.soft_value(q, 0.5, ref_policy=ref)
        expected = soft_value_by_hand(q.tolist(), 0.5, ref.tolist())
        assert math.isclose(float(value), expected, rel_tol=RTOL)
    else:
        raises_matching(
            lambda: equiv.soft_value(q, 0.5, ref_policy=ref),
            r"ref_policy must sum to 1\b.*1\.0000000000000073",
        )


# --- Valid edge inputs ---------------------------------------------------------------------------------------


def test_a_single_action_is_allowed():
    """A = 1 is a valid q (``_check_q`` asks for at least one action): V_Q = τ log exp(Q/τ) = Q
    (Eq. (29)), π^B = 1 (Eq. (10)) and the soft advantage is 0 (Eq. (32))."""
    q = torch.tensor([[2.0], [-1.0]], dtype=F64)
    assert torch.allclose(equiv.soft_value(q, 0.5), q[:, 0], rtol=RTOL, atol=RTOL)
    assert torch.allclose(equiv.boltzmann_policy(q, 0.5), torch.ones(2, 1), rtol=RTOL, atol=RTOL)
    assert torch.allclose(equiv.soft_advantage(q, 0.5), torch.zeros(2, 1), rtol=0, atol=RTOL)


@pytest.mark.parametrize("tau", [torch.tensor(0.5), torch.tensor([0.5]), torch.tensor(0.5, dtype=F32)],
                         ids=["0-dim", "one entry", "float32 0-dim"])
def test_tau_may_be_a_one_element_float_tensor(tau):
    """τ may be passed as a one-element floating-point tensor (e.g. a learned temperature); it is read
    as the number it holds: Eq. (29) row by row by hand."""
    value = equiv.soft_value(Q_2x3, tau)
    by_hand = [soft_value_by_hand(row, 0.5) for row in Q_2x3.tolist()]
    assert torch.allclose(value, torch.tensor(by_hand), rtol=RTOL, atol=RTOL)


def test_dueling_q_unbatched_and_with_reference_policy():
    """Eq. (57) for one state (value ``[]``, log_policy ``[A]``) and with a π̄:
    Q(a) = V + τ (log π(a) − log π̄(a)), by hand."""
    value, log_pi, tau = torch.tensor(0.25), LOGP_2x3[0], 0.7
    q = equiv.dueling_q(value, log_pi, tau)
    assert q.shape == (3,)
    by_hand = [0.25 + tau * (lp + math.log(3)) for lp in log_pi.tolist()]
    assert torch.allclose(q, torch.tensor(by_hand), rtol=RTOL, atol=RTOL)
    q_ref = equiv.dueling_q(value, log_pi, tau, ref_policy=REF3)
    by_hand = [0.25 + tau * (lp - math.log(r)) for lp, r in zip(log_pi.tolist(), REF3.tolist())]
    assert torch.allclose(q_ref, torch.tensor(by_hand), rtol=RTOL, atol=RTOL)


def test_log_reference_uniform_is_minus_log_A_in_the_dtype_of_like():
    """``log_reference(None, like)``: the uniform reference, log π̄(a) = −log A, in like's dtype."""
    for dtype in (F64, F32):
        log_ref = equiv.log_reference(None, torch.zeros(2, 5, dtype=dtype))
        assert log_ref.dtype == dtype
        assert math.isclose(float(log_ref), -math.log(5), rel_tol=RTOL if dtype == F64 else 1e-7)


# --- Created tensors follow the inputs' device, whatever the default device ---------------------------------

LOGP_WITH_ZERO = LOGP_2x3.clone()
LOGP_WITH_ZERO[0] = torch.tensor([math.log(0.25), float("-inf"), math.log(0.75)])


def _kl_by_hand(log_pi: list[float], ref: list[float]) -> float:
    """Eq. (1)/(24): Σ_a π(a)(log π(a) − log π̄(a)) over π's support (0·log 0 = 0)."""
    return sum(math.exp(lp) * (lp - math.log(r)) for lp, r in zip(log_pi, ref) if lp > -math.inf)


DEFAULT_DEVICE_CALLS = {
    "log_reference": (
        lambda: equiv.log_reference(None, Q_2x3),
        lambda: torch.tensor(-math.log(3)),
    ),
    "soft_value": (
        lambda: equiv.soft_value(Q_2x3, 0.5),
        lambda: torch.tensor([soft_value_by_hand(row, 0.5) for row in Q_2x3.tolist()]),
    ),
    "kl_divergence": (
        lambda: equiv.kl_divergence(LOGP_WITH_ZERO),
        lambda: torch.tensor([_kl_by_hand(row, [1 / 3] * 3) for row in LOGP_WITH_ZERO.tolist()]),
    ),
    "regularized_expectation": (  # E_π[Q] − τ KL (Eq. (27))
        lambda: equiv.regularized_expectation(Q_2x3, LOGP_WITH_ZERO, 0.5, REF3),
        lambda: torch.tensor([
            sum(math.exp(lp) * x for lp, x in zip(lps, qs) if lp > -math.inf) - 0.5 * _kl_by_hand(lps, REF3.tolist())
            for lps, qs in zip(LOGP_WITH_ZERO.tolist(), Q_2x3.tolist())
        ]),
    ),
    "dueling_q": (
        lambda: equiv.dueling_q(Q_2x3[:, 0], LOGP_2x3, 0.5),
        lambda: torch.tensor([
            [v + 0.5 * (lp + math.log(3)) for lp in lps] for v, lps in zip(Q_2x3[:, 0].tolist(), LOGP_2x3.tolist())
        ]),
    ),
}


@pytest.mark.parametrize("call, by_hand", DEFAULT_DEVICE_CALLS.values(), ids=DEFAULT_DEVICE_CALLS.keys())
def test_results_follow_the_inputs_device_under_another_default_device(call, by_hand):
    """With a different default device in force (``torch.device("meta")`` here, ``"cuda"`` in a GPU
    script that calls ``torch.set_default_device``), CPU inputs still give CPU results with the exact
    values: every constant (log π̄ of the uniform reference, the zeros that mask π's support) is built
    on the inputs' device, never on the default one."""
    with torch.device("meta"):
        result = call()
    assert result.device.type == "cpu"
    assert torch.allclose(result, by_hand(), rtol=RTOL, atol=RTOL)


# --- Whole messages where the advice is part of the promise ------------------------------------------------


def test_dtype_mismatch_message_says_nothing_is_cast():
    """The project never casts silently (README, "Bad input"); the dtype message says so in full."""
    message = raises_matching(
        lambda: equiv.kl_divergence(LOGP_2x3, REF3.to(F32)),
        r"ref_policy has dtype torch\.float32 but log_policy has dtype torch\.float64",
    )
    assert message.endswith("; pass both in the same dtype (nothing is cast silently)")


def test_dueling_reference_with_a_zero_entry_message_explains_eq57():
    """Eq. (57) has log π̄ in it: the message shows the bad π̄, says why and what to do instead."""
    message = raises_matching(
        lambda: equiv.dueling_q(Q_2x3[:, 0], LOGP_2x3, 0.5, ref_policy=torch.tensor([0.5, 0.5, 0.0])),
        r"ref_policy has zero entries",
    )
    assert message == (
        "ref_policy has zero entries, got tensor([0.5, 0.5, 0.0], dtype=torch.float64); "
        "Q = V + τ log(π/π̄) is undefined there. "
        "Use a reference policy with full support for the dueling parametrisation."
    )


MANY_BAD = {
    # six offending entries each; the message lists the first MAX_SHOWN_VALUES (= 4) of them
    "check_float_tensor": (
        lambda: equiv.soft_value(torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]) * float("nan"), 1.0),
        r"q must be finite \(no NaN/inf\); found values such as \[nan, nan, nan, nan\]$",
    ),
    "check_distribution negative": (
        lambda: equiv.soft_value(
            torch.zeros(1, 8), 1.0, ref_policy=torch.tensor([-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, 1.6, 1.5])
        ),
        r"ref_policy must be non-negative; found \[-0\.1, -0\.2, -0\.3, -0\.4\]$",
    ),
    "kl_divergence log_policy": (
        lambda: equiv.kl_divergence(torch.tensor([float("nan")] * 6 + [0.0]), None),
        r"log_policy must not contain NaN or \+inf; found values such as \[nan, nan, nan, nan\]$",
    ),
}


@pytest.mark.parametrize("call, pattern", MANY_BAD.values(), ids=MANY_BAD.keys())
def test_messages_list_at_most_four_offending_values(call, pattern):
    """A message shows the first ``equiv._checks.MAX_SHOWN_VALUES`` = 4 offending entries (one readable
    line), however many there are."""
    assert equiv._checks.MAX_SHOWN_VALUES == 4
    raises_matching(call, pattern)


def test_entropy_of_a_deterministic_float16_policy_over_2_to_the_25_actions_is_zero():
    """S = log A − KL(π ‖ uniform) (§6.2) uses log π̄ = −log A directly: an explicit π̄ = 1/A tensor
    rounds to 0 in float16 for A ≥ 2**25 and gave S = −inf here (true S = 0).  Exact: π is one-hot,
    so KL = log A and S = fl16(log A) − fl16(log A) = 0."""
    log_policy = torch.full((2**25,), float("-inf"), dtype=torch.float16)
    log_policy[0] = 0.0
    result = equiv.entropy(log_policy)
    assert result.dtype == torch.float16 and float(result) == 0.0


# --- KL of something that is not a distribution -------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda lp: equiv.kl_divergence(lp, REF3),
        lambda lp: equiv.entropy(lp),
        lambda lp: equiv.losses.expected_star_terms(torch.zeros(2), lp, tau=0.5),
    ],
    ids=["kl_divergence", "entropy", "expected_star_terms"],
)
def test_unnormalised_log_policy_is_rejected_not_turned_into_a_number(call):
    """KL(π‖π̄) (Eq. (1)) needs a distribution π.  π = [0.2, 0.2, 0.2] (sum 0.6) used to give a KL of
    0.16 silently; it is a ValueError naming log_policy and showing the sum.  Controls: the normalised
    π is accepted, and the check is one of the data-dependent ones that ``validation(False)`` skips."""
    bad = torch.full((2, 3), 0.2, dtype=F64).log()
    raises_matching(lambda: call(bad), r"log_policy must be normalised: .* found a sum of 0\.6000000000000001$")
    assert torch.isfinite(call(LOGP_2x3)).all()
    with equiv.validation(False):
        assert torch.isfinite(call(bad)).all()


@pytest.mark.parametrize(
    "log_policy, shown",
    [(torch.tensor([0.5], dtype=F64).log(), "0.5"), (torch.empty(2, 0, dtype=F64), "0.0")],
    ids=["one action, mass 0.5", "no actions"],
)
def test_kl_rejects_a_log_policy_that_is_not_normalised_however_small(log_policy, shown):
    """The normalisation check has no size exception: one action with mass 0.5, or no actions at all
    (mass 0), is not a distribution.  Control: no states at all (``[0, A]``) is an empty batch, fine."""
    raises_matching(lambda: equiv.kl_divergence(log_policy), rf"log_policy must be normalised: .* found a sum of {shown}$")
    assert equiv.kl_divergence(torch.empty(0, 3, dtype=F64)).shape == (0,)


def test_distribution_sum_message_says_nothing_is_renormalised():
    """Nothing is renormalised silently (README, "Bad input"); the message of the sum check says so."""
    message = raises_matching(
        lambda: equiv.soft_value(Q_2x3, 0.5, ref_policy=torch.tensor([0.2, 0.3, 0.6], dtype=F64)),
        r"ref_policy must sum to 1 over its last axis \(tolerance 1\.1e-14\); found a sum of 1\.1",
    )
    assert message.endswith(" (it is not renormalised for you)")
