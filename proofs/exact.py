"""Exact float64 ground truth on fixed-seed instances, independent of sampling.

* :func:`random_mdp`, :func:`layered_mdp`, :func:`deterministic_mdp` build
  :class:`equiv.FiniteMDP` instances from a numpy seed (same seed, same MDP).
* :func:`paths` enumerates every trajectory of a finite MDP with its
  probability (a brute-force cross-check of the dynamic programs in
  :mod:`equiv.mdp`, written independently of them).
* :func:`estimator_gradient` turns a per-path estimator into its *exact*
  expectation: Σ_paths P(path) · estimator(path), with P and the returns
  detached so that autograd through log π yields the expected gradient.

Tolerances: quantities computed two independent ways in float64 agree to
~1e-15 relative per operation; with at most a few hundred paths and linear
solves of condition number < 1e3, 1e-10 relative is a safe bound (stated as
``REL_TOL``), while every counterexample / negative control below differs by
> 1e-4 relative.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import numpy as np
import torch

import equiv
from equiv.mdp import FiniteMDP

from .core import CheckResult, passed

__all__ = [
    "REL_TOL",
    "GAP",
    "DTYPE",
    "random_mdp",
    "layered_mdp",
    "deterministic_mdp",
    "Path",
    "paths",
    "paths_from_state",
    "estimator_gradient",
    "rel_gap",
    "tabular_log_policy",
    "printed_form_agrees",
]

DTYPE = torch.float64
REL_TOL = 1e-10
GAP = 1e-4  # a real discrepancy must exceed this (relative), far above REL_TOL


def printed_form_agrees(statement: str, gap: float) -> CheckResult:
    """The ``pass`` of a numeric printed-form check whose relative gap did not exceed GAP.

    A printed form is accepted only at the stated tolerance, gap ≤ REL_TOL (1e-10); a gap
    between REL_TOL and GAP is neither agreement nor a counterexample, so it raises
    ArithmeticError (the check is undecided: an ``error``, never a silent ``holds``).
    """
    if not gap <= REL_TOL:
        raise ArithmeticError(
            f"{statement}: relative gap {gap:.3g} is above REL_TOL = {REL_TOL:g} but not above "
            f"GAP = {GAP:g} — undecided"
        )
    return passed(f"{statement} to {REL_TOL:g} (relative gap {gap:.3g})", gap=gap)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def rel_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| / max(1, max |b|)."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def random_mdp(seed: int, S: int = 3, A: int = 2, gamma: float = 0.9, tau: float = 0.3) -> FiniteMDP:
    """A dense random MDP with a non-uniform reference policy and no terminal states."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    R = rng.normal(0, 1, (S, A))
    ref = rng.dirichlet(np.ones(A) * 2, size=S)
    return FiniteMDP(_t(P), _t(R), gamma=gamma, tau=tau, ref_policy=_t(ref))


def layered_mdp(
    seed: int, layers: int = 3, width: int = 2, A: int = 2, gamma: float = 0.9, tau: float = 0.3
) -> FiniteMDP:
    """A time-layered MDP: every episode lasts exactly ``layers`` steps, then enters the terminal state.

    States: ``layers × width`` live states (layer ℓ occupies indices ℓ·width …)
    and one absorbing terminal state (the last index).  Undiscounted (γ = 1)
    values are finite, and finite-horizon objectives equal infinite-horizon ones.
    """
    rng = np.random.default_rng(seed)
    S = layers * width + 1
    P = np.zeros((S, A, S))
    for layer in range(layers):
        for j in range(width):
            s = layer * width + j
            for a in range(A):
                if layer + 1 < layers:
                    P[s, a, (layer + 1) * width : (layer + 2) * width] = rng.dirichlet(np.ones(width))
                else:
                    P[s, a, S - 1] = 1.0
    P[S - 1, :, S - 1] = 1.0
    R = rng.normal(0, 1, (S, A))
    R[S - 1] = 0.0
    ref = rng.dirichlet(np.ones(A) * 2, size=S)
    terminal = torch.zeros(S, dtype=torch.bool)
    terminal[S - 1] = True
    return FiniteMDP(_t(P), _t(R), gamma=gamma, tau=tau, ref_policy=_t(ref), terminal=terminal)


def deterministic_mdp(seed: int, S: int = 3, A: int = 2, gamma: float = 0.8, tau: float = 0.5) -> FiniteMDP:
    """Deterministic dynamics (each (s, a) has one successor), as assumed for Eqs. (88)-(90)."""
    rng = np.random.default_rng(seed)
    P = np.zeros((S, A, S))
    nxt = rng.integers(0, S, (S, A))
    for s in range(S):
        for a in range(A):
            P[s, a, nxt[s, a]] = 1.0
    R = rng.normal(0, 1, (S, A))
    ref = rng.dirichlet(np.ones(A) * 2, size=S)
    return FiniteMDP(_t(P), _t(R), gamma=gamma, tau=tau, ref_policy=_t(ref))


