"""Symbolic models of the paper's objects (sympy), built once and cached.

* :func:`bandit` — a k-action bandit / one state of an MDP (§2, §3.2, §4):
  temperature τ, reference weights π̄_i (free positive symbols: every
  Boltzmann identity below holds for any positive π̄, so the proofs cover the
  normalised case; witnesses use normalised π̄), action values q_i(θ) as
  *undefined functions of θ* (so ∇_θ is a real derivative, via sympy.diff),
  mean rewards r̄_i, per-action targets.
* :func:`softmax_policy` — a generic differentiable policy
  π_θ(i) = exp(f_i(θ)) / Σ_j exp(f_j(θ)) (Eqs. (7), (69)-(70)).
* :func:`generic_policy` — a fixed policy π_i = u_i / Σ_j u_j (Eqs. (3)-(6), (27)).

``stage1`` turns an expression in q_i(θ) into one in plain symbols
(Derivative(q_i(θ), θ) → dq_i, q_i(θ) → q_i) before zero-testing; witnesses
give values to those symbols.
"""

from __future__ import annotations

import dataclasses
import functools

import sympy as sp

from .symbolic import Witness, normalized

__all__ = ["Bandit", "bandit", "SoftmaxPolicy", "softmax_policy", "generic_policy", "R"]

R = sp.Rational
THETA = sp.Symbol("theta", real=True)
TAU = sp.Symbol("tau", positive=True)


@functools.lru_cache(maxsize=4096)
def _derivative(expr: sp.Expr, theta: sp.Symbol) -> sp.Expr:
    """sympy.diff, cached: the same building blocks (∇v_θ, ∇KL, ∇log π) recur across checks."""
    return sp.diff(expr, theta)


def _tuple_label(values) -> str:
    return "(" + ", ".join(str(v) for v in values) + ")"


@dataclasses.dataclass(frozen=True, eq=False)
class Bandit:
    """k actions; every field an expression in q_i(θ) (``qf``) and plain symbols."""

    k: int
    theta: sp.Symbol
    tau: sp.Symbol
    pbar: tuple[sp.Symbol, ...]  # π̄_i (positive; normalised at the witness)
    qf: tuple[sp.Expr, ...]  # q_i(θ)
    q: tuple[sp.Symbol, ...]  # stage-1 symbols for q_i
    dq: tuple[sp.Symbol, ...]  # stage-1 symbols for dq_i/dθ
    rbar: tuple[sp.Symbol, ...]  # mean rewards r̄_i
    sigma: tuple[sp.Symbol, ...]  # reward noise scale: r = r̄_i ± σ_i with probability ½ each
    delta: tuple[sp.Symbol, ...]  # E[Δ_t | a_t = i] (§4, §5)
    witness: Witness

    # -- Boltzmann objects of Eqs. (10)-(14), (28)-(32), (55)-(57) -------------
    @functools.cached_property
    def Z(self) -> sp.Expr:
        """E_{a∼π̄}[exp(q(a)/τ)], the normalising constant of Eq. (10)."""
        return sp.Add(*[p * sp.exp(q / self.tau) for p, q in zip(self.pbar, self.qf)])

    @functools.cached_property
    def v(self) -> sp.Expr:
        """v_θ = τ log E_{a∼π̄}[exp(q_θ(a)/τ)] (Eq. (11) as corrected, (29), (55))."""
        return self.tau * sp.log(self.Z)

    @functools.cached_property
    def pi(self) -> tuple[sp.Expr, ...]:
        """π^B_{q_θ}(i) = π̄_i exp(q_i/τ) / Z, Eq. (10)."""
        return tuple(p * sp.exp(q / self.tau) / self.Z for p, q in zip(self.pbar, self.qf))

    @functools.cached_property
    def log_ratio(self) -> tuple[sp.Expr, ...]:
        """log(π^B(i)/π̄_i)."""
        return tuple(sp.log(p / pb) for p, pb in zip(self.pi, self.pbar))

    @functools.cached_property
    def kl(self) -> sp.Expr:
        """D_KL[π^B ‖ π̄] = Σ_i π^B_i log(π^B_i/π̄_i), Eq. (3)."""
        return sp.Add(*[p * lr for p, lr in zip(self.pi, self.log_ratio)])

    def d(self, expr: sp.Expr) -> sp.Expr:
        """∇_θ: a real derivative through q_i(θ)."""
        return _derivative(expr, self.theta)

    def E(self, values, weights=None) -> sp.Expr:
        """Σ_i w_i values_i (default weights π^B)."""
        weights = self.pi if weights is None else weights
        return sp.Add(*[w * x for w, x in zip(weights, values)])

    def E_reward(self, f) -> list[sp.Expr]:
        """Per action, E_r[f(r)] for r = r̄_i ± σ_i (two-point reward noise)."""
        return [(f(rb + s) + f(rb - s)) / 2 for rb, s in zip(self.rbar, self.sigma)]

    def stage1(self, expr: sp.Expr) -> sp.Expr:
        """q_i(θ) and their θ-derivatives → plain symbols."""
        expr = sp.sympify(expr)
        expr = expr.xreplace({sp.Derivative(f, self.theta): s for f, s in zip(self.qf, self.dq)})
        return expr.xreplace({f: s for f, s in zip(self.qf, self.q)})


