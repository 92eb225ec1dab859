"""Shared pytest configuration: hypothesis profiles and float64 defaults.

Profiles (select with the environment variable EQUIV_HYPOTHESIS_PROFILE):
  ci        default; derandomized (same examples every run), 60 examples per property
  dev       random examples, 100 per property, prints statistics-friendly output
  thorough  random examples, 1000 per property (the long tier; see README)
"""

from __future__ import annotations

import os

import pytest  # already imported by the running pytest: free


def _configure_test_process() -> None:
    import torch
    from hypothesis import HealthCheck, settings

    common = {
        "deadline": None,  # float64 linear algebra timing varies; correctness is what is tested
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    settings.register_profile("ci", max_examples=60, derandomize=True, print_blob=True, **common)
    settings.register_profile("dev", max_examples=100, **common)
    settings.register_profile("thorough", max_examples=1000, **common)
    settings.load_profile(os.environ.get("EQUIV_HYPOTHESIS_PROFILE", "ci"))

    torch.set_default_dtype(torch.float64)
    # Deterministic CPU results for the same seed (and no surprise thread oversubscription under xdist).
    # As torch.use_deterministic_algorithms(True), minus its import of torch._inductor.config (torch._dynamo:
    # 3-10 s per test process here); nothing in the suite compiles.  tests/test_determinism.py checks both.
    torch._C._set_deterministic_algorithms(True, warn_only=False)
    torch.set_num_threads(1)


def _is_xdist_controller(config) -> bool:
    # pytest-xdist's controller (`-n N`) collects and runs nothing; its workers set dist to "no".  It skips
    # the torch and hypothesis imports (~3 s before any worker starts).  As xdist's own pytest_configure.
    return (
        not hasattr(config, "workerinput")
        and getattr(config.option, "dist", "no") != "no"
        and not config.getvalue("collectonly")
    )


# Installed packages that pytest marks for assertion rewriting because their distributions ship a pytest11
# plugin (equiv's own kit plugin included), and that need none: equiv, proofs and atari_check contain no
# assert statement, and hypothesis's asserts are internal invariants.  Rewriting cannot use the bytecode
# cache under PYTHONDONTWRITEBYTECODE (set on this machine, so probably on CI's): it re-parses and recompiles ~150 modules
# in every test process, ~2 s each here.  Test files and conftest.py are still rewritten.
# tests/test_suite_config.py checks that this took effect and that test modules are still rewritten.
_NOT_REWRITTEN = ("hypothesis", "equiv", "proofs", "atari_check")


def _skip_rewriting_installed_packages(config) -> None:
    marked = getattr(getattr(config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):  # pytest's private state; tests/test_suite_config.py notices if it changes
        marked.difference_update(_NOT_REWRITTEN)


def pytest_configure(config):
    _skip_rewriting_installed_packages(config)  # before anything imports them
    # Before any test module is imported: the modules' @settings read the loaded profile.
    if not _is_xdist_controller(config):
        _configure_test_process()


# Tests that read the whole proofs registry's evaluation (tests/proofs_session.py): through one of these
# fixtures, or by evaluating every claim of a family.  Marked `whole_registry` so that the proofs mutation
# job (tests/mutation/run.py) can leave them out: each costs the ~30 s evaluation per mutant there.
_WHOLE_REGISTRY_FIXTURES = {"verdicts", "main_on_shared"}
_WHOLE_REGISTRY_TESTS = {
    "test_proofs_text.py::test_text_claim_verdicts",
    "test_proofs_cli.py::test_module_entry_point_runs_end_to_end",
}


# Test modules whose tests all run in one xdist worker (with `--dist loadgroup`): the harness tests import
# gymnasium/ALE, MinAtar (with matplotlib), scipy.stats, TorchRL and Stable-Baselines3 and build torch optimisers
# (whose first construction imports torch._dynamo), ~5 s of first-use imports per process that the other worker,
# running equiv's and proofs' tests, then mostly does not pay (tests/test_bug_catalogue.py runs a few harness
# tests in-process, wherever it runs).  tests/test_suite_config.py checks the grouping.
HARNESS_GROUP = "harness"


def is_harness_module(name: str) -> bool:
    return name.startswith(("test_atari_", "test_mutation_kills_atari_")) or name == "test_conformance.py"


# tryfirst: pytest-xdist's worker hook, registered after this conftest and so called before it, reads the
# xdist_group marks (into the node ids the scheduler groups by) in the same hook.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):

    for item in items:
        module = item.path.name
        if is_harness_module(module):
            item.add_marker(pytest.mark.xdist_group(HARNESS_GROUP))
        if module.startswith("test_proofs_") and (
            _WHOLE_REGISTRY_FIXTURES & set(item.fixturenames)
            or f"{module}::{item.originalname}" in _WHOLE_REGISTRY_TESTS
        ):
            item.add_marker(pytest.mark.whole_registry)


def pytest_unconfigure(config):
    # Nothing of this process is used after pytest's last hook.  The interpreter's final garbage collections
    # would walk every object the suite created (~1-3 s per test process here, and the xdist controller waits
    # for its workers to exit): frozen objects are left to the operating system.
    import gc

    gc.freeze()
