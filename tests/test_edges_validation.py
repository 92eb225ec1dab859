"""Near misses on every public entry point that takes a distribution (issue 10 §3).

The entry points are enumerated from ``equiv.__all__``, ``equiv.mdp.__all__`` and ``equiv.expected.__all__``:
every parameter whose name ends in ``policy``, ``behaviour``, ``initial``, ``transitions`` or ``weights``
must have a case in ``CASES`` below (:func:`test_every_distribution_parameter_has_a_near_miss_case`), so a
new entry point without one fails a test.

Each case perturbs one entry of the last row of an exactly valid distribution (entries 1/4, 3/4, whose
float sums are exactly 1) by δ and calls the function as a user would:

* δ = 0 and |δ| ≤ ¼·tol, tol = 16·A·eps(dtype) (the documented tolerance of
  :func:`equiv._checks.distribution_tolerance`): accepted;
* |δ| = 4·tol, +1e-3 and, in float64, ±1e-6: rejected with a ValueError that starts with the argument's
  name and shows the sum (in float32, tol = 3.8e-6 for A = 2, so ±1e-6 is inside it and accepted);
* a negative entry of −1e-6 (the mass moved to another entry, sum exactly 1): rejected, value shown.

float32 runs only the cases where it differs: exact, ±1e-6 (accepted: inside its tolerance) and 1e-3.

Log-policy arguments get log(p) and must say "<name> must be normalised: exp(<name>) must sum to 1".
Two log-policy arguments are documented as free (the dueling heads of Eq. (57) need no normalisation):
there the check is that nothing is renormalised.  State weights of the expected losses are any
non-negative weights (their sum is free); those of ``policy_gradient_surrogate`` are any weights.
"""

from __future__ import annotations

import inspect
import re
import types

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import equiv
import equiv._checks
import equiv.expected as eexp
import equiv.mdp as emdp
from tests.strategies import raises_matching

S, A = 2, 2
DISTRIBUTION_PARAMETER = re.compile(r"(policy|behaviour|initial|transitions|weights)$")


