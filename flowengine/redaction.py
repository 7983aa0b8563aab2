"""Keeping secrets out of every text flowengine prints: messages, errors, logs, graphs.

A secret is a value that came from ``!secret`` or from an environment variable whose
name marks it secret (:func:`is_secret_variable`). A value can reach a message in other
spellings than its own — quoted by ``repr`` or JSON, percent-encoded in a URL — and a URL
holds its password as a part; :func:`secret_forms` lists every spelling to hide, and
:func:`redact` hides them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "expand", "is_secret_variable", "redact", "secret_forms", "secret_leaves"]

#: What a secret is replaced with.
REDACTED: Final = "***"
#: Environment variables whose name ends with one of these words are secrets.
SECRET_VARIABLE: Final = re.compile(r"(?:^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY|CREDENTIALS?|PSK)$", re.IGNORECASE)
#: Shorter spellings are not hidden: a one- or two-character "secret" protects nothing, and
#: hiding every ``b`` or ``1`` of every message would make the messages unreadable.
MIN_SECRET_LENGTH: Final = 3
#: Most leaves taken from one secret value (a ``!secret`` may be a mapping or a list).
_MAX_LEAVES: Final = 10_000


def is_secret_variable(name: str) -> bool:
    """True when the environment variable ``name`` holds a secret (``MQTT_PASSWORD``, ``API_TOKEN``...)."""
    return SECRET_VARIABLE.search(name) is not None


def secret_leaves(value: Any) -> list[str]:
    """The texts of the scalar leaves of a secret value (booleans and ``null`` are not secret)."""
    leaves: list[str] = []
    stack = [value]
    while stack and len(leaves) < _MAX_LEAVES:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            text = str(item)
            if text:
                leaves.append(text)
    return leaves


def secret_forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` that may appear in a message.

    The text itself; its escaped forms inside ``repr`` and JSON strings; its
    percent-encoded forms; and, for a URL with credentials, its password (raw and decoded).
    """
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=""), quote(secret)}
    if "://" in secret and "@" in secret:
        userinfo = secret.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            forms |= {password, unquote(password)}
        try:
            parsed = urlsplit(secret).password
        except ValueError:
            parsed = None
        if parsed:
            forms |= {parsed, unquote(parsed)}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def expand(secrets: Iterable[str]) -> frozenset[str]:
    """The union of :func:`secret_forms` of every secret."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    return frozenset(forms)


def redact(text: str, secrets: Collection[str]) -> str:
    """Return ``text`` with every secret (longest first) replaced by ``***``."""
    if not secrets:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
