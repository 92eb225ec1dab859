"""The kit on real libraries (equiv/testing/adapters/): TorchRL and SB3 in the default suite, the full
report (equiv/testing/REPORT.md) recomputed and compared under the conformance_heavy marker.

Each adapter test has a negative control through the same entry point: the library's real function fed
the wrong flags (a misuse a user could make) must fail the check.  Libraries that are not installed skip.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from equiv.testing import CHECKS, ConformanceError, classify_pg_loss
from equiv.testing.report import default_dtype, installed, render, sections
from equiv.testing.runner import load_adapter

ROOT = Path(__file__).resolve().parent.parent
# One xdist worker runs this file (the harness group of tests/conftest.py): it alone imports torchrl (~4 s,
# torch._dynamo included) and Stable-Baselines3 (~2.5 s).
REPORT = ROOT / "equiv" / "testing" / "REPORT.md"

needs_torchrl = pytest.mark.skipif(not installed("torchrl"), reason="torchrl not installed (equiv[conformance])")
needs_sb3 = pytest.mark.skipif(not installed("stable-baselines3"), reason="stable-baselines3 not installed")


@needs_torchrl
def test_torchrl_td1_soft_target_and_truncation_hold_and_fail_when_truncation_is_passed_as_termination():
    td1 = load_adapter("equiv.testing.adapters.torchrl:td1")
    with default_dtype(torch.float64):
        CHECKS["soft_target"][0](td1, examples=2, shrink=False)
        CHECKS["truncation"][0](td1, examples=2, shrink=False)

        def misused(batch, *, gamma, tau, n):  # terminated=done: the time limit loses its bootstrap
            done = batch.terminated | batch.truncated
            return td1.soft_target(batch._replace(terminated=done), gamma=gamma, tau=tau, n=n)

        with pytest.raises(ConformanceError, match=r"\(46\) with a time limit"):
            CHECKS["truncation"][0](SimpleNamespace(soft_target=misused, reference_policy=True), examples=2,
                                    shrink=False)


@needs_torchrl
def test_torchrl_td0_rounds_gamma_to_float32_under_the_default_dtype():
    td0 = load_adapter("equiv.testing.adapters.torchrl:td0")
    with default_dtype(torch.float32), pytest.raises(ConformanceError) as info:
        CHECKS["soft_target"][0](td0, examples=1, shrink=False)
    assert 1e-9 < info.value.error < 1e-7  # float32 rounding of γ (2.6e-8 relative), not a semantic miss
    with default_dtype(torch.float64):
        CHECKS["soft_target"][0](td0, examples=1, shrink=False)


@needs_torchrl
def test_torchrl_discrete_sac_target_holds_by_default_and_loses_the_truncation_bootstrap_with_skip_done_states():
    with default_dtype(torch.float64):
        sac = load_adapter("equiv.testing.adapters.torchrl:discrete_sac")
        CHECKS["soft_target"][0](sac, examples=1, shrink=False)
        CHECKS["truncation"][0](sac, examples=1, shrink=False)
        skip = load_adapter("equiv.testing.adapters.torchrl:discrete_sac_skip_done")
        CHECKS["soft_target"][0](skip, examples=1, shrink=False)  # no truncation: the option is harmless
        with pytest.raises(ConformanceError, match=r"\(46\) with a time limit") as info:
            CHECKS["truncation"][0](skip, examples=1, shrink=False)
        assert info.value.error > 1e-2


@needs_torchrl
def test_torchrl_a2c_loss_is_the_naive_estimator():
    with default_dtype(torch.float64):
        c = classify_pg_loss(load_adapter("equiv.testing.adapters.torchrl:a2c"))
    assert (c.estimator, c.value_target) == ("naive", "plain"), c.summary()


@needs_sb3
def test_sb3_a2c_train_is_the_naive_estimator():
    c = classify_pg_loss(load_adapter("equiv.testing.adapters.sb3:a2c"))
    assert (c.estimator, c.value_target) == ("naive", "plain"), c.summary()
    assert c.policy_error_vs_naive <= c.tol == 1e-4 and c.naive_bias > 100 * c.tol


@pytest.mark.conformance_heavy
def test_report_is_in_sync_with_what_the_kit_computes():
    committed = REPORT.read_text(encoding="utf-8")
    computed = sections(render([lib for lib in sections(committed) if installed(lib)], committed))
    for library, text in sections(committed).items():
        assert computed[library] == text, f"{library}: REPORT.md is stale; run python -m equiv.testing report"


@pytest.mark.conformance_heavy
@pytest.mark.skipif(not installed("tianshou"), reason="tianshou not installed (equiv[conformance-heavy])")
def test_tianshou_discrete_sac_nstep_target_lacks_the_intermediate_entropy():
    one = load_adapter("equiv.testing.adapters.tianshou:discrete_sac_1step")
    CHECKS["soft_target"][0](one, examples=2, shrink=False)
    CHECKS["truncation"][0](one, examples=2, shrink=False)
    nstep = load_adapter("equiv.testing.adapters.tianshou:discrete_sac")
    with pytest.raises(ConformanceError, match=r"Eq\. \(46\)") as info:
        CHECKS["soft_target"][0](nstep, examples=2, shrink=False)
    assert info.value.error > 1e-3
    # What it computes instead (REPORT.md's claim): raw rewards, entropy only in the bootstrap V_ent(s_{t+n}).
    from equiv import nstep_return
    from equiv.testing.checks import _random_target_batch

    for seed in range(3):
        batch = _random_target_batch(nstep, seed, 4, 5, 3)
        v_ent = 0.6 * torch.logsumexp(batch.next_q / 0.6, -1)
        for n in (2, 3, None):
            expected = nstep_return(batch.rewards, v_ent, batch.terminated, batch.truncated, gamma=0.9, n=n)
            torch.testing.assert_close(nstep.soft_target(batch, gamma=0.9, tau=0.6, n=n), expected,
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.conformance_heavy
@pytest.mark.skipif(not installed("rlax"), reason="rlax not installed (equiv[conformance-heavy])")
def test_rlax_multistep_returns_hold():
    for spec in ("equiv.testing.adapters.rlax:n_step", "equiv.testing.adapters.rlax:lambda_returns"):
        adapter = load_adapter(spec)
        for check in ("soft_target", "truncation"):
            CHECKS[check][0](adapter, examples=2, shrink=False)
