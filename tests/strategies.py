"""Hypothesis strategies for the objects of the paper: bandits, finite MDPs, Q parameterisations.

Structure (sizes, flags, τ, γ, n) is drawn by hypothesis so that it shrinks to
small, readable counterexamples; array contents come from a numpy generator
seeded by a drawn integer (fast to generate, fully reproducible from the
printed example).  Everything is float64.

Generated objects are *generic*: continuous random draws, so exact
coincidences (which would make a negative control pass by accident) have
probability zero.  Edge cases are drawn on purpose: reference policies near
the simplex boundary, sparse and near-deterministic transitions, terminal
states, γ = 0 and γ = 1 (with guaranteed termination).
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

from equiv import boltzmann_log_policy, dueling_q, soft_value
from equiv.mdp import FiniteMDP

DTYPE = torch.float64


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats spread evenly in log scale over [low, high]."""
    return st.floats(math.log(low), math.log(high)).map(math.exp)


taus = log_uniform(1e-2, 1e2)
"""Temperatures for exact identities (stability at 1e-4..1e4 is tested separately)."""

gammas = st.one_of(st.just(0.0), st.floats(0.0, 0.99), st.just(0.99))
seeds = st.integers(0, 2**32 - 1)


def _reference(rng: np.random.Generator, shape: tuple[int, ...], near_boundary: bool) -> np.ndarray:
    """A reference policy; near the boundary some actions get probability ~1e-6..1e-12."""
    if near_boundary:
        p = rng.dirichlet(np.full(shape[-1], 0.3), size=shape[:-1])
        tiny = rng.random(shape) < 0.3
        p = np.where(tiny, 10.0 ** rng.uniform(-12, -6, size=shape), p)
    else:
        p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    p = np.maximum(p, 1e-300)
    return p / p.sum(-1, keepdims=True)


def exact_reference(p: torch.Tensor) -> torch.Tensor:
    """Renormalise in float64 so sums are 1 to rounding (test-side construction only)."""
    return p / p.sum(-1, keepdim=True)


@dataclasses.dataclass
class Bandit:
    """Entropy-regularised bandit of §2: mean rewards r̄(a), π̄, τ, and a Q parameter."""

    reward_means: torch.Tensor  # [A]
    ref_policy: torch.Tensor  # [A]
    tau: float
    q_init: torch.Tensor  # [A], starting q_θ (θ = q, tabular)

    @property
    def num_actions(self) -> int:
        return self.reward_means.shape[0]


@st.composite
def bandits(draw: st.DrawFn, min_actions: int = 2, max_actions: int = 8, tau=taus) -> Bandit:
    A = draw(st.integers(min_actions, max_actions))
    seed = draw(seeds)
    near_boundary = draw(st.booleans())
    reward_scale = draw(log_uniform(1e-1, 1e1))
    t = draw(tau)
    rng = np.random.default_rng(seed)
    ref = exact_reference(_t(_reference(rng, (A,), near_boundary)))
    return Bandit(
        reward_means=_t(rng.normal(0, reward_scale, A)),
        ref_policy=ref,
        tau=t,
        q_init=_t(rng.normal(0, reward_scale, A)),
    )


