"""Bad input raises ValueError naming the argument and showing the bad value; nothing is silently
clipped, cast or renormalised.  `equiv.validation(False)` / `set_validation` switch off only the
data-dependent checks (finiteness, "is this a distribution") and are restored afterwards.

Each case asserts on the message with a regex that contains the argument's name and the offending
value (or dtype / shape).
"""

from __future__ import annotations

import math
import re

import pytest
import torch

import equiv
from equiv import (
    boltzmann_log_policy,
    dueling_q,
    entropy,
    entropy_bonus_target,
    gather_actions,
    hard_max_target,
    kl_divergence,
    lambda_soft_target,
    matched_soft_q_loss,
    nstep_advantage,
    nstep_return,
    nstep_soft_target,
    one_step_soft_target,
    policy_loss,
    regularized_expectation,
    scale_gradient,
    set_validation,
    soft_q_loss,
    soft_value,
    td_errors,
    validation,
    validation_enabled,
)
from equiv.mdp import (
    FiniteMDP,
    boltzmann_backup,
    enumerate_trajectories,
    evaluate_policy,
    lambda_boltzmann_backup,
    nstep_boltzmann_backup,
    soft_value_iteration,
)

F64 = torch.float64
Q = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -3.0, 0.25]], dtype=F64)  # [2 states, 4 actions]
UNIFORM = torch.full((4,), 0.25, dtype=F64)
T = 3
R = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
KL = torch.tensor([0.1, 0.2, 0.3], dtype=F64)
V = torch.tensor([0.5, 0.4, 0.3], dtype=F64)
NEXT_V = torch.tensor([0.4, 0.3, 0.2], dtype=F64)
DONE = torch.tensor([False, True, False])
NEXT_Q = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 3.5]], dtype=F64)


def mdp(**changes) -> FiniteMDP:
    fields = {
        "transitions": torch.full((2, 3, 2), 0.5, dtype=F64),
        "rewards": torch.zeros(2, 3, dtype=F64),
        "gamma": 0.9,
        "tau": 0.5,
    }
    fields.update(changes)
    return FiniteMDP(**fields)


