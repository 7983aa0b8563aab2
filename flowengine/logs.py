"""Logging setup for the command line: one line per record, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from flowengine.redaction import REDACTED, redact

__all__ = ["REDACTED", "RedactingFilter", "add_secrets", "configure", "redact_text"]

#: The filter of the handler :func:`configure` installed (secrets are added to it as flows load).
_ACTIVE: list[RedactingFilter] = []


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


def configure(level: str = "info") -> RedactingFilter:
    """Send logs to stderr at ``level``; return the filter that redacts secrets."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                           "%H:%M:%S"))
    redactor = RedactingFilter()
    handler.addFilter(redactor)
    _ACTIVE[:] = [redactor]
    handler.set_name("flowengine")
    root = logging.getLogger()
    # Replace only a handler of ours (a second call), keeping any a host program installed.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "flowengine"] + [handler]
    root.setLevel(level.upper())
    return redactor
