"""The layer catalog: every layer type NetBuilder knows, one declarative `LayerSpec` each."""

from __future__ import annotations

from netbuilder.specs.base import (
    BATCH,
    SEQ,
    Dim,
    LayerContext,
    LayerSpec,
    Param,
    ParamError,
    ParamKind,
    Port,
    ShapeError,
    TensorType,
)

CATEGORY_ORDER = (
    "Input/Output",
    "Dense & Shape",
    "Convolution",
    "Pooling",
    "Normalization",
    "Activation",
    "Merge",
    "Recurrent",
    "Attention",
    "Generative",
)

_REGISTRY: dict[str, LayerSpec] = {}


class UnknownLayerError(KeyError):
    def __init__(self, type_id: str):
        super().__init__(type_id)
        self.type_id = type_id

    def __str__(self) -> str:
        return f"Unknown layer type {self.type_id!r}."


def register(*specs: LayerSpec) -> None:
    for spec in specs:
        if spec.id in _REGISTRY:
            raise ValueError(f"Layer type {spec.id!r} is registered twice.")
        if spec.category not in CATEGORY_ORDER:
            raise ValueError(f"Layer type {spec.id!r} has unknown category {spec.category!r}.")
        _REGISTRY[spec.id] = spec


def get_spec(type_id: str) -> LayerSpec:
    _load()
    try:
        return _REGISTRY[type_id]
    except KeyError:
        raise UnknownLayerError(type_id) from None


def has_spec(type_id: str) -> bool:
    _load()
    return type_id in _REGISTRY


def all_specs() -> list[LayerSpec]:
    """Every spec, in palette order (category, then registration order)."""
    _load()
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return sorted(_REGISTRY.values(), key=lambda s: order[s.category])


_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from netbuilder.specs import (  # noqa: F401  (each module registers its specs)
        activation,
        arithmetic,
        attention,
        convolution,
        dense,
        generative,
        io,
        merge,
        normalization,
        pooling,
        recurrent,
    )


__all__ = [
    "BATCH", "SEQ", "CATEGORY_ORDER", "Dim", "LayerContext", "LayerSpec", "Param", "ParamError", "ParamKind", "Port",
    "ShapeError", "TensorType", "UnknownLayerError", "all_specs", "get_spec", "has_spec", "register",
]