def raises(call, *patterns: str) -> str:
    """Assert `call()` raises ValueError whose message matches every regex in `patterns`."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    return message


def shown(value) -> str:
    return re.escape(repr(float(value)) if isinstance(value, float) else repr(value))


# --- Scalars: τ, γ, n, λ -----------------------------------------------------------------------------------

TAU_CALLS = {
    "soft_value": lambda tau: soft_value(Q, tau),
    "boltzmann_log_policy": lambda tau: boltzmann_log_policy(Q, tau, UNIFORM),
    "nstep_soft_target": lambda tau: nstep_soft_target(R, KL, NEXT_V, DONE, gamma=0.9, tau=tau),
    "lambda_soft_target": lambda tau: lambda_soft_target(R, KL, V, NEXT_V, DONE, gamma=0.9, tau=tau, lam=0.5),
    "one_step_soft_target": lambda tau: one_step_soft_target(R, NEXT_Q, DONE, gamma=0.9, tau=tau),
    "entropy_bonus_target": lambda tau: entropy_bonus_target(R, NEXT_Q, DONE, gamma=0.9, tau=tau),
    "policy_loss": lambda tau: policy_loss(V, R, KL, tau=tau),
    "dueling_q": lambda tau: dueling_q(V[:2], torch.log_softmax(Q, -1), tau),
    "FiniteMDP": lambda tau: mdp(tau=tau),
}


@pytest.mark.parametrize("call", TAU_CALLS.values(), ids=TAU_CALLS.keys())
@pytest.mark.parametrize(
    "tau, pattern",
    [
        (0.0, r"tau must be > 0, got 0\.0"),
        (-1.0, r"tau must be > 0, got -1\.0"),
        (float("nan"), r"tau must be finite, got nan"),
        (float("inf"), r"tau must be finite, got inf"),
        (True, r"tau must be a real number, got True"),
        ("0.1", r"tau must be a real number, got '0\.1'"),
    ],
)
def test_bad_tau(call, tau, pattern):
    """τ > 0 and finite (it is a temperature in reward units); bools and strings are not numbers."""
    raises(lambda: call(tau), pattern)


GAMMA_CALLS = {
    "nstep_return": lambda g: nstep_return(R, NEXT_V, DONE, gamma=g),
    "td_errors": lambda g: td_errors(R, KL, V, NEXT_V, DONE, gamma=g, tau=1.0),
    "hard_max_target": lambda g: hard_max_target(R, NEXT_Q, DONE, gamma=g),
    "FiniteMDP": lambda g: mdp(gamma=g),
}


@pytest.mark.parametrize("call", GAMMA_CALLS.values(), ids=GAMMA_CALLS.keys())
@pytest.mark.parametrize("gamma", [-0.1, 1.5, 1.0000001, float("nan"), float("inf")])
def test_bad_gamma(call, gamma):
    """γ ∈ [0, 1]."""
    raises(lambda: call(gamma), r"gamma must be", shown(gamma))


N_CALLS = {
    "nstep_return": lambda n: nstep_return(R, NEXT_V, DONE, gamma=0.9, n=n),
    "nstep_advantage": lambda n: nstep_advantage(R, KL, V, NEXT_V, DONE, gamma=0.9, tau=1.0, n=n),
    "nstep_boltzmann_backup": lambda n: nstep_boltzmann_backup(mdp(), torch.zeros(2, 3, dtype=F64), n),
}


@pytest.mark.parametrize("call", N_CALLS.values(), ids=N_CALLS.keys())
@pytest.mark.parametrize("n", [0, -1, 2.5, 2.0, True, "3", torch.tensor(3)])
def test_bad_n(call, n):
    """n is an integer ≥ 1: not 0, negative, a float (even 2.0), a bool, a string or a tensor."""
    raises(lambda: call(n), r"n must be an integer >= 1, got " + re.escape(repr(n)))


LAMBDA_CALLS = {
    "lambda_soft_target": lambda lam: lambda_soft_target(R, KL, V, NEXT_V, DONE, gamma=0.9, tau=1.0, lam=lam),
    "lambda_boltzmann_backup": lambda lam: lambda_boltzmann_backup(mdp(), torch.zeros(2, 3, dtype=F64), lam),
}


@pytest.mark.parametrize("call", LAMBDA_CALLS.values(), ids=LAMBDA_CALLS.keys())
@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan"), True])
def test_bad_lambda(call, lam):
    """λ ∈ [0, 1]."""
    raises(lambda: call(lam), r"lam must be", shown(lam))


# --- Reference policy π̄ and other distributions --------------------------------------------------------


def test_ref_policy_with_negative_entries():
    bad = torch.tensor([0.5, 0.6, -0.1, 0.0], dtype=F64)
    raises(lambda: soft_value(Q, 1.0, bad), r"ref_policy must be non-negative", r"-0\.1")


@pytest.mark.parametrize("offset", [1e-6, -1e-6, 1e-3, 0.5])
def test_ref_policy_not_summing_to_one_is_rejected_not_renormalised(offset):
    """A π̄ off by 1e-6 in float64 (far above the 16·A·eps ≈ 1.4e-14 rounding allowance) or by 1e-3 is
    rejected with its sum shown; it is not quietly renormalised."""
    bad = UNIFORM.clone()
    bad[-1] += offset
    for call in (
        lambda: soft_value(Q, 1.0, bad),
        lambda: boltzmann_log_policy(Q, 1.0, bad),
        lambda: kl_divergence(torch.log_softmax(Q, -1), bad),
        lambda: one_step_soft_target(R[:2], Q, DONE[:2], gamma=0.9, tau=1.0, ref_policy=bad),
    ):
        raises(call, r"ref_policy must sum to 1", re.escape(repr(float(bad.sum()))), r"not renormalised")


def test_normalised_ref_policy_within_rounding_is_accepted():
    """The check is not stricter than rounding: p / p.sum() for random p is accepted in float64 and
    float32, and gives the same policy as the exact uniform reference when p is uniform."""
    generator = torch.Generator().manual_seed(0)
    for dtype in (torch.float64, torch.float32):
        p = torch.rand(50, 7, generator=generator, dtype=dtype)
        p = p / p.sum(-1, keepdim=True)
        soft_value(torch.zeros(50, 7, dtype=dtype), 1.0, p)
    thirds = torch.tensor([1.0, 1.0, 1.0], dtype=F64) / 3.0
    assert torch.allclose(soft_value(Q[:, :3], 0.7, thirds), soft_value(Q[:, :3], 0.7), rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (
            torch.full((3,), 1 / 3, dtype=F64),
            r"ref_policy has shape \(3,\), which does not broadcast .* \(2, 4\)",
        ),
        (torch.full((3, 4), 0.25, dtype=F64), r"ref_policy has shape \(3, 4\)"),
        (torch.tensor(1.0, dtype=F64), r"ref_policy must have at least 1 dimension"),
        (UNIFORM.float(), r"ref_policy has dtype torch\.float32 but q has dtype torch\.float64"),
        (torch.tensor([0.25, 0.25, 0.5, float("nan")], dtype=F64), r"ref_policy must be finite .*nan"),
        ([0.25, 0.25, 0.25, 0.25], r"ref_policy must be a torch\.Tensor, got list"),
    ],
)
def test_ref_policy_wrong_shape_dtype_or_values(bad, pattern):
    raises(lambda: boltzmann_log_policy(Q, 1.0, bad), pattern)


def test_policy_arguments_of_mdp_evaluators_must_be_distributions():
    m = mdp()
    raises(lambda: evaluate_policy(m, torch.full((2, 3), 0.4, dtype=F64)), r"policy must sum to 1", r"1\.2")
    raises(lambda: evaluate_policy(m, torch.full((3,), 1 / 3, dtype=F64)), r"policy must have shape \[S, A\]")
    raises(
        lambda: evaluate_policy(m, torch.full((2, 3), 1 / 3, dtype=torch.float32)),
        r"policy has dtype torch\.float32 but rewards has dtype torch\.float64",
    )


# --- Non-finite data, integer tensors, shapes, dtypes, masks ---------------------------------------------

NAN_CASES = {
    "q": lambda x: soft_value(x, 1.0),
    "rewards": lambda x: nstep_return(x, NEXT_V, DONE, gamma=0.9),
    "next_values": lambda x: nstep_return(R, x, DONE, gamma=0.9),
    "kl": lambda x: nstep_soft_target(R, x, NEXT_V, DONE, gamma=0.9, tau=1.0),
    "values": lambda x: lambda_soft_target(R, KL, x, NEXT_V, DONE, gamma=0.9, tau=1.0, lam=0.5),
    "target": lambda x: soft_q_loss(V, x),
}


@pytest.mark.parametrize("name", NAN_CASES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_data_is_rejected(name, bad):
    """NaN / ±inf anywhere in q, rewards, values, next_values, KL or targets."""
    x = (Q if name == "q" else R).clone()
    x.view(-1)[1] = bad
    raises(lambda: NAN_CASES[name](x), rf"{name} must be finite", re.escape(repr(bad)))


def test_non_finite_next_q_and_log_policy_are_rejected():
    bad_q = NEXT_Q.clone()
    bad_q[0, 1] = float("nan")
    raises(lambda: hard_max_target(R, bad_q, DONE, gamma=0.9), r"next_q must be finite", r"nan")
    raises(
        lambda: kl_divergence(torch.tensor([0.0, float("inf")], dtype=F64)), r"log_policy .* \+inf", r"inf"
    )
    raises(lambda: entropy(torch.tensor([float("nan"), 0.0], dtype=F64)), r"log_policy .*NaN", r"nan")


@pytest.mark.parametrize(
    "call, pattern",
    [
        (
            lambda: soft_value(torch.ones(2, 3, dtype=torch.int64), 1.0),
            r"q must have a floating-point dtype, got torch\.int64",
        ),
        (
            lambda: nstep_return(R.long(), NEXT_V.long(), DONE, gamma=0.9),
            r"rewards must have a floating-point dtype",
        ),
        (lambda: kl_divergence(torch.tensor([0, 1])), r"log_policy must be a floating-point"),
        (lambda: soft_value([[1.0, 2.0]], 1.0), r"q must be a torch\.Tensor, got list"),
        (lambda: entropy([0.0, 1.0]), r"log_policy must be a torch\.Tensor"),
        (
            lambda: regularized_expectation(Q, Q.tolist(), 1.0),
            r"log_policy must be a torch\.Tensor, got list",
        ),
        (lambda: soft_value(torch.tensor(1.0, dtype=F64), 1.0), r"q must have at least 1 dimension"),
        (
            lambda: soft_value(torch.ones(2, 0, dtype=F64), 1.0),
            r"q must have at least one action .* \(2, 0\)",
        ),
    ],
)
def test_integer_and_non_tensor_inputs(call, pattern):
    raises(call, pattern)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (
            lambda: nstep_return(R, NEXT_V[:2], DONE, gamma=0.9),
            r"next_values has shape \(2,\) but rewards has shape \(3,\)",
        ),
        (
            lambda: nstep_return(R, NEXT_V.float(), DONE, gamma=0.9),
            r"next_values has dtype torch\.float32 but rewards has dtype torch\.float64",
        ),
        (
            lambda: nstep_return(R.float(), NEXT_V, DONE, gamma=0.9),
            r"next_values has dtype torch\.float64 but rewards",
        ),
        (lambda: nstep_advantage(R, KL, V[:2], NEXT_V, DONE, gamma=0.9, tau=1.0), r"values has shape \(2,\)"),
        (
            lambda: td_errors(R, KL.float(), V, NEXT_V, DONE, gamma=0.9, tau=1.0),
            r"kl has dtype torch\.float32",
        ),
        (lambda: soft_q_loss(V, R[:2]), r"target has shape \(2,\) but q_taken has shape \(3,\)"),
        (
            lambda: one_step_soft_target(R, NEXT_Q[:2], DONE, gamma=0.9, tau=1.0),
            r"next_q must have shape .* got \(2, 2\)",
        ),
        (lambda: hard_max_target(R, NEXT_Q.float(), DONE, gamma=0.9), r"next_q has dtype torch\.float32"),
        (
            lambda: dueling_q(V, torch.log_softmax(Q, -1), 1.0),
            r"log_policy has shape \(2, 4\); expected value\.shape",
        ),
        (
            lambda: regularized_expectation(Q, torch.log_softmax(Q, -1).float(), 1.0),
            r"log_policy has dtype torch\.float32",
        ),
        (
            lambda: nstep_return(
                torch.ones(0, dtype=F64),
                torch.ones(0, dtype=F64),
                torch.zeros(0, dtype=torch.bool),
                gamma=0.9,
            ),
            r"rewards must have at least one time step",
        ),
    ],
)
def test_mismatched_shapes_and_dtypes(call, pattern):
    """Shapes must match and dtypes must agree (float32 is never silently cast to float64 or back)."""
    raises(call, pattern)


@pytest.mark.parametrize(
    "mask, name, pattern",
    [
        (DONE.double(), "terminated", r"terminated must have dtype torch\.bool, got torch\.float64"),
        (DONE.long(), "terminated", r"terminated must have dtype torch\.bool, got torch\.int64"),
        (DONE[:2], "terminated", r"terminated must have shape \(3,\), got \(2,\)"),
        (DONE.tolist(), "terminated", r"terminated must be a torch\.Tensor of dtype bool, got list"),
        (DONE.double(), "truncated", r"truncated must have dtype torch\.bool, got torch\.float64"),
        (DONE[:2], "truncated", r"truncated must have shape \(3,\), got \(2,\)"),
    ],
)
def test_wrong_mask_dtype_or_shape(mask, name, pattern):
    """Episode flags are bool tensors of the rewards' shape (a float 0/1 mask is not accepted)."""
    if name == "terminated":
        raises(lambda: nstep_soft_target(R, KL, NEXT_V, mask, gamma=0.9, tau=1.0), pattern)
        raises(lambda: hard_max_target(R, NEXT_Q, mask, gamma=0.9), pattern)
    else:
        raises(lambda: nstep_soft_target(R, KL, NEXT_V, DONE, mask, gamma=0.9, tau=1.0), pattern)


