"""The headless runner: several flows at once, signals, ``--watch`` reloads (CONTRACT §7)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from flowengine.errors import NodeError, StateFileError, StateFileUnavailableError
from flowengine.flow import LoadedFlow, load_flow
from flowengine.graph import FlowGraph
from flowengine.health import FlowHealth, Health
from flowengine.progress import shown
from flowengine.registry import Registry
from flowengine.runtime import FlowRun, RunSummary, cancel_and_wait
from flowengine.sdnotify import Notifier, ServiceNotifier, watchdog_interval

if TYPE_CHECKING:
    from flowengine.web.settings import HttpSettings

logger = logging.getLogger("flowengine.runner")
WATCH_INTERVAL = 1.0
#: Seconds between two attempts to open a state file the storage refuses (a read-only folder, a full disk).
STATE_RETRY = 1.0


def report(loaded: LoadedFlow, *, strict: bool, echo: Callable[[str], None]) -> bool:
    """Print a loaded flow's issues; return True when it may run."""
    for issue in [*loaded.errors, *loaded.warnings]:
        echo(str(issue))
    return loaded.ok and not (strict and loaded.warnings)


def log_summary(summary: RunSummary) -> None:
    """Log what each node counted during a run (only the non-zero counters)."""
    for node_id, counters in summary.counters.items():
        shown = {name: value for name, value in counters.items() if value}
        if shown:
            text = ", ".join(f"{name}={value}" for name, value in sorted(shown.items()))
            logger.info("flow '%s' node '%s': %s", summary.flow, node_id, text)
    if summary.failed_sources:
        stopped = ", ".join(f"'{node_id}'" for node_id in summary.failed_sources)
        logger.error("flow '%s' failed after %.2f s: source %s stopped after an error", summary.flow,
                     summary.seconds, stopped)
        return
    logger.info("flow '%s' finished after %.2f s (%s)", summary.flow, summary.seconds,
                "input ended" if summary.end_of_input else "stopped")


