"""The architecture holds: node modules use only the public API, no circles, no upward arrows."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.architecture.imports import REPO, cycles, import_graph, modules, room_graph

#: What a node module may import of the engine: the package root, which is the node SDK.
PUBLIC = {"flowengine"}


def _engine_imports(path_text: str) -> list[tuple[int, str]]:
    """(line, module) of every import of an engine module, written as the source writes it."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path_text)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.extend((node.lineno, name) for name in names if name.split(".")[0] == "flowengine")
    return found


def test_node_modules_import_only_the_public_api() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for name, path in modules().items()
        if name.startswith("flowengine_nodes")
        for line, module in _engine_imports(path.read_text(encoding="utf-8"))
        if module not in PUBLIC
    ]
    assert not offenders, "\n".join(offenders)


def test_the_engine_never_imports_the_nodes() -> None:
    graph = import_graph()
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.split(".")[0] == "flowengine"
        for target in targets
        if target.split(".")[0] == "flowengine_nodes"
    ]
    assert not upward, "\n".join(upward)


def test_no_module_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_no_engine_circle_even_through_type_checking_or_function_imports() -> None:
    # The package root is the lazy facade every module may name; leave it out, keep the rest.
    graph = {
        name: {target for target in targets if target != "flowengine"}
        for name, targets in import_graph(type_checking=True).items()
        if name.startswith("flowengine.")
    }
    assert cycles(graph) == []


def test_no_circle_between_node_rooms() -> None:
    nodes_only = {name: targets for name, targets in import_graph().items() if name.startswith("flowengine_nodes.")}
    rooms = room_graph(nodes_only, depth=2)
    assert len(rooms) >= 8  # basic, devices, emulator, mqtt, rules, stream, zigbee, zigbee2mqtt
    assert cycles(rooms) == []


def test_the_emulator_is_a_tool_that_imports_no_node() -> None:
    graph = import_graph()
    emulator_targets = {
        target for name, targets in graph.items() if name.startswith("flowengine_nodes.emulator") for target in targets
    }
    assert {t for t in emulator_targets if not t.startswith("flowengine_nodes.emulator")} == set()


def test_a_checker_would_catch_a_circle() -> None:
    # The checker itself must be able to fail.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_import_nodes_fails_even_from_the_checkout() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import nodes"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode != 0
    assert "flowengine_nodes" in completed.stderr


def test_no_public_name_is_shadowed_by_a_module() -> None:
    # Importing flowengine.X binds X on the package, which would hide a lazily exported name X.
    import flowengine

    engine = [name for name in modules() if name.startswith("flowengine.") and name.count(".") == 1]
    submodules = {name.rpartition(".")[2] for name in engine}
    assert set(flowengine.__all__) & submodules == set()
    for name in flowengine.__all__:
        assert getattr(flowengine, name) is not None


#: paho-mqtt's and aiomqtt's private names the MQTT fast paths use (aiomqtt's is ``Client._client``).
PAHO_PRIVATE = {"_sock_recv", "_in_packet", "_out_packet", "_sock", "_protocol", "_last_bytes_received",
                "_packet_queue", "_OutPacket"}
DOOR = REPO / "nodes" / "flowengine_nodes" / "mqtt" / "paho_fast.py"


def test_paho_private_names_are_used_in_one_module_only() -> None:
    offenders = []
    for folder in ("flowengine", "nodes", "tests", "benchmarks", "examples"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == DOOR:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Attribute):
                    continue
                foreign_client = node.attr == "_client" and not (
                    isinstance(node.value, ast.Name) and node.value.id == "self")
                if node.attr in PAHO_PRIVATE or foreign_client:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: .{node.attr}")
    assert not offenders, "\n".join(offenders)
    door = ast.parse(DOOR.read_text(encoding="utf-8"))
    assert {n.attr for n in ast.walk(door) if isinstance(n, ast.Attribute)} >= PAHO_PRIVATE - {"_OutPacket"}