# --- FiniteMDP and actions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, pattern",
    [
        ({"transitions": torch.full((2, 3, 2), 0.6, dtype=F64)}, r"transitions must sum to 1 .* 1\.2"),
        (
            {"transitions": torch.tensor([[[1.5, -0.5]] * 3] * 2, dtype=F64)},
            r"transitions must be non-negative; found \[-0\.5",
        ),
        (
            {"transitions": torch.full((2, 3, 3), 1 / 3, dtype=F64)},
            r"transitions must have shape \[S, A, S\] = \(2, 3, 2\)",
        ),
        (
            {"transitions": torch.full((2, 3, 2), 0.5, dtype=torch.float32)},
            r"transitions has dtype torch\.float32",
        ),
        ({"rewards": torch.zeros(2, dtype=F64)}, r"rewards must have shape \[S, A\] .* got \(2,\)"),
        ({"rewards": torch.full((2, 3), float("nan"), dtype=F64)}, r"rewards must be finite .*nan"),
        ({"ref_policy": torch.full((2, 3), 0.5, dtype=F64)}, r"ref_policy must sum to 1 .* 1\.5"),
        (
            {"ref_policy": torch.full((3,), 1 / 3, dtype=F64)},
            r"ref_policy must have shape \[S, A\] = \(2, 3\)",
        ),
        ({"terminal": torch.zeros(2, dtype=torch.int64)}, r"terminal must be a bool tensor .* torch\.int64"),
        (
            {"terminal": torch.zeros(3, dtype=torch.bool)},
            r"terminal must be a bool tensor of shape \[S\] = \(2,\)",
        ),
    ],
)
def test_finite_mdp_validation(changes, pattern):
    raises(lambda: mdp(**changes), pattern)


