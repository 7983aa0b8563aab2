"""MQTT nodes on aiomqtt: ``mqtt-in`` (a live source) and ``mqtt-out`` (a sink with a durable outbox).

Modules: :mod:`~flowengine_nodes.mqtt.broker` (broker URLs, shared connection config, TLS),
:mod:`~flowengine_nodes.mqtt.connection` (one connection and its errors),
:mod:`~flowengine_nodes.mqtt.packets` (QoS 0 PUBLISH packets as bytes),
:mod:`~flowengine_nodes.mqtt.paho_fast` (the fast paths: the one module that uses paho's and
aiomqtt's private names, checked against the pinned paho range at import),
:mod:`~flowengine_nodes.mqtt.outbox` (the SQLite outbox), :mod:`~flowengine_nodes.mqtt.mqtt_out`,
:mod:`~flowengine_nodes.mqtt.mqtt_in` and :mod:`~flowengine_nodes.zigbee2mqtt.bridge` (Zigbee2MQTT's
conventions for ``mqtt-out``). aiomqtt and paho-mqtt are imported only when a connection is made.
"""