@st.composite
def finite_mdps(
    draw: st.DrawFn,
    min_states: int = 1,
    max_states: int = 6,
    min_actions: int = 2,
    max_actions: int = 4,
    gamma=gammas,
    tau=taus,
    allow_terminal: bool = True,
    require_termination: bool = False,
) -> FiniteMDP:
    """A random entropy-regularised MDP.

    Transition rows are dense, sparse (1-2 successors) or near-deterministic.
    With ``require_termination`` (or when γ = 1 is drawn), the last state is
    terminal and every (s, a) reaches it with probability ≥ 0.05 per step, so
    that every policy terminates and undiscounted values are finite.
    """
    S = draw(st.integers(min_states, max_states))
    A = draw(st.integers(min_actions, max_actions))
    seed = draw(seeds)
    style = draw(st.sampled_from(["dense", "sparse", "near_deterministic"]))
    near_boundary = draw(st.booleans())
    g = draw(gamma)
    t = draw(tau)
    terminal_wanted = require_termination or (allow_terminal and S >= 2 and draw(st.booleans()))
    if g == 1.0:
        terminal_wanted = True
    rng = np.random.default_rng(seed)
    n_states = S + 1 if terminal_wanted and S < 2 else S
    P = np.zeros((n_states, A, n_states))
    for s in range(n_states):
        for a in range(A):
            if style == "dense":
                P[s, a] = rng.dirichlet(np.ones(n_states))
            elif style == "sparse":
                k = min(n_states, int(rng.integers(1, 3)))
                idx = rng.choice(n_states, size=k, replace=False)
                P[s, a, idx] = rng.dirichlet(np.ones(k))
            else:
                P[s, a] = rng.dirichlet(np.full(n_states, 0.05))
                P[s, a] = np.maximum(P[s, a], 0.0)
    terminal = np.zeros(n_states, dtype=bool)
    if terminal_wanted:
        terminal[-1] = True
        if require_termination or g == 1.0:
            P = 0.95 * P
            P[:, :, -1] += 0.05
    P = P / P.sum(-1, keepdims=True)
    R = rng.normal(0, draw(log_uniform(1e-1, 1e1)), (n_states, A))
    ref = exact_reference(_t(_reference(rng, (n_states, A), near_boundary)))
    return FiniteMDP(
        transitions=exact_reference(_t(P)),
        rewards=_t(R),
        gamma=g,
        tau=t,
        ref_policy=ref,
        terminal=torch.from_numpy(terminal),
    )


def state_weights(mdp: FiniteMDP, seed: int) -> torch.Tensor:
    """Arbitrary positive weights over states (a state distribution for E_{s_t})."""
    rng = np.random.default_rng(seed)
    w = rng.random(mdp.num_states) + 0.05
    return _t(w / w.sum())


class QParameterization:
    """θ ↦ Q_θ ``[S, A]``: tabular, linear in random features, or a small MLP."""

    def __init__(self, kind: str, num_states: int, num_actions: int, seed: int, scale: float = 1.0):
        self.kind = kind
        gen = torch.Generator().manual_seed(seed)
        S, A = num_states, num_actions
        if kind == "tabular":
            self.params = [(scale * torch.randn(S, A, generator=gen, dtype=DTYPE)).requires_grad_()]
        elif kind == "linear":
            F = 3
            self.features = torch.randn(S, A, F, generator=gen, dtype=DTYPE)
            self.params = [(scale * torch.randn(F, generator=gen, dtype=DTYPE)).requires_grad_()]
        elif kind == "mlp":
            H = 8
            self.inputs = torch.randn(S, 4, generator=gen, dtype=DTYPE)
            self.params = [
                (torch.randn(4, H, generator=gen, dtype=DTYPE) / 2).requires_grad_(),
                (torch.randn(H, generator=gen, dtype=DTYPE) / 2).requires_grad_(),
                (scale * torch.randn(H, A, generator=gen, dtype=DTYPE) / math.sqrt(H)).requires_grad_(),
                (scale * torch.randn(A, generator=gen, dtype=DTYPE)).requires_grad_(),
            ]
        else:
            raise ValueError(f"unknown parameterization kind {kind!r}")

    def q(self) -> torch.Tensor:
        if self.kind == "tabular":
            return self.params[0]
        if self.kind == "linear":
            return self.features @ self.params[0]
        w1, b1, w2, b2 = self.params
        return torch.tanh(self.inputs @ w1 + b1) @ w2 + b2

    def grad(self, loss: torch.Tensor) -> torch.Tensor:
        """Flattened gradient of ``loss`` w.r.t. all parameters."""
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        return torch.cat(
            [torch.zeros_like(p).flatten() if g is None else g.flatten() for p, g in zip(self.params, grads)]
        )

    def __repr__(self) -> str:
        return f"QParameterization({self.kind!r}, n_params={sum(p.numel() for p in self.params)})"


