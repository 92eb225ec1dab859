"""Exact evaluators for small finite MDPs: the ground truth of the test suite.

Everything here is computed by linear algebra or dynamic programming, never by
sampling, and is differentiable, so gradients of exact objectives come from
autograd.  Use float64.

Conventions (paper §3):

* ``transitions[s, a, s']`` = P(s'|s,a), ``rewards[s, a]`` = E[r | s, a];
  random rewards never change an expectation here, only their means matter.
* ``terminal[s]`` marks absorbing terminal states: the episode ends on
  entering them, so their value is 0, no reward or KL is collected there and
  their rows of P and R are ignored.  With γ = 1 every policy must reach a
  terminal state with probability 1 for values to be finite.
* ``policy[s, a]`` = π(a|s); ``KL(s)`` = D_KL[π(·|s) ‖ π̄(·|s)], charged at
  every non-terminal state the agent acts in, except that Q(s,a) does not
  charge it at the first state (Eq. (25)).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Iterator, NamedTuple

import torch

from ._checks import (
    MAX_SHOWN_VALUES,
    _short,
    check_distribution,
    check_float_tensor,
    check_gamma,
    check_nonnegative,
    check_positive_int,
    check_sums_to_one,
    check_tau,
    check_unit_interval,
    validation_enabled,
)
from .boltzmann import boltzmann_log_policy, boltzmann_policy, kl_divergence, soft_value

__all__ = [
    "FiniteMDP",
    "policy_kl",
    "policy_transition_matrix",
    "regularized_policy_reward",
    "evaluate_policy",
    "policy_backup_v",
    "policy_backup_q",
    "nstep_policy_backup_v",
    "nstep_policy_backup_q",
    "boltzmann_backup",
    "nstep_boltzmann_backup",
    "lambda_boltzmann_backup",
    "soft_value_iteration",
    "expected_nstep_return",
    "expected_nstep_soft_target",
    "Trajectory",
    "enumerate_trajectories",
    "state_distributions",
    "state_visitation",
    "finite_horizon_objective",
    "finite_horizon_estimator_surrogate",
    "policy_gradient_surrogate",
]


@dataclasses.dataclass(frozen=True, eq=False)
class FiniteMDP:
    """An entropy-regularised finite MDP (P, R, γ, τ, π̄).

    Attributes:
      transitions: P, shape ``[S, A, S]``; each ``transitions[s, a]`` a distribution.
      rewards: R, shape ``[S, A]``.
      gamma: γ ∈ [0, 1].
      tau: τ > 0.
      ref_policy: π̄, shape ``[S, A]``, rows distributions; ``None`` = uniform.
      terminal: bool ``[S]``; ``None`` = no terminal states.
    """

    transitions: torch.Tensor
    rewards: torch.Tensor
    gamma: float
    tau: float
    ref_policy: torch.Tensor | None = None
    terminal: torch.Tensor | None = None

    def __post_init__(self) -> None:
        rewards = check_float_tensor(self.rewards, "rewards")
        if rewards.dim() != 2 or min(rewards.shape) < 1:
            raise ValueError(f"rewards must have shape [S, A] with S, A >= 1, got {tuple(rewards.shape)}")
        S, A = rewards.shape
        check_distribution(self.transitions, "transitions")
        if self.transitions.shape != (S, A, S):
            raise ValueError(
                f"transitions must have shape [S, A, S] = {(S, A, S)} to match rewards {(S, A)}, "
                f"got {tuple(self.transitions.shape)}"
            )
        if self.transitions.dtype != rewards.dtype:
            raise ValueError(
                f"transitions has dtype {self.transitions.dtype} but rewards has {rewards.dtype}"
            )
        object.__setattr__(self, "gamma", check_gamma(self.gamma))
        object.__setattr__(self, "tau", check_tau(self.tau))
        if self.ref_policy is None:
            ref = torch.full((S, A), 1.0 / A, dtype=rewards.dtype)
        else:
            ref = check_distribution(self.ref_policy, "ref_policy", like=rewards, like_name="rewards")
            if ref.shape != (S, A):
                raise ValueError(f"ref_policy must have shape [S, A] = {(S, A)}, got {tuple(ref.shape)}")
        object.__setattr__(self, "_ref", ref)
        if self.terminal is None:
            terminal = torch.zeros(S, dtype=torch.bool)
        else:
            terminal = self.terminal
            if not isinstance(terminal, torch.Tensor) or terminal.dtype != torch.bool or terminal.shape != (S,):
                raise ValueError(
                    f"terminal must be a bool tensor of shape [S] = ({S},), got "
                    f"{getattr(terminal, 'dtype', type(terminal))} {tuple(getattr(terminal, 'shape', ()))}"
                )
        object.__setattr__(self, "_terminal", terminal)
        object.__setattr__(self, "_continuation", self.transitions * (~terminal).to(rewards.dtype))

    @property
    def num_states(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_actions(self) -> int:
        return self.rewards.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.rewards.dtype

    @property
    def ref_probs(self) -> torch.Tensor:
        """π̄ as an ``[S, A]`` tensor (uniform if ``ref_policy`` is None)."""
        return self._ref  # type: ignore[attr-defined]

    @property
    def terminal_mask(self) -> torch.Tensor:
        """bool ``[S]``: True at terminal states."""
        return self._terminal  # type: ignore[attr-defined]

    @property
    def continuation(self) -> torch.Tensor:
        """P(s'|s,a) restricted to non-terminal s' (``[S, A, S]``): the episode goes on."""
        return self._continuation  # type: ignore[attr-defined]

    def replace(self, **changes: object) -> "FiniteMDP":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _check_policy(mdp: FiniteMDP, policy: torch.Tensor, name: str = "policy") -> torch.Tensor:
    policy = check_distribution(policy, name, like=mdp.rewards, like_name="rewards")
    if policy.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"{name} must have shape [S, A] = {(mdp.num_states, mdp.num_actions)}, got {tuple(policy.shape)}"
        )
    return policy


def _check_state_vector(mdp: FiniteMDP, v: torch.Tensor, name: str) -> torch.Tensor:
    v = check_float_tensor(v, name)
    if v.shape != (mdp.num_states,):
        raise ValueError(f"{name} must have shape [S] = ({mdp.num_states},), got {tuple(v.shape)}")
    if v.dtype != mdp.dtype:
        raise ValueError(f"{name} has dtype {v.dtype} but the MDP has {mdp.dtype}")
    return v


def _check_action_values(mdp: FiniteMDP, q: torch.Tensor, name: str = "q") -> torch.Tensor:
    q = check_float_tensor(q, name)
    if q.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"{name} must have shape [S, A] = {(mdp.num_states, mdp.num_actions)}, got {tuple(q.shape)}"
        )
    if q.dtype != mdp.dtype:
        raise ValueError(f"{name} has dtype {q.dtype} but the MDP has {mdp.dtype}")
    return q


def _check_log_policy(mdp: FiniteMDP, log_policy: torch.Tensor, name: str = "log_policy") -> torch.Tensor:
    """log π ``[S, A]`` in the MDP's dtype: finite or −inf (probability 0), exp(log π) rows distributions.

    −inf is allowed (deterministic policies, π̄ with zeros); NaN and +inf are not.
    """
    if not isinstance(log_policy, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(log_policy).__name__}: {_short(log_policy)}")
    if not log_policy.dtype.is_floating_point:
        raise ValueError(f"{name} must have a floating-point dtype, got {log_policy.dtype}")
    if log_policy.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"{name} must have shape [S, A] = {(mdp.num_states, mdp.num_actions)}, got {tuple(log_policy.shape)}"
        )
    if log_policy.dtype != mdp.dtype:
        raise ValueError(f"{name} has dtype {log_policy.dtype} but the MDP has {mdp.dtype}")
    if validation_enabled():
        lp = log_policy.detach()
        bad = torch.isnan(lp) | (lp == float("inf"))
        if bool(bad.any()):
            raise ValueError(
                f"{name} must be finite or -inf (probability 0); found values such as "
                f"{lp[bad][:MAX_SHOWN_VALUES].tolist()}"
            )
        check_sums_to_one(lp.exp(), f"{name} must be normalised: exp({name})")
    return log_policy


def _off_support_zero(log_policy: torch.Tensor) -> torch.Tensor:
    """log π with its −inf entries (π = 0) replaced by 0, so that π · log π · x is 0 there, not NaN."""
    return torch.where(torch.isfinite(log_policy), log_policy, torch.zeros((), dtype=log_policy.dtype))


def _solve_well_posed(system: torch.Tensor, rhs: torch.Tensor, what: str, hint: str) -> torch.Tensor:
    """torch.linalg.solve(system, rhs) that raises ValueError instead of returning garbage.

    Singular systems raise; while validation is on, so do systems with condition number > 1e12
    (the solution would have fewer than ~4 correct digits in float64).
    """
    try:
        solution = torch.linalg.solve(system, rhs)
    except RuntimeError as err:  # torch raises on exactly singular systems
        raise ValueError(f"{what} is singular; {hint}") from err
    if validation_enabled():
        cond = torch.linalg.cond(system.detach())
        if not torch.isfinite(cond) or cond > 1e12:
            raise ValueError(f"{what} has condition number {float(cond):.3g}; {hint}")
    return solution


def _live(mdp: FiniteMDP, x: torch.Tensor) -> torch.Tensor:
    """Zero the entries (rows) that belong to terminal states."""
    mask = mdp.terminal_mask
    if x.dim() > 1:
        mask = mask.view(-1, *([1] * (x.dim() - 1)))
    return torch.where(mask, torch.zeros((), dtype=x.dtype, device=x.device), x)


def policy_kl(mdp: FiniteMDP, policy: torch.Tensor) -> torch.Tensor:
    """KL(s) = D_KL[π(·|s) ‖ π̄(·|s)] for every state, 0 at terminal states.  ``[S]``."""
    policy = _check_policy(mdp, policy)
    return _live(mdp, kl_divergence(torch.log(policy), mdp.ref_probs))


def policy_transition_matrix(mdp: FiniteMDP, policy: torch.Tensor) -> torch.Tensor:
    """P_π(s, s') = Σ_a π(a|s) P(s'|s,a), continuing (non-terminal) part only.  ``[S, S]``."""
    policy = _check_policy(mdp, policy)
    return _live(mdp, torch.einsum("sa,sat->st", policy, mdp.continuation))


def regularized_policy_reward(mdp: FiniteMDP, policy: torch.Tensor) -> torch.Tensor:
    """r_π(s) − τ KL(s) = Σ_a π(a|s) R(s,a) − τ KL(s), 0 at terminal states.  ``[S]``."""
    policy = _check_policy(mdp, policy)
    return _live(mdp, (policy * mdp.rewards).sum(-1)) - mdp.tau * policy_kl(mdp, policy)


def evaluate_policy(mdp: FiniteMDP, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy-regularised V_π and Q_π by a linear solve, Eqs. (24)-(26).

    V_π = (I − γ P_π)^{-1} (r_π − τ KL),  Q_π(s,a) = R(s,a) + γ Σ_{s'} P(s'|s,a) V_π(s').

    Returns:
      ``(V [S], Q [S, A])``, both 0 at terminal states.
    Raises:
      ValueError if I − γ P_π is singular (γ = 1 and π can avoid terminal states forever).
    """
    policy = _check_policy(mdp, policy)
    S = mdp.num_states
    system = torch.eye(S, dtype=mdp.dtype) - mdp.gamma * policy_transition_matrix(mdp, policy)
    rhs = regularized_policy_reward(mdp, policy)
    try:
        v = torch.linalg.solve(system, rhs)
    except RuntimeError as err:  # torch raises on exactly singular systems
        raise ValueError(
            f"policy evaluation is ill-posed: I - gamma*P_pi is singular (gamma={mdp.gamma}); with "
            "gamma = 1 every policy must reach a terminal state with probability 1"
        ) from err
    if validation_enabled():
        cond = torch.linalg.cond(system.detach())
        if not torch.isfinite(cond) or cond > 1e12:
            raise ValueError(
                f"policy evaluation is ill-posed: I - gamma*P_pi has condition number {float(cond):.3g} "
                f"(gamma={mdp.gamma}); with gamma = 1 every policy must terminate with probability 1"
            )
    v = _live(mdp, v)
    q = _live(mdp, mdp.rewards + mdp.gamma * mdp.continuation @ v)
    return v, q


def policy_backup_v(mdp: FiniteMDP, policy: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[T_π V](s) = E_{a∼π}[R(s,a)] − τ KL(s) + γ E[V(s')], Eq. (33) first line.  ``[S]``."""
    v = _check_state_vector(mdp, v, "v")
    return regularized_policy_reward(mdp, policy) + mdp.gamma * policy_transition_matrix(mdp, policy) @ v


def policy_backup_q(mdp: FiniteMDP, policy: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """[T_π Q](s,a) = R(s,a) + γ E_{s'}[E_{a'∼π} Q(s',a') − τ KL(s')], Eq. (33) second line.  ``[S, A]``."""
    q = _check_action_values(mdp, q)
    policy = _check_policy(mdp, policy)
    next_value = (policy * q).sum(-1) - mdp.tau * policy_kl(mdp, policy)
    return _live(mdp, mdp.rewards + mdp.gamma * mdp.continuation @ next_value)


def nstep_policy_backup_v(mdp: FiniteMDP, policy: torch.Tensor, v: torch.Tensor, n: int) -> torch.Tensor:
    """T_π^n V, Eqs. (34), (37): n applications of :func:`policy_backup_v`.  ``[S]``."""
    n = check_positive_int(n, "n")
    for _ in range(n):
        v = policy_backup_v(mdp, policy, v)
    return v


def nstep_policy_backup_q(mdp: FiniteMDP, policy: torch.Tensor, q: torch.Tensor, n: int) -> torch.Tensor:
    """T_π^n Q, Eq. (35): n applications of :func:`policy_backup_q`.  ``[S, A]``."""
    n = check_positive_int(n, "n")
    for _ in range(n):
        q = policy_backup_q(mdp, policy, q)
    return q


def _boltzmann(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    return boltzmann_policy(q, mdp.tau, mdp.ref_probs)


def boltzmann_backup(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """Soft Bellman backup [T Q](s,a) = R(s,a) + γ E_{s'}[V_Q(s')], Eqs. (38)-(39).

    V_Q(s') = τ log E_{a'∼π̄}[exp(Q(s',a')/τ)] = E_{a'∼π^B_Q}[Q(s',a')] − τ KL (Eq. (31)).
    A γ-contraction in the sup norm; its fixed point is Q*.  ``[S, A]``.
    """
    q = _check_action_values(mdp, q)
    v_next = _live(mdp, soft_value(q, mdp.tau, mdp.ref_probs))
    return _live(mdp, mdp.rewards + mdp.gamma * mdp.continuation @ v_next)


def nstep_boltzmann_backup(mdp: FiniteMDP, q: torch.Tensor, n: int) -> torch.Tensor:
    """T_{π^B_Q, n} Q = (T_{π^B_Q})^n Q with the policy frozen at π^B_Q, Eqs. (40)-(41).

    Not the same as n applications of :func:`boltzmann_backup` (T^n Q), which
    re-derives the policy at each step (the paper's note after (41)).  ``[S, A]``.
    """
    q = _check_action_values(mdp, q)
    return nstep_policy_backup_q(mdp, _boltzmann(mdp, q), q, n)


def lambda_boltzmann_backup(mdp: FiniteMDP, q: torch.Tensor, lam: float) -> torch.Tensor:
    """T_{π^B_Q, λ} Q = (1 − λ) Σ_{n≥1} λ^{n−1} T_{π^B_Q, n} Q, Eq. (42), in closed form.

    Computed as Eq. (43) in its corrected form,
    τ KL(s) + V_Q(s) + E[Σ_{t≥0} (γλ)^t δ_t | s_0 = s, a_0 = a], by one linear
    solve.  λ = 0 gives :func:`boltzmann_backup`.  ``[S, A]``.
    """
    q = _check_action_values(mdp, q)
    lam = check_unit_interval(lam, "lam")
    policy = _boltzmann(mdp, q)
    v = _live(mdp, soft_value(q, mdp.tau, mdp.ref_probs))
    kl = policy_kl(mdp, policy)
    # Expected TD error δ(s,a) = R − τ KL(s) + γ E[V(s')] − V(s)  (Eq. (36), V = V_Q).
    delta = _live(mdp, mdp.rewards - mdp.tau * kl[:, None] + mdp.gamma * mdp.continuation @ v - v[:, None])
    delta_pi = (policy * delta).sum(-1)
    S = mdp.num_states
    system = torch.eye(S, dtype=mdp.dtype) - mdp.gamma * lam * policy_transition_matrix(mdp, policy)
    future = _solve_well_posed(  # E[Σ_{t≥0} (γλ)^t δ_t | s_0 = s]
        system,
        delta_pi,
        f"the lambda backup is ill-posed: I - gamma*lam*P_pi (gamma={mdp.gamma}, lam={lam})",
        "with gamma*lam = 1 the Boltzmann policy must reach a terminal state with probability 1",
    )
    total = delta + mdp.gamma * lam * mdp.continuation @ future
    return _live(mdp, mdp.tau * kl[:, None] + v[:, None] + total)


def soft_value_iteration(
    mdp: FiniteMDP,
    *,
    q0: torch.Tensor | None = None,
    tol: float = 1e-12,
    max_iterations: int = 1_000_000,
) -> torch.Tensor:
    """Q* by iterating the Boltzmann backup (38)-(39) to a fixed point.

    Stops when the sup-norm change is ≤ ``tol`` · max(1, |Q|_∞).  With γ < 1
    the error after stopping is ≤ γ/(1−γ) times that change.

    Raises:
      ValueError if ``max_iterations`` pass without convergence.
    """
    q = torch.zeros_like(mdp.rewards) if q0 is None else _check_action_values(mdp, q0, "q0")
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    tol = check_nonnegative(tol, "tol")
    for _ in range(max_iterations):
        q_next = boltzmann_backup(mdp, q)
        change = float((q_next - q).abs().max())
        q = q_next
        if change <= tol * max(1.0, float(q.abs().max())):
            return q
    raise ValueError(
        f"soft value iteration did not converge in max_iterations={max_iterations} "
        f"(last sup-norm change {change:.3g}); gamma={mdp.gamma}"
    )


def expected_nstep_return(
    mdp: FiniteMDP,
    behaviour: torch.Tensor,
    values: torch.Tensor,
    n: int,
    kl: torch.Tensor | None = None,
) -> torch.Tensor:
    """E[Σ_{d<n} γ^d (r_{t+d} − τ KL_{t+d}) + γ^n V(s_{t+n}) | s_t = s, a_t = a].

    Actions after a_t follow ``behaviour``; ``kl`` (``[S]``) is the penalty
    charged at each visited state (``None`` = 0: the unregularised return of
    the naive estimator).  The sum stops at terminal states.  Backward dynamic
    programming: O(n · S² · A).  The expectation of
    :func:`equiv.targets.nstep_regularized_return`.  ``[S, A]``.
    """
    n = check_positive_int(n, "n")
    behaviour = _check_policy(mdp, behaviour, "behaviour")
    values = _check_state_vector(mdp, values, "values")
    kl = torch.zeros_like(values) if kl is None else _check_state_vector(mdp, kl, "kl")
    kl = _live(mdp, kl)
    step = _live(mdp, (behaviour * mdp.rewards).sum(-1)) - mdp.tau * kl  # per-state E over actions
    p_mu = policy_transition_matrix(mdp, behaviour)
    w = _live(mdp, values)
    for _ in range(n - 1):
        w = step + mdp.gamma * p_mu @ w
    first = mdp.rewards - mdp.tau * kl[:, None]
    return _live(mdp, first + mdp.gamma * mdp.continuation @ w)


def expected_nstep_soft_target(
    mdp: FiniteMDP, q_target: torch.Tensor, n: int, behaviour: torch.Tensor | None = None
) -> torch.Tensor:
    """E[y_t | s_t = s, a_t = a] for the n-step soft target (46) built from Q̄ = ``q_target``.

    KL terms are those of π^B_Q̄ and the bootstrap is V_Q̄; actions after a_t
    follow ``behaviour`` (default π^B_Q̄).  With the default this equals
    [T_{π^B_Q̄, n} Q̄](s,a) (Eqs. (40)-(41)); for n = 1 it equals [T Q̄](s,a)
    for any behaviour (§3.5).  ``[S, A]``.
    """
    q_target = _check_action_values(mdp, q_target, "q_target")
    policy = _boltzmann(mdp, q_target)
    if behaviour is None:
        behaviour = policy
    kl = policy_kl(mdp, policy)
    v = _live(mdp, soft_value(q_target, mdp.tau, mdp.ref_probs))
    ret = expected_nstep_return(mdp, behaviour, v, n, kl=kl)
    return _live(mdp, mdp.tau * kl[:, None] + ret)


class Trajectory(NamedTuple):
    """One n-step path from (s_0, a_0) with its probability (given s_0, a_0)."""

    probability: float
    states: tuple[int, ...]  # s_0 .. s_k (k ≤ n; shorter if a terminal state was reached)
    actions: tuple[int, ...]  # a_0 .. a_{k-1}
    terminated: bool  # s_k is terminal


def enumerate_trajectories(
    mdp: FiniteMDP, behaviour: torch.Tensor, state: int, action: int, n: int
) -> Iterator[Trajectory]:
    """Every path s_0 a_0 s_1 a_1 … s_n with positive probability, given s_0, a_0.

    Brute force, exponential in n: an independent cross-check of the dynamic
    programs on tiny MDPs, not a tool for large ones.
    """
    n = check_positive_int(n, "n")
    behaviour = _check_policy(mdp, behaviour, "behaviour")
    P = mdp.transitions.detach().tolist()
    mu = behaviour.detach().tolist()
    term = mdp.terminal_mask.tolist()
    S, A = mdp.num_states, mdp.num_actions

    def extend(prob: float, states: list[int], actions: list[int]) -> Iterator[Trajectory]:
        s, a = states[-1], actions[-1]
        for s_next in range(S):
            p = prob * P[s][a][s_next]
            if p == 0.0:
                continue
            new_states = states + [s_next]
            if term[s_next]:
                yield Trajectory(p, tuple(new_states), tuple(actions), True)
            elif len(actions) == n:
                yield Trajectory(p, tuple(new_states), tuple(actions), False)
            else:
                for a_next in range(A):
                    pa = p * mu[s_next][a_next]
                    if pa > 0.0:
                        yield from extend(pa, new_states, actions + [a_next])

    indices = []
    for name, index, size in (("state", state, S), ("action", action, A)):
        try:
            value = None if isinstance(index, bool) else operator.index(index)
        except TypeError:
            value = None
        if value is None or not 0 <= value < size:
            raise ValueError(f"{name} must be an integer in [0, {size}), got {index!r}")
        indices.append(value)
    yield from extend(1.0, [indices[0]], [indices[1]])


def _check_initial(mdp: FiniteMDP, initial: torch.Tensor) -> torch.Tensor:
    initial = check_distribution(initial, "initial")
    if initial.shape != (mdp.num_states,) or initial.dtype != mdp.dtype:
        raise ValueError(
            f"initial must be a {mdp.dtype} distribution of shape [S] = ({mdp.num_states},), got "
            f"{initial.dtype} {tuple(initial.shape)}"
        )
    return initial


def state_distributions(
    mdp: FiniteMDP, policy: torch.Tensor, initial: torch.Tensor, horizon: int
) -> torch.Tensor:
    """ρ_t(s) = P(s_t = s, episode not ended before t), t = 0..horizon−1.  ``[T, S]``.

    Mass that enters a terminal state is kept at t (the state is visited) and
    dropped afterwards.
    """
    horizon = check_positive_int(horizon, "horizon")
    initial = _check_initial(mdp, initial)
    policy = _check_policy(mdp, policy)
    p_pi = torch.einsum("sa,sat->st", policy, mdp.transitions)
    p_pi = _live(mdp, p_pi)
    rows = [initial]
    for _ in range(horizon - 1):
        rows.append(rows[-1] @ p_pi)
    return torch.stack(rows)


def state_visitation(
    mdp: FiniteMDP, policy: torch.Tensor, initial: torch.Tensor, discount: float = 1.0
) -> torch.Tensor:
    """Σ_t discount^t ρ_t(s) over non-terminal states, by a linear solve.  ``[S]``.

    With discount = 1 this is the expected number of visits in an episode
    (the E_t weighting of Eq. (49)); it needs termination with probability 1.
    """
    discount = check_gamma(discount, "discount")
    initial = _check_initial(mdp, initial)
    p_pi = policy_transition_matrix(mdp, policy)
    system = torch.eye(mdp.num_states, dtype=mdp.dtype) - discount * p_pi
    visits = _solve_well_posed(
        system.T,
        _live(mdp, initial),
        f"state visitation is ill-posed: I - discount*P_pi (discount={discount})",
        "with discount = 1 the policy must reach a terminal state with probability 1",
    )
    return _live(mdp, visits)


def _finite_horizon_q(
    mdp: FiniteMDP, policy: torch.Tensor, horizon: int, regularized: bool
) -> list[torch.Tensor]:
    """Q_k(s,a) for k = 1..horizon steps to go (index k−1), Eq. (25) truncated."""
    kl = policy_kl(mdp, policy) if regularized else torch.zeros(mdp.num_states, dtype=mdp.dtype)
    v = torch.zeros(mdp.num_states, dtype=mdp.dtype)
    qs = []
    for _ in range(horizon):
        q = _live(mdp, mdp.rewards + mdp.gamma * mdp.continuation @ v)
        qs.append(q)
        v = _live(mdp, (policy * q).sum(-1) - mdp.tau * kl)
    return qs


def finite_horizon_objective(
    mdp: FiniteMDP, policy: torch.Tensor, initial: torch.Tensor, horizon: int
) -> torch.Tensor:
    """J(π) = E[Σ_{t<T} γ^t (r_t − τ KL_t)], s_0 ∼ ``initial``: the objective of Eq. (51).

    The paper's (51) takes γ = 1; with γ < 1 this is the discounted version.
    Differentiable in ``policy``.  Scalar.
    """
    horizon = check_positive_int(horizon, "horizon")
    initial = _check_initial(mdp, initial)
    policy = _check_policy(mdp, policy)
    qs = _finite_horizon_q(mdp, policy, horizon, regularized=True)
    v = _live(mdp, (policy * qs[-1]).sum(-1) - mdp.tau * policy_kl(mdp, policy))
    return initial @ v


def finite_horizon_estimator_surrogate(
    mdp: FiniteMDP,
    log_policy: torch.Tensor,
    initial: torch.Tensor,
    horizon: int,
    estimator: str = "proper",
) -> torch.Tensor:
    """A scalar whose gradient is the exact expectation of a policy-gradient estimator.

    Over episodes of ``horizon`` steps from s_0 ∼ ``initial`` with a_t ∼ π:

    * ``"proper"`` (Eq. (49), with r_t in place of the printed r_0):
      Σ_t ∇log π(a_t|s_t) (r_t + Σ_{d≥1} γ^d (r_{t+d} − τ KL_{t+d})) − τ ∇KL(s_t)
    * ``"naive"`` (Eq. (48)): Σ_t ∇log π(a_t|s_t) Σ_{d≥0} γ^d r_{t+d} − τ ∇KL(s_t)

    Built by dynamic programming with the state distributions and returns
    detached, so autograd through ``log_policy`` (``[S, A]``) yields the
    expectation exactly.  With γ = 1, the proper one equals ∇J (Eq. (51)).
    """
    if estimator not in ("proper", "naive"):
        raise ValueError(f"estimator must be 'proper' or 'naive', got {estimator!r}")
    horizon = check_positive_int(horizon, "horizon")
    log_policy = _check_log_policy(mdp, log_policy)
    policy = log_policy.exp()
    pd = policy.detach()
    qs = _finite_horizon_q(mdp, pd, horizon, regularized=(estimator == "proper"))
    rho = state_distributions(mdp, pd, initial, horizon)
    # KL from log π, not log(exp(log π)): exp may underflow to 0 and log 0 back-propagates NaN.
    kl = _live(mdp, kl_divergence(log_policy, mdp.ref_probs))
    total = torch.zeros((), dtype=mdp.dtype)
    live = (~mdp.terminal_mask).to(mdp.dtype)
    for t in range(horizon):
        q_to_go = qs[horizon - 1 - t]
        score = (pd * _off_support_zero(log_policy) * q_to_go).sum(-1)  # gradient: Σ_a π ∇log π Q
        total = total + (rho[t] * live) @ (score - mdp.tau * kl)
    return total


def policy_gradient_surrogate(
    mdp: FiniteMDP, log_policy: torch.Tensor, state_weights: torch.Tensor
) -> torch.Tensor:
    """A scalar whose gradient is g_γ(π) weighted by ``state_weights``, Eqs. (49)-(50):

        Σ_s w(s) [ Σ_a π(a|s) ∇log π(a|s) (Q_π(s,a) − V_π(s)) − τ ∇KL(s) ]

    with Q_π, V_π the exact entropy-regularised values of the current policy
    (detached).  With w = the visitation of :func:`state_visitation` this is
    the expectation of Eq. (49); the paper's "π* is the fixed point of g_γ"
    holds for every w.
    """
    log_policy = _check_log_policy(mdp, log_policy)
    w = _check_state_vector(mdp, state_weights, "state_weights")
    policy = log_policy.exp()
    pd = policy.detach()
    v, q = evaluate_policy(mdp, pd)
    advantage = q - v[:, None]
    # KL from log π, not log(exp(log π)): exp may underflow to 0 and log 0 back-propagates NaN.
    kl = _live(mdp, kl_divergence(log_policy, mdp.ref_probs))
    live = (~mdp.terminal_mask).to(mdp.dtype)
    per_state = (pd * _off_support_zero(log_policy) * advantage).sum(-1) - mdp.tau * kl
    return (w * live) @ per_state


def boltzmann_policy_of(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """π^B_Q for the MDP's τ and π̄ (Eq. (28)).  ``[S, A]``."""
    return _boltzmann(mdp, _check_action_values(mdp, q))


def boltzmann_log_policy_of(mdp: FiniteMDP, q: torch.Tensor) -> torch.Tensor:
    """log π^B_Q for the MDP's τ and π̄ (Eq. (30)).  ``[S, A]``."""
    return boltzmann_log_policy(_check_action_values(mdp, q), mdp.tau, mdp.ref_probs)


__all__ += ["boltzmann_policy_of", "boltzmann_log_policy_of"]
