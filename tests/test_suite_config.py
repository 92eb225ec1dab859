"""The suite's own start-up settings (tests/conftest.py) and the kit plugin's import cost.

These exist for speed (the default suite is a 60 s CI gate), so each is checked to have taken effect, and
to have left what the tests rely on in place.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from _pytest.assertion.rewrite import AssertionRewritingHook

from tests import conftest


def _loader(module_name: str):
    __import__(module_name)
    return sys.modules[module_name].__loader__


def test_installed_packages_are_not_assertion_rewritten_but_test_modules_are():
    for name in ("hypothesis.core", "equiv.boltzmann", "proofs.symbolic", "atari_check.learners"):
        assert not isinstance(_loader(name), AssertionRewritingHook), f"{name} is still assertion-rewritten"
    # the test modules keep pytest's assertion messages
    assert isinstance(sys.modules[__name__].__loader__, AssertionRewritingHook)
    assert isinstance(_loader("tests.test_targets"), AssertionRewritingHook)


def _config(dist: str, collectonly: bool = False, worker: bool = False):
    config = SimpleNamespace(option=SimpleNamespace(dist=dist), getvalue=lambda name: collectonly)
    if worker:
        config.workerinput = {"workerid": "gw0"}
    return config


def test_only_the_xdist_controller_skips_the_test_process_set_up():
    assert conftest._is_xdist_controller(_config("loadgroup"))
    assert conftest._is_xdist_controller(_config("load"))
    assert not conftest._is_xdist_controller(_config("no"))  # a single process runs the tests itself
    assert not conftest._is_xdist_controller(_config("no", worker=True))  # xdist sets dist="no" in workers
    assert not conftest._is_xdist_controller(_config("loadgroup", worker=True))
    assert not conftest._is_xdist_controller(_config("loadgroup", collectonly=True))  # --co collects here


def test_this_process_got_the_set_up():
    import torch
    from hypothesis import settings

    assert torch.get_default_dtype() == torch.float64 and torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    assert settings.get_current_profile_name() in ("ci", "dev", "thorough")


def test_the_kit_plugin_imports_neither_torch_nor_equiv():
    """pytest imports every installed pytest11 plugin in every run of the environment (and in each xdist
    controller): the kit's must cost no torch import until a test asks for ``equiv_check``."""
    code = (
        "import sys, _equiv_pytestplugin; "
        "heavy = sorted(m for m in ('torch', 'equiv', 'hypothesis', 'numpy') if m in sys.modules); "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