class FlowRunner:
    """Runs one flow file, reloading it on change when watching."""

    def __init__(self, path: Path, registry: Registry, graph: FlowGraph, *, watch: bool,
                 on_secrets: Callable[[frozenset[str]], None], progress: TextIO | None = None,
                 health: FlowHealth | None = None, tap: bool = False) -> None:
        self.health = health
        self.tap = tap
        self.path = path
        self.progress = progress
        self.registry = registry
        self.graph = graph
        self.watch = watch
        self.on_secrets = on_secrets
        self.failed = False
        self._pending: FlowGraph | None = None
        self._seen = 0.0

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` (or, without ``--watch``, until the flow ends by itself).

        With ``--watch`` a valid change is applied node by node (:meth:`FlowRun.apply`):
        only the nodes whose config changed restart. A change the running flow cannot take
        that way (its name, state file or kind of clock) restarts the whole flow.
        """
        graph = self.graph
        previous: FlowRun | None = None
        self._seen = self._mtime()
        while True:
            flow_stop = asyncio.Event()
            try:
                run = await self._new_run(graph, previous, stop)
                if run is None:
                    return
            except (NodeError, StateFileError) as exc:  # a node refused its config; a corrupt state file
                logger.error("flow '%s' did not start: %s", graph.name, exc)
                self.failed = True
                if stop.is_set() or not self.watch:
                    return
                await self._wait_change(stop)
                if stop.is_set():
                    return
                graph = self._take_pending(graph)
                continue
            previous = run
            restart: list[FlowGraph] = []
            watcher = asyncio.ensure_future(self._follow(run, flow_stop, restart)) if self.watch else None
            relay = asyncio.ensure_future(self._relay(stop, flow_stop))
            try:
                async with shown(run, self.progress):
                    summary = await run.run(flow_stop)
            except NodeError as exc:
                logger.error("flow '%s' did not start: %s", graph.name, exc)
                self.failed = True
                summary = None
            finally:
                await cancel_and_wait(relay, *([watcher] if watcher is not None else []))
            if summary is not None:
                log_summary(summary)
                if summary.failed_sources:
                    self.failed = True
            if stop.is_set() or not self.watch:
                return
            if restart:
                graph = restart[0]
                continue
            # The flow ended by itself: wait for a change of the file (or stop).
            await self._wait_change(stop)
            if stop.is_set():
                return
            graph = self._take_pending(run.flow)
            logger.info("%s changed: reloaded flow '%s'", self.path, graph.name)

    async def _new_run(self, graph: FlowGraph, previous: FlowRun | None, stop: asyncio.Event) -> FlowRun | None:
        """Build the run of ``graph``, waiting while its state file cannot be opened; None: stopped meanwhile.

        A state file the storage refuses (a read-only folder, a full disk) is a condition that
        passes: one error line, then a new attempt every ``STATE_RETRY`` seconds, and one line
        once it opens. Nothing has been read or acknowledged yet, so nothing is lost.
        """
        failing: str | None = None
        path: object = None
        while True:
            try:
                run = FlowRun(graph, health=self.health, tap=self.tap, previous=previous)
            except StateFileUnavailableError as exc:
                if str(exc) != failing:
                    failing = str(exc)
                    logger.error("flow '%s' waits: %s; trying again every %g s", graph.name, exc, STATE_RETRY)
                    path = exc.path
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), STATE_RETRY)
                if stop.is_set():
                    return None
                continue
            if failing is not None:
                logger.warning("flow '%s': state file %s opens again; starting", graph.name, path)
            return run

    async def _relay(self, stop: asyncio.Event, flow_stop: asyncio.Event) -> None:
        await stop.wait()
        flow_stop.set()

    async def _follow(self, run: FlowRun, flow_stop: asyncio.Event, restart: list[FlowGraph]) -> None:
        """Apply each valid change to the running flow; ask for a restart when it cannot be applied."""
        while True:
            await self._watch()
            if flow_stop.is_set():
                return
            pending = self._take_pending(run.flow)
            if run.can_apply(pending):
                await run.apply(pending)
                logger.info("%s changed: reloaded flow '%s' (only the changed nodes restarted)",
                            self.path, pending.name)
                continue
            logger.info("%s changed: reloaded flow '%s' (restarted as a whole: its name, state file or "
                        "kind of clock changed)", self.path, pending.name)
            restart.append(pending)
            flow_stop.set()
            return

    async def _watch(self) -> None:
        """Return once the file changed and the new version validates (kept in ``_pending``)."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            current = self._mtime()
            if current == self._seen:
                continue
            self._seen = current
            loaded = load_flow(self.path, self.registry)
            if not loaded.ok:
                logger.error("%s changed but does not validate; the running flow is kept:", self.path)
                for issue in loaded.errors:
                    logger.error("%s", issue)
                continue
            self._pending = loaded.graph
            return

    async def _wait_change(self, stop: asyncio.Event) -> None:
        watcher = asyncio.ensure_future(self._watch())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(watcher, stopper)

    def _take_pending(self, current: FlowGraph) -> FlowGraph:
        pending = self._pending
        self._pending = None
        if pending is None:
            return current
        self.on_secrets(pending.secrets)
        return pending


async def run_flows(paths: list[Path], registry: Registry, graphs: list[FlowGraph], *, watch: bool,
                    on_secrets: Callable[[frozenset[str]], None], progress: TextIO | None = None,
                    http: HttpSettings | None = None, secrets: Collection[str] = ()) -> int:
    """Run every flow until all have ended or SIGINT/SIGTERM; return the exit code.

    ``progress``: a terminal to draw a progress bar on for a finite replay (one flow only).
    ``http``: also serve ``/health``, ``/ready``, ``/metrics`` and the live page (``secrets``
    are redacted from it). Under systemd (``NOTIFY_SOCKET``) readiness, status, stopping and
    watchdog pings are notified (:mod:`flowengine.sdnotify`).
    """
    stop = asyncio.Event()
    health = Health()
    server = None
    if http is not None:
        from flowengine.web.server import HttpServer

        server = HttpServer(http, health, secrets)
        try:
            await server.start()
        except OSError as exc:
            logger.error("cannot serve http on %s: %s", http.url, exc.strerror or exc)
            return 1
    notifier = Notifier.from_environment()
    loop = asyncio.get_running_loop()
    signals = 0
    main_task = asyncio.current_task()

    def on_signal(name: str) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            logger.info("%s received: stopping sources and draining (again to force)", name)
            stop.set()
        elif main_task is not None:
            logger.warning("%s received again: cancelling", name)
            main_task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signal.Signals(signum).name)
    bar = progress if len(paths) == 1 else None  # bars of several flows would share one line
    runners = [FlowRunner(path, registry, graph, watch=watch, on_secrets=on_secrets, progress=bar,
                          health=health.add(graph.name), tap=http is not None)
               for path, graph in zip(paths, graphs, strict=True)]
    service = (asyncio.ensure_future(ServiceNotifier(notifier, health, watchdog=watchdog_interval()).run(stop))
               if notifier is not None else None)
    try:
        async with asyncio.TaskGroup() as group:
            for runner in runners:
                group.create_task(runner.run(stop))
    finally:
        if service is not None:
            await cancel_and_wait(service)
        if notifier is not None:
            notifier.close()
        if server is not None:
            await server.aclose()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    return 1 if any(runner.failed for runner in runners) else 0
