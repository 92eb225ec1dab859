"""Small generated MDPs and the exact enumeration of every path through them (the kit's ground truth).

Structure (S, A, γ, τ, terminal states, n) is drawn by hypothesis so that a failure shrinks to a small,
readable case; array contents come from a numpy generator seeded by a drawn integer.  Everything is
float64.  Paths are enumerated exhaustively (probability-weighted columns of one batch), so every
expectation below is exact, never sampled.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from hypothesis import strategies as st

from equiv.mdp import FiniteMDP

DTYPE = torch.float64


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


@dataclasses.dataclass
class Case:
    """A generated MDP with a target network Q̄ and the seed that made it."""

    mdp: FiniteMDP
    q_bar: torch.Tensor  # [S, A] (rows of terminal states are random: a correct target ignores them)
    seed: int

    def describe(self) -> str:
        m = self.mdp
        torch_opts = {"precision": 4, "sci_mode": False}
        with _printoptions(**torch_opts):
            lines = [
                (f"S={m.num_states} A={m.num_actions} gamma={m.gamma:.6g} tau={m.tau:.6g} seed={self.seed} "
                 f"terminal={m.terminal_mask.tolist()}"),
                f"P[s,a,s']={m.transitions.tolist()!s:.600}",
                f"R[s,a]={m.rewards}",
                f"ref_policy={m.ref_probs if m.ref_policy is not None else 'uniform'}",
                f"Q_bar={self.q_bar}",
            ]
        return "\n".join(lines)


class _printoptions:
    def __init__(self, **kw):
        self.kw = kw

    def __enter__(self):
        torch.set_printoptions(**self.kw)

    def __exit__(self, *exc):
        torch.set_printoptions(profile="default")


def _log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(math.log(low), math.log(high)).map(math.exp)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    reference_policy: bool,
    terminal: bool = True,
    max_states: int = 3,
    max_actions: int = 3,
    min_gamma: float = 0.0,
) -> Case:
    """A random regularised MDP (S ≤ 3, A ≤ 3) with a random Q̄; the last state may be terminal."""
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(2, max_actions))
    gamma = draw(st.one_of(st.just(max(min_gamma, 0.9)), st.floats(min_gamma, 0.99)))
    tau = draw(_log_uniform(0.05, 5.0))
    with_terminal = terminal and draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_states = S + 1 if with_terminal else S
    P = rng.dirichlet(np.ones(n_states), size=(n_states, A))
    sparse = rng.random((n_states, A, n_states)) < 0.3
    P = np.where(sparse & (P < P.max(-1, keepdims=True)), 0.0, P)
    P = P / P.sum(-1, keepdims=True)
    term = np.zeros(n_states, dtype=bool)
    if with_terminal:
        term[-1] = True
    R = rng.normal(0, 1.0, (n_states, A))
    ref = None
    if reference_policy:
        ref_np = rng.dirichlet(np.ones(A), size=n_states)
        ref = _t(ref_np)
        ref = ref / ref.sum(-1, keepdim=True)
    q_bar = _t(rng.normal(0, 2.0, (n_states, A)))
    P_t = _t(P)
    mdp = FiniteMDP(P_t / P_t.sum(-1, keepdim=True), _t(R), gamma=gamma, tau=tau, ref_policy=ref,
                    terminal=torch.from_numpy(term))
    return Case(mdp, q_bar, seed)


@dataclasses.dataclass
class Columns:
    """Every path as one column of a ``[T, B]`` batch, with its probability ``weight`` [B]."""

    states: torch.Tensor  # int64 [T, B]
    actions: torch.Tensor  # int64 [T, B]
    next_states: torch.Tensor  # int64 [T, B]
    rewards: torch.Tensor  # [T, B]
    terminated: torch.Tensor  # bool [T, B]
    truncated: torch.Tensor  # bool [T, B]
    alive: torch.Tensor  # bool [T, B]: the row belongs to the enumerated episode (else: next-episode junk)
    weight: torch.Tensor  # [B]

    @property
    def num_columns(self) -> int:
        return int(self.weight.shape[0])


def enumerate_columns(
    mdp: FiniteMDP,
    behaviour: torch.Tensor,
    starts: list[tuple[float, int, int | None]],
    T: int,
    seed: int,
    truncate_at: int | None = None,
) -> Columns:
    """All paths of T rows from each start (probability, s_0, a_0 or None = a_0 ∼ behaviour).

    A path ends on entering a terminal state (``terminated``) or, at row ``truncate_at``, by a time
    limit (``truncated``); its remaining rows are a *next episode*: random non-terminal states, actions
    and rewards (the same for every column), which a correct implementation never mixes into the
    earlier rows.
    """
    P = mdp.transitions.tolist()
    mu = behaviour.tolist()
    R = mdp.rewards.tolist()
    term = mdp.terminal_mask.tolist()
    S, A = mdp.num_states, mdp.num_actions
    live_states = [s for s in range(S) if not term[s]]
    rng = np.random.default_rng(seed ^ 0x5EED)
    # The next episode is one consistent path (row t+1 starts where row t went), so that estimators
    # that telescope V(s_{t+1}) of row t against V(s_{t+1}) of row t+1 (GAE) see a real trajectory.
    chain = [int(rng.choice(live_states)) for _ in range(T + 1)]
    junk_s, junk_s2 = chain[:T], chain[1:]
    junk_a = [int(rng.integers(A)) for _ in range(T)]
    junk_r = rng.normal(0, 3.0, T).tolist()

    # A partial path: (probability, states s_0..s_k, actions a_0..a_k); finished: (p, states, actions, how)
    partial = []
    for p0, s0, a0 in starts:
        for a in ([a0] if a0 is not None else range(A)):
            pa = p0 * (1.0 if a0 is not None else mu[s0][a])
            if pa > 0:
                partial.append((pa, [s0], [a]))
    finished = []
    for t in range(T):
        nxt = []
        for p, ss, aa in partial:
            s, a = ss[-1], aa[-1]
            for s2 in range(S):
                q = p * P[s][a][s2]
                if q == 0.0:
                    continue
                if term[s2]:
                    finished.append((q, ss + [s2], aa, "terminated"))
                elif t == T - 1:
                    finished.append((q, ss + [s2], aa, "segment_end"))
                elif truncate_at is not None and t == truncate_at:
                    finished.append((q, ss + [s2], aa, "truncated"))
                else:
                    for a2 in range(A):
                        q2 = q * mu[s2][a2]
                        if q2 > 0:
                            nxt.append((q2, ss + [s2], aa + [a2]))
        partial = nxt
    B = len(finished)
    states = torch.zeros(T, B, dtype=torch.int64)
    actions = torch.zeros(T, B, dtype=torch.int64)
    next_states = torch.zeros(T, B, dtype=torch.int64)
    rewards = torch.zeros(T, B, dtype=DTYPE)
    terminated = torch.zeros(T, B, dtype=torch.bool)
    truncated = torch.zeros(T, B, dtype=torch.bool)
    alive = torch.zeros(T, B, dtype=torch.bool)
    weight = torch.zeros(B, dtype=DTYPE)
    for b, (p, ss, aa, how) in enumerate(finished):
        weight[b] = p
        k = len(aa)  # rows of the episode
        for t in range(T):
            if t < k:
                states[t, b], actions[t, b], next_states[t, b] = ss[t], aa[t], ss[t + 1]
                rewards[t, b] = R[ss[t]][aa[t]]
                alive[t, b] = True
            else:
                states[t, b], actions[t, b], next_states[t, b] = junk_s[t], junk_a[t], junk_s2[t]
                rewards[t, b] = junk_r[t]
        if how == "terminated":
            terminated[k - 1, b] = True
        elif how == "truncated":
            truncated[k - 1, b] = True
    return Columns(states, actions, next_states, rewards, terminated, truncated, alive, weight)


def all_pairs(mdp: FiniteMDP) -> list[tuple[float, int, int | None]]:
    """Every non-terminal (s, a) as a start, weight 1 each (for conditional expectations)."""
    term = mdp.terminal_mask.tolist()
    return [(1.0, s, a) for s in range(mdp.num_states) if not term[s] for a in range(mdp.num_actions)]


def state_starts(mdp: FiniteMDP, seed: int) -> list[tuple[float, int, int | None]]:
    """s_0 from random positive weights over the non-terminal states, a_0 from the behaviour policy."""
    term = mdp.terminal_mask.tolist()
    rng = np.random.default_rng(seed ^ 0xA11)
    live = [s for s in range(mdp.num_states) if not term[s]]
    w = rng.random(len(live)) + 0.2
    w = w / w.sum()
    return [(float(wi), s, None) for wi, s in zip(w, live)]


def random_behaviour(mdp: FiniteMDP, seed: int) -> torch.Tensor:
    """A behaviour policy μ with every entry > 0, unrelated to Q̄ (the off-policy check of §3.5)."""
    rng = np.random.default_rng(seed ^ 0xBE)
    mu = rng.dirichlet(np.ones(mdp.num_actions), size=mdp.num_states) + 1e-3
    mu = _t(mu)
    return mu / mu.sum(-1, keepdim=True)
