"""Sharper checks for equiv/mdp.py, equiv/targets.py and equiv/expected.py (mutation survivors).

Written to kill the mutants of those modules that survived the mutation job; the mutants judged
behaviour-identical are listed with their reasons in ``tests/mutation/equivalent_mdp_targets.md``.
Each test pins down a documented behaviour:

* :class:`equiv.mdp.FiniteMDP` validates its fields and stores the validated values: γ and τ as
  Python floats (the fields are annotated ``float``), π̄ in the MDP's dtype, and bad ``ref_policy``
  / ``terminal`` arguments raise ValueError naming the argument and showing the bad value;
* time-major targets reject a 0-dim ``rewards`` (no time axis) with a ValueError, keep the
  inputs' device (PyTorch's ``meta`` device stands in for CUDA, as in test_mutation_kills.py) and
  keep float32 for a single trajectory ``[T]`` (no batch axis);
* soft value iteration converges within a small iteration budget (the stopping rule compares
  successive iterates);
* the §6.3 matched loss scales value-stream gradients by the paper's c = 0.5 by default.

Tolerances: float64 identities hold to ~1e-12 relative (tens of operations on O(1) numbers);
float32 results are compared with float64 ones at 1e-5 relative + absolute (float32 eps = 1.2e-7
times a few tens of operations).
"""

from __future__ import annotations

import pytest
import torch

import equiv
from equiv import expected
from equiv import mdp as emdp
from tests.strategies import raises_matching, small_terminal_mdp

F64 = torch.float64
F32 = torch.float32
RTOL64 = 1e-12
RTOL32 = 1e-5


def two_state_fields(dtype: torch.dtype = F64, **changes) -> dict:
    """Fields of a 2-state, 3-action MDP (uniform transitions, zero rewards)."""
    fields = {
        "transitions": torch.full((2, 3, 2), 0.5, dtype=dtype),
        "rewards": torch.zeros(2, 3, dtype=dtype),
        "gamma": 0.9,
        "tau": 0.5,
    }
    fields.update(changes)
    return fields


def generic_mdp(dtype: torch.dtype = F64, gamma: float = 0.9, tau: float = 0.7) -> emdp.FiniteMDP:
    """A seeded 3-state, 2-action MDP with generic (continuous) entries; state 2 is terminal."""
    gen = torch.Generator().manual_seed(7)
    transitions = torch.rand(3, 2, 3, generator=gen, dtype=F64) + 0.1
    transitions = transitions / transitions.sum(-1, keepdim=True)
    rewards = torch.randn(3, 2, generator=gen, dtype=F64)
    return emdp.FiniteMDP(
        transitions.to(dtype), rewards.to(dtype), gamma, tau, terminal=torch.tensor([False, False, True])
    )


# --- FiniteMDP: validated fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gamma, tau", [(1, 2), (torch.tensor(0.25), torch.tensor(0.5))], ids=["int", "0-dim tensor"]
)
def test_finite_mdp_stores_gamma_and_tau_as_validated_floats(gamma, tau):
    """γ and τ are fields annotated ``float``; __post_init__ replaces them by the validated floats
    (check_gamma / check_tau), so an int or a 0-dim tensor argument is stored as a Python float."""
    mdp = emdp.FiniteMDP(**two_state_fields(gamma=gamma, tau=tau))
    assert type(mdp.gamma) is float and mdp.gamma == float(gamma)
    assert type(mdp.tau) is float and mdp.tau == float(tau)


def test_singular_evaluation_message_shows_the_validated_gamma():
    """The ill-posed-evaluation ValueError shows γ as validated (gamma=1 given as the int 1 reads 1.0)."""
    mdp = emdp.FiniteMDP(**two_state_fields(gamma=1))
    raises_matching(
        lambda: emdp.evaluate_policy(mdp, torch.full((2, 3), 1 / 3)),
        r"policy evaluation is ill-posed: I - gamma\*P_pi is singular \(gamma=1\.0\)",
    )