def base(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A distribution over the last axis with rows (1/4, 3/4): exact in every float dtype, sums exactly 1."""
    return torch.tensor([0.25, 0.75], dtype=dtype).expand(*shape[:-1], 2).clone()


def mdp(dtype: torch.dtype, **changes) -> emdp.FiniteMDP:
    fields = dict(
        transitions=base((S, A, S), dtype),
        rewards=torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=dtype),
        gamma=0.9,
        tau=0.5,
        ref_policy=base((S, A), dtype),
    )
    fields.update(changes)
    return emdp.FiniteMDP(**fields)


def q(dtype):
    return torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=dtype)


def vec(dtype, *x):
    return torch.tensor(x, dtype=dtype)


# (kind, shape of the distribution, call(p, dtype)).  kind: "dist" (p passed as is), "log" (log p passed),
# "free_log" (log p passed, not required to be normalised), "weights" (non-negative, any sum),
# "any_weights" (any finite weights).
CASES = {
    # per-state functions (equiv.boltzmann, equiv.targets, equiv.losses)
    "equiv.boltzmann.log_reference:ref_policy": ("dist", (S, A), lambda p, d: equiv.log_reference(p, q(d))),
    "equiv.boltzmann.soft_value:ref_policy": ("dist", (S, A), lambda p, d: equiv.soft_value(q(d), 0.5, p)),
    "equiv.boltzmann.boltzmann_log_policy:ref_policy": (
        "dist", (S, A), lambda p, d: equiv.boltzmann_log_policy(q(d), 0.5, p)),
    "equiv.boltzmann.boltzmann_policy:ref_policy": (
        "dist", (S, A), lambda p, d: equiv.boltzmann_policy(q(d), 0.5, p)),
    "equiv.boltzmann.soft_advantage:ref_policy": ("dist", (S, A), lambda p, d: equiv.soft_advantage(q(d), 0.5, p)),
    "equiv.boltzmann.kl_divergence:log_policy": ("log", (S, A), lambda lp, d: equiv.kl_divergence(lp)),
    "equiv.boltzmann.kl_divergence:ref_policy": (
        "dist", (S, A), lambda p, d: equiv.kl_divergence(base((S, A), d).log(), p)),
    "equiv.boltzmann.entropy:log_policy": ("log", (S, A), lambda lp, d: equiv.entropy(lp)),
    "equiv.boltzmann.regularized_expectation:log_policy": (
        "log", (S, A), lambda lp, d: equiv.regularized_expectation(q(d), lp, 0.5)),
    "equiv.boltzmann.regularized_expectation:ref_policy": (
        "dist", (S, A), lambda p, d: equiv.regularized_expectation(q(d), base((S, A), d).log(), 0.5, p)),
    "equiv.boltzmann.dueling_q:log_policy": (
        "free_log", (S, A), lambda lp, d: equiv.dueling_q(vec(d, 1.0, 2.0), lp, 0.5)),
    "equiv.boltzmann.dueling_q:ref_policy": (
        "dist", (S, A), lambda p, d: equiv.dueling_q(vec(d, 1.0, 2.0), base((S, A), d).log(), 0.5, p)),
    "equiv.targets.one_step_soft_target:ref_policy": (
        "dist", (S, A),
        lambda p, d: equiv.one_step_soft_target(
            vec(d, 1.0, 0.0), q(d), torch.tensor([False, True]), gamma=0.9, tau=0.5, ref_policy=p)),
    "equiv.losses.matched_soft_q_loss:log_policy": (
        "free_log", (S, A),
        lambda lp, d: equiv.matched_soft_q_loss(
            vec(d, 1.0, 2.0), lp, torch.tensor([0, 1]), vec(d, 0.5, 0.5), tau=0.5)),
    "equiv.losses.matched_soft_q_loss:ref_policy": (
        "dist", (S, A),
        lambda p, d: equiv.matched_soft_q_loss(
            vec(d, 1.0, 2.0), base((S, A), d).log(), torch.tensor([0, 1]), vec(d, 0.5, 0.5), tau=0.5, ref_policy=p)),
    "equiv.losses.soft_q_gradient_terms:log_policy": (
        "log", (S, A),
        lambda lp, d: equiv.soft_q_gradient_terms(vec(d, 1.0, 2.0), lp, torch.tensor([0, 1]), vec(d, 0.5, 0.5), tau=0.5)),
    "equiv.losses.soft_q_gradient_terms:ref_policy": (
        "dist", (S, A),
        lambda p, d: equiv.soft_q_gradient_terms(
            vec(d, 1.0, 2.0), base((S, A), d).log(), torch.tensor([0, 1]), vec(d, 0.5, 0.5), tau=0.5, ref_policy=p)),
    "equiv.losses.expected_star_terms:log_policy": (
        "log", (S, A), lambda lp, d: equiv.expected_star_terms(vec(d, 1.0, 2.0), lp, tau=0.5)),
    "equiv.losses.expected_star_terms:ref_policy": (
        "dist", (S, A),
        lambda p, d: equiv.expected_star_terms(vec(d, 1.0, 2.0), base((S, A), d).log(), tau=0.5, ref_policy=p)),
    # the MDP and its evaluators (equiv.mdp)
    "equiv.mdp.FiniteMDP:transitions": ("dist", (S, A, S), lambda p, d: mdp(d, transitions=p)),
    "equiv.mdp.FiniteMDP:ref_policy": ("dist", (S, A), lambda p, d: mdp(d, ref_policy=p)),
    "equiv.mdp.policy_kl:policy": ("dist", (S, A), lambda p, d: emdp.policy_kl(mdp(d), p)),
    "equiv.mdp.policy_transition_matrix:policy": (
        "dist", (S, A), lambda p, d: emdp.policy_transition_matrix(mdp(d), p)),
    "equiv.mdp.regularized_policy_reward:policy": (
        "dist", (S, A), lambda p, d: emdp.regularized_policy_reward(mdp(d), p)),
    "equiv.mdp.evaluate_policy:policy": ("dist", (S, A), lambda p, d: emdp.evaluate_policy(mdp(d), p)),
    "equiv.mdp.policy_backup_v:policy": (
        "dist", (S, A), lambda p, d: emdp.policy_backup_v(mdp(d), p, vec(d, 1.0, 2.0))),
    "equiv.mdp.policy_backup_q:policy": ("dist", (S, A), lambda p, d: emdp.policy_backup_q(mdp(d), p, q(d))),
    "equiv.mdp.nstep_policy_backup_v:policy": (
        "dist", (S, A), lambda p, d: emdp.nstep_policy_backup_v(mdp(d), p, vec(d, 1.0, 2.0), 2)),
    "equiv.mdp.nstep_policy_backup_q:policy": (
        "dist", (S, A), lambda p, d: emdp.nstep_policy_backup_q(mdp(d), p, q(d), 2)),
    "equiv.mdp.expected_nstep_return:behaviour": (
        "dist", (S, A), lambda p, d: emdp.expected_nstep_return(mdp(d), p, vec(d, 1.0, 2.0), 2)),
    "equiv.mdp.expected_nstep_soft_target:behaviour": (
        "dist", (S, A), lambda p, d: emdp.expected_nstep_soft_target(mdp(d), q(d), 2, behaviour=p)),
    "equiv.mdp.enumerate_trajectories:behaviour": (
        "dist", (S, A), lambda p, d: list(emdp.enumerate_trajectories(mdp(d), p, 0, 0, 2))),
    "equiv.mdp.state_distributions:policy": (
        "dist", (S, A), lambda p, d: emdp.state_distributions(mdp(d), p, base((S,), d), 3)),
    "equiv.mdp.state_distributions:initial": (
        "dist", (S,), lambda p, d: emdp.state_distributions(mdp(d), base((S, A), d), p, 3)),
    "equiv.mdp.state_visitation:policy": (
        "dist", (S, A), lambda p, d: emdp.state_visitation(mdp(d), p, base((S,), d), 0.9)),
    "equiv.mdp.state_visitation:initial": (
        "dist", (S,), lambda p, d: emdp.state_visitation(mdp(d), base((S, A), d), p, 0.9)),
    "equiv.mdp.finite_horizon_objective:policy": (
        "dist", (S, A), lambda p, d: emdp.finite_horizon_objective(mdp(d), p, base((S,), d), 3)),
    "equiv.mdp.finite_horizon_objective:initial": (
        "dist", (S,), lambda p, d: emdp.finite_horizon_objective(mdp(d), base((S, A), d), p, 3)),
    "equiv.mdp.finite_horizon_estimator_surrogate:log_policy": (
        "log", (S, A), lambda lp, d: emdp.finite_horizon_estimator_surrogate(mdp(d), lp, base((S,), d), 3)),
    "equiv.mdp.finite_horizon_estimator_surrogate:initial": (
        "dist", (S,),
        lambda p, d: emdp.finite_horizon_estimator_surrogate(mdp(d), base((S, A), d).log(), p, 3)),
    "equiv.mdp.policy_gradient_surrogate:log_policy": (
        "log", (S, A), lambda lp, d: emdp.policy_gradient_surrogate(mdp(d), lp, base((S,), d))),
    "equiv.mdp.policy_gradient_surrogate:state_weights": (
        "any_weights", (S,), lambda w, d: emdp.policy_gradient_surrogate(mdp(d), base((S, A), d).log(), w)),
    # the exact expected losses (equiv.expected)
    "equiv.expected.bandit_soft_q_loss:ref_policy": (
        "dist", (S, A), lambda p, d: eexp.bandit_soft_q_loss(q(d), q(d).flip(-1), 0.5, p)),
    "equiv.expected.bandit_soft_q_loss:sampling_policy": (
        "dist", (S, A), lambda p, d: eexp.bandit_soft_q_loss(q(d), q(d).flip(-1), 0.5, sampling_policy=p)),
    "equiv.expected.bandit_policy_gradient_value_loss:ref_policy": (
        "dist", (S, A), lambda p, d: eexp.bandit_policy_gradient_value_loss(q(d), q(d).flip(-1), 0.5, p)),
    "equiv.expected.mdp_soft_q_loss:state_weights": (
        "weights", (S,), lambda w, d: eexp.mdp_soft_q_loss(mdp(d), q(d), w, 2)),
    "equiv.expected.mdp_a2c_loss:log_policy": (
        "log", (S, A),
        lambda lp, d: eexp.mdp_a2c_loss(mdp(d), lp, vec(d, 1.0, 2.0), base((S,), d), 2, value_coef=0.5)),
    "equiv.expected.mdp_a2c_loss:state_weights": (
        "weights", (S,),
        lambda w, d: eexp.mdp_a2c_loss(mdp(d), base((S, A), d).log(), vec(d, 1.0, 2.0), w, 2, value_coef=0.5)),
    "equiv.expected.mdp_matched_soft_q_loss:log_policy": (
        "log", (S, A),
        lambda lp, d: eexp.mdp_matched_soft_q_loss(mdp(d), lp, vec(d, 1.0, 2.0), base((S,), d), 2)),
    "equiv.expected.mdp_matched_soft_q_loss:state_weights": (
        "weights", (S,),
        lambda w, d: eexp.mdp_matched_soft_q_loss(mdp(d), base((S, A), d).log(), vec(d, 1.0, 2.0), w, 2)),
    "equiv.expected.mdp_expected_advantage:log_policy": (
        "log", (S, A), lambda lp, d: eexp.mdp_expected_advantage(mdp(d), lp, vec(d, 1.0, 2.0), 2)),
}


def distribution_parameters(modules) -> set[str]:
    """"module.function:parameter" for every public callable of ``modules`` (their ``__all__``) with a
    parameter named like a distribution."""
    found = set()
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj):
                continue
            try:
                parameters = inspect.signature(obj).parameters
            except (TypeError, ValueError):
                continue
            for parameter in parameters:
                if DISTRIBUTION_PARAMETER.search(parameter):
                    found.add(f"{obj.__module__}.{obj.__qualname__}:{parameter}")
    return found


PUBLIC = (equiv, emdp, eexp)


def test_every_distribution_parameter_has_a_near_miss_case():
    """Every public entry point's distribution-like parameter has a case here, and every case is still a
    public entry point (no stale cases)."""
    found = distribution_parameters(PUBLIC)
    assert found - set(CASES) == set(), f"entry points without a near-miss case: {sorted(found - set(CASES))}"
    assert set(CASES) - found == set(), f"cases for no public entry point: {sorted(set(CASES) - found)}"


def test_negative_control_a_new_entry_point_without_a_case_is_reported():
    """The enumeration sees a new public function that takes a distribution (a stand-in module)."""
    fake = types.ModuleType("equiv.fake")

    def new_estimator(mdp, behaviour, n):  # pragma: no cover - never called
        return None

    new_estimator.__module__, new_estimator.__qualname__ = "equiv.fake", "new_estimator"
    fake.new_estimator = new_estimator
    fake.__all__ = ["new_estimator"]
    assert distribution_parameters(PUBLIC + (fake,)) - set(CASES) == {"equiv.fake.new_estimator:behaviour"}


def perturbed(shape, dtype, delta: float) -> torch.Tensor:
    """The base distribution with δ added to the last entry of its last row (its sum is 1 + δ, rounded)."""
    p = base(shape, dtype)
    p.view(-1, 2)[-1, 1] += delta
    return p


def shown_sum(p: torch.Tensor) -> str:
    """The sum the error message shows: the row sum furthest from 1, as float(repr)."""
    sums = p.sum(-1).flatten()
    return re.escape(repr(float(sums[int((sums - 1).abs().argmax())])))


def argument_of(key: str) -> str:
    return key.split(":")[1]


# The documented tolerance, written out here (not taken from the library, so that a looser library check fails).
TOL = {dtype: 16 * A * torch.finfo(dtype).eps for dtype in (torch.float64, torch.float32)}
ACCEPTED = [0.0, 0.25, -0.25]  # multiples of tol
REJECTED = [("tol", 4.0), ("tol", -4.0), ("abs", 1e-3), ("abs", 1e-6), ("abs", -1e-6)]


def call_with(key, p, dtype):
    kind, _, call = CASES[key]
    return call(p.log() if kind in ("log", "free_log") else p, dtype)


@pytest.mark.parametrize("key", sorted(CASES))
def test_near_misses(key):
    """Accepted within the documented tolerance, rejected (argument named, sum shown) outside it, in float64
    and float32."""
    for dtype in (torch.float64, torch.float32):
        check_near_misses(key, dtype)


def check_near_misses(key, dtype):
    kind, shape, _ = CASES[key]
    name = argument_of(key)
    tol = TOL[dtype]
    # float32 (tol = 3.8e-6 for A = 2) runs the cases that differ from float64: ±1e-6 accepted, 1e-3 rejected.
    accepted = ACCEPTED if dtype == torch.float64 else [0.0]
    rejected = REJECTED if dtype == torch.float64 else [("abs", 1e-3), ("abs", 1e-6), ("abs", -1e-6)]
    for factor in accepted:
        call_with(key, perturbed(shape, dtype, factor * tol), dtype)
    if kind not in ("dist", "log"):
        return
    subject = rf"{name} must be normalised: exp\({name}\)" if kind == "log" else name
    for unit, size in rejected:
        delta = size * tol if unit == "tol" else size
        p = perturbed(shape, dtype, delta)
        if abs(delta) <= tol:  # ±1e-6 in float32 (tol = 3.8e-6): inside the tolerance
            call_with(key, p, dtype)
            continue
        shown = p.log().exp() if kind == "log" else p  # the library checks exp(log p)
        raises_matching(
            lambda p=p: call_with(key, p, dtype),
            rf"{subject} must sum to 1 over its last axis \(tolerance {tol:.1e}\); found a sum of {shown_sum(shown)}",
        )
    if kind == "dist" and dtype == torch.float64:  # a negative entry, the sum still exactly 1
        p = base(shape, dtype)
        p.view(-1, 2)[-1] = torch.tensor([-1e-6, 1 + 1e-6], dtype=dtype)
        raises_matching(lambda: call_with(key, p, dtype), rf"{name} must be non-negative; found \[-1e-06|{name} must be non-negative; found \[-9\.99")


def test_free_log_policies_are_not_renormalised():
    """dueling_q and matched_soft_q_loss take the heads' log π as given (Eq. (57) needs no normalisation):
    log p off by 1e-3 gives V + τ(log p − log π̄) exactly, not the renormalised value."""
    lp = perturbed((S, A), torch.float64, 1e-3).log()
    v = vec(torch.float64, 1.0, 2.0)
    assert torch.equal(equiv.dueling_q(v, lp, 0.5), v[:, None] + 0.5 * (lp - equiv.log_reference(None, lp)))
    loss = equiv.matched_soft_q_loss(v, lp, torch.tensor([0, 1]), vec(torch.float64, 0.5, 0.5), tau=0.5)
    q_taken = v + 0.5 * (lp.gather(-1, torch.tensor([[0], [1]])).squeeze(-1) + torch.log(torch.tensor(2.0)))
    assert torch.allclose(loss, 0.5 * (q_taken - 0.5) ** 2, rtol=1e-15, atol=0)


WEIGHTS = [k for k in CASES if CASES[k][0] == "weights"]


@pytest.mark.parametrize("key", WEIGHTS)
def test_state_weights_of_expected_losses_are_any_non_negative_weights(key):
    """The E_{s_t} weights may have any sum (documented: "any non-negative weights"), and are exactly linear:
    weights off by 1e-3 scale the loss, they are not renormalised; a negative weight is rejected."""
    d = torch.float64
    exact = call_with(key, base((S,), d), d)
    doubled = call_with(key, 2 * base((S,), d), d)
    assert torch.allclose(doubled, 2 * exact, rtol=1e-15, atol=0)
    call_with(key, perturbed((S,), d, 1e-3), d)
    raises_matching(lambda: call_with(key, vec(d, -1e-6, 1.0), d), r"state_weights must be non-negative, got \[-1e-06")


def test_policy_gradient_surrogate_takes_any_weights():
    """policy_gradient_surrogate documents that π* is a fixed point of g_γ "for every w": its weights are
    not constrained (negative ones are accepted, and the surrogate is linear in them)."""
    d = torch.float64
    key = "equiv.mdp.policy_gradient_surrogate:state_weights"
    w = vec(d, -0.5, 2.0)
    total = call_with(key, w, d)
    parts = call_with(key, vec(d, -0.5, 0.0), d) + call_with(key, vec(d, 0.0, 2.0), d)
    assert torch.allclose(total, parts, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "key", ["equiv.mdp.evaluate_policy:policy", "equiv.expected.mdp_a2c_loss:log_policy", "equiv.mdp.FiniteMDP:transitions"]
)
def test_negative_control_a_looser_or_stricter_tolerance_fails_the_near_miss_check(key, monkeypatch):
    """The near-miss check can fail: with the library's tolerance 1e3× looser (a 4·tol miss accepted) or
    4× stricter (a ¼·tol miss rejected), check_near_misses reports it, through the same entry points."""
    real = equiv._checks.distribution_tolerance
    for factor, failure in ((1e3, pytest.fail.Exception), (1 / 8, ValueError)):
        monkeypatch.setattr(equiv._checks, "distribution_tolerance", lambda dtype, n, f=factor: f * real(dtype, n))
        with pytest.raises(failure):
            check_near_misses(key, torch.float64)
    monkeypatch.undo()
    check_near_misses(key, torch.float64)


def test_log_policy_arguments_of_the_mdp_functions_are_checked():
    """The log-policy check shared by the MDP losses and surrogates: type, dtype, shape, NaN/+inf (−inf is
    allowed: probability 0); with validation off the data checks are skipped (nothing is renormalised:
    a log π off by 1e-3 gives the loss of that log π, finite)."""
    d = torch.float64
    m, lp, v, w = mdp(d), base((S, A), d).log(), vec(d, 1.0, 2.0), base((S,), d)

    def call(x):
        return eexp.mdp_a2c_loss(m, x, v, w, 2, value_coef=0.5)

    raises_matching(lambda: call(lp.tolist()), r"log_policy must be a torch\.Tensor, got list")
    raises_matching(
        lambda: call(torch.zeros(S, A, dtype=torch.int64)), r"log_policy must have a floating-point dtype, got torch\.int64$"
    )
    raises_matching(lambda: call(lp[:, :1]), r"log_policy must have shape \[S, A\] = \(2, 2\), got \(2, 1\)$")
    raises_matching(lambda: call(lp.float()), r"log_policy has dtype torch\.float32 but the MDP has torch\.float64$")
    for bad, shown in ((float("nan"), "nan"), (float("inf"), "inf")):
        x = lp.clone()
        x[1, 0] = bad
        raises_matching(lambda x=x: call(x), rf"log_policy must be finite or -inf \(probability 0\); found values such as \[{shown}\]")
    with equiv.validation(False):
        assert torch.isfinite(call(lp + 1e-3))


def test_exactly_singular_and_nearly_singular_solves():
    """Every state absorbing, no terminal state, discount 1: I − P_π = 0 exactly, torch's solve raises and
    the ValueError says "is singular".  A termination probability of 1e-14 per step gives cond ~1e14:
    rejected while validation is on, solved (no condition check) with validation off."""
    d = torch.float64
    absorbing = torch.eye(S, dtype=d)[:, None, :].expand(S, A, S).clone()
    m = mdp(d, transitions=absorbing, gamma=1.0)
    policy, initial = base((S, A), d), base((S,), d)
    raises_matching(
        lambda: emdp.state_visitation(m, policy, initial, 1.0),
        r"state visitation is ill-posed: I - discount\*P_pi \(discount=1\.0\) is singular; with discount = 1 the "
        r"policy must reach a terminal state with probability 1$",
    )
    raises_matching(
        lambda: emdp.lambda_boltzmann_backup(m, q(d), 1.0),
        r"the lambda backup is ill-posed: I - gamma\*lam\*P_pi \(gamma=1\.0, lam=1\.0\) is singular; with "
        r"gamma\*lam = 1 the Boltzmann policy must reach a terminal state with probability 1$",
    )
    leak = 1e-14
    nearly = torch.tensor([[[1 - leak, leak]] * A, [[0.0, 1.0]] * A], dtype=d)
    m = mdp(d, transitions=nearly, gamma=1.0, terminal=torch.tensor([False, True]))
    raises_matching(
        lambda: emdp.state_visitation(m, policy, initial, 1.0),
        r"state visitation is ill-posed: I - discount\*P_pi \(discount=1\.0\) has condition number 1e\+14; ",
    )
    with equiv.validation(False):
        visits = emdp.state_visitation(m, policy, initial, 1.0)
    assert 0.125 / leak < float(visits[0]) < 0.5 / leak  # initial mass 1/4 × ~1/leak visits, unchecked as asked


_SMALL_SHAPES = st.lists(st.integers(0, 3), max_size=4).map(tuple)


@given(_SMALL_SHAPES, _SMALL_SHAPES)
def test_broadcasts_to_is_torch_broadcast_shapes_equal_to_the_target(shape, target):
    """The integer shortcut used by check_distribution agrees with torch.broadcast_shapes, zeros included."""
    try:
        expected = torch.broadcast_shapes(shape, target) == torch.Size(target)
    except RuntimeError:
        expected = False
    assert equiv._checks.broadcasts_to(shape, target) is expected


def test_a_reference_policy_that_only_broadcasts_the_other_way_is_rejected():
    """π̄ of shape [2, 3] against q of shape [3]: broadcastable, but not *to* q's shape."""
    with pytest.raises(ValueError, match=r"does not broadcast to the shape of q, \(3,\)"):
        equiv.boltzmann_log_policy(torch.zeros(3), 1.0, torch.full((2, 3), 1 / 3))