def test_mdp_q_arguments_and_ill_posed_evaluation():
    m = mdp()
    raises(
        lambda: boltzmann_backup(m, torch.zeros(2, 4, dtype=F64)),
        r"q must have shape \[S, A\] = \(2, 3\), got \(2, 4\)",
    )
    raises(lambda: boltzmann_backup(m, torch.zeros(2, 3, dtype=torch.float32)), r"q has dtype torch\.float32")
    raises(lambda: soft_value_iteration(m, tol=-1.0), r"tol must be >= 0, got -1\.0")
    raises(lambda: soft_value_iteration(m, tol=float("nan")), r"tol must be finite, got nan")
    raises(
        lambda: soft_value_iteration(m, max_iterations=0), r"max_iterations must be an integer >= 1, got 0"
    )
    # γ = 1 with no terminal state: values are infinite, and that is reported, not returned.
    raises(
        lambda: evaluate_policy(m.replace(gamma=1.0), torch.full((2, 3), 1 / 3, dtype=F64)),
        r"policy evaluation is ill-posed",
        r"gamma=1\.0",
    )


@pytest.mark.parametrize(
    "actions, pattern",
    [
        (torch.tensor([0, 4]), r"actions must lie in \[0, 3\], got values in \[0, 4\]"),
        (torch.tensor([-1, 2]), r"actions must lie in \[0, 3\], got values in \[-1, 2\]"),
        (torch.tensor([0.0, 1.0]), r"actions must be an int64/int32 tensor, got torch\.float64"),
        (torch.tensor([0]), r"actions has shape \(1,\); expected \(2,\)"),
    ],
)
def test_actions_out_of_range_or_wrong_type(actions, pattern):
    raises(lambda: gather_actions(Q, actions), pattern)
    raises(lambda: matched_soft_q_loss(V[:2], torch.log_softmax(Q, -1), actions, V[:2], tau=0.5), pattern)