class DuelingParameterization:
    """θ ↦ (V_θ [S], log π_θ [S, A]) with Q_θ = V_θ + τ log(π_θ/π̄) (Eq. (57), §6.3)."""

    def __init__(self, num_states: int, num_actions: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        H = 6
        self.inputs = torch.randn(num_states, 3, generator=gen, dtype=DTYPE)
        self.params = [
            (torch.randn(3, H, generator=gen, dtype=DTYPE) / 2).requires_grad_(),  # shared trunk
            (torch.randn(H, generator=gen, dtype=DTYPE) / 2).requires_grad_(),  # value head
            (torch.randn(H, num_actions, generator=gen, dtype=DTYPE) / 2).requires_grad_(),  # policy head
        ]

    def heads(self) -> tuple[torch.Tensor, torch.Tensor]:
        w, v_head, pi_head = self.params
        h = torch.tanh(self.inputs @ w)
        return h @ v_head, torch.log_softmax(h @ pi_head, dim=-1)

    def q(self, tau: float, ref_policy: torch.Tensor) -> torch.Tensor:
        v, log_pi = self.heads()
        return dueling_q(v, log_pi, tau, ref_policy)

    def grad(self, loss: torch.Tensor) -> torch.Tensor:
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        return torch.cat(
            [torch.zeros_like(p).flatten() if g is None else g.flatten() for p, g in zip(self.params, grads)]
        )


parameterization_kinds = st.sampled_from(["tabular", "linear", "mlp"])


def policy_and_value(q: torch.Tensor, mdp: FiniteMDP) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π^B_Q, V_Q) for the MDP's τ and π̄, Eqs. (55)-(56)."""
    return boltzmann_log_policy(q, mdp.tau, mdp.ref_probs), soft_value(q, mdp.tau, mdp.ref_probs)


def assert_close(
    actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str, scale: float | None = None
) -> float:
    """Assert |actual − expected|_∞ ≤ rtol · scale and return the relative error.

    ``scale`` defaults to max(|actual|_∞, |expected|_∞).  Pass the magnitude of
    the terms that were summed when the quantity itself may cancel to ~0 (then
    rounding noise is measured against the size of what produced it).
    """
    if scale is None:
        scale = max(float(expected.abs().max()), float(actual.abs().max()))
    scale = max(scale, 1e-300)
    err = float((actual - expected).abs().max()) / scale
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:.1e} (scale {scale:.3e})"
    return err


def relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a − b|_∞ / max(|a|_∞, |b|_∞, tiny): how different two things are, for negative controls."""
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-300)
    return float((a - b).abs().max()) / scale


# --- Operators and targets (tests/test_operators.py, tests/test_targets.py, ...) ---------------------------



def raises_matching(call, pattern: str) -> str:
    """``call()`` raises ValueError whose message matches the regex ``pattern`` from its start
    (messages begin with the argument's name); returns the message."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert re.match(pattern, message), f"{pattern!r} does not match {message!r}"
    return message


def small_terminal_mdp(
    dtype: torch.dtype = torch.float64, gamma: float = 0.9, tau: float = 0.7, scale: float = 1.0
) -> FiniteMDP:
    """A fixed generic 3-state, 2-action MDP whose last state is terminal (seeded continuous draws,
    made in float64 and cast to ``dtype``)."""
    gen = torch.Generator().manual_seed(7)
    transitions = torch.rand(3, 2, 3, generator=gen, dtype=torch.float64) + 0.1
    transitions = transitions / transitions.sum(-1, keepdim=True)
    rewards = scale * torch.randn(3, 2, generator=gen, dtype=torch.float64)
    return FiniteMDP(
        transitions.to(dtype), rewards.to(dtype), gamma, tau, terminal=torch.tensor([False, False, True])
    )

def soft_policy_iteration(mdp: FiniteMDP, max_iterations: int = 500) -> torch.Tensor:
    """Q* by soft policy iteration: π ← π^B_{Q_π}, each Q_π from an exact linear solve.

    An independent route to the fixed point of the Boltzmann backup (38)-(39):
    it never applies that backup, and it converges (quadratically, once close)
    in a few iterations where value iteration needs ~log(1e-12)/log(γ).  Stops
    when Q changes by ≤ 1e-13 relative: the next change is then at the level
    of the rounding of the linear solve (cond(I − γP_π) · eps ≤ 100 · 2.2e-16
    for γ ≤ 0.99), so Q is Q* to about 1e-13 relative.  Near-deterministic
    transitions with γ = 0.99 and a large τ can leave it cycling at that
    rounding floor a little above 1e-13 (measured: a 2-cycle of amplitude
    2.3e-13 relative): once a step no longer shrinks the change and the change
    is ≤ 1e-11 relative, Q is at the floor and is returned — still 10× inside
    the 1e-10 relative tolerance of the tests that compare two such solutions.
    """
    from equiv import validation
    from equiv.mdp import evaluate_policy

    policy = mdp.ref_probs
    q_old, last_change = None, float("inf")
    with validation(False):  # inputs are valid by construction; skip the per-call data checks (speed)
        for _ in range(max_iterations):
            _, q = evaluate_policy(mdp, policy)
            if q_old is not None:
                change, size = float((q - q_old).abs().max()), max(1.0, float(q.abs().max()))
                if change <= 1e-13 * size or (change >= last_change and change <= 1e-11 * size):
                    return q
                last_change = change
            policy = boltzmann_log_policy(q, mdp.tau, mdp.ref_probs).exp()
            q_old = q
    raise AssertionError(f"soft policy iteration did not converge in {max_iterations} iterations")


def random_policy(rng: np.random.Generator, num_states: int, num_actions: int) -> torch.Tensor:
    """A full-support random policy ``[S, A]`` (Dirichlet(1) rows, renormalised in float64)."""
    return exact_reference(_t(rng.dirichlet(np.ones(num_actions), size=num_states)))


@dataclasses.dataclass
class Segment:
    """A time-major rollout segment ``[T, *batch]`` for the target functions of equiv.targets."""

    rewards: torch.Tensor
    kl: torch.Tensor  # KL_t >= 0
    values: torch.Tensor  # V(s_t)
    next_values: torch.Tensor  # V(s_{t+1}); the final observation's value at a truncation
    terminated: torch.Tensor
    truncated: torch.Tensor
    gamma: float
    tau: float
    n: int | None

    @property
    def length(self) -> int:
        return self.rewards.shape[0]


@st.composite
def segments(
    draw: st.DrawFn,
    max_length: int = 8,
    batch_shapes=st.sampled_from([(), (3,), (2, 2)]),
    consistent: bool = False,
    gamma=gammas,
    tau=taus,
) -> Segment:
    """Random segments with terminations and truncations anywhere (both flags may be set at once).

    With ``consistent`` the values agree along each episode: next_values[t] = values[t+1]
    unless the episode ends at t (then next_values[t] is the value of the final
    observation, which is not values[t+1], the first state of the next episode).
    This is what makes the telescoping identity (47) hold.
    """
    T = draw(st.integers(1, max_length))
    batch = draw(batch_shapes)
    seed = draw(seeds)
    p_terminated = draw(st.sampled_from([0.0, 0.2, 0.5]))
    p_truncated = draw(st.sampled_from([0.0, 0.2, 0.5]))
    n = draw(st.one_of(st.none(), st.integers(1, max_length + 2)))
    rng = np.random.default_rng(seed)
    shape = (T, *batch)
    scale = draw(log_uniform(1e-1, 1e1))
    values = rng.normal(0, scale, shape)
    next_values = rng.normal(0, scale, shape)
    terminated = rng.random(shape) < p_terminated
    truncated = rng.random(shape) < p_truncated
    if consistent:
        continuing = ~(terminated | truncated)
        next_values[:-1] = np.where(continuing[:-1], values[1:], next_values[:-1])
    return Segment(
        rewards=_t(rng.normal(0, scale, shape)),
        kl=_t(rng.exponential(0.5, shape)),
        values=_t(values),
        next_values=_t(next_values),
        terminated=torch.from_numpy(terminated),
        truncated=torch.from_numpy(truncated),
        gamma=draw(gamma),
        tau=draw(tau),
        n=n,
    )


# --- Exact expectations by brute force (tests/test_*_equivalence.py, test_target_unbiasedness.py, ...) -----


def profile_examples(fraction: float, minimum: int = 5) -> int:
    """``max_examples`` for an expensive property: ``fraction`` of the active profile's count.

    Scaling (instead of a fixed number) keeps the ``thorough`` profile thorough.
    """
    from hypothesis import settings

    return max(minimum, int(settings.default.max_examples * fraction))


@dataclasses.dataclass
class EnumeratedPaths:
    """Every n-step path from every non-terminal (s_0, a_0), batched time-major (``B`` paths).

    A path that reaches a terminal state after k < n steps is padded with that
    state, action 0 and ``terminated`` = True; the target functions of
    :mod:`equiv.targets` sum nothing after a termination, so padding is inert.
    """

    states: torch.Tensor  # [n + 1, B] int64: s_0 .. s_n
    actions: torch.Tensor  # [n, B] int64: a_0 .. a_{n-1}
    terminated: torch.Tensor  # [n, B] bool: s_{t+1} is terminal (or the path ended before)
    probability: torch.Tensor  # [B]: P(path | s_0, a_0)
    start: torch.Tensor  # [B] int64: flat index s_0 · A + a_0

    def segment(self, mdp: FiniteMDP, kl: torch.Tensor, values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Time-major ``[n, B]`` rewards R(s_t,a_t), KL(s_t), V(s_t), V(s_{t+1}) and flags."""
        s, s_next = self.states[:-1], self.states[1:]
        return dict(
            rewards=mdp.rewards[s, self.actions],
            kl=kl[s],
            values=values[s],
            next_values=values[s_next],
            terminated=self.terminated,
        )

    def expectation(self, mdp: FiniteMDP, per_path: torch.Tensor) -> torch.Tensor:
        """E[x | s_0, a_0] = Σ_paths P(path) x(path), ``[S, A]`` (0 at terminal s_0)."""
        flat = torch.zeros(mdp.num_states * mdp.num_actions, dtype=per_path.dtype)
        flat = flat.index_add(0, self.start, self.probability * per_path)
        return flat.view(mdp.num_states, mdp.num_actions)


def enumerate_all_paths(mdp: FiniteMDP, behaviour: torch.Tensor, n: int) -> EnumeratedPaths:
    """All paths of :func:`equiv.mdp.enumerate_trajectories` for every non-terminal (s_0, a_0)."""
    from equiv.mdp import enumerate_trajectories

    states, actions, terminated, probability, start = [], [], [], [], []
    for s in range(mdp.num_states):
        if bool(mdp.terminal_mask[s]):
            continue
        for a in range(mdp.num_actions):
            for path in enumerate_trajectories(mdp, behaviour, s, a, n):
                k = len(path.actions)
                states.append(list(path.states) + [path.states[-1]] * (n - k))
                actions.append(list(path.actions) + [0] * (n - k))
                terminated.append([False] * (k - 1) + [path.terminated] + [True] * (n - k))
                probability.append(path.probability)
                start.append(s * mdp.num_actions + a)
    return EnumeratedPaths(
        states=torch.tensor(states, dtype=torch.int64).T.contiguous(),
        actions=torch.tensor(actions, dtype=torch.int64).T.contiguous(),
        terminated=torch.tensor(terminated, dtype=torch.bool).T.contiguous(),
        probability=torch.tensor(probability, dtype=DTYPE),
        start=torch.tensor(start, dtype=torch.int64),
    )


@dataclasses.dataclass
class SampledSegment:
    """A sampled rollout of T steps in a FiniteMDP (time-major ``[T]``), reset after termination."""

    states: torch.Tensor  # [T] int64 s_t
    actions: torch.Tensor  # [T] int64 a_t
    next_states: torch.Tensor  # [T] int64 s_{t+1} (the terminal state itself when terminated)
    terminated: torch.Tensor  # [T] bool


def sample_segment(
    mdp: FiniteMDP, policy: torch.Tensor, length: int, generator: torch.Generator
) -> SampledSegment:
    """Roll out ``policy`` for ``length`` steps; start (and restart after termination) uniformly
    over non-terminal states.  Deterministic given the generator's seed."""
    live = (~mdp.terminal_mask).to(DTYPE)
    start = live / live.sum()
    states, actions, next_states, terminated = [], [], [], []
    s = int(torch.multinomial(start, 1, generator=generator))
    for _ in range(length):
        a = int(torch.multinomial(policy[s].detach(), 1, generator=generator))
        s_next = int(torch.multinomial(mdp.transitions[s, a], 1, generator=generator))
        done = bool(mdp.terminal_mask[s_next])
        states.append(s)
        actions.append(a)
        next_states.append(s_next)
        terminated.append(done)
        s = int(torch.multinomial(start, 1, generator=generator)) if done else s_next
    return SampledSegment(
        torch.tensor(states, dtype=torch.int64),
        torch.tensor(actions, dtype=torch.int64),
        torch.tensor(next_states, dtype=torch.int64),
        torch.tensor(terminated, dtype=torch.bool),
    )


def flat_grad(model: "QParameterization | DuelingParameterization", loss: torch.Tensor) -> torch.Tensor:
    """Flattened gradient of ``loss`` w.r.t. ``model.params``, keeping the graph for further gradients."""
    grads = torch.autograd.grad(loss, model.params, retain_graph=True, allow_unused=True)
    return torch.cat(
        [torch.zeros_like(p).flatten() if g is None else g.flatten() for p, g in zip(model.params, grads)]
    )


@st.composite
def generic_mdps(
    draw: st.DrawFn,
    min_states: int = 4,
    max_states: int = 5,
    min_actions: int = 3,
    max_actions: int = 4,
    gamma=gammas,
    tau=taus,
    terminal=st.booleans(),
) -> FiniteMDP:
    """MDPs on which quantities that vanish only in degenerate cases are O(1): for negative controls.

    ≥ 3 non-terminal states and ≥ 3 actions by default: a bias is then a vector with many
    independent components, all of which would have to be small at once (with 1-2 live states
    and 2 actions, relative gaps down to ~1e-5 turned up in 1000 random draws).

    Dense transitions (every row Dirichlet(0.5): all entries positive, so every action changes the
    distribution of the future, but peaked, so that it does so for several steps), π̄ ∼ Dirichlet(1)
    per state (full support, away from the simplex boundary), rewards of scale 1.  With a terminal
    state (always when γ = 1) every (s, a) reaches it with a probability ∈ [0.05, 0.3] per step that
    depends on (s, a).  Use with Q_θ of scale τ (``QParameterization(..., scale=mdp.tau)``) so that
    the Boltzmann policy is far from deterministic and from π̄.
    """
    S = draw(st.integers(min_states, max_states))
    A = draw(st.integers(min_actions, max_actions))
    g = draw(gamma)
    t = draw(tau)
    has_terminal = draw(terminal) or g == 1.0
    rng = np.random.default_rng(draw(seeds))
    # Dirichlet(0.5) rows: dense, but peaked enough that actions shape the future for several steps.
    P = rng.dirichlet(np.full(S, 0.5), size=(S, A))
    is_terminal = np.zeros(S, dtype=bool)
    if has_terminal:
        # Termination probability ∈ [0.05, 0.3] depending on (s, a): actions change how long episodes last.
        is_terminal[-1] = True
        stop = rng.uniform(0.05, 0.3, size=(S, A))
        P = (1 - stop)[:, :, None] * P
        P[:, :, -1] += stop
    return FiniteMDP(
        transitions=exact_reference(_t(P)),
        rewards=_t(rng.normal(0, 1, (S, A))),
        gamma=g,
        tau=t,
        ref_policy=exact_reference(_t(rng.dirichlet(np.ones(A), size=S))),
        terminal=torch.from_numpy(is_terminal),
    )


# --- The edges: every regime the functions accept (tests/test_edges_*.py) ----------------------------------
#
# The strategies above draw what the identities need (Boltzmann policies, moderate τ, π̄ away from 0).
# These draw what the functions *accept*: τ across 1e-4..1e2, |R| and |Q| up to 1e4, π̄ with tiny or zero
# entries, non-Boltzmann and deterministic policies, γ = 0 and γ = 1 (with termination), absorbing
# non-terminal states, a single action, float32.  They are new names: the examples of the strategies
# above (and so the derandomized ci examples) are unchanged.

edge_taus = st.one_of(st.sampled_from([1e-4, 1e2]), log_uniform(1e-4, 1e2))
"""τ across 1e-4..1e2, with both ends drawn on purpose."""

edge_scales = st.one_of(st.just(1e4), log_uniform(1e-2, 1e4))
"""Magnitudes of rewards and action values, up to 1e4 (drawn exactly at 1e4 on purpose)."""

edge_gammas = st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0])
REFERENCE_KINDS = ("uniform", "dirichlet", "tiny", "zeros")