_WITNESS_Q = (R(1, 2), R(-1, 3), R(5, 4), R(-3, 4))
_WITNESS_DQ = (R(1), R(-1, 2), R(1, 3), R(2, 7))
_WITNESS_R = (R(1), R(-2, 5), R(3, 10), R(7, 8))
_WITNESS_SIGMA = (R(1, 3), R(1, 2), R(1, 5), R(2, 3))
_WITNESS_DELTA = (R(3, 5), R(-1, 4), R(2, 3), R(-5, 6))
_WITNESS_PBAR = {
    2: (R(1, 3), R(2, 3)),
    3: (R(1, 6), R(1, 3), R(1, 2)),
    4: (R(1, 10), R(1, 5), R(3, 10), R(2, 5)),
}
WITNESS_TAU = R(2, 5)


@functools.lru_cache(maxsize=None)
def bandit(k: int) -> Bandit:
    """The k-action symbolic bandit (k = 2, 3, 4) with its standard witness.

    The witness has τ = 2/5 (≠ 1, so variants missing a factor τ are refuted)
    and normalised π̄.
    """
    if k not in _WITNESS_PBAR:
        raise ValueError(f"k must be one of {sorted(_WITNESS_PBAR)}, got {k!r}")
    pbar = sp.symbols(f"pibar0:{k}", positive=True)
    qf = tuple(sp.Function(f"q{i}", real=True)(THETA) for i in range(k))
    q = sp.symbols(f"q0:{k}", real=True)
    dq = sp.symbols(f"dq0:{k}", real=True)
    rbar = sp.symbols(f"rbar0:{k}", real=True)
    sigma = sp.symbols(f"sigma0:{k}", positive=True)
    delta = sp.symbols(f"Delta0:{k}", real=True)
    values = {TAU: WITNESS_TAU}
    values.update(zip(pbar, _WITNESS_PBAR[k]))
    values.update(zip(q, _WITNESS_Q[:k]))
    values.update(zip(dq, _WITNESS_DQ[:k]))
    values.update(zip(rbar, _WITNESS_R[:k]))
    values.update(zip(sigma, _WITNESS_SIGMA[:k]))
    values.update(zip(delta, _WITNESS_DELTA[:k]))
    label = (
        f"k = {k}, τ = {WITNESS_TAU}, q = {_tuple_label(_WITNESS_Q[:k])}, "
        f"π̄ = {_tuple_label(_WITNESS_PBAR[k])}, "
        f"∇q = {_tuple_label(_WITNESS_DQ[:k])}, r̄ = {_tuple_label(_WITNESS_R[:k])}"
    )
    return Bandit(k, THETA, TAU, pbar, qf, q, dq, rbar, sigma, delta, Witness(values, label))


