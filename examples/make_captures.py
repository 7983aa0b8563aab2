"""Write the examples' captures (raw reports, CONTRACT §3) from real Aqara lock frames and household devices.

Every lock frame is a frame of the public test vectors (``tests/data/vectors``, LOCK_EXAMPLES.md) or
that frame with its ZCL sequence number, user id or attempt count changed in place (the layouts
are LOCK_REFERENCE.md's). The household examples' frames are the ones the coordinator emulator's
virtual devices send (``flowengine_nodes.emulator``: the real devices' report shapes), with the
friendly names and addresses of ``flows/household.yaml``. Each generated report is decoded with
the ``decode`` node's decoder and checked against the event it is meant to be, so a capture cannot
silently say something else. Run from the repository root: ``.venv/bin/python examples/make_captures.py``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

from flowengine_nodes.devices.decoder import Decoder
from flowengine_nodes.emulator.catalog import make_device
from flowengine_nodes.emulator.devices import VirtualDevice

HERE = Path(__file__).resolve().parent
#: 2024-11-24 08:00:00 UTC (09:00 in Paris), a Sunday.
T0 = 1_732_435_200.0

FRONT = {"ieee": "00:15:8d:08:29:4b:42:2c", "nwk": "0x208f", "model": "lumi.lock.aq1"}  # ZNMS11LM
BACK = {"ieee": "00:15:8d:32:c5:91:ef:b4", "nwk": "0x7e0b", "model": "lumi.lock.acn03"}  # ZNMS13LM

_sequence = itertools.count(0x30)


def _seq() -> str:
    return f"{next(_sequence) % 256:02x}"


def _le32(hex_text: str) -> str:
    """The four little-endian bytes of the uint32 whose hex text (8 digits) is given."""
    return bytes.fromhex(hex_text)[::-1].hex()


# ZNMS11LM (lumi.lock.aq1) ------------------------------------------------------------------------
# 0xFF10 uint32, vector frame 10260a10ff23c586da11 = 0x11da86c5: digit 1 = command (1 finger_open,
# 2 password_open, 3 door_closed), digit 2 = user type (1 admin), digits 6-7 = user id.


def opened(method: str, user: int, admin: bool = False) -> str:
    """finger_open / password_open / door_closed by ``user`` (0xFF10)."""
    command = {"finger": "1", "password": "2", "door_closed": "3"}[method]
    return f"18{_seq()}0a10ff23" + _le32(f"{command}{'1' if admin else '2'}da8{user:02x}5")


def failed(method: str, repeat: int) -> str:
    """finger_not_match (digits 6-7 ``40``) or password_not_match (``02``), attempt ``repeat`` (0xFF11).

    Vector frames 182d0a11ff2300d42221 (0x2122d400) and 1c5f112e0a11ff2320a02317 (0x1723a020).
    """
    value = f"{repeat}122d400" if method == "finger" else f"{repeat}723a020"
    return f"1c5f11{_seq()}0a11ff23" + _le32(value)


def bell() -> str:
    """ring_bell: vector frame 182f0a11ff230070d0e7 (0xe7d07000, digits 6-7 ``00``)."""
    return f"18{_seq()}0a11ff230070d0e7"


def user_change(change: str, user: int) -> str:
    """finger_add/finger_delete/password_add/password_delete of ``user`` (0xFF01 structure, key 1).

    Vector frame 1c5f11310a01ff4209012390030011032812: key 1 = 0x11000390, digit 1 = 6 + command.
    """
    command = {"finger_add": 1, "finger_delete": 2, "password_add": 3, "password_delete": 4}[change]
    return f"1c5f11{_seq()}0a01ff42090123" + _le32(f"{command}1000{user:02x}0") + "032812"


# ZNMS13LM (lumi.lock.acn03) ----------------------------------------------------------------------
# 0xFFF6 lock status; bytes 3-4 of the string are the status code.


def locked() -> str:
    """The lock was locked (state LOCK): vector frame 1c5f11440af6ff420d08175214513d7e0847034e5d65 (code 1451)."""
    return f"1c5f11{_seq()}0af6ff420d08175214513d7e0847034e5d65"


def opened_inside() -> str:
    """lock_opened_inside (state UNLOCK): vector frame 1c5f113c0af6ff41089ee8b92300700975 (code 2300)."""
    return f"1c5f11{_seq()}0af6ff41089ee8b92300700975"


def opened_outside() -> str:
    """lock_opened_outside (state UNLOCK): the frame above with status code 0640."""
    return f"1c5f11{_seq()}0af6ff41089ee8b90640700975"


def wrong_password_s2() -> str:
    """password_not_match on the S2 Pro: vector frame 045f11490a11ff420c230e5d01032a026d1b654d56."""
    return f"045f11{_seq()}0a11ff420c230e5d01032a026d1b654d56"


def record(ts: float, device: dict[str, str], frame: str, lqi: int = 120, rssi: int = -60) -> dict[str, Any]:
    """One raw report line (CONTRACT §3)."""
    return {"ts": round(ts, 3), **device, "manufacturer": "LUMI", "endpoint": 1, "profile": 260, "cluster": 257,
            "lqi": lqi, "rssi": rssi, "frame": frame}


def intrusion() -> list[tuple[dict[str, Any], str]]:
    """Failed attempts: two (no alert), three in 30 s (alert), three more in the cooldown, three after it."""
    return [
        (record(T0, FRONT, opened("finger", 1, admin=True)), "finger_open"),
        (record(T0 + 600, FRONT, failed("finger", 1), lqi=96), "finger_not_match"),
        (record(T0 + 620, FRONT, failed("finger", 2), lqi=95), "finger_not_match"),
        (record(T0 + 700, FRONT, opened("password", 3)), "password_open"),
        (record(T0 + 3600, FRONT, failed("finger", 1), lqi=90), "finger_not_match"),
        (record(T0 + 3615, FRONT, failed("finger", 2), lqi=91), "finger_not_match"),
        (record(T0 + 3630, FRONT, failed("password", 1), lqi=92), "password_not_match"),
        (record(T0 + 3650, FRONT, failed("finger", 1), lqi=90), "finger_not_match"),
        (record(T0 + 3660, FRONT, failed("finger", 2), lqi=90), "finger_not_match"),
        (record(T0 + 3670, FRONT, failed("finger", 3), lqi=90), "finger_not_match"),
        (record(T0 + 4000, FRONT, failed("password", 1), lqi=88), "password_not_match"),
        (record(T0 + 4010, FRONT, failed("password", 2), lqi=88), "password_not_match"),
        (record(T0 + 4020, FRONT, failed("password", 3), lqi=88), "password_not_match"),
        (record(T0 + 4100, FRONT, bell()), "ring_bell"),
        (record(T0 + 5000, FRONT, opened("finger", 2)), "finger_open"),
    ]


def door_left_unlocked() -> list[tuple[dict[str, Any], str]]:
    """Opened and locked again in time; opened and left for 10 minutes; opened again at the very end."""
    return [
        (record(T0, BACK, opened_inside()), "lock_opened_inside"),
        (record(T0 + 45, BACK, locked()), "locked"),
        (record(T0 + 1800, BACK, opened_outside()), "lock_opened_outside"),
        (record(T0 + 1900, BACK, wrong_password_s2()), "password_not_match"),
        (record(T0 + 2400, BACK, locked()), "locked"),
        (record(T0 + 3000, BACK, opened_inside()), "lock_opened_inside"),
        (record(T0 + 3200, BACK, opened_outside()), "lock_opened_outside"),
        (record(T0 + 3250, BACK, locked()), "locked"),
        (record(T0 + 7200, BACK, opened_outside()), "lock_opened_outside"),
    ]


def bell_at_night() -> list[tuple[dict[str, Any], str]]:
    """The bell by day and by night (Paris, UTC+1 in November), and an opening at night."""
    day = T0 - 8 * 3600  # 2024-11-24 00:00 UTC
    return [
        (record(day + 14 * 3600, FRONT, bell()), "ring_bell"),  # 15:00 Paris
        (record(day + 20 * 3600 + 59 * 60, FRONT, bell()), "ring_bell"),  # 21:59 Paris
        (record(day + 21 * 3600, FRONT, bell()), "ring_bell"),  # 22:00 Paris: alert
        (record(day + 21 * 3600 + 120, FRONT, bell()), "ring_bell"),  # 22:02: cooldown
        (record(day + 22 * 3600 + 30 * 60, FRONT, opened("finger", 1, admin=True)), "finger_open"),
        (record(day + 22 * 3600 + 31 * 60, FRONT, bell()), "ring_bell"),  # 23:31 Paris: alert
        (record(day + 29 * 3600 + 59 * 60, FRONT, bell()), "ring_bell"),  # 06:59 Paris next day: alert
        (record(day + 30 * 3600, FRONT, bell()), "ring_bell"),  # 07:00 Paris: day again
    ]


def user_changes() -> list[tuple[dict[str, Any], str]]:
    """Users enrolled and deleted; one enrolment right after a failed attempt."""
    return [
        (record(T0, FRONT, user_change("finger_add", 5)), "finger_add"),
        (record(T0 + 100, FRONT, user_change("password_delete", 34)), "password_delete"),
        (record(T0 + 2000, FRONT, failed("finger", 1)), "finger_not_match"),
        (record(T0 + 2300, FRONT, user_change("password_add", 7)), "password_add"),
        (record(T0 + 5000, FRONT, failed("password", 1)), "password_not_match"),
        (record(T0 + 5700, FRONT, user_change("finger_add", 8)), "finger_add"),
        # A Read Attributes Response, exactly as in the vectors (finger_delete, user 99).
        (record(T0 + 6000, FRONT, "1c5f113b0101ff004206012330060022"), "finger_delete"),
    ]


def silent_lock() -> list[tuple[dict[str, Any], str]]:
    """Two locks: the front door reports every hour for ten hours; the back door stops after 2.5 h."""
    rows: list[tuple[float, dict[str, Any], str]] = []
    for hour in range(11):
        frame, event = (bell(), "ring_bell") if hour % 3 == 2 else (opened("finger", 1 + hour % 4), "finger_open")
        rows.append((T0 + hour * 3600, record(T0 + hour * 3600, FRONT, frame), event))
    for half in (0.5, 1.5, 2.5):
        frame, event = (locked(), "locked") if half != 1.5 else (opened_inside(), "lock_opened_inside")
        rows.append((T0 + half * 3600, record(T0 + half * 3600, BACK, frame), event))
    rows.sort(key=lambda row: row[0])
    return [(line, event) for _, line, event in rows]


# The household (flows/household.yaml) -------------------------------------------------------------

HOUSEHOLD = {
    "front_door": {"model": "ZNMS11LM", "ieee": "00:15:8d:00:01:02:03:04", "nwk": 0x1A2B},
    "door_contact": {"model": "MCCGQ11LM", "ieee": "00:15:8d:00:07:00:01:01", "nwk": 0x3101},
    "sink_leak": {"model": "SJCGQ11LM", "ieee": "00:15:8d:00:07:00:01:05", "nwk": 0x3105},
    "kitchen_plug": {"model": "ZNCZ02LM", "ieee": "00:15:8d:00:07:00:01:06", "nwk": 0x3106},
}


class House:
    """The household's virtual devices; :meth:`report` is one scripted event as raw report lines."""

    def __init__(self) -> None:
        self.devices: dict[str, VirtualDevice] = {name: make_device(name, spec) for name, spec in HOUSEHOLD.items()}

    def report(self, ts: float, name: str, event: str, meant: str | None, **params: Any) -> list[
            tuple[dict[str, Any], str | None]]:
        """The frames of ``event`` as raw reports stamped ``ts`` (the last one is ``meant``)."""
        device = self.devices[name]
        frames = device.event_frames(event, params)
        lines: list[tuple[dict[str, Any], str | None]] = []
        for index, frame in enumerate(frames):
            line = {"ts": round(ts, 3), "ieee": device.ieee, "nwk": f"0x{device.nwk:04x}", "model": device.model,
                    "manufacturer": device.manufacturer, "endpoint": frame.src_endpoint, "profile": frame.profile,
                    "cluster": frame.cluster, "lqi": frame.lqi, "rssi": frame.rssi, "frame": frame.payload.hex()}
            lines.append((line, meant if index == len(frames) - 1 else None))
        return lines


