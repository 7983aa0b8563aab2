"""Typed device events: one hierarchy for every device family, derived from one report.

Zigbee2MQTT publishes state keys (``contact: false``) and composite strings (``finger_open_admin_id1``).
A :class:`DeviceEvent` says what happened with one field per fact, so rules never parse strings; it
never depends on ``legacy``, ``compat`` or the state cache. Each family is a frozen dataclass whose
``event`` field takes a few documented values, unique across families, so ``payload.event ==
'leak_detected'`` means one thing whatever device sent it:

========================  ====================================================  ==========================
family (class)            ``event`` values                                      more fields
========================  ====================================================  ==========================
lock (:class:`LockEvent`) the 17 lock actions (``finger_open``, ``ring_bell``…)  method, role, user, repeat,
                                                                                state, reverse
contact                   ``contact_opened``, ``contact_closed``                 —
motion                    ``motion_detected``, ``motion_cleared`` (timer)       timeout, illuminance
button                    ``button_pressed``                                    action
leak                      ``leak_detected``, ``leak_cleared``                    battery_low
switch (plug, light)      ``switched_on``, ``switched_off``, ``power_changed``   power (plug)
========================  ====================================================  ==========================

This module holds the types only; which report gives which event is declared beside each
definition (:attr:`~flowengine_nodes.devices.definitions.Definition.events`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final, Literal

Method = Literal["finger", "password"]
Role = Literal["admin", "user"]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One meaningful device report: the root of every family.

    Attributes:
        event: what happened (the family's documented values).
    """

    #: The family name (``lock``, ``contact``, …), the same for every event of a class.
    family: ClassVar[str] = "device"
    #: Every value ``event`` can take in this family.
    values: ClassVar[frozenset[str]] = frozenset()

    event: str

    def to_payload(self) -> dict[str, Any]:
        """Return the event as the ``events`` port's payload: ``event``, ``family``, then each field."""
        payload: dict[str, Any] = {"event": self.event, "family": self.family}
        for item in fields(self):
            if item.name != "event":
                payload[item.name] = getattr(self, item.name)
        return payload


#: The 17 lock ``action`` values in the seed page's order (``LockEvent.event``).
LOCK_EVENTS: Final = (
    "finger_not_match", "password_not_match", "reverse_lock", "reverse_lock_cancel", "locked", "lock_opened",
    "finger_add", "finger_delete", "password_add", "password_delete", "lock_opened_inside", "lock_opened_outside",
    "ring_bell", "change_language_to", "finger_open", "password_open", "door_closed",
)


@dataclass(frozen=True, slots=True)
class LockEvent(DeviceEvent):
    """A lock report.

    Its payload keeps the lock's historical shape (no ``family`` key): ``event``, ``method``,
    ``role``, ``user``, ``repeat``, ``state``, ``reverse``, every key present.

    Attributes:
        event: one of :data:`LOCK_EVENTS`.
        method: ``finger`` or ``password`` when the event says how, else None.
        role: ``admin`` or ``user`` for openings that name the user type, else None.
        user: the user id, or None (unknown, or printed ``NaN`` by the reference).
        repeat: the attempt count of a failed attempt, or None.
        state: ``LOCK``/``UNLOCK`` where the model reports it (ZNMS12LM/13LM), else None.
        reverse: ``LOCK``/``UNLOCK`` where the model reports it, else None.
    """

    family: ClassVar[str] = "lock"
    values: ClassVar[frozenset[str]] = frozenset(LOCK_EVENTS)

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


@dataclass(frozen=True, slots=True)
class ContactEvent(DeviceEvent):
    """A door/window contact opened (``contact_opened``) or closed (``contact_closed``)."""

    family: ClassVar[str] = "contact"
    values: ClassVar[frozenset[str]] = frozenset({"contact_opened", "contact_closed"})


@dataclass(frozen=True, slots=True)
class MotionEvent(DeviceEvent):
    """Motion detected (``motion_detected``).

    Zigbee2MQTT publishes ``occupancy: false`` by itself ``timeout`` seconds after the last
    detection (``occupancy_timeout``, default 90; 0: never): whoever runs that timer (the
    ``decode`` node, on the engine's clock) reads it here.

    Attributes:
        timeout: seconds after which occupancy clears without a new detection (0: it never does).
        illuminance: the illuminance reported with the detection, or None.
    """

    family: ClassVar[str] = "motion"
    #: ``motion_cleared`` is not decoded from a report: the ``decode`` node emits it when the
    #: occupancy timeout runs out (it publishes ``occupancy: false`` then).
    values: ClassVar[frozenset[str]] = frozenset({"motion_detected", "motion_cleared"})

    timeout: float = 90
    illuminance: float | None = None


@dataclass(frozen=True, slots=True)
class ButtonEvent(DeviceEvent):
    """A button press (``button_pressed``); ``action`` is Zigbee2MQTT's (``single``, ``double``, ``hold``…)."""

    family: ClassVar[str] = "button"
    values: ClassVar[frozenset[str]] = frozenset({"button_pressed"})

    action: str = "single"


@dataclass(frozen=True, slots=True)
class LeakEvent(DeviceEvent):
    """Water detected (``leak_detected``) or gone (``leak_cleared``); ``battery_low`` as reported."""

    family: ClassVar[str] = "leak"
    values: ClassVar[frozenset[str]] = frozenset({"leak_detected", "leak_cleared"})

    battery_low: bool | None = None


@dataclass(frozen=True, slots=True)
class SwitchEvent(DeviceEvent):
    """A plug or light switched on/off (``switched_on``/``switched_off``) or a plug's power changed.

    Attributes:
        device: ``plug`` or ``light``.
        power: the power in W for ``power_changed``, else None.
    """

    family: ClassVar[str] = "switch"
    values: ClassVar[frozenset[str]] = frozenset({"switched_on", "switched_off", "power_changed"})

    device: Literal["plug", "light"] = "plug"
    power: float | None = None


_new_object = object.__new__
#: The slots' own setters (member descriptors), which a frozen dataclass's ``__setattr__`` does not guard.
_set_event = vars(DeviceEvent)["event"].__set__
_set_motion_timeout = vars(MotionEvent)["timeout"].__set__
_set_motion_illuminance = vars(MotionEvent)["illuminance"].__set__
_set_switch_device = vars(SwitchEvent)["device"].__set__
_set_switch_power = vars(SwitchEvent)["power"].__set__


def motion_detected(timeout: float, illuminance: float | None) -> MotionEvent:
    """``MotionEvent("motion_detected", timeout, illuminance)``, built per report on the cold path.

    The same object the constructor makes, for a third of its cost: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``; this sets the slots directly.
    """
    event = _new_object(MotionEvent)
    _set_event(event, "motion_detected")
    _set_motion_timeout(event, timeout)
    _set_motion_illuminance(event, illuminance)
    return event


def power_changed(device: Literal["plug", "light"], power: float) -> SwitchEvent:
    """``SwitchEvent("power_changed", device, power)``, built as :func:`motion_detected` is."""
    event = _new_object(SwitchEvent)
    _set_event(event, "power_changed")
    _set_switch_device(event, device)
    _set_switch_power(event, power)
    return event


#: Every event family, root first.
FAMILIES: Final[tuple[type[DeviceEvent], ...]] = (
    DeviceEvent, LockEvent, ContactEvent, MotionEvent, ButtonEvent, LeakEvent, SwitchEvent,
)

#: Every value any event's ``event`` can take.
EVENT_VALUES: Final = frozenset().union(*(family.values for family in FAMILIES))