@dataclasses.dataclass(frozen=True, eq=False)
class SoftmaxPolicy:
    """π_θ(i) = exp(f_i(θ)) / Σ_j exp(f_j(θ)) with undefined f_i; π̄_i free positive."""

    k: int
    theta: sp.Symbol
    tau: sp.Symbol
    ff: tuple[sp.Expr, ...]
    f: tuple[sp.Symbol, ...]
    df: tuple[sp.Symbol, ...]
    pbar: tuple[sp.Symbol, ...]
    rbar: tuple[sp.Symbol, ...]
    delta: tuple[sp.Symbol, ...]
    witness: Witness

    @functools.cached_property
    def pi(self) -> tuple[sp.Expr, ...]:
        total = sp.Add(*[sp.exp(x) for x in self.ff])
        return tuple(sp.exp(x) / total for x in self.ff)

    @functools.cached_property
    def kl(self) -> sp.Expr:
        return sp.Add(*[p * sp.log(p / pb) for p, pb in zip(self.pi, self.pbar)])

    def d(self, expr: sp.Expr) -> sp.Expr:
        return _derivative(expr, self.theta)

    def E(self, values) -> sp.Expr:
        return sp.Add(*[p * x for p, x in zip(self.pi, values)])

    def stage1(self, expr: sp.Expr) -> sp.Expr:
        expr = sp.sympify(expr)
        expr = expr.xreplace({sp.Derivative(g, self.theta): s for g, s in zip(self.ff, self.df)})
        return expr.xreplace({g: s for g, s in zip(self.ff, self.f)})


@functools.lru_cache(maxsize=None)
def softmax_policy(k: int) -> SoftmaxPolicy:
    ff = tuple(sp.Function(f"f{i}", real=True)(THETA) for i in range(k))
    f = sp.symbols(f"f0:{k}", real=True)
    df = sp.symbols(f"df0:{k}", real=True)
    pbar = sp.symbols(f"pibar0:{k}", positive=True)
    rbar = sp.symbols(f"rbar0:{k}", real=True)
    delta = sp.symbols(f"Delta0:{k}", real=True)
    values = {TAU: WITNESS_TAU}
    values.update(zip(f, _WITNESS_Q[:k]))
    values.update(zip(df, _WITNESS_DQ[:k]))
    values.update(zip(pbar, _WITNESS_PBAR[k]))
    values.update(zip(rbar, _WITNESS_R[:k]))
    values.update(zip(delta, _WITNESS_DELTA[:k]))
    label = (
        f"k = {k}, τ = {WITNESS_TAU}, logits f = {_tuple_label(_WITNESS_Q[:k])}, "
        f"∇f = {_tuple_label(_WITNESS_DQ[:k])}, π̄ = {_tuple_label(_WITNESS_PBAR[k])}"
    )
    return SoftmaxPolicy(k, THETA, TAU, ff, f, df, pbar, rbar, delta, Witness(values, label))


_WITNESS_U = {2: (R(3), R(1)), 3: (R(2), R(1), R(3)), 4: (R(1), R(4), R(2), R(3))}


@functools.lru_cache(maxsize=None)
def generic_policy(k: int) -> tuple[tuple[sp.Expr, ...], dict, str]:
    """A fixed policy π_i = u_i/Σu_j: (probabilities, witness values, label)."""
    u = sp.symbols(f"u0:{k}", positive=True)
    probs = tuple(normalized(u))
    values = dict(zip(u, _WITNESS_U[k]))
    total = sum(_WITNESS_U[k])
    label = f"π = {_tuple_label([x / total for x in _WITNESS_U[k]])}"
    return probs, values, label


def merged(base: Witness, extra: dict, extra_label: str) -> Witness:
    """The witness ``base`` with more symbol values."""
    values = dict(base.values)
    values.update(extra)
    return Witness(values, f"{base.label}, {extra_label}" if extra_label else base.label)


# ---------------------------------------------------------------------------
# general k: one generic action i of k, with the normaliser Z kept opaque


