"""The declarative description of a layer type.

One `LayerSpec` drives everything that knows about a layer: the palette, the inspector (editors are chosen from
each `Param.kind`), file I/O (params are validated and coerced through `Param.coerce`), shape inference, parameter
and multiply-add counts, the torch build and export. Adding a layer type means adding one spec and nothing else.

Shapes carry the batch dimension first as the symbol ``"N"``; a variable sequence length is the symbol ``"T"``.
A dimension is an ``int`` or a ``str`` (a symbol or a readable expression of one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Dim = int | str
BATCH = "N"
SEQ = "T"


class ParamKind(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CHOICE = "choice"
    INTS = "ints"  # a tuple of ints, e.g. kernel size (3, 3)
    SHAPE = "shape"  # a tensor shape without batch: ints, or "T" for a variable length
    TEXT = "text"


class ParamError(ValueError):
    """A parameter value that cannot be used; the message is written for the user."""


class ShapeError(ValueError):
    """A layer cannot accept what is wired into it; the message says which dimension and why."""

    def __init__(self, message: str, param: str | None = None, suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.suggestion = suggestion


@dataclass(frozen=True)
class TensorType:
    """The type flowing along a wire: a shape whose first entry is the batch symbol, and a dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"  # "float32" or "int64" (token ids)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def features(self) -> tuple[Dim, ...]:
        """The shape without the batch dimension."""
        return self.shape[1:]

    def with_shape(self, shape: Sequence[Dim]) -> TensorType:
        return TensorType(tuple(shape), self.dtype)

    def __str__(self) -> str:
        text = "×".join(str(d) for d in self.shape)
        return text if self.dtype == "float32" else f"{text} {self.dtype}"


