"""The raw Zigbee report (CONTRACT §3): one typed record, its JSON form and its message.

A Zigbee source builds a :class:`RawReport`; what travels in the flow is its JSON record
(a plain ``dict``, because expressions read ``payload.cluster``), made at that edge by
:meth:`RawReport.to_record`. Readers of captures (``zigbee-replay``, the decoder's CLI)
find the record in a line with :func:`record_in` and build the message with
:func:`report_message`, without a detour through the dataclass: that is the hot path of a
replay, and the record they read is already the JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowengine.message import Message


@dataclass(frozen=True, slots=True)
class RawReport:
    """One frame a device sent on an application endpoint, as CONTRACT §3 records it."""

    ts: float
    ieee: str
    endpoint: int
    cluster: int
    frame: str
    profile: int = 260
    nwk: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    lqi: int | None = None
    rssi: int | None = None

    @property
    def topic(self) -> str:
        """``zigbee/<ieee>/<endpoint>/<cluster>`` (numbers in decimal)."""
        return f"zigbee/{self.ieee}/{self.endpoint}/{self.cluster}"

    def to_record(self) -> dict[str, Any]:
        """Return the JSON record, members in the contract's order; ``model``/``manufacturer`` only when known."""
        record: dict[str, Any] = {"ts": self.ts, "ieee": self.ieee}
        if self.nwk is not None:
            record["nwk"] = self.nwk
        if self.model is not None:
            record["model"] = self.model
        if self.manufacturer is not None:
            record["manufacturer"] = self.manufacturer
        record["endpoint"] = self.endpoint
        record["profile"] = self.profile
        record["cluster"] = self.cluster
        record["lqi"] = self.lqi
        record["rssi"] = self.rssi
        record["frame"] = self.frame
        return record

    def message(self, source: str) -> Message:
        """Return the flow message of this report (CONTRACT §3), emitted by node ``source``."""
        return report_message(self.to_record(), source)


def record_in(value: Any) -> dict[str, Any] | None:
    """Return the raw report record in one decoded capture line, or None when it holds none.

    A line is either a record (it has a top-level ``frame``) or a line written by the
    ``file`` sink, whose ``payload`` is a record.
    """
    if type(value) is not dict:
        return None
    if "frame" in value:
        return value
    payload = value.get("payload")
    if type(payload) is dict and "frame" in payload:
        return payload
    return None


def report_message(record: dict[str, Any], source: str) -> Message:
    """Build the message for a raw report record: topic, the record as payload, ``ts``/``ieee``/``source`` in meta."""
    ieee = record.get("ieee")
    topic = f"zigbee/{ieee}/{record.get('endpoint')}/{record.get('cluster')}"
    return Message(topic, record, {"ts": record.get("ts"), "ieee": ieee, "source": source})
