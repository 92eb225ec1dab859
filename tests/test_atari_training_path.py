"""The training path is checked against the rule it claims (issue 10 §1).

For every algorithm, on a real rollout (ALE Pong through ``AtariVectorEnv``, CartPole through gymnasium),
the gradient that ``learn()`` really hands to the optimiser (captured at ``opt.step``) must equal the
gradient of the rule written out **by hand in this file** — loops over t, explicit masks, no ``equiv`` —
on a float64 copy of the network:

* a2c-naive, Eq. (79): R_t = Σ_{k<m} γ^{k-t} r_k + γ^m V(s_{t+m}); −log π(a_t) (R_t − V_t) + τ KL_t + c ½ (V_t − R_t)²
* a2c-proper, Eq. (80): the same with r_k − τ KL_k in the return (KL_t included), the τ KL_t term
  carrying gradient;
* sql (§6.3): ∇ = ∇L_a2c(c) + the residual τ[(ℓ_t − KL_t) ∇log π(a_t) − ∇KL_t] + c τ (ℓ_t − KL_t) ∇V_t
  with ℓ_t = log(π(a_t)/π̄(a_t)): the (∗)/τ + c(∗∗) terms of Eq. (64), zero-mean under a_t ∼ π (checked
  too); the identity is exact per sample, so it holds on any batch;
* sql-unscaled: ½ (Q_t − y_t)², Q = V + τ ℓ, y_t = r_t + Σ_{k>t} γ^{k-t}(r_k − τ KL_k) + γ^m V(s_{t+m});
* the DQN family: ½ (Q(s_j, a_j) − y_j)² with y_j computed by hand from the target network over the
  window (1-step (81)-(83), n-step hard max and soft (46)), on every valid window of the rollout.

Returns stop at episode ends: nothing is bootstrapped after ``terminated``; after ``truncated`` the return
bootstraps from the final observation; the step after an end (next-step autoreset) is masked.  The mask
here is derived from the done flags of the previous step, not from the adapter's ``reset_step``.

Tolerance: float64 gradients of losses averaged over ≤ 64 samples agree to ~1e-15 relative (rounding
only); we require < 1e-10.  Every negative control (a wrong variant of the code, reached through
``learn()`` / ``lockstep()``) must move the gradient (or the column) by > 1e-6 relative, four orders above the tolerance.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from atari_check import learners as learners_module
from atari_check import losses as losses_module
from atari_check.config import Config
from atari_check.envs import VecEnv, resolve_env
from atari_check.learners import ActorCriticLearner, DQNLearner

CPU = torch.device("cpu")
TOL = 1e-10  # float64 rounding is ~1e-15 relative; see the module docstring
WRONG = 1e-6  # a negative control must move the result by at least this much (relative): 1e4 × TOL
NO_CLIP = 1e9  # grad-norm clip that never binds: the captured gradient is the loss's own

# One xdist worker runs this file (the harness group of tests/conftest.py), so each rollout below is played once.


# ------------------------------------------------------------------------------------------ rollouts


@dataclass
class Rollout:
    """Steps of a real vector env: ``obs[i]`` before step i, ``actions[i]``, ``steps[i]``; ``obs[N]``."""

    cfg: Config
    obs: list
    actions: list
    steps: list
    num_actions: int
    obs_shape: tuple
    obs_dtype: object
    reward_transform: str

    def done(self, i: int) -> np.ndarray:
        return self.steps[i].terminated | self.steps[i].truncated

    def hand_mask(self, i: int) -> np.ndarray:
        """1 where step i is a transition: 0 iff the previous step ended the episode (next-step autoreset)."""
        return np.ones(self.cfg.num_envs) if i == 0 else (~self.done(i - 1)).astype(np.float64)

    def train_reward(self, i: int) -> np.ndarray:
        r = self.steps[i].reward
        return np.sign(r) if self.reward_transform == "sign" else r


def _roll(env: VecEnv, cfg: Config, n: int, policy, reward_transform: str) -> Rollout:
    obs = [env.reset(seed=cfg.seed)]
    actions, steps = [], []
    for i in range(n):
        a = policy(i)
        step = env.step(a)
        actions.append(a)
        steps.append(step)
        obs.append(step.obs)
    env.close()
    return Rollout(cfg, obs, actions, steps, env.num_actions, env.obs_shape, env.obs_dtype, reward_transform)


@functools.cache  # one rollout per process: the tests only read it
def cartpole() -> Rollout:
    """CartPole, 4 envs, episodes capped at 9 steps: envs 0, 1 push one way and *terminate* (pole falls
    at step 7-8), envs 2, 3 alternate and are *truncated* at step 8; 24 steps cross several ends."""
    import gymnasium

    cfg = Config(env="CartPole-v1", num_envs=4, n_steps=12, seed=0, gamma=0.9, tau=0.3, value_coef=0.7,
                 max_grad_norm=NO_CLIP, lockstep_interval=0)
    env = VecEnv(resolve_env(cfg.env), cfg.num_envs)
    env._env.close()
    env._env = gymnasium.make_vec(cfg.env, num_envs=cfg.num_envs, vectorization_mode="sync",
                                  vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP},
                                  max_episode_steps=9)
    return _roll(env, cfg, 24, lambda i: np.array([1, 0, i % 2, (i + 1) % 2]), "none")


@functools.cache  # one rollout per process: the tests only read it
def pong() -> Rollout:
    """ALE Pong, 2 envs, episodes truncated at 40 frames (10 agent steps): the rollout crosses a
    truncation and its autoreset step."""
    cfg = Config(env="pong", num_envs=2, n_steps=5, seed=1, gamma=0.95, tau=0.2, max_episode_frames=40,
                 noop_max=0, max_grad_norm=NO_CLIP, lockstep_interval=0)
    spec = resolve_env(cfg.env)
    env = VecEnv(spec, cfg.num_envs, max_episode_frames=cfg.max_episode_frames, noop_max=cfg.noop_max)
    rng = np.random.default_rng(1)
    return _roll(env, cfg, 16, lambda i: rng.integers(0, 6, size=2), "sign")


ROLLOUTS = {"pong": pong, "cartpole": cartpole}


def _segment_start(ro: Rollout) -> int:
    """First segment start s > 0 whose T steps hold an episode end before the last step and its reset."""
    T = ro.cfg.n_steps
    for s in range(1, len(ro.steps) - T + 1):
        if any(ro.done(i).any() for i in range(s, s + T - 1)):
            return s
    raise AssertionError("the rollout has no episode end inside a segment")


def test_rollouts_cross_terminations_and_truncations():
    """The fixtures reach the cases the hand-built rules have to get right."""
    ro = cartpole()
    s, T = _segment_start(ro), ro.cfg.n_steps
    term = np.array([ro.steps[i].terminated for i in range(s, s + T)])
    trunc = np.array([ro.steps[i].truncated for i in range(s, s + T)])
    assert (term & ~trunc).any() and (trunc & ~term).any()
    resets = np.array([ro.steps[i].reset_step for i in range(s, s + T)])
    assert resets.any() and not resets[0].all()
    ro = pong()
    s, T = _segment_start(ro), pong().cfg.n_steps
    assert any(ro.steps[i].truncated.any() for i in range(s, s + T - 1))
    # the adapter's reset_step is exactly the step after an end (the hand mask), for both env kinds
    for ro in (cartpole(), pong()):
        for i in range(len(ro.steps)):
            np.testing.assert_array_equal(ro.steps[i].reset_step, ro.hand_mask(i) == 0)


# ------------------------------------------------------------------------------- actor-critic rules


def _ac_learner(ro: Rollout, algo: str, **changes) -> tuple[ActorCriticLearner, int]:
    cfg = ro.cfg.replace(algo=algo, **changes)
    torch.manual_seed(0)
    learner = ActorCriticLearner(cfg, ro.obs_shape, ro.obs_dtype, ro.num_actions, CPU, ro.reward_transform)
    learner.net.double()  # parameters converted in place: the optimiser holds the same tensors
    with torch.no_grad():  # a sharp policy and a non-zero value, so that every term of the rule matters
        learner.net.policy.weight.mul_(40.0)
        learner.net.value.bias.fill_(0.5)
    s = _segment_start(ro)
    for t in range(cfg.n_steps):
        learner.record(t, ro.obs[s + t], ro.actions[s + t], ro.steps[s + t])
    return learner, s


def _learn_capturing(learner, last_obs, frames_done: int = 0):
    """Run ``learn()``; return the gradient it applied (at ``opt.step``), the network before, the stats."""
    before = copy.deepcopy(learner.net)
    captured = []
    real_step = learner.opt.step

    def step(*args, **kwargs):
        captured.append(torch.cat([p.grad.reshape(-1).clone() for p in learner.net.parameters()]))
        return real_step(*args, **kwargs)

    learner.opt.step = step
    try:
        stats = learner.learn(last_obs, frames_done)
    finally:
        del learner.opt.step
    return captured, before, stats


def _kl_uniform(log_pi: torch.Tensor) -> torch.Tensor:
    """KL(π ‖ uniform) = Σ_a π_a log π_a + log A, per state."""
    return (log_pi.exp() * log_pi).sum(-1) + math.log(log_pi.shape[-1])


def hand_ac_loss(algo: str, ro: Rollout, s: int, net, *, value_coef=None, tau=None):
    """The loss of ``algo`` on the segment starting at step ``s``, written out by hand (no equiv)."""
    cfg = ro.cfg
    gamma, tau = cfg.gamma, cfg.tau if tau is None else tau
    c = cfg.value_coef if value_coef is None else value_coef
    T, B = cfg.n_steps, cfg.num_envs
    obs = torch.from_numpy(np.stack([ro.obs[s + t] for t in range(T + 1)]))
    log_pi, v = net(obs.flatten(0, 1))
    log_pi, v = log_pi.view(T + 1, B, -1), v.view(T + 1, B)
    kl = _kl_uniform(log_pi)  # with gradient
    kl_c, v_c = kl.detach().numpy(), v.detach().numpy()
    r = [ro.train_reward(s + k) for k in range(T)]
    term = [ro.steps[s + k].terminated for k in range(T)]
    trunc = [ro.steps[s + k].truncated for k in range(T)]
    mask = torch.tensor(np.stack([ro.hand_mask(s + k) for k in range(T)]))
    # ret[t, b]: the return of the rule, over the remaining steps of the segment, cut at episode ends
    ret = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            total, disc = 0.0, 1.0
            for k in range(t, T):
                pay = r[k][b]
                if algo == "a2c-proper" or (algo.startswith("sql") and k > t):
                    pay -= tau * kl_c[k, b]  # the −τ KL terms of Eqs. (46)/(80)
                total += disc * pay
                disc *= gamma
                if term[k][b]:
                    break  # nothing after a terminal state
                if trunc[k][b] or k == T - 1:
                    total += disc * v_c[k + 1, b]  # V of the final / last observation
                    break
            ret[t, b] = total
    ret = torch.tensor(ret)
    actions = torch.from_numpy(np.stack([ro.actions[s + t] for t in range(T)])).long()
    log_pi_a = log_pi[:T].gather(-1, actions[..., None]).squeeze(-1)
    ell = log_pi_a + math.log(log_pi.shape[-1])  # log(π(a_t)/π̄(a_t))
    V, KL = v[:T], kl[:T]
    if algo == "sql-unscaled":
        per = 0.5 * (V + tau * ell - ret) ** 2
    else:
        if algo.startswith("sql"):
            value_target = ret - tau * KL.detach()  # y_t − τ KL_t = the proper return (Eq. (47))
        else:
            value_target = ret
        adv = value_target - V.detach()
        per = -log_pi_a * adv + tau * KL + c * 0.5 * (V - value_target) ** 2  # Eq. (86)
        if algo == "sql":  # the zero-mean (∗)/τ + c(∗∗) residual of Eq. (64), exact per sample
            z = (ell - KL).detach()
            per = per + tau * (z * log_pi_a - KL) + c * tau * z * V
    return (per * mask).sum() / mask.sum()


def _grad(loss, net) -> torch.Tensor:
    grads = torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)
    return torch.cat([g.reshape(-1) for g in grads])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _ac_rel(env: str, algo: str, **changes) -> float:
    return _ac_rels(env, (algo,), **changes)[algo]


def _ac_rels(env: str, algos, **changes) -> dict[str, float]:
    """rel. difference between the gradient learn() applied and the hand-built rule, per algorithm (the
    hand-built losses share one forward of the initial network: the same seed gives the same network)."""
    ro = ROLLOUTS[env]()
    applied, before = {}, None
    for algo in algos:
        learner, s = _ac_learner(ro, algo, **changes)
        captured, net, _ = _learn_capturing(learner, ro.obs[s + ro.cfg.n_steps])
        assert len(captured) == 1
        applied[algo] = captured[0]
        before = before or net
        assert all(torch.equal(p, q) for p, q in zip(before.parameters(), net.parameters()))
    value_coef = ro.cfg.replace(**changes).value_coef
    return {algo: _rel(g, _grad(hand_ac_loss(algo, ro, s, before, value_coef=value_coef), before))
            for algo, g in applied.items()}


AC_ALGOS = ("a2c-naive", "a2c-proper", "sql", "sql-unscaled")


@pytest.mark.parametrize("algo", AC_ALGOS)
def test_learn_applies_the_hand_built_rule_on_cartpole(algo):
    assert _ac_rel("cartpole", algo) < TOL


def test_learn_applies_the_hand_built_rule_on_pong():
    """All four rules on one real Pong segment (Nature CNN, float64), in one test to share the rollout."""
    rels = _ac_rels("pong", AC_ALGOS)
    assert all(rel < TOL for rel in rels.values()), rels


def test_sql_residual_is_zero_mean_and_sql_is_not_a2c_per_batch():
    """The residual added to A2C for sql has zero action-expectation (so sql = A2C(c) in expectation),
    yet on a sampled batch it is not small: the test above separates sql from a2c-proper."""
    ro = cartpole()
    learner, s = _ac_learner(ro, "sql")
    net = learner.net
    T = ro.cfg.n_steps
    log_pi, v = net(torch.from_numpy(np.stack([ro.obs[s + t] for t in range(T)])).flatten(0, 1))
    kl = _kl_uniform(log_pi)
    ell = log_pi + math.log(log_pi.shape[-1])  # every action
    z = (ell - kl[:, None]).detach()
    tau, c = ro.cfg.tau, ro.cfg.value_coef
    expected = (log_pi.exp().detach() * (tau * (z * log_pi - kl[:, None]) + c * tau * z * v[:, None])).sum(-1)
    g = _grad(expected.mean(), net)
    scale = _grad((tau * kl + c * v).mean(), net).norm()
    assert g.norm() < 1e-12 * scale
    g_sql = _grad(hand_ac_loss("sql", ro, s, net), net)
    g_a2c = _grad(hand_ac_loss("a2c-proper", ro, s, net), net)
    assert _rel(g_sql, g_a2c) > WRONG


def test_learn_stats_and_lr_schedule():
    """The logged loss/entropy/KL/value are the masked means of the batch; the lr decays linearly."""
    ro = cartpole()
    learner, s = _ac_learner(ro, "a2c-proper", frames=1000)
    _, before, stats = _learn_capturing(learner, ro.obs[s + ro.cfg.n_steps], frames_done=250)
    assert stats["loss"] == pytest.approx(float(hand_ac_loss("a2c-proper", ro, s, before).detach()), rel=1e-12)
    assert stats["lr"] == learner.opt.param_groups[0]["lr"] == pytest.approx(ro.cfg.lr * 0.75, rel=1e-15)
    T = ro.cfg.n_steps
    mask = np.stack([ro.hand_mask(s + t) for t in range(T)])
    log_pi, v = before(torch.from_numpy(np.stack([ro.obs[s + t] for t in range(T)])).flatten(0, 1))
    ent = -(log_pi.exp() * log_pi).sum(-1).detach().numpy().reshape(mask.shape)
    kl = _kl_uniform(log_pi).detach().numpy().reshape(mask.shape)
    v = v.detach().numpy().reshape(mask.shape)
    for key, x in (("entropy", ent), ("kl", kl), ("value_mean", v)):
        assert stats[key] == pytest.approx((x * mask).sum() / mask.sum(), rel=1e-6), key  # float32 → 1e-6
    # constant schedule: the lr stays
    learner, s = _ac_learner(ro, "a2c-proper", frames=1000, lr_schedule="constant")
    assert _learn_capturing(learner, ro.obs[s + T], frames_done=500)[2]["lr"] == ro.cfg.lr


def test_gradient_clip_scales_the_applied_gradient():
    ro = cartpole()
    learner, s = _ac_learner(ro, "a2c-proper", max_grad_norm=1e-3)
    captured, before, stats = _learn_capturing(learner, ro.obs[s + ro.cfg.n_steps])
    raw = _grad(hand_ac_loss("a2c-proper", ro, s, before), before)
    assert stats["grad_norm"] == pytest.approx(float(raw.norm()), rel=1e-12)
    assert float(raw.norm()) > 1e-2  # the clip binds
    assert float(captured[0].norm()) == pytest.approx(1e-3, rel=1e-5)  # torch's clip adds 1e-6 to the norm
    assert _rel(captured[0] / captured[0].norm(), raw / raw.norm()) < TOL


# ------------------------------------------------------------------------------- negative controls


def _sql_one_over_gamma(algo, log_policy, values, next_values, actions, rewards, terminated, truncated, *,
                        gamma, tau, value_coef):
    """The paper's printed §6.3: advantage-stream gradient scaled by 1/γ (the equivalence needs 1/τ)."""
    import equiv

    if algo != "sql":
        return _REAL_PER_SAMPLE(algo, log_policy, values, next_values, actions, rewards, terminated, truncated,
                                gamma=gamma, tau=tau, value_coef=value_coef)
    kl = equiv.kl_divergence(log_policy).detach()
    target = equiv.nstep_soft_target(rewards, kl, next_values, terminated, truncated, gamma=gamma, tau=tau)
    return equiv.matched_soft_q_loss(values, log_policy, actions, target, tau=tau, value_scale=value_coef,
                                     advantage_scale=1.0 / gamma)  # BUG (as printed)


