"""TorchRL (``torchrl.objectives.value.functional``) adapters, torchrl==0.14.1 / tensordict==0.14.3.

Conventions mapped:
* layout: TorchRL wants ``[*B, T, F]`` (time on dim −2, a feature dim); the kit's ``[T, B]`` is
  transposed to ``[B, T, 1]`` and back.
* done vs terminated: TorchRL's ``done`` is "end of trajectory" (terminated or truncated) and
  ``terminated`` is "end of episode, do not bootstrap": passed as ``done = terminated | truncated``,
  ``terminated = terminated``.  ``td0_return_estimate`` takes only ``terminated``.
* the soft target: regularised rewards r − τKL_t, next value V_Q̄(s_{t+1}), τKL_t added back
  (see ``_soft``); TorchRL computes the recursion.
* n: td0 is n = 1, td1 is n = None (every remaining step); other n raise Unsupported.
* ``gae`` (``generalized_advantage_estimate`` with λ = 1) gives the advantage and value target of an
  A2C loss whose other terms are equiv's (−log π·Δ + τKL, ½(V − V̂)²): the check decides what GAE
  contributes.  Fed the regularised rewards (the proper estimator (80)); n = None only.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import torch

from equiv.boltzmann import kl_divergence
from equiv.losses import a2c_loss, gather_actions

from ..contracts import A2CBatch, TargetBatch, Unsupported, gradient_surrogate
from ._soft import soft_pieces


def _fn():
    from torchrl.objectives.value import functional

    return functional


def _in(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1).unsqueeze(-1)  # [T, B] → [B, T, 1]


def _out(x: torch.Tensor) -> torch.Tensor:
    return x.squeeze(-1).transpose(0, 1)


def _flags(batch) -> tuple[torch.Tensor, torch.Tensor]:
    return _in(batch.terminated | batch.truncated), _in(batch.terminated)


def td0() -> SimpleNamespace:
    f = _fn()

    def soft_target(batch: TargetBatch, *, gamma, tau, n):
        if n != 1:
            raise Unsupported("td0_return_estimate is the 1-step return")
        r, _, next_v, tau_kl = soft_pieces(batch, tau)
        # y = r + γ V(s'): the 1-step target has no KL_t (r − τKL_t + τKL_t).
        return _out(f.td0_return_estimate(gamma, _in(next_v), _in(r), _in(batch.terminated))) + tau_kl

    return SimpleNamespace(name="torchrl td0_return_estimate", soft_target=soft_target, reference_policy=True)


def td1() -> SimpleNamespace:
    f = _fn()

    def soft_target(batch: TargetBatch, *, gamma, tau, n):
        if n is not None:
            raise Unsupported("td1_return_estimate uses every remaining step (n=None)")
        r, _, next_v, tau_kl = soft_pieces(batch, tau)
        done, terminated = _flags(batch)
        return _out(f.td1_return_estimate(gamma, _in(next_v), _in(r), done, terminated)) + tau_kl

    return SimpleNamespace(name="torchrl td1_return_estimate", soft_target=soft_target, reference_policy=True)


def td_lambda() -> SimpleNamespace:
    f = _fn()

    def lambda_soft_target(batch: TargetBatch, *, gamma, tau, lam):
        r, _, next_v, tau_kl = soft_pieces(batch, tau)
        done, terminated = _flags(batch)
        return _out(f.td_lambda_return_estimate(gamma, lam, _in(next_v), _in(r), done, terminated)) + tau_kl

    return SimpleNamespace(name="torchrl td_lambda_return_estimate", lambda_soft_target=lambda_soft_target,
                           reference_policy=True)


def gae() -> SimpleNamespace:
    f = _fn()

    def a2c(batch: A2CBatch, *, gamma, tau, value_coef, n):
        if n is not None:
            raise Unsupported("GAE with λ = 1 uses every remaining step (n=None)")
        kl = kl_divergence(batch.log_pi, batch.ref_policy)
        r = (batch.rewards - tau * kl).detach()
        done, terminated = _flags(batch)
        advantage, value_target = f.generalized_advantage_estimate(
            gamma, 1.0, _in(batch.values.detach()), _in(batch.next_values.detach()), _in(r), done, terminated)
        return a2c_loss(gather_actions(batch.log_pi, batch.actions), kl, batch.values, _out(advantage),
                        _out(value_target), tau=tau, value_coef=value_coef)

    return SimpleNamespace(name="torchrl generalized_advantage_estimate (λ=1)", a2c_loss=a2c, reference_policy=True)


class _Linear(torch.nn.Module):
    """y = x W (float64): identity for the Q network, I/τ for the actor's logits (set per call)."""

    def __init__(self, A: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.eye(A, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight


class DiscreteSACTarget:
    """``torchrl.objectives.DiscreteSACLoss`` target: ``y = r + γ(1 − terminated) Σ_a' π(a'|s')(Q̄ − α log π)``.

    The library's ``_compute_target`` (private, but the code its Q loss uses) runs on a tensordict whose
    observation *is* the row Q̄(s, ·): the Q network is the identity map (``num_qvalue_nets=1``,
    ``delay_qvalue=True``: its target copy is the identity too) and the actor's logits are Q̄/τ, so the
    actor is π^B_Q̄, the policy soft Q-learning's target uses (SAC's actor update drives it there).
    ``alpha_init = τ, fixed_alpha = True``; value estimator TD0 with γ.  SAC's target uses the entropy
    bonus (``regularizer = "entropy"``, uniform π̄).  ``done = terminated | truncated``; ``skip_done_states``
    as given.  Only the target is checked (the SAC actor and Q losses are a different algorithm's).
    """

    regularizer = "entropy"
    reference_policy = False

    def __init__(self, skip_done_states: bool):
        from tensordict import TensorDict  # noqa: F401
        from torchrl.objectives import DiscreteSACLoss  # noqa: F401

        self.skip_done_states = skip_done_states
        self.name = f"torchrl DiscreteSACLoss (skip_done_states={skip_done_states})"
        self._losses: dict[tuple[int, float, float], object] = {}

    def _loss(self, A: int, gamma: float, tau: float):
        from tensordict.nn import TensorDictModule
        from torchrl.modules import ProbabilisticActor
        from torchrl.objectives import DiscreteSACLoss, ValueEstimators

        key = (A, gamma, tau)
        if key not in self._losses:
            actor_net = _Linear(A)
            with torch.no_grad():
                actor_net.weight.mul_(1.0 / tau)
            actor = ProbabilisticActor(TensorDictModule(actor_net, ["observation"], ["logits"]), in_keys=["logits"],
                                       distribution_class=torch.distributions.Categorical)
            qvalue = TensorDictModule(_Linear(A), ["observation"], ["action_value"])
            loss = DiscreteSACLoss(actor, qvalue, num_actions=A, num_qvalue_nets=1, loss_function="l2",
                                   alpha_init=tau, fixed_alpha=True, delay_qvalue=True, action_space="categorical",
                                   skip_done_states=self.skip_done_states)
            loss.make_value_estimator(ValueEstimators.TD0, gamma=gamma)
            # The loss re-initialises its Q ensemble (and the target copy) at construction: set both to I.
            with torch.no_grad():
                for params in (loss.qvalue_network_params, loss.target_qvalue_network_params):
                    for value in params.values(True, True):
                        value.copy_(torch.eye(A, dtype=value.dtype).expand_as(value))
            self._losses[key] = loss
        return self._losses[key]

    def soft_target(self, batch: TargetBatch, *, gamma, tau, n):
        from tensordict import TensorDict

        if n != 1:
            raise Unsupported("DiscreteSACLoss's target is the 1-step target")
        T, B, A = batch.q.shape
        with warnings.catch_warnings():  # the kit sets the target network itself (identity): no updater needed
            warnings.filterwarnings("ignore", message="No target network updater", category=UserWarning)
            loss = self._loss(A, gamma, tau)
        flat = lambda x: x.reshape(T * B, *x.shape[2:])
        col = lambda x: flat(x).unsqueeze(-1)
        done = batch.terminated | batch.truncated
        td = TensorDict({
            "observation": flat(batch.q.detach()),
            "action": torch.zeros(T * B, dtype=torch.int64),
            "next": TensorDict({"observation": flat(batch.next_q.detach()), "reward": col(batch.rewards.detach()),
                                "done": col(done), "terminated": col(batch.terminated)}, batch_size=[T * B]),
        }, batch_size=[T * B])
        with warnings.catch_warnings():  # the kit sets the target network itself (identity): no updater needed
            warnings.filterwarnings("ignore", message="No target network updater", category=UserWarning)
            y = loss._compute_target(td)
        return y.reshape(T, B)


def discrete_sac() -> DiscreteSACTarget:
    return DiscreteSACTarget(skip_done_states=False)


def discrete_sac_skip_done() -> DiscreteSACTarget:
    return DiscreteSACTarget(skip_done_states=True)


class _TableLookup(torch.nn.Module):
    """x @ table for one-hot x; ``table`` is a real ``nn.Parameter`` (TorchRL detaches its parameters for
    the value estimator: the comparison must let it)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64))

    def forward(self, x):
        out = x @ self.table
        return out if self.table.dim() == 2 else out.unsqueeze(-1)


class A2CLossAdapter:
    """``torchrl.objectives.A2CLoss`` with its own value estimator (GAE, λ = 1) on one-hot tabular nets.

    Options set: ``entropy_coeff = τ`` (−τ·H = τ·KL(π‖uniform) − τ log A: uniform π̄ only),
    ``critic_coeff = c / 2`` with ``loss_critic_type="l2"`` (TorchRL's l2 is (V − V̂)², twice ½(V − V̂)²),
    ``reduction="none"`` (per-step losses, weighted by the kit's path probabilities: ``weighted = True``),
    ``make_value_estimator(GAE, gamma=γ, lmbda=1)`` (n = None: the full-segment bootstrapped return).
    Observations are one-hot states; the actor's logits and the critic's V are ``nn.Parameter`` tables set
    to the kit's values; the adapter runs the backward pass and returns the gradient it produced
    (``gradient_surrogate``).  ``done = terminated | truncated``, ``terminated`` as given.
    """

    name = "torchrl A2CLoss (GAE λ=1)"
    reference_policy = False
    weighted = True

    def __init__(self):
        from torchrl.objectives import A2CLoss  # noqa: F401

        self._losses: dict[tuple, tuple] = {}

    def _loss(self, S, A, gamma, tau, value_coef):
        from tensordict.nn import TensorDictModule
        from torchrl.modules import ProbabilisticActor
        from torchrl.objectives import A2CLoss, ValueEstimators

        key = (S, A, gamma, tau, value_coef)
        if key not in self._losses:
            actor_table, critic_table = _TableLookup((S, A)), _TableLookup((S,))
            actor = ProbabilisticActor(TensorDictModule(actor_table, ["observation"], ["logits"]), in_keys=["logits"],
                                       distribution_class=torch.distributions.Categorical)
            critic = TensorDictModule(critic_table, ["observation"], ["state_value"])
            loss = A2CLoss(actor, critic, entropy_coeff=tau, critic_coeff=value_coef / 2, loss_critic_type="l2",
                           reduction="none")
            loss.make_value_estimator(ValueEstimators.GAE, gamma=gamma, lmbda=1.0)
            self._losses[key] = (loss, actor_table.table, critic_table.table)
        return self._losses[key]

    def a2c_loss(self, batch: A2CBatch, *, gamma, tau, value_coef, n):
        from tensordict import TensorDict

        if n is not None:
            raise Unsupported("A2CLoss with GAE λ = 1 uses every remaining step (n=None)")
        if batch.policy_logits is None:
            raise Unsupported("needs the kit's table parameters (one-hot observation model)")
        S, A = batch.policy_logits.shape
        loss, logits, values = self._loss(S, A, gamma, tau, value_coef)
        with torch.no_grad():
            logits.copy_(batch.policy_logits)
            values.copy_(batch.value_table)
        eye = torch.eye(S, dtype=torch.float64)
        bt = lambda x: x.transpose(0, 1)
        T, B = batch.rewards.shape
        td = TensorDict({
            "observation": eye[bt(batch.states)],
            "action": bt(batch.actions),
            "next": TensorDict({"observation": eye[bt(batch.next_states)],
                                "reward": bt(batch.rewards).unsqueeze(-1).detach(),
                                "done": bt(batch.terminated | batch.truncated).unsqueeze(-1),
                                "terminated": bt(batch.terminated).unsqueeze(-1)}, batch_size=[B, T]),
        }, batch_size=[B, T])
        out = loss(td)
        per_step = (out["loss_objective"] + out["loss_entropy"] + out["loss_critic"]).reshape(B, T)
        total = (per_step.sum(1) * batch.weight.detach()).sum()
        g_logits, g_values = torch.autograd.grad(total, [logits, values])
        return gradient_surrogate(batch, g_logits, g_values)


def a2c() -> A2CLossAdapter:
    return A2CLossAdapter()