@dataclasses.dataclass(frozen=True, eq=False)
class GeneralBandit:
    """A bandit with a symbolic number of actions k.

    Action i has value ``q[i]``, reference weight ``pbar[i]`` and Boltzmann
    probability π_i = π̄_i exp(q_i/τ)/Z, where Z = Σ_j π̄_j exp(q_j/τ) is an
    opaque positive symbol.  :meth:`expectation` evaluates Σ_i π_i g_i by
    linearity: i-free factors are pulled out of the sum and the defining sums
    (Σ_i π̄_i exp(q_i/τ) = Z, and any ``known`` ones) are substituted; a
    remaining unevaluated sum raises.
    """

    i: sp.Symbol
    k: sp.Symbol
    tau: sp.Symbol
    q: sp.IndexedBase
    dq: sp.IndexedBase
    pbar: sp.IndexedBase
    Z: sp.Symbol
    witness: Witness

    @property
    def pi_i(self) -> sp.Expr:
        return self.pbar[self.i] * sp.exp(self.q[self.i] / self.tau) / self.Z

    @property
    def v(self) -> sp.Expr:
        return self.tau * sp.log(self.Z)

    def plain(self, expr: sp.Expr) -> sp.Expr:
        """Indexed q[i], dq[i], pbar[i] → plain symbols q_i, dq_i, pibar_i (for witnesses)."""
        return sp.sympify(expr).xreplace(
            {
                self.q[self.i]: sp.Symbol("q_i", real=True),
                self.dq[self.i]: sp.Symbol("dq_i", real=True),
                self.pbar[self.i]: sp.Symbol("pibar_i", positive=True),
            }
        )

    def expectation(self, summand: sp.Expr, known: dict | None = None) -> sp.Expr:
        """Σ_{i=1}^k π_i · summand (summand may depend on i)."""
        term = sp.expand(sp.expand_log(self.pi_i * summand, force=True))
        total = sp.Integer(0)
        sums = {sp.Sum(self.pbar[self.i] * sp.exp(self.q[self.i] / self.tau), (self.i, 1, self.k)): self.Z}
        sums.update(known or {})
        for t in sp.Add.make_args(term):
            dependent = [f for f in sp.Mul.make_args(t) if self.i in f.free_symbols]
            free = [f for f in sp.Mul.make_args(t) if self.i not in f.free_symbols]
            summed = sp.Sum(sp.Mul(*dependent), (self.i, 1, self.k))
            if summed not in sums:
                raise ArithmeticError(f"no known value for {summed}")
            total += sp.Mul(*free) * sums[summed]
        return total


@functools.lru_cache(maxsize=None)
def general_bandit() -> GeneralBandit:
    i = sp.Symbol("i", integer=True, positive=True)
    k = sp.Symbol("k", integer=True, positive=True)
    q = sp.IndexedBase("q", real=True)
    dq = sp.IndexedBase("dq", real=True)
    pbar = sp.IndexedBase("pibar", positive=True)
    Z = sp.Symbol("Z", positive=True)
    values = {
        TAU: WITNESS_TAU,
        sp.Symbol("q_i", real=True): R(1, 2),
        sp.Symbol("dq_i", real=True): R(-1, 3),
        sp.Symbol("pibar_i", positive=True): R(1, 4),
        Z: R(7, 5),
    }
    label = f"generic action i of k: τ = {WITNESS_TAU}, q_i = 1/2, π̄_i = 1/4, Z = 7/5"
    return GeneralBandit(i, k, TAU, q, dq, pbar, Z, Witness(values, label))


# ---------------------------------------------------------------------------
# a symbolic 2-state × 2-action MDP (§3)


GAMMA = sp.Symbol("gamma", positive=True)


@dataclasses.dataclass(frozen=True, eq=False)
class SymbolicMDP:
    """Two states, two actions; every quantity a symbol.

    ``P[s][a][s']`` are normalised positive weights, ``R[s][a]`` mean rewards,
    ``pi[s][a]`` a fixed policy (normalised weights), ``K[s]`` its per-state
    KL penalty KL(s) (for fixed-policy operators KL(s) is just a number per
    state), ``V[s]`` / ``Q[s][a]`` arbitrary value functions, ``pbar[s][a]``
    reference weights (free positive) for Boltzmann objects.
    """

    S: int
    A: int
    gamma: sp.Symbol
    tau: sp.Symbol
    P: tuple
    R: tuple
    pi: tuple
    K: tuple
    V: tuple
    Q: tuple
    pbar: tuple
    witness: Witness

    def T_V(self, V) -> list[sp.Expr]:
        """[T_π V](s) = E_{a∼π, s'}[r − τ KL(s) + γ V(s')], Eq. (33) first line."""
        return [
            sp.Add(
                *[
                    self.pi[s][a]
                    * (
                        self.R[s][a]
                        - self.tau * self.K[s]
                        + self.gamma * sp.Add(*[self.P[s][a][s2] * V[s2] for s2 in range(self.S)])
                    )
                    for a in range(self.A)
                ]
            )
            for s in range(self.S)
        ]

    def T_Q(self, Q) -> list[list[sp.Expr]]:
        """[T_π Q](s,a) = E_{s'}[r + γ(E_{a'∼π}[Q(s',a')] − τ KL(s'))], Eq. (33) second line."""
        nxt = [
            sp.Add(*[self.pi[s2][b] * Q[s2][b] for b in range(self.A)]) - self.tau * self.K[s2]
            for s2 in range(self.S)
        ]
        return [
            [
                self.R[s][a] + self.gamma * sp.Add(*[self.P[s][a][s2] * nxt[s2] for s2 in range(self.S)])
                for a in range(self.A)
            ]
            for s in range(self.S)
        ]

    def path_expectation(self, s0, a0, n, step, final, final_action: bool):
        """E[Σ_{t<n} γ^t step(s_t, a_t, s_{t+1}) + γ^n final(s_n[, a_n]) | s_0 = s0 (, a_0 = a0)].

        By enumeration of every path (no recursion formula of the operators is used).
        """

        def rec(t, s, a_fixed):
            actions = [(a_fixed, 1)] if a_fixed is not None else [(a, self.pi[s][a]) for a in range(self.A)]
            if t == n:
                if final_action:
                    return self.gamma**n * sp.Add(*[p * final(s, a) for a, p in actions])
                return self.gamma**n * final(s)
            total = sp.Integer(0)
            for a, pa in actions:
                for s2 in range(self.S):
                    total += pa * self.P[s][a][s2] * (self.gamma**t * step(s, a, s2) + rec(t + 1, s2, None))
            return total

        return rec(0, s0, a0)


