"""The declarative description of a layer type.

One `LayerSpec` drives everything that knows about a layer: the palette, the inspector (editors are chosen from
each `Param.kind`), file I/O (params are validated and coerced through `Param.coerce`), shape inference, parameter
and multiply-add counts, the torch build and export. Adding a layer type means adding one spec and nothing else.

Shapes carry the batch dimension first as the symbol ``"N"``; a variable sequence length is the symbol ``"T"``.
A dimension is an ``int`` or a ``str`` (a symbol or a readable expression of one).
"""

from __future__ import annotations

import math
import re
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
            except OverflowError:  # an int too large for a float, e.g. 10**400
                raise ParamError(f"{self.title} must be a finite number.") from None
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
                self._check_range(number)
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
    if isinstance(number, int):  # exact, and no float overflow for absurd values such as 10**400
        if number.bit_length() > 10_000:  # Python will not write it as text (over 4,300 digits)
            return f"a number with about {int(number.bit_length() * 0.30103)} digits"
        text = str(number)
        return text if len(text) <= 20 else f"a number with {len(text.lstrip('-'))} digits"
    return str(int(number)) if number.is_integer() else f"{number:g}"


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


_SIZE_TIMES = re.compile(r"(?<=[0-9Tt])\s*[x×X]\s*(?=[0-9Tt-])")
_SIZE_SEPARATORS = re.compile(r"[\s,;]+")


def _as_sequence(value: Any, title: str) -> tuple[Any, ...]:
    if isinstance(value, str):
        # "3, 3", "3x3", "3×3", "(3, 3)", "[3, 3]", "1 8 8", "T, 16": an x only separates when it sits between two
        # sizes, so a stray letter stays a token and is refused by name instead of vanishing.
        text = _SIZE_TIMES.sub(",", value.strip().strip("()[]"))
        return tuple(part for part in _SIZE_SEPARATORS.split(text) if part)
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


def _enclosed(expr: str) -> bool:
    """True when one pair of parentheses wraps the whole expression, as in ``(T-3)`` but not ``(T-3)//2+1``."""
    if not expr.startswith("("):
        return False
    depth = 0
    for index, char in enumerate(expr):
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return index == len(expr) - 1
    return False


def sym(expr: str) -> str:
    """Wrap a compound symbolic expression in parentheses so it composes with ``*``, ``//`` and ``-``."""
    return expr if expr.isidentifier() or expr.isdigit() or _enclosed(expr) else f"({expr})"


_TRAILING_CONSTANT = re.compile(r"^(.*[^+\-*/(])([+-]\d+)$")


def offset_dim(dim: Dim, amount: int) -> Dim:
    """``dim + amount``, kept readable: ``T-2`` offset by -2 is ``T-4``, not ``(T-2)-2``.

    Two branches that shrink a sequence the same total amount (one kernel 5, or two kernels 3) so get the same
    symbolic size, and a merge of them is accepted. Our expressions end in a constant only when it is a top-level
    term (``(T-3)//2+1``), so folding the new amount into it is exact.
    """
    if isinstance(dim, int):
        return dim + amount
    if amount == 0:
        return dim
    match = _TRAILING_CONSTANT.match(dim)
    if match and match.group(1).count("(") == match.group(1).count(")"):
        head, total = match.group(1), int(match.group(2)) + amount
        return head if total == 0 else f"{head}{total:+d}"
    return f"{dim}{amount:+d}"


def add_dims(*dims: Dim) -> Dim:
    """The sum of sizes, e.g. ``T+8`` when one is symbolic."""
    total = sum(d for d in dims if isinstance(d, int))
    symbols = [str(d) for d in dims if not isinstance(d, int)]
    if not symbols:
        return total
    return offset_dim("+".join(symbols), total)


