"""The runner's HTTP server (aiohttp): ``/health``, ``/ready``, ``/metrics``, the live page and its API.

aiohttp because it is asyncio-native (it runs on the runner's own loop, next to the flows,
with no thread), mature, already installed with zigpy, and has Server-Sent Events through
a plain streamed response. See docs/http.md for the endpoints.

Security: with a token, every endpoint but ``/health`` wants it, as ``Authorization:
Bearer TOKEN``, or the ``flowengine_token`` cookie that ``/?token=TOKEN`` sets (so a
browser opens the page once with the token in the address and then needs nothing more).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Collection
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from flowengine.health import Health
from flowengine.web.api import flows_json, redact, stats_json, tapped_json
from flowengine.web.metrics import CONTENT_TYPE, Metrics
from flowengine.web.settings import HttpSettings

logger = logging.getLogger("flowengine.http")
COOKIE = "flowengine_token"
#: How often a tap stream looks for new messages of its node (seconds).
TAP_POLL = 0.2
#: A comment line sent on an idle tap stream, so proxies and browsers keep it open (seconds).
TAP_KEEPALIVE = 15.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class HttpServer:
    """Serves one runner's flows; :meth:`start` binds, :meth:`aclose` stops (both on the runner's loop)."""

    def __init__(self, settings: HttpSettings, health: Health, secrets: Collection[str]) -> None:
        """``secrets`` is read live (the redactor's set grows when a reload brings new secrets)."""
        self.settings = settings
        self.health = health
        self.secrets = secrets
        self.metrics = Metrics(health)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port = settings.port

    def app(self) -> web.Application:
        """Build the aiohttp application (routes and the token check)."""
        app = web.Application(middlewares=[self._auth])
        app.add_routes([
            web.get("/health", self._health),
            web.get("/ready", self._ready),
            web.get("/metrics", self._metrics),
            web.get("/", self._page),
            web.get("/api/flow", self._flow),
            web.get("/api/stats", self._stats),
            web.get("/api/tap/{node}", self._tap),
        ])
        return app

    async def start(self) -> None:
        """Bind and serve; raises OSError when the address cannot be bound."""
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses  # the bound port, when 0 asked for any
        if addresses:
            self.port = int(addresses[0][1])
        shown = HttpSettings(self.settings.host, self.port)
        logger.info("serving http on %s%s", shown.url, " (token required)" if self.settings.token else "")

    async def aclose(self) -> None:
        """Stop serving (open tap streams end first, so that nothing waits for them)."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- security --------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = self.settings.token
        if not token or request.path == "/health":
            return await handler(request)
        offered = request.query.get("token") or request.cookies.get(COOKIE) or ""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            offered = header[len("Bearer "):]
        if not hmac.compare_digest(offered.encode(), token.encode()):
            return _json({"error": "a token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)"}, 401)
        response = await handler(request)
        if "token" in request.query and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    # ---- endpoints -------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return _json({"status": "alive"})

    async def _ready(self, request: web.Request) -> web.Response:
        health = self.health
        body = {"ready": health.ready, "reasons": health.reasons()}
        return _json(redact(body, self.secrets), 200 if health.ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def _page(self, request: web.Request) -> web.Response:
        page = resources.files("flowengine.web").joinpath("page.html").read_bytes()
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def _flow(self, request: web.Request) -> web.Response:
        return _json(redact(flows_json(self.health), self.secrets))

    async def _stats(self, request: web.Request) -> web.Response:
        return _json(redact(stats_json(self.health), self.secrets))

    async def _tap(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: what the tap kept of the node, then each new message while the stream is open.

        The node records its messages only while at least one tap stream is open on it.
        """
        node_id = request.match_info["node"]
        flow_name = request.query.get("flow")
        watched = self._traffic(node_id, flow_name)
        if watched is None:
            return _json({"error": f"no running node '{node_id}'"}, 404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        watched.open_tap()
        try:
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # the viewer went away
                await self._stream_tap(response, node_id, flow_name, watched)
        finally:
            current = self._traffic(node_id, flow_name) or watched
            current.close_tap()
        return response

    async def _stream_tap(self, response: web.StreamResponse, node_id: str, flow_name: str | None,
                          watched: Any) -> None:
        seen = 0
        idle = 0.0
        while not self._closing.is_set():
            traffic = self._traffic(node_id, flow_name)
            if traffic is not None and traffic is not watched:  # a reload brought a new run
                if not traffic.viewers:
                    traffic.open_tap()
                watched = traffic
            recent = watched.recent
            if watched.taps != seen:
                fresh = min(watched.taps - seen, len(recent)) if seen <= watched.taps else len(recent)
                entries = list(recent)[len(recent) - fresh:]
                first = watched.taps - fresh + 1
                for offset, (port, msg) in enumerate(entries):
                    data = orjson.dumps(tapped_json(first + offset, port, msg, self.secrets))
                    await response.write(b"data: " + data + b"\n\n")
                seen = watched.taps
                idle = 0.0
            elif idle >= TAP_KEEPALIVE:
                await response.write(b": keepalive\n\n")
                idle = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), TAP_POLL)
            idle += TAP_POLL

    def _traffic(self, node_id: str, flow_name: str | None) -> Any:
        for name, state in self.health.flows.items():
            if flow_name not in (None, name) or state.run is None:
                continue
            traffic = state.run.traffic.get(node_id)
            if traffic is not None:
                return traffic
        return None