_REAL_PER_SAMPLE = losses_module.actor_critic_per_sample


def test_negative_controls_of_the_actor_critic_path(monkeypatch):
    """Each wrong variant, reached through learn(), fails the comparison with the hand-built rule."""
    import equiv

    rel = functools.partial(_ac_rel, "cartpole")
    with monkeypatch.context() as m:  # the printed 1/γ
        m.setattr(learners_module, "actor_critic_per_sample", _sql_one_over_gamma)
        assert rel("sql") > WRONG and rel("a2c-proper") < TOL
    with monkeypatch.context() as m:  # the KL term detached: no −τ∇KL(s_t)
        real_kl = equiv.kl_divergence
        m.setattr(equiv, "a2c_loss", functools.partial(_a2c_loss_kl_detached, equiv.a2c_loss))
        assert rel("a2c-proper") > WRONG and rel("a2c-naive") > WRONG
        assert equiv.kl_divergence is real_kl
    with monkeypatch.context() as m:  # plain mean instead of the masked mean
        m.setattr(learners_module, "masked_mean", lambda x, mask: x.mean())
        assert rel("a2c-proper") > WRONG and rel("sql") > WRONG
    with monkeypatch.context() as m:  # bootstrap from V(s_{T-1}) instead of V(s_T)
        real_forward = ActorCriticLearner._forward

        def forward_bootstrap_from_last_state(self, net):
            lp, v, nv = real_forward(self, net)
            return lp, v, torch.cat([nv[:-1], v[-1:].detach()])

        m.setattr(ActorCriticLearner, "_forward", forward_bootstrap_from_last_state)
        assert rel("a2c-proper") > WRONG and rel("sql-unscaled") > WRONG
    with monkeypatch.context() as m:  # the mask off by one (shifted a step late)
        real_record = ActorCriticLearner.record

        def record_mask_late(self, t, obs, actions, step):
            real_record(self, t, obs, actions, step)
            if t + 1 < self.mask.shape[0]:
                self.mask[t + 1] = self.mask[t]
            self.mask[t] = 1.0

        m.setattr(ActorCriticLearner, "record", record_mask_late)
        assert rel("a2c-proper") > WRONG
    with monkeypatch.context() as m:  # truncation treated as termination (no bootstrap from the final obs)
        real_record = ActorCriticLearner.record

        def record_truncated_as_terminated(self, t, obs, actions, step):
            real_record(self, t, obs, actions, step)
            self.terminated[t] |= self.truncated[t]

        m.setattr(ActorCriticLearner, "record", record_truncated_as_terminated)
        assert rel("a2c-naive") > WRONG
    with monkeypatch.context() as m:  # rewards altered between the env and the loss
        m.setattr(learners_module, "reward_for_training", lambda reward, transform: reward * 2)
        assert rel("a2c-naive") > WRONG


