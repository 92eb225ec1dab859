"""Sharper checks written to kill the mutants that survived the mutation job (tests/mutation/).

Each test pins down a documented behaviour of equiv/ that the rest of the suite left loose:

* bad input raises ValueError whose message *starts with the argument's name* and shows the bad
  value (the project rule), on the validation paths no other test reaches;
* dtype genericity: float32 inputs (with the float64 default dtype the suite runs under) give
  float32 results that agree with the float64 ones to float32 precision — a constant built with
  the default dtype would silently promote them, or fail to multiply with them;
* batch genericity: "shape [..., A]" holds for no batch axis and for two batch axes, not only for
  the one batch axis the property tests draw;
* device propagation, checked on PyTorch's ``meta`` device (a CPU-only stand-in for CUDA: it
  rejects a CPU tensor in ``cat``/broadcast arithmetic just as CUDA does and, like CUDA, accepts a
  0-dim CPU tensor as a scalar);
* the stopping rule of soft value iteration, zero-probability paths, near-singular policy
  evaluation, zero state weights, and the state distributions' length.

Float64 identities hold to ~1e-12 relative (tens of operations on O(1) numbers); float32 results
are compared with float64 ones at 1e-5 relative + absolute (float32 eps = 1.2e-7, times the
condition number ≤ 1/(1 − γ) = 10 of the γ = 0.9 solves, times a few hundred operations).
"""

from __future__ import annotations

import math

import pytest
import torch

import equiv
from equiv import expected, losses
from equiv import mdp as emdp
from tests.strategies import raises_matching, small_terminal_mdp

F64 = torch.float64
F32 = torch.float32
RTOL32 = 1e-5  # float32 vs float64 (see the module docstring)


def _policy(dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]], dtype=dtype)


def _q(dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.tensor([[0.5, -1.0], [2.0, 0.25], [0.0, 0.0]], dtype=dtype)


INITIAL = torch.tensor([0.6, 0.4, 0.0], dtype=F64)
WEIGHTS = torch.tensor([0.3, 0.7, 0.0], dtype=F64)
POLICY_2x3 = torch.full((2, 3), 1 / 3, dtype=F64)


def two_state_mdp(**changes) -> emdp.FiniteMDP:
    fields = {"transitions": torch.full((2, 3, 2), 0.5), "rewards": torch.zeros(2, 3), "gamma": 0.9, "tau": 0.5}
    fields.update(changes)
    return emdp.FiniteMDP(**fields)


# --- Messages name the argument and show the bad value -----------------------------------------------------

M2 = two_state_mdp()
LOGP_2x3 = POLICY_2x3.log()
R3 = torch.tensor([1.0, 0.0, -1.0])
KL3 = torch.tensor([0.1, 0.2, 0.3])
V3 = torch.tensor([0.5, 0.4, 0.3])
NEXT_V3 = torch.tensor([0.4, 0.3, 0.2])
DONE3 = torch.tensor([False, True, False])
NEXT_Q = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 3.5]])
Q_2x4 = torch.tensor([[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -3.0, 0.25]])
NAN3 = torch.tensor([0.0, float("nan"), 0.0])