@pytest.mark.parametrize(
    "state, action, pattern",
    [
        (2, 0, r"state must be an integer in \[0, 2\), got 2"),
        (-1, 0, r"state must be an integer in \[0, 2\), got -1"),
        (True, 0, r"state must be an integer in \[0, 2\), got True"),
        (0.5, 0, r"state must be an integer in \[0, 2\), got 0\.5"),
        (0, 3, r"action must be an integer in \[0, 3\), got 3"),
    ],
)
def test_enumerate_trajectories_bad_state_or_action(state, action, pattern):
    m = mdp()
    raises(
        lambda: list(enumerate_trajectories(m, torch.full((2, 3), 1 / 3, dtype=F64), state, action, 2)),
        pattern,
    )


def test_scale_gradient_rejects_non_finite_scale():
    """A NaN/inf gradient scale would turn the forward value into NaN (inf·0); it is rejected."""
    raises(lambda: scale_gradient(V, float("nan")), r"scale must be finite, got nan")
    raises(lambda: scale_gradient(V, float("inf")), r"scale must be finite, got inf")
    raises(lambda: scale_gradient(V, "a"), r"scale must be a real number, got 'a'")
    assert torch.equal(scale_gradient(V, -3.0), V)  # any finite scale (even negative) is an identity forward