def _a2c_loss_kl_detached(real, log_pi_taken, kl, values, advantage, value_target, *, tau, value_coef):
    return real(log_pi_taken, kl.detach(), values, advantage, value_target, tau=tau, value_coef=value_coef)


# ---------------------------------------------------------------------------------------------- DQN


def _dqn_learner(ro: Rollout, algo: str, nstep: int, **changes) -> DQNLearner:
    B, N = ro.cfg.num_envs, len(ro.steps)
    cfg = ro.cfg.replace(algo=algo, dqn_nstep=nstep, replay_size=B * (N + 1), batch_size=1,
                         learning_starts=B * N, train_interval=10**6, target_update_interval=10**6,
                         dqn_max_grad_norm=NO_CLIP, **changes)
    torch.manual_seed(0)
    learner = DQNLearner(cfg, ro.obs_shape, ro.obs_dtype, ro.num_actions, CPU, ro.reward_transform)
    learner.net.double()
    learner.target.double()
    with torch.no_grad():  # a target network that is not the online one
        for p in learner.target.parameters():
            p.add_(0.3 * torch.randn_like(p))
    for i in range(N):
        learner.record(i % ro.cfg.n_steps, ro.obs[i], ro.actions[i], ro.steps[i])
    return learner


def _every_window(ro: Rollout, n: int, valid=None):
    """(j, e) of every transition whose window j … j+n is in the rollout, reset steps excluded."""
    pairs = [(j, e) for j in range(len(ro.steps) - n) for e in range(ro.cfg.num_envs)
             if (ro.hand_mask(j)[e] if valid is None else valid[j, e])]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def hand_dqn_target(algo: str, ro: Rollout, j: int, e: int, n: int, q_bar, flags=None) -> float:
    """y_j by hand: walk the window, stop at the first end, bootstrap from the state reached."""
    gamma, tau = ro.cfg.gamma, ro.cfg.tau

    def term(d):
        return ro.steps[j + d].terminated[e]

    def trunc(d):
        return ro.steps[j + d].truncated[e] if flags is None else flags[j + d, e]

    def q(d):  # Q̄(s_{j+d}, ·) as floats
        return q_bar(ro.obs[j + d][e])

    def soft_value(x, with_log_a: bool):  # τ log Σ_a π̄_a exp(x_a/τ), π̄ uniform (entropy form: no π̄)
        m = max(x)
        lse = m / tau + math.log(sum(math.exp((xa - m) / tau) for xa in x))
        return tau * (lse - (0.0 if with_log_a else math.log(len(x))))

    def kl(x):  # KL(Boltzmann(x/τ) ‖ uniform)
        m = max(x)
        w = [math.exp((xa - m) / tau) for xa in x]
        p = [wa / sum(w) for wa in w]
        return sum(pa * math.log(pa * len(x)) for pa in p if pa > 0)

    def value(x):
        return {"dqn": max(x), "dqn-soft-kl": soft_value(x, False), "dqn-soft-ent": soft_value(x, True)}[algo]

    y, disc = 0.0, 1.0
    for d in range(n):
        y += disc * float(ro.train_reward(j + d)[e])
        disc *= gamma
        if term(d):
            return y
        if trunc(d) or d == n - 1:
            return y + disc * value(q(d + 1))
        if algo == "dqn-soft-kl":
            y -= disc * tau * kl(q(d + 1))  # the −τ KL of an intermediate state, Eq. (46)
    raise AssertionError("unreachable")


