"""What the emulated bulb and plug do with a command: change state, then report it, as the real ones.

A real LED1545G12 or ZNCZ02LM that accepts a cluster command answers with a default response
(status SUCCESS, unless the command asked for none) and then sends attribute reports of what changed
(Zigbee2MQTT configures reporting of onOff, currentLevel and colorTemperature at pairing). Transitions
are not simulated: the target value is reached at once and reported once. A command the device does
not implement keeps the generic answer (UNSUP_CLUSTER_COMMAND).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from flowengine_nodes.emulator.devices import Report

if TYPE_CHECKING:
    from flowengine_nodes.emulator.ikea import TradfriBulb
    from flowengine_nodes.emulator.xiaomi import SmartPlug

ON_OFF, LEVEL, COLOR = 0x0006, 0x0008, 0x0300
_OFF, _ON, _TOGGLE, _ON_WITH_TIMED_OFF = 0x00, 0x01, 0x02, 0x42
_MOVE_TO_LEVEL, _STEP, _STOP, _MOVE_TO_LEVEL_ON_OFF, _STEP_ON_OFF, _STOP_ON_OFF = 0x00, 0x02, 0x03, 0x04, 0x06, 0x07
_MOVE_TO_COLOR_TEMP, _STOP_MOVE_STEP, _STEP_COLOR_TEMP = 0x0A, 0x47, 0x4C


def switched(on: bool, command: int) -> bool | None:
    """The on/off state after an On/Off cluster command, or None for a command not implemented."""
    if command == _OFF:
        return False
    if command in (_ON, _ON_WITH_TIMED_OFF):
        return True
    if command == _TOGGLE:
        return not on
    return None


def bulb_command(bulb: TradfriBulb, cluster: int, command: int, body: bytes) -> list[Report] | None:
    """Apply a command to the bulb; return the reports it sends (None: command not implemented)."""
    try:
        if cluster == ON_OFF:
            on = switched(bulb.on, command)
            return None if on is None else bulb.switch(on)
        if cluster == LEVEL:
            return _level(bulb, command, body)
        if cluster == COLOR:
            return _color(bulb, command, body)
    except (IndexError, struct.error):
        return None  # a malformed payload: the generic answer
    return None


def _level(bulb: TradfriBulb, command: int, body: bytes) -> list[Report] | None:
    """Move or step the level; the ``WithOnOff`` forms switch off at 0 and on above it."""
    if command in (_MOVE_TO_LEVEL, _MOVE_TO_LEVEL_ON_OFF):
        target = body[0]
    elif command in (_STEP, _STEP_ON_OFF):
        target = bulb.level + body[1] if body[0] == 0 else bulb.level - body[1]
    elif command in (_STOP, _STOP_ON_OFF):
        return []
    else:
        return None
    reports: list[Report] = []
    if command in (_MOVE_TO_LEVEL_ON_OFF, _STEP_ON_OFF):
        on = target > 0  # IKEA lights stay on at level 1 (Zigbee2MQTT: no turnsOffAtBrightness1)
        if on != bulb.on:
            reports += bulb.switch(on)
        if not on:
            return reports  # the level stays where it was, for the next on
    return reports + bulb.dim(max(1, min(254, target)))


def _color(bulb: TradfriBulb, command: int, body: bytes) -> list[Report] | None:
    if command == _MOVE_TO_COLOR_TEMP:
        (mired,) = struct.unpack_from("<H", body)
    elif command == _STEP_COLOR_TEMP:
        mode, size = body[0], struct.unpack_from("<H", body, 1)[0]
        mired = bulb.color_temp + size if mode == 1 else bulb.color_temp - size
    elif command == _STOP_MOVE_STEP:
        return []
    else:
        return None
    return bulb.tune(mired)


def plug_command(plug: SmartPlug, cluster: int, command: int, body: bytes) -> list[Report] | None:
    """Apply an On/Off command to the plug; return its report (None: command not implemented)."""
    if cluster != ON_OFF:
        return None
    on = switched(plug.on, command)
    return None if on is None else plug.switch(on)