def edge_reference(rng: np.random.Generator, S: int, A: int, kind: str) -> torch.Tensor | None:
    """π̄ ``[S, A]`` of the given kind (``None`` = uniform); "tiny" puts 1e-300..1e-12 on some actions,
    "zeros" puts exactly 0 on some (never on every action of a state)."""
    if kind == "uniform":
        return None
    p = rng.dirichlet(np.ones(A), size=S)
    if kind in ("tiny", "zeros") and A > 1:
        mask = rng.random((S, A)) < 0.5
        mask[np.arange(S), rng.integers(0, A, S)] = False  # keep one action of every state
        p = np.where(mask, 0.0 if kind == "zeros" else 10.0 ** rng.uniform(-300, -12, (S, A)), p)
    return exact_reference(_t(p))


@st.composite
def edge_mdps(
    draw: st.DrawFn,
    max_states: int = 3,
    max_actions: int = 3,
    gamma=edge_gammas,
    tau=edge_taus,
    reward_scale=edge_scales,
    references=st.sampled_from(REFERENCE_KINDS),
    dtypes=st.just(torch.float64),
) -> FiniteMDP:
    """Small MDPs at the edges: 1..``max_actions`` actions (A = 1 included), τ, |R| and π̄ across their
    whole accepted range, γ ∈ {0, 0.5, 0.9, 0.99, 1}.

    Dynamics are one of: no terminal state (only with γ < 1), a terminal last state, or an absorbing
    non-terminal state (P(s|s, ·) = 1, only with γ < 1, where its value is finite but not 0).  With
    γ = 1 the last state is terminal and every (s, a) enters it with probability ≥ 0.05 per step.
    """
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(1, max_actions))
    g = draw(gamma)
    t = draw(tau)
    scale = draw(reward_scale)
    kind = draw(references)
    dtype = draw(dtypes)
    dynamics = "terminal" if g == 1.0 else draw(st.sampled_from(["none", "terminal", "absorbing"]))
    rng = np.random.default_rng(draw(seeds))
    n = S + 1 if dynamics != "none" and S < 2 else S
    P = rng.dirichlet(np.full(n, 0.5), size=(n, A))
    terminal = np.zeros(n, dtype=bool)
    if dynamics == "terminal":
        terminal[-1] = True
        if g == 1.0:
            stop = rng.uniform(0.05, 0.5, size=(n, A))
            P = (1 - stop)[:, :, None] * P
            P[:, :, -1] += stop
    elif dynamics == "absorbing":
        P[-1] = 0.0
        P[-1, :, -1] = 1.0
    P = P / P.sum(-1, keepdims=True)
    ref = edge_reference(rng, n, A, kind)
    return FiniteMDP(
        transitions=exact_reference(_t(P).to(dtype)),
        rewards=_t(rng.uniform(-scale, scale, (n, A))).to(dtype),
        gamma=g,
        tau=t,
        ref_policy=None if ref is None else exact_reference(ref.to(dtype)),
        terminal=torch.from_numpy(terminal),
    )