def _dqn_rel(algo: str, nstep: int, *, flags=None) -> tuple[float, np.ndarray, np.ndarray]:
    ro = cartpole()
    learner = _dqn_learner(ro, algo, nstep)
    j, e = _every_window(ro, nstep)
    learner.replay.sample = lambda batch, n, rng: (j, e)
    target = copy.deepcopy(learner.target)
    captured, before, stats = _learn_capturing(learner, ro.obs[-1])
    assert len(captured) == 1

    def q_bar(o):
        with torch.no_grad():
            return target(torch.from_numpy(np.asarray(o))[None])[0].tolist()

    y = torch.tensor([hand_dqn_target(algo, ro, int(jj), int(ee), nstep, q_bar, flags) for jj, ee in zip(j, e)],
                     dtype=torch.float64)
    obs = torch.from_numpy(np.stack([ro.obs[int(jj)][int(ee)] for jj, ee in zip(j, e)]))
    actions = torch.tensor([int(ro.actions[int(jj)][int(ee)]) for jj, ee in zip(j, e)])
    q = before(obs).gather(-1, actions[:, None]).squeeze(-1)
    loss = (0.5 * (q - y) ** 2).mean()
    loss_rel = abs(stats["loss"] - float(loss.detach())) / float(loss.detach())
    return max(_rel(captured[0], _grad(loss, before)), loss_rel), j, e


