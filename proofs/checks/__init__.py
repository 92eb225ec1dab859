"""Every check of the registry, grouped by section of the paper.

This package imports nothing: :func:`proofs.loader.load_checks` finds its modules with
:mod:`pkgutil` and imports them (importing a module registers its checks with
:func:`proofs.core.check`), so a new ``proofs/checks/*.py`` needs no registration line.
"""
