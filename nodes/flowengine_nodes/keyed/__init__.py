"""Keyed rules: per-key windows and timers, durable, in event time — the engine of ``rule`` and ``trigger``.

A room of its own so that both the ``rule`` node (rules/) and the stream node ``trigger``
(stream/) use it without one of those rooms importing the other.

* :mod:`.spec`: :class:`~.spec.RuleSpec` (a rule as the engine runs it) and
  :class:`~.spec.RuleEmit` (the ``emit`` templates of a node's config);
* :mod:`.node`: :class:`~.node.KeyedRule`, the transform that keeps the keys, cooldowns,
  durable state and firings, and hands each message to its kind;
* :mod:`.kind`: :class:`~.kind.RuleKind`, the small interface a kind implements;
* one module per kind: :mod:`.when`, :mod:`.count`, :mod:`.absence`, :mod:`.sequence`.

A new kind is a module with a :class:`~.kind.RuleKind` subclass, one entry in
:data:`.node.KINDS`, and the config that selects it.
"""
