"""Modules that load on first use instead of at import: the app's window paints before they are needed.

networkx is a third of the app's start-up CPU (its package imports every algorithm, ~0.2 s) but the first window
needs no graph. `defer` puts a stand-in module in ``sys.modules``: every ``import networkx as nx`` succeeds at once,
and the first attribute read (``nx.MultiDiGraph``) imports the real module and copies its names into the
stand-in, so later reads cost what a normal module's do. (The standard library's ``importlib.util.LazyLoader``
does not fit: on Python 3.11 the ``import`` statement itself reads ``__spec__`` and so runs the module.)
`load` runs it on purpose, on the GUI thread. Only the desktop app defers; the CLI and library users import as
usual.

The deferred import goes through the interpreter's own ``__import__`` as it was when this module loaded:
PySide6 replaces ``builtins.__import__`` with a hook that reads the source of every module imported after it
(for its ``__feature__`` switches; ~0.15 s for networkx's 340 modules), which a module that never uses Qt does
not need. That is why the app imports its Qt-free core before Qt, and why this module must be imported first.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.RLock()
_plain_import = builtins.__import__  # before any Qt binding replaced it


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its names is read."""

    def __getattr__(self, attr: str) -> Any:  # only called for names the stand-in does not have yet
        if attr.startswith("__") and attr not in ("__path__", "__all__", "__version__"):
            raise AttributeError(attr)
        return getattr(_load_into(self), attr)


def _load_into(stand_in: _Deferred) -> types.ModuleType:
    with _lock:
        name = stand_in.__name__
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
            hooked, builtins.__import__ = builtins.__import__, _plain_import
            try:
                real = importlib.import_module(name)
            except BaseException:
                sys.modules.setdefault(name, stand_in)
                raise
            finally:
                builtins.__import__ = hooked
            stand_in.__dict__.update(real.__dict__)
            stand_in.__class__ = types.ModuleType  # a plain module now: no more __getattr__ detours
        return sys.modules[name]


def defer(name: str) -> bool:
    """Make ``name`` load on first use; False when it is already imported or cannot be found."""
    with _lock:
        if name in sys.modules:
            return False
        spec = importlib.util.find_spec(name)
        if spec is None:
            return False
        stand_in = _Deferred(name)
        stand_in.__spec__ = spec
        stand_in.__loader__ = spec.loader
        stand_in.__file__ = spec.origin  # read by tools that inspect imported modules (PySide6's import hook)
        stand_in.__package__ = name.rpartition(".")[0] if spec.submodule_search_locations is None else name
        sys.modules[name] = stand_in
        return True


def is_loaded(name: str) -> bool:
    """True when ``name`` is imported and has run (a deferred module nothing has used yet has not)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, _Deferred)


def load(name: str) -> None:
    """Run a deferred module now (a no-op when it already ran or was never deferred)."""
    module = sys.modules.get(name)
    if isinstance(module, _Deferred):
        _load_into(module)
