"""A deCONZ coordinator emulator with virtual devices, for running the real zigpy stack without a radio.

The package is pure asyncio and ``struct``: it never imports zigpy, so it is a fake that
speaks the real protocol rather than a mirror of the code it tests. Public entry points:
:class:`~flowengine_nodes.emulator.server.Emulator`, the devices in
:mod:`~flowengine_nodes.emulator.devices`, scenarios in :mod:`~flowengine_nodes.emulator.scenario`
and the ``flowengine emulate`` command in :mod:`~flowengine_nodes.emulator.cli`.
"""
