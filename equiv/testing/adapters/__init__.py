"""Adapters of real RL libraries to the kit's contracts (optional extras, imported lazily).

Each module imports its library only when an adapter is built, maps the library's conventions
explicitly (documented per adapter) and never re-implements the library's arithmetic: the library's own
functions compute what is checked.  ``LIBRARIES`` lists what ``python -m equiv.testing report`` runs.
"""

from __future__ import annotations

# library (distribution names whose versions are recorded) → adapter specs (MODULE:FACTORY)
LIBRARIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "torchrl": (
        ("torchrl", "tensordict"),
        (
            "equiv.testing.adapters.torchrl:td0",
            "equiv.testing.adapters.torchrl:td1",
            "equiv.testing.adapters.torchrl:td_lambda",
            "equiv.testing.adapters.torchrl:gae",
            "equiv.testing.adapters.torchrl:discrete_sac",
            "equiv.testing.adapters.torchrl:discrete_sac_skip_done",
            "equiv.testing.adapters.torchrl:a2c",
        ),
    ),
    "stable-baselines3": (
        ("stable-baselines3",),
        ("equiv.testing.adapters.sb3:a2c",),
    ),
    "rlax": (
        ("rlax", "jax"),
        (
            "equiv.testing.adapters.rlax:n_step",
            "equiv.testing.adapters.rlax:lambda_returns",
        ),
    ),
    "tianshou": (
        ("tianshou",),
        (
            "equiv.testing.adapters.tianshou:discrete_sac",
            "equiv.testing.adapters.tianshou:discrete_sac_1step",
        ),
    ),
}
HEAVY = ("rlax", "tianshou")
"""Libraries whose adapters run only under the conformance_heavy marker (slow imports)."""