@functools.lru_cache(maxsize=None)
def mdp2() -> SymbolicMDP:
    """The symbolic 2×2 MDP.  Two-outcome probabilities are written (p, 1 − p), so every
    expectation over paths is a polynomial (fast to expand exactly)."""
    S = A = 2
    p_sym = [[sp.Symbol(f"p{s}{a}", positive=True) for a in range(A)] for s in range(S)]
    P = tuple(tuple((p_sym[s][a], 1 - p_sym[s][a]) for a in range(A)) for s in range(S))
    rewards = tuple(tuple(sp.Symbol(f"R{s}{a}", real=True) for a in range(A)) for s in range(S))
    x_sym = [sp.Symbol(f"x{s}", positive=True) for s in range(S)]
    pi = tuple((x_sym[s], 1 - x_sym[s]) for s in range(S))
    K = tuple(sp.Symbol(f"K{s}", nonnegative=True) for s in range(S))
    V = tuple(sp.Symbol(f"V{s}", real=True) for s in range(S))
    Q = tuple(tuple(sp.Symbol(f"Q{s}{a}", real=True) for a in range(A)) for s in range(S))
    pbar = tuple(tuple(sp.Symbol(f"pibar{s}{a}", positive=True) for a in range(A)) for s in range(S))
    values = {GAMMA: R(3, 4), TAU: WITNESS_TAU}
    p_values = [[R(1, 3), R(3, 4)], [R(1, 2), R(2, 7)]]
    r_values = [[R(1), R(-1, 2)], [R(1, 3), R(2)]]
    x_values = (R(1, 4), R(2, 3))
    k_values = (R(1, 5), R(1, 2))
    v_values = (R(1, 2), R(-3, 2))
    q_values = [[R(1), R(-1, 4)], [R(3, 2), R(1, 3)]]
    pbar_values = [[R(1, 3), R(2, 3)], [R(3, 4), R(1, 4)]]
    for s in range(S):
        values[K[s]] = k_values[s]
        values[V[s]] = v_values[s]
        values[x_sym[s]] = x_values[s]
        for a in range(A):
            values[p_sym[s][a]] = p_values[s][a]
            values[rewards[s][a]] = r_values[s][a]
            values[Q[s][a]] = q_values[s][a]
            values[pbar[s][a]] = pbar_values[s][a]
    label = (
        "2 states × 2 actions, γ = 3/4, τ = 2/5, P(s'=0|s,a) = [[1/3, 3/4], [1/2, 2/7]], "
        "R = [[1, −1/2], [1/3, 2]], π(a=0|s) = (1/4, 2/3), KL = (1/5, 1/2), V = (1/2, −3/2), "
        "Q = [[1, −1/4], [3/2, 1/3]], π̄ = [[1/3, 2/3], [3/4, 1/4]]"
    )
    return SymbolicMDP(S, A, GAMMA, TAU, P, rewards, pi, K, V, Q, pbar, Witness(values, label))
