"""Section 2, the bandit: soft Q-learning's expected gradient is a policy gradient plus a value error.

Claims checked exactly (float64; expectations over actions and over a finite reward
distribution are sums, gradients are autograd):

* Eq. (6):  E_π[r̄] − τ KL[π‖π̄] = τ log E_π̄[exp(r̄/τ)] − τ KL[π‖π^B_r̄] for every π, hence
  π^B_r̄ is the unique maximiser of η (Eq. (1)).
* Eq. (13): v_θ = E_{π^B}[q_θ] − τ KL[π^B‖π̄].
* Eq. (21): ∇KL[π^B_{q_θ}‖π̄] = E_{π^B}[∇log π^B · log(π^B/π̄)].
* Eqs. (22)-(23): with a ∼ π^B_{q_θ} (held fixed), the expected squared-error gradient (9) equals
  −τ ∇η(π^B_{q_θ}) ("policy gradient") plus the value-error gradient.

Tolerance: RTOL = 1e-9 relative to the magnitude of the summands being combined
(``summand_scale``: max_a π(a)·(|q(a)| + |r| + |v| + τ|log(π/π̄)(a)| + τ KL + τ)/τ · |∂q/∂θ|, the
size of the per-action terms inside autograd's backward pass), not to the result: gradients
such as ∇KL are differences of O(1) summands that can cancel to ~1e-9 when π̄ has entries near
1e-12, and float64 gives them an absolute (not relative) accuracy of ~1e-16 × summands.  These
are sums of ≤ 8·3 products (unit roundoff 1.1e-16); errors observed (thorough profile) are
≤ 2e-12 of that scale, so 1e-9 leaves ≥ 500× headroom while any real discrepancy (a missing
term) is O(1).  Negative controls require a relative gap > GAP = 1e-4 and draw instances where
the wrong variant is wrong by construction (see ``generic_bandits``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from equiv import boltzmann_log_policy, kl_divergence, regularized_expectation, soft_value
from equiv.expected import bandit_policy_gradient_value_loss, bandit_soft_q_loss
from tests.strategies import (
    Bandit,
    _t,
    assert_close,
    bandits,
    exact_reference,
    log_uniform,
    relative_gap,
    seeds,
)

RTOL = 1e-9
GAP = 1e-4
FEATURES = 3

# τ at least a factor 2 away from 1: variants that are wrong only by a missing factor τ are
# then wrong by ≥ 50%.
taus_away_from_one = st.one_of(log_uniform(0.05, 0.5), log_uniform(2.0, 20.0))


# --- construction (independent of equiv's implementation: plain log-softmax arithmetic) ----------------


def log_boltzmann(q: torch.Tensor, tau: float, ref: torch.Tensor) -> torch.Tensor:
    """log π^B_q = log π̄ + q/τ − log Σ π̄ exp(q/τ), Eqs. (10), (12)."""
    logits = q / tau + torch.log(ref)
    return logits - torch.logsumexp(logits, -1, keepdim=True)


def kl(log_p: torch.Tensor, log_ref: torch.Tensor) -> torch.Tensor:
    """KL[p‖ref] = Σ p (log p − log ref), with 0 log 0 = 0 where p = 0 (log p = −inf)."""
    terms = log_p.exp() * (log_p - log_ref)
    return torch.where(log_p == -math.inf, 0.0, terms).sum(-1)


class BanditQ:
    """θ ↦ q_θ ``[A]``: tabular (θ = q) or linear in fixed random features (q = Φθ)."""

    def __init__(self, kind: str, bandit: Bandit, seed: int):
        self.kind = kind
        if kind == "tabular":
            self.theta = bandit.q_init.clone().requires_grad_()
        else:
            gen = torch.Generator().manual_seed(seed)
            self.features = torch.randn(bandit.num_actions, FEATURES, generator=gen)
            # Scale like q_init so that q/τ spans the same range.
            scale = float(bandit.q_init.abs().max())
            self.theta = (scale * torch.randn(FEATURES, generator=gen) / math.sqrt(FEATURES)).requires_grad_()

    def q(self) -> torch.Tensor:
        return self.theta if self.kind == "tabular" else self.features @ self.theta

    def grad(self, loss: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(loss, [self.theta], retain_graph=True)
        return g

    def jacobian_norm(self) -> float:
        """max_j Σ_a |∂q(a)/∂θ_j|: bounds |∇_θ f|∞ by this times |∇_q f|∞."""
        return 1.0 if self.kind == "tabular" else float(self.features.abs().sum(0).max())


def summand_scale(model: BanditQ, bandit: Bandit, rewards: torch.Tensor | None = None) -> float:
    """Magnitude of the per-action summands inside the gradients compared (see module docstring)."""
    tau, ref = bandit.tau, bandit.ref_policy
    q = model.q().detach()
    log_pi = log_boltzmann(q, tau, ref)
    log_ratio = log_pi - torch.log(ref)
    v = tau * torch.logsumexp(q / tau + torch.log(ref), -1)
    r = torch.zeros_like(q) if rewards is None else rewards.abs().max(-1).values
    size = q.abs() + r + v.abs() + tau * log_ratio.abs() + tau * kl(log_pi, torch.log(ref)) + tau
    return float((log_pi.exp() * size).max()) / tau * model.jacobian_norm()


def reward_outcomes(bandit: Bandit, seed: int, outcomes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """A finite reward distribution per action, ``(values [A, K], probs [A, K])``.

    Centred on ``bandit.reward_means`` with spread comparable to it, so that E_r is a real sum.
    """
    rng = np.random.default_rng(seed)
    A = bandit.num_actions
    probs = exact_reference(_t(rng.dirichlet(np.ones(outcomes), size=A)))
    spread = float(bandit.reward_means.abs().max()) + 1e-3
    noise = _t(rng.normal(0, spread, (A, outcomes)))
    noise = noise - (probs * noise).sum(-1, keepdim=True)  # E[r|a] = r̄(a) (to rounding)
    return bandit.reward_means[:, None] + noise, probs


def soft_q_objective(q: torch.Tensor, rewards: torch.Tensor, probs: torch.Tensor, pi: torch.Tensor):
    """E_{a∼π, r}[½ (q(a) − r)²] with π detached: gradient is Eq. (9)."""
    return (pi.detach()[:, None] * probs * 0.5 * (q[:, None] - rewards) ** 2).sum()


def policy_gradient_part(q, rewards, probs, tau, ref) -> torch.Tensor:
    """−τ E_{a∼π^B_q, r}[r − τ KL[π^B_q‖π̄]] with π^B differentiated: "policy gradient" of Eq. (23)."""
    log_pi = log_boltzmann(q, tau, ref)
    mean_reward = (probs * rewards).sum(-1)
    eta = (log_pi.exp() * mean_reward).sum() - tau * kl(log_pi, torch.log(ref))
    return -tau * eta


def value_error_part(q, rewards, probs, tau, ref) -> torch.Tensor:
    """E_{a∼π, r}[½ (v_θ − (r − τ KL[π‖π̄]))²] at π = π^B_q held fixed: "value error" of Eq. (23)."""
    log_pi = log_boltzmann(q, tau, ref).detach()
    v = tau * torch.logsumexp(q / tau + torch.log(ref), -1)
    target = rewards - tau * kl(log_pi, torch.log(ref))
    return (log_pi.exp()[:, None] * probs * 0.5 * (v - target) ** 2).sum()


def eq22_surrogate(q, rewards, probs, tau, ref) -> torch.Tensor:
    """A scalar whose gradient is Eq. (22):

    E_{a∼π^B, r}[τ ∇log π^B(a) (v − r) + τ² ∇KL[π^B‖π̄] + ∇v (v + τ KL − r)].
    """
    log_pi = log_boltzmann(q, tau, ref)
    pi = log_pi.detach().exp()
    v = tau * torch.logsumexp(q / tau + torch.log(ref), -1)
    kl_theta = kl(log_pi, torch.log(ref))
    vd, kld = v.detach(), kl_theta.detach()
    per_outcome = tau * log_pi[:, None] * (vd - rewards) + v * (vd + tau * kld - rewards)
    return (pi[:, None] * probs * per_outcome).sum() + tau**2 * kl_theta


# --- negative-control instances -------------------------------------------------------------------------


@st.composite
def generic_bandits(draw: st.DrawFn) -> Bandit:
    """Bandits on which the wrong variants of (6), (13), (21), (23) are wrong by construction.

    π̄ = ½ Dirichlet(1) + ½ uniform (every π̄(a) ≥ 1/(2A)); q = τ z with z ∼ N(0,1) rescaled to
    Var_π̄(z) = 1, so π^B is far from deterministic and from π̄ (KL[π^B‖π̄] = O(1), ∇KL ≠ 0);
    r̄ = q − τ (u + m) with u ∼ N(0,1) standardised under π^B (E u = 0, Var u = 1), clipped to
    [−4, 4] (so rewards stay O(τ)), and |m| ∈ [0.5, 2]: then |E_{π^B}[q − r̄]| ≥ τ/4 is bounded
    away from 0 (the value-error gradient cannot vanish) and q − r̄ is far from constant (the
    policy gradient cannot vanish).  τ is a factor ≥ 2 away from 1.  A ≥ 3.  (With unnormalised z
    and u, relative gaps went down to ~8e-4 in 1000 draws; as constructed, the smallest gap of any
    control here was 4.9e-3 in 3000 draws.)
    """
    A = draw(st.integers(3, 8))
    tau = draw(taus_away_from_one)
    m = draw(st.floats(0.5, 2.0)) * draw(st.sampled_from([-1.0, 1.0]))
    rng = np.random.default_rng(draw(seeds))
    ref = exact_reference(_t(0.5 * rng.dirichlet(np.ones(A)) + 0.5 / A))  # every π̄(a) ≥ 1/(2A)
    z = _t(rng.normal(0, 1, A))
    z = z / ((ref * z**2).sum() - (ref * z).sum() ** 2).sqrt()
    q = tau * z
    pi = log_boltzmann(q, tau, ref).exp()
    u = _t(rng.normal(0, 1, A))
    u = u - (pi * u).sum()
    u = (u / (pi * u**2).sum().sqrt()).clamp(-4.0, 4.0)  # clipping moves E_π u by ≤ 1/4 (Chebyshev)
    reward_means = q - tau * (u + m)
    return Bandit(reward_means=reward_means, ref_policy=ref, tau=tau, q_init=q)


# --- Eq. (6) and the maximiser ----------------------------------------------------------------------------


def eta(pi_log: torch.Tensor, reward_means: torch.Tensor, tau: float, ref: torch.Tensor) -> torch.Tensor:
    """η(π) = E_π[r̄] − τ KL[π‖π̄], Eq. (1)."""
    return (pi_log.exp() * reward_means).sum() - tau * kl(pi_log, torch.log(ref))


def random_log_policy(rng: np.random.Generator, A: int) -> torch.Tensor:
    concentration = 10.0 ** rng.uniform(-1, 1)
    p = np.maximum(rng.dirichlet(np.full(A, concentration)), 1e-300)
    return torch.log(exact_reference(_t(p)))


@given(bandits(), seeds)
def test_eq6_regularized_reward_identity_for_any_policy(bandit: Bandit, seed: int):
    """Eq. (6): E_π[r̄] − τ KL[π‖π̄] = τ log E_π̄[exp(r̄/τ)] − τ KL[π‖π^B_r̄] for arbitrary π."""
    tau, ref, r = bandit.tau, bandit.ref_policy, bandit.reward_means
    log_pi = random_log_policy(np.random.default_rng(seed), bandit.num_actions)
    log_pi_b = log_boltzmann(r, tau, ref)
    log_partition = tau * torch.logsumexp(r / tau + torch.log(ref), -1)
    lhs = eta(log_pi, r, tau, ref)
    rhs = log_partition - tau * kl(log_pi, log_pi_b)
    # Also through the library: regularized_expectation is the left-hand side of (6).
    library_lhs = regularized_expectation(r, log_pi, tau, ref)
    scale = max(
        abs(float(x)) for x in (lhs, log_partition, tau * kl(log_pi, log_pi_b), (log_pi.exp() * r).sum())
    )
    assert_close(lhs, rhs, RTOL, "Eq. (6)", scale=scale)
    assert_close(library_lhs, lhs, RTOL, "regularized_expectation vs Eq. (1)", scale=scale)


@given(generic_bandits(), seeds)
def test_eq6_negative_control_reversed_kl(bandit: Bandit, seed: int):
    """Eq. (6) with KL[π^B‖π] in place of KL[π‖π^B] does not hold.

    π is pushed off π^B (half its mass on π^B's least likely action), so both KLs are O(1) and differ.
    """
    tau, ref, r = bandit.tau, bandit.ref_policy, bandit.reward_means
    log_pi_b = log_boltzmann(r, tau, ref)
    pi = 0.5 * log_pi_b.exp() + 0.5 * torch.nn.functional.one_hot(log_pi_b.argmin(), bandit.num_actions)
    log_pi = torch.log(pi)
    lhs = eta(log_pi, r, tau, ref)
    log_partition = tau * torch.logsumexp(r / tau + torch.log(ref), -1)
    right = log_partition - tau * kl(log_pi, log_pi_b)
    wrong = log_partition - tau * kl(log_pi_b, log_pi)
    assert_close(lhs, right, RTOL, "Eq. (6)", scale=max(abs(float(lhs)), abs(float(log_partition))))
    assert relative_gap(lhs, wrong) > GAP


@given(bandits(), seeds, st.floats(1e-3, 0.5))
def test_eq6_boltzmann_policy_is_the_unique_maximiser(bandit: Bandit, seed: int, epsilon: float):
    """Eqs. (1)-(6): η(π) < η(π^B_r̄) strictly, for random π and for perturbations of π^B.

    The gap must be τ KL[π‖π^B] (Eq. (6)); it is > 0 because π ≠ π^B.
    """
    tau, ref, r = bandit.tau, bandit.ref_policy, bandit.reward_means
    rng = np.random.default_rng(seed)
    log_pi_b = log_boltzmann(r, tau, ref)
    best = eta(log_pi_b, r, tau, ref)
    u = exact_reference(_t(rng.dirichlet(np.ones(bandit.num_actions))))
    candidates = {
        "random": random_log_policy(rng, bandit.num_actions),
        "perturbed": torch.log((1 - epsilon) * log_pi_b.exp() + epsilon * u),
    }
    for name, log_pi in candidates.items():
        value = eta(log_pi, r, tau, ref)
        assert float(value) < float(best), f"{name}: η(π) = {float(value)!r} ≥ η(π^B) = {float(best)!r}"
        gap = tau * kl(log_pi, log_pi_b)
        scale = max(abs(float(best)), abs(float(value)), float(gap))
        assert_close(best - value, gap, RTOL, f"{name}: η(π^B) − η(π) = τ KL[π‖π^B]", scale=scale)


# --- Eq. (13) --------------------------------------------------------------------------------------------


@given(bandits())
def test_eq13_soft_value_is_regularized_expectation_under_boltzmann(bandit: Bandit):
    """Eq. (13): v_θ = τ log E_π̄[exp(q/τ)] = E_{π^B}[q] − τ KL[π^B‖π̄]."""
    tau, ref, q = bandit.tau, bandit.ref_policy, bandit.q_init
    log_pi = log_boltzmann(q, tau, ref)
    mean_q = (log_pi.exp() * q).sum()
    penalty = tau * kl(log_pi, torch.log(ref))
    v = soft_value(q, tau, ref)
    scale = max(abs(float(mean_q)), float(penalty), abs(float(v)))
    assert_close(v, mean_q - penalty, RTOL, "Eq. (13) (library soft_value)", scale=scale)
    assert_close(
        tau * torch.logsumexp(q / tau + torch.log(ref), -1), v, RTOL, "Eq. (11) corrected", scale=scale
    )
    library_rhs = regularized_expectation(q, boltzmann_log_policy(q, tau, ref), tau, ref)
    assert_close(library_rhs, v, RTOL, "Eq. (13) (library regularized_expectation)", scale=scale)


@given(generic_bandits())
def test_eq13_negative_control_kl_sign_flipped(bandit: Bandit):
    """v_θ ≠ E_{π^B}[q] + τ KL[π^B‖π̄] (KL sign flipped): they differ by 2τ KL > 0."""
    tau, ref, q = bandit.tau, bandit.ref_policy, bandit.q_init
    log_pi = log_boltzmann(q, tau, ref)
    wrong = (log_pi.exp() * q).sum() + tau * kl(log_pi, torch.log(ref))
    assert relative_gap(soft_value(q, tau, ref), wrong) > GAP


# --- Eq. (21) --------------------------------------------------------------------------------------------


def kl_gradient_pairs(bandit: Bandit, kind: str, seed: int):
    model = BanditQ(kind, bandit, seed)
    tau, ref = bandit.tau, bandit.ref_policy
    log_pi = log_boltzmann(model.q(), tau, ref)
    direct = model.grad(kl_divergence(log_pi, ref))  # ∇ of the library KL, Eq. (18)
    weights = log_pi.detach().exp()
    log_ratio = (log_pi - torch.log(ref)).detach()
    score_form = model.grad((weights * log_pi * log_ratio).sum())  # Eq. (21): E[∇log π · log(π/π̄)]
    reverse = model.grad((ref * (torch.log(ref) - log_pi)).sum())  # ∇ KL[π̄‖π]: the wrong direction
    return direct, score_form, reverse, summand_scale(model, bandit) / tau


@given(bandits(), st.sampled_from(["tabular", "linear"]), seeds)
def test_eq21_kl_gradient_is_score_times_log_ratio(bandit: Bandit, kind: str, seed: int):
    """Eq. (21): ∇_θ KL[π^B_{q_θ}‖π̄] = E_{a∼π^B}[∇_θ log π^B(a) log(π^B(a)/π̄(a))]."""
    direct, score_form, _, scale = kl_gradient_pairs(bandit, kind, seed)
    assert_close(score_form, direct, RTOL, "Eq. (21)", scale=scale)
    if kind == "tabular":
        # Closed form for θ = q: ∂KL/∂q_b = π_b (q_b − E_π[q]) / τ².
        q, tau = bandit.q_init, bandit.tau
        pi = log_boltzmann(q, tau, bandit.ref_policy).exp()
        closed = pi * (q - (pi * q).sum()) / tau**2
        assert_close(direct, closed, RTOL, "∇KL closed form", scale=scale)


@given(generic_bandits(), seeds)
def test_eq21_negative_control_reverse_kl(bandit: Bandit, seed: int):
    """Eq. (21) is the gradient of KL[π‖π̄], not of KL[π̄‖π]."""
    direct, score_form, reverse, scale = kl_gradient_pairs(bandit, "tabular", seed)
    assert_close(score_form, direct, RTOL, "Eq. (21)", scale=scale)
    assert relative_gap(score_form, reverse) > GAP


# --- Eqs. (22)-(23) --------------------------------------------------------------------------------------


def eq23_gradients(bandit: Bandit, kind: str, seed: int, rewards: torch.Tensor, probs: torch.Tensor):
    model = BanditQ(kind, bandit, seed)
    tau, ref = bandit.tau, bandit.ref_policy
    q = model.q()
    pi = log_boltzmann(q, tau, ref).exp()
    return dict(
        soft_q=model.grad(soft_q_objective(q, rewards, probs, pi)),
        policy=model.grad(policy_gradient_part(q, rewards, probs, tau, ref)),
        value=model.grad(value_error_part(q, rewards, probs, tau, ref)),
        eq22=model.grad(eq22_surrogate(q, rewards, probs, tau, ref)),
        kl=model.grad(kl(log_boltzmann(q, tau, ref), torch.log(ref))),
        library_soft_q=model.grad(bandit_soft_q_loss(q, (probs * rewards).sum(-1), tau, ref)),
        library_rhs=model.grad(bandit_policy_gradient_value_loss(q, (probs * rewards).sum(-1), tau, ref)),
        summands=summand_scale(model, bandit, rewards),
    )


def eq23_scale(g: dict) -> float:
    return max([g["summands"]] + [float(g[k].abs().max()) for k in ("soft_q", "policy", "value")])


@given(bandits(), st.sampled_from(["tabular", "linear"]), seeds)
def test_eq23_soft_q_gradient_equals_pg_plus_value_error(bandit: Bandit, kind: str, seed: int):
    """Eqs. (22)-(23): E_{a∼π^B, r}[∇q(a)(q(a) − r)] = −τ ∇η(π^B_{q_θ}) + ∇(value error).

    Rewards are random (a finite distribution per action); q_θ is tabular or linear.
    """
    rewards, probs = reward_outcomes(bandit, seed)
    g = eq23_gradients(bandit, kind, seed, rewards, probs)
    scale = eq23_scale(g)
    assert_close(g["policy"] + g["value"], g["soft_q"], RTOL, "Eq. (23)", scale=scale)
    assert_close(g["eq22"], g["soft_q"], RTOL, "Eq. (22)", scale=scale)
    # The library's expected losses (which only see E[r|a]) give the same two sides.
    assert_close(g["library_soft_q"], g["soft_q"], RTOL, "bandit_soft_q_loss", scale=scale)
    assert_close(g["library_rhs"], g["soft_q"], RTOL, "bandit_policy_gradient_value_loss", scale=scale)
    if kind == "tabular":
        # Closed form of Eq. (9) for θ = q: π^B(a) (q(a) − E[r|a]).
        pi = log_boltzmann(bandit.q_init, bandit.tau, bandit.ref_policy).exp()
        closed = pi * (bandit.q_init - (probs * rewards).sum(-1))
        assert_close(g["soft_q"], closed, RTOL, "Eq. (9) closed form", scale=scale)


@given(generic_bandits(), seeds)
def test_eq23_negative_control_without_value_error(bandit: Bandit, seed: int):
    """Dropping the value-error term breaks Eq. (23): its gradient is π^B · E_{π^B}[q − r̄] ≠ 0."""
    rewards, probs = reward_outcomes(bandit, seed)
    g = eq23_gradients(bandit, "tabular", seed, rewards, probs)
    assert_close(g["policy"] + g["value"], g["soft_q"], RTOL, "Eq. (23)", scale=eq23_scale(g))
    assert relative_gap(g["policy"], g["soft_q"]) > GAP


@given(generic_bandits(), seeds)
def test_eq23_negative_control_policy_gradient_without_tau(bandit: Bandit, seed: int):
    """The policy gradient enters with factor τ: −∇η + ∇(value error) is wrong for τ ≠ 1."""
    rewards, probs = reward_outcomes(bandit, seed)
    g = eq23_gradients(bandit, "tabular", seed, rewards, probs)
    wrong = g["policy"] / bandit.tau + g["value"]
    assert_close(g["policy"] + g["value"], g["soft_q"], RTOL, "Eq. (23)", scale=eq23_scale(g))
    assert relative_gap(wrong, g["soft_q"]) > GAP


@given(generic_bandits(), seeds)
def test_eq23_negative_control_kl_sign_flipped(bandit: Bandit, seed: int):
    """−τ ∇E[r + τ KL] (KL sign flipped) + value error is wrong: it is off by 2τ² ∇KL ≠ 0."""
    rewards, probs = reward_outcomes(bandit, seed)
    g = eq23_gradients(bandit, "tabular", seed, rewards, probs)
    wrong = g["policy"] - 2 * bandit.tau**2 * g["kl"]  # −τ∇(E r − τKL) − 2τ²∇KL = −τ∇(E r + τKL)
    assert_close(g["policy"] + g["value"], g["soft_q"], RTOL, "Eq. (23)", scale=eq23_scale(g))
    assert relative_gap(wrong + g["value"], g["soft_q"]) > GAP
