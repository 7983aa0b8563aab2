"""The runner's HTTP side: health, readiness, Prometheus metrics, a live page and a debug tap.

Only :mod:`flowengine.web.settings` is imported on the start path; the server and its
libraries (aiohttp, prometheus_client, networkx for the layout) load when ``--http`` is used.
"""
