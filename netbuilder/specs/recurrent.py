"""Recurrent layers over batch-first sequences N×T×F: Elman RNN, LSTM and GRU."""

from __future__ import annotations

from typing import Any

from netbuilder.specs import register
from netbuilder.specs.base import (
    BATCH,
    SEQ,
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    Port,
    TensorType,
    make,
    need_float,
    need_known,
    need_rank,
    shapes_text,
)
from netbuilder.specs.interop import onnx_rule
from netbuilder.specs.lazy import modules

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _features(ctx: LayerContext, cell: str) -> int:
    need_float(ctx, cell)
    need_rank(ctx, cell, (3,), "a sequence N×T×F",
              suggestion="For a single vector N×F, Unsqueeze axis 1 to make a one-step sequence.")
    return need_known(ctx, ctx.x.shape[2], "The feature count (last axis)")


def _state_names(cell: str, prefix: str) -> tuple[str, ...]:
    """The state ports: h (and c for an LSTM), e.g. ``h0, c0`` or ``h_n, c_n``."""
    return tuple(f"{kind}{prefix}" for kind in ("h", "c")[: 2 if cell == "LSTM" else 1])


def _state_shape(ctx: LayerContext) -> tuple[Any, ...]:
    """A state, batch first: N×(layers·directions)×H."""
    return (ctx.x.shape[0], ctx["num_layers"] * (2 if ctx["bidirectional"] else 1), ctx["hidden_size"])


def _infer(cell: str):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        _features(ctx, cell)
        width = ctx["hidden_size"] * (2 if ctx["bidirectional"] else 1)
        n, t = ctx.x.shape[0], ctx.x.shape[1]
        state = _state_shape(ctx)
        if ctx["initial_state"]:
            for name, given in zip(_state_names(cell, "0"), ctx.inputs[1:], strict=False):
                if given is None:
                    continue
                if given.dtype != "float32" or tuple(given.shape) != state:
                    raise ctx.fail(f"The initial state {name} must be {shapes_text(state)} (batch × "
                                   f"layers·directions × hidden size), but {shapes_text(given.shape)}"
                                   f"{'' if given.dtype == 'float32' else ' ' + given.dtype} is wired into it.",
                                   param="initial_state",
                                   suggestion="Feed it from an Input of shape "
                                   f"{', '.join(map(str, state[1:]))}, or from the final state of a {cell} "
                                   "with the same sizes.")
        out = ctx.x.with_shape((n, t, width) if ctx["returns"] == "sequence" else (n, width))
        finals = tuple(TensorType(state) for _ in _state_names(cell, "_n")) if ctx["final_state"] else ()
        return (out, *finals)

    return infer


def _inputs(cell: str):
    def ports(params: dict[str, Any]) -> tuple[Port, ...]:
        main = Port("in", "The sequence, N×T×F.")
        if not params.get("initial_state"):
            return (main,)
        what = {"h": "hidden state", "c": "cell state"}
        return (main, *(Port(name, f"The initial {what[name[0]]}, N×(layers·directions)×H.")
                        for name in _state_names(cell, "0")))

    return ports


def _outputs(cell: str):
    def ports(params: dict[str, Any]) -> tuple[Port, ...]:
        main = Port("out", "Every step (N×T×H) or the last hidden state (N×H).")
        if not params.get("final_state"):
            return (main,)
        what = {"h": "hidden state", "c": "cell state"}
        return (main, *(Port(name, f"The final {what[name[0]]}, N×(layers·directions)×H.")
                        for name in _state_names(cell, "_n")))

    return ports


def _per_step(cell: str, ctx: LayerContext) -> tuple[int, int]:
    """(parameters, multiply-adds per time step) of the whole stack."""
    gates, hidden = GATES[cell], ctx["hidden_size"]
    dirs = 2 if ctx["bidirectional"] else 1
    size = ctx.x.shape[2]
    params = macs = 0
    for _ in range(ctx["num_layers"]):
        weights = gates * hidden * (size + hidden)
        params += dirs * (weights + 2 * gates * hidden)
        macs += dirs * weights
        size = hidden * dirs
    return params, macs


def _count(cell: str):
    return lambda ctx: _per_step(cell, ctx)[0]


def _macs(cell: str):
    def macs(ctx: LayerContext) -> int:
        steps = ctx.x.shape[1]
        return _per_step(cell, ctx)[1] * steps if isinstance(steps, int) else 0

    return macs


