"""The grader's layers depend one way only: runtime, core <- sandbox <- parts <- engine <- output <- tools
<- commands. Every import of every module of ``autograder/`` is read (top level and inside functions,
with ``ast``, without importing anything) and an edge against that order fails, as does a cycle of
imports between modules (lazy imports included).

``runtime`` is the code the sandboxed worker runs: ``autograder/runtime/``, each part's ``probes.py`` and
the notebook's runner. It imports nothing of the grader but itself (the worker gets only these files).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "autograder"
ROOT = Path(__file__).resolve().parent.parent
ORDER = ("runtime", "core", "sandbox", "parts", "engine", "output", "tools", "commands")
# modules of a part's folder that the worker runs: the runtime's layer, whatever folder holds them
RUNTIME_FILES = ("probes", "runner")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules of the grader it imports}`` for every module of ``root/package``; ``from X
    import name`` counts as an import of ``X.name`` when that is a module, else of ``X``; an import of a
    module counts as one of the packages above it (their ``__init__`` runs), the top package aside."""
    paths = {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}
    found: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = found.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name.split(".")[0] == package)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[:len(here.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                elif (node.module or "").split(".")[0] == package:
                    target = node.module
                else:
                    continue
                for alias in node.names:
                    edges.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in paths else target)
        # importing a.b.c runs the __init__ of a.b too (not the grader's own: the worker's copy has an empty one)
        edges.update(".".join(edge.split(".")[:end]) for edge in list(edges) for end in range(2, edge.count(".") + 1))
        edges -= {name, *(".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1))}  # its own packages
    return found


def layer(module: str) -> str:
    """The layer of a module of this layout: its folder under ``autograder/`` (``runtime`` for a part's
    probes and the notebook's runner; the package itself is ``core``, ``__main__`` a command)."""
    names = module.split(".")[1:]
    if not names:
        return "core"
    if names[0] == "__main__":
        return "commands"
    if names[0] == "parts" and names[-1] in RUNTIME_FILES:
        return "runtime"
    return names[0]


def against_layers(found: dict[str, set[str]], layer_of=layer) -> list[str]:
    """Every edge from a module to one of a higher layer, or out of the runtime, as ``a -> b``."""
    bad = []
    for module, targets in sorted(found.items()):
        for target in sorted(targets):
            mine, theirs = layer_of(module), layer_of(target)
            if mine == "runtime" and theirs != "runtime" or ORDER.index(theirs) > ORDER.index(mine):
                bad.append(f"{module} ({mine}) -> {target} ({theirs})")
    return bad


def cycles(found: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles among modules: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in found.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(found):
        if module not in index:
            visit(module)
    return groups


def test_every_module_has_a_layer():
    assert {layer(module) for module in imports()} <= set(ORDER)


def test_no_import_goes_against_the_layers():
    assert against_layers(imports()) == []


def test_no_import_cycles():
    assert cycles(imports()) == []


def test_the_walk_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: a lazy import inside a function, a relative one and a cycle are all found."""
    package = tmp_path / PACKAGE
    for folder in ("core", "commands", "runtime"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "config.py").write_text("def load():\n    from ..commands import cli\n")
    (package / "commands" / "cli.py").write_text("from ..core.config import load\n")
    (package / "runtime" / "worker.py").write_text("from ..core import config\n")
    found = imports(tmp_path)
    assert against_layers(found) == ["autograder.core.config (core) -> autograder.commands (commands)",
                                     "autograder.core.config (core) -> autograder.commands.cli (commands)",
                                     "autograder.runtime.worker (runtime) -> autograder.core (core)",
                                     "autograder.runtime.worker (runtime) -> autograder.core.config (core)"]
    assert cycles(found) == [["autograder.commands.cli", "autograder.core.config"]]