DQN_CASES = ("dqn-n1", "dqn-soft-kl-n1", "dqn-soft-ent-n1", "dqn-n5", "dqn-soft-kl-n5")


@pytest.mark.parametrize("case", DQN_CASES)
def test_dqn_learn_applies_the_hand_built_target(case):
    algo, nstep = case.rsplit("-n", 1)[0], int(case.rsplit("-n", 1)[1])
    rel, j, e = _dqn_rel(algo, nstep)
    assert rel < TOL
    if nstep > 1:  # the batch holds windows that end (terminated / truncated) after their first step
        ro = cartpole()
        ends = [(d, bool(ro.steps[jj + d].terminated[ee])) for jj, ee in zip(j, e) for d in range(1, nstep)
                if ro.done(jj + d)[ee] and not any(ro.done(jj + k)[ee] for k in range(d))]
        assert any(t for _, t in ends) and any(not t for _, t in ends)


def test_negative_controls_of_the_dqn_path(monkeypatch):
    import equiv

    with monkeypatch.context() as m:  # n-step window one step short
        real = losses_module.dqn_target

        def window_short(algo, q_bar, rewards, terminated, truncated, *, gamma, tau, form="corrected"):
            n = rewards.shape[0]
            return real(algo, q_bar[:n], rewards[:n - 1], terminated[:n - 1], truncated[:n - 1], gamma=gamma,
                        tau=tau, form=form)

        m.setattr(learners_module, "dqn_target", window_short)
        assert _dqn_rel("dqn", 5)[0] > WRONG
    with monkeypatch.context() as m:  # n-step return not cut at an end inside the window
        m.setattr(equiv, "nstep_return", lambda r, nv, te, tr, *, gamma, n=None: _no_cut(r, nv, gamma))
        assert _dqn_rel("dqn", 5)[0] > WRONG
    with monkeypatch.context() as m:  # bootstrap from the online network instead of the target network
        m.setattr(DQNLearner, "_target", lambda self, o, r, te, tr, net: _REAL_TARGET(self, o, r, te, tr, self.net))
        assert _dqn_rel("dqn", 1)[0] > WRONG
    with monkeypatch.context() as m:  # soft value without its τ (Eq. (82) as printed, on the corrected path)
        m.setattr(equiv, "one_step_soft_target", lambda r, q, te, *, gamma, tau, ref_policy=None:
                  equiv.soft_target_as_printed(r, q, te, gamma=gamma, tau=tau, regularizer="kl"))
        assert _dqn_rel("dqn-soft-kl", 1)[0] > WRONG
    with monkeypatch.context() as m:  # truncation ignored in the n-step window
        m.setattr(learners_module.ReplayBuffer, "window", _window_without_truncation)
        assert _dqn_rel("dqn-soft-kl", 5)[0] > WRONG


