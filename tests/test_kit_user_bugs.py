"""The conformance kit on *user-written* wrong adapters: the catalogue bugs that patching cannot reach.

tests/test_kit.py applies most ``equiv.*`` catalogue bugs by patching the variant into the namespaces the
reference adapter reaches.  Nine cannot be applied that way: their function is the kit's own ground truth
(``equiv.mdp.boltzmann_backup``) or an exact evaluator / diagnostic that no adapter calls (``equiv.expected``,
``equiv.mdp``'s n-step, λ and finite-horizon operators, ``equiv.losses.soft_q_gradient_terms``).  A user can
still make each of those mistakes in their own code, so here each one is written into an adapter, in the
adapter's own code, the way a user would (one ``mistake`` flag), and:

* the kit's check, through its plain function entry point, raises ``ConformanceError`` naming the right
  equation, missing by more than 10³ × its tolerance (or, for the naive estimator, ``classify_pg_loss``
  says "naive" and the A2C check names Eq. (80));
* the same adapter code with the flag flipped (``mistake=None``) passes the same check with the same
  examples: the adapter differs from a correct one only in the mistake.

Checks run with their explicit first example + 2 generated ones, no shrinking (as in tests/test_kit.py).
"""

from __future__ import annotations

import math

import pytest
import torch

from equiv import (
    boltzmann_log_policy,
    gather_actions,
    kl_divergence,
    nstep_regularized_return,
    nstep_return,
    nstep_soft_target,
    scale_gradient,
    soft_value,
    td_errors,
)
from equiv.testing import CHECKS, ConformanceError, Unsupported, checks, classify_pg_loss

EXAMPLES = 2


