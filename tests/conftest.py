"""Shared pytest configuration: hypothesis profiles and float64 defaults.

Profiles (select with the environment variable EQUIV_HYPOTHESIS_PROFILE):
  ci        default; derandomized (same examples every run), 60 examples per property
  dev       random examples, 100 per property, prints statistics-friendly output
  thorough  random examples, 1000 per property (the long tier; see README)
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,  # float64 linear algebra timing varies; correctness is what is tested
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", max_examples=60, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=100, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("EQUIV_HYPOTHESIS_PROFILE", "ci"))

torch.set_default_dtype(torch.float64)
# Deterministic CPU results for the same seed (and no surprise thread oversubscription under xdist).
# As torch.use_deterministic_algorithms(True), minus its import of torch._inductor.config (torch._dynamo:
# 3-10 s per test process here); nothing in the suite compiles.  tests/test_determinism.py checks both.
torch._C._set_deterministic_algorithms(True, warn_only=False)
torch.set_num_threads(1)


# Tests that read the whole proofs registry's evaluation (tests/proofs_session.py): through one of these
# fixtures, or by evaluating every claim of a family.  Marked `whole_registry` so that the proofs mutation
# job (tests/mutation/run.py) can leave them out: each costs the ~30 s evaluation per mutant there.
_WHOLE_REGISTRY_FIXTURES = {"verdicts", "main_on_shared"}
_WHOLE_REGISTRY_TESTS = {
    "test_proofs_text.py::test_text_claim_verdicts",
    "test_proofs_cli.py::test_module_entry_point_runs_end_to_end",
}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        module = item.path.name
        if module.startswith("test_proofs_") and (
            _WHOLE_REGISTRY_FIXTURES & set(item.fixturenames)
            or f"{module}::{item.originalname}" in _WHOLE_REGISTRY_TESTS
        ):
            item.add_marker(pytest.mark.whole_registry)