def conv_out(dim: Dim, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> Dim:
    """Output length of a convolution or pooling window along one axis."""
    span = dilation * (kernel - 1) + 1
    if isinstance(dim, int):
        return (dim + 2 * padding - span) // stride + 1
    if stride == 1:
        return offset_dim(dim, 2 * padding - span + 1)
    return f"{sym(str(offset_dim(dim, 2 * padding - span)))}//{stride}+1"


def conv_transpose_out(dim: Dim, kernel: int, stride: int, padding: int, output_padding: int, dilation: int) -> Dim:
    extra = -2 * padding + dilation * (kernel - 1) + output_padding + 1
    if isinstance(dim, int):
        return (dim - 1) * stride + extra
    if stride == 1:
        return offset_dim(dim, extra - 1)
    return offset_dim(f"{sym(str(offset_dim(dim, -1)))}*{stride}", extra)


def scale_dim(dim: Dim, factor: int) -> Dim:
    if isinstance(dim, int):
        return dim * factor
    return dim if factor == 1 else f"{sym(dim)}*{factor}"


def prod(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)  # type: ignore[arg-type]
    known = math.prod(d for d in dims if isinstance(d, int))
    factors = [sym(str(d)) for d in dims if not isinstance(d, int)]
    return "*".join(factors + ([str(known)] if known != 1 else []))


def elements(shape: Sequence[Dim]) -> int:
    """Values per sample (without the batch), or 0 when a size is variable; for multiply-add estimates."""
    size = prod(shape[1:]) if len(shape) > 1 else 1
    return size if isinstance(size, int) else 0


def normalize_axis(axis: int, rank: int, what: str = "Axis") -> int:
    """Map a user axis (negative counts from the end; 0 is the batch) to a positive index."""
    index = axis + rank if axis < 0 else axis
    if not 0 <= index < rank:
        raise ShapeError(f"{what} {axis} does not exist for a tensor of rank {rank}.", param="axis",
                         suggestion=f"Use an axis between 1 and {rank - 1} (or negative from the end).")
    return index


def sample_axis(axis: int, rank: int, refusal: str, suggestion: str) -> int:
    """`normalize_axis`, refusing the batch axis: ``refusal`` says what taking it would do, in the layer's words."""
    index = normalize_axis(axis, rank)
    if index == 0:
        raise ShapeError(refusal, param="axis", suggestion=suggestion)
    return index


def shapes_text(shape: Sequence[Dim]) -> str:
    return "×".join(str(d) for d in shape)


# ---------------------------------------------------------------------------------------------------------------
# Checks shared by the shape rules of every spec module.


def need_float(ctx: LayerContext, what: str, tensor: TensorType | None = None) -> None:
    """Refuse integer token ids where a layer computes with float values."""
    if (tensor or ctx.x).dtype != "float32":
        raise ctx.fail(f"{what} needs float values, but this input carries integer token ids.",
                       suggestion="Put an Embedding before it.")


def need_rank(ctx: LayerContext, what: str, ranks: Sequence[int], layout: str, suggestion: str | None = None,
              tensor: TensorType | None = None) -> None:
    """Refuse an input whose rank is not one of ``ranks``; ``layout`` names the expected shape, e.g. N×C×H×W."""
    x = tensor or ctx.x
    if x.rank not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ctx.fail(f"{what} needs {layout} (rank {wanted}), but its input is {shapes_text(x.shape)} "
                       f"(rank {x.rank}).", suggestion=suggestion)


def need_known(ctx: LayerContext, dim: Dim, what: str, suggestion: str | None = None) -> int:
    """Return ``dim`` if it is a fixed size; otherwise fail, saying which size had to be fixed."""
    if not is_known(dim):
        raise ctx.fail(f"{what} must be a fixed size, but it is the variable {dim}.",
                       suggestion=suggestion or "Fix the size at the Input, or reduce the variable axis first.")
    return dim  # type: ignore[return-value]


def port_count(value: Any, low: int, high: int) -> int:
    """A port count from an unvalidated param value (port rules see params before coercion)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = low
    return min(max(number, low), high)


def spatial_names(rank: int) -> tuple[str, ...]:
    """Readable names of the axes after N×C: length; height, width; depth, height, width."""
    return {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}.get(
        rank, tuple(f"axis {i + 2}" for i in range(rank)))


def times(values: Sequence[Any]) -> str:
    """``(3, 3)`` as ``3x3``, for labels."""
    return "x".join(str(v) for v in values)


def make(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """Construct a module and remember how, so PyTorch code export can write the same constructor call.
    ``cls`` may be a `netbuilder.specs.lazy.LazyClass` (specs name torch classes lazily): the real class is
    recorded."""
    from netbuilder.specs.lazy import resolve

    cls = resolve(cls)
    module = cls(*args, **kwargs)
    module._nb_ctor = (cls, args, kwargs)
    return module