_REAL_TARGET = DQNLearner._target
_REAL_WINDOW = learners_module.ReplayBuffer.window


def _window_without_truncation(self, j, e, n):
    obs, actions, rewards, terminated, truncated = _REAL_WINDOW(self, j, e, n)
    return obs, actions, rewards, terminated, np.zeros_like(truncated)


def _no_cut(rewards, next_values, gamma):
    n = rewards.shape[0]
    return (sum(gamma**d * rewards[d] for d in range(n)) + gamma**n * next_values[-1])[None].expand(n, -1)


def test_replay_seal_after_resume_cuts_the_windows():
    """After load_state_dict (a resume) the next stored observation is a fresh reset, not the successor of
    the last entry: that entry is never sampled, and n-step windows through it stop one entry earlier,
    bootstrapping from its stored (correct) state — checked on the targets learn() would use."""
    ro = cartpole()
    N, n = len(ro.steps), 5
    resumed = _dqn_learner(ro, "dqn-soft-kl", n)
    resumed.load_state_dict(_dqn_learner(ro, "dqn-soft-kl", n).state_dict())
    for i in range(6):  # the resumed segment: a new reset, new steps
        resumed.record(i, ro.obs[i], ro.actions[i], ro.steps[i])
    j, _ = resumed.replay.sample(2000, n, np.random.default_rng(0))
    assert not (j == N - 1).any() and (j == N - 2).any()  # the entry without a successor is never sampled
    flags = np.stack([ro.steps[i].truncated for i in range(N)])
    flags[N - 2] = True  # the hand rule: the window is cut before the entry without a successor
    target = copy.deepcopy(resumed.target)

    def q_bar(o):
        with torch.no_grad():
            return target(torch.from_numpy(np.asarray(o))[None])[0].tolist()

    js = np.array([jj for jj in range(N - 2 - n, N - 1) for _ in range(ro.cfg.num_envs)])
    es = np.array([ee for _ in range(N - 2 - n, N - 1) for ee in range(ro.cfg.num_envs)])
    keep = resumed.replay.valid[js % resumed.replay.steps, es]
    js, es = js[keep], es[keep]
    obs, _, rewards, terminated, truncated = (resumed._tensor(x) for x in resumed.replay.window(js, es, n))
    got = resumed._target(obs, rewards, terminated, truncated, resumed.target)
    want = torch.tensor([hand_dqn_target("dqn-soft-kl", ro, int(a), int(b), n, q_bar, flags) for a, b in zip(js, es)],
                        dtype=torch.float64)
    assert _rel(got, want) < TOL
    # negative control: without the seal, the windows read the new segment's reset observation
    unsealed = _dqn_learner(ro, "dqn-soft-kl", n)
    unsealed.replay.load_state_dict(_dqn_learner(ro, "dqn-soft-kl", n).replay.state_dict())
    unsealed.target.load_state_dict(resumed.target.state_dict())
    for i in range(6):
        unsealed.record(i, ro.obs[i], ro.actions[i], ro.steps[i])
    obs, _, rewards, terminated, truncated = (unsealed._tensor(x) for x in unsealed.replay.window(js, es, n))
    assert _rel(unsealed._target(obs, rewards, terminated, truncated, unsealed.target), want) > WRONG


