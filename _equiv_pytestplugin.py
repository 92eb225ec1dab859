"""pytest plugin of the conformance kit :mod:`equiv.testing` (the ``pytest11`` entry point ``equiv_testing``).

A top-level module, like hypothesis's ``_hypothesis_pytestplugin``: pytest imports every installed plugin at
start-up, in every test run of every project in the environment (and in each pytest-xdist controller), and
importing anything inside the ``equiv`` package runs ``equiv/__init__.py``, which imports torch (~1.7 s here).
This module imports only pytest until a test asks for ``equiv_check``.

A user's test module::

    from mypkg.equiv_adapter import adapter as EQUIV_ADAPTER

    def test_equiv(equiv_check):
        equiv_check()

is parametrised over every check of :data:`equiv.testing.CHECKS` (``EQUIV_CHECKS = [...]`` in the
module picks some); a check the adapter has no method for is skipped with the reason.
"""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "equiv_check" not in metafunc.fixturenames:
        return
    from equiv.testing.checks import CHECKS

    adapter = getattr(metafunc.module, "EQUIV_ADAPTER", None)
    if adapter is None:
        raise pytest.UsageError(
            f"{metafunc.module.__name__}: the equiv_check fixture needs a module-level EQUIV_ADAPTER"
        )
    names = list(getattr(metafunc.module, "EQUIV_CHECKS", CHECKS))
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise pytest.UsageError(f"EQUIV_CHECKS: unknown checks {unknown}; known: {list(CHECKS)}")
    metafunc.parametrize("equiv_check", [(adapter, n) for n in names], ids=names, indirect=True)


@pytest.fixture
def equiv_check(request: pytest.FixtureRequest):
    """Call it to run one check on the module's EQUIV_ADAPTER (keyword arguments go to the check)."""
    from equiv.testing.checks import CHECKS, NotApplicable

    adapter, name = request.param

    def run(**options):
        try:
            CHECKS[name][0](adapter, **options)
        except NotApplicable as err:
            # The adapter has no method for this check: reported as skipped with the reason, never as passed
            # (a skip is what it is: the check did not run).  tests/test_kit.py checks the outcome and the reason.
            pytest.skip(f"{name}: {err}")

    return run
