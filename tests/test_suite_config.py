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



def test_the_harness_tests_share_one_xdist_group(request):
    """conftest's collection hook gives the tests of harness modules the harness group's xdist_group mark, and a
    test of equiv none.  Under `--dist loadgroup` the mark must also have reached the node ids the scheduler
    groups by: xdist's worker writes them in the same hook as the conftest, so the order of the two matters."""
    import pytest

    class Item:
        def __init__(self, name):
            self.path, self.fixturenames, self.marks, self.originalname = SimpleNamespace(name=name), [], [], "test_x"

        def add_marker(self, mark):
            self.marks.append(mark)

    items = [Item(n) for n in ("test_atari_smoke.py", "test_conformance.py", "test_mutation_kills_atari_learners.py",
                               "test_targets.py", "test_kit.py", "test_proofs_cli.py")]
    conftest.pytest_collection_modifyitems(None, items)
    assert [[m.mark.args for m in item.marks] for item in items] == [[(conftest.HARNESS_GROUP,)]] * 3 + [[]] * 3
    assert all(isinstance(m, pytest.MarkDecorator) and m.name == "xdist_group" for i in items for m in i.marks)

    if getattr(request.config.option, "loadgroup", False):  # set in xdist workers under --dist loadgroup
        ids = [item.nodeid for item in request.session.items]
        module = [node_id.split("::")[0].rsplit("/", 1)[-1] for node_id in ids]
        if any(map(conftest.is_harness_module, module)):
            for node_id, name in zip(ids, module):
                assert node_id.endswith(f"@{conftest.HARNESS_GROUP}") is conftest.is_harness_module(name), node_id
