"""Deferred imports: a module imported now whose code runs only when something first uses it.

A library often imports at module level what it needs only on a path a flow may never take
(zigpy's OTA image providers, paho-mqtt's proxy lookup through :mod:`urllib.request`), and each
such module costs memory and start time in every process. :func:`deferred_imports` lets a node
import such a library as usual while the named modules are created by
:class:`importlib.util.LazyLoader`: the module object exists (the library keeps its reference)
and its code runs on the first attribute access, so a path that is taken still works unchanged.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

#: Loaders whose modules :class:`importlib.util.LazyLoader` can defer: Python source and bytecode files.
_PLAIN_LOADERS = (importlib.machinery.SourceFileLoader, importlib.machinery.SourcelessFileLoader)


class _DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds ``names`` as the path-based finder does, behind :class:`importlib.util.LazyLoader`."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A lazily loaded spec for a deferred name; None (the usual finders) for anything else."""
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, _PLAIN_LOADERS):
            return None  # not a Python module on the path (an extension module, say): imported as usual
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def deferred_imports(names: Sequence[str]) -> Iterator[None]:
    """Within the block, a first import of one of ``names`` gives a module that loads on first use.

    Wrap the import of a library whose module-level imports of ``names`` serve only paths a flow
    may not take: the library binds the module objects as usual, and each module's code runs on
    the first attribute access (:class:`importlib.util.LazyLoader`), which is when that path is
    first taken. A name already imported, or one that is not a Python file on the path (a built-in
    or frozen module, an extension module), is imported as usual; so is every name
    imported after the block ends. A module's parent package is imported as usual (the import
    system needs it to find the module).

    Python 3.11's :class:`~importlib.util.LazyLoader` is not thread-safe: when threads may use a
    deferred module, touch it once on one thread before they can (a first use from two threads
    at once may find it half-made).
    """
    finder = _DeferringFinder([name for name in names if name not in sys.modules])
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
