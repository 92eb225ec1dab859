"""Determinism: same seed, same CPU result — bit for bit.

A small end-to-end computation (random MDP and Q-table from a seeded torch.Generator, trajectories
sampled with it, n-step and λ soft targets, soft-Q and A2C losses, gradients) is run twice in this
process and once in a fresh subprocess (default dtype, thread count and torch settings of a plain
`python`); all three must be bit-identical.  Negative control: another seed gives another result.
Also: the hypothesis `ci` profile is derandomized, and two runs of a property under it draw the same
examples (while two different explicit seeds without derandomization do not).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from equiv import (
    a2c_loss,
    boltzmann_log_policy,
    gather_actions,
    kl_divergence,
    lambda_soft_target,
    nstep_advantage,
    nstep_soft_target,
    soft_q_loss,
    soft_value,
)
from equiv.mdp import FiniteMDP

F64 = torch.float64
REPO_ROOT = Path(__file__).resolve().parents[1]


def end_to_end(seed_value: int, steps: int = 12, envs: int = 3) -> dict[str, torch.Tensor]:
    """Sample a [steps, envs] rollout in a random 4-state MDP under π^B_Q and compute targets, losses
    and gradients.  Every random draw comes from one torch.Generator seeded with ``seed_value``;
    every tensor is float64 explicitly (nothing depends on the default dtype)."""
    gen = torch.Generator().manual_seed(seed_value)
    S, A, gamma, tau = 4, 3, 0.9, 0.5
    transitions = torch.rand(S, A, S, generator=gen, dtype=F64)
    mdp = FiniteMDP(
        transitions=transitions / transitions.sum(-1, keepdim=True),
        rewards=torch.randn(S, A, generator=gen, dtype=F64),
        gamma=gamma,
        tau=tau,
        terminal=torch.tensor([False, False, False, True]),
    )
    q_table = torch.randn(S, A, generator=gen, dtype=F64).requires_grad_()
    state = torch.randint(0, S - 1, (envs,), generator=gen)
    rows = {k: [] for k in ("s", "a", "r", "s_next", "terminated")}
    for _ in range(steps):
        probs = boltzmann_log_policy(q_table.detach()[state], tau).exp()
        action = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
        s_next = torch.multinomial(mdp.transitions[state, action], 1, generator=gen).squeeze(-1)
        terminated = mdp.terminal_mask[s_next]
        for key, value in zip(rows, (state, action, mdp.rewards[state, action], s_next, terminated)):
            rows[key].append(value)
        restart = torch.randint(0, S - 1, (envs,), generator=gen)
        state = torch.where(terminated, restart, s_next)
    s, a, r, s_next, terminated = (torch.stack(rows[k]) for k in rows)
    log_pi = boltzmann_log_policy(q_table[s], tau)
    kl = kl_divergence(log_pi, None)
    values = soft_value(q_table[s], tau)
    next_values = torch.where(
        terminated, torch.zeros((), dtype=F64), soft_value(q_table[s_next], tau)
    ).detach()
    target = nstep_soft_target(r, kl.detach(), next_values, terminated, gamma=gamma, tau=tau, n=3)
    lam_target = lambda_soft_target(
        r, kl.detach(), values.detach(), next_values, terminated, gamma=gamma, tau=tau, lam=0.8
    )
    advantage = nstep_advantage(
        r, kl.detach(), values.detach(), next_values, terminated, gamma=gamma, tau=tau, n=3
    )
    q_loss = soft_q_loss(gather_actions(q_table[s], a), target).mean()
    pg_loss = a2c_loss(
        gather_actions(log_pi, a), kl, values, advantage, values.detach() + advantage, tau=tau, value_coef=0.5
    ).mean()
    (q_grad,) = torch.autograd.grad(q_loss, q_table, retain_graph=True)
    (pg_grad,) = torch.autograd.grad(pg_loss, q_table)
    return {
        "actions": a,
        "states": s_next,
        "target": target.detach(),
        "lambda_target": lam_target.detach(),
        "q_loss": q_loss.detach(),
        "a2c_loss": pg_loss.detach(),
        "q_grad": q_grad,
        "a2c_grad": pg_grad,
    }


def digest(results: dict[str, torch.Tensor]) -> str:
    """sha256 of the raw bytes of every result (bit-level fingerprint)."""
    h = hashlib.sha256()
    for key in sorted(results):
        h.update(key.encode())
        h.update(results[key].contiguous().numpy().tobytes())
    return h.hexdigest()


def test_same_seed_gives_bit_identical_results():
    first, second = end_to_end(1234), end_to_end(1234)
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert digest(first) == digest(second)


# One fresh interpreter serves both subprocess checks (each start-up imports torch: ~1-2 s here).
# The digest is computed first, before anything of the harness changes torch's settings.
_FRESH_INTERPRETER = """
import sys, types, torch
from tests.test_determinism import end_to_end, digest
print("digest", digest(end_to_end(1234)))
from atari_check.config import Config
from atari_check.run import _setup_torch
assert not torch.are_deterministic_algorithms_enabled()
_setup_torch(Config(env="CartPole-v1", algo="a2c-proper"))
print("setup_torch", torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled(), "torch._inductor.config" in sys.modules)
package, config = types.ModuleType("torch._inductor"), types.ModuleType("torch._inductor.config")
package.config = config
sys.modules.update({"torch._inductor": package, "torch._inductor.config": config})
torch.use_deterministic_algorithms(True)  # the public function, for comparison
print("public_function", getattr(config, "deterministic", None) is True)
"""


@pytest.fixture(scope="module")  # shared per process: the two tests using it are in one xdist group
def fresh_interpreter() -> dict[str, list[str] | str]:
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_INTERPRETER],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    return {**lines, "digest": lines["digest"][0]}


@pytest.mark.xdist_group("fresh_interpreter")
def test_same_seed_gives_bit_identical_results_in_a_subprocess(fresh_interpreter):
    """A fresh interpreter (plain `python`, none of conftest's torch settings) reproduces the digest."""
    assert fresh_interpreter["digest"] == digest(end_to_end(1234))


def test_negative_control_another_seed_gives_another_result():
    """The bitwise comparison can fail: a different seed changes the rollout and every result."""
    first, other = end_to_end(1234), end_to_end(1235)
    assert digest(first) != digest(other)
    assert not torch.equal(first["q_grad"], other["q_grad"])


def draws_under(profile_settings: settings, hypothesis_seed: int | None = None) -> list[int]:
    """The examples a property draws under ``profile_settings`` (no example database)."""
    seen: list[int] = []

    @settings(profile_settings, database=None, max_examples=10)
    @given(st.integers(0, 2**62))
    def record(x):
        seen.append(x)

    if hypothesis_seed is not None:
        record = seed(hypothesis_seed)(record)
    record()
    return seen


def test_hypothesis_ci_profile_is_derandomized():
    """The ci profile (the default of conftest) is derandomized: two runs draw the same examples.
    Negative control: without derandomization, two different seeds draw different examples."""
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    if os.environ.get("EQUIV_HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings.get_current_profile_name() == "ci"
        assert settings.default.derandomize is True
    assert draws_under(ci) == draws_under(ci)
    random_profile = settings(ci, derandomize=False)
    assert draws_under(random_profile, 1) != draws_under(random_profile, 2)


@pytest.mark.xdist_group("fresh_interpreter")
def test_deterministic_algorithms_are_on_without_loading_inductor(fresh_interpreter):
    """conftest and the harness set torch's deterministic-algorithms flag (not warn-only) the way
    torch.use_deterministic_algorithms does, but without importing torch._inductor.config (torch._dynamo,
    seconds of start-up).  Negative control: the public function does import it (served here by a stub
    module, so the control costs no start-up), so the check can fail."""
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert fresh_interpreter["setup_torch"] == ["True", "False", "False"]
    assert fresh_interpreter["public_function"] == ["True"]
