"""Logging setup for the command line: one line per record, secrets redacted.

Two formats: ``text`` (the default: an ISO 8601 timestamp with date, time and zone, the
level, the logger and the message) and ``json`` (one JSON object per line, for log
shippers). Both see the same redacted text: the redacting filter renders the message
before any formatter does.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from flowengine.redaction import REDACTED, redact

__all__ = ["FORMATS", "LEVELS", "REDACTED", "RedactingFilter", "add_secrets", "configure", "redact_text"]

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

#: The filter of the handler :func:`configure` installed (secrets are added to it as flows load).
_ACTIVE: list[RedactingFilter] = []


def timestamp(created: float) -> str:
    """Return ``created`` as ISO 8601 in the local zone, to the millisecond (``2026-01-31T08:15:02.123+01:00``)."""
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a log record's final text with ``***``.

    Secrets come from ``!secret`` values (and secret environment variables) of the loaded
    flows, in every spelling :func:`flowengine.redaction.secret_forms` lists; they must never
    reach a log.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message now, redacted, so handlers only see the safe text."""
        if not self.secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        record.msg, record.args = redact(text, self.secrets), None
        return True


def add_secrets(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` (already expanded to their forms) in the logs of :func:`configure`'s handler."""
    for active in _ACTIVE:
        active.secrets |= set(secrets)


def redact_text(text: str) -> str:
    """Return ``text`` with every secret known to the active log filter hidden."""
    for active in _ACTIVE:
        text = redact(text, active.secrets)
    return text


class TextFormatter(logging.Formatter):
    """``2026-01-31T08:15:02.123+01:00 INFO    flowengine.runner: message``: a date and zone on every line.

    A log file that spans months is useless with ``HH:MM:SS`` alone.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Return the record's time as ISO 8601 with the local zone."""
        return timestamp(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per record and line: ``ts``, ``level``, ``logger``, ``message`` (and ``exception``).

    For log shippers (Loki, Vector, Filebeat): no parsing rules needed, and a multi-line
    traceback stays inside one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        entry: dict[str, object] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "info", fmt: str = "text", *, stream: TextIO | None = None) -> RedactingFilter:
    """Send logs to ``stream`` (default stderr) at ``level`` in ``fmt``; return the filter that redacts secrets."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    redactor = RedactingFilter()
    handler.addFilter(redactor)
    _ACTIVE[:] = [redactor]
    handler.set_name("flowengine")
    root = logging.getLogger()
    # Replace only a handler of ours (a second call), keeping any a host program installed.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "flowengine"] + [handler]
    root.setLevel(level.upper())
    return redactor
