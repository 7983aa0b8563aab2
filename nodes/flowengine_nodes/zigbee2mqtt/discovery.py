"""Home Assistant MQTT discovery from a device's exposes, as Zigbee2MQTT 2.x's homeassistant extension builds it.

Two steps, each a port of Zigbee2MQTT 2.14's ``lib/extension/homeassistant.ts``:

* :func:`expose_configs` turns exposes (in Zigbee2MQTT's JSON shape: ``type``, ``name``,
  ``label``, ``access``, ``property``, ``category``, ``features`` …) into entity configs:
  a ``light`` composite → a ``light`` (JSON schema, brightness, colour modes, mireds,
  effects), a ``switch`` composite → a ``switch``, a binary → ``binary_sensor`` (``switch``
  when settable), a numeric → ``sensor`` (``number`` when settable), an enum → ``sensor``,
  ``select`` or ``button`` (``action`` is no entity: device triggers instead), text,
  composite and list → ``sensor`` (``text`` when settable); plus ``update`` for devices with
  OTA. Zigbee2MQTT's lookup tables (device classes, icons, categories by name) are kept
  for the names the built-in definitions use.
* :func:`discovery_payload` completes one config as ``discover()`` does: state and command
  topics, ``object_id``, ``default_entity_id``, ``unique_id``, ``device``, ``origin`` and
  availability.

:func:`definition_exposes` gives a definition's exposes in that JSON shape: composites are
rebuilt from the members' ``group``, and the labels, categories and Home Assistant
metadata that zigbee-herdsman-converters' expose helpers attach are added by name.

Not reproduced: ``via_device`` (the coordinator's IEEE address is not known to
``mqtt-out``), ``sw_version`` / ``hw_version`` (the Basic cluster's build id and hardware
version are not in the decoded messages), climate, cover, fan, lock and siren entities
(no definition exposes them), and per-device ``homeassistant`` overrides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCESS_STATE = 0b001
ACCESS_SET = 0b010

#: Zigbee2MQTT's ``BINARY_DISCOVERY_LOOKUP`` (the names the definitions use).
BINARY_LOOKUP: dict[str, dict[str, Any]] = {
    "battery_low": {"entity_category": "diagnostic", "device_class": "battery"},
    "contact": {"device_class": "door"},
    "occupancy": {"device_class": "occupancy"},
    "power_outage_memory": {"entity_category": "config", "icon": "mdi:memory"},
    "water_leak": {"device_class": "moisture"},
    "tamper": {"device_class": "tamper"},
    "smoke": {"device_class": "smoke"},
    "vibration": {"device_class": "vibration"},
}
#: Zigbee2MQTT's ``NUMERIC_DISCOVERY_LOOKUP``.
NUMERIC_LOOKUP: dict[str, dict[str, Any]] = {
    "battery": {"device_class": "battery", "state_class": "measurement"},
    "device_temperature": {"device_class": "temperature", "entity_category": "diagnostic",
                           "state_class": "measurement"},
    "energy": {"device_class": "energy", "state_class": "total_increasing"},
    "humidity": {"device_class": "humidity", "state_class": "measurement"},
    "illuminance": {"device_class": "illuminance", "state_class": "measurement"},
    "linkquality": {"enabled_by_default": False, "entity_category": "diagnostic", "icon": "mdi:signal",
                    "state_class": "measurement"},
    "power": {"device_class": "power", "state_class": "measurement"},
    "power_outage_count": {"icon": "mdi:counter", "enabled_by_default": False, "state_class": "measurement"},
    "pressure": {"device_class": "atmospheric_pressure", "state_class": "measurement"},
    "temperature": {"device_class": "temperature", "state_class": "measurement"},
    "trigger_count": {"icon": "mdi:counter", "enabled_by_default": False, "state_class": "measurement"},
    "voltage": {"device_class": "voltage", "state_class": "measurement"},
    "current": {"device_class": "current", "state_class": "measurement"},
}
#: Zigbee2MQTT's ``ENUM_DISCOVERY_LOOKUP``.
ENUM_LOOKUP: dict[str, dict[str, Any]] = {
    "action": {"icon": "mdi:gesture-double-tap"},
    "effect": {"enabled_by_default": False, "icon": "mdi:palette"},
    "identify": {"entity_category": "diagnostic", "device_class": "identify"},
    "power_on_behavior": {"entity_category": "config", "icon": "mdi:power-settings"},
    "power_outage_memory": {"entity_category": "config", "icon": "mdi:power-settings"},
}
#: Zigbee2MQTT's ``LIST_DISCOVERY_LOOKUP`` (text, composite and list exposes).
LIST_LOOKUP: dict[str, dict[str, Any]] = {
    "action": {"icon": "mdi:gesture-double-tap"},
    "color_options": {"icon": "mdi:palette"},
    "level_config": {"entity_category": "diagnostic"},
}

#: The ``category`` zigbee-herdsman-converters' expose helpers give (``e.battery()`` …).
EXPOSE_CATEGORIES: dict[str, str] = {
    "battery": "diagnostic", "battery_low": "diagnostic", "voltage": "diagnostic",
    "device_temperature": "diagnostic", "power_outage_count": "diagnostic", "trigger_count": "diagnostic",
    "linkquality": "diagnostic", "action": "diagnostic", "identify": "config", "power_outage_memory": "config",
    "power_on_behavior": "config", "color_options": "config", "level_config": "config",
}
#: Labels that are not the name with its first letter upper-cased and ``_`` as spaces.
EXPOSE_LABELS: dict[str, str] = {"power_on_behavior": "Power-on behavior"}
#: The ``homeassistant`` metadata the expose helpers attach (``e.contact()`` names no entity).
EXPOSE_HOMEASSISTANT: dict[str, dict[str, Any]] = {"contact": {"name": None}}

UPDATE_VALUE_TEMPLATE = (
    "{\"latest_version\":\"{{ value_json['update']['latest_version'] }}\","
    "\"installed_version\":\"{{ value_json['update']['installed_version'] }}\","
    "\"update_percentage\":{{ value_json['update'].get('progress', 'null') }},"
    "\"in_progress\":{{ (value_json['update']['state'] == 'updating')|lower }}}"
)


@dataclass
class EntityConfig:
    """One Home Assistant entity before ``discover()`` completes it: component, object id, payload.

    ``mock`` lists the state properties Zigbee2MQTT adds (with these values) to every published
    state that lacks them, so Home Assistant's templates always find them.
    """

    type: str
    object_id: str
    discovery_payload: dict[str, Any]
    mock: list[tuple[str, Any]] = field(default_factory=list)


def label(name: str) -> str:
    """Zigbee2MQTT's label of an expose: ``battery_low`` → ``Battery low``."""
    if name in EXPOSE_LABELS:
        return EXPOSE_LABELS[name]
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _binary_value(value: Any) -> Any:
    """A binary expose's on/off value: the definitions write booleans as ``"true"`` / ``"false"``."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def _expose_json(expose: Any) -> dict[str, Any]:
    """One definition expose in Zigbee2MQTT's JSON shape, with its label, category and metadata."""
    result: dict[str, Any] = {key: value for key, value in expose.to_json().items() if key != "group"}
    result["label"] = label(expose.name)
    if expose.type == "binary":
        result["value_on"] = _binary_value(result.get("value_on"))
        result["value_off"] = _binary_value(result.get("value_off"))
    if expose.name in EXPOSE_CATEGORIES:
        result["category"] = EXPOSE_CATEGORIES[expose.name]
    if expose.name in EXPOSE_HOMEASSISTANT:
        result["homeassistant"] = EXPOSE_HOMEASSISTANT[expose.name]
    return result