def test_default_reference_policy_is_uniform_in_the_mdp_dtype():
    """ref_policy=None means π̄ uniform (1/A) in the MDP's dtype: a float32 MDP (under the suite's
    float64 default dtype) has a float32 π̄, and its soft backup (38)-(39) stays float32 and matches
    the float64 one to float32 precision."""
    assert torch.get_default_dtype() == F64  # so a π̄ made in the default dtype would show
    mdp32, mdp64 = generic_mdp(F32), generic_mdp(F64)
    assert mdp32.ref_probs.dtype == F32
    assert torch.equal(mdp32.ref_probs, torch.full((3, 2), 0.5, dtype=F32))
    q = torch.tensor([[0.5, -1.0], [2.0, 0.25], [0.0, 0.0]])
    backup32 = emdp.boltzmann_backup(mdp32, q.to(F32))
    assert backup32.dtype == F32
    assert torch.allclose(backup32.double(), emdp.boltzmann_backup(mdp64, q), rtol=RTOL32, atol=RTOL32)


def test_reference_policy_of_another_dtype_is_rejected_naming_rewards():
    """π̄ must have the dtype of ``rewards`` (nothing is cast silently): the ValueError names
    ref_policy, its dtype, and the argument it is compared with (rewards)."""
    raises_matching(
        lambda: emdp.FiniteMDP(**two_state_fields(ref_policy=torch.full((2, 3), 1 / 3, dtype=F32))),
        r"ref_policy has dtype torch\.float32 but rewards has dtype torch\.float64",
    )


@pytest.mark.parametrize(
    "terminal, shown",
    [
        ([False, True], r"<class 'list'> \(\)"),
        (torch.tensor([False, True, False]), r"torch\.bool \(3,\)"),
        (torch.tensor([0.0, 1.0]), r"torch\.float64 \(2,\)"),
    ],
    ids=["not a tensor", "wrong shape", "wrong dtype"],
)
def test_bad_terminal_flags_are_rejected_showing_type_dtype_and_shape(terminal, shown):
    """terminal must be a bool tensor of shape [S]; the ValueError names it and shows what was
    passed: its dtype (its type, for a non-tensor) and its shape."""
    raises_matching(
        lambda: emdp.FiniteMDP(**two_state_fields(terminal=terminal)),
        r"terminal must be a bool tensor of shape \[S\] = \(2,\), got " + shown + "$",
    )


# --- Soft value iteration converges within a small budget ----------------------------------------------------


def test_soft_value_iteration_reaches_the_fixed_point_in_few_iterations():
    """γ = 0.5: the backup (38)-(39) contracts by 0.5 per step, so the sup-norm change between
    successive iterates falls below 1e-10 well within 100 iterations; the result is a fixed point
    of T to ~1e-10 (γ/(1−γ) times the last change)."""
    mdp = generic_mdp(gamma=0.5)
    q_star = emdp.soft_value_iteration(mdp, tol=1e-10, max_iterations=100)
    assert torch.allclose(emdp.boltzmann_backup(mdp, q_star), q_star, rtol=0, atol=1e-9)
    assert float(q_star.abs().max()) > 0.1  # not the trivial Q = 0


# --- Time-major targets ----------------------------------------------------------------------------------


def test_time_major_targets_reject_rewards_without_a_time_axis():
    """Trajectory functions take ``[T, ...]``: a 0-dim ``rewards`` raises a ValueError naming it."""
    scalar, flag = torch.tensor(1.0), torch.tensor(False)
    raises_matching(
        lambda: equiv.nstep_return(scalar, scalar, flag, gamma=0.9),
        r"rewards must have at least 1 dimension\(s\), got shape \(\)$",
    )


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(shape, dtype=F64, device="meta")


def _meta_flags(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.bool, device="meta")


NSTEP_DEVICE_CALLS = {
    "nstep_return [T, B], n=None": lambda: equiv.nstep_return(_meta(4, 2), _meta(4, 2), _meta_flags(4, 2), gamma=0.9),
    "nstep_return [T], n=2": lambda: equiv.nstep_return(_meta(4), _meta(4), _meta_flags(4), gamma=0.9, n=2),
    "nstep_regularized_return": lambda: equiv.nstep_regularized_return(
        _meta(4, 2), _meta(4, 2), _meta(4, 2), _meta_flags(4, 2), _meta_flags(4, 2), gamma=0.9, tau=0.5, n=3
    ),
    "nstep_advantage": lambda: equiv.nstep_advantage(
        _meta(4), _meta(4), _meta(4), _meta(4), _meta_flags(4), gamma=0.9, tau=0.5, n=2
    ),
}