def _log_ref(ref_policy: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """log π̄ [..., A]; ``None`` is the uniform π̄."""
    if ref_policy is None:
        return torch.full_like(like, -math.log(like.shape[-1]))
    return torch.log(ref_policy)


class _Adapter:
    """A user's adapter with one switchable mistake (``None``: the correct code)."""

    reference_policy = True  # general π̄ (the kit then draws non-uniform reference policies)
    mistakes: tuple[str, ...] = ()

    def __init__(self, mistake: str | None = None):
        if mistake is not None and mistake not in self.mistakes:
            raise ValueError(f"mistake must be None or one of {self.mistakes}, got {mistake!r}")
        self.mistake = mistake
        self.name = f"{type(self).__name__}(mistake={mistake!r})"


class UserSoftDQN(_Adapter):
    """1-step soft Q-learning target y = r + γ(1 − d) V_Q̄(s'), Eq. (45), with its own soft value (29).

    hard_max: the DQN bootstrap max_a' Q̄(s', a') left where V_Q̄(s') belongs (catalogue hard_max_backup);
    missing_tau: V = log E_π̄ exp(Q/τ) without the τ in front of the log (soft_backup_missing_tau).
    """

    mistakes = ("hard_max", "missing_tau")

    def soft_value(self, q, tau, ref_policy):
        log_z = torch.logsumexp(q / tau + _log_ref(ref_policy, q), dim=-1)
        return log_z if self.mistake == "missing_tau" else tau * log_z

    def soft_target(self, batch, *, gamma, tau, n):
        if n != 1:
            raise Unsupported("a 1-step target")
        if self.mistake == "hard_max":
            next_v = batch.next_q.max(-1).values
        else:
            next_v = self.soft_value(batch.next_q, tau, batch.next_ref_policy)
        return batch.rewards + gamma * torch.where(batch.terminated, 0.0, next_v)


class UserLambdaTarget(_Adapter):
    """λ soft target y^λ_t = τ KL_t + V_Q̄(s_t) + Σ_k (γλ)^k δ_{t+k}, Eq. (43) corrected, δ of Eq. (36).

    printed_eq43: Q̄(s_t, a_t) in place of τ KL_t + V_Q̄(s_t), as Eq. (43) is printed (printed_eq43_lambda_backup).
    ``form="q_recursion"`` is another correct target, written with the actions (Peng / Retrace style):
    y_t = r_t + γ V_Q̄(s_{t+1}) + γλ (y_{t+1} − Q̄(s_{t+1}, a_{t+1})), unbiased on-policy because
    E_{a∼π^B_Q̄}[Q̄(s, a)] = V_Q̄(s) + τ KL(s) (Eq. (31)); with ``mistake="next_action_off_by_one"`` it uses
    a_t for a_{t+1}.
    """

    mistakes = ("printed_eq43", "next_action_off_by_one")

    def __init__(self, mistake: str | None = None, form: str = "td_errors"):
        super().__init__(mistake)
        forms = {"td_errors": (None, "printed_eq43"), "q_recursion": (None, "next_action_off_by_one")}
        if mistake not in forms.get(form, ()):
            raise ValueError(f"form must be one of {list(forms)} with a mistake of its own, got {form!r}, {mistake!r}")
        self.form = form

    def lambda_soft_target(self, batch, *, gamma, tau, lam):
        kl = kl_divergence(boltzmann_log_policy(batch.q, tau, batch.ref_policy), batch.ref_policy)
        v = soft_value(batch.q, tau, batch.ref_policy)
        next_v = torch.where(batch.terminated, 0.0, soft_value(batch.next_q, tau, batch.next_ref_policy))
        done = batch.terminated | batch.truncated
        q_taken = gather_actions(batch.q, batch.actions)
        T = batch.rewards.shape[0]
        if self.form == "q_recursion":
            q_next = torch.roll(q_taken, -1, 0) if self.mistake != "next_action_off_by_one" else \
                gather_actions(torch.roll(batch.q, -1, 0), batch.actions)
            out, running = [], None
            for t in range(T - 1, -1, -1):
                y = batch.rewards[t] + gamma * next_v[t]
                if running is not None:  # the episode goes on in row t + 1
                    y = y + torch.where(done[t], 0.0, gamma * lam * (running - q_next[t]))
                out.append(y)
                running = y
            return torch.stack(out[::-1])
        delta = td_errors(batch.rewards, kl, v, next_v, batch.terminated, gamma=gamma, tau=tau)
        acc, running = [], torch.zeros_like(delta[0])
        for t in range(T - 1, -1, -1):
            running = delta[t] + gamma * lam * torch.where(done[t], 0.0, running)
            acc.append(running)
        start = q_taken if self.mistake == "printed_eq43" else tau * kl + v
        return start + torch.stack(acc[::-1])


class UserA2C(_Adapter):
    """A2C with the entropy-regularised ("proper", Eq. (80)) n-step advantage, Eqs. (84)-(86), and a soft-Q
    loss ½(Q(s_t,a_t) − y_t)² with the n-step target (46), for the equivalence check (65).

    naive: plain returns Σ γ^d r + γ^m V, the KL at s_t only — the naive estimator (79) used where (80) is
        claimed (one_step_entropy_bonus_claimed_proper);
    no_kl_gradient: L_policy = −log π Δ without + τ KL(s_t), as Eq. (52) is printed;
    r0: the step-t weight uses the segment's first reward r_0 in place of r_t, as Eq. (49) is printed
        (the value target stays right: the mistake is the policy gradient's);
    printed_eq37: value target Σ_{d<m} γ^d δ_{t+d} + γ^m V(s_{t+m}) as Eq. (37) is printed, where the
        n-step value backup is V(s_t) + Σ γ^d δ_{t+d};
    value_coef_half: A2C's default c = 0.5 kept whatever c it is asked for (value_coefficient_half): the
        A2C "matched" to soft Q-learning, which needs c = 1/τ (Eq. (65)).
    """

    mistakes = ("naive", "no_kl_gradient", "r0", "printed_eq37", "value_coef_half")

    def soft_q_loss(self, batch, *, gamma, tau, n):
        kl = kl_divergence(boltzmann_log_policy(batch.q, tau, batch.ref_policy), batch.ref_policy)
        target = nstep_soft_target(batch.rewards, kl, soft_value(batch.next_q, tau, batch.next_ref_policy),
                                   batch.terminated, batch.truncated, gamma=gamma, tau=tau, n=n)
        return 0.5 * (gather_actions(batch.q, batch.actions) - target.detach()) ** 2

    def a2c_loss(self, batch, *, gamma, tau, value_coef, n):
        kl = kl_divergence(batch.log_pi, batch.ref_policy)
        values, next_values = batch.values.detach(), batch.next_values.detach()
        segment = {"terminated": batch.terminated, "truncated": batch.truncated, "gamma": gamma, "n": n}
        value_target = nstep_regularized_return(batch.rewards, kl.detach(), next_values, tau=tau, **segment)
        advantage = value_target - values  # Σ_{d<m} γ^d δ_{t+d}, Eqs. (47), (58)
        if self.mistake == "naive":
            value_target = nstep_return(batch.rewards, next_values, **segment)
            advantage = value_target - values
        elif self.mistake == "r0":
            advantage = advantage - batch.rewards + batch.rewards[:1]
        elif self.mistake == "printed_eq37":
            bootstrap = nstep_return(torch.zeros_like(batch.rewards), next_values, **segment)  # γ^m V(s_{t+m})
            value_target = advantage + bootstrap
        log_pi_taken = gather_actions(batch.log_pi, batch.actions)
        policy = -log_pi_taken * advantage.detach()
        if self.mistake != "no_kl_gradient":
            policy = policy + tau * kl
        c = 0.5 if self.mistake == "value_coef_half" else value_coef
        return policy + c * 0.5 * (batch.values - value_target.detach()) ** 2


class UserMatchedSoftQ(UserA2C):
    """§6.3: soft Q-learning with Q_θ = V_θ + τ log(π_θ/π̄) (Eq. (57)), the gradient into the advantage
    stream scaled by 1/τ and into the value stream by c, offered as A2C with value coefficient c (its
    ``a2c_loss``; ``soft_q_loss`` is UserA2C's plain one).  Eq. (65) is what makes the rescaled loss A2C:
    τ × its gradient at c = 1/τ is the soft-Q gradient, which check_eq65 decides.

    one_over_gamma: the advantage stream scaled by 1/γ, as §6.3 is printed (printed_sec63_one_over_gamma).

    (check_a2c_proper cannot decide this claim: the matched loss equals the A2C loss only in expectation
    over a_t ∼ π, and the kit's next-episode rows have fixed actions, so even the 1/τ version "differs"
    there; check_eq65 draws no episode ends, so every row is on-policy.)
    """

    mistakes = ("one_over_gamma",)

    def a2c_loss(self, batch, *, gamma, tau, value_coef, n):
        kl = kl_divergence(batch.log_pi, batch.ref_policy).detach()
        target = nstep_soft_target(batch.rewards, kl, batch.next_values.detach(), batch.terminated,
                                   batch.truncated, gamma=gamma, tau=tau, n=n)
        advantage_stream = tau * gather_actions(batch.log_pi - _log_ref(batch.ref_policy, batch.log_pi),
                                                batch.actions)
        scale = 1 / gamma if self.mistake == "one_over_gamma" else 1 / tau
        q_taken = scale_gradient(batch.values, value_coef) + scale_gradient(advantage_stream, scale)
        return 0.5 * (q_taken - target.detach()) ** 2


class UserNStepSoftTarget(_Adapter):
    """2-step soft Q-learning target y_t = τ KL_t + V_Q̄(s_t) + Σ_{d<m} γ^d δ_{t+d}, Eq. (47) (= Eq. (46)).

    printed_eq37: γ^m V_Q̄(s_{t+m}) in place of V_Q̄(s_t), the n-step backup written as Eq. (37) is printed
    (Σ γ^d δ already telescopes to the return minus V(s_t)), here in the target of Q.
    """

    mistakes = ("printed_eq37",)

    def soft_target(self, batch, *, gamma, tau, n):
        if n != 2:
            raise Unsupported("a 2-step target")  # one n keeps the test cheap; the mistake shows for every n
        kl = kl_divergence(boltzmann_log_policy(batch.q, tau, batch.ref_policy), batch.ref_policy)
        v = soft_value(batch.q, tau, batch.ref_policy)
        next_v = soft_value(batch.next_q, tau, batch.next_ref_policy)
        segment = {"terminated": batch.terminated, "truncated": batch.truncated, "gamma": gamma, "n": n}
        delta_sum = nstep_regularized_return(batch.rewards, kl, next_v, tau=tau, **segment) - v  # Eq. (58)
        if self.mistake == "printed_eq37":
            return tau * kl + delta_sum + nstep_return(torch.zeros_like(v), next_v, **segment)  # + γ^m V(s_{t+m})
        return tau * kl + v + delta_sum


# catalogue bug → its user-level forms: [(adapter class, mistake, check, a substring of the equation it names)].
# Why these equations: the 1-step target's expectation is the soft backup [T Q̄] of (38)-(39) that
# boltzmann_backup computes, which check_soft_target states as Eq. (45); the value target V̂ = V + Δ of
# (53)-(54) corrected is the sample form of the n-step value backup (34) = (37) corrected, V + E[Σ γ^d δ];
# (80) is the proper n-step estimator whose step-t weight starts with r_t (the printed (49) has r_0) and which
# carries −τ∇KL(s_t) (the printed (52) has none); §6.3's rescaling turns τ·∇L_policy of Eq. (65) into ∇L_policy.
# The explicit first examples have τ = 0.7, γ = 0.9: away from τ = 1 (missing τ), τ = 2 (c = 0.5 = 1/τ) and
# γ = τ (1/γ = 1/τ), where those mistakes vanish.
USER_LEVEL = {
    "hard_max_backup": [(UserSoftDQN, "hard_max", "soft_target", "Eq. (45)")],
    "soft_backup_missing_tau": [(UserSoftDQN, "missing_tau", "soft_target", "Eq. (45)"),
                                (UserSoftDQN, "missing_tau", "boltzmann", "Eq. (29)")],
    "printed_eq43_lambda_backup": [(UserLambdaTarget, "printed_eq43", "lambda_target", "Eqs. (42)-(43)")],
    "printed_eq37_nstep_value_backup": [(UserA2C, "printed_eq37", "a2c", "Eqs. (53)-(54) corrected"),
                                        (UserNStepSoftTarget, "printed_eq37", "soft_target", "Eq. (46)")],
    "printed_sec63_one_over_gamma": [(UserMatchedSoftQ, "one_over_gamma", "eq65", "Eq. (65)")],
    "printed_eq49_r0": [(UserA2C, "r0", "a2c", "Eq. (80)")],
    "printed_eq52_without_kl_gradient": [(UserA2C, "no_kl_gradient", "a2c", "Eq. (80)")],
    "value_coefficient_half": [(UserA2C, "value_coef_half", "eq65", "Eq. (65)")],
    "one_step_entropy_bonus_claimed_proper": [(UserA2C, "naive", "a2c", "Eq. (80)")],
}
CASES = [(name, *form) for name, forms in USER_LEVEL.items() for form in forms]
IDS = [f"{name}-{cls.__name__}-{check}" for name, cls, _, check, _ in CASES]


@pytest.mark.parametrize(("name", "cls", "mistake", "check", "equation"), CASES, ids=IDS)
def test_user_level_bug_fails_its_check_naming_the_equation(name, cls, mistake, check, equation):
    with pytest.raises(ConformanceError) as info:
        CHECKS[check][0](cls(mistake), examples=EXAMPLES, shrink=False)
    assert info.value.check == check
    assert equation in info.value.equation, info.value.equation
    assert info.value.error > 1e3 * info.value.tol  # misses by a wide margin, not by rounding


# Each (adapter class, check) once: the correct version is the same whichever mistake is switched off.
CORRECT = sorted({(cls, check) for _, cls, _, check, _ in CASES}, key=lambda c: (c[0].__name__, c[1]))


@pytest.mark.parametrize(("cls", "check"), CORRECT, ids=[f"{cls.__name__}-{check}" for cls, check in CORRECT])
def test_the_same_adapter_without_the_mistake_passes(cls, check):
    CHECKS[check][0](cls(None), examples=EXAMPLES, shrink=False)  # raises ConformanceError if it differs


def test_naive_user_a2c_is_classified_naive_and_the_proper_one_proper():
    naive = classify_pg_loss(UserA2C("naive"))
    assert (naive.estimator, naive.value_target) == ("naive", "plain")
    assert naive.policy_error_vs_naive <= naive.tol < 1e-3 < naive.policy_error_vs_proper
    proper = classify_pg_loss(UserA2C(None))
    assert (proper.estimator, proper.value_target) == ("proper", "regularised")


def test_lambda_target_written_with_the_actions():
    """TargetBatch.actions is the a_t of each row: a correct target that needs it passes, and the same
    target reading a_t where a_{t+1} belongs fails (the negative control of the contract's actions)."""
    CHECKS["lambda_target"][0](UserLambdaTarget(None, form="q_recursion"), examples=EXAMPLES, shrink=False)
    with pytest.raises(ConformanceError) as info:
        CHECKS["lambda_target"][0](UserLambdaTarget("next_action_off_by_one", form="q_recursion"),
                                   examples=EXAMPLES, shrink=False)
    assert "Eqs. (42)-(43)" in info.value.equation and info.value.error > 1e3 * info.value.tol


def test_unknown_mistake_is_refused():
    with pytest.raises(ValueError, match="mistake must be None or one of .*, got 'typo'"):
        UserA2C("typo")
    with pytest.raises(ValueError, match="form must be one of .* got 'td_errors', 'next_action_off_by_one'"):
        UserLambdaTarget("next_action_off_by_one")  # a mistake its form does not have would do nothing


def _rel_grad_errors(adapter, *, terminal: bool, truncate_at: int | None, value_coef: float) -> tuple[float, float]:
    """(policy part, value part) relative errors of the adapter's exact expected A2C gradient vs the proper
    estimator's, on the kit's enumerated paths of one fixed case (T = 3, n = None)."""
    case = checks._fixed_case(adapter, seed=3, S=2, A=3, terminal=terminal)
    g = checks._a2c_gradients(adapter, checks._a2c_setup(adapter, case, 3, None, truncate_at, value_coef))
    return tuple(float((a - p).abs().max() / p.abs().max()) for a, p in zip(g["adapter"], g["proper"]))


def test_sec63_matched_loss_is_a2c_with_coefficient_c_on_on_policy_rows():
    """§6.3 at c = 0.5 (the paper's), which check_eq65 (c = 1/τ) does not reach: with the 1/τ scaling the
    expected gradient is that of A2C with coefficient c (to 1e-12: float64 enumeration, ~1e-16 measured);
    with the printed 1/γ the policy part is off by τ/γ − 1.  Only on paths without episode ends: the kit's
    next-episode rows have fixed actions, where a loss that equals A2C only in expectation over a_t ∼ π
    differs (asserted, so that the docstring of UserMatchedSoftQ stays true)."""
    assert max(_rel_grad_errors(UserMatchedSoftQ(None), terminal=False, truncate_at=None, value_coef=0.5)) < 1e-12
    policy, value = _rel_grad_errors(UserMatchedSoftQ("one_over_gamma"), terminal=False, truncate_at=None,
                                     value_coef=0.5)
    assert policy == pytest.approx(abs(0.7 / 0.9 - 1), rel=1e-9) and value < 1e-12  # τ = 0.7, γ = 0.9
    assert _rel_grad_errors(UserMatchedSoftQ(None), terminal=False, truncate_at=0, value_coef=0.5)[0] > 0.1