def door_left_open() -> list[tuple[dict[str, Any], str | None]]:
    """Opened after unlocking and closed in time; opened after unlocking and left open; a late opening."""
    house = House()
    return [
        *house.report(T0, "front_door", "finger_open", "finger_open", role="admin", user=1),
        *house.report(T0 + 6, "door_contact", "open", "contact_opened"),
        *house.report(T0 + 40, "door_contact", "close", "contact_closed"),
        *house.report(T0 + 1800, "front_door", "password_open", "password_open", user=3),
        *house.report(T0 + 1805, "door_contact", "open", "contact_opened"),
        *house.report(T0 + 2100, "door_contact", "heartbeat", "contact_opened", voltage=3005),
        *house.report(T0 + 2400, "door_contact", "close", "contact_closed"),
        *house.report(T0 + 3600, "door_contact", "open", "contact_opened"),  # no unlocking: not this rule's
        *house.report(T0 + 3610, "door_contact", "close", "contact_closed"),
        *house.report(T0 + 7200, "front_door", "finger_open", "finger_open", user=2),
        *house.report(T0 + 7230, "door_contact", "open", "contact_opened"),
    ]


def forced_entry() -> list[tuple[dict[str, Any], str | None]]:
    """Openings right after the lock's, one with no unlocking at all, one 45 s after it."""
    house = House()
    return [
        *house.report(T0, "front_door", "finger_open", "finger_open", role="admin", user=1),
        *house.report(T0 + 10, "door_contact", "open", "contact_opened"),
        *house.report(T0 + 60, "door_contact", "close", "contact_closed"),
        *house.report(T0 + 2000, "door_contact", "open", "contact_opened"),  # nobody unlocked it
        *house.report(T0 + 2030, "door_contact", "close", "contact_closed"),
        *house.report(T0 + 4000, "front_door", "password_open", "password_open", user=3),
        *house.report(T0 + 4045, "door_contact", "open", "contact_opened"),  # 45 s later: too late
        *house.report(T0 + 4100, "door_contact", "close", "contact_closed"),
        *house.report(T0 + 6000, "front_door", "finger_open", "finger_open", user=2),
        *house.report(T0 + 6029, "door_contact", "open", "contact_opened"),  # 29 s: fine
        *house.report(T0 + 6090, "door_contact", "close", "contact_closed"),
    ]


