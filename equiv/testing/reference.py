"""The reference adapter: equiv's own functions wrapped to the kit's contracts.

``EQUIV`` passes every check; the kit's own tests make wrong variants of it by replacing one equiv
function (a bug of tests/bug_catalogue.py) in the namespaces this module and equiv.targets/losses use.
"""

from __future__ import annotations

import math

from equiv.boltzmann import boltzmann_log_policy, kl_divergence, soft_value
from equiv.losses import a2c_loss, gather_actions, soft_q_loss
from equiv.targets import (
    entropy_bonus_target,
    lambda_soft_target,
    nstep_advantage,
    nstep_soft_target,
    one_step_soft_target,
)

from .contracts import A2CBatch, SoftQBatch, TargetBatch

__all__ = ["EQUIV", "EQUIV_ENTROPY", "EquivAdapter", "EquivEntropyAdapter"]


class EquivAdapter:
    """equiv's soft value, targets and losses (time-major, general π̄, float64)."""

    name = "equiv"
    reference_policy = True
    rtol = 1e-9

    def soft_value(self, q, tau, ref_policy):
        return soft_value(q, tau, ref_policy)

    def boltzmann_log_policy(self, q, tau, ref_policy):
        return boltzmann_log_policy(q, tau, ref_policy)

    def soft_target(self, batch: TargetBatch, *, gamma, tau, n):
        if n == 1:  # Eq. (45): y = r + γ V_Q̄(s')
            return one_step_soft_target(batch.rewards, batch.next_q, batch.terminated, gamma=gamma, tau=tau,
                                        ref_policy=batch.next_ref_policy)
        kl = kl_divergence(boltzmann_log_policy(batch.q, tau, batch.ref_policy), batch.ref_policy)
        next_values = soft_value(batch.next_q, tau, batch.next_ref_policy)
        return nstep_soft_target(batch.rewards, kl, next_values, batch.terminated, batch.truncated, gamma=gamma,
                                 tau=tau, n=n)

    def lambda_soft_target(self, batch: TargetBatch, *, gamma, tau, lam):
        kl = kl_divergence(boltzmann_log_policy(batch.q, tau, batch.ref_policy), batch.ref_policy)
        values = soft_value(batch.q, tau, batch.ref_policy)
        next_values = soft_value(batch.next_q, tau, batch.next_ref_policy)
        return lambda_soft_target(batch.rewards, kl, values, next_values, batch.terminated, batch.truncated,
                                  gamma=gamma, tau=tau, lam=lam)

    def soft_q_loss(self, batch: SoftQBatch, *, gamma, tau, n):
        # The target is built from Q_θ itself, in the graph: equiv.soft_q_loss detaches it (Eq. (60)).
        target = self.soft_target(TargetBatch(batch.rewards, batch.q, batch.next_q, batch.terminated,
                                              batch.truncated, batch.ref_policy, batch.next_ref_policy,
                                              batch.actions),
                                  gamma=gamma, tau=tau, n=n)
        return soft_q_loss(gather_actions(batch.q, batch.actions), target)

    def a2c_loss(self, batch: A2CBatch, *, gamma, tau, value_coef, n):
        kl = kl_divergence(batch.log_pi, batch.ref_policy)
        advantage = nstep_advantage(batch.rewards, kl, batch.values, batch.next_values, batch.terminated,
                                    batch.truncated, gamma=gamma, tau=tau, n=n)
        return a2c_loss(gather_actions(batch.log_pi, batch.actions), kl, batch.values, advantage,
                        batch.values + advantage, tau=tau, value_coef=value_coef)


class EquivEntropyAdapter:
    """equiv's "soft, entropy bonus" targets (uniform π̄): n = 1 is ``entropy_bonus_target``,
    y = r + γ τ log Σ exp(Q̄(s')/τ) (Eq. (83) corrected); n ≥ 2 is Eq. (46) with τH = τ log A − τKL at every
    later state: ``nstep_soft_target`` with KL − log A and the bootstrap V + τ log A."""

    name = "equiv entropy_bonus_target"
    regularizer = "entropy"
    reference_policy = False

    def soft_target(self, batch: TargetBatch, *, gamma, tau, n):
        if n == 1:
            return entropy_bonus_target(batch.rewards, batch.next_q, batch.terminated, gamma=gamma, tau=tau)
        log_a = math.log(batch.q.shape[-1])
        kl = kl_divergence(boltzmann_log_policy(batch.q, tau, None), None)
        next_values = soft_value(batch.next_q, tau, None)
        return nstep_soft_target(batch.rewards, kl - log_a, next_values + tau * log_a, batch.terminated,
                                 batch.truncated, gamma=gamma, tau=tau, n=n)


EQUIV = EquivAdapter()
EQUIV_ENTROPY = EquivEntropyAdapter()
