"""Names of torch modules that are imported only when a layer is built.

The specs are read by everything: the palette, the inspector, shape inference, parameter counts, file loading and
the ``validate``/``summary`` commands. None of those needs PyTorch, which takes seconds to import. So a spec names
its module class through `nn` (``nn.Linear``) or `modules` (``modules.Concat``, NetBuilder's own modules), which
hand back a `LazyClass`: importing ``torch`` happens the first time one is called, i.e. when a network is
compiled. `netbuilder.specs.base.make` resolves it, so a built module records its real class.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyClass:
    """A class known by module and name; imported on first use."""

    __slots__ = ("_module", "_name", "_resolved")

    def __init__(self, module: str, name: str):
        self._module = module
        self._name = name
        self._resolved: type | None = None

    def resolve(self) -> type:
        """The real class (imports its module the first time)."""
        if self._resolved is None:
            self._resolved = getattr(importlib.import_module(self._module), self._name)
        return self._resolved

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self._module}.{self._name}>"


class LazyNamespace:
    """``namespace.Name`` gives a `LazyClass` for ``module.Name`` without importing ``module``."""

    def __init__(self, module: str):
        self._module = module
        self._classes: dict[str, LazyClass] = {}

    def __getattr__(self, name: str) -> LazyClass:
        if name.startswith("__"):
            raise AttributeError(name)
        lazy = self._classes.get(name)
        if lazy is None:
            lazy = self._classes[name] = LazyClass(self._module, name)
        return lazy


def resolve(cls: Any) -> Any:
    """``cls`` itself, or the class a `LazyClass` stands for."""
    return cls.resolve() if isinstance(cls, LazyClass) else cls


nn = LazyNamespace("torch.nn")
modules = LazyNamespace("netbuilder.specs.modules")
