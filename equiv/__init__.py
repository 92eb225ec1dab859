"""equiv: the objects of "Equivalence Between Policy Gradients and Soft Q-Learning".

Schulman, Chen, Abbeel (arXiv:1704.06440v4).  PyTorch, batched, dtype-generic;
docstrings cite the paper's equation numbers.

Modules:
  boltzmann  Boltzmann policy, soft value, KL, advantage, dueling Q (§2, §3.2, §4)
  targets    1-step / n-step / λ soft targets, DQN targets, returns (§3.5, §3.6, §6)
  losses     soft Q-learning, policy-gradient, value and A2C losses (§4, §6)
  mdp        exact evaluators for finite MDPs: the ground truth (§3)
  expected   exact expected losses whose gradients are expected gradients (§2, §4)
"""

from ._checks import set_validation, validation, validation_enabled
from .boltzmann import (
    boltzmann_log_policy,
    boltzmann_policy,
    dueling_q,
    entropy,
    kl_divergence,
    log_reference,
    regularized_expectation,
    soft_advantage,
    soft_value,
)
from .losses import (
    SoftQGradientTerms,
    a2c_loss,
    expected_star_terms,
    gather_actions,
    matched_soft_q_loss,
    policy_loss,
    scale_gradient,
    soft_q_gradient_terms,
    soft_q_loss,
    value_loss,
)
from .mdp import FiniteMDP
from .targets import (
    entropy_bonus_target,
    hard_max_target,
    lambda_soft_target,
    nstep_advantage,
    nstep_regularized_return,
    nstep_return,
    nstep_soft_target,
    one_step_soft_target,
    soft_target_as_printed,
    td_errors,
)

__version__ = "0.1.0"

__all__ = [
    "FiniteMDP",
    "SoftQGradientTerms",
    "a2c_loss",
    "boltzmann_log_policy",
    "boltzmann_policy",
    "dueling_q",
    "entropy",
    "entropy_bonus_target",
    "expected_star_terms",
    "gather_actions",
    "hard_max_target",
    "kl_divergence",
    "lambda_soft_target",
    "log_reference",
    "matched_soft_q_loss",
    "nstep_advantage",
    "nstep_regularized_return",
    "nstep_return",
    "nstep_soft_target",
    "one_step_soft_target",
    "policy_loss",
    "regularized_expectation",
    "scale_gradient",
    "set_validation",
    "soft_advantage",
    "soft_q_gradient_terms",
    "soft_q_loss",
    "soft_target_as_printed",
    "soft_value",
    "td_errors",
    "validation",
    "validation_enabled",
    "value_loss",
]