POLICY_KINDS = ("boltzmann", "dirichlet", "one_hot", "sparse")


def edge_policy(mdp: FiniteMDP, rng: np.random.Generator, kind: str, q: torch.Tensor | None = None) -> torch.Tensor:
    """A policy ``[S, A]`` whose support lies inside π̄'s (so that its KL is finite):

    * "boltzmann": π^B_q (``q`` required);
    * "dirichlet": a random full-support (on π̄'s support) policy that is not Boltzmann for any Q
      one would draw;
    * "one_hot": deterministic, a random supported action in every state;
    * "sparse": random, with exact zeros on some supported actions.
    """
    S, A = mdp.num_states, mdp.num_actions
    support = (mdp.ref_probs > 0).numpy()
    if kind == "boltzmann":
        return boltzmann_log_policy(q, mdp.tau, mdp.ref_probs).exp()
    if kind == "one_hot":
        p = np.zeros((S, A))
        for s in range(S):
            p[s, rng.choice(np.flatnonzero(support[s]))] = 1.0
        return _t(p).to(mdp.dtype)
    p = np.where(support, rng.dirichlet(np.ones(A), size=S), 0.0)
    if kind == "sparse":
        keep = rng.random((S, A)) < 0.5
        keep[np.arange(S), np.argmax(p, -1)] = True  # the largest supported entry stays
        p = np.where(keep, p, 0.0)
    return exact_reference(_t(p).to(mdp.dtype))


