"""The import graph of the project's own code, read from the source with :mod:`ast`.

An edge ``a -> b`` means module ``a`` imports module ``b`` when it is loaded or when one of
its functions runs (imports under ``if TYPE_CHECKING:`` are left out: they never run).
Only the project's packages are nodes of the graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Package name -> the folder that holds it.
ROOTS = {"flowengine": REPO / "flowengine", "flowengine_nodes": REPO / "nodes" / "flowengine_nodes"}


def modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found: dict[str, Path] = {}
    for package, folder in ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, type_checking: bool = False) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not type_checking:
            node.body = []  # never runs
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield prefix
            yield from (f"{prefix}.{alias.name}" for alias in node.names)


def import_graph(type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the project's modules it imports (names resolved to real modules).

    With ``type_checking`` the imports under ``if TYPE_CHECKING:`` count too.
    """
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in _imports(tree, name, path.name == "__init__.py", type_checking):
            while target and target not in known:
                target = target.rpartition(".")[0]
            # A module's own packages are already loading when it runs: not an arrow.
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return found


def room_of(module: str, depth: int) -> str:
    """The room (package prefix of ``depth`` parts) a module lives in."""
    return ".".join(module.split(".")[:depth])


def room_graph(graph: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The import graph folded onto rooms: an arrow between two rooms for any import between them."""
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = room_of(module, depth)
        rooms.setdefault(source, set())
        for target in targets:
            room = room_of(target, depth)
            rooms.setdefault(room, set())
            if room != source:
                rooms[source].add(room)
    return rooms