MESSAGE_CASES = {
    # boltzmann.regularized_expectation
    "regularized_expectation dtype": (
        lambda: equiv.regularized_expectation(Q_2x4, torch.log_softmax(Q_2x4, -1).float(), 1.0),
        r"log_policy has dtype torch\.float32 but q has dtype torch\.float64",
    ),
    "regularized_expectation shape": (
        lambda: equiv.regularized_expectation(Q_2x4, torch.log_softmax(Q_2x4[:, :3], -1), 1.0),
        r"log_policy has shape \(2, 3\) but q has shape \(2, 4\)$",
    ),
    # expected: bandit inputs
    "bandit q 0-dim": (
        lambda: expected.bandit_soft_q_loss(
            torch.tensor(1.0), torch.tensor(1.0), 0.5, sampling_policy=torch.tensor(1.0)
        ),
        r"q must have at least 1 dimension\(s\), got shape \(\)$",
    ),
    "bandit q not finite": (
        lambda: expected.bandit_soft_q_loss(NAN3, V3, 0.5),
        r"q must be finite .*nan",
    ),
    "bandit reward_means not finite": (
        lambda: expected.bandit_soft_q_loss(V3, NAN3, 0.5),
        r"reward_means must be finite .*nan",
    ),
    "bandit reward_means dtype": (
        lambda: expected.bandit_policy_gradient_value_loss(V3, R3.float(), 0.5),
        r"reward_means has dtype torch\.float32 but q has dtype torch\.float64",
    ),
    "bandit reward_means shape": (
        lambda: expected.bandit_soft_q_loss(V3, R3[:2], 0.5),
        r"reward_means has shape \(2,\) but q has \(3,\)$",
    ),
    # expected: MDP losses
    "mdp_soft_q_loss n": (lambda: expected.mdp_soft_q_loss(M2, torch.zeros(2, 3), torch.ones(2) / 2, 0), r"n must be an integer >= 1, got 0$"),
    "mdp_expected_advantage n": (
        lambda: expected.mdp_expected_advantage(M2, LOGP_2x3, torch.zeros(2), 0),
        r"n must be an integer >= 1, got 0$",
    ),
    "mdp_a2c_loss estimator": (
        lambda: expected.mdp_a2c_loss(M2, LOGP_2x3, torch.zeros(2), torch.ones(2) / 2, 1, value_coef=0.5, estimator="x"),
        r"estimator must be 'proper' or 'naive', got 'x'$",
    ),
    "mdp_a2c_loss value_coef": (
        lambda: expected.mdp_a2c_loss(M2, LOGP_2x3, torch.zeros(2), torch.ones(2) / 2, 1, value_coef=-1.0),
        r"value_coef must be >= 0, got -1\.0$",
    ),
    "mdp_a2c_loss log_policy": (
        lambda: expected.mdp_a2c_loss(M2, LOGP_2x3[:, :2], torch.zeros(2), torch.ones(2) / 2, 1, value_coef=0.5),
        r"log_policy must have shape \[S, A\] = \(2, 3\), got \(2, 2\)$",
    ),
    "mdp_a2c_loss values": (
        lambda: expected.mdp_a2c_loss(M2, LOGP_2x3, torch.zeros(3), torch.ones(2) / 2, 1, value_coef=0.5),
        r"values must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    "mdp_matched_soft_q_loss log_policy": (
        lambda: expected.mdp_matched_soft_q_loss(M2, LOGP_2x3[:, :2], torch.zeros(2), torch.ones(2) / 2, 1),
        r"log_policy must have shape \[S, A\] = \(2, 3\), got \(2, 2\)$",
    ),
    "mdp_matched_soft_q_loss values": (
        lambda: expected.mdp_matched_soft_q_loss(M2, LOGP_2x3, torch.zeros(3), torch.ones(2) / 2, 1),
        r"values must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    "state_weights negative": (
        lambda: expected.mdp_soft_q_loss(M2, torch.zeros(2, 3), torch.tensor([1.0, -0.5]), 1),
        r"state_weights must be non-negative, got \[1\.0, -0\.5\]$",
    ),
    "state_weights shape": (
        lambda: expected.mdp_soft_q_loss(M2, torch.zeros(2, 3), torch.ones(3) / 3, 1),
        r"state_weights must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    # losses.expected_star_terms
    "expected_star_terms dtype": (
        lambda: losses.expected_star_terms(torch.zeros(2, dtype=F32), LOGP_2x3, tau=0.5),
        r"log_policy has dtype torch\.float64 but values has dtype torch\.float32",
    ),
    "expected_star_terms ref_policy": (
        lambda: losses.expected_star_terms(torch.zeros(2), LOGP_2x3, tau=0.5, ref_policy=POLICY_2x3.float()),
        r"ref_policy has dtype torch\.float32 but log_policy has dtype torch\.float64",
    ),
    # mdp
    "policy_backup_v v": (
        lambda: emdp.policy_backup_v(M2, POLICY_2x3, torch.zeros(3)),
        r"v must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    "nstep_policy_backup_v n": (
        lambda: emdp.nstep_policy_backup_v(M2, POLICY_2x3, torch.zeros(2), 0),
        r"n must be an integer >= 1, got 0$",
    ),
    "nstep_policy_backup_q n": (
        lambda: emdp.nstep_policy_backup_q(M2, POLICY_2x3, torch.zeros(2, 3), 0),
        r"n must be an integer >= 1, got 0$",
    ),
    "soft_value_iteration q0": (
        lambda: emdp.soft_value_iteration(M2, q0=torch.zeros(3, 3)),
        r"q0 must have shape \[S, A\] = \(2, 3\), got \(3, 3\)$",
    ),
    "boltzmann_backup q not finite": (
        lambda: emdp.boltzmann_backup(M2, torch.tensor([[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0]])),
        r"q must be finite .*nan",
    ),
    "expected_nstep_return n": (
        lambda: emdp.expected_nstep_return(M2, POLICY_2x3, torch.zeros(2), 0),
        r"n must be an integer >= 1, got 0$",
    ),
    "expected_nstep_return behaviour": (
        lambda: emdp.expected_nstep_return(M2, POLICY_2x3 * 1.5, torch.zeros(2), 1),
        r"behaviour must sum to 1",
    ),
    "expected_nstep_return values shape": (
        lambda: emdp.expected_nstep_return(M2, POLICY_2x3, torch.zeros(3), 1),
        r"values must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    "expected_nstep_return values dtype": (
        lambda: emdp.expected_nstep_return(M2, POLICY_2x3, torch.zeros(2, dtype=F32), 1),
        r"values has dtype torch\.float32 but the MDP has torch\.float64$",
    ),
    "expected_nstep_return values not finite": (
        lambda: emdp.expected_nstep_return(M2, POLICY_2x3, torch.tensor([0.0, float("nan")]), 1),
        r"values must be finite .*nan",
    ),
    "expected_nstep_return kl": (
        lambda: emdp.expected_nstep_return(M2, POLICY_2x3, torch.zeros(2), 1, kl=torch.zeros(3)),
        r"kl must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    "expected_nstep_soft_target q_target": (
        lambda: emdp.expected_nstep_soft_target(M2, torch.zeros(2, 2), 1),
        r"q_target must have shape \[S, A\] = \(2, 3\), got \(2, 2\)$",
    ),
    "enumerate_trajectories n": (
        lambda: list(emdp.enumerate_trajectories(M2, POLICY_2x3, 0, 0, 0)),
        r"n must be an integer >= 1, got 0$",
    ),
    "enumerate_trajectories behaviour": (
        lambda: list(emdp.enumerate_trajectories(M2, POLICY_2x3 * 1.5, 0, 0, 1)),
        r"behaviour must sum to 1",
    ),
    "state_distributions horizon": (
        lambda: emdp.state_distributions(M2, POLICY_2x3, torch.ones(2) / 2, 0),
        r"horizon must be an integer >= 1, got 0$",
    ),
    "state_distributions initial shape": (
        lambda: emdp.state_distributions(M2, POLICY_2x3, torch.tensor([0.5, 0.3, 0.2]), 2),
        r"initial must be a torch\.float64 distribution of shape \[S\] = \(2,\), got torch\.float64 \(3,\)$",
    ),
    "state_distributions initial sum": (
        lambda: emdp.state_distributions(M2, POLICY_2x3, torch.tensor([0.5, 0.6]), 2),
        r"initial must sum to 1",
    ),
    "state_visitation discount": (
        lambda: emdp.state_visitation(M2, POLICY_2x3, torch.ones(2) / 2, 1.5),
        r"discount must be in \[0, 1\], got 1\.5$",
    ),
    "finite_horizon_objective horizon": (
        lambda: emdp.finite_horizon_objective(M2, POLICY_2x3, torch.ones(2) / 2, 0),
        r"horizon must be an integer >= 1, got 0$",
    ),
    "finite_horizon_estimator_surrogate horizon": (
        lambda: emdp.finite_horizon_estimator_surrogate(M2, LOGP_2x3, torch.ones(2) / 2, 0),
        r"horizon must be an integer >= 1, got 0$",
    ),
    "finite_horizon_estimator_surrogate estimator": (
        lambda: emdp.finite_horizon_estimator_surrogate(M2, LOGP_2x3, torch.ones(2) / 2, 2, "x"),
        r"estimator must be 'proper' or 'naive', got 'x'$",
    ),
    "finite_horizon_estimator_surrogate log_policy": (
        lambda: emdp.finite_horizon_estimator_surrogate(M2, LOGP_2x3[:, :2], torch.ones(2) / 2, 2),
        r"log_policy must have shape \[S, A\] = \(2, 3\), got \(2, 2\)$",
    ),
    "policy_gradient_surrogate log_policy": (
        lambda: emdp.policy_gradient_surrogate(M2, LOGP_2x3[:, :2], torch.ones(2) / 2),
        r"log_policy must have shape \[S, A\] = \(2, 3\), got \(2, 2\)$",
    ),
    "policy_gradient_surrogate state_weights": (
        lambda: emdp.policy_gradient_surrogate(M2, LOGP_2x3, torch.ones(3) / 3),
        r"state_weights must have shape \[S\] = \(2,\), got \(3,\)$",
    ),
    "evaluate_policy singular": (
        lambda: emdp.evaluate_policy(M2.replace(gamma=1.0), POLICY_2x3),
        (
            r"policy evaluation is ill-posed: I - gamma\*P_pi is singular \(gamma=1\.0\); with gamma = 1 every "
            r"policy must reach a terminal state with probability 1$"
        ),
    ),
    # targets
    "nstep_advantage values not finite": (
        lambda: equiv.nstep_advantage(R3, KL3, NAN3, NEXT_V3, DONE3, gamma=0.9, tau=1.0),
        r"values must be finite .*nan",
    ),
    "nstep_advantage values shape": (
        lambda: equiv.nstep_advantage(R3, KL3, V3[:2], NEXT_V3, DONE3, gamma=0.9, tau=1.0),
        r"values has shape \(2,\) but rewards has shape \(3,\); they must match$",
    ),
    "nstep_advantage values dtype": (
        lambda: equiv.nstep_advantage(R3, KL3, V3.float(), NEXT_V3, DONE3, gamma=0.9, tau=1.0),
        r"values has dtype torch\.float32 but rewards has dtype torch\.float64",
    ),
    "td_errors values shape": (
        lambda: equiv.td_errors(R3, KL3, V3[:2], NEXT_V3, DONE3, gamma=0.9, tau=1.0),
        r"values has shape \(2,\) but rewards has shape \(3,\)",
    ),
    "lambda_soft_target kl shape": (
        lambda: equiv.lambda_soft_target(R3, KL3[:2], V3, NEXT_V3, DONE3, gamma=0.9, tau=1.0, lam=0.5),
        r"kl has shape \(2,\) but rewards has shape \(3,\)",
    ),
    "dqn rewards not finite": (
        lambda: equiv.hard_max_target(NAN3, NEXT_Q, DONE3, gamma=0.9),
        r"rewards must be finite .*nan",
    ),
    "dqn next_q dtype": (
        lambda: equiv.hard_max_target(R3, NEXT_Q.float(), DONE3, gamma=0.9),
        r"next_q has dtype torch\.float32 but rewards has dtype torch\.float64",
    ),
    "dqn next_q 0-dim": (
        lambda: equiv.hard_max_target(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(False), gamma=0.9),
        r"next_q must have at least 1 dimension\(s\), got shape \(\)$",
    ),
    "soft_target_as_printed regularizer": (
        lambda: equiv.soft_target_as_printed(R3, NEXT_Q, DONE3, gamma=0.9, tau=0.5, regularizer="x"),
        r"regularizer must be 'kl' or 'entropy', got 'x'$",
    ),
}


@pytest.mark.parametrize("call, pattern", MESSAGE_CASES.values(), ids=MESSAGE_CASES.keys())
def test_bad_input_message_names_the_argument(call, pattern):
    """Bad input raises ValueError whose message begins with the argument's name and shows the value."""
    raises_matching(call, pattern)


def test_tensor_values_in_messages_are_shown_up_to_eight_entries_then_summarised():
    """A tensor passed where a number belongs is shown in full (≤ 8 entries) or by shape and dtype."""
    raises_matching(lambda: equiv.soft_value(Q_2x4, torch.arange(8.0)), r"tau must be a real number, got tensor\(\[0\.0, 1\.0, .*7\.0\], dtype=torch\.float64\)$")
    raises_matching(lambda: equiv.soft_value(Q_2x4, torch.arange(9.0)), r"tau must be a real number, got tensor\(shape=\(9,\), dtype=torch\.float64\)$")


# --- dtype genericity: float32 in, float32 out -------------------------------------------------------------

MDP_EVALUATORS = {
    "evaluate_policy": lambda m, c: emdp.evaluate_policy(m, c(_policy()))[1],
    "policy_backup_q": lambda m, c: emdp.policy_backup_q(m, c(_policy()), c(_q())),
    "lambda_boltzmann_backup": lambda m, c: emdp.lambda_boltzmann_backup(m, c(_q()), 0.5),
    "expected_nstep_soft_target": lambda m, c: emdp.expected_nstep_soft_target(m, c(_q()), 3),
    "soft_value_iteration": lambda m, c: emdp.soft_value_iteration(m, tol=1e-6),
    "state_distributions": lambda m, c: emdp.state_distributions(m, c(_policy()), c(INITIAL), 4),
    "state_visitation": lambda m, c: emdp.state_visitation(m, c(_policy()), c(INITIAL), 0.9),
    "finite_horizon_objective": lambda m, c: emdp.finite_horizon_objective(m, c(_policy()), c(INITIAL), 3),
    "surrogate proper": lambda m, c: emdp.finite_horizon_estimator_surrogate(
        m, c(_policy()).log(), c(INITIAL), 3, "proper"
    ),
    "surrogate naive": lambda m, c: emdp.finite_horizon_estimator_surrogate(
        m, c(_policy()).log(), c(INITIAL), 3, "naive"
    ),
    "policy_gradient_surrogate": lambda m, c: emdp.policy_gradient_surrogate(m, c(_policy()).log(), c(WEIGHTS)),
    "mdp_soft_q_loss": lambda m, c: expected.mdp_soft_q_loss(m, c(_q()), c(WEIGHTS), 2),
    "mdp_a2c_loss": lambda m, c: expected.mdp_a2c_loss(
        m, c(_policy()).log(), c(_q()[:, 0]), c(WEIGHTS), 2, value_coef=0.5
    ),
    "mdp_matched_soft_q_loss": lambda m, c: expected.mdp_matched_soft_q_loss(
        m, c(_policy()).log(), c(_q()[:, 0]), c(WEIGHTS), 2
    ),
}


@pytest.mark.parametrize("evaluate", MDP_EVALUATORS.values(), ids=MDP_EVALUATORS.keys())
def test_mdp_evaluators_keep_float32(evaluate):
    """A float32 MDP gives float32 results equal to the float64 ones to float32 precision: the exact
    evaluators build every constant (identity matrices, zero vectors, masks) in the MDP's dtype."""
    assert torch.get_default_dtype() == F64  # so a constant made in the default dtype would show
    reference = evaluate(small_terminal_mdp(F64), lambda t: t)
    result = evaluate(small_terminal_mdp(F32), lambda t: t.to(F32))
    assert result.dtype == F32
    assert torch.allclose(result.double(), reference, rtol=RTOL32, atol=RTOL32)


DQN_TARGETS = {
    "one_step_soft_target": lambda r, q, d: equiv.one_step_soft_target(r, q, d, gamma=0.9, tau=0.5),
    "entropy_bonus_target": lambda r, q, d: equiv.entropy_bonus_target(r, q, d, gamma=0.9, tau=0.5),
    "hard_max_target": lambda r, q, d: equiv.hard_max_target(r, q, d, gamma=0.9),
    "printed kl": lambda r, q, d: equiv.soft_target_as_printed(r, q, d, gamma=0.9, tau=0.5, regularizer="kl"),
    "printed entropy": lambda r, q, d: equiv.soft_target_as_printed(
        r, q, d, gamma=0.9, tau=0.5, regularizer="entropy"
    ),
}


def _dqn_target_by_hand(name: str, r: float, next_q: list[float], terminated: bool) -> float:
    """Eqs. (45), (81)-(83) for one transition, in plain Python floats."""
    tau, A = 0.5, len(next_q)
    lse = max(next_q) / tau + math.log(sum(math.exp(x / tau - max(next_q) / tau) for x in next_q))
    bootstrap = {
        "one_step_soft_target": tau * (lse - math.log(A)),
        "entropy_bonus_target": tau * lse,
        "hard_max_target": max(next_q),
        "printed kl": lse - math.log(A),
        "printed entropy": lse,
    }[name]
    return r + (0.0 if terminated else 0.9 * bootstrap)


@pytest.mark.parametrize("name", DQN_TARGETS)
@pytest.mark.parametrize("batch", [(), (2, 3)], ids=["no batch axis", "two batch axes"])
@pytest.mark.parametrize("dtype", [F64, F32])
def test_dqn_targets_any_batch_shape_and_dtype(name, batch, dtype):
    """DQN-style targets take rewards ``[...]`` and next_q ``[..., A]`` for any batch shape, including
    a single transition (no batch axis), and keep the input dtype; each entry matches Eqs. (45),
    (81)-(83) computed by hand."""
    gen = torch.Generator().manual_seed(3)
    rewards = torch.randn(batch, generator=gen, dtype=F64)
    next_q = torch.randn(batch + (4,), generator=gen, dtype=F64)
    terminated = torch.rand(batch, generator=gen) < 0.3
    result = DQN_TARGETS[name](rewards.to(dtype), next_q.to(dtype), terminated)
    assert result.shape == batch and result.dtype == dtype
    flat_r, flat_q, flat_d = rewards.reshape(-1), next_q.reshape(-1, 4), terminated.reshape(-1)
    expected_values = torch.tensor(
        [_dqn_target_by_hand(name, float(flat_r[i]), flat_q[i].tolist(), bool(flat_d[i])) for i in range(flat_r.numel())]
    ).reshape(batch)
    tol = 1e-12 if dtype == F64 else RTOL32
    assert torch.allclose(result.double(), expected_values, rtol=tol, atol=tol)


# --- Batch genericity of the [..., A] functions ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)], ids=["no batch axis", "two batch axes"])
def test_soft_advantage_and_entropy_any_batch_shape(shape):
    """soft_advantage = Q − V_Q (Eq. (32)) and entropy S = −Σ π log π, row by row, for [A] and [B, C, A]."""
    gen = torch.Generator().manual_seed(5)
    q = torch.randn(shape, generator=gen, dtype=F64)
    tau = 0.3
    rows = q.reshape(-1, 4)
    advantage = equiv.soft_advantage(q, tau)
    assert advantage.shape == shape
    for row, got in zip(rows, advantage.reshape(-1, 4)):
        v = tau * math.log(sum(math.exp(x / tau) for x in row.tolist()) / 4)
        assert torch.allclose(got, row - v, rtol=1e-12, atol=1e-12)
    log_pi = torch.log_softmax(q / tau, -1)
    result = equiv.entropy(log_pi)
    assert result.shape == shape[:-1]
    by_hand = [-sum(math.exp(x) * x for x in row.tolist()) for row in log_pi.reshape(-1, 4)]
    assert torch.allclose(result.reshape(-1), torch.tensor(by_hand), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "loss",
    [expected.bandit_soft_q_loss, expected.bandit_policy_gradient_value_loss],
    ids=["bandit_soft_q_loss", "bandit_policy_gradient_value_loss"],
)
def test_bandit_losses_of_a_batch_are_the_sum_over_bandits(loss):
    """``q`` ``[B, A]`` is a batch of independent bandits, summed: value and gradient of the batch loss
    are the sums of the per-bandit ones (so Eq. (23) holds bandit by bandit)."""
    gen = torch.Generator().manual_seed(11)
    q = torch.randn(3, 4, generator=gen, dtype=F64).requires_grad_()
    reward_means = torch.randn(3, 4, generator=gen, dtype=F64)
    batch = loss(q, reward_means, 0.4)
    (batch_grad,) = torch.autograd.grad(batch, q)
    singles = [loss(q[i], reward_means[i], 0.4) for i in range(3)]
    single_grads = torch.stack([torch.autograd.grad(s, q)[0][i] for i, s in enumerate(singles)])
    assert torch.allclose(batch, sum(singles), rtol=1e-12, atol=1e-12)
    assert torch.allclose(batch_grad, single_grads, rtol=1e-12, atol=1e-12)


# --- Device propagation (meta device as the CPU stand-in for CUDA) -----------------------------------------


def _meta(*shape: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _meta_flags(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.bool, device="meta")


DEVICE_CALLS = {
    "entropy [B, A]": lambda: equiv.entropy(_meta(3, 4)),
    "entropy [A]": lambda: equiv.entropy(_meta(4)),
    "kl_divergence": lambda: equiv.kl_divergence(_meta(3, 4)),
    "soft_advantage": lambda: equiv.soft_advantage(_meta(3, 4), 0.5),
    "regularized_expectation": lambda: equiv.regularized_expectation(_meta(3, 4), _meta(3, 4), 0.5),
    "dueling_q": lambda: equiv.dueling_q(_meta(3), _meta(3, 4), 0.5),
    "one_step_soft_target": lambda: equiv.one_step_soft_target(_meta(3), _meta(3, 4), _meta_flags(3), gamma=0.9, tau=0.5),
    "entropy_bonus_target": lambda: equiv.entropy_bonus_target(_meta(3), _meta(3, 4), _meta_flags(3), gamma=0.9, tau=0.5),
    "hard_max_target": lambda: equiv.hard_max_target(_meta(3), _meta(3, 4), _meta_flags(3), gamma=0.9),
    "soft_target_as_printed": lambda: equiv.soft_target_as_printed(
        _meta(3), _meta(3, 4), _meta_flags(3), gamma=0.9, tau=0.5, regularizer="kl"
    ),
    "nstep_soft_target": lambda: equiv.nstep_soft_target(
        _meta(5, 2), _meta(5, 2), _meta(5, 2), _meta_flags(5, 2), _meta_flags(5, 2), gamma=0.9, tau=0.5, n=3
    ),
    "nstep_return": lambda: equiv.nstep_return(_meta(5, 2), _meta(5, 2), _meta_flags(5, 2), gamma=0.9),
    "td_errors": lambda: equiv.td_errors(
        _meta(5, 2), _meta(5, 2), _meta(5, 2), _meta(5, 2), _meta_flags(5, 2), gamma=0.9, tau=0.5
    ),
    "lambda_soft_target": lambda: equiv.lambda_soft_target(
        _meta(5, 2), _meta(5, 2), _meta(5, 2), _meta(5, 2), _meta_flags(5, 2), gamma=0.9, tau=0.5, lam=0.5
    ),
    "expected_star_terms": lambda: equiv.expected_star_terms(_meta(3), _meta(3, 4), tau=0.5),
}


@pytest.mark.parametrize("call", DEVICE_CALLS.values(), ids=DEVICE_CALLS.keys())
def test_results_stay_on_the_input_device(call):
    """Every tensor a function creates lives on its inputs' device, so batches on an accelerator never
    meet a CPU tensor.  Data-dependent validation reads values and is switched off for meta tensors."""
    with equiv.validation(False):
        assert call().device.type == "meta"


# --- Soft value iteration: warm start and the documented stopping rule --------------------------------------


def _iterations_by_hand(mdp: emdp.FiniteMDP, tol: float) -> tuple[int, torch.Tensor]:
    """Iterate the Boltzmann backup from Q = 0 until the sup-norm change is ≤ tol · max(1, |Q|_∞)."""
    q = torch.zeros_like(mdp.rewards)
    for k in range(1, 10_000):
        q_next = emdp.boltzmann_backup(mdp, q)
        change = float((q_next - q).abs().max())
        q = q_next
        if change <= tol * max(1.0, float(q.abs().max())):
            return k, q
    raise AssertionError("no convergence")


@pytest.mark.parametrize(
    "scale, tol, gamma",
    [(0.05, 1e-9, 0.9), (300.0, 1e-9, 0.9), (1.0, 0.0, 0.0)],
    ids=["|Q| < 1: absolute", "|Q| >> 1: relative", "tol = 0 at an exact fixed point"],
)
def test_soft_value_iteration_stops_by_its_documented_rule(scale, tol, gamma):
    """Stops at the first iterate whose sup-norm change is ≤ tol · max(1, |Q|_∞): that iterate is
    returned with max_iterations = k, and max_iterations = k − 1 reports non-convergence.  The rule is
    absolute for |Q| < 1, relative for |Q| ≫ 1, and tol = 0 stops exactly at a fixed point (γ = 0:
    T Q = R exactly, reached at the second backup)."""
    mdp = small_terminal_mdp(gamma=gamma, tau=0.7 * scale, scale=scale)
    k, q_k = _iterations_by_hand(mdp, tol)
    assert k >= 2
    assert torch.equal(emdp.soft_value_iteration(mdp, tol=tol, max_iterations=k), q_k)
    raises_matching(
        lambda: emdp.soft_value_iteration(mdp, tol=tol, max_iterations=k - 1),
        rf"soft value iteration did not converge in max_iterations={k - 1} \(last sup-norm change .*\); "
        rf"gamma={gamma}$",
    )


def test_soft_value_iteration_starts_from_q0():
    """Started at (a float64 rounding of) Q*, one backup already meets the tolerance."""
    mdp = small_terminal_mdp()
    q_star = emdp.soft_value_iteration(mdp, tol=1e-14)
    assert torch.allclose(emdp.soft_value_iteration(mdp, q0=q_star, tol=1e-12, max_iterations=1), q_star, rtol=1e-12, atol=1e-12)
    raises_matching(lambda: emdp.soft_value_iteration(mdp, tol=1e-12, max_iterations=1), r"soft value iteration did not converge")


# --- State distributions, trajectories, ill-conditioned evaluation, state weights ----------------------------


def test_state_distributions_has_one_row_per_step_and_matches_a_python_loop():
    """ρ_t for t = 0..horizon−1 (``[T, S]``): ρ_{t+1}(s') = Σ_{s live} ρ_t(s) Σ_a π(a|s) P(s'|s,a)."""
    mdp, policy = small_terminal_mdp(), _policy()
    rho = emdp.state_distributions(mdp, policy, INITIAL, 4)
    assert rho.shape == (4, 3)
    P, live = mdp.transitions.tolist(), [not t for t in mdp.terminal_mask.tolist()]
    row = INITIAL.tolist()
    for t in range(4):
        assert torch.allclose(rho[t], torch.tensor(row), rtol=1e-13, atol=1e-15)
        row = [
            sum(row[s] * live[s] * sum(policy[s, a].item() * P[s][a][s2] for a in range(2)) for s in range(3))
            for s2 in range(3)
        ]


def test_enumerated_trajectories_have_positive_probability_when_the_behaviour_has_zeros():
    """Only paths of positive probability are listed (an action with π(a|s) = 0 is never taken), and
    their probabilities sum to 1."""
    mdp = small_terminal_mdp()
    behaviour = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    paths = list(emdp.enumerate_trajectories(mdp, behaviour, 0, 1, 3))
    assert all(p.probability > 0.0 for p in paths)
    assert all(behaviour[s, a] > 0 for p in paths for s, a in zip(p.states[1:], p.actions[1:]))
    assert math.isclose(sum(p.probability for p in paths), 1.0, rel_tol=1e-13)


def test_policy_evaluation_rejects_a_nearly_singular_system():
    """γ = 1 with termination probability 1e-14 per step: I − γP_π is invertible in float64 but has
    condition number ~1e14, so the values (~1e14) are not trustworthy and a ValueError says why."""
    eps = 1e-14
    transitions = torch.tensor([[[1 - eps, eps]], [[0.0, 1.0]]], dtype=F64)
    mdp = emdp.FiniteMDP(transitions, torch.ones(2, 1), 1.0, 0.5, terminal=torch.tensor([False, True]))
    raises_matching(
        lambda: emdp.evaluate_policy(mdp, torch.ones(2, 1)),
        r"policy evaluation is ill-posed: I - gamma\*P_pi has condition number 1e\+14 \(gamma=1\.0\); "
        r"with gamma = 1 every policy must terminate with probability 1$",
    )
    value, _ = emdp.evaluate_policy(mdp.replace(transitions=torch.tensor([[[0.5, 0.5]], [[0.0, 1.0]]])), torch.ones(2, 1))
    assert torch.allclose(value, torch.tensor([2.0, 0.0]), rtol=1e-14, atol=0)  # well-posed: V = 1/(1 − 0.5)


def test_expected_losses_are_linear_in_state_weights_including_zeros():
    """E_{s_t} is linear in the state distribution; weights may be 0 (states never visited)."""
    mdp = small_terminal_mdp()
    w1, w2 = torch.tensor([0.3, 0.0, 0.0]), torch.tensor([0.0, 0.7, 0.0])
    for loss in (
        lambda w: expected.mdp_soft_q_loss(mdp, _q(), w, 2),
        lambda w: expected.mdp_a2c_loss(mdp, _policy().log(), _q()[:, 0], w, 2, value_coef=0.5),
    ):
        assert torch.allclose(loss(w1 + w2), loss(w1) + loss(w2), rtol=1e-13, atol=1e-15)
        assert loss(w1) != 0 and loss(w2) != 0