def edge_q(mdp: FiniteMDP, rng: np.random.Generator, scale: float) -> torch.Tensor:
    """Action values ``[S, A]`` uniform in [−scale, scale], with |Q| = scale attained, and in about half
    of the states a near tie: a second action within 3τ of the best, so that π^B_Q is not deterministic
    even at τ = 1e-4 with |Q| = 1e4 (the regime where Q/τ ≈ 1e8 and the logits must not cancel)."""
    q = rng.uniform(-scale, scale, (mdp.num_states, mdp.num_actions))
    q.flat[int(rng.integers(0, q.size))] = scale * rng.choice([-1.0, 1.0])
    if mdp.num_actions > 1:
        for s in np.flatnonzero(rng.random(mdp.num_states) < 0.5):
            best = int(q[s].argmax())
            other = (best + 1 + int(rng.integers(0, mdp.num_actions - 1))) % mdp.num_actions
            q[s, other] = q[s, best] - mdp.tau * rng.uniform(0.0, 3.0)
    return _t(q).to(mdp.dtype)


@st.composite
def edge_segments(
    draw: st.DrawFn,
    max_length: int = 6,
    flags=st.sampled_from(["random", "all_terminated", "all_truncated", "none"]),
    gamma=edge_gammas,
    tau=edge_taus,
    scale=edge_scales,
) -> Segment:
    """Time-major segments at the edges: all-terminated and all-truncated batches, n longer than the
    segment (up to 3·T), γ ∈ {0, …, 1}, τ from 1e-4, rewards and values up to 1e4 in size."""
    T = draw(st.integers(1, max_length))
    batch = draw(st.sampled_from([(), (3,)]))
    rng = np.random.default_rng(draw(seeds))
    shape = (T, *batch)
    kind = draw(flags)
    size = draw(scale)
    if kind == "random":
        terminated, truncated = rng.random(shape) < 0.3, rng.random(shape) < 0.3
    else:
        terminated = np.full(shape, kind == "all_terminated")
        truncated = np.full(shape, kind == "all_truncated")
    return Segment(
        rewards=_t(rng.uniform(-size, size, shape)),
        kl=_t(rng.exponential(0.5, shape)),
        values=_t(rng.uniform(-size, size, shape)),
        next_values=_t(rng.uniform(-size, size, shape)),
        terminated=torch.from_numpy(terminated),
        truncated=torch.from_numpy(truncated),
        gamma=draw(gamma),
        tau=draw(tau),
        n=draw(st.one_of(st.none(), st.integers(1, 3 * max_length))),
    )