def definition_exposes(exposes: Iterable[Any]) -> list[dict[str, Any]]:
    """Return a definition's exposes in Zigbee2MQTT's JSON shape, members of a ``group`` as one composite."""
    result: list[dict[str, Any]] = []
    composites: dict[str, dict[str, Any]] = {}
    for expose in exposes:
        group = getattr(expose, "group", None)
        if group is None:
            result.append(_expose_json(expose))
            continue
        composite = composites.get(group)
        if composite is None:
            composite = composites[group] = {"type": group, "features": []}
            result.append(composite)
        composite["features"].append(_expose_json(expose))
    return result


def expose_configs(exposes: list[dict[str, Any]], *, ota: bool = False, base_topic: str = "zigbee2mqtt",
                   ieee: str = "") -> list[EntityConfig]:
    """Return the entity configs of a device's exposes (``getConfigs`` for a device), in order.

    With ``ota`` an ``update`` entity follows, whose command goes to the bridge API under
    ``base_topic`` with the device's ``ieee`` (Zigbee2MQTT's form, ``0x…``).
    """
    configs: list[EntityConfig] = []
    for expose in exposes:
        configs.extend(_expose_to_config(expose, exposes))
    if ota:
        configs.append(EntityConfig("update", "update", mock=[("update", {"state": None})], discovery_payload={
            "name": None,
            "entity_picture": "https://github.com/Koenkk/zigbee2mqtt/raw/master/images/logo.png",
            "state_topic": True,
            "device_class": "firmware",
            "entity_category": "config",
            "command_topic": f"{base_topic}/bridge/request/device/ota_update/update",
            "payload_install": f'{{"id": "{ieee}"}}',
            "value_template": UPDATE_VALUE_TEMPLATE,
        }))
    return configs


