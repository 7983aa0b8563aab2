"""Logging setup for the command line: one line per record, secrets redacted."""

from __future__ import annotations

import logging
import sys

REDACTED = "***"


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a log record's final text with ``***``.

    Secrets come from ``!secret`` values of the loaded flows; they must never reach a log.
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
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
            if record.exc_text and secret in record.exc_text:
                record.exc_text = record.exc_text.replace(secret, REDACTED)
        record.msg, record.args = text, None
        return True


def configure(level: str = "info") -> RedactingFilter:
    """Send logs to stderr at ``level``; return the filter that redacts secrets."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                           "%H:%M:%S"))
    redactor = RedactingFilter()
    handler.addFilter(redactor)
    handler.set_name("flowengine")
    root = logging.getLogger()
    # Replace only a handler of ours (a second call), keeping any a host program installed.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "flowengine"] + [handler]
    root.setLevel(level.upper())
    return redactor
