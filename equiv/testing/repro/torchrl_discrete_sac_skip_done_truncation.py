"""Minimal reproduction: torchrl DiscreteSACLoss(skip_done_states=True) drops the bootstrap at time limits.

torchrl==0.14.1, ``torchrl/objectives/sac.py``, ``DiscreteSACLoss._compute_target``: with
``skip_done_states=True`` the next-state value is computed only where ``~done`` and set to 0 elsewhere
(``new_zeros(mask.shape).masked_scatter_(mask, ...)``).  ``done`` is terminated *or truncated*, so a
transition cut by a time limit (``truncated=True, terminated=False``) gets y = r instead of
y = r + γ V(s'): the TD0 estimator would bootstrap it (it masks with ``terminated`` only), but the value
it is handed is already 0.  With ``skip_done_states=False`` (the default) the target is right.  The
option is documented as an efficiency switch ("only run the actor on non-done states"), so a user who
turns it on silently changes the target of every truncated step.  Run: ``python <this file>``.
"""

import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torchrl.modules import ProbabilisticActor
from torchrl.objectives import DiscreteSACLoss, ValueEstimators

torch.manual_seed(0)
A, gamma, alpha = 2, 0.9, 0.5
for skip in (False, True):
    actor = ProbabilisticActor(TensorDictModule(torch.nn.Linear(1, A), ["observation"], ["logits"]),
                               in_keys=["logits"], distribution_class=torch.distributions.Categorical)
    qvalue = TensorDictModule(torch.nn.Linear(1, A), ["observation"], ["action_value"])
    loss = DiscreteSACLoss(actor, qvalue, num_actions=A, num_qvalue_nets=1, alpha_init=alpha, fixed_alpha=True,
                           action_space="categorical", skip_done_states=skip)
    loss.make_value_estimator(ValueEstimators.TD0, gamma=gamma)
    one = torch.ones(1, 1)
    td = TensorDict({"observation": one, "action": torch.zeros(1, dtype=torch.int64),
                     "next": TensorDict({"observation": one, "reward": torch.zeros(1, 1),
                                         "done": torch.ones(1, 1, dtype=torch.bool),  # truncated, not terminated
                                         "terminated": torch.zeros(1, 1, dtype=torch.bool)}, [1])}, [1])
    print(f"skip_done_states={skip}: target of a truncated step (r = 0) = {loss._compute_target(td).item():+.6f}")
print("expected: the same nonzero γ·V(s') in both lines; with skip_done_states=True it is 0.")