# --- Switching the data-dependent checks off -------------------------------------------------------------


def test_validation_context_disables_only_data_dependent_checks_and_restores():
    """Inside `validation(False)`: NaN data and non-normalised π̄ pass through unchecked (the NaN shows in
    the result: nothing is repaired); structural checks (τ, γ, n, dtypes, shapes, masks) still raise.
    The previous setting is restored on exit, also when the body raises."""
    nan_q = Q.clone()
    nan_q[0, 0] = float("nan")
    off = UNIFORM * 1.5
    assert validation_enabled()
    with validation(False):
        assert not validation_enabled()
        assert bool(torch.isnan(soft_value(nan_q, 1.0)[0]))
        assert torch.isfinite(
            soft_value(Q, 1.0, off)
        ).all()  # accepted; equals V + τ log 1.5, not renormalised
        assert torch.allclose(soft_value(Q, 1.0, off), soft_value(Q, 1.0) + math.log(1.5), rtol=1e-14, atol=0)
        raises(lambda: soft_value(Q, 0.0), r"tau must be > 0")
        raises(lambda: nstep_return(R, NEXT_V, DONE, gamma=1.5), r"gamma must be in \[0, 1\]")
        raises(lambda: nstep_return(R, NEXT_V, DONE, gamma=0.9, n=True), r"n must be an integer")
        raises(
            lambda: nstep_return(R, NEXT_V.float(), DONE, gamma=0.9), r"next_values has dtype torch\.float32"
        )
        raises(lambda: nstep_return(R, NEXT_V[:2], DONE, gamma=0.9), r"next_values has shape")
        raises(
            lambda: nstep_return(R, NEXT_V, DONE.double(), gamma=0.9),
            r"terminated must have dtype torch\.bool",
        )
        raises(
            lambda: boltzmann_log_policy(Q, 1.0, torch.full((3,), 1 / 3, dtype=F64)), r"ref_policy has shape"
        )
    assert validation_enabled()
    raises(lambda: soft_value(nan_q, 1.0), r"q must be finite")
    raises(lambda: soft_value(Q, 1.0, off), r"ref_policy must sum to 1")
    with pytest.raises(RuntimeError), validation(False):
        raise RuntimeError("body fails")
    assert validation_enabled()


def test_set_validation_global_switch():
    try:
        set_validation(False)
        assert not equiv.validation_enabled()
        soft_value(torch.tensor([float("nan"), 0.0], dtype=F64), 1.0)  # no error while off
        with validation(True):
            raises(lambda: soft_value(torch.tensor([float("nan"), 0.0], dtype=F64), 1.0), r"q must be finite")
        assert not equiv.validation_enabled()
    finally:
        set_validation(True)
    assert equiv.validation_enabled()
    raises(lambda: set_validation(1), r"enabled must be a bool, got 1")
    raises(lambda: set_validation("no"), r"enabled must be a bool, got 'no'")
