"""The functions a node's input is, with the counting folded in (no extra call per message).

Wiring compiles every wire into a plain function that calls the next node. Counting must
not add a call of its own on that path, so each *edge* gets its own input function of the
target node, which also counts the message as sent on the upstream port: one function call
per hop, as without counting. On a port wired to several nodes only the first edge counts
(each message reaches it exactly once). When that edge is the target's only input, the
target does not count its input at all: its ``received`` is read from the upstream port's
count (:meth:`Traffic.derive_from`), so a chain costs one increment per hop. A port wired
to nothing, a wire into a node built later (an allowed cycle) and a source's input use
:meth:`Traffic.counting`'s wrapper.

When the run is tappable (``--http``), the same functions also record the message in the
upstream node's debug tap while somebody watches it (:mod:`flowengine.traffic`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowengine.channel import Channel
from flowengine.message import Message
from flowengine.node import Sink, Transform
from flowengine.traffic import Traffic

Deliver = Callable[[Message], object]
Fail = Callable[[Message, Exception], None]
#: The upstream node's traffic and port an edge counts as sent, or None (not the counting edge).
Upstream = tuple[Traffic, str] | None


def nothing(msg: Message) -> None:
    """Deliver to nowhere: a port nothing is wired to."""


def fan_out(targets: list[Deliver]) -> Deliver:
    """Return one function delivering to every target, specialised for 0 and 1 targets."""
    if not targets:
        return nothing
    if len(targets) == 1:
        return targets[0]
    chain = tuple(targets)

    def deliver_all(msg: Message) -> None:
        for target in chain:
            target(msg)

    return deliver_all


def transform_input(node: Transform[Any], traffic: Traffic, out: Deliver, fail: Fail, upstream: Upstream
                    ) -> Deliver:
    """A transform's input on one edge: count, process, forward what it returns to ``out``.

    ``out`` counts what it is given (it is the next edge's input, or a counting wrapper);
    when the transform has no ``out`` port it is :func:`nothing` and returned messages end.
    """
    process = node.process
    if upstream is None:
        def run(msg: Message) -> None:
            traffic.received += 1
            try:
                result = process(msg)
            except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
                fail(msg, exc)
                return
            if result is not None:
                out(result)

        return run
    source, port = upstream
    sent = source.sent
    if not source.tappable and traffic.derived is not None:
        def count_once_and_run(msg: Message) -> None:
            sent[port] += 1  # also this node's input (derived)
            try:
                result = process(msg)
            except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
                fail(msg, exc)
                return
            if result is not None:
                out(result)

        return count_once_and_run
    if not source.tappable:
        def count_and_run(msg: Message) -> None:
            sent[port] += 1
            traffic.received += 1
            try:
                result = process(msg)
            except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
                fail(msg, exc)
                return
            if result is not None:
                out(result)

        return count_and_run

    def tap_count_and_run(msg: Message) -> None:
        sent[port] += 1
        if source.recording is not None:
            source.record(port, msg)
        if traffic.derived is None:
            traffic.received += 1
        try:
            result = process(msg)
        except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
            fail(msg, exc)
            return
        if result is not None:
            out(result)

    return tap_count_and_run


def inline_sink_input(node: Sink[Any], traffic: Traffic, fail: Fail, upstream: Upstream) -> Deliver:
    """An ``inline`` sink's input on one edge: count (tap while watched), then ``write_now``."""
    write_now = node.write_now
    if upstream is None and not traffic.tappable:
        def write(msg: Message) -> None:
            traffic.received += 1
            try:
                write_now(msg)
            except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
                fail(msg, exc)

        return write
    if upstream is not None and not traffic.tappable and traffic.derived is not None:
        sent, port = upstream[0].sent, upstream[1]

        def count_once_and_write(msg: Message) -> None:
            sent[port] += 1  # also this sink's input (derived)
            try:
                write_now(msg)
            except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
                fail(msg, exc)

        return count_once_and_write
    if upstream is not None and not traffic.tappable:
        sent, port = upstream[0].sent, upstream[1]

        def count_and_write(msg: Message) -> None:
            sent[port] += 1
            traffic.received += 1
            try:
                write_now(msg)
            except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
                fail(msg, exc)

        return count_and_write

    def tap_count_and_write(msg: Message) -> None:
        if upstream is not None:
            source, port = upstream
            source.sent[port] += 1
            if source.recording is not None:
                source.record(port, msg)
        if traffic.derived is None:
            traffic.received += 1
        if traffic.recording is not None:
            traffic.record("in", msg)
        try:
            write_now(msg)
        except Exception as exc:  # noqa: BLE001 - a node's failure is routed, not fatal
            fail(msg, exc)

    return tap_count_and_write


def channel_input(channel: Channel[Message], upstream: Upstream) -> Deliver:
    """A queued sink's input on one edge: its channel (which counts what it is offered)."""
    if upstream is None:
        return channel.put
    source, port = upstream
    return source.counting(port, channel.put)
