"""MQTT nodes on aiomqtt: ``mqtt-in`` (a live source) and ``mqtt-out`` (a sink with a durable outbox).

Modules: :mod:`~nodes.mqtt.broker` (broker URLs, shared connection config, TLS),
:mod:`~nodes.mqtt.connection` (one connection and its errors), :mod:`~nodes.mqtt.outbox`
(the SQLite outbox), :mod:`~nodes.mqtt.mqtt_out`, :mod:`~nodes.mqtt.mqtt_in` and
:mod:`~nodes.mqtt.zigbee2mqtt` (Zigbee2MQTT's conventions for ``mqtt-out``). aiomqtt and
paho-mqtt are imported only when a connection is made.
"""