# ------------------------------------------------------------------------- lockstep, through the learner


def _hand_lockstep(ro: Rollout, s: int, net) -> dict[str, dict[str, float]]:
    """The lockstep columns recomputed from the hand-built gradients of this file."""
    tau, c = ro.cfg.tau, ro.cfg.value_coef
    g = {name: _grad(hand_ac_loss(algo, ro, s, net, value_coef=vc), net)
         for name, algo, vc in (("sq", "sql-unscaled", c), ("pg", "a2c-proper", 1.0 / tau),
                                ("msq", "sql", c), ("a2c", "a2c-proper", c))}
    g["pg"] = tau * g["pg"]  # τ L_a2c with c = 1/τ, Eq. (65)

    def cols(sq, pg):
        return {"norm_sq": float(sq.norm()), "norm_pg": float(pg.norm()), "rel_diff_sampled": _rel(sq, pg),
                "cos_sampled": float(sq @ pg / (sq.norm() * pg.norm())), "norm_star": float((sq - pg).norm())}

    return {"pg_vs_sql": cols(g["sq"], g["pg"]), "a2c_vs_sql_matched": cols(g["msq"], g["a2c"])}


def _lockstep_rows(ro, s, learner):
    return {r["pair"]: r for r in learner.lockstep(ro.obs[s + ro.cfg.n_steps])}


def test_lockstep_columns_equal_the_hand_built_gradients():
    """Every column of learner.lockstep(...) against this file's gradients (the sampled identity:
    (∗)+(∗∗) is exactly g_sq − g_pg, so norm_star is its norm; E[(∗)+(∗∗)] has zero gradient)."""
    ro = cartpole()
    learner, s = _ac_learner(ro, "sql")
    hand = _hand_lockstep(ro, s, learner.net)
    rows = _lockstep_rows(ro, s, learner)
    mask_sum = sum(ro.hand_mask(s + t).sum() for t in range(ro.cfg.n_steps))
    assert set(rows) == {"pg_vs_sql", "a2c_vs_sql_matched"}
    for pair, row in rows.items():
        for key, value in hand[pair].items():
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-15), (pair, key)
        assert row["rel_diff_expected"] < TOL and abs(row["cos_expected"] - 1) < TOL
        assert row["decomposition_residual"] < TOL and row["advantage_consistency"] < 1e-12
        assert row["rel_diff_sampled"] > WRONG and row["norm_expected_star"] < TOL * row["norm_pg"]
        assert row["batch"] == mask_sum and row["dtype"] == "float64"