@pytest.mark.parametrize("call", NSTEP_DEVICE_CALLS.values(), ids=NSTEP_DEVICE_CALLS.keys())
def test_nstep_returns_stay_on_the_input_device(call):
    """The n-step returns build every tensor on the inputs' device (the padding of the shifted
    windows included), so they run on an accelerator.  Data-dependent validation is switched off:
    meta tensors have no values."""
    with equiv.validation(False):
        result = call()
    assert result.device.type == "meta"


def _lambda_target_by_hand(r, kl, v, next_v, terminated, gamma, tau, lam) -> list[float]:
    """Eq. (43) as corrected: y_t = τ KL_t + V_t + Σ_k (γλ)^k δ_{t+k}, δ from Eq. (36), the sum
    stopping after a terminated step and at the segment end; plain Python floats."""
    T = len(r)
    delta = [r[t] - tau * kl[t] + (0.0 if terminated[t] else gamma * next_v[t]) - v[t] for t in range(T)]
    targets = []
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, T):
            total += weight * delta[k]
            if terminated[k]:
                break
            weight *= gamma * lam
        targets.append(tau * kl[t] + v[t] + total)
    return targets


def test_lambda_soft_target_of_one_float32_trajectory_stays_float32():
    """A single trajectory ``[T]`` (no batch axis) in float32 gives a float32 λ-target equal to
    Eq. (43) (corrected) computed by hand in float64, to float32 precision."""
    r = [1.0, -0.5, 0.25, 2.0]
    kl = [0.1, 0.3, 0.2, 0.05]
    v = [0.5, 0.4, -0.3, 0.7]
    next_v = [0.4, -0.3, 0.7, 0.2]
    terminated = [False, True, False, False]
    gamma, tau, lam = 0.9, 0.6, 0.7
    args = [torch.tensor(x, dtype=F32) for x in (r, kl, v, next_v)]
    result = equiv.lambda_soft_target(*args, torch.tensor(terminated), gamma=gamma, tau=tau, lam=lam)
    assert result.dtype == F32 and result.shape == (4,)
    by_hand = torch.tensor(_lambda_target_by_hand(r, kl, v, next_v, terminated, gamma, tau, lam))
    assert torch.allclose(result.double(), by_hand, rtol=RTOL32, atol=RTOL32)


# --- §6.3: default value-stream scale --------------------------------------------------------------------


def test_matched_soft_q_loss_default_value_scale_is_the_papers_c():
    """§6.3: "scale gradients that go into value function stream by c = 0.5".  With the defaults,
    ∇_V of mdp_matched_soft_q_loss equals ∇_V of mdp_a2c_loss with value_coef = 0.5 (its documented
    equivalence with value_scale = c), exactly up to float64 rounding (~1e-12)."""
    mdp = generic_mdp()
    log_policy = torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]]).log()
    weights = torch.tensor([0.3, 0.7, 0.0])
    values = torch.tensor([0.5, 2.0, 0.0], requires_grad=True)
    (matched,) = torch.autograd.grad(expected.mdp_matched_soft_q_loss(mdp, log_policy, values, weights, 2), values)
    a2c_loss = expected.mdp_a2c_loss(mdp, log_policy, values, weights, 2, value_coef=0.5)
    (a2c,) = torch.autograd.grad(a2c_loss, values)
    assert float(a2c.abs().max()) > 0.05  # a non-trivial value gradient
    assert torch.allclose(matched, a2c, rtol=RTOL64, atol=RTOL64)


# --- Eqs. (49)-(50): the policy-gradient surrogate, differentiated in log π directly ----------------------


