"""Zigbee2MQTT's MQTT conventions: bridge state, availability, Home Assistant discovery.

Pure data in, publications out: nothing here opens a connection. ``mqtt-out`` uses
:class:`~flowengine_nodes.zigbee2mqtt.bridge.Zigbee2Mqtt` in its Zigbee2MQTT mode; the
device definitions' exposes (:mod:`flowengine_nodes.devices`) say what to announce.
"""