def test_lockstep_negative_control_for_every_column(monkeypatch):
    """Each column is made wrong (large, or off the hand value) by a variant of the code it checks,
    reached through learner.lockstep(...)."""
    import equiv

    ro = cartpole()
    learner, s = _ac_learner(ro, "sql")
    hand = _hand_lockstep(ro, s, learner.net)
    mask_sum = sum(ro.hand_mask(s + t).sum() for t in range(ro.cfg.n_steps))

    def rows_with(name, wrong):
        with monkeypatch.context() as m:
            m.setattr(equiv, name, wrong)
            return _lockstep_rows(ro, s, learner)

    real_terms = equiv.soft_q_gradient_terms
    real_adv, real_target = equiv.nstep_advantage, equiv.nstep_soft_target

    # (∗) terms wrong by a factor 2: the per-sample decomposition no longer holds
    bad = rows_with("soft_q_gradient_terms",
                    lambda *a, **k: real_terms(*a, **k)._replace(star=2 * real_terms(*a, **k).star))
    for pair, r in bad.items():
        assert r["decomposition_residual"] > WRONG and r["rel_diff_expected"] > WRONG
        assert abs(r["norm_star"] - hand[pair]["norm_star"]) > WRONG * hand[pair]["norm_star"]
    # their "expectation" taken under π̄ (uniform weights) instead of π: no longer zero-mean
    def expected_under_reference(values, log_policy, *, tau, ref_policy=None):
        kl = _kl_uniform(log_policy)
        w = 1.0 / log_policy.shape[-1]
        centred = (log_policy + math.log(log_policy.shape[-1])).detach() - kl.detach()[..., None]
        return tau**2 * ((w * log_policy * centred).sum(-1) - kl) + tau * values * (w * centred).sum(-1)

    bad = rows_with("expected_star_terms", expected_under_reference)
    for r in bad.values():
        assert r["rel_diff_expected"] > WRONG and 1 - r["cos_expected"] > 1e-12
        assert r["norm_expected_star"] > WRONG * r["norm_pg"]
    # the PG side with the naive advantage (no −τ KL): advantage consistency and the expected columns break
    bad = rows_with("nstep_advantage", lambda r, kl, v, nv, te, tr=None, *, gamma, tau, n=None:
                    real_adv(r, 0 * kl, v, nv, te, tr, gamma=gamma, tau=tau, n=n))
    assert all(r["advantage_consistency"] > WRONG and r["rel_diff_expected"] > WRONG for r in bad.values())
    # a wrong soft-Q target (the printed 1/γ-free γτKL dropped): sampled columns and norms off the hand values
    bad = rows_with("nstep_soft_target", lambda r, kl, nv, te, tr=None, *, gamma, tau, n=None:
                    real_target(r, 0 * kl, nv, te, tr, gamma=gamma, tau=tau, n=n))
    for pair, r in bad.items():
        assert r["advantage_consistency"] > WRONG
        for key in ("norm_sq", "rel_diff_sampled"):  # (norm_star does not depend on y: Eq. (64))
            assert abs(r[key] - hand[pair][key]) > WRONG * abs(hand[pair][key]), (pair, key)
        one_minus_cos = 1 - hand[pair]["cos_sampled"]  # the cosine is ~1: compare its distance to 1
        assert abs((1 - r["cos_sampled"]) - one_minus_cos) > WRONG * one_minus_cos, pair
    # the mask ignored (autoreset steps trained on): the norms and the batch size are off
    with monkeypatch.context() as m:
        m.setattr(learner, "mask", torch.ones_like(learner.mask))
        bad = _lockstep_rows(ro, s, learner)
    for pair, r in bad.items():
        assert r["batch"] > mask_sum
        assert abs(r["norm_pg"] - hand[pair]["norm_pg"]) > WRONG * hand[pair]["norm_pg"]


def test_same_seed_same_update_on_the_float32_pong_cnn():
    """The training path as it runs (float32 Nature CNN, channels_last inputs, T·B forward with V(s_T) without
    grad): two learners built from the same torch seed, fed the same real Pong segment, take bit-identical
    steps.  Negative control: another seed gives another network and another step, so the comparison can fail."""
    ro = pong()
    s = _segment_start(ro)

    def stepped(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        learner = ActorCriticLearner(ro.cfg.replace(algo="sql"), ro.obs_shape, ro.obs_dtype, ro.num_actions, CPU,
                                     ro.reward_transform)
        assert next(learner.net.parameters()).dtype == torch.float32
        for t in range(ro.cfg.n_steps):
            learner.record(t, ro.obs[s + t], ro.actions[s + t], ro.steps[s + t])
        learner.learn(ro.obs[s + ro.cfg.n_steps], 0)
        return [p.detach().clone() for p in learner.net.parameters()]

    first, again, other = stepped(0), stepped(0), stepped(1)
    assert all(torch.equal(p, q) for p, q in zip(first, again))
    assert not all(torch.equal(p, q) for p, q in zip(first, other))
