"""Moving a household between Zigbee2MQTT and flowengine without pairing a device again.

``flowengine import zigbee2mqtt`` reads a Zigbee2MQTT data folder (:mod:`.folder`) and writes a
runnable flow with zigpy's device database and the decoder's state cache seeded
(:mod:`.importer`); ``flowengine export zigbee2mqtt`` writes the way back (:mod:`.exporter`).
zigpy's database is written and read through zigpy's own API (:mod:`.zigpydb`). This room
imports the ``zigbee``, ``devices`` and ``zigbee2mqtt`` rooms; none of them imports it.
"""
