"""Stream nodes that work in event time: ``rate-limit``, ``debounce``, ``dedupe``, ``delay``, ``trigger``.

Each node type is one module. They read time from the flow's
clock and from ``meta.ts`` (never from ``time.time()``), so a replayed capture gives the
same output as living through it. :mod:`flowengine.scheduling` holds what they share.
"""