@dataclass(frozen=True)
class Param:
    """A typed, documented layer parameter. The kind picks the inspector editor; never a widget name."""

    name: str
    kind: ParamKind
    default: Any
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    length: int | None = None  # for INTS: the number of entries; a single int is broadcast to it
    label: str | None = None
    allow_none: bool = False  # an optional value (e.g. an optional size), shown as "auto"

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def coerce(self, value: Any) -> Any:
        """Return the value in canonical form, or raise ParamError naming the problem in plain words."""
        if value is None or (self.allow_none and isinstance(value, str) and value.strip().lower() in ("", "auto")):
            if self.allow_none:
                return None  # "auto" is how format() shows None, so what the inspector shows reads back
            raise ParamError(f"{self.title} needs a value.")
        kind = self.kind
        if kind is ParamKind.BOOL:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ParamError(f"{self.title} must be true or false, not {value!r}.")
        if kind is ParamKind.INT:
            number = _as_int(value, self.title)
            self._check_range(number)
            return number
        if kind is ParamKind.FLOAT:
            if isinstance(value, bool):
                raise ParamError(f"{self.title} must be a number, not {value!r}.")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ParamError(f"{self.title} must be a number, not {value!r}.") from None
            if math.isnan(number) or math.isinf(number):
                raise ParamError(f"{self.title} must be a finite number.")
            self._check_range(number)
            return number
        if kind is ParamKind.CHOICE:
            if value in self.choices:
                return value
            for choice in self.choices:  # "same" may arrive as "Same"; 2 as "2"
                if str(choice).lower() == str(value).lower():
                    return choice
            options = ", ".join(str(c) for c in self.choices)
            raise ParamError(f"{self.title} must be one of {options}; got {value!r}.")
        if kind is ParamKind.INTS:
            items = _as_sequence(value, self.title)
            numbers = tuple(_as_int(v, self.title) for v in items)
            if self.length is not None:
                if len(numbers) == 1:
                    numbers = numbers * self.length
                if len(numbers) != self.length:
                    raise ParamError(f"{self.title} needs {self.length} numbers, got {len(numbers)}.")
            for n in numbers:
                self._check_range(n)
            return numbers
        if kind is ParamKind.SHAPE:
            items = _as_sequence(value, self.title)
            dims: list[Dim] = []
            for item in items:
                if isinstance(item, str) and item.strip().upper() == SEQ:
                    dims.append(SEQ)
                    continue
                number = _as_int(item, self.title)
                if number < 1:
                    raise ParamError(f"{self.title}: every size must be at least 1 (or T for a variable length).")
                dims.append(number)
            if not dims:
                raise ParamError(f"{self.title} needs at least one size.")
            return tuple(dims)
        if kind is ParamKind.TEXT:
            if not isinstance(value, str):
                raise ParamError(f"{self.title} must be text.")
            return value
        raise ParamError(f"Unknown parameter kind {kind}.")

    def _check_range(self, number: float) -> None:
        if self.minimum is not None and number < self.minimum:
            raise ParamError(f"{self.title} must be at least {_fmt(self.minimum)}; got {_fmt(number)}.")
        if self.maximum is not None and number > self.maximum:
            raise ParamError(f"{self.title} must be at most {_fmt(self.maximum)}; got {_fmt(number)}.")

    def format(self, value: Any) -> str:
        """The value as a user types it in a text field."""
        if value is None:
            return "auto"
        if isinstance(value, tuple):
            return ", ".join(str(v) for v in value)
        return str(value)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _as_int(value: Any, title: str) -> int:
    if isinstance(value, bool):
        raise ParamError(f"{title} must be a whole number, not {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ParamError(f"{title} must be a whole number, not {value!r}.")


def _as_sequence(value: Any, title: str) -> tuple[Any, ...]:
    if isinstance(value, str):
        parts = [p for p in value.replace("×", ",").replace("x", ",").replace("(", "").replace(")", "").split(",")]
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(value)
    raise ParamError(f"{title} must be a list of numbers such as 3, 3; got {value!r}.")


@dataclass(frozen=True)
class Port:
    name: str
    doc: str = ""
    optional: bool = False


@dataclass
class LayerContext:
    """What a spec's rules see: validated params and the types wired into each input port (None if optional
    and unwired)."""

    params: dict[str, Any]
    inputs: tuple[TensorType | None, ...]
    node_name: str = ""

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def x(self) -> TensorType:
        """The first input; most layers have just one."""
        first = self.inputs[0]
        assert first is not None
        return first

    def fail(self, message: str, param: str | None = None, suggestion: str | None = None) -> ShapeError:
        return ShapeError(message, param=param, suggestion=suggestion)


ShapeRule = Callable[[LayerContext], tuple[TensorType, ...]]
BuildRule = Callable[[LayerContext], Any]  # returns a torch.nn.Module
CountRule = Callable[[LayerContext], int]
PortsRule = Callable[[dict[str, Any]], tuple[Port, ...]]


def _zero(_: LayerContext) -> int:
    return 0


@dataclass(frozen=True)
class LayerSpec:
    """One layer type. ``infer`` must agree with the module ``build`` returns; a test checks every spec."""

    id: str
    category: str
    title: str
    doc: str
    infer: ShapeRule
    build: BuildRule
    params: tuple[Param, ...] = ()
    inputs: tuple[Port, ...] | PortsRule = (Port("in"),)
    outputs: tuple[Port, ...] | PortsRule = (Port("out"),)
    count_params: CountRule = _zero
    macs: CountRule = _zero
    label: Callable[[dict[str, Any]], str] | None = None
    version: int = 1
    # Typical params and input shapes used by the per-spec tests and the palette preview.
    example_params: dict[str, Any] = field(default_factory=dict)
    example_inputs: tuple[tuple[Dim, ...], ...] = ((BATCH, 16),)
    example_dtypes: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()  # extra words the palette search matches
    # Migrations from older versions of this spec's params: {old_version: fn(params) -> params}.
    migrations: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def input_ports(self, params: dict[str, Any] | None = None) -> tuple[Port, ...]:
        if callable(self.inputs):
            return self.inputs(self.complete(params or {}))
        return self.inputs

    def output_ports(self, params: dict[str, Any] | None = None) -> tuple[Port, ...]:
        if callable(self.outputs):
            return self.outputs(self.complete(params or {}))
        return self.outputs

    def complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with the given params, unvalidated (used where only port counts matter)."""
        merged = self.defaults()
        merged.update(params)
        return merged

    def coerce_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate and canonicalise params; unknown names raise ParamError so typos never pass silently."""
        known = {p.name for p in self.params}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParamError(f"{self.title} has no parameter {', '.join(map(repr, unknown))}.")
        result = {}
        for p in self.params:
            result[p.name] = p.coerce(params.get(p.name, p.default))
        return result

    def summary(self, params: dict[str, Any]) -> str:
        """The short text a node shows on the canvas, e.g. ``32, 3x3, s1``."""
        if self.label is None:
            return ""
        try:
            return self.label(params)
        except Exception:  # a half-edited param must never break drawing
            return ""


# ---------------------------------------------------------------------------------------------------------------
# Dimension arithmetic shared by the shape rules.


def is_known(dim: Dim) -> bool:
    return isinstance(dim, int)


def sym(expr: str) -> str:
    """Wrap a compound symbolic expression in parentheses so it composes."""
    return expr if expr.isidentifier() or expr.isdigit() or expr.startswith("(") else f"({expr})"


def conv_out(dim: Dim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Dim:
    """Output length of a convolution or pooling window along one axis."""
    span = dilation * (kernel - 1) + 1
    if isinstance(dim, int):
        return (dim + 2 * padding - span) // stride + 1
    if stride == 1:
        shift = 2 * padding - span + 1
        return dim if shift == 0 else f"{sym(dim)}{shift:+d}"
    shift = 2 * padding - span
    inner = dim if shift == 0 else f"{sym(dim)}{shift:+d}"
    return f"({inner})//{stride}+1"


def conv_transpose_out(dim: Dim, kernel: int, stride: int, padding: int, output_padding: int, dilation: int) -> Dim:
    if isinstance(dim, int):
        return (dim - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    extra = -2 * padding + dilation * (kernel - 1) + output_padding + 1
    scaled = f"({sym(dim)}-1)*{stride}" if stride != 1 else f"{sym(dim)}-1"
    return f"{scaled}{extra:+d}" if extra else scaled


def scale_dim(dim: Dim, factor: int) -> Dim:
    return dim * factor if isinstance(dim, int) else f"{sym(dim)}*{factor}"


def prod(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)  # type: ignore[arg-type]
    return "*".join(sym(str(d)) for d in dims)


def normalize_axis(axis: int, rank: int, what: str = "Axis") -> int:
    """Map a user axis (negative counts from the end; 0 is the batch) to a positive index."""
    index = axis + rank if axis < 0 else axis
    if not 0 <= index < rank:
        raise ShapeError(f"{what} {axis} does not exist for a tensor of rank {rank}.", param="axis",
                         suggestion=f"Use an axis between 1 and {rank - 1} (or negative from the end).")
    return index


def shapes_text(shape: Sequence[Dim]) -> str:
    return "×".join(str(d) for d in shape)


def make(cls: type, *args: Any, **kwargs: Any) -> Any:
    """Construct a module and remember how, so PyTorch code export can write the same constructor call."""
    module = cls(*args, **kwargs)
    module._nb_ctor = (cls, args, kwargs)
    return module