def _build(cell: str):
    def build(ctx: LayerContext):
        layers = ctx["num_layers"]
        extra = {"nonlinearity": ctx["nonlinearity"]} if cell == "RNN" else {}
        return make(modules.Recurrent, cell, ctx.x.shape[2], ctx["hidden_size"], num_layers=layers,
                    bidirectional=ctx["bidirectional"], dropout=ctx["dropout"] if layers > 1 else 0.0,
                    returns=ctx["returns"], initial_state=ctx["initial_state"], final_state=ctx["final_state"],
                    **extra)

    return build


def _label(p: dict) -> str:
    parts = [str(p["hidden_size"]), p["returns"]]
    if p["num_layers"] > 1:
        parts.append(f"{p['num_layers']} layers")
    if p["bidirectional"]:
        parts.append("bi")
    if p.get("initial_state") or p.get("final_state"):
        parts.append("state " + "/".join(w for w, on in (("in", p.get("initial_state")),
                                                          ("out", p.get("final_state"))) if on))
    return ", ".join(parts)


def _recurrent(cell: str, title: str, doc: str, keywords: tuple[str, ...], example: dict,
               example_inputs: tuple[tuple[Any, ...], ...] = ((BATCH, SEQ, 4),)) -> LayerSpec:
    extra = (Param("nonlinearity", ParamKind.CHOICE, "tanh", "The activation of the recurrence.",
                   choices=("tanh", "relu")),) if cell == "RNN" else ()
    return LayerSpec(
        id=cell,
        category="Recurrent",
        title=title,
        doc=doc + " Takes a batch-first sequence N×T×F (input size inferred) and returns every step (N×T×H) or only "
        "the final hidden state (N×H); bidirectional doubles H. It can start from a given state and hand its final "
        "state on (N×layers·directions×H), for stateful language models and one-step generation.",
        params=(
            Param("hidden_size", ParamKind.INT, 64, "Size of the hidden state (features per step of the output).",
                  minimum=1, maximum=65536),
            Param("num_layers", ParamKind.INT, 1, "Recurrent layers stacked on top of each other.", minimum=1,
                  maximum=16),
            Param("bidirectional", ParamKind.BOOL, False, "Also read the sequence backwards and concatenate both "
                  "directions (output size 2·hidden)."),
            Param("dropout", ParamKind.FLOAT, 0.0, "Dropout between stacked layers during training; ignored with "
                  "one layer.", minimum=0.0, maximum=0.9),
            Param("returns", ParamKind.CHOICE, "sequence", "sequence: the output at every step, N×T×H, for "
                  "stacking or tagging; last: the final hidden state, N×H (for bidirectional, the forward "
                  "direction's last step joined with the backward direction's first), for classifying the whole "
                  "sequence.", choices=("sequence", "last")),
            *extra,
            Param("initial_state", ParamKind.BOOL, False, "Start from states wired into extra inputs "
                  f"({', '.join(_state_names(cell, '0'))}, each N×(layers·directions)×H) instead of zeros, e.g. "
                  "the final state of the previous chunk or generation step."),
            Param("final_state", ParamKind.BOOL, False, "Also output the final states "
                  f"({', '.join(_state_names(cell, '_n'))}, each N×(layers·directions)×H) to carry into the next "
                  "call."),
        ),
        inputs=_inputs(cell),
        outputs=_outputs(cell),
        infer=_infer(cell),
        build=_build(cell),
        count_params=_count(cell),
        macs=_macs(cell),
        label=_label,
        example_params=example,
        example_inputs=example_inputs,
        keywords=keywords,
    )


register(
    _recurrent("RNN", "RNN", "The simple (Elman) recurrent layer: h_t = tanh(W·x_t + U·h_(t-1) + b). Cheap, but "
               "forgets quickly; prefer LSTM or GRU for long sequences.", ("recurrent", "elman", "sequence"),
               {"hidden_size": 6, "returns": "sequence", "nonlinearity": "relu"}),
    _recurrent("LSTM", "LSTM", "Long short-term memory: a recurrent layer whose input, forget and output gates let it "
               "keep information over long sequences. A solid default for text, time series and signals.",
               ("recurrent", "long short-term memory", "sequence", "time series"),
               {"hidden_size": 6, "num_layers": 2, "bidirectional": True, "dropout": 0.1, "returns": "last",
                "initial_state": True, "final_state": True},
               ((BATCH, SEQ, 4), (BATCH, 4, 6), (BATCH, 4, 6))),
    _recurrent("GRU", "GRU", "Gated recurrent unit: like an LSTM with two gates and no separate cell state; fewer "
               "weights and often just as good.", ("recurrent", "gated", "sequence", "time series"),
               {"hidden_size": 6, "bidirectional": True, "returns": "sequence", "initial_state": True,
                "final_state": True},
               ((BATCH, SEQ, 4), (BATCH, 2, 6))),
)


# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules

# ONNX stacks the gates in another order than PyTorch: LSTM i, o, f, c (PyTorch i, f, g, o); GRU z, r, h
# (PyTorch r, z, n). Each entry lists, for PyTorch's gates in order, which ONNX block holds it.
_GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}


def _torch_gates(array: Any, cell: str, hidden: int) -> Any:
    import numpy as np

    return np.concatenate([array[g * hidden:(g + 1) * hidden] for g in _GATE_ORDER[cell]], axis=0)


@onnx_rule("LSTM", "GRU", "RNN")
def _recurrent_from_onnx(node: Any) -> None:
    import numpy as np

    cell = node.op_type
    w, r = node.const(1), node.const(2)
    b = node.const(3) if node.has_input(3) else None
    if w is None or r is None or (node.has_input(3) and b is None):
        raise node.fail("its weights are computed in the graph, not stored")
    if node.has_input(4):
        raise node.fail("per-sample sequence lengths")
    for index in (5, 6):
        if node.has_input(index):
            state = node.const(index)
            if state is None or np.any(state != 0):
                raise node.fail("an initial state other than zeros")
    if (node.attr("direction", "forward") or "forward") != "forward":
        raise node.fail(f"the {node.attr('direction')} direction (NetBuilder imports forward recurrences)")
    if node.attr("clip") is not None or node.attr("input_forget", 0):
        raise node.fail("cell clipping or coupled input-forget gates")
    if cell == "GRU" and not node.attr("linear_before_reset", 0):
        raise node.fail("a GRU with linear_before_reset 0 (PyTorch's GRU applies the reset after the linear map)")
    activations = [a.lower() for a in node.attr("activations") or []]
    nonlinearity = "tanh"
    if cell == "RNN" and activations:
        nonlinearity = activations[0]
        if nonlinearity not in ("tanh", "relu"):
            raise node.fail(f"an RNN with activation {activations[0]}")
    elif activations and activations != {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}[cell]:
        raise node.fail(f"activations {activations}")
    layout = int(node.attr("layout", 0))
    if node.axes(0) != ((1, 0, 2) if layout == 0 else (0, 1, 2)):
        raise node.fail("its input is not a batch of sequences N×T×F")
    sequence, final = node.uses_output(0), node.uses_output(1)
    if sequence and final or (cell == "LSTM" and node.uses_output(2)):
        raise node.fail("it uses more than one of its outputs")
    hidden = int(node.attr("hidden_size"))
    gates = w.shape[1] // hidden
    bias = b.reshape(-1) if b is not None else np.zeros(2 * gates * hidden, dtype=np.float32)
    weights = {"rnn.weight_ih_l0": _torch_gates(w[0], cell, hidden), "rnn.weight_hh_l0": _torch_gates(r[0], cell, hidden),
               "rnn.bias_ih_l0": _torch_gates(bias[:gates * hidden], cell, hidden),
               "rnn.bias_hh_l0": _torch_gates(bias[gates * hidden:], cell, hidden)}
    params = {"hidden_size": hidden, "num_layers": 1, "bidirectional": False,
              "returns": "sequence" if sequence else "last"}
    if cell == "RNN":
        params["nonlinearity"] = nonlinearity
    layer = node.emit(cell, params, inputs=(node.source(0),), weights=weights, outputs=())
    if sequence:  # Y is T×1×N×H (time-major, one direction); the layer gives N×T×H
        axes: tuple[Any, ...] = (1, None, 0, 2) if layout == 0 else (0, 1, None, 2)
        node.bind_layer_axes(0, layer.out(), layer.outputs[0], axes)
    else:  # Y_h is 1×N×H; the layer gives N×H
        node.bind_layer_axes(1, layer.out(), layer.outputs[0], (None, 0, 1) if layout == 0 else (0, None, 1))
