"""Zigbee: the ``zigbee`` source node (zigpy + zigpy-deconz) and the deCONZ coordinator emulator."""
