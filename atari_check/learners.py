"""Learners: the actor-critic family (A2C naive/proper, soft Q-learning) and DQN.

Both share the interface the runner drives, one *iteration* at a time:

    for t in range(n_steps):
        actions = learner.act(obs)                # numpy [B]
        step = env.step(actions)
        learner.record(t, obs, actions, step)
        obs = step.obs
    stats = learner.learn(obs, frames_done)      # one A2C update / the DQN gradient steps that are due

and ``lockstep(...)`` for the gradient diagnostics, ``state_dict()`` /
``load_state_dict()`` for checkpoints.  A non-finite loss or gradient raises
:class:`NonFiniteLoss` *before* the optimiser step, so the parameters and the
last checkpoint stay good.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

import equiv

from .envs import Step
from .lockstep import lockstep_rows
from .losses import actor_critic_per_sample, dqn_target, masked_mean
from .networks import ActorCritic, QNetwork, float32_construction


class NonFiniteLoss(RuntimeError):
    """The loss or the gradient norm became NaN/inf."""


def reward_for_training(reward: np.ndarray, transform: str) -> np.ndarray:
    if transform == "sign":
        return np.sign(reward)  # Atari reward clipping to {−1, 0, 1} (DQN / baselines)
    return reward


def _dtype(name: str) -> torch.dtype:
    return {"float64": torch.float64, "float32": torch.float32}[name]


class ActorCriticLearner:
    """A2C-style synchronous learner for a2c-naive, a2c-proper, sql and sql-unscaled."""

    def __init__(self, cfg, obs_shape, obs_dtype, num_actions: int, device: torch.device, reward_transform: str):
        self.cfg = cfg
        self.device = device
        self.reward_transform = reward_transform
        with float32_construction():  # the lockstep diagnostics make their own float64 copy
            self.net = ActorCritic(obs_shape, num_actions, cfg).to(device)
        self.opt = torch.optim.RMSprop(self.net.parameters(), lr=cfg.lr, alpha=cfg.rms_alpha, eps=cfg.rms_eps)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(cfg.seed)
        T, B = cfg.n_steps, cfg.num_envs
        torch_obs_dtype = torch.uint8 if np.dtype(obs_dtype) == np.uint8 else torch.float32
        self.obs = torch.zeros((T + 1, B) + tuple(obs_shape), dtype=torch_obs_dtype, device=device)
        self.actions = torch.zeros((T, B), dtype=torch.int64, device=device)
        self.rewards = torch.zeros((T, B), dtype=torch.float32, device=device)
        self.terminated = torch.zeros((T, B), dtype=torch.bool, device=device)
        self.truncated = torch.zeros((T, B), dtype=torch.bool, device=device)
        self.mask = torch.zeros((T, B), dtype=torch.float32, device=device)
        self.updates = 0

    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(obs)).to(self.device, non_blocking=True)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        log_policy, _ = self.net(self._tensor(obs))
        return torch.multinomial(log_policy.exp(), 1, generator=self.gen).squeeze(-1).cpu().numpy()

    def record(self, t: int, obs: np.ndarray, actions: np.ndarray, step: Step) -> None:
        self.obs[t] = self._tensor(obs)
        self.actions[t] = self._tensor(actions)
        self.rewards[t] = self._tensor(reward_for_training(step.reward, self.reward_transform).astype(np.float32))
        self.terminated[t] = self._tensor(step.terminated)
        self.truncated[t] = self._tensor(step.truncated)
        # The autoreset step is not a transition: its loss is masked out.  Rows before it are cut
        # off by the done flag of the step that ended the episode.
        self.mask[t] = self._tensor((~step.reset_step).astype(np.float32))

    def _forward(self, net):
        """log π ``[T, B, A]`` and V ``[T, B]`` with grad on the T·B rollout rows; V(s_{t+1}) ``[T, B]``
        detached, with V(s_T) from a no-grad forward (as SB3 does: no graph for the bootstrap rows)."""
        T, B = self.actions.shape
        log_policy, values = net(self.obs[:T].flatten(0, 1))
        with torch.no_grad():
            _, last_value = net(self.obs[T])
        log_policy = log_policy.view(T, B, log_policy.shape[-1])
        values = values.view(T, B)
        return log_policy, values, torch.cat([values[1:].detach(), last_value[None]])

    def learn(self, last_obs: np.ndarray, frames_done: int) -> dict:
        cfg = self.cfg
        self.obs[cfg.n_steps] = self._tensor(last_obs)
        if cfg.lr_schedule == "linear":
            lr = cfg.lr * (1.0 - frames_done / cfg.frames)
            for group in self.opt.param_groups:
                group["lr"] = lr
        else:
            lr = cfg.lr
        with equiv.validation(False):  # inputs come from the network; validated structurally
            log_policy, values, next_values = self._forward(self.net)
            per_sample = actor_critic_per_sample(  # rewards in the network's dtype (float64 in the tests)
                cfg.algo, log_policy, values, next_values, self.actions, self.rewards.to(values.dtype),
                self.terminated,
                self.truncated, gamma=cfg.gamma, tau=cfg.tau, value_coef=cfg.value_coef,
            )
            loss = masked_mean(per_sample, self.mask)
            entropy = masked_mean(equiv.entropy(log_policy.detach()), self.mask)
            kl = masked_mean(equiv.kl_divergence(log_policy.detach()), self.mask)
        loss_value = float(loss.detach())
        if not np.isfinite(loss_value):
            raise NonFiniteLoss(f"loss is {loss_value} at update {self.updates + 1}")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.max_grad_norm))
        if not np.isfinite(grad_norm):
            raise NonFiniteLoss(f"gradient norm is {grad_norm} at update {self.updates + 1}")
        self.opt.step()
        self.updates += 1
        return {
            "loss": loss_value, "entropy": float(entropy), "kl": float(kl),
            "value_mean": float(masked_mean(values.detach(), self.mask)), "grad_norm": grad_norm, "lr": lr,
        }

    def lockstep(self, last_obs: np.ndarray) -> list[dict]:
        """Diagnostics on the rollout just collected (call before :meth:`learn` changes θ)."""
        cfg = self.cfg
        self.obs[cfg.n_steps] = self._tensor(last_obs)
        dtype = _dtype(cfg.lockstep_dtype)
        net = copy.deepcopy(self.net).to(dtype)
        log_policy, values, next_values = self._forward(net)
        rewards = self.rewards.to(dtype)
        kl = equiv.kl_divergence(log_policy).detach()
        args = (self.terminated, self.truncated)
        target = equiv.nstep_soft_target(rewards, kl, next_values, *args, gamma=cfg.gamma, tau=cfg.tau)
        advantage = equiv.nstep_advantage(rewards, kl, values.detach(), next_values, *args,
                                          gamma=cfg.gamma, tau=cfg.tau)
        value_target = equiv.nstep_regularized_return(rewards, kl, next_values, *args, gamma=cfg.gamma,
                                                      tau=cfg.tau)
        A = log_policy.shape[-1]
        return lockstep_rows(
            list(net.parameters()), values.reshape(-1), log_policy.reshape(-1, A), self.actions.reshape(-1),
            target.reshape(-1), self.mask.to(dtype).reshape(-1), tau=cfg.tau, value_coef=cfg.value_coef,
            advantage=advantage.reshape(-1), value_target=value_target.reshape(-1),
        )

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "gen": self.gen.get_state(),
                "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        self.updates = state["updates"]


class ReplayBuffer:
    """Replay of vector-env steps, stored once per step: ``[capacity_steps, num_envs, ...]``.

    Entry i of a column holds (s_i, a_i, r_i, terminated_i, truncated_i,
    valid_i); the next state of entry i is the observation of entry i+1 (the
    final observation when the episode ended, by next-step autoreset).
    ``valid`` is False for autoreset steps, which are never sampled; n-step
    windows stop at the first done, so they never read past an episode end.
    """

    def __init__(self, capacity: int, num_envs: int, obs_shape, obs_dtype):
        self.steps = max(capacity // num_envs, 2)
        self.num_envs = num_envs
        self.obs = np.zeros((self.steps, num_envs) + tuple(obs_shape), dtype=obs_dtype)
        self.actions = np.zeros((self.steps, num_envs), dtype=np.int64)
        self.rewards = np.zeros((self.steps, num_envs), dtype=np.float32)
        self.terminated = np.zeros((self.steps, num_envs), dtype=bool)
        self.truncated = np.zeros((self.steps, num_envs), dtype=bool)
        self.valid = np.zeros((self.steps, num_envs), dtype=bool)
        self.written = 0  # vector steps written in total

    def add(self, obs, actions, rewards, terminated, truncated, valid) -> None:
        i = self.written % self.steps
        self.obs[i], self.actions[i], self.rewards[i] = obs, actions, rewards
        self.terminated[i], self.truncated[i], self.valid[i] = terminated, truncated, valid
        self.written += 1

    def sampleable(self, n: int) -> tuple[int, int]:
        """Absolute step range [lo, hi] whose windows (entries j … j+n) are all stored."""
        return max(0, self.written - self.steps), self.written - 1 - n

    def sample(self, batch: int, n: int, rng: np.random.Generator):
        """Indices (absolute step j, env e) of ``batch`` valid transitions, uniformly.

        Draws rounds of 2·batch (j, e) pairs and keeps the valid ones; gives up (RuntimeError) after
        1000 rounds."""
        lo, hi = self.sampleable(n)
        if hi < lo:
            raise RuntimeError(f"replay holds no complete window of n = {n} steps yet (entries j … j + n): "
                               f"{self.written} steps written")
        js, es, got = [], [], 0
        for _ in range(1000):
            j = rng.integers(lo, hi + 1, size=2 * batch)
            e = rng.integers(0, self.num_envs, size=2 * batch)
            ok = self.valid[j % self.steps, e]
            take = min(batch - got, int(ok.sum()))
            js.append(j[ok][:take])
            es.append(e[ok][:take])
            got += take
            if got == batch:
                return np.concatenate(js), np.concatenate(es)
        raise RuntimeError("replay has (almost) no valid transitions to sample")

    def window(self, j: np.ndarray, e: np.ndarray, n: int):
        """obs at j … j+n ``[n+1, batch, ...]``; action at j; rewards/flags at j … j+n−1 ``[n, batch]``."""
        idx = (j[None, :] + np.arange(n + 1)[:, None]) % self.steps
        obs = self.obs[idx, e[None, :]]
        step_idx = idx[:n]
        return (obs, self.actions[j % self.steps, e], self.rewards[step_idx, e[None, :]],
                self.terminated[step_idx, e[None, :]], self.truncated[step_idx, e[None, :]])

    def seal(self) -> None:
        """After a resume the next stored observation is not the successor of the last entry:
        invalidate the last entry and cut windows before it (bootstrapping from its state)."""
        if self.written == 0:
            return
        last = (self.written - 1) % self.steps
        self.valid[last] = False
        if self.written >= 2:
            self.truncated[(self.written - 2) % self.steps] = True

    def state_dict(self) -> dict:
        n = min(self.written, self.steps)
        return {"written": self.written, "obs": self.obs[:n],
                "actions": self.actions[:n], "rewards": self.rewards[:n], "terminated": self.terminated[:n],
                "truncated": self.truncated[:n], "valid": self.valid[:n]}

    def load_state_dict(self, state: dict) -> None:
        n = len(state["actions"])
        for name in ("obs", "actions", "rewards", "terminated", "truncated", "valid"):
            getattr(self, name)[:n] = state[name]
        self.written = state["written"]


class DQNLearner:
    """DQN with replay, target network and ε-greedy, for the backups (81)-(83) (§6.2)."""

    def __init__(self, cfg, obs_shape, obs_dtype, num_actions: int, device: torch.device, reward_transform: str,
                 frames_per_step: int = 1):
        self.cfg = cfg
        self.device = device
        self.reward_transform = reward_transform
        self.num_actions = num_actions
        with float32_construction():
            self.net = QNetwork(obs_shape, num_actions, cfg).to(device)
        self.target = copy.deepcopy(self.net)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.dqn_lr, eps=cfg.adam_eps)
        self.rng = np.random.default_rng(cfg.seed)
        self.replay = ReplayBuffer(cfg.replay_size, cfg.num_envs, obs_shape, obs_dtype)
        self.agent_steps = 0
        self.grad_steps = 0
        self.target_copies = 0
        self.updates = 0
        self.total_agent_steps = max(1, cfg.frames // frames_per_step)

    def epsilon(self) -> float:
        cfg = self.cfg
        horizon = cfg.eps_fraction * self.total_agent_steps
        frac = 1.0 if horizon <= 0 else min(1.0, self.agent_steps / horizon)
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        greedy = self.net(self._tensor(obs)).argmax(-1).cpu().numpy()
        explore = self.rng.random(len(greedy)) < self.epsilon()
        random_actions = self.rng.integers(0, self.num_actions, size=len(greedy))
        return np.where(explore, random_actions, greedy)

    def record(self, t: int, obs: np.ndarray, actions: np.ndarray, step: Step) -> None:
        rewards = reward_for_training(step.reward, self.reward_transform).astype(np.float32)
        self.replay.add(obs, actions, rewards, step.terminated, step.truncated, ~step.reset_step)
        self.agent_steps += len(actions)

    def _batch(self):
        cfg = self.cfg
        n = cfg.dqn_nstep
        j, e = self.replay.sample(cfg.batch_size, n, self.rng)
        obs, actions, rewards, terminated, truncated = self.replay.window(j, e, n)
        obs = self._tensor(obs)
        return (obs, self._tensor(actions), self._tensor(rewards), self._tensor(terminated),
                self._tensor(truncated))

    def _target(self, obs, rewards, terminated, truncated, net) -> torch.Tensor:
        cfg = self.cfg
        n1, b = obs.shape[:2]
        with torch.no_grad():
            q_bar = net(obs.flatten(0, 1)).view(n1, b, -1)
            return dqn_target(cfg.algo, q_bar, rewards.to(q_bar.dtype), terminated, truncated, gamma=cfg.gamma,
                              tau=cfg.tau, form=cfg.soft_backup_form)

    def learn(self, last_obs: np.ndarray, frames_done: int) -> dict:
        cfg = self.cfg
        self.updates += 1
        stats = {"epsilon": self.epsilon()}
        lo, hi = self.replay.sampleable(cfg.dqn_nstep)
        if self.agent_steps < cfg.learning_starts or hi < lo:
            return stats
        # one gradient step per train_interval agent steps, counted from learning_starts
        due = (self.agent_steps - cfg.learning_starts) // cfg.train_interval + 1 - self.grad_steps
        losses, grad_norms, q_means = [], [], []
        for _ in range(max(0, due)):
            obs, actions, rewards, terminated, truncated = self._batch()
            with equiv.validation(False):
                target = self._target(obs, rewards, terminated, truncated, self.target)
                q = self.net(obs[0])
                per_sample = equiv.soft_q_loss(equiv.gather_actions(q, actions), target)
                loss = per_sample.mean()
            loss_value = float(loss.detach())
            if not np.isfinite(loss_value):
                raise NonFiniteLoss(f"loss is {loss_value} at DQN gradient step {self.grad_steps + 1}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.dqn_max_grad_norm))
            if not np.isfinite(grad_norm):
                raise NonFiniteLoss(f"gradient norm is {grad_norm} at DQN gradient step {self.grad_steps + 1}")
            self.opt.step()
            self.grad_steps += 1
            losses.append(loss_value)
            grad_norms.append(grad_norm)
            q_means.append(float(q.detach().mean()))
        copies = self.agent_steps // cfg.target_update_interval
        if copies > self.target_copies:
            self.target.load_state_dict(self.net.state_dict())
            self.target_copies = copies
        if losses:
            stats.update(loss=float(np.mean(losses)), grad_norm=float(np.mean(grad_norms)),
                         value_mean=float(np.mean(q_means)), lr=cfg.dqn_lr)
        return stats

    def lockstep(self, last_obs: np.ndarray | None = None) -> list[dict]:
        """Diagnostics on a replay batch: Q read as V_Q + τ log(π^B_Q/π̄) (an identity, Eqs. (30)-(32))."""
        cfg = self.cfg
        lo, hi = self.replay.sampleable(cfg.dqn_nstep)
        if hi < lo:
            return []
        dtype = _dtype(cfg.lockstep_dtype)
        state = self.rng.bit_generator.state  # diagnostics must not change the training stream
        obs, actions, rewards, terminated, truncated = self._batch()
        self.rng.bit_generator.state = state
        target = self._target(obs, rewards, terminated, truncated, self.target).to(dtype)
        net = copy.deepcopy(self.net).to(dtype)
        q = net(obs[0])
        values = equiv.soft_value(q, cfg.tau)
        log_policy = equiv.boltzmann_log_policy(q, cfg.tau)
        mask = torch.ones_like(values)
        return lockstep_rows(list(net.parameters()), values, log_policy, actions, target, mask, tau=cfg.tau,
                             value_coef=cfg.value_coef)

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "target": self.target.state_dict(), "opt": self.opt.state_dict(),
                "rng": self.rng.bit_generator.state, "replay": self.replay.state_dict(),
                "agent_steps": self.agent_steps, "grad_steps": self.grad_steps,
                "target_copies": self.target_copies, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.target.load_state_dict(state["target"])
        self.opt.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        self.replay.load_state_dict(state["replay"])
        self.replay.seal()
        for name in ("agent_steps", "grad_steps", "target_copies", "updates"):
            setattr(self, name, state[name])


def make_learner(cfg, env, device: torch.device, reward_transform: str):
    if cfg.is_dqn:
        return DQNLearner(cfg, env.obs_shape, env.obs_dtype, env.num_actions, device, reward_transform,
                          frames_per_step=env.frames_per_step)
    return ActorCriticLearner(cfg, env.obs_shape, env.obs_dtype, env.num_actions, device, reward_transform)