def _feature(expose: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((f for f in expose.get("features", ()) if f.get("name") == name), None)


def _light(expose: Mapping[str, Any], all_exposes: list[dict[str, Any]]) -> EntityConfig:
    has_xy = _feature(expose, "color_xy") is not None
    has_hs = _feature(expose, "color_hs") is not None
    color_temp = _feature(expose, "color_temp")
    names = [f.get("name") for f in expose.get("features", ())]
    state = _feature(expose, "state")
    prefer_hs = has_xy and has_hs and names.index("color_hs") < names.index("color_xy")
    payload: dict[str, Any] = {"name": None, "brightness": _feature(expose, "brightness") is not None,
                               "schema": "json", "command_topic": True, "brightness_scale": 254}
    modes = [mode for mode, present in (("xy", has_xy and not prefer_hs), ("hs", (not has_xy or prefer_hs) and has_hs),
                                        ("color_temp", color_temp is not None)) if present]
    payload["supported_color_modes"] = modes or ["brightness"]
    if color_temp is not None:
        if color_temp.get("value_max") is not None:
            payload["max_mireds"] = color_temp["value_max"]
        if color_temp.get("value_min") is not None:
            payload["min_mireds"] = color_temp["value_min"]
    effects: list[Any] = []
    for other in all_exposes:
        if other.get("type") == "enum" and other.get("name") == "effect":
            effects.extend(value for value in other.get("values", ()) if value not in effects)
    if effects:
        payload["effect"] = True
        payload["effect_list"] = effects
    return EntityConfig("light", "light", payload, [(state["property"], None)] if state else [])


def _switch(expose: Mapping[str, Any]) -> EntityConfig:
    state = _feature(expose, "state")
    if state is None or state.get("type") != "binary":
        raise ValueError("a switch expose has no binary 'state'")
    prop = state["property"]
    return EntityConfig("switch", "switch", {
        "name": None, "payload_off": state["value_off"], "payload_on": state["value_on"],
        "value_template": f'{{{{ value_json["{prop}"] }}}}', "command_topic": True,
    }, [(prop, None)])


def _binary(expose: Mapping[str, Any]) -> EntityConfig:
    name, prop = expose["name"], expose["property"]
    if expose["access"] & ACCESS_SET:
        boolean = isinstance(expose["value_on"], bool)
        template = (f'{{% if value_json["{prop}"] %}}true{{% else %}}false{{% endif %}}' if boolean
                    else f'{{{{ value_json["{prop}"] }}}}')
        return EntityConfig("switch", f"switch_{name}", {
            "name": expose["label"], "value_template": template,
            "payload_on": _js_text(expose["value_on"]), "payload_off": _js_text(expose["value_off"]),
            "command_topic": True, "command_topic_postfix": prop, **BINARY_LOOKUP.get(name, {}),
        }, [(prop, None)])
    return EntityConfig("binary_sensor", name, {
        "name": expose["label"], "value_template": f'{{{{ value_json["{prop}"] }}}}',
        "payload_on": expose["value_on"], "payload_off": expose["value_off"], **BINARY_LOOKUP.get(name, {}),
    }, [(prop, None)])


def _numeric(expose: Mapping[str, Any]) -> EntityConfig:
    name, prop, unit = expose["name"], expose["property"], expose.get("unit")
    lookup = NUMERIC_LOOKUP.get(name, {})
    if expose["access"] & ACCESS_SET:
        payload: dict[str, Any] = {"name": expose["label"], "value_template": f'{{{{ value_json["{prop}"] }}}}',
                                   "command_topic": True, "command_topic_postfix": prop}
        if unit:
            payload["unit_of_measurement"] = unit
        if expose.get("value_step"):
            payload["step"] = expose["value_step"]
        payload.update(lookup)
        if lookup.get("device_class") != "temperature":
            payload.pop("device_class", None)
        if expose.get("value_min") is not None:
            payload["min"] = expose["value_min"]
        if expose.get("value_max") is not None:
            payload["max"] = expose["value_max"]
        return EntityConfig("number", name, payload, [(prop, None)])
    extra: dict[str, Any] = {}
    if unit in ("Wh", "kWh"):
        extra = {"device_class": "energy", "state_class": "total_increasing"}
    elif unit in ("A", "mA"):
        extra = {"device_class": "current", "state_class": "measurement"}
    elif unit in ("mW", "W", "kW"):
        extra = {"device_class": "power", "state_class": "measurement"}
    payload = {"name": expose["label"], "value_template": f'{{{{ value_json["{prop}"] }}}}',
               "enabled_by_default": True}
    if unit:
        payload["unit_of_measurement"] = unit
    payload.update(lookup)
    payload.update(extra)
    if payload.get("device_class") and not payload.get("unit_of_measurement"):
        del payload["device_class"]
    if payload.get("entity_category") == "config":
        payload["entity_category"] = "diagnostic"
    return EntityConfig("sensor", name, payload, [(prop, None)])


def _enum(expose: Mapping[str, Any]) -> list[EntityConfig]:
    name, prop, access = expose["name"], expose["property"], expose["access"]
    if prop == "action":
        return []  # device triggers instead (legacy_action_sensor and event entities are off by default)
    lookup = ENUM_LOOKUP.get(name, {})
    values = list(expose.get("values", ()))
    if access & ACCESS_SET and len(values) == 1:
        return [EntityConfig("button", prop, {
            "name": expose["label"], "state_topic": False, "command_topic": True, "command_topic_postfix": prop,
            "payload_press": _js_text(values[0]), **lookup,
        }, [(prop, None)])]
    payload: dict[str, Any] = {"name": expose["label"]}
    if access & ACCESS_STATE:
        payload["value_template"] = f'{{{{ value_json["{prop}"] }}}}'
    if access & ACCESS_SET:
        payload.update({"state_topic": bool(access & ACCESS_STATE), "command_topic": True,
                        "command_topic_postfix": prop, "options": [_js_text(v) for v in values], **lookup})
        return [EntityConfig("select", prop, payload, [(prop, None)])]
    if access & ACCESS_STATE:
        return [EntityConfig("sensor", prop, {**payload, **lookup}, [(prop, None)])]
    return []


def _text(expose: Mapping[str, Any]) -> list[EntityConfig]:
    name, prop, access = expose.get("name"), expose["property"], expose["access"]
    lookup = LIST_LOOKUP.get(str(name), {})
    if expose["type"] == "text" and access & ACCESS_SET:
        return [EntityConfig("text", prop, {
            "name": expose["label"], "state_topic": access & ACCESS_STATE,
            "value_template": f'{{{{ value_json["{prop}"] }}}}', "command_topic": True,
            "command_topic_postfix": prop, **lookup,
        }, [(prop, None)])]
    if access & ACCESS_STATE:
        template = f"{{{{ value_json[\"{prop}\"] | default('',True) | string | truncate(254, True, '', 0) }}}}"
        return [EntityConfig("sensor", prop, {"name": expose["label"], "value_template": template, **lookup},
                             [(prop, None)])]
    return []


def _expose_to_config(expose: dict[str, Any], all_exposes: list[dict[str, Any]]) -> list[EntityConfig]:
    """``exposeToConfig`` for one device expose."""
    kind = expose.get("type")
    if kind == "light":
        entries = [_light(expose, all_exposes)]
    elif kind == "switch":
        entries = [_switch(expose)]
    elif kind == "binary":
        entries = [_binary(expose)]
    elif kind == "numeric":
        entries = [_numeric(expose)]
    elif kind == "enum":
        entries = _enum(expose)
    elif kind in ("text", "composite", "list"):
        entries = _text(expose)
    else:
        entries = []  # climate, cover, fan, lock: no built-in definition exposes them
    category = expose.get("category")
    name = expose.get("name")
    for entry in entries:
        payload = entry.discovery_payload
        if category in ("config", "diagnostic"):
            payload["entity_category"] = category
        _apply_metadata(entry, expose.get("homeassistant"))
        if entry.type in ("binary_sensor", "sensor") and payload.get("entity_category") == "config":
            payload["entity_category"] = "diagnostic"
        if payload.get("device_class") and payload.get("name", "") is not None \
                and not NUMERIC_LOOKUP.get(str(name), {}).get("preserve_name"):
            payload.pop("name", None)
    return entries


def _apply_metadata(entry: EntityConfig, metadata: Mapping[str, Any] | None) -> None:
    """``applyHomeAssistantExposeMetadata``: the expose's own Home Assistant settings win."""
    if not metadata:
        return
    payload = entry.discovery_payload
    if "type" in metadata:
        entry.type = metadata["type"]
    for source, target in (("schema", "schema"), ("entityCategory", "entity_category"),
                           ("deviceClass", "device_class"), ("enabledByDefault", "enabled_by_default"),
                           ("icon", "icon"), ("name", "name")):
        if source in metadata:
            payload[target] = metadata[source]
    if "valueTemplate" in metadata:
        if metadata["valueTemplate"] is None:
            payload.pop("value_template", None)
        else:
            payload["value_template"] = metadata["valueTemplate"]


def _js_text(value: Any) -> str:
    """JavaScript's ``value.toString()`` for the values exposes hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def discovery_payload(
    config: EntityConfig,
    *,
    name: str,
    ieee: str,
    base_topic: str,
    device: dict[str, Any],
    origin: dict[str, Any],
    availability: bool,
) -> tuple[str, dict[str, Any]]:
    """Return ``(topic below the discovery prefix, payload)`` for one entity (``discover()``'s loop body)."""
    payload = dict(config.discovery_payload)
    base = f"{base_topic}/{name}"
    state_topic = base
    postfix = payload.pop("state_topic_postfix", None)
    if postfix:
        state_topic += f"/{postfix}"
    if "state_topic" not in payload or payload["state_topic"]:
        payload["state_topic"] = state_topic
    else:
        del payload["state_topic"]
    object_id = re.sub(r"\s+", "_", str(device["name"])).lower()
    if config.object_id.startswith(config.type) and "_" in config.object_id:
        object_id += "_" + config.object_id.split("_", 1)[1]
    elif not config.object_id.startswith(config.type):
        object_id += "_" + config.object_id
    object_id += payload.pop("object_id_postfix", None) or ""
    payload["object_id"] = object_id
    payload["default_entity_id"] = f"{config.type}.{object_id}"
    payload["unique_id"] = f"{ieee}_{config.object_id}_{base_topic}"
    payload["device"] = device
    payload["origin"] = origin
    if payload.get("availability", True):
        entries: list[dict[str, str]] = [{"topic": f"{base_topic}/bridge/state"}]
        if availability:
            payload["availability_mode"] = "all"
            entries.append({"topic": f"{base}/availability"})
        for entry in entries:
            entry["value_template"] = "{{ value_json.state }}"
        payload["availability"] = entries
    else:
        payload.pop("availability", None)
    prefix = payload.pop("command_topic_prefix", None)
    command_postfix = payload.pop("command_topic_postfix", None)
    command_topic = f"{base}/{prefix + '/' if prefix else ''}set{'/' + command_postfix if command_postfix else ''}"
    command = payload.get("command_topic")
    if command and not isinstance(command, str):
        payload["command_topic"] = command_topic
    return f"{config.type}/{ieee}/{config.object_id}/config", payload


def device_payload(name: str, ieee: str, definition: Any | None, model: str | None) -> dict[str, Any]:
    """The ``device`` member of every discovery payload (``getDevicePayload`` for a device)."""
    payload: dict[str, Any] = {"identifiers": [f"zigbee2mqtt_{ieee}"], "name": name}
    if definition is not None:
        payload["model"] = definition.description
        payload["model_id"] = definition.model
        payload["manufacturer"] = definition.vendor
    elif model:
        payload["model_id"] = model
    return payload


def adjust_state(payload: dict[str, Any], mock: Iterable[tuple[str, Any]], ota: bool) -> dict[str, Any]:
    """A state payload as Zigbee2MQTT publishes it with discovery on (``adjustMessageBeforePublish``).

    Every mocked property the payload lacks is added with its mock value (``null``), so Home
    Assistant's value templates never miss a key; a device with OTA gets
    ``update.installed_version`` and ``latest_version`` -1 while no version is known. Returns a
    new dict; ``payload`` is not changed.
    """
    result = dict(payload)
    for prop, value in mock:
        if prop not in result:
            result[prop] = dict(value) if isinstance(value, dict) else value
    update = result.get("update")
    if ota and (not isinstance(update, dict) or update.get("latest_version") is None):
        result["update"] = {**(update if isinstance(update, dict) else {}), "installed_version": -1,
                            "latest_version": -1}
    return result
