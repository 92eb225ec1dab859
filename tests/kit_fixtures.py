"""Adapters used by tests/test_kit.py through the CLI and the pytest plugin (MODULE:ADAPTER targets).

``NAIVE`` is equiv's A2C with the naive estimator (79): plain n-step returns, entropy bonus at s_t only —
the classification's control.  ``BROKEN_TRUNCATION`` treats a time limit as termination (catalogue bug
``truncation_as_termination``), written as a user would, without patching anything.
"""

from __future__ import annotations

from equiv import a2c_loss, gather_actions, kl_divergence, nstep_return
from equiv.testing import EquivAdapter


class NaiveA2C(EquivAdapter):
    name = "equiv, naive estimator (79)"

    def a2c_loss(self, batch, *, gamma, tau, value_coef, n):
        kl = kl_divergence(batch.log_pi, batch.ref_policy)
        returns = nstep_return(batch.rewards, batch.next_values, batch.terminated, batch.truncated, gamma=gamma, n=n)
        return a2c_loss(gather_actions(batch.log_pi, batch.actions), kl, batch.values, returns - batch.values,
                        returns, tau=tau, value_coef=value_coef)


class BrokenTruncation(EquivAdapter):
    name = "equiv with truncation treated as termination"

    def soft_target(self, batch, *, gamma, tau, n):
        done = batch.terminated | batch.truncated
        return super().soft_target(batch._replace(terminated=done, truncated=done & False), gamma=gamma, tau=tau,
                                   n=n)


NAIVE = NaiveA2C()
BROKEN_TRUNCATION = BrokenTruncation()
