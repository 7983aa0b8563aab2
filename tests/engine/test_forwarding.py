"""Forwarding: long chains of transforms deliver every message; a failed source fails the run."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import ClassVar

import pytest

from flowengine import Message, NodeConfig, Source, Transform
from flowengine.health import Health
from flowengine.registry import Registry
from flowengine.runner import run_flows
from flowengine.runtime import FORWARD_DEPTH, FlowRun, block_entries
from flowengine.testing import Capture, load_text, registry_with_capture, run_flow, run_sync, write_flow
from tests.engine.test_runtime import make_capture, replay_flow


class HopConfig(NodeConfig):
    """``hop`` takes no config."""


class Hop(Transform[HopConfig]):
    """Counts the nodes a message crossed in ``payload.hops`` (test node)."""

    config_model: ClassVar[type[NodeConfig]] = HopConfig

    def process(self, msg: Message) -> Message | None:
        payload = msg.payload
        return msg.evolve(payload={**payload, "hops": payload.get("hops", 0) + 1})


class BrokenConfig(NodeConfig):
    """``broken`` takes no config."""


class Broken(Source[BrokenConfig]):
    """A finite source that emits one message, then fails (test node)."""

    config_model: ClassVar[type[NodeConfig]] = BrokenConfig
    live: ClassVar[bool] = False

    async def run(self) -> None:
        self.emit(Message("t", {"n": 1}, {}))
        raise OSError("the device went away")


@pytest.fixture
def registry() -> Registry:
    registry = registry_with_capture()
    registry.register("hop", Hop)
    registry.register("broken", Broken)
    return registry


def chain(length: int) -> str:
    nodes = [f"  - id: h{index}\n    type: hop\n    wires: [{f'h{index + 1}' if index + 1 < length else 'seen'}]\n"
             for index in range(length)]
    return "    wires: [h0]\n" + "".join(nodes) + "  - id: seen\n    type: capture\n"


@pytest.mark.parametrize("length", [1_000, 5_000])
def test_a_long_chain_delivers_every_message_through_every_node(
    tmp_path: Path, registry: Registry, length: int
) -> None:
    make_capture(tmp_path / "capture.jsonl", 20)
    result = run_flow(tmp_path, replay_flow(chain(length)), registry=registry)
    seen = result.captured("seen")
    assert [msg.payload["hops"] for msg in seen] == [length] * 20
    assert [msg.payload["lqi"] for msg in seen] == list(range(20))  # order kept
    assert result.summary.failed_sources == []
    assert all(result.counters(f"h{index}").get("errors", 0) == 0 for index in range(length))


def test_a_short_flow_is_wired_with_direct_calls_only(tmp_path: Path, registry: Registry) -> None:
    make_capture(tmp_path / "capture.jsonl", 1)
    loaded = load_text(tmp_path, replay_flow(chain(FORWARD_DEPTH - 2)), registry=registry)
    assert loaded.graph is not None
    assert block_entries(list(loaded.graph.enabled())) == set()


def test_every_path_crosses_an_entry_within_one_block(tmp_path: Path, registry: Registry) -> None:
    # A shortcut from h0 straight to h150 must not skip the trampoline on its way.
    text = replay_flow(chain(200)).replace("wires: [h1]", "wires: [h1, h150]")
    make_capture(tmp_path / "capture.jsonl", 1)
    loaded = load_text(tmp_path, text, registry=registry)
    assert loaded.graph is not None
    entries = block_entries(list(loaded.graph.enabled()))
    assert "h150" in entries
    assert {f"h{FORWARD_DEPTH - 1}", f"h{2 * FORWARD_DEPTH - 1}"} <= entries


def test_a_source_stopped_by_an_error_fails_the_run_and_is_named(
    tmp_path: Path, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_flow(tmp_path, "version: 1\nstate: memory\nnodes:\n  - id: radio\n    type: broken\n"
                                "    wires: [seen]\n  - id: seen\n    type: capture\n")
    loaded = load_text(tmp_path, path.read_text(), registry=registry)
    assert loaded.graph is not None
    with caplog.at_level(logging.INFO, logger="flowengine"):
        status = asyncio.run(run_flows([path], registry, [loaded.graph], watch=False, on_secrets=lambda _: None))
    assert status != 0
    failed = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert any("'radio' stopped after an error" in line for line in failed), failed
    assert not any("finished" in record.getMessage() and "input ended" in record.getMessage()
                   for record in caplog.records)


@pytest.mark.parametrize("tap", [False, True])
def test_counts_stay_exact_across_the_trampoline(tmp_path: Path, registry: Registry, tap: bool) -> None:
    # 200 hops and a shortcut: inputs behind the trampoline are counted once, when they run.
    make_capture(tmp_path / "capture.jsonl", 20)
    text = replay_flow(chain(200)).replace("wires: [h1]", "wires: [h1, h150]")
    loaded = load_text(tmp_path, text, registry=registry)
    assert loaded.graph is not None, loaded.errors
    run = FlowRun(loaded.graph, health=Health().flow(loaded.graph.name), tap=tap)
    if tap:  # a viewer watches every node
        for traffic in run.traffic.values():
            traffic.open_tap()
    run_sync(run.run())
    assert block_entries(list(loaded.graph.enabled()))  # the trampoline was on the way
    received = {node: run.traffic[node].received_now() for node in run.traffic}
    assert received["h0"] == 20
    assert received["h150"] == 40  # from h149 and from the shortcut
    assert all(received[f"h{index}"] == 40 for index in range(151, 200))
    assert all(received[f"h{index}"] == 20 for index in range(1, 150))
    assert received["seen"] == 40
    seen = run.nodes["seen"]
    assert isinstance(seen, Capture)
    assert sorted(msg.payload["hops"] for msg in seen.messages) == [51] * 20 + [200] * 20