def leak_alarm() -> list[tuple[dict[str, Any], str | None]]:
    """The sink leaks for 35 minutes and again at the end; the plug reports its power every 5 minutes."""
    house = House()
    rows = [
        *house.report(T0 + 100, "sink_leak", "wet", "leak_detected"),
        *house.report(T0 + 2200, "sink_leak", "dry", "leak_cleared"),
        *house.report(T0 + 5000, "sink_leak", "wet", "leak_detected"),
    ]
    for step in range(19):  # T0 … T0 + 5400: the plug's periodic analog-input power reports
        rows.extend(house.report(T0 + step * 300, "kitchen_plug", "power", "power_changed", power=float(40 + step)))
    rows.sort(key=lambda row: row[0]["ts"])
    return rows


CAPTURES = {
    "intrusion": intrusion,
    "door-left-unlocked": door_left_unlocked,
    "bell-at-night": bell_at_night,
    "user-changes": user_changes,
    "silent-lock": silent_lock,
}

#: The household's examples, decoded as Zigbee2MQTT 2.x (``compat: 2``) as their flows do.
HOUSEHOLD_CAPTURES = {
    "door-left-open": door_left_open,
    "forced-entry": forced_entry,
    "leak-alarm": leak_alarm,
}


def check(lines: list[tuple[dict[str, Any], str]] | list[tuple[dict[str, Any], str | None]], compat: int = 1) -> None:
    """Decode every report and check it is the event it is meant to be (None: not checked)."""
    decoder = Decoder(compat=compat, legacy=True, cache_state=False, model=None, base_topic="zigbee2mqtt",
                      friendly_names={})
    for line, meant in lines:
        result = decoder.decode(line)
        got = result.event.event if result.event is not None else None
        if meant is not None and got != meant:
            raise SystemExit(f"frame {line['frame']} decodes to {got!r}, not {meant!r}")


def main() -> None:
    """Write ``<example>/capture.jsonl`` for every example."""
    builders = [(name, build, 1) for name, build in CAPTURES.items()]
    builders += [(name, build, 2) for name, build in HOUSEHOLD_CAPTURES.items()]
    for name, build, compat in builders:
        lines = build()
        check(lines, compat)
        path = HERE / name / "capture.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line, _ in lines))
        sys.stdout.write(f"{path.relative_to(HERE.parent)}: {len(lines)} reports\n")


if __name__ == "__main__":
    main()