def note_regimes(mdp: FiniteMDP, policy_kind: str | None = None) -> None:
    """Record (``hypothesis.event``) which edge regimes an example reaches, for
    ``pytest --hypothesis-show-statistics``: A = 1, γ ∈ {0, 1}, τ at its ends, π̄ with zeros / tiny entries,
    terminal or absorbing states, float32, and the kind of policy."""
    from hypothesis import event

    ref = mdp.ref_probs
    absorbing = bool(((mdp.transitions.diagonal(dim1=0, dim2=2) == 1).all(0) & ~mdp.terminal_mask).any())
    features = {
        "A=1": mdp.num_actions == 1,
        "gamma=0": mdp.gamma == 0.0,
        "gamma=1": mdp.gamma == 1.0,
        "tau<=1e-3": mdp.tau <= 1e-3,
        "tau>=10": mdp.tau >= 10.0,
        "ref has zeros": bool((ref == 0).any()),
        "ref has entries < 1e-12": bool(((ref > 0) & (ref < 1e-12)).any()),
        "terminal state": bool(mdp.terminal_mask.any()),
        "absorbing non-terminal state": absorbing,
        "float32": mdp.dtype == torch.float32,
    }
    for name, reached in features.items():
        if reached:
            event(f"regime: {name}")
    if policy_kind is not None:
        event(f"policy: {policy_kind}")
