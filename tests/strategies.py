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

import numpy as np
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
