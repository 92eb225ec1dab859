"""proofs/ has no import circle: data and checks → loader → registry → report → CLI (issue 14 §7).

The graph is built from the source with :mod:`ast`, counting every import — at module level and
inside functions — so an import hidden in a function cannot close a circle unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROOFS = Path(__file__).resolve().parents[1] / "proofs"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PROOFS) -> dict[str, set[str]]:
    """module → the proofs modules it imports (relative imports resolved, `from . import x` → the
    submodule x when it is one)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod for a in node.names]
            for target in targets:
                while target and target not in files:  # `import proofs.core.x` → proofs.core
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first = last), or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_proofs_has_no_import_cycle():
    graph = import_graph()
    assert "proofs.loader" in graph and "proofs.claim" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import circle in proofs/: " + " → ".join(cycle)


def test_layers_read_top_to_bottom():
    graph = import_graph()
    assert "proofs.checks" not in graph["proofs.core"]  # core does not load the checks
    assert not graph["proofs.claim"]  # the Claim type imports nothing of proofs
    assert "proofs.registry" not in graph["proofs.claims"]
    for data in ("proofs.claims", "proofs.claims_text"):
        assert "proofs.loader" not in graph[data]
    for name, deps in graph.items():
        if name.startswith("proofs.checks"):
            assert not deps & {"proofs.loader", "proofs.registry", "proofs.report", "proofs.cli"}, name
    assert {"proofs.claims", "proofs.claims_text", "proofs.checks"} <= graph["proofs.loader"]
    assert "proofs.loader" in graph["proofs.registry"]


@pytest.mark.parametrize(
    "sources, expected",
    [
        # the knot as it was: core imported checks inside a function, the checks import core
        (
            {
                "core.py": "def f():\n    from . import checks\n",
                "checks/__init__.py": "from . import s2\n",
                "checks/s2.py": "from ..core import x\n",
            },
            ["proofs.checks", "proofs.checks.s2", "proofs.core"],
        ),
        (
            {
                "claims.py": "from .registry import Claim\n",
                "registry.py": "def f():\n    import proofs.claims\n",
            },
            ["proofs.claims", "proofs.registry"],
        ),
        ({"a.py": "from . import b\n", "b.py": "x = 1\n"}, None),
    ],
)
def test_cycle_finder_negative_controls(tmp_path, sources, expected):
    root = tmp_path / "proofs"
    for rel, text in {"__init__.py": "", **sources}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    cycle = find_cycle(import_graph(root))
    if expected is None:
        assert cycle is None
    else:
        assert cycle is not None and sorted(set(cycle)) == expected