def tabular_log_policy(seed: int, S: int, A: int, scale: float = 1.0) -> torch.Tensor:
    """Random logits → log π (rows normalised), float64, requires_grad on the logits' graph."""
    rng = np.random.default_rng(seed)
    logits = _t(rng.normal(0, scale, (S, A))).requires_grad_()
    return logits


@dataclasses.dataclass(frozen=True)
class Path:
    """s_0 a_0 s_1 a_1 … s_T with its probability.

    ``states`` has one more entry than ``actions`` (s_T is the last state: the
    n-th state, or a terminal state entered early), except with
    ``last_action``, where a_T ∼ π at s_T is appended too.
    """

    probability: float
    states: tuple[int, ...]
    actions: tuple[int, ...]


def paths(
    mdp: FiniteMDP, policy: np.ndarray, state: int, action: int | None, steps: int, last_action: bool = False
) -> Iterator[Path]:
    """Every path of ``steps`` transitions from s_0 = state (a_0 = action if given, else a_0 ∼ π).

    Actions after the first follow ``policy`` ([S, A] numpy).  Paths stop early
    on entering a terminal state.  With ``last_action`` an action a_n ∼ π is also
    drawn at the final state s_n (for Q(s_n, a_n) terms).
    """
    P = mdp.transitions.detach().numpy()
    term = mdp.terminal_mask.numpy()
    S, A = mdp.num_states, mdp.num_actions

    def rec(prob: float, states: list[int], actions: list[int]) -> Iterator[Path]:
        s, t = states[-1], len(actions)
        if t == 0 and action is not None:
            choices = [(action, 1.0)]
        else:
            choices = [(a, policy[s, a]) for a in range(A) if policy[s, a] > 0]
        for a, pa in choices:
            for s2 in range(S):
                p = prob * pa * P[s, a, s2]
                if p == 0.0:
                    continue
                new_states, new_actions = states + [s2], actions + [a]
                if term[s2]:
                    yield Path(p, tuple(new_states), tuple(new_actions))
                elif t + 1 == steps:
                    if last_action:
                        for a2 in range(A):
                            if policy[s2, a2] > 0:
                                yield Path(p * policy[s2, a2], tuple(new_states), tuple(new_actions + [a2]))
                    else:
                        yield Path(p, tuple(new_states), tuple(new_actions))
                else:
                    yield from rec(p, new_states, new_actions)

    yield from rec(1.0, [state], [])


def paths_from_state(mdp: FiniteMDP, policy: np.ndarray, initial: np.ndarray, steps: int) -> Iterator[Path]:
    """Paths with s_0 ∼ ``initial`` and every action ∼ π."""
    for s0 in range(mdp.num_states):
        if initial[s0] > 0:
            for path in paths(mdp, policy, s0, None, steps):
                yield Path(initial[s0] * path.probability, path.states, path.actions)


def estimator_gradient(
    mdp: FiniteMDP,
    logits: torch.Tensor,
    initial: np.ndarray,
    steps: int,
    weight: Callable[[Path, int, np.ndarray], float],
    kl_gradient: bool = True,
) -> torch.Tensor:
    """Exact expectation of Σ_t [∇log π(a_t|s_t) · weight(path, t) − τ ∇KL(s_t)] over all paths.

    ``logits`` ([S, A], requires_grad) define π = softmax(logits).  ``weight``
    returns the (detached) return multiplying the score at time t; the
    −τ∇KL(s_t) term is included at every visited live state when
    ``kl_gradient``.  Returns the gradient w.r.t. ``logits`` ([S, A]).
    """
    log_pi = torch.log_softmax(logits, dim=-1)
    policy = log_pi.detach().exp().numpy()
    kl = equiv.kl_divergence(log_pi, mdp.ref_probs)
    surrogate = torch.zeros((), dtype=DTYPE)
    for path in paths_from_state(mdp, policy, initial, steps):
        for t, (s, a) in enumerate(zip(path.states, path.actions)):
            g = weight(path, t, policy)
            surrogate = surrogate + path.probability * (log_pi[s, a] * g)
            if kl_gradient:
                surrogate = surrogate - path.probability * mdp.tau * kl[s]
    (grad,) = torch.autograd.grad(surrogate, logits)
    return grad
