"""The typed lock event (LOCK.md "Typed lock events"), derived from one report's converter result.

Zigbee2MQTT publishes composite strings (``finger_open_admin_id1``) and, for ZNMS11LM, a failed
fingerprint under ``action_action``. A :class:`LockEvent` says the same thing with one field per
fact, so rules never parse strings; it does not depend on ``legacy``, ``compat`` or the cache.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple

from flowengine_nodes.devices.definitions.lumi_lock import ACTIONS

Method = Literal["finger", "password"]
Role = Literal["admin", "user"]

#: Every value ``LockEvent.event`` can take (the seed's 17 ``action`` values).
EVENT_VALUES: Final = frozenset(ACTIONS)

_COMPOSITE = re.compile(r"(finger_open|password_open|door_closed|change_language_to)_(admin|user)_id")
_LANGUAGE = re.compile(r"change_language_to_(chinese|english)")


class LockEvent(NamedTuple):
    """One meaningful lock report.

    Attributes:
        event: one of the seed's 17 action values (``finger_open``, ``finger_not_match``, …).
        method: ``finger`` or ``password`` when the event says how, else None.
        role: ``admin`` or ``user`` for openings that name the user type, else None.
        user: the user id, or None (unknown, or printed ``NaN`` by the reference).
        repeat: the attempt count of a failed attempt, or None.
        state: ``LOCK``/``UNLOCK`` where the model reports it (ZNMS12LM/13LM), else None.
        reverse: ``LOCK``/``UNLOCK`` where the model reports it, else None.
    """

    event: str
    method: Method | None = None
    role: Role | None = None
    user: int | None = None
    repeat: int | None = None
    state: str | None = None
    reverse: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """Return the event as the ``events`` port's payload: every key present."""
        return {
            "event": self.event,
            "method": self.method,
            "role": self.role,
            "user": self.user,
            "repeat": self.repeat,
            "state": self.state,
            "reverse": self.reverse,
        }


def _number(value: Any) -> int | None:
    """An id or count from the result: ints pass, NaN/None/anything else is unknown."""
    return value if type(value) is int else None


_METHODS: Final[dict[str, Method]] = {}
for _event in ACTIONS:
    if _event.startswith("finger_"):
        _METHODS[_event] = "finger"
    elif _event.startswith("password_"):
        _METHODS[_event] = "password"

_Parsed = tuple[str, "Role | None"] | None
#: Action text -> (event, role); actions repeat, so each distinct text is parsed once.
_PARSED: dict[str, _Parsed] = {}
_PARSED_LIMIT: Final = 4096


def _parse_action(action: str) -> _Parsed:
    if action in EVENT_VALUES:
        return action, None
    if (match := _COMPOSITE.match(action)) is not None:
        return match.group(1), "admin" if match.group(2) == "admin" else "user"
    if _LANGUAGE.fullmatch(action):
        return "change_language_to", None
    return None  # the reference garbled it ("undefined_admin_id5")


def event_from_result(result: Mapping[str, Any]) -> LockEvent | None:
    """Return the typed event of one converter result, or None when it has no meaningful action.

    ``result`` is the merged converter output of one report (before the state cache), so the
    event is the same whatever ``legacy`` and ``cache_state`` say.
    """
    action = result.get("action")
    if type(action) is not str:
        action = result.get("action_action")
        if type(action) is not str:
            return None
    try:
        parsed = _PARSED[action]
    except KeyError:
        parsed = _parse_action(action)
        if len(_PARSED) < _PARSED_LIMIT:
            _PARSED[action] = parsed
    if parsed is None:
        return None
    event, role = parsed
    state = result.get("state")
    reverse = result.get("reverse")
    return LockEvent(
        event,
        _METHODS.get(event),
        role,
        _number(result.get("action_user")),
        _number(result.get("action_repeat")),
        state if type(state) is str else None,
        reverse if type(reverse) is str else None,
    )
