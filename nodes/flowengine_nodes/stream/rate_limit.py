"""``rate-limit``: at most ``rate`` messages per ``per`` for each key; drop or delay the rest (CONTRACT §4)."""

from __future__ import annotations

from collections import deque
from typing import ClassVar, Literal

from pydantic import Field

from flowengine import (
    Duration,
    Expiry,
    Expr,
    Message,
    NodeConfig,
    NodeContext,
    Schedule,
    Transform,
    event_time,
    key_text,
)


class RateLimitConfig(NodeConfig):
    """Config of ``rate-limit``."""

    rate: int = Field(ge=1, description="How many messages may pass per `per`, for each key.")
    per: Duration = Field(gt=0, description="The sliding window the rate applies to (e.g. 1s, 1m).")
    key: Expr | None = Field(
        None, description="Expression giving the key each limit applies to; unset: one limit for all messages.")
    overflow: Literal["drop", "delay"] = Field(
        "drop", description="Messages over the rate: `drop` them (counted) or `delay` them until the rate "
                            "allows, in order.")
    max_queue: int = Field(
        1000, ge=1, description="With `delay`: how many messages one key may have waiting; more are dropped.")


class _Bucket:
    """One key's recent passes (event times, oldest first) and its waiting messages."""

    __slots__ = ("passes", "queue", "waiting")

    def __init__(self) -> None:
        self.passes: deque[float] = deque()
        self.queue: deque[Message] = deque()
        self.waiting = False


class RateLimit(Transform[RateLimitConfig]):
    """Passes at most ``rate`` messages per ``per`` (a sliding window in event time) for each key.

    A message stamped ``ts`` passes when fewer than ``rate`` messages of its key passed in
    ``(ts - per, ts]``. Otherwise, with ``overflow: drop`` (the default) it is dropped and
    counted (``counters["dropped"]``); with ``overflow: delay`` it waits, in order, until the
    window has room, and leaves then with ``meta.ts`` = its release time (at most
    ``max_queue`` waiting per key; beyond that, dropped). When the input ends, waiting
    messages leave at their release times. Keys whose window is empty are forgotten, so
    memory follows the keys active within ``per``.

    Example:
        ```yaml
        version: 1
        nodes:
          - id: capture
            type: zigbee-replay
            path: captures/front_door.jsonl
            wires: [limit]
          - id: limit
            type: rate-limit
            rate: 5
            per: 1m
            key: meta.ieee
            overflow: delay
            wires: [out]
          - id: out
            type: file
            path: out/limited.jsonl
        ```
    """

    config_model: ClassVar[type[NodeConfig]] = RateLimitConfig

    def __init__(self, config: RateLimitConfig, context: NodeContext) -> None:
        super().__init__(config, context)
        self._schedule = Schedule(context.clock, self._timer_failed)
        self._key = config.key.function if config.key is not None else None
        self._buckets: dict[str, _Bucket] = {}
        self._expiry = Expiry()
        self._now = float("-inf")

    def process(self, msg: Message) -> Message | None:
        """Return ``msg`` when the rate allows; otherwise drop it or hold it (None)."""
        ts = event_time(msg, self.context.clock)
        if ts > self._now:
            self._now = ts
            self._schedule.run_due(ts)
            if self._expiry.due(ts):
                self._evict(ts)
        skey = key_text(self._key(msg)) if self._key is not None else ""
        bucket = self._buckets.get(skey)
        if bucket is None:
            bucket = self._buckets[skey] = _Bucket()
        passes = bucket.passes
        per = self.config.per
        while passes and passes[0] <= ts - per:
            passes.popleft()
        if not bucket.queue and len(passes) < self.config.rate:
            passes.append(ts)
            self._expiry.push(ts + per, skey)
            return msg
        if self.config.overflow == "drop" or len(bucket.queue) >= self.config.max_queue:
            self.counters.drop(1, "rate_limit")
            return None
        bucket.queue.append(msg)
        self.counters["delayed"] += 1
        if not bucket.waiting:
            self._wait(skey, bucket)
        return None

    def _wait(self, skey: str, bucket: _Bucket) -> None:
        """Schedule the release of the bucket's next waiting message for when its window has room."""
        release = bucket.passes[-self.config.rate] + self.config.per
        bucket.waiting = True
        self._schedule.add(release, lambda: self._release(skey, release))

    def _release(self, skey: str, release: float) -> None:
        bucket = self._buckets.get(skey)
        if bucket is None:
            return
        bucket.waiting = False
        passes = bucket.passes
        per = self.config.per
        while bucket.queue:
            while passes and passes[0] <= release - per:
                passes.popleft()
            if len(passes) >= self.config.rate:
                self._wait(skey, bucket)
                return
            msg = bucket.queue.popleft()
            passes.append(release)
            self._expiry.push(release + per, skey)
            self.emit(msg.evolve(meta={**msg.meta, "ts": release}))

    def _evict(self, now: float) -> None:
        per = self.config.per
        for skey in self._expiry.expired(now):
            bucket = self._buckets.get(skey)
            if bucket is not None and not bucket.queue and (not bucket.passes or bucket.passes[-1] + per <= now):
                del self._buckets[skey]

    def flush(self) -> None:
        """The input has ended: waiting messages leave at their release times."""
        self._schedule.run_all()

    def keys(self) -> int:
        """Return how many keys are remembered."""
        return len(self._buckets)

    def _timer_failed(self, exc: BaseException) -> None:
        self.counters["errors"] += 1
        self.logger.error("node '%s': releasing a message failed: %s: %s", self.id, type(exc).__name__, exc)