def test_policy_gradient_surrogate_gradient_in_log_policy_is_the_documented_formula():
    """The surrogate's gradient is Σ_s w(s)[Σ_a π ∇log π (Q_π − V_π) − τ ∇KL(s)] for *any* way log π
    depends on the parameters, including log π itself as the leaf: there ∇log π(a|s) is a unit
    vector and ∂KL(s)/∂log π(a|s) = π(a|s)(log π(a|s) − log π̄(a|s) + 1), so the gradient is
    w(s)[π(a|s)(Q_π(s,a) − V_π(s)) − τ π(a|s)(log π(a|s) − log π̄(a|s) + 1)] at non-terminal s (the
    baseline V_π enters with a minus sign: with a free log π, Σ_a π ∇log π V_π does not vanish).
    Q_π and V_π are computed here independently, by a plain linear solve of Eqs. (24)-(26) on the two
    live states; float64 to ~1e-12."""
    mdp = generic_mdp()
    policy = torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])
    weights = torch.tensor([0.3, 0.7, 0.2])  # the terminal state's weight must not count
    log_policy = policy.log().requires_grad_()
    (grad,) = torch.autograd.grad(emdp.policy_gradient_surrogate(mdp, log_policy, weights), log_policy)

    tau, gamma, live = mdp.tau, mdp.gamma, [0, 1]  # state 2 is terminal
    P, R, ref = mdp.transitions, mdp.rewards, mdp.ref_probs
    kl = [float((policy[s] * (policy[s].log() - ref[s].log())).sum()) for s in live]
    system = torch.eye(2) - gamma * torch.stack(
        [torch.stack([(policy[s] * P[s, :, s2]).sum() for s2 in live]) for s in live]
    )
    rhs = torch.tensor([float((policy[s] * R[s]).sum()) - tau * kl[i] for i, s in enumerate(live)])
    v_live = torch.linalg.solve(system, rhs)
    by_hand = torch.zeros(3, 2)
    for i, s in enumerate(live):
        q_s = R[s] + gamma * (P[s][:, live] @ v_live)
        kl_grad = policy[s] * (policy[s].log() - ref[s].log() + 1.0)
        by_hand[s] = weights[s] * (policy[s] * (q_s - v_live[i]) - tau * kl_grad)
    assert float(v_live.abs().min()) > 0.1  # the baseline term is far from 0
    assert torch.allclose(grad, by_hand, rtol=RTOL64, atol=RTOL64)


# --- CPU inputs under another default device --------------------------------------------------------------

_R3 = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
_KL3 = torch.tensor([0.1, 0.2, 0.3], dtype=F64)
_V3 = torch.tensor([0.5, 0.4, 0.3], dtype=F64)
_NEXT_V3 = torch.tensor([0.4, 0.3, 0.2], dtype=F64)
_DONE3 = torch.tensor([False, True, False])
_NEXT_Q = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 3.5]], dtype=F64)


_TERMINAL_MDP = small_terminal_mdp()
_POLICY3 = torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]], dtype=F64)

DEFAULT_DEVICE_CALLS = {
    "td_errors": lambda: equiv.td_errors(_R3, _KL3, _V3, _NEXT_V3, _DONE3, gamma=0.9, tau=0.5),
    "lambda_soft_target [T]": lambda: equiv.lambda_soft_target(
        _R3, _KL3, _V3, _NEXT_V3, _DONE3, gamma=0.9, tau=0.5, lam=0.7
    ),
    "one_step_soft_target": lambda: equiv.one_step_soft_target(_R3, _NEXT_Q, _DONE3, gamma=0.9, tau=0.5),
    "entropy_bonus_target": lambda: equiv.entropy_bonus_target(_R3, _NEXT_Q, _DONE3, gamma=0.9, tau=0.5),
    "hard_max_target": lambda: equiv.hard_max_target(_R3, _NEXT_Q, _DONE3, gamma=0.9),
    "soft_target_as_printed kl": lambda: equiv.soft_target_as_printed(
        _R3, _NEXT_Q, _DONE3, gamma=0.9, tau=0.5, regularizer="kl"
    ),
    "soft_target_as_printed entropy": lambda: equiv.soft_target_as_printed(
        _R3, _NEXT_Q, _DONE3, gamma=0.9, tau=0.5, regularizer="entropy"
    ),
    # the MDP and the policy are built outside the context; only policy_kl runs under it
    "policy_kl (terminal rows zeroed)": lambda: emdp.policy_kl(_TERMINAL_MDP, _POLICY3),
}


@pytest.mark.parametrize("call", DEFAULT_DEVICE_CALLS.values(), ids=DEFAULT_DEVICE_CALLS.keys())
def test_targets_of_cpu_inputs_stay_on_cpu_under_another_default_device(call):
    """With another default device in force (``with torch.device("meta")`` here, like
    ``torch.set_default_device("cuda")`` in a GPU script), CPU inputs give CPU results equal to the
    ones computed without it: the masking zeros are built on the inputs' device, not the default one
    (a 0-dim tensor on another device is rejected by ``torch.where``).  Same float64 operations both
    times, so the results agree to 1e-12 (in fact bit for bit)."""
    reference = call()
    with torch.device("meta"):
        result = call()
    assert result.device.type == "cpu"
    assert torch.allclose(result, reference, rtol=RTOL64, atol=RTOL64)
